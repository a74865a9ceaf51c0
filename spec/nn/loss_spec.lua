-- The losses against PyTorch's values (spec/fixtures/nn.lua), hand cases
-- and error messages.
local H = require "helpers"
local mg = H.mg
local fx = require "fixtures.nn"

local T = mg.tensor
local function long(t) return mg.tensor(t, { dtype = "int64" }) end
local TOL, RTOL = 1e-5, 1e-5

describe("cross_entropy", function()
  before_each(H.reseed(9))

  local cases = {
    "cross_entropy_mean", "cross_entropy_sum", "cross_entropy_none", "cross_entropy_smoothing",
    "cross_entropy_ignore", "cross_entropy_smoothing_ignore", "cross_entropy_smoothing_ignore_none",
    "cross_entropy_large_logits",
  }
  for _, name in ipairs(cases) do
    it("matches PyTorch with its gradient (" .. name .. ")", function()
      local c = fx[name]
      local x = T(c.x):requires_grad_()
      local out = mg.cross_entropy(x, long(c.targets), {
        reduction = c.reduction, label_smoothing = c.label_smoothing, ignore_index = c.ignore_index,
      })
      H.assert_near(out, c.out, TOL, RTOL, "loss")
      H.assert_near(mg.grad((out * T(c.gout)):sum(), { x })[1], c.gx, TOL, RTOL, "grad")
    end)
  end

  it("of uniform logits is log C, for any targets", function()
    local t = long { 1, 10, 4 }
    H.assert_near(mg.cross_entropy(mg.zeros(3, 10), t), math.log(10), 1e-6, 0)
    H.assert_near(mg.cross_entropy(mg.full({ 3, 10 }, 7), t, { label_smoothing = 0.3 }), math.log(10), 1e-6, 0)
  end)

  it("counts class 1 as the first column", function()
    local x = T { { 5, 0, 0 }, { 0, 0, 5 } }
    local l = mg.cross_entropy(x, long { 1, 3 }, { reduction = "none" }):totable()
    local want = math.log(1 + 2 * math.exp(-5))
    H.assert_near(l, { want, want }, 1e-6, 1e-5)
  end)

  it("averages over the kept targets only and is NaN when all are ignored", function()
    local x = mg.randn(4, 3)
    local t = long { 2, 3, 2, 1 }
    local kept = mg.cross_entropy(x:narrow(1, 2, 2), long { 3, 2 })
    H.assert_near(mg.cross_entropy(x, long { 0, 3, 2, 0 }, { ignore_index = 0 }), kept, 1e-6, 1e-6)
    H.assert_near(mg.cross_entropy(x, t, { ignore_index = -100 }), mg.cross_entropy(x, t), 0, 0)
    local all = mg.cross_entropy(x, long { 2, 2, 2, 2 }, { ignore_index = 2 }):item()
    assert.is_true(all ~= all)
  end)

  it("takes unbatched logits [C] with a 0-dim target", function()
    local x = T { 1, 2, 3 }
    local full = mg.cross_entropy(x:view(1, 3), long { 2 })
    H.assert_near(mg.cross_entropy(x, mg.tensor(2, { dtype = "int64" })), full, 1e-7, 0)
  end)

  it("gives the same result at 1 and 2 threads", function()
    local threads = mg.get_num_threads()
    local x, t = mg.randn(2048, 100), mg.randint(1, 101, { 2048 })
    local function go(n)
      mg.set_num_threads(n)
      local xl = x:clone():requires_grad_()
      local l = mg.cross_entropy(xl, t, { label_smoothing = 0.1 })
      return l, mg.grad(l, { xl })[1]
    end
    local l1, g1 = go(1)
    local l2, g2 = go(2)
    mg.set_num_threads(threads)
    H.assert_near(l1, l2, 0, 0)
    H.assert_near(g1, g2, 0, 0)
  end)

  it("explains bad targets, shapes and options", function()
    local x = mg.randn(4, 10)
    H.assert_error(function() mg.cross_entropy(x, long { 1, 2, 11, 3 }) end,
      "cross_entropy: target 11 out of range for 10 classes (targets are 1-based)")
    H.assert_error(function() mg.cross_entropy(x, long { 0, 2, 1, 3 }) end,
      "cross_entropy: target 0 out of range for 10 classes (targets are 1-based)")
    H.assert_error(function() mg.cross_entropy(x, T { 1, 2, 3, 4 }) end,
      "cross_entropy: targets must be an int64 tensor of 1-based numbers, got float32")
    H.assert_error(function() mg.cross_entropy(x, long { 1, 2, 3 }) end,
      "cross_entropy: targets [3] do not match input [4, 10] (expected [4])")
    H.assert_error(function() mg.cross_entropy(mg.randn(2, 3, 4), long { 1, 2 }) end,
      "cross_entropy: input must be [N, C] or [C], got [2, 3, 4]")
    H.assert_error(function() mg.cross_entropy(x, long { 1, 2, 3, 4 }, { reduction = "avg" }) end,
      "cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'")
    H.assert_error(function() mg.cross_entropy(x, long { 1, 2, 3, 4 }, { label_smoothing = 1.5 }) end,
      "cross_entropy: label_smoothing must be in [0, 1], got 1.5")
  end)
end)

describe("nll_loss", function()
  before_each(H.reseed(10))

  for _, name in ipairs { "nll_mean", "nll_none" } do
    it("matches PyTorch with its gradient (" .. name .. ")", function()
      local c = fx[name]
      local x = T(c.x):requires_grad_()
      local out = mg.nll_loss(x, long(c.targets), { reduction = c.reduction })
      H.assert_near(out, c.out, TOL, RTOL, "loss")
      H.assert_near(mg.grad((out * T(c.gout)):sum(), { x })[1], c.gx, TOL, RTOL, "grad")
    end)
  end

  it("after log_softmax equals cross_entropy", function()
    local x, t = mg.randn(6, 4), long { 1, 4, 2, 2, 3, 1 }
    H.assert_near(mg.nll_loss(mg.log_softmax(x, 2), t), mg.cross_entropy(x, t), 1e-6, 1e-6)
  end)

  it("explains bad targets", function()
    H.assert_error(function() mg.nll_loss(mg.randn(2, 3), long { 4, 1 }) end,
      "nll_loss: target 4 out of range for 3 classes (targets are 1-based)")
    H.assert_error(function() mg.nll_loss(mg.randn(2, 3), long { 1, 1 }, { reduction = "max" }) end,
      "nll_loss: reduction must be 'mean', 'sum' or 'none', got 'max'")
  end)
end)

-- A test of a two-argument loss against the fixture case `name`: the
-- loss and both gradients (labelled label_a, label_b) as PyTorch gives them.
local function loss_pair_case(title, op, name, label_a, label_b)
  it(title .. " (" .. name .. ")", function()
    local c = fx[name]
    local a, b = T(c.a):requires_grad_(), T(c.b):requires_grad_()
    local out = mg[op](a, b, { reduction = c.reduction })
    H.assert_near(out, c.out, TOL, RTOL, "loss")
    local g = mg.grad((out * T(c.gout)):sum(), { a, b })
    H.assert_near(g[1], c.ga, TOL, RTOL, label_a)
    H.assert_near(g[2], c.gb, TOL, RTOL, label_b)
  end)
end

describe("binary cross-entropy", function()
  before_each(H.reseed(11))

  local function pair_case(op, name)
    loss_pair_case("matches PyTorch with gradients for input and target", op, name, "grad input", "grad target")
  end
  for _, name in ipairs { "bce_mean", "bce_sum", "bce_none" } do pair_case("binary_cross_entropy", name) end
  for _, name in ipairs { "bce_logits_mean", "bce_logits_none" } do
    pair_case("binary_cross_entropy_with_logits", name)
  end

  it("clamps the logs at -100 as PyTorch", function()
    local c = fx.bce_clamped
    H.assert_near(mg.binary_cross_entropy(T(c.p), T(c.t), { reduction = "none" }), c.out, 1e-6, 1e-6)
  end)

  it("with logits equals sigmoid then BCE, and stays finite for large logits", function()
    local z, t = mg.randn(5, 7) * 3, mg.rand(5, 7)
    H.assert_near(mg.binary_cross_entropy_with_logits(z, t), mg.binary_cross_entropy(z:sigmoid(), t), 1e-5, 1e-5)
    local big = mg.binary_cross_entropy_with_logits(T { 200, -200 }, T { 0, 1 }, { reduction = "none" })
    H.assert_near(big, { 200, 200 }, 1e-4, 0)
  end)

  it("gives the same result at 1 and 2 threads", function()
    local threads = mg.get_num_threads()
    local p, t = mg.rand(256, 784) * 0.98 + 0.01, mg.rand(256, 784)
    local function go(n)
      mg.set_num_threads(n)
      local pl = p:clone():requires_grad_()
      local l = mg.binary_cross_entropy(pl, t)
      return l, mg.grad(l, { pl })[1]
    end
    local l1, g1 = go(1)
    local l2, g2 = go(2)
    mg.set_num_threads(threads)
    H.assert_near(l1, l2, 0, 0)
    H.assert_near(g1, g2, 0, 0)
  end)

  it("explains bad inputs", function()
    H.assert_error(function() mg.binary_cross_entropy(T { 0.5, 1.5 }, T { 0, 1 }) end,
      "binary_cross_entropy: all elements of input should be between 0 and 1")
    H.assert_error(function() mg.binary_cross_entropy(mg.rand(4, 1), mg.rand(4)) end,
      "binary_cross_entropy: target [4] must have the same shape as input [4, 1]")
    H.assert_error(function() mg.binary_cross_entropy_with_logits(mg.rand(4), mg.rand(4), { reduction = 1 }) end,
      "binary_cross_entropy_with_logits: option 'reduction' must be a string, got number")
  end)
end)

describe("mse_loss and l1_loss", function()
  before_each(H.reseed(12))

  local function pair_case(op, name)
    loss_pair_case("match PyTorch with gradients for both arguments", op, name, "grad a", "grad b")
  end
  pair_case("mse_loss", "mse_mean")
  pair_case("mse_loss", "mse_none")
  pair_case("l1_loss", "l1_sum")
  pair_case("l1_loss", "l1_none")

  it("by hand", function()
    local a, b = T { 1, 2, 3 }, T { 1, 4, 0 }
    H.assert_near(mg.mse_loss(a, b), 13 / 3, 1e-6, 0)
    H.assert_near(mg.mse_loss(a, b, { reduction = "sum" }), 13, 0, 0)
    H.assert_near(mg.l1_loss(a, b), 5 / 3, 1e-6, 0)
    H.assert_near(mg.l1_loss(a, b, { reduction = "none" }), { 0, 2, 3 }, 0, 0)
  end)

  it("explain a shape mismatch", function()
    H.assert_error(function() mg.mse_loss(mg.randn(3, 2), mg.randn(2)) end,
      "mse_loss: target [2] must have the same shape as input [3, 2]")
    H.assert_error(function() mg.l1_loss(mg.randn(3), mg.randn(3):long()) end,
      "l1_loss: input and target must be float32, got float32 and int64")
  end)
end)
