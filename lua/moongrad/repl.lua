-- How the REPL shows results: tensors by shape and values, tables as a
-- short one-line listing, everything else as tostring does.
local M = {}

local function show_table(t, depth)
  if depth > 1 then return "{...}" end
  local parts, n = {}, 0
  for i, v in ipairs(t) do
    n = i
    if #parts >= 10 then parts[#parts + 1] = "..."; break end
    parts[#parts + 1] = M.format(v, depth + 1)
  end
  local keys = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    if i > 10 then parts[#parts + 1] = "..."; break end
    local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. tostring(k) .. "]"
    parts[#parts + 1] = name .. " = " .. M.format(t[k], depth + 1)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function M.format(v, depth)
  depth = depth or 0
  if type(v) == "table" and not getmetatable(v) then return show_table(v, depth) end
  if type(v) == "string" and depth > 0 then return string.format("%q", v) end
  return tostring(v)
end

function M.print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = M.format((select(i, ...))) end
  print(table.concat(parts, "\t"))
end

return M
