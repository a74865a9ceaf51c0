-- mg.nt_xent (and mg.ssl.nt_xent): SimCLR's loss against a direct
-- computation and hand-computed cases.
local H = require "helpers"
local mg = H.mg

-- The loss computed from its definition in plain Lua numbers (doubles).
local function direct(z1, z2, tau)
  local z = {}
  for _, t in ipairs({ z1:totable(), z2:totable() }) do
    for _, row in ipairs(t) do
      local n = 0
      for _, v in ipairs(row) do n = n + v * v end
      n = math.max(math.sqrt(n), 1e-8)
      local u = {}
      for d, v in ipairs(row) do u[d] = v / n end
      z[#z + 1] = u
    end
  end
  local M, N = #z, #z // 2
  local total = 0
  for i = 1, M do
    local sims, denom = {}, 0
    for k = 1, M do
      local s = 0
      for d = 1, #z[i] do s = s + z[i][d] * z[k][d] end
      sims[k] = s / tau
      if k ~= i then denom = denom + math.exp(sims[k]) end
    end
    local p = i <= N and i + N or i - N
    total = total + math.log(denom) - sims[p]
  end
  return total / M
end

describe("nt_xent", function()
  before_each(H.reseed(21))

  it("matches the definition on a small batch, at several temperatures", function()
    local z1, z2 = mg.randn(6, 5), mg.randn(6, 5)
    for _, tau in ipairs({ 0.1, 0.5, 2 }) do
      H.assert_near(mg.nt_xent(z1, z2, { temperature = tau }), direct(z1, z2, tau), 1e-4, 1e-5)
    end
    H.assert_near(mg.ssl.nt_xent(z1, z2), direct(z1, z2, 0.5), 1e-4, 1e-5) -- temperature 0.5 by default
  end)

  it("is -1/t + log(e^(1/t) + 2(N - 1)) for equal views of orthonormal rows", function()
    local z = mg.eye(4):narrow(1, 1, 3) * 3 -- the length does not matter (cosine)
    local t = 0.5
    H.assert_near(mg.nt_xent(z, z:clone(), { temperature = t }), -1 / t + math.log(math.exp(1 / t) + 4), 1e-5, 1e-6)
  end)

  it("agrees with the loss composed of elementary ops, value and gradient", function()
    local z1, z2 = mg.randn(4, 3):requires_grad_(), mg.randn(4, 3):requires_grad_()
    local z = mg.cat({ z1, z2 }, 1)
    local zn = z / (z * z):sum(2, true):sqrt()
    local s = mg.matmul(zn, zn:t()) / 0.5
    local masked = s:masked_fill(mg.eye(8), -1e9)
    local pos = mg.tensor({ 5, 6, 7, 8, 1, 2, 3, 4 }, { dtype = "int64" })
    local composed = mg.cross_entropy(masked, pos)
    local fused = mg.nt_xent(z1, z2)
    H.assert_near(fused, composed, 1e-5, 1e-5)
    local g1 = mg.grad(fused, { z1, z2 })
    local g2 = mg.grad(composed, { z1, z2 })
    H.assert_near(g1[1], g2[1], 1e-5, 1e-4)
    H.assert_near(g1[2], g2[2], 1e-5, 1e-4)
  end)

  it("is 0 for one pair and finite for zero rows", function()
    H.assert_near(mg.nt_xent(mg.randn(1, 4), mg.randn(1, 4)), 0, 1e-6)
    local l = mg.nt_xent(mg.zeros(3, 2), mg.randn(3, 2)):item()
    assert.is_true(l == l and l < math.huge)
  end)

  it("refuses mismatched or bad inputs with clear errors", function()
    H.assert_error(function() mg.nt_xent(mg.randn(3, 4), mg.randn(2, 4)) end, "nt_xent", "[3, 4]", "[2, 4]")
    H.assert_error(function() mg.nt_xent(mg.randn(3), mg.randn(3)) end, "nt_xent", "[N, D]")
    H.assert_error(function() mg.nt_xent(mg.randn(3, 2), mg.randn(3, 2), { temperature = 0 }) end, "temperature")
    H.assert_error(function() mg.nt_xent(mg.zeros(0, 2), mg.zeros(0, 2)) end, "nt_xent", "at least one")
  end)
end)
