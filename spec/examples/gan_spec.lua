-- examples/gan.lua runs end to end in a smoke mode: it trains, writes the
-- sample grid, loss and coverage pictures, caches the feature classifier
-- (a second run loads it) and prints its figures as one JSON line.
local H = require "helpers"

local function run(dir, model)
  return H.run_example("gan", string.format(
    "--model %s --limit 64 --test-limit 64 --epochs 1 --classifier-epochs 1 --width 8 --out %s", model, dir))
end

describe("examples/gan.lua", function()
  it("trains the DCGAN and the seed MLP GAN, measures them and prints one JSON line", function()
    local dir = os.tmpname()
    os.remove(dir)
    local r, out = run(dir, "dcgan")
    assert.are.equal("gan", r.example)
    assert.are.equal("dcgan", r.model)
    assert.are.equal("non-saturating", r.loss)
    assert.are.equal(64, r.train_images)
    assert.are.equal(64, r.batch_size)
    assert.is_truthy(out:find("feature classifier trained", 1, true))
    assert.is_true(r.classifier_feature_frechet_distance > 0)
    assert.is_true(r.classifier_feature_frechet_distance_real >= 0)
    assert.is_truthy(r.frechet.metric:find("not Inception FID", 1, true))
    assert.are.equal(64, r.frechet.samples)
    local total = 0
    for _, c in ipairs(r.coverage.counts) do total = total + c end
    assert.are.equal(64, total)
    assert.is_true(r.coverage.covered >= 1 and r.coverage.covered <= 10)
    for _, k in ipairs({ "d_loss", "g_loss", "classifier_score", "seconds" }) do
      assert.is_true(type(r[k]) == "number" and r[k] == r[k], k)
    end
    for _, name in ipairs({ "samples_epoch_001.png", "losses.png", "coverage.png" }) do
      assert.is_true(H.is_png(dir .. "/" .. name), name)
    end
    for _, png in ipairs(r.pictures) do assert.is_true(H.is_png(png), png) end
    assert.is_truthy(io.open(dir .. "/metrics.jsonl"))

    local m, out2 = run(dir, "mlp")
    assert.are.equal("mlp", m.model)
    assert.is_truthy(out2:find("feature classifier loaded", 1, true))
    assert.are.equal(r.classifier_test_acc, m.classifier_test_acc)
    assert.is_true(m.classifier_feature_frechet_distance > 0)
  end)
end)
