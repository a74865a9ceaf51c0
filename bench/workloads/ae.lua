-- Benchmark workload: one training step of the autoencoder, batch 256:
-- 784 -> Linear 32 + ReLU -> Linear 784 + Sigmoid, binary cross-entropy
-- against the input, Adam (lr 1e-3).
local mg = require "moongrad"
local nn = mg.nn
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "ae", images_per_step = 256,
  setup = function(data)
    local x = data.images:reshape(256, 784)
    local model = nn.Sequential { nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid() }
    local opt = mg.optim.Adam(model:parameters(), { lr = 1e-3 })
    return function()
      local loss = mg.binary_cross_entropy(model(x), x)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
  end,
}
