-- mg.da: the DANN model (gradient reversal in place), the schedules and
-- the training loops.
local H = require "helpers"
local mg = H.mg
local da = mg.da

local function params_of(module)
  local out = {}
  for name, p in module:named_parameters() do out[name] = p:detach():clone() end
  return out
end

local function changed(before, module)
  local moved, still = {}, {}
  for name, p in module:named_parameters() do
    local list = (p:detach() - before[name]):abs():max():item() > 0 and moved or still
    list[#list + 1] = name
  end
  return moved, still
end

describe("da schedules", function()
  it("lambda rises from 0 to nearly 1 as 2 / (1 + exp(-10 p)) - 1", function()
    H.assert_near(da.lambda_schedule(0), 0, 1e-15, 0)
    H.assert_near(da.lambda_schedule(0.1), 2 / (1 + math.exp(-1)) - 1, 1e-15, 0)
    H.assert_near(da.lambda_schedule(0.1), 0.46211715726000974, 1e-12, 0)
    H.assert_near(da.lambda_schedule(0.5), 0.98661429815143042, 1e-12, 0)
    H.assert_near(da.lambda_schedule(1), 0.99990920426259511, 1e-12, 0)
    H.assert_near(da.lambda_schedule(0.5, 2), 2 / (1 + math.exp(-1)) - 1, 1e-15, 0)
  end)

  it("anneals the learning rate as lr / (1 + 10 p)^0.75", function()
    H.assert_near(da.lr_schedule(0), 0.01, 1e-15, 0)
    H.assert_near(da.lr_schedule(1), 0.01 / 11 ^ 0.75, 1e-15, 0)
    H.assert_near(da.lr_schedule(1), 0.0016556002607617, 1e-12, 0)
    H.assert_near(da.lr_schedule(0.5, { lr = 0.1, alpha = 2, beta = 1 }), 0.05, 1e-15, 0)
  end)
end)

describe("models.DANN", function()
  before_each(H.reseed(21))

  it("has the feature extractor, label head and domain head of Ganin et al.", function()
    local model = mg.models.DANN { domain_hidden = 50 }
    local x = mg.rand(3, 1, 28, 28)
    local logits, dlogits, f = model:forward_all(x)
    assert.are.same({ 3, 10 }, logits:shape())
    assert.are.same({ 3 }, dlogits:shape())
    assert.are.same({ 3, 768 }, f:shape())
    assert.are.same({ 50, 768 }, model.domain[1].weight:shape())
    H.assert_near(model(x), logits, 1e-6, 0)
  end)

  it("reverses and scales by lambda the domain gradient reaching the features, not the head's own", function()
    local model = mg.models.DANN { lambda = 0.3 }
    local x = mg.rand(4, 1, 28, 28)
    local w = mg.randn(4)
    local function domain_loss(reverse)
      local f = model.features(x)
      local d = reverse and model:domain_logits(f) or model.domain(f):view(-1)
      return (d * w):sum()
    end
    local feature_params = model.features:parameters()
    local head_params = model.domain:parameters()
    local all = {}
    for _, p in ipairs(feature_params) do all[#all + 1] = p end
    for _, p in ipairs(head_params) do all[#all + 1] = p end
    local g_rev = mg.grad(domain_loss(true), all)
    local g_plain = mg.grad(domain_loss(false), all)
    for i = 1, #feature_params do
      H.assert_near(g_rev[i], g_plain[i] * -0.3, 1e-6, 1e-4, "feature extractor parameter " .. i)
      assert.is_true(g_plain[i]:abs():max():item() > 0)
    end
    for i = #feature_params + 1, #all do
      H.assert_near(g_rev[i], g_plain[i], 1e-7, 1e-6, "domain head parameter " .. (i - #feature_params))
    end
    model:set_lambda(2)
    local f = model.features(x):detach():requires_grad_()
    local gf = mg.grad((model:domain_logits(f) * w):sum(), { f })[1]
    local gp = mg.grad((model.domain(f):view(-1) * w):sum(), { f })[1]
    H.assert_near(gf, gp * -2, 1e-6, 1e-5, "features")
  end)
end)

describe("da.train", function()
  before_each(H.reseed(22))

  local function tiny_sets()
    local source = mg.data.TensorDataset(mg.rand(16, 1, 28, 28), mg.randint(1, 11, { 16 }))
    local target = mg.data.TensorDataset(mg.rand(16, 1, 28, 28), mg.randint(1, 11, { 16 }))
    return source, target
  end

  it("DANN moves the feature extractor, the label head and the domain head, without target labels", function()
    local source, target = tiny_sets()
    local model = mg.models.DANN {}
    local before = params_of(model)
    local unlabelled = mg.data.TensorDataset(target.images) -- no labels at all
    local history = da.train("dann", model, { source = source, target = unlabelled, eval = { t = target } },
      { epochs = 1, batch_size = 8 })
    local moved, still = changed(before, model)
    assert.are.same({}, still)
    assert.are.equal(#model:parameters(), #moved)
    assert.are.equal(1, #history)
    local h = history[1]
    -- two steps: the second one at p = 1/2
    H.assert_near(h.lambda, da.lambda_schedule(0.5), 1e-12, 0)
    H.assert_near(h.lr, da.lr_schedule(0.5), 1e-12, 0)
    assert.is_true(h.domain_loss > 0 and h.domain_acc >= 0 and h.domain_acc <= 1)
    assert.is_true(h.t >= 0 and h.t <= 1)
    H.assert_near(model.reverse.lambda, h.lambda, 1e-12, 0)
  end)

  it("source-only and target-trained leave the domain head alone", function()
    local source, target = tiny_sets()
    for _, method in ipairs({ "source", "target" }) do
      local model = mg.models.DANN {}
      local before = params_of(model)
      da.train(method, model, { source = source, target = target }, { epochs = 1, batch_size = 8, optimizer = "adam" })
      local moved, still = changed(before, model)
      table.sort(still)
      assert.are.same({ "domain.1.bias", "domain.1.weight", "domain.3.bias", "domain.3.weight" }, still)
      assert.are.equal(#model:parameters() - 4, #moved)
    end
  end)

  it("the target-trained bound learns from the target labels, source-only from the source's", function()
    -- two classes told apart by brightness in the source and the reverse in the target
    local n = 64
    local classes = {}
    for i = 1, n do classes[i] = i % 2 + 1 end
    local y = mg.tensor(classes, { dtype = "int64" })
    local bright = (y - 1):float():view(n, 1, 1, 1)
    local src = mg.data.TensorDataset(bright * 0.8 + mg.rand(n, 1, 28, 28) * 0.2, y)
    local tgt = mg.data.TensorDataset((1 - bright) * 0.8 + mg.rand(n, 1, 28, 28) * 0.2, y)
    local sets = { source = src, target = tgt, eval = { source_test = src, target_test = tgt } }
    local a = da.train("source", mg.models.DANN { classes = 2 }, sets, { epochs = 3, batch_size = 16,
      optimizer = "adam" })
    local b = da.train("target", mg.models.DANN { classes = 2 }, sets, { epochs = 3, batch_size = 16,
      optimizer = "adam" })
    assert.are.equal(1, a[3].source_test)
    assert.are.equal(0, a[3].target_test)
    assert.are.equal(1, b[3].target_test)
    assert.are.equal(0, b[3].source_test)
  end)

  it("rejects an unknown method or optimizer", function()
    local source, target = tiny_sets()
    H.assert_error(function() da.train("both", mg.models.DANN {}, { source = source, target = target }) end,
      "da.train", "method", "both")
    H.assert_error(function() da.train("dann", mg.models.DANN {}, { source = source, target = target },
      { optimizer = "rms" }) end,
      "da.train", "optimizer", "rms")
  end)
end)
