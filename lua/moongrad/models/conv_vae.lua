-- A small convolutional variational autoencoder for 1x28x28 images, and
-- the reparameterisation it samples with. Its loss is mg.recon.vae_loss.
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- reparameterize(mu, logvar) -> z = mu + exp(logvar / 2) * eps with eps ~
-- N(0, I) from the global RNG; gradients flow to mu and logvar.
function M.reparameterize(mu, logvar)
  return mu + (logvar * 0.5):exp() * mg.randn_like(mu)
end

local ConvVAE = nn.Module:extend("models.ConvVAE")
M.ConvVAE = ConvVAE

--- ConvVAE([latent = 16]): a small convolutional VAE for 1x28x28 images.
-- Encoder: Conv(1,16,4,s2,p1)+ReLU (14x14), Conv(16,32,4,s2,p1)+ReLU (7x7),
-- Flatten (1568), then fc_mu and fc_logvar (1568 -> latent).
-- Decoder: Linear(latent,1568)+ReLU, Unflatten to 32x7x7,
-- ConvT(32,16,4,s2,p1)+ReLU (14x14), ConvT(16,1,4,s2,p1) (28x28), Sigmoid.
-- forward(x) -> recon, mu, logvar; z is sampled in training mode, z = mu in
-- eval mode.
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

--- vae:encode(x) -> mu, logvar [B, latent]
function ConvVAE:encode(x)
  local h = self.encoder(x)
  return self.fc_mu(h), self.fc_logvar(h)
end

--- vae:decode(z) -> images [B, 1, 28, 28] in (0, 1)
function ConvVAE:decode(z) return self.decoder(z) end

function ConvVAE:forward(x)
  local mu, logvar = self:encode(x)
  local z = self.training and M.reparameterize(mu, logvar) or mu
  return self:decode(z), mu, logvar
end

--- vae:sample(n) -> n images decoded from z ~ N(0, I) (no grad, eval mode)
function ConvVAE:sample(n)
  return mg.nn.utils.inference(self, function() return self:decode(mg.randn(n, self.latent)) end)
end

--- vae:mu_encoder() -> a module x -> mu sharing the VAE's weights (a trunk
-- for the linear probe).
function ConvVAE:mu_encoder() return nn.Sequential { self.encoder, self.fc_mu } end

return M
