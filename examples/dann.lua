-- Workload 4: distribution shift, met by domain-adversarial training.
-- Source domain: labelled MNIST digits. Target domain: other MNIST digits
-- blended with Fashion-MNIST textures (an MNIST-M-like shift built from
-- real images; recipe in lua/moongrad/da.lua; --invert also inverts some),
-- whose labels are never used for training except by the upper bound.
-- Three models of the same network, one table:
--   source  trained on the labelled source only
--   dann    source labels + unlabelled target images, with a domain head
--           behind a gradient reversal layer (Ganin et al.)
--   target  trained on the labelled target (the upper bound)
--
--   bin/moongrad examples/dann.lua --epochs 40
local mg = require "moongrad"
local da, viz, train = mg.da, mg.viz, mg.train

local opts = mg.cli.parse(arg, mg.cli.common("dann",
  "Domain-adversarial training (DANN): MNIST digits -> digits blended on Fashion-MNIST textures",
  { epochs = 40, batch_size = 64 }, {
    { "method", "source,dann,target", "methods to train (comma-separated: source, dann, target)" },
    { "optimizer", "sgd", "sgd (momentum 0.9, lr annealed as lr / (1 + 10 p)^0.75) or adam (constant lr)",
      choices = { "sgd", "adam" } },
    { "lr", 0.03, "initial learning rate (0: 0.01 for sgd as Ganin et al., 2e-4 for adam)" },
    { "lambda-max", 1.0, "scale of the reversal schedule lambda = 2 / (1 + exp(-gamma p)) - 1" },
    { "gamma", 10.0, "steepness of the reversal schedule" },
    { "domain-weight", 1.0, "weight of the domain loss" },
    { "domain-hidden", 100, "hidden units of the domain head" },
    { "domain-dropout", 0.5, "dropout in the domain head" },
    { "center", 0.5, "value subtracted from the pixels before the network" },
    { "invert", 0.0, "probability that a target image is inverted (1 - x)" },
    { "contrast-min", 0.3, "least texture contrast of the target domain" },
    { "contrast-max", 0.8, "greatest texture contrast of the target domain" },
    { "domain-seed", 1, "seed of the target-domain construction (textures, windows, contrast, inversion)" },
    { "test-limit", 0, "use only the first N test digits (0: all)" },
  }))

if opts.data ~= "mnist" then
  error("dann: the source domain is MNIST digits and the textures Fashion-MNIST; use --data mnist", 0)
end
local methods, known = {}, { source = true, dann = true, target = true }
for m in opts.method:gmatch("[^,%s]+") do
  if not known[m] then error("dann: --method takes source, dann, target; got '" .. m .. "'", 0) end
  methods[#methods + 1] = m
end
if #methods == 0 then error("dann: --method names no method", 0) end

local started = mg.cli.start(opts)

-- Domains. Source: the first half of the training digits; target: the
-- second half, shifted with Fashion-MNIST training images as textures.
-- Tests: the test digits, as they are (source) and shifted with
-- Fashion-MNIST test images (target).
local digits = mg.data.mnist { split = "train", limit = opts.limit > 0 and opts.limit or nil }
local digits_test = mg.data.mnist { split = "test", limit = opts.test_limit > 0 and opts.test_limit or nil }
local fashion = mg.data.fashion_mnist { split = "train" }
local fashion_test = mg.data.fashion_mnist { split = "test" }
local function recipe(seed)
  return { seed = seed, invert = opts.invert, contrast_min = opts.contrast_min, contrast_max = opts.contrast_max }
end
local source, target_digits = da.split_halves(digits)
local target = da.target_domain(target_digits, fashion.images, recipe(opts.domain_seed))
local source_test = digits_test
local target_test = da.target_domain(digits_test, fashion_test.images, recipe(opts.domain_seed + 1))
fashion, fashion_test = nil, nil -- luacheck: ignore 311 (frees the images before training)
mg.empty_cache() -- the construction's scratch
local sets = { source = source, target = target, eval = { source_test = source_test, target_test = target_test } }

local pictures = {}
local n_show = math.min(12, #source_test.images)
local rows = {}
for r = 0, 1 do
  local s = math.min(r * n_show + 1, math.max(1, #source_test.images - n_show + 1))
  rows[#rows + 1] = { label = "source", images = source_test.images:narrow(1, s, n_show) }
  rows[#rows + 1] = { label = "target", images = target_test.images:narrow(1, s, n_show) }
end
pictures[#pictures + 1] = viz.image_rows(rows, opts.out .. "/domains.png",
  { scale = 2, title = "source digits and their target-domain versions" })

local log = train.MetricsLog(opts.out .. "/metrics.jsonl", { append = false })
local results, curves, models = {}, {}, {}
for _, method in ipairs(methods) do
  mg.manual_seed(opts.seed)
  local model = mg.models.DANN { domain_hidden = opts.domain_hidden, domain_dropout = opts.domain_dropout,
    center = opts.center }
  local t0 = mg.clock()
  local history = da.train(method, model, sets, {
    epochs = opts.epochs, batch_size = opts.batch_size, optimizer = opts.optimizer,
    lr = opts.lr > 0 and opts.lr or nil,
    lambda_max = opts.lambda_max, gamma = opts.gamma, domain_weight = opts.domain_weight,
    progress = true, desc = string.format("%-6s epoch", method), log = log, tags = { method = method },
  })
  local last = history[#history]
  local curve = {}
  for i, rec in ipairs(history) do curve[i] = rec.target_test end
  curves[#curves + 1] = { name = method == "target" and "target-trained" or method == "dann" and "DANN"
    or "source only", y = curve }
  results[#results + 1] = { method = method, source_test = last.source_test, target_test = last.target_test,
    domain_acc = last.domain_acc, seconds = mg.clock() - t0 }
  models[method] = model
end
log:close()
local names = { source = "source only", dann = "DANN", target = "target-trained (bound)" }

pictures[#pictures + 1] = viz.plot(curves, opts.out .. "/target_accuracy.png",
  { title = "Target test accuracy per epoch", xlabel = "epoch", ylabel = "accuracy" })

-- Feature space: the two domains' test features projected on their first
-- two principal components, one panel per model.
local function pca2(f)
  local c = f - f:mean(1, true)
  local n = f:size(1)
  local cov = c:t():matmul(c) / n
  local axes = {}
  for k = 1, 2 do
    local v = mg.randn(cov:size(1), 1)
    for _ = 1, 50 do
      v = cov:matmul(v)
      for _, a in ipairs(axes) do v = v - a * (a:t():matmul(v)) end
      v = v / v:square():sum():sqrt()
    end
    axes[k] = v
  end
  return c:matmul(mg.cat(axes, 2))
end
do
  local n = math.min(300, #source_test.images)
  local panel, gap = 260, 10
  local count = 0
  for _ in pairs(models) do count = count + 1 end
  local cv = viz.Canvas(count * (panel + gap) + gap, panel + 50)
  cv:text(cv.width // 2, 6, "test features, 2 principal components: source (blue) / target (orange)", 0x1a1a1a,
    { align = "center" })
  local col = 0
  for _, method in ipairs(methods) do
    local model = models[method]
    local fs = da.features(model, source_test.images:narrow(1, 1, n))
    local ft = da.features(model, target_test.images:narrow(1, 1, n))
    local z = pca2(mg.cat({ fs, ft }, 1))
    local zt = z:totable()
    local lo, hi = { math.huge, math.huge }, { -math.huge, -math.huge }
    for _, p in ipairs(zt) do
      for d = 1, 2 do lo[d], hi[d] = math.min(lo[d], p[d]), math.max(hi[d], p[d]) end
    end
    local x0, y0 = gap + col * (panel + gap) + 1, 30
    cv:rect(x0, y0, panel, panel, 0xf4f4f4)
    for i, p in ipairs(zt) do
      local px = x0 + 4 + (p[1] - lo[1]) / math.max(hi[1] - lo[1], 1e-9) * (panel - 8)
      local py = y0 + 4 + (p[2] - lo[2]) / math.max(hi[2] - lo[2], 1e-9) * (panel - 8)
      cv:disc(math.floor(px), math.floor(py), 2, i <= n and viz.palette[1] or viz.palette[2])
    end
    cv:text(x0 + panel // 2, y0 + panel + 4, names[method], 0x1a1a1a, { align = "center" })
    col = col + 1
  end
  pictures[#pictures + 1] = cv:save(opts.out .. "/features.png")
end

local by = {}
for _, r in ipairs(results) do by[r.method] = r end
local gap_closed
if by.source and by.dann and by.target and by.target.target_test > by.source.target_test then
  gap_closed = (by.dann.target_test - by.source.target_test) / (by.target.target_test - by.source.target_test)
end

print(string.format("\nDomain adaptation MNIST (%s, %d source / %d target images) -> shifted digits, %d epochs",
  digits.source, #source.images, #target.images, opts.epochs))
print(string.format("%-26s  %11s  %11s", "method", "source test", "target test"))
for _, r in ipairs(results) do
  print(string.format("%-26s  %11.4f  %11.4f", names[r.method], r.source_test, r.target_test))
end
if gap_closed then
  print(string.format("DANN closes %.1f%% of the source-only -> upper bound gap", 100 * gap_closed))
end
print("pictures: " .. table.concat(pictures, ", "))

mg.cli.result {
  example = "dann", source = digits.source, source_images = #source.images, target_images = #target.images,
  test_images = #source_test.images, epochs = opts.epochs, optimizer = opts.optimizer,
  lr = opts.lr > 0 and opts.lr or da.default_lr(opts.optimizer), domain_dropout = opts.domain_dropout,
  center = opts.center, lambda_max = opts.lambda_max, domain_weight = opts.domain_weight,
  recipe = { invert = opts.invert, contrast_min = opts.contrast_min, contrast_max = opts.contrast_max,
    seed = opts.domain_seed, test_seed = opts.domain_seed + 1 },
  results = results, gap_closed = gap_closed, seconds = mg.clock() - started, pictures = pictures,
}
