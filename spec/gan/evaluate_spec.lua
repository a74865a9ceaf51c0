-- The measuring side: the feature classifier (trained once, cached in a
-- safetensors file and reused when it matches the data) and evaluate().
local H = require "helpers"
local mg = H.mg
local gan = mg.gan

local function tiny_set(n)
  local ds = mg.data.TensorDataset(mg.rand(n, 1, 28, 28), mg.randint(1, 11, { n }))
  ds.classes = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" }
  ds.name, ds.source = "tiny", "test"
  return ds
end

describe("gan.classifier_for", function()
  before_each(H.reseed(8))

  it("trains and saves the classifier, then loads it while the data match", function()
    local path = os.tmpname()
    os.remove(path)
    local train_ds, test_ds = tiny_set(32), tiny_set(16)
    local a, acc, how = gan.classifier_for(path, train_ds, test_ds, { epochs = 1 })
    assert.are.equal("trained", how)
    assert.is_true(acc >= 0 and acc <= 1)
    local b, acc2, how2 = gan.classifier_for(path, train_ds, test_ds, { epochs = 1 })
    assert.are.equal("loaded", how2)
    assert.are.equal(acc, acc2)
    local wa, wb = a:state_dict(), b:state_dict()
    for k, t in pairs(wa) do H.assert_near(wb[k], t, 0, 0, k) end
    local _, _, how3 = gan.classifier_for(path, train_ds, test_ds, { epochs = 2 })
    assert.are.equal("trained", how3) -- other settings: not reused
    os.remove(path)
  end)

  it("gives 128 features and class probabilities per image", function()
    local c = mg.models.FeatureClassifier(10)
    local f, p = gan.embed(c, mg.rand(7, 1, 28, 28), { batch_size = 3 })
    assert.are.same({ 7, 128 }, f:shape())
    assert.are.same({ 7, 10 }, p:shape())
    H.assert_near(p:sum(2), mg.ones(7), 1e-5)
    assert.is_true(c.training)
  end)
end)

describe("gan.evaluate", function()
  before_each(H.reseed(9))

  it("measures generated, training and held-out images at the same N", function()
    local g = gan.create("mlp")
    local c = mg.models.FeatureClassifier(10)
    local train_images, test_images = mg.rand(40, 1, 28, 28), mg.rand(30, 1, 28, 28)
    local cache = {}
    local ev = gan.evaluate(g, c, train_images, test_images, { samples = 100, cache = cache })
    assert.are.equal(30, ev.samples)
    assert.are.same({ 30, 1, 28, 28 }, ev.generated:shape())
    assert.is_true(ev.frechet > 0 and ev.frechet_real >= 0)
    local total = 0
    for _, v in ipairs(ev.coverage.counts) do total = total + v end
    assert.are.equal(30, total)
    assert.is_true(ev.score >= 1 - 1e-6 and ev.score <= 10)
    -- a second call with the cache reuses the real images' figures
    assert.are.equal(ev.frechet_real, cache.frechet)
    cache.frechet = -1
    local b = gan.evaluate(g, c, train_images, test_images, { samples = 100, cache = cache })
    assert.are.equal(-1, b.frechet_real)
    assert.are.equal(ev.frechet, b.frechet)
  end)
end)
