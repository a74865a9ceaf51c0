--- Per-example losses that the attacks ascend (APGD) or descend (Square),
-- computed from a classifier's logits [N, C] and int64 1-based labels [N]
-- (mg.attack.losses).
--
-- DLR, the difference of logits ratio (Croce and Hein 2020), is the
-- margin divided by the spread of the top logits, so rescaling the logits
-- (as a model that saturates its softmax does) leaves it unchanged; cross-
-- entropy's gradient vanishes in that case, DLR's does not.
-- @module moongrad.attack.losses
-- @alias M
local mg = require "moongrad"

local M = {}

-- Gathers logits [N, C] at int64 classes [N] -> [N] (differentiable).
local function at(logits, classes)
  return logits:gather(2, classes:reshape(-1, 1)):reshape(-1)
end

local function check(name, logits, labels, min_classes)
  if not mg.is_tensor(logits) or logits.dtype ~= "float32" or logits:dim() ~= 2 then
    error(name .. ": logits must be a float32 Tensor [N, C]", 3)
  end
  if logits:size(2) < min_classes then
    error(string.format("%s: needs at least %d classes, the model gave %d", name, min_classes, logits:size(2)), 3)
  end
  if not mg.is_tensor(labels) or labels.dtype ~= "int64" or labels:dim() ~= 1 or labels:size(1) ~= logits:size(1) then
    error(string.format("%s: labels must be an int64 Tensor [%d] of 1-based classes", name, logits:size(1)), 3)
  end
end

--- Per row the classes of the k largest logits, largest first (ties: the
-- lower class first). No graph.
-- @tparam Tensor logits [N, C]
-- @int k
-- @treturn Tensor int64 [N, k]
function M.top_classes(logits, k)
  local _, classes = logits:detach():topk(k, 2)
  return classes
end

--- The difference of logits ratio: -(z_y - max_{i != y} z_i) / (z_pi1 -
-- z_pi3), with z_pi1 >= z_pi2 >= z_pi3 the sorted logits. Positive once the
-- image is misclassified; attacks ascend it.
-- @tparam Tensor logits [N, C], C >= 3
-- @tparam Tensor labels int64 [N]
-- @treturn Tensor [N]
function M.dlr(logits, labels)
  check("dlr", logits, labels, 3)
  local top = M.top_classes(logits, 3)
  local z1, z2, z3 = at(logits, top:select(2, 1)), at(logits, top:select(2, 2)), at(logits, top:select(2, 3))
  local zy = at(logits, labels)
  local y_first = top:select(2, 1):eq(labels):reshape(-1)
  local other = mg.where(y_first, z2, z1) -- the best logit of another class
  return -(zy - other) / (z1 - z3 + 1e-12)
end

--- The targeted DLR: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2); with 3
-- classes z_pi4 is taken as z_pi3. Attacks ascend it to push the target
-- over the label.
-- @tparam Tensor logits [N, C], C >= 3
-- @tparam Tensor labels int64 [N]
-- @tparam Tensor target int64 [N]
-- @treturn Tensor [N]
function M.dlr_targeted(logits, labels, target)
  check("dlr_targeted", logits, labels, 3)
  check("dlr_targeted", logits, target, 3)
  local k = math.min(4, logits:size(2))
  local top = M.top_classes(logits, k)
  local z1, z3 = at(logits, top:select(2, 1)), at(logits, top:select(2, 3))
  local z4 = k == 4 and at(logits, top:select(2, 4)) or z3
  return -(at(logits, labels) - at(logits, target)) / (z1 - (z3 + z4) * 0.5 + 1e-12)
end

-- The largest logit of a class other than `classes` [N] -> [N].
local function best_other(logits, classes)
  local masked = logits:masked_fill(mg.one_hot(classes, logits:size(2)), -math.huge)
  return (masked:max(2))
end

--- z_y - max_{i != y} z_i; negative once the image is misclassified.
-- Square descends it.
-- @tparam Tensor logits [N, C]
-- @tparam Tensor labels int64 [N]
-- @treturn Tensor [N]
function M.margin(logits, labels)
  check("margin", logits, labels, 2)
  return at(logits, labels) - best_other(logits, labels)
end

--- max_{i != t} z_i - z_t; negative once the image is classified as the
-- target.
-- @tparam Tensor logits [N, C]
-- @tparam Tensor target int64 [N]
-- @treturn Tensor [N]
function M.margin_targeted(logits, target)
  check("margin_targeted", logits, target, 2)
  return best_other(logits, target) - at(logits, target)
end

return M
