-- GAN losses on hand cases: the non-saturating generator loss -log D(G(z))
-- against the saturating log(1 - D(G(z))), on logits and probabilities,
-- and why the default is the non-saturating one (its gradient survives a
-- confident D).
local H = require "helpers"
local mg = H.mg
local gan = mg.gan

local log, exp = math.log, math.exp
local function softplus(x) return log(1 + exp(x)) end
local function near(a, b, tol) assert.is_true(math.abs(a - b) <= (tol or 1e-6), string.format("%.9g vs %.9g", a, b)) end

describe("gan.generator_loss", function()
  before_each(H.reseed(3))

  it("is log 2 for the non-saturating loss and -log 2 for the saturating one at D = 1/2", function()
    local z = mg.zeros(4, 1)
    near(gan.generator_loss(z):item(), log(2))
    near(gan.generator_loss(z, { loss = "saturating" }):item(), -log(2))
    local p = mg.full({ 4, 1 }, 0.5)
    near(gan.generator_loss(p, { output = "probability" }):item(), log(2))
    near(gan.generator_loss(p, { output = "probability", loss = "saturating" }):item(), -log(2))
  end)

  it("matches -log D and log(1 - D) on logits", function()
    local l = { -2, 0.5, 3 }
    local t = mg.tensor({ { -2 }, { 0.5 }, { 3 } })
    local ns, sat = 0, 0
    for _, v in ipairs(l) do ns = ns + softplus(-v) / 3; sat = sat - softplus(v) / 3 end
    near(gan.generator_loss(t):item(), ns, 1e-5)
    near(gan.generator_loss(t, { loss = "saturating" }):item(), sat, 1e-5)
  end)

  it("matches -log D and log(1 - D) on probabilities", function()
    local t = mg.tensor({ { 0.9 }, { 0.2 } })
    near(gan.generator_loss(t, { output = "probability" }):item(), (-log(0.9) - log(0.2)) / 2, 1e-5)
    near(gan.generator_loss(t, { output = "probability", loss = "saturating" }):item(), (log(0.1) + log(0.8)) / 2, 1e-5)
  end)

  it("keeps a strong gradient where the saturating loss vanishes (D rejects the samples)", function()
    local l = mg.full({ 1, 1 }, -10):requires_grad_()
    local g_ns = mg.grad(gan.generator_loss(l), { l })[1]:item()
    local g_sat = mg.grad(gan.generator_loss(l, { loss = "saturating" }), { l })[1]:item()
    near(g_ns, -1 / (1 + exp(-10)), 1e-6)     -- -sigmoid(10), about -1
    near(g_sat, -1 / (1 + exp(10)), 1e-8)     -- -sigmoid(-10), about -4.5e-5
    assert.is_true(math.abs(g_ns) > 1e4 * math.abs(g_sat))
  end)

  it("names a wrong loss or output", function()
    H.assert_error(function() gan.generator_loss(mg.zeros(2, 1), { loss = "wasserstein" }) end,
      "gan.generator_loss", "non-saturating", "wasserstein")
    H.assert_error(function() gan.generator_loss(mg.zeros(2, 1), { output = "prob" }) end, "'logits' or 'probability'")
    H.assert_error(function() gan.GAN { generator = mg.nn.Identity(), discriminator = mg.nn.Identity(),
      loss = "x" } end,
      "gan.GAN", "loss")
  end)
end)

describe("gan.discriminator_loss", function()
  it("is BCE(D(x), 1) + BCE(D(G(z)), 0) on logits and probabilities", function()
    local real, fake = mg.tensor({ { 1 }, { 2 } }), mg.tensor({ { -1 }, { 0 } })
    near(gan.discriminator_loss(real, fake):item(),
      (softplus(-1) + softplus(-2)) / 2 + (softplus(-1) + softplus(0)) / 2, 1e-5)
    local pr, pf = mg.tensor({ { 0.8 } }), mg.tensor({ { 0.3 } })
    near(gan.discriminator_loss(pr, pf, "probability"):item(), -log(0.8) - log(0.7), 1e-5)
  end)
end)
