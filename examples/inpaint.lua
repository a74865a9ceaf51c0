-- Workload 5b: inpainting as self-supervision (predict one part of the
-- image from the rest). The centre block of every image (rows and columns
-- 10..19 counted from 0, i.e. 11..20 here) is zeroed, the input normalised
-- with mean 0.5, std 0.5, and the seed CNN (Conv 1->16, Conv 16->32, both
-- 3x3 unpadded, so 32*24*24 features into Linear 128, then Linear 784 +
-- Sigmoid) learns to give back the whole original image (MSE). Then: a
-- linear probe on its 128-d hidden layer with 100, 1,000 and all labels.
--
--   bin/moongrad examples/inpaint.lua --data mnist --epochs 10
local mg = require "moongrad"
local recon = require "moongrad.recon"
local viz, train = mg.viz, mg.train

local opts = mg.cli.parse(arg, mg.cli.common("inpaint",
  "Inpainting of the centre block with the seed CNN; linear probe on its hidden layer",
  { epochs = 10, batch_size = 64 }, {
    { "lr", 1e-3, "Adam learning rate" },
    { "probe", true, "linear probes on the 128-d hidden layer" },
    { "probe-input", "masked", "what the probed encoder sees: the masked image (as in training) or the whole image",
      choices = { "masked", "whole" } },
    { "labels", "100,1000,all", "label counts for the probes (comma-separated; all = every label)" },
    { "probe-steps", 0, "Adam steps per probe (0: scale with the label count, as in rotnet)" },
    { "test-limit", 0, "use only the first N test images (0: all)" },
  }))

local started = mg.cli.start(opts)

local train_ds, test_ds = mg.cli.datasets(opts)
local n_test = #test_ds.labels

local block = recon.ARTICLE_BLOCK
local hole = recon.block_mask(28, 28, block)  -- [1, 1, 28, 28], 1 in the hole
local mask = recon.mask_block(block)          -- images -> images with the hole zeroed
local prepare = recon.inpaint_input(block)    -- mask, then normalise to [-1, 1]

local model = mg.models.InpaintNet()
local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr })
local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true })
local log = train.MetricsLog(opts.out .. "/metrics.jsonl", { append = false })

-- Test figures: MSE over the whole image and over the hole only.
local function test_errors()
  return mg.nn.utils.inference(model, function()
    local full, inside = 0, 0
    recon.batched(test_ds.images, function(x)
      local y = model(prepare(x))
      full = full + mg.mse_loss(y, x):item() * #x
      inside = inside + recon.masked_mse(y, x, hole):item() * #x
      return 0
    end)
    return full / n_test, inside / n_test
  end)
end

local steps_x, steps_y, epoch_x, test_full, test_hole = {}, {}, {}, {}, {}
train.Trainer {
  model = model, optimizer = opt, epochs = opts.epochs, log = log, tags = { phase = "train" },
  desc = "inpaint epoch", unit = "img",
  evaluate = function(_, epoch)
    local full, inside = test_errors()
    epoch_x[#epoch_x + 1], test_full[#test_full + 1], test_hole[#test_hole + 1] = epoch, full, inside
    return { test_mse = full, test_masked_mse = inside }
  end,
}:run(loader, function(batch, ctx)
  local images = batch.images
  local l = ctx:optimize(mg.mse_loss(model(prepare(images)), images)):item()
  steps_x[#steps_x + 1], steps_y[#steps_y + 1] = ctx.epoch - 1 + ctx.batch / #loader, l
  return { train_mse = l, n = #images }
end)
local train_seconds = mg.clock() - started
mg.save(opts.out .. "/inpaint.safetensors", model:state_dict())
local final_full, final_hole = test_errors()

-- Baselines for the hole: leave it black (the masked input itself) and
-- fill it with the mean training image.
local mean_image = train_ds.images:mean(1, true)
local zero_fill, mean_fill = 0, 0
recon.batched(test_ds.images, function(x)
  zero_fill = zero_fill + recon.masked_mse(mask(x), x, hole):item() * #x
  mean_fill = mean_fill + recon.masked_mse(mean_image:expand_as(x), x, hole):item() * #x
  return 0
end)
zero_fill, mean_fill = zero_fill / n_test, mean_fill / n_test

-- Pictures: masked / restored / original for ten test images (and the
-- original with only the hole filled in), and the loss curves.
model:eval()
local sample = test_ds.images:narrow(1, 1, math.min(10, n_test))
local restored = mg.no_grad(function() return model(prepare(sample)) end)
local pasted = sample * (1 - hole) + restored * hole
local rows_png = viz.image_rows({
  { label = "masked", images = mask(sample) }, { label = "restored", images = restored },
  { label = "original", images = sample }, { label = "hole filled", images = pasted },
}, opts.out .. "/inpaint.png", { scale = 2,
  title = "inpainting, rows and cols 10-19 from 0: masked / restored / original" })
local curve = viz.plot({
  { name = "train MSE (per step)", x = steps_x, y = steps_y },
  { name = "test MSE (per epoch)", x = epoch_x, y = test_full },
  { name = "test MSE in the hole", x = epoch_x, y = test_hole },
}, opts.out .. "/inpaint_loss.png", { title = "Inpainting", xlabel = "epoch", ylabel = "MSE", logy = true })

-- Linear probes on the hidden layer (and on raw pixels for reference).
local counts = {}
for item in opts.labels:gmatch("[^,]+") do
  counts[#counts + 1] = item == "all" and "all" or math.tointeger(tonumber(item))
end
local function run_probe(name, trunk)
  return recon.probe(trunk, train_ds, test_ds, {
    labels = counts, seed = opts.seed,
    steps = opts.probe_steps > 0 and opts.probe_steps or nil,
    on_row = function(row)
      io.stderr:write(string.format("probe %-8s labels %6d: test accuracy %.4f\n", name, row.labels, row.probe))
      log:write { phase = "probe", model = name, labels = row.labels, probe = row.probe }
    end,
  })
end
local probe, pixels, probe_seconds
if opts.probe then
  local p0 = mg.clock()
  local input = opts.probe_input == "masked" and recon.Apply(prepare, "mask + normalize")
    or recon.Apply(mg.data.transforms.normalize(0.5, 0.5), "normalize")
  probe = run_probe("inpaint", mg.nn.Sequential { input, model.features })
  probe_seconds = mg.clock() - p0
  pixels = run_probe("pixels", mg.nn.Flatten())
end
log:close()

print(string.format("\nInpainting on %s (%s set, %d train / %d test images), %d epochs in %.1f s", train_ds.name,
  train_ds.source, #train_ds.labels, n_test, opts.epochs, train_seconds))
print(string.format("test MSE, whole image        %.5f", final_full))
print(string.format("test MSE, hole (10x10)       %.5f   (hole left black %.5f, mean training image %.5f)",
  final_hole, zero_fill, mean_fill))
if probe then
  print(string.format("%8s  %14s  %12s", "labels", "probe (" .. opts.probe_input .. ")", "probe pixels"))
  for i, row in ipairs(probe) do print(string.format("%8d  %14.4f  %12.4f", row.labels, row.probe, pixels[i].probe)) end
end
print("pictures: " .. rows_png .. ", " .. curve)

mg.cli.result {
  example = "inpaint", data = opts.data, source = train_ds.source, train_images = #train_ds.labels,
  test_images = n_test, epochs = opts.epochs, batch_size = opts.batch_size, lr = opts.lr,
  block = { top = block.top, left = block.left, rows = block.rows, cols = block.cols },
  test_mse = final_full, test_masked_mse = final_hole,
  baseline_masked_mse = { zero_fill = zero_fill, mean_image = mean_fill },
  probe_input = opts.probe_input, probe = probe, probe_pixels = pixels, probe_seconds = probe_seconds,
  train_seconds = train_seconds, seconds = mg.clock() - started, pictures = { rows_png, curve },
}
