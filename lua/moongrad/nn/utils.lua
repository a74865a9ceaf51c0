-- mg.nn.utils: gradient clipping.
local mg = require "moongrad"

local M = {}

-- A module's parameters, a list of tensors, or a single tensor -> list.
local function param_list(who, params)
  if mg.is_tensor(params) then return { params } end
  if type(params) == "table" and type(params.parameters) == "function" then return params:parameters() end
  if type(params) ~= "table" then error(who .. ": expects a list of parameters or a module, got " .. type(params), 3) end
  return params
end

-- clip_grad_norm_(params, max_norm [, {norm_type = 2}]): scales the
-- gradients of params (a list, or a module) in place so that their joint
-- norm is at most max_norm (norm_type 2 runs mg.optim.clip_grad_norm;
-- others, math.huge included, run here). Returns the norm before
-- clipping (a number).
function M.clip_grad_norm_(params, max_norm, opts)
  local list = param_list("clip_grad_norm_", params)
  if type(max_norm) ~= "number" or max_norm < 0 then
    error("clip_grad_norm_: max_norm must be a non-negative number, got " .. tostring(max_norm), 2)
  end
  local norm_type = opts and opts.norm_type or 2
  if norm_type == 2 then return mg.optim.clip_grad_norm(list, max_norm) end -- the fused C loop
  local grads = {}
  for _, p in ipairs(list) do
    local g = p.grad
    if g then grads[#grads + 1] = g end
  end
  if #grads == 0 then return 0 end
  local total
  if norm_type == math.huge then
    total = 0
    for _, g in ipairs(grads) do total = math.max(total, mg.abs(g):max():item()) end
  else
    local sum = 0
    for _, g in ipairs(grads) do sum = sum + mg.pow(mg.abs(g), norm_type):sum():item() end
    total = sum ^ (1 / norm_type)
  end
  local coef = max_norm / (total + 1e-6)
  if coef < 1 then
    mg.no_grad(function()
      for _, g in ipairs(grads) do g:mul_(coef) end
    end)
  end
  return total
end

-- clip_grad_value_(params, clip_value): clamps every gradient element to
-- [-clip_value, clip_value] in place.
function M.clip_grad_value_(params, clip_value)
  local list = param_list("clip_grad_value_", params)
  if type(clip_value) ~= "number" or clip_value < 0 then
    error("clip_grad_value_: clip_value must be a non-negative number, got " .. tostring(clip_value), 2)
  end
  for _, p in ipairs(list) do
    local g = p.grad
    if g then g:clamp_(-clip_value, clip_value) end
  end
end

return M
