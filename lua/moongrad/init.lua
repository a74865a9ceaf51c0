--- moongrad: tensors, autograd, neural networks and experiments in Lua.
-- `local mg = require "moongrad"` gives this module table: tensor
-- constructors and ops (from the C core, `moongrad.core`), autograd, files
-- and drawing, and the submodules, which load on first use so that
-- start-up stays in milliseconds:
--
-- - `mg.nn`: layers, containers, losses, `mg.nn.functional`, `mg.nn.init`
-- - `mg.optim`: SGD, Adam, AdamW and learning-rate schedules
-- - `mg.data`: datasets, the DataLoader and batch transforms
-- - `mg.train`: the training loop, progress, metrics and checkpoints
-- - `mg.viz`: image grids and plots as PNG
-- - `mg.ssl`, `mg.attack`, `mg.gan`, `mg.da`, `mg.recon`: the methods of
--   the workloads (self-supervised pretext tasks, adversarial attacks,
--   GANs, domain adaptation, reconstruction)
-- - `mg.class`, `mg.json`, `mg.cli`, `mg.doc`: a class helper, JSON, the
--   examples' command lines, and this reference at run time (`mg.help`)
--
-- Indices and dims are 1-based (-1 is the last dim); class targets too.
-- Options go in a trailing table: `mg.zeros(2, 3, {dtype = "int64"})`.
-- @module moongrad
-- @usage local mg = require "moongrad"
-- local x = mg.randn(64, 1, 28, 28)
-- local w = mg.randn(3, 3):requires_grad_()
-- local loss = (w * w):sum()
-- loss:backward()
-- print(w.grad)
local core = require "moongrad.core"

local mg = {}
for k, v in pairs(core) do mg[k] = v end
mg.core = core

require("moongrad.tensor").install(mg)

--- Grad mode and help.
-- @section gradmode

--- Runs fn(...) with gradient recording off, as PyTorch's `torch.no_grad`;
-- restores the previous mode even when fn raises.
-- @func fn the function to run
-- @param ... its arguments
-- @return fn's results
-- @usage local acc = mg.no_grad(function() return evaluate(model, test_ds) end)
function mg.no_grad(fn, ...)
  local previous = core.set_grad_enabled(false)
  local results = table.pack(pcall(fn, ...))
  core.set_grad_enabled(previous)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- Runs fn(...) with gradient recording on (inside a no_grad block, say).
-- @func fn the function to run
-- @param ... its arguments
-- @return fn's results
function mg.enable_grad(fn, ...)
  local previous = core.set_grad_enabled(true)
  local results = table.pack(pcall(fn, ...))
  core.set_grad_enabled(previous)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- Runs fn(...) under another RNG state and puts the previous state back
-- afterwards, even when fn raises: the global random stream is left where
-- it was.
-- @tparam int|table state an integer seed, or `{seed = s, counter = c}` as get_rng_state returns
-- @func fn the function to run
-- @param ... its arguments
-- @return fn's results
-- @usage local noise = mg.with_rng_state(7, mg.randn, 16, 100)   -- the same 16 every time
function mg.with_rng_state(state, fn, ...)
  if math.type(state) == "integer" then state = { seed = state, counter = 0 } end
  if type(state) ~= "table" then
    error("with_rng_state: expected an integer seed or {seed = s, counter = c}, got " .. type(state), 2)
  end
  local saved = core.get_rng_state()
  core.set_rng_state(state)
  local results = table.pack(pcall(fn, ...))
  core.set_rng_state(saved)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- The one option checker: raises "<where>: unknown option '<name>'
-- (expected one of a, b, c)" for a name not allowed, so that a typo in an
-- options table is never silently ignored.
-- @string where the function's name for the message
-- @tparam table|nil opts the options table
-- @tparam table allowed a list of names, or a set `{name = true}`
-- @int[opt=2] level as error's, counted from the function that calls check_options (2 blames its caller)
-- @treturn table opts, or {} when opts is nil
-- @usage function M.fit(model, opts)
--   opts = mg.check_options("fit", opts, {"epochs", "lr"})
-- end
function mg.check_options(where, opts, allowed, level)
  return require("moongrad.options").check(where, opts, allowed, (level or 2) + 2)
end

local submodules = {
  nn = "moongrad.nn", optim = "moongrad.optim", data = "moongrad.data",
  train = "moongrad.train", viz = "moongrad.viz", ssl = "moongrad.ssl",
  attack = "moongrad.attack", gan = "moongrad.gan", da = "moongrad.da",
  class = "moongrad.class", json = "moongrad.json",
  cli = "moongrad.cli", recon = "moongrad.recon", models = "moongrad.models",
  linalg = "moongrad.linalg", dist = "moongrad.dist", text = "moongrad.text", doc = "moongrad.doc",
  report = "moongrad.report",
}

--- Prints the reference of a function, class or module (as `help` and
-- `?name` do in the REPL; see `moongrad.doc`).
-- @param x a function, class or module of moongrad, a Tensor, or a name
-- @usage mg.help(mg.zeros)
-- mg.help("nn.Linear")
function mg.help(x) return require("moongrad.doc").help(x) end

-- The submodules' names, for tab completion and the reference (a lazy
-- table lists in its metatable's __lazy what its __index loads).
local lazy = {}
for k in pairs(submodules) do lazy[#lazy + 1] = k end
table.sort(lazy)

return setmetatable(mg, {
  __lazy = lazy,
  __index = function(t, key)
    local name = submodules[key]
    if not name then return nil end
    if key == "dist" and not package.searchpath(name, package.cpath) then
      -- a C module of its own, built only where MPI is installed
      error("mg.dist: the MPI module moongrad.dist is not built (install Open MPI: apt-get install " ..
        "libopenmpi-dev openmpi-bin, or make deps as root; then make)", 2)
    end
    local m = require(name)
    rawset(t, key, m)
    return m
  end,
})
