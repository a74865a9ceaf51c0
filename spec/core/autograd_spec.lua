-- Autograd semantics, PyTorch's: accumulation into .grad, gradients of
-- non-scalars, mg.grad, no_grad, detach, freezing leaves, in-place checks,
-- freed graphs, long chains, and gradients through views and broadcasting.
local H = require "helpers"
local mg = H.mg

describe("autograd", function()
  before_each(H.reseed(11))

  it("backward accumulates into .grad across calls until it is reset", function()
    local w = mg.tensor { 1, 2, 3 }:requires_grad_()
    assert.is_true(w.requires_grad)
    assert.is_nil(w.grad)
    mg.sum(w * w):backward()
    assert.are.same({ 2, 4, 6 }, w.grad:totable())
    mg.sum(w * 3):backward()
    assert.are.same({ 5, 7, 9 }, w.grad:totable())
    w.grad = nil
    w:sum():backward()
    assert.are.same({ 1, 1, 1 }, w.grad:totable())
    w.grad:zero_()
    w:sum():backward()
    assert.are.same({ 1, 1, 1 }, w.grad:totable())
    H.assert_error(function() w.grad = mg.zeros(2) end,
      "grad: must be float32 of the tensor's shape [3], got [2] float32")
  end)

  it("a gradient is needed for a non-scalar output", function()
    local x = mg.tensor { 1, 2 }:requires_grad_()
    local y = x * 3
    H.assert_error(function() y:backward() end,
      "backward: the output has 2 elements; give a gradient for a non-scalar output")
    y:backward(mg.tensor { 1, 10 })
    assert.are.same({ 3, 30 }, x.grad:totable())
    H.assert_error(function() (x * 3):backward(mg.ones(3)) end, "backward: gradient [3] does not match output [2]")
    H.assert_error(function() mg.ones(2):sum():backward() end, "backward: the output does not require grad")
  end)

  it("mg.grad returns input gradients and leaves .grad of parameters alone", function()
    local w = mg.tensor { { 1, 2 }, { 3, 4 } }:requires_grad_()
    local x = mg.tensor { 1, -1 }:requires_grad_()
    local loss = w:matmul(x):pow(2):sum() -- w x = {-1, -1}
    local g = mg.grad(loss, { x })
    assert.are.same({ -8, -12 }, g[1]:totable()) -- 2 w^T (w x)
    assert.is_nil(w.grad)
    assert.is_nil(x.grad)
    -- several inputs at once, an unused one gets zeros; grad_outputs for non-scalars
    local u = mg.zeros(3):requires_grad_()
    local y = x * 2
    local gs = mg.grad(y, { x, u }, { grad_outputs = mg.tensor { 1, 5 } })
    assert.are.same({ 2, 10 }, gs[1]:totable())
    assert.are.same({ 0, 0, 0 }, gs[2]:totable())
    -- gradients with respect to an intermediate tensor
    local h = x * 3
    local out = (h * h):sum()
    assert.are.same({ 6, -6 }, mg.grad(out, h)[1]:totable())
    H.assert_error(function() mg.grad((x * 2):sum(), { mg.zeros(2) }) end,
      "grad: input 1 does not require grad (call requires_grad_() on it first)")
  end)

  it("no_grad records nothing and restores the mode, even after an error", function()
    local w = mg.ones(2):requires_grad_()
    local y = mg.no_grad(function() return w * 2 end)
    assert.is_false(y.requires_grad)
    assert.is_nil(y.grad_fn)
    assert.is_true(mg.is_grad_enabled())
    local ok, err = pcall(mg.no_grad, function() error("inside") end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("inside", 1, true))
    assert.is_true(mg.is_grad_enabled())
    assert.are.equal(6, mg.no_grad(function(a, b) return a + b end, 2, 4))
    mg.no_grad(function()
      assert.is_false(mg.is_grad_enabled())
      local z = mg.enable_grad(function() return w * 2 end)
      assert.is_true(z.requires_grad)
      assert.is_false(mg.is_grad_enabled())
    end)
    local prev = mg.set_grad_enabled(false)
    assert.is_true(prev)
    assert.is_false((w * 2).requires_grad)
    mg.set_grad_enabled(true)
  end)

  it("detach shares data but cuts the graph", function()
    local w = mg.tensor { 1, 2 }:requires_grad_()
    local d = (w * 2):detach()
    assert.is_false(d.requires_grad)
    assert.is_true(d.is_leaf)
    local loss = (w * d):sum() -- d is a constant here
    loss:backward()
    assert.are.same({ 2, 4 }, w.grad:totable())
    local view = w:detach()
    view:fill_(5) -- allowed: no grad history; the data is shared
    assert.are.same({ 5, 5 }, w:totable())
  end)

  it("requires_grad_(false) freezes a leaf: its grad stays nil", function()
    local frozen = mg.tensor { 1, 2 }:requires_grad_()
    local trained = mg.tensor { 3, 4 }:requires_grad_()
    frozen:requires_grad_(false)
    local x = mg.tensor { 1, 1 }:requires_grad_()
    local loss = ((x * frozen) * trained):sum()
    loss:backward()
    assert.is_nil(frozen.grad)
    assert.are.same({ 1, 2 }, trained.grad:totable())
    assert.are.same({ 3, 8 }, x.grad:totable())
    -- frozen after the forward pass: still no gradient for it
    local p = mg.tensor { 2 }:requires_grad_()
    local l2 = (p * p):sum()
    p:requires_grad_(false)
    local q = mg.tensor { 1 }:requires_grad_()
    l2 = l2 + q:sum()
    l2:backward()
    assert.is_nil(p.grad)
    assert.are.same({ 1 }, q.grad:totable())
    H.assert_error(function() (x * 2):requires_grad_(false) end,
      "requires_grad_: only leaf tensors can stop requiring grad; this one was made by mul_scalar")
    H.assert_error(function() mg.zeros(2, { dtype = "int64" }):requires_grad_() end,
      "requires_grad_: only float32 tensors can require grad, got int64")
  end)

  it("in-place ops refuse tensors that require grad unless under no_grad", function()
    local w = mg.ones(3):requires_grad_()
    H.assert_error(function() w:add_(1) end,
      "add_: in-place change of a tensor that requires grad; wrap it in no_grad or use the out-of-place op")
    H.assert_error(function() w:fill_(0) end, "fill_: in-place change of a tensor that requires grad")
    H.assert_error(function() w:mul_(2) end, "mul_: in-place change")
    H.assert_error(function() w:normal_() end, "normal_: in-place change")
    H.assert_error(function() (w * 2):copy_(mg.zeros(3)) end, "copy_: in-place change")
    H.assert_error(function() w:narrow(1, 1, 2):zero_() end, "fill_: in-place change")
    H.assert_error(function() w[1] = 5 end, "copy_: in-place change")
    mg.no_grad(function()
      w:add_(1)
      w:mul_(mg.tensor { 1, 2, 3 })
      w[1] = 0
    end)
    assert.are.same({ 0, 4, 6 }, w:totable())
  end)

  it("backward refuses a saved tensor that was changed in place after the forward pass", function()
    local w = mg.tensor { 1, 2 }:requires_grad_()
    local a = mg.tensor { 3, 4 }
    local loss = (a * w):sum() -- mul saves a
    a:add_(1)
    H.assert_error(function() loss:backward() end,
      "backward: a tensor saved by mul was modified in place after the forward pass")
    local e = w:exp()
    local l2 = e:sum()
    mg.no_grad(function() e:mul_(2) end) -- exp saved its output
    H.assert_error(function() l2:backward() end, "backward: a tensor saved by exp was modified in place")
    local l3 = (w * w):sum()
    mg.no_grad(function() w:sub_(mg.tensor { 0.1, 0.1 }) end) -- an optimizer step before backward
    H.assert_error(function() l3:backward() end, "backward: a tensor saved by mul was modified in place")
  end)

  it("a second backward needs retain_graph", function()
    local w = mg.tensor { 1, 2 }:requires_grad_()
    local loss = (w * w):sum()
    loss:backward()
    H.assert_error(function() loss:backward() end,
      "backward: the graph through sum was freed by an earlier backward; pass retain_graph = true to keep it")
    local l2 = (w * w):sum()
    w.grad = nil
    l2:backward({ retain_graph = true })
    l2:backward()
    assert.are.same({ 4, 8 }, w.grad:totable())
    local l3 = (w * w):sum()
    mg.grad(l3, { w }, { retain_graph = true })
    assert.are.same({ 2, 4 }, mg.grad(l3, { w })[1]:totable())
  end)

  it("a chain of 100,000 ops backpropagates without a stack overflow", function()
    local x = mg.tensor { 1, 2 }:requires_grad_()
    local t = x
    for _ = 1, 100000 do t = t * 1.0 end
    t = nil -- luacheck: ignore 311 (frees the chain before building another)
    collectgarbage()
    local u = x
    for _ = 1, 100000 do u = u + 0.5 end
    u:sum():backward()
    assert.are.same({ 1, 1 }, x.grad:totable())
    H.assert_near(u, { 50001, 50002 })
  end)

  it("flows through views, expand and broadcasting", function()
    local x = mg.arange(6):float():view(2, 3):requires_grad_()
    local y = x:t():contiguous():view(6):narrow(1, 2, 3) -- elements x[2][1], x[1][2], x[2][2]
    y:sum():backward()
    assert.are.same({ { 0, 1, 0 }, { 1, 1, 0 } }, x.grad:totable())
    x.grad = nil
    x:select(2, 3):sum():backward()
    assert.are.same({ { 0, 0, 1 }, { 0, 0, 1 } }, x.grad:totable())
    local b = mg.tensor { { 1 }, { 2 } }:requires_grad_()
    b:expand(2, 4):sum():backward()
    assert.are.same({ { 4 }, { 4 } }, b.grad:totable())
    local r = mg.tensor { 1, 2, 3 }:requires_grad_()
    local c = mg.tensor { { 1 }, { 10 } }:requires_grad_()
    mg.sum(r * c):backward() -- [3] * [2, 1] -> [2, 3]
    assert.are.same({ 11, 11, 11 }, r.grad:totable())
    assert.are.same({ { 6 }, { 6 } }, c.grad:totable())
    local s = mg.tensor(2):requires_grad_()
    mg.sum(mg.ones(2, 2) * s):backward()
    assert.are.equal(4, s.grad:item())
    local p = mg.tensor { 1, 2 }:requires_grad_()
    local q = p:unsqueeze(1):squeeze(1):permute(1):reshape(2, 1)
    q:sum():backward()
    assert.are.same({ 1, 1 }, p.grad:totable())
  end)

  it("reports the op that made a tensor", function()
    local w = mg.ones(2):requires_grad_()
    assert.are.equal("mul", (w * w).grad_fn)
    assert.are.equal("sum", w:sum().grad_fn)
    assert.are.equal("reshape", w:view(2, 1).grad_fn)
    assert.is_false((w * w).is_leaf)
    assert.is_true(w.is_leaf)
  end)
end)
