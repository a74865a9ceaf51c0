-- The WordNet synonym attack: reading WordNet's data files, greedy swaps
-- that fool a keyword model, the word budget, query counting and the
-- report; and the real WordNet of the Debian package when installed.
local H = require "helpers"
local mg = H.mg
local S = mg.attack.synonym

local FIXTURE = "spec/fixtures/wordnet"

-- A keyword model: positive (class 2) scores +1 per "good", "great" or
-- "fine" minus 1 per "bad" or "awful"; the other words count nothing.
local WEIGHTS = { good = 1, great = 1, fine = 1, bad = -1, awful = -1 }
local function keyword_predict(calls)
  return function(texts)
    calls[#calls + 1] = #texts
    local rows = {}
    for i, t in ipairs(texts) do
      local s = 0
      for w in t:lower():gmatch("%a+") do s = s + (WEIGHTS[w] or 0) end
      rows[i] = { 0, s }
    end
    return mg.tensor(rows)
  end
end

describe("attack.synonym", function()
  before_each(H.reseed(51))

  it("reads WordNet's data files: single words, markers stripped, function words left out", function()
    local syn = S.load_wordnet { dir = FIXTURE, pos = { "adj" } }
    table.sort(syn.good)
    assert.same({ "fine" }, syn.good)
    assert.same({ "groovy", "swell" }, (function() table.sort(syn.great); return syn.great end)())
    table.sort(syn.bad)
    assert.same({ "awful", "poor" }, syn.bad) -- not_good is two words; both synsets of bad
    assert.is_nil(syn.lonely)
    assert.is_nil(syn.an)
    assert.is_nil(syn.one)
    H.assert_error(function() S.load_wordnet { dir = FIXTURE, pos = { "verb" } } end, "cannot read", "wordnet-base")
    H.assert_error(function() S.load_wordnet { pos = { "nouns" } } end, "pos must list adj, adv, verb or noun")
    local both = S.load_wordnet { dir = FIXTURE, pos = { "adj", "adv" } }
    local again = S.load_wordnet { dir = FIXTURE } -- the files that are there
    for _, t in pairs(again) do table.sort(t) end
    for _, t in pairs(both) do table.sort(t) end
    assert.same(both, again)
    assert.same({ "awful", "badly", "poor" }, both.bad)
    H.assert_error(function() S.load_wordnet { dir = "spec" } end, "no WordNet data files", "wordnet-base")
  end)

  it("keeps only the most frequent senses of a word's main part of speech when asked", function()
    local adj = S.load_wordnet { dir = FIXTURE, pos = { "adj" }, senses = 1 }
    assert.same({ "poor" }, adj.bad) -- bad's first sense, not "awful"
    assert.same({ "fine" }, adj.good)
    assert.is_nil(adj.great)       -- no index entry: no senses
    assert.is_nil(adj.poor)        -- not symmetric: poor has no index entry either
    local both = S.load_wordnet { dir = FIXTURE, senses = 2 }
    assert.same({ "badly" }, both.bad) -- bad is tagged more often as an adverb
    H.assert_error(function() S.load_wordnet { dir = FIXTURE, senses = 0 } end, "senses must be an integer >= 1")
    H.assert_error(function() S.load_wordnet { dir = FIXTURE, pos = { "adj" }, senses = 1.5 } end, "senses must be")
  end)

  it("reads the real WordNet when the Debian package is there", function()
    local f = io.open(S.DEFAULT_DIR .. "/data.adv")
    if not f then pending("wordnet-base is not installed") return end
    f:close()
    local syn = S.load_wordnet { pos = { "adv" } }
    local set = {}
    for _, w in ipairs(syn.quickly) do set[w] = true end
    assert.is_true(set.rapidly and set.speedily and not set["chop-chop"])
  end)

  it("swaps words for synonyms until the model is fooled, keeping the case", function()
    local calls = {}
    local syn = { good = { "fine", "nice" }, great = { "nice" }, movie = { "film" } }
    local texts = { "Good movie, really good, a great movie with a great cast and music and more good parts of it." }
    local adv, r = S.attack(keyword_predict(calls), texts, { 2 }, { synonyms = syn, budget = 0.3 })
    -- five positive words among 19: budget 5; each swap of good or great for nice
    -- (fine is positive too) lowers the score by one, and at 0 the model says class 1
    assert.are.equal(1, r.right_before)
    assert.are.equal(0, r.right_after)
    assert.are.equal(1, r.success_rate)
    assert.are.equal(5, r.changed[1])
    assert.are.equal(19, r.words[1])
    assert.truthy(adv[1]:find("^Nice movie, really nice"), adv[1])
    assert.are.equal(0, select(2, adv[1]:lower():gsub("good", "")) + select(2, adv[1]:lower():gsub("great", "")))
    assert.truthy(adv[1]:find("with a nice cast and music and more nice parts of it.", 1, true), adv[1])
    -- queries: every text passed to predict, the first prediction included
    local total = 0
    for _, c in ipairs(calls) do total = total + c end
    assert.are.equal(total, r.queries)
    assert.are.equal(1, #r.examples)
    assert.are.equal(texts[1], r.examples[1].before)
    assert.are.equal(1, r.examples[1].predicted_after)
    assert.are.equal(5, #r.examples[1].swaps)
  end)

  it("never changes more than its budget of words", function()
    local syn = { good = { "fine", "nice" }, great = { "nice", "fine" }, movie = { "film" }, cast = { "actors" } }
    local texts, labels = {}, {}
    local words = { "good", "great", "movie", "cast", "the", "plot", "was", "good" }
    for i = 1, 30 do
      local t = {}
      for j = 1, 5 + i do t[j] = words[(i * j) % #words + 1] end
      texts[i] = table.concat(t, " ")
      labels[i] = 2
    end
    for _, budget in ipairs({ 0, 0.1, 0.25 }) do
      local _, r = S.attack(keyword_predict({}), texts, labels, { synonyms = syn, budget = budget, batch_size = 3 })
      for i = 1, #texts do
        assert.is_true(r.changed[i] <= math.floor(budget * r.words[i]),
          string.format("budget %g: text %d changed %d of %d words", budget, i, r.changed[i], r.words[i]))
      end
      if budget == 0 then assert.are.equal(r.right_before, r.right_after) end
    end
  end)

  it("leaves texts the model gets wrong alone and asks about them once", function()
    local calls = {}
    local adv, r = S.attack(keyword_predict(calls), { "bad bad film", "good film" }, mg.tensor({ 2, 2 }):long(),
      { synonyms = { good = { "fine" }, bad = { "poor" } }, importance = "order" })
    assert.are.equal("bad bad film", adv[1])
    assert.are.equal(1, r.right_before)
    assert.are.equal(0.5, r.accuracy_before)
    assert.are.equal(0, r.changed[1])
    local total = 0
    for _, c in ipairs(calls) do total = total + c end
    assert.are.equal(total - 1, r.queries) -- all but one query went to the second text
  end)

  it("rejects bad arguments with clear messages", function()
    local p = keyword_predict({})
    H.assert_error(function() S.attack(p, { "a" }, { 1 }) end, "opts.synonyms is required")
    H.assert_error(function() S.attack(p, { "a", 3 }, { 1, 1 }, { synonyms = {} }) end, "texts[2] is a number")
    H.assert_error(function() S.attack(p, { "a" }, { 1, 2 }, { synonyms = {} }) end, "labels must be")
    H.assert_error(function() S.attack(p, { "a" }, { 1 }, { synonyms = {}, budget = 2 }) end, "budget must be a share")
    H.assert_error(function() S.attack("p", { "a" }, { 1 }, { synonyms = {} }) end, "predict must be a function")
    H.assert_error(function() S.attack(function() return mg.zeros(5, 2) end, { "a" }, { 1 }, { synonyms = {} }) end,
      "predict must return logits [1, C]")
  end)
end)
