--- The DANN network (Ganin et al.'s MNIST model): a feature extractor, a
-- label head, and a domain head behind a gradient reversal layer. The
-- training method is mg.da.
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- DANN's feature extractor: Conv(1,c1,5)+ReLU, MaxPool(2),
-- Conv(c1,c2,5)+ReLU, MaxPool(2), Flatten.
-- @tparam[opt] table opts `{channels = {32, 48}, batch_norm = false}`; batch_norm puts a
--   BatchNorm2d after each convolution
-- @treturn Module the extractor
-- @treturn int the feature size (48 * 4 * 4 = 768 for 28x28 inputs)
function M.dann_features(opts)
  opts = opts or {}
  local c = opts.channels or { 32, 48 }
  local layers = {}
  local function add(m) layers[#layers + 1] = m end
  add(nn.Conv2d(1, c[1], 5)); if opts.batch_norm then add(nn.BatchNorm2d(c[1])) end
  add(nn.ReLU()); add(nn.MaxPool2d(2))
  add(nn.Conv2d(c[1], c[2], 5)); if opts.batch_norm then add(nn.BatchNorm2d(c[2])) end
  add(nn.ReLU()); add(nn.MaxPool2d(2)); add(nn.Flatten())
  return nn.Sequential(layers), c[2] * 4 * 4
end

--- The label classifier: two hidden ReLU layers.
-- @int dim the feature size
-- @int[opt=10] classes
-- @int[opt=100] hidden
-- @treturn Module
function M.label_head(dim, classes, hidden)
  hidden = hidden or 100
  return nn.Sequential {
    nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes or 10),
  }
end

--- The domain classifier: Linear(dim, hidden)+ReLU [+Dropout], Linear(hidden, 1):
-- one logit, "the input is from the target domain".
-- @int dim the feature size
-- @int[opt=100] hidden
-- @number[opt=0] dropout
-- @treturn Module
function M.domain_head(dim, hidden, dropout)
  hidden = hidden or 100
  local layers = { nn.Linear(dim, hidden), nn.ReLU() }
  if dropout and dropout > 0 then layers[#layers + 1] = nn.Dropout(dropout) end
  layers[#layers + 1] = nn.Linear(hidden, 1)
  return nn.Sequential(layers)
end

--- The DANN network: fields features, classifier, reverse
-- (nn.GradientReversal) and domain. `model(x)` gives class logits
-- [N, classes].
-- @type DANN
-- @usage local model = mg.models.DANN{lambda = 0}
-- local logits, domain_logits = model:forward_all(x)
local DANN = nn.Module:extend("models.DANN")
M.DANN = DANN

--- models.DANN([opts]): a new network.
-- @tparam[opt] table opts `{classes = 10, label_hidden = 100, domain_hidden = 100,
--   domain_dropout = 0, lambda = 0, channels = {32, 48}, batch_norm = false,
--   bottleneck = nil, center = 0}`
function DANN:init(opts)
  nn.Module.init(self)
  opts = opts or {}
  local features, dim = M.dann_features { channels = opts.channels, batch_norm = opts.batch_norm }
  if opts.bottleneck then -- a Linear+ReLU layer ending the extractor: alignment of a smaller code
    features = nn.Sequential { features, nn.Linear(dim, opts.bottleneck), nn.ReLU() }
    dim = opts.bottleneck
  end
  self.features = features
  self.classifier = M.label_head(dim, opts.classes or 10, opts.label_hidden)
  self.reverse = nn.GradientReversal(opts.lambda or 0)
  self.domain = M.domain_head(dim, opts.domain_hidden, opts.domain_dropout)
  self.center = opts.center or 0
end

--- The features of x (inputs shifted by -center first).
-- @tparam Tensor x [N, 1, 28, 28]
-- @treturn Tensor [N, features]
function DANN:extract(x)
  if self.center ~= 0 then x = x - self.center end
  return self.features(x)
end

function DANN:forward(x) return self.classifier(self:extract(x)) end

--- Domain logits of features, through the reversal layer.
-- @tparam Tensor f [N, features]
-- @treturn Tensor [N]
function DANN:domain_logits(f) return self.domain(self.reverse(f)):view(-1) end

--- Everything DANN's step needs at once.
-- @tparam Tensor x
-- @treturn Tensor class logits [N, classes]
-- @treturn Tensor domain logits [N]
-- @treturn Tensor features
function DANN:forward_all(x)
  local f = self:extract(x)
  return self.classifier(f), self:domain_logits(f), f
end

--- Sets the reversal factor.
-- @number lambda
function DANN:set_lambda(lambda) self.reverse:set_lambda(lambda) end

return M
