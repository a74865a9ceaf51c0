-- Workload 1: rotation prediction as a self-supervised pretext task.
-- Every training image is shown at 0, 90, 180 and 270 degrees and the
-- seed CNN learns to tell the rotation (no human label used). Then the
-- point of it: how good are the learned features for the real classes?
-- A linear probe and a fine-tune of the pretrained trunk with 100, 1,000
-- and all labels, against the same network trained from scratch.
--
--   bin/moongrad examples/rotnet.lua --data fashion --epochs 10
local mg = require "moongrad"
local ssl, viz, train = mg.ssl, mg.viz, mg.train

local opts = mg.cli.parse(arg, mg.cli.common("rotnet",
  "Rotation prediction pretext task, then linear probe / fine-tune / scratch on few labels",
  { epochs = 10, batch_size = 128 }, {
    { "lr", 1e-3, "Adam learning rate for the pretext task" },
    { "labels", "100,1000,all", "label counts for the evaluation (comma-separated; all = every label)" },
    { "eval-steps", 0, "optimizer steps per evaluation run (0: scale with the label count)" },
    { "test-limit", 0, "use only the first N test images (0: all)" },
  }))

local started = mg.cli.start(opts)

local train_ds, test_ds = mg.cli.datasets(opts)

-- Pretext training: each batch of B images becomes 4B rotated images.
local model = mg.models.RotNet(4)
local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr })
local loader = mg.data.DataLoader(train_ds, { batch_size = opts.batch_size, shuffle = true })
local log = train.MetricsLog(opts.out .. "/metrics.jsonl", { append = false })
local losses, test_acc = {}, {}

local function pretext_accuracy(ds)
  return mg.nn.utils.inference(model, function()
    local correct, n = 0, 0
    for s = 1, #ds, 256 do
      local x, r = ssl.rotations(ds.images:narrow(1, s, math.min(256, #ds - s + 1)))
      correct = correct + model(x):argmax(2):eq(r):sum():item()
      n = n + #x
    end
    return correct / n
  end)
end

train.Trainer {
  model = model, optimizer = opt, epochs = opts.epochs, log = log, tags = { phase = "pretext" },
  desc = "pretext epoch", unit = "img",
  evaluate = function()
    test_acc[#test_acc + 1] = pretext_accuracy(test_ds)
    return { test_acc = test_acc[#test_acc] }
  end,
}:run(loader, function(batch, ctx)
  local x, r = ssl.rotations(batch.images)
  local logits = model(x)
  local loss = mg.cross_entropy(logits, r)
  ctx:optimize(loss)
  local l = loss:item()
  losses[#losses + 1] = l
  return { train_loss = l, train_acc = { logits:detach():argmax(2):eq(r):sum(), #x }, n = #x }
end)
local pretext_time = mg.clock() - started
mg.save(opts.out .. "/rotnet.safetensors", model:state_dict())

-- Pictures: a rotated batch with true/predicted rotation under each image,
-- and the pretext loss curve.
local degrees = { "0", "90", "180", "270" }
local sample = test_ds.images:narrow(1, 1, 8)
local x, r = ssl.rotations(sample)
local pred = mg.nn.utils.inference(model, function() return model(x):argmax(2) end)
local captions, colors = {}, {}
for i, t in ipairs(r:totable()) do
  local p = pred:totable()[i]
  captions[i] = degrees[t] .. "/" .. degrees[p]
  colors[i] = t == p and "black" or "red"
end
local grid = viz.image_grid(x, opts.out .. "/rotations.png", {
  nrow = 8, scale = 2, captions = captions, caption_colors = colors,
  title = "true/predicted rotation (degrees)" })
local curve = viz.plot({ { name = "pretext loss (per step)", y = losses } }, opts.out .. "/pretext_loss.png",
  { title = "Rotation pretext task", xlabel = "step", ylabel = "cross-entropy" })

-- Evaluation of the features on the real classes.
local counts = ssl.label_counts(opts.labels)
local state = model.trunk:state_dict()
local rows = ssl.evaluate(mg.models.conv_trunk, state, train_ds, test_ds, {
  labels = counts, seed = opts.seed,
  steps = opts.eval_steps > 0 and function() return opts.eval_steps end or nil,
  on_row = ssl.report_row(log),
})
log:close()

print(string.format("\nRotation pretext on %s (%s set, %d train images): test rotation accuracy %.4f",
  train_ds.name, train_ds.source, #train_ds, test_acc[#test_acc] or 0))
print(string.format("%8s  %12s  %10s  %12s", "labels", "linear probe", "fine-tune", "from scratch"))
for _, row in ipairs(rows) do
  print(string.format("%8d  %12.4f  %10.4f  %12.4f", row.labels, row.probe, row.fine_tune, row.scratch))
end
print("pictures: " .. grid .. ", " .. curve)

local result = {
  example = "rotnet", data = opts.data, source = train_ds.source, train_images = #train_ds,
  epochs = opts.epochs, pretext_test_acc = test_acc[#test_acc], evaluation = rows,
  pretext_seconds = pretext_time, seconds = mg.clock() - started,
  pictures = { grid, curve },
}
mg.cli.result(result)
