--- Datasets of token ids for models (the data protocol: #ds,
-- ds:batch(idx)): TokenizedDataset (one labelled text per sample,
-- [CLS] ... [SEP], padded) and TokenWindows (fixed windows cut from the
-- texts joined into one stream, for pre-training on unlabelled text). Both
-- encode everything once when built (the tokenizer is C and fast), so a
-- batch is a few index_selects.
-- @module moongrad.data
local mg = require "moongrad"
local class = require "moongrad.class"
local options = require "moongrad.options"

local M = {}

local function texts_of(source, who)
  if type(source) == "table" and type(source.texts) == "table" then return source.texts, source end
  if type(source) == "table" then return source, nil end
  error(who .. ": expects a list of strings or a text dataset (mg.data.imdb{...}), got " .. type(source), 4)
end

local function check_tokenizer(tok, who)
  local ok = pcall(function() return tok.vocab_size end)
  if not ok or type(tok) ~= "userdata" then
    error(who .. ": expects a tokenizer (mg.text.Tokenizer.train or .load), got " .. type(tok), 4)
  end
end

local function check_int(who, name, v, lo)
  if math.type(v) ~= "integer" or v < lo then
    error(string.format("%s: %s must be an integer >= %d, got %s", who, name, lo, tostring(v)), 4)
  end
  return v
end

local function check_idx(who, idx, n)
  if not mg.is_tensor(idx) or idx.dtype ~= "int64" or idx:dim() ~= 1 then
    error(who .. ": batch expects a 1-d int64 Tensor of sample indices", 3)
  end
  if idx:numel() > 0 then
    local lo, hi = idx:min():item(), idx:max():item()
    if lo < 1 or hi > n then error(string.format("%s: index %d out of range 1..%d", who, lo < 1 and lo or hi, n), 3) end
  end
end

-- attention_mask float32 [B, T] (1 on tokens) and padding_mask uint8 [B, T]
-- (1 on padding, PyTorch's key_padding_mask) from lengths int64 [B].
local function masks(lengths, width)
  local pos = mg.arange(0, width):float():view(1, width)
  local mask = mg.lt(pos, lengths:float():view(-1, 1))
  return mask, mg.eq(mask, 0):byte()
end

-- ---- TokenizedDataset ------------------------------------------------------------

--- One labelled text per sample: [CLS] tokens [SEP], at most max_length
-- ids; a longer text keeps its first `head` tokens (default a quarter) and
-- its last ones. Fields: input_ids [N, W], lengths [N], labels, classes,
-- tokenizer.
-- @type TokenizedDataset
-- @usage local tok = mg.text.Tokenizer.train(train_ds, {vocab_size = 8000})
-- local ds = mg.data.TokenizedDataset(train_ds, tok, {max_length = 256})
-- local b = ds:batch(mg.tensor({1, 2}, "int64"))   -- b.input, b.labels, b.padding_mask
local TokenizedDataset = class("data.TokenizedDataset")
M.TokenizedDataset = TokenizedDataset

--- data.TokenizedDataset(source, tokenizer [, opts]): a new dataset.
-- @tparam TextDataset|{string,...} source a text dataset (texts, labels, classes:
--   mg.data.imdb{...}) or a list of strings
-- @tparam Tokenizer tok
-- @tparam[opt] table opts `{max_length = 256, head = nil, pad = "batch"|"max_length"}`
function TokenizedDataset:init(source, tok, opts)
  local who = "TokenizedDataset"
  local texts, ds = texts_of(source, who)
  check_tokenizer(tok, who)
  opts = options.check(who, opts, { "max_length", "head", "pad" }, 4)
  self.max_length = check_int(who, "max_length", opts.max_length or 256, 3)
  if opts.head ~= nil then check_int(who, "head", opts.head, 0) end
  self.pad = opts.pad or "batch"
  if self.pad ~= "batch" and self.pad ~= "max_length" then
    error(who .. ": pad must be \"batch\" or \"max_length\", got " .. tostring(self.pad), 3)
  end
  local enc = tok:encode_batch(texts, { max_length = self.max_length, head = opts.head,
    padding = self.pad == "max_length" and "max_length" or "longest" })
  self.input_ids, self.lengths = enc.input_ids, enc.lengths
  self.labels = ds and ds.labels or nil
  self.classes = ds and ds.classes or nil
  self.tokenizer, self.name = tok, ds and ds.name or "TokenizedDataset"
  self.fields = self.labels and { "input", "labels", "attention_mask", "padding_mask" }
    or { "input", "attention_mask", "padding_mask" }
end

function TokenizedDataset:__len() return self.input_ids:size(1) end

function TokenizedDataset:__tostring()
  return string.format("TokenizedDataset(%s): %d texts, max_length %d", self.name, #self, self.max_length)
end

--- Some samples; T is the longest sequence of the batch (pad = "batch")
-- or max_length.
-- @tparam Tensor idx int64 [B], 1-based
-- @treturn table `{input = int64 [B, T], labels = int64 [B]` (when the source has labels),
--   `attention_mask = float32 [B, T]` (1 on tokens), `padding_mask = uint8 [B, T]` (1 on padding)`}`
function TokenizedDataset:batch(idx)
  check_idx("TokenizedDataset", idx, #self)
  local lengths = self.lengths:index_select(1, idx)
  local width = self.input_ids:size(2)
  if self.pad == "batch" and idx:numel() > 0 then width = lengths:max():item() end
  local input = self.input_ids:index_select(1, idx):narrow(2, 1, width):contiguous()
  local attention, padding = masks(lengths, width)
  local out = { input = input, attention_mask = attention, padding_mask = padding }
  if self.labels then out.labels = self.labels:index_select(1, idx) end
  return out
end

-- ---- TokenWindows ------------------------------------------------------------------

--- The texts encoded and joined into one stream, each followed by [SEP];
-- sample k is the window of the stream starting at token
-- (k - 1) * stride + 1, after [CLS] when cls is true, window ids in all.
-- Fields: stream (int64 ids), window, stride.
-- @type TokenWindows
local TokenWindows = class("data.TokenWindows")
M.TokenWindows = TokenWindows

--- data.TokenWindows(source, tokenizer [, opts]): a new dataset.
-- @tparam TextDataset|{string,...} source the texts
-- @tparam Tokenizer tok
-- @tparam[opt] table opts `{window = 128, stride = window (no overlap), cls = true}`
function TokenWindows:init(source, tok, opts)
  local who = "TokenWindows"
  local texts = texts_of(source, who)
  check_tokenizer(tok, who)
  opts = options.check(who, opts, { "window", "stride", "cls" }, 4)
  self.window = check_int(who, "window", opts.window or 128, 2)
  self.cls = opts.cls ~= false
  self.span = self.window - (self.cls and 1 or 0) -- stream tokens per window
  self.stride = check_int(who, "stride", opts.stride or self.span, 1)
  self.stream = tok:encode_flat(texts)
  self.cls_id, self.tokenizer = tok.cls_id, tok
  local n = self.stream:numel()
  self.count = n >= self.span and (n - self.span) // self.stride + 1 or 0
  self.fields = { "input", "attention_mask", "padding_mask" }
end

function TokenWindows:__len() return self.count end

function TokenWindows:__tostring()
  return string.format("TokenWindows: %d windows of %d tokens (stride %d) from %d tokens", self.count, self.window,
    self.stride, self.stream:numel())
end

--- Some windows.
-- @tparam Tensor idx int64 [B], 1-based
-- @treturn table `{input = int64 [B, window], attention_mask = float32 ones, padding_mask = uint8 zeros}`
function TokenWindows:batch(idx)
  check_idx("TokenWindows", idx, self.count)
  local b = idx:numel()
  local starts = (idx - 1) * self.stride + 1 -- 1-based stream positions
  local pos = starts:view(b, 1) + mg.arange(0, self.span):long():view(1, self.span)
  local input = self.stream:index_select(1, pos:view(-1)):view(b, self.span)
  if self.cls then input = mg.cat({ mg.full({ b, 1 }, self.cls_id):long(), input }, 2) end
  return { input = input, attention_mask = mg.ones(b, self.window), padding_mask = mg.zeros(b, self.window):byte() }
end

return M
