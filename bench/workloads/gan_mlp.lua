-- Benchmark workload: one step of the seed MLP GAN, batch 128.
-- G: noise(100) -> Linear 128 + ReLU -> Linear 784 + Sigmoid;
-- D: Linear(784,128) + ReLU -> Linear 1 + Sigmoid; binary cross-entropy,
-- Adam (lr 2e-4, betas 0.5, 0.999) for both. A step: D on a real batch
-- (target 1) and a fake batch made without a graph (target 0), one D
-- update; then G on fresh noise through the frozen D (target 1), one G
-- update. Images counted: the 128 real images.
local mg = require "moongrad"
local nn = mg.nn
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "gan_mlp", images_per_step = 128,
  setup = function(data)
    local b = 128
    local real = data.images:narrow(1, 1, b):reshape(b, 784)
    local G = nn.Sequential { nn.Linear(100, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid() }
    local D = nn.Sequential { nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 1), nn.Sigmoid() }
    local opt_g = mg.optim.Adam(G:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
    local opt_d = mg.optim.Adam(D:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
    local ones, zeros = mg.ones(b, 1), mg.zeros(b, 1)
    return function()
      local fake = mg.no_grad(function() return G(mg.randn(b, 100)) end)
      local loss_d = mg.binary_cross_entropy(D(real), ones) + mg.binary_cross_entropy(D(fake), zeros)
      opt_d:zero_grad()
      loss_d:backward()
      opt_d:step()
      D:requires_grad_(false)
      local loss_g = mg.binary_cross_entropy(D(G(mg.randn(b, 100))), ones)
      opt_g:zero_grad()
      loss_g:backward()
      opt_g:step()
      D:requires_grad_(true)
    end
  end,
}
