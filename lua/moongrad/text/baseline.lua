-- mg.text.baseline: the floor under every text table. A linear model
-- (multinomial logistic regression) on hashed word and word-pair counts
-- with TF-IDF weights, trained with moongrad's own ops through the engine:
--   weights of a text = (1 + log count) * idf, scaled to unit L2 norm,
--   idf = log((1 + N) / (1 + df)) + 1 over the N training texts,
--   logits = sum over the text's bins of weight * W[bin] + b,
--   loss = cross-entropy + l2 / 2 * |W|^2 (l2 = 1 / (C * N), the
--   scikit-learn LogisticRegression(C) objective divided by N).
--
--   local train = baseline.NgramDataset(texts, labels)
--   local test = baseline.NgramDataset(test_texts, test_labels, {idf = train.idf})
--   local model = baseline.fit(train, #classes, {epochs = 8})
--   print(baseline.accuracy(model, test))
local mg = require "moongrad"
local class = require "moongrad.class"
local options = require "moongrad.options"
local nn = mg.nn

local M = {}

-- ---- features -----------------------------------------------------------------

local NgramDataset = class("text.NgramDataset")
M.NgramDataset = NgramDataset

--- NgramDataset(texts, labels, {buckets = 2^20, ngrams = 2, idf = nil}):
-- texts a list of strings (or a text dataset, whose labels are used when
-- labels is nil), labels int64 [N] (1-based) or nil. idf: the training
-- set's (a float32 [buckets] Tensor); computed from these texts when nil.
-- batch(idx) -> {ids = int64 [B, L] (1-based bins), weights = float32
-- [B, L] (unit L2 norm per row, 0 on padding), labels}.
function NgramDataset:init(texts, labels, opts)
  local who = "NgramDataset"
  if type(texts) == "table" and type(texts.texts) == "table" then
    labels = labels or texts.labels
    texts = texts.texts
  end
  if type(texts) ~= "table" then
    error(who .. ": expects a list of strings or a text dataset, got " .. type(texts), 3)
  end
  opts = options.check(who, opts, { "buckets", "ngrams", "idf" }, 4)
  self.buckets = opts.buckets or 2 ^ 20 // 1
  self.ids, self.counts, self.offsets = mg.text_ngrams(texts, { buckets = self.buckets, ngrams = opts.ngrams or 2 })
  self.n = #texts
  if labels ~= nil and (not mg.is_tensor(labels) or labels:numel() ~= self.n) then
    error(string.format("%s: labels must be an int64 Tensor [%d]", who, self.n), 3)
  end
  self.labels = labels
  if opts.idf ~= nil then
    if not mg.is_tensor(opts.idf) or opts.idf:numel() ~= self.buckets then
      error(string.format("%s: idf must be a float32 Tensor [%d] (the training set's)", who, self.buckets), 3)
    end
    self.idf = opts.idf
  else -- each text's bins are distinct, so counting bins counts texts
    local df = self.ids:bincount(nil, self.buckets):float()
    self.idf = (mg.div(self.n + 1, df + 1)):log() + 1
  end
  self.tfidf = (self.counts:log() + 1) * self.idf:index_select(1, self.ids)
  self.fields = labels and { "ids", "weights", "labels" } or { "ids", "weights" }
end

function NgramDataset:__len() return self.n end

function NgramDataset:batch(idx)
  local b = idx:numel()
  local starts = self.offsets:index_select(1, idx)
  local lens = self.offsets:index_select(1, idx + 1) - starts
  local width = math.max(1, b > 0 and lens:max():item() or 1)
  local steps = mg.arange(0, width):long():view(1, width)
  local valid = mg.lt(steps:float(), lens:float():view(b, 1))
  local last = math.max(self.ids:numel(), 1)
  local pos = mg.minimum(starts:view(b, 1) + steps + 1, mg.full({ 1 }, last):long()):view(-1)
  local ids, w
  if self.ids:numel() > 0 then
    ids = self.ids:index_select(1, pos):view(b, width)
    w = self.tfidf:index_select(1, pos):view(b, width) * valid
  else
    ids, w = mg.ones(b, width):long(), mg.zeros(b, width)
  end
  local norm = (w * w):sum(2, true):sqrt() + 1e-12
  local out = { ids = ids, weights = w / norm }
  if self.labels then out.labels = self.labels:index_select(1, idx) end
  return out
end

-- ---- the model ------------------------------------------------------------------

local HashedLinear = nn.Module:extend("text.HashedLinear")
M.HashedLinear = HashedLinear

--- HashedLinear(buckets, classes): weight [buckets, classes] and bias
-- [classes], zeros. forward(ids [B, L], weights [B, L]) -> logits [B, classes].
function HashedLinear:init(buckets, classes)
  nn.Module.init(self)
  self.weight = nn.Module.Parameter(mg.zeros(buckets, classes))
  self.bias = nn.Module.Parameter(mg.zeros(classes))
end

function HashedLinear:forward(ids, weights)
  local rows = mg.embedding(ids, self.weight)                      -- [B, L, C]
  local b, l = ids:size(1), ids:size(2)
  return mg.matmul(weights:view(b, 1, l), rows):view(b, -1) + self.bias
end

function HashedLinear:extra_repr() return self.weight:size(1) .. " bins -> " .. self.weight:size(2) end

-- ---- training and evaluation -----------------------------------------------------

--- fit(train, classes, {C = 1, epochs = 8, lr = 0.05, batch_size = 256,
-- seed = 1, progress = false, out = nil}) -> model: Adam on the mean
-- cross-entropy plus the L2 penalty, the learning rate falling linearly
-- to 0, through mg.train.Trainer.
function M.fit(train, classes, opts)
  opts = options.check("baseline.fit", opts, { "C", "epochs", "lr", "batch_size", "seed", "progress", "out" })
  local model = HashedLinear(train.buckets, classes)
  local l2 = 1 / ((opts.C or 1) * #train)
  local epochs = opts.epochs or 8
  -- the L2 penalty's gradient l2 * W, added by the optimizer (the bias is not penalized)
  local opt = mg.optim.Adam({ { params = { model.weight }, weight_decay = l2 }, { params = { model.bias } } },
    { lr = opts.lr or 0.05 })
  local loader = mg.data.DataLoader(train,
    { batch_size = opts.batch_size or 256, shuffle = true, seed = opts.seed or 1 })
  local total = epochs * #loader
  local sched = mg.optim.lr_scheduler.LambdaLR(opt, function(step) return 1 - step / total end)
  mg.train.Trainer{
    model = model, optimizer = opt, scheduler = sched, scheduler_step = "batch", epochs = epochs,
    progress = opts.progress or false, desc = "tf-idf", unit = "text", out = opts.out,
  }:run(loader, function(batch, ctx)
    local logits = model(batch.ids, batch.weights)
    local loss = mg.cross_entropy(logits, batch.labels)
    ctx:optimize(loss)
    return { loss = loss, n = batch.ids:size(1) }
  end)
  return model
end

--- select_C(texts, labels, classes, {candidates = {1, 10, 100},
-- holdout = 0.1, buckets, ngrams, fit options...}) -> best C, {C -> validation
-- accuracy}: fits on the first (1 - holdout) of the texts (idf from them)
-- and scores on the rest; ties go to the smaller C (more regularization).
function M.select_C(texts, labels, classes, opts)
  opts = opts or {}
  local n = #texts
  local n_fit = math.floor(n * (1 - (opts.holdout or 0.1)))
  if n_fit < 1 or n_fit >= n then error("baseline.select_C: too few texts to hold some out", 2) end
  local fit_texts, val_texts = table.move(texts, 1, n_fit, 1, {}), table.move(texts, n_fit + 1, n, 1, {})
  local feat = { buckets = opts.buckets, ngrams = opts.ngrams }
  local fit_ds = NgramDataset(fit_texts, labels:narrow(1, 1, n_fit), feat)
  feat.idf = fit_ds.idf
  local val_ds = NgramDataset(val_texts, labels:narrow(1, n_fit + 1, n - n_fit), feat)
  local best, scores = nil, {}
  for _, C in ipairs(opts.candidates or { 1, 10, 100 }) do
    local model = M.fit(fit_ds, classes, { C = C, epochs = opts.epochs, lr = opts.lr, batch_size = opts.batch_size,
      seed = opts.seed })
    scores[C] = M.accuracy(model, val_ds)
    if not best or scores[C] > scores[best] then best = C end
  end
  return best, scores
end

--- accuracy(model, ds [, batch_size = 512]) -> the fraction of ds's texts
-- whose largest logit is the label.
function M.accuracy(model, ds, batch_size)
  batch_size = batch_size or 512
  return mg.nn.utils.inference(model, function()
    local correct = 0
    for s = 1, #ds, batch_size do
      local idx = mg.arange(s, math.min(s + batch_size, #ds + 1)):long()
      local b = ds:batch(idx)
      correct = correct + model(b.ids, b.weights):argmax(2):eq(b.labels):sum():item()
    end
    return correct / #ds
  end)
end

return M
