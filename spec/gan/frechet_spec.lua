-- The Frechet distance between Gaussians fitted to feature sets, and the
-- double-precision linear algebra under it (symmetric eigendecomposition,
-- PSD square root, tr sqrt(A B)), against closed forms.
local H = require "helpers"
local mg = H.mg
local gan = mg.gan
local linalg = mg.linalg

local sqrt, abs = math.sqrt, math.abs
local function near(a, b, tol)
  assert.is_true(abs(a - b) <= (tol or 1e-9) * math.max(1, abs(b)), string.format("%.12g vs %.12g", a, b))
end

-- A random symmetric positive semi-definite n x n matrix of rank r (Lua rows).
local function random_psd(n, r, seed)
  local g = mg.get_rng_state()
  mg.manual_seed(seed)
  local b = mg.randn(n, r or n):totable()
  mg.set_rng_state(g)
  local a = {}
  for i = 1, n do
    a[i] = {}
    for j = 1, n do
      local s = 0
      for k = 1, r or n do s = s + b[i][k] * b[j][k] end
      a[i][j] = s
    end
  end
  return a
end

local function diag(v)
  local a = {}
  for i = 1, #v do a[i] = {}; for j = 1, #v do a[i][j] = i == j and v[i] or 0 end end
  return a
end

local function max_abs_diff(a, b)
  local m = 0
  for i = 1, #a do for j = 1, #a do m = math.max(m, abs(a[i][j] - b[i][j])) end end
  return m
end

describe("mg.linalg.eigh", function()
  it("finds the eigenpairs of a known 2x2 and a diagonal matrix, ascending", function()
    local values, v = linalg.eigh({ { 2, 1 }, { 1, 2 } })
    near(values[1], 1); near(values[2], 3)
    near(abs(v[1][2]), 1 / sqrt(2)); near(v[1][2], v[2][2]) -- (1, 1)/sqrt 2 goes with 3
    local d = linalg.eigh({ { 5, 0, 0 }, { 0, -1, 0 }, { 0, 0, 2 } })
    assert.are.same({ -1, 2, 5 }, d)
  end)

  for _, n in ipairs({ 1, 3, 7, 40 }) do
    it("reconstructs a random symmetric matrix with orthonormal vectors (n = " .. n .. ")", function()
      local a = random_psd(n, math.max(1, n - 2), n) -- rank deficient for n > 2
      for i = 1, n do a[i][i] = a[i][i] - 1 end      -- and indefinite
      local values, v = linalg.eigh(a)
      local back, gram = {}, {}
      for i = 1, n do
        back[i], gram[i] = {}, {}
        for j = 1, n do
          local s, o = 0, 0
          for k = 1, n do s = s + v[i][k] * values[k] * v[j][k]; o = o + v[k][i] * v[k][j] end
          back[i][j], gram[i][j] = s, o
        end
      end
      assert.is_true(max_abs_diff(back, a) < 1e-10 * n * n)
      local ones = {}
      for i = 1, n do ones[i] = 1 end
      assert.is_true(max_abs_diff(gram, diag(ones)) < 1e-12 * n)
      for k = 2, n do assert.is_true(values[k - 1] <= values[k]) end
      local only = linalg.eigh(a, { vectors = false })
      for k = 1, n do near(only[k], values[k], 1e-10) end
    end)
  end

  it("handles zero and repeated eigenvalues", function()
    assert.are.same({ 0, 0, 0 }, linalg.eigh({ { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } }))
    local values = linalg.eigh(diag({ 2, 2, 2, 2 }))
    for k = 1, 4 do near(values[k], 2) end
  end)

  it("accepts a tensor and rejects a non-square matrix", function()
    local values = linalg.eigh(mg.tensor({ { 4, 0 }, { 0, 9 } }))
    near(values[2], 9)
    H.assert_error(function() linalg.eigh({ { 1, 2 }, { 3 } }) end, "linalg.eigh", "square")
  end)
end)

describe("mg.linalg.sqrtm_psd and trace_sqrt_product", function()
  it("gives the symmetric square root", function()
    local a = random_psd(6, 6, 5)
    local s = linalg.sqrtm_psd(a)
    assert.is_true(max_abs_diff(linalg.matmul(s, s), a) < 1e-9)
    assert.is_true(max_abs_diff(s, linalg.sqrtm_psd(linalg.matmul(s, s))) < 1e-8)
  end)

  it("is sum sqrt(a_i b_i) for diagonal matrices", function()
    near(linalg.trace_sqrt_product(diag({ 4, 9, 0 }), diag({ 1, 4, 7 })), 2 + 6)
  end)

  it("matches the 2x2 closed form sqrt(tr(AB) + 2 sqrt(det A det B))", function()
    local a, b = { { 4, 0 }, { 0, 1 } }, { { 2, 1 }, { 1, 2 } }
    -- AB = [[8, 4], [1, 2]]: trace 10; det A = 4, det B = 3
    near(linalg.trace_sqrt_product(a, b), sqrt(10 + 2 * sqrt(12)), 1e-12)
    local c, d = { { 3, 1 }, { 1, 1 } }, { { 1, -0.5 }, { -0.5, 2 } }
    local ab = c[1][1] * d[1][1] + c[1][2] * d[2][1] + c[2][1] * d[1][2] + c[2][2] * d[2][2]
    near(linalg.trace_sqrt_product(c, d), sqrt(ab + 2 * sqrt(2 * 1.75)), 1e-12)
  end)

  it("is symmetric in its arguments, also for singular matrices", function()
    local a, b = random_psd(8, 8, 1), random_psd(8, 3, 2)
    near(linalg.trace_sqrt_product(a, b), linalg.trace_sqrt_product(b, a), 1e-9)
  end)
end)

describe("gan.frechet_distance", function()
  before_each(H.reseed(21))

  it("is zero for identical statistics and features", function()
    local x = mg.randn(200, 6)
    near(gan.frechet_distance(x, x), 0, 1e-9)
    local s = { mu = { 1, 2 }, sigma = random_psd(2, 2, 7) }
    near(gan.frechet_distance(s, s), 0, 1e-9)
  end)

  it("is (m1 - m2)^2 + (s1 - s2)^2 for 1-D Gaussians", function()
    local d, parts = gan.frechet_distance({ mu = { 1 }, sigma = { { 4 } } }, { mu = { -2 }, sigma = { { 9 } } })
    near(d, 9 + 1); near(parts.mean, 9); near(parts.cov, 1)
  end)

  it("sums the 1-D terms for diagonal covariances", function()
    local a = { mu = { 0, 1, 2 }, sigma = diag({ 1, 4, 16 }) }
    local b = { mu = { 1, 1, 0 }, sigma = diag({ 9, 4, 1 }) }
    near(gan.frechet_distance(a, b), (1 + 0 + 4) + (4 + 0 + 9))
  end)

  it("matches the known 2x2 case and is symmetric", function()
    local a = { mu = { 0, 0 }, sigma = { { 4, 0 }, { 0, 1 } } }
    local b = { mu = { 1, 1 }, sigma = { { 2, 1 }, { 1, 2 } } }
    local expected = 2 + (5 + 4) - 2 * sqrt(10 + 2 * sqrt(12))
    near(gan.frechet_distance(a, b), expected, 1e-12)
    near(gan.frechet_distance(b, a), expected, 1e-12)
  end)

  it("sees a shift of the features as |shift|^2 and fits the sample statistics", function()
    local x = mg.randn(500, 4)
    local shift = mg.tensor({ 1, -2, 0, 0.5 })
    local d, parts = gan.frechet_distance(x, x + shift)
    near(d, 1 + 4 + 0.25, 1e-4); near(parts.cov, 0, 1e-4)
    local s = gan.feature_stats(mg.tensor({ { 1, 2 }, { 3, 6 }, { 5, 4 } }))
    near(s.mu[1], 3, 1e-6); near(s.mu[2], 4, 1e-6)
    near(s.sigma[1][1], 4, 1e-5); near(s.sigma[2][2], 4, 1e-5); near(s.sigma[1][2], 2, 1e-5)
    assert.are.equal(3, s.n)
  end)

  it("names what is wrong with its inputs", function()
    H.assert_error(function() gan.frechet_distance(mg.randn(5, 3), mg.randn(5, 4)) end,
      "feature sizes differ (3 and 4)")
    H.assert_error(function() gan.frechet_distance(mg.randn(5), mg.randn(5)) end, "gan.feature_stats", "[N, D]")
    H.assert_error(function() gan.feature_stats(mg.randn(1, 3)) end, "at least 2 samples")
  end)
end)
