--- A small text classifier for adversarial training on embeddings: token
-- embeddings normalised as Miyato et al. (2017) do, their mean over the
-- tokens that are not padding, dropout, a linear layer. It has the
-- embedding seam of mg.attack.embedding (embed_tokens and
-- forward_embeddings), so embedding-space attacks and adversarial training
-- can reach it without patching it.
-- @module moongrad.models
local mg = require "moongrad"
local nn = mg.nn

local M = {}

-- ---- the normalised embedding -------------------------------------------------------

--- A lookup table whose rows are normalised before every lookup:
-- v' = (v - E[v]) / sqrt(Var[v]), mean and variance per dimension over the
-- vocabulary weighted by the token frequencies (uniform when none given;
-- they are normalised to sum to 1 and kept as a buffer). Adversarial
-- perturbations of a fixed norm are only meaningful against embeddings of
-- a fixed scale: otherwise training just inflates the embeddings until
-- the perturbation is negligible (Miyato et al., section 3).
-- @type NormalizedEmbedding
local NormalizedEmbedding = nn.Module:extend("models.NormalizedEmbedding")
M.NormalizedEmbedding = NormalizedEmbedding

--- models.NormalizedEmbedding(num_embeddings, dim [, opts]): a new table.
-- @int num_embeddings
-- @int dim
-- @tparam[opt] table opts `{frequencies = float [V]}`
function NormalizedEmbedding:init(num_embeddings, dim, opts)
  nn.Module.init(self)
  local who = "models.NormalizedEmbedding"
  opts = mg.check_options(who, opts, { "frequencies" }, 3)
  if math.type(num_embeddings) ~= "integer" or num_embeddings < 1 or math.type(dim) ~= "integer" or dim < 1 then
    error(who .. ": expects positive integers num_embeddings, dim", 3)
  end
  local f = opts.frequencies
  if f == nil then
    f = mg.ones(num_embeddings)
  elseif not mg.is_tensor(f) or f:dim() ~= 1 or f:size(1) ~= num_embeddings then
    error(string.format("%s: frequencies must be a float Tensor [%d]", who, num_embeddings), 3)
  end
  f = f:float()
  local total = f:sum():item()
  if total ~= total or total <= 0 or f:min():item() < 0 then
    error(who .. ": frequencies must be >= 0 with a positive sum", 3)
  end
  self.num_embeddings, self.embedding_dim = num_embeddings, dim
  self.weight = nn.Parameter(mg.randn(num_embeddings, dim))
  self:register_buffer("frequencies", (f / total):reshape(1, num_embeddings))
end

--- The normalised table [V, dim] (differentiable w.r.t. weight).
function NormalizedEmbedding:normalized_weight()
  local w, f = self.weight, self.frequencies
  local mean = f:matmul(w)                -- [1, dim]
  local centred = w - mean
  local var = f:matmul(centred:square())  -- [1, dim]
  return centred / (var + 1e-6):sqrt()
end

--- Looks the ids up in the normalised table.
-- @tparam Tensor ids int64 [...] (1-based)
-- @treturn Tensor [..., dim]
function NormalizedEmbedding:forward(ids)
  return mg.embedding(ids, self:normalized_weight())
end

function NormalizedEmbedding:extra_repr() return self.num_embeddings .. ", " .. self.embedding_dim end

-- ---- the classifier -------------------------------------------------------------------

--- logits = Linear(dropout(mean of the token embeddings over the tokens
-- that are not padding)). Children: embedding, drop, head. It has the
-- embedding seam of mg.attack.embedding (embed_tokens and
-- forward_embeddings).
-- @type BagClassifier
-- @usage local clf = mg.models.BagClassifier{vocab_size = #tok, classes = 2}
-- local loss = mg.attack.embedding.training_loss(clf, ids, labels, {method = "fgm", padding_mask = pad})
local BagClassifier = nn.Module:extend("models.BagClassifier")
M.BagClassifier = BagClassifier

local OPTIONS = { "vocab_size", "dim", "classes", "frequencies", "dropout", "normalize" }

--- models.BagClassifier(opts): a new classifier.
-- @tparam table opts `{vocab_size (required), dim = 64, classes = 2, frequencies, dropout = 0.2,
--   normalize = true}`; normalize = false uses a plain nn.Embedding (N(0, 1))
function BagClassifier:init(opts)
  nn.Module.init(self)
  local who = "models.BagClassifier"
  opts = mg.check_options(who, opts, OPTIONS, 3)
  if math.type(opts.vocab_size) ~= "integer" or opts.vocab_size < 1 then
    error(who .. ": vocab_size must be a positive integer, got " .. tostring(opts.vocab_size), 3)
  end
  local dim = opts.dim or 64
  if opts.normalize == false then
    self.embedding = nn.Embedding(opts.vocab_size, dim)
  else
    self.embedding = NormalizedEmbedding(opts.vocab_size, dim, { frequencies = opts.frequencies })
  end
  self.drop = nn.Dropout(opts.dropout == nil and 0.2 or opts.dropout)
  self.head = nn.Linear(dim, opts.classes or 2)
end

--- The token embeddings (the seam's input side).
-- @tparam Tensor ids int64 [N, L]
-- @treturn Tensor [N, L, dim]
function BagClassifier:embed_tokens(ids)
  if not mg.is_tensor(ids) or ids.dtype ~= "int64" or ids:dim() ~= 2 then
    error("models.BagClassifier: expects token ids, an int64 Tensor [N, L]", 3)
  end
  return self.embedding(ids)
end

--- The network after the token embeddings.
-- @tparam Tensor e [N, L, dim]
-- @tparam[opt] table opts `{padding_mask}`: [N, L], nonzero at padding positions (left out of
--   the mean)
-- @treturn Tensor logits [N, classes]
function BagClassifier:forward_embeddings(e, opts)
  opts = mg.check_options("models.BagClassifier", opts, { "padding_mask" }, 3)
  local pooled
  if opts.padding_mask then
    local keep = opts.padding_mask:float():eq(0):unsqueeze(3) -- [N, L, 1]
    pooled = (e * keep):sum(2) / mg.clamp(keep:sum(2), 1)
  else
    pooled = e:mean(2)
  end
  return self.head(self.drop(pooled))
end

--- The logits of token ids.
-- @tparam Tensor ids int64 [N, L]
-- @tparam[opt] table opts `{padding_mask}`
-- @treturn Tensor [N, classes]
function BagClassifier:forward(ids, opts)
  return self:forward_embeddings(self:embed_tokens(ids), opts)
end

return M
