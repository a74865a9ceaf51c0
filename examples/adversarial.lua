-- Workload 2: adversarial examples and adversarial training.
-- The seed CNN with 10 outputs is trained normally, then adversarially with
-- four recipes: the seed article's (clean plus FGSM examples at eps 0.1),
-- FGSM from a random start ("fast", Wong et al.), PGD (Madry et al.) and
-- TRADES (Zhang et al.). Each model is then attacked with FGSM and PGD-40
-- with restarts at several radii: accuracy per radius and attack, and a
-- robust accuracy that counts an image only if every attack failed on it.
-- Beside PGD-40, the attack ensemble of Croce and Hein at one radius
-- (--ens-eps): APGD-CE, APGD-T and the gradient-free Square, in sequence,
-- each on the images the ones before it left right; PGD with a fixed step
-- overestimates robustness, and a model that masks its gradients does not
-- fool Square.
-- The attacks use the classifier's own labels and loss (the seed article
-- attacked a rotation model with digit labels, through its output); the
-- seed's own attack (plain gradient ascent, 100 small steps) is run on the
-- normally trained model too.
-- Schedules: normal and seed train as in the article (Adam 1e-3, --epochs).
-- fast / pgd / trades train for --adv-epochs at --train-eps, which grows
-- from 0 over the first --eps-warmup epochs (PGD training from scratch at
-- eps 0.3 otherwise stalls at chance), with the learning rate divided by
-- 10 for the last quarter (--lr-drop).
--
--   bin/moongrad examples/adversarial.lua --data mnist --adv-epochs 20 --eval-limit 2000
--   bin/moongrad examples/adversarial.lua --data fashion --pgd-steps 5
--   bin/moongrad examples/adversarial.lua --load out/adversarial --methods pgd,trades
--     (attack the models a run saved, without training them again)
local mg = require "moongrad"
local attack, viz, train = mg.attack, mg.viz, mg.train

local opts = mg.cli.parse(arg, mg.cli.common("adversarial",
  "Attacks (FGSM, PGD) on the seed CNN, and adversarial training: seed recipe, fast FGSM, PGD, TRADES",
  { epochs = 10, batch_size = 64 }, {
    { "methods", "normal,seed,fast,pgd,trades", "training methods (comma-separated: normal, seed, fast, pgd, trades)" },
    { "eps", "", "evaluation radii, comma-separated (default: mnist 0.1,0.2,0.3; fashion 0.05,0.1,0.15)" },
    { "train-eps", 0.0, "L-inf radius of fast / pgd / trades training (0: mnist 0.3, fashion 0.1)" },
    { "seed-eps", 0.1, "FGSM radius of the seed recipe (the article's 0.1)" },
    { "pgd-steps", 10, "PGD steps when training with pgd / trades (step 2.5 * eps / steps)" },
    { "beta", 6.0, "TRADES weight of the KL term" },
    { "lr", 1e-3, "Adam learning rate" },
    { "shift", 0, "shift each training image by up to N pixels at random (0: off); against robust overfitting" },
    { "adv-epochs", 0, "epochs of fast / pgd / trades training (0: as --epochs)" },
    { "eps-warmup", 3.0, "fast / pgd / trades: epochs over which the training radius grows linearly from 0" },
    { "lr-drop", 0.75,
      "fast / pgd / trades: divide the learning rate by 10 after this fraction of the epochs (0: never)" },
    { "eval-steps", 40, "PGD steps of the evaluation attack (step 2.5 * eps / steps)" },
    { "restarts", 2, "random restarts of the evaluation PGD" },
    { "eval-limit", 1000, "attack the first N test images (0: all)" },
    { "test-limit", 0, "use only the first N test images for clean accuracy (0: all)" },
    { "train-eval", 0, "also attack the first N training images with PGD at the largest eps: the gap between " ..
      "robust accuracy on images trained on and on test images (0: off)" },
    { "ga-steps", 100, "steps of the seed's gradient-ascent attack on the normal model (0: skip it)" },
    { "ga-step", 0.01, "its step: x += step * grad_x(loss)" },
    { "ens-eps", 0.0, "L-inf radius of the attack ensemble (0: mnist 0.3, fashion 0.1)" },
    { "ens-steps", 100, "APGD steps per run in the ensemble (0: no ensemble)" },
    { "ens-targets", 9, "target classes of APGD-T in the ensemble" },
    { "ens-queries", 5000, "Square's queries per image in the ensemble (0: leave Square out)" },
    { "ens-limit", 0, "attack the first N test images with the ensemble (0: as --eval-limit)" },
    { "load", "", "load the models from DIR/METHOD.safetensors (a run's --out) instead of training them" },
  }))

local METHOD_INFO = {
  normal = "normal training",
  seed = "seed recipe: clean + FGSM",
  fast = "fast: FGSM, random start",
  pgd = "PGD training (Madry)",
  trades = "TRADES",
}
local methods = {}
for m in opts.methods:gmatch("[^,%s]+") do
  if not METHOD_INFO[m] then error("--methods: unknown method '" .. m .. "' (normal, seed, fast, pgd, trades)", 0) end
  methods[#methods + 1] = m
end
if #methods == 0 then error("--methods: give at least one method", 0) end
if opts.shift < 0 or opts.shift > 27 then
  error("--shift: expected 0 to 27 pixels, got " .. opts.shift, 0)
end

local function number_list(text, what)
  local out = {}
  for item in text:gmatch("[^,%s]+") do
    local v = tonumber(item)
    if not v or v < 0 then error(what .. ": expected numbers >= 0, got '" .. item .. "'", 0) end
    out[#out + 1] = v
  end
  return out
end
local eps_list = opts.eps ~= "" and number_list(opts.eps, "--eps")
  or (opts.data == "fashion" and { 0.05, 0.1, 0.15 } or { 0.1, 0.2, 0.3 })
local train_eps = opts.train_eps > 0 and opts.train_eps or (opts.data == "fashion" and 0.1 or 0.3)
local ens_eps = opts.ens_eps > 0 and opts.ens_eps or (opts.data == "fashion" and 0.1 or 0.3)

local started = mg.cli.start(opts)

local train_ds, test_ds = mg.cli.datasets(opts)
local eval_n = opts.eval_limit > 0 and math.min(opts.eval_limit, #test_ds) or #test_ds
local ens_n = opts.ens_limit > 0 and math.min(opts.ens_limit, #test_ds) or eval_n
local classes = test_ds.classes or {}

-- The methods trained at --train-eps (the seed recipe keeps its own FGSM radius).
local ROBUST = { fast = true, pgd = true, trades = true }

local function new_model() return mg.models.classifier(10) end

local log = train.MetricsLog(opts.out .. "/metrics.jsonl", { append = false })
local test_loader = mg.data.DataLoader(test_ds, { batch_size = 500 })
local eval_loader = mg.data.DataLoader(test_ds, { batch_size = 250 })
local eval_attacks = {
  { name = "fgsm", label = "fgsm" },
  { name = "pgd", label = "pgd", steps = opts.eval_steps, restarts = opts.restarts },
}

-- Training radius at a fractional epoch position (linear warm-up).
local function eps_at(progress_epochs, eps)
  if opts.eps_warmup <= 0 then return eps end
  return eps * math.min(1, progress_epochs / opts.eps_warmup)
end

local function train_method(method)
  mg.manual_seed(opts.seed) -- every method starts from the same weights and data order
  local model = new_model()
  local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr })
  local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true,
    transform = opts.shift > 0 and mg.data.transforms.random_crop(28, { padding = opts.shift }) or nil })
  local t0 = mg.clock()
  local batches = #loader
  local epochs = ROBUST[method] and opts.adv_epochs > 0 and opts.adv_epochs or opts.epochs
  train.Trainer {
    model = model, optimizer = opt, epochs = epochs, log = log, tags = { phase = "train", method = method },
    desc = method .. " epoch", unit = "img",
    evaluate = function() return { test_acc = train.evaluate(model, test_loader).accuracy } end,
  }:run(loader, function(batch, ctx)
    if ctx.batch == 1 and ROBUST[method] and opts.lr_drop > 0 and ctx.epoch > math.floor(opts.lr_drop * epochs) then
      opt.param_groups[1].lr = opts.lr / 10
    end
    -- the attack runs inside the step: training_loss attacks the batch (in
    -- eval mode, modes restored) and returns the loss on what it made
    local eps = method == "seed" and opts.seed_eps or eps_at(ctx.epoch - 1 + (ctx.batch - 1) / batches, train_eps)
    local loss, logits, targets = attack.training_loss(model, batch.images, batch.labels, {
      method = method, eps = eps, steps = opts.pgd_steps, beta = opts.beta })
    ctx:optimize(loss)
    local n = targets:size(1)
    return { train_loss = loss, train_acc = { logits:argmax(2):eq(targets):sum(), n }, n = n }
  end)
  return model, mg.clock() - t0, epochs
end

-- Evaluation under attack, with a progress line per batch of attacked images.
local function robustness(method, model)
  local t0 = mg.clock()
  local progress = train.Progress { total = math.ceil(eval_n / 250), desc = method .. " attacks", unit = "img" }
  local done = 0
  local r = attack.evaluate(model, eval_loader, {
    eps = eps_list, attacks = eval_attacks, limit = eval_n,
    on_batch = function(n) progress:update(1, n - done); done = n end,
  })
  local row = { clean = r.clean, fgsm = {}, pgd = {}, robust = {} }
  for i, e in ipairs(r.by_eps) do
    row.fgsm[i], row.pgd[i], row.robust[i] = e.fgsm, e.pgd, e.robust
  end
  progress:close { clean = r.clean, pgd = row.pgd[#row.pgd] }
  return row, mg.clock() - t0
end

-- PGD at the largest --eps on the first --train-eval training images (no
-- shift), beside the same attack on test images: robust accuracy on what
-- the model trained on against what it did not see.
local function train_robustness(model)
  local n = math.min(opts.train_eval, #train_ds)
  local loader = mg.data.DataLoader(train_ds, { batch_size = 250 })
  local r = attack.evaluate(model, loader, { eps = { eps_list[#eps_list] }, attacks = { eval_attacks[2] }, limit = n })
  return { images = n, eps = eps_list[#eps_list], clean = r.clean, pgd = r.by_eps[1].pgd }
end

-- The ensemble in sequence at --ens-eps on the first ens_n test images:
-- accuracy after APGD-CE, after APGD-T too, after Square too (the robust
-- accuracy), and PGD-40 on the same images and radius (from the main table
-- when it covers them).
local function ensemble_robustness(method, model, row)
  local t0 = mg.clock()
  local progress = train.Progress { total = math.ceil(ens_n / 250), desc = method .. " ensemble", unit = "img" }
  local done = 0
  local r = attack.evaluate(model, eval_loader, {
    eps = { ens_eps }, limit = ens_n,
    ensemble = { steps = opts.ens_steps, n_targets = opts.ens_targets, queries = opts.ens_queries },
    on_batch = function(n) progress:update(1, n - done); done = n end,
  })
  local e = r.by_eps[1]
  local out = { eps = ens_eps, images = ens_n, clean = r.clean, apgd_ce = e.apgd_ce, apgd_t = e.apgd_t,
    square = e.square, robust = e.robust, steps = opts.ens_steps, targets = opts.ens_targets,
    queries = opts.ens_queries }
  for i, eps in ipairs(eps_list) do
    if eps == ens_eps and ens_n == eval_n then out.pgd = row.pgd[i] end
  end
  if not out.pgd then
    out.pgd = attack.evaluate(model, eval_loader, { eps = { ens_eps }, attacks = { eval_attacks[2] }, limit = ens_n })
      .by_eps[1].pgd
  end
  out.seconds = mg.clock() - t0
  progress:close { pgd = out.pgd, ensemble = out.robust }
  return out
end

-- Picture: clean images, FGSM and PGD versions at the training radius and
-- their perturbations, with the predicted classes (red when wrong).
local function picture(method, model)
  local k = math.min(10, #test_ds)
  local x, y = test_ds.images:narrow(1, 1, k), test_ds.labels:narrow(1, 1, k)
  local eps = method == "seed" and math.max(opts.seed_eps, train_eps) or train_eps
  local fgsm = attack.fgsm(model, x, y, { eps = eps })
  local pgd = attack.pgd(model, x, y, { eps = eps, steps = opts.eval_steps, restarts = opts.restarts })
  local truth = y:totable()
  local function captions(images)
    local pred = mg.nn.utils.inference(model, function() return model(images):argmax(2):totable() end)
    local text, colors = {}, {}
    for i, p in ipairs(pred) do
      text[i] = tostring(classes[p] or p)
      colors[i] = p == truth[i] and "black" or "red"
    end
    return text, colors
  end
  local rows = {}
  local function add(label, images, perturbation)
    local text, colors
    if not perturbation then text, colors = captions(images) end
    rows[#rows + 1] = { label = label, images = images, captions = text, caption_colors = colors,
      normalize = perturbation and "symmetric" or nil, cmap = perturbation and "diverging" or nil,
      range = (not perturbation) and { 0, 1 } or nil }
  end
  add("clean", x)
  add(string.format("FGSM %.2g", eps), fgsm)
  add("FGSM delta", fgsm - x, true)
  add(string.format("PGD-%d %.2g", opts.eval_steps, eps), pgd)
  add("PGD delta", pgd - x, true)
  return viz.image_rows(rows, string.format("%s/adversarial_%s.png", opts.out, method), {
    scale = 2, title = string.format("%s on %s: predictions under attack (red: wrong)", METHOD_INFO[method],
      test_ds.name) })
end

-- The seed article's attack, x += step * grad_x(loss) with no eps bound, on
-- the attacked test images: accuracy and how far the images moved.
local function seed_attack(model)
  local x, y = test_ds.images:narrow(1, 1, eval_n), test_ds.labels:narrow(1, 1, eval_n)
  local right, linf, l2 = 0, 0, 0
  for s = 1, eval_n, 250 do
    local k = math.min(250, eval_n - s + 1)
    local xb, yb = x:narrow(1, s, k), y:narrow(1, s, k)
    local adv = attack.gradient_ascent(model, xb, yb, { steps = opts.ga_steps, step = opts.ga_step })
    right = right + mg.no_grad(function() return model(adv):argmax(2):eq(yb):sum():item() end)
    linf = linf + attack.distance(adv, xb):sum():item()
    l2 = l2 + attack.distance(adv, xb, "l2"):sum():item()
  end
  return { steps = opts.ga_steps, step = opts.ga_step, accuracy = right / eval_n,
    mean_linf = linf / eval_n, mean_l2 = l2 / eval_n }
end

local results, pictures = {}, {}
for _, method in ipairs(methods) do
  local model, train_seconds, epochs
  if opts.load ~= "" then
    model, train_seconds, epochs = new_model(), 0, 0
    model:load_state_dict(mg.load(string.format("%s/%s.safetensors", opts.load, method)))
  else
    model, train_seconds, epochs = train_method(method)
    mg.save(string.format("%s/%s.safetensors", opts.out, method), model:state_dict())
  end
  local clean = train.evaluate(model, test_loader).accuracy
  local row, eval_seconds = robustness(method, model)
  row.method, row.test_acc = method, clean
  row.epochs, row.train_seconds, row.eval_seconds = epochs, train_seconds, eval_seconds
  if method == "normal" and opts.ga_steps > 0 then row.gradient_ascent = seed_attack(model) end
  if opts.ens_steps > 0 then row.ensemble = ensemble_robustness(method, model, row) end
  if opts.train_eval > 0 then row.train_attack = train_robustness(model) end
  results[#results + 1] = row
  pictures[#pictures + 1] = picture(method, model)
  log:write { phase = "evaluation", method = method, test_acc = clean, clean = row.clean,
    fgsm = row.fgsm, pgd = row.pgd, robust = row.robust, eps = eps_list, ensemble = row.ensemble }
  io.stderr:write(string.format("%s: test accuracy %.4f, PGD at eps %g: %.4f (train %.0f s, attacks %.0f s)\n",
    method, clean, eps_list[#eps_list], row.pgd[#row.pgd], train_seconds, eval_seconds))
end
log:close()

-- Accuracy under PGD against the radius, one line per method.
local series = {}
for _, r in ipairs(results) do
  local xs, ys = { 0 }, { r.clean }
  for i, e in ipairs(eps_list) do xs[#xs + 1], ys[#ys + 1] = e, r.pgd[i] end
  series[#series + 1] = { name = r.method, x = xs, y = ys }
end
local curve = viz.plot(series, opts.out .. "/accuracy_vs_eps.png", {
  title = string.format("%s: accuracy under PGD-%d (%d restarts)", test_ds.name, opts.eval_steps, opts.restarts),
  xlabel = "eps (L-inf)", ylabel = "accuracy", ymin = 0, ymax = 1 })
pictures[#pictures + 1] = curve

-- The table.
print(string.format("\nAdversarial training on %s (%s set, %d train images, %d epochs, fast/pgd/trades %d); " ..
  "training eps %g (seed recipe: FGSM %g), PGD training %d steps", train_ds.name, train_ds.source, #train_ds,
  opts.epochs, opts.adv_epochs > 0 and opts.adv_epochs or opts.epochs, train_eps, opts.seed_eps, opts.pgd_steps))
print(string.format("Accuracy under attack on the first %d test images (clean: all %d); PGD-%d with %d restart%s",
  eval_n, #test_ds, opts.eval_steps, opts.restarts, opts.restarts == 1 and "" or "s"))
local head = { string.format("%-8s %7s", "method", "clean") }
for _, e in ipairs(eps_list) do head[#head + 1] = string.format("%9s", "FGSM " .. e) end
for _, e in ipairs(eps_list) do head[#head + 1] = string.format("%9s", "PGD " .. e) end
print(table.concat(head, " "))
for _, r in ipairs(results) do
  local cells = { string.format("%-8s %7.4f", r.method, r.test_acc) }
  for i = 1, #eps_list do cells[#cells + 1] = string.format("%9.4f", r.fgsm[i]) end
  for i = 1, #eps_list do cells[#cells + 1] = string.format("%9.4f", r.pgd[i]) end
  print(table.concat(cells, " "))
end
if opts.ens_steps > 0 then
  print(string.format("\nAttack ensemble at eps %g on the first %d test images, in sequence (each attack on the " ..
    "images still right): APGD-CE and APGD-T (%d targets) %d steps, Square %d queries; accuracy after each",
    ens_eps, ens_n, opts.ens_targets, opts.ens_steps, opts.ens_queries))
  print(string.format("%-8s %7s %10s %9s %9s %9s", "method", "clean", "PGD-" .. opts.eval_steps .. " " .. ens_eps,
    "APGD-CE", "+APGD-T", "+Square"))
  for _, r in ipairs(results) do
    local e = r.ensemble
    print(string.format("%-8s %7.4f %10.4f %9.4f %9.4f %9s", r.method, e.clean, e.pgd, e.apgd_ce, e.apgd_t,
      e.square and string.format("%.4f", e.square) or "-"))
  end
end
if opts.train_eval > 0 then
  print(string.format("\nPGD-%d at eps %g on images trained on (the first %d) and on test images (the first %d)",
    opts.eval_steps, eps_list[#eps_list], results[1].train_attack.images, eval_n))
  print(string.format("%-8s %11s %10s %10s", "method", "train clean", "train PGD", "test PGD"))
  for _, r in ipairs(results) do
    print(string.format("%-8s %11.4f %10.4f %10.4f", r.method, r.train_attack.clean, r.train_attack.pgd,
      r.pgd[#r.pgd]))
  end
end
for _, r in ipairs(results) do
  local ga = r.gradient_ascent
  if ga then
    print(string.format("seed's gradient ascent (%d steps of %g * gradient, no eps bound) on the %s model: " ..
      "accuracy %.4f, mean distance L-inf %.4f, L2 %.4f", ga.steps, ga.step, r.method, ga.accuracy,
      ga.mean_linf, ga.mean_l2))
  end
end
print("pictures: " .. table.concat(pictures, ", "))

mg.cli.result({
  example = "adversarial", data = opts.data, source = train_ds.source, train_images = #train_ds,
  test_images = #test_ds, eval_images = eval_n, epochs = opts.epochs, batch_size = opts.batch_size,
  train_eps = train_eps, seed_eps = opts.seed_eps, pgd_train_steps = opts.pgd_steps, beta = opts.beta,
  shift = opts.shift,
  adv_epochs = opts.adv_epochs, eps_warmup = opts.eps_warmup, lr = opts.lr, lr_drop = opts.lr_drop,
  eval_steps = opts.eval_steps, restarts = opts.restarts, eps = eps_list, ensemble_eps = ens_eps,
  ensemble_images = ens_n, loaded = opts.load ~= "" and opts.load or nil,
  methods = results, seconds = mg.clock() - started, pictures = pictures,
})
