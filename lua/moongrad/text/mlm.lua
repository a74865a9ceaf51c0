--- Masked-token pre-training, BERT's recipe (Devlin et al. 2019): a
-- fraction `prob` (15%) of the ordinary tokens is chosen; of those, 80%
-- are replaced by [MASK], 10% by a random ordinary token and 10% kept as
-- they are. The model predicts the original token at the chosen positions
-- only (models.MaskedLM gives logits there and nowhere else).
-- @module moongrad.text.mlm
-- @alias M
local mg = require "moongrad"

local M = {}

local OPTIONS = { "mask_id", "special_ids", "random_range", "prob", "mask_frac", "random_frac" }

local function check_fraction(name, v)
  if type(v) ~= "number" or v < 0 or v > 1 then
    error(string.format("mlm.mask_tokens: %s must be a number in [0, 1], got %s", name, tostring(v)), 3)
  end
  return v
end

--- Corrupts token ids for masked-token training. Draws from the global RNG.
-- @tparam Tensor ids int64 [N, L] token ids (1-based)
-- @tparam table opts `mask_id` (the [MASK] token's id; required), `special_ids` (ids never
--   chosen: [PAD], [CLS], [SEP], ...; a list), `random_range = {lo, hi}` (random replacements
--   are drawn uniformly from lo..hi, the ordinary tokens' ids; required), `prob = 0.15,
--   mask_frac = 0.8, random_frac = 0.1`
-- @treturn Tensor the corrupted ids, int64 [N, L]
-- @treturn Tensor positions, int64 [M]: 1-based indices into the flattened ids of the M chosen
--   tokens (at least one when any token can be chosen)
-- @treturn Tensor targets, int64 [M]: their original ids
-- @usage local inputs, positions, targets = mg.text.mlm.mask_tokens(ids,
--   {mask_id = tok.mask_id, special_ids = {tok.pad_id, tok.cls_id, tok.sep_id}, random_range = {6, #tok}})
-- local loss = mg.cross_entropy(mlm_model(inputs, positions), targets)
function M.mask_tokens(ids, opts)
  opts = mg.check_options("mlm.mask_tokens", opts, OPTIONS, 2)
  if not mg.is_tensor(ids) or ids.dtype ~= "int64" or ids:dim() ~= 2 then
    error("mlm.mask_tokens: ids must be an int64 Tensor [N, L]", 2)
  end
  if math.type(opts.mask_id) ~= "integer" then error("mlm.mask_tokens: mask_id (an integer id) is required", 2) end
  local range = opts.random_range
  if type(range) ~= "table" or math.type(range[1]) ~= "integer" or math.type(range[2]) ~= "integer"
    or range[1] > range[2] then
    error("mlm.mask_tokens: random_range must be {lo, hi}, the ordinary tokens' ids", 2)
  end
  local prob = check_fraction("prob", opts.prob or 0.15)
  local mask_frac = check_fraction("mask_frac", opts.mask_frac or 0.8)
  local random_frac = check_fraction("random_frac", opts.random_frac or 0.1)
  if mask_frac + random_frac > 1 then error("mlm.mask_tokens: mask_frac + random_frac must be at most 1", 2) end
  local N, L = ids:size(1), ids:size(2)
  local idf = ids:float()
  local eligible = mg.ones(N, L)
  for _, s in ipairs(opts.special_ids or {}) do eligible = eligible * idf:ne(s) end
  local chosen = mg.rand(N, L):lt(prob) * eligible
  local flat = chosen:view(-1)
  local count = math.tointeger(flat:sum():item())
  if count == 0 then -- a short batch: take its first ordinary token rather than nothing
    local first = eligible:view(-1):argmax():item()
    if eligible:view(-1)[first]:item() == 0 then
      error("mlm.mask_tokens: the batch has no token that may be chosen", 2)
    end
    flat[first] = 1
    count = 1
  end
  local positions = flat:argsort(1, true):narrow(1, 1, count)
  local targets = ids:view(-1):index_select(1, positions)
  -- what each chosen token becomes, drawn over the whole grid (ids < 2^24
  -- are exact in float32): u < mask_frac -> [MASK], then a random token
  local u = mg.rand(N, L)
  local random_ids = mg.randint(range[1], range[2] + 1, { N, L }):float()
  local to_mask = chosen * u:lt(mask_frac)
  local to_random = chosen * u:ge(mask_frac) * u:lt(mask_frac + random_frac)
  local inputs = mg.where(to_mask, mg.full({ N, L }, opts.mask_id), mg.where(to_random, random_ids, idf))
  return inputs:long(), positions, targets
end

return M
