-- Argument checks shared by the layers: messages name the layer, the
-- argument, what was expected and what came.
local M = {}

-- A positive integer (a float with an integer value is accepted).
function M.positive_int(who, what, v)
  local n = math.tointeger(v)
  if not n or n < 1 then
    error(string.format("%s: %s must be a positive integer, got %s", who, what, tostring(v)), 3)
  end
  return n
end

-- A non-negative integer.
function M.natural(who, what, v)
  local n = math.tointeger(v)
  if not n or n < 0 then
    error(string.format("%s: %s must be a non-negative integer, got %s", who, what, tostring(v)), 3)
  end
  return n
end

-- A number, or an integer pair {h, w}, made into a pair {h, w}.
function M.pair(who, what, v, min)
  min = min or 0
  local p
  if type(v) == "table" then
    if #v ~= 2 then
      error(string.format("%s: %s must be a number or a pair {h, w}, got %d values", who, what, #v), 3)
    end
    p = { math.tointeger(v[1]), math.tointeger(v[2]) }
  else
    local n = math.tointeger(v)
    p = { n, n }
  end
  if not p[1] or not p[2] or p[1] < min or p[2] < min then
    local shown = type(v) == "table" and ("{" .. tostring(v[1]) .. ", " .. tostring(v[2]) .. "}") or tostring(v)
    error(string.format("%s: %s must be an integer >= %d or a pair of them, got %s", who, what, min, shown), 3)
  end
  return p
end

-- A pair as the ops take it: a number when both sides agree.
function M.compact(p)
  if p[1] == p[2] then return p[1] end
  return { p[1], p[2] }
end

-- "3x3", "3x5"
function M.pair_str(p)
  return p[1] .. "x" .. p[2]
end

-- Rejects unknown option names (a typo like {strides = 2} would otherwise
-- be silently ignored). `known` maps names to anything non-nil.
function M.options(who, opts, known)
  return require("moongrad.options").check(who, opts, known, 4)
end

-- A probability in [0, 1].
function M.probability(who, what, v)
  if type(v) ~= "number" or v < 0 or v > 1 then
    error(string.format("%s: %s must be a number in [0, 1], got %s", who, what, tostring(v)), 3)
  end
  return v
end

return M
