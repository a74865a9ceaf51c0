-- Benchmark workload: one training step of the seed rotation CNN, as
-- examples/rotnet.lua runs it. A batch of 128 images becomes 512 (each at
-- 0, 90, 180 and 270 degrees), then forward, cross-entropy, backward and
-- an Adam step (lr 1e-3). Images counted: the 512 network inputs.
local mg = require "moongrad"
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "rotation", images_per_step = 512,
  setup = function(data)
    local images = data.images:narrow(1, 1, 128)
    local model = mg.models.RotNet(4)
    local opt = mg.optim.Adam(model:parameters(), { lr = 1e-3 })
    return function()
      local x, r = mg.ssl.rotations(images)
      local loss = mg.cross_entropy(model(x), r)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
  end,
}
