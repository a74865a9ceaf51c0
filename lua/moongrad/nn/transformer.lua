--- nn.TransformerEncoderLayer and nn.TransformerEncoder: PyTorch's layers
-- (names, parameter names, argument meanings and defaults), batch first by
-- default. A PyTorch state_dict of the same layer loads as it is.
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local Linear = require "moongrad.nn.linear"
local Dropout = require "moongrad.nn.dropout"
local LayerNorm = require("moongrad.nn.norm").LayerNorm
local ModuleList = require("moongrad.nn.containers").ModuleList
local MultiheadAttention = require "moongrad.nn.attention"
local args = require "moongrad.nn.args"

local M = {}

local ACTIVATIONS = { relu = mg.relu, gelu = mg.gelu }

-- ---- encoder layer ------------------------------------------------------------------

--- A Transformer encoder layer, PyTorch's. Children as PyTorch's:
-- self_attn (nn.MultiheadAttention), linear1, dropout, linear2, norm1,
-- norm2, dropout1, dropout2. norm_first = true is the pre-norm layer
-- (x + attn(norm1(x)), then x + ff(norm2(x))); false the post-norm one
-- (norm1(x + attn(x)), then norm2(x + ff(x))).
-- @type TransformerEncoderLayer
-- @usage local layer = nn.TransformerEncoderLayer(128, 4, {dim_feedforward = 512, norm_first = true})
-- local encoder = nn.TransformerEncoder(layer, 4, {norm = nn.LayerNorm(128)})
local TransformerEncoderLayer = Module:extend("nn.TransformerEncoderLayer")
M.TransformerEncoderLayer = TransformerEncoderLayer

--- nn.TransformerEncoderLayer(d_model, nhead [, opts]): a new layer.
-- @int d_model
-- @int nhead
-- @tparam[opt] table opts `{dim_feedforward = 2048, dropout = 0.1, activation = "relu" | "gelu"
--   | function, layer_norm_eps = 1e-5, batch_first = true, norm_first = false, bias = true}`
function TransformerEncoderLayer:init(d_model, nhead, opts)
  Module.init(self)
  local who = "nn.TransformerEncoderLayer"
  opts = mg.check_options(who, opts, { "dim_feedforward", "dropout", "activation", "layer_norm_eps",
    "batch_first", "norm_first", "bias" }, 3)
  d_model = args.positive_int(who, "d_model", d_model)
  local ff = args.positive_int(who, "dim_feedforward", opts.dim_feedforward or 2048)
  local p = args.probability(who, "dropout", opts.dropout == nil and 0.1 or opts.dropout)
  local act = opts.activation or "relu"
  if type(act) == "string" then
    if not ACTIVATIONS[act] then
      error(string.format("%s: activation must be \"relu\", \"gelu\" or a function, got \"%s\"", who, act), 3)
    end
    self.activation_name = act
    act = ACTIVATIONS[act]
  elseif type(act) ~= "function" and not Module.is_module(act) then
    error(who .. ": activation must be \"relu\", \"gelu\" or a function, got " .. type(act), 3)
  end
  self.activation = act
  self.batch_first = opts.batch_first ~= false
  self.norm_first = opts.norm_first == true
  local bias = opts.bias ~= false
  local eps = opts.layer_norm_eps or 1e-5
  self.self_attn = MultiheadAttention(d_model, nhead, { dropout = p, bias = bias, batch_first = self.batch_first })
  self.linear1 = Linear(d_model, ff, { bias = bias })
  self.dropout = Dropout(p)
  self.linear2 = Linear(ff, d_model, { bias = bias })
  self.norm1 = LayerNorm(d_model, { eps = eps, bias = bias })
  self.norm2 = LayerNorm(d_model, { eps = eps, bias = bias })
  self.dropout1 = Dropout(p)
  self.dropout2 = Dropout(p)
end

local function layer_options(who, opts)
  return mg.check_options(who, opts, { "src_mask", "src_key_padding_mask", "is_causal" }, 4)
end

-- The self-attention block; with `weights`, also returns the attention
-- weights [N, H, L, S].
function TransformerEncoderLayer:_sa_block(x, o, weights)
  local out, w = self.self_attn(x, x, x, {
    attn_mask = o.src_mask, key_padding_mask = o.src_key_padding_mask, is_causal = o.is_causal,
    need_weights = weights or false, average_attn_weights = false,
  })
  return self.dropout1(out), w
end

function TransformerEncoderLayer:_ff_block(x)
  return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
end

-- The layer; with `weights` true also returns its attention weights.
function TransformerEncoderLayer:_run(src, o, weights)
  local x, w, a = src
  if self.norm_first then
    a, w = self:_sa_block(self.norm1(x), o, weights)
    x = x + a
    x = x + self:_ff_block(self.norm2(x))
  else
    a, w = self:_sa_block(x, o, weights)
    x = self.norm1(x + a)
    x = self.norm2(x + self:_ff_block(x))
  end
  return x, w
end

--- Applies the layer.
-- @tparam Tensor src [N, L, d_model] (batch first)
-- @tparam[opt] table opts `{src_mask, src_key_padding_mask, is_causal = false}`, the masks as
--   nn.MultiheadAttention's attn_mask and key_padding_mask
-- @treturn Tensor src's shape
function TransformerEncoderLayer:forward(src, opts)
  return (self:_run(src, layer_options("nn.TransformerEncoderLayer", opts), false))
end

function TransformerEncoderLayer:extra_repr()
  local parts = { (self.norm_first and "pre-norm" or "post-norm") }
  if self.activation_name then parts[#parts + 1] = self.activation_name end
  return table.concat(parts, ", ")
end

-- ---- encoder ------------------------------------------------------------------------

--- A stack of encoder layers, PyTorch's: num_layers copies of
-- encoder_layer (deep copies, so they start with equal weights, as
-- PyTorch's), in `layers` (an nn.ModuleList), and an optional final `norm`
-- module (nn.LayerNorm for pre-norm stacks).
-- @type TransformerEncoder
local TransformerEncoder = Module:extend("nn.TransformerEncoder")
M.TransformerEncoder = TransformerEncoder

--- nn.TransformerEncoder(encoder_layer, num_layers [, opts]): a new stack.
-- @tparam TransformerEncoderLayer encoder_layer
-- @int num_layers
-- @tparam[opt] table opts `{norm = nil}`
function TransformerEncoder:init(encoder_layer, num_layers, opts)
  Module.init(self)
  local who = "nn.TransformerEncoder"
  opts = mg.check_options(who, opts, { "norm" }, 3)
  if not Module.is_module(encoder_layer) then
    error(who .. ": encoder_layer must be a module (nn.TransformerEncoderLayer), got " .. type(encoder_layer), 3)
  end
  self.num_layers = args.positive_int(who, "num_layers", num_layers)
  local layers = {}
  for i = 1, num_layers do layers[i] = encoder_layer:clone() end
  self.layers = ModuleList(layers)
  if opts.norm ~= nil then
    if not Module.is_module(opts.norm) then error(who .. ": norm must be a module, got " .. type(opts.norm), 3) end
    self.norm = opts.norm
  end
end

--- Each layer in turn, then norm.
-- @tparam Tensor src [N, L, d_model]
-- @tparam[opt] table opts `{mask, src_key_padding_mask, is_causal = false}`
-- @treturn Tensor src's shape
function TransformerEncoder:forward(src, opts)
  opts = mg.check_options("nn.TransformerEncoder", opts, { "mask", "src_key_padding_mask", "is_causal" }, 3)
  local o = { src_mask = opts.mask, src_key_padding_mask = opts.src_key_padding_mask, is_causal = opts.is_causal }
  local x = src
  for i = 1, self.num_layers do x = self.layers[i]:_run(x, o, false) end
  if self.norm then x = self.norm(x) end
  return x
end

--- The forward pass that also returns every layer's attention weights
-- (for pictures; computed apart from the fused op, without dropout).
-- @tparam Tensor src
-- @tparam[opt] table opts as forward's
-- @treturn Tensor output
-- @treturn {Tensor,...} weights [N, H, L, S] of each layer
function TransformerEncoder:attention_weights(src, opts)
  opts = mg.check_options("nn.TransformerEncoder:attention_weights", opts,
    { "mask", "src_key_padding_mask", "is_causal" }, 3)
  local o = { src_mask = opts.mask, src_key_padding_mask = opts.src_key_padding_mask, is_causal = opts.is_causal }
  local x, all = src, {}
  for i = 1, self.num_layers do
    local w
    x, w = self.layers[i]:_run(x, o, true)
    all[i] = w
  end
  if self.norm then x = self.norm(x) end
  return x, all
end

function TransformerEncoder:extra_repr() return self.num_layers .. " layers" end

return M
