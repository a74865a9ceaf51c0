-- mg.batch_norm and mg.layer_norm against PyTorch's values
-- (spec/fixtures/nn.lua), plus hand cases and error messages.
local H = require "helpers"
local mg = H.mg
local fx = require "fixtures.nn"

local T = mg.tensor
local TOL, RTOL = 1e-5, 1e-4

-- Output and gradients of sum(out * gout) w.r.t. the given leaves.
local function run(fn, leaves, gout)
  for _, t in ipairs(leaves) do t:requires_grad_() end
  local out = fn()
  return out, mg.grad((out * gout):sum(), leaves)
end

describe("batch_norm", function()
  before_each(H.reseed(3))

  for _, name in ipairs { "batch_norm_train_2d", "batch_norm_train_4d" } do
    it("in training matches PyTorch: output, running stats, gradients (" .. name .. ")", function()
      local c = fx[name]
      local x, w, b = T(c.x), T(c.weight), T(c.bias)
      local rm, rv = T(c.running_mean), T(c.running_var)
      local out, g = run(function()
        return mg.batch_norm(x, rm, rv, w, b, { training = true, momentum = c.momentum })
      end, { x, w, b }, T(c.gout))
      H.assert_near(out, c.out, TOL, RTOL, "output")
      H.assert_near(rm, c.new_running_mean, TOL, RTOL, "running_mean")
      H.assert_near(rv, c.new_running_var, TOL, RTOL, "running_var")
      H.assert_near(g[1], c.gx, TOL, RTOL, "grad x")
      H.assert_near(g[2], c.gweight, TOL, RTOL, "grad weight")
      H.assert_near(g[3], c.gbias, TOL, RTOL, "grad bias")
    end)
  end

  it("without weight and bias matches PyTorch ([N, C, L])", function()
    local c = fx.batch_norm_train_3d_no_affine
    local x, rm, rv = T(c.x), T(c.running_mean), T(c.running_var)
    local out, g = run(function() return mg.batch_norm(x, rm, rv, nil, nil, { training = true }) end, { x }, T(c.gout))
    H.assert_near(out, c.out, TOL, RTOL, "output")
    H.assert_near(rm, c.new_running_mean, TOL, RTOL)
    H.assert_near(rv, c.new_running_var, TOL, RTOL)
    H.assert_near(g[1], c.gx, TOL, RTOL, "grad x")
  end)

  it("in eval mode uses the running statistics and leaves them alone (PyTorch values)", function()
    local c = fx.batch_norm_eval
    local x, w, b = T(c.x), T(c.weight), T(c.bias)
    local rm, rv = T(c.running_mean), T(c.running_var)
    local out, g = run(function() return mg.batch_norm(x, rm, rv, w, b) end, { x, w, b }, T(c.gout))
    H.assert_near(out, c.out, TOL, RTOL, "output")
    H.assert_near(rm, T(c.running_mean), 0, 0)
    H.assert_near(rv, T(c.running_var), 0, 0)
    H.assert_near(g[1], c.gx, TOL, RTOL, "grad x")
    H.assert_near(g[2], c.gweight, TOL, RTOL, "grad weight")
    H.assert_near(g[3], c.gbias, TOL, RTOL, "grad bias")
  end)

  it("normalises each channel to mean 0 and variance 1, even far from the origin", function()
    local x = mg.randn(64, 5) * T { 1, 2, 0.5, 3, 1 } + T { 1000, -500, 0, 20, 3 }
    local y = mg.batch_norm(x, nil, nil, nil, nil, { training = true, eps = 0 })
    H.assert_near(y:mean(1), { 0, 0, 0, 0, 0 }, 1e-3, 0)
    H.assert_near(mg.var(y, 1, false, 0), { 1, 1, 1, 1, 1 }, 1e-3, 0)
  end)

  it("in eval mode without running statistics normalises with the batch's", function()
    local x = mg.randn(16, 3, 4)
    local a = mg.batch_norm(x, nil, nil, nil, nil, { training = false })
    local b = mg.batch_norm(x, nil, nil, nil, nil, { training = true })
    H.assert_near(a, b, 0, 0)
  end)

  it("gives the same values for a non-contiguous input", function()
    local x = mg.randn(3, 6) -- seen as [6, 3] through a transpose
    local a = mg.batch_norm(x:t(), nil, nil, nil, nil, { training = true })
    local b = mg.batch_norm(x:t():contiguous(), nil, nil, nil, nil, { training = true })
    H.assert_near(a, b, 1e-6, 0)
  end)

  it("gives the same result at 1 and 2 threads", function()
    local threads = mg.get_num_threads()
    local x, w = mg.randn(256, 256), mg.randn(256)
    local gout = mg.randn(256, 256)
    local function go(n)
      mg.set_num_threads(n)
      local xl, wl = x:clone():requires_grad_(), w:clone():requires_grad_()
      local out = mg.batch_norm(xl, nil, nil, wl, nil, { training = true })
      local g = mg.grad((out * gout):sum(), { xl, wl })
      return out, g[1], g[2]
    end
    local o1, gx1, gw1 = go(1)
    local o2, gx2, gw2 = go(2)
    mg.set_num_threads(threads)
    H.assert_near(o1, o2, 0, 0)
    H.assert_near(gx1, gx2, 0, 0)
    H.assert_near(gw1, gw2, 0, 0)
  end)

  it("computes only the wanted gradients", function()
    local x, w = mg.randn(4, 3), mg.randn(3):requires_grad_()
    local g = mg.grad(mg.batch_norm(x, nil, nil, w, nil, { training = true }):sum(), { w })
    H.assert_near(g[1], { 0, 0, 0 }, 1e-5, 0) -- sum of normalised values is 0 per channel
  end)

  it("explains bad arguments", function()
    H.assert_error(function() mg.batch_norm(mg.randn(5)) end,
      "batch_norm: input must be [N, C] or [N, C, ...], got [5]")
    H.assert_error(function() mg.batch_norm(mg.randn(4, 3), nil, nil, mg.ones(4)) end,
      "batch_norm: weight [4] does not match the 3 channels of input [4, 3]")
    H.assert_error(function() mg.batch_norm(mg.randn(4, 3), mg.zeros(2), mg.ones(2)) end,
      "batch_norm: running_mean [2] does not match")
    H.assert_error(function() mg.batch_norm(mg.randn(1, 3), nil, nil, nil, nil, { training = true }) end,
      "batch_norm: expected more than 1 value per channel when training, got input [1, 3]")
    H.assert_error(function() mg.batch_norm(mg.randn(4, 3), mg.zeros(3)) end,
      "batch_norm: running_mean and running_var must be given together")
    H.assert_error(function() mg.batch_norm(mg.randn(4, 3), nil, nil, nil, nil, { momentum = "x" }) end,
      "batch_norm: option 'momentum' must be a number")
  end)
end)

describe("layer_norm", function()
  before_each(H.reseed(4))

  it("over two trailing dims with weight and bias matches PyTorch", function()
    local c = fx.layer_norm_affine
    local x, w, b = T(c.x), T(c.weight), T(c.bias)
    local out, g = run(function() return mg.layer_norm(x, c.normalized_shape, w, b, { eps = c.eps }) end,
      { x, w, b }, T(c.gout))
    H.assert_near(out, c.out, TOL, RTOL, "output")
    H.assert_near(g[1], c.gx, TOL, RTOL, "grad x")
    H.assert_near(g[2], c.gweight, TOL, RTOL, "grad weight")
    H.assert_near(g[3], c.gbias, TOL, RTOL, "grad bias")
  end)

  it("without weight and bias, with a larger eps, matches PyTorch", function()
    local c = fx.layer_norm_plain
    local x = T(c.x)
    local out, g = run(function() return mg.layer_norm(x, c.normalized_shape[1], nil, nil, { eps = c.eps }) end,
      { x }, T(c.gout))
    H.assert_near(out, c.out, TOL, RTOL, "output")
    H.assert_near(g[1], c.gx, TOL, RTOL, "grad x")
  end)

  it("gives each row mean 0 and variance 1, for a strided input too", function()
    local x = (mg.randn(6, 32) * 3 + 100):t() -- [32, 6], not contiguous
    local y = mg.layer_norm(x, 6, nil, nil, { eps = 0 })
    H.assert_near(y:mean(2), mg.zeros(32), 1e-4, 0)
    H.assert_near(mg.var(y, 2, false, 0), mg.ones(32), 1e-3, 0)
  end)

  it("gives the same result at 1 and 2 threads", function()
    local threads = mg.get_num_threads()
    local x, w, b, gout = mg.randn(512, 128), mg.randn(128), mg.randn(128), mg.randn(512, 128)
    local function go(n)
      mg.set_num_threads(n)
      local xl, wl, bl = x:clone():requires_grad_(), w:clone():requires_grad_(), b:clone():requires_grad_()
      local out = mg.layer_norm(xl, 128, wl, bl)
      return out, mg.grad((out * gout):sum(), { xl, wl, bl })
    end
    local o1, g1 = go(1)
    local o2, g2 = go(2)
    mg.set_num_threads(threads)
    H.assert_near(o1, o2, 0, 0)
    for k = 1, 3 do H.assert_near(g1[k], g2[k], 0, 0) end
  end)

  it("explains bad arguments", function()
    H.assert_error(function() mg.layer_norm(mg.randn(2, 3), 4) end,
      "layer_norm: normalized_shape [4] does not match the last dims of input [2, 3]")
    H.assert_error(function() mg.layer_norm(mg.randn(2, 3), { 2, 3, 1 }) end,
      "layer_norm: normalized_shape [2, 3, 1] does not match the last dims of input [2, 3]")
    H.assert_error(function() mg.layer_norm(mg.randn(2, 3), 3, mg.ones(4)) end,
      "layer_norm: weight [4] does not match the normalised shape [3] of input [2, 3]")
    H.assert_error(function() mg.layer_norm(mg.randn(2, 3), "3") end,
      "layer_norm: normalized_shape must be a number or a list of sizes, got string")
  end)
end)
