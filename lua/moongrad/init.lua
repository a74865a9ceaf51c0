-- moongrad: the module table (`local mg = require "moongrad"`).
-- Tensor constructors and ops come from the C core (moongrad.core); the
-- Lua library adds printing, no_grad and the submodules, which load on
-- first use so that start-up stays in milliseconds.
local core = require "moongrad.core"

local mg = {}
for k, v in pairs(core) do mg[k] = v end
mg.core = core

require("moongrad.tensor").install(mg)

-- Runs fn(...) with gradient recording off; restores the previous mode even
-- when fn raises. Returns fn's results.
function mg.no_grad(fn, ...)
  local previous = core.set_grad_enabled(false)
  local results = table.pack(pcall(fn, ...))
  core.set_grad_enabled(previous)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- Runs fn(...) with gradient recording on (inside a no_grad block, say).
function mg.enable_grad(fn, ...)
  local previous = core.set_grad_enabled(true)
  local results = table.pack(pcall(fn, ...))
  core.set_grad_enabled(previous)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- Runs fn(...) under the RNG state `state` (an integer seed, or a table
-- {seed = s, counter = c} as get_rng_state returns) and puts the previous
-- state back afterwards, even when fn raises: the global random stream is
-- left where it was. Returns fn's results.
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

-- check_options(where, opts, allowed [, level = 2]) -> opts (or {}): the
-- one option checker (moongrad/options.lua). level as error's, counted
-- from the function that calls check_options (2: blame its caller).
function mg.check_options(where, opts, allowed, level)
  return require("moongrad.options").check(where, opts, allowed, (level or 2) + 2)
end

local submodules = {
  nn = "moongrad.nn", optim = "moongrad.optim", data = "moongrad.data",
  train = "moongrad.train", viz = "moongrad.viz", ssl = "moongrad.ssl",
  attack = "moongrad.attack", gan = "moongrad.gan", da = "moongrad.da",
  class = "moongrad.class", json = "moongrad.json",
  cli = "moongrad.cli", recon = "moongrad.recon", models = "moongrad.models",
  linalg = "moongrad.linalg", dist = "moongrad.dist", text = "moongrad.text",
}

return setmetatable(mg, {
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
