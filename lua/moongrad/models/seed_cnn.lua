-- The seed CNN: a convolutional trunk and an MLP head, used by the
-- rotation pretext task (4 outputs) and the attacked classifier (10).
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- conv_trunk([in_channels = 1]) -> module, feature size for 28x28 inputs
-- (1152): Conv(c,32,3)+ReLU, MaxPool(2), Conv(32,64,3)+ReLU, MaxPool(2),
-- Conv(64,128,3)+ReLU, Flatten.
function M.conv_trunk(in_channels)
  return nn.Sequential {
    nn.Conv2d(in_channels or 1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(),
  }, 128 * 3 * 3
end

--- mlp_head(in_features, classes): Linear(d,128)+ReLU, Linear(128, classes).
function M.mlp_head(in_features, classes)
  return nn.Sequential { nn.Linear(in_features, 128), nn.ReLU(), nn.Linear(128, classes) }
end

--- TrunkHead(trunk, head): a trunk followed by a head (fields trunk, head).
local TrunkHead = nn.Module:extend("models.TrunkHead")
M.TrunkHead = TrunkHead

function TrunkHead:init(trunk, head)
  nn.Module.init(self)
  self.trunk = trunk
  self.head = head
end

function TrunkHead:forward(x) return self.head(self.trunk(x)) end

--- classifier([classes = 10 [, in_channels = 1]]): the seed CNN, trunk and
-- head, with `classes` outputs.
function M.classifier(classes, in_channels)
  local trunk, dim = M.conv_trunk(in_channels or 1)
  return TrunkHead(trunk, M.mlp_head(dim, classes or 10))
end

--- RotNet([classes = 4]): the seed CNN with a 4-way rotation head.
function M.RotNet(classes) return M.classifier(classes or 4) end

return M
