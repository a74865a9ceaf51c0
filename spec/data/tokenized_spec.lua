-- mg.data.TokenizedDataset and TokenWindows: token ids by batch under the
-- data protocol, with masks and labels.
local H = require "helpers"
local mg = H.mg

local wordnet = mg.data.wordnet{ source = "sample", quiet = true }
local tok = mg.text.Tokenizer.train(wordnet, { vocab_size = 1500 })
local function idx(t) return mg.tensor(t, { dtype = "int64" }) end

describe("TokenizedDataset", function()
  it("gives [CLS] ids [SEP] padded to the batch's longest, masks and labels", function()
    local ds = wordnet:tokenize(tok, { max_length = 32 })
    assert.equal(#wordnet, #ds)
    assert.same({ "input", "labels", "attention_mask", "padding_mask" }, ds.fields)
    local b = ds:batch(idx({ 5, 2, 9 }))
    local expect = tok:encode_batch({ wordnet.texts[5], wordnet.texts[2], wordnet.texts[9] }, { max_length = 32 })
    assert.same(expect.input_ids:totable(), b.input:totable())
    assert.same({ 3, expect.lengths:max():item() }, b.input:shape())
    assert.same(expect.attention_mask:totable(), b.attention_mask:totable())
    assert.equal("uint8", b.padding_mask.dtype)
    H.assert_near(b.padding_mask:float(), 1 - b.attention_mask, 0)
    assert.same({ wordnet.labels[5]:item(), wordnet.labels[2]:item(), wordnet.labels[9]:item() }, b.labels:totable())
    for r = 1, 3 do assert.equal(3, b.input[r][1]:item()) end
    assert.equal(wordnet.texts[5]:lower():gsub("%s+", " "):sub(1, 20), tok:decode(b.input[1]):sub(1, 20))
  end)

  it("truncates to max_length, pads to it on request, and works with the DataLoader", function()
    local imdb = mg.data.imdb{ source = "sample", quiet = true, limit = 40 }
    local ds = mg.data.TokenizedDataset(imdb, tok, { max_length = 16, pad = "max_length" })
    local b = ds:batch(idx({ 1, 2 }))
    assert.same({ 2, 16 }, b.input:shape())
    local loader = mg.data.DataLoader(ds, { batch_size = 16, shuffle = true, seed = 3 })
    local n = 0
    for batch in loader:batches() do
      n = n + batch.input:size(1)
      assert.equal(16, batch.input:size(2))
      assert.equal("int64", batch.labels.dtype)
    end
    assert.equal(40, n)
    local unlabelled = mg.data.TokenizedDataset({ "a b", "c" }, tok)
    assert.is_nil(unlabelled:batch(idx({ 1 })).labels)
    assert.same({ "input", "attention_mask", "padding_mask" }, unlabelled.fields)
  end)

  it("refuses bad arguments", function()
    H.assert_error(function() mg.data.TokenizedDataset(3, tok) end, "TokenizedDataset: expects a list of strings")
    H.assert_error(function() mg.data.TokenizedDataset({ "a" }, {}) end, "TokenizedDataset: expects a tokenizer")
    H.assert_error(function() mg.data.TokenizedDataset({ "a" }, tok, { max_len = 3 }) end,
      "TokenizedDataset: unknown option 'max_len'")
    H.assert_error(function() mg.data.TokenizedDataset({ "a" }, tok, { pad = "left" }) end, 'pad must be "batch"')
    local ds = mg.data.TokenizedDataset({ "a" }, tok)
    H.assert_error(function() ds:batch(idx({ 2 })) end, "TokenizedDataset: index 2 out of range 1..1")
    H.assert_error(function() ds:batch(mg.ones(1)) end, "batch expects a 1-d int64 Tensor")
  end)
end)

describe("TokenWindows", function()
  it("cuts the joined stream into windows after [CLS]", function()
    local texts = { wordnet.texts[1], wordnet.texts[2], wordnet.texts[3], wordnet.texts[4] }
    local stream = tok:encode_flat(texts):totable()
    local ds = mg.data.TokenWindows(texts, tok, { window = 8 })
    assert.equal((#stream - 7) // 7 + 1, #ds)
    local b = ds:batch(idx({ 2, 1 }))
    assert.same({ 2, 8 }, b.input:shape())
    local row2, row1 = b.input[1]:totable(), b.input[2]:totable()
    assert.same({ 3, table.unpack(stream, 8, 14) }, row2)
    assert.same({ 3, table.unpack(stream, 1, 7) }, row1)
    assert.same({ 2, 8 }, b.attention_mask:shape())
    assert.equal(16, b.attention_mask:sum():item())
    local overlap = mg.data.TokenWindows(texts, tok, { window = 8, stride = 2, cls = false })
    assert.same({ table.unpack(stream, 5, 12) }, overlap:batch(idx({ 3 })).input[1]:totable())
    assert.equal((#stream - 8) // 2 + 1, #overlap)
    assert.equal(0, #mg.data.TokenWindows({ "a" }, tok, { window = 50 }))
    H.assert_error(function() ds:batch(idx({ #ds + 1 })) end, "TokenWindows: index " .. (#ds + 1) .. " out of range")
    H.assert_error(function() mg.data.TokenWindows(texts, tok, { window = 1 }) end, "window must be an integer >= 2")
  end)
end)
