-- Small fixed models for the attack specs, trained in a fraction of a
-- second on the first 256 MNIST training images (the bundled sample or the
-- full set; the properties checked hold for either). Seeded, so every run
-- gives the same weights. Cached per busted process.
local mg = require "moongrad"
local nn = mg.nn

local M = {}
local cache = {}

-- data(n) -> images [n, 1, 28, 28] in [0, 1], labels int64 [n]
function M.data(n)
  if not cache.ds then cache.ds = mg.data.mnist { split = "train", limit = 256 } end
  n = n or 64
  return cache.ds.images:narrow(1, 1, n), cache.ds.labels:narrow(1, 1, n)
end

local function fit(model, steps, lr)
  local x, y = M.data(256)
  local opt = mg.optim.Adam(model:parameters(), { lr = lr })
  for s = 1, steps do
    local from = (s - 1) * 64 % 256 + 1
    local loss = mg.cross_entropy(model(x:narrow(1, from, 64)), y:narrow(1, from, 64))
    opt:zero_grad()
    loss:backward()
    opt:step()
  end
  model:zero_grad()
  return model
end

-- A linear softmax classifier (784 -> 10): its cross-entropy is convex in
-- the input, so one signed gradient step can only raise the loss.
function M.linear()
  if not cache.linear then
    local saved = mg.get_rng_state()
    mg.manual_seed(11)
    cache.linear = fit(nn.Sequential { nn.Flatten(), nn.Linear(784, 10) }, 40, 0.01)
    mg.set_rng_state(saved)
  end
  return cache.linear
end

-- A small CNN: Conv(1, 8, 4, stride 4) + ReLU, Linear(392 -> 10).
function M.cnn()
  if not cache.cnn then
    local saved = mg.get_rng_state()
    mg.manual_seed(12)
    cache.cnn = fit(nn.Sequential {
      nn.Conv2d(1, 8, 4, { stride = 4 }), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 7 * 7, 10),
    }, 60, 0.005)
    mg.set_rng_state(saved)
  end
  return cache.cnn
end

-- The CNN behind a gradient mask: the same outputs, but every gradient
-- with respect to the input is exactly zero (gradient attacks cannot move).
function M.masked()
  local cnn = M.cnn()
  return function(x)
    local out = cnn(x)
    return out:detach() + (out - out:detach()) * 0
  end
end

-- The CNN with its logits times 1000: the softmax saturates, so the
-- cross-entropy's gradient underflows to zero on confident images.
function M.saturated()
  local cnn = M.cnn()
  return function(x) return cnn(x) * 1000 end
end

-- Per-example cross-entropy without a graph.
function M.losses(model, x, y)
  return mg.no_grad(function() return mg.cross_entropy(model(x), y, { reduction = "none" }) end)
end

-- Per-example 1/0: is the prediction right?
function M.right(model, x, y)
  return mg.no_grad(function() return model(x):argmax(2):eq(y) end)
end

return M
