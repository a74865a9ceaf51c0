-- Regenerates the bundled sample data/sample/{mnist,fashion}/ from the full
-- sets in data/full/ (run `make data` first). See data/README.md.
--   bin/moongrad data/make_sample.lua [DATA_DIR]
-- Per set and split, class-balanced: the indices of each class (file
-- order) are shuffled with splitmix64 (one generator per set and split,
-- classes 0..9 in turn) and the first PER_CLASS taken; the chosen images
-- keep their order in the full file.
local mg = require "moongrad"
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local L = dofile(here .. "/lib.lua")

local SAMPLE_SEED = 4242
local PER_CLASS = { train = 200, test = 50 } -- 2,000 train and 500 test images
local SETS = { { name = "mnist", salt = 1 }, { name = "fashion", salt = 2 } }
local PIXELS = 28 * 28

local data = arg[1] or (here)

for _, set in ipairs(SETS) do
  for s, split in ipairs({ "train", "test" }) do
    local img_file, lab_file = L.files(split)
    local src = data .. "/full/" .. set.name .. "/"
    local images, labels = mg.read_idx(src .. img_file), mg.read_idx(src .. lab_file)
    local lab = labels:totable()
    local by_class = {}
    for c = 0, 9 do by_class[c] = {} end
    for i, c in ipairs(lab) do table.insert(by_class[c], i) end
    local rng = L.splitmix64(SAMPLE_SEED * 100 + set.salt * 10 + s)
    local chosen = {}
    for c = 0, 9 do
      local list = L.shuffle(by_class[c], rng)
      if #list < PER_CLASS[split] then
        error(string.format("make_sample: %s %s has %d images of class %d", set.name, split, #list, c))
      end
      for k = 1, PER_CLASS[split] do chosen[#chosen + 1] = list[k] end
    end
    table.sort(chosen)
    local bytes = L.bytes_of(images)
    local img, labs = {}, {}
    for k, i in ipairs(chosen) do
      img[k] = bytes:sub((i - 1) * PIXELS + 1, i * PIXELS)
      labs[k] = string.char(lab[i])
    end
    local out = data .. "/sample/" .. set.name .. "/"
    os.execute("mkdir -p '" .. out .. "'")
    mg.write_idx(out .. img_file, L.tensor_from_bytes(table.concat(img), { #chosen, 28, 28 }))
    mg.write_idx(out .. lab_file, L.tensor_from_bytes(table.concat(labs), { #chosen }))
    print(string.format("sample %s %s: %d images", set.name, split, #chosen))
  end
end
