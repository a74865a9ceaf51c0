-- The seed autoencoder 784 -> 32 (ReLU) -> 784 (Sigmoid). Trained on
-- noisy inputs (mg.recon.denoise_noise) it is the denoising variant.
local mg = require "moongrad"
local nn = mg.nn

local M = {}

local Autoencoder = nn.Module:extend("models.Autoencoder")
M.Autoencoder = Autoencoder

--- Autoencoder([inputs = 784 [, code = 32]]): encoder Flatten, Linear(inputs,
-- code), ReLU; decoder Linear(code, inputs), Sigmoid. forward(x) returns a
-- reconstruction shaped like x; encode(x) -> [B, code].
function Autoencoder:init(inputs, code)
  nn.Module.init(self)
  inputs, code = inputs or 784, code or 32
  self.encoder = nn.Sequential { nn.Flatten(), nn.Linear(inputs, code), nn.ReLU() }
  self.decoder = nn.Sequential { nn.Linear(code, inputs), nn.Sigmoid() }
end

function Autoencoder:encode(x) return self.encoder(x) end

function Autoencoder:forward(x) return self.decoder(self.encoder(x)):view_as(x) end

return M
