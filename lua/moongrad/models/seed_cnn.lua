--- The seed CNN: a convolutional trunk and an MLP head, used by the
-- rotation pretext task (4 outputs) and the attacked classifier (10).
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- The seed CNN's trunk: Conv(c,32,3)+ReLU, MaxPool(2), Conv(32,64,3)+ReLU,
-- MaxPool(2), Conv(64,128,3)+ReLU, Flatten.
-- @int[opt=1] in_channels
-- @treturn Module
-- @treturn int the feature size for 28x28 inputs (1152)
function M.conv_trunk(in_channels)
  return nn.Sequential {
    nn.Conv2d(in_channels or 1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(),
  }, 128 * 3 * 3
end

--- The seed CNN's head: Linear(in_features, 128)+ReLU, Linear(128, classes).
-- @int in_features
-- @int classes
-- @treturn Module
function M.mlp_head(in_features, classes)
  return nn.Sequential { nn.Linear(in_features, 128), nn.ReLU(), nn.Linear(128, classes) }
end

--- A trunk followed by a head (fields trunk and head), so probes can reach
-- the trunk's features.
-- @type TrunkHead
local TrunkHead = nn.Module:extend("models.TrunkHead")
M.TrunkHead = TrunkHead

--- models.TrunkHead(trunk, head): a new network.
-- @tparam Module trunk
-- @tparam Module head
function TrunkHead:init(trunk, head)
  nn.Module.init(self)
  self.trunk = trunk
  self.head = head
end

function TrunkHead:forward(x) return self.head(self.trunk(x)) end

--- The seed CNN, trunk and head.
-- @int[opt=10] classes
-- @int[opt=1] in_channels
-- @treturn TrunkHead
-- @usage local model = mg.models.classifier()
function M.classifier(classes, in_channels)
  local trunk, dim = M.conv_trunk(in_channels or 1)
  return TrunkHead(trunk, M.mlp_head(dim, classes or 10))
end

--- The seed CNN with a rotation head.
-- @int[opt=4] classes
-- @treturn TrunkHead
function M.RotNet(classes) return M.classifier(classes or 4) end

return M
