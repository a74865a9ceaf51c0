-- Sorting and counting: sort, argsort, topk, cumsum, bincount, unique.
-- Values against hand computations, 1-based indices, NaN and ties,
-- integer dtypes, strided inputs, gradients and the messages of bad
-- arguments. (Finite-difference checks: spec/gradcheck/sort.lua.)
local H = require "helpers"
local mg = H.mg

local function long(t) return mg.tensor(t, "int64") end

describe("sort", function()
  before_each(H.reseed(5))

  it("orders the last dim by default and returns 1-based indices", function()
    local v, i = mg.tensor { { 3, 1, 2 }, { 0, 5, -1 } }:sort()
    assert.are.same({ { 1, 2, 3 }, { -1, 0, 5 } }, v:totable())
    assert.are.same({ { 2, 3, 1 }, { 3, 1, 2 } }, i:totable())
    assert.are.equal("int64", i.dtype)
  end)

  it("takes a dim and descending, positional or as options", function()
    local x = mg.tensor { { 3, 1, 2 }, { 0, 5, -1 } }
    local v, i = x:sort(1, true)
    assert.are.same({ { 3, 5, 2 }, { 0, 1, -1 } }, v:totable())
    assert.are.same({ { 1, 2, 1 }, { 2, 1, 2 } }, i:totable())
    local v2, i2 = mg.sort(x, { dim = 1, descending = true })
    assert.are.same(v:totable(), v2:totable())
    assert.are.same(i:totable(), i2:totable())
    assert.are.same({ { 3, 2, 1 }, { 5, 0, -1 } }, (x:sort { descending = true }):totable())
  end)

  it("puts NaN above every number and keeps ties in order", function()
    local nan = 0 / 0
    local v, i = mg.tensor { 2, nan, -1, 2, nan, 0 }:sort()
    local got = v:totable()
    assert.are.same({ -1, 0, 2, 2 }, { got[1], got[2], got[3], got[4] })
    assert.is_true(got[5] ~= got[5] and got[6] ~= got[6])
    assert.are.same({ 3, 6, 1, 4, 2, 5 }, i:totable())
    local _, di = mg.tensor { 2, nan, -1, 2 }:sort(1, true)
    assert.are.same({ 2, 1, 4, 3 }, di:totable()) -- NaN first, equal 2s in their order
  end)

  it("sorts integers exactly and keeps their dtype", function()
    local big = (1 << 62) + 1
    local v, i = long { big, -3, big - 1 }:sort()
    assert.are.equal("int64", v.dtype)
    assert.are.same({ -3, big - 1, big }, v:totable())
    assert.are.same({ 2, 3, 1 }, i:totable())
    local b = mg.tensor({ 200, 7, 255 }, "uint8"):sort(1, true)
    assert.are.equal("uint8", b.dtype)
    assert.are.same({ 255, 200, 7 }, b:totable())
  end)

  it("reads strided inputs, and sorts 0-dim and empty tensors", function()
    local x = mg.tensor { { 3, 1 }, { 2, 4 } }:t() -- {{3, 2}, {1, 4}}
    assert.are.same({ { 2, 3 }, { 1, 4 } }, (x:sort(2)):totable())
    local v, i = mg.tensor(5):sort()
    assert.are.same({}, v:shape())
    assert.are.equal(1, i:item())
    assert.are.same({ 2, 0 }, (mg.zeros(2, 0):sort()):shape())
  end)

  it("sends the gradient back to where each value came from", function()
    local x = mg.tensor { 3, 1, 2 }:requires_grad_()
    local v = x:sort()
    assert.are.equal("sort", v.grad_fn)
    local loss = (v * mg.tensor { 10, 20, 30 }):sum()
    loss:backward()
    assert.are.same({ 30, 10, 20 }, x.grad:totable())
  end)

  it("argsort gives the indices alone, without a graph", function()
    local x = mg.tensor { 0.5, -2, 9 }:requires_grad_()
    local i = x:argsort()
    assert.are.same({ 2, 1, 3 }, i:totable())
    assert.is_nil(i.grad_fn)
    assert.are.same({ 3, 1, 2 }, x:argsort(1, true):totable())
  end)

  it("names what is wrong", function()
    local x = mg.ones(2, 3)
    H.assert_error(function() x:sort(3) end, "sort: dim 3 out of range for a 2-dim tensor")
    H.assert_error(function() x:sort(1, "yes") end, "sort: descending must be a boolean, got string")
    H.assert_error(function() x:sort { desc = true } end,
      "sort: unknown option 'desc' (expected one of dim, descending)")
  end)
end)

describe("topk", function()
  it("gives the k largest in order, or the smallest", function()
    local x = mg.tensor { { 1, 9, 3, 7 }, { 4, 4, 8, 0 } }
    local v, i = x:topk(2)
    assert.are.same({ { 9, 7 }, { 8, 4 } }, v:totable())
    assert.are.same({ { 2, 4 }, { 3, 1 } }, i:totable())
    local s, si = x:topk(3, 2, false)
    assert.are.same({ { 1, 3, 7 }, { 0, 4, 4 } }, s:totable())
    assert.are.same({ { 1, 3, 4 }, { 4, 1, 2 } }, si:totable())
    local c, ci = x:topk(1, { dim = 1 })
    assert.are.same({ { 4, 9, 8, 7 } }, c:totable())
    assert.are.same({ { 2, 1, 2, 1 } }, ci:totable())
    assert.are.same({ 2, 0 }, (x:topk(0)):shape())
  end)

  it("agrees with a full sort on long rows (the quickselect path)", function()
    mg.manual_seed(11)
    local x = mg.randn(3, 1000)
    local v, i = x:topk(17)
    local sv, si = x:sort(2, true)
    assert.are.same(sv[{ {}, { 1, 17 } }]:totable(), v:totable())
    assert.are.same(si[{ {}, { 1, 17 } }]:totable(), i:totable())
    local r = long { 5, 5, 5, 1, 5, 9, 5 } -- many ties: the first positions win
    local rv, ri = r:topk(3)
    assert.are.same({ 9, 5, 5 }, rv:totable())
    assert.are.same({ 6, 1, 2 }, ri:totable())
  end)

  it("sends the gradient to the chosen positions only", function()
    local x = mg.tensor { 1, 9, 3, 7 }:requires_grad_()
    x:topk(2):sum():backward()
    assert.are.same({ 0, 1, 0, 1 }, x.grad:totable())
  end)

  it("refuses a k outside 0..n", function()
    H.assert_error(function() mg.ones(2, 3):topk(4) end, "topk: k 4 out of range for dim 2 of size 3 (valid: 0..3)")
    H.assert_error(function() mg.ones(3):topk(-1) end, "topk: k -1 out of range")
    H.assert_error(function() mg.ones(3):topk(1.5) end, "topk: k must be an integer, got 1.5")
    H.assert_error(function() mg.ones(3):topk(1, { biggest = true }) end, "topk: unknown option 'biggest'")
  end)
end)

describe("cumsum", function()
  it("sums along a dim, float32 or integers as int64", function()
    assert.are.same({ 1, 3, 6 }, mg.tensor { 1, 2, 3 }:cumsum():totable())
    assert.are.same({ { 1, 3 }, { 3, 7 } }, mg.tensor { { 1, 2 }, { 3, 4 } }:cumsum(2):totable())
    assert.are.same({ { 1, 2 }, { 4, 6 } }, mg.tensor { { 1, 2 }, { 3, 4 } }:cumsum(1):totable())
    assert.are.same({ { 1, 4 }, { 2, 6 } }, mg.tensor { { 1, 2 }, { 3, 4 } }:t():cumsum(-1):totable())
    local b = mg.tensor({ 200, 100 }, "uint8"):cumsum()
    assert.are.equal("int64", b.dtype)
    assert.are.same({ 200, 300 }, b:totable())
    assert.are.same({ 1 << 40, (1 << 40) + 1 }, long { 1 << 40, 1 }:cumsum():totable())
  end)

  it("keeps float32 sums accurate over long rows", function()
    local s = mg.full(100000, 0.1):cumsum()
    H.assert_near(s[-1], 10000, 1e-2)
  end)

  it("has the reversed cumulative sum as gradient", function()
    local x = mg.tensor { 1, 2, 3 }:requires_grad_()
    local loss = (x:cumsum() * mg.tensor { 1, 10, 100 }):sum()
    loss:backward()
    assert.are.same({ 111, 110, 100 }, x.grad:totable())
  end)

  it("wants a dim beyond one dim", function()
    H.assert_error(function() mg.ones(2, 2):cumsum() end, "cumsum: give the dim for a 2-dim tensor")
    H.assert_error(function() mg.ones(2, 2):cumsum(3) end, "cumsum: dim 3 out of range")
  end)
end)

describe("bincount", function()
  it("counts each value 1, 2, ... in its 1-based bin", function()
    local labels = long { 3, 1, 3, 2, 3 }
    assert.are.same({ 1, 1, 3 }, labels:bincount():totable())
    assert.are.same({ 1, 1, 3, 0, 0 }, labels:bincount(nil, 5):totable())
    assert.are.same({ 1, 1, 3 }, labels:bincount(nil, 2):totable())
    assert.are.same({ 0, 0 }, long({}):bincount { minlength = 2 }:totable())
    assert.are.same({ 0, 1 }, mg.tensor({ 2 }, "uint8"):bincount():totable())
  end)

  it("sums weights instead of counting", function()
    local w = mg.tensor { 0.5, 1, 0.25, 2, 1 }
    H.assert_near(long { 3, 1, 3, 2, 3 }:bincount(w), { 1, 2, 1.75 })
    H.assert_near(mg.bincount(long { 2 }, { weights = mg.tensor { 4 }, minlength = 3 }), { 0, 4, 0 })
  end)

  it("counts the classes of a dataset", function()
    local counts = mg.data.mnist { split = "train", source = "sample", quiet = true }.labels:bincount(nil, 10)
    assert.are.equal(10, counts:numel())
    assert.are.equal(2000, counts:sum():item())
    assert.is_true(counts:min():item() > 100)
  end)

  it("names what is wrong", function()
    H.assert_error(function() long({ 0, 1 }):bincount() end,
      "bincount: value 0 at position 1 is below the first bin (bins are 1-based)")
    H.assert_error(function() mg.ones(3):bincount() end,
      "bincount: needs an integer tensor (int64 or uint8), got float32")
    H.assert_error(function() long({ { 1 } }):bincount() end, "bincount: needs a 1-D tensor, got [1, 1]")
    H.assert_error(function() long({ 1, 2 }):bincount(mg.ones(3)) end,
      "bincount: weights [3] must have the input's shape [2]")
    H.assert_error(function() long({ 1 }):bincount(long { 1 }) end, "bincount: weights must be float32, got int64")
    H.assert_error(function() long({ 1 }):bincount(nil, -1) end, "bincount: minlength must be >= 0, got -1")
    H.assert_error(function() long({ 1 }):bincount { min_length = 3 } end, "bincount: unknown option 'min_length'")
    H.assert_error(function() long({ 1 << 50 }):bincount() end, "bincount: cannot make 1125899906842624 bins")
  end)
end)

describe("unique", function()
  it("gives sorted distinct values, 1-based inverse indices and counts", function()
    local x = long { { 3, 1 }, { 3, 7 } }
    local u, inv, counts = x:unique()
    assert.are.same({ 1, 3, 7 }, u:totable())
    assert.are.same({ { 2, 1 }, { 2, 3 } }, inv:totable())
    assert.are.same({ 1, 2, 1 }, counts:totable())
    assert.are.same(x:totable(), u:index_select(1, inv:view(-1)):view(2, 2):totable())
  end)

  it("works on floats, bytes, strided and empty tensors", function()
    local u, inv = mg.tensor { 0.5, -1, 0.5 }:unique()
    assert.are.same({ -1, 0.5 }, u:totable())
    assert.are.same({ 2, 1, 2 }, inv:totable())
    local b = mg.tensor({ 9, 9, 2 }, "uint8"):unique()
    assert.are.equal("uint8", b.dtype)
    assert.are.same({ 2, 9 }, b:totable())
    assert.are.same({ 1, 2, 4 }, long({ { 1, 2 }, { 4, 1 } }):t():unique():totable())
    local e, ei, ec = mg.zeros(0):unique()
    assert.are.same({ 0 }, e:shape())
    assert.are.same({ 0 }, ei:shape())
    assert.are.same({ 0 }, ec:shape())
  end)

  it("accepts PyTorch's flags and refuses others", function()
    local _, _, counts = long { 1, 1 }:unique { return_counts = true }
    assert.are.same({ 2 }, counts:totable())
    H.assert_error(function() long({ 1 }):unique { dim = 1 } end,
      "unique: unknown option 'dim' (expected one of sorted, return_inverse, return_counts)")
  end)
end)

describe("the REPL", function()
  it("completes the new methods and functions", function()
    local repl = require "moongrad.repl"
    local env = { x = mg.ones(2), mg = mg }
    for _, want in ipairs { "x:sort", "x:argsort", "x:topk", "x:cumsum", "x:bincount", "x:unique" } do
      local found = false
      for _, c in ipairs(repl.complete(want, env)) do found = found or c == want end
      assert.is_true(found, want)
    end
    assert.are.same({ "mg.bincount" }, repl.complete("mg.binc", env))
  end)
end)
