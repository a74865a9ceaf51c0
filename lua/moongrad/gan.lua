-- mg.gan: generative adversarial networks and the measurements that say
-- whether one works.
--   models      mlp_gan, bn_gan (the two seed GANs), dcgan (transposed
--               convolutions), MODELS (their training settings), create
--   GAN         a generator, a discriminator and their optimizers:
--               d_step (real + detached fake), g_step (through a frozen D),
--               step, sample; generator_loss / discriminator_loss
--   evaluation  FeatureClassifier (a small CNN trained on the same data's
--               labels), classifier_for (train once, cache as safetensors),
--               feature_stats, frechet_distance (in that classifier's
--               feature space: a classifier-feature Frechet distance, not
--               Inception FID), class_coverage, classifier_score, evaluate
--   linalg      eigh (symmetric eigendecomposition in double precision),
--               sqrtm_psd, trace_sqrt_product
-- Pixel ranges: the MLP GAN works in [0, 1] (sigmoid output), the others in
-- [-1, 1] (tanh output); GAN.range says which, to_range / from_range convert.
local mg = require "moongrad"
local class = require "moongrad.class"
local nn = mg.nn

local M = {}

local abs, sqrt, log, exp = math.abs, math.sqrt, math.log, math.exp

-- ---- models ----------------------------------------------------------------------

-- The seed MLP GAN. G: noise -> Linear 128 + ReLU -> Linear 784 + Sigmoid
-- -> [N, 1, 28, 28] in [0, 1]; D: Flatten -> Linear 128 + ReLU -> Linear 1
-- + Sigmoid (a probability). Returns G, D.
function M.mlp_gan(noise_dim)
  noise_dim = noise_dim or 100
  local G = nn.Sequential {
    nn.Linear(noise_dim, 128), nn.ReLU(),
    nn.Linear(128, 784), nn.Sigmoid(), nn.Unflatten(2, { 1, 28, 28 }),
  }
  local D = nn.Sequential {
    nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 1), nn.Sigmoid(),
  }
  return G, D
end

-- Negative slope of the LeakyReLUs of bn_gan and dcgan.
M.LEAKY_SLOPE = 0.2

-- The seed BatchNorm GAN. G: noise -> Linear 256 (no bias) + BatchNorm +
-- LeakyReLU -> Linear 512 (no bias) + BatchNorm + LeakyReLU -> Linear 784 +
-- Tanh -> [N, 1, 28, 28] in [-1, 1]; D: Flatten -> Linear 512 + LeakyReLU
-- -> Linear 256 + LeakyReLU -> Linear 1 (a logit). Returns G, D.
function M.bn_gan(noise_dim)
  noise_dim = noise_dim or 100
  local s = M.LEAKY_SLOPE
  local G = nn.Sequential {
    nn.Linear(noise_dim, 256, { bias = false }), nn.BatchNorm1d(256), nn.LeakyReLU(s),
    nn.Linear(256, 512, { bias = false }), nn.BatchNorm1d(512), nn.LeakyReLU(s),
    nn.Linear(512, 784), nn.Tanh(), nn.Unflatten(2, { 1, 28, 28 }),
  }
  local D = nn.Sequential {
    nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(s),
    nn.Linear(512, 256), nn.LeakyReLU(s), nn.Linear(256, 1),
  }
  return G, D
end

-- DCGAN initialisation: convolution and linear weights N(0, 0.02), batch
-- norm scales N(1, 0.02), biases 0.
local function dcgan_init(m)
  local init = nn.init
  local name = m:type_name()
  if name == "nn.Conv2d" or name == "nn.ConvTranspose2d" or name == "nn.Linear" then
    init.normal_(m.weight, 0, 0.02)
    if m.bias then init.zeros_(m.bias) end
  elseif name == "nn.BatchNorm1d" or name == "nn.BatchNorm2d" then
    init.normal_(m.weight, 1, 0.02)
    init.zeros_(m.bias)
  end
end

-- A DCGAN for 28x28 images. G: noise -> Linear 128*7*7 (no bias) +
-- BatchNorm + ReLU -> [128, 7, 7] -> ConvTranspose 64 (4x4, stride 2) +
-- BatchNorm + ReLU -> [64, 14, 14] -> ConvTranspose 1 (4x4, stride 2) +
-- Tanh -> [1, 28, 28] in [-1, 1]. D: Conv 64 (4x4, stride 2) + LeakyReLU
-- -> [64, 14, 14] -> Conv 128 (4x4, stride 2) + BatchNorm + LeakyReLU ->
-- [128, 7, 7] -> Flatten -> Linear 1 (a logit). opts.width scales the
-- channel counts (64 by default). Returns G, D.
function M.dcgan(noise_dim, opts)
  noise_dim = noise_dim or 100
  local w = (opts and opts.width) or 64
  local s = M.LEAKY_SLOPE
  local G = nn.Sequential {
    nn.Linear(noise_dim, 2 * w * 7 * 7, { bias = false }), nn.BatchNorm1d(2 * w * 7 * 7), nn.ReLU(),
    nn.Unflatten(2, { 2 * w, 7, 7 }),
    nn.ConvTranspose2d(2 * w, w, 4, { stride = 2, padding = 1, bias = false }), nn.BatchNorm2d(w), nn.ReLU(),
    nn.ConvTranspose2d(w, 1, 4, { stride = 2, padding = 1 }), nn.Tanh(),
  }
  local D = nn.Sequential {
    nn.Conv2d(1, w, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(s),
    nn.Conv2d(w, 2 * w, 4, { stride = 2, padding = 1, bias = false }), nn.BatchNorm2d(2 * w), nn.LeakyReLU(s),
    nn.Flatten(), nn.Linear(2 * w * 7 * 7, 1),
  }
  G:apply(dcgan_init)
  D:apply(dcgan_init)
  return G, D
end

-- Training settings of each model: the seed articles' own for mlp and bn.
--   name; build(noise_dim, opts) -> G, D; output: "probability" (D ends in a sigmoid,
--   BCE on probabilities) or "logits" (BCE on logits); range of G's pixels;
--   Adam lr and betas; batch_size; epochs.
M.MODELS = {
  mlp = {
    name = "MLP GAN", build = M.mlp_gan, output = "probability", range = { 0, 1 },
    lr = 2e-4, betas = { 0.5, 0.999 }, batch_size = 128, epochs = 50,
    description = "seed MLP GAN (Linear 128 + ReLU; sigmoid D, BCE)",
  },
  bn = {
    name = "BatchNorm GAN", build = M.bn_gan, output = "logits", range = { -1, 1 },
    lr = 1e-4, betas = { 0.9, 0.999 }, batch_size = 256, epochs = 50,
    description = "seed BatchNorm GAN (Linear 256/512 + BatchNorm + LeakyReLU; BCE on logits)",
  },
  dcgan = {
    name = "DCGAN", build = M.dcgan, output = "logits", range = { -1, 1 },
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

--- discriminator_loss(d_real, d_fake [, output = "logits"]) -> loss:
-- BCE(D(x), 1) + BCE(D(G(z)), 0), each the mean over its batch. d_real and
-- d_fake are D's outputs, logits or probabilities as output says.
function M.discriminator_loss(d_real, d_fake, output)
  output = output or "logits"
  check_output(output, "gan.discriminator_loss")
  return bce(d_real, 1, output) + bce(d_fake, 0, output)
end

--- generator_loss(d_fake [, {loss = "non-saturating", output = "logits"}])
-- -> loss for G to minimise, from D's outputs on generated images.
-- "non-saturating": -log D(G(z)) = BCE(D(G(z)), 1), strong gradients
-- while D rejects the samples (the default, as in practice).
-- "saturating": log(1 - D(G(z))) = -BCE(D(G(z)), 0), the minimax game's
-- own loss, whose gradient vanishes when D is confident.
function M.generator_loss(d_fake, opts)
  opts = opts or {}
  local output, kind = opts.output or "logits", opts.loss or "non-saturating"
  check_output(output, "gan.generator_loss")
  if kind == "non-saturating" then return bce(d_fake, 1, output) end
  if kind == "saturating" then return -bce(d_fake, 0, output) end
  error(string.format("gan.generator_loss: loss must be 'non-saturating' or 'saturating', got %s", tostring(kind)), 2)
end

-- ---- the GAN ---------------------------------------------------------------------

local GAN = class("gan.GAN")
M.GAN = GAN

--- GAN{generator = G, discriminator = D, noise_dim = 100,
--   output = "logits" | "probability", loss = "non-saturating" |
--   "saturating", range = {-1, 1}, lr = 2e-4, betas = {0.5, 0.999},
--   lr_g, lr_d (override lr per network)}: G maps noise [N, noise_dim] to
-- images; D maps images to [N, 1] logits or probabilities. Makes an Adam
-- optimizer for each (gan.opt_g, gan.opt_d).
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

--- create(name [, {noise_dim = 100, loss, lr, width}]) -> GAN for one of
-- M.MODELS ("mlp", "bn", "dcgan") with its settings; gan.settings is the
-- entry of M.MODELS.
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

--- gan:noise(n) -> [n, noise_dim] standard normal noise.
function GAN:noise(n) return mg.randn(n, self.noise_dim) end

--- gan:to_range(x) -> images in [0, 1] mapped to G's pixel range.
function GAN:to_range(x)
  local lo, hi = self.range[1], self.range[2]
  if lo == 0 and hi == 1 then return x end
  return x * (hi - lo) + lo
end

--- gan:from_range(x) -> G's pixels mapped to [0, 1] (and clipped there).
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

--- gan:d_step(real [, fake]) -> d_loss, D(x), D(G(z)): one Adam step of D
-- on a real and a generated batch (fake is detached here: no gradient
-- reaches G; without fake, G makes one of real's size). real in G's pixel
-- range. D(x), D(G(z)) are D's mean probabilities.
function GAN:d_step(real, fake)
  local D = self.D
  if fake == nil then fake = mg.no_grad(function() return self.G(self:noise(real:size(1))) end) end
  local d_real = D(real)
  local d_fake = D(fake:detach())
  local loss = M.discriminator_loss(d_real, d_fake, self.output)
  self.opt_d:zero_grad()
  loss:backward()
  self.opt_d:step()
  return loss:item(), mean_prob(d_real, self.output), mean_prob(d_fake, self.output)
end

--- frozen(module, fn, ...) -> fn's results, run with every parameter of
-- module set to requires_grad = false (no gradient is computed for them or
-- stored in their .grad); each parameter's flag is restored afterwards,
-- also when fn raises. The module is not copied.
function M.frozen(module, fn, ...)
  local params = module:parameters()
  local flags = {}
  for i, p in ipairs(params) do flags[i] = p.requires_grad; p:requires_grad_(false) end
  local results = table.pack(pcall(fn, ...))
  for i, p in ipairs(params) do p:requires_grad_(flags[i]) end
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- gan:g_step(fake) -> g_loss: one Adam step of G through D with D frozen
-- (its parameters get no gradient and do not change). fake = G(z) with its
-- graph, or a number n of samples to generate.
function GAN:g_step(fake)
  if type(fake) == "number" then fake = self.G(self:noise(fake)) end
  local loss = M.frozen(self.D, function()
    local l = M.generator_loss(self.D(fake), { loss = self.loss, output = self.output })
    self.opt_g:zero_grad()
    l:backward()
    return l
  end)
  self.opt_g:step()
  return loss:item()
end

--- gan:step(real) -> {d_loss, g_loss, d_real, d_fake}: one D step on the
-- real batch and a generated batch of the same size, then one G step on
-- the same generated batch through the just-updated, frozen D.
function GAN:step(real)
  local fake = self.G(self:noise(real:size(1)))
  local d_loss, d_real, d_fake = self:d_step(real, fake)
  local g_loss = self:g_step(fake)
  return { d_loss = d_loss, g_loss = g_loss, d_real = d_real, d_fake = d_fake }
end

--- gan:sample(z [, {batch_size = 500}]) -> images [N, 1, 28, 28] in G's
-- range, with G in eval mode (batch norm uses its running statistics) and
-- no graph; z is noise [N, noise_dim] or a count. G's mode is restored.
function GAN:sample(z, opts)
  if type(z) == "number" then z = self:noise(z) end
  local bs = (opts and opts.batch_size) or 500
  local was = self.G.training
  self.G:eval()
  local parts = {}
  mg.no_grad(function()
    for s = 1, z:size(1), bs do parts[#parts + 1] = self.G(z:narrow(1, s, math.min(bs, z:size(1) - s + 1))) end
  end)
  if was then self.G:train() end
  return #parts == 1 and parts[1] or mg.cat(parts, 1)
end

--- fixed_noise(n, noise_dim, seed) -> [n, noise_dim] noise drawn from its
-- own seed; the global random stream is left where it was.
function M.fixed_noise(n, noise_dim, seed)
  local saved = mg.get_rng_state()
  mg.manual_seed(seed)
  local z = mg.randn(n, noise_dim)
  mg.set_rng_state(saved)
  return z
end

-- ---- linear algebra in double precision ---------------------------------------------

local linalg = {}
M.linalg = linalg

local function square_copy(a, who)
  local n = #a
  local b = {}
  for i = 1, n do
    local r = a[i]
    if type(r) ~= "table" or #r ~= n then error(string.format("%s: expected a square matrix (%d rows)", who, n), 3) end
    local s = {}
    for j = 1, n do s[j] = r[j] end
    b[i] = s
  end
  return b
end

local function as_matrix(a, who)
  if mg.is_tensor(a) then a = a:totable() end
  return square_copy(a, who)
end

-- Householder reduction of the symmetric matrix a (changed) to a
-- tridiagonal one: returns its diagonal d, off-diagonal e (e[k] between k
-- and k + 1) and, when want, q with a = q T q', stored by columns (q[j] is
-- column j: the rotations below touch two columns at a time).
local function tridiagonalize(a, want)
  local n = #a
  local q
  if want then
    q = {}
    for j = 1, n do q[j] = {}; for i = 1, n do q[j][i] = i == j and 1 or 0 end end
  end
  local d, e = {}, {}
  for k = 1, n - 2 do
    local norm2 = 0
    for i = k + 1, n do norm2 = norm2 + a[i][k] * a[i][k] end
    local x1 = a[k + 1][k]
    local rest = norm2 - x1 * x1
    if rest <= 0 then
      e[k] = x1 -- column already reduced
    else
      -- Reflector H = I - beta u u' maps the column below the diagonal to
      -- (alpha, 0, ..., 0); a[k+1.., k+1..] becomes H a H.
      local alpha = x1 >= 0 and -sqrt(norm2) or sqrt(norm2)
      local u = {}
      for i = k + 1, n do u[i] = a[i][k] end
      u[k + 1] = x1 - alpha
      local beta = 2 / (rest + u[k + 1] * u[k + 1])
      local p, K = {}, 0
      for i = k + 1, n do
        local r, s = a[i], 0
        for j = k + 1, n do s = s + r[j] * u[j] end
        p[i] = beta * s
        K = K + u[i] * p[i]
      end
      K = K * beta / 2
      for i = k + 1, n do p[i] = p[i] - K * u[i] end
      for i = k + 1, n do
        local r, ui, pi = a[i], u[i], p[i]
        for j = k + 1, n do r[j] = r[j] - ui * p[j] - pi * u[j] end
      end
      e[k] = alpha
      if want then -- q = q H: column j -= beta * (q u) * u[j]
        local qu = {}
        for i = 1, n do qu[i] = 0 end
        for j = k + 1, n do
          local col, uj = q[j], u[j]
          for i = 1, n do qu[i] = qu[i] + col[i] * uj end
        end
        for j = k + 1, n do
          local col, f = q[j], beta * u[j]
          for i = 1, n do col[i] = col[i] - f * qu[i] end
        end
      end
    end
    d[k] = a[k][k]
  end
  if n >= 2 then e[n - 1] = a[n][n - 1]; d[n - 1] = a[n - 1][n - 1] end
  d[n] = a[n][n]
  e[n] = 0
  return d, e, q
end

-- Implicit symmetric QR with Wilkinson shifts on the tridiagonal (d, e),
-- in place: d becomes the eigenvalues; rotations are applied to q's columns
-- when q is given.
local function tridiagonal_qr(d, e, q)
  local n = #d
  local eps = 2.220446049250313e-16
  local m, iterations = n, 0
  while m > 1 do
    if abs(e[m - 1]) <= eps * (abs(d[m - 1]) + abs(d[m])) then
      e[m - 1] = 0
      m = m - 1
    else
      iterations = iterations + 1
      if iterations > 60 * n then error("gan.linalg.eigh: no convergence", 3) end
      local l = m - 1 -- the unreduced block is l..m
      while l > 1 and abs(e[l - 1]) > eps * (abs(d[l - 1]) + abs(d[l])) do l = l - 1 end
      local t, f = (d[m - 1] - d[m]) / 2, e[m - 1]
      local mu = d[m] - f * f / (t + (t >= 0 and 1 or -1) * sqrt(t * t + f * f))
      local x, z = d[l] - mu, e[l]
      for k = l, m - 1 do
        -- rotation in the (k, k+1) plane: rows k, k+1 become c*row_k + s*row_k+1
        -- and -s*row_k + c*row_k+1, columns likewise; it zeroes z (the bulge).
        local r = sqrt(x * x + z * z)
        local c, s = 1, 0
        if r > 0 then c, s = x / r, z / r end
        if k > l then e[k - 1] = r end
        local a, b, g = d[k], d[k + 1], e[k]
        d[k] = c * c * a + 2 * c * s * g + s * s * b
        d[k + 1] = s * s * a - 2 * c * s * g + c * c * b
        e[k] = c * s * (b - a) + (c * c - s * s) * g
        if k < m - 1 then
          x, z = e[k], s * e[k + 1]
          e[k + 1] = c * e[k + 1]
        end
        if q then
          local qa, qb = q[k], q[k + 1]
          for i = 1, n do
            local va, vb = qa[i], qb[i]
            qa[i] = c * va + s * vb
            qb[i] = c * vb - s * va
          end
        end
      end
    end
  end
end

--- linalg.eigh(a [, {vectors = true}]) -> values, vectors: eigenvalues
-- (ascending, a Lua list) and eigenvectors (a matrix, Lua rows, whose
-- column j goes with values[j]) of the symmetric matrix a (a Lua list of
-- rows or a 2-D Tensor), computed in double precision: Householder
-- tridiagonalisation, then implicit QR with Wilkinson shifts.
-- vectors = false skips the eigenvectors (about 5x faster).
function linalg.eigh(a, opts)
  a = as_matrix(a, "gan.linalg.eigh")
  local n = #a
  if n == 0 then return {}, {} end
  local want = not (opts and opts.vectors == false)
  local d, e, q = tridiagonalize(a, want)
  tridiagonal_qr(d, e, q)
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(i, j) return d[i] < d[j] end)
  local values = {}
  for i, k in ipairs(order) do values[i] = d[k] end
  if not want then return values end
  local vectors = {}
  for i = 1, n do
    local row = {}
    for j, k in ipairs(order) do row[j] = q[k][i] end
    vectors[i] = row
  end
  return values, vectors
end

--- linalg.matmul(a, b) -> a b for Lua matrices (lists of rows).
function linalg.matmul(a, b)
  local n, m, p = #a, #b, #b[1]
  local c = {}
  for i = 1, n do
    local ai, ci = a[i], {}
    for j = 1, p do ci[j] = 0 end
    for k = 1, m do
      local v, bk = ai[k], b[k]
      if v ~= 0 then for j = 1, p do ci[j] = ci[j] + v * bk[j] end end
    end
    c[i] = ci
  end
  return c
end

-- Eigenvalues at or below this are rounding noise around 0: n * eps
-- times the largest magnitude. Their square roots would be far larger
-- than the noise itself, so PSD square roots count them as 0.
local function numerical_zero(values)
  local big = 0
  for _, l in ipairs(values) do big = math.max(big, abs(l)) end
  return #values * 2.220446049250313e-16 * big
end

--- linalg.sqrtm_psd(a) -> the symmetric square root of the symmetric
-- positive semi-definite matrix a (eigenvalues that are 0 up to rounding,
-- or negative from it, are taken as 0).
function linalg.sqrtm_psd(a)
  local values, v = linalg.eigh(a)
  local n = #values
  local floor = numerical_zero(values)
  local r = {}
  for i = 1, n do
    local vi, ri = v[i], {}
    for j = i, n do
      local vj, s = v[j], 0
      for k = 1, n do
        local l = values[k]
        if l > floor then s = s + vi[k] * sqrt(l) * vj[k] end
      end
      ri[j] = s
    end
    r[i] = ri
  end
  for i = 1, n do for j = 1, i - 1 do r[i][j] = r[j][i] end end
  return r
end

--- linalg.trace_sqrt_product(a, b) -> tr sqrt(a b) for symmetric positive
-- semi-definite a and b. With a = V L V', the eigenvalues of a b are those
-- of the symmetric s b s (s = sqrt(a) = V L^1/2 V'), and so of its
-- orthogonal similar W' b W with W = V L^1/2; the trace is the sum of
-- their square roots (eigenvalues that are 0 up to rounding count as 0).
function linalg.trace_sqrt_product(a, b)
  a, b = as_matrix(a, "gan.linalg.trace_sqrt_product"), as_matrix(b, "gan.linalg.trace_sqrt_product")
  if #a ~= #b then
    error(string.format("gan.linalg.trace_sqrt_product: matrices of size %d and %d", #a, #b), 2)
  end
  local values, v = linalg.eigh(a)
  local n = #values
  local floor = numerical_zero(values)
  local keep = {} -- columns of W: the eigenvectors of a with a non-zero eigenvalue
  for k = 1, n do if values[k] > floor then keep[#keep + 1] = k end end
  local w = {}
  for i = 1, n do
    local row, vi = {}, v[i]
    for c, k in ipairs(keep) do row[c] = vi[k] * sqrt(values[k]) end
    w[i] = row
  end
  if #keep == 0 then return 0 end
  local bw = linalg.matmul(b, w)
  local m = {}
  for c = 1, #keep do
    local row = {}
    for d = 1, #keep do row[d] = 0 end
    m[c] = row
  end
  for i = 1, n do -- m = w' (b w)
    local wi, bwi = w[i], bw[i]
    for c = 1, #keep do
      local x, row = wi[c], m[c]
      if x ~= 0 then for d = c, #keep do row[d] = row[d] + x * bwi[d] end end
    end
  end
  for c = 1, #keep do for d = c + 1, #keep do m[d][c] = m[c][d] end end
  local ev = linalg.eigh(m, { vectors = false })
  local ev_floor = numerical_zero(ev)
  local total = 0
  for _, l in ipairs(ev) do
    if l > ev_floor then total = total + sqrt(l) end
  end
  return total
end

-- ---- Frechet distance, coverage, classifier score --------------------------------------

--- feature_stats(features) -> {mu = {...}, sigma = {{...}, ...}, n = N}:
-- mean and covariance (unbiased, N - 1) of features [N, D] (a Tensor),
-- as Lua numbers (doubles). The data are centred with their mean before
-- the product so the float32 matrix product only sums centred values.
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

--- frechet_distance(a, b) -> d, parts: the Frechet distance between two
-- Gaussians fitted to feature sets a and b (Tensors [N, D], or stats from
-- feature_stats): |mu_a - mu_b|^2 + tr(S_a + S_b - 2 sqrt(S_a S_b)).
-- parts = {mean = |mu_a - mu_b|^2, cov = the trace term}. With a
-- classifier's features (M.evaluate) this is a classifier-feature Frechet
-- distance; it is Inception FID only with Inception features.
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

--- class_coverage(classes, num_classes [, {min_fraction}]) -> {counts,
-- fractions, covered, kl_uniform, entropy, n}: the histogram of predicted
-- classes (1-based int64 Tensor or Lua list). covered = classes holding at
-- least min_fraction of the samples (default a quarter of the fair share,
-- 0.25 / num_classes); kl_uniform = KL(histogram || uniform) in nats (0 for
-- a perfectly even spread, log(num_classes) when one class takes all).
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

--- classifier_score(probs) -> exp(mean_i KL(p(y|x_i) || p(y))), the
-- Inception-score formula with the feature classifier: from 1 (every
-- sample gets the same class distribution) to the number of classes
-- (confident predictions spread evenly over all classes). probs [N, K].
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

-- ---- the feature classifier ----------------------------------------------------------

local FeatureClassifier = nn.Module:extend("gan.FeatureClassifier")
M.FeatureClassifier = FeatureClassifier
M.FEATURE_DIM = 128

--- FeatureClassifier(classes = 10): Conv 32 (3x3, padding 1) + ReLU +
-- MaxPool 2 -> Conv 64 (3x3, padding 1) + ReLU + MaxPool 2 -> Flatten ->
-- Linear 128 + ReLU (the features) -> Linear classes. Takes images in
-- [0, 1]. model:features(x) -> [N, 128]; model(x) -> logits.
function FeatureClassifier:init(classes)
  nn.Module.init(self)
  self.trunk = nn.Sequential {
    nn.Conv2d(1, 32, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 7 * 7, M.FEATURE_DIM), nn.ReLU(),
  }
  self.head = nn.Linear(M.FEATURE_DIM, classes or 10)
end

function FeatureClassifier:features(x) return self.trunk(x) end
function FeatureClassifier:forward(x) return self.head(self.trunk(x)) end

--- embed(classifier, images [, {batch_size = 500}]) -> features [N, 128],
-- probabilities [N, K]: the classifier in eval mode, no graph. Images in
-- [0, 1].
function M.embed(classifier, images, opts)
  local bs = (opts and opts.batch_size) or 500
  local was = classifier.training
  classifier:eval()
  local feats, probs = {}, {}
  mg.no_grad(function()
    for s = 1, images:size(1), bs do
      local f = classifier:features(images:narrow(1, s, math.min(bs, images:size(1) - s + 1)))
      feats[#feats + 1] = f
      probs[#probs + 1] = mg.softmax(classifier.head(f), 2)
    end
  end)
  if was then classifier:train() end
  local function join(t) return #t == 1 and t[1] or mg.cat(t, 1) end
  return join(feats), join(probs)
end

local function accuracy_of(classifier, ds)
  local _, probs = M.embed(classifier, ds.images)
  return probs:argmax(2):eq(ds.labels):float():mean():item()
end

--- train_classifier(train_ds [, {epochs = 2, lr = 1e-3, batch_size = 128,
-- seed = 0, on_epoch = fn(epoch, loss)}]) -> FeatureClassifier trained on
-- the labels with Adam. Uses its own seed; the global random stream is left
-- where it was.
function M.train_classifier(train_ds, opts)
  opts = opts or {}
  local saved = mg.get_rng_state()
  mg.manual_seed(opts.seed or 0)
  local model = FeatureClassifier(#(train_ds.classes or {}) > 0 and #train_ds.classes or 10)
  local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr or 1e-3 })
  local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size or 128, shuffle = true })
  for epoch = 1, opts.epochs or 2 do
    local sum, n = 0, 0
    for x, y in loader:iter() do
      local loss = mg.cross_entropy(model(x), y)
      opt:zero_grad()
      loss:backward()
      opt:step()
      sum, n = sum + loss:item() * x:size(1), n + x:size(1)
    end
    if opts.on_epoch then opts.on_epoch(epoch, sum / math.max(n, 1)) end
  end
  model:eval()
  mg.set_rng_state(saved)
  return model
end

--- classifier_for(path, train_ds, test_ds [, opts]) -> classifier,
-- test accuracy, "loaded" | "trained": the feature classifier of this
-- data. When path holds one trained on the same data (name, source,
-- number of images, epochs: kept in the file's metadata) it is loaded;
-- otherwise one is trained (opts as train_classifier) and saved to path
-- (safetensors) for the next run.
function M.classifier_for(path, train_ds, test_ds, opts)
  opts = opts or {}
  local key = {
    data = tostring(train_ds.name), source = tostring(train_ds.source),
    train_images = tostring(#train_ds.labels), epochs = tostring(opts.epochs or 2),
    arch = "FeatureClassifier-v1",
  }
  local f = io.open(path, "rb")
  if f then
    f:close()
    local ok, tensors, meta = pcall(mg.load, path)
    local same = ok
    if same then for k, v in pairs(key) do if meta[k] ~= v then same = false end end end
    if same then
      local model = FeatureClassifier(#train_ds.classes)
      if pcall(model.load_state_dict, model, tensors) then
        model:eval()
        return model, accuracy_of(model, test_ds), "loaded"
      end
    end
  end
  local model = M.train_classifier(train_ds, opts)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then mg.mkdir(dir) end
  mg.save(path, model:state_dict(), key)
  return model, accuracy_of(model, test_ds), "trained"
end

--- evaluate(gan, classifier, train_images, test_images [, {samples,
-- seed = 0, classes = 10, cache}]) -> the measurements of a trained GAN, with
-- the same number N of generated, training and held-out images (N =
-- samples, at most the smaller set; Frechet distances grow as N shrinks,
-- so compare numbers at the same N). Images in [0, 1].
--   frechet          classifier-feature Frechet distance, generated vs
--                    training images
--   frechet_real     the same between held-out and training images: the
--                    floor a perfect generator would reach at this N
--   coverage         class_coverage of the classifier's predictions on the
--                    generated images; coverage_real on held-out images
--   score            classifier_score of the generated images; score_real
-- opts.cache: a table that keeps the real images' figures between calls
-- (the same classifier and images), so evaluating every few epochs only
-- embeds the generated images.
function M.evaluate(gan, classifier, train_images, test_images, opts)
  opts = opts or {}
  local n = math.min(opts.samples or 10000, train_images:size(1), test_images:size(1))
  local k = opts.classes or 10
  local saved = mg.get_rng_state()
  mg.manual_seed(opts.seed or 0)
  local generated = gan:from_range(gan:sample(n))
  mg.set_rng_state(saved)
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
