-- mg.softmax / mg.log_softmax (PyTorch values in spec/fixtures/nn.lua),
-- mg.dropout, mg.embedding and mg.grad_reverse.
local H = require "helpers"
local mg = H.mg
local fx = require "fixtures.nn"

local T = mg.tensor
local function long(t) return mg.tensor(t, { dtype = "int64" }) end

describe("softmax and log_softmax", function()
  before_each(H.reseed(5))

  for _, name in ipairs { "softmax_last", "softmax_middle" } do
    it("match PyTorch with gradients (" .. name .. ")", function()
      local c = fx[name]
      for _, op in ipairs { "softmax", "log_softmax" } do
        local x = T(c.x):requires_grad_()
        local out = mg[op](x, c.dim)
        H.assert_near(out, c[op], 1e-6, 1e-5, op)
        H.assert_near(mg.grad((out * T(c.gout)):sum(), { x })[1], c["g" .. op], 1e-6, 1e-5, op .. " grad")
      end
    end)
  end

  it("are Tensor methods, over the last dim by default", function()
    local x = mg.randn(3, 4)
    H.assert_near(x:softmax(2), mg.softmax(x, -1), 0, 0)
    H.assert_near(x:log_softmax(), mg.log_softmax(x, 2), 0, 0)
    H.assert_near(x:softmax(1):sum(1), mg.ones(4), 1e-6, 0)
  end)

  it("are stable for huge logits and give 0 for -inf entries", function()
    local x = T { { 1000, 1001, 1002 }, { -1000, -1001, -1002 }, { 0, -math.huge, 1 } }
    local e1, e2 = math.exp(1), math.exp(2)
    local s = 1 + e1 + e2
    local want = { { 1 / s, e1 / s, e2 / s }, { e2 / s, e1 / s, 1 / s }, { 1 / (1 + e1), 0, e1 / (1 + e1) } }
    H.assert_near(mg.softmax(x, 2), want, 1e-6, 1e-6)
    local l = mg.log_softmax(x, 2):totable()
    H.assert_near(l[1], { -math.log(s), 1 - math.log(s), 2 - math.log(s) }, 1e-4, 0) -- float ulp at 1000
    assert.are.equal(-math.huge, l[3][2])
  end)

  it("agree with a double-precision computation over a wide range of values", function()
    local vals = {}
    for i = 1, 200 do vals[i] = -60 + 120 * (i - 1) / 199 + 0.37 * math.sin(i) end
    local m = -math.huge
    for _, v in ipairs(vals) do m = math.max(m, v) end
    local sum = 0
    for _, v in ipairs(vals) do sum = sum + math.exp(v - m) end
    local lse = m + math.log(sum)
    local want_log, want = {}, {}
    for i, v in ipairs(vals) do want_log[i], want[i] = v - lse, math.exp(v - lse) end
    local x = T(vals)
    H.assert_near(mg.log_softmax(x, 1), want_log, 2e-5, 1e-6)
    H.assert_near(mg.softmax(x, 1), want, 1e-30, 1e-5)
  end)

  it("explain bad arguments", function()
    H.assert_error(function() mg.softmax(mg.randn(2, 3), 3) end, "softmax: dim 3 out of range for a 2-dim tensor")
    H.assert_error(function() mg.log_softmax(long { 1, 2 }, 1) end, "log_softmax: input must be float32, got int64")
  end)
end)

describe("dropout", function()
  before_each(H.reseed(6))

  it("zeroes about a fraction p, scales the rest by 1/(1-p), keeps the mean", function()
    local x = mg.ones(200, 500)
    for _, p in ipairs { 0.2, 0.5, 0.8 } do
      local y = mg.dropout(x, p, true)
      local zeros = (y:eq(0)):sum():item() / y:numel()
      assert.is_true(math.abs(zeros - p) < 0.01, "fraction zeroed " .. zeros .. " for p " .. p)
      assert.is_true(math.abs(y:mean():item() - 1) < 0.03, "mean " .. y:mean():item())
      local kept = y:max():item()
      assert.is_true(math.abs(kept - 1 / (1 - p)) < 1e-5 and y:min():item() == 0)
    end
  end)

  it("is the identity when not training or p = 0, and zeroes all with p = 1", function()
    local x = mg.randn(4, 5)
    H.assert_near(mg.dropout(x, 0.5, false), x, 0, 0)
    H.assert_near(mg.dropout(x, 0), x, 0, 0)
    local xr = x:clone():requires_grad_()
    local y = mg.dropout(xr, 1)
    H.assert_near(y, mg.zeros(4, 5), 0, 0)
    H.assert_near(mg.grad(y:sum(), { xr })[1], mg.zeros(4, 5), 0, 0)
  end)

  it("draws the same mask for the same seed, a new one on the next call", function()
    local x = mg.randn(8, 9)
    mg.manual_seed(42)
    local a, b = mg.dropout(x, 0.5), mg.dropout(x, 0.5)
    mg.manual_seed(42)
    H.assert_near(mg.dropout(x, 0.5), a, 0, 0)
    assert.is_true((a:eq(0)):ne(b:eq(0)):sum():item() > 0)
  end)

  it("takes its mask from the core RNG stream: kept where mg.rand would draw >= p", function()
    local x = mg.ones(37, 41) -- odd size: a partial Philox block at the end
    mg.manual_seed(77)
    local u = mg.rand(37, 41)
    local after_rand = mg.get_rng_state().counter
    mg.manual_seed(77)
    local y = mg.dropout(x, 0.3)
    H.assert_near(y, u:ge(0.3) * (1 / 0.7), 1e-6, 0)
    assert.are.equal(after_rand, mg.get_rng_state().counter)
  end)

  it("gives the same mask at 1 and 2 threads", function()
    local threads = mg.get_num_threads()
    local x = mg.randn(300, 301)
    mg.set_num_threads(1)
    mg.manual_seed(9)
    local a = mg.dropout(x, 0.3)
    mg.set_num_threads(2)
    mg.manual_seed(9)
    local b = mg.dropout(x, 0.3)
    mg.set_num_threads(threads)
    H.assert_near(a, b, 0, 0)
  end)

  it("passes the gradient through the kept elements only, scaled", function()
    local x = mg.ones(50, 40):requires_grad_()
    local y = x:dropout(0.25)
    H.assert_near(mg.grad(y:sum(), { x })[1], y:detach(), 0, 0)
  end)

  it("refuses p outside [0, 1]", function()
    H.assert_error(function() mg.dropout(mg.ones(3), 1.5) end, "dropout: p must be in [0, 1], got 1.5")
    H.assert_error(function() mg.dropout(mg.ones(3), -0.1) end, "dropout: p must be in [0, 1], got -0.1")
    H.assert_error(function() mg.dropout(mg.ones(3), 0.5, "yes") end, "dropout: training must be a boolean")
  end)
end)

describe("embedding", function()
  before_each(H.reseed(7))

  it("picks rows by 1-based ids of any shape", function()
    local w = T { { 1, 2 }, { 3, 4 }, { 5, 6 } }
    local want = { { { 5, 6 }, { 1, 2 } }, { { 3, 4 }, { 3, 4 } } }
    H.assert_near(mg.embedding(long { { 3, 1 }, { 2, 2 } }, w), want, 0, 0)
    H.assert_near(mg.embedding(long { 2 }, w), { { 3, 4 } }, 0, 0)
  end)

  it("scatter-adds the gradient into the weight rows", function()
    local w = mg.randn(4, 3):requires_grad_()
    local out = mg.embedding(long { 2, 4, 2, 2 }, w)
    local g = mg.grad((out * T { 1, 10, 100 }):sum(), { w })[1]
    H.assert_near(g, { { 0, 0, 0 }, { 3, 30, 300 }, { 0, 0, 0 }, { 1, 10, 100 } }, 0, 0)
  end)

  it("gives the same gradient at 1 and 2 threads", function()
    local threads = mg.get_num_threads()
    local ids = mg.randint(1, 51, { 64, 32 })
    local w, gout = mg.randn(50, 256), mg.randn(64, 32, 256)
    local function go(n)
      mg.set_num_threads(n)
      local wl = w:clone():requires_grad_()
      return mg.grad((mg.embedding(ids, wl) * gout):sum(), { wl })[1]
    end
    local a, b = go(1), go(2)
    mg.set_num_threads(threads)
    H.assert_near(a, b, 0, 0)
  end)

  it("explains bad ids", function()
    local w = mg.randn(4, 2)
    H.assert_error(function() mg.embedding(long { 1, 0 }, w) end,
      "embedding: index 0 out of range for 4 embeddings (ids are 1-based)")
    H.assert_error(function() mg.embedding(long { 5 }, w) end, "embedding: index 5 out of range for 4 embeddings")
    H.assert_error(function() mg.embedding(T { 1, 2 }, w) end,
      "embedding: ids must be an int64 tensor of 1-based numbers, got float32")
    H.assert_error(function() mg.embedding(long { 1 }, mg.randn(4)) end,
      "embedding: weight must be [num_embeddings, dim], got [4]")
  end)
end)

describe("grad_reverse", function()
  before_each(H.reseed(8))

  it("is the identity forward", function()
    local x = mg.randn(3, 4)
    H.assert_near(mg.grad_reverse(x, 0.7), x, 0, 0)
  end)

  it("multiplies the gradient by -lambda (default 1) on its way back", function()
    local x = mg.randn(3, 4):requires_grad_()
    local w = mg.randn(3, 4)
    H.assert_near(mg.grad((mg.grad_reverse(x) * w):sum(), { x })[1], -w, 0, 0)
    H.assert_near(mg.grad((mg.grad_reverse(x, 0.25) * w):sum(), { x })[1], w * -0.25, 1e-7, 0)
    -- through a loss: the feature extractor is pushed up the domain loss
    local logits = mg.randn(5, 2)
    local t = long { 1, 2, 2, 1, 1 }
    local f = mg.randn(5, 2):requires_grad_()
    local plain = mg.grad(mg.cross_entropy(f + logits, t), { f })[1]
    local rev = mg.grad(mg.cross_entropy(mg.grad_reverse(f, 2) + logits, t), { f })[1]
    H.assert_near(rev, plain * -2, 1e-6, 1e-6)
  end)
end)
