--- nn.MultiheadAttention: PyTorch's layer on the fused
-- mg.scaled_dot_product_attention.
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local Linear = require "moongrad.nn.linear"
local init = require "moongrad.nn.initializers"
local args = require "moongrad.nn.args"

--- Multi-head attention, PyTorch's layer (names, parameters and argument
-- meanings). Parameters as PyTorch's: in_proj_weight [3E, E] and
-- in_proj_bias [3E] (q_proj_weight, k_proj_weight, v_proj_weight when kdim
-- or vdim differ from E), out_proj (nn.Linear(E, E)).
--
-- Masks follow PyTorch, with uint8/int64 tensors in the role of its bool
-- ones (moongrad's comparisons give float32 0/1 masks: convert them with
-- :byte()): attn_mask [L, S] or [N * num_heads, L, S], integer nonzero =
-- may NOT attend, float32 added to the scores; key_padding_mask [N, S],
-- integer nonzero = a padding key, ignored, float32 added.
-- @type MultiheadAttention
-- @usage local mha = nn.MultiheadAttention(128, 4)
-- local out = mha(x, x, x, {key_padding_mask = pad, need_weights = false})
local MultiheadAttention = Module:extend("nn.MultiheadAttention")

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

--- nn.MultiheadAttention(embed_dim, num_heads [, opts]): a new layer.
-- @int embed_dim E, divisible by num_heads
-- @int num_heads
-- @tparam[opt] table opts `{dropout = 0, bias = true, kdim = embed_dim, vdim = embed_dim,
--   batch_first = true}`: batch_first defaults to true (moongrad's batches come first);
--   false takes PyTorch's default layout [L, N, E]. add_bias_kv and add_zero_attn are not available
function MultiheadAttention:init(embed_dim, num_heads, opts)
  Module.init(self)
  local who = "nn.MultiheadAttention"
  opts = mg.check_options(who, opts, { "dropout", "bias", "kdim", "vdim", "batch_first", "add_bias_kv",
    "add_zero_attn" }, 3)
  if opts.add_bias_kv or opts.add_zero_attn then
    error(who .. ": add_bias_kv and add_zero_attn are not available", 3)
  end
  self.embed_dim = args.positive_int(who, "embed_dim", embed_dim)
  self.num_heads = args.positive_int(who, "num_heads", num_heads)
  if embed_dim % num_heads ~= 0 then
    error(string.format("%s: embed_dim %d must be divisible by num_heads %d", who, embed_dim, num_heads), 3)
  end
  self.head_dim = embed_dim // num_heads
  self.kdim = args.positive_int(who, "kdim", opts.kdim or embed_dim)
  self.vdim = args.positive_int(who, "vdim", opts.vdim or embed_dim)
  self.dropout = args.probability(who, "dropout", opts.dropout or 0)
  self.batch_first = opts.batch_first ~= false
  self.packed = self.kdim == embed_dim and self.vdim == embed_dim
  local E = embed_dim
  if self.packed then
    self.in_proj_weight = Module.Parameter(mg.empty(3 * E, E))
  else
    self.q_proj_weight = Module.Parameter(mg.empty(E, E))
    self.k_proj_weight = Module.Parameter(mg.empty(E, self.kdim))
    self.v_proj_weight = Module.Parameter(mg.empty(E, self.vdim))
  end
  if opts.bias ~= false then self.in_proj_bias = Module.Parameter(mg.empty(3 * E)) end
  self.out_proj = Linear(E, E, { bias = opts.bias ~= false })
  self:reset_parameters()
end

--- Fresh weights as PyTorch draws them: Xavier-uniform input projections
-- (the packed [3E, E] matrix as one), zero biases, out_proj as nn.Linear
-- with a zero bias.
function MultiheadAttention:reset_parameters()
  if self.packed then
    init.xavier_uniform_(self.in_proj_weight)
  else
    init.xavier_uniform_(self.q_proj_weight)
    init.xavier_uniform_(self.k_proj_weight)
    init.xavier_uniform_(self.v_proj_weight)
  end
  if self.in_proj_bias then init.zeros_(self.in_proj_bias) end
  self.out_proj:reset_parameters()
  if self.out_proj.bias then init.zeros_(self.out_proj.bias) end
end

-- Rows i..i+E-1 of the packed projection (views, so gradients reach it).
function MultiheadAttention:_proj(x, i)
  local E = self.embed_dim
  local w, b
  if self.packed then
    w = self.in_proj_weight:narrow(1, (i - 1) * E + 1, E)
  else
    w = ({ self.q_proj_weight, self.k_proj_weight, self.v_proj_weight })[i]
  end
  if self.in_proj_bias then b = self.in_proj_bias:narrow(1, (i - 1) * E + 1, E) end
  return mg.linear(x, w, b)
end

-- [N, T, E] -> [N, H, T, head_dim] (a view)
function MultiheadAttention:_heads(x)
  local n, t = x:size(1), x:size(2)
  return x:view(n, t, self.num_heads, self.head_dim):transpose(2, 3)
end

-- Projects query, key, value and splits the heads: q [N, H, L, hd], k and v
-- [N, H, S, hd]. Self-attention (one tensor) takes one projection pass.
function MultiheadAttention:_qkv(query, key, value)
  local E = self.embed_dim
  if self.packed and rawequal(query, key) and rawequal(key, value) then
    local qkv = mg.linear(query, self.in_proj_weight, self.in_proj_bias)
    return self:_heads(qkv:narrow(3, 1, E)), self:_heads(qkv:narrow(3, E + 1, E)),
      self:_heads(qkv:narrow(3, 2 * E + 1, E))
  end
  return self:_heads(self:_proj(query, 1)), self:_heads(self:_proj(key, 2)), self:_heads(self:_proj(value, 3))
end

local function is_integer_mask(m) return m.dtype ~= "float32" end

-- attn_mask [L, S] or [N * H, L, S] -> a mask that broadcasts to [N, H, L, S].
function MultiheadAttention:_attn_mask(m, n, L, S)
  if not mg.is_tensor(m) then error("nn.MultiheadAttention: attn_mask must be a Tensor, got " .. type(m), 4) end
  if m:dim() == 2 and m:size(1) == L and m:size(2) == S then return m end
  if m:dim() == 3 and m:size(1) == n * self.num_heads and m:size(2) == L and m:size(3) == S then
    return m:reshape(n, self.num_heads, L, S)
  end
  error(string.format("nn.MultiheadAttention: attn_mask must be [%d, %d] or [%d, %d, %d], got %s", L, S,
    n * self.num_heads, L, S, shape_str(m)), 4)
end

--- Attends: output like query, and the attention weights (nil unless
-- need_weights), computed apart from the fused op, without dropout.
-- @tparam Tensor query [N, L, E] (batch first; [L, N, E] with batch_first = false)
-- @tparam Tensor key [N, S, kdim]
-- @tparam Tensor value [N, S, vdim]
-- @tparam[opt] table opts `{key_padding_mask, need_weights = true, attn_mask,
--   average_attn_weights = true, is_causal = false}`; is_causal masks keys after each query
--   (with or without attn_mask)
-- @treturn Tensor output
-- @treturn Tensor|nil weights [N, L, S] averaged over the heads, or [N, H, L, S] with
--   average_attn_weights = false
function MultiheadAttention:forward(query, key, value, opts)
  local who = "nn.MultiheadAttention"
  opts = mg.check_options(who, opts, { "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights",
    "is_causal" }, 3)
  for i, t in ipairs({ query, key, value }) do
    if not mg.is_tensor(t) or t:dim() ~= 3 then
      error(string.format("%s: %s must be a 3-d Tensor (%s), got %s", who, ({ "query", "key", "value" })[i],
        self.batch_first and "[N, L, E]" or "[L, N, E]", mg.is_tensor(t) and shape_str(t) or type(t)), 3)
    end
  end
  local same_kv = rawequal(key, value)
  local self_attn = rawequal(query, key) and same_kv
  if not self.batch_first then
    query = query:transpose(1, 2)
    key = self_attn and query or key:transpose(1, 2)
    value = same_kv and key or value:transpose(1, 2)
  end
  local n, L, S = query:size(1), query:size(2), key:size(2)
  if query:size(3) ~= self.embed_dim or key:size(3) ~= self.kdim or value:size(3) ~= self.vdim
    or key:size(1) ~= n or value:size(1) ~= n or value:size(2) ~= S then
    error(string.format("%s: query %s, key %s, value %s do not fit embed_dim %d, kdim %d, vdim %d", who,
      shape_str(query), shape_str(key), shape_str(value), self.embed_dim, self.kdim, self.vdim), 3)
  end
  local mask = opts.attn_mask and self:_attn_mask(opts.attn_mask, n, L, S)
  local q, k, v = self:_qkv(query, key, value)
  local out = mg.scaled_dot_product_attention(q, k, v, {
    attn_mask = mask, attn_mask_blocks = mask and is_integer_mask(mask) or nil,
    key_padding_mask = opts.key_padding_mask, is_causal = opts.is_causal or false,
    dropout_p = self.training and self.dropout or 0,
  })
  out = self.out_proj(out:transpose(2, 3):reshape(n, L, self.embed_dim))
  if not self.batch_first then out = out:transpose(1, 2) end
  local weights
  if opts.need_weights ~= false then
    weights = self:_weights(q, k, mask, opts.key_padding_mask, opts.is_causal)
    if opts.average_attn_weights ~= false then weights = weights:mean(2) end
  end
  return out, weights
end

-- softmax(q k^T / sqrt(hd) + masks) [N, H, L, S], as plain ops.
function MultiheadAttention:_weights(q, k, mask, kpm, causal)
  local s = mg.matmul(q, k:transpose(3, 4)) * (1 / math.sqrt(self.head_dim))
  local n, L, S = s:size(1), s:size(3), s:size(4)
  if mask then
    if is_integer_mask(mask) then s = s:masked_fill(mask, -math.huge) else s = s + mask end
  end
  if kpm then
    local k4 = kpm:reshape(n, 1, 1, S)
    if is_integer_mask(kpm) then s = s:masked_fill(k4, -math.huge) else s = s + k4 end
  end
  if causal then
    local above = mg.arange(1, L + 1):float():view(L, 1):lt(mg.arange(1, S + 1):float():view(1, S))
    s = s:masked_fill(above, -math.huge)
  end
  return mg.softmax(s, -1)
end

function MultiheadAttention:extra_repr()
  local parts = { self.embed_dim .. ", heads " .. self.num_heads }
  if self.dropout > 0 then parts[#parts + 1] = "dropout " .. self.dropout end
  if not self.packed then parts[#parts + 1] = "kdim " .. self.kdim .. ", vdim " .. self.vdim end
  if not self.batch_first then parts[#parts + 1] = "seq first" end
  return table.concat(parts, ", ")
end

return MultiheadAttention
