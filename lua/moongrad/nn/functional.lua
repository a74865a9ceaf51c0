-- mg.nn.functional (F): the fused ops of the C core under PyTorch's names,
-- and a few composites written with them (one_hot, kl_div, normalize,
-- silu, logsigmoid). Dims are 1-based (negative from the end); class
-- targets are 1-based int64.
--   F.linear(x, w, b)                      F.conv2d(x, w, b, {stride, padding, dilation})
--   F.conv_transpose2d(x, w, b, {stride, padding, output_padding, dilation})
--   F.max_pool2d(x, k, {stride, padding, ceil_mode})
--   F.avg_pool2d(x, k, {stride, padding, ceil_mode, count_include_pad})
--   F.batch_norm(x, running_mean, running_var, weight, bias, {training, momentum, eps})
--   F.layer_norm(x, normalized_shape, weight, bias, {eps})
--   F.dropout(x, p, training)              F.embedding(ids, weight)
--   F.softmax(x, dim)  F.log_softmax(x, dim)
--   F.cross_entropy(logits, targets, {reduction, label_smoothing, ignore_index})
--   F.nll_loss(logp, targets, {reduction})
--   F.binary_cross_entropy(p, t, {reduction})  F.binary_cross_entropy_with_logits(z, t, {reduction})
--   F.mse_loss(a, b, {reduction})  F.l1_loss(a, b, {reduction})
--   F.grad_reverse(x, lambda)  F.relu, F.leaky_relu(x, slope), F.sigmoid, F.tanh, F.gelu, F.softplus
--   F.scaled_dot_product_attention(q, k, v, {attn_mask, key_padding_mask,
--     is_causal, dropout_p, scale, keep_weights}): fused; q [..., L, E],
--     k [..., S, E], v [..., S, Ev]; a uint8/int64 attn_mask allows
--     attention where nonzero, a float32 one is added to the scores;
--     key_padding_mask [N, S] nonzero marks padding keys
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

-- one_hot(classes, num_classes [, {dtype = "float32"}]): classes int64 of
-- any shape, 1-based -> [..., num_classes] of 0 and 1 (float32 unless
-- dtype = "int64"). num_classes defaults to the largest class.
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

-- kl_div(input, target [, {reduction = "batchmean", log_target = false}]):
-- KL(target || exp(input)) with input log-probabilities, target
-- probabilities (or log-probabilities with log_target): pointwise
-- target * (log target - input), 0 where target is 0. Reductions: "batchmean"
-- (sum / batch size, the true KL per sample), "sum", "mean" (per element), "none".
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

-- normalize(x [, {p = 2, dim = 2, eps = 1e-12}]): x / max(||x||_p, eps)
-- along dim.
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

-- silu(x) = x * sigmoid(x)
function F.silu(x) return x * mg.sigmoid(x) end

-- logsigmoid(x) = -softplus(-x)
function F.logsigmoid(x) return -mg.softplus(-x) end

return F
