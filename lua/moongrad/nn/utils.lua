--- mg.nn.utils: gradient clipping; running models in eval mode (with or
-- without a graph) and restoring every module's own mode; a function
-- mapped over a tensor in batches.
-- @module moongrad.nn.utils
-- @alias M
local mg = require "moongrad"

local M = {}

-- The modules of `models` (a module, a list or map of modules; anything
-- else, a plain function say, has no mode) with their training flags.
local function modes_of(models)
  local saved = {}
  local function add(m)
    if type(m) == "table" and type(m.modules) == "function" and type(m.eval) == "function" then
      for _, sub in ipairs(m:modules()) do saved[#saved + 1] = { sub, sub.training } end
    end
  end
  if type(models) == "table" and type(models.modules) ~= "function" then
    for _, m in pairs(models) do add(m) end
  else
    add(models)
  end
  return saved
end

--- Runs fn(...) with every module of models in eval mode; afterwards each
-- module gets back its own mode (not just the top one), also when fn
-- raises. Grad mode is left as it is (attacks need input gradients).
-- @tparam Module|table models a module, or a list or map of them
-- @func fn
-- @param ... fn's arguments
-- @return fn's results
function M.eval_mode(models, fn, ...)
  local saved = modes_of(models)
  for _, s in ipairs(saved) do s[1].training = false end
  local results = table.pack(pcall(fn, ...))
  for _, s in ipairs(saved) do s[1].training = s[2] end
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- Runs fn(...) in eval mode (as eval_mode) and without recording a
-- graph; every module's mode and the grad mode are restored, also on error.
-- @tparam Module|table models a module, or a list or map of them
-- @func fn
-- @param ... fn's arguments
-- @return fn's results
-- @usage local logits = nn.utils.inference(model, model, x)
function M.inference(models, fn, ...)
  return M.eval_mode(models, mg.no_grad, fn, ...)
end

--- fn applied to x in slices of batch_size along dim 1, the results of
-- each slice joined along dim 1 (fn may return several tensors: each is
-- joined).
-- @tparam Tensor x [N, ...]
-- @int batch_size
-- @func fn called as fn(slice, start), start the 1-based index of the slice's first row
-- @return the joined results
-- @usage local feats = nn.utils.map_batches(images, 256, function(b) return trunk(b) end)
function M.map_batches(x, batch_size, fn)
  local n = x:size(1)
  local parts, count = {}, 0
  for s = 1, n, batch_size do
    local r = table.pack(fn(x:narrow(1, s, math.min(batch_size, n - s + 1)), s))
    count = r.n
    for k = 1, r.n do
      parts[k] = parts[k] or {}
      parts[k][#parts[k] + 1] = r[k]
    end
  end
  local out = {}
  for k = 1, count do out[k] = #parts[k] == 1 and parts[k][1] or mg.cat(parts[k], 1) end
  return table.unpack(out, 1, count)
end

-- A module's parameters, a list of tensors, or a single tensor -> list.
local function param_list(who, params)
  if mg.is_tensor(params) then return { params } end
  if type(params) == "table" and type(params.parameters) == "function" then return params:parameters() end
  if type(params) ~= "table" then
    error(who .. ": expects a list of parameters or a module, got " .. type(params), 3)
  end
  return params
end

--- Scales the gradients in place so that their joint norm is at most
-- max_norm (the 2-norm runs in C through mg.optim.clip_grad_norm).
-- @tparam Module|{Tensor,...}|Tensor params a module, or its parameters
-- @number max_norm
-- @tparam[opt] table opts `{norm_type = 2}` (any p, or math.huge for the largest element)
-- @treturn number the norm before clipping
-- @usage nn.utils.clip_grad_norm_(model, 1.0)
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

--- Clamps every gradient element to [-clip_value, clip_value] in place.
-- @tparam Module|{Tensor,...}|Tensor params a module, or its parameters
-- @number clip_value
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
