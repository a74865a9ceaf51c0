-- Reductions: sum, mean, max, min (with and without dim, keepdim, 1-based
-- indices), argmax/argmin, var with correction, std and logsumexp.
local H = require "helpers"
local mg = H.mg

local function x() return mg.tensor { { 1, 5, 3 }, { 4, 2, 6 } } end

describe("sum and mean", function()
  it("over everything give a 0-dim tensor", function()
    local s = x():sum()
    assert.are.same({}, s:shape())
    assert.are.equal(21, s:item())
    assert.are.equal(3.5, x():mean():item())
    assert.are.equal(21, mg.sum(x()):item())
    assert.are.equal(0, mg.zeros(0):sum():item())
    assert.is_true(mg.zeros(0):mean():item() ~= mg.zeros(0):mean():item()) -- NaN
  end)

  it("over one dim, with keepdim and negative dims", function()
    assert.are.same({ 5, 7, 9 }, x():sum(1):totable())
    assert.are.same({ 9, 12 }, x():sum(2):totable())
    assert.are.same({ 9, 12 }, x():sum(-1):totable())
    assert.are.same({ { 9 }, { 12 } }, x():sum(2, true):totable())
    assert.are.same({ { 5, 7, 9 } }, x():sum(-2, true):totable())
    assert.are.same({ 2.5, 3.5, 4.5 }, x():mean(1):totable())
    assert.are.same({ { 3 }, { 4 } }, x():mean(2, true):totable())
    local t = mg.arange(24):float():view(2, 3, 4)
    assert.are.same({ { 12, 15, 18, 21 }, { 48, 51, 54, 57 } }, t:sum(2):totable())
    assert.are.same({ 2, 1, 4 }, t:sum(2, true):shape())
  end)

  it("read strided views and stay accurate on long rows", function()
    assert.are.same({ 6, 15 }, mg.tensor { { 1, 4 }, { 2, 5 }, { 3, 6 } }:t():sum(2):totable())
    local n = 1000000
    H.assert_near(mg.full(n, 0.1):sum(), n * 0.1, 1e-3 * n * 0.1 * 1e-3)
    H.assert_near(mg.full(3, n, 0.1):sum(2), { n * 0.1, n * 0.1, n * 0.1 }, 0, 1e-5)
  end)

  it("out-of-range dims give the valid range", function()
    H.assert_error(function() return x():sum(3) end,
      "sum: dim 3 out of range for a 2-dim tensor (dims are 1..2, or -1 for the last)")
    H.assert_error(function() return x():mean(-3) end, "mean: dim -3 out of range for a 2-dim tensor")
    H.assert_error(function() return x():sum(1, "yes") end, "boolean expected")
  end)
end)

describe("max and min", function()
  it("over everything give the value", function()
    assert.are.equal(6, x():max():item())
    assert.are.equal(1, x():min():item())
    H.assert_error(function() return mg.zeros(0):max() end, "max: cannot reduce an empty tensor")
  end)

  it("over a dim give values and 1-based int64 indices", function()
    local v, i = x():max(2)
    assert.are.same({ 5, 6 }, v:totable())
    assert.are.same({ 2, 3 }, i:totable())
    assert.are.equal("int64", i.dtype)
    v, i = x():min(1)
    assert.are.same({ 1, 2, 3 }, v:totable())
    assert.are.same({ 1, 2, 1 }, i:totable())
    v, i = x():max(-1, true)
    assert.are.same({ { 5 }, { 6 } }, v:totable())
    assert.are.same({ { 2 }, { 3 } }, i:totable())
    -- ties: the first occurrence
    local _, first = mg.tensor { 2, 7, 7, 1 }:max(1)
    assert.are.equal(2, first:item())
    H.assert_error(function() return mg.zeros(2, 0):max(2) end, "max: cannot reduce an empty dim (dim 2 of [2, 0])")
  end)

  it("with a tensor argument are the elementwise maximum/minimum", function()
    assert.are.same({ 3, 5 }, mg.tensor { 1, 5 }:max(mg.tensor { 3, 2 }):totable())
    assert.are.same({ 1, 2 }, mg.tensor { 1, 5 }:min(mg.tensor { 3, 2 }):totable())
  end)

  it("let NaN win, as PyTorch does", function()
    local v, i = mg.tensor { 1, 0 / 0, 3 }:max(1)
    assert.is_true(v:item() ~= v:item())
    assert.are.equal(2, i:item())
  end)
end)

describe("argmax and argmin", function()
  it("are 1-based: flat over everything, per row along a dim", function()
    assert.are.equal(6, x():argmax():item())
    assert.are.equal(1, x():argmin():item())
    assert.are.same({ 2, 3 }, x():argmax(2):totable())
    assert.are.same({ 2, 1, 2 }, x():argmax(1):totable())
    assert.are.same({ { 1 }, { 2 } }, x():argmin(2, true):totable())
    assert.are.same({ 1, 2 }, x():argmin(-1):totable())
    assert.are.equal("int64", x():argmax(1).dtype)
    -- class predictions against 1-based labels
    local logits = mg.tensor { { 0.1, 2, -1 }, { 3, 0, 0 } }
    assert.are.same({ 1, 1 }, logits:argmax(2):eq(mg.tensor({ 2, 1 }, { dtype = "int64" })):totable())
  end)
end)

describe("var and std", function()
  it("are unbiased by default; correction 0 gives the population variance", function()
    local t = mg.tensor { 1, 2, 3, 4 }
    H.assert_near(t:var(), 5 / 3)
    H.assert_near(t:var(nil, nil, 0), 1.25)
    H.assert_near(t:var(1, false, 0), 1.25)
    H.assert_near(t:std(), math.sqrt(5 / 3))
    H.assert_near(mg.std(t, 1, false, 0), math.sqrt(1.25))
    H.assert_near(x():var(2), { 4, 4 })
    H.assert_near(x():var(1, true), { { 4.5, 4.5, 4.5 } })
    H.assert_near(x():std(1), { 2.1213203, 2.1213203, 2.1213203 })
    local one = mg.tensor { 5 }:var()
    assert.is_true(one:item() ~= one:item()) -- n - correction = 0
  end)
end)

describe("logsumexp", function()
  it("is stable for large values and keeps -inf rows at -inf", function()
    local t = mg.tensor { { 1, 2, 3 }, { 1000, 1000, 1000 }, { -math.huge, -math.huge, -math.huge } }
    local want = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    local r = t:logsumexp(2):totable()
    H.assert_near(r[1], want)
    H.assert_near(r[2], 1000 + math.log(3), 1e-3)
    assert.are.equal(-math.huge, r[3])
    assert.are.same({ 3, 1 }, t:logsumexp(-1, true):shape())
    H.assert_near(mg.tensor { 0, -math.huge }:logsumexp(1), 0)
    H.assert_error(function() return t:logsumexp(3) end, "logsumexp: dim 3 out of range")
  end)

  it("has the softmax as its gradient", function()
    local z = mg.tensor { 1, 2, 3 }:requires_grad_()
    z:logsumexp(1):backward()
    local e = { math.exp(1), math.exp(2), math.exp(3) }
    local s = e[1] + e[2] + e[3]
    H.assert_near(z.grad, { e[1] / s, e[2] / s, e[3] / s })
  end)
end)
