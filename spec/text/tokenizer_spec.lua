-- mg.text.Tokenizer: training, encode/decode round trips, batches with
-- truncation and padding, the JSON file, and bad input.
local H = require "helpers"
local mg = H.mg
local Tokenizer = mg.text.Tokenizer

local imdb = mg.data.imdb{ source = "sample", quiet = true }
local spam = mg.data.spam{ source = "sample", quiet = true }
-- one tokenizer for most tests: the IMDB sample, a small vocabulary
local tok = Tokenizer.train(imdb, { vocab_size = 2000 })

local function ids_of(tokens)
  local ids = {}
  for k, s in ipairs(tokens) do ids[k] = tok:token_to_id(s) end
  return ids
end

describe("mg.text.Tokenizer", function()
  it("trains to the asked size: specials, 512 byte tokens, the alphabet, merges", function()
    assert.equal(2000, tok.vocab_size)
    assert.equal(2000, #tok)
    assert.same({ 1, 2, 3, 4, 5 }, { tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id })
    assert.same({ "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" },
      { tok:id_to_token(1), tok:id_to_token(2), tok:id_to_token(3), tok:id_to_token(4), tok:id_to_token(5) })
    assert.equal("<0x00>", tok:id_to_token(6))
    assert.equal("##<0xFF>", tok:id_to_token(517))
    assert.equal(518, tok:token_to_id("!")) -- printable ASCII first, both forms
    assert.equal(519, tok:token_to_id("##!"))
    assert.is_true(tok.num_merges > 1000)
    assert.truthy(tok:token_to_id("movie"), "a frequent word is one token")
    assert.is_nil(tok:token_to_id("Movie"))
    assert.is_nil(tok:id_to_token(2001))
    assert.truthy(tostring(tok):find("Tokenizer(BPE, 2000 tokens", 1, true))
  end)

  it("cuts at white space and punctuation; ## marks pieces that continue a word", function()
    assert.same({ "the", "movie", "##,", "i", "don", "##'", "##t", "like", "it", "##!" },
      tok:tokenize("The  MOVIE, I don't\tlike it!"))
    assert.equal("the movie, i don't like it!", tok:decode(tok:encode("The  MOVIE, I don't\tlike it!")))
    assert.equal("( a )b", tok:decode(tok:encode(" ( a\n)b ")))
    local with = tok:encode("the movie", { add_special_tokens = true })
    assert.same({ 3, tok:token_to_id("the"), tok:token_to_id("movie"), 4 }, with)
    assert.equal("the movie", tok:decode(with))
    assert.equal("[CLS] the movie [SEP]", tok:decode(with, { skip_special_tokens = false }))
    assert.same({}, tok:encode(""))
    assert.same({}, tok:encode(" \n\t "))
    assert.equal("", tok:decode({}))
    assert.equal("", tok:decode({ 1, 1, 1 }, { skip_special_tokens = false })) -- [PAD] is never shown
  end)

  it("round-trips every sample text: decode(encode(s)) == normalize(s)", function()
    for _, set in ipairs({ imdb, spam }) do
      for i, s in ipairs(set.texts) do
        local back = tok:decode(tok:encode(s))
        if back ~= mg.text.normalize(s) then error(string.format("%s text %d does not round-trip", set.name, i)) end
      end
    end
    -- simple lower-casing: a capital sigma is always σ
    assert.equal("héllo wörld ça ύψοσ мир", mg.text.normalize("HÉLLO  WÖRLD\nÇA ΎΨΟΣ МИР"))
    assert.equal("HÉLLO", mg.text.normalize("HÉLLO", { lowercase = false }))
  end)

  it("never needs [UNK]: unseen characters and invalid UTF-8 fall back to bytes", function()
    local s = "中文 spam \u{1F600}!"
    local ids = tok:encode(s)
    for _, id in ipairs(ids) do assert.is_true(id ~= tok.unk_id) end
    assert.equal(s:lower(), tok:decode(ids))
    -- 中 is E4 B8 AD: a word-initial byte token, then continuations
    assert.same({ "<0xE4>", "##<0xB8>", "##<0xAD>" }, { table.unpack(tok:tokenize("中"), 1, 3) })
    local bad = "ab\xff\xfe c\xe2\x82 \xed\xa0\x80" -- lone bytes, a cut character, a surrogate
    assert.equal(mg.text.normalize(bad), tok:decode(tok:encode(bad)))
    assert.equal("ab\xff\xfe c\xe2\x82 \xed\xa0\x80", tok:decode(tok:encode(bad)))
  end)

  it("encodes an enormous line in bounded pieces (max_word_chars)", function()
    local long = string.rep("abcdefghij", 100000) -- one 1,000,000-character word
    local ids = tok:encode(long)
    assert.equal(long, tok:decode(ids))
    assert.is_true(#ids <= #long)
    local t = mg.clock()
    tok:encode(string.rep("\u{4e2d}", 100000) .. string.rep(" x", 100000))
    assert.is_true(mg.clock() - t < 30)
  end)

  it("encode_batch: [CLS] ... [SEP], padding, the mask and head + tail truncation", function()
    local words = {}
    for i = 1, 20 do words[i] = "the" end
    words[1], words[2], words[19], words[20] = "movie", "film", "good", "bad"
    local long = table.concat(words, " ")
    local b = tok:encode_batch({ "the movie", long, "" }, { max_length = 10, head = 2 })
    local the, movie, film, good, bad = table.unpack(ids_of({ "the", "movie", "film", "good", "bad" }))
    assert.same({
      { 3, the, movie, 4, 1, 1, 1, 1, 1, 1 },
      { 3, movie, film, the, the, the, the, good, bad, 4 }, -- first 2 and last 6 of 20
      { 3, 4, 1, 1, 1, 1, 1, 1, 1, 1 },
    }, b.input_ids:totable())
    assert.same({ 4, 10, 2 }, b.lengths:totable())
    assert.same({ { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
      { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0 } },
      b.attention_mask:totable())
    assert.equal("float32", b.attention_mask.dtype)
    local short = tok:encode_batch({ "the movie", "the" }, { max_length = 10 })
    assert.same({ 2, 4 }, short.input_ids:shape()) -- padded to the longest
    local fixed = tok:encode_batch({ "the" }, { max_length = 6, padding = "max_length", add_special_tokens = false })
    assert.same({ { the, 1, 1, 1, 1, 1 } }, fixed.input_ids:totable())
    -- default head: a quarter of the 8 tokens left for text
    local q = tok:encode_batch({ long }, { max_length = 10 }).input_ids:totable()[1]
    assert.same({ 3, movie, film, the, the, the, the, good, bad, 4 }, q)
    assert.same({ { "the movie", "movie film the the the the good bad", "" } }, { tok:decode(b.input_ids) })
    assert.same({ 0, 0 }, tok:encode_batch({}, { add_special_tokens = false }).input_ids:shape())
  end)

  it("encode_flat joins texts, each followed by [SEP]", function()
    local ids, lengths = tok:encode_flat({ "the movie", "", "film" })
    local the, movie, film = table.unpack(ids_of({ "the", "movie", "film" }))
    assert.same({ the, movie, 4, 4, film, 4 }, ids:totable())
    assert.same({ 3, 1, 2 }, lengths:totable())
    assert.same({ the, movie, film }, (tok:encode_flat({ "the movie", "film" }, { separator = false })):totable())
  end)

  it("saves readable JSON atomically and loads it back to the same encodings", function()
    local dir = H.tmpdir()
    local path = dir .. "/tok.json"
    tok:save(path)
    local text = io.open(path):read("a")
    local doc = mg.json.decode(text)
    assert.equal("moongrad.tokenizer", doc.format)
    assert.equal(1, doc.version)
    assert.equal("bpe", doc.model)
    assert.is_true(doc.lowercase)
    assert.equal("##", doc.continuation_prefix)
    assert.same({ "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }, doc.special_tokens)
    assert.equal(2000, #doc.vocab)
    assert.equal(tok.num_merges, #doc.merges)
    for i = 1, 2000, 97 do assert.equal(tok:id_to_token(i), doc.vocab[i]) end
    local l, r = doc.merges[1]:match("^(%S+) (##%S+)$")
    assert.truthy(tok:token_to_id(l .. r:sub(3)), doc.merges[1])
    assert.truthy(text:find('\n    "movie",\n', 1, true), "one token per line")
    local back = Tokenizer.load(path)
    assert.equal(text, back:to_json())
    local a = tok:encode_batch(imdb.texts, { max_length = 64 }).input_ids
    local b = back:encode_batch(imdb.texts, { max_length = 64 }).input_ids
    assert.equal(0, mg.ne(a:float(), b:float()):sum():item())
    assert.equal(text, Tokenizer.from_json(text):to_json())
    local left = io.popen("ls -A '" .. dir .. "'"):read("a")
    assert.equal("tok.json\n", left, "no temporary file left")
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("refuses a broken file with a message that says what is wrong", function()
    local good = tok:to_json()
    local function broken(pattern, repl, ...)
      local s, n = good:gsub(pattern, repl, 1)
      assert.equal(1, n, pattern)
      H.assert_error(function() Tokenizer.from_json(s) end, ...)
    end
    broken('"version": 1', '"version": 2', '"version" must be 1')
    broken('"moongrad.tokenizer"', '"other"', '"format" must be "moongrad.tokenizer"')
    broken('"%[MASK%]"%]', '"[MSK]"]', '"special_tokens" must be')
    broken('"<0x41>"', '"<0x42>"', 'vocab entry 70 is "<0x42>", expected "<0x41>"')
    broken('"movie"', '"the"', 'the token "the" is in the vocabulary twice')
    broken('\n  %]\n}', ',\n    "zz ##zz"\n  ]\n}', 'merge', '"zz ##zz"', 'not in the vocabulary')
    broken('"merges": %[\n    "([^"]-) ##', '"merges": [\n    "%1 ', 'must continue a word')
    broken('"vocab": %[', '"vocab": [3, ', 'vocab entry 0 is a number, expected a string')
    broken('\n}', ',}', 'tokenizer: invalid JSON')
    H.assert_error(function() Tokenizer.from_json("") end, "tokenizer: invalid JSON")
    H.assert_error(function() Tokenizer.load("/nonexistent/tok.json") end,
      "tokenizer load: cannot open /nonexistent/tok.json")
  end)

  it("refuses bad arguments with clear errors", function()
    H.assert_error(function() Tokenizer.train({ "a", 3 }) end,
      "tokenizer_train: texts[2] is a number, expected a string")
    H.assert_error(function() Tokenizer.train("text") end, "tokenizer_train: texts must be a list of strings")
    H.assert_error(function() Tokenizer.train({ "a" }, { vocab_size = 100 }) end, "vocab_size must be in 705..")
    H.assert_error(function() Tokenizer.train({ "a" }, { vocab = 100 }) end, "tokenizer_train: unknown option 'vocab'")
    H.assert_error(function() tok:encode({}) end, "string expected")
    H.assert_error(function() tok:encode_batch({ "a" }, { max_length = 2 }) end,
      "max_length 2 leaves no room for tokens besides [CLS] and [SEP]")
    H.assert_error(function() tok:encode_batch({ "a" }, { padding = "max_length" }) end, "needs max_length")
    H.assert_error(function() tok:encode_batch({ "a" }, { padding = "left" }) end,
      'padding must be "longest" or "max_length"')
    H.assert_error(function() tok:decode({ 1, 2001 }) end, "decode: id 2001 at position 2 is out of range 1..2000")
    H.assert_error(function() tok:decode({ 0 }) end, "out of range 1..2000")
    H.assert_error(function() tok:decode(mg.ones(3)) end, "ids must be a list of integers or an int64 Tensor")
    H.assert_error(function() tok:decode({ "x" }) end, "decode: ids[1] is not an integer")
    H.assert_error(function() tok.nonsense() end, "Tokenizer: no field or method 'nonsense'")
    local small = Tokenizer.train({}, { vocab_size = 705 })
    assert.equal(705, small.vocab_size) -- only the fixed part: nothing to merge
    assert.equal("hi there!", small:decode(small:encode("Hi there!")))
  end)
end)
