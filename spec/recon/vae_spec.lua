-- mg recon: the VAE's KL term, the reparameterisation trick, the loss and
-- the convolutional VAE's shapes.
local H = require "helpers"
local mg = H.mg
local recon = require "moongrad.recon"

describe("recon.kl_normal", function()
  before_each(H.reseed(11))

  it("matches a hand computation, per example and averaged over the batch", function()
    -- example 1: mu = (1, 0), logvar = (0, log 2):
    --   -0.5 * [(1 + 0 - 1 - 1) + (1 + log 2 - 0 - 2)] = 1 - 0.5 log 2
    -- example 2: mu = (0, -2), logvar = (-1, 0):
    --   -0.5 * [(1 - 1 - 0 - e^-1) + (1 + 0 - 4 - 1)] = 0.5 e^-1 + 2
    local mu = mg.tensor { { 1, 0 }, { 0, -2 } }
    local logvar = mg.tensor { { 0, math.log(2) }, { -1, 0 } }
    local want = ((1 - 0.5 * math.log(2)) + (0.5 * math.exp(-1) + 2)) / 2
    H.assert_near(recon.kl_normal(mu, logvar), want, 1e-6, 1e-6)
  end)

  it("is zero for the prior itself and positive otherwise", function()
    H.assert_near(recon.kl_normal(mg.zeros(4, 3), mg.zeros(4, 3)), 0, 1e-7)
    assert.is_true(recon.kl_normal(mg.randn(4, 3), mg.randn(4, 3)):item() > 0)
  end)

  it("has the analytic gradient mu / B and (exp(logvar) - 1) / (2B)", function()
    local mu = mg.randn(5, 4):requires_grad_()
    local logvar = mg.randn(5, 4):requires_grad_()
    local g = mg.grad(recon.kl_normal(mu, logvar), { mu, logvar })
    H.assert_near(g[1], mu:detach() / 5, 1e-6, 1e-5)
    H.assert_near(g[2], (logvar:detach():exp() - 1) / 10, 1e-6, 1e-5)
    H.gradcheck(recon.kl_normal, { mg.randn(3, 2), mg.randn(3, 2) })
  end)

  it("names the shapes it wanted", function()
    H.assert_error(function() recon.kl_normal(mg.zeros(4, 3), mg.zeros(4, 2)) end,
      "kl_normal", "[4, 3]", "[4, 2]")
    H.assert_error(function() recon.kl_normal(mg.zeros(4), mg.zeros(4)) end, "kl_normal", "[B, D]")
  end)
end)

describe("recon.reparameterize", function()
  before_each(H.reseed(12))

  it("draws z ~ N(mu, exp(logvar))", function()
    local n = 20000
    local mu = mg.full({ n, 2 }, 0)
    mu:narrow(2, 1, 1):fill_(2)
    local logvar = mg.full({ n, 2 }, math.log(0.25)) -- std 0.5
    logvar:narrow(2, 2, 1):fill_(math.log(4))       -- std 2
    local z = recon.reparameterize(mu, logvar)
    H.assert_near(z:mean(1), { 2, 0 }, 0.05)
    H.assert_near(z:var(1):sqrt(), { 0.5, 2 }, 0.03, 0.02)
  end)

  it("differs between calls (a fresh eps each time)", function()
    local mu, logvar = mg.zeros(3, 4), mg.zeros(3, 4)
    local a, b = recon.reparameterize(mu, logvar), recon.reparameterize(mu, logvar)
    assert.is_true((a - b):abs():max():item() > 1e-3)
  end)

  it("passes gradients to mu (1) and logvar (eps * std / 2 = (z - mu) / 2)", function()
    local mu = mg.randn(6, 3):requires_grad_()
    local logvar = mg.randn(6, 3):requires_grad_()
    local z = recon.reparameterize(mu, logvar)
    local g = mg.grad(z:sum(), { mu, logvar })
    H.assert_near(g[1], mg.ones(6, 3), 1e-6)
    H.assert_near(g[2], (z:detach() - mu:detach()) * 0.5, 1e-5, 1e-5)
  end)
end)

describe("recon.vae_loss", function()
  before_each(H.reseed(13))

  it("is BCE summed over the pixels per example plus the KL term", function()
    local x = mg.rand(3, 1, 4, 4)
    local r = mg.rand(3, 1, 4, 4) * 0.9 + 0.05
    local mu, logvar = mg.randn(3, 2), mg.randn(3, 2)
    local loss, bce, kl = recon.vae_loss(r, x, mu, logvar)
    local hand = -(x * r:log() + (1 - x) * (1 - r):log()):sum():item() / 3
    H.assert_near(bce, hand, 1e-4, 1e-5)
    H.assert_near(kl, recon.kl_normal(mu, logvar), 1e-6)
    H.assert_near(loss, bce:item() + kl:item(), 1e-4, 1e-6)
  end)
end)

describe("mg.models.ConvVAE", function()
  before_each(H.reseed(14))

  it("encodes to mu, logvar [B, latent] and decodes to [B, 1, 28, 28] in (0, 1)", function()
    local vae = mg.models.ConvVAE(8)
    local x = mg.rand(3, 1, 28, 28)
    local r, mu, logvar = vae(x)
    assert.are.same({ 3, 1, 28, 28 }, r:shape())
    assert.are.same({ 3, 8 }, mu:shape())
    assert.are.same({ 3, 8 }, logvar:shape())
    assert.is_true(r:min():item() > 0 and r:max():item() < 1)
    local s = vae:sample(5)
    assert.are.same({ 5, 1, 28, 28 }, s:shape())
    assert.is_true(vae.training) -- sample() puts the mode back
  end)

  it("samples z in training mode and uses z = mu in eval mode", function()
    local vae = mg.models.ConvVAE(4)
    local x = mg.rand(2, 1, 28, 28)
    mg.no_grad(function()
      local a, b = vae(x), vae(x)
      assert.is_true((a - b):abs():max():item() > 0)
      vae:eval()
      local mu = vae:encode(x)
      H.assert_near(vae(x), vae:decode(mu), 1e-6)
      H.assert_near(vae:mu_encoder()(x), mu, 1e-6) -- the probe's trunk shares the weights
    end)
  end)

  it("trains both halves through the sampled z", function()
    local vae = mg.models.ConvVAE(4)
    local x = mg.rand(2, 1, 28, 28)
    local r, mu, logvar = vae(x)
    local loss = recon.vae_loss(r, x, mu, logvar)
    loss:backward()
    local params = {}
    for name, p in vae:named_parameters() do params[name] = p end
    for _, name in ipairs({ "encoder.1.weight", "fc_mu.weight", "fc_logvar.weight", "decoder.1.weight",
      "decoder.6.weight" }) do
      local p = params[name]
      assert.is_truthy(p.grad, name)
      assert.is_true(p.grad:abs():sum():item() > 0, name)
    end
  end)
end)
