--- Domain adaptation: a labelled source domain, an unlabelled shifted target
-- domain, and domain-adversarial training (DANN, Ganin et al. 2016) that
-- learns features the label head can use but a domain head cannot tell
-- apart, through a gradient reversal layer.
--
-- The target domain (mg.da.shift, recipe version 1), in the spirit of
-- MNIST-M, built from real images only. For digit image d (MNIST, [0, 1]):
--   1. texture: a Fashion-MNIST image t picked uniformly at random from the
--      texture set; a square window of side 28 / z (zoom z uniform in
--      [zoom_min, zoom_max] = [1.5, 2.5]) placed uniformly at random inside
--      the central region [margin, 28 - margin] of t (margin 4, where the
--      garments have their fabric), resampled to 28x28 with bilinear
--      interpolation (sample points at pixel centres), and scaled by a
--      contrast c uniform in [contrast_min, contrast_max] = [0.3, 0.8];
--   2. blend: x = |d - c * texture|, MNIST-M's |digit - photo patch|: the
--      strokes invert the texture beneath them, so they are light on dark
--      fabric and darker than light fabric;
--   3. invert: with probability `invert` (0 by default), x = 1 - x.
-- Values stay in [0, 1]; the label is the digit's. The random choices are
-- drawn in this order from mg.manual_seed(seed) (texture index, zoom,
-- window row, window column, contrast, inversion), with the global RNG
-- state saved and restored around them: the same seed and inputs give the
-- same images whatever ran before.
--
-- The domains of examples/dann.lua: the MNIST training digits are split in
-- two halves (split_halves): the first half is the labelled source set;
-- the second half, shifted with Fashion-MNIST training images as textures
-- (seed s), is the target training set, whose labels only the target-
-- trained upper bound reads. Test sets: the MNIST test digits (source) and
-- the same digits shifted with Fashion-MNIST test images (seed s + 1).
--
-- The model (Ganin et al.'s MNIST network) is mg.models.DANN.
-- Schedules over training progress p in [0, 1]: lambda_p = 2 / (1 +
-- exp(-10 p)) - 1 for the reversal, lr_p = lr0 / (1 + 10 p)^0.75 for SGD.
-- @module moongrad.da
-- @alias M
-- @usage local target = mg.da.target_domain(second_half, fashion.images, {seed = 1})
-- local history = mg.da.train("dann", mg.models.DANN(), {source = first_half, target = target})
local mg = require "moongrad"

local M = {}

M.RECIPE = {
  version = 1, zoom_min = 1.5, zoom_max = 2.5, margin = 4, contrast_min = 0.3, contrast_max = 0.8, invert = 0,
  text = "x = |digit - c * texture|: texture a bilinear zoom (x1.5-2.5) of a random window in the central 20x20 "
    .. "of a random Fashion-MNIST image, contrast c uniform in [0.3, 0.8]; x = 1 - x with probability invert (0)",
}

local function check_images(x, who, what)
  if not mg.is_tensor(x) or x.dtype ~= "float32" or x:dim() ~= 4 or x:size(2) ~= 1 then
    error(string.format("%s: %s must be a float32 Tensor [N, 1, H, W], got %s", who, what,
      mg.is_tensor(x) and (x.dtype .. " [" .. table.concat(x:shape(), ", ") .. "]") or type(x)), 3)
  end
end

local CHUNK = 1024 -- digits shifted at a time

--- The target domain's images: digits blended with textures (the recipe of
-- the module's description).
-- @tparam Tensor digits float32 [N, 1, H, W] in [0, 1]
-- @tparam Tensor textures float32 [M, 1, H, W] of the same H, W
-- @tparam[opt] table opts `{seed = 0, zoom_min, zoom_max, margin, contrast_min, contrast_max,
--   invert}`; defaults are RECIPE's
-- @treturn Tensor images [N, 1, H, W] in [0, 1]
-- @treturn table `{texture = int64 [N] (1-based index into textures), inverted = float32 [N] of 0/1}`
function M.shift(digits, textures, opts)
  opts = opts or {}
  check_images(digits, "da.shift", "digits")
  check_images(textures, "da.shift", "textures")
  local n, h, w = digits:size(1), digits:size(3), digits:size(4)
  if textures:size(3) ~= h or textures:size(4) ~= w then
    error(string.format("da.shift: textures are %dx%d, digits %dx%d", textures:size(3), textures:size(4), h, w), 2)
  end
  local m = textures:size(1)
  if n < 1 or m < 1 then
    error(string.format("da.shift: expected digits and textures, got %d and %d images", n, m), 2)
  end
  local zmin, zmax = opts.zoom_min or M.RECIPE.zoom_min, opts.zoom_max or M.RECIPE.zoom_max
  local margin = opts.margin or M.RECIPE.margin
  local pinv = opts.invert or M.RECIPE.invert
  local cmin, cmax = opts.contrast_min or M.RECIPE.contrast_min, opts.contrast_max or M.RECIPE.contrast_max
  if not (zmin >= 1 and zmax >= zmin) then
    error(string.format("da.shift: expected 1 <= zoom_min <= zoom_max, got %g, %g", zmin, zmax), 2)
  end
  if not (margin >= 0 and 2 * margin < math.min(h, w)) then
    error(string.format("da.shift: margin must be in [0, %d), got %g", math.min(h, w) // 2, margin), 2)
  end
  if not (pinv >= 0 and pinv <= 1) then error("da.shift: invert must be a probability in [0, 1], got " .. pinv, 2) end

  if not (cmin >= 0 and cmax >= cmin and cmax <= 1) then
    error(string.format("da.shift: expected 0 <= contrast_min <= contrast_max <= 1, got %g, %g", cmin, cmax), 2)
  end

  -- every random choice first, in a fixed order, so results do not depend
  -- on the chunking below
  local pick, inv_zoom, uy, ux, contrast, inverted = mg.with_rng_state(opts.seed or 0, function()
    return mg.randint(0, m, { n }),                             -- 0-based texture index
      1 / (mg.rand(n) * (zmax - zmin) + zmin),
      mg.rand(n), mg.rand(n),                                    -- window position
      mg.rand(n) * (cmax - cmin) + cmin,
      mg.rand(n):lt(pinv):float()
  end)
  -- window of side h / zoom, w / zoom inside the central region: its corner
  local ry, rx = h - 2 * margin, w - 2 * margin
  local oy = (uy * (ry - inv_zoom * h)):clamp(0, ry) + margin
  local ox = (ux * (rx - inv_zoom * w)):clamp(0, rx) + margin
  local gy = (mg.arange(h):float() + 0.5):view(1, h, 1)         -- pixel centres
  local gx = (mg.arange(w):float() + 0.5):view(1, 1, w)
  local flat = textures:contiguous():view(-1)
  local parts = {}
  for s = 1, n, CHUNK do -- in chunks: the index tensors are 8 bytes a pixel
    local k = math.min(CHUNK, n - s + 1)
    local function part(t) return t:narrow(1, s, k):view(k, 1, 1) end
    -- sample points: corner + (pixel centre) / zoom - half a pixel, clamped
    local sy = (part(oy) + gy * part(inv_zoom) - 0.5):clamp(0, h - 1) -- [k, h, 1]
    local sx = (part(ox) + gx * part(inv_zoom) - 0.5):clamp(0, w - 1) -- [k, 1, w]
    local y0, x0 = sy:long(), sx:long()                         -- floor (values >= 0)
    local fy, fx = sy - y0:float(), sx - x0:float()
    local y1, x1 = (y0 + 1):clamp(0, h - 1):long(), (x0 + 1):clamp(0, w - 1):long()
    local base = part(pick) * (h * w) + 1                       -- 1-based flat index
    local function at(yy, xx)
      return flat:index_select(1, (base + yy * w + xx):view(-1)):view(k, h, w)
    end
    local top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    local bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    local texture = ((top * (1 - fy) + bottom * fy) * part(contrast)):view(k, 1, h, w)
    local x = (digits:narrow(1, s, k) - texture):abs()
    local flip = inverted:narrow(1, s, k):view(k, 1, 1, 1)
    parts[#parts + 1] = (x + flip * (1 - 2 * x)):clamp(0, 1)   -- 1 - x where flipped
  end
  local x = #parts == 1 and parts[1] or mg.cat(parts, 1)
  return x, { texture = pick + 1, inverted = inverted }
end

--- Splits a dataset in two halves (images and labels).
-- @tparam Dataset ds
-- @treturn TensorDataset the first ceil(N/2) samples
-- @treturn TensorDataset the last floor(N/2) samples
function M.split_halves(ds)
  local n = #ds.images
  if n < 2 then error("da.split_halves: need at least 2 samples, got " .. n, 2) end
  local a = (n + 1) // 2
  local first = mg.data.TensorDataset(ds.images:narrow(1, 1, a), ds.labels:narrow(1, 1, a))
  local second = mg.data.TensorDataset(ds.images:narrow(1, a + 1, n - a), ds.labels:narrow(1, a + 1, n - a))
  first.classes, second.classes = ds.classes, ds.classes
  return first, second
end

--- ds's images shifted by shift(ds.images, textures, opts), with ds's
-- labels (for evaluation and the upper bound only).
-- @tparam Dataset ds
-- @tparam Tensor textures
-- @tparam[opt] table opts as for shift
-- @treturn TensorDataset with fields classes, inverted, texture
function M.target_domain(ds, textures, opts)
  local images, info = M.shift(ds.images, textures, opts)
  local out = mg.data.TensorDataset(images, ds.labels)
  out.name, out.classes = "target", ds.classes
  out.texture, out.inverted = info.texture, info.inverted
  return out
end

-- ---- schedules ------------------------------------------------------------------

--- The reversal factor at training progress p, 2 / (1 + exp(-gamma p)) - 1
-- (0 at the start, near 1 at the end), which keeps the domain head's noisy
-- early signal small.
-- @number p progress in [0, 1]
-- @number[opt=10] gamma
-- @treturn number
function M.lambda_schedule(p, gamma)
  return 2 / (1 + math.exp(-(gamma or 10) * p)) - 1
end

--- Ganin et al.'s annealing for SGD: lr / (1 + alpha p)^beta.
-- @number p progress in [0, 1]
-- @tparam[opt] table opts `{lr = 0.01, alpha = 10, beta = 0.75}`
-- @treturn number
function M.lr_schedule(p, opts)
  opts = opts or {}
  return (opts.lr or 0.01) / (1 + (opts.alpha or 10) * p) ^ (opts.beta or 0.75)
end

-- ---- training ----------------------------------------------------------------------

--- The fraction of ds's images whose argmax class is the label, in eval
-- mode without a graph.
-- @tparam Module model
-- @tparam Dataset ds
-- @int[opt=500] batch_size
-- @treturn number
function M.accuracy(model, ds, batch_size)
  local predicted = mg.nn.utils.inference(model, mg.nn.utils.map_batches, ds.images, batch_size or 500,
    function(x) return model(x):argmax(2) end)
  return predicted:eq(ds.labels):sum():item() / #ds.images
end

local METHODS = { source = true, dann = true, target = true }

--- The default learning rate of an optimizer choice: 0.01 for "sgd"
-- (Ganin et al.), 2e-4 for "adam".
-- @string optimizer "sgd" or "adam"
-- @treturn number
function M.default_lr(optimizer) return optimizer == "sgd" and 0.01 or 2e-4 end

--- Features of a DANN model (model:extract) in eval mode, without
-- recording gradients.
-- @tparam DANN model
-- @tparam Tensor images
-- @int[opt=500] batch_size
-- @treturn Tensor [N, D]
function M.features(model, images, batch_size)
  return mg.nn.utils.inference(model, mg.nn.utils.map_batches, images, batch_size or 500,
    function(x) return model:extract(x) end)
end

--- Trains a model on the engine. An epoch is one pass over the labelled
-- set (the target set for "target"); the unlabelled target images are
-- drawn in a cycle beside it.
-- @string method "source" (labelled source only), "dann" (labelled source + unlabelled
--   target images with the domain loss behind the reversal layer), or "target" (labelled
--   target: the upper bound)
-- @tparam DANN model
-- @tparam table sets `{source = ds, target = ds, eval = {name = dataset, ...}}`: the target's
--   labels are read only by "target"; eval sets are measured every epoch
-- @tparam[opt] table opts epochs (10), batch_size (64 per domain), optimizer ("sgd": momentum
--   0.9 and the annealed lr_schedule; "adam": constant lr), lr (default_lr(optimizer)),
--   momentum, lambda_max (1: the schedule's factor), gamma (10), domain_weight (1), and the
--   engine's progress (false), desc, log, tags, on_epoch(record)
-- @treturn {table,...} the history: per epoch {epoch, loss, acc, domain_loss, domain_acc,
--   lambda, lr, [eval name] = accuracy, ...} (the engine's records)
function M.train(method, model, sets, opts)
  if not METHODS[method] then
    error("da.train: method must be \"source\", \"dann\" or \"target\", got " .. tostring(method), 2)
  end
  opts = mg.check_options("da.train", opts, { "epochs", "batch_size", "optimizer", "lr", "momentum", "lambda_max",
    "gamma", "domain_weight", "progress", "desc", "log", "tags", "on_epoch" })
  local epochs, bs = opts.epochs or 10, opts.batch_size or 64
  local kind = opts.optimizer or "sgd"
  local lr0 = opts.lr or M.default_lr(kind)
  local opt
  if kind == "sgd" then
    opt = mg.optim.SGD(model:parameters(), { lr = lr0, momentum = opts.momentum or 0.9 })
  elseif kind == "adam" then
    opt = mg.optim.Adam(model:parameters(), { lr = lr0 })
  else
    error("da.train: optimizer must be \"sgd\" or \"adam\", got " .. tostring(kind), 2)
  end
  local labelled = method == "target" and sets.target or sets.source
  local loader = mg.data.DataLoader(labelled, { batch_size = bs, shuffle = true, drop_last = #labelled.images >= bs })
  local unlabelled, target_iter
  if method == "dann" then
    -- only the images: the target labels never reach DANN
    unlabelled = mg.data.DataLoader(mg.data.TensorDataset(sets.target.images),
      { batch_size = bs, shuffle = true, drop_last = #sets.target.images >= bs })
  end
  local function next_target()
    local x = target_iter and target_iter()
    if not x then target_iter = unlabelled:iter(); x = target_iter() end
    return x
  end
  local total = epochs * #loader
  local lambda_max, gamma, dw = opts.lambda_max or 1, opts.gamma or 10, opts.domain_weight or 1
  local lambda, lr = 0, lr0
  local trainer = mg.train.Trainer {
    model = model, optimizer = opt, epochs = epochs, progress = opts.progress or false, desc = opts.desc,
    unit = "step", log = opts.log, tags = opts.tags, on_epoch = opts.on_epoch,
    evaluate = function()
      local r = { lr = lr, lambda = method == "dann" and lambda or nil }
      for name, ds in pairs(sets.eval or {}) do r[name] = M.accuracy(model, ds) end
      return r
    end,
  }
  local history = trainer:run(loader, function(batch, ctx)
    local x, y = batch.images, batch.labels
    local p = (ctx.step - 1) / total
    if kind == "sgd" then
      lr = M.lr_schedule(p, { lr = lr0 })
      for _, g in ipairs(opt.param_groups) do g.lr = lr end
    end
    local out
    if method == "dann" then
      lambda = lambda_max * M.lambda_schedule(p, gamma)
      model:set_lambda(lambda)
      local xt = next_target()
      local ns, nt = #x, #xt
      local f = model:extract(mg.cat({ x, xt }, 1))
      local logits = model.classifier(f:narrow(1, 1, ns))
      local closs = mg.cross_entropy(logits, y)
      local dlogits = model:domain_logits(f)
      local dlabels = mg.cat({ mg.zeros(ns), mg.ones(nt) }, 1)
      local dloss = mg.binary_cross_entropy_with_logits(dlogits, dlabels)
      ctx:optimize(closs + dloss * dw)
      out = { loss = closs, acc = { logits:detach():argmax(2):eq(y):sum(), ns }, n = ns,
        domain_loss = { dloss:item() * (ns + nt), ns + nt },
        domain_acc = { dlogits:detach():gt(0):float():eq(dlabels):sum(), ns + nt } }
    else
      local logits = model(x)
      local closs = mg.cross_entropy(logits, y)
      ctx:optimize(closs)
      out = { loss = closs, acc = { logits:detach():argmax(2):eq(y):sum(), #x }, n = #x }
    end
    return out
  end)
  model:eval()
  return history
end

return M
