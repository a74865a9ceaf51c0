-- `make demo` runs examples/demo.lua; here in a smoke mode: both parts run,
-- the pictures come out and the figures are the last line of JSON.
local H = require "helpers"
local mg = H.mg

describe("examples/demo.lua", function()
  it("runs the rotation and attack parts and prints one JSON line", function()
    local dir = H.tmpdir()
    local r, out = H.run_example("demo",
      "--limit 256 --epochs 1 --adv-epochs 1 --attack-limit 20 --threads 1 --out " .. dir)
    assert.are.equal("demo", r.example)
    assert.are.equal(256, r.train_images)
    assert.is_true(r.rotation_test_acc >= 0 and r.rotation_test_acc <= 1)
    assert.is_true(r.probe_100 >= 0 and r.probe_100 <= 1)
    for _, name in ipairs { "normal", "pgd_trained" } do
      local a = r.attacks[name]
      assert.are.equal(20, a.n)
      for i = 1, 3 do assert.is_true(a.by_eps[i].pgd <= a.clean, name) end
    end
    local names = {}
    for _, p in ipairs(r.pictures) do
      local f = assert(io.open(p, "rb"))
      assert.are.equal("\137PNG\r\n\26\n", f:read(8))
      f:close()
      names[#names + 1] = p:match("[^/]+$")
    end
    assert.are.same({ "rotations.png", "adversarial.png", "accuracy_eps.png" }, names)
    -- the two models' panels side by side: wider than high, and no panel files left behind
    local adv = mg.read_png(dir .. "/adversarial.png")
    assert.is_true(adv:size(2) > 2 * adv:size(1), "adversarial.png is " .. adv:size(2) .. "x" .. adv:size(1))
    assert.is_nil(io.open(dir .. "/adversarial_1.png"))
    -- the rotations picture has a row per true rotation (4 rows of 28x28 images at scale 2)
    assert.is_true(mg.read_png(dir .. "/rotations.png"):size(1) >= 4 * 56)
    assert.truthy(out:find("PGD-trained", 1, true))
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
