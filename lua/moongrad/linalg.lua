--- mg.linalg: symmetric eigendecomposition and what is built on it, in
-- double precision on Lua matrices (lists of rows; a 2-D Tensor is read
-- with totable()). Small matrices only (the 128-d feature covariances of
-- the GAN measurements): O(n^3) in Lua.
-- @module moongrad.linalg
-- @alias linalg
-- @usage local values, vectors = mg.linalg.eigh({{2, 1}, {1, 2}})   -- values {1, 3}
local mg = require "moongrad"

local linalg = {}

local abs, sqrt = math.abs, math.sqrt

local function square_copy(a, who)
  local n = #a
  local b = {}
  for i = 1, n do
    local r = a[i]
    if type(r) ~= "table" or #r ~= n then error(string.format("%s: expected a square matrix (%d rows)", who, n), 3) end
    local s = {}
    for j = 1, n do s[j] = r[j] end
    b[i] = s
  end
  return b
end

local function as_matrix(a, who)
  if mg.is_tensor(a) then a = a:totable() end
  return square_copy(a, who)
end

-- Householder reduction of the symmetric matrix a (changed) to a
-- tridiagonal one: returns its diagonal d, off-diagonal e (e[k] between k
-- and k + 1) and, when want, q with a = q T q', stored by columns (q[j] is
-- column j: the rotations below touch two columns at a time).
local function tridiagonalize(a, want)
  local n = #a
  local q
  if want then
    q = {}
    for j = 1, n do q[j] = {}; for i = 1, n do q[j][i] = i == j and 1 or 0 end end
  end
  local d, e = {}, {}
  for k = 1, n - 2 do
    local norm2 = 0
    for i = k + 1, n do norm2 = norm2 + a[i][k] * a[i][k] end
    local x1 = a[k + 1][k]
    local rest = norm2 - x1 * x1
    if rest <= 0 then
      e[k] = x1 -- column already reduced
    else
      -- Reflector H = I - beta u u' maps the column below the diagonal to
      -- (alpha, 0, ..., 0); a[k+1.., k+1..] becomes H a H.
      local alpha = x1 >= 0 and -sqrt(norm2) or sqrt(norm2)
      local u = {}
      for i = k + 1, n do u[i] = a[i][k] end
      u[k + 1] = x1 - alpha
      local beta = 2 / (rest + u[k + 1] * u[k + 1])
      local p, K = {}, 0
      for i = k + 1, n do
        local r, s = a[i], 0
        for j = k + 1, n do s = s + r[j] * u[j] end
        p[i] = beta * s
        K = K + u[i] * p[i]
      end
      K = K * beta / 2
      for i = k + 1, n do p[i] = p[i] - K * u[i] end
      for i = k + 1, n do
        local r, ui, pi = a[i], u[i], p[i]
        for j = k + 1, n do r[j] = r[j] - ui * p[j] - pi * u[j] end
      end
      e[k] = alpha
      if want then -- q = q H: column j -= beta * (q u) * u[j]
        local qu = {}
        for i = 1, n do qu[i] = 0 end
        for j = k + 1, n do
          local col, uj = q[j], u[j]
          for i = 1, n do qu[i] = qu[i] + col[i] * uj end
        end
        for j = k + 1, n do
          local col, f = q[j], beta * u[j]
          for i = 1, n do col[i] = col[i] - f * qu[i] end
        end
      end
    end
    d[k] = a[k][k]
  end
  if n >= 2 then e[n - 1] = a[n][n - 1]; d[n - 1] = a[n - 1][n - 1] end
  d[n] = a[n][n]
  e[n] = 0
  return d, e, q
end

-- Implicit symmetric QR with Wilkinson shifts on the tridiagonal (d, e),
-- in place: d becomes the eigenvalues; rotations are applied to q's columns
-- when q is given.
local function tridiagonal_qr(d, e, q)
  local n = #d
  local eps = 2.220446049250313e-16
  local m, iterations = n, 0
  while m > 1 do
    if abs(e[m - 1]) <= eps * (abs(d[m - 1]) + abs(d[m])) then
      e[m - 1] = 0
      m = m - 1
    else
      iterations = iterations + 1
      if iterations > 60 * n then error("linalg.eigh: no convergence", 3) end
      local l = m - 1 -- the unreduced block is l..m
      while l > 1 and abs(e[l - 1]) > eps * (abs(d[l - 1]) + abs(d[l])) do l = l - 1 end
      local t, f = (d[m - 1] - d[m]) / 2, e[m - 1]
      local mu = d[m] - f * f / (t + (t >= 0 and 1 or -1) * sqrt(t * t + f * f))
      local x, z = d[l] - mu, e[l]
      for k = l, m - 1 do
        -- rotation in the (k, k+1) plane: rows k, k+1 become c*row_k + s*row_k+1
        -- and -s*row_k + c*row_k+1, columns likewise; it zeroes z (the bulge).
        local r = sqrt(x * x + z * z)
        local c, s = 1, 0
        if r > 0 then c, s = x / r, z / r end
        if k > l then e[k - 1] = r end
        local a, b, g = d[k], d[k + 1], e[k]
        d[k] = c * c * a + 2 * c * s * g + s * s * b
        d[k + 1] = s * s * a - 2 * c * s * g + c * c * b
        e[k] = c * s * (b - a) + (c * c - s * s) * g
        if k < m - 1 then
          x, z = e[k], s * e[k + 1]
          e[k + 1] = c * e[k + 1]
        end
        if q then
          local qa, qb = q[k], q[k + 1]
          for i = 1, n do
            local va, vb = qa[i], qb[i]
            qa[i] = c * va + s * vb
            qb[i] = c * vb - s * va
          end
        end
      end
    end
  end
end

--- Eigenvalues and eigenvectors of a symmetric matrix, in double
-- precision: Householder tridiagonalisation, then implicit QR with
-- Wilkinson shifts.
-- @tparam table|Tensor a a Lua list of rows or a 2-D Tensor
-- @tparam[opt] table opts `{vectors = true}`; false skips the eigenvectors (about 5x faster)
-- @treturn {number,...} the eigenvalues, ascending
-- @treturn table the eigenvectors, Lua rows whose column j goes with values[j]
function linalg.eigh(a, opts)
  a = as_matrix(a, "linalg.eigh")
  local n = #a
  if n == 0 then return {}, {} end
  local want = not (opts and opts.vectors == false)
  local d, e, q = tridiagonalize(a, want)
  tridiagonal_qr(d, e, q)
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(i, j) return d[i] < d[j] end)
  local values = {}
  for i, k in ipairs(order) do values[i] = d[k] end
  if not want then return values end
  local vectors = {}
  for i = 1, n do
    local row = {}
    for j, k in ipairs(order) do row[j] = q[k][i] end
    vectors[i] = row
  end
  return values, vectors
end

--- a b for Lua matrices (lists of rows).
-- @tparam table a
-- @tparam table b
-- @treturn table
function linalg.matmul(a, b)
  local n, m, p = #a, #b, #b[1]
  local c = {}
  for i = 1, n do
    local ai, ci = a[i], {}
    for j = 1, p do ci[j] = 0 end
    for k = 1, m do
      local v, bk = ai[k], b[k]
      if v ~= 0 then for j = 1, p do ci[j] = ci[j] + v * bk[j] end end
    end
    c[i] = ci
  end
  return c
end

-- Eigenvalues at or below this are rounding noise around 0: n * eps
-- times the largest magnitude. Their square roots would be far larger
-- than the noise itself, so PSD square roots count them as 0.
local function numerical_zero(values)
  local big = 0
  for _, l in ipairs(values) do big = math.max(big, abs(l)) end
  return #values * 2.220446049250313e-16 * big
end

--- The symmetric square root of a symmetric positive semi-definite matrix
-- (eigenvalues that are 0 up to rounding, or negative from it, are taken
-- as 0).
-- @tparam table|Tensor a
-- @treturn table
function linalg.sqrtm_psd(a)
  local values, v = linalg.eigh(a)
  local n = #values
  local floor = numerical_zero(values)
  local r = {}
  for i = 1, n do
    local vi, ri = v[i], {}
    for j = i, n do
      local vj, s = v[j], 0
      for k = 1, n do
        local l = values[k]
        if l > floor then s = s + vi[k] * sqrt(l) * vj[k] end
      end
      ri[j] = s
    end
    r[i] = ri
  end
  for i = 1, n do for j = 1, i - 1 do r[i][j] = r[j][i] end end
  return r
end

--- tr sqrt(a b) for symmetric positive semi-definite a and b (the Frechet
-- distance's cross term). With a = V L V', the eigenvalues of a b are those
-- of the symmetric s b s (s = sqrt(a)), and so of its orthogonal similar
-- W' b W with W = V L^1/2; the trace is the sum of their square roots
-- (eigenvalues that are 0 up to rounding count as 0).
-- @tparam table|Tensor a
-- @tparam table|Tensor b
-- @treturn number
function linalg.trace_sqrt_product(a, b)
  a, b = as_matrix(a, "linalg.trace_sqrt_product"), as_matrix(b, "linalg.trace_sqrt_product")
  if #a ~= #b then
    error(string.format("linalg.trace_sqrt_product: matrices of size %d and %d", #a, #b), 2)
  end
  local values, v = linalg.eigh(a)
  local n = #values
  local floor = numerical_zero(values)
  local keep = {} -- columns of W: the eigenvectors of a with a non-zero eigenvalue
  for k = 1, n do if values[k] > floor then keep[#keep + 1] = k end end
  local w = {}
  for i = 1, n do
    local row, vi = {}, v[i]
    for c, k in ipairs(keep) do row[c] = vi[k] * sqrt(values[k]) end
    w[i] = row
  end
  if #keep == 0 then return 0 end
  local bw = linalg.matmul(b, w)
  local m = {}
  for c = 1, #keep do
    local row = {}
    for d = 1, #keep do row[d] = 0 end
    m[c] = row
  end
  for i = 1, n do -- m = w' (b w)
    local wi, bwi = w[i], bw[i]
    for c = 1, #keep do
      local x, row = wi[c], m[c]
      if x ~= 0 then for d = c, #keep do row[d] = row[d] + x * bwi[d] end end
    end
  end
  for c = 1, #keep do for d = c + 1, #keep do m[d][c] = m[c][d] end end
  local ev = linalg.eigh(m, { vectors = false })
  local ev_floor = numerical_zero(ev)
  local total = 0
  for _, l in ipairs(ev) do
    if l > ev_floor then total = total + sqrt(l) end
  end
  return total
end

return linalg
