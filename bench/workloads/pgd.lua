-- Benchmark workload: PGD-10 attack throughput on the seed CNN classifier
-- (10 classes, eval mode): a batch of 128 images, L-infinity ball eps 0.1,
-- step 0.01, random start, 10 steps of forward + input-gradient backward,
-- then one forward for the final loss (mg.attack.pgd).
local mg = require "moongrad"
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "pgd", images_per_step = 128,
  setup = function(data)
    local x, y = data.images:narrow(1, 1, 128), data.labels:narrow(1, 1, 128)
    local model = mg.models.RotNet(10)
    return function() return mg.attack.pgd(model, x, y, { eps = 0.1, alpha = 0.01, steps = 10 }) end
  end,
}
