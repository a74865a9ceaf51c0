-- The DANN network (Ganin et al.'s MNIST model): a feature extractor, a
-- label head, and a domain head behind a gradient reversal layer. The
-- training method is mg.da.
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- dann_features({channels = {32, 48}, batch_norm = false}) -> module,
-- feature size (48 * 4 * 4 = 768 for 28x28 inputs): Conv(1,c1,5)+ReLU,
-- MaxPool(2), Conv(c1,c2,5)+ReLU, MaxPool(2), Flatten; batch_norm puts a
-- BatchNorm2d after each convolution.
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

--- label_head(dim, classes = 10, hidden = 100): two hidden ReLU layers.
function M.label_head(dim, classes, hidden)
  hidden = hidden or 100
  return nn.Sequential {
    nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes or 10),
  }
end

--- domain_head(dim, hidden = 100, dropout = 0) -> Linear(dim,hidden)+ReLU
-- [+Dropout], Linear(hidden,1): one logit, "the input is from the target
-- domain".
function M.domain_head(dim, hidden, dropout)
  hidden = hidden or 100
  local layers = { nn.Linear(dim, hidden), nn.ReLU() }
  if dropout and dropout > 0 then layers[#layers + 1] = nn.Dropout(dropout) end
  layers[#layers + 1] = nn.Linear(hidden, 1)
  return nn.Sequential(layers)
end

--- DANN{classes = 10, label_hidden = 100, domain_hidden = 100,
-- domain_dropout = 0, lambda = 0, channels = {32, 48}, batch_norm = false,
-- bottleneck = nil, center = 0}: fields features, classifier, reverse
-- (nn.GradientReversal), domain. model(x) -> class logits [N, classes];
-- model:extract(x) -> features (inputs shifted by -center first);
-- model:domain_logits(f) -> [N] for features f (through the reversal
-- layer); model:forward_all(x) -> class logits, domain logits, features.
local DANN = nn.Module:extend("models.DANN")
M.DANN = DANN

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

function DANN:extract(x)
  if self.center ~= 0 then x = x - self.center end
  return self.features(x)
end

function DANN:forward(x) return self.classifier(self:extract(x)) end

function DANN:domain_logits(f) return self.domain(self.reverse(f)):view(-1) end

function DANN:forward_all(x)
  local f = self:extract(x)
  return self.classifier(f), self:domain_logits(f), f
end

--- set_lambda(lambda): the reversal factor.
function DANN:set_lambda(lambda) self.reverse:set_lambda(lambda) end

return M
