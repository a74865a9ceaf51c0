-- The layers of mg.nn: output shapes and values on small hand-computed
-- cases (checked against PyTorch's definitions), default initialisation,
-- option checks and printing; the loss modules and F's composites.
local H = require "helpers"
local mg = H.mg
local nn = mg.nn
local F = nn.functional

local function set(p, values)
  mg.no_grad(function() p:copy_(mg.tensor(values)) end)
end

-- x [1, 1, n, n] holding 1 .. n*n row by row
local function grid(n)
  return mg.arange(1, n * n + 1):float():view(1, 1, n, n)
end

-- mean, std, min, max of a tensor
local function stats(t)
  local flat = t:detach():contiguous():view(-1)
  return flat:mean():item(), flat:std():item(), flat:min():item(), flat:max():item()
end

describe("nn layers", function()
  before_each(H.reseed(5))

  describe("nn.Linear", function()
    it("computes x W^T + b over the last dim", function()
      local lin = nn.Linear(2, 3)
      set(lin.weight, { { 1, 2 }, { 3, 4 }, { 5, 6 } })
      set(lin.bias, { 1, 0, -1 })
      H.assert_near(lin(mg.tensor{ { 1, 1 }, { 2, -1 } }), { { 4, 7, 10 }, { 1, 2, 3 } })
      assert.are.same({ 2, 5, 3 }, lin(mg.randn(2, 5, 2)):shape())
    end)

    it("can go without bias", function()
      local lin = nn.Linear(2, 1, { bias = false })
      assert.is_nil(lin.bias)
      assert.are.equal(1, #lin:parameters())
      set(lin.weight, { { 2, -1 } })
      H.assert_near(lin(mg.tensor{ { 3, 1 } }), { { 5 } })
      assert.are.equal("nn.Linear(2 -> 1, no bias)", tostring(lin))
    end)

    it("starts from U(-1/sqrt(in), 1/sqrt(in)) for weight and bias", function()
      local lin = nn.Linear(400, 500)
      local bound = 1 / 20
      local mean, std, lo, hi = stats(lin.weight)
      assert.is_true(lo >= -bound and hi <= bound)
      assert.is_true(lo < -0.99 * bound and hi > 0.99 * bound)
      assert.is_true(math.abs(mean) < 1e-3)
      assert.is_true(math.abs(std - bound / math.sqrt(3)) < 0.01 * bound)
      local _, _, blo, bhi = stats(lin.bias)
      assert.is_true(blo >= -bound and bhi <= bound and bhi - blo > bound)
    end)

    it("checks its arguments", function()
      H.assert_error(function() nn.Linear(0, 3) end, "nn.Linear: in_features must be a positive integer, got 0")
      H.assert_error(function() nn.Linear(2, 3, { baias = false }) end, "nn.Linear: unknown option 'baias'")
    end)
  end)

  describe("nn.Conv2d", function()
    local w = { { { { 1, 2 }, { 3, 4 } } } }

    it("computes a hand case, with stride and padding", function()
      local conv = nn.Conv2d(1, 1, 2)
      set(conv.weight, w)
      set(conv.bias, { 0.5 })
      H.assert_near(conv(grid(3)), { { { { 37.5, 47.5 }, { 67.5, 77.5 } } } })
      local strided = nn.Conv2d(1, 1, 2, { stride = 2, padding = 1 })
      set(strided.weight, w)
      set(strided.bias, { 0.5 })
      H.assert_near(strided(grid(3)), { { { { 4.5, 18.5 }, { 36.5, 77.5 } } } })
    end)

    it("gives PyTorch's output shapes", function()
      local x = mg.randn(2, 3, 28, 28)
      assert.are.same({ 2, 8, 26, 26 }, nn.Conv2d(3, 8, 3)(x):shape())
      assert.are.same({ 2, 8, 28, 28 }, nn.Conv2d(3, 8, 3, { padding = "same" })(x):shape())
      assert.are.same({ 2, 8, 28, 28 }, nn.Conv2d(3, 8, 5, { padding = "same" })(x):shape())
      assert.are.same({ 2, 8, 14, 14 }, nn.Conv2d(3, 8, 3, { stride = 2, padding = 1 })(x):shape())
      local dilated = nn.Conv2d(3, 8, { 3, 2 }, { dilation = { 2, 1 }, padding = { 0, 1 } })
      assert.are.same({ 2, 8, 24, 29 }, dilated(x):shape())
    end)

    it("starts from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in * kh * kw", function()
      local conv = nn.Conv2d(16, 64, 3)
      assert.are.same({ 64, 16, 3, 3 }, conv.weight:shape())
      local bound = 1 / 12
      local mean, std, lo, hi = stats(conv.weight)
      assert.is_true(lo >= -bound and hi <= bound and hi > 0.99 * bound)
      assert.is_true(math.abs(mean) < 3e-3)
      assert.is_true(math.abs(std - bound / math.sqrt(3)) < 0.02 * bound)
      local _, _, blo, bhi = stats(conv.bias)
      assert.is_true(blo >= -bound and bhi <= bound)
    end)

    it("prints its geometry and checks its options", function()
      assert.are.equal("nn.Conv2d(1 -> 32, 3x3)", tostring(nn.Conv2d(1, 32, 3)))
      assert.are.equal("nn.Conv2d(3 -> 8, 3x5, stride 2, padding 1x2, no bias)",
        tostring(nn.Conv2d(3, 8, { 3, 5 }, { stride = 2, padding = { 1, 2 }, bias = false })))
      H.assert_error(function() nn.Conv2d(1, 2, 4, { padding = "same" }) end,
        "nn.Conv2d: padding = 'same' needs an odd kernel")
      H.assert_error(function() nn.Conv2d(1, 2, 3, { stride = 0 }) end,
        "nn.Conv2d: stride must be an integer >= 1 or a pair of them, got 0")
      H.assert_error(function() nn.Conv2d(1, 2, 3, { strides = 2 }) end, "nn.Conv2d: unknown option 'strides'")
    end)
  end)

  describe("nn.ConvTranspose2d", function()
    it("spreads each input pixel over the kernel", function()
      local x = mg.tensor{ { { { 1, 2 }, { 3, 4 } } } }
      local up = nn.ConvTranspose2d(1, 1, 2, { stride = 2, bias = false })
      set(up.weight, { { { { 1, 1 }, { 1, 1 } } } })
      H.assert_near(up(x), { { { { 1, 1, 2, 2 }, { 1, 1, 2, 2 }, { 3, 3, 4, 4 }, { 3, 3, 4, 4 } } } })
      local overlap = nn.ConvTranspose2d(1, 1, 2, { bias = false })
      set(overlap.weight, { { { { 1, 1 }, { 1, 1 } } } })
      H.assert_near(overlap(x), { { { { 1, 3, 2 }, { 4, 10, 6 }, { 3, 7, 4 } } } })
    end)

    it("gives (H - 1) * stride - 2 * padding + k + output_padding", function()
      local up = nn.ConvTranspose2d(3, 8, 3, { stride = 2, padding = 1, output_padding = 1 })
      assert.are.same({ 2, 8, 10, 10 }, up(mg.randn(2, 3, 5, 5)):shape())
    end)

    it("has weight [in, out, kh, kw] and PyTorch's fan_in (out * kh * kw)", function()
      local up = nn.ConvTranspose2d(32, 8, 5)
      assert.are.same({ 32, 8, 5, 5 }, up.weight:shape())
      local bound = 1 / math.sqrt(8 * 25)
      local _, _, lo, hi = stats(up.weight)
      assert.is_true(lo >= -bound and hi <= bound and hi > 0.98 * bound)
      H.assert_error(function() nn.ConvTranspose2d(1, 1, 3, { stride = 2, output_padding = 2 }) end,
        "output_padding (2x2) must be smaller than stride (2x2) or dilation (1x1)")
      assert.are.equal("nn.ConvTranspose2d(16 -> 1, 4x4, stride 2, padding 1, output_padding 1)",
        tostring(nn.ConvTranspose2d(16, 1, 4, { stride = 2, padding = 1, output_padding = 1 })))
    end)
  end)

  describe("pooling", function()
    it("nn.MaxPool2d takes window maxima, ceil_mode keeps partial windows", function()
      H.assert_near(nn.MaxPool2d(2)(grid(4)), { { { { 6, 8 }, { 14, 16 } } } })
      H.assert_near(nn.MaxPool2d(2, { ceil_mode = true })(grid(3)), { { { { 5, 6 }, { 8, 9 } } } })
      assert.are.same({ 2, 3, 13, 13 }, nn.MaxPool2d(2)(mg.randn(2, 3, 26, 26)):shape())
      assert.are.same({ 2, 3, 14, 14 }, nn.MaxPool2d(3, { stride = 2, padding = 1 })(mg.randn(2, 3, 28, 28)):shape())
    end)

    it("nn.AvgPool2d averages, with or without the padding counted", function()
      H.assert_near(nn.AvgPool2d(2)(grid(4)), { { { { 3.5, 5.5 }, { 11.5, 13.5 } } } })
      H.assert_near(nn.AvgPool2d(2, { ceil_mode = true })(grid(3)), { { { { 3, 4.5 }, { 7.5, 9 } } } })
      local ones = mg.ones(1, 1, 3, 3)
      local c, e = 4 / 9, 6 / 9
      H.assert_near(nn.AvgPool2d(3, { stride = 1, padding = 1 })(ones),
        { { { { c, e, c }, { e, 1, e }, { c, e, c } } } })
      H.assert_near(nn.AvgPool2d(3, { stride = 1, padding = 1, count_include_pad = false })(ones), mg.ones(1, 1, 3, 3))
    end)

    it("print and check their options", function()
      assert.are.equal("nn.MaxPool2d(2x2)", tostring(nn.MaxPool2d(2)))
      assert.are.equal("nn.MaxPool2d(3x3, stride 2, padding 1, ceil_mode)",
        tostring(nn.MaxPool2d(3, { stride = 2, padding = 1, ceil_mode = true })))
      H.assert_error(function() nn.MaxPool2d(2, { padding = 2 }) end,
        "nn.MaxPool2d: padding (2x2) must be at most half the kernel size (2x2)")
    end)
  end)

  describe("batch norm", function()
    local x = mg.tensor{ 1, 2, 3, 4 }:view(2, 1, 1, 2)
    local s = math.sqrt(1.25 + 1e-5)

    it("starts with weight 1, bias 0, running mean 0 and variance 1", function()
      local bn = nn.BatchNorm2d(4)
      H.assert_near(bn.weight, mg.ones(4))
      H.assert_near(bn.bias, mg.zeros(4))
      H.assert_near(bn.running_mean, mg.zeros(4))
      H.assert_near(bn.running_var, mg.ones(4))
      assert.are.equal("int64", bn.num_batches_tracked.dtype)
      assert.are.equal(0, bn.num_batches_tracked:item())
    end)

    it("normalises with batch statistics in training and updates the running ones", function()
      local bn = nn.BatchNorm2d(1)
      H.assert_near(bn(x):view(-1), { -1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s }, 1e-5)
      H.assert_near(bn.running_mean, { 0.25 })
      H.assert_near(bn.running_var, { 0.9 + 0.1 * 5 / 3 }) -- unbiased batch variance
      assert.are.equal(1, bn.num_batches_tracked:item())
      bn:eval()
      local r = math.sqrt(0.9 + 0.1 * 5 / 3 + 1e-5)
      H.assert_near(bn(x):view(-1), { 0.75 / r, 1.75 / r, 2.75 / r, 3.75 / r }, 1e-5)
      assert.are.equal(1, bn.num_batches_tracked:item())
    end)

    it("applies weight and bias, for [N, C] input too", function()
      local bn = nn.BatchNorm1d(2)
      set(bn.weight, { 2, 1 })
      set(bn.bias, { 1, 0 })
      local y = bn(mg.tensor{ { 1, 5 }, { 3, 5 } })
      H.assert_near(y, { { 1 - 2 / math.sqrt(1 + 1e-5), 0 }, { 1 + 2 / math.sqrt(1 + 1e-5), 0 } }, 1e-5)
      assert.are.same({ 4, 2, 7 }, bn(mg.randn(4, 2, 7)):shape())
    end)

    it("keeps a cumulative average with momentum = false", function()
      local bn = nn.BatchNorm1d(1, { momentum = false })
      bn(mg.tensor{ { 1 }, { 3 } })
      bn(mg.tensor{ { 5 }, { 9 } })
      H.assert_near(bn.running_mean, { (2 + 7) / 2 })
      H.assert_near(bn.running_var, { (2 + 8) / 2 })
    end)

    it("uses batch statistics always without running stats", function()
      local bn = nn.BatchNorm2d(1, { track_running_stats = false, affine = false })
      assert.are.equal(0, #bn:parameters())
      assert.are.equal(0, #bn:buffers())
      bn:eval()
      H.assert_near(bn(x):view(-1), { -1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s }, 1e-5)
    end)

    it("checks the input's rank and channels", function()
      H.assert_error(function() nn.BatchNorm2d(3)(mg.randn(2, 3)) end,
        "nn.BatchNorm2d(3): expects a 4-d [N, C, H, W] input, got [2, 3]")
      H.assert_error(function() nn.BatchNorm1d(3)(mg.randn(2, 4)) end,
        "nn.BatchNorm1d(3): input [2, 4] has 4 channels (dim 2), expected 3")
      assert.are.equal("nn.BatchNorm1d(8, momentum 0.01, no running stats)",
        tostring(nn.BatchNorm1d(8, { momentum = 0.01, track_running_stats = false })))
    end)
  end)

  describe("nn.LayerNorm", function()
    it("starts with weight 1 and bias 0 of the normalised shape", function()
      local ln = nn.LayerNorm({ 2, 3 })
      H.assert_near(ln.weight, mg.ones(2, 3))
      H.assert_near(ln.bias, mg.zeros(2, 3))
      assert.are.equal("nn.LayerNorm([2, 3])", tostring(ln))
    end)

    it("normalises over the trailing dims", function()
      local v = 1 / math.sqrt(2 / 3 + 1e-5)
      H.assert_near(nn.LayerNorm(3)(mg.tensor{ { 1, 2, 3 } }), { { -v, 0, v } }, 1e-5)
      local ln = nn.LayerNorm({ 2, 2 }, { elementwise_affine = false })
      assert.are.equal(0, #ln:parameters())
      local w = 1 / math.sqrt(1.25 + 1e-5)
      H.assert_near(ln(mg.tensor{ { { 1, 2 }, { 3, 4 } } }), { { { -1.5 * w, -0.5 * w }, { 0.5 * w, 1.5 * w } } }, 1e-5)
    end)
  end)

  describe("nn.Dropout", function()
    it("zeroes a fraction p in training and scales the rest by 1 / (1 - p)", function()
      local drop = nn.Dropout(0.25)
      local y = drop(mg.ones(100, 100))
      local zeros = y:eq(0):sum():item() / 1e4
      assert.is_true(math.abs(zeros - 0.25) < 0.03, "fraction of zeros " .. zeros)
      H.assert_near(y:sum():item() / (1e4 * (1 - zeros)), 1 / 0.75, 1e-4)
      drop:eval()
      local x = mg.randn(3, 4)
      H.assert_near(drop(x), x, 0, 0)
    end)

    it("checks p", function()
      H.assert_error(function() nn.Dropout(1.5) end, "nn.Dropout: p must be a number in [0, 1], got 1.5")
      assert.are.equal(0.5, nn.Dropout().p)
    end)
  end)

  describe("nn.Embedding", function()
    it("looks up rows by 1-based ids", function()
      local emb = nn.Embedding(3, 2)
      set(emb.weight, { { 1, 2 }, { 3, 4 }, { 5, 6 } })
      local ids = mg.tensor({ { 3, 1 } }, { dtype = "int64" })
      H.assert_near(emb(ids), { { { 5, 6 }, { 1, 2 } } })
    end)

    it("starts from N(0, 1)", function()
      local emb = nn.Embedding(1000, 64)
      local mean, std = stats(emb.weight)
      assert.is_true(math.abs(mean) < 0.02)
      assert.is_true(math.abs(std - 1) < 0.02)
    end)

    it("from_pretrained copies the weight and freezes it", function()
      local w = mg.tensor{ { 1, 2 }, { 3, 4 } }
      local emb = nn.Embedding.from_pretrained(w)
      H.assert_near(emb.weight, w)
      assert.is_false(emb.weight.requires_grad)
      assert.is_true(nn.Embedding.from_pretrained(w, { freeze = false }).weight.requires_grad)
    end)
  end)

  describe("activations", function()
    local x = mg.tensor{ { -2, 0.5 } }

    it("ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softplus, SiLU", function()
      H.assert_near(nn.ReLU()(x), { { 0, 0.5 } })
      H.assert_near(nn.LeakyReLU()(x), { { -0.02, 0.5 } })
      H.assert_near(nn.LeakyReLU(0.2)(x), { { -0.4, 0.5 } })
      H.assert_near(nn.Sigmoid()(x), { { 1 / (1 + math.exp(2)), 1 / (1 + math.exp(-0.5)) } })
      -- tanh written out: math.tanh is only in Debian's compatibility build of Lua 5.4
      local function tanh(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end
      H.assert_near(nn.Tanh()(x), { { tanh(-2), tanh(0.5) } })
      H.assert_near(nn.GELU()(mg.tensor{ 1, -0.5 }), { 0.8413447, -0.1542687 }, 1e-5)
      H.assert_near(nn.Softplus({ beta = 2 })(mg.tensor{ 0, 2 }), { math.log(2) / 2, math.log(1 + math.exp(4)) / 2 },
        1e-5)
      H.assert_near(nn.SiLU()(mg.tensor{ 1 }), { 1 / (1 + math.exp(-1)) })
      assert.are.equal("nn.LeakyReLU(0.2)", tostring(nn.LeakyReLU(0.2)))
    end)

    it("Softmax and LogSoftmax along a 1-based dim", function()
      local z = mg.tensor{ { 1, 2, 3 }, { 0, 0, 0 } }
      local e = math.exp(1) + math.exp(2) + math.exp(3)
      local expected = { { math.exp(1) / e, math.exp(2) / e, math.exp(3) / e }, { 1 / 3, 1 / 3, 1 / 3 } }
      H.assert_near(nn.Softmax(2)(z), expected)
      H.assert_near(nn.Softmax()(z), expected) -- dim -1 by default
      H.assert_near(nn.LogSoftmax(2)(z), mg.log(mg.tensor(expected)))
      H.assert_near(nn.Softmax(1)(z):sum(1), { 1, 1, 1 })
    end)

    it("GradientReversal is the identity forward and scales the gradient by -lambda", function()
      local grl = nn.GradientReversal(2)
      local v = mg.tensor{ 1, -3 }:requires_grad_()
      local y = grl(v)
      H.assert_near(y, { 1, -3 })
      local loss = (y * mg.tensor{ 1, 10 }):sum()
      loss:backward()
      H.assert_near(v.grad, { -2, -20 })
      grl.lambda = 0.5 -- a schedule sets it between steps
      v.grad = nil
      grl(v):sum():backward()
      H.assert_near(v.grad, { -0.5, -0.5 })
      assert.are.equal("nn.GradientReversal(lambda 0.5)", tostring(grl))
      H.assert_error(function() grl:set_lambda("x") end, "lambda must be a number")
    end)
  end)

  describe("shape layers", function()
    it("Flatten keeps the batch dim by default", function()
      local x = mg.randn(2, 3, 4, 5)
      assert.are.same({ 2, 60 }, nn.Flatten()(x):shape())
      assert.are.same({ 120 }, nn.Flatten(1)(x):shape())
      assert.are.same({ 2, 12, 5 }, nn.Flatten(2, 3)(x):shape())
      assert.are.equal("nn.Flatten(1, -1)", tostring(nn.Flatten(1)))
    end)

    it("Unflatten splits a dim", function()
      local x = mg.arange(1, 25):float():view(2, 12)
      local y = nn.Unflatten(2, { 3, 4 })(x)
      assert.are.same({ 2, 3, 4 }, y:shape())
      H.assert_near(y[2][3], { 21, 22, 23, 24 })
      assert.are.same({ 2, 2, 6 }, nn.Unflatten(-1, { 2, -1 })(x):shape())
    end)

    it("Identity returns its input", function()
      local x = mg.randn(3)
      assert.are.equal(x, nn.Identity()(x))
    end)
  end)

  describe("loss modules", function()
    it("MSELoss and L1Loss reduce as asked", function()
      local a, b = mg.tensor{ 1, 2, 3 }, mg.tensor{ 1, 0, 0 }
      H.assert_near(nn.MSELoss()(a, b), 13 / 3)
      H.assert_near(nn.MSELoss({ reduction = "sum" })(a, b), 13)
      H.assert_near(nn.L1Loss({ reduction = "none" })(a, b), { 0, 2, 3 })
    end)

    it("CrossEntropyLoss takes 1-based int64 targets", function()
      local logits = mg.tensor{ { 0, 0 }, { 0, math.log(3) } }
      local t = mg.tensor({ 1, 2 }, { dtype = "int64" })
      H.assert_near(nn.CrossEntropyLoss()(logits, t), (math.log(2) + math.log(4 / 3)) / 2, 1e-5)
      assert.are.equal("nn.CrossEntropyLoss(label_smoothing = 0.1)",
        tostring(nn.CrossEntropyLoss({ label_smoothing = 0.1 })))
    end)

    it("KLDivLoss is KL(target || input) per sample", function()
      local input = mg.log(mg.tensor{ { 0.5, 0.5 }, { 0.25, 0.75 } })
      local target = mg.tensor{ { 1, 0 }, { 0.25, 0.75 } }
      H.assert_near(nn.KLDivLoss()(input, target), math.log(2) / 2, 1e-6)
    end)
  end)

  describe("nn.functional", function()
    it("re-exports the core's ops", function()
      assert.are.equal(mg.linear, F.linear)
      assert.are.equal(mg.relu, F.relu)
      for _, name in ipairs(F.names) do assert.is_function(F[name], name) end
    end)

    it("one_hot makes rows of 0 and 1 from 1-based classes", function()
      local c = mg.tensor({ 3, 1 }, { dtype = "int64" })
      H.assert_near(F.one_hot(c, 4), { { 0, 0, 1, 0 }, { 1, 0, 0, 0 } })
      assert.are.same({ 2, 3 }, F.one_hot(c):shape())
      assert.are.equal("int64", F.one_hot(c, 3, { dtype = "int64" }).dtype)
      H.assert_error(function() F.one_hot(c, 2) end, "F.one_hot: class 3 out of range 1..2")
    end)

    it("kl_div reduces per batch by default and handles zero targets", function()
      local input = mg.log(mg.tensor{ { 0.5, 0.5 } }):requires_grad_()
      local loss = F.kl_div(input, mg.tensor{ { 1, 0 } })
      H.assert_near(loss, math.log(2), 1e-6)
      loss:backward()
      H.assert_near(input.grad, { { -1, 0 } })
      H.assert_near(F.kl_div(input, mg.tensor{ { 1, 0 } }, { reduction = "none" }), { { math.log(2), 0 } }, 1e-6)
      H.assert_error(function() F.kl_div(input, input, { reduction = "avg" }) end, "F.kl_div: unknown reduction 'avg'")
    end)

    it("normalize divides by the p-norm, leaving zero rows at zero", function()
      H.assert_near(F.normalize(mg.tensor{ { 3, 4 }, { 0, 0 } }), { { 0.6, 0.8 }, { 0, 0 } })
      H.assert_near(F.normalize(mg.tensor{ { 1, 3 } }, { p = 1 }), { { 0.25, 0.75 } })
      H.assert_near(F.normalize(mg.tensor{ { 3 }, { 4 } }, { dim = 1 }), { { 0.6 }, { 0.8 } })
      local x = mg.zeros(1, 2):requires_grad_()
      F.normalize(x):sum():backward()
      H.assert_near(x.grad, { { 1e12, 1e12 } }, 0, 1e-3) -- finite, not nan
    end)
  end)

  it("nn.utils.clip_grad_norm_ scales gradients to the norm asked", function()
    local a = mg.zeros(2):requires_grad_()
    local b = mg.zeros(1):requires_grad_()
    local loss = (a * mg.tensor{ 3, 0 }):sum() + (b * 4):sum()
    loss:backward()
    local norm = nn.utils.clip_grad_norm_({ a, b }, 1)
    H.assert_near(norm, 5, 1e-5)
    H.assert_near(a.grad, { 0.6, 0 }, 1e-5)
    H.assert_near(b.grad, { 0.8 }, 1e-5)
    assert.is_true(math.abs(nn.utils.clip_grad_norm_({ a, b }, 10) - 1) < 1e-5) -- below: unchanged
    H.assert_near(a.grad, { 0.6, 0 }, 1e-5)
    nn.utils.clip_grad_value_({ a, b }, 0.7)
    H.assert_near(b.grad, { 0.7 }, 1e-6)
    local inf = nn.utils.clip_grad_norm_({ a, b }, 0.35, { norm_type = math.huge })
    H.assert_near(inf, 0.7, 1e-6)
    H.assert_near(b.grad, { 0.35 }, 1e-5)
    H.assert_near(a.grad, { 0.3, 0 }, 1e-5)
  end)

  it("a network of layers passes a finite-difference gradient check", function()
    local net = nn.Sequential{
      nn.Conv2d(2, 3, 3, { padding = 1 }), nn.BatchNorm2d(3), nn.LeakyReLU(0.1), nn.AvgPool2d(2),
      nn.Flatten(), nn.Linear(12, 4), nn.LayerNorm(4), nn.Tanh(),
    }
    H.gradcheck(function(x) return net(x) end, { mg.randn(2, 2, 4, 4) })
    local p = net[6].weight
    H.gradcheck(function(w)
      net[6].weight = w
      return net(mg.ones(2, 2, 4, 4))
    end, { nn.Parameter(p) })
  end)
end)
