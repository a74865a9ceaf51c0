-- Checkpoints: round trips, bit-exact resume on one thread (also mid-epoch),
-- and survival of a kill -9 during a save.
local H = require "helpers"
local mg = H.mg
local nn = mg.nn

-- A small classifier with dropout (so the RNG matters) on 256 bundled digits.
local function setup(seed)
  mg.manual_seed(seed)
  local images = mg.read_idx(mg.data.data_dir() .. "/sample/mnist/train-images-idx3-ubyte.gz", { scale = 1 / 255 })
    :narrow(1, 1, 256):view(256, 1, 28, 28)
  local labels = (mg.read_idx(mg.data.data_dir() .. "/sample/mnist/train-labels-idx1-ubyte.gz"):long() + 1)
    :narrow(1, 1, 256)
  local ds = mg.data.TensorDataset(images, labels)
  local model = nn.Sequential { nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10) }
  local opt = mg.optim.Adam(model:parameters(), { lr = 1e-2 })
  local sched = mg.optim.lr_scheduler.StepLR(opt, { step_size = 1, gamma = 0.5 })
  local loader = mg.data.DataLoader(ds, { batch_size = 32, shuffle = true })
  return model, opt, sched, loader
end

local function same_weights(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  for name, t in pairs(sa) do H.assert_near(sb[name], t, 0, 0, name) end
end

describe("train.checkpoint", function()
  local threads
  before_each(function()
    threads = mg.get_num_threads()
    mg.set_num_threads(1)
  end)
  after_each(function() mg.set_num_threads(threads) end)

  it("resumes bit for bit at an epoch boundary", function()
    local dir = H.tmpdir()
    local m1, o1, s1, l1 = setup(5)
    mg.train.fit(m1, l1, { optimizer = o1, scheduler = s1, epochs = 3, progress = false })
    local m2, o2, s2, l2 = setup(5)
    mg.train.fit(m2, l2, { optimizer = o2, scheduler = s2, epochs = 1, progress = false, out = dir, checkpoint = true })
    -- a fresh process would start from scratch: new objects, another seed
    local m3, o3, s3, l3 = setup(99)
    local h = mg.train.fit(m3, l3, { optimizer = o3, scheduler = s3, epochs = 3, progress = false, out = dir,
      checkpoint = true, resume = true })
    assert.are.equal(3, #h)
    same_weights(m1, m3)
    H.assert_near(o3.param_groups[1].lr, o1.param_groups[1].lr, 0, 0)
  end)

  it("resumes bit for bit in the middle of an epoch", function()
    local dir = H.tmpdir()
    local m1, o1, _, l1 = setup(6)
    mg.train.fit(m1, l1, { optimizer = o1, epochs = 2, progress = false })
    -- stop after 5 of the 8 batches of epoch 2: checkpoint every 13 steps
    local m2, o2, _, l2 = setup(6)
    local stopped = false
    local ok = pcall(mg.train.fit, m2, l2, { optimizer = o2, epochs = 2, progress = false, out = dir,
      checkpoint = true, checkpoint_every = 13,
      loss_fn = function(logits, y)
        if o2.state and stopped == false and (l2._current and l2.epoch == 2 and l2._current.position == 6) then
          stopped = true
          error("simulated crash")
        end
        return mg.cross_entropy(logits, y)
      end })
    assert.is_false(ok)
    assert.is_true(stopped)
    local m3, o3, _, l3 = setup(77)
    mg.train.fit(m3, l3, { optimizer = o3, epochs = 2, progress = false, out = dir, checkpoint = true, resume = true })
    same_weights(m1, m3)
  end)

  it("round-trips model, optimizer state and the RNG", function()
    local dir = H.tmpdir()
    local m, o, s, l = setup(3)
    mg.train.fit(m, l, { optimizer = o, scheduler = s, epochs = 1, progress = false })
    mg.train.checkpoint.save(dir .. "/ck", { model = m, optimizer = o, scheduler = s, epoch = 4, step = 32,
      extra = { note = "hello" } })
    local after = mg.rand(3):totable()
    local m2, o2, s2 = setup(8)
    local info = mg.train.checkpoint.load(dir .. "/ck", { model = m2, optimizer = o2, scheduler = s2 })
    assert.are.same({ 4, 32, "hello" }, { info.epoch, info.step, info.extra.note })
    same_weights(m, m2)
    H.assert_near(mg.rand(3), after, 0, 0, "the RNG continues where the checkpoint was taken")
    local sidecar = mg.json.decode(io.open(dir .. "/ck.json"):read("a"))
    assert.are.equal(info.id, sidecar.id)
  end)

  it("refuses a file that is not a checkpoint", function()
    local dir = H.tmpdir()
    mg.save(dir .. "/w.safetensors", { a = mg.ones(2) })
    local m = setup(1)
    H.assert_error(function() mg.train.checkpoint.load(dir .. "/w", { model = m }) end, "is not a moongrad checkpoint")
  end)

  it("keeps the previous checkpoint loadable when a save is killed", function()
    if os.getenv("MOONGRAD_ASAN") then return end -- slow under the sanitizers; the atomic write is the same code
    local dir = H.tmpdir()
    local script = dir .. "/saver.lua"
    local f = io.open(script, "w")
    f:write([[
      local mg = require "moongrad"
      local nn = mg.nn
      local m = nn.Sequential{ nn.Linear(1000, 4000), nn.Linear(4000, 1000) }
      local path = arg[1]
      mg.train.checkpoint.save(path, { model = m, epoch = 1 })
      io.stdout:write("ready\n"); io.stdout:flush()
      local e = 1
      while true do e = e + 1; mg.train.checkpoint.save(path, { model = m, epoch = e }) end
    ]])
    f:close()
    local ck = dir .. "/ck"
    -- start the saver, wait until the first checkpoint exists, then kill -9 mid-loop
    local cmd = string.format("(%s %s %s > %s/out.txt 2>&1 & echo $! > %s/pid); " ..
      "for i in $(seq 1 200); do grep -q ready %s/out.txt 2>/dev/null && break; sleep 0.05; done; " ..
      "sleep 0.7; kill -9 $(cat %s/pid); sleep 0.1",
      H.bin, script, ck, dir, dir, dir, dir)
    H.run(cmd)
    local out = io.open(dir .. "/out.txt"):read("a")
    assert.is_truthy(out:find("ready"), out)
    local m = nn.Sequential { nn.Linear(1000, 4000), nn.Linear(4000, 1000) }
    local info = mg.train.checkpoint.load(ck, { model = m })
    assert.is_true(info.epoch >= 1)
  end)
end)
