--- The seed autoencoder 784 -> 32 (ReLU) -> 784 (Sigmoid). Trained on
-- noisy inputs (mg.recon.denoise_noise) it is the denoising variant.
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- The seed autoencoder: encoder Flatten, Linear(inputs, code), ReLU;
-- decoder Linear(code, inputs), Sigmoid. forward(x) returns a
-- reconstruction shaped like x.
-- @type Autoencoder
-- @usage local ae = mg.models.Autoencoder()
-- local loss = mg.mse_loss(ae(x), x)
local Autoencoder = nn.Module:extend("models.Autoencoder")
M.Autoencoder = Autoencoder

--- models.Autoencoder([inputs [, code]]): a new network.
-- @int[opt=784] inputs
-- @int[opt=32] code the size of the code
function Autoencoder:init(inputs, code)
  nn.Module.init(self)
  inputs, code = inputs or 784, code or 32
  self.encoder = nn.Sequential { nn.Flatten(), nn.Linear(inputs, code), nn.ReLU() }
  self.decoder = nn.Sequential { nn.Linear(code, inputs), nn.Sigmoid() }
end

--- The codes of x.
-- @tparam Tensor x [B, ...] with `inputs` values per sample
-- @treturn Tensor [B, code]
function Autoencoder:encode(x) return self.encoder(x) end

function Autoencoder:forward(x) return self.decoder(self.encoder(x)):view_as(x) end

return M
