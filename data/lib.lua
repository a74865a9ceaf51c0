-- Helpers of the data scripts (run with bin/moongrad): a seeded shuffle that
-- depends on nothing but its seed (so data/README.md can state the exact
-- procedure), and conversions between byte strings and uint8 tensors.
local mg = require "moongrad"

local L = {}

-- splitmix64: returns a function giving the next 64-bit value (Lua
-- integers wrap around, as the algorithm expects).
function L.splitmix64(seed)
  local state = seed
  return function()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
end

-- Fisher-Yates shuffle of list in place, drawing from next_u64:
-- for i = n down to 2, j = 1 + ((next >> 1) mod i), swap list[i], list[j].
function L.shuffle(list, next_u64)
  for i = #list, 2, -1 do
    local j = 1 + (next_u64() >> 1) % i
    list[i], list[j] = list[j], list[i]
  end
  return list
end

local function read_all(path)
  local f, err = io.open(path, "rb")
  if not f then error(err, 2) end
  local s = f:read("a")
  f:close()
  return s
end
L.read_all = read_all

-- A uint8 tensor of the given shape holding the bytes of s.
function L.tensor_from_bytes(s, shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  assert(#s == n, string.format("tensor_from_bytes: %d bytes for %d elements", #s, n))
  local head = { string.char(0, 0, 8, #shape) }
  for _, d in ipairs(shape) do head[#head + 1] = string.pack(">I4", d) end
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(table.concat(head), s)
  f:close()
  local ok, t = pcall(mg.read_idx, tmp)
  os.remove(tmp)
  if not ok then error(t, 2) end
  return t
end

-- The elements of a uint8 tensor as a byte string (row-major).
function L.bytes_of(t)
  local tmp = os.tmpname()
  mg.write_idx(tmp, t, { gzip = false })
  local s = read_all(tmp)
  os.remove(tmp)
  return s:sub(4 + 4 * t:dim() + 1)
end

-- ---- text sets (data/full/text/, data/sample/text/) ----------------------------

local ESCAPE = { ["\\"] = "\\\\", ["\t"] = "\\t", ["\n"] = "\\n", ["\r"] = "\\r" }

-- Writes records {label = , id = , text = } as the lines `label TAB id TAB
-- text` (backslash, tab, newline, carriage return written \\ \t \n \r),
-- atomically: to a temporary file renamed over path.
function L.write_tsv(path, records)
  local lines = {}
  for k, r in ipairs(records) do
    lines[k] = r.label:gsub("[\\\t\n\r]", ESCAPE) .. "\t" .. r.id:gsub("[\\\t\n\r]", ESCAPE) .. "\t"
      .. r.text:gsub("[\\\t\n\r]", ESCAPE) .. "\n"
  end
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  assert(f:write(table.concat(lines)))
  assert(f:close())
  assert(os.rename(tmp, path))
end

-- The standard IDX file names of a split ("train" or "test").
function L.files(split)
  local p = split == "train" and "train" or "t10k"
  return p .. "-images-idx3-ubyte.gz", p .. "-labels-idx1-ubyte.gz"
end

return L
