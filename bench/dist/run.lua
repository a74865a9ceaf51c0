-- The data-parallel benchmark: the rotation CNN's training step (global
-- batch 128 images, 512 network inputs) on 1 process x 2 threads against
-- 2 MPI ranks x 1 thread (bench/dist/step.lua), runs alternating, medians
-- over the repetitions. Reports images/s of each, their ratio (the
-- project's target: 2 ranks at least 0.85x of 2 threads), and the
-- gradient all-reduce's cost per step: as timed inside the steps (which
-- includes waiting for the slower rank) and alone.
--
--   moongrad bench/dist/run.lua [--reps N] [--seconds T] [--quick] [--json FILE]
--
-- Needs Open MPI's mpirun and the moongrad.dist module (make builds it
-- when MPI is installed). Timings on a machine other processes keep busy
-- are not speed figures: the load average is printed beside them.
local mg = require "moongrad"

local o = { reps = 5, seconds = 3, quick = false, json = nil }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-([%w]+)$")
  if k == "quick" then o.quick = true; i = i + 1
  elseif k and o[k] ~= nil or k == "json" then o[k] = k == "json" and arg[i + 1] or tonumber(arg[i + 1]); i = i + 2
  else
    error("bench/dist/run.lua: unknown option " .. tostring(arg[i]) .. " (--reps N --seconds T --quick --json FILE)", 0)
  end
end
if o.quick then o.reps, o.seconds = 1, 0 end

local here = arg[0]:match("^(.*)/") or "."
local prog
do
  local k = -1
  while arg[k - 1] do k = k - 1 end
  prog = arg[k] or "moongrad"
end
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Open MPI refuses root unless told (containers, CI).
local root = io.popen("id -u"):read("l") == "0"
local env = root and "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " or ""
local steps = o.quick and "--steps 2 --warmup 1" or "--steps 20 --warmup 5"
local CONFIGS = {
  { name = "1 process x 2 threads", cmd = string.format("%s --threads 2 %s/step.lua --threads 2 %s --seconds %g",
      q(prog), q(here), steps, o.seconds) },
  { name = "2 ranks x 1 thread",
    cmd = string.format("env %smpirun -np 2 %s %s/step.lua --dist --threads 1 %s --seconds %g",
      env, q(prog), q(here), steps, o.seconds) },
}

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  local line = out:match("({[^\n]*})%s*$")
  if not ok or not line then error("bench/dist: this run failed:\n  " .. cmd .. "\n" .. out, 0) end
  return mg.json.decode(line)
end

local function median(list)
  local s = {}
  for k, v in ipairs(list) do s[k] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return nil end
  local v = f:read("n")
  f:close()
  return v
end

io.stderr:write(string.format("data-parallel benchmark: %d repetitions, at least %g s each (load average %s)\n",
  o.reps, o.seconds, tostring(loadavg())))
local runs = { {}, {} }
local ratios = {}
for rep = 1, o.reps do
  local pair = {}
  for c, config in ipairs(CONFIGS) do
    pair[c] = run(config.cmd)
    table.insert(runs[c], pair[c])
  end
  ratios[rep] = pair[2].images_per_s / pair[1].images_per_s
  io.stderr:write(string.format("  rep %d: %.0f vs %.0f img/s\n", rep, pair[1].images_per_s, pair[2].images_per_s))
end

local function med(c, key)
  local v = {}
  for k, r in ipairs(runs[c]) do v[k] = r[key] end
  return #v > 0 and v[1] ~= nil and median(v) or nil
end
local result = {
  single = { images_per_s = med(1, "images_per_s"), step_ms = med(1, "step_ms") },
  ranks2 = { images_per_s = med(2, "images_per_s"), step_ms = med(2, "step_ms"), allreduce_ms = med(2, "allreduce_ms"),
             allreduce_alone_ms = med(2, "allreduce_alone_ms"), gradient_mb = med(2, "gradient_mb") },
  ratio = median(ratios), target = 0.85, load_average = loadavg(), reps = o.reps,
}
local r2 = result.ranks2
print("")
print("Data parallelism: rotation CNN train step, global batch 128 images (512 inputs), Adam")
print(string.format("  %-24s %10s %10s", "", "img/s", "ms/step"))
print(string.format("  %-24s %10.0f %10.1f", CONFIGS[1].name, result.single.images_per_s, result.single.step_ms))
print(string.format("  %-24s %10.0f %10.1f", CONFIGS[2].name, r2.images_per_s, r2.step_ms))
print(string.format("  2 ranks / 2 threads: %.2fx (target >= %.2fx: %s)", result.ratio, result.target,
  result.ratio >= result.target and "met" or "NOT met"))
print(string.format("  gradient all-reduce (%.2f MB, one message per step): %.2f ms alone, %.2f ms in a step "
  .. "(with waiting for the other rank) = %.1f%% of the step", r2.gradient_mb, r2.allreduce_alone_ms, r2.allreduce_ms,
  100 * r2.allreduce_ms / r2.step_ms))
print(string.format("  (load average %s: figures from a busy machine are not speed figures)",
  tostring(result.load_average)))
if o.json then
  local f = assert(io.open(o.json, "w"))
  f:write(mg.json.encode(result), "\n")
  f:close()
end
