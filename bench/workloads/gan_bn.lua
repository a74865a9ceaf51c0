-- Benchmark workload: one step of the BatchNorm GAN, batch 256, pixels in
-- [-1, 1]. G: noise(100) -> Linear 256 (no bias) + BatchNorm1d +
-- LeakyReLU(0.2) -> Linear 512 (no bias) + BatchNorm1d + LeakyReLU(0.2)
-- -> Linear 784 + Tanh; D: Linear(784,512) + LeakyReLU(0.2) -> Linear 256
-- + LeakyReLU(0.2) -> Linear 1; BCE on logits, Adam (lr 1e-4) for both.
-- The step as gan_mlp: D on real and graph-free fake, then G through the
-- frozen D. Images counted: the 256 real images.
local mg = require "moongrad"
local nn = mg.nn
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "gan_bn", images_per_step = 256,
  setup = function(data)
    local b = 256
    local real = data.images:narrow(1, 1, b):reshape(b, 784) * 2 - 1
    local G = nn.Sequential {
      nn.Linear(100, 256, { bias = false }), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
      nn.Linear(256, 512, { bias = false }), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
      nn.Linear(512, 784), nn.Tanh(),
    }
    local D = nn.Sequential {
      nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1),
    }
    local opt_g = mg.optim.Adam(G:parameters(), { lr = 1e-4 })
    local opt_d = mg.optim.Adam(D:parameters(), { lr = 1e-4 })
    local ones, zeros = mg.ones(b, 1), mg.zeros(b, 1)
    local bce = mg.binary_cross_entropy_with_logits
    return function()
      local fake = mg.no_grad(function() return G(mg.randn(b, 100)) end)
      local loss_d = bce(D(real), ones) + bce(D(fake), zeros)
      opt_d:zero_grad()
      loss_d:backward()
      opt_d:step()
      D:requires_grad_(false)
      local loss_g = bce(D(G(mg.randn(b, 100))), ones)
      opt_g:zero_grad()
      loss_g:backward()
      opt_g:step()
      D:requires_grad_(true)
    end
  end,
}
