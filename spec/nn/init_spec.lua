-- mg.nn.init: fans and gains as PyTorch computes them, the range or spread
-- of each initialiser (statistics over many draws), in-place filling of
-- parameters without a graph, and argument errors.
local H = require "helpers"
local mg = H.mg
local init = mg.nn.init

local function stats(t)
  local flat = t:detach():contiguous():view(-1)
  return flat:mean():item(), flat:std():item(), flat:min():item(), flat:max():item()
end

describe("nn.init", function()
  before_each(H.reseed(21))

  it("computes fans from dims 1 (out), 2 (in) and the receptive field", function()
    local fan_in, fan_out = init.calculate_fan_in_and_fan_out(mg.empty(64, 16, 3, 5))
    assert.are.equal(16 * 15, fan_in)
    assert.are.equal(64 * 15, fan_out)
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(mg.empty(10, 784))
    assert.are.same({ 784, 10 }, { fan_in, fan_out })
    H.assert_error(function() init.calculate_fan_in_and_fan_out(mg.empty(5)) end,
      "fan in and fan out need a tensor with at least 2 dims, got 1")
  end)

  it("gives PyTorch's gains", function()
    assert.are.equal(1, init.calculate_gain("linear"))
    assert.are.equal(1, init.calculate_gain("sigmoid"))
    H.assert_near(init.calculate_gain("tanh"), 5 / 3)
    H.assert_near(init.calculate_gain("relu"), math.sqrt(2))
    H.assert_near(init.calculate_gain("leaky_relu"), math.sqrt(2 / (1 + 1e-4)))
    H.assert_near(init.calculate_gain("leaky_relu", math.sqrt(5)), math.sqrt(1 / 3))
    H.assert_error(function() init.calculate_gain("swish") end, "calculate_gain: unknown nonlinearity swish")
  end)

  it("fills constants", function()
    local t = mg.empty(3, 2)
    assert.is_true(rawequal(init.zeros_(t), t))
    H.assert_near(t, mg.zeros(3, 2), 0, 0)
    H.assert_near(init.ones_(t), mg.ones(3, 2), 0, 0)
    H.assert_near(init.constant_(t, 0.25), mg.full({ 3, 2 }, 0.25), 0, 0)
  end)

  it("uniform_ and normal_ draw from the asked range and spread", function()
    local t = mg.empty(200, 200)
    local mean, std, lo, hi = stats(init.uniform_(t, -2, 4))
    assert.is_true(lo >= -2 and hi <= 4 and lo < -1.99 and hi > 3.99)
    assert.is_true(math.abs(mean - 1) < 0.03)
    assert.is_true(math.abs(std - 6 / math.sqrt(12)) < 0.02)
    mean, std = stats(init.normal_(t, 3, 0.5))
    assert.is_true(math.abs(mean - 3) < 0.01)
    assert.is_true(math.abs(std - 0.5) < 0.01)
  end)

  it("xavier_uniform_ and xavier_normal_ use sqrt(2 / (fan_in + fan_out))", function()
    local t = mg.empty(300, 500)
    local b = 2 * math.sqrt(6 / 800) -- gain 2
    local _, std, lo, hi = stats(init.xavier_uniform_(t, 2))
    assert.is_true(lo >= -b and hi <= b and hi > 0.99 * b)
    assert.is_true(math.abs(std - b / math.sqrt(3)) < 0.01 * b)
    _, std = stats(init.xavier_normal_(t, { gain = 1 }))
    assert.is_true(math.abs(std - math.sqrt(2 / 800)) < 0.01 * math.sqrt(2 / 800))
  end)

  it("kaiming_uniform_ and kaiming_normal_ use gain / sqrt(fan)", function()
    local t = mg.empty(256, 64, 3, 3) -- fan_in 576, fan_out 2304
    local b = math.sqrt(2) * math.sqrt(3 / 576)
    local _, std, lo, hi = stats(init.kaiming_uniform_(t, { nonlinearity = "relu" }))
    assert.is_true(lo >= -b and hi <= b and hi > 0.99 * b)
    assert.is_true(math.abs(std - b / math.sqrt(3)) < 0.01 * b)
    local s = math.sqrt(2) / math.sqrt(2304)
    _, std = stats(init.kaiming_normal_(t, 0, "fan_out", "relu"))
    assert.is_true(math.abs(std - s) < 0.01 * s)
    -- a = sqrt(5) over fan_in: the default of Linear and Conv2d, bound 1 / sqrt(fan_in)
    _, _, lo, hi = stats(init.kaiming_uniform_(t, { a = math.sqrt(5) }))
    assert.is_true(lo >= -1 / 24 and hi <= 1 / 24 and hi > 0.99 / 24)
    H.assert_error(function() init.kaiming_uniform_(t, { mode = "fan_avg" }) end,
      "nn.init.kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got fan_avg")
  end)

  it("fills parameters in place without recording a graph", function()
    local p = mg.nn.Parameter(mg.zeros(4, 4))
    assert.is_true(rawequal(init.kaiming_uniform_(p), p))
    assert.is_true(p.requires_grad)
    assert.is_nil(p.grad_fn)
    assert.is_true(mg.is_grad_enabled())
    assert.is_true(mg.abs(p):sum():item() > 0)
  end)

  it("refuses what it cannot fill", function()
    H.assert_error(function() init.uniform_(mg.tensor({ 1, 2 }, { dtype = "int64" })) end,
      "nn.init.uniform_: expects a float32 tensor, got int64")
    H.assert_error(function() init.xavier_uniform_(mg.empty(5)) end,
      "nn.init.xavier_uniform_: fan in and fan out need a tensor with at least 2 dims, got 1")
    H.assert_error(function() init.normal_(3) end, "nn.init.normal_: expects a Tensor, got number")
  end)
end)
