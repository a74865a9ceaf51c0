-- Workload 5a: reconstruction as self-supervision, with autoencoders.
--   ae       the seed autoencoder 784 -> 32 (ReLU) -> 784 (Sigmoid), BCE
--   denoise  the same network fed images with Gaussian noise (std --noise,
--            clipped to [0, 1]) and scored against the clean images
--   vae      a small convolutional VAE: BCE summed over pixels + KL term,
--            reparameterised sampling; pictures of samples from the prior
-- No label is used to train them. Then: are the codes useful? A linear
-- probe on each frozen encoder (the 32-d code; mu for the VAE) with 100,
-- 1,000 and all labels, next to a probe on the raw pixels.
--
--   bin/moongrad examples/autoencoder.lua --data mnist --epochs 50 --vae-epochs 20
local mg = require "moongrad"
local recon = require "moongrad.recon"
local viz, train, F = mg.viz, mg.train, mg.nn.functional

local opts = mg.cli.parse(arg, mg.cli.common("autoencoder",
  "Autoencoder, denoising autoencoder and convolutional VAE; linear probes on their codes",
  { epochs = 50, batch_size = 256 }, {
    { "model", "all", "which model to train", choices = { "ae", "denoise", "vae", "all" } },
    { "lr", 1e-3, "Adam learning rate" },
    { "noise", 0.3, "denoising: std of the Gaussian noise added to the inputs (then clipped to [0, 1])" },
    { "latent", 16, "VAE: latent dimensions" },
    { "vae-epochs", 0, "VAE: training epochs (0: same as --epochs)" },
    { "probe", true, "linear probes on the encoders' features" },
    { "labels", "100,1000,all", "label counts for the probes (comma-separated; all = every label)" },
    { "probe-steps", 0, "Adam steps per probe (0: scale with the label count, as in rotnet)" },
    { "test-limit", 0, "use only the first N test images (0: all)" },
  }))

local started = mg.cli.start(opts)

local train_ds, test_ds = mg.cli.datasets(opts)
local n_test = #test_ds.labels

local kinds = opts.model == "all" and { "ae", "denoise", "vae" } or { opts.model }
local noise = recon.denoise_noise(opts.noise)
local log = train.MetricsLog(opts.out .. "/metrics.jsonl", { append = false })

-- The noisy test images are drawn once, from their own seed, so every
-- epoch (and every run with the same seed) scores the same inputs.
local noisy_test = mg.with_rng_state(opts.seed + 7919, noise, test_ds.images)

-- Per model: how to build it, its training loss on a clean batch, and its
-- test figures (mean BCE per pixel against the clean image, and more).
local spec = {
  ae = {
    title = "autoencoder",
    build = function() return mg.models.Autoencoder(784, 32) end,
    loss = function(m, x) return F.binary_cross_entropy(m(x), x) end,
    test = function(m)
      local bce = recon.batched(test_ds.images, function(x) return F.binary_cross_entropy(m(x), x):item() * #x end)
      return { test_bce = bce / n_test, test_loss = bce / n_test }
    end,
    trunk = function(m) return m.encoder end,
  },
  denoise = {
    title = "denoising autoencoder",
    build = function() return mg.models.Autoencoder(784, 32) end,
    loss = function(m, x) return F.binary_cross_entropy(m(noise(x)), x) end,
    test = function(m)
      local bce = recon.batched(noisy_test, function(xn, s)
        local x = test_ds.images:narrow(1, s, #xn)
        return F.binary_cross_entropy(m(xn), x):item() * #x
      end)
      local clean = recon.batched(test_ds.images, function(x) return F.binary_cross_entropy(m(x), x):item() * #x end)
      local floor = recon.batched(noisy_test, function(xn, s)
        return F.binary_cross_entropy(xn:clamp(1e-3, 1 - 1e-3), test_ds.images:narrow(1, s, #xn)):item() * #xn
      end)
      return { test_bce = bce / n_test, test_loss = bce / n_test, test_bce_clean_input = clean / n_test,
               test_bce_noisy_identity = floor / n_test }
    end,
    trunk = function(m) return m.encoder end,
  },
  vae = {
    title = "convolutional VAE",
    build = function() return mg.models.ConvVAE(opts.latent) end,
    loss = function(m, x)
      local r, mu, logvar = m(x)
      return recon.vae_loss(r, x, mu, logvar)
    end,
    -- test figures in eval mode: z = mu for the reconstruction term
    test = function(m)
      local sums = { loss = 0, bce = 0, kl = 0 }
      recon.batched(test_ds.images, function(x)
        local r, mu, logvar = m(x)
        local l, b, k = recon.vae_loss(r, x, mu, logvar)
        sums.loss, sums.bce, sums.kl = sums.loss + l:item() * #x, sums.bce + b:item() * #x, sums.kl + k:item() * #x
        return 0
      end)
      return { test_loss = sums.loss / n_test, test_bce = sums.bce / n_test / 784,
               test_bce_sum = sums.bce / n_test, test_kl = sums.kl / n_test }
    end,
    trunk = function(m) return m:mu_encoder() end,
  },
}

local label_counts = {}
for item in opts.labels:gmatch("[^,]+") do
  label_counts[#label_counts + 1] = item == "all" and "all" or math.tointeger(tonumber(item))
end
local function run_probe(name, trunk)
  return recon.probe(trunk, train_ds, test_ds, {
    labels = label_counts, seed = opts.seed,
    steps = opts.probe_steps > 0 and function() return opts.probe_steps end or nil,
    on_row = function(row)
      io.stderr:write(string.format("probe %-8s labels %6d: test accuracy %.4f\n", name, row.labels, row.probe))
      log:write { phase = "probe", model = name, labels = row.labels, probe = row.probe }
    end,
  })
end

local results, pictures = {}, {}
local sample = test_ds.images:narrow(1, 1, math.min(10, n_test))

for _, kind in ipairs(kinds) do
  local s = spec[kind]
  local t0 = mg.clock()
  local model = s.build()
  local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr })
  local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true })
  local epochs = (kind == "vae" and opts.vae_epochs > 0) and opts.vae_epochs or opts.epochs
  local steps_x, steps_y, epoch_x, test_y, last = {}, {}, {}, {}, nil
  local history = train.Trainer {
    model = model, optimizer = opt, epochs = epochs, log = log, tags = { phase = "train", model = kind },
    desc = kind .. " epoch", unit = "img",
    evaluate = function(_, epoch)
      last = mg.nn.utils.eval_mode(model, s.test, model) -- s.test runs without a graph
      epoch_x[#epoch_x + 1], test_y[#test_y + 1] = epoch, last.test_loss
      return last
    end,
  }:run(loader, function(batch, ctx)
    local loss = ctx:optimize((s.loss(model, batch.images)))
    local l = loss:item()
    steps_x[#steps_x + 1] = ctx.epoch - 1 + ctx.batch / #loader
    steps_y[#steps_y + 1] = l
    return { train_loss = l, n = #batch.images }
  end)
  if last then last.train_loss = history[#history].train_loss end
  local train_seconds = mg.clock() - t0
  mg.save(opts.out .. "/" .. kind .. ".safetensors", model:state_dict())

  -- Pictures: ten test images above their reconstructions (the denoiser
  -- shows its noisy input too), the VAE's samples from the prior, and the
  -- loss curves.
  model:eval()
  local rows
  if kind == "denoise" then
    local xn = noisy_test:narrow(1, 1, #sample)
    rows = { { label = "noisy", images = xn },
             { label = "denoised", images = mg.no_grad(function() return model(xn) end) },
             { label = "original", images = sample } }
  else
    local r = mg.no_grad(function() return (model(sample)) end)
    rows = { { label = "test", images = sample },
             { label = kind == "vae" and "recon (z = mu)" or "recon", images = r } }
  end
  local pics = {}
  pics[#pics + 1] = viz.image_rows(rows, opts.out .. "/recon_" .. kind .. ".png",
    { scale = 2, title = s.title .. ": test images and reconstructions" })
  if kind == "vae" then
    pics[#pics + 1] = viz.image_grid(model:sample(64), opts.out .. "/vae_samples.png",
      { nrow = 8, scale = 2, title = "VAE: decoded z ~ N(0, I)" })
  end
  pics[#pics + 1] = viz.plot({ { name = "train (per step)", x = steps_x, y = steps_y },
                               { name = "test (per epoch)", x = epoch_x, y = test_y } },
    opts.out .. "/loss_" .. kind .. ".png",
    { title = s.title, xlabel = "epoch", ylabel = kind == "vae" and "BCE (sum) + KL per image" or "BCE per pixel" })
  for _, p in ipairs(pics) do pictures[#pictures + 1] = p end

  local r = { epochs = epochs, train_seconds = train_seconds }
  for k, v in pairs(last or s.test(model)) do r[k] = v end
  if opts.probe then
    local p0 = mg.clock()
    r.probe = run_probe(kind, s.trunk(model))
    r.probe_seconds = mg.clock() - p0
  end
  results[kind] = r
end

local pixels
if opts.probe then pixels = run_probe("pixels", mg.nn.Flatten()) end
log:close()

-- Summary table.
print(string.format("\nReconstruction on %s (%s set, %d train / %d test images)", train_ds.name, train_ds.source,
  #train_ds.labels, n_test))
local head = string.format("%-9s %6s %10s %10s", "model", "epochs", "test BCE", "seconds")
if opts.probe then
  for _, n in ipairs(label_counts) do head = head .. string.format(" %11s", "probe " .. tostring(n)) end
end
print(head)
local function probe_cells(rows)
  local out = ""
  for _, row in ipairs(rows or {}) do out = out .. string.format(" %11.4f", row.probe) end
  return out
end
for _, kind in ipairs(kinds) do
  local r = results[kind]
  print(string.format("%-9s %6d %10.4f %10.1f", kind, r.epochs, r.test_bce, r.train_seconds) .. probe_cells(r.probe))
end
if pixels then print(string.format("%-9s %6s %10s %10s", "pixels", "-", "-", "-") .. probe_cells(pixels)) end
if results.denoise then
  print(string.format("denoise: test BCE %.4f from noisy inputs (the noisy image itself scores %.4f), "
    .. "%.4f from clean inputs", results.denoise.test_bce, results.denoise.test_bce_noisy_identity,
    results.denoise.test_bce_clean_input))
end
if results.vae then
  print(string.format("vae: test loss %.2f per image = BCE %.2f + KL %.2f (eval mode, z = mu)",
    results.vae.test_loss, results.vae.test_bce_sum, results.vae.test_kl))
end
print("pictures: " .. table.concat(pictures, ", "))

mg.cli.result {
  example = "autoencoder", data = opts.data, source = train_ds.source, train_images = #train_ds.labels,
  test_images = n_test, batch_size = opts.batch_size, lr = opts.lr, noise = opts.noise, latent = opts.latent,
  models = results, probe_pixels = pixels, seconds = mg.clock() - started, pictures = pictures,
}
