-- Random numbers: reproducible by seed, independent of the thread count
-- (the generator is counter-based), and with the right distributions.
local H = require "helpers"
local mg = H.mg

local function same(a, b) return H.assert_near(a, b, 0, 0) end

describe("random numbers", function()
  local threads
  before_each(function()
    threads = mg.get_num_threads()
    mg.manual_seed(42)
  end)
  after_each(function() mg.set_num_threads(threads) end)

  it("repeat for the same seed and differ for another", function()
    mg.manual_seed(7)
    local a, b, c = mg.rand(50), mg.randn(3, 4), mg.randint(0, 100, 20)
    mg.manual_seed(7)
    same(mg.rand(50), a)
    same(mg.randn(3, 4), b)
    same(mg.randint(0, 100, 20), c)
    mg.manual_seed(8)
    assert.is_true(mg.rand(50):ne(a):sum():item() > 45)
    -- consecutive draws differ
    mg.manual_seed(7)
    local first, second = mg.rand(50), mg.rand(50)
    assert.is_true(first:ne(second):sum():item() > 45)
  end)

  it("restore from a saved state", function()
    mg.rand(10)
    local state = mg.get_rng_state()
    local a = mg.randn(20)
    mg.rand(5)
    mg.set_rng_state(state)
    same(mg.randn(20), a)
  end)

  it("rand is in [0, 1), uniform_ in [low, high)", function()
    local u = mg.rand(100000)
    assert.is_true(u:min():item() >= 0)
    assert.is_true(u:max():item() < 1)
    H.assert_near(u:mean(), 0.5, 0.01)
    H.assert_near(u:var(), 1 / 12, 0.003)
    local v = mg.zeros(10000):uniform_(-2, 3)
    assert.is_true(v:min():item() >= -2 and v:max():item() < 3)
    H.assert_near(v:mean(), 0.5, 0.1)
    H.assert_error(function() mg.zeros(2):uniform_(1, 0) end, "uniform_: low 1 must not exceed high 0")
  end)

  it("randn has mean 0 and std 1; normal_ takes mean and std", function()
    local z = mg.randn(100000)
    H.assert_near(z:mean(), 0, 0.02)
    H.assert_near(z:std(), 1, 0.02)
    assert.is_true(z:abs():max():item() < 7) -- finite, no wild values
    local n = mg.zeros(100000):normal_(5, 0.5)
    H.assert_near(n:mean(), 5, 0.01)
    H.assert_near(n:std(), 0.5, 0.01)
    H.assert_error(function() mg.zeros(2):normal_(0, -1) end, "normal_: std must be >= 0, got -1")
  end)

  it("randint covers [low, high) and nothing else", function()
    local r = mg.randint(-2, 3, 10000)
    assert.are.equal("int64", r.dtype)
    assert.are.equal(-2, r:float():min():item())
    assert.are.equal(2, r:float():max():item())
    for v = -2, 2 do
      local share = r:eq(v):mean():item()
      assert.is_true(share > 0.17 and share < 0.23, "value " .. v .. " share " .. share)
    end
    assert.are.same({ 2, 3 }, mg.randint(0, 2, 2, 3):shape())
    H.assert_error(function() mg.randint(3, 3, 2) end, "randint: high (3) must be greater than low (3)")
  end)

  it("randperm is a permutation of 1..n (1-based)", function()
    local p = mg.randperm(1000)
    assert.are.equal("int64", p.dtype)
    local seen, values = {}, p:totable()
    for _, v in ipairs(values) do
      assert.is_nil(seen[v])
      seen[v] = true
    end
    for v = 1, 1000 do assert.is_true(seen[v]) end
    local moved = 0
    for i, v in ipairs(values) do if v ~= i then moved = moved + 1 end end
    assert.is_true(moved > 900)
    assert.are.same({}, mg.randperm(0):totable())
    H.assert_error(function() mg.randperm(-1) end, "randperm: n must be >= 0, got -1")
  end)

  it("bernoulli_ gives 0 and 1 with probability p", function()
    local b = mg.zeros(20000):bernoulli_(0.3)
    assert.are.equal(0, b:eq(0):add(b:eq(1)):eq(0):sum():item())
    H.assert_near(b:mean(), 0.3, 0.015)
    H.assert_near(mg.zeros(100):bernoulli_(0):sum(), 0, 0)
    H.assert_near(mg.zeros(100):bernoulli_(1):sum(), 100, 0)
    H.assert_error(function() mg.zeros(2):bernoulli_(1.5) end, "bernoulli_: p must be in [0, 1], got 1.5")
  end)

  it("fill strided views in place", function()
    local base = mg.zeros(4, 6)
    base:narrow(2, 2, 3):uniform_(1, 2)
    assert.are.equal(0, base:narrow(2, 1, 1):abs():sum():item())
    assert.are.equal(0, base:narrow(2, 5, 2):abs():sum():item())
    assert.is_true(base:narrow(2, 2, 3):min():item() >= 1)
  end)

  it("do not depend on the thread count", function()
    local function draw()
      mg.manual_seed(123)
      return {
        mg.rand(300001), mg.randn(200003), mg.randint(0, 1000, 100001), mg.randperm(5000),
        mg.zeros(100000):uniform_(-1, 1), mg.zeros(70000):normal_(2, 3), mg.zeros(90000):bernoulli_(0.4),
        mg.rand(5),
      }
    end
    mg.set_num_threads(1)
    local one = draw()
    mg.set_num_threads(2)
    local two = draw()
    for i = 1, #one do same(two[i], one[i]) end
  end)
end)
