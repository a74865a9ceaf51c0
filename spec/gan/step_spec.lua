-- The GAN training step: D learns from a real and a detached fake batch; G
-- learns through D with D frozen (requires_grad off, no copy): D's weights
-- stay bit-identical, no gradient lands on them, and the flags come back.
local H = require "helpers"
local mg = H.mg
local gan = mg.gan

local function snapshot(module)
  local out = {}
  for i, p in ipairs(module:parameters()) do out[i] = p:detach():clone():view(-1):flat_values() end
  return out
end

local function same(a, b)
  for i = 1, #a do
    for j = 1, #a[i] do if a[i][j] ~= b[i][j] then return false end end
  end
  return true
end

local function grads_nil(module)
  for _, p in ipairs(module:parameters()) do if p.grad ~= nil then return false end end
  return true
end

describe("gan.GAN g_step", function()
  before_each(H.reseed(11))

  for _, name in ipairs({ "mlp", "bn", "dcgan" }) do
    it("leaves D's weights bit-identical and changes G's (" .. name .. ")", function()
      local g = gan.create(name, { width = 4 })
      local d_before, g_before = snapshot(g.D), snapshot(g.G)
      g.D:zero_grad()
      local loss = g:g_step(8)
      assert.is_true(loss == loss)
      assert.is_true(same(d_before, snapshot(g.D)), "D's parameters changed during the G step")
      assert.is_true(grads_nil(g.D), "a gradient reached D's parameters")
      assert.is_false(same(g_before, snapshot(g.G)), "G's parameters did not change")
      for _, p in ipairs(g.D:parameters()) do assert.is_true(p.requires_grad) end
    end)
  end

  it("gives G the same gradient as an unfrozen D would", function()
    local g = gan.create("mlp")
    local z = g:noise(6)
    local expected = mg.grad(gan.generator_loss(g.D(g.G(z)), { output = "probability" }), g.G:parameters())
    g:g_step(g.G(z))
    for i, p in ipairs(g.G:parameters()) do H.assert_near(p.grad, expected[i], 1e-6, 1e-5) end
  end)

  it("restores each parameter's own flag, also when the step fails", function()
    local g = gan.create("mlp")
    local params = g.D:parameters()
    params[1]:requires_grad_(false)
    g:g_step(4)
    assert.is_false(params[1].requires_grad)
    for i = 2, #params do assert.is_true(params[i].requires_grad) end
    params[1]:requires_grad_(true)
    H.assert_error(function() g:g_step(mg.randn(4, 3)) end, "784")
    for _, p in ipairs(params) do assert.is_true(p.requires_grad) end
  end)

  it("frozen() runs a function with the module's parameters off and returns its results", function()
    local m = mg.nn.Linear(3, 2)
    local a, b = gan.frozen(m, function(x)
      for _, p in ipairs(m:parameters()) do assert.is_false(p.requires_grad) end
      return x + 1, "two"
    end, 1)
    assert.are.equal(2, a)
    assert.are.equal("two", b)
    for _, p in ipairs(m:parameters()) do assert.is_true(p.requires_grad) end
  end)
end)

describe("gan.GAN d_step and step", function()
  before_each(H.reseed(12))

  it("trains D on real and fake without touching G", function()
    local g = gan.create("bn")
    local real = mg.rand(8, 1, 28, 28) * 2 - 1
    local fake = g.G(g:noise(8))
    local g_before, d_before = snapshot(g.G), snapshot(g.D)
    local loss, d_real, d_fake = g:d_step(real, fake)
    assert.is_true(grads_nil(g.G), "a gradient reached G in the D step")
    assert.is_true(same(g_before, snapshot(g.G)))
    assert.is_false(same(d_before, snapshot(g.D)))
    assert.is_true(loss > 0 and d_real > 0 and d_real < 1 and d_fake > 0 and d_fake < 1)
  end)

  it("makes its own fake batch when given none", function()
    local g = gan.create("mlp")
    local loss, d_real, d_fake = g:d_step(mg.rand(4, 1, 28, 28))
    assert.is_true(loss > 0 and d_real > 0 and d_fake > 0)
    assert.is_true(grads_nil(g.G))
  end)

  it("reports the D loss as BCE(D(x), 1) + BCE(D(G(z)), 0)", function()
    local g = gan.create("mlp")
    local real, fake = mg.rand(5, 1, 28, 28), mg.rand(5, 1, 28, 28)
    local expected = mg.no_grad(function()
      return (-mg.log(g.D(real)):mean() - mg.log(1 - g.D(fake)):mean()):item()
    end)
    local loss = g:d_step(real, fake)
    assert.is_true(math.abs(loss - expected) < 1e-5, loss .. " vs " .. expected)
  end)

  it("step() updates both networks and returns finite figures", function()
    local g = gan.create("dcgan", { width = 4 })
    local g_before, d_before = snapshot(g.G), snapshot(g.D)
    local r = g:step(mg.rand(6, 1, 28, 28) * 2 - 1)
    for _, k in ipairs({ "d_loss", "g_loss", "d_real", "d_fake" }) do
      assert.is_true(r[k] == r[k] and math.abs(r[k]) < math.huge, k)
    end
    assert.is_false(same(g_before, snapshot(g.G)))
    assert.is_false(same(d_before, snapshot(g.D)))
  end)
end)
