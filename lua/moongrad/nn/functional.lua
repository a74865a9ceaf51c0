--- mg.nn.functional (also mg.nn.F): the fused ops of the C core under
-- PyTorch's names, and a few composites written with them (one_hot,
-- kl_div, normalize, silu, logsigmoid). Dims are 1-based (negative from
-- the end); class targets are 1-based int64.
--
-- These names are the functions of the main module (see there):
-- `linear`, `conv2d`, `conv_transpose2d`, `max_pool2d`, `avg_pool2d`,
-- `batch_norm`, `layer_norm`, `dropout`, `embedding`, `softmax`,
-- `log_softmax`, `cross_entropy`, `nll_loss`, `binary_cross_entropy`,
-- `binary_cross_entropy_with_logits`, `mse_loss`, `l1_loss`,
-- `grad_reverse`, `relu`, `leaky_relu`, `sigmoid`, `tanh`, `gelu`,
-- `softplus`, `scaled_dot_product_attention`.
-- @module moongrad.nn.functional
-- @alias F
-- @usage local F = mg.nn.functional
-- local loss = F.cross_entropy(model(x), y, {label_smoothing = 0.1})
local mg = require "moongrad"

local F = {}

local REEXPORTED = {
  "linear", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm",
  "dropout", "embedding", "softmax", "log_softmax", "cross_entropy", "nll_loss",
  "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
  "grad_reverse", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softplus",
  "scaled_dot_product_attention",
}
F.names = REEXPORTED

local known = {}
for _, n in ipairs(REEXPORTED) do known[n] = true end

-- A name of the list resolves to the core's function; one the core of
-- this build lacks raises a clear error when called.
setmetatable(F, {
  __lazy = REEXPORTED, -- for tab completion and the reference
  __index = function(t, k)
    if not known[k] then return nil end
    local fn = mg[k]
    if fn then rawset(t, k, fn); return fn end
    return function()
      error("F." .. k .. ": mg." .. k .. " is not available in this build of moongrad", 2)
    end
  end,
})

local function reduce(who, loss, reduction, batch)
  reduction = reduction or "mean"
  if reduction == "none" then return loss end
  if reduction == "sum" then return loss:sum() end
  if reduction == "mean" then return loss:mean() end
  if reduction == "batchmean" and batch then return loss:sum() / batch end
  error(string.format("%s: unknown reduction '%s' (none, sum, mean%s)", who, tostring(reduction),
    batch and ", batchmean" or ""), 3)
end

--- One-hot rows of 1-based classes.
-- @tparam Tensor classes int64 of any shape, 1-based
-- @int[opt] num_classes default: the largest class
-- @tparam[opt] table opts `{dtype = "float32"}` ("int64" for integer rows)
-- @treturn Tensor [..., num_classes] of 0 and 1
function F.one_hot(classes, num_classes, opts)
  if not mg.is_tensor(classes) or classes.dtype ~= "int64" then
    error("F.one_hot: classes must be an int64 Tensor of 1-based classes", 2)
  end
  if classes:numel() == 0 then error("F.one_hot: classes is empty", 2) end
  local as_float = classes:float()
  local lo, hi = math.tointeger(as_float:min():item()), math.tointeger(as_float:max():item())
  num_classes = num_classes or hi
  if not math.tointeger(num_classes) or num_classes < 1 then
    error("F.one_hot: num_classes must be a positive integer, got " .. tostring(num_classes), 2)
  end
  if lo < 1 or hi > num_classes then
    error(string.format("F.one_hot: class %d out of range 1..%d", lo < 1 and lo or hi, num_classes), 2)
  end
  local out = as_float:unsqueeze(-1):eq(mg.arange(1, num_classes + 1):float())
  if opts and opts.dtype == "int64" then out = out:long() end
  return out
end

--- KL(target || exp(input)), input log-probabilities: pointwise
-- target * (log target - input), 0 where target is 0.
-- @tparam Tensor input log-probabilities
-- @tparam Tensor target probabilities (log-probabilities with log_target)
-- @tparam[opt] table opts `{reduction = "batchmean", log_target = false}`; reductions:
--   "batchmean" (sum / batch size, the true KL per sample), "sum", "mean" (per element), "none"
-- @treturn Tensor
function F.kl_div(input, target, opts)
  local reduction = opts and opts.reduction or "batchmean"
  local pointwise
  if opts and opts.log_target then
    pointwise = mg.exp(target) * (target - input)
  else
    -- clamped log keeps 0 * log 0 at 0 (and its gradient finite)
    pointwise = target * (mg.log(mg.clamp(target, 1e-30)) - input)
  end
  return reduce("F.kl_div", pointwise, reduction, input:dim() > 0 and input:size(1) or 1)
end

--- x / max(||x||_p, eps) along dim.
-- @tparam Tensor x
-- @tparam[opt] table opts `{p = 2, dim = 2, eps = 1e-12}`
-- @treturn Tensor x's shape
-- @usage local z = F.normalize(features)   -- unit rows
function F.normalize(x, opts)
  local p = opts and opts.p or 2
  local dim = opts and opts.dim or 2
  local eps = opts and opts.eps or 1e-12
  local norm
  if p == 2 then
    norm = mg.sqrt(mg.clamp((x * x):sum(dim, true), eps * eps))
    return x / norm
  elseif p == 1 then
    norm = mg.abs(x):sum(dim, true)
  else
    norm = mg.pow(mg.abs(x), p):sum(dim, true):pow(1 / p)
  end
  return x / mg.clamp(norm, eps)
end

--- x * sigmoid(x).
-- @tparam Tensor x
-- @treturn Tensor
function F.silu(x) return x * mg.sigmoid(x) end

--- log(sigmoid(x)) = -softplus(-x), stable for large |x|.
-- @tparam Tensor x
-- @treturn Tensor
function F.logsigmoid(x) return -mg.softplus(-x) end

return F
