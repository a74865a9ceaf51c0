-- Elementwise ops: broadcasting of every binary op (tensors and numbers on
-- either side) and its errors, unary values, comparisons, where and clamp.
local H = require "helpers"
local mg = H.mg

local a = function() return mg.tensor { { 1, 2, 3 }, { 4, 5, 6 } } end -- [2, 3]
local col = function() return mg.tensor { { 10 }, { 20 } } end      -- [2, 1]
local row = function() return mg.tensor { 1, 2, 4 } end              -- [3]

describe("binary ops broadcast", function()
  local cases = {
    { "add", function(x, y) return x + y end, function(x, y) return x + y end },
    { "sub", function(x, y) return x - y end, function(x, y) return x - y end },
    { "mul", function(x, y) return x * y end, function(x, y) return x * y end },
    { "div", function(x, y) return x / y end, function(x, y) return x / y end },
    { "pow", function(x, y) return x ^ y end, function(x, y) return x ^ y end },
    { "maximum", mg.maximum, math.max },
    { "minimum", mg.minimum, math.min },
  }
  for _, c in ipairs(cases) do
    local name, op, ref = c[1], c[2], c[3]
    it(name .. ": [2,3] with [2,1], [3], a 0-dim tensor and [1,1,3]", function()
      local x, y, r = a(), col(), row()
      local want = {}
      for i = 1, 2 do
        want[i] = {}
        for j = 1, 3 do want[i][j] = ref(x:totable()[i][j], y:totable()[i][1]) end
      end
      H.assert_near(op(x, y), want, 1e-4, 1e-5)
      H.assert_near(op(y, x):shape(), { 2, 3 }, 0)
      for i = 1, 2 do for j = 1, 3 do want[i][j] = ref(x:totable()[i][j], r:totable()[j]) end end
      H.assert_near(op(x, r), want, 1e-4, 1e-5)
      local three = op(x, r:view(1, 1, 3))
      assert.are.same({ 1, 2, 3 }, three:shape())
      H.assert_near(three:view(2, 3), want, 1e-4, 1e-5)
      for i = 1, 2 do for j = 1, 3 do want[i][j] = ref(x:totable()[i][j], 2) end end
      H.assert_near(op(x, mg.tensor(2)), want, 1e-4, 1e-5)
      H.assert_near(mg[name](x, mg.tensor(2)), want, 1e-4, 1e-5)
    end)

    it(name .. ": numbers on either side", function()
      local x = a()
      local right, left = {}, {}
      for i = 1, 2 do
        right[i], left[i] = {}, {}
        for j = 1, 3 do
          right[i][j] = ref(x:totable()[i][j], 3)
          left[i][j] = ref(3, x:totable()[i][j])
        end
      end
      H.assert_near(op(x, 3), right, 1e-4, 1e-5)
      H.assert_near(op(3, x), left, 1e-4, 1e-5)
    end)

    it(name .. ": incompatible shapes name both shapes and the dim", function()
      H.assert_error(function() return op(mg.zeros(2, 3), mg.zeros(4, 3)) end,
        name .. ": shapes [2, 3] and [4, 3] cannot be broadcast (dim 1: 2 vs 4)")
      H.assert_error(function() return op(mg.zeros(2, 3), mg.zeros(2)) end,
        name .. ": shapes [2, 3] and [2] cannot be broadcast (dim 2: 3 vs 2)")
    end)
  end

  it("broadcast both ways at once and over size-0 dims", function()
    local c = mg.tensor { { 1 }, { 2 } } + mg.tensor { 10, 20, 30 }
    assert.are.same({ { 11, 21, 31 }, { 12, 22, 32 } }, c:totable())
    assert.are.same({ 0, 3 }, (mg.zeros(0, 3) + mg.ones(3)):shape())
    assert.are.same({ 2, 0 }, (mg.zeros(2, 1) * mg.ones(0)):shape())
  end)

  it("read strided views", function()
    local x = mg.arange(6):float():view(2, 3)
    assert.are.same({ { 0, 6 }, { 2, 8 }, { 4, 10 } }, (x:t() + x:t()):totable())
    assert.are.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, (x:t() + 1):totable())
    local scaled = x:t():narrow(2, 2, 1) * mg.tensor { 0, 1, 2 }:view(3, 1) -- {{0}, {4}, {10}}
    assert.are.same({ { 0, 3 }, { 5, 8 }, { 12, 15 } }, (x:t() + scaled):totable())
  end)

  it("errors when both sides are numbers or a side is not a tensor", function()
    H.assert_error(function() return mg.add(1, 2) end, "add: at least one argument must be a Tensor")
    H.assert_error(function() return mg.zeros(2) + "x" end, "Tensor or number expected")
    H.assert_error(function() return mg.zeros(2) + {} end, "Tensor or number expected")
  end)

  it("add with alpha, square, neg", function()
    assert.are.same({ 7, 14 }, mg.add(mg.tensor { 1, 2 }, mg.tensor { 2, 4 }, 3):totable())
    assert.are.same({ 4, 9 }, mg.tensor { -2, 3 }:square():totable())
    assert.are.same({ 2, -3 }, (-mg.tensor { -2, 3 }):totable())
  end)
end)

describe("unary ops", function()
  local x = { -2, -0.5, 0, 0.5, 3 }
  local function check(name, ref, input, tol)
    input = input or x
    local want = {}
    for i, v in ipairs(input) do want[i] = ref(v) end
    H.assert_near(mg[name](mg.tensor(input)), want, tol or 1e-6, 1e-5, name)
    H.assert_near(mg.tensor(input)[name](mg.tensor(input)), want, tol or 1e-6, 1e-5, name)
  end
  local function erf(v) -- Abramowitz-Stegun 7.1.26 is too coarse; use a series
    local s, term, n = 0, v, 0
    repeat
      s = s + term / (2 * n + 1)
      n = n + 1
      term = -term * v * v / n
    until math.abs(term) < 1e-17 or n > 200
    return 2 / math.sqrt(math.pi) * s
  end

  it("match their definitions", function()
    check("neg", function(v) return -v end)
    check("exp", math.exp)
    check("log", math.log, { 0.1, 1, 2.5, 100 })
    check("sqrt", math.sqrt, { 0, 0.25, 2, 9 })
    check("abs", math.abs)
    check("sign", function(v) return v > 0 and 1 or (v < 0 and -1 or 0) end)
    check("sin", math.sin)
    check("cos", math.cos)
    check("relu", function(v) return math.max(v, 0) end)
    check("sigmoid", function(v) return 1 / (1 + math.exp(-v)) end)
    check("tanh", function(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end)
    check("gelu", function(v) return 0.5 * v * (1 + erf(v / math.sqrt(2))) end)
    check("softplus", function(v) return math.log(1 + math.exp(v)) end)
    H.assert_near(mg.leaky_relu(mg.tensor(x), 0.1), { -0.2, -0.05, 0, 0.5, 3 })
    H.assert_near(mg.leaky_relu(mg.tensor { -1, 1 }), { -0.01, 1 })
  end)

  it("stay finite at the edges", function()
    H.assert_near(mg.sigmoid(mg.tensor { -100, 100 }), { 0, 1 }, 1e-30)
    H.assert_near(mg.softplus(mg.tensor { -100, 100 }), { 0, 100 }, 1e-30)
    H.assert_near(mg.tanh(mg.tensor { -50, 50 }), { -1, 1 }, 0)
    assert.are.same({ -math.huge }, mg.log(mg.tensor { 0 }):totable())
    local n = mg.sqrt(mg.tensor { -1 }):item()
    assert.is_true(n ~= n)
  end)

  it("agree between the vector path (contiguous) and the scalar path (strided)", function()
    local line = mg.linspace(-30, 30, 6001)
    local strided = mg.stack({ line, line }, 2):select(2, 1) -- stride 2: the scalar loop
    local positive = line:abs() + 0.01
    local pos_strided = mg.stack({ positive, positive }, 2):select(2, 1)
    for _, name in ipairs { "exp", "tanh", "sigmoid", "gelu", "softplus", "sin", "cos", "relu", "abs" } do
      H.assert_near(mg[name](line), mg[name](strided), 1e-6, 1e-6, name)
    end
    for _, name in ipairs { "log", "sqrt" } do
      H.assert_near(mg[name](positive), mg[name](pos_strided), 1e-6, 1e-6, name)
    end
    H.assert_near(positive ^ 1.7, pos_strided ^ 1.7, 1e-6, 1e-6, "pow")
    H.assert_near(mg.tensor { -2, -1.5, 3 } ^ 3, { -8, -3.375, 27 }, 1e-5, 1e-6, "pow of negatives")
  end)

  it("keep the input's shape and read strided views", function()
    local t = mg.arange(6):float():view(2, 3):t()
    assert.are.same({ 3, 2 }, t:exp():shape())
    H.assert_near(t:exp(), { { 1, math.exp(3) }, { math.exp(1), math.exp(4) }, { math.exp(2), math.exp(5) } }, 1e-4)
  end)
end)

describe("comparisons", function()
  it("give float32 masks of 0 and 1, broadcasting, numbers on either side", function()
    local x = mg.tensor { 1, 2, 3 }
    local m = x:gt(2)
    assert.are.equal("float32", m.dtype)
    assert.are.same({ 0, 0, 1 }, m:totable())
    assert.are.same({ 1, 1, 0 }, x:lt(3):totable())
    assert.are.same({ 0, 1, 1 }, x:ge(2):totable())
    assert.are.same({ 1, 1, 0 }, x:le(2):totable())
    assert.are.same({ 0, 1, 0 }, x:eq(2):totable())
    assert.are.same({ 1, 0, 1 }, x:ne(2):totable())
    assert.are.same({ 1, 0, 0 }, mg.gt(2, x):totable()) -- 2 > x
    assert.are.same({ 0, 0, 1 }, mg.lt(2, x):totable())
    assert.are.same({ { 0, 0, 1 }, { 1, 1, 1 } }, x:gt(mg.tensor { { 2 }, { 0 } }):totable())
    H.assert_error(function() return x:eq(mg.zeros(2)) end, "compare: shapes [3] and [2] cannot be broadcast")
  end)

  it("compare int64 labels with each other, with floats and with numbers", function()
    local labels = mg.tensor({ 3, 1, 2, 3 }, { dtype = "int64" })
    local pred = mg.tensor({ 3, 2, 2, 1 }, { dtype = "int64" })
    assert.are.same({ 1, 0, 1, 0 }, labels:eq(pred):totable())
    assert.are.equal(0.5, labels:eq(pred):mean():item())
    assert.are.same({ 1, 0, 0, 1 }, labels:eq(3):totable())
    assert.are.same({ 0, 1, 1, 0 }, labels:lt(mg.tensor { 3, 3, 3, 3 }):totable())
    assert.are.same({ 0, 1, 0, 0 }, mg.tensor({ 0, 1, 2, 255 }, { dtype = "uint8" }):eq(1):totable())
  end)

  it("NaN compares unequal to everything", function()
    local x = mg.tensor { 0 / 0 }
    assert.are.same({ 0 }, x:eq(x):totable())
    assert.are.same({ 1 }, x:ne(x):totable())
  end)
end)

describe("where", function()
  it("picks from a or b by a broadcast condition of any dtype", function()
    local c = mg.tensor { 1, 0, 1 }
    assert.are.same({ 1, 20, 3 }, mg.where(c, mg.tensor { 1, 2, 3 }, mg.tensor { 10, 20, 30 }):totable())
    assert.are.same({ { 1, -1, 1 }, { 1, -1, 1 } }, mg.where(c, 1, mg.full({ 2, 1 }, -1)):totable())
    assert.are.same({ 5, 0 }, mg.where(mg.tensor({ 2, 0 }, { dtype = "int64" }), 5, 0):totable())
    local x = mg.tensor { -1, 2, -3 }
    assert.are.same({ 0, 2, 0 }, mg.where(x:gt(0), x, 0):totable())
    H.assert_error(function() return mg.where(mg.ones(2), mg.ones(3), 0) end,
      "where: shapes [2] and [3] cannot be broadcast")
  end)
end)

describe("clamp", function()
  it("bounds both sides or one side, nil leaving a side open", function()
    local x = mg.tensor { -2, -0.5, 0.5, 2 }
    assert.are.same({ -1, -0.5, 0.5, 1 }, x:clamp(-1, 1):totable())
    assert.are.same({ 0, 0, 0.5, 2 }, x:clamp(0):totable())
    assert.are.same({ -2, -0.5, 0, 0 }, x:clamp(nil, 0):totable())
    assert.are.same({ -2, -0.5, 0.5, 2 }, x:clamp():totable())
    H.assert_error(function() return x:clamp(1, 0) end, "clamp: min 1 is greater than max 0")
  end)

  it("clamp_ works in place and keeps NaN", function()
    local x = mg.tensor { -2, 0 / 0, 2 }
    x:clamp_(-1, 1)
    local v = x:totable()
    assert.are.equal(-1, v[1])
    assert.is_true(v[2] ~= v[2])
    assert.are.equal(1, v[3])
  end)
end)

describe("threads", function()
  local threads
  before_each(function() threads = mg.get_num_threads() end)
  after_each(function() mg.set_num_threads(threads) end)

  it("do not change elementwise results or reductions", function()
    mg.manual_seed(5)
    local m, b, c = mg.randn(300, 700), mg.randn(700), mg.randn(300, 1)
    local function run()
      return { m + b, (m * c):tanh(), m:t():exp(), mg.where(m:gt(0), m, c), m:sum(1), m:sum(2), m:max(1), m:sum() }
    end
    mg.set_num_threads(1)
    local one = run()
    mg.set_num_threads(2)
    local two = run()
    for i = 1, #one do H.assert_near(two[i], one[i], 0, 0, "result " .. i) end
  end)
end)

describe("integer inputs", function()
  local l = function() return mg.tensor({ 3, 1, 7 }, { dtype = "int64" }) end

  it("keep int64 for + - * with integers, max and min", function()
    local x = l()
    assert.are.same({ "int64", { 4, 2, 8 } }, { (x + 1).dtype, (x + 1):totable() })
    assert.are.same({ -2, 0, -6 }, (1 - x):totable())
    assert.are.same({ 6, 2, 14 }, (x * 2):totable())
    assert.are.same({ -3, -1, -7 }, (-x):totable())
    assert.are.same({ 0, -2, 4 }, (x - mg.tensor({ 3, 3, 3 }, { dtype = "int64" })):totable())
    assert.are.same({ 3, 2, 7 }, mg.maximum(x, mg.tensor({ 2, 2, 2 }, { dtype = "int64" })):totable())
    assert.are.equal("int64", mg.minimum(x, x).dtype)
  end)

  it("promote to float32 otherwise, as PyTorch does", function()
    local x = l()
    assert.are.equal("float32", (x / 2).dtype)
    H.assert_near(x / 2, { 1.5, 0.5, 3.5 })
    H.assert_near(x * 0.5, { 1.5, 0.5, 3.5 })
    H.assert_near(x + mg.tensor { 0.5, 0.5, 0.5 }, { 3.5, 1.5, 7.5 })
    H.assert_near(x:sqrt(), { math.sqrt(3), 1, math.sqrt(7) })
  end)

  it("let gradients flow to the float operand", function()
    local w = mg.tensor({ 1, 2, 3 }):requires_grad_()
    ;(w * l()):sum():backward()
    H.assert_near(w.grad, { 3, 1, 7 })
  end)
end)
