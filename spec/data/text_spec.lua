-- mg.data.imdb / spam / wordnet: the bundled sample, the full sets when
-- `make data` fetched them, the TSV reader and its errors.
local H = require "helpers"
local mg = H.mg

-- counts[c] = number of labels equal to c (1-based classes)
local function class_counts(labels, n)
  local counts = {}
  for c = 1, n do counts[c] = mg.eq(labels:float(), c):sum():item() end
  return counts
end

-- The group of each SpamAssassin id ("easy_ham_1/00001.7c53...")
local function groups(ds)
  local g = {}
  for _, id in ipairs(ds.ids) do
    local name = id:match("^([%w_]+)/%d+%.%x+$")
    assert.truthy(name, id)
    g[name] = (g[name] or 0) + 1
  end
  return g
end

describe("text datasets", function()
  it("imdb sample: 400 train / 200 test, balanced, markup stripped", function()
    local train = mg.data.imdb{ source = "sample", quiet = true }
    local test = mg.data.imdb{ split = "test", source = "sample", quiet = true }
    assert.equal(400, #train)
    assert.equal(200, #test)
    assert.same({ "neg", "pos" }, train.classes)
    assert.same({ 200, 200 }, class_counts(train.labels, 2))
    assert.same({ 100, 100 }, class_counts(test.labels, 2))
    assert.equal("int64", train.labels.dtype)
    assert.same({ "imdb", "train", "sample" }, { train.name, train.split, train.source })
    local ids = {}
    for i, t in ipairs(train.texts) do
      assert.is_true(#t > 0)
      assert.falsy(t:find("<br", 1, true), "markup left in review " .. i)
      ids[train.ids[i]] = true
    end
    for _, id in ipairs(test.ids) do assert.falsy(ids[id], "review " .. id .. " in both splits") end
    -- paragraphs (<br /><br /> in the source) are line breaks
    local breaks = 0
    for _, t in ipairs(train.texts) do if t:find("\n", 1, true) then breaks = breaks + 1 end end
    assert.is_true(breaks > 100, breaks .. " reviews with a line break")
  end)

  it("spam sample: split by time, subject and body as plain text", function()
    local train = mg.data.spam{ source = "sample", quiet = true }
    local test = mg.data.spam{ split = "test", source = "sample", quiet = true }
    assert.same({ "ham", "spam" }, train.classes)
    assert.same({ 80, 80 }, class_counts(train.labels, 2))
    assert.same({ 80, 80 }, class_counts(test.labels, 2))
    local g = groups(train)
    assert.same({ easy_ham_1 = 80, spam_1 = 80 }, g)
    g = groups(test)
    assert.equal(80, g.spam_2)
    assert.equal(80, (g.easy_ham_2 or 0) + (g.hard_ham_1 or 0))
    for i, t in ipairs(train.texts) do
      assert.falsy(t:find("^Received: ") or t:find("\nContent%-Type: text/"), "headers left in mail " .. i)
      assert.falsy(t:find("<html", 1, true) or t:find("</font>", 1, true), "HTML left in mail " .. i)
      assert.falsy(t:find("=20\n", 1, true) or t:find("=3D", 1, true), "quoted-printable left in mail " .. i)
    end
  end)

  it("wordnet sample: glosses of the 26 noun categories", function()
    local train = mg.data.wordnet{ source = "sample", quiet = true }
    local test = mg.data.wordnet{ split = "test", source = "sample", quiet = true }
    assert.equal(26, #train.classes)
    assert.equal("noun.Tops", train.classes[1])
    assert.equal("noun.time", train.classes[26])
    local counts = class_counts(train.labels, 26)
    assert.equal(40, counts[4])  -- noun.artifact
    assert.equal(34, counts[14]) -- noun.motive: all of its train glosses
    assert.equal(1034, #train)
    assert.equal(256, #test)
    for i, id in ipairs(train.ids) do assert.truthy(id:match("^%d%d%d%d%d%d%d%d$"), "synset offset " .. i) end
  end)

  it("batch returns the texts and labels of 1-based indices; limit keeps the first texts", function()
    local ds = mg.data.imdb{ source = "sample", quiet = true }
    local b = ds:batch(mg.tensor({ 3, 1 }, { dtype = "int64" }))
    assert.same({ ds.texts[3], ds.texts[1] }, b.texts)
    assert.same({ ds.labels[3]:item(), ds.labels[1]:item() }, b.labels:totable())
    local few = mg.data.imdb{ source = "sample", limit = 7, quiet = true }
    assert.equal(7, #few)
    assert.same({ table.unpack(ds.texts, 1, 7) }, few.texts)
    assert.same(ds.labels:narrow(1, 1, 7):totable(), few.labels:totable())
    H.assert_error(function() ds:batch(mg.tensor({ 401 }, { dtype = "int64" })) end, "index 401 out of range 1..400")
    H.assert_error(function() ds:batch({ 1 }) end, "batch expects a 1-d int64 Tensor")
  end)

  it("read_tsv unescapes \\\\ \\t \\n \\r and names the file and line of a bad one", function()
    local dir = H.tmpdir()
    local path = dir .. "/t.tsv"
    local f = assert(io.open(path, "wb"))
    f:write("pos\t7\ta\\tb\\nc\\\\n\\r\\q\n", "neg\tx\t\n", "neg\t\t\\\n")
    f:close()
    local texts, labels, ids = mg.read_tsv(path)
    assert.same({ "a\tb\nc\\n\r\\q", "", "\\" }, texts)
    assert.same({ "pos", "neg", "neg" }, labels)
    assert.same({ "7", "x", "" }, ids)
    assert.same({ "a\tb\nc\\n\r\\q" }, (mg.read_tsv(path, { limit = 1 })))
    f = assert(io.open(path, "ab"))
    f:write("only one\ttab\n")
    f:close()
    H.assert_error(function() mg.read_tsv(path) end, "read_tsv: " .. path .. ":4: expected 'label TAB id TAB text'")
    H.assert_error(function() mg.read_tsv(dir .. "/none.tsv") end, "read_tsv: cannot open", "none.tsv")
    H.assert_error(function() mg.read_tsv(dir) end, "is not a regular file")
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("refuses bad options, unknown labels and a missing full set", function()
    H.assert_error(function() mg.data.imdb{ splt = "test" } end, "imdb: unknown option 'splt'")
    H.assert_error(function() mg.data.spam{ split = "val" } end, "spam: split must be \"train\" or \"test\", got val")
    H.assert_error(function() mg.data.wordnet{ limit = 0 } end, "wordnet: limit must be a positive integer")
    H.assert_error(function() mg.data.imdb{ source = "web" } end, "imdb: source must be")
    H.assert_error(function() mg.data.imdb("train") end, "imdb: options must be a table")
    local dir = H.tmpdir()
    H.assert_error(function() mg.data.imdb{ root = dir, source = "full" } end,
      "imdb: the full set is not in " .. dir .. "/full/text/imdb; run `make data`")
    H.assert_error(function() mg.data.imdb{ root = dir } end, "imdb: no train file in", "run `make data`")
    os.execute("mkdir -p '" .. dir .. "/full/text/imdb'")
    local f = assert(io.open(dir .. "/full/text/imdb/train.tsv", "wb"))
    f:write("pos\t1\tgood\n", "meh\t2\tso so\n")
    f:close()
    H.assert_error(function() mg.data.imdb{ root = dir, quiet = true } end,
      "imdb: " .. dir .. "/full/text/imdb/train.tsv:2: unknown label 'meh' (expected neg, pos)")
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("text_file reads a user's unlabelled text by line or by paragraph", function()
    local dir = H.tmpdir()
    local path = dir .. "/notes.txt"
    local f = assert(io.open(path, "wb"))
    f:write("First line.\nSecond line\r\n\n  \nThird, after a blank line.\n")
    f:close()
    local lines = mg.data.text_file(path)
    assert.same({ "First line.", "Second line", "Third, after a blank line." }, lines.texts)
    assert.is_nil(lines.labels)
    assert.equal(3, #lines)
    local paras = mg.data.text_file(path, { by = "paragraph" })
    assert.same({ "First line.\nSecond line", "Third, after a blank line." }, paras.texts)
    assert.equal(1, #mg.data.text_file(path, { limit = 1 }))
    H.assert_error(function() mg.data.text_file(dir .. "/none.txt") end, "text_file: cannot open")
    H.assert_error(function() mg.data.text_file(path, { by = "word" }) end, "by must be \"line\" or \"paragraph\"")
    os.execute("rm -rf '" .. dir .. "'")
  end)

  -- The full sets when `make data` fetched them: the counts of data/README.md.
  it("full sets (when present): the documented counts", function()
    local function full(name, split)
      local ok, ds = pcall(mg.data[name], { split = split, source = "full", quiet = true })
      return ok and ds or nil
    end
    local imdb, imdb_test = full("imdb", "train"), full("imdb", "test")
    if imdb and imdb_test then
      assert.same({ 12500, 12500 }, class_counts(imdb.labels, 2))
      assert.same({ 12197, 12383 }, class_counts(imdb_test.labels, 2))
    end
    local spam, spam_test = full("spam", "train"), full("spam", "test")
    if spam and spam_test then
      assert.same({ easy_ham_1 = 2500, spam_1 = 500 }, groups(spam))
      assert.same({ easy_ham_2 = 1400, spam_2 = 1396, hard_ham_1 = 250 }, groups(spam_test))
      assert.same({ 2500, 500 }, class_counts(spam.labels, 2))
    end
    local wn, wn_test = full("wordnet", "train"), full("wordnet", "test")
    if wn and wn_test then
      assert.equal(65692, #wn)
      assert.equal(16423, #wn_test)
      -- synsets per lexicographer file in WordNet 3.0's data.noun
      local per_file = { 51, 6650, 7509, 11587, 3039, 2016, 2964, 5607, 1074, 428, 2573, 2624, 3209, 42, 1545,
        11087, 641, 8030, 1061, 770, 1275, 437, 341, 3544, 2983, 1028 }
      local a, b = class_counts(wn.labels, 26), class_counts(wn_test.labels, 26)
      for c = 1, 26 do a[c] = a[c] + b[c] end
      assert.same(per_file, a)
    end
  end)
end)
