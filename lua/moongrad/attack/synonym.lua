--- A word-substitution attack a reader can inspect: greedy swaps of words
-- for WordNet synonyms, at most a share of the words of each text (10%).
-- It only reads the model's outputs through predict(texts) -> logits, so
-- it attacks any text classifier with its tokenizer, and it counts the
-- texts it asks about (model queries). mg.attack.synonym.
-- @module moongrad.attack.synonym
-- @alias M
-- @usage local syn = mg.attack.synonym
-- local adv, report = syn.attack(predict, texts, labels, {synonyms = syn.load_wordnet()})
local mg = require "moongrad"

local M = {}

M.DEFAULT_DIR = "/usr/share/wordnet" -- Debian's wordnet-base

-- Function words WordNet also lists as nouns or verbs ("a": vitamin A,
-- "in": inch, "be", "do"): swapping them makes nonsense, not synonyms.
local STOP = {}
for w in ([[a an the and or but if of in on at to for from by with as is are was were be been being am
  do does did have has had it its this that these those he she they we you i me him her them us my your
  his our their not no so than then there here what which who whom whose when where why how all any
  each few more most other some such only own same too very can will just should now up down out
  off over under again further once one two]]):gmatch("%a+") do STOP[w] = true end

--- Reads WordNet's synonyms: from a lower-case word to the list of the
-- other single words of the synsets it belongs to (WordNet's data.<pos>
-- files). With senses = k, only the word's k most frequent senses per part
-- of speech count (the order of WordNet's index.<pos> files): a rare sense
-- brings words of another meaning ("awful" is a synonym of "amazing" in
-- the sense "inspiring awe"). Multi-word lemmas and function words are
-- left out. Without pos, the files of the four that exist are read (at
-- least one must); a pos listed must have its files.
-- @tparam[opt] table opts `{dir = "/usr/share/wordnet", pos = {"adj", "adv", "verb", "noun"},
--   senses = nil (all)}`
-- @treturn table word -> {synonym, ...}
function M.load_wordnet(opts)
  local who = "attack.synonym.load_wordnet"
  opts = mg.check_options(who, opts, { "dir", "pos", "senses" })
  local dir = opts.dir or M.DEFAULT_DIR
  local pos, found = opts.pos or { "adj", "adv", "verb", "noun" }, 0
  if type(dir) ~= "string" or type(pos) ~= "table" then
    error(who .. ": dir must be a folder name and pos a list of parts of speech", 2)
  end
  local senses = opts.senses
  if senses ~= nil and (math.type(senses) ~= "integer" or senses < 1) then
    error(who .. ": senses must be an integer >= 1 (or nil: all), got " .. tostring(senses), 2)
  end
  local groups = {} -- lists of lemmas that are synonyms of each other
  local main_sense = {} -- with senses: lemma -> its synonyms in its main part of speech
  for _, p in ipairs(pos) do
    if p ~= "adj" and p ~= "adv" and p ~= "verb" and p ~= "noun" then
      error(who .. ": pos must list adj, adv, verb or noun, got " .. tostring(p), 2)
    end
    local path = dir .. "/data." .. p
    local f = io.open(path, "r")
    if not f and opts.pos then
      error(who .. ": cannot read " .. path .. " (install the Debian package wordnet-base)", 2)
    end
    if f then
      found = found + 1
      local by_offset = {}
      for line in f:lines() do
        -- offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] ...
        local offset, count_hex, rest = line:match("^(%d+) %d+ %a (%x%x) (.*)$")
        if offset then
          local tokens, lemmas = {}, {}
          for tok in rest:gmatch("%S+") do
            tokens[#tokens + 1] = tok
            if #tokens >= 2 * tonumber(count_hex, 16) then break end
          end
          for k = 1, #tokens, 2 do -- word, lex_id pairs; adjectives may carry a marker: good(a)
            local word = tokens[k]:gsub("%(%a+%)$", ""):lower()
            if word:match("^%a+$") and not STOP[word] then lemmas[#lemmas + 1] = word end
          end
          by_offset[offset] = lemmas
          if not senses and #lemmas > 1 then groups[#groups + 1] = lemmas end
        end
      end
      f:close()
      if senses then
        -- index.<pos>: lemma pos synset_cnt ... then the synset offsets, most frequent sense first
        local ipath = dir .. "/index." .. p
        local fi = io.open(ipath, "r")
        if not fi then error(who .. ": cannot read " .. ipath .. " (needed for senses)", 2) end
        for line in fi:lines() do
          local lemma, count = line:match("^(%S+) %a (%d+) ")
          if lemma and lemma:match("^%a+$") and not STOP[lemma] then
            local tokens = {}
            for tok in line:gmatch("%S+") do tokens[#tokens + 1] = tok end
            local n = tonumber(count)
            local tagged = tonumber(tokens[#tokens - n]) or 0 -- senses seen in WordNet's tagged corpus
            local group = { lemma = lemma }
            for k = #tokens - n + 1, math.min(#tokens, #tokens - n + senses) do
              for _, w in ipairs(by_offset[tokens[k]] or {}) do
                if w ~= lemma then group[#group + 1] = w end
              end
            end
            -- the part of speech the word is most used as (the most tagged senses) wins
            local current = main_sense[lemma]
            if not current or tagged > current.tagged then
              group.tagged = tagged
              main_sense[lemma] = group
            end
          end
        end
        fi:close()
      end
    end
  end
  if found == 0 then
    error(who .. ": no WordNet data files (data.adj, data.adv, data.verb, data.noun) in " .. dir ..
      " (install the Debian package wordnet-base)", 2)
  end
  for _, g in pairs(main_sense) do if #g > 0 then groups[#groups + 1] = g end end
  local synonyms, seen = {}, {}
  local function add(w, s)
    synonyms[w], seen[w] = synonyms[w] or {}, seen[w] or {}
    if s ~= w and not seen[w][s] then
      seen[w][s] = true
      synonyms[w][#synonyms[w] + 1] = s
    end
  end
  for _, g in ipairs(groups) do
    if g.lemma then -- one word's synonyms (senses): not symmetric
      for _, s in ipairs(g) do add(g.lemma, s) end
    else
      for _, w in ipairs(g) do
        for _, s in ipairs(g) do add(w, s) end
      end
    end
  end
  return synonyms
end

-- ---- the texts as words ---------------------------------------------------------------

-- Splits text into pieces {gap, word, gap, word, ..., gap}: words at the
-- even positions (letters, inner apostrophes), everything else between.
local function split(text)
  local pieces, at = {}, 1
  for s, word, e in text:gmatch("()(%a[%a']*)()") do
    pieces[#pieces + 1] = text:sub(at, s - 1)
    pieces[#pieces + 1] = word
    at = e
  end
  pieces[#pieces + 1] = text:sub(at)
  return pieces
end

-- The replacement keeps the word's capitalisation (first letter or all).
local function cased(original, word)
  if #original > 1 and original == original:upper() then return word:upper() end
  if original:sub(1, 1):match("%u") then return word:sub(1, 1):upper() .. word:sub(2) end
  return word
end

-- ---- the attack --------------------------------------------------------------------------

local OPTIONS = { "synonyms", "budget", "max_candidates", "importance", "batch_size", "examples" }

--- Attacks texts with synonyms. Per text the model gets right: the words with synonyms are ranked by
-- how much deleting each lowers the probability of the label (one query
-- each; importance = "order" keeps them in reading order instead), then,
-- in that order, each word is replaced by the synonym (of the first
-- max_candidates) that lowers that probability most, when one does, until
-- the model is fooled or floor(budget * words) words have changed.
-- @func predict predict(list of strings) -> logits Tensor [#list, C]
-- @tparam {string,...} texts
-- @tparam Tensor|{int,...} labels int64 Tensor [N] (1-based) or a list of integers
-- @tparam table opts `synonyms` (from load_wordnet; required), `budget = 0.1,
--   max_candidates = 20, importance = "delete" | "order", batch_size = 64` (texts per
--   predict call), `examples = 3` (before/after pairs kept)
-- @treturn {string,...} the adversarial texts
-- @treturn table the report: n, right_before, right_after, accuracy_before, accuracy_after,
-- success_rate (fooled / right_before), words_changed (mean over the
-- attacked texts), changed_share (mean share of their words),
-- queries (mean per attacked text, the first prediction included),
-- changed = per text the words changed, words = per text the word count,
-- examples = {{before, after, label, predicted_before, predicted_after,
-- swaps = {{from, to}, ...}}, ...} (texts the attack fooled first).
function M.attack(predict, texts, labels, opts)
  local who = "attack.synonym.attack"
  if type(predict) ~= "function" then error(who .. ": predict must be a function(texts) -> logits", 2) end
  if type(texts) ~= "table" then error(who .. ": texts must be a list of strings", 2) end
  for i, t in ipairs(texts) do
    if type(t) ~= "string" then error(string.format("%s: texts[%d] is a %s, expected a string", who, i, type(t)), 2) end
  end
  local n = #texts
  if mg.is_tensor(labels) then
    if labels:dim() ~= 1 or labels:size(1) ~= n then error(string.format("%s: labels must be [%d]", who, n), 2) end
    labels = labels:long():totable()
  elseif type(labels) ~= "table" or #labels ~= n then
    error(string.format("%s: labels must be an int64 Tensor [%d] or a list of %d classes", who, n, n), 2)
  end
  opts = mg.check_options(who, opts, OPTIONS)
  local synonyms = opts.synonyms
  if type(synonyms) ~= "table" then error(who .. ": opts.synonyms is required (see load_wordnet)", 2) end
  local budget = opts.budget or 0.1
  if type(budget) ~= "number" or budget < 0 or budget > 1 then error(who .. ": budget must be a share in [0, 1]", 2) end
  local max_cand = opts.max_candidates or 20
  local importance = opts.importance or "delete"
  if importance ~= "delete" and importance ~= "order" then
    error(who .. ": importance must be \"delete\" or \"order\", got " .. tostring(importance), 2)
  end
  local batch_size = opts.batch_size or 64
  local keep_examples = opts.examples or 3

  local queries = 0
  -- probabilities [#list, C] as Lua rows, predict called in batches
  local function probs(list)
    local rows = {}
    for s = 1, #list, batch_size do
      local chunk = table.move(list, s, math.min(s + batch_size - 1, #list), 1, {})
      local logits = predict(chunk)
      if not mg.is_tensor(logits) or logits:dim() ~= 2 or logits:size(1) ~= #chunk then
        error(string.format("%s: predict must return logits [%d, C]", who, #chunk), 0)
      end
      for _, r in ipairs(mg.no_grad(function() return logits:detach():softmax(2) end):totable()) do
        rows[#rows + 1] = r
      end
      queries = queries + #chunk
    end
    return rows
  end
  local function argmax(row)
    local best = 1
    for c = 2, #row do if row[c] > row[best] then best = c end end
    return best
  end

  local out = {}
  local report = { n = n, right_before = 0, right_after = 0, changed = {}, words = {}, examples = {} }
  local attacked, total_changed, total_share, total_queries = 0, 0, 0, 0
  for i, text in ipairs(texts) do
    local y = labels[i]
    queries = 0
    local p0 = probs({ text })[1]
    local pieces = split(text)
    local n_words = (#pieces - 1) // 2
    report.words[i], report.changed[i] = n_words, 0
    out[i] = text
    if argmax(p0) == y then
      report.right_before = report.right_before + 1
      attacked = attacked + 1
      local limit = math.floor(budget * n_words + 1e-9)
      -- the swappable words: positions (even indices of pieces) with synonyms
      local cands = {}
      for k = 2, #pieces - 1, 2 do
        local list = synonyms[pieces[k]:lower()]
        if list and #list > 0 then cands[#cands + 1] = { at = k, list = list, score = 0 } end
      end
      if limit > 0 and #cands > 0 and importance == "delete" then
        local variants = {}
        for j, c in ipairs(cands) do
          local saved = pieces[c.at]
          pieces[c.at] = ""
          variants[j] = table.concat(pieces)
          pieces[c.at] = saved
        end
        for j, row in ipairs(probs(variants)) do cands[j].score = p0[y] - row[y] end
        table.sort(cands, function(a, b) if a.score ~= b.score then return a.score > b.score end return a.at < b.at end)
      end
      local p_cur, pred, changed, swaps = p0[y], y, 0, {}
      for _, c in ipairs(cands) do
        if changed >= limit or pred ~= y then break end
        local original = pieces[c.at]
        local options, variants = {}, {}
        for j = 1, math.min(max_cand, #c.list) do
          options[j] = cased(original, c.list[j])
          pieces[c.at] = options[j]
          variants[j] = table.concat(pieces)
        end
        local rows = probs(variants)
        local best
        for j, row in ipairs(rows) do
          if not best or row[y] < rows[best][y] then best = j end
        end
        if best and rows[best][y] < p_cur then
          pieces[c.at] = options[best]
          p_cur, pred = rows[best][y], argmax(rows[best])
          changed = changed + 1
          swaps[#swaps + 1] = { original, options[best] }
        else
          pieces[c.at] = original
        end
      end
      out[i] = table.concat(pieces)
      report.changed[i] = changed
      total_changed, total_share = total_changed + changed, total_share + (n_words > 0 and changed / n_words or 0)
      total_queries = total_queries + queries
      if pred == y then
        report.right_after = report.right_after + 1
      elseif #report.examples < keep_examples then
        report.examples[#report.examples + 1] = { before = text, after = out[i], label = y,
          predicted_before = y, predicted_after = pred, swaps = swaps }
      end
    end
  end
  report.accuracy_before = n > 0 and report.right_before / n or 0
  report.accuracy_after = n > 0 and report.right_after / n or 0
  report.success_rate = attacked > 0 and (report.right_before - report.right_after) / attacked or 0
  report.words_changed = attacked > 0 and total_changed / attacked or 0
  report.changed_share = attacked > 0 and total_share / attacked or 0
  report.queries = attacked > 0 and total_queries / attacked or 0
  return out, report
end

return M
