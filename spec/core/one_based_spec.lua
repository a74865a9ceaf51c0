-- Every binding that takes or returns an index converts it through the
-- one set of helpers (bindings/lua_one_based.c): 1 is the first element
-- everywhere, -1 the last where negatives are allowed.
local H = require "helpers"
local mg = H.mg

local function long(t) return mg.tensor(t, { dtype = "int64" }) end

describe("1-based indices in every binding", function()
  local x = mg.tensor { { 10, 11, 12 }, { 20, 21, 22 } }

  it("dims, positions and ranges", function()
    assert.same({ 20, 21, 22 }, x:select(1, 2):totable())
    assert.same({ 12, 22 }, x:select(2, -1):totable())
    assert.same({ { 11, 12 }, { 21, 22 } }, x:narrow(-1, 2, 2):totable())
    assert.equal(21, x[{ 2, 2 }])
    assert.same({ { 11, 12 } }, x[{ { 1 }, { 2, 3 } }]:totable())
    assert.same({ 0, 2 }, { x[{ {}, { 2, 1 } }]:size(2), x[{ {}, { 2, 1 } }]:size(1) }) -- {first, first - 1}: empty
    H.assert_error(function() x:select(1, 3) end, "select: index 3 out of range for dim 1 of size 2")
    H.assert_error(function() x:narrow(1, 0, 1) end, "narrow: start must be >= 1")
  end)

  it("index tensors in, index tensors out", function()
    assert.same({ { 12, 10 }, { 22, 20 } }, x:index_select(2, long { 3, 1 }):totable())
    assert.same({ { 12 }, { 20 } }, x:gather(2, long { { 3 }, { 1 } }):totable())
    assert.same({ { 0, 1 } }, mg.one_hot(long { 2 }, 2):totable())
    assert.same({ 3, 3 }, x:argmax(2):totable())
    local _, where = x:max(1)
    assert.same({ 2, 2, 2 }, where:totable())
    local _, order = mg.tensor({ 5, 1, 3 }):sort()
    assert.same({ 2, 3, 1 }, order:totable())
    assert.same({ 0, 2, 1 }, long({ 2, 3, 2 }):bincount():totable())
  end)

  it("classes and ids", function()
    local logits = mg.tensor { { 0, 9, 0 } }
    H.assert_near(mg.cross_entropy(logits, long { 2 }), mg.cross_entropy(logits, long { 2 }), 0)
    assert.is_true(mg.cross_entropy(logits, long { 2 }):item() < 0.01)
    H.assert_error(function() mg.cross_entropy(logits, long { 0 }) end,
      "cross_entropy: target 0 out of range for 3 classes (targets are 1-based)")
    local w = mg.tensor { { 1, 1 }, { 2, 2 } }
    assert.same({ { 2, 2 } }, mg.embedding(long { 2 }, w):totable())
  end)

  it("pixel coordinates", function()
    local cv = mg.viz.Canvas(3, 2, { background = "black" })
    cv:rect(2, 1, 1, 1, "white") -- column 2 of row 1
    assert.same({ 0, 255, 0 }, cv.tensor:select(3, 1):select(1, 1):totable())
    assert.same({ 0, 0, 0 }, cv.tensor:select(3, 1):select(1, 2):totable())
    -- cutout's boxes: (top, left) 1-based, then the size
    local img = mg.cutout(mg.ones(1, 1, 2, 3), long { { 1, 2, 1, 1 } })
    assert.same({ { 1, 0, 1 }, { 1, 1, 1 } }, img:view(2, 3):totable())
  end)
end)
