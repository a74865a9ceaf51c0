--- The GAN networks: the seed MLP GAN, the seed BatchNorm GAN and a DCGAN
-- for 28x28 images. Each builder returns G, D. The game that trains them
-- is mg.gan.
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

--- The seed MLP GAN. G: noise -> Linear 128 + ReLU -> Linear 784 + Sigmoid
-- -> [N, 1, 28, 28] in [0, 1]; D: Flatten -> Linear 128 + ReLU -> Linear 1
-- + Sigmoid (a probability).
-- @int noise_dim
-- @treturn Module G
-- @treturn Module D
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

--- The seed BatchNorm GAN. G: noise -> Linear 256 (no bias) + BatchNorm +
-- LeakyReLU -> Linear 512 (no bias) + BatchNorm + LeakyReLU -> Linear 784 +
-- Tanh -> [N, 1, 28, 28] in [-1, 1]; D: Flatten -> Linear 512 + LeakyReLU
-- -> Linear 256 + LeakyReLU -> Linear 1 (a logit).
-- @int noise_dim
-- @treturn Module G
-- @treturn Module D
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

--- A DCGAN for 28x28 images. G: noise -> Linear 128*7*7 (no bias) +
-- BatchNorm + ReLU -> [128, 7, 7] -> ConvTranspose 64 (4x4, stride 2) +
-- BatchNorm + ReLU -> [64, 14, 14] -> ConvTranspose 1 (4x4, stride 2) +
-- Tanh -> [1, 28, 28] in [-1, 1]. D: Conv 64 (4x4, stride 2) + LeakyReLU
-- -> [64, 14, 14] -> Conv 128 (4x4, stride 2) + BatchNorm + LeakyReLU ->
-- [128, 7, 7] -> Flatten -> Linear 1 (a logit). Weights initialised as
-- DCGAN's article says.
-- @int noise_dim
-- @tparam[opt] table opts `{width = 64}` scales the channel counts
-- @treturn Module G
-- @treturn Module D
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

return M
