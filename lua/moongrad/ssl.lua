--- Self-supervised learning: the rotation pretext task and the evaluation
-- that says whether learned features are any good (a linear probe and a
-- fine-tune on few labels, against the same network trained from scratch).
-- The networks (the seed CNN, RotNet) are in mg.models.
-- @module moongrad.ssl
-- @alias M
-- @usage local rows = mg.ssl.evaluate(mg.models.conv_trunk, rotnet.trunk:state_dict(), train, test)
-- for _, r in ipairs(rows) do print(r.labels, r.probe, r.fine_tune, r.scratch) end
local mg = require "moongrad"
local nn = mg.nn
local models = require "moongrad.models"

local M = {}

--- Every image at 0, 90, 180 and 270 degrees, with its rotation class.
-- @function rotations
-- @tparam Tensor x images [N, C, H, W], square
-- @treturn Tensor [4N, C, H, W]
-- @treturn Tensor int64 classes, 1 = not turned, 2 = 90 degrees, ...
M.rotations = mg.data.transforms.rotations()

--- n examples, as equal a number per class as the data allows.
-- @tparam Dataset ds
-- @tparam int|string n a count; nil or "all" returns ds itself
-- @int[opt=0] seed
-- @treturn TensorDataset
function M.balanced_subset(ds, n, seed)
  if n == nil or n == "all" or n >= #ds.labels then return ds end
  local labels = ds.labels:totable()
  local by_class, classes = {}, {}
  for i, c in ipairs(labels) do
    if not by_class[c] then by_class[c] = {}; classes[#classes + 1] = c end
    table.insert(by_class[c], i)
  end
  table.sort(classes)
  mg.with_rng_state(seed or 0, function()
    for _, c in ipairs(classes) do -- shuffle each class with a seeded permutation
      local idx = by_class[c]
      local perm = mg.randperm(#idx):totable()
      local shuffled = {}
      for k, p in ipairs(perm) do shuffled[k] = idx[p] end
      by_class[c] = shuffled
    end
  end)
  local pick, round = {}, 1
  while #pick < n do
    local added = false
    for _, c in ipairs(classes) do
      if #pick < n and by_class[c][round] then pick[#pick + 1] = by_class[c][round]; added = true end
    end
    if not added then break end
    round = round + 1
  end
  table.sort(pick)
  local idx = mg.tensor(pick, { dtype = "int64" })
  return mg.data.TensorDataset(ds.images:index_select(1, idx), ds.labels:index_select(1, idx))
end

--- A trunk's features, in eval mode without a graph (every module's mode
-- restored).
-- @tparam Module trunk
-- @tparam Tensor images
-- @tparam[opt] table opts `{batch_size = 512}`
-- @treturn Tensor [N, D]
function M.features(trunk, images, opts)
  local bs = (opts and opts.batch_size) or 512
  return mg.nn.utils.inference(trunk, mg.nn.utils.map_batches, images, bs, function(x) return trunk(x) end)
end

local function accuracy(model, images, labels)
  local feats_or_logits = M.features(model, images)
  return feats_or_logits:argmax(2):eq(labels):float():mean():item()
end

-- Trains model on (x, y) for `steps` Adam steps (opts.steps, 500) of
-- batch_size, on the engine (epochs of a shuffled loader, cut at steps).
local function train_steps(model, x, y, opts)
  local opt = mg.optim.Adam(model:parameters(), { lr = opts.lr or 1e-3, weight_decay = opts.weight_decay or 0 })
  local loader = mg.data.DataLoader(mg.data.TensorDataset(x, y), { batch_size = opts.batch_size or 64, shuffle = true })
  mg.train.Trainer { model = model, optimizer = opt, max_steps = opts.steps or 500, progress = false }:run(loader,
    function(batch, ctx) ctx:optimize(mg.cross_entropy(model(batch.images), batch.labels)) end)
  model:eval()
end

--- The test accuracy of a linear classifier trained on the frozen trunk's
-- features. Features are standardised with the training features' mean
-- and std (so feature scale does not decide the result) and the probe,
-- cheap on precomputed features, trains for probe_steps Adam steps.
-- @tparam Module trunk
-- @tparam Dataset train_ds
-- @tparam Dataset test_ds
-- @tparam[opt] table opts `{probe_steps = 3000, lr = 1e-3, batch_size = 64, classes = 10}`
-- @treturn number
function M.linear_probe(trunk, train_ds, test_ds, opts)
  opts = opts or {}
  local ftrain = M.features(trunk, train_ds.images)
  local ftest = M.features(trunk, test_ds.images)
  local mean = ftrain:mean(1, true)
  local std = ftrain:var(1, true, 0):sqrt() + 1e-6
  ftrain, ftest = (ftrain - mean) / std, (ftest - mean) / std
  local probe = nn.Linear(ftrain:size(2), opts.classes or 10)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.steps = opts.probe_steps or 3000
  train_steps(probe, ftrain, train_ds.labels, o)
  return mg.no_grad(function() return probe(ftest):argmax(2):eq(test_ds.labels):float():mean():item() end)
end

--- The test accuracy of the trunk with a new head, all trained on the
-- labels.
-- @func make_trunk make_trunk() -> module, feature size
-- @tparam[opt] table state the trunk's weights; nil trains from scratch
-- @tparam Dataset train_ds
-- @tparam Dataset test_ds
-- @tparam[opt] table opts as for linear_probe, and steps
-- @treturn number
function M.fine_tune(make_trunk, state, train_ds, test_ds, opts)
  opts = opts or {}
  local trunk, dim = make_trunk()
  if state then trunk:load_state_dict(state) end
  local model = models.TrunkHead(trunk, models.mlp_head(dim, opts.classes or 10))
  train_steps(model, train_ds.images, train_ds.labels, opts)
  return accuracy(model, test_ds.images, test_ds.labels)
end

--- Probe, fine-tune and from-scratch accuracies for each label count; the
-- same balanced subset serves all three.
-- @func make_trunk make_trunk() -> module, feature size
-- @tparam table state the pretrained trunk's weights
-- @tparam Dataset train_ds
-- @tparam Dataset test_ds
-- @tparam[opt] table opts `labels = {100, 1000, "all"}`, `steps(n)` (the fine-tuning step
--   budget per label count), `probe_steps`, `seed` (the subsets and initialisations), `on_row(row)`
-- @treturn {table,...} rows `{labels = n, probe = acc, fine_tune = acc, scratch = acc}`
function M.evaluate(make_trunk, state, train_ds, test_ds, opts)
  opts = opts or {}
  local rows = {}
  for _, n in ipairs(opts.labels or { 100, 1000, "all" }) do
    local subset = M.balanced_subset(train_ds, n, opts.seed)
    local count = #subset.labels
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.steps = opts.steps and opts.steps(count) or math.max(300, math.min(3000, 3 * count // (o.batch_size or 64)))
    mg.manual_seed((opts.seed or 0) + count)
    local trunk = make_trunk()
    trunk:load_state_dict(state)
    local row = { labels = count }
    row.probe = M.linear_probe(trunk, subset, test_ds, o)
    mg.manual_seed((opts.seed or 0) + count)
    row.fine_tune = M.fine_tune(make_trunk, state, subset, test_ds, o)
    mg.manual_seed((opts.seed or 0) + count)
    row.scratch = M.fine_tune(make_trunk, nil, subset, test_ds, o)
    rows[#rows + 1] = row
    if opts.on_row then opts.on_row(row) end
  end
  return rows
end

--- The label counts of an example's `--labels` option: "100,1000,all" ->
-- {100, 1000, "all"} (what evaluate's `labels` takes).
-- @string spec comma-separated numbers or all
-- @treturn {int|string,...}
function M.label_counts(spec)
  local counts = {}
  for item in spec:gmatch("[^,]+") do
    counts[#counts + 1] = item == "all" and "all" or math.tointeger(tonumber(item))
  end
  return counts
end

--- An `on_row` for evaluate that prints each row on stderr and writes it
-- to a train.MetricsLog as phase "evaluation".
-- @tparam MetricsLog log
-- @treturn function on_row(row)
function M.report_row(log)
  return function(row)
    io.stderr:write(string.format("labels %6d: linear probe %.4f  fine-tune %.4f  from scratch %.4f\n",
      row.labels, row.probe, row.fine_tune, row.scratch))
    log:write { phase = "evaluation", labels = row.labels, probe = row.probe, fine_tune = row.fine_tune,
      scratch = row.scratch }
  end
end

-- Joint-embedding methods (SimCLR, Barlow Twins, BYOL, their losses and
-- projection heads) and the k-nearest-neighbour monitor, from lua/moongrad/ssl/.
for _, part in ipairs({ "methods", "knn" }) do
  for name, value in pairs(require("moongrad.ssl." .. part)) do M[name] = value end
end

return M
