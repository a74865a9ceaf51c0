--- The k-nearest-neighbour monitor of self-supervised features: during
-- pre-training, how well do the frozen features classify by their nearest
-- labelled neighbours? Labels are read only here, to report a number; no
-- gradient ever sees them. Cosine similarity, the k nearest vote with
-- weights exp(similarity / temperature) (Wu et al. 2018).
-- @module moongrad.ssl
-- @alias M
local mg = require "moongrad"

local M = {}

--- The class of each query by a weighted vote of its k nearest bank rows
-- (cosine similarity; features are normalised here).
-- @tparam Tensor bank [N, D] features
-- @tparam Tensor bank_labels int64 [N], 1-based classes
-- @tparam Tensor queries [Q, D] features
-- @tparam[opt] table opts `{k = 20, temperature = 0.07, classes = max label, batch_size = 256}`
-- @treturn Tensor int64 [Q], 1-based classes
function M.knn_predict(bank, bank_labels, queries, opts)
  opts = opts or {}
  local op = "knn_predict"
  if not (mg.is_tensor(bank) and mg.is_tensor(queries) and mg.is_tensor(bank_labels)) then
    error(op .. ": expected Tensors bank [N, D], bank_labels [N], queries [Q, D]", 2)
  end
  if bank:dim() ~= 2 or queries:dim() ~= 2 or bank:size(2) ~= queries:size(2) then
    error(string.format("%s: bank [%s] and queries [%s] must be [N, D] and [Q, D]", op,
      table.concat(bank:shape(), ", "), table.concat(queries:shape(), ", ")), 2)
  end
  if bank_labels.dtype ~= "int64" or bank_labels:dim() ~= 1 or bank_labels:size(1) ~= bank:size(1) then
    error(string.format("%s: bank_labels must be int64 [%d], got %s [%s]", op, bank:size(1), bank_labels.dtype,
      table.concat(bank_labels:shape(), ", ")), 2)
  end
  local n = bank:size(1)
  local k = math.min(opts.k or 20, n)
  if math.type(k) ~= "integer" or k < 1 then error(op .. ": k must be an integer >= 1", 2) end
  local temperature = opts.temperature or 0.07
  local classes = opts.classes or math.tointeger(bank_labels:float():max():item())
  local bs = opts.batch_size or 256
  return mg.no_grad(function()
    local normalise = function(x) return mg.nn.functional.normalize(x, { dim = 2 }) end
    local b = normalise(bank)
    local parts = {}
    for s = 1, queries:size(1), bs do
      local q = normalise(queries:narrow(1, s, math.min(bs, queries:size(1) - s + 1)))
      local sims, idx = mg.matmul(q, b:t()):topk(k, 2)               -- [m, k]
      local votes = mg.one_hot(bank_labels:index_select(1, idx:view(-1)), classes) -- [m k, C], 1-based classes
      local weights = (sims / temperature):exp():view(-1, 1)
      parts[#parts + 1] = (votes * weights):view(q:size(1), k, classes):sum(2):argmax(2)
    end
    return #parts == 1 and parts[1] or mg.cat(parts, 1)
  end)
end

--- The fraction of queries whose knn_predict class is their label.
-- @tparam Tensor bank [N, D] features
-- @tparam Tensor bank_labels int64 [N]
-- @tparam Tensor queries [Q, D] features
-- @tparam Tensor query_labels int64 [Q]
-- @tparam[opt] table opts as knn_predict's
-- @treturn number
function M.knn_accuracy(bank, bank_labels, queries, query_labels, opts)
  local pred = M.knn_predict(bank, bank_labels, queries, opts)
  return pred:eq(query_labels):float():mean():item()
end

return M
