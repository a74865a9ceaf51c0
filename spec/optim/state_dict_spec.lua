-- Optimizer state_dict / load_state_dict: a run interrupted, saved (with
-- mg.save and mg.json) and resumed in a fresh optimizer ends with the same
-- parameters, bit for bit, as an uninterrupted run.
local H = require "helpers"
local mg = H.mg

local function make_grads(steps)
  local grads = {}
  for s = 1, steps do
    -- parameter 3 has no gradient at the first two steps
    grads[s] = { mg.randn(4, 3), mg.randn(3), s > 2 and mg.randn(2, 2) or false }
  end
  return grads
end

local function make_params(values)
  local ps = {}
  for i, v in ipairs(values) do ps[i] = v:clone():requires_grad_() end
  return ps
end

local function run(opt, params, grads, from, to)
  for s = from, to do
    for k, p in ipairs(params) do p.grad = grads[s][k] or nil end
    opt:step()
  end
end

local function values(params)
  local out = {}
  for i, p in ipairs(params) do out[i] = p:detach():totable() end
  return out
end

-- Saves the optimizer and parameters as a checkpoint would; returns what a
-- later process would read back.
local function checkpoint(opt, params, path)
  local sd = opt:state_dict()
  local tensors = {}
  for name, t in pairs(sd.tensors) do tensors["optim." .. name] = t end
  for i, p in ipairs(params) do tensors["param." .. i] = p:detach() end
  mg.save(path, tensors, { optimizer = mg.json.encode(sd.meta) })
  local loaded, meta = mg.load(path)
  local osd = { tensors = {}, meta = mg.json.decode(meta.optimizer) }
  local pvals = {}
  for name, t in pairs(loaded) do
    local rest = name:match("^optim%.(.*)")
    if rest then osd.tensors[rest] = t end
    local i = name:match("^param%.(%d+)$")
    if i then pvals[tonumber(i)] = t end
  end
  return osd, pvals
end

local cases = {
  { "SGD", { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-3 } },
  { "SGD", { lr = 0.05, momentum = 0.5, dampening = 0.1 } },
  { "Adam", { lr = 1e-2, amsgrad = true, weight_decay = 0.01 } },
  { "AdamW", { lr = 3e-2, betas = { 0.8, 0.95 } } },
}

describe("optimizer state_dict", function()
  before_each(H.reseed(11))
  local path = os.tmpname()
  after_each(function() os.remove(path) end)

  for _, case in ipairs(cases) do
    local name, opts = case[1], case[2]
    it("resumes " .. name .. " bit for bit through mg.save and mg.load", function()
      local grads = make_grads(8)
      local init = { mg.randn(4, 3), mg.randn(3), mg.randn(2, 2) }

      local full = make_params(init)
      local opt_full = mg.optim[name]({ { params = { full[1], full[2] } }, { params = { full[3] }, lr = 0.02 } }, opts)
      run(opt_full, full, grads, 1, 8)

      local first = make_params(init)
      local opt1 = mg.optim[name]({ { params = { first[1], first[2] } }, { params = { first[3] }, lr = 0.02 } }, opts)
      run(opt1, first, grads, 1, 3)
      local sd, pvals = checkpoint(opt1, first, path)

      local second = make_params(pvals)
      -- a fresh optimizer with other hyperparameters: the state brings them back
      local opt2 = mg.optim[name]({ { params = { second[1], second[2] } }, { params = { second[3] } } },
        name == "SGD" and { lr = 1, momentum = 0.3 } or { lr = 1 })
      opt2:load_state_dict(sd)
      assert.are.equal(0.02, opt2.param_groups[2].lr)
      run(opt2, second, grads, 4, 8)

      assert.are.same(values(full), values(second))
    end)
  end

  it("keeps step counts, hyperparameters and initial_lr in meta", function()
    local p = mg.zeros(2):requires_grad_()
    local opt = mg.optim.Adam({ p }, { lr = 0.5 })
    mg.optim.lr_scheduler.StepLR(opt, { step_size = 2 })
    p.grad = mg.ones(2)
    opt:step()
    local sd = opt:state_dict()
    assert.are.equal("Adam", sd.meta.optimizer)
    assert.are.same({ 1 }, sd.meta.param_groups[1].params)
    assert.are.equal(0.5, sd.meta.param_groups[1].initial_lr)
    assert.are.same({ 0.9, 0.999 }, sd.meta.param_groups[1].betas)
    assert.are.same({ step = 1 }, sd.meta.state["1"])
    assert.is_true(mg.is_tensor(sd.tensors["state.1.exp_avg"]))
    assert.is_true(mg.is_tensor(sd.tensors["state.1.exp_avg_sq"]))
    -- meta survives a JSON round trip unchanged
    assert.are.same(sd.meta, mg.json.decode(mg.json.encode(sd.meta)))
  end)

  it("loads a copy: later steps do not change the state it came from", function()
    local p, q = mg.zeros(2):requires_grad_(), mg.zeros(2):requires_grad_()
    local a = mg.optim.SGD({ p }, { lr = 1, momentum = 0.5 })
    p.grad = mg.ones(2)
    a:step()
    local b = mg.optim.SGD({ q }, { lr = 1, momentum = 0.5 })
    b:load_state_dict(a:state_dict())
    q.grad = mg.ones(2)
    b:step()
    assert.are.same({ 1, 1 }, a.state[p].momentum_buffer:totable())
    assert.are.same({ 1.5, 1.5 }, b.state[q].momentum_buffer:totable())
  end)

  it("refuses a state that does not fit", function()
    local p = mg.zeros(2):requires_grad_()
    local adam = mg.optim.Adam({ p })
    p.grad = mg.ones(2)
    adam:step()
    local sd = adam:state_dict()
    H.assert_error(function() mg.optim.SGD({ p }, { lr = 1 }):load_state_dict(sd) end,
      "SGD: load_state_dict: the state is from Adam, not SGD")
    local q = mg.zeros(3):requires_grad_()
    H.assert_error(function() mg.optim.Adam({ q }):load_state_dict(sd) end,
      "Adam: load_state_dict: 'state.1.exp_avg' is float32 [2], the parameter is float32 [3]")
    H.assert_error(function() mg.optim.Adam({ { params = { p } }, { params = { q } } }):load_state_dict(sd) end,
      "Adam: load_state_dict: the state has 1 parameter groups, this optimizer 2")
    H.assert_error(function() mg.optim.Adam({ p, q }):load_state_dict(sd) end,
      "Adam: load_state_dict: group 1 has 1 parameters in the state, 2 here")
    H.assert_error(function() adam:load_state_dict({}) end, "Adam: load_state_dict expects {tensors = ..., meta = ...}")
    local bad = adam:state_dict()
    bad.meta.param_groups[1].lr = -1
    H.assert_error(function() adam:load_state_dict(bad) end, "Adam: lr must be >= 0, got -1")
  end)
end)
