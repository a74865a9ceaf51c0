--- Lua-side Tensor methods: printing (values, shape and dtype, long tensors
-- abbreviated) and small conveniences written on top of the core ops.
-- @module moongrad
local M = {}

local EDGE = 3        -- elements shown at each end of a long dim
local SUMMARIZE = 1000 -- tensors with more elements are abbreviated

-- Indices of a dim to show: all, or the first and last EDGE.
local function shown(n, abbreviate)
  if not abbreviate or n <= 2 * EDGE then
    local idx = {}
    for i = 1, n do idx[#idx + 1] = i end
    return idx
  end
  local idx = {}
  for i = 1, EDGE do idx[#idx + 1] = i end
  idx[#idx + 1] = false -- the ellipsis
  for i = n - EDGE + 1, n do idx[#idx + 1] = i end
  return idx
end

-- Collects the displayed values (nested lists, false for an ellipsis).
local function gather(t, abbreviate)
  if t:dim() == 0 then return t:item() end
  local out = {}
  for _, i in ipairs(shown(t:size(1), abbreviate)) do
    if i then out[#out + 1] = gather(t:select(1, i), abbreviate) else out[#out + 1] = false end
  end
  return out
end

local function each_value(v, fn)
  if type(v) == "table" then
    for _, x in ipairs(v) do each_value(x, fn) end
  elseif v then
    fn(v)
  end
end

-- One number format for all values, as PyTorch chooses it.
local function formatter(values, dtype)
  if dtype ~= "float32" then return function(x) return string.format("%d", x) end end
  local integral, maxabs, minabs = true, 0, math.huge
  each_value(values, function(x)
    if x == x and x ~= math.huge and x ~= -math.huge then
      if x ~= math.floor(x) then integral = false end
      local a = math.abs(x)
      if a > maxabs then maxabs = a end
      if a > 0 and a < minabs then minabs = a end
    end
  end)
  local function special(x)
    if x ~= x then return "nan" end
    if x == math.huge then return "inf" end
    if x == -math.huge then return "-inf" end
  end
  if integral and maxabs < 1e8 then
    return function(x) return special(x) or string.format("%.0f.", x) end
  end
  if maxabs >= 1e5 or (minabs < 1e-4 and minabs ~= math.huge) then
    return function(x) return special(x) or string.format("%.4e", x) end
  end
  return function(x) return special(x) or string.format("%.4f", x) end
end

local function render(values, fmt, width, indent)
  if type(values) ~= "table" then
    local s = fmt(values)
    return string.rep(" ", width - #s) .. s
  end
  local nested = type(values[1]) == "table" or (values[1] == false and type(values[2]) == "table")
  local parts = {}
  for _, v in ipairs(values) do
    if v == false then parts[#parts + 1] = "..." else parts[#parts + 1] = render(v, fmt, width, indent .. " ") end
  end
  local sep = nested and (",\n" .. indent .. " ") or ", "
  return "[" .. table.concat(parts, sep) .. "]"
end

local function shape_string(t)
  return "[" .. table.concat(t:shape(), ", ") .. "]"
end

function M.tostring(t)
  local abbreviate = t:numel() > SUMMARIZE
  local values = gather(t, abbreviate)
  local fmt = formatter(values, t.dtype)
  local width = 0
  each_value(values, function(x) width = math.max(width, #fmt(x)) end)
  local body
  if t:numel() == 0 then body = "[]" else body = render(values, fmt, width, "       ") end
  local extra = ""
  if t.grad_fn then extra = ", grad_fn=" .. t.grad_fn
  elseif t.requires_grad then extra = ", requires_grad=true" end
  return string.format("tensor(%s%s)  %s %s", body, extra, shape_string(t), t.dtype)
end

-- ---- misspelled fields ---------------------------------------------------------

-- Names PyTorch, NumPy and Torch7 users reach for, and what moongrad calls
-- them. A value starting with ":" is a method, "." a field; others are advice.
local HINTS = {
  T = ":t()", mT = ":transpose(-2, -1)", ndim = ":dim()", ndimension = ":dim()", nDimension = ":dim()",
  dtypes = ".dtype", type = ".dtype (or x:to(dtype))", nelement = ":numel()", nElement = ":numel()",
  len = "#x (or x:size(1))", length = "#x (or x:size(1))", tolist = ":totable()", numpy = ":totable()",
  data = ":detach()", item_ = ":item()", double = ":float() (float32 is the only float dtype)",
  half = ":float() (float32 is the only float dtype)", int = ":long()", bool = ":ne(0)",
  requires_grad_grad = ".requires_grad", is_cuda = "nothing: moongrad tensors live in CPU memory",
  cuda = "nothing: moongrad runs on the CPU", cpu = "nothing: moongrad tensors live in CPU memory",
  device = "nothing: moongrad tensors live in CPU memory", storage = ":contiguous()",
  nbytes = ":numel() * 4 (float32, 8 for int64)", sizes = ":size()", shape_ = ":shape()",
}
local FIELDS = { "grad", "requires_grad", "is_leaf", "grad_fn", "dtype" }

-- Levenshtein distance, stopping early beyond `limit`.
local function distance(a, b, limit)
  if math.abs(#a - #b) > limit then return limit + 1 end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur, best = { [0] = i }, i
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if cur[j] < best then best = cur[j] end
    end
    if best > limit then return limit + 1 end
    prev = cur
  end
  return prev[#b]
end

-- What the user probably meant by key: "x:name()", "x.name" or advice; nil if nothing is close.
function M.suggest(key, methods)
  local hint = HINTS[key]
  if hint then
    if hint:sub(1, 1) == ":" or hint:sub(1, 1) == "." then return "x" .. hint end
    return hint
  end
  local candidates = {}
  for name, v in pairs(methods) do
    if type(name) == "string" and type(v) == "function" then
      candidates[#candidates + 1] = { name, ":" .. name .. "()" }
    end
  end
  for _, name in ipairs(FIELDS) do candidates[#candidates + 1] = { name, "." .. name } end
  table.sort(candidates, function(a, b) return a[1] < b[1] end)
  local lower = key:lower()
  local limit = #key <= 3 and 1 or 2
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = c[1]:lower() == lower and 0 or distance(lower, c[1]:lower(), limit)
    if d <= limit and (not best_d or d < best_d) then best, best_d = c[2], d end
  end
  return best and ("x" .. best) or nil
end

function M.install(mg)
  local mt = mg.Tensor
  mt.__tostring = function(t)
    local ok, s = pcall(M.tostring, t)
    if ok then return s end
    return "Tensor (" .. tostring(s) .. ")"
  end
  local methods = mg.methods
  --- More tensor functions, written in Lua.
  -- @section tensorlua

  --- The standard deviation, sqrt(var(...)), over all elements or along dim.
  -- Also a Tensor method.
  -- @function std
  -- @tparam Tensor t
  -- @param ... dim, keepdim and correction as for `var`
  -- @treturn Tensor
  methods.std = function(t, ...) return t:var(...):sqrt() end
  mg.std = methods.std
  --- t converted to other's dtype (a Tensor method only).
  -- @function Tensor:type_as
  -- @tparam Tensor t
  -- @tparam Tensor other
  -- @treturn Tensor
  methods.type_as = function(t, other) return t:to(other.dtype) end
  methods.numpy_shape = nil
  --- Whether t holds floating-point values (float32).
  -- @function is_floating_point
  -- @tparam Tensor t
  -- @treturn bool
  mg.is_floating_point = function(t) return t.dtype == "float32" end
  -- Unknown fields raise (bindings/lua_tensor.c calls this) rather than
  -- giving nil: x.T, x.ndim and x.shape[1] are the usual slips.
  debug.getregistry()["moongrad.unknown_field"] = function(key)
    local hint = M.suggest(tostring(key), methods)
    error(string.format("Tensor has no field or method '%s'%s", tostring(key),
      hint and ("; did you mean " .. hint .. "?") or ""), 3)
  end
end

return M
