--- optim.Adam: adaptive moment estimation.
-- @module moongrad.optim
local mg = require "moongrad"
local class = require "moongrad.class"
local Optimizer = require "moongrad.optim.optimizer"

local core = mg.core
local fail = Optimizer.fail

--- Adam, PyTorch's update per parameter with its own step count t:
-- g = grad (negated with maximize) + weight_decay * p;
-- m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g * g
-- (amsgrad: vmax = max(vmax, v), used in place of v);
-- p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
-- State per parameter: step, exp_avg, exp_avg_sq (and max_exp_avg_sq).
-- The update runs in C.
-- @type Adam
-- @usage local opt = mg.optim.Adam(model:parameters(), {lr = 1e-3})
local Adam = class("optim.Adam", Optimizer)
Adam.name = "Adam"
Adam.decoupled = false
Adam.class_defaults = {
  lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0, amsgrad = false, maximize = false,
}

--- optim.Adam(params [, opts]): a new optimizer.
-- @tparam {Tensor,...}|table params a list of Tensors or of groups (see Optimizer)
-- @tparam[opt] table opts `{lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0,
--   amsgrad = false, maximize = false}`
function Adam:init(params, opts)
  Optimizer.blame(3, self.setup, self, params, opts)
end

--- Checks Adam's options of a group (betas in [0, 1), eps >= 0).
-- @tparam table g the group
function Adam:check_group(g)
  Optimizer.check_group(self, g)
  local name = self.name
  local b = g.betas
  if #b ~= 2 or type(b[1]) ~= "number" or type(b[2]) ~= "number" then
    fail("%s: betas must be two numbers {beta1, beta2}", name)
  end
  for i = 1, 2 do
    if not (b[i] >= 0 and b[i] < 1) then fail("%s: betas[%d] must be in [0, 1), got %s", name, i, tostring(b[i])) end
  end
  if not (g.eps >= 0) then fail("%s: eps must be >= 0, got %s", name, tostring(g.eps)) end
end

local known_state = { step = true, exp_avg = true, exp_avg_sq = true, max_exp_avg_sq = true }

--- Checks loaded state: step, exp_avg, exp_avg_sq and max_exp_avg_sq.
-- @tparam table state
function Adam:check_state(state)
  for _, st in pairs(state) do
    for k in pairs(st) do
      if not known_state[k] then fail("%s: load_state_dict: unknown state '%s'", self.name, tostring(k)) end
    end
    if not (math.type(st.step) == "integer" and st.step >= 0 and st.exp_avg and st.exp_avg_sq) then
      fail("%s: load_state_dict: a parameter's state needs an integer step, exp_avg and exp_avg_sq", self.name)
    end
  end
end

--- Updates the parameters of one group.
-- @tparam table g the group
function Adam:update_group(g)
  local opts = {
    lr = g.lr, beta1 = g.betas[1], beta2 = g.betas[2], eps = g.eps, weight_decay = g.weight_decay,
    decoupled = self.decoupled, amsgrad = g.amsgrad, maximize = g.maximize,
  }
  local state, amsgrad = self.state, g.amsgrad
  -- parameters with a gradient, bucketed by their next step count (one
  -- bucket unless some parameters missed steps)
  local buckets, order = {}, {}
  for _, p in ipairs(g.params) do
    if p.grad ~= nil then
      local st = state[p]
      if not st then
        st = { step = 0, exp_avg = mg.zeros_like(p), exp_avg_sq = mg.zeros_like(p) }
        state[p] = st
      end
      if amsgrad and not st.max_exp_avg_sq then st.max_exp_avg_sq = mg.zeros_like(p) end
      local t = st.step + 1
      local b = buckets[t]
      if not b then
        b = { ps = {}, m = {}, v = {}, vmax = amsgrad and {} or nil, states = {} }
        buckets[t] = b
        order[#order + 1] = t
      end
      local n = #b.ps + 1
      b.ps[n], b.m[n], b.v[n], b.states[n] = p, st.exp_avg, st.exp_avg_sq, st
      if amsgrad then b.vmax[n] = st.max_exp_avg_sq end
    end
  end
  for _, t in ipairs(order) do
    local b = buckets[t]
    core.adam_step(b.ps, b.m, b.v, b.vmax, t, opts)
    for _, st in ipairs(b.states) do st.step = t end
  end
end

return Adam
