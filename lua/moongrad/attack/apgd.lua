-- APGD, auto-PGD (Croce and Hein 2020): projected gradient ascent whose
-- step size the attack sets itself, so that no step size can be chosen
-- badly. Per image, the step starts at 2 eps and is halved at checkpoints
-- (after 22%, then ever shorter stretches, at least 6% of the steps) when
-- the loss rose in fewer than rho (75%) of the steps since the last
-- checkpoint, or when the step was not halved last time and the best loss
-- has not moved since; a halving restarts from the best point found. The
-- steps carry momentum 0.75.
--
-- APGD-T (targeted = true without a target): a run with the targeted DLR
-- loss towards each of the n_targets classes the model rates highest after
-- the label, on the images not yet misclassified. The targets only guide:
-- success is any misclassification.
local mg = require "moongrad"
local losses = require "moongrad.attack.losses"

local M = {}

local KNOWN = { "eps", "norm", "steps", "loss", "targeted", "target", "n_targets", "restarts", "rho", "random_start" }

-- The loss to ascend and whether each image is a success, for a run
-- towards `target` (nil: untargeted). `explicit`: the caller gave the
-- target, so success is reaching it; otherwise success is a
-- misclassification.
local function objective_of(o, target, explicit)
  return function(logits, labels)
    if logits:dim() ~= 2 then
      error("apgd: the model must return logits [N, C], got " .. logits:dim() .. " dims", 0)
    end
    local loss
    if o.loss == "dlr" then
      if logits:size(2) < 3 then
        error("apgd: the DLR loss needs at least 3 classes, the model gave " .. logits:size(2), 0)
      end
      loss = target and losses.dlr_targeted(logits, labels, target) or losses.dlr(logits, labels)
    elseif target then
      loss = -mg.cross_entropy(logits, target, { reduction = "none" })
    else
      loss = mg.cross_entropy(logits, labels, { reduction = "none" })
    end
    local pred = logits:argmax(2)
    return loss, explicit and pred:eq(target) or pred:ne(labels)
  end
end

-- Iteration numbers (1-based, after the step) at which APGD checks its
-- progress (documented where mg.attack exports it as apgd_checkpoints).
function M.checkpoints(steps)
  local first = math.max(math.floor(0.22 * steps), 1)
  local shortest = math.max(math.floor(0.06 * steps), 1)
  local shrink = math.max(math.floor(0.03 * steps), 1)
  local out, at, length = {}, 0, first
  while at + length <= steps do
    at = at + length
    out[#out + 1] = at
    length = math.max(length - shrink, shortest)
  end
  return out
end

-- One APGD run from `start` on images x0 with labels y. Returns the best
-- point per image {x, obj, success} over the clean image and all iterates
-- (success first, then the higher loss).
local function run(S, model, x0, y, o, objective, start)
  local lo, hi
  if o.norm ~= "l2" then lo, hi = S.linf_bounds(x0, o.eps) end
  local shape = S.row_shape(x0)
  local n = x0:size(1)

  local function grad_at(x)
    local xg = x:detach():requires_grad_()
    local loss, success = objective(model(xg), y)
    local g = mg.grad(loss:sum(), { xg })[1]
    return g, loss:detach(), success
  end
  local function step_dir(g)
    if o.norm == "l2" then return g / (S.l2_norms(g) + 1e-12) end
    return g:sign()
  end

  local best = {}
  local clean_obj, clean_success = mg.no_grad(function() return objective(model(x0), y) end)
  S.merge(best, { x = x0, obj = clean_obj, success = clean_success })

  local x = start
  local g, loss, success = grad_at(x)
  S.merge(best, { x = x, obj = loss, success = success })
  -- the highest-loss point (the run's own best, regardless of success)
  local x_max, g_max, loss_max = x, g, loss
  local step = mg.full(shape, 2 * o.eps)
  local x_prev = x
  local checks, next_check = M.checkpoints(o.steps), 1
  local last_check, rises = 0, mg.zeros(n)
  local halved_last, loss_max_last = mg.zeros(n), loss_max
  for i = 1, o.steps do
    local momentum = i == 1 and 1 or 0.75
    mg.no_grad(function()
      local z = S.project(x + step_dir(g) * step, x0, o, lo, hi)
      local x_new = S.project(x + (z - x) * momentum + (x - x_prev) * (1 - momentum), x0, o, lo, hi)
      x_prev, x = x, x_new
    end)
    local loss_prev = loss
    g, loss, success = grad_at(x)
    S.merge(best, { x = x, obj = loss, success = success })
    mg.no_grad(function()
      rises = rises + loss:gt(loss_prev)
      local up = loss:gt(loss_max)
      local up_rows = up:reshape(shape)
      x_max, g_max = mg.where(up_rows, x, x_max), mg.where(up_rows, g, g_max)
      loss_max = mg.where(up, loss, loss_max)
      if i == checks[next_check] then
        local stretch = i - last_check
        local oscillating = rises:le(o.rho * stretch)
        local stalled = (1 - halved_last) * loss_max_last:ge(loss_max)
        local halve = (oscillating + stalled):gt(0)
        local rows = halve:reshape(shape)
        step = mg.where(rows, step * 0.5, step)
        x, g = mg.where(rows, x_max, x), mg.where(rows, g_max, g)
        halved_last, loss_max_last = halve, loss_max
        rises = mg.zeros(n)
        last_check, next_check = i, next_check + 1
      end
    end)
  end
  return best
end

--- apgd(model, images, labels, opts) -> adversarial images.
-- opts: eps (0.3; l2: 2.0), norm ("linf" | "l2"), steps (100),
-- loss ("ce" | "dlr"; default "ce", "dlr" when targeted),
-- targeted (false): with target (int64 [N], "random" or "least_likely"),
--   a classic targeted attack (success: classified as the target);
--   without, APGD-T: one run per class among the n_targets (9, at most
--   C - 1) the model rates highest after the label, on the images not yet
--   misclassified (success: misclassified).
-- restarts (1): further runs from new random points on the images not
-- fooled yet; rho (0.75): the share of rising steps below which the step
-- is halved; random_start (true).
-- Returns per image the first point found that fools the model, else the
-- point with the highest loss (the clean image when nothing beat it).
function M.apgd(S, model, images, labels, opts)
  local o = S.check_args("apgd", model, images, labels, opts, KNOWN, true)
  S.check_pixels("apgd", images)
  o.eps = o.eps or (o.norm == "l2" and 2.0 or 0.3)
  o.steps = o.steps or 100
  o.loss = o.loss or (o.targeted and "dlr" or "ce")
  if o.loss ~= "ce" and o.loss ~= "dlr" then
    error("apgd: loss must be \"ce\" or \"dlr\", got " .. S.describe(o.loss), 2)
  end
  o.restarts = o.restarts or 1
  if not S.is_count(o.restarts, 1) then
    error("apgd: restarts must be an integer >= 1, got " .. S.describe(o.restarts), 2)
  end
  if o.n_targets ~= nil and not S.is_count(o.n_targets, 1) then
    error("apgd: n_targets must be an integer >= 1, got " .. S.describe(o.n_targets), 2)
  end
  o.rho = o.rho or 0.75
  if type(o.rho) ~= "number" or o.rho < 0 or o.rho > 1 then
    error("apgd: rho must be a number in [0, 1], got " .. S.describe(o.rho), 2)
  end
  local n = images:size(1)
  return S.attack_context(model, function()
    local explicit = o.targeted and o.target ~= nil
    -- the runs: {target = int64 [N] or nil}; APGD-T takes the top classes
    local runs = {}
    if explicit then
      runs[1] = { target = S.resolve_target(model, images, labels, o) }
    elseif o.targeted then
      local logits = mg.no_grad(function() return model(images) end)
      local classes = logits:size(2)
      if classes < 2 then error("apgd: a targeted attack needs at least 2 classes, the model gave " .. classes, 0) end
      local k = math.min(o.n_targets or 9, classes - 1)
      local top = losses.top_classes(logits, k + 1)
      -- the k highest classes other than the label
      local skip = top:eq(labels:reshape(-1, 1)):long()
      local before = mg.zeros(n):long()
      for j = 1, k do
        before = before + skip:select(2, j)
        local pick = mg.minimum((before + j):reshape(-1, 1), mg.full({ n, 1 }, k + 1):long())
        runs[j] = { target = top:gather(2, pick):reshape(-1) }
      end
    else
      runs[1] = {}
    end
    local best = {}
    for _, r in ipairs(runs) do
      for attempt = 1, o.restarts do
        -- the first run covers every image; later ones only those not fooled
        local rows = best.x and S.rows_off(best.success) or nil
        if rows and #rows == 0 then return best.x end
        local x0, y, t = images, labels, r.target
        if rows and #rows < n then
          local index = mg.tensor(rows, { dtype = "int64" })
          x0, y = images:index_select(1, index), labels:index_select(1, index)
          t = t and t:index_select(1, index)
        else
          rows = nil
        end
        local start = (o.random_start == false and attempt == 1) and x0:clone() or S.random_start(x0, o)
        local cand = run(S, model, x0, y, o, objective_of(o, t, explicit), start)
        S.merge(best, cand, rows, n)
      end
    end
    return best.x
  end)
end

return M
