--- The Transformer of the text workload: an encoder over token ids (or over
-- vectors: rows or patches of an image) with learned position embeddings,
-- a classifier head on the [CLS] position or the mean of the tokens, and a
-- masked-token head whose output layer is the token embedding itself.
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

-- ---- the encoder -----------------------------------------------------------------

--- A Transformer encoder over token ids or vectors, with learned position
-- embeddings. Children: tok (nn.Embedding(V, d), N(0, 0.02) as BERT) or
-- proj (nn.Linear(D, d)), pos (nn.Embedding(max_len, d)), emb_norm
-- (nn.LayerNorm), drop, encoder (nn.TransformerEncoder of
-- nn.TransformerEncoderLayer), and norm (a final nn.LayerNorm) when
-- pre-norm. enc.config holds the options (to save beside the weights).
--
-- With alibi = true every head also adds -m_h |i - j| to its attention
-- scores (Press et al. 2022, symmetric for an encoder; slopes m_h =
-- 2^(-8h/H)), passed as the encoder's float `mask`. Learned positions
-- alone left masked-token pre-training on IMDB a bag of words: after
-- 2,500 steps no head put more than 1/128 of its weight on a neighbouring
-- token, where the bias has most of it there within 600 steps.
-- @type TextEncoder
-- @usage local enc = mg.models.TextEncoder{vocab_size = 8000, d_model = 128}
-- local clf = mg.models.TransformerClassifier(enc, 2)
-- local logits = clf(ids, {padding_mask = ids:eq(pad):byte()})
local TextEncoder = nn.Module:extend("models.TextEncoder")
M.TextEncoder = TextEncoder

local ENCODER_OPTIONS = { "vocab_size", "input_dim", "max_len", "d_model", "nhead", "num_layers",
  "dim_feedforward", "dropout", "activation", "norm_first", "alibi", "token_frequencies" }

--- models.TextEncoder(opts): a new encoder. With token_frequencies (a
-- float Tensor [V]), tok is a models.NormalizedEmbedding whose rows have
-- frequency-weighted mean 0 and variance 1, as adversarial training on
-- embeddings needs (mg.attack.embedding).
-- @tparam table opts `{vocab_size = V (token ids) or input_dim = D (vectors), max_len = 256,
--   d_model = 128, nhead = 4, num_layers = 4, dim_feedforward = 512, dropout = 0.1,
--   activation = "gelu", norm_first = true, alibi = false, token_frequencies = nil}`
function TextEncoder:init(opts)
  nn.Module.init(self)
  local who = "models.TextEncoder"
  opts = mg.check_options(who, opts, ENCODER_OPTIONS, 3)
  if (opts.vocab_size == nil) == (opts.input_dim == nil) then
    error(who .. ": give vocab_size (token ids) or input_dim (vectors), one of them", 3)
  end
  local c = {
    vocab_size = opts.vocab_size, input_dim = opts.input_dim, max_len = opts.max_len or 256,
    d_model = opts.d_model or 128, nhead = opts.nhead or 4, num_layers = opts.num_layers or 4,
    dim_feedforward = opts.dim_feedforward or 512, dropout = opts.dropout == nil and 0.1 or opts.dropout,
    activation = opts.activation or "gelu", norm_first = opts.norm_first ~= false, alibi = opts.alibi == true,
  }
  self.config = c
  local d = c.d_model
  if c.vocab_size and opts.token_frequencies then
    self.tok = require("moongrad.models.text_bag").NormalizedEmbedding(c.vocab_size, d,
      { frequencies = opts.token_frequencies })
  elseif c.vocab_size then
    self.tok = nn.Embedding(c.vocab_size, d)
    nn.init.normal_(self.tok.weight, 0, 0.02)
  else
    self.proj = nn.Linear(c.input_dim, d)
  end
  self.pos = nn.Embedding(c.max_len, d)
  nn.init.normal_(self.pos.weight, 0, 0.02)
  self.emb_norm = nn.LayerNorm(d)
  self.drop = nn.Dropout(c.dropout)
  local layer = nn.TransformerEncoderLayer(d, c.nhead, {
    dim_feedforward = c.dim_feedforward, dropout = c.dropout, activation = c.activation, norm_first = c.norm_first,
  })
  self.encoder = nn.TransformerEncoder(layer, c.num_layers, { norm = c.norm_first and nn.LayerNorm(d) or nil })
end

--- The attention bias of alibi for n sequences of L positions: float32
-- [n * nhead, L, L], -m_h |i - j| (nil without alibi). The last one is
-- kept: batches mostly share their shape.
-- @int n
-- @int L
-- @treturn Tensor|nil
function TextEncoder:attention_bias(n, L)
  if not self.config.alibi then return nil end
  local key = n .. "x" .. L
  if self._bias_key ~= key then
    local H = self.config.nhead
    local dist = (mg.arange(1, L + 1):view(L, 1) - mg.arange(1, L + 1):view(1, L)):abs() -- [L, L]
    local slopes = {}
    for h = 1, H do slopes[h] = 2 ^ (-8 * h / H) end
    local bias = mg.tensor(slopes):view(H, 1, 1) * dist:unsqueeze(1) * -1 -- [H, L, L]
    self._bias = bias:unsqueeze(1):expand(n, H, L, L):reshape(n * H, L, L)
    self._bias_key = key
  end
  return self._bias
end

-- The encoder's options for input e [N, L, d]: padding and the alibi bias.
function TextEncoder:_encoder_options(e, padding_mask)
  return { src_key_padding_mask = padding_mask, mask = self:attention_bias(e:size(1), e:size(2)) }
end

--- The embeddings of x (token or vector, plus position).
-- @tparam Tensor x token ids int64 [N, L] (1-based) or vectors [N, L, D]
-- @treturn Tensor [N, L, d_model]
function TextEncoder:embed(x)
  local who = "models.TextEncoder"
  local c = self.config
  if self.tok then
    if not mg.is_tensor(x) or x.dtype ~= "int64" or x:dim() ~= 2 then
      error(who .. ": expects token ids, an int64 Tensor [N, L], got "
        .. (mg.is_tensor(x) and (x.dtype .. " " .. shape_str(x)) or type(x)), 3)
    end
  elseif not mg.is_tensor(x) or x:dim() ~= 3 or x:size(3) ~= c.input_dim then
    error(string.format("%s: expects vectors [N, L, %d], got %s", who, c.input_dim,
      mg.is_tensor(x) and shape_str(x) or type(x)), 3)
  end
  return self:add_positions(self.tok and self.tok(x) or self.proj(x))
end

--- The encoder's input from token (or projected) vectors: plus the
-- position embeddings, layer norm, dropout.
-- @tparam Tensor e [N, L, d_model]
-- @treturn Tensor [N, L, d_model]
function TextEncoder:add_positions(e)
  local L, max = e:size(2), self.config.max_len
  if L > max then error(string.format("models.TextEncoder: sequence of %d positions, max_len is %d", L, max), 4) end
  return self.drop(self.emb_norm(e + self.pos(mg.arange(1, L + 1))))
end

-- The embedding seam of mg.attack.embedding: the token embeddings, and the
-- network from them on (perturbations go in between).

--- The token embeddings of ids, before positions are added (where
-- mg.attack.embedding adds its perturbations).
-- @tparam Tensor ids int64 [N, L] (1-based)
-- @treturn Tensor [N, L, d_model]
function TextEncoder:embed_tokens(ids)
  if not self.tok then error("models.TextEncoder: embed_tokens needs an encoder over token ids", 2) end
  if not mg.is_tensor(ids) or ids.dtype ~= "int64" or ids:dim() ~= 2 then
    error("models.TextEncoder: expects token ids, an int64 Tensor [N, L], got "
      .. (mg.is_tensor(ids) and (ids.dtype .. " " .. shape_str(ids)) or type(ids)), 2)
  end
  return self.tok(ids)
end

--- The hidden states from token embeddings (embed_tokens's output,
-- perturbed or not): forward(ids) is forward_embeddings(embed_tokens(ids)).
-- @tparam Tensor e [N, L, d_model]
-- @tparam[opt] table opts `{padding_mask}` as forward's
-- @treturn Tensor [N, L, d_model]
function TextEncoder:forward_embeddings(e, opts)
  opts = mg.check_options("models.TextEncoder", opts, { "padding_mask" }, 3)
  local x = self:add_positions(e)
  return self.encoder(x, self:_encoder_options(x, opts.padding_mask))
end

--- The hidden states.
-- @tparam Tensor x token ids int64 [N, L] (1-based) or vectors [N, L, input_dim]
-- @tparam[opt] table opts `{padding_mask}`: uint8/int64 [N, L], nonzero at padding positions
--   (never attended)
-- @treturn Tensor [N, L, d_model]
function TextEncoder:forward(x, opts)
  opts = mg.check_options("models.TextEncoder", opts, { "padding_mask" }, 3)
  local e = self:embed(x)
  return self.encoder(e, self:_encoder_options(e, opts.padding_mask))
end

--- The hidden states and every layer's attention weights (for attention
-- maps).
-- @tparam Tensor x as forward's
-- @tparam[opt] table opts as forward's
-- @treturn Tensor hidden states
-- @treturn {Tensor,...} weights [N, H, L, L] of each layer
function TextEncoder:attention_weights(x, opts)
  opts = mg.check_options("models.TextEncoder:attention_weights", opts, { "padding_mask" }, 3)
  local e = self:embed(x)
  return self.encoder:attention_weights(e, self:_encoder_options(e, opts.padding_mask))
end

function TextEncoder:extra_repr()
  local c = self.config
  return string.format("%s, d_model %d, %d heads, %d layers, ff %d, max_len %d%s",
    c.vocab_size and ("vocab " .. c.vocab_size) or ("input_dim " .. c.input_dim), c.d_model, c.nhead,
    c.num_layers, c.dim_feedforward, c.max_len, c.alibi and ", alibi" or "")
end

-- ---- the classifier ------------------------------------------------------------------

--- Logits from the hidden state of the first position ("cls": the [CLS]
-- token a tokenizer puts first) or from the mean over the positions that
-- are not padding ("mean"). Children: encoder, drop, head.
-- @type TransformerClassifier
local TransformerClassifier = nn.Module:extend("models.TransformerClassifier")
M.TransformerClassifier = TransformerClassifier

--- models.TransformerClassifier(encoder, num_classes [, opts]): a new classifier.
-- @tparam TextEncoder encoder
-- @int num_classes
-- @tparam[opt] table opts `{pool = "cls" | "mean", dropout = 0.1}`
function TransformerClassifier:init(encoder, num_classes, opts)
  nn.Module.init(self)
  local who = "models.TransformerClassifier"
  opts = mg.check_options(who, opts, { "pool", "dropout" }, 3)
  if not nn.is_module(encoder) or not encoder.config then
    error(who .. ": encoder must be a models.TextEncoder", 3)
  end
  self.pool = opts.pool or "cls"
  if self.pool ~= "cls" and self.pool ~= "mean" then
    error(who .. ": pool must be \"cls\" or \"mean\", got " .. tostring(self.pool), 3)
  end
  self.encoder = encoder
  self.drop = nn.Dropout(opts.dropout == nil and 0.1 or opts.dropout)
  self.head = nn.Linear(encoder.config.d_model, num_classes)
end

--- The pooled features of the encoder's hidden states.
-- @tparam Tensor h [N, L, d_model]
-- @tparam[opt] Tensor padding_mask [N, L], nonzero at padding
-- @treturn Tensor [N, d_model]
function TransformerClassifier:pooled(h, padding_mask)
  if self.pool == "cls" then return h:select(2, 1) end
  if not padding_mask then return h:mean(2) end
  local keep = padding_mask:float():eq(0):unsqueeze(3) -- [N, L, 1]
  return (h * keep):sum(2) / mg.clamp(keep:sum(2), 1)
end

--- The class logits.
-- @tparam Tensor x as TextEncoder's forward
-- @tparam[opt] table opts `{padding_mask}`
-- @treturn Tensor [N, num_classes]
function TransformerClassifier:forward(x, opts)
  opts = mg.check_options("models.TransformerClassifier", opts, { "padding_mask" }, 3)
  local h = self.encoder(x, opts)
  return self.head(self.drop(self:pooled(h, opts.padding_mask)))
end

--- The token embeddings (the embedding seam of mg.attack.embedding:
-- clf(ids, opts) equals clf:forward_embeddings(clf:embed_tokens(ids), opts)).
-- @tparam Tensor ids int64 [N, L] (1-based)
-- @treturn Tensor [N, L, d_model]
function TransformerClassifier:embed_tokens(ids) return self.encoder:embed_tokens(ids) end

--- The logits from token embeddings.
-- @tparam Tensor e [N, L, d_model]
-- @tparam[opt] table opts `{padding_mask}` as forward's
-- @treturn Tensor logits [N, num_classes]
function TransformerClassifier:forward_embeddings(e, opts)
  opts = mg.check_options("models.TransformerClassifier", opts, { "padding_mask" }, 3)
  local h = self.encoder:forward_embeddings(e, opts)
  return self.head(self.drop(self:pooled(h, opts.padding_mask)))
end

function TransformerClassifier:extra_repr() return "pool " .. self.pool end

-- ---- the masked-token model -------------------------------------------------------

--- BERT's masked-token head on a token encoder: dense (d -> d), GELU,
-- LayerNorm, then logits = h E^T + bias with E the encoder's token
-- embedding (tied: the same parameter, trained by both). Children:
-- encoder, dense, norm; parameter bias [vocab].
-- @type MaskedLM
local MaskedLM = nn.Module:extend("models.MaskedLM")
M.MaskedLM = MaskedLM

--- models.MaskedLM(encoder): a new model.
-- @tparam TextEncoder encoder over token ids
function MaskedLM:init(encoder)
  nn.Module.init(self)
  if not nn.is_module(encoder) or not encoder.tok then
    error("models.MaskedLM: encoder must be a models.TextEncoder over token ids", 3)
  end
  local d = encoder.config.d_model
  self.encoder = encoder
  self.dense = nn.Linear(d, d)
  self.norm = nn.LayerNorm(d)
  self.bias = nn.Parameter(mg.zeros(encoder.config.vocab_size))
end

--- Logits at the masked positions only.
-- @tparam Tensor ids int64 [N, L]
-- @tparam Tensor positions int64 [M], 1-based indices into the flattened [N * L] ids (as
--   mg.text.mlm.mask_tokens returns them)
-- @tparam[opt] table opts `{padding_mask}`
-- @treturn Tensor [M, vocab]
function MaskedLM:forward(ids, positions, opts)
  opts = mg.check_options("models.MaskedLM", opts, { "padding_mask" }, 3)
  local h = self.encoder(ids, opts)
  local d = h:size(3)
  local picked = h:reshape(-1, d):index_select(1, positions)
  local z = self.norm(mg.gelu(self.dense(picked)))
  return mg.linear(z, self.encoder.tok.weight, self.bias)
end

return M
