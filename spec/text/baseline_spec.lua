-- mg.text.baseline and mg.text_ngrams: hashed n-gram counts, TF-IDF
-- weights by batch, and the linear floor learning the bundled samples.
local H = require "helpers"
local mg = H.mg
local B = mg.text.baseline

local function sorted(t)
  table.sort(t)
  return t
end

local function idx(t) return mg.tensor(t, { dtype = "int64" }) end

describe("mg.text_ngrams", function()
  it("counts each text's distinct words and word pairs, punctuation left out", function()
    local ids, counts, offsets = mg.text_ngrams({ "a b a b", "A, b!", "" }, { buckets = 2 ^ 20 })
    assert.same({ 0, 4, 7, 7 }, offsets:totable())
    -- a x2, b x2, "a b" x2, "b a" x1; then a, b, "a b"
    assert.same({ 1, 2, 2, 2 }, sorted(counts:narrow(1, 1, 4):totable()))
    assert.same({ 1, 1, 1 }, counts:narrow(1, 5, 3):totable())
    local first, second = sorted(ids:narrow(1, 1, 4):totable()), sorted(ids:narrow(1, 5, 3):totable())
    local shared = 0
    for _, x in ipairs(first) do for _, y in ipairs(second) do if x == y then shared = shared + 1 end end end
    assert.equal(3, shared) -- lower-cased: the same bins
    for _, b in ipairs(first) do assert.is_true(b >= 1 and b <= 2 ^ 20) end
    local uni = mg.text_ngrams({ "a b a b" }, { ngrams = 1, buckets = 2 ^ 20 })
    assert.equal(2, uni:numel())
    assert.equal(1, mg.text_ngrams({ "x y z" }, { buckets = 1 }):numel()) -- everything in one bin
    H.assert_error(function() mg.text_ngrams({ "a" }, { ngrams = 3 }) end, "text_ngrams: ngrams must be 1 or 2")
    H.assert_error(function() mg.text_ngrams({ "a" }, { buckets = 0 }) end, "text_ngrams: buckets must be in 1..2^40")
    H.assert_error(function() mg.text_ngrams({ 1 }) end, "text_ngrams: texts[1] is a number, expected a string")
  end)
end)

describe("mg.text.baseline", function()
  it("weights: (1 + log count) * idf, unit norm per text", function()
    local ds = B.NgramDataset({ "good good movie", "bad movie" }, idx({ 2, 1 }), { ngrams = 1 })
    local b = ds:batch(idx({ 1, 2 }))
    local idf_good = math.log(3 / 2) + 1
    local w1 = { (1 + math.log(2)) * idf_good, 1 }
    local n1 = math.sqrt(w1[1] ^ 2 + w1[2] ^ 2)
    H.assert_near(sorted(b.weights[1]:totable()), sorted({ w1[1] / n1, w1[2] / n1 }), 1e-6)
    local n2 = math.sqrt(idf_good ^ 2 + 1)
    H.assert_near(sorted(b.weights[2]:totable()), sorted({ idf_good / n2, 1 / n2 }), 1e-6)
    assert.same({ 2, 1 }, b.labels:totable())
    -- a text with fewer bins is padded with weight 0
    local c = B.NgramDataset({ "a b c", "a" }, nil, { ngrams = 1 }):batch(idx({ 2, 1 }))
    assert.same({ 2, 3 }, c.weights:shape())
    assert.same({ 0, 0 }, { c.weights[1][2]:item(), c.weights[1][3]:item() })
    H.assert_near(c.weights[1][1], 1, 1e-6)
    -- the test set takes the training set's idf
    local test = B.NgramDataset({ "good" }, idx({ 2 }), { ngrams = 1, idf = ds.idf })
    assert.equal(ds.idf, test.idf)
    H.assert_error(function() B.NgramDataset({ "a" }, nil, { idf = mg.ones(3) }) end,
      "idf must be a float32 Tensor [1048576]")
    H.assert_error(function() B.NgramDataset({ "a" }, idx({ 1, 2 })) end, "labels must be an int64 Tensor [1]")
  end)

  it("the model's logits are the weighted sum of its rows", function()
    local m = B.HashedLinear(10, 3)
    mg.no_grad(function()
      m.weight:copy_(mg.arange(0, 30):float():view(10, 3))
      m.bias:copy_(mg.tensor({ 1, 2, 3 }))
    end)
    local logits = m(idx({ { 1, 4 } }), mg.tensor({ { 0.5, 2 } }))
    H.assert_near(logits, { { 0.5 * 0 + 2 * 9 + 1, 0.5 * 1 + 2 * 10 + 2, 0.5 * 2 + 2 * 11 + 3 } }, 1e-5)
  end)

  it("learns the IMDB and WordNet samples well above chance", function()
    local imdb = mg.data.imdb{ source = "sample", quiet = true }
    local imdb_test = mg.data.imdb{ split = "test", source = "sample", quiet = true }
    local train = B.NgramDataset(imdb, nil, { buckets = 2 ^ 16 })
    local test = B.NgramDataset(imdb_test, nil, { buckets = 2 ^ 16, idf = train.idf })
    local model = B.fit(train, 2, { epochs = 5 })
    assert.is_true(B.accuracy(model, train) > 0.99)
    local acc = B.accuracy(model, test)
    assert.is_true(acc > 0.7, "IMDB sample test accuracy " .. acc)
  end)

  it("select_C scores each C on the held-out end of the training texts", function()
    local imdb = mg.data.imdb{ source = "sample", quiet = true }
    local C, scores = B.select_C(imdb.texts, imdb.labels, 2, { candidates = { 1, 100 }, epochs = 2, buckets = 2 ^ 14 })
    assert.is_true(C == 1 or C == 100)
    for _, c in ipairs({ 1, 100 }) do assert.is_true(scores[c] >= 0 and scores[c] <= 1) end
    assert.is_true(scores[C] >= scores[C == 1 and 100 or 1])
    if scores[1] == scores[100] then assert.equal(1, C) end
  end)

  it("examples/text_baseline.lua runs on the sample and prints its JSON line", function()
    local dir = H.tmpdir()
    local r = H.run_example("text_baseline",
      "--data wordnet --source sample --epochs 3 --C 10 --buckets 65536 --threads 1 --out " .. dir)
    assert.equal("text_baseline", r.example)
    assert.equal("sample", r.source)
    assert.equal(1034, r.train_texts)
    assert.equal(26, r.classes)
    assert.is_true(r.test_acc > 3 / 26, "WordNet sample test accuracy " .. r.test_acc)
    assert.equal(10, r.C)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
