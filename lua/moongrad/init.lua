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

local submodules = {
  nn = "moongrad.nn", optim = "moongrad.optim", data = "moongrad.data",
  train = "moongrad.train", viz = "moongrad.viz", ssl = "moongrad.ssl",
  attack = "moongrad.attack", gan = "moongrad.gan", da = "moongrad.da",
  text = "moongrad.text", class = "moongrad.class", json = "moongrad.json",
  cli = "moongrad.cli", recon = "moongrad.recon",
}

return setmetatable(mg, {
  __index = function(t, key)
    local name = submodules[key]
    if not name then return nil end
    local m = require(name)
    rawset(t, key, m)
    return m
  end,
})
