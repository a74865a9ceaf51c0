-- The demo (`make demo`): what moongrad is for, in about a minute on
-- the bundled digits.
--  1. Self-supervised: a CNN learns to tell how an image was rotated (no
--     labels), then a linear probe on its features with 100 labels is
--     compared with the same network trained from scratch on those labels.
--  2. Adversarial: a classifier trained normally and one trained on PGD
--     adversarial examples, attacked with FGSM and PGD at several eps.
-- Pictures go to out/demo/; the last line is the figures as JSON.
local mg = require "moongrad"
local ssl, attack, viz, train = mg.ssl, mg.attack, mg.viz, mg.train

local opts = mg.cli.parse(arg, mg.cli.common("demo", "A short tour of what moongrad runs",
  { epochs = 5, batch_size = 128 }, {
  { "adv-epochs", 24, "epochs of the adversarially trained classifier" },
  { "attack-limit", 500, "test images attacked" },
}))
local started = mg.cli.start(opts)

-- The bundled sample keeps the demo short and the same on every machine.
local train_ds, test_ds = mg.cli.datasets(opts, { source = "sample" })
print(string.format("moongrad demo on %d %s training images, %d test images (%d threads)\n",
  #train_ds, train_ds.name, #test_ds, mg.get_num_threads()))

---------------------------------------------------------------- 1. rotations
print("1. Rotation prediction: learn features without labels")
local rotnet = mg.models.RotNet(4)
local opt = mg.optim.Adam(rotnet:parameters(), { lr = 1e-3 })
local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true })
local pretext = train.Trainer { model = rotnet, optimizer = opt, epochs = opts.epochs, desc = "   pretext epoch",
  unit = "img" }
pretext:run(loader,
  function(batch, ctx)
    local x, r = ssl.rotations(batch.images)
    local logits = rotnet(x)
    local loss = ctx:optimize(mg.cross_entropy(logits, r))
    return { loss = loss, acc = { logits:detach():argmax(2):eq(r):sum(), #x }, n = #x }
  end)
rotnet:eval()
local sample_x, sample_r = ssl.rotations(test_ds.images:narrow(1, 1, 8))
local sample_pred = mg.no_grad(function() return rotnet(sample_x):argmax(2) end)
-- One row per true rotation (rotations() puts the 8 images at 0 degrees
-- first, then at 90, ...), each image captioned with the predicted one.
local degrees, rows = { "0", "90", "180", "270" }, {}
local pred_list, true_list = sample_pred:totable(), sample_r:totable()
for k = 1, 4 do
  local captions, colours = {}, {}
  for j = 1, 8 do
    local i = (k - 1) * 8 + j
    captions[j] = degrees[pred_list[i]]
    colours[j] = true_list[i] == pred_list[i] and "black" or "red"
  end
  rows[k] = { label = "turned " .. degrees[k], images = sample_x:narrow(1, (k - 1) * 8 + 1, 8), captions = captions,
    caption_colors = colours }
end
local rot_png = viz.image_rows(rows, opts.out .. "/rotations.png",
  { scale = 2, title = "true rotation by row; predicted under each image (red: wrong)" })
local rot_acc = mg.no_grad(function()
  local x, r = ssl.rotations(test_ds.images)
  return rotnet(x):argmax(2):eq(r):float():mean():item()
end)
print(string.format("   test rotation accuracy %.3f", rot_acc))

local few = ssl.balanced_subset(train_ds, 100, opts.seed)
mg.manual_seed(opts.seed)
local probe = ssl.linear_probe(rotnet.trunk, few, test_ds)
mg.manual_seed(opts.seed)
local scratch = ssl.fine_tune(mg.models.conv_trunk, nil, few, test_ds, { steps = 300 })
print(string.format("   100 labels: linear probe on rotation features %.3f, same CNN from scratch %.3f\n",
  probe, scratch))

---------------------------------------------------------------- 2. attacks
print("2. Adversarial examples: a normal and an adversarially trained classifier")
-- fit(model, epochs, desc, method): Adam on the training loss of
-- attack.training_loss ("normal" or "pgd"). PGD training grows its radius
-- from 0 to eps_train over the first half of the epochs: from scratch at
-- the full radius the network stays at chance.
local eps_train = opts.data == "fashion" and 0.1 or 0.3
local function fit(model, epochs, desc, method)
  local o = mg.optim.Adam(model:parameters(), { lr = 1e-3 })
  local batches, warmup = #loader, math.max(1, epochs / 2)
  train.Trainer { model = model, optimizer = o, epochs = epochs, desc = "   " .. desc .. " epoch", unit = "img" }:run(
    loader, function(batch, ctx)
      local eps = eps_train * math.min(1, (ctx.epoch - 1 + (ctx.batch - 1) / batches) / warmup)
      local loss = attack.training_loss(model, batch.images, batch.labels, { method = method, eps = eps, steps = 7 })
      ctx:optimize(loss)
      return { loss = loss, eps = method == "pgd" and eps or nil, n = batch.images:size(1) }
    end)
  model:eval()
  return model
end

local normal = fit(mg.models.classifier(10), opts.epochs + 2, "normal training", "normal")
local robust = fit(mg.models.classifier(10), opts.adv_epochs, "PGD training", "pgd")

local eval_ds = mg.data.TensorDataset(test_ds.images:narrow(1, 1, math.min(opts.attack_limit, #test_ds)),
  test_ds.labels:narrow(1, 1, math.min(opts.attack_limit, #test_ds)))
local eval_loader = mg.data.DataLoader(eval_ds, { batch_size = 250 })
local eps_list = opts.data == "fashion" and { 0.05, 0.1, 0.2 } or { 0.1, 0.2, 0.3 }
local attacks = { { name = "fgsm" }, { name = "pgd", steps = 20, restarts = 1 } }
local results = {}
for _, m in ipairs({ { "normal", normal }, { "PGD-trained", robust } }) do
  results[#results + 1] = { name = m[1], r = attack.evaluate(m[2], eval_loader, { eps = eps_list, attacks = attacks }) }
end
local header = string.format("   %-12s %7s", "model", "clean")
for _, e in ipairs(eps_list) do header = header .. string.format("  FGSM@%.2f  PGD@%.2f", e, e) end
print(header)
for _, row in ipairs(results) do
  local line = string.format("   %-12s %7.3f", row.name, row.r.clean)
  for i = 1, #eps_list do line = line .. string.format("  %9.3f  %8.3f", row.r.by_eps[i].fgsm, row.r.by_eps[i].pgd) end
  print(line)
end

-- Accuracy against eps, both models and both attacks (eps 0: clean).
local curves = {}
for _, row in ipairs(results) do
  for _, a in ipairs({ "fgsm", "pgd" }) do
    local xs, ys = { 0 }, { row.r.clean }
    for i, e in ipairs(eps_list) do xs[#xs + 1], ys[#ys + 1] = e, row.r.by_eps[i][a] end
    curves[#curves + 1] = { name = row.name .. ", " .. a:upper(), x = xs, y = ys }
  end
end
local eps_png = viz.plot(curves, opts.out .. "/accuracy_eps.png", { title = "accuracy under attack",
  xlabel = "eps (L-inf)", ylabel = "test accuracy", ymin = 0, ymax = 1 })

-- The normal and the PGD-trained model side by side: the same clean
-- images, each model's PGD adversarial versions and the perturbations,
-- with the model's predictions under each image.
local x, y = eval_ds.images:narrow(1, 1, 10), eval_ds.labels:narrow(1, 1, 10)
local eps_show = eps_list[#eps_list]
local function preds(model, imgs)
  local p = mg.no_grad(function() return model(imgs):argmax(2) end):totable()
  local caps, cols, truth = {}, {}, y:totable()
  for i, c in ipairs(p) do
    caps[i] = train_ds.classes[c]
    cols[i] = c == truth[i] and "black" or "red"
  end
  return caps, cols
end
local panels = {}
for k, m in ipairs({ { "normal training", normal }, { "PGD training", robust } }) do
  local adv = attack.pgd(m[2], x, y, { eps = eps_show, steps = 20 })
  local clean_caps, clean_cols = preds(m[2], x)
  local adv_caps, adv_cols = preds(m[2], adv)
  panels[k] = viz.image_rows({
    { label = "clean", images = x, captions = clean_caps, caption_colors = clean_cols },
    { label = string.format("PGD %.2f", eps_show), images = adv, captions = adv_caps, caption_colors = adv_cols },
    { label = "perturbation", images = adv - x, cmap = "diverging", normalize = "symmetric" },
  }, string.format("%s/adversarial_%d.png", opts.out, k), { scale = 2, title = m[1] })
end
local left, right = mg.read_png(panels[1]), mg.read_png(panels[2])
local gap, top = 24, 34
local canvas = viz.Canvas(left:size(2) + gap + right:size(2), top + math.max(left:size(1), right:size(1)))
canvas:text(canvas.width // 2, 8, "predictions under each image (red: wrong)", "black", { scale = 2, align = "center" })
canvas:image(left:permute(3, 1, 2), 1, top + 1, { range = { 0, 255 } })
canvas:image(right:permute(3, 1, 2), left:size(2) + gap + 1, top + 1, { range = { 0, 255 } })
local adv_png = canvas:save(opts.out .. "/adversarial.png")
os.remove(panels[1])
os.remove(panels[2])

local seconds = mg.clock() - started
print(string.format("\npictures:\n   %s\n   %s\n   %s\ndone in %.0f s", rot_png, adv_png, eps_png, seconds))
mg.cli.result({
  example = "demo", data = opts.data, train_images = #train_ds, rotation_test_acc = rot_acc,
  probe_100 = probe, scratch_100 = scratch,
  attacks = { eps = eps_list, normal = results[1].r, pgd_trained = results[2].r },
  pictures = { rot_png, adv_png, eps_png }, seconds = seconds,
})
