--- A small convolutional variational autoencoder for 1x28x28 images, and
-- the reparameterisation it samples with. Its loss is mg.recon.vae_loss.
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) from the global RNG;
-- gradients flow to mu and logvar.
-- @tparam Tensor mu
-- @tparam Tensor logvar mu's shape
-- @treturn Tensor z
function M.reparameterize(mu, logvar)
  return mu + (logvar * 0.5):exp() * mg.randn_like(mu)
end

--- A small convolutional VAE for 1x28x28 images.
-- Encoder: Conv(1,16,4,s2,p1)+ReLU (14x14), Conv(16,32,4,s2,p1)+ReLU
-- (7x7), Flatten (1568), then fc_mu and fc_logvar (1568 -> latent).
-- Decoder: Linear(latent,1568)+ReLU, Unflatten to 32x7x7,
-- ConvT(32,16,4,s2,p1)+ReLU (14x14), ConvT(16,1,4,s2,p1) (28x28), Sigmoid.
-- forward(x) gives recon, mu, logvar; z is sampled in training mode and
-- z = mu in eval mode.
-- @type ConvVAE
-- @usage local vae = mg.models.ConvVAE(16)
-- local recon, mu, logvar = vae(x)
-- local loss = mg.recon.vae_loss(recon, x, mu, logvar)
local ConvVAE = nn.Module:extend("models.ConvVAE")
M.ConvVAE = ConvVAE

--- models.ConvVAE([latent]): a new network.
-- @int[opt=16] latent the size of z
function ConvVAE:init(latent)
  nn.Module.init(self)
  latent = latent or 16
  self.latent = latent
  local s2 = { stride = 2, padding = 1 }
  self.encoder = nn.Sequential {
    nn.Conv2d(1, 16, 4, s2), nn.ReLU(), nn.Conv2d(16, 32, 4, s2), nn.ReLU(), nn.Flatten(),
  }
  self.fc_mu = nn.Linear(32 * 7 * 7, latent)
  self.fc_logvar = nn.Linear(32 * 7 * 7, latent)
  self.decoder = nn.Sequential {
    nn.Linear(latent, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(2, { 32, 7, 7 }),
    nn.ConvTranspose2d(32, 16, 4, s2), nn.ReLU(), nn.ConvTranspose2d(16, 1, 4, s2), nn.Sigmoid(),
  }
end

--- The posterior's parameters.
-- @tparam Tensor x [B, 1, 28, 28]
-- @treturn Tensor mu [B, latent]
-- @treturn Tensor logvar [B, latent]
function ConvVAE:encode(x)
  local h = self.encoder(x)
  return self.fc_mu(h), self.fc_logvar(h)
end

--- Images from codes.
-- @tparam Tensor z [B, latent]
-- @treturn Tensor [B, 1, 28, 28] in (0, 1)
function ConvVAE:decode(z) return self.decoder(z) end

function ConvVAE:forward(x)
  local mu, logvar = self:encode(x)
  local z = self.training and M.reparameterize(mu, logvar) or mu
  return self:decode(z), mu, logvar
end

--- n images decoded from z ~ N(0, I), without grad, in eval mode.
-- @int n
-- @treturn Tensor [n, 1, 28, 28]
function ConvVAE:sample(n)
  return mg.nn.utils.inference(self, function() return self:decode(mg.randn(n, self.latent)) end)
end

--- A module x -> mu sharing the VAE's weights (a trunk for the linear probe).
-- @treturn Module
function ConvVAE:mu_encoder() return nn.Sequential { self.encoder, self.fc_mu } end

return M
