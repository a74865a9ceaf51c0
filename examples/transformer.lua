-- Workload 6: a Transformer on real text, with masked-token pre-training.
--  1. A BPE tokenizer is trained on the training texts (or reused).
--  2. Masked-token pre-training on the unlabelled training text (BERT's
--     recipe: 15% of the tokens, 80% [MASK], 10% random, 10% kept; the
--     output layer is the token embedding) gives an encoder (or reuses it).
--  3. The pre-trained encoder and the same encoder from scratch are
--     fine-tuned as classifiers with a few labels and with all of them.
-- Pictures: attention maps of a few test texts, learning curves.
-- --data mnist|fashion classifies images as sequences of rows (or
-- patches) with the same encoder, against the seed CNN.
--
--   bin/moongrad examples/transformer.lua --data imdb     the full experiment
--   bin/moongrad examples/transformer.lua --smoke         the bundled sample, quick
--   bin/moongrad examples/transformer.lua --data mnist    images as sequences of rows
local mg = require "moongrad"
local viz, train = mg.viz, mg.train

-- --smoke changes the defaults: the bundled sample and a small model, a
-- minute rather than an hour (options given on the command line still win).
local smoke = false
for _, a in ipairs(arg) do if a == "--smoke" then smoke = true end end
local D = smoke and {
  source = "sample", seq = 64, vocab = 1000, d_model = 32, heads = 2, layers = 2, ff = 64, pretrain_epochs = 2,
  epochs = 2, few_epochs = 3, labels = "100,all", batch_size = 16, maps = 2, out = "out/transformer-smoke",
} or {
  source = "auto", seq = 256, vocab = 8192, d_model = 128, heads = 4, layers = 4, ff = 512, pretrain_epochs = 4,
  epochs = 3, few_epochs = 20, labels = "1000,all", batch_size = 32, maps = 3, out = "out/transformer",
}
local spec = mg.cli.common("transformer", "A Transformer on text: masked-token pre-training, then fine-tuning",
  { data = "imdb", epochs = D.epochs, batch_size = D.batch_size, out = D.out }, {
    { "smoke", false, "a quick run on the bundled sample with a small model" },
    { "source", D.source, "text and image files: auto, full or sample", choices = { "auto", "full", "sample" } },
    { "labels", D.labels, "label counts to fine-tune with (comma-separated; all = every label)" },
    { "few-epochs", D.few_epochs, "fine-tuning epochs for a label count below all" },
    { "pretrain-epochs", D.pretrain_epochs, "masked-token pre-training epochs (0: no pre-training)" },
    { "pretrain-steps", 0, "stop pre-training after this many steps (0: run the epochs)" },
    -- short pre-training underfits: no dropout and a high peak rate learnt
    -- the most in 1,000 steps (held-out masked-token accuracy 0.111 against
    -- 0.079 at 1e-3 and 0.09 after 1,500 steps at 5e-4 with dropout)
    { "pretrain-lr", 2e-3, "peak learning rate of pre-training (AdamW)" },
    { "pretrain-dropout", 0.0, "dropout while pre-training (-1: --dropout)" },
    { "lr", 3e-4, "peak learning rate of fine-tuning the pre-trained encoder" },
    { "scratch-lr", 3e-4, "peak learning rate of training from scratch" },
    { "warmup", 0.06, "fraction of each run's steps of linear warm-up (then cosine decay)" },
    { "weight-decay", 0.01, "AdamW weight decay" },
    { "scratch", true, "also train the same classifier from scratch" },
    { "reuse", true, "reuse the tokenizer and pre-trained encoder saved in --out by an earlier run" },
    { "resume", false, "resume interrupted training from the engine's checkpoints" },
    { "seq", D.seq, "tokens per sequence ([CLS] and [SEP] included)" },
    { "vocab", D.vocab, "tokenizer vocabulary size" },
    { "d-model", D.d_model, "model width" }, { "heads", D.heads, "attention heads" },
    { "layers", D.layers, "encoder layers" }, { "ff", D.ff, "feed-forward width" }, { "dropout", 0.1, "dropout" },
    { "norm-first", true, "pre-norm layers (false: post-norm)" },
    -- without it masked-token pre-training on IMDB stayed a bag of words
    -- (no head attended to a neighbour after 2,500 steps; see models.TextEncoder)
    { "alibi", true, "add ALiBi's distance bias to the attention scores (learned positions as well)" },
    { "pool", "cls", "classifier input: the [CLS] position or the mean", choices = { "cls", "mean" } },
    { "image-tokens", "rows", "images as sequences of rows or of 4x4 patches", choices = { "rows", "patches" } },
    { "test-limit", 0, "test on N texts drawn at random, or the first N images (0: all)" },
    { "maps", D.maps, "attention maps of this many test texts" },
  })
for _, o in ipairs(spec) do
  if o[1] == "data" then
    o.choices, o[3] = { "imdb", "spam", "wordnet", "mnist", "fashion" }, "imdb, spam, wordnet, mnist or fashion"
  end
end
local opts = mg.cli.parse(arg, spec)
local started = mg.cli.start(opts)
local images = opts.data == "mnist" or opts.data == "fashion"
local out = opts.out .. "/" .. opts.data
mg.mkdir(out)
local log = train.MetricsLog(out .. "/metrics.jsonl", { append = opts.resume })
local pictures, curves = {}, {}

local function say(fmt, ...) io.stderr:write(string.format(fmt, ...), "\n") end

-- Label counts: numbers, or "all".
local counts = {}
for item in opts.labels:gmatch("[^,]+") do
  counts[#counts + 1] = item == "all" and "all" or math.tointeger(tonumber(item))
  if not counts[#counts] then error("--labels: expected numbers or all, got " .. item, 0) end
end

-- A dataset of the samples idx (a list of 1-based indices) of ds.
local function subset(ds, idx)
  local map = mg.tensor(idx, { dtype = "int64" })
  return setmetatable({ fields = ds.fields }, {
    __len = function() return #idx end,
    __index = { batch = function(_, i) return ds:batch(map:index_select(1, i)) end },
  })
end

-- The first n of a fixed random order of ds (the same subset for every model).
local function first_of_order(ds, n, seed)
  local order = mg.with_rng_state(seed, function() return mg.randperm(#ds) end):totable()
  local idx = {}
  for i = 1, math.min(n, #ds) do idx[i] = order[i] end
  return subset(ds, idx)
end

-- Mean per-step loss over windows of `every` steps (a readable curve).
local function smooth(xs, every)
  local means = {}
  for i = 1, #xs, every do
    local s, n = 0, 0
    for j = i, math.min(#xs, i + every - 1) do s, n = s + xs[j], n + 1 end
    means[#means + 1] = s / n
  end
  return means
end

-- AdamW with linear warm-up and cosine decay over `steps` batches.
local function optimizer(params, lr, steps)
  local opt = mg.optim.AdamW(params, { lr = lr, weight_decay = opts.weight_decay })
  local warm = math.max(1, math.floor(steps * opts.warmup))
  return opt, mg.optim.lr_scheduler.warmup_cosine(opt, { warmup_iters = warm, total_iters = math.max(steps, warm + 1) })
end

local function encoder_config(extra)
  local c = { max_len = opts.seq, d_model = opts.d_model, nhead = opts.heads, num_layers = opts.layers,
    dim_feedforward = opts.ff, dropout = opts.dropout, norm_first = opts.norm_first, alibi = opts.alibi }
  for k, v in pairs(extra) do c[k] = v end
  return c
end

-- Trains clf on loader for `epochs` with the given step input -> logits;
-- returns the per-step losses. tag names the phase in metrics and files.
local function fit(tag, clf, loader, epochs, lr, forward, evaluate)
  local opt, sched = optimizer(clf:parameters(), lr, epochs * #loader)
  local losses = {}
  train.Trainer {
    model = clf, optimizer = opt, scheduler = sched, scheduler_step = "batch", epochs = epochs, log = log,
    tags = { phase = tag }, desc = tag, unit = images and "img" or "seq", out = out .. "/" .. tag,
    checkpoint = true, resume = opts.resume, evaluate = evaluate,
  }:run(loader, function(batch, ctx)
    local logits = forward(batch)
    local loss = mg.cross_entropy(logits, batch.labels)
    ctx:optimize(loss, opt, { clip_grad_norm = 1.0 })
    local l = loss:item()
    losses[#losses + 1] = l
    return { train_loss = l, train_acc = { logits:detach():argmax(2):eq(batch.labels):sum(), #batch.labels },
      n = #batch.labels }
  end)
  return losses
end

local result = { example = "transformer", data = opts.data, seq = opts.seq, threads = mg.get_num_threads(),
  model = encoder_config {} }

if images then
  ---------------------------------------------------------------- images as sequences
  local train_ds, test_ds = mg.cli.datasets(opts, { source = opts.source })
  local patch = 4
  local input_dim = opts.image_tokens == "rows" and 28 or patch * patch
  local L = opts.image_tokens == "rows" and 28 or (28 // patch) ^ 2
  -- images [N, 1, 28, 28] -> tokens [N, L, input_dim]
  local function tokens(x)
    local n = x:size(1)
    if opts.image_tokens == "rows" then return x:reshape(n, 28, 28) end
    local g = 28 // patch
    return x:reshape(n, g, patch, g, patch):permute(1, 2, 4, 3, 5):reshape(n, g * g, patch * patch)
  end
  local function accuracy(model, fwd, ds)
    return mg.nn.utils.inference(model, function()
      local hits = 0
      for s = 1, #ds, 256 do
        local k = math.min(256, #ds - s + 1)
        hits = hits + fwd(ds.images:narrow(1, s, k)):argmax(2):eq(ds.labels:narrow(1, s, k)):sum():item()
      end
      return hits / #ds
    end)
  end
  local enc = mg.models.TextEncoder(encoder_config { input_dim = input_dim, max_len = L })
  local clf = mg.models.TransformerClassifier(enc, 10, { pool = "mean", dropout = opts.dropout })
  local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true, seed = opts.seed })
  local t0 = mg.clock()
  local fwd = function(x) return clf(tokens(x)) end
  curves.transformer = fit("transformer", clf, loader, opts.epochs, opts.scratch_lr,
    function(b) return fwd(b.images) end)
  local acc_t = accuracy(clf, fwd, test_ds)
  local secs_t = mg.clock() - t0
  say("transformer on %s (%d %s): test accuracy %.4f (%.0f s)", opts.image_tokens, L, "tokens", acc_t, secs_t)
  -- the seed CNN, the same epochs (Adam 1e-3, as the other workloads train it)
  local cnn = mg.models.classifier(10)
  local copt = mg.optim.Adam(cnn:parameters(), { lr = 1e-3 })
  t0 = mg.clock()
  local closses = {}
  train.Trainer { model = cnn, optimizer = copt, epochs = opts.epochs, log = log, tags = { phase = "seed_cnn" },
    desc = "seed CNN", unit = "img", out = out .. "/seed_cnn", checkpoint = true, resume = opts.resume }:run(loader,
    function(batch, ctx)
      local loss = mg.cross_entropy(cnn(batch.images), batch.labels)
      ctx:optimize(loss, copt)
      closses[#closses + 1] = loss:item()
      return { train_loss = loss, n = #batch.labels }
    end)
  curves.seed_cnn = closses
  local acc_c = accuracy(cnn, function(x) return cnn(x) end, test_ds)
  say("seed CNN: test accuracy %.4f (%.0f s)", acc_c, mg.clock() - t0)
  pictures[#pictures + 1] = viz.plot({
    { name = "Transformer (" .. opts.image_tokens .. ")", y = smooth(curves.transformer, 20) },
    { name = "seed CNN", y = smooth(curves.seed_cnn, 20) },
  }, out .. "/curves.png",
    { title = "Training loss on " .. train_ds.name, xlabel = "steps / 20", ylabel = "cross-entropy" })
  result.source, result.train_images, result.test_images = train_ds.source, #train_ds, #test_ds
  result.image_tokens, result.epochs = opts.image_tokens, opts.epochs
  result.transformer_acc, result.seed_cnn_acc, result.transformer_seconds = acc_t, acc_c, secs_t
  result.model = encoder_config { input_dim = input_dim, max_len = L }
  print(string.format("\n%s as sequences of %s: Transformer %.4f, seed CNN %.4f (%d epochs)", train_ds.name,
    opts.image_tokens, acc_t, acc_c, opts.epochs))
else
  ---------------------------------------------------------------- text
  local text = require "moongrad.text"
  local mlm = text.mlm
  local load = mg.data[opts.data]
  local train_texts = load { split = "train", source = opts.source, limit = opts.limit > 0 and opts.limit or nil }
  local test_texts = load { split = "test", source = opts.source }
  local classes = train_texts.classes
  local tag = string.format("%s-%s-v%d", opts.data, train_texts.source, opts.vocab)

  -- 1. the tokenizer
  local tok_path = out .. "/tokenizer-" .. tag .. ".json"
  local tok
  local f = opts.reuse and io.open(tok_path, "r")
  if f then
    f:close()
    tok = text.Tokenizer.load(tok_path)
    say("tokenizer: reusing %s", tok_path)
  else
    local t0 = mg.clock()
    tok = text.Tokenizer.train(train_texts, { vocab_size = opts.vocab })
    tok:save(tok_path)
    say("tokenizer: %d tokens learned from %d texts in %.1f s, saved to %s", tok.vocab_size, #train_texts,
      mg.clock() - t0, tok_path)
  end
  local t0 = mg.clock()
  local train_tok = mg.data.TokenizedDataset(train_texts, tok, { max_length = opts.seq })
  local test_tok = mg.data.TokenizedDataset(test_texts, tok, { max_length = opts.seq })
  say("encoded %d + %d texts in %.1f s", #train_tok, #test_tok, mg.clock() - t0)
  local V = tok.vocab_size
  local specials = { tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id }
  local first_ordinary = 0
  for _, s in ipairs(specials) do first_ordinary = math.max(first_ordinary, s) end
  first_ordinary = first_ordinary + 1

  local function new_encoder(dropout)
    return mg.models.TextEncoder(encoder_config { vocab_size = V, dropout = dropout })
  end

  -- test accuracy on --test-limit texts drawn at random with a fixed seed
  -- (a file's head need not hold both classes), in batches of similar
  -- length (little padding), eval mode
  local picked = mg.with_rng_state(opts.seed + 29, mg.randperm, #test_tok)
  if opts.test_limit > 0 then picked = picked:narrow(1, 1, math.min(opts.test_limit, #test_tok)) end
  local order = picked:index_select(1, test_tok.lengths:index_select(1, picked):argsort()):totable()
  local function accuracy(clf)
    return mg.nn.utils.inference(clf, function()
      local hits = 0
      for s = 1, #order, 64 do
        local idx = {}
        for i = s, math.min(#order, s + 63) do idx[#idx + 1] = order[i] end
        local b = test_tok:batch(mg.tensor(idx, { dtype = "int64" }))
        hits = hits + clf(b.input, { padding_mask = b.padding_mask }):argmax(2):eq(b.labels):sum():item()
      end
      return hits / #order
    end)
  end

  -- 2. masked-token pre-training
  local enc_path = out .. string.format("/encoder-%s-s%d-d%d-l%d%s.safetensors", tag, opts.seq, opts.d_model,
    opts.layers, opts.alibi and "-alibi" or "")
  local pretrained
  -- held-out windows of the test texts: masked-token accuracy per epoch
  local held_ids
  if opts.pretrain_epochs > 0 then
    local held = mg.data.TokenWindows(test_texts, tok, { window = opts.seq })
    held_ids = held:batch(mg.arange(1, math.min(#held, 256) + 1)).input
  end
  -- Whether the encoder reads word order: the largest share of its weight
  -- any head of any layer gives to the two tokens beside each query, over
  -- 16 held-out windows (2/L when attention ignores positions).
  local function neighbour_attention(enc)
    local ids = held_ids:narrow(1, 1, math.min(16, held_ids:size(1)))
    local L = ids:size(2)
    local near = (mg.arange(1, L + 1):view(L, 1) - mg.arange(1, L + 1):view(1, L)):abs():eq(1):float()
    local _, weights = mg.nn.utils.inference(enc, function() return enc:attention_weights(ids) end)
    local most = 0
    for _, w in ipairs(weights) do most = math.max(most, (w * near):sum(4):mean(3):mean(1):max():item()) end
    return most
  end
  f = opts.reuse and opts.pretrain_epochs > 0 and io.open(enc_path, "r")
  if f then
    f:close()
    pretrained = mg.load(enc_path)
    local enc = new_encoder()
    enc:load_state_dict(pretrained)
    result.neighbour_attention = neighbour_attention(enc)
    say("pre-trained encoder: reusing %s (neighbour attention %.3f)", enc_path, result.neighbour_attention)
  elseif opts.pretrain_epochs > 0 then
    local windows = mg.data.TokenWindows(train_texts, tok, { window = opts.seq })
    local enc = new_encoder(opts.pretrain_dropout >= 0 and opts.pretrain_dropout or nil)
    local model = mg.models.MaskedLM(enc)
    local loader = mg.data.DataLoader(windows, { batch_size = opts.batch_size, shuffle = true, seed = opts.seed })
    local steps = opts.pretrain_epochs * #loader
    if opts.pretrain_steps > 0 then steps = math.min(steps, opts.pretrain_steps) end
    local opt, sched = optimizer(model:parameters(), opts.pretrain_lr, steps)
    local mask_opts = { mask_id = tok.mask_id, special_ids = specials, random_range = { first_ordinary, V } }
    local losses = {}
    t0 = mg.clock()
    local history = train.Trainer {
      model = model, optimizer = opt, scheduler = sched, scheduler_step = "batch", epochs = opts.pretrain_epochs,
      max_steps = opts.pretrain_steps > 0 and opts.pretrain_steps or nil, log = log, tags = { phase = "pretrain" },
      desc = "pre-train", unit = "masked", out = out .. "/pretrain",
      checkpoint = true, resume = opts.resume,
      evaluate = function()
        return mg.nn.utils.inference(model, function()
          local inputs, pos, targets = mg.with_rng_state(opts.seed, mlm.mask_tokens, held_ids, mask_opts)
          local logits = model(inputs, pos)
          return { held_loss = mg.cross_entropy(logits, targets):item(),
            held_acc = logits:argmax(2):eq(targets):float():mean():item(),
            neighbour_attention = neighbour_attention(enc) }
        end)
      end,
    }:run(loader, function(batch, ctx)
      local inputs, pos, targets = mlm.mask_tokens(batch.input, mask_opts)
      local logits = model(inputs, pos)
      local loss = mg.cross_entropy(logits, targets)
      ctx:optimize(loss, opt, { clip_grad_norm = 1.0 })
      local l = loss:item()
      losses[#losses + 1] = l
      return { mlm_loss = l, mlm_acc = { logits:detach():argmax(2):eq(targets):sum(), pos:numel() }, n = pos:numel() }
    end)
    pretrained = enc:state_dict()
    mg.save(enc_path, pretrained)
    local last = history[#history]
    result.pretrain = { epochs = opts.pretrain_epochs, steps = steps, windows = #windows, seconds = mg.clock() - t0,
      held_loss = last.held_loss, held_acc = last.held_acc }
    result.neighbour_attention = last.neighbour_attention
    curves.pretrain = losses
    say("pre-training: %d steps of %d windows in %.0f s; held-out masked-token accuracy %.3f, neighbour attention "
      .. "%.3f, saved to %s", steps, opts.batch_size, result.pretrain.seconds, last.held_acc, last.neighbour_attention,
      enc_path)
  end

  -- 3. fine-tuning with few and all labels, pre-trained and from scratch
  local rows, best = {}, nil
  for _, count in ipairs(counts) do
    local n = count == "all" and #train_tok or count
    local ds = count == "all" and train_tok or first_of_order(train_tok, n, opts.seed + 17)
    local epochs = count == "all" and opts.epochs or opts.few_epochs
    local row = { labels = n }
    for _, init in ipairs({ "pretrained", "scratch" }) do
      if (init == "pretrained" and pretrained) or (init == "scratch" and opts.scratch) then
        local enc = new_encoder()
        if init == "pretrained" then enc:load_state_dict(pretrained) end
        local clf = mg.models.TransformerClassifier(enc, #classes, { pool = opts.pool, dropout = opts.dropout })
        local loader = mg.data.DataLoader(ds, { batch_size = opts.batch_size, shuffle = true, seed = opts.seed })
        local name = string.format("%s_%d", init, n)
        t0 = mg.clock()
        curves[name] = fit(name, clf, loader, epochs, init == "pretrained" and opts.lr or opts.scratch_lr,
          function(b) return clf(b.input, { padding_mask = b.padding_mask }) end)
        row[init] = accuracy(clf)
        row[init .. "_seconds"] = mg.clock() - t0
        log:write { phase = "test", init = init, labels = n, test_acc = row[init] }
        say("%-10s %6d labels: test accuracy %.4f (%.0f s)", init, n, row[init], row[init .. "_seconds"])
        if count == "all" or not best then best = { clf = clf, name = name } end
      end
    end
    rows[#rows + 1] = row
  end
  result.source, result.train_texts, result.test_texts = train_texts.source, #train_tok, #order
  result.vocab, result.classes, result.results = V, classes, rows

  -- attention maps of the shortest test texts (whole, at most 40 tokens):
  -- the last layer, heads averaged, of the last model fine-tuned
  if best and opts.maps > 0 then
    local clf = best.clf
    local shown = 0
    for _, i in ipairs(order) do
      if shown >= opts.maps then break end
      local len = test_tok.lengths[i]:item()
      if len >= 6 then
        local b = test_tok:batch(mg.tensor({ i }, { dtype = "int64" }))
        local ids = b.input:narrow(2, 1, math.min(len, 40))
        local pred, weights = mg.nn.utils.inference(clf, function()
          local _, w = clf.encoder:attention_weights(ids)
          return clf(ids):argmax(2):item(), w
        end)
        local w = weights[#weights]:select(1, 1):mean(1) -- [L, L]
        local labels = {}
        for k, id in ipairs(ids:view(-1):totable()) do labels[k] = tok:id_to_token(id) end
        shown = shown + 1
        pictures[#pictures + 1] = viz.heatmap(w, string.format("%s/attention_%d.png", out, shown), {
          row_labels = labels, col_labels = labels, cell = 12, range = { 0, w:max():item() },
          -- short: the picture is as wide as the text's tokens
          title = string.format("label %s, predicted %s", classes[b.labels[1]:item()], classes[pred]),
        })
      end
    end
  end

  -- the learning curves
  local series = {}
  for _, name in ipairs({ "pretrain" }) do
    if curves[name] then series[#series + 1] = { name = "masked-token loss", y = smooth(curves[name], 20) } end
  end
  if #series > 0 then
    pictures[#pictures + 1] = viz.plot(series, out .. "/pretrain_loss.png",
      { title = "Masked-token pre-training on " .. opts.data, xlabel = "steps / 20", ylabel = "cross-entropy" })
  end
  local fine = {}
  local names = {}
  for name in pairs(curves) do if name ~= "pretrain" then names[#names + 1] = name end end
  table.sort(names)
  for _, name in ipairs(names) do
    fine[#fine + 1] = { name = name:gsub("_", " ") .. " labels", y = smooth(curves[name], 10) }
  end
  if #fine > 0 then
    pictures[#pictures + 1] = viz.plot(fine, out .. "/finetune_loss.png",
      { title = "Fine-tuning on " .. opts.data, xlabel = "steps / 10", ylabel = "cross-entropy" })
  end

  print(string.format("\n%s (%s set: %d train, %d test texts), %d-token sequences, vocabulary %d", opts.data,
    train_texts.source, #train_tok, #order, opts.seq, V))
  print(string.format("%8s  %12s  %12s", "labels", "pre-trained", "from scratch"))
  for _, row in ipairs(rows) do
    print(string.format("%8d  %12s  %12s", row.labels, row.pretrained and string.format("%.4f", row.pretrained) or "-",
      row.scratch and string.format("%.4f", row.scratch) or "-"))
  end
end

log:close()
if #pictures > 0 then print("pictures: " .. table.concat(pictures, ", ")) end
result.seconds = mg.clock() - started
result.pictures = pictures
mg.cli.result(result)
