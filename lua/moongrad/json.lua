--- JSON in pure Lua, for metrics lines and checkpoint sidecars.
-- `encode` sorts object keys, writes numbers that read back to the same
-- value, arrays for sequences 1..n and objects for string keys; `decode`
-- is strict RFC 8259 with errors naming the line and column. null decodes
-- to `json.null`; arrays come back marked (see `array`), so an empty array
-- encodes as [] again.
-- @module moongrad.json
-- @alias M
-- @usage local json = mg.json
-- print(json.encode{acc = 0.5, epochs = {1, 2}})   --> {"acc":0.5,"epochs":[1,2]}
-- local t = json.decode('{"a": [1, 2, null]}')
local M = {}

-- The value JSON null decodes to (and encodes from).
M.null = setmetatable({}, { __tostring = function() return "json.null" end, __name = "json.null" })

local array_mt = { __name = "json.array" }
M.array_mt = array_mt

--- Marks t as an array, so that it encodes as [...] even when empty.
-- @tparam[opt] table t default: a new table
-- @treturn table t
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

local object_mt = { __name = "json.object" }
--- Marks t as an object, so that an empty one encodes as {} (the default
-- for empty tables anyway).
-- @tparam[opt] table t default: a new table
-- @treturn table t
function M.object(t)
  return setmetatable(t or {}, object_mt)
end

-- -------------------------------------------------------------------------
-- encoding

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function encode_string(s, path)
  if not utf8.len(s) then
    error(string.format("json.encode: string at %s is not valid UTF-8", path), 0)
  end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or (c:byte() < 0x20 and string.format("\\u%04x", c:byte())) or c
  end) .. '"'
end

-- A float rounded to `digits` significant digits: fewer when the
-- shortest form that reads back as x has fewer; a float of `digits` or
-- more integer digits becomes the nearest integer (12346, not 1.235e+04).
local function rounded_float(x, digits)
  if math.abs(x) >= 10 ^ (digits - 1) and math.abs(x) < 2 ^ 53 then
    return string.format("%d", math.floor(x + 0.5))
  end
  local s = string.format("%." .. digits .. "g", x)
  for d = 1, digits - 1 do
    local shorter = string.format("%." .. d .. "g", x)
    if tonumber(shorter) == x then s = shorter; break end
  end
  return s
end

-- The shortest %.Ng form that reads back as the same float; with digits,
-- rounded (see rounded_float).
local function encode_float(x, digits)
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  if digits then return rounded_float(x, digits) end
  for d = 1, 17 do
    local s = string.format("%." .. d .. "g", x)
    if tonumber(s) == x then
      -- keep it a float when read back by Lua ("2.0", not "2")
      if not s:find("[%.eE]") then s = s .. ".0" end
      return s
    end
  end
  return string.format("%.17g", x)
end

local encode_value

local function is_array(t)
  local mt = getmetatable(t)
  if mt == array_mt then return true end
  if mt == object_mt then return false end
  return t[1] ~= nil
end

local function encode_table(t, path, seen, out, opts)
  if seen[t] then error(string.format("json.encode: %s refers to itself (a cycle)", path), 0) end
  seen[t] = true
  if is_array(t) then
    local n = #t
    local count = 0
    for k in pairs(t) do
      if math.type(k) == "integer" and k > n then
        error(string.format("json.encode: array at %s has holes (key %d after 1..%d)", path, k, n), 0)
      elseif math.type(k) ~= "integer" or k < 1 then
        error(string.format("json.encode: table at %s mixes list entries with key %s; "
          .. "arrays need keys 1..n only", path, tostring(k)), 0)
      end
      count = count + 1
    end
    if count ~= n then error(string.format("json.encode: array at %s has holes", path), 0) end
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], path .. "[" .. i .. "]", seen, out, opts)
    end
    out[#out + 1] = "]"
  else
    local keys = {}
    for k in pairs(t) do
      if type(k) ~= "string" then
        error(string.format("json.encode: object at %s has a %s key (%s); object keys must be strings",
          path, type(k), tostring(k)), 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = encode_string(k, path)
      out[#out + 1] = ":"
      local child = opts
      if opts and opts.exact[k] then child = nil end -- this key's numbers stay exact
      encode_value(t[k], path .. "." .. k, seen, out, child)
    end
    out[#out + 1] = "}"
  end
  seen[t] = nil
end

encode_value = function(v, path, seen, out, opts)
  local ty = type(v)
  if v == M.null or v == nil then
    out[#out + 1] = "null"
  elseif ty == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif ty == "number" then
    out[#out + 1] = math.type(v) == "integer" and string.format("%d", v) or encode_float(v, opts and opts.digits)
  elseif ty == "string" then
    out[#out + 1] = encode_string(v, path)
  elseif ty == "table" then
    encode_table(v, path, seen, out, opts)
  else
    error(string.format("json.encode: cannot encode a %s (at %s)", ty, path), 0)
  end
end

--- Encodes a Lua value (nil or json.null, booleans, numbers, strings,
-- tables) as compact JSON text. NaN and infinities become null (JSON has
-- none). Raises on functions, userdata, cycles, mixed or holed tables.
--
-- Numbers: integers are written exactly. Floats are written as the
-- shortest text that reads back as the same float, or, with opts.digits,
-- rounded to what they mean: `digits` significant digits (fewer when fewer
-- say the same), and a float of `digits` or more integer digits as the
-- nearest integer. The values of the object keys in opts.exact stay exact.
-- @param value
-- @tparam[opt] table opts `{digits = nil, exact = {key, ...}}`
-- @treturn string
-- @usage json.encode({acc = 0.8060000538825989})                --> {"acc":0.8060000538825989}
-- json.encode({acc = 0.8060000538825989}, {digits = 4})   --> {"acc":0.806}
function M.encode(value, opts)
  if opts ~= nil then
    if type(opts) ~= "table" then error("json.encode: options must be a table, got " .. type(opts), 2) end
    for k in pairs(opts) do
      if k ~= "digits" and k ~= "exact" then
        error("json.encode: unknown option '" .. tostring(k) .. "' (expected one of digits, exact)", 2)
      end
    end
    local d = opts.digits
    if d ~= nil and (math.type(d) ~= "integer" or d < 1 or d > 17) then
      error("json.encode: digits must be an integer in 1..17, got " .. tostring(d), 2)
    end
    local exact = {}
    for _, k in ipairs(opts.exact or {}) do exact[k] = true end
    opts = { digits = d, exact = exact }
  end
  local out = {}
  local ok, err = pcall(encode_value, value, "$", {}, out, opts)
  if not ok then error(err, 2) end
  return table.concat(out)
end

-- -------------------------------------------------------------------------
-- decoding

local MAX_DEPTH = 200

local function position(s, i)
  local line, col = 1, 1
  for k = 1, math.min(i - 1, #s) do
    if s:byte(k) == 10 then line, col = line + 1, 1 else col = col + 1 end
  end
  return line, col
end

local function fail(s, i, msg)
  local line, col = position(s, i)
  error(string.format("json.decode: %s at line %d, column %d", msg, line, col), 0)
end

local function what_at(s, i)
  if i > #s then return "the end of the text" end
  local c = s:sub(i, i)
  if c:match("[%w%p ]") then return "'" .. c .. "'" end
  return string.format("byte 0x%02x", s:byte(i))
end

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local decode_value

local simple_escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function decode_string(s, i)
  -- i is at the opening quote
  local parts, j = {}, i + 1
  while true do
    local k = s:find('["\\%c]', j)
    if not k then fail(s, i, "unterminated string") end
    local piece = s:sub(j, k - 1)
    parts[#parts + 1] = piece
    local c = s:sub(k, k)
    if c == '"' then
      j = k + 1
      break
    elseif c == "\\" then
      local e = s:sub(k + 1, k + 1)
      if simple_escapes[e] then
        parts[#parts + 1] = simple_escapes[e]
        j = k + 2
      elseif e == "u" then
        local hex = s:match("^%x%x%x%x", k + 2)
        if not hex then fail(s, k, "\\u needs four hex digits") end
        local cp = tonumber(hex, 16)
        j = k + 6
        if cp >= 0xDC00 and cp <= 0xDFFF then fail(s, k, "lone low surrogate \\u" .. hex) end
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = s:match("^\\u(%x%x%x%x)", j)
          local lv = lo and tonumber(lo, 16)
          if not lv or lv < 0xDC00 or lv > 0xDFFF then fail(s, k, "lone high surrogate \\u" .. hex) end
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lv - 0xDC00)
          j = j + 6
        end
        parts[#parts + 1] = utf8.char(cp)
      elseif e == "" then
        fail(s, i, "unterminated string")
      else
        fail(s, k, "unknown escape '\\" .. e .. "'")
      end
    elseif c == "\127" then
      -- DEL is allowed in JSON strings
      parts[#parts + 1] = c
      j = k + 1
    else
      fail(s, k, string.format("control character 0x%02x in a string (escape it)", s:byte(k)))
    end
  end
  local str = table.concat(parts)
  if not utf8.len(str) then fail(s, i, "invalid UTF-8 in a string") end
  return str, j
end

local function decode_number(s, i)
  local int = s:match("^-?%d+", i)
  if not int then fail(s, i, "invalid number") end
  if int:match("^-?0%d") then fail(s, i, "numbers may not have leading zeros") end
  local j = i + #int
  local frac, exp = "", ""
  if s:sub(j, j) == "." then
    frac = s:match("^%.%d+", j)
    if not frac then fail(s, j, "a digit must follow the decimal point") end
    j = j + #frac
  end
  if s:sub(j, j) == "e" or s:sub(j, j) == "E" then
    exp = s:match("^[eE][-+]?%d+", j)
    if not exp then fail(s, j, "a digit must follow the exponent") end
    j = j + #exp
  end
  local v
  if frac == "" and exp == "" then
    v = math.tointeger(tonumber(int))
    if not v then v = tonumber(int .. ".0") end -- beyond int64: a float
  else
    v = tonumber(int .. frac .. exp)
  end
  return v, j
end

decode_value = function(s, i, depth)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" or c == "[" then
    if depth >= MAX_DEPTH then fail(s, i, "nesting deeper than " .. MAX_DEPTH .. " levels") end
    local object = c == "{"
    local close = object and "}" or "]"
    local result = object and {} or M.array()
    local seen = {}
    local n = 0
    i = skip(s, i + 1)
    if s:sub(i, i) == close then return result, i + 1 end
    while true do
      local key
      if object then
        if s:sub(i, i) ~= '"' then fail(s, i, "expected a string key, got " .. what_at(s, i)) end
        local at = i
        key, i = decode_string(s, i)
        if seen[key] then fail(s, at, string.format("duplicate key %q", key)) end
        seen[key] = true
        i = skip(s, i)
        if s:sub(i, i) ~= ":" then fail(s, i, "expected ':' after an object key, got " .. what_at(s, i)) end
        i = i + 1
      end
      local v
      v, i = decode_value(s, i, depth + 1)
      if object then
        result[key] = v
      else
        n = n + 1
        result[n] = v
      end
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "," then
        i = skip(s, i + 1)
        if s:sub(i, i) == close then fail(s, i, "trailing comma before '" .. close .. "'") end
      elseif d == close then
        return result, i + 1
      else
        fail(s, i, "expected ',' or '" .. close .. "', got " .. what_at(s, i))
      end
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif c == "-" or c:match("%d") then
    return decode_number(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return M.null, i + 4
  elseif i > #s then
    fail(s, i, "unexpected end of the text, expected a value")
  end
  fail(s, i, "unexpected " .. what_at(s, i) .. ", expected a value")
end

--- Decodes JSON text. Objects become tables with string keys, arrays
-- sequences marked with json.array_mt (null elements are json.null, so no
-- holes). Integers without fraction or exponent become Lua integers.
-- Raises "json.decode: <problem> at line L, column C" on invalid input.
-- @string str
-- @return the value
function M.decode(str)
  if type(str) ~= "string" then
    error("json.decode: expected a string, got " .. type(str), 2)
  end
  local ok, v, i = pcall(decode_value, str, 1, 0)
  if not ok then error(v, 2) end
  i = skip(str, i)
  if i <= #str then
    local ok2, err = pcall(fail, str, i, "unexpected " .. what_at(str, i) .. " after the value")
    if not ok2 then error(err, 2) end
  end
  return v
end

return M
