-- Joining and indexing: cat, stack, index_select, gather, rot90, flip,
-- masked_fill, one_hot. Values against hand computations (rot90 against
-- torch.rot90's definition), 1-based indices, every dtype, strided inputs,
-- and the messages of bad arguments.
local H = require "helpers"
local mg = H.mg

local function long(t) return mg.tensor(t, { dtype = "int64" }) end
local function m23() return mg.tensor { { 1, 2, 3 }, { 4, 5, 6 } } end

-- rot90 of a nested 2-D table, k quarter turns (torch.rot90 with dims {1, 2}):
-- one turn moves the last column to the first row.
local function rot_table(m, k)
  k = k % 4
  for _ = 1, k do
    local rows, cols, out = #m, #m[1], {}
    for i = 1, cols do
      out[i] = {}
      for j = 1, rows do out[i][j] = m[j][cols - i + 1] end
    end
    m = out
  end
  return m
end

describe("cat", function()
  it("joins along a dim (default 1), negative dims too", function()
    local a, b = m23(), mg.tensor { { 7, 8, 9 } }
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } }, mg.cat({ a, b }):totable())
    assert.are.same({ { 1, 2, 3, 1, 2, 3 }, { 4, 5, 6, 4, 5, 6 } }, mg.cat({ a, a }, 2):totable())
    assert.are.same({ 2, 7 }, mg.cat({ a, mg.zeros(2, 1), a }, -1):shape())
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, mg.cat({ a }):totable())
  end)

  it("keeps the dtype, reads strided inputs, skips 1-D empty tensors", function()
    local l = mg.cat({ long { 1, 2 }, long { 3 } })
    assert.are.equal("int64", l.dtype)
    assert.are.same({ 1, 2, 3 }, l:totable())
    local u8 = { dtype = "uint8" }
    assert.are.same({ 255, 0 }, mg.cat({ mg.full(1, 255, u8), mg.zeros(1, u8) }):totable())
    assert.are.same({ { 1, 4, 1 }, { 2, 5, 2 }, { 3, 6, 3 } }, mg.cat({ m23():t(), m23()[1]:view(3, 1) }, 2):totable())
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, mg.cat({ mg.zeros(0), m23(), mg.zeros(0) }):totable())
    assert.are.same({ 2, 0 }, mg.cat({ mg.zeros(2, 0), mg.zeros(2, 0) }, 2):shape())
  end)

  it("of many tensors sends each its part of the gradient", function()
    local xs, parts = {}, {}
    for i = 1, 9 do
      xs[i] = mg.full(i % 3 + 1, 2, 0):requires_grad_()
      parts[i] = xs[i]
    end
    parts[10] = mg.zeros(1, 2) -- a constant among them
    local y = mg.cat(parts)
    local w = mg.arange(y:numel()):float():view(y:shape())
    local loss = (y * w):sum()
    loss:backward()
    local row = 0
    for i = 1, 9 do
      local n = i % 3 + 1
      H.assert_near(xs[i].grad, w:narrow(1, row + 1, n), 0)
      row = row + n
    end
  end)

  it("names what does not fit", function()
    H.assert_error(function() return mg.cat({ m23(), mg.zeros(2, 2) }) end,
      "cat: sizes must match except in dim 1: tensor 2 is [2, 2], tensor 1 is [2, 3]")
    H.assert_error(function() return mg.cat({ m23(), mg.zeros(2) }, 2) end,
      "cat: sizes must match except in dim 2: tensor 2 is [2], tensor 1 is [2, 3]")
    H.assert_error(function() return mg.cat({ m23(), long { { 1, 2, 3 } } }) end,
      "cat: tensor 2 is int64, tensor 1 is float32")
    H.assert_error(function() return mg.cat({ m23() }, 3) end,
      "cat: dim 3 out of range for a 2-dim tensor (dims are 1..2, or -1 for the last)")
    H.assert_error(function() return mg.cat({ mg.tensor(1), mg.tensor(2) }) end, "cat: cannot join 0-dim tensors")
    H.assert_error(function() return mg.cat({}) end, "cat: needs at least one Tensor")
    H.assert_error(function() return mg.cat({ m23(), 5 }) end,
      "cat: element 2 of the list is number, expected a Tensor")
    H.assert_error(function() return mg.cat(m23()) end, "cat: expected a list of Tensors")
  end)
end)

describe("stack", function()
  it("adds a dim at 1..ndim+1 (or -1 for a new last dim)", function()
    local a, b = mg.tensor { 1, 2 }, mg.tensor { 3, 4 }
    assert.are.same({ { 1, 2 }, { 3, 4 } }, mg.stack({ a, b }):totable())
    assert.are.same({ { 1, 3 }, { 2, 4 } }, mg.stack({ a, b }, 2):totable())
    assert.are.same({ { 1, 3 }, { 2, 4 } }, mg.stack({ a, b }, -1):totable())
    assert.are.same({ 3, 2, 3 }, mg.stack({ m23(), m23(), m23() }):shape())
    assert.are.same({ 2, 3, 3 }, mg.stack({ m23(), m23(), m23() }, 3):shape())
    assert.are.same({ 2 }, mg.stack({ mg.tensor(1), mg.tensor(2) }):shape())
  end)

  it("needs one shape and dtype, and a dim in range", function()
    H.assert_error(function() return mg.stack({ mg.zeros(2), mg.zeros(3) }) end,
      "stack: all tensors must have one shape and dtype: tensor 2 is [3] float32, tensor 1 is [2] float32")
    H.assert_error(function() return mg.stack({ mg.zeros(2), mg.zeros(2) }, 3) end,
      "stack: dim 3 out of range for a 2-dim tensor (dims are 1..2")
  end)
end)

describe("index_select", function()
  local x = function() return mg.arange(12):float():view(3, 4) end

  it("picks rows or columns by 1-based indices, repeats allowed", function()
    assert.are.same({ { 8, 9, 10, 11 }, { 0, 1, 2, 3 }, { 8, 9, 10, 11 } }, x():index_select(1, { 3, 1, 3 }):totable())
    assert.are.same({ { 3, 0 }, { 7, 4 }, { 11, 8 } }, x():index_select(2, long { 4, 1 }):totable())
    assert.are.same({ { 3, 0 }, { 7, 4 }, { 11, 8 } }, mg.index_select(x(), -1, { 4, 1 }):totable())
    assert.are.same({ 0, 4 }, x():index_select(1, {}):shape())
    -- strided input, other dtypes
    assert.are.same({ { 2, 6, 10 } }, x():t():index_select(1, { 3 }):totable())
    assert.are.same({ 30, 10 }, long { 10, 20, 30 }:index_select(1, { 3, 1 }):totable())
    local u8 = mg.tensor({ { 1, 2 }, { 4, 5 } }, { dtype = "uint8" })
    assert.are.same({ { 5 }, { 2 } }, u8:index_select(2, { 2 }):index_select(1, { 2, 1 }):totable())
  end)

  it("picks whole images of a batch", function()
    local imgs = mg.arange(2 * 3 * 4 * 5):float():view(2, 3, 4, 5)
    local picked = imgs:index_select(1, { 2, 2, 1 })
    assert.are.same({ 3, 3, 4, 5 }, picked:shape())
    H.assert_near(picked[1], imgs[2], 0)
    H.assert_near(picked[3], imgs[1], 0)
    H.assert_near(imgs:index_select(3, { 4 }):squeeze(3), imgs:select(3, 4), 0)
  end)

  it("names the bad index, 1-based", function()
    H.assert_error(function() return x():index_select(1, { 1, 4 }) end,
      "index_select: index 4 out of range for dim 1 of size 3 (valid: 1..3)")
    H.assert_error(function() return x():index_select(2, long { 0 }) end,
      "index_select: index 0 out of range for dim 2 of size 4 (valid: 1..4)")
    H.assert_error(function() return x():index_select(1, { -1 }) end, "index_select: index -1 out of range")
    H.assert_error(function() return x():index_select(1, mg.tensor { 1 }) end,
      "index_select: index must be an int64 Tensor or a list of integers, got a float32 Tensor (convert with :long())")
    H.assert_error(function() return x():index_select(1, { 1.5 }) end,
      "index_select: index element 1 must be an integer")
    H.assert_error(function() return x():index_select(1, long { { 1 } }) end,
      "index_select: index must be 1-D, got [1, 1]")
    H.assert_error(function() return x():index_select(3, { 1 }) end,
      "index_select: dim 3 out of range for a 2-dim tensor")
  end)
end)

describe("gather", function()
  it("picks along a dim with an index of the input's rank", function()
    local x = mg.arange(12):float():view(3, 4)
    assert.are.same({ { 0, 1 }, { 7, 7 }, { 10, 8 } }, x:gather(2, long { { 1, 2 }, { 4, 4 }, { 3, 1 } }):totable())
    assert.are.same({ { 8, 5, 2, 3 } }, x:gather(1, long { { 3, 2, 1, 1 } }):totable())
    assert.are.same({ { 1 }, { 4 }, { 11 } }, x:gather(-1, long { { 2 }, { 1 }, { 4 } }):totable())
    -- the logit of each sample's label
    local logits = mg.tensor { { 0.1, 0.7, 0.2 }, { 0.5, 0.3, 0.2 } }
    H.assert_near(logits:gather(2, long { { 2 }, { 1 } }), { { 0.7 }, { 0.5 } })
    -- strided input and int64 values
    assert.are.same({ { 4, 0 } }, x:t():gather(2, long { { 2, 1 } }):totable())
    assert.are.same({ { 20, 10 } }, long { { 10, 20 } }:gather(2, long { { 2, 1 } }):totable())
    local u = mg.arange(24):view(2, 3, 4)
    local g = u:gather(2, long { { { 3, 1, 2, 3 } }, { { 1, 1, 1, 2 } } })
    assert.are.same({ { { 8, 1, 6, 11 } }, { { 12, 13, 14, 19 } } }, g:totable())
  end)

  it("refuses bad indices and shapes", function()
    local x = mg.zeros(3, 4)
    H.assert_error(function() return x:gather(1, long { { 4, 1 } }) end,
      "gather: index 4 out of range for dim 1 of size 3 (valid: 1..3)")
    H.assert_error(function() return x:gather(1, long { 1, 2 }) end,
      "gather: index [2] must have as many dims as the input [3, 4]")
    H.assert_error(function() return x:gather(2, long { { 1 }, { 1 }, { 1 }, { 1 } }) end,
      "gather: index [4, 1] is larger than the input [3, 4] in dim 1")
    H.assert_error(function() return x:gather(1, mg.zeros(1, 1)) end, "gather: index must be an int64 Tensor")
    H.assert_error(function() return x:gather(1, { { 1 } }) end, "gather: index must be an int64 Tensor, got table")
  end)
end)

describe("rot90", function()
  it("turns from the first dim towards the second, as torch.rot90", function()
    local a = mg.tensor { { 1, 2 }, { 3, 4 } }
    assert.are.same({ { 2, 4 }, { 1, 3 } }, a:rot90():totable())
    assert.are.same({ { 4, 3 }, { 2, 1 } }, a:rot90(2):totable())
    assert.are.same({ { 3, 1 }, { 4, 2 } }, a:rot90(3):totable())
    assert.are.same({ { 3, 1 }, { 4, 2 } }, a:rot90(-1):totable())
    assert.are.same({ { 3, 1 }, { 4, 2 } }, a:rot90(1, 2, 1):totable()) -- the other way round
    assert.are.same({ { 1, 2 }, { 3, 4 } }, a:rot90(4):totable())
    assert.are.same({ { 2, 4 }, { 1, 3 } }, a:rot90(-7):totable())
    assert.are.same({ { 2, 4 }, { 1, 3 } }, a:rot90(1, -2, -1):totable())
  end)

  it("matches the definition on rectangles, batches, dtypes and views", function()
    local m = mg.arange(12):view(3, 4)
    for k = -2, 5 do
      assert.are.same(rot_table(m:totable(), k), m:rot90(k):totable(), "k = " .. k)
      assert.are.same(rot_table(m:t():totable(), k), m:t():rot90(k):totable(), "transposed, k = " .. k)
    end
    local imgs = mg.arange(2 * 3 * 5 * 4):float():view(2, 3, 5, 4)
    for k = 1, 3 do
      local r = imgs:rot90(k, 3, 4)
      assert.is_true(r:is_contiguous())
      for n = 1, 2 do
        for c = 1, 3 do assert.are.same(rot_table(imgs[n][c]:totable(), k), r[n][c]:totable()) end
      end
    end
    local bytes = mg.arange(6):view(1, 2, 3):byte()
    assert.are.same({ { { 2, 5 }, { 1, 4 }, { 0, 3 } } }, bytes:rot90(1, 2, 3):totable())
    -- dims (1, 3) of a 3-D tensor: each slice along dim 2 turns
    local u = mg.arange(24):view(2, 3, 4)
    local r = u:rot90(1, 1, 3)
    assert.are.same({ 4, 3, 2 }, r:shape())
    for j = 1, 3 do assert.are.same(rot_table(u:select(2, j):totable(), 1), r:select(2, j):totable()) end
  end)

  it("refuses bad dims", function()
    H.assert_error(function() return mg.zeros(3):rot90() end, "rot90: needs at least 2 dims, got 1")
    H.assert_error(function() return mg.zeros(2, 2):rot90(1, 1, 1) end,
      "rot90: the two dims must differ, got dim 1 twice")
    H.assert_error(function() return mg.zeros(2, 2):rot90(1, 1, 3) end,
      "rot90: dim 3 out of range for a 2-dim tensor (dims are 1..2, or -1 for the last)")
    H.assert_error(function() return mg.zeros(2, 2):rot90(1.5) end, "rot90: k must be an integer, got 1.5")
  end)
end)

describe("flip", function()
  it("reverses the given dims", function()
    local a = m23()
    assert.are.same({ { 4, 5, 6 }, { 1, 2, 3 } }, a:flip(1):totable())
    assert.are.same({ { 3, 2, 1 }, { 6, 5, 4 } }, a:flip(2):totable())
    assert.are.same({ { 6, 5, 4 }, { 3, 2, 1 } }, a:flip(1, 2):totable())
    assert.are.same({ { 6, 5, 4 }, { 3, 2, 1 } }, a:flip({ -1, -2 }):totable())
    assert.are.same({ { 6, 3 }, { 5, 2 }, { 4, 1 } }, a:t():flip(1, 2):totable())
    assert.are.same({ 3, 2, 1 }, long { 1, 2, 3 }:flip(1):totable())
    -- long rows (the vector path) and odd lengths
    local n = 1001
    local r = mg.arange(n):float():flip(1)
    assert.are.equal(n - 1, r[1]:item())
    assert.are.equal(0, r[n]:item())
    assert.are.equal(500, r[501]:item())
    local img = mg.arange(2 * 37):float():view(1, 2, 37):flip(3)
    assert.are.same({ 36, 35 }, { img[1][1][1]:item(), img[1][1][2]:item() })
    assert.are.same({ 73, 37 }, { img[1][2][1]:item(), img[1][2][37]:item() })
  end)

  it("refuses repeated and bad dims", function()
    H.assert_error(function() return m23():flip(1, 1) end, "flip: dim 1 appears more than once")
    H.assert_error(function() return m23():flip(1, -2) end, "flip: dim 1 appears more than once")
    H.assert_error(function() return m23():flip(3) end, "flip: dim 3 out of range for a 2-dim tensor")
    H.assert_error(function() return m23():flip() end, "flip: give the dims to flip")
  end)
end)

describe("masked_fill", function()
  it("writes the value where the (broadcast) mask is nonzero", function()
    local x = m23()
    assert.are.same({ { 1, 2, 3 }, { 4, 0, 0 } }, x:masked_fill(x:gt(4), 0):totable())
    assert.are.same({ { -1, 2, -1 }, { -1, 5, -1 } }, x:masked_fill(mg.tensor { 1, 0, 1 }, -1):totable())
    assert.are.same({ { 1, 2, 3 }, { 9, 9, 9 } }, x:masked_fill(mg.tensor { { 0 }, { 2 } }, 9):totable())
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, x:totable()) -- not in place
    local scores = mg.zeros(2, 2):masked_fill(mg.tensor({ { 0, 1 }, { 0, 0 } }, { dtype = "uint8" }), -math.huge)
    assert.are.same({ { 0, -math.huge }, { 0, 0 } }, scores:totable())
    assert.are.same({ 7, 2 }, long { 1, 2 }:masked_fill(long { 1, 0 }, 7):totable())
    assert.are.same({ { 1, 0 }, { 2, 0 } }, x:t():masked_fill(mg.tensor { 0, 1 }, 0):narrow(1, 1, 2):totable())
  end)

  it("passes the gradient only where nothing was written", function()
    local x = m23():requires_grad_()
    x:masked_fill(mg.tensor { 1, 0, 0 }, 5):sum():backward()
    assert.are.same({ { 0, 1, 1 }, { 0, 1, 1 } }, x.grad:totable())
  end)

  it("needs a mask that broadcasts to the input", function()
    H.assert_error(function() return m23():masked_fill(mg.zeros(2), 1) end,
      "masked_fill: shapes [2, 3] and [2] cannot be broadcast")
    H.assert_error(function() return mg.zeros(3):masked_fill(mg.zeros(2, 3), 1) end,
      "masked_fill: mask [2, 3] cannot be broadcast to the input [3]")
  end)
end)

describe("one_hot", function()
  it("turns 1-based classes into float rows, n inferred from the largest class", function()
    local o = mg.one_hot(long { 1, 3, 2 }, 4)
    assert.are.equal("float32", o.dtype)
    assert.are.same({ { 1, 0, 0, 0 }, { 0, 0, 1, 0 }, { 0, 1, 0, 0 } }, o:totable())
    assert.are.same({ { 0, 1 }, { 1, 0 } }, mg.one_hot({ 2, 1 }):totable())
    assert.are.same({ 2, 1, 3 }, mg.one_hot(long { { 3 }, { 1 } }):shape())
    assert.are.same({ 0, 5 }, mg.one_hot(long {}, 5):shape())
  end)

  it("names a class out of range", function()
    H.assert_error(function() return mg.one_hot({ 5 }, 4) end,
      "one_hot: class 5 out of range for 4 classes (valid: 1..4)")
    H.assert_error(function() return mg.one_hot({ 0 }, 4) end, "one_hot: class 0 out of range for 4 classes")
    H.assert_error(function() return mg.one_hot({ 1 }, 0) end, "one_hot: n must be >= 1, got 0")
    H.assert_error(function() return mg.one_hot(mg.tensor { 1 }, 2) end, "one_hot: classes must be an int64 Tensor")
  end)
end)
