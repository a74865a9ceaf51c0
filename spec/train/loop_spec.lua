-- fit/evaluate, progress lines and JSON-lines metrics.
local H = require "helpers"
local mg = H.mg
local nn = mg.nn

-- A linearly separable 2-class problem.
local function blobs(n)
  local x = mg.randn(n, 2)
  local y = (x:select(2, 1):add(x:select(2, 2)):gt(0) + 1):long()
  return mg.data.TensorDataset(x, y)
end

describe("train.fit", function()
  before_each(H.reseed(11))

  it("trains a classifier and logs one JSON line per epoch", function()
    local dir = H.tmpdir()
    local ds = blobs(256)
    local model = nn.Sequential { nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2) }
    local opt = mg.optim.SGD(model:parameters(), { lr = 0.3 })
    local loader = mg.data.DataLoader(ds, { batch_size = 32, shuffle = true })
    local h = mg.train.fit(model, loader, { optimizer = opt, epochs = 4, progress = false, out = dir,
      val_loader = mg.data.DataLoader(ds, { batch_size = 128 }) })
    assert.are.equal(4, #h)
    assert.is_true(h[4].train_acc > 0.9)
    assert.is_true(h[4].val_acc > 0.9)
    assert.is_true(h[4].train_loss < h[1].train_loss)
    local records = mg.train.MetricsLog.read(dir .. "/metrics.jsonl")
    assert.are.equal(4, #records)
    assert.are.same({ 1, 2, 3, 4 }, { records[1].epoch, records[2].epoch, records[3].epoch, records[4].epoch })
    assert.are.equal(32, records[4].step)
    -- the log holds the value rounded to 4 significant digits
    assert.are.equal(tonumber(string.format("%.4g", h[4].train_loss)), records[4].train_loss)
    local s = mg.train.MetricsLog.series(records, "val_acc", "epoch")
    assert.are.same({ 1, 2, 3, 4 }, s.x)
  end)

  it("evaluates without changing the model or its mode", function()
    local ds = blobs(64)
    local model = nn.Sequential { nn.Linear(2, 2) }
    model:train()
    local before = model:state_dict()["1.weight"]:clone()
    local r = mg.train.evaluate(model, mg.data.DataLoader(ds, { batch_size = 10 }))
    assert.are.equal(64, r.n)
    assert.is_true(r.accuracy >= 0 and r.accuracy <= 1)
    assert.is_true(model.training)
    H.assert_near(model:state_dict()["1.weight"], before, 0, 0)
    -- the mean loss equals the loss over the whole set at once
    local whole = mg.no_grad(function() return mg.cross_entropy(model(ds.images), ds.labels):item() end)
    H.assert_near(r.loss, whole, 1e-5, 1e-5)
  end)

  it("stops early when on_epoch returns false, and needs an optimizer", function()
    local ds = blobs(32)
    local model = nn.Sequential { nn.Linear(2, 2) }
    local opt = mg.optim.SGD(model:parameters(), { lr = 0.1 })
    local h = mg.train.fit(model, mg.data.DataLoader(ds, { batch_size = 8 }),
      { optimizer = opt, epochs = 10, progress = false, on_epoch = function(r) return r.epoch < 2 end })
    assert.are.equal(2, #h)
    H.assert_error(function() mg.train.fit(model, mg.data.DataLoader(ds), {}) end, "fit: opts.optimizer is required")
  end)
end)

describe("train.MetricsLog", function()
  it("writes floats rounded to 4 significant digits, integers and exact fields as they are", function()
    local path = H.tmpdir() .. "/m.jsonl"
    local log = mg.train.MetricsLog(path, { exact = { "lr" } })
    log:write { epoch = 3, acc = mg.tensor(0.806):item(), loss = 1 / 3, lr = 1 / 3, time = 1.23456 }
    log:close()
    local f = assert(io.open(path))
    assert.are.equal('{"acc":0.806,"epoch":3,"loss":0.3333,"lr":0.3333333333333333,"time":1.235}', f:read("l"))
    f:close()
  end)

  it("starts fresh unless told to append", function()
    local path = H.tmpdir() .. "/m.jsonl"
    for run = 1, 2 do
      local log = mg.train.MetricsLog(path)
      log:write { run = run }
      log:close()
    end
    assert.same({ 2 }, { mg.train.MetricsLog.read(path)[1].run })
    assert.equal(1, #mg.train.MetricsLog.read(path))
    local more = mg.train.MetricsLog(path, { append = true })
    more:write { run = 3 }
    more:close()
    assert.equal(2, #mg.train.MetricsLog.read(path))
    H.assert_error(function() mg.train.MetricsLog(path, { apend = true }) end, "MetricsLog: unknown option 'apend'")
  end)
end)

describe("train.Progress", function()
  local function capture(tty, fn)
    local path = os.tmpname()
    local out = io.open(path, "w")
    fn(out, tty)
    out:close()
    local text = io.open(path):read("a")
    os.remove(path)
    return text
  end

  it("writes plain lines when not on a terminal", function()
    local text = capture(false, function(out)
      local p = mg.train.Progress { total = 4, desc = "epoch 1/2", unit = "img", out = out, tty = false }
      for _ = 1, 4 do p:update(1, 10, { loss = 0.5 }) end
      p:close({ loss = 0.25 })
    end)
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(2, #lines) -- the first update, then the final line
    assert.is_truthy(lines[1]:find("epoch 1/2  1/4  loss 0.5000", 1, true))
    assert.is_truthy(lines[2]:find("epoch 1/2  4/4  loss 0.2500", 1, true))
    assert.is_truthy(lines[2]:find("img/s", 1, true))
  end)

  it("redraws one line in place on a terminal", function()
    local text = capture(true, function(out)
      local p = mg.train.Progress { total = 2, desc = "e", out = out, tty = true, interval = 0 }
      p:update(1, 1)
      p:update(1, 1)
      p:close()
    end)
    assert.is_truthy(text:find("\r", 1, true))
    assert.is_truthy(text:find("[====================]", 1, true))
    assert.are.equal(1, select(2, text:gsub("\n", "")))
  end)
end)
