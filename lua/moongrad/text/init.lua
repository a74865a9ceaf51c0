-- mg.text: the text workload's reusable parts.
--   mg.text.Tokenizer      the BPE tokenizer (C core): train, load, from_json
--   mg.text.normalize      what decode(encode(text)) gives
--   mg.text.baseline       the TF-IDF linear floor (baseline.lua)
-- Submodules load on first use.
local mg = require "moongrad"

local M = {}

local Tokenizer = {}
M.Tokenizer = Tokenizer

--- Tokenizer.train(texts, {vocab_size = 8192, min_frequency = 2,
-- max_word_chars = 100, lowercase = true}) -> tokenizer.
-- texts: a list of strings or a dataset with `texts` (mg.data.imdb{...}).
-- BPE on pieces cut at white space and punctuation, "##" on pieces that
-- continue a word, byte fallback for characters outside the alphabet. The
-- tokenizer's methods: encode, tokenize, encode_batch, encode_flat,
-- decode, save, to_json, token_to_id, id_to_token; fields vocab_size,
-- pad_id (1), unk_id, cls_id, sep_id, mask_id (5), num_merges, lowercase.
function Tokenizer.train(texts, opts)
  if type(texts) == "table" and type(texts.texts) == "table" then texts = texts.texts end
  local tok = mg.tokenizer_train(texts, opts) -- not a tail call: errors name no Lua line
  return tok
end

--- Tokenizer.load(path) -> tokenizer saved with tok:save(path) (JSON).
Tokenizer.load = mg.tokenizer_load

--- Tokenizer.from_json(string) -> tokenizer, from tok:to_json()'s text.
Tokenizer.from_json = mg.tokenizer_from_json

--- normalize(text [, {lowercase = true}]) -> the text as the tokenizer
-- sees it: lower-cased, pieces joined by one space where white space
-- separated them. decode(encode(text)) equals it.
M.normalize = mg.text_normalize

local SUBMODULES = { baseline = "moongrad.text.baseline", mlm = "moongrad.text.mlm" }

return setmetatable(M, {
  __index = function(t, key)
    local name = SUBMODULES[key]
    if not name then return nil end
    local m = require(name)
    rawset(t, key, m)
    return m
  end,
})
