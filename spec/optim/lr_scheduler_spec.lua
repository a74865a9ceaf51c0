-- mg.optim.lr_scheduler: learning-rate sequences of two parameter groups
-- against PyTorch's (spec/fixtures/optim.lua), state round trips and errors.
local H = require "helpers"
local mg = H.mg
local fx = require "fixtures.optim"
local S = mg.optim.lr_scheduler

-- Two groups (lr 0.1 and 0.5) as in the fixture script.
local function make_opt()
  local a, b = mg.zeros(1):requires_grad_(), mg.zeros(1):requires_grad_()
  return mg.optim.SGD({ { params = { a } }, { params = { b }, lr = 0.5 } }, { lr = 0.1 })
end

local function run(sched, opt, steps)
  local lrs = { sched:get_last_lr() }
  for _ = 1, steps do
    opt:step()
    sched:step()
    lrs[#lrs + 1] = sched:get_last_lr()
  end
  return lrs
end

local makers = {
  step = function(o) return S.StepLR(o, { step_size = 3, gamma = 0.5 }) end,
  multistep = function(o) return S.MultiStepLR(o, { milestones = { 2, 5, 5, 9 }, gamma = 0.1 }) end,
  exponential = function(o) return S.ExponentialLR(o, { gamma = 0.9 }) end,
  cosine = function(o) return S.CosineAnnealingLR(o, { T_max = 5, eta_min = 0.001 }) end,
  linear = function(o) return S.LinearWarmup(o, { start_factor = 0.1, end_factor = 1.0, total_iters = 4 }) end,
  linear_down = function(o) return S.LinearLR(o, { start_factor = 1.0, end_factor = 0.2, total_iters = 6 }) end,
  lambda = function(o) return S.LambdaLR(o, function(e) return 0.95 ^ e end) end,
  sequential = function(o)
    return S.SequentialLR(o, {
      schedulers = { S.LinearLR(o, { start_factor = 0.01, total_iters = 3 }), S.CosineAnnealingLR(o, { T_max = 8 }) },
      milestones = { 3 },
    })
  end,
}

describe("lr_scheduler", function()
  for name, make in pairs(makers) do
    it("matches PyTorch: " .. name, function()
      local expected = fx.schedulers[name]
      local opt = make_opt()
      local lrs = run(make(opt), opt, #expected - 1)
      H.assert_near(lrs, expected, 0, 0, name)
      assert.are.equal(lrs[#lrs][1], opt.param_groups[1].lr)
    end)
  end

  it("warmup_cosine warms up linearly, then decays to eta_min at total_iters", function()
    local opt = make_opt()
    local s = S.warmup_cosine(opt, { warmup_iters = 4, total_iters = 12, start_factor = 0.25, eta_min = 0.01 })
    local lrs = run(s, opt, 12)
    H.assert_near(lrs[1][1], 0.025, 1e-15, 0)
    H.assert_near(lrs[5][1], 0.1, 1e-15, 0)        -- end of warm-up: the full lr
    H.assert_near(lrs[9][1], 0.01 + 0.09 * 0.5, 1e-12, 0) -- half-way through the cosine
    H.assert_near(lrs[13][1], 0.01, 1e-12, 0)      -- epoch 12: eta_min
    for i = 2, 5 do assert.is_true(lrs[i][2] > lrs[i - 1][2]) end
    for i = 6, 13 do assert.is_true(lrs[i][2] < lrs[i - 1][2]) end
  end)

  it("resumes from state_dict (through JSON) with the same sequence", function()
    local expected = fx.schedulers.sequential
    local opt = make_opt()
    local s = makers.sequential(opt)
    run(s, opt, 5)
    local saved_opt = mg.json.decode(mg.json.encode(opt:state_dict().meta))
    local saved = mg.json.decode(mg.json.encode(s:state_dict()))

    -- as a resumed run does: build both, then load both
    local opt2 = make_opt()
    local s2 = makers.sequential(opt2)
    opt2:load_state_dict({ tensors = {}, meta = saved_opt })
    s2:load_state_dict(saved)
    local lrs = run(s2, opt2, #expected - 6)
    H.assert_near(lrs, { table.unpack(expected, 6) }, 0, 1e-13)
  end)

  it("refuses bad options", function()
    local opt = make_opt()
    H.assert_error(function() S.StepLR(opt, {}) end, "StepLR: option 'step_size' is required")
    H.assert_error(function() S.StepLR(opt, { step_size = 0 }) end, "StepLR: step_size must be an integer >= 1, got 0")
    H.assert_error(function() S.CosineAnnealingLR(opt, { T_max = 10, eta = 0 }) end,
      "CosineAnnealingLR: unknown option 'eta'")
    H.assert_error(function() S.LinearLR(opt, { start_factor = 0 }) end,
      "LinearLR: start_factor must be in (0, 1], got 0")
    H.assert_error(function() S.MultiStepLR(opt, { milestones = 3 }) end,
      "MultiStepLR: option 'milestones' must be a list")
    H.assert_error(function() S.LambdaLR(opt, { lr_lambda = { function() return 1 end } }) end,
      "LambdaLR: lr_lambda must be a function or a list of 2 functions")
    H.assert_error(function() S.StepLR({}, { step_size = 1 }) end, "StepLR: the first argument must be an optimizer")
    local other = make_opt()
    H.assert_error(function()
      S.SequentialLR(opt, { schedulers = { S.StepLR(other, { step_size = 2 }) }, milestones = {} })
    end, "SequentialLR: scheduler 1 does not belong to the optimizer given")
    H.assert_error(function() S.StepLR(opt, { step_size = -1 }) end, "lr_scheduler_spec.lua:")
  end)
end)
