-- Benchmark workload: one training step of the seed CNN as a 10-class
-- classifier (the model that adversarial training uses): batch 128,
-- forward, cross-entropy, backward, Adam step (lr 1e-3).
local mg = require "moongrad"
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "classifier", images_per_step = 128,
  setup = function(data)
    local x, y = data.images:narrow(1, 1, 128), data.labels:narrow(1, 1, 128)
    local model = mg.models.RotNet(10)
    local opt = mg.optim.Adam(model:parameters(), { lr = 1e-3 })
    return function()
      local loss = mg.cross_entropy(model(x), y)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
  end,
}
