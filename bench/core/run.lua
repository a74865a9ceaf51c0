-- Issue 2's performance figures: 1024x1024 matmul through moongrad (from
-- Lua, binding included) against raw cblas_sgemm, and elementwise add,
-- mul and relu on large tensors against the memory bandwidth of the same
-- loops in plain C. The C figures come from core_ref (bench/core/ref.c,
-- built by `make bench`).
--
--   moongrad bench/core/run.lua --ref BUILD/bench/core_ref [--size N] [--mb MB]
--
-- Prints a table, then one line of JSON with every figure. Timings are the
-- best of several runs; moongrad and the reference alternate to even out
-- the noise of a shared machine.
local mg = require "moongrad"

local opts = { size = 1024, mb = 64, ref = nil }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(.+)$")
  if not k or opts[k] == nil and k ~= "ref" then error("bench/core/run.lua: unknown argument " .. arg[i], 0) end
  opts[k] = k == "ref" and arg[i + 1] or tonumber(arg[i + 1])
  i = i + 2
end
if not opts.ref then error("bench/core/run.lua: --ref PATH to core_ref is required (make bench builds it)", 0) end

local max_threads = math.min(2, mg.get_num_threads())

-- Runs the C reference; returns figures[name][threads].
local function reference()
  local p = assert(io.popen(string.format("%s %d %d", opts.ref, opts.size, opts.mb)))
  local figures = {}
  for line in p:lines() do
    local name, t, v = line:match("^(%S+) (%d+) ([%d%.]+)$")
    if name then
      figures[name] = figures[name] or {}
      figures[name][tonumber(t)] = tonumber(v)
    end
  end
  assert(p:close(), "core_ref failed")
  return figures
end

-- Best seconds per call of fn over `reps` timed runs of `calls` calls.
local function best_time(fn, calls, reps)
  fn()
  local best = math.huge
  for _ = 1, reps do
    local t0 = mg.clock()
    for _ = 1, calls do fn() end
    best = math.min(best, (mg.clock() - t0) / calls)
  end
  return best
end

local function moongrad_figures()
  local n = opts.size
  local a, b = mg.randn(n, n), mg.randn(n, n)
  local numel = opts.mb * 1024 * 1024 // 4
  local x, y = mg.randn(numel), mg.randn(numel)
  local figures = { matmul = {}, add = {}, mul = {}, relu = {} }
  for t = 1, max_threads do
    mg.set_num_threads(t)
    local flop = 2 * n ^ 3
    local calls = math.max(1, math.floor(1e10 / flop))
    figures.matmul[t] = flop / best_time(function() return mg.matmul(a, b) end, calls, 7) / 1e9
    local bytes = numel * 4
    figures.add[t] = 3 * bytes / best_time(function() return x + y end, 1, 7) / 1e9
    figures.mul[t] = 3 * bytes / best_time(function() return x * y end, 1, 7) / 1e9
    figures.relu[t] = 2 * bytes / best_time(function() return x:relu() end, 1, 7) / 1e9
  end
  mg.set_num_threads(max_threads)
  return figures
end

-- Two rounds, alternating, keeping each figure's best.
local ref, ours = {}, {}
local function keep_best(into, figures)
  for name, by_threads in pairs(figures) do
    into[name] = into[name] or {}
    for t, v in pairs(by_threads) do into[name][t] = math.max(into[name][t] or 0, v) end
  end
end
for _ = 1, 2 do
  keep_best(ref, reference())
  keep_best(ours, moongrad_figures())
end

local rows = {
  { "matmul " .. opts.size .. "x" .. opts.size, "matmul", "sgemm", "GFLOP/s", "raw cblas_sgemm" },
  { "add (" .. opts.mb .. " MB each)", "add", "add", "GB/s", "C loop a + b" },
  { "mul (" .. opts.mb .. " MB each)", "mul", "add", "GB/s", "C loop a + b" },
  { "relu (" .. opts.mb .. " MB)", "relu", "relu", "GB/s", "C loop max(a, 0)" },
}
local json = {}
print(string.format("%-22s %7s %10s %10s %7s  %s", "op", "threads", "moongrad", "reference", "ratio", "reference is"))
for _, r in ipairs(rows) do
  local label, mine, theirs, unit, what = r[1], r[2], r[3], r[4], r[5]
  for t = 1, max_threads do
    local m, c = ours[mine][t], ref[theirs] and ref[theirs][t]
    local ratio = c and m / c or 0 / 0
    print(string.format("%-22s %7d %7.1f %-2s %7.1f %-2s %6.0f%%  %s", label, t, m, unit == "GB/s" and "GB" or "GF",
      c or 0 / 0, unit == "GB/s" and "GB" or "GF", 100 * ratio, what))
    json[#json + 1] = string.format('"%s_%dt": {"moongrad": %.2f, "reference": %.2f, "ratio": %.3f, "unit": "%s"}',
      mine, t, m, c or 0, c and ratio or 0, unit)
  end
end
print(string.format("memory bandwidth (C copy loop): %s GB/s", table.concat((function()
  local v = {}
  for t = 1, max_threads do v[#v + 1] = string.format("%.1f at %d thread%s", ref.copy[t], t, t > 1 and "s" or "") end
  return v
end)(), ", ")))
print("{" .. table.concat(json, ", ") .. "}")
