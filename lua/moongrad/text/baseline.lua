--- The floor under every text table: a linear model (multinomial
-- logistic regression) on hashed word and word-pair counts with TF-IDF
-- weights, trained with moongrad's own ops through the engine.
--
-- The weights of a text are (1 + log count) * idf, scaled to unit L2 norm,
-- with idf = log((1 + N) / (1 + df)) + 1 over the N training texts; the
-- logits are the sum over the text's bins of weight * W[bin], plus b; the
-- loss is the mean cross-entropy plus l2 / 2 * |W|^2 with l2 = 1 / (C * N),
-- scikit-learn's LogisticRegression(C) objective divided by N.
-- @module moongrad.text.baseline
-- @usage local baseline = mg.text.baseline
-- local train = baseline.NgramDataset(mg.data.imdb{split = "train"})
-- local test = baseline.NgramDataset(mg.data.imdb{split = "test"}, nil, {idf = train.idf})
-- local model = baseline.fit(train, 2, {C = 100})
-- print(baseline.accuracy(model, test))
local mg = require "moongrad"
local class = require "moongrad.class"
local options = require "moongrad.options"
local nn = mg.nn

local M = {}

-- ---- features -----------------------------------------------------------------

--- Texts as hashed word and word-pair counts (mg.text_ngrams) with their
-- TF-IDF weights, under the dataset protocol. Fields: ids, counts, offsets
-- (the bins in compressed rows), idf (float32 [buckets]), tfidf, labels,
-- buckets.
-- @type NgramDataset
local NgramDataset = class("text.NgramDataset")
M.NgramDataset = NgramDataset

--- baseline.NgramDataset(texts [, labels [, opts]]): a new dataset.
-- @tparam {string,...}|TextDataset texts a list of strings, or a text dataset
--   whose labels are used when labels is nil
-- @tparam[opt] Tensor labels int64 [N], 1-based
-- @tparam[opt] table opts `{buckets = 2^20, ngrams = 2, idf = nil}`; idf: the
--   training set's (float32 [buckets]), computed from these texts when nil
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

--- Some samples, padded to the batch's largest count of bins.
-- @tparam Tensor idx int64 [B], 1-based
-- @treturn table `{ids = int64 [B, L] (1-based bins), weights = float32 [B, L]
--   (unit L2 norm per row, 0 on padding), labels = int64 [B]}`
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

--- The linear model over hashed bins: weight [buckets, classes] and bias
-- [classes], zeros at the start. forward(ids [B, L], weights [B, L]) ->
-- logits [B, classes].
-- @type HashedLinear
local HashedLinear = nn.Module:extend("text.HashedLinear")
M.HashedLinear = HashedLinear

--- baseline.HashedLinear(buckets, classes): a new model.
-- @int buckets hash bins (the NgramDataset's)
-- @int classes number of classes
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

--- Trains a HashedLinear: Adam on the mean cross-entropy plus the L2
-- penalty, the learning rate falling linearly to 0, through
-- mg.train.Trainer.
-- @tparam NgramDataset train with labels
-- @int classes number of classes
-- @tparam[opt] table opts `{C = 1, epochs = 8, lr = 0.05, batch_size = 256, seed = 1,
--   progress = false, out = nil}`
-- @treturn HashedLinear
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

--- Picks C on held-out training texts: fits on the first (1 - holdout)
-- of the texts (idf from them) and scores on the rest; ties go to the
-- smaller C (more regularization).
-- @tparam {string,...} texts
-- @tparam Tensor labels int64 [N], 1-based
-- @int classes number of classes
-- @tparam[opt] table opts `{candidates = {1, 10, 100}, holdout = 0.1, buckets, ngrams,
--   epochs, lr, batch_size, seed}`
-- @treturn number the best C
-- @treturn table validation accuracy by C
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

--- The fraction of a dataset's texts whose largest logit is the label.
-- @tparam HashedLinear model
-- @tparam NgramDataset ds with labels
-- @int[opt=512] batch_size
-- @treturn number
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
