-- nn.TransformerEncoderLayer and nn.TransformerEncoder: PyTorch's layers
-- (names, parameter names, argument meanings and defaults), batch first by
-- default. A PyTorch state_dict of the same layer loads as it is.
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

local TransformerEncoderLayer = Module:extend("nn.TransformerEncoderLayer")
M.TransformerEncoderLayer = TransformerEncoderLayer

--- nn.TransformerEncoderLayer(d_model, nhead [, {dim_feedforward = 2048,
-- dropout = 0.1, activation = "relu" | "gelu" | function, layer_norm_eps =
-- 1e-5, batch_first = true, norm_first = false, bias = true}]).
-- Children as PyTorch: self_attn (nn.MultiheadAttention), linear1,
-- dropout, linear2, norm1, norm2, dropout1, dropout2. norm_first = true is
-- the pre-norm layer (x + attn(norm1(x)), then x + ff(norm2(x))); false
-- the post-norm one (norm1(x + attn(x)), then norm2(x + ff(x))).
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
  local x, w, a = src, nil, nil
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

--- layer(src [, {src_mask, src_key_padding_mask, is_causal = false}]) ->
-- output, src [N, L, d_model] (batch first). Masks as nn.MultiheadAttention's
-- attn_mask and key_padding_mask.
function TransformerEncoderLayer:forward(src, opts)
  return (self:_run(src, layer_options("nn.TransformerEncoderLayer", opts), false))
end

function TransformerEncoderLayer:extra_repr()
  local parts = { (self.norm_first and "pre-norm" or "post-norm") }
  if self.activation_name then parts[#parts + 1] = self.activation_name end
  return table.concat(parts, ", ")
end

-- ---- encoder ------------------------------------------------------------------------

local TransformerEncoder = Module:extend("nn.TransformerEncoder")
M.TransformerEncoder = TransformerEncoder

--- nn.TransformerEncoder(encoder_layer, num_layers [, {norm = nil}]): a
-- stack of num_layers copies of encoder_layer (deep copies, so they start
-- with equal weights, as PyTorch's), in `layers` (an nn.ModuleList), and an
-- optional final `norm` module (nn.LayerNorm for pre-norm stacks).
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

--- encoder(src [, {mask, src_key_padding_mask, is_causal = false}]) -> output
-- like src: each layer in turn, then norm.
function TransformerEncoder:forward(src, opts)
  opts = mg.check_options("nn.TransformerEncoder", opts, { "mask", "src_key_padding_mask", "is_causal" }, 3)
  local o = { src_mask = opts.mask, src_key_padding_mask = opts.src_key_padding_mask, is_causal = opts.is_causal }
  local x = src
  for i = 1, self.num_layers do x = self.layers[i]:_run(x, o, false) end
  if self.norm then x = self.norm(x) end
  return x
end

--- encoder:attention_weights(src [, opts as forward]) -> output, {weights
-- [N, H, L, S] of each layer}: the forward pass that also returns every
-- layer's attention weights (for pictures; computed apart from the fused
-- op, without dropout).
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
