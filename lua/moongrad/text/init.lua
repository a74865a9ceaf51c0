--- mg.text: the text workload's reusable parts: the BPE tokenizer (C
-- core; Tokenizer.train, load, from_json), normalize (what
-- decode(encode(text)) gives), and the submodules baseline (the TF-IDF
-- linear floor) and mlm (BERT's masking recipe), which load on first use.
-- @module moongrad.text
-- @usage local tok = mg.text.Tokenizer.train(mg.data.imdb{split = "train"}, {vocab_size = 8000})
-- local ids = tok:encode("A fine film.")
local mg = require "moongrad"

local M = {}

local Tokenizer = {}
M.Tokenizer = Tokenizer

--- Trains a BPE tokenizer on pieces cut at white space and punctuation,
-- "##" on pieces that continue a word, byte fallback for characters
-- outside the alphabet (see mg.tokenizer_train for its methods).
-- @tparam {string,...}|table texts a list of strings or a dataset with `texts` (mg.data.imdb{...})
-- @tparam[opt] table opts `{vocab_size = 8192, min_frequency = 2, max_word_chars = 100,
--   lowercase = true}`
-- @treturn Tokenizer
function Tokenizer.train(texts, opts)
  if type(texts) == "table" and type(texts.texts) == "table" then texts = texts.texts end
  local tok = mg.tokenizer_train(texts, opts) -- not a tail call: errors name no Lua line
  return tok
end

-- Tokenizer.load(path) -> tokenizer saved with tok:save(path) (JSON).
Tokenizer.load = mg.tokenizer_load

-- Tokenizer.from_json(string) -> tokenizer, from tok:to_json()'s text.
Tokenizer.from_json = mg.tokenizer_from_json

-- normalize(text [, {lowercase = true}]) -> the text as the tokenizer
-- sees it (mg.text_normalize).
M.normalize = mg.text_normalize

local SUBMODULES = { baseline = "moongrad.text.baseline", mlm = "moongrad.text.mlm" }

local lazy = {}
for k in pairs(SUBMODULES) do lazy[#lazy + 1] = k end
table.sort(lazy)

return setmetatable(M, {
  __lazy = lazy, -- what __index loads on first use (for completion and the reference)
  __index = function(t, key)
    local name = SUBMODULES[key]
    if not name then return nil end
    local m = require(name)
    rawset(t, key, m)
    return m
  end,
})
