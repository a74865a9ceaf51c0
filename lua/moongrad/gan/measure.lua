--- The measurements that say whether a GAN works: feature statistics and
-- the Frechet distance in the feature space of a classifier trained on
-- the same data (mg.models.FeatureClassifier; a classifier-feature Frechet
-- distance, not Inception FID), class coverage, the Inception-score
-- formula, and the classifier itself (trained once, cached as
-- safetensors). mg.gan exports all of these.
-- @module moongrad.gan
-- @alias M
local mg = require "moongrad"
local linalg = require "moongrad.linalg"
local models = require "moongrad.models"
local distributed = require "moongrad.train.distributed"

local M = {}

local log, exp = math.log, math.exp

-- ---- Frechet distance, coverage, classifier score --------------------------------------

--- Mean and covariance (unbiased, N - 1) of features, as Lua numbers
-- (doubles). The data are centred with their mean before the product so
-- the float32 matrix product only sums centred values.
-- @tparam Tensor features [N, D]
-- @treturn table `{mu = {...}, sigma = {{...}, ...}, n = N}`
function M.feature_stats(features)
  if not mg.is_tensor(features) or features:dim() ~= 2 then
    error("gan.feature_stats: expected features [N, D] (a 2-D Tensor)", 2)
  end
  local n = features:size(1)
  if n < 2 then error("gan.feature_stats: need at least 2 samples, got " .. n, 2) end
  return mg.no_grad(function()
    local x = features:float():contiguous()
    local mean = x:mean(1, true)
    local c = x - mean
    -- a second pass removes what the float32 mean left
    local rest = c:mean(1, true)
    c = c - rest
    local cov = mg.matmul(c:t(), c) / (n - 1)
    local mu = (mean + rest):view(-1):totable()
    return { mu = mu, sigma = cov:totable(), n = n }
  end)
end

local function stats_of(x, who)
  if mg.is_tensor(x) then return M.feature_stats(x) end
  if type(x) == "table" and x.mu and x.sigma then return x end
  error(who .. ": expected features [N, D] or stats {mu, sigma}", 3)
end

--- The Frechet distance between two Gaussians fitted to feature sets:
-- |mu_a - mu_b|^2 + tr(S_a + S_b - 2 sqrt(S_a S_b)). With a classifier's
-- features (evaluate) this is a classifier-feature Frechet distance; it is
-- Inception FID only with Inception features.
-- @tparam Tensor|table a features [N, D], or stats from feature_stats
-- @tparam Tensor|table b
-- @treturn number the distance
-- @treturn table `{mean = |mu_a - mu_b|^2, cov = the trace term}`
function M.frechet_distance(a, b)
  a, b = stats_of(a, "gan.frechet_distance"), stats_of(b, "gan.frechet_distance")
  if #a.mu ~= #b.mu then
    error(string.format("gan.frechet_distance: feature sizes differ (%d and %d)", #a.mu, #b.mu), 2)
  end
  local mean = 0
  for i = 1, #a.mu do local dlt = a.mu[i] - b.mu[i]; mean = mean + dlt * dlt end
  local tr = 0
  for i = 1, #a.mu do tr = tr + a.sigma[i][i] + b.sigma[i][i] end
  local cov = tr - 2 * linalg.trace_sqrt_product(a.sigma, b.sigma)
  if cov < 0 then cov = 0 end -- rounding when the covariances agree
  return mean + cov, { mean = mean, cov = cov }
end

--- The histogram of predicted classes. covered = classes holding at least
-- min_fraction of the samples; kl_uniform = KL(histogram || uniform) in
-- nats (0 for a perfectly even spread, log(num_classes) when one class
-- takes all).
-- @tparam Tensor|{int,...} classes 1-based int64 Tensor or Lua list
-- @int num_classes
-- @tparam[opt] table opts `{min_fraction = 0.25 / num_classes}` (a quarter of the fair share)
-- @treturn table `{counts, fractions, covered, kl_uniform, entropy, n}`
function M.class_coverage(classes, num_classes, opts)
  if mg.is_tensor(classes) then classes = classes:view(-1):totable() end
  if type(classes) ~= "table" then error("gan.class_coverage: expected class numbers (Tensor or list)", 2) end
  if math.type(num_classes) ~= "integer" or num_classes < 1 then
    error("gan.class_coverage: num_classes must be a positive integer, got " .. tostring(num_classes), 2)
  end
  local min_fraction = (opts and opts.min_fraction) or 0.25 / num_classes
  local counts = {}
  for k = 1, num_classes do counts[k] = 0 end
  for i, c in ipairs(classes) do
    if math.type(c) ~= "integer" or c < 1 or c > num_classes then
      error(string.format("gan.class_coverage: class %s at %d is outside 1..%d", tostring(c), i, num_classes), 2)
    end
    counts[c] = counts[c] + 1
  end
  local n = #classes
  local fractions, covered, entropy = {}, 0, 0
  for k = 1, num_classes do
    local f = n > 0 and counts[k] / n or 0
    fractions[k] = f
    if n > 0 and f >= min_fraction then covered = covered + 1 end
    if f > 0 then entropy = entropy - f * log(f) end
  end
  return { counts = counts, fractions = fractions, covered = covered, n = n,
    entropy = entropy, kl_uniform = n > 0 and log(num_classes) - entropy or 0 }
end

--- exp(mean_i KL(p(y|x_i) || p(y))), the Inception-score formula with the
-- feature classifier: from 1 (every sample gets the same class
-- distribution) to the number of classes (confident predictions spread
-- evenly over all classes).
-- @tparam Tensor probs [N, K]
-- @treturn number
function M.classifier_score(probs)
  local p = probs:float():contiguous()
  local n, k = p:size(1), p:size(2)
  local v = p:view(-1):totable()
  local marginal = {}
  for j = 1, k do marginal[j] = 0 end
  for i = 0, n - 1 do for j = 1, k do marginal[j] = marginal[j] + v[i * k + j] end end
  for j = 1, k do marginal[j] = marginal[j] / n end
  local total = 0
  for i = 0, n - 1 do
    for j = 1, k do
      local q = v[i * k + j]
      if q > 0 and marginal[j] > 0 then total = total + q * (log(q) - log(marginal[j])) end
    end
  end
  return exp(total / n)
end

--- The classifier's features and probabilities, in eval mode, no graph.
-- @tparam FeatureClassifier classifier
-- @tparam Tensor images in [0, 1]
-- @tparam[opt] table opts `{batch_size = 500}`
-- @treturn Tensor features [N, 128]
-- @treturn Tensor probabilities [N, K]
function M.embed(classifier, images, opts)
  local bs = (opts and opts.batch_size) or 500
  return mg.nn.utils.inference(classifier, mg.nn.utils.map_batches, images, bs, function(x)
    local f = classifier:features(x)
    return f, mg.softmax(classifier.head(f), 2)
  end)
end

local function accuracy_of(classifier, ds)
  local _, probs = M.embed(classifier, ds.images)
  return probs:argmax(2):eq(ds.labels):float():mean():item()
end

--- A FeatureClassifier trained on the labels with Adam. Uses its own seed;
-- the global random stream is left where it was.
-- @tparam Dataset train_ds
-- @tparam[opt] table opts `{epochs = 2, lr = 1e-3, batch_size = 128, seed = 0,
--   on_epoch = fn(epoch, loss)}`
-- @treturn FeatureClassifier
function M.train_classifier(train_ds, opts)
  opts = mg.check_options("gan.train_classifier", opts, { "epochs", "lr", "batch_size", "seed", "on_epoch" })
  return mg.with_rng_state(opts.seed or 0, function()
    local model = models.FeatureClassifier(#(train_ds.classes or {}) > 0 and #train_ds.classes or 10)
    local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr or 1e-3 })
    local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size or 128, shuffle = true })
    mg.train.fit(model, loader, { optimizer = opt, epochs = opts.epochs or 2, progress = false,
      on_epoch = opts.on_epoch and function(r) opts.on_epoch(r.epoch, r.train_loss) end })
    model:eval()
    return model
  end)
end

--- The feature classifier of this data: when path holds one trained on
-- the same data (name, source, number of images, epochs: kept in the
-- file's metadata) it is loaded; otherwise one is trained and saved to
-- path (safetensors) for the next run.
-- @string path
-- @tparam Dataset train_ds
-- @tparam Dataset test_ds
-- @tparam[opt] table opts as for train_classifier
-- @treturn FeatureClassifier
-- @treturn number its test accuracy
-- @treturn string "loaded" or "trained"
function M.classifier_for(path, train_ds, test_ds, opts)
  opts = opts or {}
  local key = {
    data = tostring(train_ds.name), source = tostring(train_ds.source),
    train_images = tostring(#train_ds.labels), epochs = tostring(opts.epochs or 2),
    arch = "FeatureClassifier-v1",
  }
  local model = models.FeatureClassifier(#train_ds.classes)
  local loaded = false
  local f = io.open(path, "rb")
  if f then
    f:close()
    local ok, tensors, meta = pcall(mg.load, path)
    local same = ok
    if same then for k, v in pairs(key) do if meta[k] ~= v then same = false end end end
    loaded = same and pcall(model.load_state_dict, model, tensors)
  end
  -- in a distributed job rank 1's file decides, and its weights go to every rank
  if distributed.agree(loaded) then
    distributed.share({ model })
    model:eval()
    return model, accuracy_of(model, test_ds), "loaded"
  end
  model = M.train_classifier(train_ds, opts)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then mg.mkdir(dir) end
  mg.save(path, model:state_dict(), key)
  return model, accuracy_of(model, test_ds), "trained"
end

--- The measurements of a trained GAN, with the same number N of
-- generated, training and held-out images (N = samples, at most the
-- smaller set; Frechet distances grow as N shrinks, so compare numbers at
-- the same N). Images in [0, 1]. The result holds frechet
-- (classifier-feature Frechet distance, generated vs training images),
-- frechet_real (the same between held-out and training images: the floor a
-- perfect generator would reach at this N), coverage (class_coverage of
-- the predictions on the generated images; coverage_real on held-out
-- images), score (classifier_score of the generated images; score_real).
-- @tparam GAN gan
-- @tparam FeatureClassifier classifier
-- @tparam Tensor train_images
-- @tparam Tensor test_images
-- @tparam[opt] table opts `{samples, seed = 0, classes = 10, cache}`; cache is a table that
--   keeps the real images' figures between calls (the same classifier and images), so
--   evaluating every few epochs only embeds the generated images
-- @treturn table the measurements
function M.evaluate(gan, classifier, train_images, test_images, opts)
  opts = opts or {}
  local n = math.min(opts.samples or 10000, train_images:size(1), test_images:size(1))
  local k = opts.classes or 10
  local generated = mg.with_rng_state(opts.seed or 0, function() return gan:from_range(gan:sample(n)) end)
  local f_gen, p_gen = M.embed(classifier, generated)
  local real = opts.cache or {}
  if real.n ~= n then
    local f_test, p_test = M.embed(classifier, test_images:narrow(1, 1, n))
    real.n = n
    real.train = M.feature_stats(M.embed(classifier, train_images:narrow(1, 1, n)))
    real.frechet = M.frechet_distance(M.feature_stats(f_test), real.train)
    real.coverage = M.class_coverage(p_test:argmax(2), k)
    real.score = M.classifier_score(p_test)
  end
  local fd, parts = M.frechet_distance(M.feature_stats(f_gen), real.train)
  return {
    samples = n, frechet = fd, frechet_mean = parts.mean, frechet_cov = parts.cov, frechet_real = real.frechet,
    coverage = M.class_coverage(p_gen:argmax(2), k), coverage_real = real.coverage,
    score = M.classifier_score(p_gen), score_real = real.score,
    generated = generated,
  }
end

return M
