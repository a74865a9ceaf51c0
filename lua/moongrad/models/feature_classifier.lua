--- The feature classifier of the GAN measurements: a small CNN trained on
-- the data's labels, whose 128-d penultimate layer is the feature space
-- of the classifier-feature Frechet distance (mg.gan.measure).
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- Conv 32 (3x3, padding 1) + ReLU + MaxPool 2, Conv 64 (3x3, padding 1) +
-- ReLU + MaxPool 2, Flatten, Linear 128 + ReLU (the features), Linear
-- classes. Takes images in [0, 1]; `model(x)` gives logits.
-- @type FeatureClassifier
local FeatureClassifier = nn.Module:extend("models.FeatureClassifier")
M.FeatureClassifier = FeatureClassifier
M.FEATURE_DIM = 128

--- models.FeatureClassifier([classes]): a new network.
-- @int[opt=10] classes
function FeatureClassifier:init(classes)
  nn.Module.init(self)
  self.trunk = nn.Sequential {
    nn.Conv2d(1, 32, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 7 * 7, M.FEATURE_DIM), nn.ReLU(),
  }
  self.head = nn.Linear(M.FEATURE_DIM, classes or 10)
end

--- The 128-d features.
-- @tparam Tensor x [N, 1, 28, 28] in [0, 1]
-- @treturn Tensor [N, 128]
function FeatureClassifier:features(x) return self.trunk(x) end
function FeatureClassifier:forward(x) return self.head(self.trunk(x)) end

return M
