--- The seed inpainting CNN (32*24*24 features, not 32*12*12). Its input
-- preparation and loss are in mg.recon.
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- The seed inpainting CNN. features: Conv(1,16,3)+ReLU, Conv(16,32,3)+ReLU,
-- Flatten (32*24*24 = 18432), Linear(18432,128)+ReLU; head:
-- Linear(128,784)+Sigmoid, reshaped to [B, 1, 28, 28].
-- @type InpaintNet
local InpaintNet = nn.Module:extend("models.InpaintNet")
M.InpaintNet = InpaintNet

--- models.InpaintNet(): a new network.
function InpaintNet:init()
  nn.Module.init(self)
  self.features = nn.Sequential {
    nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(),
    nn.Flatten(), nn.Linear(32 * 24 * 24, 128), nn.ReLU(),
  }
  self.head = nn.Sequential { nn.Linear(128, 784), nn.Sigmoid(), nn.Unflatten(2, { 1, 28, 28 }) }
end

function InpaintNet:forward(x) return self.head(self.features(x)) end

return M
