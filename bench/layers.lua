-- Where a training step's time goes, layer by layer: each layer of a
-- model run on its own (forward with the graph recorded, then backward
-- from a gradient of ones), timed in CPU time of this process, so that
-- the load of other processes on a shared machine hardly changes the
-- figures. Layers that nn.Sequential fuses are one row. The last rows are
-- the loss and the optimizer step.
--
--   moongrad bench/layers.lua [--model seed_cnn|inpaint] [--batch N]
--                             [--reps N] [--threads N]
--
-- Prints one row per layer: forward and backward milliseconds per step
-- (the least of --reps blocks of repetitions) and the share of the total.
local mg = require "moongrad"
local nn = mg.nn

local o = { model = "seed_cnn", batch = 128, reps = 5, threads = 1 }
do
  local i = 1
  while i <= #arg do
    local k = arg[i]:match("^%-%-(%w+)$")
    if not k or o[k] == nil or arg[i + 1] == nil then
      io.stderr:write("usage: moongrad bench/layers.lua [--model seed_cnn|inpaint] [--batch N] [--reps N] ",
        "[--threads N]\n")
      os.exit(2)
    end
    o[k] = k == "model" and arg[i + 1] or math.tointeger(tonumber(arg[i + 1]))
    i = i + 2
  end
end
mg.set_num_threads(o.threads)
mg.manual_seed(0)

-- The layers in order, the input batch and the loss of the last output.
local layers, x, loss_of
if o.model == "seed_cnn" then
  local m = mg.models.classifier(10)
  layers = {}
  for _, l in ipairs(m.trunk) do layers[#layers + 1] = l end
  for _, l in ipairs(m.head) do layers[#layers + 1] = l end
  x = mg.rand(o.batch, 1, 28, 28)
  local y = mg.randint(1, 11, o.batch)
  loss_of = function(out) return mg.cross_entropy(out, y) end
elseif o.model == "inpaint" then
  layers = {
    nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Flatten(),
    nn.Linear(32 * 24 * 24, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid(),
  }
  x = mg.rand(o.batch, 1, 28, 28)
  local target = x:reshape(o.batch, 784)
  loss_of = function(out) return mg.mse_loss(out, target) end
else
  io.stderr:write("bench/layers.lua: unknown model ", o.model, "\n")
  os.exit(2)
end

-- The least CPU seconds per call of fn over reps blocks of n calls.
local function cpu_time(fn, n)
  local best = math.huge
  for _ = 1, o.reps do
    local c0 = os.clock()
    for _ = 1, n do fn() end
    best = math.min(best, (os.clock() - c0) / n)
  end
  return best
end

-- Layers that nn.Sequential runs fused (Conv2d, ReLU [, MaxPool2d]) are
-- timed as one row, as a Sequential of their own.
local fusion = require "moongrad.nn.fusion"
do
  local grouped, probe, i = {}, x, 1
  while i <= #layers do
    local n = mg.no_grad(function() return fusion.run(layers, i, probe) end)
    local layer = layers[i]
    if n then
      local part, names = {}, {}
      for k = i, i + n - 1 do
        part[#part + 1] = layers[k]
        names[#names + 1] = tostring(layers[k]):match("^nn%.(%w+)")
      end
      layer = nn.Sequential(part)
      layer.label = table.concat(names, "+") .. " (fused)"
    end
    probe = mg.no_grad(function() return layer(probe) end)
    grouped[#grouped + 1] = layer
    i = i + (n or 1)
  end
  layers = grouped
end

local rows, total = {}, 0
local inp = x
local params = {}
for i, layer in ipairs(layers) do
  local xin = inp:detach()
  -- the first layer's input needs no gradient, as in training
  if i > 1 then xin:requires_grad_() end
  local out = layer(xin)
  local g = mg.ones(table.unpack(out:shape()))
  local n = 10
  local fwd = cpu_time(function() layer(xin) end, n)
  local both = cpu_time(function() -- gradients set to nil first, as zero_grad does
    xin.grad = nil
    layer:zero_grad()
    layer(xin):backward(g)
  end, n)
  -- what backward costs around the layer's own kernels (the seed
  -- gradient taken in, the result handed over) is measured on a view
  local leaf = out:detach():requires_grad_()
  local around = cpu_time(function()
    leaf.grad = nil
    leaf:view(-1):view(table.unpack(out:shape())):backward(g)
  end, n)
  rows[#rows + 1] = { name = layer.label or tostring(layer):match("^[^\n]*"), shape = table.concat(out:shape(), "x"),
    fwd = fwd, bwd = math.max(both - fwd - around, 0) }
  total = total + fwd + rows[#rows].bwd
  for _, p in ipairs(layer:parameters()) do params[#params + 1] = p end
  inp = out:detach()
end
do -- the loss on the last output and an Adam step over every parameter
  local out = inp:detach():requires_grad_()
  local opt = mg.optim.Adam(params, { lr = 1e-3 })
  for _, p in ipairs(params) do p.grad = mg.zeros_like(p) end
  local fwd = cpu_time(function() loss_of(out) end, 20)
  local both = cpu_time(function()
    out.grad = nil
    loss_of(out):backward()
  end, 20)
  local step = cpu_time(function() opt:step() end, 20)
  rows[#rows + 1] = { name = "loss", shape = "1", fwd = fwd, bwd = math.max(both - fwd, 0) }
  rows[#rows + 1] = { name = "Adam step", shape = "", fwd = step, bwd = 0 }
  total = total + fwd + rows[#rows - 1].bwd + step
end

print(string.format("%s, batch %d, %d thread(s): CPU ms per step (least of %d)", o.model, o.batch, o.threads,
  o.reps))
print(string.format("%-34s %-14s %8s %8s %6s", "layer", "output", "fwd ms", "bwd ms", "share"))
for _, r in ipairs(rows) do
  print(string.format("%-34s %-14s %8.3f %8.3f %5.1f%%", r.name, r.shape, r.fwd * 1e3, r.bwd * 1e3,
    100 * (r.fwd + r.bwd) / total))
end
print(string.format("%-34s %-14s %17.3f", "total", "", total * 1e3))
