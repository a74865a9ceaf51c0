-- The floor under the text tables: logistic regression on hashed word and
-- word-pair counts with TF-IDF weights (mg.text.baseline), trained with
-- moongrad's ops through the engine. Every text model should beat it.
--
--   bin/moongrad examples/text_baseline.lua --data imdb            (all 25,000 labels)
--   bin/moongrad examples/text_baseline.lua --data imdb --labels 1000
--   bin/moongrad examples/text_baseline.lua --data spam
--   bin/moongrad examples/text_baseline.lua --data wordnet
local mg = require "moongrad"
local baseline = mg.text.baseline

local opts = mg.cli.parse(arg, {
  description = "TF-IDF logistic regression on hashed words and word pairs (the floor of the text tables)",
  { "data", "imdb", "text set", choices = { "imdb", "spam", "wordnet" } },
  { "source", "auto", "full set, bundled sample, or auto (full when fetched)", choices = { "auto", "full", "sample" } },
  { "labels", 0, "train on the first N labelled texts of the training file (0: all)" },
  { "epochs", 10, "passes over the training texts" },
  { "C", 0.0, "inverse L2 strength, as scikit-learn's LogisticRegression(C); 0: the best of 1, 10, 100 "
    .. "on the last 10% of the training texts" },
  { "lr", 0.05, "Adam learning rate (falls linearly to 0)" },
  { "buckets", 1048576, "hash bins for words and word pairs" },
  { "batch-size", 256, "batch size" },
  { "seed", 1, "random seed (shuffling)" },
  { "threads", 0, "threads (0: all cores)" },
  { "out", "out/text_baseline", "folder for metrics" },
})
local started = mg.cli.start(opts)

local load = { split = "train", source = opts.source, limit = opts.labels > 0 and opts.labels or nil }
local train_set = mg.data[opts.data](load)
local test_set = mg.data[opts.data]{ split = "test", source = opts.source }
local C, scores = opts.C, nil
if C <= 0 then
  C, scores = baseline.select_C(train_set.texts, train_set.labels, #train_set.classes, {
    buckets = opts.buckets, epochs = opts.epochs, lr = opts.lr, batch_size = opts.batch_size, seed = opts.seed })
  io.stderr:write(string.format("C on the held-out 10%% of train: 1 -> %.4f, 10 -> %.4f, 100 -> %.4f; using %g\n",
    scores[1], scores[10], scores[100], C))
end
local train = baseline.NgramDataset(train_set, nil, { buckets = opts.buckets })
local test = baseline.NgramDataset(test_set, nil, { buckets = opts.buckets, idf = train.idf })

local model = baseline.fit(train, #train_set.classes, {
  C = C, epochs = opts.epochs, lr = opts.lr, batch_size = opts.batch_size, seed = opts.seed,
  progress = true, out = opts.out,
})
local train_acc, test_acc = baseline.accuracy(model, train), baseline.accuracy(model, test)
io.stderr:write(string.format("%s (%s): %d train texts, train accuracy %.4f, test accuracy %.4f on %d texts\n",
  opts.data, train_set.source, #train, train_acc, test_acc, #test))
mg.cli.result({
  example = "text_baseline", data = opts.data, source = train_set.source, train_texts = #train,
  test_texts = #test, classes = #train_set.classes, C = C, epochs = opts.epochs, buckets = opts.buckets,
  validation = scores and { C1 = scores[1], C10 = scores[10], C100 = scores[100] } or nil,
  train_acc = train_acc, test_acc = test_acc, seconds = mg.clock() - started,
})
