-- Adversarial attacks on image classifiers, and robust evaluation.
--
-- Every attack takes (model, images, labels, opts) and returns adversarial
-- images. Inputs are pixels in [0, 1] (normalisation belongs inside the
-- model). The model is put in eval mode for the attack and restored after;
-- only gradients with respect to the input are computed (mg.grad), so the
-- parameters' .grad are left untouched. Results stay inside the eps ball
-- around the clean images and inside [0, 1].
--
-- Common options: eps (radius), alpha (step size), steps, norm ("linf" or
-- "l2"), targeted (with opts.target: int64 1-based classes to reach),
-- loss_fn(logits, labels) -> per-example losses (default cross-entropy).
local mg = require "moongrad"

local M = {}

local function per_example_ce(logits, labels)
  return mg.cross_entropy(logits, labels, { reduction = "none" })
end

-- Runs fn with the model in eval mode, restoring its mode after (also on error).
local function in_eval(model, fn)
  local was_training = type(model) == "table" and model.training
  if was_training then model:eval() end
  local ok, a, b = pcall(fn)
  if was_training then model:train() end
  if not ok then error(a, 0) end
  return a, b
end

local function check_args(name, images, labels, opts)
  if not mg.is_tensor(images) or images:dim() < 2 then
    error(name .. ": images must be a Tensor [N, ...], got " .. (mg.is_tensor(images) and
      ("shape [" .. table.concat(images:shape(), ", ") .. "]") or type(images)), 3)
  end
  if not mg.is_tensor(labels) or labels.dtype ~= "int64" or labels:dim() ~= 1 or #labels ~= #images then
    error(name .. ": labels must be an int64 Tensor [" .. #images .. "] of 1-based classes", 3)
  end
  opts = opts or {}
  if opts.eps ~= nil and (type(opts.eps) ~= "number" or opts.eps < 0) then
    error(name .. ": eps must be a number >= 0, got " .. tostring(opts.eps), 3)
  end
  if opts.norm ~= nil and opts.norm ~= "linf" and opts.norm ~= "l2" then
    error(name .. ": norm must be \"linf\" or \"l2\", got " .. tostring(opts.norm), 3)
  end
  if opts.targeted and not mg.is_tensor(opts.target) then
    error(name .. ": a targeted attack needs opts.target (int64 classes)", 3)
  end
  return opts
end

-- Gradient of the (summed) attack loss w.r.t. x, and the per-example losses.
-- Targeted attacks descend the loss of the target class, so the sign flips.
local function input_grad(model, x, labels, opts)
  local xg = x:detach():requires_grad_()
  local logits = model(xg)
  local loss_fn = opts.loss_fn or per_example_ce
  local y = opts.targeted and opts.target or labels
  local losses = loss_fn(logits, y)
  local total = losses:sum()
  if opts.targeted then total = -total end
  local g = mg.grad(total, { xg })[1]
  return g, losses:detach(), logits:detach()
end

-- Flattened per-example L2 norms, shaped [N, 1, 1, ...] to broadcast over x.
local function l2_norms(t)
  local n = #t
  local shape = { n }
  for _ = 2, t:dim() do shape[#shape + 1] = 1 end
  return t:reshape(n, -1):square():sum(2):sqrt():reshape(shape)
end

-- Projects x onto the ball of radius eps around x0 and into [0, 1].
local function project(x, x0, eps, norm)
  if norm == "l2" then
    local delta = x - x0
    local norms = l2_norms(delta)
    local factor = mg.minimum(mg.ones_like(norms), eps / (norms + 1e-12))
    x = x0 + delta * factor
  else
    x = mg.minimum(mg.maximum(x, x0 - eps), x0 + eps)
  end
  return x:clamp(0, 1)
end

-- One ascent step of size alpha in the direction the norm prescribes.
local function ascend(x, g, alpha, norm)
  if norm == "l2" then
    return x + g * (alpha / (l2_norms(g) + 1e-12))
  end
  return x + g:sign() * alpha
end

local function random_start(x0, eps, norm)
  if norm == "l2" then
    local d = mg.randn(table.unpack(x0:shape()))
    local radius = mg.rand(#x0):reshape(l2_norms(d):shape()) * eps
    return (x0 + d * (radius / (l2_norms(d) + 1e-12))):clamp(0, 1)
  end
  return (x0 + (mg.rand(table.unpack(x0:shape())) * 2 - 1) * eps):clamp(0, 1)
end

--- FGSM: x_adv = clip(x + eps * sign(grad_x loss), 0, 1), one step.
-- opts: eps (default 0.1), targeted, target, loss_fn.
function M.fgsm(model, images, labels, opts)
  opts = check_args("fgsm", images, labels, opts)
  local eps = opts.eps or 0.1
  return in_eval(model, function()
    local g = input_grad(model, images, labels, opts)
    return mg.no_grad(function() return (images + g:sign() * eps):clamp(0, 1) end)
  end)
end

-- Iterated projected steps shared by BIM, PGD and MI-FGSM; returns the final
-- iterate and the per-example loss there.
local function iterate(model, images, labels, opts, start, momentum)
  local eps, norm = opts.eps, opts.norm or "linf"
  local alpha, steps = opts.alpha, opts.steps
  local x = start
  local velocity
  for _ = 1, steps do
    local g = input_grad(model, x, labels, opts)
    x = mg.no_grad(function()
      if momentum then
        -- MI-FGSM: accumulate L1-normalised gradients
        local n = #g
        local shape = { n }
        for _ = 2, g:dim() do shape[#shape + 1] = 1 end
        local l1 = g:reshape(n, -1):abs():mean(2):reshape(shape) + 1e-12
        local gn = g / l1
        velocity = velocity and (velocity * momentum + gn) or gn
        g = velocity
      end
      return project(ascend(x, g, alpha, norm), images, eps, norm)
    end)
  end
  return x
end

local function iter_defaults(opts, name)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.eps = o.eps or (o.norm == "l2" and 1.0 or 0.3)
  o.steps = o.steps or 40
  o.alpha = o.alpha or (o.norm == "l2" and 2.5 * o.eps / o.steps or math.max(o.eps / 4, 2.5 * o.eps / o.steps))
  if type(o.steps) ~= "number" or o.steps < 0 or o.steps ~= math.floor(o.steps) then
    error(name .. ": steps must be an integer >= 0, got " .. tostring(o.steps), 3)
  end
  return o
end

--- BIM (iterated FGSM from the clean image, projected each step).
-- opts: eps (0.3), alpha, steps (40), norm, targeted, target.
function M.bim(model, images, labels, opts)
  opts = iter_defaults(check_args("bim", images, labels, opts), "bim")
  return in_eval(model, function() return iterate(model, images, labels, opts, images) end)
end

--- MI-FGSM: BIM with a momentum of L1-normalised gradients.
-- opts: as bim, plus decay (1.0).
function M.mifgsm(model, images, labels, opts)
  opts = iter_defaults(check_args("mifgsm", images, labels, opts), "mifgsm")
  return in_eval(model, function()
    return iterate(model, images, labels, opts, images, opts.decay or 1.0)
  end)
end

--- PGD (Madry et al.): random start in the eps ball, then projected steps;
-- with restarts, keeps for each image the restart with the highest loss
-- (for targeted attacks, the lowest loss of the target).
-- opts: eps (0.3 linf / 1.0 l2), alpha, steps (40), restarts (1),
-- norm ("linf"), random_start (true), targeted, target, loss_fn.
function M.pgd(model, images, labels, opts)
  opts = iter_defaults(check_args("pgd", images, labels, opts), "pgd")
  local restarts = opts.restarts or 1
  return in_eval(model, function()
    local best, best_loss
    for _ = 1, restarts do
      local start = images
      if opts.random_start ~= false then start = random_start(images, opts.eps, opts.norm or "linf") end
      local x = iterate(model, images, labels, opts, start)
      local loss = mg.no_grad(function()
        local logits = model(x)
        local l = (opts.loss_fn or per_example_ce)(logits, opts.targeted and opts.target or labels)
        return opts.targeted and -l or l
      end)
      if not best then
        best, best_loss = x, loss
      else
        local better = loss:gt(best_loss)
        local shape = { #images }
        for _ = 2, images:dim() do shape[#shape + 1] = 1 end
        best = mg.where(better:reshape(shape), x, best)
        best_loss = mg.maximum(loss, best_loss)
      end
    end
    return best
  end)
end

--- The seed article's iterative attack, done right: gradient ascent on the
-- classifier's own loss, x += step * grad_x(loss), for `steps` small steps,
-- kept in [0, 1] (and in the eps ball when opts.eps is given).
-- opts: step (0.01), steps (100), eps (nil: unbounded).
function M.gradient_ascent(model, images, labels, opts)
  opts = check_args("gradient_ascent", images, labels, opts)
  local step, steps = opts.step or 0.01, opts.steps or 100
  return in_eval(model, function()
    local x = images
    for _ = 1, steps do
      local g = input_grad(model, x, labels, opts)
      x = mg.no_grad(function()
        local nx = x + g * step
        if opts.eps then return project(nx, images, opts.eps, opts.norm or "linf") end
        return nx:clamp(0, 1)
      end)
    end
    return x
  end)
end

M.attacks = { fgsm = M.fgsm, bim = M.bim, pgd = M.pgd, mifgsm = M.mifgsm, gradient_ascent = M.gradient_ascent }

-- Predicted classes (1-based) without recording a graph.
local function predict(model, x)
  return mg.no_grad(function() return model(x):argmax(2) end)
end

--- Robust evaluation over a loader and a list of eps values.
-- opts: eps = {0, 0.1, 0.2, 0.3}; attacks = {{name = "fgsm"}, {name = "pgd",
-- steps = 40, restarts = 2}, ...} (each entry: the attack's name and its
-- options; eps is filled in); limit = max number of images.
-- Returns {clean = acc, by_eps = {[i] = {eps = e, fgsm = acc, pgd = acc,
-- robust = acc}}, n = images}, where `robust` counts an image only if every
-- attack (and restart) failed on it.
function M.evaluate(model, loader, opts)
  opts = opts or {}
  local eps_list = opts.eps or { 0, 0.1, 0.2, 0.3 }
  local attacks = opts.attacks or { { name = "fgsm" }, { name = "pgd", steps = 40, restarts = 1 } }
  for _, a in ipairs(attacks) do
    if not M.attacks[a.name] then error("evaluate: unknown attack '" .. tostring(a.name) .. "'", 2) end
  end
  local counts = { clean = 0, n = 0 }
  for i = 1, #eps_list do
    counts[i] = { robust = 0 }
    for _, a in ipairs(attacks) do counts[i][a.label or a.name] = 0 end
  end
  local was_training = type(model) == "table" and model.training
  if was_training then model:eval() end
  for images, labels in loader:iter() do
    if opts.limit and counts.n >= opts.limit then break end
    if opts.limit and counts.n + #images > opts.limit then
      local keep = opts.limit - counts.n
      images, labels = images:narrow(1, 1, keep), labels:narrow(1, 1, keep)
    end
    local clean_ok = predict(model, images):eq(labels)
    counts.clean = counts.clean + clean_ok:sum():item()
    counts.n = counts.n + #images
    for i, eps in ipairs(eps_list) do
      local robust = clean_ok
      for _, a in ipairs(attacks) do
        local o = {}
        for k, v in pairs(a) do if k ~= "name" and k ~= "label" then o[k] = v end end
        o.eps = eps
        local ok
        if eps == 0 then
          ok = clean_ok
        else
          ok = predict(model, M.attacks[a.name](model, images, labels, o)):eq(labels)
        end
        counts[i][a.label or a.name] = counts[i][a.label or a.name] + ok:sum():item()
        robust = robust * ok
      end
      counts[i].robust = counts[i].robust + robust:sum():item()
    end
  end
  if was_training then model:train() end
  local result = { n = counts.n, clean = counts.clean / math.max(counts.n, 1), by_eps = {} }
  for i, eps in ipairs(eps_list) do
    local row = { eps = eps }
    for k, v in pairs(counts[i]) do row[k] = v / math.max(counts.n, 1) end
    result.by_eps[i] = row
  end
  return result
end

return M
