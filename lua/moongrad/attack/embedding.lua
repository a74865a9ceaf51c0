--- Adversarial perturbations of token embeddings, for text models: the
-- perturbation is added after the embedding layer, where inputs are
-- continuous, instead of to the discrete tokens.
--
-- The seam. A model these functions can perturb has two methods:
-- `model:embed_tokens(ids)` -> E [N, L, d], the token embeddings, the place
-- where perturbations are added; `model:forward_embeddings(E [,
-- {padding_mask}])` -> logits [N, C], the rest of the network; and
-- model(ids, opts) computes forward_embeddings(embed_tokens(ids), opts).
-- padding_mask [N, L] is nonzero at padding positions; perturbations are
-- zero there and norms leave them out. mg.models.BagClassifier has the
-- seam; mg.attack.embedding.check_model(model) says what is missing.
--
-- Norms are per example over the whole sequence's embeddings (Miyato et
-- al. 2017): r = eps * g / ||g||_2, with ||.||_2 over all L x d values of
-- one example. Embeddings should have a fixed scale (normalised, see
-- models.NormalizedEmbedding) for eps to mean anything.
-- @module moongrad.attack.embedding
-- @alias M
-- @usage local E = mg.attack.embedding
-- local loss = E.training_loss(model, ids, labels, {method = "fgm", eps = 1.0, padding_mask = pad})
-- local right, n = E.accuracy(model, ids, labels, {eps = 1.0, padding_mask = pad})
local mg = require "moongrad"

local M = {}

--- Raises an error (naming who) unless model has the seam's two methods.
-- @tparam Module model
-- @string[opt="attack.embedding"] who
-- @treturn Module model
function M.check_model(model, who)
  who = who or "attack.embedding"
  if type(model) ~= "table" or type(model.embed_tokens) ~= "function"
      or type(model.forward_embeddings) ~= "function" then
    error(who .. ": the model must have the embedding seam: embed_tokens(ids) -> [N, L, d] and " ..
      "forward_embeddings(E, {padding_mask}) -> logits (see mg.attack.embedding)", 3)
  end
  return model
end

local function check_ids(who, ids, labels)
  if not mg.is_tensor(ids) or ids.dtype ~= "int64" or ids:dim() ~= 2 then
    error(who .. ": ids must be an int64 Tensor [N, L] of token ids", 3)
  end
  if labels ~= nil and (not mg.is_tensor(labels) or labels.dtype ~= "int64" or labels:dim() ~= 1
      or labels:size(1) ~= ids:size(1)) then
    error(string.format("%s: labels must be an int64 Tensor [%d]", who, ids:size(1)), 3)
  end
end

local function check_eps(who, eps)
  if type(eps) ~= "number" or eps < 0 or eps ~= eps then
    error(who .. ": eps must be a number >= 0, got " .. tostring(eps), 3)
  end
  return eps
end

-- [N, L, 1]: 1 at real tokens, 0 at padding (nil without a mask).
local function keep_of(padding_mask)
  if padding_mask == nil then return nil end
  return padding_mask:float():eq(0):unsqueeze(3)
end

-- Per-example L2 norms of t [N, L, d] -> [N, 1, 1].
local function norms(t)
  return t:reshape(t:size(1), -1):square():sum(2):sqrt():reshape(t:size(1), 1, 1)
end

--- t / ||t||_2 per example (zero at padding; zero where t is). Scaled by
-- its largest entry first, so that gradients too small to square in
-- float32 still give a unit vector.
-- @tparam Tensor t [N, L, d]
-- @tparam[opt] Tensor padding_mask [N, L]
-- @treturn Tensor
function M.unit(t, padding_mask)
  local keep = keep_of(padding_mask)
  if keep then t = t * keep end
  local n = t:size(1)
  local top = t:reshape(n, -1):abs():max(2):reshape(n, 1, 1)
  t = t / (top + 1e-30)
  return t / (norms(t) + 1e-12)
end

local function forward(model, e, padding_mask)
  return model:forward_embeddings(e, { padding_mask = padding_mask })
end

--- Miyato et al.'s adversarial perturbation r = eps * g / ||g||_2, g the
-- gradient of the cross-entropy w.r.t. the token embeddings, per example.
-- Runs the model in its current mode (training mode during training, as in
-- the paper); only the embeddings' gradient is computed.
-- @tparam Module model a model with the seam (embed_tokens, forward_embeddings)
-- @tparam Tensor ids int64 [N, L]
-- @tparam Tensor labels int64 [N]
-- @tparam[opt] table opts `{eps = 1.0, padding_mask, embeddings}` (E to perturb instead of
--   embed_tokens(ids))
-- @treturn Tensor r [N, L, d] (no graph)
function M.fgm(model, ids, labels, opts)
  local who = "attack.embedding.fgm"
  M.check_model(model, who)
  check_ids(who, ids, labels)
  opts = mg.check_options(who, opts, { "eps", "padding_mask", "embeddings" })
  local eps = check_eps(who, opts.eps or 1.0)
  return mg.enable_grad(function()
    local e = (opts.embeddings or model:embed_tokens(ids)):detach():requires_grad_()
    local loss = mg.cross_entropy(forward(model, e, opts.padding_mask), labels, { reduction = "sum" })
    local g = mg.grad(loss, { e })[1]
    return M.unit(g, opts.padding_mask) * eps
  end)
end

--- Gaussian noise scaled to norm eps per example (the paper's control for
-- adversarial training).
-- @tparam Tensor like the embeddings [N, L, d], or ids [N, L] with opts.dim = d
-- @tparam[opt] table opts `{eps = 1.0, padding_mask, dim}`
-- @treturn Tensor r
function M.random(like, opts)
  local who = "attack.embedding.random"
  opts = mg.check_options(who, opts, { "eps", "padding_mask", "dim" })
  local eps = check_eps(who, opts.eps or 1.0)
  if not mg.is_tensor(like) or (like:dim() ~= 3 and not (like:dim() == 2 and opts.dim)) then
    error(who .. ": expects embeddings [N, L, d], or ids [N, L] with opts.dim", 2)
  end
  local shape = like:dim() == 3 and like:shape() or { like:size(1), like:size(2), opts.dim }
  return M.unit(mg.randn(shape), opts.padding_mask) * eps
end

-- Per-example KL(p || q) from logits [N, C] -> [N]; p detached by the caller.
local function kl(p_logits, q_logits)
  local logp, logq = p_logits:log_softmax(2), q_logits:log_softmax(2)
  return (logp:exp() * (logp - logq)):sum(2)
end

--- The virtual adversarial perturbation (Miyato et al. 2016; one power
-- iteration): the direction d of norm xi around the embeddings that most
-- changes the model's own prediction, scaled to eps. Needs no labels.
-- @tparam Module model a model with the seam (embed_tokens, forward_embeddings)
-- @tparam Tensor ids int64 [N, L]
-- @tparam[opt] table opts `{eps = 1.0, xi = 1e-6` (relative: d has norm xi per example),
--   `padding_mask, embeddings, clean_logits}` (reused when given)
-- @treturn Tensor r
function M.vat(model, ids, opts)
  local who = "attack.embedding.vat"
  M.check_model(model, who)
  check_ids(who, ids)
  opts = mg.check_options(who, opts, { "eps", "xi", "padding_mask", "embeddings", "clean_logits" })
  local eps = check_eps(who, opts.eps or 1.0)
  local xi = opts.xi or 1e-6
  return mg.enable_grad(function()
    local e = (opts.embeddings or model:embed_tokens(ids)):detach()
    local p = opts.clean_logits and opts.clean_logits:detach()
      or mg.no_grad(function() return forward(model, e, opts.padding_mask) end)
    local d = (M.unit(mg.randn_like(e), opts.padding_mask) * xi):requires_grad_()
    local div = kl(p, forward(model, e + d, opts.padding_mask)):sum()
    local g = mg.grad(div, { d })[1]
    return M.unit(g, opts.padding_mask) * eps
  end)
end

--- Projected gradient ascent on the cross-entropy in the L2 ball of radius eps
-- (per example) around the token embeddings, `steps` normalised steps of
-- size alpha, from a random point of the ball (random_start) or from 0.
-- Runs in eval mode (every module's mode restored after). Per example the
-- strongest point is kept: one that fools the model, else the highest
-- loss.
-- @tparam Module model a model with the seam (embed_tokens, forward_embeddings)
-- @tparam Tensor ids int64 [N, L]
-- @tparam Tensor labels int64 [N]
-- @tparam[opt] table opts `{eps = 1.0, steps = 10, alpha = 2.5 * eps / steps, padding_mask,
--   random_start = false}`
-- @treturn Tensor delta [N, L, d]
-- @treturn Tensor right [N]: 1 where the model is still right at the returned point
function M.pgd(model, ids, labels, opts)
  local who = "attack.embedding.pgd"
  M.check_model(model, who)
  check_ids(who, ids, labels)
  opts = mg.check_options(who, opts, { "eps", "steps", "alpha", "padding_mask", "random_start" })
  local eps = check_eps(who, opts.eps or 1.0)
  local steps = opts.steps or 10
  if math.type(steps) ~= "integer" or steps < 0 then error(who .. ": steps must be an integer >= 0", 2) end
  local alpha = opts.alpha or 2.5 * eps / math.max(steps, 1)
  local mask = opts.padding_mask
  return mg.nn.utils.eval_mode(model, mg.enable_grad, function()
    local e = mg.no_grad(function() return model:embed_tokens(ids) end)
    local function score(delta)
      local xd = delta:detach():requires_grad_()
      local logits = forward(model, e + xd, mask)
      local loss = mg.cross_entropy(logits, labels, { reduction = "none" })
      local g = mg.grad(loss:sum(), { xd })[1]
      return g, loss:detach(), logits:detach():argmax(2):eq(labels)
    end
    local delta = opts.random_start and M.random(e, { eps = eps, padding_mask = mask }) * mg.rand(ids:size(1), 1, 1)
      or mg.zeros_like(e)
    local best, best_loss, best_right
    for step = 0, steps do
      local g, loss, right = score(delta)
      if not best then
        best, best_loss, best_right = delta, loss, right
      else
        -- fooled beats right; then the higher loss
        local better = (best_right - right):gt(0) + (best_right - right):eq(0) * loss:gt(best_loss)
        local rows = better:gt(0):reshape(-1, 1, 1)
        best = mg.where(rows, delta, best)
        best_loss = mg.where(better:gt(0), loss, best_loss)
        best_right = mg.where(better:gt(0), right, best_right)
      end
      if step == steps then break end
      delta = mg.no_grad(function()
        local moved = delta + M.unit(g, mask) * alpha
        local scale = (eps / (norms(moved) + 1e-12)):clamp(nil, 1)
        return moved * scale
      end)
    end
    return best, best_right
  end)
end

--- How many examples the model classifies right under embedding PGD at
-- radius opts.eps (clean when eps is 0).
-- @tparam Module model a model with the seam (embed_tokens, forward_embeddings)
-- @tparam Tensor ids int64 [N, L]
-- @tparam Tensor labels int64 [N]
-- @tparam[opt] table opts as pgd's
-- @treturn int right
-- @treturn int n
function M.accuracy(model, ids, labels, opts)
  opts = opts or {}
  if (opts.eps or 1.0) == 0 then
    local right = mg.nn.utils.inference(model, function()
      return model(ids, { padding_mask = opts.padding_mask }):argmax(2):eq(labels):sum():item()
    end)
    return right, ids:size(1)
  end
  local _, right = M.pgd(model, ids, labels, opts)
  return right:sum():item(), ids:size(1)
end

local METHODS = { normal = true, random = true, fgm = true, vat = true }

--- The loss of one batch for adversarial training on embeddings; call
-- loss:backward() (or ctx:optimize(loss)) as usual. The methods: "normal"
-- (cross-entropy on the clean embeddings), "random" (clean + CE at E + r, r
-- Gaussian noise of norm eps: the control), "fgm" (clean + CE at E + r_adv,
-- r_adv = fgm; Miyato et al.), "vat" (clean + KL(p(E) || p(E + r_vadv)),
-- virtual adversarial). The perturbation is a constant; the perturbed
-- loss's gradient reaches the parameters, the embeddings included, through E.
-- @tparam Module model a model with the seam (embed_tokens, forward_embeddings)
-- @tparam Tensor ids int64 [N, L]
-- @tparam Tensor labels int64 [N]
-- @tparam[opt] table opts `{method, eps = 1.0, weight = 1.0` (the perturbed term's factor),
--   `xi` (vat), `padding_mask}`
-- @treturn Tensor loss
-- @treturn Tensor the clean logits, detached
function M.training_loss(model, ids, labels, opts)
  local who = "attack.embedding.training_loss"
  M.check_model(model, who)
  check_ids(who, ids, labels)
  opts = mg.check_options(who, opts, { "method", "eps", "weight", "xi", "padding_mask" })
  local method = opts.method or "fgm"
  if not METHODS[method] then
    error(who .. ": method must be normal, random, fgm or vat, got " .. tostring(method), 2)
  end
  local eps = check_eps(who, opts.eps or 1.0)
  local weight, mask = opts.weight or 1.0, opts.padding_mask
  local e = model:embed_tokens(ids)
  local logits = forward(model, e, mask)
  local loss = mg.cross_entropy(logits, labels)
  if method == "normal" then return loss, logits:detach() end
  local r
  if method == "random" then
    r = M.random(e, { eps = eps, padding_mask = mask })
  elseif method == "fgm" then
    -- the clean loss's gradient w.r.t. E, keeping the graph for backward
    local g = mg.grad(loss * ids:size(1), { e }, { retain_graph = true })[1]
    r = M.unit(g, mask) * eps
  else
    r = M.vat(model, ids, { eps = eps, xi = opts.xi, padding_mask = mask, embeddings = e, clean_logits = logits })
  end
  local perturbed = forward(model, e + r, mask)
  local extra
  if method == "vat" then
    extra = kl(logits:detach(), perturbed):mean()
  else
    extra = mg.cross_entropy(perturbed, labels)
  end
  return loss + extra * weight, logits:detach()
end

--- One FreeLB update (Zhu et al. 2020): K ascent steps on a perturbation
-- delta of the embeddings (L2 ball of radius eps per example, normalised
-- steps of size alpha, from uniform noise of norm init_mag), each
-- adding the parameters' gradient of loss / K at the current delta, then
-- one optimizer step with the accumulated gradients. The parameters'
-- .grad are zeroed first.
-- @tparam Module model with the seam
-- @tparam Optimizer opt
-- @tparam Tensor ids int64 [N, L]
-- @tparam Tensor labels int64 [N]
-- @tparam[opt] table opts `{steps = 3, eps = 1.0, alpha = eps / 2, init_mag = eps / 10,
--   padding_mask, ctx, clip_grad_norm}`; ctx is a trainer step's context: the last backward
--   and the step go through ctx:optimize, so the engine's gradient hook and clipping apply
-- @treturn Tensor the mean loss over the K steps (detached)
-- @treturn Tensor the first step's logits (detached)
function M.freelb_step(model, opt, ids, labels, opts)
  local who = "attack.embedding.freelb_step"
  M.check_model(model, who)
  check_ids(who, ids, labels)
  if type(opt) ~= "table" or type(opt.step) ~= "function" or type(opt.zero_grad) ~= "function" then
    error(who .. ": expects an optimizer, got " .. type(opt), 2)
  end
  opts = mg.check_options(who, opts, { "steps", "eps", "alpha", "init_mag", "padding_mask", "ctx", "clip_grad_norm" })
  local k = opts.steps or 3
  if math.type(k) ~= "integer" or k < 1 then error(who .. ": steps must be an integer >= 1", 2) end
  local eps = check_eps(who, opts.eps or 1.0)
  local alpha = opts.alpha or eps / 2
  local mask = opts.padding_mask
  opt:zero_grad()
  local delta, total, first_logits
  for t = 1, k do
    local e = model:embed_tokens(ids)
    if not delta then
      delta = M.unit(mg.rand_like(e) * 2 - 1, mask) * (opts.init_mag or eps / 10)
    end
    local d = delta:detach():requires_grad_()
    local logits = forward(model, e + d, mask)
    local loss = mg.cross_entropy(logits, labels) / k
    first_logits = first_logits or logits:detach()
    total = (total or 0) + loss:item()
    if t < k then
      loss:backward()
      delta = mg.no_grad(function()
        local moved = d:detach() + M.unit(d.grad, mask) * alpha
        return moved * (eps / (norms(moved) + 1e-12)):clamp(nil, 1)
      end)
    else
      mg.train.Trainer.step_with(opts.ctx, loss, opt, { zero_grad = false, clip_grad_norm = opts.clip_grad_norm })
    end
  end
  return mg.scalar(total), first_logits
end

return M
