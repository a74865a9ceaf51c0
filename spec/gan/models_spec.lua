-- The three generator/discriminator pairs: the seed MLP GAN and BatchNorm
-- GAN exactly as described (layer sizes, no-bias layers, output ranges),
-- the DCGAN's shapes, their training settings, fixed noise and sampling.
local H = require "helpers"
local mg = H.mg
local gan = mg.gan

local function range_of(t) return t:min():item(), t:max():item() end

describe("gan models", function()
  before_each(H.reseed(5))

  it("builds the seed MLP GAN: 100 -> 128 -> 784 sigmoid, D 784 -> 128 -> 1 sigmoid", function()
    local G, D = mg.models.mlp_gan(100)
    assert.are.equal(100 * 128 + 128 + 128 * 784 + 784, G:num_parameters())
    assert.are.equal(784 * 128 + 128 + 128 + 1, D:num_parameters())
    local x = G(mg.randn(3, 100))
    assert.are.same({ 3, 1, 28, 28 }, x:shape())
    local lo, hi = range_of(x)
    assert.is_true(lo > 0 and hi < 1)
    local p = D(x)
    assert.are.same({ 3, 1 }, p:shape())
    lo, hi = range_of(p)
    assert.is_true(lo > 0 and hi < 1)
  end)

  it("builds the seed BatchNorm GAN: no-bias Linear 256/512 + BatchNorm, tanh; D 512 -> 256 -> 1 logit", function()
    local G, D = mg.models.bn_gan(100)
    -- Linear weights without bias, BatchNorm scale and shift, last Linear with bias
    assert.are.equal(100 * 256 + 2 * 256 + 256 * 512 + 2 * 512 + 512 * 784 + 784, G:num_parameters())
    assert.are.equal(784 * 512 + 512 + 512 * 256 + 256 + 256 + 1, D:num_parameters())
    assert.is_nil(G[1].bias)
    assert.is_nil(G[4].bias)
    local x = G(mg.randn(4, 100))
    assert.are.same({ 4, 1, 28, 28 }, x:shape())
    local lo, hi = range_of(x)
    assert.is_true(lo >= -1 and hi <= 1 and lo < 0)
    assert.are.same({ 4, 1 }, D(x):shape())
    local settings = gan.MODELS.bn
    assert.are.equal(1e-4, settings.lr)
    assert.are.equal(256, settings.batch_size)
    assert.are.equal(50, settings.epochs)
    assert.are.same({ -1, 1 }, settings.range)
  end)

  it("builds a DCGAN of transposed convolutions for 28x28", function()
    local G, D = mg.models.dcgan(16, { width = 8 })
    local x = G(mg.randn(2, 16))
    assert.are.same({ 2, 1, 28, 28 }, x:shape())
    assert.are.same({ 2, 1 }, D(x):shape())
    local kinds = {}
    for _, m in ipairs(G:modules()) do kinds[m:type_name()] = (kinds[m:type_name()] or 0) + 1 end
    assert.are.equal(2, kinds["nn.ConvTranspose2d"])
  end)

  it("gives each model its settings and Adam betas", function()
    local g = gan.create("mlp", { noise_dim = 10 })
    assert.are.equal(10, g.noise_dim)
    assert.are.equal("probability", g.output)
    assert.are.equal("non-saturating", g.loss)
    assert.are.equal(2e-4, g.opt_g.param_groups[1].lr)
    assert.are.same({ 0.5, 0.999 }, g.opt_d.param_groups[1].betas)
    assert.are.equal(128, g.settings.batch_size)
    local s = gan.create("dcgan", { loss = "saturating", lr = 1e-3, width = 4 })
    assert.are.equal("saturating", s.loss)
    assert.are.equal(1e-3, s.opt_d.param_groups[1].lr)
    H.assert_error(function() gan.create("vae") end, "unknown model 'vae'")
  end)

  it("maps pixels between [0, 1] and the model's range", function()
    local g = gan.create("bn")
    local x = mg.tensor({ 0, 0.25, 1 })
    H.assert_near(g:to_range(x), { -1, -0.5, 1 })
    H.assert_near(g:from_range(mg.tensor({ -1, 0, 1, 1.5 })), { 0, 0.5, 1, 1 })
    local m = gan.create("mlp")
    H.assert_near(m:to_range(x), { 0, 0.25, 1 })
  end)
end)

describe("gan sampling", function()
  before_each(H.reseed(6))

  it("draws fixed noise from its own seed without moving the global stream", function()
    mg.manual_seed(1)
    local expected = mg.randn(3)
    mg.manual_seed(1)
    local a = gan.fixed_noise(4, 5, 99)
    local after = mg.randn(3)
    H.assert_near(after, expected, 0, 0)
    H.assert_near(gan.fixed_noise(4, 5, 99), a, 0, 0)
    assert.are.same({ 4, 5 }, a:shape())
  end)

  it("samples in eval mode without a graph and restores the mode", function()
    local g = gan.create("bn")
    local z = mg.randn(6, 100)
    local a = g:sample(z)
    assert.is_false(a.requires_grad)
    assert.is_true(g.G.training)
    -- eval mode: each sample depends on its own noise only
    H.assert_near(g:sample(z:narrow(1, 1, 2)), a:narrow(1, 1, 2), 1e-6, 1e-5)
    H.assert_near(g:sample(z, { batch_size = 4 }), a, 1e-6, 1e-5)
    assert.are.same({ 10, 1, 28, 28 }, g:sample(10):shape())
  end)
end)
