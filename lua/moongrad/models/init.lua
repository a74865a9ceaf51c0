--- mg.models: the networks of the workloads, one small file each. Each
-- name loads its file on first use:
--
--     seed_cnn            conv_trunk, mlp_head, TrunkHead, RotNet, classifier
--                         (the seed CNN of the rotation and attack workloads)
--     gan_nets            mlp_gan, bn_gan (the seed GANs), dcgan
--     feature_classifier  FeatureClassifier (the GAN measurements' CNN)
--     dann                dann_features, label_head, domain_head, DANN
--     autoencoder         Autoencoder (the seed autoencoder)
--     conv_vae            ConvVAE, reparameterize
--     inpaint_net         InpaintNet (the seed inpainting CNN)
--     transformer         TextEncoder, TransformerClassifier, MaskedLM (the
--                         Transformer of the text workload)
--     text_bag            NormalizedEmbedding, BagClassifier (mean of
--                         normalised token embeddings; the embedding seam)
-- @module moongrad.models
-- @usage local model = mg.models.classifier()   -- the seed CNN, 10 classes
-- local G, D = mg.models.dcgan(100)
local FILES = {
  conv_trunk = "seed_cnn", mlp_head = "seed_cnn", TrunkHead = "seed_cnn", RotNet = "seed_cnn",
  classifier = "seed_cnn",
  mlp_gan = "gan_nets", bn_gan = "gan_nets", dcgan = "gan_nets", LEAKY_SLOPE = "gan_nets",
  FeatureClassifier = "feature_classifier", FEATURE_DIM = "feature_classifier",
  dann_features = "dann", label_head = "dann", domain_head = "dann", DANN = "dann",
  Autoencoder = "autoencoder",
  ConvVAE = "conv_vae", reparameterize = "conv_vae",
  InpaintNet = "inpaint_net",
  TextEncoder = "transformer", TransformerClassifier = "transformer", MaskedLM = "transformer",
  NormalizedEmbedding = "text_bag", BagClassifier = "text_bag",
}

-- the names, for tab completion and the reference
local names = {}
for k in pairs(FILES) do names[#names + 1] = k end
table.sort(names)

return setmetatable({}, {
  __lazy = names,
  __index = function(t, key)
    local file = FILES[key]
    if not file then return nil end
    local m = require("moongrad.models." .. file)
    for k, v in pairs(m) do rawset(t, k, v) end
    return m[key]
  end,
})
