-- Regenerates the bundled text sample data/sample/text/{imdb,spam,wordnet}/
-- from the full sets in data/full/text/ (run `make data` first). See
-- data/README.md.
--   bin/moongrad data/make_text_sample.lua [DATA_DIR]
-- Per set and split, class-balanced: the records of each class (file
-- order) are shuffled with splitmix64 (one generator per set and split,
-- classes in the loader's order) and the first PER_CLASS taken; the chosen
-- records keep their order in the full file. Spam mails longer than
-- MAX_BYTES are left out so the sample stays small, and so are the mails
-- that carry the corpus's stand-in for the recipient's address (EXCLUDE).
local mg = require "moongrad"
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local L = dofile(here .. "/lib.lua")
local T = require "moongrad.data.text"

local SAMPLE_SEED = 4343
local SETS = {
  { name = "imdb", salt = 1, per_class = { train = 200, test = 100 } },
  { name = "spam", salt = 2, per_class = { train = 80, test = 80 }, max_bytes = 8000,
    exclude = "spamassassin.taint.org" },
  { name = "wordnet", salt = 3, per_class = { train = 40, test = 10 } },
}

local data = arg[1] or here

for _, set in ipairs(SETS) do
  for s, split in ipairs({ "train", "test" }) do
    local texts, labels, ids = mg.read_tsv(data .. "/full/text/" .. set.name .. "/" .. split .. ".tsv")
    local by_class = {}
    for _, c in ipairs(T.SETS[set.name].classes) do by_class[c] = {} end
    for i, c in ipairs(labels) do
      if not by_class[c] then error("make_text_sample: unknown label " .. c) end
      local fits = not set.max_bytes or #texts[i] <= set.max_bytes
      local excluded = set.exclude and texts[i]:find(set.exclude, 1, true)
      if fits and not excluded then table.insert(by_class[c], i) end
    end
    local rng = L.splitmix64(SAMPLE_SEED * 100 + set.salt * 10 + s)
    local chosen = {}
    local want = set.per_class[split]
    for _, c in ipairs(T.SETS[set.name].classes) do
      local list = L.shuffle(by_class[c], rng)
      local k = math.min(want, #list) -- WordNet's smallest classes have fewer test glosses
      for j = 1, k do chosen[#chosen + 1] = list[j] end
    end
    table.sort(chosen)
    local records = {}
    for k, i in ipairs(chosen) do records[k] = { label = labels[i], id = ids[i], text = texts[i] } end
    local out = data .. "/sample/text/" .. set.name
    os.execute("mkdir -p '" .. out .. "'")
    L.write_tsv(out .. "/" .. split .. ".tsv", records)
    print(string.format("sample %s %s: %d texts", set.name, split, #records))
  end
end
