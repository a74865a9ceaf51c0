-- matmul: 1-D, 2-D, batched and broadcast-batch products against products
-- computed by hand in Lua; strided inputs; shape errors.
local H = require "helpers"
local mg = H.mg

-- Plain triple loop over nested tables.
local function mm(a, b)
  local out = {}
  for i = 1, #a do
    out[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for k = 1, #b do s = s + a[i][k] * b[k][j] end
      out[i][j] = s
    end
  end
  return out
end

describe("matmul", function()
  before_each(H.reseed(3))

  it("multiplies matrices", function()
    local a = mg.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    local b = mg.tensor { { 1, 0 }, { 0, 1 }, { 2, -1 } }
    assert.are.same({ { 7, -1 }, { 16, -1 } }, a:matmul(b):totable())
    assert.are.same({ { 7, -1 }, { 16, -1 } }, mg.mm(a, b):totable())
    local x, y = mg.randn(5, 7), mg.randn(7, 3)
    H.assert_near(x:matmul(y), mm(x:totable(), y:totable()), 1e-5, 1e-5)
  end)

  it("treats 1-D arguments as row / column vectors and drops that dim", function()
    local v = mg.tensor { 1, 2, 3 }
    local m = mg.tensor { { 1, 0 }, { 0, 1 }, { 1, 1 } }
    assert.are.same({ 4, 5 }, v:matmul(m):totable())
    assert.are.same({ 5, 14 }, mg.tensor { { 1, 2, 0 }, { 3, 4, 1 } }:matmul(mg.tensor { 1, 2, 3 }):totable())
    local dot = v:matmul(v)
    assert.are.same({}, dot:shape())
    assert.are.equal(14, dot:item())
  end)

  it("reads transposed and sliced inputs", function()
    local x, y = mg.randn(7, 5), mg.randn(3, 7)
    H.assert_near(x:t():matmul(y:t()), mm(x:t():totable(), y:t():totable()), 1e-5, 1e-5)
    local big = mg.randn(6, 8)
    local part = big:narrow(2, 2, 4) -- rows with a stride of 8
    local w = mg.randn(4, 2)
    H.assert_near(part:matmul(w), mm(part:totable(), w:totable()), 1e-5, 1e-5)
    local every_other = mg.randn(4, 3, 2):select(3, 1) -- strides {6, 2}: neither is 1
    local v = mg.randn(3, 2)
    H.assert_near(every_other:matmul(v), mm(every_other:totable(), v:totable()), 1e-5, 1e-5)
  end)

  it("batches over leading dims and broadcasts them", function()
    local a, b = mg.randn(2, 3, 4), mg.randn(2, 4, 5)
    local c = a:matmul(b)
    assert.are.same({ 2, 3, 5 }, c:shape())
    for i = 1, 2 do H.assert_near(c[i], mm(a[i]:totable(), b[i]:totable()), 1e-5, 1e-5) end
    -- a matrix on one side applies to every batch
    local w = mg.randn(4, 2)
    local d = a:matmul(w)
    assert.are.same({ 2, 3, 2 }, d:shape())
    for i = 1, 2 do H.assert_near(d[i], mm(a[i]:totable(), w:totable()), 1e-5, 1e-5) end
    -- [2,1,3,4] @ [5,4,2] -> [2,5,3,2]
    local p, q = mg.randn(2, 1, 3, 4), mg.randn(5, 4, 2)
    local r = p:matmul(q)
    assert.are.same({ 2, 5, 3, 2 }, r:shape())
    for i = 1, 2 do
      for j = 1, 5 do H.assert_near(r[i][j], mm(p[i][1]:totable(), q[j]:totable()), 1e-5, 1e-5) end
    end
    -- a vector against a batch
    local bv = mg.randn(2, 4, 3):matmul(mg.tensor { 1, 0, 0 })
    assert.are.same({ 2, 4 }, bv:shape())
  end)

  it("handles empty dims", function()
    assert.are.same({ { 0, 0 }, { 0, 0 } }, mg.zeros(2, 0):matmul(mg.zeros(0, 2)):totable())
    assert.are.same({ 0, 2 }, mg.zeros(0, 3):matmul(mg.zeros(3, 2)):shape())
  end)

  it("names both shapes when they do not fit", function()
    H.assert_error(function() return mg.zeros(2, 3):matmul(mg.zeros(4, 2)) end,
      "matmul: inner dimensions differ: [2, 3] and [4, 2]")
    H.assert_error(function() return mg.zeros(3):matmul(mg.zeros(4)) end,
      "matmul: inner dimensions differ: [1, 3] and [4, 1]")
    H.assert_error(function() return mg.zeros(2, 2, 3):matmul(mg.zeros(3, 3, 2)) end,
      "matmul: batch dims of [2, 2, 3] and [3, 3, 2] cannot be broadcast")
    H.assert_error(function() return mg.tensor(2):matmul(mg.zeros(2)) end, "matmul: both arguments need at least 1 dim")
    H.assert_error(function() return mg.zeros(2, 2, { dtype = "int64" }):matmul(mg.zeros(2, 2)) end,
      "matmul: needs float32 tensors, got int64 and float32")
  end)
end)
