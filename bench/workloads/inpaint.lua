-- Benchmark workload: one training step of the inpainting CNN, batch 64.
-- The centre block (rows and columns 10..19, 0-based) is zeroed, the
-- input normalised with mean 0.5 and std 0.5; Conv2d(1,16,3)+ReLU,
-- Conv2d(16,32,3)+ReLU, Flatten, Linear(32*24*24,128)+ReLU,
-- Linear(128,784)+Sigmoid; MSE against the original; Adam (lr 1e-3).
local mg = require "moongrad"
local nn = mg.nn
local H = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")

H.run {
  name = "inpaint", images_per_step = 64,
  setup = function(data)
    local x = data.images:narrow(1, 1, 64)
    local target = x:reshape(64, 784)
    local idx = mg.arange(0, 28):float()
    local inside = mg.ge(idx, 10) * mg.lt(idx, 20)
    local keep = 1 - inside:view(1, 1, 28, 1) * inside:view(1, 1, 1, 28) -- [1, 1, 28, 28]
    local model = nn.Sequential {
      nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Flatten(),
      nn.Linear(32 * 24 * 24, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid(),
    }
    local opt = mg.optim.Adam(model:parameters(), { lr = 1e-3 })
    return function()
      local inp = (x * keep - 0.5) / 0.5
      local loss = mg.mse_loss(model(inp), target)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
  end,
}
