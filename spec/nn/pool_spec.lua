-- max_pool2d and avg_pool2d: values and gradients against PyTorch fixtures
-- (spec/fixtures/conv.lua), hand-computed cases and error messages.
local H = require "helpers"
local mg = H.mg
local fixtures = dofile("spec/fixtures/conv.lua")

local function T(f) return mg.tensor(f.data):view(f.shape) end

local function check_case(op, case)
  local x = T(case.x):requires_grad_()
  local opts = {}
  for k, v in pairs(case.opts) do if k ~= "kernel_size" then opts[k] = v end end
  local y = mg[op](x, case.opts.kernel_size, opts)
  assert.are.same(case.y.shape, y:shape())
  H.assert_near(y, case.y.data, 1e-5, 1e-5, case.name .. ": output")
  y:backward(T(case.gy))
  H.assert_near(x.grad, case.gx.data, 1e-5, 1e-5, case.name .. ": input gradient")
end

describe("max_pool2d", function()
  before_each(H.reseed(13))

  for _, case in ipairs(fixtures.max_pool2d) do
    it("matches PyTorch: " .. case.name, function() check_case("max_pool2d", case) end)
  end

  it("computes a tiny case by hand", function()
    local x = mg.arange(1, 17):float():view(1, 1, 4, 4):requires_grad_()
    local y = mg.max_pool2d(x, 2)
    H.assert_near(y, { { { { 6, 8 }, { 14, 16 } } } })
    y:sum():backward()
    H.assert_near(x.grad, { { { { 0, 0, 0, 0 }, { 0, 1, 0, 1 }, { 0, 0, 0, 0 }, { 0, 1, 0, 1 } } } })
    -- overlapping windows add their gradients up
    local x2 = mg.arange(1, 17):float():view(1, 1, 4, 4):requires_grad_()
    x2:max_pool2d(3, { stride = 1 }):sum():backward()
    H.assert_near(x2.grad:view(-1), { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1 })
  end)

  it("sends a tied window's gradient to its first maximum, and NaN wins", function()
    local x = mg.ones(1, 1, 2, 4):requires_grad_()
    x:max_pool2d({ 2, 2 }):sum():backward()
    H.assert_near(x.grad, { { { { 1, 0, 1, 0 }, { 0, 0, 0, 0 } } } })
    local n = mg.tensor { { { { 1, 0 / 0 }, { 3, 2 } } } }
    local y = mg.max_pool2d(n, 2):item()
    assert.is_true(y ~= y)
  end)

  it("follows PyTorch's ceil_mode rule: no window starts in the right padding", function()
    assert.are.same({ 1, 1, 3, 3 }, mg.max_pool2d(mg.randn(1, 1, 5, 5), 2, { padding = 1, ceil_mode = true }):shape())
    assert.are.same({ 1, 1, 4, 3 }, mg.max_pool2d(mg.randn(1, 1, 7, 5), 2, { ceil_mode = true }):shape())
    assert.are.same({ 1, 1, 3, 2 }, mg.max_pool2d(mg.randn(1, 1, 7, 5), 2):shape())
  end)

  it("works as a method with a {kh, kw} kernel and its own stride", function()
    local x = mg.randn(2, 3, 6, 7)
    local y = x:max_pool2d({ 2, 3 }, { stride = { 1, 2 } })
    assert.are.same({ 2, 3, 5, 3 }, y:shape())
    H.assert_near(y, mg.max_pool2d(x, { 2, 3 }, { stride = { 1, 2 }, padding = 0, ceil_mode = false }))
  end)

  it("names the op and the shapes in its errors", function()
    local x = mg.randn(1, 2, 4, 4)
    H.assert_error(function() mg.max_pool2d(x) end, "max_pool2d: kernel_size is required")
    H.assert_error(function() mg.max_pool2d(x, 0) end, "max_pool2d: kernel_size must be >= 1, got [0, 0]")
    H.assert_error(function() mg.max_pool2d(x, 2, { stride = 0 }) end, "max_pool2d: stride must be >= 1")
    H.assert_error(function() mg.max_pool2d(x, 2, { padding = 2 }) end,
      "max_pool2d: padding must be >= 0 and at most half the kernel size, got padding [2, 2] for kernel_size [2, 2]")
    H.assert_error(function() mg.max_pool2d(x, 5) end,
      "max_pool2d: input [1, 2, 4, 4] is too small for kernel_size [5, 5]")
    H.assert_error(function() mg.max_pool2d(mg.randn(2, 4, 4), 2) end, "max_pool2d: input must be 4-D")
    H.assert_error(function() mg.max_pool2d(x, { 2 }) end, "max_pool2d: kernel_size must be a number or a {h, w} pair")
    H.assert_error(function() mg.max_pool2d(x, 2, { ceil_mode = 1 }) end,
      "max_pool2d: option 'ceil_mode' must be a boolean")
    H.assert_error(function() mg.max_pool2d(x, 2, { count_include_pad = true }) end,
      "max_pool2d: unknown option 'count_include_pad'")
    H.assert_error(function() mg.max_pool2d(x, 2 ^ 33) end, "max_pool2d: kernel_size is out of range")
    H.assert_error(function() mg.max_pool2d(x:long(), 2) end, "max_pool2d: needs a float32 tensor")
  end)
end)

describe("avg_pool2d", function()
  before_each(H.reseed(14))

  for _, case in ipairs(fixtures.avg_pool2d) do
    it("matches PyTorch: " .. case.name, function() check_case("avg_pool2d", case) end)
  end

  it("computes a tiny case by hand", function()
    local x = mg.arange(1, 17):float():view(1, 1, 4, 4):requires_grad_()
    local y = x:avg_pool2d(2)
    H.assert_near(y, { { { { 3.5, 5.5 }, { 11.5, 13.5 } } } })
    y:sum():backward()
    H.assert_near(x.grad, mg.full({ 1, 1, 4, 4 }, 0.25))
    -- padding 1 on a 2x2 input, 2x2 windows: each window holds one value
    local z = mg.tensor { { { { 4, 8 }, { 12, 16 } } } }
    H.assert_near(mg.avg_pool2d(z, 2, { stride = 1, padding = 1 }),
      { { { { 1, 3, 2 }, { 4, 10, 6 }, { 3, 7, 4 } } } })
    H.assert_near(mg.avg_pool2d(z, 2, { stride = 1, padding = 1, count_include_pad = false }),
      { { { { 4, 6, 8 }, { 8, 10, 12 }, { 12, 14, 16 } } } })
  end)

  it("names the op in its errors", function()
    local x = mg.randn(1, 2, 4, 4)
    H.assert_error(function() mg.avg_pool2d(x, 3, { padding = 2 }) end, "avg_pool2d: padding must be >= 0")
    H.assert_error(function() mg.avg_pool2d(x, 2, { count_include_pad = "no" }) end,
      "avg_pool2d: option 'count_include_pad' must be a boolean")
    H.assert_error(function() mg.avg_pool2d(x, 2, { stride = -1 }) end, "avg_pool2d: stride must be >= 1")
  end)
end)
