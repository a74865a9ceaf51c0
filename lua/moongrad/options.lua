-- The one option checker: a typo in an options table ({strides = 2},
-- {batchsize = 64}) is an error, never silently ignored. Every Lua
-- function that takes an options table checks it here, so the message
-- has one format:
--   "<where>: unknown option '<name>' (expected one of a, b, c)"
--   "<where>: options must be a table, got <type>"
local M = {}

-- The sorted names of `allowed`, a list of names or a set {name = true}.
local function names_of(allowed)
  local names = {}
  if #allowed > 0 then
    for _, n in ipairs(allowed) do names[#names + 1] = n end
  else
    for n in pairs(allowed) do names[#names + 1] = n end
  end
  table.sort(names)
  return names
end

--- check(where, opts, allowed [, level = 3]) -> opts, or {} when opts is
-- nil. where: the function's name for the message; allowed: a list of
-- names or a set {name = true}; level: the error level (3 blames the
-- caller of the function that calls check; 0 adds no position, for code
-- that re-raises at the user's line itself).
function M.check(where, opts, allowed, level)
  level = level or 3
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", where, type(opts)), level)
  end
  local set = allowed
  if #allowed > 0 then
    set = {}
    for _, n in ipairs(allowed) do set[n] = true end
  end
  for k in pairs(opts) do
    if set[k] == nil then
      error(string.format("%s: unknown option '%s' (expected one of %s)", where, tostring(k),
        table.concat(names_of(allowed), ", ")), level)
    end
  end
  return opts
end

return M
