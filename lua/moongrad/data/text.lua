--- Text datasets: IMDB reviews, SpamAssassin mails and WordNet noun glosses,
-- read from the TSV files of <data>/full/text/<set>/ (made by `make data`)
-- or of the bundled sample <data>/sample/text/<set>/ (see data/README.md).
-- A TextDataset holds raw texts (Lua strings), labels and class names; it
-- becomes model input through a tokenizer.
-- @module moongrad.data
local mg = require "moongrad"
local class = require "moongrad.class"
local datasets = require "moongrad.data.datasets"

local M = {}

-- ---- the TSV files ---------------------------------------------------------------

-- Reads the `label TAB id TAB text` lines of a text set's file (\\ \t \n
-- \r escaped) in C: returns texts, label names and ids (three lists).
M.read_tsv = mg.read_tsv

-- ---- TextDataset -------------------------------------------------------------------

--- Raw texts with labels and class names, following the dataset protocol
-- (`#ds`, `ds:batch(idx)`).
-- @type TextDataset
-- @usage local ds = mg.data.imdb{split = "train", limit = 1000}
-- print(#ds, ds.classes[ds.labels[1]:item()], ds.texts[1]:sub(1, 80))
local TextDataset = class("data.TextDataset")
M.TextDataset = TextDataset

--- data.TextDataset(spec): a new dataset.
-- @tparam table spec `{texts = {...}, labels = int64 Tensor [N] or nil, classes = {...} or nil,
--   name = "..."}`, texts a list of strings
function TextDataset:init(spec)
  if type(spec) ~= "table" or type(spec.texts) ~= "table" then
    error("TextDataset: expects {texts = {strings...}, labels = Tensor or nil, classes = {...}}", 3)
  end
  local n = #spec.texts
  for i = 1, n do
    if type(spec.texts[i]) ~= "string" then
      error(string.format("TextDataset: texts[%d] is a %s, expected a string", i, type(spec.texts[i])), 3)
    end
  end
  if spec.labels ~= nil and (not mg.is_tensor(spec.labels) or spec.labels:dim() ~= 1 or spec.labels:size(1) ~= n) then
    error(string.format("TextDataset: labels must be an int64 Tensor [%d]", n), 3)
  end
  self.texts, self.labels, self.classes = spec.texts, spec.labels, spec.classes
  self.ids, self.name = spec.ids, spec.name or "TextDataset"
  self.fields = spec.labels and { "texts", "labels" } or { "texts" }
end

function TextDataset:__len() return #self.texts end

function TextDataset:__tostring()
  return string.format("%s %s (%s): %d texts%s", self.name, self.split or "", self.source or "memory", #self,
    self.classes and (", " .. #self.classes .. " classes") or "")
end

--- Some samples.
-- @tparam Tensor idx int64 [B], 1-based
-- @treturn table `{texts = {strings}, labels = int64 [B]}` (labels when the set has them)
function TextDataset:batch(idx)
  if not mg.is_tensor(idx) or idx:dim() ~= 1 then
    error("TextDataset: batch expects a 1-d int64 Tensor of sample indices", 2)
  end
  local list, texts, n = idx:totable(), {}, #self.texts
  for k, i in ipairs(list) do
    if i < 1 or i > n then error(string.format("TextDataset: index %d out of range 1..%d", i, n), 2) end
    texts[k] = self.texts[i]
  end
  local out = { texts = texts }
  if self.labels then out.labels = self.labels:index_select(1, idx) end
  return out
end

--- The dataset's token ids, masks and labels by batch:
-- mg.data.TokenizedDataset(ds, tokenizer, opts).
-- @tparam Tokenizer tok
-- @tparam[opt] table opts as TokenizedDataset's
-- @treturn TokenizedDataset
function TextDataset:tokenize(tok, opts)
  return require("moongrad.data.tokenized").TokenizedDataset(self, tok, opts)
end

--- A user's text file as a dataset without labels: its non-empty lines
-- (or its paragraphs, separated by blank lines, with their line breaks
-- kept), e.g. unlabelled text to pre-train on with
-- mg.data.TokenWindows(ds, tokenizer).
-- @string path a UTF-8 text file
-- @tparam[opt] table opts `{by = "line"|"paragraph", limit = nil}` (limit: the first N texts)
-- @treturn TextDataset with texts, name (the file's), source "file", path
-- @usage local ds = mg.data.text_file("my_reviews.txt", {by = "paragraph"})
function M.text_file(path, opts)
  opts = require("moongrad.options").check("text_file", opts, { "by", "limit" })
  local by = opts.by or "line"
  if by ~= "line" and by ~= "paragraph" then
    error("text_file: by must be \"line\" or \"paragraph\", got " .. tostring(by), 2)
  end
  if type(path) ~= "string" then error("text_file: path must be a string, got " .. type(path), 2) end
  local f, err = io.open(path, "rb")
  if not f then error("text_file: cannot open " .. tostring(err), 2) end
  local all = f:read("a")
  f:close()
  local texts, limit = {}, opts.limit or math.huge
  local pattern = by == "line" and "[^\r\n]+" or "(.-)\r?\n%s*\r?\n"
  if by == "paragraph" then all = all .. "\n\n" end
  for piece in all:gmatch(pattern) do
    if #texts >= limit then break end
    if piece:find("%S") then texts[#texts + 1] = piece end
  end
  local ds = TextDataset{ texts = texts, name = path:match("[^/]*$") }
  ds.source, ds.path = "file", path
  return ds
end

-- ---- the three sets ----------------------------------------------------------------

local LEXNAMES = {
  "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
  "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group", "noun.location",
  "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
  "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
}

M.SETS = {
  imdb = { name = "imdb", classes = { "neg", "pos" } },
  spam = { name = "spam", classes = { "ham", "spam" } },
  wordnet = { name = "wordnet", classes = LEXNAMES },
}

local OPTIONS = { split = true, root = true, limit = true, quiet = true, source = true }
local announced = {}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function check_opts(name, opts)
  opts = mg.check_options(name, opts, OPTIONS, 3)
  local split = opts.split or "train"
  if split ~= "train" and split ~= "test" then
    error(string.format("%s: split must be \"train\" or \"test\", got %s", name, tostring(split)), 4)
  end
  local limit = opts.limit
  if limit ~= nil and (math.type(limit) ~= "integer" or limit < 1) then
    error(name .. ": limit must be a positive integer, got " .. tostring(limit), 4)
  end
  if opts.root ~= nil and type(opts.root) ~= "string" then
    error(name .. ": root must be a string (the data folder), got " .. type(opts.root), 4)
  end
  local source = opts.source or "auto"
  if source ~= "auto" and source ~= "full" and source ~= "sample" then
    error(string.format("%s: source must be \"auto\", \"full\" or \"sample\", got %s", name, tostring(source)), 4)
  end
  return { split = split, limit = limit, root = opts.root, quiet = opts.quiet, source = source }
end

local function load(spec, opts)
  local o = check_opts(spec.name, opts)
  local data = datasets.data_dir(o.root)
  local file = "/text/" .. spec.name .. "/" .. o.split .. ".tsv"
  local source, path = "full", data .. "/full" .. file
  if o.source == "sample" or (o.source == "auto" and not exists(path)) then
    source, path = "sample", data .. "/sample" .. file
  end
  if not exists(path) then
    if source == "full" then
      error(string.format("%s: the full set is not in %s/full/text/%s; run `make data`", spec.name, data, spec.name), 3)
    end
    error(string.format("%s: no %s file in %s/full%s or %s/sample%s; run `make data`, or point MOONGRAD_DATA "
      .. "or the root option at the data folder", spec.name, o.split, data, file, data, file), 3)
  end
  local texts, names, ids = mg.read_tsv(path, { limit = o.limit })
  local index = {}
  for c, name in ipairs(spec.classes) do index[name] = c end
  local n = #texts
  local labels = {}
  for i = 1, n do
    local c = index[names[i]]
    if not c then
      error(string.format("%s: %s:%d: unknown label '%s' (expected %s)", spec.name, path, i, names[i],
        table.concat(spec.classes, ", ")), 3)
    end
    labels[i] = c
  end
  local ds = TextDataset{
    texts = texts, ids = ids, classes = spec.classes, name = spec.name,
    labels = mg.tensor(n > 0 and labels or { 0 }, { dtype = "int64" }):narrow(1, 1, n),
  }
  ds.split, ds.source, ds.path = o.split, source, path
  if not o.quiet and not announced[spec.name] then
    announced[spec.name] = true
    if source == "sample" then
      io.stderr:write(string.format("%s: using the bundled sample (%d %s texts); run `make data` for the full set\n",
        spec.name, n, o.split))
    else
      io.stderr:write(string.format("%s: using the full set in %s (%d %s texts)\n", spec.name, path, n, o.split))
    end
  end
  return ds
end

--- IMDB movie reviews labelled neg (1) / pos (2); ids are the record
-- numbers in the npm package's reviews.json. The files are in a shuffled
-- order.
-- @tparam[opt] table opts `{split = "train"|"test", source = "auto"|"full"|"sample", limit = nil,
--   root = nil, quiet = false}`: limit keeps the first `limit` texts; quiet skips the note on
--   stderr saying which files are used
-- @treturn TextDataset with texts, labels (1-based), classes, ids, name, split, source
--   ("full" or "sample"), path
function M.imdb(opts) return load(M.SETS.imdb, opts) end

--- SpamAssassin mails (subject and body as plain text) labelled ham (1) /
-- spam (2); train is easy_ham_1 + spam_1, test easy_ham_2 + spam_2 +
-- hard_ham_1 (ids name the group and file).
-- @tparam[opt] table opts as imdb's
-- @treturn TextDataset
function M.spam(opts) return load(M.SETS.spam, opts) end

--- WordNet noun glosses labelled with the 26 lexicographer files
-- (noun.Tops, noun.act, ..., noun.time); ids are synset offsets.
-- @tparam[opt] table opts as imdb's
-- @treturn TextDataset
function M.wordnet(opts) return load(M.SETS.wordnet, opts) end

return M
