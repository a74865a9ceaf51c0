--- nn.Embedding: a lookup table of vectors indexed by 1-based int64 ids.
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local init = require "moongrad.nn.initializers"
local args = require "moongrad.nn.args"

--- A lookup table of vectors indexed by 1-based int64 ids; weight
-- [num_embeddings, embedding_dim] drawn from N(0, 1).
-- @type Embedding
-- @usage local emb = nn.Embedding(10000, 64)
-- local vectors = emb(ids)   -- int64 [N, T] -> [N, T, 64]
local Embedding = Module:extend("nn.Embedding")

--- nn.Embedding(num_embeddings, embedding_dim): a new layer.
-- @int num_embeddings how many ids (1..num_embeddings)
-- @int embedding_dim the size of each vector
function Embedding:init(num_embeddings, embedding_dim)
  Module.init(self)
  self.num_embeddings = args.positive_int("nn.Embedding", "num_embeddings", num_embeddings)
  self.embedding_dim = args.positive_int("nn.Embedding", "embedding_dim", embedding_dim)
  self.weight = Module.Parameter(mg.empty(self.num_embeddings, self.embedding_dim))
  self:reset_parameters()
end

--- Draws fresh weights from N(0, 1).
function Embedding:reset_parameters()
  init.normal_(self.weight, 0, 1)
end

--- A layer using a copy of the given vectors; frozen (no gradient) unless
-- opts.freeze is false.
-- @tparam Tensor weight [num, dim]
-- @tparam[opt] table opts `{freeze = true}`
-- @treturn Embedding
function Embedding.from_pretrained(weight, opts)
  if not mg.is_tensor(weight) or weight:dim() ~= 2 then
    error("nn.Embedding.from_pretrained: expects a 2-d Tensor [num, dim]", 2)
  end
  local layer = Embedding(weight:size(1), weight:size(2))
  mg.no_grad(function() layer.weight:copy_(weight) end)
  if not (opts and opts.freeze == false) then layer.weight:requires_grad_(false) end
  return layer
end

--- Looks the ids up.
-- @tparam Tensor ids int64 [...], 1-based
-- @treturn Tensor [..., dim]
function Embedding:forward(ids)
  return mg.embedding(ids, self.weight)
end

function Embedding:extra_repr() return self.num_embeddings .. ", " .. self.embedding_dim end

return Embedding
