-- Views share storage with their base (writes through a view show in the
-- base); copies happen only when needed. view/reshape, transpose/permute,
-- narrow/select, squeeze/unsqueeze, expand, flatten; 1-based and negative
-- dims, and the messages of bad dims.
local H = require "helpers"
local mg = H.mg

local function m23() return mg.arange(6):float():view(2, 3) end -- {{0,1,2},{3,4,5}}

describe("views", function()
  it("share storage: writing through a view changes the base", function()
    local base = mg.zeros(2, 3)
    base:select(1, 2):fill_(5)
    base:narrow(2, 1, 1):add_(1)
    base:t()[3]:fill_(-1) -- column 3
    base:view(6)[2] = 7
    assert.are.same({ { 1, 7, -1 }, { 6, 5, -1 } }, base:totable())
    local e = mg.zeros(3)
    e:unsqueeze(1):squeeze(1):permute(1):fill_(2)
    assert.are.same({ 2, 2, 2 }, e:totable())
  end)

  it("view and reshape infer one -1 and check the element count", function()
    local t = m23()
    assert.are.same({ 3, 2 }, t:view(3, -1):shape())
    assert.are.same({ 6 }, t:view(-1):shape())
    assert.are.same({ 1, 6, 1 }, t:reshape({ 1, -1, 1 }):shape())
    assert.are.same({ 2, 3 }, mg.zeros(6):view_as(t):shape())
    H.assert_error(function() return t:view(4) end, "view: cannot view [2, 3] (6 elements) as [4] (4 elements)")
    H.assert_error(function() return t:view(-1, -1) end, "view: only one dimension can be -1, got [-1, -1]")
    H.assert_error(function() return t:view(4, -1) end, "view: cannot view [2, 3] (6 elements) as [4, -1]")
    H.assert_error(function() return t:view(-2, 3) end, "view: invalid size in [-2, 3]")
  end)

  it("view refuses strides it cannot express; reshape copies then", function()
    local t = m23():t() -- [3, 2], not contiguous
    assert.is_false(t:is_contiguous())
    H.assert_error(function() return t:view(6) end,
      "view: [3, 2] with strides that do not allow viewing it as [6]; use reshape")
    local r = t:reshape(6)
    assert.are.same({ 0, 3, 1, 4, 2, 5 }, r:totable())
    r:fill_(9) -- a copy: the base is untouched
    assert.are.same({ { 0, 1, 2 }, { 3, 4, 5 } }, m23():totable())
    -- non-contiguous but viewable: splitting a dim keeps sharing
    local base = mg.zeros(4, 6)
    local cols = base:narrow(2, 1, 4) -- rows of 4 with stride 6
    cols:reshape(4, 2, 2)[1][2]:fill_(1)
    assert.are.same({ 0, 0, 1, 1, 0, 0 }, base[1]:totable())
  end)

  it("contiguous copies only when needed", function()
    local t = m23()
    local c = t:contiguous()
    c:fill_(1)
    assert.are.same({ 1, 1, 1 }, t[1]:totable()) -- same storage
    local tt = t:t():contiguous()
    assert.is_true(tt:is_contiguous())
    assert.are.same({ { 1, 1 }, { 1, 1 }, { 1, 1 } }, tt:totable())
    tt:fill_(0)
    assert.are.same({ 1, 1, 1 }, t[1]:totable()) -- a copy
    local cl = t:clone()
    cl:fill_(3)
    assert.are.same({ 1, 1, 1 }, t[1]:totable())
  end)

  it("transpose, t and permute", function()
    local t = m23()
    assert.are.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, t:t():totable())
    assert.are.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, t:transpose():totable())
    assert.are.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, t:transpose(-1, -2):totable())
    assert.are.same({ 3 }, mg.zeros(3):t():shape())
    local u = mg.arange(24):view(2, 3, 4)
    assert.are.same({ 4, 2, 3 }, u:permute(3, 1, 2):shape())
    assert.are.same({ 4, 3, 2 }, u:permute({ -1, 2, 1 }):shape())
    assert.are.equal(u[2][3][1]:item(), u:permute(3, 1, 2)[1][2][3]:item())
    assert.are.same({ 4, 3, 2 }, u:transpose(1, 3):shape())
    H.assert_error(function() return u:t() end, "t: expects a tensor with at most 2 dims, got 3 (use transpose)")
    H.assert_error(function() return u:permute(1, 1, 2) end, "permute: the dims must be a permutation of 1..3")
    H.assert_error(function() return u:permute(1, 2) end, "permute: got 2 dims for a 3-dim tensor")
    H.assert_error(function() return u:permute(1, 2, 4) end,
      "permute: dim 4 out of range for a 3-dim tensor (dims are 1..3, or -1 for the last)")
    H.assert_error(function() return u:transpose(1, 4) end, "transpose: dim 4 out of range for a 3-dim tensor")
  end)

  it("narrow and select are 1-based; select takes negative indices", function()
    local t = m23()
    assert.are.same({ { 1, 2 }, { 4, 5 } }, t:narrow(2, 2, 2):totable())
    assert.are.same({ { 3, 4, 5 } }, t:narrow(1, 2, 1):totable())
    assert.are.same({ 2, 0 }, t:narrow(2, 4, 0):shape())
    assert.are.same({ { 2 }, { 5 } }, t:narrow(-1, 3, 1):totable())
    assert.are.same({ 1, 4 }, t:select(2, 2):totable())
    assert.are.same({ 3, 4, 5 }, t:select(1, -1):totable())
    assert.are.same({ 2, 5 }, t:select(-1, 3):totable())
    H.assert_error(function() return t:narrow(2, 3, 2) end,
      "narrow: elements 3..4 are out of range for dim 2 of size 3")
    H.assert_error(function() return t:narrow(2, 0, 1) end, "narrow: start must be >= 1 (1-based), got 0")
    H.assert_error(function() return t:select(1, 3) end, "select: index 3 out of range for dim 1 of size 2")
    H.assert_error(function() return t:select(1, 0) end, "select: index 0 out of range for dim 1 of size 2")
    H.assert_error(function() return t:select(3, 1) end, "select: dim 3 out of range for a 2-dim tensor")
    H.assert_error(function() return mg.tensor(1):select(1, 1) end, "select: cannot index a 0-dim tensor")
  end)

  it("unsqueeze takes 1..ndim+1 or negatives; squeeze drops size-1 dims", function()
    local t = m23()
    assert.are.same({ 1, 2, 3 }, t:unsqueeze(1):shape())
    assert.are.same({ 2, 1, 3 }, t:unsqueeze(2):shape())
    assert.are.same({ 2, 3, 1 }, t:unsqueeze(3):shape())
    assert.are.same({ 2, 3, 1 }, t:unsqueeze(-1):shape())
    assert.are.same({ 1, 2, 3 }, t:unsqueeze(-3):shape())
    assert.are.same({ 1 }, mg.tensor(5):unsqueeze(1):shape())
    H.assert_error(function() return t:unsqueeze(4) end,
      "unsqueeze: dim 4 out of range for a 2-dim tensor (dims are 1..3, or -1 for a new last)")
    H.assert_error(function() return t:unsqueeze(-4) end, "unsqueeze: dim -4 out of range for a 2-dim tensor")
    H.assert_error(function() return t:unsqueeze(0) end, "unsqueeze: dim 0 out of range")
    local s = mg.zeros(1, 2, 1, 3, 1)
    assert.are.same({ 2, 3 }, s:squeeze():shape())
    assert.are.same({ 2, 1, 3, 1 }, s:squeeze(1):shape())
    assert.are.same({ 1, 2, 1, 3 }, s:squeeze(-1):shape())
    assert.are.same({ 1, 2, 1, 3, 1 }, s:squeeze(2):shape()) -- size 2: unchanged
    assert.are.same({}, mg.zeros(1, 1):squeeze():shape())
    H.assert_error(function() return s:squeeze(6) end, "squeeze: dim 6 out of range for a 5-dim tensor (dims are 1..5")
  end)

  it("expand repeats size-1 dims without copying", function()
    local c = mg.tensor { { 1 }, { 2 } }
    local e = c:expand(2, 3)
    assert.are.same({ { 1, 1, 1 }, { 2, 2, 2 } }, e:totable())
    assert.are.same({ 1, 0 }, e:stride())
    assert.are.same({ 4, 2, 3 }, c:expand(4, 2, 3):shape())
    assert.are.same({ 2, 3 }, c:expand(-1, 3):shape())
    assert.are.same({ 2, 3 }, c:expand_as(mg.zeros(2, 3)):shape())
    c:fill_(7)
    assert.are.same({ 7, 7, 7 }, e[1]:totable())
    H.assert_error(function() return c:expand(3, 3) end, "expand: cannot expand [2, 1] to [3, 3] (dim 1)")
    H.assert_error(function() return c:expand(3) end, "expand: cannot expand [2, 1] to [3]")
    -- sums over an expanded tensor count every repeat
    assert.are.equal(42, e:sum():item())
  end)

  it("flatten merges a range of dims", function()
    local u = mg.zeros(2, 3, 4, 5)
    assert.are.same({ 120 }, u:flatten():shape())
    assert.are.same({ 2, 60 }, u:flatten(2):shape())
    assert.are.same({ 2, 12, 5 }, u:flatten(2, 3):shape())
    assert.are.same({ 6, 4, 5 }, u:flatten(1, -3):shape())
    assert.are.same({ 1 }, mg.tensor(3):flatten():shape())
    H.assert_error(function() return u:flatten(3, 2) end, "flatten: start dim 3 is after end dim 2")
    H.assert_error(function() return u:flatten(5) end, "flatten: dim 5 out of range for a 4-dim tensor")
  end)
end)
