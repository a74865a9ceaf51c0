-- Workload: adversarial training of a text classifier on its word
-- embeddings (Miyato et al. 2017; FreeLB, Zhu et al. 2020), and the
-- robustness of the result measured two ways.
-- A Transformer (or a mean of embeddings, --model bag) over BPE tokens of
-- IMDB reviews, its token embeddings normalised by their frequencies as
-- Miyato et al. do, is trained
--   normal   on clean reviews;
--   random   clean + reviews whose embeddings carry Gaussian noise of norm
--            --eps per review (the paper's control);
--   fgm      clean + the adversarial perturbation r = eps g / ||g||_2;
--   freelb   K ascent steps on a perturbation in the eps ball, the
--            parameters' gradients accumulated, one optimizer step;
--   vat      clean + virtual adversarial (no labels) (optional).
-- Each model is evaluated on clean test reviews, under PGD on the
-- embeddings (L2 ball per review, several radii) and under a WordNet
-- synonym-substitution attack (greedy swaps, at most --syn-budget of the
-- words) whose before/after texts are printed.
--
--   bin/moongrad examples/adversarial_text.lua --epochs 3 --limit 10000
--   bin/moongrad examples/adversarial_text.lua --model bag --epochs 5
local mg = require "moongrad"
local attack, train, E = mg.attack, mg.train, mg.attack.embedding

local spec = mg.cli.common("adversarial_text",
  "Adversarial training on word embeddings (random noise, FGM, FreeLB) and text attacks " ..
  "(embedding PGD, WordNet synonyms)",
  { epochs = 3, batch_size = 32 }, {
    { "model", "transformer", "classifier: transformer, or bag (mean of embeddings, linear)",
      choices = { "transformer", "bag" } },
    { "methods", "normal,random,fgm,freelb", "training methods (comma-separated: normal, random, fgm, freelb, vat)" },
    { "eps", 1.0, "norm per review of the training perturbation (Miyato et al. used 5 with 256-d embeddings of " ..
      "400-token reviews and an LSTM; 5 stops these smaller models from learning)" },
    { "freelb-steps", 3, "FreeLB ascent steps K" },
    { "freelb-alpha", 0.0, "FreeLB step size (0: eps / 2)" },
    { "lr", 1e-3, "Adam learning rate" },
    { "vocab-size", 8192, "BPE vocabulary size (trained on the training reviews)" },
    { "max-length", 256, "tokens per review (longer ones keep their head and tail)" },
    { "d-model", 64, "embedding and model width" },
    { "layers", 2, "Transformer layers" },
    { "heads", 4, "attention heads" },
    { "ff", 128, "feed-forward width" },
    { "dropout", 0.1, "dropout" },
    { "test-limit", 0, "use only N test reviews (a fixed random choice) for clean accuracy (0: all)" },
    { "pgd-eps", "1,2,5,10", "radii of the embedding PGD, comma-separated" },
    { "pgd-steps", 10, "steps of the embedding PGD (step 2.5 eps / steps)" },
    { "eval-limit", 1000, "embedding PGD on the first N of the (shuffled) test reviews" },
    { "syn-limit", 200, "synonym attack on the first N of the (shuffled) test reviews (0: skip it)" },
    { "syn-budget", 0.1, "largest share of a review's words the synonym attack may change" },
    { "syn-candidates", 20, "synonyms tried per word" },
    { "syn-senses", 1, "WordNet senses a word's synonyms come from: its N most frequent (0: all)" },
    { "examples", 3, "before/after examples of the synonym attack to print" },
    { "wordnet", "/usr/share/wordnet", "folder of WordNet's data.* files (Debian wordnet-base)" },
  })
spec[1] = { "data", "imdb", "text set", choices = { "imdb", "spam" } }
local opts = mg.cli.parse(arg, spec)

local METHOD_INFO = {
  normal = "normal training", random = "random noise (control)", fgm = "FGM (Miyato et al.)",
  freelb = "FreeLB", vat = "virtual adversarial",
}
local methods = {}
for m in opts.methods:gmatch("[^,%s]+") do
  if not METHOD_INFO[m] then error("--methods: unknown method '" .. m .. "' (normal, random, fgm, freelb, vat)", 0) end
  methods[#methods + 1] = m
end
if #methods == 0 then error("--methods: give at least one method", 0) end
local pgd_eps = {}
for item in opts.pgd_eps:gmatch("[^,%s]+") do
  local v = tonumber(item)
  if not v or v <= 0 then error("--pgd-eps: expected numbers > 0, got '" .. item .. "'", 0) end
  pgd_eps[#pgd_eps + 1] = v
end

local started = mg.cli.start(opts)

-- ---- data ---------------------------------------------------------------------------

-- The first `limit` reviews of a fixed random order (seed 1, whatever
-- --seed is): the files are not shuffled throughout (IMDB's test file
-- starts with a run of positive reviews), so the first N would be biased.
local function subset(split, limit)
  local ds = mg.data[opts.data] { split = split }
  local n = #ds.texts
  local k = limit > 0 and math.min(limit, n) or n
  local order = mg.with_rng_state(1, mg.randperm, n):narrow(1, 1, k)
  local texts = {}
  for i, j in ipairs(order:totable()) do texts[i] = ds.texts[j] end
  local out = mg.data.TextDataset { texts = texts, labels = ds.labels:index_select(1, order), classes = ds.classes,
    name = ds.name }
  out.split, out.source = split, ds.source
  return out
end
local train_texts = subset("train", opts.limit)
local test_texts = subset("test", opts.test_limit)
local t0 = mg.clock()
local tok = mg.text.Tokenizer.train(train_texts, { vocab_size = opts.vocab_size })
tok:save(opts.out .. "/tokenizer.json")
local tokenizer_seconds = mg.clock() - t0
local train_ds = mg.data.TokenizedDataset(train_texts, tok, { max_length = opts.max_length })
local test_ds = mg.data.TokenizedDataset(test_texts, tok, { max_length = opts.max_length })
local classes = train_texts.classes
local V = tok.vocab_size

-- token frequencies of the training reviews (padding left out) for the
-- normalised embeddings
local frequencies = mg.no_grad(function()
  local counts = train_ds.input_ids:reshape(-1):bincount(nil, V):float()
  local pad = mg.one_hot(mg.tensor({ tok.pad_id }, { dtype = "int64" }), V):reshape(-1)
  return counts * (1 - pad)
end)

local function new_model()
  if opts.model == "bag" then
    return mg.models.BagClassifier { vocab_size = V, dim = opts.d_model, classes = #classes,
      frequencies = frequencies, dropout = opts.dropout }
  end
  local enc = mg.models.TextEncoder { vocab_size = V, max_len = opts.max_length, d_model = opts.d_model,
    nhead = opts.heads, num_layers = opts.layers, dim_feedforward = opts.ff, dropout = opts.dropout,
    token_frequencies = frequencies }
  return mg.models.TransformerClassifier(enc, #classes, { pool = "mean", dropout = opts.dropout })
end

local test_loader = mg.data.DataLoader(test_ds, { batch_size = 100 })
local log = train.MetricsLog(opts.out .. "/metrics.jsonl")

local function clean_accuracy(model, loader)
  local right, n = 0, 0
  mg.nn.utils.inference(model, function()
    for batch in loader:batches() do
      local logits = model(batch.input, { padding_mask = batch.padding_mask })
      right = right + logits:argmax(2):eq(batch.labels):sum():item()
      n = n + batch.labels:size(1)
    end
  end)
  return n > 0 and right / n or 0
end

-- ---- training ------------------------------------------------------------------------

local function train_method(method)
  mg.manual_seed(opts.seed) -- the same weights and data order for every method
  local model = new_model()
  local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr })
  local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true })
  local t = mg.clock()
  train.Trainer {
    model = model, optimizer = opt, epochs = opts.epochs, log = log, tags = { phase = "train", method = method },
    desc = method .. " epoch", unit = "review",
    evaluate = function() return { test_acc = clean_accuracy(model, test_loader) } end,
  }:run(loader, function(batch, ctx)
    local ids, y, mask = batch.input, batch.labels, batch.padding_mask
    local loss, logits
    if method == "freelb" then
      loss, logits = E.freelb_step(model, opt, ids, y, { steps = opts.freelb_steps, eps = opts.eps,
        alpha = opts.freelb_alpha > 0 and opts.freelb_alpha or nil, padding_mask = mask, ctx = ctx })
    else
      loss, logits = E.training_loss(model, ids, y, { method = method, eps = opts.eps, padding_mask = mask })
      ctx:optimize(loss)
    end
    local n = y:size(1)
    return { train_loss = loss, train_acc = { logits:argmax(2):eq(y):sum(), n }, n = n }
  end)
  return model, mg.clock() - t
end

-- ---- evaluation ------------------------------------------------------------------------

local eval_n = math.min(opts.eval_limit, #test_ds)
local syn_n = math.min(opts.syn_limit, #test_ds)

-- Accuracy under embedding PGD at each radius on the first eval_n reviews.
local function pgd_accuracy(model)
  local out = {}
  local loader = mg.data.DataLoader(test_ds, { batch_size = 50 })
  for i, eps in ipairs(pgd_eps) do
    local right, n = 0, 0
    for batch in loader:batches() do
      if n >= eval_n then break end
      local k = math.min(batch.labels:size(1), eval_n - n)
      local ids, y = batch.input:narrow(1, 1, k), batch.labels:narrow(1, 1, k)
      local r = E.accuracy(model, ids, y, { eps = eps, steps = opts.pgd_steps,
        padding_mask = batch.padding_mask:narrow(1, 1, k) })
      right, n = right + r, n + k
    end
    out[i] = n > 0 and right / n or 0
  end
  return out
end

local synonyms
local function synonym_attack(model)
  synonyms = synonyms or attack.synonym.load_wordnet { dir = opts.wordnet,
    senses = opts.syn_senses > 0 and opts.syn_senses or nil }
  local function predict(texts)
    local enc = tok:encode_batch(texts, { max_length = opts.max_length, padding = "longest" })
    local mask = mg.eq(enc.attention_mask, 0):byte()
    return mg.nn.utils.inference(model, function() return model(enc.input_ids, { padding_mask = mask }) end)
  end
  local texts = table.move(test_texts.texts, 1, syn_n, 1, {})
  local _, report = attack.synonym.attack(predict, texts, test_texts.labels:narrow(1, 1, syn_n), {
    synonyms = synonyms, budget = opts.syn_budget, max_candidates = opts.syn_candidates, examples = opts.examples })
  report.changed, report.words = nil, nil -- per-review lists: kept out of the JSON line
  return report
end

local function shorten(text, limit)
  if #text <= limit then return text end
  return text:sub(1, limit) .. " ..."
end

-- ---- run -------------------------------------------------------------------------------

local results = {}
for _, method in ipairs(methods) do
  local model, train_seconds = train_method(method)
  mg.save(string.format("%s/%s.safetensors", opts.out, method), model:state_dict())
  local t = mg.clock()
  local row = { method = method, clean = clean_accuracy(model, test_loader), train_seconds = train_seconds }
  row.pgd = pgd_accuracy(model)
  if syn_n > 0 then row.synonym = synonym_attack(model) end
  row.eval_seconds = mg.clock() - t
  results[#results + 1] = row
  log:write { phase = "evaluation", method = method, clean = row.clean, pgd = row.pgd, pgd_eps = pgd_eps,
    synonym_accuracy = row.synonym and row.synonym.accuracy_after }
  io.stderr:write(string.format("%s: clean %.4f, embedding PGD at eps %g: %.4f (train %.0f s, attacks %.0f s)\n",
    method, row.clean, pgd_eps[#pgd_eps], row.pgd[#row.pgd], train_seconds, row.eval_seconds))
end
log:close()

local series = {}
for _, r in ipairs(results) do
  local xs, ys = { 0 }, { r.clean }
  for i, e in ipairs(pgd_eps) do xs[#xs + 1], ys[#ys + 1] = e, r.pgd[i] end
  series[#series + 1] = { name = r.method, x = xs, y = ys }
end
local curve = mg.viz.plot(series, opts.out .. "/accuracy_vs_eps.png", {
  title = string.format("%s (%s): accuracy under embedding PGD-%d", opts.data, opts.model, opts.pgd_steps),
  xlabel = "eps (L2 per review, normalised embeddings)", ylabel = "accuracy", ymin = 0, ymax = 1 })

print(string.format("\nAdversarial training on %s word embeddings (%s, %d train reviews, %d epochs, vocabulary %d, " ..
  "%d tokens); training eps %g%s", opts.data, opts.model, #train_ds, opts.epochs, V, opts.max_length, opts.eps,
  (function() for _, m in ipairs(methods) do if m == "freelb" then return ", FreeLB K " .. opts.freelb_steps end end
    return "" end)()))
print(string.format("Clean accuracy on %d test reviews; embedding PGD-%d on the first %d; synonym attack on the " ..
  "first %d (at most %g%% of the words)", #test_ds, opts.pgd_steps, eval_n, syn_n, opts.syn_budget * 100))
local head = { string.format("%-8s %7s", "method", "clean") }
for _, e in ipairs(pgd_eps) do head[#head + 1] = string.format("%8s", "PGD " .. e) end
if syn_n > 0 then head[#head + 1] = string.format("%9s %8s %7s %8s", "synonym", "success", "words", "queries") end
print(table.concat(head, " "))
for _, r in ipairs(results) do
  local cells = { string.format("%-8s %7.4f", r.method, r.clean) }
  for i = 1, #pgd_eps do cells[#cells + 1] = string.format("%8.4f", r.pgd[i]) end
  local s = r.synonym
  if s then
    cells[#cells + 1] = string.format("%9.4f %8.4f %7.1f %8.0f", s.accuracy_after, s.success_rate, s.words_changed,
      s.queries)
  end
  print(table.concat(cells, " "))
end
for _, r in ipairs(results) do
  if r.synonym and #r.synonym.examples > 0 then
    print(string.format("\nSynonym attack on the %s model, reviews it got right and then wrong:", r.method))
    for k, ex in ipairs(r.synonym.examples) do
      local swaps = {}
      for _, sw in ipairs(ex.swaps) do swaps[#swaps + 1] = sw[1] .. " -> " .. sw[2] end
      print(string.format("%d. %s -> %s; swaps: %s", k, classes[ex.label], classes[ex.predicted_after],
        table.concat(swaps, ", ")))
      print("   before: " .. shorten(ex.before, 300))
      print("   after:  " .. shorten(ex.after, 300))
    end
    break -- the first model's examples
  end
end
print("pictures: " .. curve)

mg.cli.result({
  example = "adversarial_text", data = opts.data, model = opts.model, train_reviews = #train_ds,
  test_reviews = #test_ds, source = train_texts.source, epochs = opts.epochs, batch_size = opts.batch_size,
  eps = opts.eps, freelb_steps = opts.freelb_steps, vocab_size = V, max_length = opts.max_length,
  d_model = opts.d_model, layers = opts.layers, pgd_eps = pgd_eps, pgd_steps = opts.pgd_steps,
  eval_reviews = eval_n, synonym_reviews = syn_n, synonym_budget = opts.syn_budget, synonym_senses = opts.syn_senses,
  tokenizer_seconds = tokenizer_seconds, methods = results, seconds = mg.clock() - started, pictures = { curve },
})
