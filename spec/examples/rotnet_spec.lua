-- examples/rotnet.lua runs end to end in a smoke mode and reports its figures.
local H = require "helpers"

describe("examples/rotnet.lua", function()
  it("pretrains, evaluates and prints one JSON line", function()
    local dir = H.tmpdir()
    local r = H.run_example("rotnet",
      "--limit 64 --test-limit 64 --epochs 1 --labels 20 --eval-steps 5 --out " .. dir)
    assert.are.equal("rotnet", r.example)
    assert.are.equal(64, r.train_images)
    assert.is_true(r.pretext_test_acc >= 0 and r.pretext_test_acc <= 1)
    assert.are.equal(1, #r.evaluation)
    for _, k in ipairs({ "probe", "fine_tune", "scratch" }) do
      assert.is_true(r.evaluation[1][k] >= 0 and r.evaluation[1][k] <= 1, k)
    end
    for _, png in ipairs(r.pictures) do
      local f = assert(io.open(png, "rb"))
      assert.are.equal("\137PNG\r\n\26\n", f:read(8))
      f:close()
    end
  end)
end)
