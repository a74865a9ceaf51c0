-- Workload 3: generative adversarial networks on 28x28 images.
-- Three generator/discriminator pairs: the seed MLP GAN (--model mlp), the
-- seed BatchNorm GAN (--model bn) and a DCGAN with transposed convolutions
-- (--model dcgan, the default: it is the one that gives clean digits and
-- clothes in few epochs). Each step trains D on a real and a generated
-- batch, then G through D with D's parameters frozen (requires_grad off,
-- not a copy), with the non-saturating generator loss unless --loss
-- saturating.
--
-- What it writes: a grid of samples from fixed noise every epoch
-- (samples_epoch_NNN.png), the D and G loss curves (losses.png) and the
-- classes of generated images (coverage.png). What it measures, with a
-- small CNN classifier trained on the same data's labels (trained once,
-- cached): the Frechet distance between generated and training images in
-- that classifier's 128-d feature space (a classifier-feature Frechet
-- distance, NOT Inception FID; its floor is the distance between held-out
-- and training images, printed beside it), the classes the classifier sees
-- in the samples (mode collapse shows as missing classes) and the
-- Inception-score formula computed with that classifier.
--
--   bin/moongrad examples/gan.lua --data fashion --epochs 10
--   bin/moongrad examples/gan.lua --model bn --data fashion --epochs 50
local mg = require "moongrad"
local gan, viz, train = mg.gan, mg.viz, mg.train

local spec = mg.cli.common("gan",
  "GANs on 28x28 images: seed MLP GAN, seed BatchNorm GAN, DCGAN; samples, losses, Frechet distance, coverage",
  { epochs = 0, batch_size = 0 }, {
    { "model", "dcgan", "mlp (seed MLP GAN), bn (seed BatchNorm GAN) or dcgan", choices = { "mlp", "bn", "dcgan" } },
    { "loss", "non-saturating", "generator loss", choices = { "non-saturating", "saturating" } },
    { "noise-dim", 100, "noise dimensions" },
    { "lr", 0.0, "Adam learning rate for G and D (0: the model's: mlp 2e-4, bn 1e-4, dcgan 2e-4)" },
    { "width", 32, "DCGAN channels: G 2w -> w -> 1, D w -> 2w" },
    { "sample-every", 1, "write the fixed-noise sample grid every N epochs (and after the last)" },
    { "fid-samples", 10000, "images per set for the Frechet distance and the coverage (at most the set sizes)" },
    { "fid-every", 0, "also measure the Frechet distance every N epochs (0: only at the end)" },
    { "classifier", "",
      "feature classifier file (default OUT/classifier_DATA_SOURCE_N.safetensors; trained when missing)" },
    { "classifier-epochs", 0,
      "epochs to train the feature classifier (0: about 1,000 steps of batch 128, 2 to 20 epochs)" },
    { "test-limit", 0, "use only the first N test images (0: all)" },
  })
for _, o in ipairs(spec) do -- the model decides these unless given
  if o[1] == "epochs" then o[3] = "training epochs (0: the model's: mlp 50, bn 50, dcgan 20)" end
  if o[1] == "batch-size" then o[3] = "batch size (0: the model's: mlp 128, bn 256, dcgan 128)" end
end
local opts = mg.cli.parse(arg, spec)
for key, least in pairs({ sample_every = 1, fid_samples = 2, noise_dim = 1, width = 1, fid_every = 0,
  epochs = 0, batch_size = 0, classifier_epochs = 0, limit = 0, test_limit = 0 }) do
  if opts[key] < least then
    io.stderr:write(string.format("--%s: expected at least %d, got %s\n", (key:gsub("_", "-")), least,
      tostring(opts[key])))
    os.exit(2)
  end
end

local started = mg.cli.start(opts)

local train_ds, test_ds = mg.cli.datasets(opts)
local classes = train_ds.classes

local settings = gan.MODELS[opts.model]
local epochs = opts.epochs > 0 and opts.epochs or settings.epochs
local batch_size = math.min(opts.batch_size > 0 and opts.batch_size or settings.batch_size, #train_ds)
local g = gan.create(opts.model, {
  noise_dim = opts.noise_dim, loss = opts.loss, lr = opts.lr > 0 and opts.lr or nil, width = opts.width,
})
io.stderr:write(string.format("%s: %s on %s (%s set, %d train images), %d epochs of batch %d\n",
  opts.model, settings.description, train_ds.name, train_ds.source, #train_ds, epochs, batch_size))

-- The feature classifier: trained on the labels once, then loaded.
local t0 = mg.clock()
local classifier_path = opts.classifier ~= "" and opts.classifier or string.format("%s/classifier_%s_%s_%d.safetensors",
  opts.out, opts.data, train_ds.source, #train_ds)
local classifier_epochs = opts.classifier_epochs > 0 and opts.classifier_epochs
  or math.min(20, math.max(2, math.ceil(1000 / math.ceil(#train_ds / 128))))
local classifier, classifier_acc, how = gan.classifier_for(classifier_path, train_ds, test_ds, {
  epochs = classifier_epochs,
  on_epoch = function(e, loss)
    io.stderr:write(string.format("feature classifier epoch %d/%d: loss %.4f\n", e, classifier_epochs, loss))
  end,
})
local classifier_seconds = mg.clock() - t0
io.stderr:write(string.format("feature classifier %s (%s): test accuracy %.4f\n", how, classifier_path, classifier_acc))

local real_cache = {}
local function measure()
  return gan.evaluate(g, classifier, train_ds.images, test_ds.images,
    { samples = opts.fid_samples, seed = opts.seed, classes = #classes, cache = real_cache })
end

-- Training.
local log = train.MetricsLog(opts.out .. "/metrics.jsonl", { append = false })
local fixed = gan.fixed_noise(64, opts.noise_dim, opts.seed + 1000)
local loader = mg.data.DataLoader(train_ds, { batch_size = batch_size, shuffle = true, drop_last = true })
local d_losses, g_losses, grids, fd_curve = {}, {}, {}, {}
local train_seconds = 0
local history = train.Trainer {
  models = { G = g.G, D = g.D }, optimizers = { g = g.opt_g, d = g.opt_d }, epochs = epochs, log = log,
  tags = { phase = "train" }, desc = opts.model .. " epoch", unit = "img",
  evaluate = function(_, epoch)
    local record = {}
    if epoch % opts.sample_every == 0 or epoch == epochs then
      local path = string.format("%s/samples_epoch_%03d.png", opts.out, epoch)
      grids[#grids + 1] = viz.image_grid(g:sample(fixed), path, {
        nrow = 8, scale = 2, range = g.range,
        title = string.format("%s, %s, epoch %d", settings.name, train_ds.name, epoch) })
    end
    if opts.fid_every > 0 and epoch % opts.fid_every == 0 and epoch < epochs then
      local ev = measure()
      record.classifier_feature_frechet_distance = ev.frechet
      record.classes_covered = ev.coverage.covered
      fd_curve[#fd_curve + 1] = { epoch = epoch, fd = ev.frechet }
      io.stderr:write(string.format("epoch %d: classifier-feature Frechet distance %.3f (held-out real %.3f), "
        .. "%d/%d classes covered\n", epoch, ev.frechet, ev.frechet_real, ev.coverage.covered, #classes))
    end
    return record
  end,
}:run(loader, function(batch, ctx)
  local r = g:step(g:to_range(batch.images), ctx)
  d_losses[#d_losses + 1], g_losses[#g_losses + 1] = r.d_loss, r.g_loss
  return r -- d_loss, g_loss, d_real = D(x), d_fake = D(G(z)): means per step
end)
for _, rec in ipairs(history) do train_seconds = train_seconds + rec.epoch_time end
local final = history[#history] or {}
local last = { d_loss = final.d_loss, g_loss = final.g_loss, d_real = final.d_real, d_fake = final.d_fake }

local weights = opts.out .. "/generator.safetensors"
mg.save(weights, g.G:state_dict(), { model = opts.model, data = opts.data, noise_dim = tostring(opts.noise_dim) })
mg.save(opts.out .. "/discriminator.safetensors", g.D:state_dict(), { model = opts.model, data = opts.data })

-- Measurements.
local t_eval = mg.clock()
local ev = measure()
fd_curve[#fd_curve + 1] = { epoch = epochs, fd = ev.frechet }
local eval_seconds = mg.clock() - t_eval
log:write { phase = "evaluation", epoch = epochs, samples = ev.samples,
  classifier_feature_frechet_distance = ev.frechet, real_floor = ev.frechet_real,
  coverage = ev.coverage.counts, classes_covered = ev.coverage.covered, kl_uniform = ev.coverage.kl_uniform,
  classifier_score = ev.score }
log:close()

-- Pictures: loss curves (averaged over blocks of steps) and coverage.
local function blocks(values)
  local k = math.max(1, math.ceil(#values / 400))
  local per_epoch = #values / epochs
  local xs, ys = {}, {}
  for s = 1, #values, k do
    local sum, n = 0, 0
    for i = s, math.min(#values, s + k - 1) do sum, n = sum + values[i], n + 1 end
    xs[#xs + 1] = (s - 1 + n / 2) / per_epoch
    ys[#ys + 1] = sum / n
  end
  return xs, ys
end
local dx, dy = blocks(d_losses)
local gx, gy = blocks(g_losses)
local losses_png = viz.plot(
  { { name = "D loss", x = dx, y = dy }, { name = "G loss (" .. opts.loss .. ")", x = gx, y = gy } },
  opts.out .. "/losses.png", { title = string.format("%s on %s", settings.name, train_ds.name),
    xlabel = "epoch", ylabel = "binary cross-entropy" })

local cov = ev.coverage
local min_fraction = 0.25 / #classes
local colors = {}
for k = 1, #classes do colors[k] = cov.fractions[k] < min_fraction and "red" or viz.palette[1] end
local real_lo, real_hi = math.huge, -math.huge
for _, f in ipairs(ev.coverage_real.fractions) do real_lo, real_hi = math.min(real_lo, f), math.max(real_hi, f) end
local coverage_png = viz.bar(cov.fractions, opts.out .. "/coverage.png", {
  labels = classes, colors = colors, ylabel = "fraction of samples",
  title = string.format("Classes of %d generated images: %d/%d covered (held-out real: %.1f-%.1f%% each)",
    ev.samples, cov.covered, #classes, 100 * real_lo, 100 * real_hi),
})
local pictures = { grids[#grids], losses_png, coverage_png }

-- The table.
local seconds = mg.clock() - started
print(string.format("\n%s on %s (%s set, %d train images), %d epochs, batch %d, %s loss: %.0f s",
  settings.name, train_ds.name, train_ds.source, #train_ds, epochs, batch_size, opts.loss, seconds))
print(string.format("last epoch: D loss %.4f  G loss %.4f  D(x) %.3f  D(G(z)) %.3f",
  last.d_loss or 0, last.g_loss or 0, last.d_real or 0, last.d_fake or 0))
print(string.format("feature classifier: test accuracy %.4f (%s)", classifier_acc, how))
print(string.format("%-44s %10s %14s", string.format("N = %d images per set", ev.samples), "generated",
  "held-out real"))
print(string.format("%-44s %10.3f %14.3f", "classifier-feature Frechet distance to train", ev.frechet, ev.frechet_real))
print(string.format("%-44s %10.3f %14.3f", "classifier score (Inception-score formula)", ev.score, ev.score_real))
print(string.format("%-44s %7d/%-2d %11d/%-2d",
  string.format("classes covered (>= %.1f%% of samples)", 100 * min_fraction),
  cov.covered, #classes, ev.coverage_real.covered, #classes))
print(string.format("%-44s %10.4f %14.4f", "KL(class histogram || uniform), nats", cov.kl_uniform,
  ev.coverage_real.kl_uniform))
for k = 1, #classes do
  print(string.format("  %-42s %9.1f%% %13.1f%%", classes[k], 100 * cov.fractions[k],
    100 * ev.coverage_real.fractions[k]))
end
print("(not Inception FID: distances in the feature space of a CNN trained on " .. train_ds.name .. "'s labels)")
print("pictures: " .. table.concat(pictures, ", "))

local result = {
  example = "gan", model = opts.model, data = opts.data, source = train_ds.source, train_images = #train_ds,
  epochs = epochs, batch_size = batch_size, loss = opts.loss, noise_dim = opts.noise_dim,
  d_loss = last.d_loss, g_loss = last.g_loss, d_real = last.d_real, d_fake = last.d_fake,
  classifier_feature_frechet_distance = ev.frechet,
  classifier_feature_frechet_distance_real = ev.frechet_real,
  frechet = {
    metric = "classifier-feature Frechet distance: 128-d penultimate features of a CNN trained on "
      .. train_ds.name .. " labels; not Inception FID",
    generated_vs_train = ev.frechet, heldout_real_vs_train = ev.frechet_real,
    mean_term = ev.frechet_mean, cov_term = ev.frechet_cov, samples = ev.samples,
    curve = fd_curve,
  },
  classifier_test_acc = classifier_acc,
  coverage = { counts = cov.counts, covered = cov.covered, kl_uniform = cov.kl_uniform,
    real_counts = ev.coverage_real.counts, real_covered = ev.coverage_real.covered,
    real_kl_uniform = ev.coverage_real.kl_uniform, min_fraction = min_fraction },
  classifier_score = ev.score, classifier_score_real = ev.score_real,
  train_seconds = train_seconds, classifier_seconds = classifier_seconds, eval_seconds = eval_seconds,
  seconds = seconds, pictures = pictures, sample_grids = #grids, generator = weights,
}
mg.cli.result(result)
