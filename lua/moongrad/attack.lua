--- Adversarial attacks on image classifiers, robust evaluation, and the
-- losses of adversarial training.
--
-- Every attack takes (model, images, labels, opts) and returns adversarial
-- images. Inputs are pixels in [0, 1] (normalisation belongs inside the
-- model); labels are int64 1-based classes. The model is put in eval mode
-- for the attack and every module's mode is restored after; only gradients
-- with respect to the input are computed (mg.grad), so the parameters'
-- .grad are left untouched. Results stay inside the eps ball around the
-- clean images and inside [0, 1]. The caller's tensors are never modified.
--
-- Options shared by the attacks: `eps` (the radius of the ball; L-inf: per
-- pixel, L2: per image), `norm` ("linf", the default, or "l2"), `alpha`
-- (the step size), `steps` (the number of steps), `targeted` (true: move
-- towards opts.target instead of away from the label), `target` (int64 [N]
-- 1-based classes, or "random": a uniformly drawn class other than the
-- label, or "least_likely": the class the model rates lowest on the clean
-- image), `loss_fn` (loss_fn(logits, labels) -> per-example losses [N] to
-- ascend; default cross-entropy). The iterative attacks default to eps 2.0
-- for norm "l2".
--
-- Beside fgsm, bim, pgd, mifgsm and gradient_ascent: apgd (APGD-CE and
-- APGD-T, attack/apgd.lua), square (gradient-free, attack/square.lua),
-- ensemble (attacks in sequence, each on the survivors of the ones before),
-- losses (dlr, dlr_targeted, margin), embedding (fgm, pgd, freelb_step and
-- training_loss for text models) and synonym (word substitutions).
-- @module moongrad.attack
-- @alias M
-- @usage local x_adv = mg.attack.pgd(model, images, labels, {eps = 0.3, steps = 40})
-- local r = mg.attack.evaluate(model, test_loader, {eps = {0, 0.1, 0.3}})
local mg = require "moongrad"

local M = {}

-- ---- argument checks ------------------------------------------------------------

local function describe(v)
  if mg.is_tensor(v) then
    return string.format("a %s Tensor [%s]", v.dtype, table.concat(v:shape(), ", "))
  end
  return type(v) == "string" and string.format("'%s'", v) or tostring(v)
end

local KNOWN = {
  fgsm = { "eps", "norm", "alpha", "random_start", "targeted", "target", "loss_fn" },
  bim = { "eps", "norm", "alpha", "steps", "targeted", "target", "loss_fn", "keep_best" },
  mifgsm = { "eps", "norm", "alpha", "steps", "decay", "targeted", "target", "loss_fn", "keep_best" },
  pgd = { "eps", "norm", "alpha", "steps", "restarts", "random_start", "start", "targeted", "target",
          "loss_fn", "keep_best" },
  gradient_ascent = { "step", "steps", "eps", "norm", "targeted", "target", "loss_fn" },
}

local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

local function is_count(v, min)
  return math.type(v) == "integer" and v >= min
end

-- Checks the arguments of attack `name` (errors blame the attack's caller)
-- and returns a fresh options table with the defaults of every attack.
-- known: the allowed option names (default KNOWN[name]); auto_target: the
-- attack may be targeted without opts.target (it picks its own targets).
local function check_args(name, model, images, labels, opts, known, auto_target)
  local level = 3
  if not is_callable(model) then
    error(name .. ": model must be callable (an nn.Module or a function), got " .. type(model), level)
  end
  if not mg.is_tensor(images) or images.dtype ~= "float32" or images:dim() < 2 then
    error(name .. ": images must be a float32 Tensor [N, ...] of pixels in [0, 1], got " .. describe(images), level)
  end
  local n = images:size(1)
  if not mg.is_tensor(labels) or labels.dtype ~= "int64" or labels:dim() ~= 1 or labels:size(1) ~= n then
    error(string.format("%s: labels must be an int64 Tensor [%d] of 1-based classes, got %s",
      name, n, describe(labels)), level)
  end
  local o = {}
  for k, v in pairs(mg.check_options(name, opts, known or KNOWN[name], level)) do o[k] = v end
  if o.eps ~= nil and (type(o.eps) ~= "number" or o.eps < 0 or o.eps ~= o.eps) then
    error(name .. ": eps must be a number >= 0, got " .. describe(o.eps), level)
  end
  o.norm = o.norm or "linf"
  if o.norm ~= "linf" and o.norm ~= "l2" then
    error(name .. ": norm must be \"linf\" or \"l2\", got " .. describe(o.norm), level)
  end
  if o.alpha ~= nil and (type(o.alpha) ~= "number" or o.alpha < 0) then
    error(name .. ": alpha (the step size) must be a number >= 0, got " .. describe(o.alpha), level)
  end
  if o.steps ~= nil and not is_count(o.steps, 0) then
    error(name .. ": steps must be an integer >= 0, got " .. describe(o.steps), level)
  end
  if o.restarts ~= nil and not is_count(o.restarts, 1) then
    error(name .. ": restarts must be an integer >= 1, got " .. describe(o.restarts), level)
  end
  if o.decay ~= nil and (type(o.decay) ~= "number" or o.decay < 0) then
    error(name .. ": decay must be a number >= 0, got " .. describe(o.decay), level)
  end
  if o.step ~= nil and (type(o.step) ~= "number" or o.step <= 0) then
    error(name .. ": step must be a number > 0, got " .. describe(o.step), level)
  end
  if o.loss_fn ~= nil and not is_callable(o.loss_fn) then
    error(name .. ": loss_fn must be a function(logits, labels) -> per-example losses, got " .. type(o.loss_fn), level)
  end
  if o.start ~= nil and (not mg.is_tensor(o.start) or o.start.dtype ~= "float32" or
      table.concat(o.start:shape(), ",") ~= table.concat(images:shape(), ",")) then
    error(string.format("%s: start must be a float32 Tensor [%s] like the images, got %s", name,
      table.concat(images:shape(), ", "), describe(o.start)), level)
  end
  if o.targeted then
    local t = o.target
    if t == nil then
      if auto_target then return o end
      error(name .. ": a targeted attack needs opts.target (int64 [N] classes, \"random\" or \"least_likely\")", level)
    elseif type(t) == "string" then
      if t ~= "random" and t ~= "least_likely" then
        error(name .. ": target must be an int64 Tensor, \"random\" or \"least_likely\", got " .. describe(t), level)
      end
    elseif not mg.is_tensor(t) or t.dtype ~= "int64" or t:dim() ~= 1 or t:size(1) ~= n then
      error(string.format("%s: target must be an int64 Tensor [%d] of 1-based classes, got %s",
        name, n, describe(t)), level)
    end
  elseif o.target ~= nil then
    error(name .. ": opts.target given without targeted = true", level)
  end
  return o
end

-- ---- shared pieces ----------------------------------------------------------------

local function per_example_ce(logits, labels)
  return mg.cross_entropy(logits, labels, { reduction = "none" })
end

-- Runs fn with the model in eval mode and grad mode on; afterwards every
-- module gets back its own mode and the grad mode is restored (also on error).
local function attack_context(model, fn)
  local module = type(model) == "table" and type(model.modules) == "function" and model or {} -- a function has no mode
  return mg.nn.utils.eval_mode(module, mg.enable_grad, fn)
end

-- Shape {N, 1, 1, ...}: per-example values that broadcast over images like t.
local function row_shape(t)
  local shape = { t:size(1) }
  for _ = 2, t:dim() do shape[#shape + 1] = 1 end
  return shape
end

-- Per-example L2 norms of t, shaped {N, 1, 1, ...}.
local function l2_norms(t)
  return t:reshape(t:size(1), -1):square():sum(2):sqrt():reshape(row_shape(t))
end

-- The attack's target classes (tensor or nil), from opts.target.
local function resolve_target(model, images, labels, o)
  if not o.targeted then return nil end
  local t = o.target
  if mg.is_tensor(t) then return t end
  local logits = mg.no_grad(function() return model(images) end)
  if t == "least_likely" then return logits:argmin(2) end
  local classes = logits:size(2)
  if classes < 2 then error("a random target needs at least 2 classes", 0) end
  -- a class other than the label, uniformly: label + k (wrapping), k in 1..C-1
  local shifted = labels + mg.randint(1, classes, { labels:size(1) })
  return (shifted - shifted:gt(classes):long() * classes)
end

-- The attack objective per example (higher is stronger) and whether each
-- example is already a success (misclassified, or at the target).
local function objective(logits, labels, target, o)
  local loss = (o.loss_fn or per_example_ce)(logits, target or labels)
  if not mg.is_tensor(loss) or loss:dim() ~= 1 or loss:size(1) ~= labels:size(1) then
    error(string.format("loss_fn must return per-example losses [%d], got %s", labels:size(1), describe(loss)), 0)
  end
  if target then return -loss, logits:argmax(2):eq(target) end
  return loss, logits:argmax(2):ne(labels)
end

-- Gradient of the summed objective w.r.t. x, and the objective and success
-- at x (detached): the forward pass serves both.
local function input_grad(model, x, labels, target, o)
  local xg = x:detach():requires_grad_()
  local logits = model(xg)
  local obj, success = objective(logits, labels, target, o)
  local g = mg.grad(obj:sum(), { xg })[1]
  return g, obj:detach(), success
end

-- Objective and success at x without a graph.
local function score(model, x, labels, target, o)
  return mg.no_grad(function() return objective(model(x), labels, target, o) end)
end

-- ---- geometry ---------------------------------------------------------------------

-- Bounds of the L-inf ball around x0 intersected with [0, 1], computed once
-- per attack: lo = max(x0 - eps, 0), hi = min(x0 + eps, 1).
local function linf_bounds(x0, eps)
  return (x0 - eps):clamp_(0, 1), (x0 + eps):clamp_(0, 1)
end

-- Projects x onto the eps ball around x0 and into [0, 1] (a new tensor).
-- In L2, scaling into the ball and then clamping stays in the ball: the
-- clamp only moves pixels towards x0, which lies in [0, 1].
local function project(x, x0, o, lo, hi)
  if o.norm == "l2" then
    local delta = x - x0
    local factor = (o.eps / (l2_norms(delta) + 1e-12)):clamp_(nil, 1)
    return (x0 + delta * factor):clamp_(0, 1)
  end
  return mg.minimum(mg.maximum(x, lo), hi)
end

-- One ascent step of size alpha along g, in place on x: sign(g) for L-inf,
-- g / ||g||_2 for L2.
local function ascend_(x, g, alpha, norm)
  if norm == "l2" then return x:add_(g * (alpha / (l2_norms(g) + 1e-12))) end
  return x:add_(g:sign(), alpha)
end

-- A random point of the eps ball around x0 (in [0, 1]): uniform per pixel
-- for L-inf; a random direction at a uniformly drawn radius for L2.
local function random_start(x0, o)
  if o.norm == "l2" then
    local d = mg.randn_like(x0)
    local radius = mg.rand(table.unpack(row_shape(x0))) * o.eps
    return (x0 + d * (radius / (l2_norms(d) + 1e-12))):clamp_(0, 1)
  end
  return (x0 + (mg.rand_like(x0) * 2 - 1) * o.eps):clamp_(0, 1)
end

--- Per-example distances between two batches of images.
-- @tparam Tensor a [N, ...]
-- @tparam Tensor b a's shape
-- @string[opt="linf"] norm "linf" or "l2", over all pixels of an example
-- @treturn Tensor [N]
function M.distance(a, b, norm)
  if not mg.is_tensor(a) or not mg.is_tensor(b) or a:dim() < 1 then
    error("distance: expected two Tensors [N, ...], got " .. describe(a) .. " and " .. describe(b), 2)
  end
  local d = (a - b):reshape(a:size(1), -1)
  if norm == "l2" then return d:square():sum(2):sqrt() end
  if norm ~= nil and norm ~= "linf" then
    error("distance: norm must be \"linf\" or \"l2\", got " .. describe(norm), 2)
  end
  return (d:abs():max(2))
end

-- ---- the best point per example -------------------------------------------------

-- best = {x, obj, success}: per example the strongest point seen so far. A
-- point that fools the model (success 1) beats one that does not; between
-- two of the same kind the higher objective wins.
--
-- merge(best, cand, rows, n): cand holds points for the rows listed in
-- `rows` (a Lua list of 1-based indices into the n examples), or for all
-- rows when rows is nil.
local function merge(best, cand, rows, n)
  local x, obj, success, active = cand.x, cand.obj, cand.success, nil
  if rows then
    local map, on = {}, {}
    for i = 1, n do map[i], on[i] = 1, 0 end
    for j, i in ipairs(rows) do map[i], on[i] = j, 1 end
    local index = mg.tensor(map, { dtype = "int64" })
    x, obj, success = x:index_select(1, index), obj:index_select(1, index), success:index_select(1, index)
    active = mg.tensor(on)
  end
  if not best.x then
    assert(not rows, "the first candidates must cover every row")
    best.x, best.obj, best.success = x:clone(), obj, success
    return
  end
  local gain = success - best.success
  local better = gain:gt(0) + gain:eq(0) * obj:gt(best.obj)
  if active then better = better * active end
  best.x = mg.where(better:reshape(row_shape(x)), x, best.x)
  best.obj = mg.where(better, obj, best.obj)
  best.success = mg.where(better, success, best.success)
end

-- The 1-based indices where mask (float 0/1 [N]) is 0, as a Lua list.
local function rows_off(mask)
  local rows = {}
  for i, v in ipairs(mask:totable()) do if v == 0 then rows[#rows + 1] = i end end
  return rows
end

-- ---- iterations -------------------------------------------------------------------

-- Projected steps from `start` (a fresh tensor the loop may overwrite).
-- With o.decay set, MI-FGSM's momentum of L1-normalised gradients. With
-- `best` (a table), every iterate is offered to it. Returns the last iterate.
local function iterate(model, x0, labels, target, o, start, best)
  local lo, hi
  if o.norm ~= "l2" then lo, hi = linf_bounds(x0, o.eps) end
  local x, velocity = start, nil
  for _ = 1, o.steps do
    local g, obj, success = input_grad(model, x, labels, target, o)
    if best then merge(best, { x = x, obj = obj, success = success }) end
    mg.no_grad(function()
      if o.decay then
        local l1 = g:reshape(g:size(1), -1):abs():mean(2):reshape(row_shape(g)) + 1e-12
        velocity = velocity and velocity:mul_(o.decay):add_(g / l1) or g / l1
        g = velocity
      end
      x = project(ascend_(x, g, o.alpha, o.norm), x0, o, lo, hi)
    end)
  end
  if best then
    local obj, success = score(model, x, labels, target, o)
    merge(best, { x = x, obj = obj, success = success })
  end
  return x
end

local function check_pixels(name, images)
  local lo, hi = images:min():item(), images:max():item()
  if lo < 0 or hi > 1 then
    error(string.format("%s: images must be pixels in [0, 1] (normalisation belongs inside the model), " ..
      "got values in [%.4g, %.4g]", name, lo, hi), 3)
  end
end

-- ---- attacks ----------------------------------------------------------------------

--- The fast gradient sign method. One step: x_adv = clip(x + eps * sign(grad_x loss), 0, 1) (for norm
-- "l2": a step of length eps along the gradient, FGM). With random_start,
-- the step of size alpha (1.25 * eps) starts from a random point of the
-- ball and the result is projected back into it ("fast" adversarial
-- training).
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `eps = 0.1, norm, random_start = false, alpha, targeted, target, loss_fn`
-- @treturn Tensor adversarial images
function M.fgsm(model, images, labels, opts)
  local o = check_args("fgsm", model, images, labels, opts)
  check_pixels("fgsm", images)
  o.eps = o.eps or 0.1
  o.alpha = o.alpha or (o.random_start and 1.25 * o.eps or o.eps)
  return attack_context(model, function()
    local target = resolve_target(model, images, labels, o)
    local x = o.random_start and random_start(images, o) or images:clone()
    local g = input_grad(model, x, labels, target, o)
    return mg.no_grad(function()
      local lo, hi
      if o.norm ~= "l2" then lo, hi = linf_bounds(images, o.eps) end
      return project(ascend_(x, g, o.alpha, o.norm), images, o, lo, hi)
    end)
  end)
end

-- Defaults of the iterative attacks.
local function iter_defaults(o, steps, alpha_factor)
  o.eps = o.eps or (o.norm == "l2" and 2.0 or 0.3)
  o.steps = o.steps or steps
  o.alpha = o.alpha or alpha_factor * o.eps / math.max(o.steps, 1)
  return o
end

-- BIM and MI-FGSM: iterations from the clean images; the strongest point
-- per image, or the last iterate with keep_best = false.
local function from_clean(model, images, labels, o)
  return attack_context(model, function()
    local target = resolve_target(model, images, labels, o)
    if o.keep_best == false then return iterate(model, images, labels, target, o, images:clone()) end
    local best = {}
    iterate(model, images, labels, target, o, images:clone(), best)
    return best.x
  end)
end

--- The basic iterative method: FGSM steps of size alpha from the clean
-- image, each projected back into the eps ball and [0, 1]. Returns per
-- image the strongest iterate (see pgd's keep_best).
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `eps = 0.3 (l2: 2.0), steps = 10, alpha = eps / steps, norm,
--   targeted, target, loss_fn, keep_best = true`
-- @treturn Tensor adversarial images
function M.bim(model, images, labels, opts)
  local o = iter_defaults(check_args("bim", model, images, labels, opts), 10, 1)
  check_pixels("bim", images)
  return from_clean(model, images, labels, o)
end

--- Momentum iterative FGSM: BIM whose step follows a running sum of
-- L1-normalised gradients, v = decay * v + g / ||g||_1.
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts as bim's, plus `decay = 1.0`
-- @treturn Tensor adversarial images
function M.mifgsm(model, images, labels, opts)
  local o = iter_defaults(check_args("mifgsm", model, images, labels, opts), 10, 1)
  check_pixels("mifgsm", images)
  o.decay = o.decay or 1.0
  return from_clean(model, images, labels, o)
end

--- Projected gradient descent (Madry et al.): from a random point of the
-- eps ball (or opts.start), `steps` ascent steps of size alpha, each
-- projected back into the ball and [0, 1].
-- keep_best (true): return per image the strongest point seen over all
-- iterates and restarts, the clean image included: a point the model gets
-- wrong (for targeted attacks: classifies as the target) beats one it gets
-- right, then the higher loss wins. So the result is never weaker than the
-- clean image or than a single run. keep_best = false returns the last
-- iterate (adversarial training uses it; no extra forward pass).
-- restarts (1): further runs from new random points, only for the images
-- not fooled yet.
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `eps = 0.3 (l2: 2.0), steps = 40, alpha = 2.5 * eps / steps,
--   restarts = 1, norm, random_start = true, start` (a Tensor like images), `targeted, target,
--   loss_fn, keep_best = true`
-- @treturn Tensor adversarial images
-- @usage local x_adv = mg.attack.pgd(model, x, y, {eps = 0.3, steps = 40, restarts = 2})
function M.pgd(model, images, labels, opts)
  local o = iter_defaults(check_args("pgd", model, images, labels, opts), 40, 2.5)
  check_pixels("pgd", images)
  o.restarts = o.restarts or 1
  local keep = o.keep_best ~= false
  local n = images:size(1)
  return attack_context(model, function()
    local target = resolve_target(model, images, labels, o)
    local best = {}
    if keep then
      local obj, success = score(model, images, labels, target, o)
      merge(best, { x = images, obj = obj, success = success })
    end
    for r = 1, o.restarts do
      -- the first run covers every image; later ones only those not fooled yet
      local rows = r > 1 and rows_off(best.success) or nil
      if rows and #rows == 0 then break end
      local x0, y, t, s = images, labels, target, o.start
      if rows and #rows < n then
        local index = mg.tensor(rows, { dtype = "int64" })
        x0, y = images:index_select(1, index), labels:index_select(1, index)
        t = target and target:index_select(1, index)
        s = s and s:index_select(1, index)
      else
        rows = nil
      end
      local start
      if s and r == 1 then
        local lo, hi
        if o.norm ~= "l2" then lo, hi = linf_bounds(x0, o.eps) end
        start = project(s, x0, o, lo, hi)
      elseif o.random_start == false then
        start = x0:clone()
      else
        start = random_start(x0, o)
      end
      if keep then
        local cand = {}
        iterate(model, x0, y, t, o, start, cand)
        merge(best, cand, rows, n)
      else
        local x = iterate(model, x0, y, t, o, start)
        if o.restarts == 1 then return x end
        local obj, success = score(model, x, y, t, o)
        if best.x or rows then merge(best, { x = x, obj = obj, success = success }, rows, n)
        else best.x, best.obj, best.success = x, obj, success end
      end
    end
    return best.x
  end)
end

--- The seed article's iterative attack, done right: plain gradient ascent
-- on the classifier's own loss (with its own labels), x += step *
-- grad_x(loss), for `steps` small steps, kept in [0, 1] (and in the eps
-- ball when opts.eps is given).
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `step = 0.01, steps = 100, eps = nil` (unbounded), `norm, targeted,
--   target, loss_fn`
-- @treturn Tensor adversarial images
function M.gradient_ascent(model, images, labels, opts)
  local o = check_args("gradient_ascent", model, images, labels, opts)
  check_pixels("gradient_ascent", images)
  local step, steps = o.step or 0.01, o.steps or 100
  return attack_context(model, function()
    local target = resolve_target(model, images, labels, o)
    local lo, hi
    if o.eps and o.norm ~= "l2" then lo, hi = linf_bounds(images, o.eps) end
    local x = images:clone()
    for _ = 1, steps do
      local g = input_grad(model, x, labels, target, o)
      mg.no_grad(function()
        x:add_(g, step)
        if o.eps then x = project(x, images, o, lo, hi) else x:clamp_(0, 1) end
      end)
    end
    return x
  end)
end

-- APGD, Square and their losses live in attack/; they share these pieces.
local shared = {
  describe = describe, is_count = is_count, check_args = check_args, check_pixels = check_pixels,
  attack_context = attack_context, resolve_target = resolve_target, row_shape = row_shape,
  l2_norms = l2_norms, linf_bounds = linf_bounds, project = project, random_start = random_start,
  merge = merge, rows_off = rows_off,
}
local apgd, square = require "moongrad.attack.apgd", require "moongrad.attack.square"
--- APGD, auto-PGD (Croce and Hein 2020): projected gradient ascent whose
-- step size the attack sets itself, with momentum and checkpoints at
-- which it halves the step when too few steps raised the loss. APGD-T
-- (targeted = true without a target): one run per class among the
-- n_targets the model rates highest after the label, with the targeted
-- DLR loss, on the images not yet misclassified. Returns per image the
-- first point found that fools the model, else the point with the highest
-- loss (the clean image when nothing beat it).
-- @function apgd
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `eps = 0.3 (l2: 2.0), norm = "linf" | "l2", steps = 100,
--   loss = "ce" | "dlr"` (default "ce", "dlr" when targeted), `targeted = false, target`
--   (int64 [N], "random" or "least_likely": a classic targeted attack), `n_targets = 9`,
--   `restarts = 1, rho = 0.75` (the share of rising steps below which the step is halved),
--   `random_start = true`
-- @treturn Tensor adversarial images
-- @usage local x_adv = mg.attack.apgd(model, x, y, {eps = 8 / 255, loss = "dlr", targeted = true})
function M.apgd(...) return apgd.apgd(shared, ...) end
--- The Square attack (Andriushchenko et al. 2020), L-inf: a random search
-- that changes one square window of the perturbation per query, keeping a
-- change when it lowers the margin. No gradient is ever computed. Returns
-- per image the point with the lowest margin found (inside the ball and
-- [0, 1]).
-- @function square
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `eps = 0.3, queries = 5000` (model evaluations per image, the first
--   one included), `p_init = 0.8, norm = "linf"` (only), `targeted, target` (int64 [N],
--   "random" or "least_likely": then the margin is max_{i != t} z_i - z_t)
-- @treturn Tensor adversarial images
-- @treturn table `{queries = float [N]}`: the model evaluations each image used
function M.square(...) return square.square(shared, ...) end
--- The iteration numbers (1-based, after the step) at which APGD checks
-- its progress: the first after 22% of the steps, then each stretch 3% of
-- the steps shorter than the one before, down to 6%.
-- @function apgd_checkpoints
-- @int steps
-- @treturn {int,...}
M.apgd_checkpoints = apgd.checkpoints
--- The share of the image a Square window covers at query `it` of
-- `budget`: p_init, halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and
-- 8000 of 10,000, scaled to the budget.
-- @function square_schedule
-- @int it
-- @int budget
-- @number p_init
-- @treturn number
M.square_schedule = square.p_schedule
M.losses = require "moongrad.attack.losses"
-- text: perturbations of token embeddings (the model's embedding seam) and
-- WordNet synonym swaps
M.embedding = require "moongrad.attack.embedding"
M.synonym = require "moongrad.attack.synonym"

--- The attacks by name (used by evaluate).
M.attacks = { fgsm = M.fgsm, bim = M.bim, pgd = M.pgd, mifgsm = M.mifgsm, gradient_ascent = M.gradient_ascent,
  apgd = M.apgd, square = M.square }

-- ---- robust evaluation ------------------------------------------------------------

-- Checks a list of attacks in evaluate's format and returns their labels
-- in order (errors name `where` and blame `level`).
local function check_attack_list(where, attacks, level)
  if type(attacks) ~= "table" or #attacks == 0 then
    error(where .. ": attacks must be a non-empty list of {name = ..., options}, got " .. describe(attacks), level)
  end
  local labels_seen, order = {}, {}
  for k, a in ipairs(attacks) do
    if type(a) ~= "table" then error(where .. ": attack " .. k .. " must be a table {name = ..., options}", level) end
    if a.fn == nil and not M.attacks[a.name] then
      local names = {}
      for name in pairs(M.attacks) do names[#names + 1] = name end
      table.sort(names)
      error(string.format("%s: unknown attack %s (expected one of %s, or fn = function)",
        where, describe(a.name), table.concat(names, ", ")), level)
    end
    if a.fn ~= nil and not is_callable(a.fn) then
      error(where .. ": attack " .. k .. ": fn must be a function", level)
    end
    local label = a.label or a.name
    if type(label) ~= "string" or label == "robust" or label == "eps" or labels_seen[label] then
      error(where .. ": attack " .. k .. " needs a distinct label (not 'eps' or 'robust'), got " .. describe(label),
        level)
    end
    labels_seen[label] = true
    order[#order + 1] = label
  end
  return order
end

-- Runs one attack of such a list at radius eps -> adversarial images.
local function run_attack(model, a, x, y, eps)
  local o = {}
  for key, v in pairs(a) do if key ~= "name" and key ~= "label" and key ~= "fn" then o[key] = v end end
  o.eps = eps
  if type(o.target) == "function" then o.target = o.target(x, y) end
  return (a.fn or M.attacks[a.name])(model, x, y, o)
end
shared.check_attack_list, shared.run_attack = check_attack_list, run_attack

-- Attacks images x (all classified right) at radius eps. Returns per
-- attack how many stay right ({k = count}) and how many stay right under
-- every attack. sequential: attack k only sees the survivors of 1..k-1,
-- so the counts are after attacks 1..k.
local function tally(model, attacks, x, y, eps, sequential)
  local after, robust = {}, nil
  if eps == 0 then
    for k = 1, #attacks do after[k] = x:size(1) end
    return after, x:size(1)
  end
  if sequential then
    local _, report = M.ensemble(model, x, y, { eps = eps, attacks = attacks })
    return report.right, report.right[#attacks]
  end
  for k, a in ipairs(attacks) do
    local adv = run_attack(model, a, x, y, eps)
    local ok = mg.no_grad(function() return model(adv):argmax(2):eq(y) end)
    after[k] = ok:sum():item()
    robust = robust and robust * ok or ok
  end
  return after, robust:sum():item()
end

local ensemble = require "moongrad.attack.ensemble"
--- The standard attacks, in evaluate's format: APGD-CE, APGD-T and
-- Square. Square has no L2 version here, so norm "l2" leaves it out.
-- @function ensemble_attacks
-- @tparam[opt] table opts `norm = "linf", steps = 100` (per APGD run), `n_targets = 9,
--   queries = 5000` (0 leaves Square out)
-- @treturn table `{{name = "apgd", label = "apgd_ce", ...}, {label = "apgd_t", ...},
--   {label = "square", ...}}`
M.ensemble_attacks = ensemble.ensemble_attacks
--- Attacks in sequence (Croce and Hein's AutoAttack): only the images
-- classified right are attacked; each attack only those that survived the
-- ones before it. Returns per image the first adversarial example found
-- (the clean image when none was).
-- @function ensemble
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `eps`; `attacks` (a list in evaluate's format; default
--   ensemble_attacks(opts)); `norm, steps, n_targets, queries` (for the default list)
-- @treturn Tensor adversarial images
-- @treturn table `{clean = images right, right = {k = images still right after attacks 1..k},
--   attacks = labels in order, fooled_by = per image the label of the attack that fooled it,
--   or false}`
function M.ensemble(...) return ensemble.ensemble(shared, ...) end

--- Accuracy under attack over a loader (batches of images in [0, 1] and
-- int64 labels), for every eps and attack. An image counts as correct under an attack when the model classifies it
-- right both clean and attacked; by_eps[i].robust counts an image only if
-- it is right clean and every attack (and every restart) failed on it.
-- Only the images the model gets right are attacked. With sequential,
-- attack k only sees the images that survived attacks 1..k-1, and
-- by_eps[i][label] is the accuracy after attacks 1..k (the last one equals
-- robust); with ensemble, the attacks are APGD-CE, APGD-T and Square, in
-- sequence.
-- @tparam Module model
-- @tparam DataLoader loader
-- @tparam[opt] table opts `eps = {0, 0.1, 0.2, 0.3}`; `attacks`, a list of `{name = "fgsm" |
--   "pgd" | ..., label = column name (default: name), fn = function(model, images, labels, opts)
--   (instead of a named attack), options of the attack}` (eps is filled in per column;
--   default `{{name = "fgsm"}, {name = "pgd", steps = 40, restarts = 1}}`); `limit` (images to
--   evaluate at most); `on_batch(n_done)`; `sequential = false`; `ensemble` (true, or the options
--   of ensemble_attacks: `{steps, n_targets, queries, norm}`)
-- @treturn table `{n = images, clean = accuracy, by_eps = {{eps = e, [label] = accuracy,
--   robust = accuracy}, ...}, attacks = the labels in order}`
function M.evaluate(model, loader, opts)
  if not is_callable(model) then error("evaluate: model must be callable, got " .. type(model), 2) end
  if type(loader) ~= "table" or type(loader.iter) ~= "function" then
    error("evaluate: expected a DataLoader (a table with iter()), got " .. type(loader), 2)
  end
  opts = opts or {}
  local eps_list = opts.eps or { 0, 0.1, 0.2, 0.3 }
  if type(eps_list) ~= "table" or #eps_list == 0 then
    error("evaluate: eps must be a non-empty list of numbers >= 0", 2)
  end
  for _, e in ipairs(eps_list) do
    if type(e) ~= "number" or e < 0 then error("evaluate: eps values must be numbers >= 0, got " .. describe(e), 2) end
  end
  local attacks, sequential = opts.attacks, opts.sequential
  if opts.ensemble then
    attacks = M.ensemble_attacks(opts.ensemble ~= true and opts.ensemble or nil)
    sequential = true
  end
  attacks = attacks or { { name = "fgsm" }, { name = "pgd", steps = 40, restarts = 1 } }
  local order = check_attack_list("evaluate", attacks, 3)
  if opts.limit ~= nil and not is_count(opts.limit, 1) then
    error("evaluate: limit must be a positive integer, got " .. describe(opts.limit), 2)
  end

  local counts = { clean = 0, n = 0 }
  for i = 1, #eps_list do
    counts[i] = { robust = 0 }
    for _, label in ipairs(order) do counts[i][label] = 0 end
  end
  attack_context(model, function()
    for images, labels in loader:iter() do
      if opts.limit and counts.n >= opts.limit then break end
      if opts.limit and counts.n + images:size(1) > opts.limit then
        local keep = opts.limit - counts.n
        images, labels = images:narrow(1, 1, keep), labels:narrow(1, 1, keep)
      end
      local right = mg.no_grad(function() return model(images):argmax(2):eq(labels) end)
      local n_right = right:sum():item()
      counts.clean = counts.clean + n_right
      counts.n = counts.n + images:size(1)
      if n_right > 0 then
        -- attack only the images classified right
        local x, y = images, labels
        if n_right < images:size(1) then
          local rows = {}
          for i, v in ipairs(right:totable()) do if v ~= 0 then rows[#rows + 1] = i end end
          local index = mg.tensor(rows, { dtype = "int64" })
          x, y = images:index_select(1, index), labels:index_select(1, index)
        end
        for i, eps in ipairs(eps_list) do
          local right_after, robust = tally(model, attacks, x, y, eps, sequential)
          for k, label in ipairs(order) do counts[i][label] = counts[i][label] + right_after[k] end
          counts[i].robust = counts[i].robust + robust
        end
      end
      if opts.on_batch then opts.on_batch(counts.n) end
    end
  end)
  local n = math.max(counts.n, 1)
  local result = { n = counts.n, clean = counts.clean / n, by_eps = {}, attacks = order }
  for i, eps in ipairs(eps_list) do
    local row = { eps = eps }
    for k, v in pairs(counts[i]) do row[k] = v / n end
    result.by_eps[i] = row
  end
  return result
end

-- ---- adversarial training ---------------------------------------------------------

-- Per-example KL(p || q) from log-probabilities [N, C] -> [N].
local function kl_rows(logp, logq)
  return (logp:exp() * (logp - logq)):sum(2)
end

local METHODS = { normal = true, seed = true, fast = true, pgd = true, trades = true }

--- The loss of one training batch for adversarial training; call
-- loss:backward() and step the optimizer as usual. The attacks run in eval
-- mode; the loss is computed in the model's own mode. The methods: "normal"
-- (cross-entropy on the clean batch), "seed" (the seed article: clean plus
-- FGSM examples, eps 0.1, concatenated), "fast" (FGSM from a random start,
-- step alpha = 1.25 eps; Wong et al.), "pgd" (PGD examples only, Madry et
-- al.: steps 10, alpha 2.5 eps / steps), "trades" (CE(clean) + beta *
-- KL(f(x) || f(x')), x' found by PGD on the KL from x + 0.001 * noise;
-- Zhang et al.; beta 6).
-- @tparam Module model a classifier of images in [0, 1]
-- @tparam Tensor images [N, C, H, W] in [0, 1]
-- @tparam Tensor labels int64 [N], 1-based classes
-- @tparam[opt] table opts `method = "pgd", eps` (0.1 for seed, else 0.3), `steps, alpha, beta`
-- @treturn Tensor the loss (0-dim)
-- @treturn Tensor the detached logits of the examples trained on
-- @treturn Tensor their labels (for a running accuracy)
-- @usage local loss = mg.attack.training_loss(model, x, y, {method = "pgd", eps = 0.3})
-- loss:backward()
function M.training_loss(model, images, labels, opts)
  opts = opts or {}
  local method = opts.method or "pgd"
  if not METHODS[method] then
    error("training_loss: method must be normal, seed, fast, pgd or trades, got " .. describe(method), 2)
  end
  if not mg.is_tensor(images) or not mg.is_tensor(labels) then
    error("training_loss: expected images and labels Tensors, got " .. describe(images)
      .. " and " .. describe(labels), 2)
  end
  local eps = opts.eps or (method == "seed" and 0.1 or 0.3)
  if type(eps) ~= "number" or eps < 0 then
    error("training_loss: eps must be a number >= 0, got " .. describe(eps), 2)
  end
  local n = images:size(1)
  if method == "normal" then
    local logits = model(images)
    return mg.cross_entropy(logits, labels), logits:detach(), labels
  elseif method == "seed" then
    local adv = M.fgsm(model, images, labels, { eps = eps })
    local both = mg.cat({ labels, labels }, 1)
    local logits = model(mg.cat({ images, adv }, 1))
    return mg.cross_entropy(logits, both), logits:detach(), both
  elseif method == "fast" then
    local adv = M.fgsm(model, images, labels, { eps = eps, random_start = true, alpha = opts.alpha })
    local logits = model(adv)
    return mg.cross_entropy(logits, labels), logits:detach(), labels
  elseif method == "pgd" then
    local adv = M.pgd(model, images, labels, { eps = eps, steps = opts.steps or 10, alpha = opts.alpha,
      keep_best = false })
    local logits = model(adv)
    return mg.cross_entropy(logits, labels), logits:detach(), labels
  end
  -- TRADES: the attack maximises the KL to the clean prediction
  local beta = opts.beta or 6
  local clean_logp = attack_context(model, function()
    return mg.no_grad(function() return model(images):log_softmax(2) end)
  end)
  local start = (images + mg.randn_like(images) * 0.001):clamp_(0, 1)
  local adv = M.pgd(model, images, labels, {
    eps = eps, steps = opts.steps or 10, alpha = opts.alpha, start = start, keep_best = false,
    loss_fn = function(logits) return kl_rows(clean_logp, logits:log_softmax(2)) end,
  })
  local logits = model(mg.cat({ images, adv }, 1))
  local clean, attacked = logits:narrow(1, 1, n), logits:narrow(1, n + 1, n)
  local loss = mg.cross_entropy(clean, labels) + kl_rows(clean:log_softmax(2), attacked:log_softmax(2)):mean() * beta
  return loss, clean:detach(), labels
end

return M
