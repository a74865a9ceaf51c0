-- Analytic FLOP counts of the benchmark workloads: the multiply-adds of
-- convolutions and matrix products (2 FLOP each), forward and backward.
-- Elementwise work, pooling, norms, losses and optimizer updates are not
-- counted: the figure says how close a step comes to the machine's
-- arithmetic peak on the work that can reach it.
--
-- Per layer, a training step does the forward product, the weight
-- gradient, and the input gradient except for the first layer (its input
-- needs none). An attack step does the forward and the input gradient of
-- every layer, no weight gradient.
local M = {}

-- Multiply-adds per example of a layer.
local function conv(cin, cout, k, oh, ow) return cin * cout * k * k * oh * ow end
local function linear(fin, fout) return fin * fout end

-- The Transformer classifier on sequences of L tokens: per layer the q, k,
-- v projections, the two attention products (scores and weighted values:
-- L x L x d each, over all heads), the output projection and the
-- feed-forward pair; then the head on one position. The first entry
-- stands for the embeddings: no product, and the first real layer's input
-- gradient is needed (the embeddings train), which train() then counts.
-- An attention product has no weights but two input gradients, so it too
-- costs three times its forward in training.
local function transformer(L, d, ff, layers, classes)
  local net = { 0 }
  for _ = 1, layers do
    net[#net + 1] = L * linear(d, 3 * d)
    net[#net + 1] = 2 * L * L * d
    net[#net + 1] = L * linear(d, d)
    net[#net + 1] = L * (linear(d, ff) + linear(ff, d))
  end
  net[#net + 1] = linear(d, classes)
  return net
end

-- The networks, as lists of multiply-adds per example.
local function seed_cnn(classes)
  return {
    conv(1, 32, 3, 26, 26),  -- 28 -> 26, pool -> 13
    conv(32, 64, 3, 11, 11), -- 13 -> 11, pool -> 5
    conv(64, 128, 3, 3, 3),  -- 5 -> 3
    linear(128 * 3 * 3, 128), linear(128, classes),
  }
end
M.nets = {
  seed_cnn4 = seed_cnn(4),
  seed_cnn10 = seed_cnn(10),
  ae = { linear(784, 32), linear(32, 784) },
  inpaint = { conv(1, 16, 3, 26, 26), conv(16, 32, 3, 24, 24), linear(32 * 24 * 24, 128), linear(128, 784) },
  gan_mlp_g = { linear(100, 128), linear(128, 784) },
  gan_mlp_d = { linear(784, 128), linear(128, 1) },
  gan_bn_g = { linear(100, 256), linear(256, 512), linear(512, 784) },
  gan_bn_d = { linear(784, 512), linear(512, 256), linear(256, 1) },
  transformer = transformer(256, 128, 512, 4, 2),
}

local function total(net, from)
  local s = 0
  for i = from or 1, #net do s = s + net[i] end
  return s
end

--- forward(net, batch) -> FLOP of a forward pass.
function M.forward(net, batch) return 2 * batch * total(net) end

--- train(net, batch) -> FLOP of forward + weight gradients + input
-- gradients of every layer but the first.
function M.train(net, batch) return 2 * batch * (2 * total(net) + total(net, 2)) end

--- attack(net, batch) -> FLOP of forward + input gradients of every layer.
function M.attack(net, batch) return 2 * batch * 2 * total(net) end

-- A GAN step: D on real and graph-free fake (G forward only), then G
-- trained through the frozen D (D: forward and input gradients only).
local function gan_step(g, d, batch)
  return M.forward(g, batch) + 2 * M.train(d, batch) + M.train(g, batch) + M.attack(d, batch)
end

--- per_step[name] -> FLOP of one step of each benchmark workload.
local nets = M.nets
M.per_step = {
  rotation = M.train(nets.seed_cnn4, 512),
  classifier = M.train(nets.seed_cnn10, 128),
  fgsm = M.attack(nets.seed_cnn10, 128),
  pgd = 10 * M.attack(nets.seed_cnn10, 128) + M.forward(nets.seed_cnn10, 128),
  ae = M.train(nets.ae, 256),
  inpaint = M.train(nets.inpaint, 64),
  gan_mlp = gan_step(nets.gan_mlp_g, nets.gan_mlp_d, 128),
  gan_bn = gan_step(nets.gan_bn_g, nets.gan_bn_d, 256),
  transformer = M.train(nets.transformer, 32),
  transformer_infer = M.forward(nets.transformer, 32),
  transformer_infer_slowpath = M.forward(nets.transformer, 32),
}

return M
