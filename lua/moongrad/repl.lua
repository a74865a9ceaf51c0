-- How the REPL shows results and completes names: tensors by shape and
-- values, tables as a short one-line listing, everything else as tostring
-- does; tab completion over globals, table fields and Tensor methods.
local M = {}

local MAX_ITEMS = 10 -- entries shown of a table before "..."

local function is_tensor(v)
  local mg = package.loaded.moongrad
  return type(v) == "userdata" and mg ~= nil and mg.is_tensor(v)
end

-- A tensor inside a table: one short line.
local function tensor_brief(t)
  local ok, shape = pcall(t.shape, t)
  if not ok then return tostring(t) end
  return string.format("Tensor[%s] %s", table.concat(shape, ", "), t.dtype)
end

local function show_table(t, depth, seen)
  if depth > 1 or seen[t] then return "{...}" end
  seen[t] = true
  local parts, n = {}, 0
  for i, v in ipairs(t) do
    n = i
    if #parts >= MAX_ITEMS then parts[#parts + 1] = "..."; break end
    parts[#parts + 1] = M.format(v, depth + 1, seen)
  end
  local keys = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    if i > MAX_ITEMS then parts[#parts + 1] = "..."; break end
    local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. M.format(k, depth + 1, seen) .. "]"
    parts[#parts + 1] = name .. " = " .. M.format(t[k], depth + 1, seen)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- format(v) -> string: how the REPL shows one value.
function M.format(v, depth, seen)
  depth = depth or 0
  if type(v) == "table" and not getmetatable(v) then return show_table(v, depth, seen or {}) end
  if type(v) == "string" and depth > 0 then return string.format("%q", v) end
  if depth > 0 and is_tensor(v) then return tensor_brief(v) end
  return tostring(v)
end

-- print(...): prints values separated by tabs, as the REPL shows them.
function M.print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = M.format((select(i, ...))) end
  print(table.concat(parts, "\t"))
end

-- help(x): prints the reference of a function, class or module (the
-- REPL's global `help`, and what `?name` runs).
function M.help(x) return require("moongrad.doc").help(x) end

-- query(text): what `?text` runs in the REPL. Shows the reference of the
-- value text evaluates to (`?mg.zeros`, `?model`), or else looks text up
-- as a name (`?zeros`, `?Tensor:backward`, `?nn.Linear`).
function M.query(text)
  text = text:match("^%s*(.-)%s*$")
  if text == "" then return M.help() end
  local chunk = load("return " .. text, "=?", "t")
  if chunk then
    local ok, v = pcall(chunk)
    if ok and v ~= nil then return M.help(v) end
  end
  return M.help(text)
end

-- ---- completion -------------------------------------------------------------

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}
local TENSOR_FIELDS = { "grad", "requires_grad", "is_leaf", "grad_fn", "dtype" }

-- The names a lazy table's __index provides, listed in its metatable's
-- __lazy (the submodules of mg, mg.optim.lr_scheduler, ...).
local function lazy_names(v)
  local mt = getmetatable(v)
  local lazy = type(mt) == "table" and rawget(mt, "__lazy")
  return type(lazy) == "table" and lazy or {}
end

-- Field k of v without running user code: raw reads along __index tables;
-- a lazy table may load a submodule it lists on first use.
local function field(v, k)
  if is_tensor(v) then return nil end
  if type(v) ~= "table" then return nil end
  for _, name in ipairs(lazy_names(v)) do
    if name == k then
      local ok, r = pcall(function() return v[k] end)
      return ok and r or nil
    end
  end
  for _ = 1, 16 do
    local r = rawget(v, k)
    if r ~= nil then return r end
    local mt = getmetatable(v)
    local index = type(mt) == "table" and rawget(mt, "__index")
    if type(index) ~= "table" then return nil end
    v = index
  end
end

-- Names that v offers after "." (or ":" when methods is true).
local function names_of(v, methods, out)
  if is_tensor(v) then
    for k in pairs(package.loaded.moongrad.methods) do out[k] = true end
    if not methods then for _, k in ipairs(TENSOR_FIELDS) do out[k] = true end end
    return
  end
  for _ = 1, 16 do
    if type(v) ~= "table" then return end
    for k in pairs(v) do
      if type(k) == "string" then out[k] = true end
    end
    for _, k in ipairs(lazy_names(v)) do out[k] = true end
    local mt = getmetatable(v)
    v = type(mt) == "table" and rawget(mt, "__index") or nil
  end
end

-- complete(text [, env]) -> sorted list of completions of text, a name
-- path such as "mg.ze" or "x:su" (env: where names start, default _G).
function M.complete(text, env)
  env = env or _G
  local path, sep, partial = text:match("^([%w_%.]-)([%.:]?)([%w_]*)$")
  if not path then return {} end
  local candidates = {}
  if sep == "" then
    names_of(env, false, candidates)
    for _, k in ipairs(KEYWORDS) do candidates[k] = true end
  else
    local v = env
    for name in path:gmatch("[^%.]+") do
      v = field(v, name)
      if v == nil then return {} end
    end
    names_of(v, sep == ":", candidates)
  end
  local out = {}
  for k in pairs(candidates) do
    if k:match("^[%a_][%w_]*$") and k:sub(1, #partial) == partial then out[#out + 1] = path .. sep .. k end
  end
  table.sort(out)
  return out
end

return M
