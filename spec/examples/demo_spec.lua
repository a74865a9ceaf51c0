-- `make demo` runs examples/demo.lua; here in a smoke mode: both parts run,
-- the pictures come out and the figures are the last line of JSON.
local H = require "helpers"
local mg = H.mg

describe("examples/demo.lua", function()
  it("runs the rotation and attack parts and prints one JSON line", function()
    local dir = H.tmpdir()
    local r, out = H.run_example("demo", "--limit 256 --epochs 1 --adv-epochs 1 --attack-limit 20 --threads 1 --out " .. dir)
    assert.are.equal("demo", r.example)
    assert.are.equal(256, r.train_images)
    assert.is_true(r.rotation_test_acc >= 0 and r.rotation_test_acc <= 1)
    assert.is_true(r.probe_100 >= 0 and r.probe_100 <= 1)
    for _, name in ipairs { "normal", "pgd_trained" } do
      local a = r.attacks[name]
      assert.are.equal(20, a.n)
      for i = 1, 3 do assert.is_true(a.by_eps[i].pgd <= a.clean, name) end
    end
    for _, p in ipairs(r.pictures) do
      local f = assert(io.open(p, "rb"))
      assert.are.equal("\137PNG\r\n\26\n", f:read(8))
      f:close()
    end
    assert.truthy(out:find("PGD-trained", 1, true))
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
