-- mg.models: every listed network loads from its file, and the seed CNN
-- is one network for the rotation task and the attacked classifier.
local H = require "helpers"
local mg = H.mg

describe("mg.models", function()
  before_each(H.reseed(2))

  it("finds every network by name and nothing else", function()
    for _, name in ipairs({ "conv_trunk", "mlp_head", "TrunkHead", "RotNet", "classifier", "mlp_gan", "bn_gan",
      "dcgan", "FeatureClassifier", "dann_features", "label_head", "domain_head", "DANN", "Autoencoder", "ConvVAE",
      "reparameterize", "InpaintNet", "TextEncoder", "TransformerClassifier", "MaskedLM",
      "NormalizedEmbedding", "BagClassifier" }) do
      assert.is_not_nil(mg.models[name], name)
    end
    assert.is_nil(mg.models.nothing_here)
  end)

  it("builds the seed classifier as the RotNet with another head", function()
    mg.manual_seed(5)
    local a = mg.models.classifier(4)
    mg.manual_seed(5)
    local b = mg.models.RotNet()
    for name, t in pairs(a:state_dict()) do H.assert_near(b:state_dict()[name], t, 0, 0, name) end
    local c = mg.models.classifier(10)
    assert.same({ 3, 10 }, c(mg.rand(3, 1, 28, 28)):shape())
    assert.same({ 3, 1152 }, c.trunk(mg.rand(3, 1, 28, 28)):shape())
  end)
end)
