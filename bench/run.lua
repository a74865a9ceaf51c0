-- The side-by-side benchmark: every workload as a moongrad script
-- (bench/workloads/NAME.lua) and the same model in PyTorch
-- (bench/torch/NAME.py, run with Debian's /usr/bin/python3), at 1 and 2
-- threads. Prints a table and writes a JSON file.
--
--   moongrad bench/run.lua [--threads 1,2] [--reps N] [--steps N] [--warmup N]
--                          [--seconds T] [--workloads a,b] [--loaded a,b]
--                          [--quick] [--no-torch] [--json FILE] [--peak PROGRAM]
--
-- Fairness: each measurement is a fresh process (its own peak memory);
-- moongrad and PyTorch runs alternate (A B A B ...), repetitions are spread
-- over the whole run, and figures are medians; a ratio is the median of
-- the ratios of runs made side by side in the same repetition (a shared
-- machine's load drifts, neighbours see about the same). Both sides read
-- the same data file (uniform [0, 1] images, random labels), build the same
-- layers with the same shapes, batch, optimizer, warm-up (at least 5 steps)
-- and at least --seconds of timed steps, in float32.
--
-- PyTorch runs at its best: for each workload and thread count every
-- configuration below is first run once, and the two fastest are then
-- measured in every repetition; the faster median wins and is named in
-- the table. Configurations: torch.set_num_threads(n) and
-- OMP_NUM_THREADS=n, with OpenBLAS (its linear layers) at 1 thread and,
-- at n > 1, at n; times the allocator: glibc's default, glibc tuned to
-- keep large blocks (GLIBC_TUNABLES mmap and trim thresholds, what
-- PyTorch's CPU performance guides recommend), and jemalloc preloaded
-- (Debian libjemalloc2). moongrad runs as a user runs it, with nothing
-- preloaded and mg.set_num_threads(n).
--
-- The shared-machine case (--loaded, default rotation and ae): the same
-- runs while another process keeps one core busy, moongrad and PyTorch at
-- 1 and 2 threads, to see how each degrades.
--
-- Figures: images/s (and steps/s), the ratio moongrad/PyTorch, the peak
-- resident memory of each process (VmHWM), effective GFLOP/s from the
-- analytic counts of bench/flops.lua against the machine's FMA peak
-- (bench/peak.c, given with --peak; `make bench` builds it) and against
-- sgemm (mg.matmul on large matrices), and the start-up time of a process
-- to a first tensor op. At 1 thread the same figures per CPU-second of each
-- process are shown too: what each does on a core of its own, which the
-- load of other processes hardly changes (at 2 threads CPU time counts the
-- workers' spinning, so there it is not used). The project's targets are
-- checked at the end.
local mg = require "moongrad"

local here = arg[0]:match("^(.*)/") or "."
local flops = dofile(here .. "/flops.lua")

-- The host program running this script: the lowest index of arg.
local prog
do
  local i = -1
  while arg[i - 1] do i = i - 1 end
  prog = arg[i] or "moongrad"
end

-- ---- workloads -------------------------------------------------------------------

-- name, what it is, batch (images per step), steps and warm-up (the
-- least; every run also times at least --seconds and warms up at least 5
-- steps), kind ("conv", "small" or "attention") and the speed targets against the best
-- PyTorch at 1 and 2 threads (goal1, goal2).
local WORKLOADS = {
  { name = "rotation", what = "rotation CNN train step, 128 imgs x 4 rotations", batch = 512,
    steps = 5, warmup = 1, kind = "conv", goal1 = 1.3, goal2 = 1.5, train = true },
  { name = "classifier", what = "seed CNN classifier train step, batch 128", batch = 128,
    steps = 15, warmup = 2, kind = "conv", goal1 = 1.3, goal2 = 1.5, train = true },
  { name = "fgsm", what = "FGSM attack, batch 128", batch = 128,
    steps = 20, warmup = 2, kind = "conv", goal1 = 1.3, goal2 = 1.5 },
  { name = "pgd", what = "PGD-10 attack (+ final forward), batch 128", batch = 128,
    steps = 2, warmup = 1, kind = "conv", goal1 = 1.3, goal2 = 1.5 },
  { name = "gan_mlp", what = "MLP GAN step (D real+fake, G), batch 128", batch = 128,
    steps = 100, warmup = 10, kind = "small", goal1 = 1.5, goal2 = 2.0 },
  { name = "gan_bn", what = "BatchNorm GAN step (D real+fake, G), batch 256", batch = 256,
    steps = 10, warmup = 2, kind = "small", goal1 = 1.2, goal2 = 1.2 },
  { name = "ae", what = "autoencoder 784-32-784 train step, batch 256", batch = 256,
    steps = 300, warmup = 20, kind = "small", goal1 = 2.0, goal2 = 2.0 },
  { name = "inpaint", what = "inpainting CNN train step, batch 64", batch = 64,
    steps = 15, warmup = 2, kind = "conv", goal1 = 1.3, goal2 = 1.5, train = true },
  -- the IMDB Transformer (batch = sequences of 256 tokens); inference
  -- against PyTorch's fused fast path and against its layer-by-layer path
  { name = "transformer", what = "Transformer train step, 32 seqs x 256 tokens", batch = 32,
    steps = 3, warmup = 1, kind = "attention", goal1 = 2.0, goal2 = 2.0, train = true },
  { name = "transformer_infer", what = "Transformer inference, 32 x 256, PyTorch fast path", batch = 32,
    steps = 5, warmup = 1, kind = "attention", goal1 = 1.5, goal2 = 1.5 },
  { name = "transformer_infer_slowpath", what = "Transformer inference, PyTorch fast path off", batch = 32,
    steps = 5, warmup = 1, kind = "attention", goal1 = 1.5, goal2 = 1.5 },
}
local BY_NAME = {}
for _, w in ipairs(WORKLOADS) do BY_NAME[w.name] = w end
-- Every workload at least this much faster than PyTorch at any thread count.
local FLOOR = 1.2
-- The speed goal of a workload at t threads (2 and more read goal2).
local function goal_of(w, t) return math.max(FLOOR, t == 1 and w.goal1 or w.goal2) end

-- ---- options ---------------------------------------------------------------------

local function usage(msg)
  io.stderr:write("bench/run.lua: ", msg, "\n",
    "usage: moongrad bench/run.lua [--threads 1,2] [--reps N] [--steps N] [--warmup N] [--seconds T]\n",
    "       [--workloads a,b,...] [--loaded a,b,...|none] [--quick] [--no-torch] [--json FILE]\n",
    "       [--peak PROGRAM]\n",
    "workloads: ")
  local names = {}
  for _, w in ipairs(WORKLOADS) do names[#names + 1] = w.name end
  io.stderr:write(table.concat(names, ", "), "\n")
  os.exit(2)
end

local function int_list(s, what)
  local out = {}
  for item in s:gmatch("[^,]+") do
    local v = math.tointeger(tonumber(item))
    if not v or v < 1 then usage(what .. " takes positive integers, got " .. s) end
    out[#out + 1] = v
  end
  if #out == 0 then usage(what .. " is empty") end
  return out
end

local opts = { json = "bench/results/latest.json", torch = true, quick = false }
do
  local i = 1
  local function value()
    i = i + 1
    if arg[i] == nil then usage(arg[i - 1] .. " needs a value") end
    return arg[i]
  end
  while i <= #arg do
    local a = arg[i]
    if a == "--threads" then opts.threads = int_list(value(), "--threads")
    elseif a == "--reps" then opts.reps = int_list(value(), "--reps")[1]
    elseif a == "--steps" then opts.steps = int_list(value(), "--steps")[1]
    elseif a == "--warmup" then
      opts.warmup = math.tointeger(tonumber(value()))
      if not opts.warmup or opts.warmup < 0 then usage("--warmup takes an integer >= 0") end
    elseif a == "--seconds" then
      opts.seconds = tonumber(value())
      if not opts.seconds or opts.seconds < 0 then usage("--seconds takes a number >= 0") end
    elseif a == "--workloads" then
      opts.workloads = {}
      for name in value():gmatch("[^,]+") do
        if not BY_NAME[name] then usage("unknown workload " .. name) end
        opts.workloads[#opts.workloads + 1] = BY_NAME[name]
      end
    elseif a == "--loaded" then
      opts.loaded = {}
      for name in value():gmatch("[^,]+") do
        if name ~= "none" then
          if not BY_NAME[name] then usage("unknown workload " .. name) end
          opts.loaded[#opts.loaded + 1] = BY_NAME[name]
        end
      end
    elseif a == "--quick" then opts.quick = true
    elseif a == "--no-torch" then opts.torch = false
    elseif a == "--json" then opts.json = value()
    elseif a == "--peak" then opts.peak = value()
    elseif a == "--help" or a == "-h" then usage("side-by-side benchmark of moongrad and PyTorch")
    else usage("unknown argument " .. a) end
    i = i + 1
  end
end
if opts.quick then
  -- a smoke run: one repetition of a couple of steps, small peak probes
  opts.reps = opts.reps or 1
  opts.steps = opts.steps or 2
  opts.warmup = opts.warmup or 1
  opts.threads = opts.threads or { 1 }
  opts.seconds = opts.seconds or 0
  opts.loaded = opts.loaded or {}
end
opts.reps = opts.reps or 5
opts.seconds = opts.seconds or 1.0
opts.loaded = opts.loaded or { BY_NAME.rotation, BY_NAME.ae }
opts.threads = opts.threads or { 1, 2 }
opts.workloads = opts.workloads or WORKLOADS
local target_threads = 0 -- the thread count the speed targets are read at: 2, else the most measured
for _, t in ipairs(opts.threads) do
  if t == 2 then target_threads = 2 end
end
if target_threads == 0 then
  for _, t in ipairs(opts.threads) do target_threads = math.max(target_threads, t) end
end

local function say(fmt, ...) io.stderr:write(string.format(fmt, ...), "\n"); io.stderr:flush() end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- ---- helpers ---------------------------------------------------------------------

local function median(xs)
  local v = {}
  for _, x in ipairs(xs) do v[#v + 1] = x end
  if #v == 0 then return nil end
  table.sort(v)
  local m = (#v + 1) // 2
  return #v % 2 == 1 and v[m] or (v[m] + v[m + 1]) / 2
end

-- Runs a command; returns its output and whether it exited with 0.
local function capture(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

-- The last line of out that decodes as a JSON object, or nil.
local function last_json(out)
  local found
  for line in out:gmatch("[^\n]+") do
    if line:match("^%s*{") then
      local ok, v = pcall(mg.json.decode, line)
      if ok and type(v) == "table" then found = v end
    end
  end
  return found
end

-- ---- the shared data -------------------------------------------------------------

local data_path = os.tmpname()
do
  mg.manual_seed(1234)
  mg.save(data_path, { images = mg.rand(256, 1, 28, 28), labels = mg.randint(0, 10, 256) })
end

-- ---- PyTorch: available? ---------------------------------------------------------

local PY = "/usr/bin/python3"
local torch = { available = false }
if not opts.torch then
  torch.reason = "--no-torch given"
else
  local out, ok = capture(PY .. " -c 'import torch; print(torch.__version__)'")
  if ok then
    torch.available, torch.version = true, out:match("([^\n]+)%s*$")
  else
    torch.reason = "PyTorch cannot be imported by " .. PY .. " (Debian package python3-torch)"
  end
end
if not torch.available then say("PyTorch columns skipped: %s", torch.reason) end

-- The PyTorch configurations tried at n threads: OMP_NUM_THREADS = n;
-- OpenBLAS at 1 thread and, at n > 1, at n; each with the three
-- allocators (jemalloc only where Debian's libjemalloc2 is installed).
local JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
local ALLOCATORS = {
  { name = "malloc", env = "" },
  { name = "tuned",
    env = "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295" },
}
do
  local f = io.open(JEMALLOC, "r")
  if f then
    f:close()
    ALLOCATORS[#ALLOCATORS + 1] = { name = "jemalloc", env = "LD_PRELOAD=" .. JEMALLOC }
  end
end
local function torch_settings(n)
  local list = {}
  for _, blas in ipairs(n > 1 and { 1, n } or { 1 }) do
    for _, alloc in ipairs(ALLOCATORS) do list[#list + 1] = { omp = n, openblas = blas, alloc = alloc } end
  end
  return list
end
local function settings_key(s) return string.format("BLAS=%d %s", s.openblas, s.alloc.name) end

-- ---- start-up --------------------------------------------------------------------

local startup = { launches = opts.quick and 3 or 15 }
do
  -- The wall time of each launch (less the median time to spawn
  -- /bin/true the same way), and the CPU time the process reports for
  -- itself after its first op (Lua's os.clock, Python's
  -- time.process_time): the second is far less disturbed by other load.
  local function launch(cmd)
    local t0 = mg.clock()
    local p = io.popen(cmd .. " 2>/dev/null")
    local out = p:read("a")
    p:close()
    return (mg.clock() - t0) * 1000, (tonumber(out:match("([%d%.eE+-]+)%s*$")) or 0) * 1000
  end
  local mg_cmd = shell_quote(prog) .. " -e 'require(\"moongrad\").ones(2):sum()'"
  local torch_cmd = PY .. " -c 'import torch; torch.ones(2).sum()'"
  local mg_probe = shell_quote(prog) .. " -e 'require(\"moongrad\").ones(2):sum(); print(os.clock())'"
  local torch_probe = PY .. " -c 'import torch; torch.ones(2).sum(); import time; print(time.process_time())'"
  local spawn, wall_mg, cpu_mg, wall_torch, cpu_torch = {}, {}, {}, {}, {}
  for _ = 1, startup.launches do
    spawn[#spawn + 1] = launch("/bin/true")
    wall_mg[#wall_mg + 1], cpu_mg[#cpu_mg + 1] = launch(mg_probe)
    if torch.available then wall_torch[#wall_torch + 1], cpu_torch[#cpu_torch + 1] = launch(torch_probe) end
  end
  startup.spawn_ms = median(spawn)
  startup.moongrad_raw_ms = median(wall_mg)
  startup.moongrad_ms = math.max(0, startup.moongrad_raw_ms - startup.spawn_ms)
  startup.moongrad_cpu_ms = median(cpu_mg)
  if torch.available then
    startup.torch_raw_ms = median(wall_torch)
    startup.torch_ms = math.max(0, startup.torch_raw_ms - startup.spawn_ms)
    startup.torch_cpu_ms = median(cpu_torch)
  end
  startup.moongrad_cmd, startup.torch_cmd = mg_cmd, torch_cmd
  say("start-up to a first tensor op: moongrad %.1f ms (CPU %.1f ms), PyTorch %s", startup.moongrad_ms,
    startup.moongrad_cpu_ms, startup.torch_ms and string.format("%.0f ms (CPU %.0f ms)", startup.torch_ms,
      startup.torch_cpu_ms) or "skipped")
end

-- ---- the machine's peaks ---------------------------------------------------------

local machine = { fma_gflops = {}, sgemm_gflops = {}, sgemm_size = opts.quick and 512 or 1024 }
do
  local f = io.open("/proc/cpuinfo", "r")
  if f then
    machine.cpu = (f:read("a"):match("model name%s*:%s*([^\n]+)"))
    f:close()
  end
  local max_t = 1
  for _, t in ipairs(opts.threads) do max_t = math.max(max_t, t) end
  if opts.peak then
    local out, ok = capture(shell_quote(opts.peak) .. " " .. max_t)
    if not ok then say("FMA peak: %s failed:\n%s", opts.peak, out) end
    -- per thread CPU time (robust to other load), and the wall clock
    for t, v in out:gmatch("fma (%d+) ([%d%.]+)") do machine.fma_gflops[tonumber(t)] = tonumber(v) end
    machine.fma_wall_gflops = {}
    for t, v in out:gmatch("fma_wall (%d+) ([%d%.]+)") do machine.fma_wall_gflops[tonumber(t)] = tonumber(v) end
  end
  -- sgemm through mg.matmul: best of several timed products per thread
  -- count on the wall clock; at 1 thread also per CPU-second
  local n = machine.sgemm_size
  local a, b = mg.randn(n, n), mg.randn(n, n)
  local flop = 2 * n ^ 3
  local calls = math.max(1, math.floor(3e9 / flop))
  local saved = mg.get_num_threads()
  for t = 1, max_t do
    mg.set_num_threads(t)
    mg.matmul(a, b)
    local best, best_cpu = math.huge, math.huge
    for _ = 1, opts.quick and 2 or 10 do
      local t0, c0 = mg.clock(), os.clock()
      for _ = 1, calls do mg.matmul(a, b) end
      best = math.min(best, (mg.clock() - t0) / calls)
      best_cpu = math.min(best_cpu, (os.clock() - c0) / calls)
    end
    machine.sgemm_gflops[t] = flop / best / 1e9
    if t == 1 then machine.sgemm_cpu_gflops = flop / best_cpu / 1e9 end
  end
  mg.set_num_threads(saved)
  a, b = nil, nil -- luacheck: ignore 311 (locals stay reachable until their scope ends)
  collectgarbage()
  -- The reference for n threads: n times the best figure a core reached
  -- on its own CPU time (a shared machine rarely gives two quiet cores).
  local function per_core(by_threads)
    local best
    for t, v in pairs(by_threads) do best = math.max(best or 0, v / t) end
    return best
  end
  machine.fma_core = per_core(machine.fma_gflops)
  machine.sgemm_core = math.max(per_core(machine.sgemm_gflops), machine.sgemm_cpu_gflops or 0)
end
local function fma_peak(t) return machine.fma_core and machine.fma_core * t end
local function sgemm_peak(t) return machine.sgemm_core * t end

-- ---- the measurements ------------------------------------------------------------

-- runs[name][threads] = {moongrad = {records}, torch = {[key] = {records}}}
local runs = {}
local failures = {}

local function warmup_of(w) return opts.warmup or math.max(5, w.warmup) end

local function measure(w, framework, threads, setting, rep)
  local steps = opts.steps or w.steps
  local args = string.format(" --threads %d --warmup %d --steps %d --seconds %g --data %s", threads, warmup_of(w),
    steps, opts.seconds, shell_quote(data_path))
  local cmd
  if framework == "moongrad" then
    cmd = shell_quote(prog) .. " " .. shell_quote(here .. "/workloads/" .. w.name .. ".lua") .. args
  else
    cmd = string.format("env PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=%d %s %s %s%s",
      setting.omp, setting.openblas, setting.alloc.env, PY, shell_quote(here .. "/torch/" .. w.name .. ".py"), args)
  end
  local out, ok = capture(cmd)
  local rec = ok and last_json(out)
  if not rec then
    failures[#failures + 1] = { workload = w.name, framework = framework, threads = threads, command = cmd,
      output = out:sub(-2000) }
    say("  %s %s t=%d FAILED:\n%s", w.name, framework, threads, out:sub(-1500))
    return nil
  end
  rec.images_per_s = rec.images / rec.seconds
  rec.steps_per_s = rec.steps / rec.seconds
  rec.rep = rep
  return rec
end

-- PyTorch's configurations, each run once per workload and thread count;
-- the two fastest go on to the repetitions.
local finalists = {}
if torch.available then
  for _, w in ipairs(opts.workloads) do
    finalists[w.name] = {}
    for _, t in ipairs(opts.threads) do
      local tried = {}
      for _, s in ipairs(torch_settings(t)) do
        local r = measure(w, "torch", t, s, 0)
        tried[#tried + 1] = { setting = s, ips = r and r.images_per_s or 0 }
      end
      table.sort(tried, function(a, b) return a.ips > b.ips end)
      local keep = {}
      for i = 1, math.min(2, #tried) do keep[i] = tried[i].setting end
      finalists[w.name][t] = keep
      local line = {}
      for _, c in ipairs(tried) do line[#line + 1] = string.format("%s %.0f", settings_key(c.setting), c.ips) end
      say("PyTorch configurations, %s t=%d (img/s): %s", w.name, t, table.concat(line, ", "))
    end
  end
end

-- A process that keeps one core busy, for the shared-machine rows.
local function start_load()
  local pidfile = os.tmpname()
  os.execute("sh -c 'while :; do :; done' >/dev/null 2>&1 & echo $! > " .. shell_quote(pidfile))
  local f = io.open(pidfile, "r")
  local pid = f and f:read("l")
  if f then f:close() end
  os.remove(pidfile)
  return pid
end
local function stop_load(pid)
  if pid and pid:match("^%d+$") then os.execute("kill " .. pid .. " 2>/dev/null") end
end

local function measure_all(list, slots, loaded_tag)
  for rep = 1, opts.reps do
    for _, w in ipairs(list) do
      slots[w.name] = slots[w.name] or {}
      for _, t in ipairs(opts.threads) do
        local slot = slots[w.name][t] or { moongrad = {}, torch = {} }
        slots[w.name][t] = slot
        -- moongrad, then each PyTorch finalist, then moongrad again on the
        -- next repetition: A B A B ...
        local r = measure(w, "moongrad", t, nil, rep)
        if r then slot.moongrad[#slot.moongrad + 1] = r end
        local line = string.format("[%d/%d]%s %-10s t=%d  moongrad %s img/s", rep, opts.reps, loaded_tag, w.name, t,
          r and string.format("%.0f", r.images_per_s) or "failed")
        for _, s in ipairs(torch.available and finalists[w.name][t] or {}) do
          local key = settings_key(s)
          slot.torch[key] = slot.torch[key] or {}
          local tr = measure(w, "torch", t, s, rep)
          if tr then table.insert(slot.torch[key], tr) end
          line = line .. string.format("  torch[%s] %s", key, tr and string.format("%.0f", tr.images_per_s) or "failed")
        end
        say("%s", line)
      end
    end
  end
end

measure_all(opts.workloads, runs, "")

-- The shared-machine rows: the same, with one core kept busy.
local loaded_runs = {}
local loaded_list = {}
for _, w in ipairs(opts.loaded) do
  if torch.available and not finalists[w.name] then
    say("--loaded %s skipped: not among the measured workloads", w.name)
  else
    loaded_list[#loaded_list + 1] = w
  end
end
if #loaded_list > 0 then
  local pid = start_load()
  local ok, err = pcall(measure_all, loaded_list, loaded_runs, " loaded")
  stop_load(pid)
  if not ok then error(err, 0) end
end
os.remove(data_path)

-- ---- summary ---------------------------------------------------------------------

local function summarize(records, flop_per_step, images_per_step, t)
  if not records or #records == 0 then return nil end
  local ips, sps, peak, base, ipc = {}, {}, {}, {}, {}
  for _, r in ipairs(records) do
    ips[#ips + 1], sps[#sps + 1] = r.images_per_s, r.steps_per_s
    if r.cpu_seconds and r.cpu_seconds > 0 then ipc[#ipc + 1] = r.images / r.cpu_seconds end
    peak[#peak + 1], base[#base + 1] = r.peak_rss_kb / 1024, r.base_rss_kb / 1024
  end
  local s = {
    images_per_s = median(ips), steps_per_s = median(sps), peak_rss_mb = median(peak),
    base_rss_mb = median(base), reps = #records, images_per_s_all = ips,
    images_per_cpu_s = median(ipc),
  }
  s.gflops = flop_per_step * s.steps_per_s / 1e9
  s.pct_sgemm_peak = 100 * s.gflops / sgemm_peak(t)
  if fma_peak(t) then s.pct_fma_peak = 100 * s.gflops / fma_peak(t) end
  -- per CPU-second of the process (at 1 thread: the rate on a core of its own)
  if s.images_per_cpu_s then
    s.gflops_per_cpu_s = flop_per_step * s.images_per_cpu_s / images_per_step / 1e9
    if fma_peak(1) then s.pct_fma_peak_cpu = 100 * s.gflops_per_cpu_s / fma_peak(1) end
  end
  return s
end

local results = {}
local targets = {}
local function target(name, value, goal, met, unit)
  targets[#targets + 1] = { name = name, value = value, goal = goal, met = met, unit = unit }
end

local function summarize_rows(list, slots, loaded, out)
for _, w in ipairs(list) do
  for _, t in ipairs(opts.threads) do
    local slot = slots[w.name] and slots[w.name][t]
    local fl = flops.per_step[w.name]
    local row = { workload = w.name, what = w.what, threads = t, images_per_step = w.batch,
      steps = opts.steps or w.steps, warmup = warmup_of(w), seconds = opts.seconds, flop_per_step = fl,
      loaded = loaded or nil }
    row.moongrad = summarize(slot and slot.moongrad, fl, w.batch, t)
    if torch.available and slot then
      row.torch_candidates = {}
      local best
      for _, s in ipairs(torch_settings(t)) do
        local key = settings_key(s)
        local sm = summarize(slot.torch[key], fl, w.batch, t)
        if sm then
          sm.settings = { omp_num_threads = s.omp, openblas_num_threads = s.openblas, torch_threads = t,
            allocator = s.alloc.name, env = s.alloc.env }
          row.torch_candidates[key] = sm
          if not best or sm.images_per_s > best.images_per_s then best, row.torch_settings = sm, key end
        end
      end
      row.torch = best
    end
    if row.moongrad and row.torch then
      -- The ratio is the median over repetitions of moongrad's run against
      -- the PyTorch run of the same repetition (run right after it, under
      -- about the same load), with PyTorch's best setting; the ratio of
      -- the two medians is kept as well.
      local theirs = {}
      for _, tr in ipairs(slot.torch[row.torch_settings]) do theirs[tr.rep] = tr end
      local pairs_wall, pairs_cpu = {}, {}
      for _, mr in ipairs(slot.moongrad) do
        local tr = theirs[mr.rep]
        if tr then
          pairs_wall[#pairs_wall + 1] = mr.images_per_s / tr.images_per_s
          if (mr.cpu_seconds or 0) > 0 and (tr.cpu_seconds or 0) > 0 then
            pairs_cpu[#pairs_cpu + 1] = (mr.images / mr.cpu_seconds) / (tr.images / tr.cpu_seconds)
          end
        end
      end
      row.ratio_of_medians = row.moongrad.images_per_s / row.torch.images_per_s
      row.ratios = pairs_wall
      row.ratio = median(pairs_wall) or row.ratio_of_medians
      row.mem_ratio = row.moongrad.peak_rss_mb / row.torch.peak_rss_mb
      -- images per CPU-second: robust to other load at 1 thread (at more
      -- threads it counts spinning workers too, so it is kept for 1 only)
      if t == 1 then row.cpu_ratio = median(pairs_cpu) end
      if not loaded then
        local goal = goal_of(w, t)
        target(string.format("%s t=%d: at least %.1fx PyTorch", w.name, t, goal), row.ratio, goal, row.ratio >= goal,
          "x")
        if t == target_threads then
          target(string.format("%s t=%d: peak memory at most half of PyTorch's", w.name, t), row.mem_ratio, 0.5,
            row.mem_ratio <= 0.5, "x (moongrad/PyTorch)")
        end
      end
    end
    -- convolution training against the FMA peak: on the wall clock at the
    -- target thread count, and at 1 thread per CPU-second (the rate on a
    -- core of its own, which other load does not distort)
    if row.moongrad and w.train and w.kind == "conv" and not loaded then
      local m = row.moongrad
      if t == target_threads and m.pct_fma_peak then
        target(string.format("%s t=%d: conv training above 60%% of FMA peak (wall)", w.name, t), m.pct_fma_peak, 60,
          m.pct_fma_peak >= 60, "%")
      end
      if t == 1 and m.pct_fma_peak_cpu then
        target(string.format("%s t=1: conv training above 60%% of FMA peak (per CPU-s)", w.name), m.pct_fma_peak_cpu,
          60, m.pct_fma_peak_cpu >= 60, "%")
      end
    end
    out[#out + 1] = row
  end
end
end
summarize_rows(opts.workloads, runs, false, results)
local loaded_results = {}
summarize_rows(loaded_list, loaded_runs, true, loaded_results)
-- With one core busy, moongrad at 2 threads must not fall much below
-- itself at 1 thread (the default thread count must degrade gracefully).
local GRACE = 0.9
do
  local by = {}
  for _, r in ipairs(loaded_results) do
    by[r.workload] = by[r.workload] or {}
    by[r.workload][r.threads] = r.moongrad and r.moongrad.images_per_s
  end
  for _, w in ipairs(loaded_list) do
    local one, two = by[w.name] and by[w.name][1], by[w.name] and by[w.name][2]
    if one and two then
      target(string.format("%s, one core busy: 2 threads at least %.1fx of 1 thread", w.name, GRACE), two / one,
        GRACE, two / one >= GRACE, "x")
    end
  end
end
if startup.moongrad_ms then
  target("start-up to a first tensor op under 10 ms", startup.moongrad_ms, 10, startup.moongrad_ms < 10, "ms")
end

-- ---- the table -------------------------------------------------------------------

local function fmt(v, f) return v and string.format(f, v) or "-" end

print()
print(string.format("moongrad vs PyTorch %s: median of %d run%s each, interleaved, separate processes",
  torch.version or "(skipped)", opts.reps, opts.reps > 1 and "s" or ""))
print(string.format("%-10s %3s %10s %10s %7s %6s %7s  %15s %6s  %14s %14s  %s",
  "workload", "thr", "mg img/s", "pt img/s", "ratio", "goal", "cpu", "peak MB mg/pt", "mem", "mg GFLOP/s", "pt GFLOP/s",
  "PyTorch settings"))
local function table_row(r)
  local m, p = r.moongrad, r.torch
  local goal = goal_of(BY_NAME[r.workload], r.threads)
  local function gf(s)
    if not s then return "-" end
    local pct = s.pct_fma_peak or s.pct_sgemm_peak
    return string.format("%6.1f (%3.0f%%)", s.gflops, pct)
  end
  print(string.format("%-10s %3d %10s %10s %7s %6s %7s  %15s %6s  %14s %14s  %s",
    r.workload, r.threads, fmt(m and m.images_per_s, "%.0f"), fmt(p and p.images_per_s, "%.0f"),
    r.ratio and string.format("%.2fx", r.ratio) or "-",
    r.ratio and string.format("%.1f%s", goal, r.ratio >= goal and "" or "!") or "-",
    r.cpu_ratio and string.format("%.2fx", r.cpu_ratio) or "-",
    string.format("%s / %s", fmt(m and m.peak_rss_mb, "%.0f"), fmt(p and p.peak_rss_mb, "%.0f")),
    fmt(r.mem_ratio, "%.2f"), gf(m), gf(p), r.torch_settings or "-"))
end
for _, r in ipairs(results) do table_row(r) end
if #loaded_results > 0 then
  print("with another process keeping one core busy (the shared-machine case):")
  for _, r in ipairs(loaded_results) do table_row(r) end
end
-- The same at 1 thread per CPU-second of each process: what each does on
-- a core of its own, far less disturbed by other load than wall time.
local cpu_rows = {}
for _, r in ipairs(results) do
  if r.threads == 1 and r.moongrad and r.moongrad.gflops_per_cpu_s then cpu_rows[#cpu_rows + 1] = r end
end
if #cpu_rows > 0 then
  print(string.format("\n%-10s %12s %12s %7s  %16s %16s   (1 thread, per CPU-second)", "workload", "mg img/cpu-s",
    "pt img/cpu-s", "ratio", "mg GFLOP/cpu-s", "pt GFLOP/cpu-s"))
  for _, r in ipairs(cpu_rows) do
    local m, p = r.moongrad, r.torch
    local function gf(x)
      if not (x and x.gflops_per_cpu_s) then return "-" end
      if not x.pct_fma_peak_cpu then return string.format("%7.1f", x.gflops_per_cpu_s) end
      return string.format("%7.1f (%3.0f%%)", x.gflops_per_cpu_s, x.pct_fma_peak_cpu)
    end
    print(string.format("%-10s %12.0f %12s %7s  %16s %16s", r.workload, m.images_per_cpu_s,
      fmt(p and p.images_per_cpu_s, "%.0f"), r.cpu_ratio and string.format("%.2fx", r.cpu_ratio) or "-", gf(m), gf(p)))
  end
end
print("ratio: moongrad/PyTorch images per second, median of the ratios of runs side by side "
  .. "(goal: the target; ! missed);")
print("  cpu: the same per CPU-second (1 thread); PyTorch settings: the fastest of its configurations (OpenBLAS")
print("  threads x allocator: glibc malloc, glibc tuned to keep large blocks, jemalloc preloaded)")
print(string.format("GFLOP/s: convolutions and matrix products only (bench/flops.lua); %% of %s",
  machine.fma_core and string.format("the FMA peak, %.1f GFLOP/s a core x threads (bench/peak.c)", machine.fma_core)
  or string.format("sgemm, %.1f GFLOP/s a core x threads", machine.sgemm_core)))
print(string.format("sgemm (mg.matmul %dx%d): %s GFLOP/s%s", machine.sgemm_size, machine.sgemm_size,
  (function()
    local v = {}
    for t = 1, #machine.sgemm_gflops do
      v[#v + 1] = string.format("%.1f at %d thread%s", machine.sgemm_gflops[t], t, t > 1 and "s" or "")
    end
    return table.concat(v, ", ")
  end)(),
  machine.fma_gflops[2] and string.format("; FMA %.1f at 1 thread, %.1f at 2 (per CPU-second; wall clock %.1f, %.1f)",
    machine.fma_gflops[1], machine.fma_gflops[2], machine.fma_wall_gflops[1] or 0 / 0,
    machine.fma_wall_gflops[2] or 0 / 0) or ""))
print(string.format("start-up to a first tensor op (median wall time of %d launches less %.1f ms of process spawn; "
  .. "median CPU time):", startup.launches, startup.spawn_ms))
print(string.format("  moongrad %.1f ms (CPU %.1f ms), PyTorch %s", startup.moongrad_ms, startup.moongrad_cpu_ms,
  startup.torch_ms and string.format("%.0f ms (CPU %.0f ms)", startup.torch_ms, startup.torch_cpu_ms) or "skipped"))
if not torch.available then print("PyTorch columns skipped: " .. torch.reason) end

local met = 0
for _, tg in ipairs(targets) do if tg.met then met = met + 1 end end
print(string.format("\ntargets: %d met, %d missed (speed goals read at %d thread%s)", met, #targets - met,
  target_threads, target_threads > 1 and "s" or ""))
for _, tg in ipairs(targets) do
  local cmp = tg.unit == "ms" and "<" or (tg.name:match("memory") and "<=" or ">=")
  print(string.format("  %-4s %-62s %8.2f %s (goal %s %g)", tg.met and "ok" or "MISS", tg.name, tg.value, tg.unit, cmp,
    tg.goal))
end
if #failures > 0 then
  print(string.format("%d measurement%s failed (see the JSON file)", #failures, #failures > 1 and "s" or ""))
end

-- ---- the JSON file ---------------------------------------------------------------

local dir = opts.json:match("^(.*)/")
if dir then mg.mkdir(dir) end
local doc = {
  version = 1,
  created = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  config = { threads = opts.threads, reps = opts.reps, quick = opts.quick, steps = opts.steps,
    warmup = opts.warmup, seconds = opts.seconds, target_threads = target_threads },
  machine = machine,
  torch = torch,
  startup = startup,
  workloads = results,
  loaded = loaded_results,
  targets = targets,
  failures = failures,
}
local f = assert(io.open(opts.json, "w"))
f:write(mg.json.encode(doc), "\n")
f:close()
print("JSON: " .. opts.json)
