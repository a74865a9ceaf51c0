--- optim.SGD: stochastic gradient descent with momentum.
-- @module moongrad.optim
local mg = require "moongrad"
local class = require "moongrad.class"
local Optimizer = require "moongrad.optim.optimizer"

local core = mg.core
local fail = Optimizer.fail

--- Stochastic gradient descent, PyTorch's update: d = grad (negated with
-- maximize) + weight_decay * p; with momentum, buf = d on a parameter's
-- first step, then buf = momentum * buf + (1 - dampening) * d, and d = buf
-- (or d + momentum * buf with nesterov); p = p - lr * d. State per
-- parameter: momentum_buffer (when momentum > 0). The update runs in C.
-- @type SGD
-- @usage local opt = mg.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4})
local SGD = class("optim.SGD", Optimizer)
SGD.name = "SGD"
SGD.class_defaults = {
  lr = Optimizer.REQUIRED, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false,
}

--- optim.SGD(params, opts): a new optimizer.
-- @tparam {Tensor,...}|table params a list of Tensors or of groups (see Optimizer)
-- @tparam table opts `{lr = (required), momentum = 0, dampening = 0, weight_decay = 0,
--   nesterov = false, maximize = false}`
function SGD:init(params, opts)
  Optimizer.blame(3, self.setup, self, params, opts)
end

--- Checks SGD's options of a group (momentum >= 0; nesterov needs
-- momentum and no dampening).
-- @tparam table g the group
function SGD:check_group(g)
  Optimizer.check_group(self, g)
  if not (g.momentum >= 0) then fail("SGD: momentum must be >= 0, got %s", tostring(g.momentum)) end
  if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
    fail("SGD: nesterov needs momentum > 0 and dampening = 0, got momentum %s, dampening %s",
      tostring(g.momentum), tostring(g.dampening))
  end
end

--- Checks loaded state: only momentum buffers.
-- @tparam table state
function SGD:check_state(state)
  for _, st in pairs(state) do
    for k in pairs(st) do
      if k ~= "momentum_buffer" then fail("SGD: load_state_dict: unknown state '%s'", tostring(k)) end
    end
  end
end

--- Updates the parameters of one group.
-- @tparam table g the group
function SGD:update_group(g)
  local opts = {
    lr = g.lr, momentum = g.momentum, dampening = g.dampening, weight_decay = g.weight_decay,
    nesterov = g.nesterov, maximize = g.maximize,
  }
  if g.momentum == 0 then
    core.sgd_step(g.params, nil, opts, false)
    return
  end
  -- parameters with a buffer, and those taking their first momentum step
  local ps, bufs, new_ps, new_bufs = {}, {}, {}, {}
  local state = self.state
  for _, p in ipairs(g.params) do
    local st = state[p]
    local buf = st and st.momentum_buffer
    if buf then
      ps[#ps + 1], bufs[#bufs + 1] = p, buf
    elseif p.grad ~= nil then
      buf = mg.zeros_like(p)
      if not st then st = {}; state[p] = st end
      st.momentum_buffer = buf
      new_ps[#new_ps + 1], new_bufs[#new_bufs + 1] = p, buf
    end
  end
  if #ps > 0 then core.sgd_step(ps, bufs, opts, false) end
  if #new_ps > 0 then core.sgd_step(new_ps, new_bufs, opts, true) end
end

return SGD
