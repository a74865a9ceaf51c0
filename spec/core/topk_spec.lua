-- topk: the k best values along a dim and their 1-based indices.
local H = require "helpers"
local mg = H.mg

describe("topk", function()
  before_each(H.reseed(31))

  it("gives the k largest along the last dim, best first, ties by lower index", function()
    local x = mg.tensor { { 3, 1, 4, 1, 5 }, { 9, 2, 6, 5, 3 } }
    local v, i = x:topk(3)
    H.assert_near(v, { { 5, 4, 3 }, { 9, 6, 5 } }, 0, 0)
    assert.are.same({ { 5, 3, 1 }, { 1, 3, 4 } }, i:totable())
    assert.are.equal("int64", i.dtype)
    local sv, si = x:topk(2, 2, false)
    H.assert_near(sv, { { 1, 1 }, { 2, 3 } }, 0, 0)
    assert.are.same({ { 2, 4 }, { 2, 5 } }, si:totable())
  end)

  it("works along any dim and agrees with sorting", function()
    local x = mg.randn(4, 7, 3)
    local v, i = mg.topk(x, 7, 2)
    assert.are.same({ 4, 7, 3 }, v:shape())
    local xs = x:totable()
    for a = 1, 4 do
      for c = 1, 3 do
        local col = {}
        for b = 1, 7 do col[b] = xs[a][b][c] end
        table.sort(col, function(p, q) return p > q end)
        for b = 1, 7 do assert.are.equal(col[b], v:totable()[a][b][c]) end
      end
    end
    H.assert_near(x:gather(2, i), v, 0, 0)
    local v0, i0 = x:topk(0, 1)
    assert.are.same({ 0, 7, 3 }, v0:shape())
    assert.are.same({ 0, 7, 3 }, i0:shape())
  end)

  it("passes the gradient to the chosen elements", function()
    local x = mg.tensor({ 0.5, -1, 2, 0 }):requires_grad_()
    local v = x:topk(2)
    local g = mg.grad(v:sum(), { x })[1]
    H.assert_near(g, { 1, 0, 1, 0 }, 0, 0)
  end)

  it("refuses a k larger than the dim and bad dims", function()
    H.assert_error(function() mg.randn(2, 3):topk(4) end, "topk", "k must be in 0..3")
    H.assert_error(function() mg.randn(2, 3):topk(1, 3) end, "topk")
    H.assert_error(function() mg.tensor({ 1, 2 }, { dtype = "int64" }):topk(1) end, "topk", "float32")
  end)
end)
