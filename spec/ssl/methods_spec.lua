-- mg.ssl's joint-embedding methods (SimCLR, Barlow Twins, BYOL), their
-- losses and the k-nearest-neighbour monitor.
local H = require "helpers"
local mg = H.mg
local ssl, nn = mg.ssl, mg.nn

-- A small encoder for 1x6x6 images and its feature size.
local function tiny_trunk() return nn.Sequential { nn.Flatten(), nn.Linear(36, 8), nn.ReLU() }, 8 end

describe("barlow_twins_loss", function()
  before_each(H.reseed(41))

  it("matches its definition computed in plain numbers", function()
    local z1, z2 = mg.randn(5, 3), mg.randn(5, 3)
    local function standardise(t)
      local n, d = #t, #t[1]
      local out = {}
      for i = 1, n do out[i] = {} end
      for j = 1, d do
        local m, v = 0, 0
        for i = 1, n do m = m + t[i][j] / n end
        for i = 1, n do v = v + (t[i][j] - m) ^ 2 / n end
        for i = 1, n do out[i][j] = (t[i][j] - m) / math.sqrt(v + 1e-5) end
      end
      return out
    end
    local a, b = standardise(z1:totable()), standardise(z2:totable())
    local want, lambda = 0, 0.1
    for i = 1, 3 do
      for j = 1, 3 do
        local c = 0
        for k = 1, 5 do c = c + a[k][i] * b[k][j] / 5 end
        want = want + (i == j and (1 - c) ^ 2 or lambda * c * c)
      end
    end
    H.assert_near(ssl.barlow_twins_loss(z1, z2, { lambda = lambda }), want, 1e-4, 1e-4)
  end)

  it("is near 0 for equal views with uncorrelated features", function()
    local z = mg.tensor { { 1, 1 }, { 1, -1 }, { -1, 1 }, { -1, -1 } } -- standardised, orthogonal columns
    assert.is_true(ssl.barlow_twins_loss(z, z:clone()):item() < 1e-4)
    H.assert_error(function() ssl.barlow_twins_loss(mg.randn(1, 3), mg.randn(1, 3)) end, "N >= 2")
  end)
end)

describe("byol_loss", function()
  before_each(H.reseed(42))

  it("is 2 - 2 cos per row and sends no gradient to the targets", function()
    local p, z = mg.randn(4, 3):requires_grad_(), mg.randn(4, 3):requires_grad_()
    local l = ssl.byol_loss(p, z)
    local pt, zt, want = p:totable(), z:totable(), 0
    for i = 1, 4 do
      local d, np, nz = 0, 0, 0
      for j = 1, 3 do d, np, nz = d + pt[i][j] * zt[i][j], np + pt[i][j] ^ 2, nz + zt[i][j] ^ 2 end
      want = want + (2 - 2 * d / math.sqrt(np * nz)) / 4
    end
    H.assert_near(l, want, 1e-5, 1e-5)
    local g = mg.grad(l, { p, z })
    H.assert_near(g[2], mg.zeros(4, 3), 0, 0)
    assert.is_true(g[1]:abs():sum():item() > 0)
  end)
end)

describe("SimCLR, BarlowTwins and BYOL", function()
  before_each(H.reseed(43))

  local function build(name)
    if name == "SimCLR" then return ssl.SimCLR(tiny_trunk(), 8, { hidden = 16, proj_dim = 4 }) end
    if name == "BarlowTwins" then return ssl.BarlowTwins(tiny_trunk(), 8, { hidden = 16, proj_dim = 6 }) end
    return ssl.BYOL(tiny_trunk, 8, { hidden = 16, proj_dim = 4 })
  end

  for _, name in ipairs({ "SimCLR", "BarlowTwins", "BYOL" }) do
    it(name .. ": a scalar loss of two views that Adam lowers, gradients only where trained", function()
      local m = build(name)
      local x = mg.rand(16, 1, 6, 6)
      local v1, v2 = x + mg.randn(16, 1, 6, 6) * 0.05, x + mg.randn(16, 1, 6, 6) * 0.05
      local params = m:trainable_parameters()
      local opt = mg.optim.Adam(params, { lr = 1e-2 })
      local first = m:loss(v1, v2)
      assert.are.same({}, first:shape())
      local last
      for s = 1, 30 do
        local l = m:loss(v1, v2)
        opt:zero_grad()
        l:backward()
        opt:step()
        m:after_step(s / 30)
        last = l:item()
      end
      assert.is_true(last < first:item(), string.format("%s: loss %.4f -> %.4f", name, first:item(), last))
      assert.are.same({ 16, 8 }, m.trunk(x):shape())
      H.assert_error(function() m:loss(v1, v2:narrow(1, 1, 8)) end, "the two views must have the same shape")
    end)
  end

  it("BYOL: the target starts as the online copy, gets no gradient, and follows by momentum", function()
    local m = build("BYOL")
    local on, tg = m.online:parameters(), m.target:parameters()
    for i = 1, #on do H.assert_near(tg[i], on[i], 0, 0) end
    for _, p in ipairs(tg) do assert.is_false(p.requires_grad) end
    assert.are.equal(#on + #m.predictor:parameters(), #m:trainable_parameters())
    local before = tg[1]:clone()
    mg.no_grad(function() on[1]:add_(mg.ones_like(on[1])) end)
    m:after_step(0) -- momentum 0.99 at the start
    H.assert_near(tg[1], before + 0.01, 1e-6, 0)
    m:after_step(1) -- momentum 1 at the end: the target stays
    H.assert_near(tg[1], before + 0.01, 1e-6, 0)
  end)
end)

describe("k-NN monitor", function()
  before_each(H.reseed(44))

  it("classifies queries by their nearest labelled neighbours (cosine)", function()
    local bank = mg.tensor { { 1, 0 }, { 0.9, 0.1 }, { 0, 1 }, { 0.1, 0.9 }, { -1, 0 } }
    local labels = mg.tensor({ 1, 1, 2, 2, 3 }, { dtype = "int64" })
    local queries = mg.tensor { { 2, 0.1 }, { 0.05, 3 }, { -0.5, -0.01 } }
    local pred = ssl.knn_predict(bank, labels, queries, { k = 2, classes = 3 })
    assert.are.same({ 1, 2, 3 }, pred:totable())
    assert.are.equal(1, ssl.knn_accuracy(bank, labels, queries, mg.tensor({ 1, 2, 3 }, { dtype = "int64" }), { k = 2 }))
    -- with every neighbour voting, the weights decide: class 1 is nearest
    local all = ssl.knn_predict(bank, labels, mg.tensor { { 1, 0.05 } }, { k = 5, temperature = 0.1 })
    assert.are.same({ 1 }, all:totable())
    H.assert_error(function() ssl.knn_predict(bank, labels:float(), queries) end, "knn_predict", "int64")
    H.assert_error(function() ssl.knn_predict(bank, labels, mg.randn(2, 3)) end, "knn_predict", "[N, D]")
  end)
end)
