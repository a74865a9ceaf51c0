-- conv2d and conv_transpose2d: values and gradients against PyTorch
-- fixtures (spec/fixtures/conv.lua), hand-computed cases, the gradients
-- that are skipped, and error messages.
local H = require "helpers"
local mg = H.mg
local fixtures = dofile("spec/fixtures/conv.lua")

local function T(f) return mg.tensor(f.data):view(f.shape) end

-- Runs op on a fixture case and checks the output and all gradients.
local function check_case(op, case)
  local x, w = T(case.x):requires_grad_(), T(case.w):requires_grad_()
  local b = case.b and T(case.b):requires_grad_() or nil
  local y = mg[op](x, w, b, case.opts)
  H.assert_near(y, case.y.data, 1e-4, 1e-4, case.name .. ": output")
  assert.are.same(case.y.shape, y:shape())
  y:backward(T(case.gy))
  H.assert_near(x.grad, case.gx.data, 1e-4, 1e-4, case.name .. ": input gradient")
  H.assert_near(w.grad, case.gw.data, 1e-4, 1e-4, case.name .. ": weight gradient")
  if b then H.assert_near(b.grad, case.gb.data, 1e-4, 1e-4, case.name .. ": bias gradient") end
end

describe("conv2d", function()
  before_each(H.reseed(11))

  for _, case in ipairs(fixtures.conv2d) do
    it("matches PyTorch: " .. case.name, function() check_case("conv2d", case) end)
  end

  it("computes a tiny case by hand", function()
    local x = mg.arange(1, 10):float():view(1, 1, 3, 3)
    local w = mg.ones(1, 1, 2, 2)
    H.assert_near(mg.conv2d(x, w), { { { { 12, 16 }, { 24, 28 } } } })
    H.assert_near(mg.conv2d(x, w, mg.tensor { 0.5 }), { { { { 12.5, 16.5 }, { 24.5, 28.5 } } } })
    -- padding 1, stride 2: windows at rows/cols -1 and 1
    H.assert_near(mg.conv2d(x, w, nil, { stride = 2, padding = 1 }), { { { { 1, 5 }, { 11, 28 } } } })
    -- dilation 2 on a 3x3 input: the four corners
    H.assert_near(mg.conv2d(x, w, nil, { dilation = 2 }), { { { { 1 + 3 + 7 + 9 } } } })
  end)

  it("works as a method and with the bias left out", function()
    local x, w = mg.randn(2, 3, 5, 5), mg.randn(4, 3, 3, 3)
    local a = mg.conv2d(x, w, nil, { padding = 1 })
    H.assert_near(x:conv2d(w, nil, { padding = 1 }), a)
    H.assert_near(mg.conv2d(x, w, { padding = 1 }), a)
    assert.are.same({ 2, 4, 5, 5 }, a:shape())
  end)

  it("accepts non-contiguous inputs", function()
    local x, w = mg.randn(2, 3, 6, 5), mg.randn(4, 3, 3, 3)
    local xt = x:transpose(3, 4):contiguous():transpose(3, 4) -- same values, other strides
    assert.is_false(xt:is_contiguous())
    H.assert_near(mg.conv2d(xt, w), mg.conv2d(x, w))
  end)

  it("computes only the gradients that are needed", function()
    local x, w, b = mg.randn(2, 1, 6, 6), mg.randn(3, 1, 3, 3):requires_grad_(), mg.randn(3):requires_grad_()
    mg.conv2d(x, w, b):sum():backward()
    assert.is_nil(x.grad)
    assert.are.same({ 3, 1, 3, 3 }, w.grad:shape())
    H.assert_near(b.grad, { 32, 32, 32 }) -- 2 images x 16 positions
    -- gradient with respect to the input only (an attack)
    local x2 = mg.randn(2, 1, 6, 6):requires_grad_()
    local w2 = mg.randn(3, 1, 3, 3)
    local gx = mg.grad(mg.conv2d(x2, w2):sum(), { x2 })[1]
    assert.are.same({ 2, 1, 6, 6 }, gx:shape())
    assert.is_nil(w2.grad)
  end)

  it("gives an empty output for an empty batch", function()
    local y = mg.conv2d(mg.zeros(0, 2, 5, 5), mg.randn(3, 2, 3, 3))
    assert.are.same({ 0, 3, 3, 3 }, y:shape())
  end)

  it("names the op and the shapes in its errors", function()
    local x, w = mg.randn(64, 3, 28, 28), mg.randn(32, 1, 3, 3)
    H.assert_error(function() mg.conv2d(x, w) end,
      "conv2d: input [64, 3, 28, 28] has 3 channels, weight [32, 1, 3, 3] expects 1")
    local x1, w1 = mg.randn(1, 1, 4, 4), mg.randn(2, 1, 3, 3)
    H.assert_error(function() mg.conv2d(mg.randn(1, 1, 2, 2), w1) end, "conv2d: input [1, 1, 2, 2] is too small",
      "output would be 0 x 0")
    H.assert_error(function() mg.conv2d(x1, w1, nil, { dilation = 3 }) end, "too small", "dilation [3, 3]")
    H.assert_error(function() mg.conv2d(x1, w1, mg.randn(3)) end, "conv2d: bias [3] does not match weight [2, 1, 3, 3]")
    H.assert_error(function() mg.conv2d(mg.randn(1, 4, 4), w1) end,
      "conv2d: input must be 4-D [N, C, H, W], got [1, 4, 4]")
    H.assert_error(function() mg.conv2d(x1, mg.randn(2, 1, 3)) end, "conv2d: weight must be 4-D")
    H.assert_error(function() mg.conv2d(x1:long(), w1) end, "conv2d: needs float32 tensors")
    H.assert_error(function() mg.conv2d(x1, mg.randn(2, 1, 0, 3)) end, "has a dim of size 0")
  end)

  it("validates every option", function()
    local x, w = mg.randn(1, 1, 4, 4), mg.randn(2, 1, 3, 3)
    local function bad(opts, ...)
      local frags = { ... }
      H.assert_error(function() mg.conv2d(x, w, nil, opts) end, table.unpack(frags))
    end
    bad({ stride = 0 }, "conv2d: stride must be >= 1, got [0, 0]")
    bad({ stride = { 1, -2 } }, "conv2d: stride must be >= 1, got [1, -2]")
    bad({ padding = -1 }, "conv2d: padding must be >= 0")
    bad({ dilation = 0 }, "conv2d: dilation must be >= 1")
    bad({ stride = 1.5 }, "conv2d: option 'stride' must be an integer")
    bad({ stride = "2" }, "conv2d: option 'stride' must be a number or a {h, w} pair, got string")
    bad({ padding = { 1, 2, 3 } }, "conv2d: option 'padding' must be a number or a {h, w} pair, got a table of 3")
    bad({ padding = 2 ^ 40 }, "conv2d: option 'padding' is out of range")
    bad({ padding = 2147483647 }, "conv2d:")
    bad({ strides = 2 }, "conv2d: unknown option 'strides' (expected one of stride, padding, dilation, relu, pool)")
    bad({ output_padding = 1 }, "conv2d: unknown option 'output_padding'")
    H.assert_error(function() mg.conv2d(x, w, nil, 3) end, "conv2d: options must be a table")
    -- a huge stride or dilation is legal when the output stays at least 1x1
    assert.are.same({ 1, 2, 1, 1 }, mg.conv2d(x, w, nil, { stride = 2147483647 }):shape())
  end)
end)

describe("conv2d with a fused ReLU and pooling", function()
  before_each(H.reseed(12))

  -- The fused op against the three ops in sequence: values and all gradients.
  local function same_as_apart(N, C, H_, W, K, opts, pool)
    local x, w, b = mg.randn(N, C, H_, W):requires_grad_(), mg.randn(K, C, 3, 3):requires_grad_(),
      mg.randn(K):requires_grad_()
    local fused_opts = { relu = true, pool = pool }
    for k, v in pairs(opts) do fused_opts[k] = v end
    local y1 = mg.conv2d(x, w, b, fused_opts)
    local y2 = mg.relu(mg.conv2d(x, w, b, opts))
    if pool == 2 then y2 = mg.max_pool2d(y2, 2) end
    assert.are.same(y2:shape(), y1:shape())
    H.assert_near(y1, y2, 0, 0)
    assert.are.equal("conv2d_relu_pool", y1.grad_fn)
    local g = mg.randn(table.unpack(y1:shape()))
    local g1, g2 = mg.grad((y1 * g):sum(), { x, w, b }), mg.grad((y2 * g):sum(), { x, w, b })
    for k = 1, 3 do H.assert_near(g1[k], g2[k], 1e-5, 1e-5) end
  end

  it("gives the values and gradients of conv2d, relu and max_pool2d(2) apart", function()
    same_as_apart(3, 2, 9, 8, 4, {}, 2)                  -- odd output 7x6: the last row is dropped
    same_as_apart(2, 3, 6, 7, 5, { padding = 1 }, 2)     -- odd output width
    same_as_apart(20, 16, 13, 13, 32, {}, 2)             -- the seed CNN's second layer (Winograd)
    same_as_apart(2, 2, 7, 6, 3, { stride = 2, padding = 1 }, 2)
    same_as_apart(3, 2, 6, 5, 4, {}, 1)                  -- ReLU alone
  end)

  it("passes no gradient through windows whose maximum is not positive", function()
    local x = mg.tensor({ { { { -1, -2, 3, 1 }, { -3, -4, 1, 1 } } } }):requires_grad_()
    local w = mg.ones(1, 1, 1, 1)
    local y = mg.conv2d(x, w, nil, { relu = true, pool = 2 })
    H.assert_near(y, { { { { 0, 3 } } } })
    y:sum():backward()
    H.assert_near(x.grad, { { { { 0, 0, 1, 0 }, { 0, 0, 0, 0 } } } })
  end)

  it("refuses what it cannot fuse", function()
    local x, w = mg.randn(1, 1, 4, 4), mg.randn(2, 1, 3, 3)
    H.assert_error(function() mg.conv2d(x, w, nil, { pool = 2 }) end, "conv2d: option 'pool' needs relu = true")
    H.assert_error(function() mg.conv2d(x, w, nil, { relu = true, pool = 3 }) end,
      "conv2d: pool must be 1 (none) or 2 (2x2 max pooling after the ReLU), got 3")
    H.assert_error(function() mg.conv2d(mg.randn(1, 1, 3, 3), w, nil, { relu = true, pool = 2 }) end,
      "conv2d: pool 2 needs a convolution output of at least 2x2, got 1x1")
    H.assert_error(function() mg.conv2d(x, w, nil, { relu = 1 }) end, "conv2d: option 'relu' must be a boolean")
  end)
end)

describe("conv_transpose2d", function()
  before_each(H.reseed(12))

  for _, case in ipairs(fixtures.conv_transpose2d) do
    it("matches PyTorch: " .. case.name, function() check_case("conv_transpose2d", case) end)
  end

  it("computes a tiny case by hand", function()
    local x = mg.tensor { { { { 1, 2 }, { 3, 4 } } } }
    local w = mg.ones(1, 1, 2, 2)
    H.assert_near(mg.conv_transpose2d(x, w), { { { { 1, 3, 2 }, { 4, 10, 6 }, { 3, 7, 4 } } } })
    -- stride 2 places the copies side by side; output_padding adds a row and a column
    local y = x:conv_transpose2d(w, mg.tensor { 1 }, { stride = 2, output_padding = 1 })
    H.assert_near(y, { { { { 2, 2, 3, 3, 1 }, { 2, 2, 3, 3, 1 }, { 4, 4, 5, 5, 1 }, { 4, 4, 5, 5, 1 },
      { 1, 1, 1, 1, 1 } } } })
  end)

  it("is the adjoint of conv2d", function()
    -- <conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the same options
    local opts = { stride = 2, padding = 1, dilation = 1 }
    local x, w = mg.randn(2, 3, 7, 7), mg.randn(4, 3, 3, 3)
    local y = mg.randn(2, 4, 4, 4)
    local lhs = (mg.conv2d(x, w, nil, opts) * y):sum():item()
    local rhs = (x * mg.conv_transpose2d(y, w, nil, opts)):sum():item()
    assert.is_true(math.abs(lhs - rhs) < 1e-3 * (1 + math.abs(lhs)))
  end)

  it("names the op and the shapes in its errors", function()
    local x, w = mg.randn(1, 2, 3, 3), mg.randn(2, 4, 3, 3)
    H.assert_error(function() mg.conv_transpose2d(mg.randn(1, 3, 3, 3), w) end,
      "conv_transpose2d: input [1, 3, 3, 3] has 3 channels, weight [2, 4, 3, 3] expects 2")
    H.assert_error(function() mg.conv_transpose2d(x, w, mg.randn(2)) end, "conv_transpose2d: bias [2] does not match")
    H.assert_error(function() mg.conv_transpose2d(x, w, nil, { output_padding = 1 }) end,
      "conv_transpose2d: output_padding must be >= 0 and smaller than either stride or dilation")
    H.assert_error(function() mg.conv_transpose2d(x, w, nil, { output_padding = -1, stride = 2 }) end,
      "output_padding must be >= 0")
    H.assert_error(function() mg.conv_transpose2d(mg.randn(1, 2, 1, 1), w, nil, { padding = 2 }) end,
      "conv_transpose2d: output size would be -1 x -1 (below 1)")
    H.assert_error(function() mg.conv_transpose2d(x, w, nil, { stride = 0 }) end,
      "conv_transpose2d: stride must be >= 1")
    H.assert_error(function() mg.conv_transpose2d(x, w, nil, { groups = 2 }) end,
      "conv_transpose2d: unknown option 'groups'")
    H.assert_error(function() mg.conv_transpose2d(x, w, nil, { stride = 2147483647 }) end,
      "conv_transpose2d: sizes too large")
  end)
end)
