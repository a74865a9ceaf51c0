--- mg.optim: optimizers (SGD, Adam, AdamW), gradient clipping and, in
-- mg.optim.lr_scheduler, learning-rate schedules. The updates run in C over
-- each parameter group (mg.sgd_step, mg.adam_step).
-- @module moongrad.optim
-- @alias M
-- @usage local opt = mg.optim.Adam(model:parameters(), {lr = 1e-3})
-- opt:zero_grad()
-- loss:backward()
-- mg.optim.clip_grad_norm(opt.param_groups, 1.0)
-- opt:step()
local mg = require "moongrad"

local M = {
  Optimizer = require "moongrad.optim.optimizer",
  SGD = require "moongrad.optim.sgd",
  Adam = require "moongrad.optim.adam",
  AdamW = require "moongrad.optim.adamw",
}

--- Scales every .grad by max_norm / (norm + 1e-6) when that is below 1,
-- norm being the L2 norm of all gradients together (PyTorch's
-- clip_grad_norm_). Parameters without a .grad are skipped.
-- @tparam Tensor|{Tensor,...}|table params a Tensor, a list of Tensors or an optimizer's param_groups
-- @number max_norm
-- @treturn number the total norm before clipping
function M.clip_grad_norm(params, max_norm)
  if mg.is_tensor(params) then params = { params } end
  if type(params) ~= "table" then
    error("clip_grad_norm: params must be a Tensor or a list of Tensors, got " .. type(params), 2)
  end
  if type(max_norm) ~= "number" then
    error("clip_grad_norm: max_norm must be a number, got " .. type(max_norm), 2)
  end
  if params[1] ~= nil and not mg.is_tensor(params[1]) and type(params[1]) == "table" and params[1].params then
    local flat = {}
    for _, g in ipairs(params) do
      for _, p in ipairs(g.params) do flat[#flat + 1] = p end
    end
    params = flat
  end
  local ok, norm = pcall(mg.core.clip_grad_norm, params, max_norm)
  if not ok then error(norm, 2) end
  return norm
end

return setmetatable(M, {
  __lazy = { "lr_scheduler" }, -- what __index loads on first use (for completion and the reference)
  __index = function(t, key)
    if key == "lr_scheduler" then
      local m = require "moongrad.optim.lr_scheduler"
      rawset(t, key, m)
      return m
    end
  end,
})
