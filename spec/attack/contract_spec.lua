-- The attacks' contract with the caller: the model's modes restored, eval
-- mode during the attack, parameter gradients and grad mode untouched, and
-- clear errors for bad arguments (blaming the caller's line).
local H = require "helpers"
local mg = H.mg
local nn = mg.nn
local A = mg.attack
local fixture = require "attack.models"

-- A model that records the mode it ran in.
local Spy = nn.Module:extend("spec.Spy")
function Spy:init(inner)
  nn.Module.init(self)
  self.inner = inner
  self.modes = {}
end
function Spy:forward(x)
  self.modes[#self.modes + 1] = self.training
  return self.inner(x)
end

local ATTACKS = {
  fgsm = { eps = 0.1 },
  bim = { eps = 0.1, steps = 2 },
  mifgsm = { eps = 0.1, steps = 2 },
  pgd = { eps = 0.1, steps = 2, restarts = 2 },
  gradient_ascent = { steps = 2 },
  apgd = { eps = 0.1, steps = 3 },
  apgd_t = { eps = 0.1, steps = 2, targeted = true, n_targets = 2, attack = "apgd" },
  square = { eps = 0.1, queries = 5 },
  ensemble = { eps = 0.1, steps = 2, n_targets = 2, queries = 3 },
}

-- Runs the attack of ATTACKS entry `name` (the entry's `attack` names the
-- function when it differs from the key).
local function run(name, model, x, y)
  local o = {}
  for k, v in pairs(ATTACKS[name]) do if k ~= "attack" then o[k] = v end end
  return A[ATTACKS[name].attack or name](model, x, y, o)
end

describe("attack contract", function()
  before_each(H.reseed(8))

  it("runs in eval mode and gives every module its own mode back", function()
    local x, y = fixture.data(8)
    for name in pairs(ATTACKS) do
      local spy = Spy(fixture.cnn())
      spy:train()
      spy.inner[2]:eval() -- a child left in eval on purpose
      run(name, spy, x, y)
      assert.is_true(#spy.modes > 0)
      for _, m in ipairs(spy.modes) do assert.is_false(m, name .. " ran the model in train mode") end
      assert.is_true(spy.training, name)
      assert.is_true(spy.inner.training, name)
      assert.is_true(spy.inner[1].training, name)
      assert.is_false(spy.inner[2].training, name)
      spy.inner:train()
    end
  end)

  it("restores the modes when the model fails", function()
    local x, y = fixture.data(4)
    local Broken = nn.Module:extend("spec.Broken")
    function Broken:forward() error("broken model") end
    local m = Broken()
    m:train()
    H.assert_error(function() A.pgd(m, x, y, { steps = 1 }) end, "broken model")
    assert.is_true(m.training)
    assert.is_true(mg.is_grad_enabled())
  end)

  it("leaves the parameters' .grad as they were", function()
    local model = fixture.cnn()
    local x, y = fixture.data(8)
    model:zero_grad()
    for name in pairs(ATTACKS) do
      run(name, model, x, y)
      for pname, p in model:named_parameters() do assert.is_nil(p.grad, name .. " wrote " .. pname .. ".grad") end
    end
    mg.cross_entropy(model(x), y):backward()
    local before = {}
    for pname, p in model:named_parameters() do before[pname] = p.grad:clone() end
    for name in pairs(ATTACKS) do
      run(name, model, x, y)
      for pname, p in model:named_parameters() do H.assert_near(p.grad, before[pname], 0, 0, name .. " " .. pname) end
    end
    model:zero_grad()
  end)

  it("works inside no_grad and leaves grad mode off", function()
    local model = fixture.cnn()
    local x, y = fixture.data(8)
    local adv = mg.no_grad(function()
      local a = A.pgd(model, x, y, { eps = 0.1, steps = 2 })
      assert.is_false(mg.is_grad_enabled())
      return a
    end)
    assert.is_true(A.distance(adv, x):max():item() > 0)
    assert.is_false(adv.requires_grad)
  end)

  it("rejects bad arguments with messages that name the problem and blame the caller", function()
    local model = fixture.cnn()
    local x, y = fixture.data(4)
    local function err(fn, ...) return H.assert_error(fn, ...) end
    local e = err(function() A.pgd(model, x, y:float()) end, "pgd: labels must be an int64 Tensor [4]", "float32")
    assert.truthy(e:find("contract_spec.lua", 1, true), "the error should blame the caller: " .. e)
    err(function() A.fgsm(model, x, y:narrow(1, 1, 3)) end, "fgsm: labels must be an int64 Tensor [4]", "[3]")
    err(function() A.fgsm(model, x:long(), y) end, "fgsm: images must be a float32 Tensor")
    err(function() A.fgsm(model, x * 2, y) end, "images must be pixels in [0, 1]",
      "normalisation belongs inside the model")
    err(function() A.fgsm("model", x, y) end, "fgsm: model must be callable")
    err(function() A.fgsm(model, x, y, { eps = -0.1 }) end, "fgsm: eps must be a number >= 0", "-0.1")
    err(function() A.pgd(model, x, y, { norm = "l1" }) end, "pgd: norm must be \"linf\" or \"l2\"", "'l1'")
    err(function() A.pgd(model, x, y, { steps = 1.5 }) end, "pgd: steps must be an integer >= 0")
    err(function() A.pgd(model, x, y, { restarts = 0 }) end, "pgd: restarts must be an integer >= 1")
    err(function() A.pgd(model, x, y, { alpha = -0.01 }) end, "pgd: alpha (the step size) must be a number >= 0")
    err(function() A.pgd(model, x, y, { step = 0.1 }) end, "pgd: unknown option 'step'", "steps")
    err(function() A.bim(model, x, y, { targeted = true }) end, "bim: a targeted attack needs opts.target")
    err(function() A.bim(model, x, y, { targeted = true, target = y:narrow(1, 1, 2) }) end,
      "bim: target must be an int64 Tensor [4]")
    err(function() A.bim(model, x, y, { targeted = true, target = "nearest" }) end, "\"random\" or \"least_likely\"")
    err(function() A.fgsm(model, x, y, { target = y }) end, "target given without targeted = true")
    err(function() A.pgd(model, x, y, { start = x:narrow(1, 1, 2) }) end,
      "pgd: start must be a float32 Tensor [4, 1, 28, 28]")
    err(function() A.fgsm(model, x, y, 0.1) end, "fgsm: options must be a table")
    err(function() A.distance(x, x, "l3") end, "distance: norm must be")
    e = err(function() A.apgd(model, x, y:float()) end, "apgd: labels must be an int64 Tensor [4]")
    assert.truthy(e:find("contract_spec.lua", 1, true), "the error should blame the caller: " .. e)
    e = err(function() A.square(model, x * 2, y) end, "square: images must be pixels in [0, 1]")
    assert.truthy(e:find("contract_spec.lua", 1, true), "the error should blame the caller: " .. e)
    e = err(function() A.ensemble(model, x, y, { eps = 0.1, attacks = { 1 } }) end,
      "ensemble: attack 1 must be a table")
    assert.truthy(e:find("contract_spec.lua", 1, true), "the error should blame the caller: " .. e)
    err(function() A.pgd(model, x, y, { steps = 1, loss_fn = function(l, t) return mg.cross_entropy(l, t) end }) end,
      "loss_fn must return per-example losses [4]", "[]")
  end)
end)
