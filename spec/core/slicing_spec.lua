-- Torch7-style table keys: x[{2, 3}] (an element), x[{{}, {1, 2}}] (a view),
-- x[{2}] (a row), negative positions, assignment of numbers and tensors
-- (broadcast), gradients through the views, and the messages of bad keys.
local H = require "helpers"
local mg = H.mg

local function m34() return mg.arange(1, 13):float():view(3, 4) end -- rows {1..4}, {5..8}, {9..12}

describe("indexing with a table key", function()
  before_each(H.reseed(3))

  it("reads an element as a Lua number when every dim has an integer", function()
    local x = m34()
    assert.are.equal(7, x[{ 2, 3 }])
    assert.are.equal("integer", math.type(x[{ 2, 3 }]))
    assert.are.equal(12, x[{ -1, -1 }])
    assert.are.equal(0.5, mg.tensor { { 1, 0.5 } }[{ 1, 2 }])
    assert.are.equal(3, mg.tensor { 1, 2, 3 }[{ 3 }])
    local l = mg.tensor({ 1, 2 }, "int64")
    assert.are.equal("integer", math.type(l[{ 2 }]))
    local big = (1 << 60) + 3 -- beyond a double's 53 bits: read and written exactly
    l[{ 1 }] = big
    assert.are.equal(big, l[{ 1 }])
    assert.are.equal(255, mg.tensor({ 255 }, "uint8")[{ 1 }])
  end)

  it("gives views for ranges, {} and missing trailing dims", function()
    local x = m34()
    assert.are.same({ { 1, 2 }, { 5, 6 }, { 9, 10 } }, x[{ {}, { 1, 2 } }]:totable())
    assert.are.same({ 5, 6, 7, 8 }, x[{ 2 }]:totable())
    assert.are.same(x[2]:totable(), x[{ 2 }]:totable())
    assert.are.same({ { 5, 6, 7, 8 } }, x[{ { 2 } }]:totable()) -- {a} keeps the dim
    assert.are.same({ 7 }, x[{ { 2 }, 3 }]:totable())
    assert.are.same({ 3, 7, 11 }, x[{ {}, 3 }]:totable())
    assert.are.same({ { 7, 8 }, { 11, 12 } }, x[{ { -2, -1 }, { 3, -1 } }]:totable())
    assert.are.same({ 3, 4 }, x[{}]:shape())
    assert.are.same({ 3, 0 }, x[{ {}, { 3, 2 } }]:shape()) -- {first, first - 1} is empty
    assert.are.same({ 0, 4 }, x[{ { 4, 3 } }]:shape())    -- also just past the end
  end)

  it("shares storage: writing into a view changes the tensor", function()
    local x = m34()
    local v = x[{ {}, { 2, 3 } }]
    v:fill_(0)
    assert.are.same({ { 1, 0, 0, 4 }, { 5, 0, 0, 8 }, { 9, 0, 0, 12 } }, x:totable())
    local t = m34():t() -- strided input
    assert.are.same({ 2, 6, 10 }, t[{ 2 }]:totable())
    assert.are.equal(5, t[{ 1, 2 }])
  end)

  it("assigns numbers and tensors through every form, broadcasting", function()
    local x = mg.zeros(2, 3)
    x[{ {}, { 1, 2 } }] = 1
    assert.are.same({ { 1, 1, 0 }, { 1, 1, 0 } }, x:totable())
    x[{ 2, 3 }] = 7
    assert.are.equal(7, x[{ 2, 3 }])
    x[{ {}, 3 }] = mg.tensor { 4, 5 }
    assert.are.same({ { 1, 1, 4 }, { 1, 1, 5 } }, x:totable())
    x[{ 1 }] = mg.tensor { 9, 8, 7 }
    x[{ { 2 }, { 2, 3 } }] = mg.tensor { { -1 } } -- [1, 1] broadcast to [1, 2]
    assert.are.same({ { 9, 8, 7 }, { 1, -1, -1 } }, x:totable())
    x[{ 1, 1 }] = mg.tensor(2.5) -- a 0-dim tensor into an element
    assert.are.equal(2.5, x[{ 1, 1 }])
    local l = mg.zeros(3, "int64")
    l[{ { 2, 3 } }] = mg.tensor { 1.9, -2.9 } -- converted as copy_ converts
    assert.are.same({ 0, 1, -2 }, l:totable())
    H.assert_error(function() x[{ {}, { 1, 2 } }] = mg.ones(3) end,
      "copy_: source [3] cannot be broadcast to destination [2, 2]")
    H.assert_error(function() x[{ 1 }] = "a" end, "index: the assigned value must be a number or a Tensor, got string")
  end)

  it("records the graph through views, and refuses writes into what needs grad", function()
    local w = mg.randn(3, 4):requires_grad_()
    local y = w[{ { 2, 3 }, { 1, 2 } }]
    assert.are.equal("narrow", y.grad_fn)
    y:sum():backward()
    assert.are.same({ { 0, 0, 0, 0 }, { 1, 1, 0, 0 }, { 1, 1, 0, 0 } }, w.grad:totable())
    H.gradcheck(function(a) return a[{ { 2, 3 }, -1 }] * a[{ 1, { 2, 3 } }] end, { mg.randn(3, 4) })
    H.assert_error(function() w[{ 1, 1 }] = 0 end, "index: cannot assign into a tensor that requires grad")
    mg.no_grad(function() w[{ 1, { 1, 2 } }] = 5 end)
    assert.are.equal(5, w[{ 1, 2 }])
  end)

  it("names what is wrong with a bad key", function()
    local x = m34()
    H.assert_error(function() return x[{ 4 }] end,
      "index: index 4 out of range for dim 1 of size 3 (valid: 1..3, or -3..-1)")
    H.assert_error(function() return x[{ 1, -5 }] end, "index: index -5 out of range for dim 2 of size 4")
    H.assert_error(function() return x[{ {}, { 2, 5 } }] end, "index: range {2, 5} out of range for dim 2 of size 4")
    H.assert_error(function() return x[{ { 3, 1 } }] end, "index: range {3, 1} out of range for dim 1 of size 3")
    H.assert_error(function() return x[{ { 0, 2 } }] end, "index: first position 0 out of range for dim 1 of size 3")
    H.assert_error(function() return x[{ { 1, 2, 3 } }] end, "a range is {first, last}, {first} or {}")
    H.assert_error(function() return x[{ 1, 2, 3 }] end, "index: 3 entries for a 2-dim tensor of shape [3, 4]")
    H.assert_error(function() return x[{ 1.5 }] end, "index: the index of entry 1 must be an integer, got 1.5")
    H.assert_error(function() return x[{ { 1, "b" } }] end,
      "the last position of entry 1 must be an integer, got string")
    H.assert_error(function() return x[{ "a" }] end,
      "index: entry 1 must be an integer or a range {first, last}, got string")
    H.assert_error(function() return x[true] end, "index: cannot index a Tensor with boolean")
    H.assert_error(function() return x[1.5] end, "index: cannot index a Tensor with 1.5")
    H.assert_error(function() return x[mg.ones(2)] end, "index: cannot index a Tensor with a Tensor (use index_select")
    H.assert_error(function() x[false] = 1 end, "index: cannot assign into a Tensor with boolean")
    H.assert_error(function() return mg.tensor(5)[{ 1 }] end, "index: 1 entries for a 0-dim tensor")
  end)
end)
