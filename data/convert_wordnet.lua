-- Converts WordNet's noun synsets (data.noun of the Debian package
-- wordnet-base) into data/full/text/wordnet/{train,test}.tsv: each gloss
-- labelled with its synset's lexicographer file (26 categories), split
-- 80 / 20 at random with a fixed seed. See data/README.md.
--   bin/moongrad data/convert_wordnet.lua DATA_NOUN OUT_DIR
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local L = dofile(here .. "/lib.lua")

local SPLIT_SEED = 19950301 -- splitmix64 seed of the split
local TRAIN_FRACTION = 0.8

-- The noun lexicographer files, numbers 03..28 (WordNet's lexnames):
-- LEXNAMES[k] is file k + 2.
local LEXNAMES = {
  "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute", "noun.body",
  "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
  "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
  "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
  "noun.substance", "noun.time",
}

local src, out = arg[1], arg[2]
if not src or not out then
  io.stderr:write("usage: moongrad data/convert_wordnet.lua DATA_NOUN OUT_DIR\n")
  os.exit(2)
end

-- A synset line: "OFFSET LEXFILE n ... | gloss"; licence lines start
-- with two spaces.
local records = {}
local n = 0
for line in io.lines(src) do
  n = n + 1
  if line:sub(1, 2) ~= "  " then
    local offset, lexfile, gloss = line:match("^(%d+) (%d%d) n .-| (.-)%s*$")
    local label = lexfile and LEXNAMES[tonumber(lexfile) - 2]
    if not label or gloss == "" then
      error(string.format("convert_wordnet: %s:%d: expected 'OFFSET LEXFILE n ... | gloss' with LEXFILE 03..28",
        src, n), 0)
    end
    records[#records + 1] = { label = label, id = offset, text = gloss }
  end
end

L.shuffle(records, L.splitmix64(SPLIT_SEED))
local n_train = math.floor(#records * TRAIN_FRACTION)
local train, test = {}, {}
for k, r in ipairs(records) do
  if k <= n_train then train[#train + 1] = r else test[#test + 1] = r end
end
os.execute("mkdir -p '" .. out .. "'")
L.write_tsv(out .. "/train.tsv", train)
L.write_tsv(out .. "/test.tsv", test)
print(string.format("wordnet: %d glosses, train %d, test %d", #records, #train, #test))
