--- mg.gan: generative adversarial networks, the method: the losses, the
-- game (a generator, a discriminator and their optimizers: d_step on a
-- real and a detached fake batch, g_step through a frozen D, step), and
-- the training settings of each network (MODELS, create). The networks
-- are in mg.models; the measurements (classifier-feature Frechet distance,
-- coverage, classifier score, the feature classifier) are exported here
-- too. Pixel ranges: the MLP GAN works in [0, 1] (sigmoid output), the
-- others in [-1, 1] (tanh output); GAN.range says which, to_range and
-- from_range convert.
-- @module moongrad.gan
-- @alias M
-- @usage local gan = mg.gan.create("dcgan")
-- trainer:run(loader, function(b, ctx) return gan:step(gan:to_range(b.images), ctx) end)
-- mg.viz.image_grid(gan:from_range(gan:sample(64)), "out/samples.png")
local mg = require "moongrad"
local class = require "moongrad.class"
local models = require "moongrad.models"
local measure = require "moongrad.gan.measure"
local step_with = require("moongrad.train.trainer").step_with

local M = {}
for k, v in pairs(measure) do M[k] = v end

-- Training settings of each model: the seed articles' own for mlp and bn.
--   name; build(noise_dim, opts) -> G, D; output: "probability" (D ends in a sigmoid,
--   BCE on probabilities) or "logits" (BCE on logits); range of G's pixels;
--   Adam lr and betas; batch_size; epochs.
M.MODELS = {
  mlp = {
    name = "MLP GAN", build = models.mlp_gan, output = "probability", range = { 0, 1 },
    lr = 2e-4, betas = { 0.5, 0.999 }, batch_size = 128, epochs = 50,
    description = "seed MLP GAN (Linear 128 + ReLU; sigmoid D, BCE)",
  },
  bn = {
    name = "BatchNorm GAN", build = models.bn_gan, output = "logits", range = { -1, 1 },
    lr = 1e-4, betas = { 0.9, 0.999 }, batch_size = 256, epochs = 50,
    description = "seed BatchNorm GAN (Linear 256/512 + BatchNorm + LeakyReLU; BCE on logits)",
  },
  dcgan = {
    name = "DCGAN", build = models.dcgan, output = "logits", range = { -1, 1 },
    lr = 2e-4, betas = { 0.5, 0.999 }, batch_size = 128, epochs = 20,
    description = "DCGAN (transposed convolutions, BatchNorm; BCE on logits)",
  },
}

-- ---- losses ----------------------------------------------------------------------

local function check_output(output, who)
  if output ~= "logits" and output ~= "probability" then
    error(string.format("%s: output must be 'logits' or 'probability', got %s", who, tostring(output)), 3)
  end
end

-- Binary cross-entropy of D's outputs against a constant target (0 or 1).
local function bce(out, target, output)
  local t = target == 1 and mg.ones_like(out) or mg.zeros_like(out)
  if output == "logits" then return mg.binary_cross_entropy_with_logits(out, t) end
  return mg.binary_cross_entropy(out, t)
end

--- D's loss: BCE(D(x), 1) + BCE(D(G(z)), 0), each the mean over its batch.
-- @tparam Tensor d_real D's outputs on real images
-- @tparam Tensor d_fake D's outputs on generated images
-- @string[opt="logits"] output "logits" or "probability": what D's outputs are
-- @treturn Tensor
function M.discriminator_loss(d_real, d_fake, output)
  output = output or "logits"
  check_output(output, "gan.discriminator_loss")
  return bce(d_real, 1, output) + bce(d_fake, 0, output)
end

--- G's loss, from D's outputs on generated images. "non-saturating":
-- -log D(G(z)) = BCE(D(G(z)), 1), strong gradients while D rejects the
-- samples (the default, as in practice). "saturating": log(1 - D(G(z))) =
-- -BCE(D(G(z)), 0), the minimax game's own loss, whose gradient vanishes
-- when D is confident.
-- @tparam Tensor d_fake
-- @tparam[opt] table opts `{loss = "non-saturating", output = "logits"}`
-- @treturn Tensor
function M.generator_loss(d_fake, opts)
  opts = opts or {}
  local output, kind = opts.output or "logits", opts.loss or "non-saturating"
  check_output(output, "gan.generator_loss")
  if kind == "non-saturating" then return bce(d_fake, 1, output) end
  if kind == "saturating" then return -bce(d_fake, 0, output) end
  error(string.format("gan.generator_loss: loss must be 'non-saturating' or 'saturating', got %s", tostring(kind)), 2)
end

-- ---- the GAN ---------------------------------------------------------------------

--- A generator, a discriminator and an Adam optimizer for each
-- (gan.opt_g, gan.opt_d): G maps noise [N, noise_dim] to images; D maps
-- images to [N, 1] logits or probabilities.
-- @type GAN
local GAN = class("gan.GAN")
M.GAN = GAN

--- gan.GAN(opts): a new game.
-- @tparam table opts `{generator = G, discriminator = D, noise_dim = 100,
--   output = "logits" | "probability", loss = "non-saturating" | "saturating",
--   range = {-1, 1}, lr = 2e-4, betas = {0.5, 0.999}, lr_g, lr_d}` (lr_g, lr_d override lr
--   per network)
function GAN:init(opts)
  if type(opts) ~= "table" or not opts.generator or not opts.discriminator then
    error("gan.GAN: expected {generator = G, discriminator = D, ...}", 3)
  end
  self.G, self.D = opts.generator, opts.discriminator
  self.noise_dim = opts.noise_dim or 100
  self.output = opts.output or "logits"
  check_output(self.output, "gan.GAN")
  self.loss = opts.loss or "non-saturating"
  if self.loss ~= "non-saturating" and self.loss ~= "saturating" then
    error("gan.GAN: loss must be 'non-saturating' or 'saturating', got " .. tostring(self.loss), 3)
  end
  self.range = opts.range or { -1, 1 }
  local lr, betas = opts.lr or 2e-4, opts.betas or { 0.5, 0.999 }
  self.opt_g = mg.optim.Adam(self.G:parameters(), { lr = opts.lr_g or lr, betas = betas })
  self.opt_d = mg.optim.Adam(self.D:parameters(), { lr = opts.lr_d or lr, betas = betas })
end

--- A GAN for one of MODELS ("mlp", "bn", "dcgan") with its settings;
-- gan.settings is the entry of MODELS.
-- @string name
-- @tparam[opt] table opts `{noise_dim = 100, loss, lr, width}`
-- @treturn GAN
function M.create(name, opts)
  opts = opts or {}
  local s = M.MODELS[name]
  if not s then error(string.format("gan.create: unknown model '%s' (mlp, bn, dcgan)", tostring(name)), 2) end
  local noise_dim = opts.noise_dim or 100
  local G, D = s.build(noise_dim, opts)
  local g = GAN { generator = G, discriminator = D, noise_dim = noise_dim, output = s.output,
    loss = opts.loss, range = s.range, lr = opts.lr or s.lr, betas = s.betas }
  g.name, g.settings = name, s
  return g
end

--- Standard normal noise.
-- @int n
-- @treturn Tensor [n, noise_dim]
function GAN:noise(n) return mg.randn(n, self.noise_dim) end

--- Images in [0, 1] mapped to G's pixel range.
-- @tparam Tensor x
-- @treturn Tensor
function GAN:to_range(x)
  local lo, hi = self.range[1], self.range[2]
  if lo == 0 and hi == 1 then return x end
  return x * (hi - lo) + lo
end

--- G's pixels mapped to [0, 1] (and clipped there).
-- @tparam Tensor x
-- @treturn Tensor
function GAN:from_range(x)
  local lo, hi = self.range[1], self.range[2]
  if not (lo == 0 and hi == 1) then x = (x - lo) / (hi - lo) end
  return mg.clamp(x, 0, 1)
end

-- D's probability that its outputs are real, averaged (a number).
local function mean_prob(out, output)
  return mg.no_grad(function()
    local p = output == "logits" and mg.sigmoid(out) or out
    return p:mean():item()
  end)
end

--- One Adam step of D on a real and a generated batch (fake is detached
-- here: no gradient reaches G).
-- @tparam Tensor real in G's pixel range
-- @tparam[opt] Tensor fake generated images; without it, G makes one of real's size
-- @tparam[opt] table ctx the engine's step context (its gradient hook runs), or nil on its own
-- @treturn number d_loss
-- @treturn number D's mean probability on real images
-- @treturn number D's mean probability on generated images
function GAN:d_step(real, fake, ctx)
  local D = self.D
  if fake == nil then fake = mg.no_grad(function() return self.G(self:noise(real:size(1))) end) end
  local d_real = D(real)
  local d_fake = D(fake:detach())
  local loss = M.discriminator_loss(d_real, d_fake, self.output)
  step_with(ctx, loss, self.opt_d)
  return loss:item(), mean_prob(d_real, self.output), mean_prob(d_fake, self.output)
end

--- Runs fn(...) with every parameter of module set to requires_grad =
-- false (no gradient is computed for them or stored in their .grad); each
-- parameter's flag is restored afterwards, also when fn raises. The module
-- is not copied.
-- @tparam Module module
-- @func fn
-- @param ... fn's arguments
-- @return fn's results
function M.frozen(module, fn, ...)
  local params = module:parameters()
  local flags = {}
  for i, p in ipairs(params) do flags[i] = p.requires_grad; p:requires_grad_(false) end
  local results = table.pack(pcall(fn, ...))
  for i, p in ipairs(params) do p:requires_grad_(flags[i]) end
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- One Adam step of G through D with D frozen (its parameters get no
-- gradient and do not change).
-- @tparam Tensor|int fake G(z) with its graph, or a number of samples to generate
-- @tparam[opt] table ctx as for d_step
-- @treturn number g_loss
function GAN:g_step(fake, ctx)
  if type(fake) == "number" then fake = self.G(self:noise(fake)) end
  local loss = M.frozen(self.D, function()
    return step_with(ctx, M.generator_loss(self.D(fake), { loss = self.loss, output = self.output }), self.opt_g)
  end)
  return loss:item()
end

--- One D step on the real batch and a generated batch of the same size,
-- then one G step on the same generated batch through the just-updated,
-- frozen D.
-- @tparam Tensor real in G's pixel range
-- @tparam[opt] table ctx the engine's step context
-- @treturn table `{d_loss, g_loss, d_real, d_fake}`
function GAN:step(real, ctx)
  local fake = self.G(self:noise(real:size(1)))
  local d_loss, d_real, d_fake = self:d_step(real, fake, ctx)
  local g_loss = self:g_step(fake, ctx)
  return { d_loss = d_loss, g_loss = g_loss, d_real = d_real, d_fake = d_fake }
end

--- Samples with G in eval mode (batch norm uses its running statistics)
-- and no graph; G's mode is restored.
-- @tparam Tensor|int z noise [N, noise_dim], or a count
-- @tparam[opt] table opts `{batch_size = 500}`
-- @treturn Tensor [N, 1, 28, 28] in G's range
function GAN:sample(z, opts)
  if type(z) == "number" then z = self:noise(z) end
  local bs = (opts and opts.batch_size) or 500
  return mg.nn.utils.inference(self.G, mg.nn.utils.map_batches, z, bs, function(x) return self.G(x) end)
end

--- Noise drawn from its own seed; the global random stream is left where
-- it was.
-- @int n
-- @int noise_dim
-- @int seed
-- @treturn Tensor [n, noise_dim]
function M.fixed_noise(n, noise_dim, seed)
  return mg.with_rng_state(seed, mg.randn, n, noise_dim)
end

return M
