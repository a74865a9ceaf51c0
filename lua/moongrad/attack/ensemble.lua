-- An ensemble of attacks run in sequence (Croce and Hein's AutoAttack
-- protocol): each attack only sees the images that the model still
-- classifies right after every attack before it, so the robust accuracy
-- reported is that of the strongest attack per image, and the cheap
-- attacks spare the expensive ones most of the work. The standard set is
-- APGD-CE, APGD-T (targeted DLR) and Square: two gradient attacks whose
-- step sizes need no tuning, and a random search that does not read
-- gradients at all, so gradient masking cannot fool the whole set.
local mg = require "moongrad"
local R = require "moongrad.attack.rows"

local M = {}

-- The standard attacks, in evaluate's format (documented where mg.attack
-- exports them as ensemble_attacks).
function M.ensemble_attacks(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("ensemble_attacks: options must be a table, got " .. type(opts), 2) end
  local norm, steps, queries = opts.norm or "linf", opts.steps or 100, opts.queries or 5000
  local list = {
    { name = "apgd", label = "apgd_ce", loss = "ce", steps = steps, norm = norm },
    { name = "apgd", label = "apgd_t", loss = "dlr", targeted = true, n_targets = opts.n_targets or 9,
      steps = steps, norm = norm },
  }
  if queries > 0 and norm == "linf" then
    list[#list + 1] = { name = "square", label = "square", queries = queries }
  end
  return list
end

--- ensemble(S, model, images, labels, opts) -> adversarial images, report
-- opts: eps; attacks (a list in evaluate's format; default
-- ensemble_attacks(opts)); norm, steps, n_targets, queries (for the
-- default list). Only the images classified right are attacked; each
-- attack only those that survived the ones before it.
-- Returns per image the first adversarial example found (the clean image
-- when none was), and report = {clean = images right, right = {k = images
-- still right after attacks 1..k}, attacks = labels in order, fooled_by =
-- per image the label of the attack that fooled it, or false}.
function M.ensemble(S, model, images, labels, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("ensemble: options must be a table, got " .. type(opts), 2) end
  if type(opts.eps) ~= "number" or opts.eps < 0 then
    error("ensemble: eps must be a number >= 0, got " .. S.describe(opts.eps), 2)
  end
  if not mg.is_tensor(images) or images.dtype ~= "float32" or images:dim() < 2 then
    error("ensemble: images must be a float32 Tensor [N, ...], got " .. S.describe(images), 2)
  end
  local n = images:size(1)
  if not mg.is_tensor(labels) or labels.dtype ~= "int64" or labels:dim() ~= 1 or labels:size(1) ~= n then
    error(string.format("ensemble: labels must be an int64 Tensor [%d], got %s", n, S.describe(labels)), 2)
  end
  local attacks = opts.attacks or M.ensemble_attacks(opts)
  local order = S.check_attack_list("ensemble", attacks, 3)
  return S.attack_context(model, function()
    local function right_of(x, y) return mg.no_grad(function() return model(x):argmax(2):eq(y) end) end
    local adv = images
    local fooled_by = {}
    local alive = {} -- indices (into the batch) of the images still right
    for i, v in ipairs(right_of(images, labels):totable()) do
      fooled_by[i] = false
      if v ~= 0 then alive[#alive + 1] = i end
    end
    local report = { clean = #alive, right = {}, attacks = order, fooled_by = fooled_by }
    for k, a in ipairs(attacks) do
      if #alive > 0 and opts.eps > 0 then
        local index = mg.tensor(alive, { dtype = "int64" })
        local x, y = images:index_select(1, index), labels:index_select(1, index)
        local out = S.run_attack(model, a, x, y, opts.eps)
        local ok = right_of(out, y):totable()
        local fooled, still = {}, {}
        for j, v in ipairs(ok) do
          if v == 0 then
            fooled[#fooled + 1] = j
            fooled_by[alive[j]] = order[k]
          else
            still[#still + 1] = alive[j]
          end
        end
        if #fooled > 0 then
          local rows = {}
          for j, f in ipairs(fooled) do rows[j] = alive[f] end
          local sub = out:index_select(1, mg.tensor(fooled, { dtype = "int64" }))
          adv = R.put(adv, sub, rows, n)
        end
        alive = still
      end
      report.right[k] = #alive
    end
    return adv, report
  end)
end

return M
