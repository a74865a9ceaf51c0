-- nn.Embedding: a lookup table of vectors indexed by 1-based int64 ids.
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local init = require "moongrad.nn.initializers"
local args = require "moongrad.nn.args"

local Embedding = Module:extend("nn.Embedding")

-- nn.Embedding(num_embeddings, embedding_dim): weight [num, dim], N(0, 1).
function Embedding:init(num_embeddings, embedding_dim)
  Module.init(self)
  self.num_embeddings = args.positive_int("nn.Embedding", "num_embeddings", num_embeddings)
  self.embedding_dim = args.positive_int("nn.Embedding", "embedding_dim", embedding_dim)
  self.weight = Module.Parameter(mg.empty(self.num_embeddings, self.embedding_dim))
  self:reset_parameters()
end

function Embedding:reset_parameters()
  init.normal_(self.weight, 0, 1)
end

-- nn.Embedding.from_pretrained(weight [, {freeze = true}]): a layer using
-- a copy of weight [num, dim]; frozen (no gradient) unless freeze = false.
function Embedding.from_pretrained(weight, opts)
  if not mg.is_tensor(weight) or weight:dim() ~= 2 then
    error("nn.Embedding.from_pretrained: expects a 2-d Tensor [num, dim]", 2)
  end
  local layer = Embedding(weight:size(1), weight:size(2))
  mg.no_grad(function() layer.weight:copy_(weight) end)
  if not (opts and opts.freeze == false) then layer.weight:requires_grad_(false) end
  return layer
end

-- ids int64 [...] (1-based) -> [..., dim]
function Embedding:forward(ids)
  return mg.embedding(ids, self.weight)
end

function Embedding:extra_repr() return self.num_embeddings .. ", " .. self.embedding_dim end

return Embedding
