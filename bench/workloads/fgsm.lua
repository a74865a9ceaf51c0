-- Benchmark workload: FGSM attack throughput on the seed CNN classifier
-- (10 classes, eval mode): a batch of 128 images, one forward and one
-- input-gradient backward (no parameter gradients), x + eps * sign(g)
-- clipped to [0, 1], eps 0.1 (mg.attack.fgsm).
local mg = require "moongrad"
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "fgsm", images_per_step = 128,
  setup = function(data)
    local x, y = data.images:narrow(1, 1, 128), data.labels:narrow(1, 1, 128)
    local model = mg.models.RotNet(10)
    return function() return mg.attack.fgsm(model, x, y, { eps = 0.1 }) end
  end,
}
