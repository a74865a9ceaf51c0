-- Smoke run of examples/dann.lua: a tiny run through the host program ends
-- with its JSON line and writes its pictures.
local H = require "helpers"

describe("examples/dann.lua", function()
  it("trains source-only, DANN and the target-trained bound and prints its JSON line", function()
    local dir = H.tmpdir()
    local result, out = H.run_example("dann", "--limit 64 --test-limit 48 --epochs 1 --batch-size 16"
      .. " --threads 1 --out " .. dir)
    assert.are.equal("dann", result.example)
    assert.are.equal(32, result.source_images)
    assert.are.equal(32, result.target_images)
    assert.are.equal(48, result.test_images)
    assert.are.equal(3, #result.results)
    local methods = {}
    for i, r in ipairs(result.results) do
      methods[i] = r.method
      assert.is_true(r.source_test >= 0 and r.source_test <= 1)
      assert.is_true(r.target_test >= 0 and r.target_test <= 1)
    end
    assert.are.same({ "source", "dann", "target" }, methods)
    assert.is_true(result.results[2].domain_acc >= 0 and result.results[2].domain_acc <= 1)
    assert.is_truthy(out:find("target-trained (bound)", 1, true))
    assert.are.equal(3, #result.pictures)
    for _, p in ipairs(result.pictures) do assert.is_true(H.is_png(p), p .. " is not a PNG file") end
    local lines = 0
    for _ in io.lines(dir .. "/metrics.jsonl") do lines = lines + 1 end
    assert.are.equal(3, lines)
  end)

  it("rejects an unknown method", function()
    local out, code = H.run(H.bin .. " examples/dann.lua --method dann,oracle --out " .. H.tmpdir())
    assert.are_not.equal(0, code)
    assert.is_truthy(out:find("oracle", 1, true), out)
  end)
end)
