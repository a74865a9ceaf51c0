-- Joint-embedding pretext tasks: two random views of every training image
-- (crop, small rotation and shift, brightness and contrast; blur and
-- cutout on request: mg.data.transforms.contrastive) and an encoder
-- trained so that the two views of an image agree. SimCLR contrasts them against the other images
-- of the batch (NT-Xent); Barlow Twins and BYOL use no negatives. A
-- k-nearest-neighbour monitor follows the features during pre-training
-- (labels only read to report it), then the rotation example's evaluation:
-- a linear probe and a fine-tune with 100, 1,000 and all labels, against
-- the same network trained from scratch.
--
--   bin/moongrad examples/contrastive.lua --data fashion --method simclr --epochs 20
local mg = require "moongrad"
local ssl, viz, train = mg.ssl, mg.viz, mg.train

local opts = mg.cli.parse(arg, mg.cli.common("contrastive",
  "SimCLR, Barlow Twins or BYOL pre-training, then linear probe / fine-tune / scratch on few labels",
  { epochs = 20, batch_size = 512 }, {
    { "method", "simclr", "pretext task", choices = { "simclr", "barlow", "byol" } },
    { "lr", 1e-3, "Adam learning rate of the pre-training (cosine decay after a one-epoch warm-up)" },
    { "weight-decay", 1e-5, "Adam weight decay of the pre-training" },
    { "temperature", 0.2, "NT-Xent temperature (simclr)" },
    { "blur", 0.0, "probability of a Gaussian blur per view (0: none)" },
    { "cutout", 0.0, "probability of a cutout per view (0: none)" },
    { "lambda", 5e-3, "weight of the off-diagonal terms (barlow)" },
    { "momentum", 0.99, "starting momentum of the target network (byol)" },
    { "proj-dim", 0, "projection size (0: 128 for simclr and byol, 1024 for barlow)" },
    { "hidden", 0, "projection head's hidden width (0: 512 for simclr and byol, 1024 for barlow)" },
    { "knn-bank", 5000, "training images (with labels) in the k-NN monitor's bank" },
    { "knn-queries", 1000, "test images the k-NN monitor classifies" },
    { "knn-k", 20, "neighbours of the k-NN monitor" },
    { "labels", "100,1000,all", "label counts for the evaluation (comma-separated; all = every label)" },
    { "eval-steps", 0, "optimizer steps per evaluation run (0: scale with the label count)" },
    { "test-limit", 0, "use only the first N test images (0: all)" },
    { "resume", false, "continue an interrupted pre-training from its checkpoint in --out" },
  }))

local started = mg.cli.start(opts)
local train_ds, test_ds = mg.cli.datasets(opts)
local augment = mg.data.transforms.contrastive {
  blur = opts.blur > 0 and { p = opts.blur } or false, cutout = opts.cutout > 0 and { p = opts.cutout } or false }

-- The encoder is the seed convolutional trunk, as in the rotation example.
local function make_trunk() return mg.models.conv_trunk(1) end
local trunk, features = make_trunk()
local proj = opts.proj_dim > 0 and opts.proj_dim or nil
local hidden = opts.hidden > 0 and opts.hidden or nil
local method
if opts.method == "simclr" then
  method = ssl.SimCLR(trunk, features, { temperature = opts.temperature, proj_dim = proj, hidden = hidden })
elseif opts.method == "barlow" then
  method = ssl.BarlowTwins(trunk, features, { lambda = opts.lambda, proj_dim = proj, hidden = hidden })
else
  method = ssl.BYOL(make_trunk, features, { momentum = opts.momentum, proj_dim = proj, hidden = hidden })
end

local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true, seed = opts.seed,
  drop_last = #train_ds >= 2 * opts.batch_size })
local total_steps = math.max(2, #loader * opts.epochs)
local opt = mg.optim.Adam(method:trainable_parameters(), { lr = opts.lr, weight_decay = opts.weight_decay })
local sched = mg.optim.lr_scheduler.warmup_cosine(opt, {
  warmup_iters = math.max(1, math.min(#loader, total_steps - 1)), total_iters = total_steps })
local log = train.MetricsLog(opts.out .. "/metrics.jsonl", { append = opts.resume })

-- The k-NN monitor: a fixed labelled bank from the training set and test
-- queries, both encoded by the current trunk.
local bank_n = math.min(opts.knn_bank, #train_ds)
local query_n = math.min(opts.knn_queries, #test_ds)
local function knn_monitor()
  local bank = ssl.features(method.trunk, train_ds.images:narrow(1, 1, bank_n))
  local queries = ssl.features(method.trunk, test_ds.images:narrow(1, 1, query_n))
  return ssl.knn_accuracy(bank, train_ds.labels:narrow(1, 1, bank_n), queries, test_ds.labels:narrow(1, 1, query_n),
    { k = opts.knn_k, classes = 10 })
end

local losses, knn = {}, { knn_monitor() }
io.stderr:write(string.format("k-NN monitor before pre-training: %.4f\n", knn[1]))
local augment_time, step_time = 0, 0
local trainer = train.Trainer {
  models = { [opts.method] = method }, optimizer = opt, scheduler = sched, scheduler_step = "batch",
  epochs = opts.epochs, log = log, tags = { phase = "pretext" }, desc = opts.method, unit = "img",
  out = opts.out, checkpoint = true, resume = opts.resume,
  evaluate = function()
    knn[#knn + 1] = knn_monitor()
    return { knn_acc = knn[#knn] }
  end,
}
trainer:run(loader, function(batch, ctx)
  local t0 = mg.clock()
  local v1, v2 = augment(batch.images), augment(batch.images)
  local t1 = mg.clock()
  local loss = ctx:optimize(method:loss(v1, v2))
  method:after_step(ctx.step / total_steps)
  local l = loss:item()
  augment_time, step_time = augment_time + (t1 - t0), step_time + (mg.clock() - t1)
  losses[#losses + 1] = l
  return { loss = l, n = batch.images:size(1) }
end)
method:eval()
local pretext_time = mg.clock() - started
mg.save(opts.out .. "/" .. opts.method .. ".safetensors", method:state_dict())

-- Pictures: a batch and its two views (what the pretext task is asked to
-- match), the loss per step and the k-NN monitor per epoch.
local sample = test_ds.images:narrow(1, 1, math.min(8, #test_ds))
mg.manual_seed(opts.seed)
local rows = mg.cat({ sample, augment(sample), augment(sample) }, 1)
local captions = {}
for r, name in ipairs({ "image", "view 1", "view 2" }) do
  for i = 1, sample:size(1) do captions[(r - 1) * sample:size(1) + i] = i == 1 and name or "" end
end
local views = viz.image_grid(rows, opts.out .. "/views.png", { nrow = sample:size(1), scale = 3, captions = captions,
  title = "a batch (top) and its two random views" })
local curve = viz.plot({ { name = opts.method .. " loss (per step)", y = losses } }, opts.out .. "/pretext_loss.png",
  { title = opts.method .. " pre-training", xlabel = "step", ylabel = "loss" })
local knn_x = {}
for i = 1, #knn do knn_x[i] = i - 1 end
local knn_png = viz.plot({ { name = "k-NN accuracy", x = knn_x, y = knn } }, opts.out .. "/knn.png",
  { title = "k-NN monitor (" .. opts.knn_k .. " neighbours)", xlabel = "epoch", ylabel = "test accuracy" })

-- Evaluation of the features on the real classes.
local counts = ssl.label_counts(opts.labels)
local rows_eval = ssl.evaluate(make_trunk, method.trunk:state_dict(), train_ds, test_ds, {
  labels = counts, seed = opts.seed,
  steps = opts.eval_steps > 0 and function() return opts.eval_steps end or nil,
  on_row = ssl.report_row(log),
})
log:close()

print(string.format("\n%s on %s (%s set, %d train images, %d epochs): k-NN monitor %.4f -> %.4f",
  opts.method, train_ds.name, train_ds.source, #train_ds, opts.epochs, knn[1], knn[#knn]))
print(string.format("augmenting took %.1f%% of the pre-training steps' time (%.2f ms per batch of two views)",
  100 * augment_time / math.max(1e-9, augment_time + step_time), 1000 * augment_time / math.max(1, #losses)))
print(string.format("%8s  %12s  %10s  %12s", "labels", "linear probe", "fine-tune", "from scratch"))
for _, row in ipairs(rows_eval) do
  print(string.format("%8d  %12.4f  %10.4f  %12.4f", row.labels, row.probe, row.fine_tune, row.scratch))
end
print("pictures: " .. table.concat({ views, curve, knn_png }, ", "))

mg.cli.result {
  example = "contrastive", method = opts.method, data = opts.data, source = train_ds.source,
  train_images = #train_ds, epochs = opts.epochs, batch_size = opts.batch_size,
  final_loss = losses[#losses], knn_acc = knn, evaluation = rows_eval,
  augment_seconds = augment_time, step_seconds = step_time, steps = #losses,
  augment_fraction = augment_time / math.max(1e-9, augment_time + step_time),
  pretext_seconds = pretext_time, seconds = mg.clock() - started,
  pictures = { views, curve, knn_png },
}
