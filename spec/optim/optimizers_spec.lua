-- mg.optim.SGD / Adam / AdamW: hand-computed steps, PyTorch's parameters
-- after several steps (spec/fixtures/optim.lua, fixed gradients, one
-- parameter missing its gradient at some steps), option errors, and the
-- update bypassing autograd.
local H = require "helpers"
local mg = H.mg
local fx = require "fixtures.optim"

-- Runs a fixture case and compares the parameters after every step.
local function run_fixture(name)
  local case = fx.cases[name]
  local params = {}
  for k, p0 in ipairs(fx.params0) do params[k] = mg.tensor(p0):requires_grad_() end
  local opt = mg.optim[case.optimizer](params, case.opts)
  for step, row in ipairs(fx.grads) do
    for k, p in ipairs(params) do
      p.grad = row[k] and mg.tensor(row[k]) or nil
    end
    opt:step()
    for k, p in ipairs(params) do
      H.assert_near(p, case.params[step][k], 1e-6, 1e-5, string.format("%s step %d param %d", name, step, k))
    end
  end
  return opt, params
end

describe("optim.SGD", function()
  before_each(H.reseed(1))

  it("takes one exact step on a quadratic", function()
    local p = mg.tensor{1, -2, 0.5}:requires_grad_()
    local opt = mg.optim.SGD({p}, {lr = 0.25})
    local loss = (p * p):sum() -- gradient 2p
    loss:backward()
    opt:step()
    assert.are.same({0.5, -1, 0.25}, p:detach():totable())
    assert.is_true(p.requires_grad)
    assert.is_true(p.is_leaf)
    assert.is_nil(p.grad_fn)
  end)

  it("applies momentum and weight decay as hand computed", function()
    local p = mg.tensor{1}:requires_grad_()
    local opt = mg.optim.SGD({p}, {lr = 0.1, momentum = 0.9, weight_decay = 0.5})
    -- step 1: d = 1 + 0.5*1 = 1.5, buf = 1.5, p = 1 - 0.15 = 0.85
    p.grad = mg.tensor{1}
    opt:step()
    H.assert_near(p, {0.85}, 1e-7, 0)
    -- step 2: d = 1 + 0.425 = 1.425, buf = 0.9*1.5 + 1.425 = 2.775, p = 0.85 - 0.2775
    p.grad = mg.tensor{1}
    opt:step()
    H.assert_near(p, {0.5725}, 1e-7, 0)
    H.assert_near(opt.state[p].momentum_buffer, {2.775}, 1e-6, 0)
  end)

  for _, name in ipairs({"sgd_plain", "sgd_momentum", "sgd_dampening_wd", "sgd_nesterov", "sgd_maximize"}) do
    it("matches torch.optim.SGD: " .. name, function() run_fixture(name) end)
  end

  it("skips parameters without a gradient and keeps no state for them", function()
    local a, b = mg.tensor{1, 2}:requires_grad_(), mg.tensor{3}:requires_grad_()
    local opt = mg.optim.SGD({a, b}, {lr = 0.5, momentum = 0.9})
    a.grad = mg.tensor{1, 1}
    opt:step()
    assert.are.same({0.5, 1.5}, a:detach():totable())
    assert.are.same({3}, b:detach():totable())
    assert.is_nil(opt.state[b])
  end)

  it("zero_grad sets .grad to nil, or to zeros when asked", function()
    local p = mg.tensor{1, 2}:requires_grad_()
    local opt = mg.optim.SGD({p}, {lr = 0.1})
    p.grad = mg.tensor{3, 4}
    opt:zero_grad(false)
    assert.are.same({0, 0}, p.grad:totable())
    opt:zero_grad()
    assert.is_nil(p.grad)
  end)

  it("refuses bad options with clear messages", function()
    local p = mg.zeros(2):requires_grad_()
    H.assert_error(function() mg.optim.SGD({p}, {lr = -1}) end, "SGD: lr must be >= 0, got -1")
    H.assert_error(function() mg.optim.SGD({p}, {}) end, "SGD: option 'lr' is required")
    H.assert_error(function() mg.optim.SGD({p}, {lr = 0.1, momentum = -0.5}) end, "SGD: momentum must be >= 0")
    H.assert_error(function() mg.optim.SGD({p}, {lr = 0.1, nesterov = true}) end, "SGD: nesterov needs momentum > 0")
    H.assert_error(function() mg.optim.SGD({p}, {lr = 0.1, learning_rate = 1}) end,
      "SGD: unknown option 'learning_rate'")
    H.assert_error(function() mg.optim.SGD({p}, {lr = "0.1"}) end, "SGD: option 'lr' must be a number, got string")
    H.assert_error(function() mg.optim.SGD({}, {lr = 0.1}) end, "SGD: got an empty parameter list")
    H.assert_error(function() mg.optim.SGD(mg.nn.Linear(2, 3), {lr = 0.1}) end,
      "SGD: got a module (nn.Linear), expected its parameters: pass model:parameters()")
    H.assert_error(function() mg.optim.SGD({p, p}, {lr = 0.1}) end, "SGD: a parameter appears twice")
    H.assert_error(function() mg.optim.SGD({p * 2}, {lr = 0.1}) end, "not a leaf tensor")
    H.assert_error(function() mg.optim.SGD({mg.zeros(2, {dtype = "int64"})}, {lr = 0.1}) end, "only float32")
    -- the error points at the caller's line
    H.assert_error(function() mg.optim.SGD({p}, {lr = -1}) end, "optimizers_spec.lua:")
  end)

  it("bumps the parameter's version: a graph that saved it refuses backward", function()
    local p = mg.tensor{1, 2}:requires_grad_()
    local opt = mg.optim.SGD({p}, {lr = 0.1})
    local y = (p * p):sum()
    p.grad = mg.tensor{1, 1}
    opt:step()
    H.assert_error(function() y:backward() end, "modified in place")
  end)

  it("updates parameters through param groups with their own lr", function()
    local a, b = mg.tensor{1}:requires_grad_(), mg.tensor{1}:requires_grad_()
    local opt = mg.optim.SGD({{params = {a}}, {params = {b}, lr = 0.5}}, {lr = 0.25})
    assert.are.equal(2, #opt.param_groups)
    assert.are.equal(0.25, opt.param_groups[1].lr)
    assert.are.equal(0.5, opt.param_groups[2].lr)
    a.grad, b.grad = mg.tensor{1}, mg.tensor{1}
    opt:step()
    assert.are.same({0.75}, a:detach():totable())
    assert.are.same({0.5}, b:detach():totable())
    opt.param_groups[1].lr = 0.5 -- what a scheduler does
    opt:step()
    assert.are.same({0.25}, a:detach():totable())
  end)

  it("updates non-contiguous parameters and large tensors", function()
    local base = mg.zeros(4, 3)
    local p = base:transpose(1, 2):requires_grad_() -- [3, 4], strided
    local opt = mg.optim.SGD({p}, {lr = 1, momentum = 0.5})
    p.grad = mg.ones(3, 4)
    opt:step()
    opt:step()
    H.assert_near(p, mg.full({3, 4}, -2.5), 0, 0)
    local big = mg.zeros(300000):requires_grad_() -- parallel loop
    local opt2 = mg.optim.SGD({big}, {lr = 0.5})
    big.grad = mg.arange(300000):float()
    opt2:step()
    H.assert_near(big, mg.arange(300000):float() * -0.5, 0, 0)
  end)
end)

describe("optim.Adam and optim.AdamW", function()
  before_each(H.reseed(2))

  it("takes a hand-computed first step", function()
    -- first step: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2,
    -- p -= lr * g / (|g| + eps)
    local p = mg.tensor{1, -1}:requires_grad_()
    local opt = mg.optim.Adam({p}, {lr = 0.1})
    p.grad = mg.tensor{4, -0.5}
    opt:step()
    H.assert_near(p, {0.9, -0.9}, 1e-6, 0)
    assert.are.equal(1, opt.state[p].step)
    H.assert_near(opt.state[p].exp_avg, {0.4, -0.05}, 1e-7, 1e-6)
    H.assert_near(opt.state[p].exp_avg_sq, {0.016, 0.00025}, 1e-9, 1e-5)
  end)

  for _, name in ipairs({"adam", "adam_wd_amsgrad", "adam_maximize_eps", "adamw", "adamw_amsgrad"}) do
    it("matches torch.optim: " .. name, function() run_fixture(name) end)
  end

  it("counts steps per parameter", function()
    local opt, params = run_fixture("adam")
    -- parameter 2 had no gradient at two of the six steps
    assert.are.equal(6, opt.state[params[1]].step)
    assert.are.equal(4, opt.state[params[2]].step)
  end)

  it("AdamW defaults to weight_decay 0.01 and decays the parameter, not the gradient", function()
    local p = mg.tensor{2}:requires_grad_()
    local opt = mg.optim.AdamW({p}, {lr = 0.1})
    assert.are.equal(0.01, opt.param_groups[1].weight_decay)
    p.grad = mg.tensor{0}
    opt:step()
    -- zero gradient: only the decay acts, p = 2 * (1 - 0.1 * 0.01)
    H.assert_near(p, {1.998}, 1e-6, 0)
  end)

  it("reaches the minimum of the Rosenbrock function", function()
    local xy = mg.tensor{-1.5, 2}:requires_grad_()
    local opt = mg.optim.Adam({xy}, {lr = 0.02})
    for _ = 1, 3000 do
      opt:zero_grad()
      local x, y = xy[1], xy[2]
      local f = (1 - x) ^ 2 + 100 * (y - x * x) ^ 2
      f:backward()
      opt:step()
    end
    H.assert_near(xy, {1, 1}, 1e-3, 0)
  end)

  it("gives the same parameters on 1 and 2 threads", function()
    local init, grad = mg.randn(100003), mg.randn(100003)
    local results, saved = {}, mg.get_num_threads()
    for _, threads in ipairs({1, 2}) do
      mg.set_num_threads(threads)
      local p = init:clone():requires_grad_()
      local opt = mg.optim.AdamW({p}, {lr = 0.1})
      for _ = 1, 3 do
        p.grad = grad
        opt:step()
      end
      results[threads] = p:detach()
    end
    mg.set_num_threads(saved)
    H.assert_near(results[1], results[2], 0, 0)
    assert.is_true((results[1] - init):abs():max():item() > 0.1)
  end)

  it("refuses bad options with clear messages", function()
    local p = mg.zeros(2):requires_grad_()
    H.assert_error(function() mg.optim.Adam({p}, {lr = -1}) end, "Adam: lr must be >= 0, got -1")
    H.assert_error(function() mg.optim.Adam({p}, {betas = {0.9, 1}}) end, "Adam: betas[2] must be in [0, 1), got 1")
    H.assert_error(function() mg.optim.Adam({p}, {betas = {0.9}}) end, "Adam: betas must be two numbers")
    H.assert_error(function() mg.optim.Adam({p}, {eps = -1e-8}) end, "Adam: eps must be >= 0")
    H.assert_error(function() mg.optim.AdamW({p}, {weight_decay = -1}) end, "AdamW: weight_decay must be >= 0")
    H.assert_error(function() mg.optim.Adam({p}, {amsgrad = 1}) end, "Adam: option 'amsgrad' must be a boolean")
    H.assert_error(function() mg.optim.Adam({p}, {momentum = 0.9}) end, "Adam: unknown option 'momentum'")
    local model = mg.nn.Sequential { mg.nn.Linear(2, 2) }
    H.assert_error(function() mg.optim.AdamW(model, {lr = 1e-3}) end,
      "AdamW: got a module (nn.Sequential), expected its parameters: pass model:parameters()")
    H.assert_error(function() mg.optim.Adam({{params = {p}, lr = -2}}) end, "Adam: lr must be >= 0, got -2")
  end)

  it("raises the core's message when state and parameter disagree", function()
    local p = mg.zeros(2):requires_grad_()
    p.grad = mg.zeros(2)
    H.assert_error(function()
      mg.core.adam_step({p}, {mg.zeros(3)}, {mg.zeros(2)}, nil, 1, {lr = 0.1})
    end, "adam_step: exp_avg of parameter 1 must be a contiguous float32 tensor of shape [2], got float32 [3]")
    H.assert_error(function()
      mg.core.adam_step({p}, {mg.zeros(2)}, {}, nil, 1, {lr = 0.1})
    end, "adam_step: the exp_avg_sq list has 0 tensors, expected 1")
    H.assert_error(function()
      mg.core.sgd_step({p}, nil, {lr = 0.1, momentum = 0.9}, true)
    end, "sgd_step: momentum 0.9 needs momentum buffers")
  end)
end)

describe("optim.clip_grad_norm", function()
  it("scales the gradients to the given norm and returns the norm", function()
    local a, b, c = mg.zeros(2):requires_grad_(), mg.zeros(1):requires_grad_(), mg.zeros(1):requires_grad_()
    a.grad, b.grad = mg.tensor{3, 0}, mg.tensor{-4}
    local norm = mg.optim.clip_grad_norm({a, b, c}, 1)
    assert.are.equal(5, norm)
    local coef = 1 / (5 + 1e-6)
    H.assert_near(a.grad, {3 * coef, 0}, 1e-7, 0)
    H.assert_near(b.grad, {-4 * coef}, 1e-7, 0)
    assert.is_nil(c.grad)
  end)

  it("leaves gradients below the limit alone", function()
    local a = mg.zeros(2):requires_grad_()
    a.grad = mg.tensor{0.3, 0.4}
    H.assert_near(mg.optim.clip_grad_norm(a, 1), 0.5, 1e-7, 0)
    assert.are.same(mg.tensor{0.3, 0.4}:totable(), a.grad:totable())
  end)

  it("computes the norm of large gradients, the same on 1 and 2 threads", function()
    local a = mg.zeros(200000):requires_grad_()
    local g = mg.randn(200000)
    local norms, saved = {}, mg.get_num_threads()
    for _, threads in ipairs({1, 2}) do
      mg.set_num_threads(threads)
      a.grad = g:clone()
      norms[threads] = mg.optim.clip_grad_norm({a}, 1e9)
    end
    mg.set_num_threads(saved)
    assert.are.equal(norms[1], norms[2])
    H.assert_near(norms[1], (g * g):sum():sqrt():item(), 0, 1e-4)
  end)

  it("refuses a negative max_norm", function()
    local a = mg.zeros(2):requires_grad_()
    H.assert_error(function() mg.optim.clip_grad_norm({a}, -1) end, "clip_grad_norm: max_norm must be >= 0")
  end)
end)
