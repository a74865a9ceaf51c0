-- examples/inpaint.lua runs end to end in a smoke mode and reports its figures.
local H = require "helpers"

describe("examples/inpaint.lua", function()
  it("trains, measures the hole, probes and prints one JSON line", function()
    local dir = H.tmpdir()
    local r = H.run_example("inpaint",
      "--limit 64 --test-limit 32 --epochs 1 --labels 20,all --probe-steps 5 --out " .. dir)
    assert.are.equal("inpaint", r.example)
    assert.are.equal(64, r.train_images)
    assert.are.equal(32, r.test_images)
    assert.are.same({ top = 11, left = 11, rows = 10, cols = 10 }, r.block)
    assert.is_true(r.test_mse > 0 and r.test_mse < 1)
    assert.is_true(r.test_masked_mse > 0 and r.test_masked_mse < 1)
    assert.is_true(r.baseline_masked_mse.zero_fill > r.baseline_masked_mse.mean_image)
    assert.are.equal("masked", r.probe_input)
    assert.are.same({ 20, 64 }, { r.probe[1].labels, r.probe[2].labels })
    for _, row in ipairs(r.probe) do assert.is_true(row.probe >= 0 and row.probe <= 1) end
    assert.are.equal(2, #r.probe_pixels)
    assert.are.equal(2, #r.pictures)
    for _, png in ipairs(r.pictures) do
      local f = assert(io.open(png, "rb"))
      assert.are.equal("\137PNG\r\n\26\n", f:read(8))
      f:close()
    end
  end)
end)
