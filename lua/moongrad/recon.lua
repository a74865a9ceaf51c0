--- Reconstruction as self-supervision: the method of the models that learn
-- by rebuilding their input (the networks, Autoencoder, ConvVAE and
-- InpaintNet, are in mg.models), and the pieces that train and judge them:
-- the denoising autoencoder's corruption, the VAE's loss, blocks of pixels
-- to mask for inpainting, and linear probes of the learned features.
-- Images are [B, 1, 28, 28] in [0, 1]; rows and columns are 1-based.
-- `reparameterize` is mg.models.reparameterize.
-- @module moongrad.recon
-- @alias M
-- @usage local recon, mu, logvar = vae(x)
-- local loss = mg.recon.vae_loss(recon, x, mu, logvar)
local mg = require "moongrad"
local nn = mg.nn
local F = nn.functional

local M = {}

M.reparameterize = require("moongrad.models.conv_vae").reparameterize

-- ---- the denoising autoencoder ----------------------------------------------------------

--- The denoising autoencoder's corruption (it sees the noisy image and is
-- scored against the clean one): images + std * N(0, 1) per pixel, clipped
-- to [0, 1].
-- @number[opt=0.3] std
-- @treturn function a transform(images) -> images
function M.denoise_noise(std)
  return mg.data.transforms.gaussian_noise(std or 0.3, { clamp = { 0, 1 } })
end

-- ---- the variational autoencoder -----------------------------------------------------

--- KL(N(mu, diag exp(logvar)) || N(0, I)) = -0.5 * sum(1 + logvar - mu^2 -
-- exp(logvar)) over each example's latent dims, averaged over the batch.
-- @tparam Tensor mu [B, D]
-- @tparam Tensor logvar [B, D]
-- @treturn Tensor 0-dim
function M.kl_normal(mu, logvar)
  if not (mg.is_tensor(mu) and mg.is_tensor(logvar)) then
    error("kl_normal: expected mu and logvar Tensors [B, D]", 2)
  end
  if mu:dim() ~= 2 or logvar:dim() ~= 2 or mu:size(1) ~= logvar:size(1) or mu:size(2) ~= logvar:size(2) then
    error(string.format("kl_normal: mu and logvar must both be [B, D], got [%s] and [%s]",
      table.concat(mu:shape(), ", "), table.concat(logvar:shape(), ", ")), 2)
  end
  return ((logvar + 1) - mu:square() - logvar:exp()):sum() * (-0.5 / mu:size(1))
end

--- The VAE's loss (per example, batch mean): bce is the binary
-- cross-entropy summed over the pixels, loss = bce + kl (the negative
-- evidence lower bound).
-- @tparam Tensor recon the decoded images
-- @tparam Tensor x the inputs
-- @tparam Tensor mu
-- @tparam Tensor logvar
-- @treturn Tensor loss
-- @treturn Tensor bce
-- @treturn Tensor kl
function M.vae_loss(recon, x, mu, logvar)
  local bce = F.binary_cross_entropy(recon, x, { reduction = "sum" }) / x:size(1)
  local kl = M.kl_normal(mu, logvar)
  return bce + kl, bce, kl
end

-- ---- inpainting ---------------------------------------------------------------------------

-- The article's block: rows and columns 10..19 0-based, i.e. 11..20 here.
-- (mg.data.transforms.center_mask{size = 10} would put it at 10..19 1-based.)
M.ARTICLE_BLOCK = { top = 11, left = 11, rows = 10, cols = 10 }

local function block_opts(op, opts)
  opts = mg.check_options(op, opts or M.ARTICLE_BLOCK, { "top", "left", "rows", "cols", "size", "value" }, 3)
  local b = { top = opts.top, left = opts.left, rows = opts.rows or opts.size, cols = opts.cols or opts.size }
  for _, k in ipairs({ "top", "left", "rows", "cols" }) do
    local least = (k == "rows" or k == "cols") and 0 or 1
    if math.type(b[k]) ~= "integer" or b[k] < least then
      error(string.format("%s: %s must be an integer >= %d, got %s", op, k, least, tostring(b[k])), 3)
    end
  end
  return b
end

--- A mask of 1 on rows top..top+rows-1 and columns left..left+cols-1
-- (1-based), 0 elsewhere.
-- @int h
-- @int w
-- @tparam[opt] table opts `{top, left, rows, cols}` (size = n stands for rows = cols = n);
--   default ARTICLE_BLOCK, rows and columns 11..20
-- @treturn Tensor float32 [1, 1, h, w]
function M.block_mask(h, w, opts)
  if math.type(h) ~= "integer" or math.type(w) ~= "integer" or h < 1 or w < 1 then
    error("block_mask: h and w must be positive integers", 2)
  end
  local b = block_opts("block_mask", opts)
  if b.top + b.rows - 1 > h or b.left + b.cols - 1 > w then
    error(string.format("block_mask: rows %d..%d, columns %d..%d do not fit %dx%d images",
      b.top, b.top + b.rows - 1, b.left, b.left + b.cols - 1, h, w), 2)
  end
  local ri = mg.arange(1, h + 1):float():view(1, 1, h, 1)
  local ci = mg.arange(1, w + 1):float():view(1, 1, 1, w)
  return mg.ge(ri, b.top) * mg.lt(ri, b.top + b.rows) * mg.ge(ci, b.left) * mg.lt(ci, b.left + b.cols)
end

--- A transform setting a block of every image to value.
-- @tparam[opt] table opts `{top, left, rows, cols, value = 0}` (default ARTICLE_BLOCK)
-- @treturn function a transform(images, labels) -> images
function M.mask_block(opts)
  local b = block_opts("mask_block", opts)
  local value = opts and opts.value or 0
  if type(value) ~= "number" then error("mask_block: value must be a number", 2) end
  local cache = {}
  return function(x, y)
    if not mg.is_tensor(x) or x:dim() ~= 4 then error("mask_block: expected a batch [B, C, H, W]", 2) end
    local h, w = x:size(3), x:size(4)
    local key = h .. "x" .. w
    if not cache[key] then
      local ok, mask = pcall(M.block_mask, h, w, b)
      if not ok then error((tostring(mask):gsub("^[^:\n]*:%d+: ", ""):gsub("^block_mask", "mask_block")), 2) end
      cache[key] = mask
    end
    return x:masked_fill(cache[key], value), y
  end
end

--- The mean of (pred - target)^2 over the pixels where mask is nonzero.
-- @tparam Tensor pred
-- @tparam Tensor target
-- @tparam Tensor mask broadcast to pred (e.g. [1, 1, H, W] from block_mask); not all zeros
-- @treturn Tensor 0-dim
function M.masked_mse(pred, target, mask)
  local d = (pred - target):square()
  local count = mask:sum():item() * (d:numel() // mask:numel())
  if count <= 0 then error("masked_mse: the mask selects no pixel", 2) end
  return (d * mask):sum() / count
end

--- A module without parameters whose forward is fn(x) (e.g. the masking
-- and normalisation in front of an inpainting trunk).
-- @type Apply
local Apply = nn.Module:extend("recon.Apply")
M.Apply = Apply

--- recon.Apply(fn [, name]): a new module.
-- @func fn
-- @string[opt] name shown when the module prints
function Apply:init(fn, name)
  nn.Module.init(self)
  if type(fn) ~= "function" then error("recon.Apply: expected a function, got " .. type(fn), 3) end
  self.fn, self.name = fn, name
end

function Apply:forward(x) return (self.fn(x)) end

function Apply:extra_repr() return self.name or "" end

--- The inpainting model's input preparation: the block zeroed (black),
-- then normalised with mean 0.5, std 0.5 (so the hole reads -1). The
-- target stays the original image in [0, 1].
-- @tparam[opt] table block as for block_mask
-- @treturn function fn(images) -> the model's input
function M.inpaint_input(block)
  local mask = M.mask_block(block)
  local norm = mg.data.transforms.normalize(0.5, 0.5)
  return function(x) return (norm(mask(x))) end
end

-- ---- evaluation ------------------------------------------------------------------------------

--- The sum over batches of fn(x), with grad mode off. For test losses: fn
-- returns a batch's loss times its size.
-- @tparam Tensor images
-- @func fn fn(x) -> number
-- @int[opt=500] batch_size
-- @treturn number
function M.batched(images, fn, batch_size)
  batch_size = batch_size or 500
  local total = 0
  mg.no_grad(function()
    for s = 1, images:size(1), batch_size do
      total = total + fn(images:narrow(1, s, math.min(batch_size, images:size(1) - s + 1)), s)
    end
  end)
  return total
end

--- Linear probes of a frozen trunk's features (mg.ssl.linear_probe), each
-- trained on a class-balanced subset of n labelled training images (the
-- subsets and seeds of mg.ssl.evaluate).
-- @tparam Module trunk
-- @tparam Dataset train_ds
-- @tparam Dataset test_ds
-- @tparam[opt] table opts `{labels = {100, 1000, "all"}, seed, steps, on_row}`: steps is a
--   number or a function(n) (default: linear_probe's budget); on_row(row) is called as each
--   row is done
-- @treturn {table,...} rows `{labels = n, probe = test accuracy}`
function M.probe(trunk, train_ds, test_ds, opts)
  opts = opts or {}
  local ssl = mg.ssl
  local rows = {}
  for _, n in ipairs(opts.labels or { 100, 1000, "all" }) do
    local subset = ssl.balanced_subset(train_ds, n, opts.seed)
    local count = #subset.labels
    mg.manual_seed((opts.seed or 0) + count)
    local steps = type(opts.steps) == "function" and opts.steps(count) or opts.steps
    local acc = ssl.linear_probe(trunk, subset, test_ds, { probe_steps = steps })
    rows[#rows + 1] = { labels = count, probe = acc }
    if opts.on_row then opts.on_row(rows[#rows]) end
  end
  return rows
end

return M
