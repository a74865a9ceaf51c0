-- Reductions of integer tensors: sum, mean, max, min, argmax and argmin on
-- int64 (labels, counts) and uint8, all and along a dim, against hand
-- computations.
local H = require "helpers"
local mg = H.mg

local function long(t) return mg.tensor(t, "int64") end
local function m() return long { { 3, 1, 4 }, { 1, 5, 9 } } end

describe("integer reductions", function()
  it("min, max and sum of int64 are int64 and exact", function()
    local x = m()
    assert.are.equal("int64", x:min().dtype)
    assert.are.equal(1, x:min():item())
    assert.are.equal(9, x:max():item())
    assert.are.equal(23, x:sum():item())
    assert.are.equal("int64", x:sum().dtype)
    local big = 1 << 60
    assert.are.equal(2 * big + 1, long({ big, big, 1 }):sum():item()) -- beyond float precision
    assert.are.equal(big + 1, long({ big + 1, big }):max():item())
  end)

  it("reduce along a dim, with keepdim, values and 1-based indices", function()
    local x = m()
    assert.are.same({ 4, 6, 13 }, x:sum(1):totable())
    assert.are.same({ { 8 }, { 15 } }, x:sum(2, true):totable())
    local v, i = x:max(2)
    assert.are.same({ 4, 9 }, v:totable())
    assert.are.same({ 3, 3 }, i:totable())
    local mv, mi = x:min(1)
    assert.are.same({ 1, 1, 4 }, mv:totable())
    assert.are.same({ 2, 1, 1 }, mi:totable())
    assert.are.same({ 3, 5, 9 }, x:t():max(2):totable()) -- strided
  end)

  it("argmax and argmin give 1-based positions, the first of ties", function()
    local x = m()
    assert.are.equal(6, x:argmax():item())
    assert.are.equal(2, x:argmin():item())
    assert.are.same({ 3, 3 }, x:argmax(2):totable())
    assert.are.same({ { 2, 1, 1 } }, x:argmin(1, true):totable())
    assert.are.equal(1, long({ 7, 7 }):argmax():item())
  end)

  it("mean of integers is a float32", function()
    local x = m()
    local mean = x:mean()
    assert.are.equal("float32", mean.dtype)
    H.assert_near(mean, 23 / 6)
    H.assert_near(x:mean(2), { 8 / 3, 5 })
    H.assert_near(x:mean(1, true), { { 2, 3, 6.5 } })
  end)

  it("uint8 sums widen to int64, max and min keep uint8", function()
    local b = mg.tensor({ 200, 100, 7 }, "uint8")
    assert.are.equal("int64", b:sum().dtype)
    assert.are.equal(307, b:sum():item())
    assert.are.equal("uint8", b:max().dtype)
    assert.are.equal(200, b:max():item())
    assert.are.equal(3, b:argmin():item())
  end)

  it("labels of a dataset: smallest, largest and count per batch", function()
    local labels = mg.data.mnist { split = "train" }.labels
    assert.are.equal(1, labels:min():item())
    assert.are.equal(10, labels:max():item())
    assert.are.equal(labels:numel(), labels:bincount():sum():item())
  end)

  it("refuse empty reductions and the float-only ones", function()
    H.assert_error(function() long({}):max() end, "max: cannot reduce an empty tensor")
    H.assert_error(function() long({ {} }):min(2) end, "min: cannot reduce an empty dim (dim 2 of [1, 0])")
    assert.are.equal(0, long({}):sum():item())
    H.assert_error(function() m():var() end, "var: needs a float32 tensor, got int64 (convert with :float())")
    H.assert_error(function() m():logsumexp(1) end, "logsumexp: needs a float32 tensor, got int64")
  end)
end)
