-- mg.train.Trainer: the same parameters as a hand-written loop, bit-exact
-- resume from the middle of an epoch (two models, two optimizers), metrics
-- logs, evaluation, early stop, hooks and errors.
local H = require "helpers"
local mg = H.mg
local nn = mg.nn

-- 96 bundled digits and a small classifier with dropout (the RNG matters).
local function digits(n)
  local images = mg.read_idx(mg.data.data_dir() .. "/sample/mnist/train-images-idx3-ubyte.gz", { scale = 1 / 255 })
    :narrow(1, 1, n):view(n, 1, 28, 28)
  local labels = (mg.read_idx(mg.data.data_dir() .. "/sample/mnist/train-labels-idx1-ubyte.gz"):long() + 1):narrow(1,
    1, n)
  return mg.data.TensorDataset(images, labels)
end

local function classifier()
  return nn.Sequential { nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 10) }
end

local function same_weights(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  for name, t in pairs(sa) do H.assert_near(sb[name], t, 0, 0, name) end
end

-- A GAN-shaped job: two models, two optimizers, a per-batch scheduler, a
-- seeded loader; returns its pieces and the step.
local function two_player(seed)
  mg.manual_seed(seed)
  local G = nn.Sequential { nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid() }
  local D = nn.Sequential { nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1) }
  local og = mg.optim.Adam(G:parameters(), { lr = 1e-3 })
  local od = mg.optim.SGD(D:parameters(), { lr = 0.05, momentum = 0.9 })
  local sched = mg.optim.lr_scheduler.StepLR(od, { step_size = 2, gamma = 0.9 })
  local loader = mg.data.DataLoader(digits(64), { batch_size = 8, shuffle = true })
  local function step(batch, ctx)
    local real = batch.images:view(-1, 784)
    local fake = G(mg.randn(real:size(1), 4))
    local ones, zeros = mg.ones(real:size(1), 1), mg.zeros(real:size(1), 1)
    local d_loss = mg.binary_cross_entropy_with_logits(D(real), ones)
      + mg.binary_cross_entropy_with_logits(D(fake:detach()), zeros)
    ctx:optimize(d_loss, od)
    local g_loss = mg.binary_cross_entropy_with_logits(D(fake), ones)
    ctx:optimize(g_loss, og)
    return { d_loss = d_loss, g_loss = g_loss, n = real:size(1) }
  end
  return { models = { G = G, D = D }, optimizers = { g = og, d = od }, schedulers = { d = sched },
    scheduler_step = "batch" }, loader, step
end

describe("train.Trainer", function()
  local threads
  before_each(function()
    threads = mg.get_num_threads()
    mg.set_num_threads(1)
  end)
  after_each(function() mg.set_num_threads(threads) end)

  it("gives the same parameters as the hand-written loop", function()
    local ds = digits(96)
    mg.manual_seed(3)
    local a = classifier()
    local oa = mg.optim.Adam(a:parameters(), { lr = 1e-2 })
    local la = mg.data.DataLoader(ds, { batch_size = 16, shuffle = true })
    for _ = 1, 3 do
      a:train()
      for x, y in la:iter() do
        local loss = mg.cross_entropy(a(x), y)
        oa:zero_grad()
        loss:backward()
        oa:step()
      end
    end
    mg.manual_seed(3)
    local b = classifier()
    local ob = mg.optim.Adam(b:parameters(), { lr = 1e-2 })
    local lb = mg.data.DataLoader(ds, { batch_size = 16, shuffle = true })
    local history = mg.train.Trainer { model = b, optimizer = ob, epochs = 3, progress = false }:run(lb,
      function(batch, ctx)
        local loss = mg.cross_entropy(b(batch.images), batch.labels)
        ctx:optimize(loss)
        return { loss = loss, n = batch.images:size(1) }
      end)
    same_weights(a, b)
    assert.equal(3, #history)
    assert.equal(18, history[3].step)
  end)

  it("resumes bit for bit from the middle of an epoch with two models and two optimizers", function()
    local dir = H.tmpdir()
    local o1, l1, s1 = two_player(8)
    o1.epochs, o1.progress = 3, false
    local h1 = mg.train.Trainer(o1):run(l1, s1)
    -- the same run, stopped by a crash in epoch 2 after a checkpoint at step 11 (batch 3 of 8)
    local o2, l2, s2 = two_player(8)
    o2.epochs, o2.progress, o2.out, o2.checkpoint, o2.checkpoint_every = 3, false, dir, true, 11
    local ok, err = pcall(function()
      mg.train.Trainer(o2):run(l2, function(batch, ctx)
        if ctx.step == 13 then error("simulated crash") end
        return s2(batch, ctx)
      end)
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("simulated crash", 1, true))
    -- a fresh process: new objects from another seed
    local o3, l3, s3 = two_player(77)
    o3.epochs, o3.progress, o3.out, o3.checkpoint, o3.resume = 3, false, dir, true, true
    local h3 = mg.train.Trainer(o3):run(l3, s3)
    same_weights(o1.models.G, o3.models.G)
    same_weights(o1.models.D, o3.models.D)
    H.assert_near(o3.optimizers.d.param_groups[1].lr, o1.optimizers.d.param_groups[1].lr, 0, 0)
    assert.equal(3, #h3)
    -- the interrupted epoch's means include the batches before the crash
    H.assert_near(h3[2].d_loss, h1[2].d_loss, 1e-12, 1e-12)
    H.assert_near(h3[3].g_loss, h1[3].g_loss, 0, 0)
    assert.is_number(h3[2].lr_d)
    assert.is_number(h3[2].lr_g)
    -- the log continues the interrupted run's
    local records = mg.train.MetricsLog.read(dir .. "/metrics.jsonl")
    assert.same({ 1, 2, 3 }, { records[1].epoch, records[2].epoch, records[3].epoch })
  end)

  it("starts a fresh metrics log unless it resumes", function()
    local dir = H.tmpdir()
    local ds = digits(32)
    for run = 1, 2 do
      mg.manual_seed(run)
      local m = classifier()
      local opt = mg.optim.SGD(m:parameters(), { lr = 0.1 })
      mg.train.fit(m, mg.data.DataLoader(ds, { batch_size = 16 }), { optimizer = opt, epochs = 2, progress = false,
        out = dir, tags = { run = run } })
    end
    local records = mg.train.MetricsLog.read(dir .. "/metrics.jsonl")
    assert.equal(2, #records)
    assert.same({ 2, 2 }, { records[1].run, records[2].run })
    assert.same({ 1, 2 }, { records[1].epoch, records[2].epoch })
  end)

  it("evaluates, stops early, stops at max_steps and averages by n", function()
    mg.manual_seed(1)
    local m = classifier()
    local opt = mg.optim.SGD(m:parameters(), { lr = 0.0 })
    local loader = mg.data.DataLoader(digits(20), { batch_size = 8 })
    local evaluated = {}
    local t
    t = mg.train.Trainer { model = m, optimizer = opt, epochs = 10, progress = false,
      evaluate = function(trainer, epoch)
        evaluated[#evaluated + 1] = epoch
        assert.equal(t, trainer)
        return { val_acc = 0.5 } -- never improves after the first epoch
      end,
      early_stop = { metric = "val_acc", mode = "max", patience = 2 } }
    local h = t:run(loader, function(batch)
      assert.is_true(m.training)
      return { size = batch.images:size(1), n = batch.images:size(1) }
    end)
    assert.same({ 1, 2, 3 }, evaluated)
    assert.equal(3, #h)
    -- batches of 8, 8, 4: the mean of `size` weighted by n
    H.assert_near(h[1].size, (8 * 8 + 8 * 8 + 4 * 4) / 20, 1e-12)
    assert.equal(0.5, h[3].best)
    local steps = 0
    local h2 = mg.train.Trainer { model = m, optimizer = opt, max_steps = 7, progress = false }:run(loader,
      function(_, ctx)
        steps = steps + 1
        assert.equal(steps, ctx.step)
        return { x = ctx.batch }
      end)
    assert.equal(7, steps)
    assert.equal(3, #h2) -- 3 + 3 + 1 steps
    assert.equal(7, h2[3].step)
    H.assert_near(h2[2].x, 2, 0) -- plain mean of 1, 2, 3 without n
    local stopped = mg.train.Trainer { model = m, optimizer = opt, epochs = 5, progress = false,
      on_epoch = function(r) return r.epoch < 2 end }:run(loader, function() end)
    assert.equal(2, #stopped)
  end)

  it("runs the gradient hook on the optimizer's parameters, then clips", function()
    mg.manual_seed(2)
    local m = nn.Linear(3, 1)
    local opt = mg.optim.SGD(m:parameters(), { lr = 1.0 })
    local calls, norm = 0, nil
    local before = m.weight:clone()
    mg.train.Trainer { model = m, optimizer = opt, progress = false,
      grad_hook = function(params)
        calls = calls + 1
        assert.equal(2, #params)
        for _, p in ipairs(params) do p.grad:mul_(100) end -- e.g. a sum over ranks
      end }:run(mg.data.DataLoader(mg.data.TensorDataset { x = mg.ones(4, 3) }, { batch_size = 4 }),
      function(batch, ctx)
        ctx:optimize(m(batch.x):sum(), { clip_grad_norm = 1.0 })
        norm = (m.weight - before):square():sum():item() + m.bias.grad:square():sum():item()
      end)
    assert.equal(1, calls)
    -- the update of lr 1 is the clipped gradient: joint norm 1
    H.assert_near(math.sqrt(norm), 1, 1e-5)
  end)

  it("writes nothing but on the main rank", function()
    local dir = H.tmpdir()
    local m = nn.Linear(2, 1)
    local t = mg.train.Trainer { model = m, optimizer = mg.optim.SGD(m:parameters(), { lr = 0.1 }), rank = 2,
      out = dir, checkpoint = true, progress = true }
    assert.is_false(t.is_main)
    t:run(mg.data.DataLoader(mg.data.TensorDataset { x = mg.ones(4, 2) }, { batch_size = 2 }), function(b, ctx)
      ctx:optimize(m(b.x):sum())
    end)
    assert.is_nil(io.open(dir .. "/metrics.jsonl"))
    assert.is_nil(io.open(dir .. "/checkpoint.safetensors"))
  end)

  it("refuses bad options and ambiguous optimizers", function()
    H.assert_error(function() mg.train.Trainer { epoch = 3 } end, "Trainer: unknown option 'epoch' (expected one of")
    H.assert_error(function() mg.train.Trainer { checkpoint = true } end, "Trainer: checkpoint = true needs out")
    H.assert_error(function() mg.train.Trainer { epochs = 0 } end, "Trainer: epochs must be a positive integer, got 0")
    H.assert_error(function() mg.train.Trainer { early_stop = { metric = "x", mode = "up" } } end,
      "Trainer: early_stop.mode must be \"max\" or \"min\"")
    local a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    local t = mg.train.Trainer { optimizers = { a = mg.optim.SGD(a:parameters(), { lr = 1 }),
      b = mg.optim.SGD(b:parameters(), { lr = 1 }) }, progress = false }
    H.assert_error(function()
      t:run(mg.data.DataLoader(mg.data.TensorDataset { x = mg.ones(2, 1) }), function(batch, ctx)
        ctx:optimize(a(batch.x):sum())
      end)
    end, "ctx:optimize: name the optimizer (the trainer has 2)")
    H.assert_error(function() t:run({}, print) end, "Trainer:run: expected a DataLoader")
  end)
end)
