-- The moongrad side of one benchmark measurement: options, the shared data
-- file, the timed loop and the JSON line the driver (bench/run.lua) reads.
-- bench/torch/harness.py is its twin; keep the two in step.
--
--   moongrad bench/workloads/NAME.lua --threads N --warmup W --steps S
--                                      [--seconds T] --data FILE
--
-- A workload script builds its model, returns a step function from
-- setup(data), and hands both to H.run. The process prints one line of
-- JSON: workload, framework, threads, warmup, steps (at least S, and more
-- until T seconds of timed work have passed: a run is long enough to
-- measure whatever its step time), seconds (timed steps only), cpu_seconds (CPU time of the process in the timed steps,
-- all threads, spinning included), images (processed in the timed steps),
-- peak_rss_kb (VmHWM: the peak resident memory of the whole process),
-- base_rss_kb (VmRSS before the workload is set up).
local mg = require "moongrad"

local H = {}

-- Reads "Name: N kB" fields of /proc/self/status; returns a table of kB.
function H.status()
  local out = {}
  local f = io.open("/proc/self/status", "r")
  if not f then return out end
  for line in f:lines() do
    local k, v = line:match("^(%w+):%s+(%d+) kB")
    if k then out[k] = tonumber(v) end
  end
  f:close()
  return out
end

-- Options of every workload script; unknown ones are errors.
local function options(argv)
  local o = { threads = 1, warmup = 2, steps = 10, seconds = 0, data = nil }
  local i = 1
  while i <= #argv do
    local k = argv[i]:match("^%-%-(%w+)$")
    if not k or o[k] == nil and k ~= "data" or argv[i + 1] == nil then
      error("bench workload: unknown or incomplete option " .. tostring(argv[i]) ..
        " (expected --threads N --warmup N --steps N [--seconds N] --data FILE)", 0)
    end
    o[k] = k == "data" and argv[i + 1] or math.tointeger(tonumber(argv[i + 1]))
    if o[k] == nil then error("bench workload: " .. argv[i] .. " needs an integer", 0) end
    i = i + 2
  end
  if not o.data then error("bench workload: --data FILE is required (bench/run.lua writes it)", 0) end
  return o
end

-- The shared data: images [256, 1, 28, 28] uniform in [0, 1] and labels
-- [256] in 0..9, written once by the driver and read by both frameworks.
-- Returns {images, labels} with labels made 1-based (moongrad's classes).
local function load_data(path)
  local d = mg.load(path)
  return { images = d.images, labels = d.labels + 1 }
end

--- run(spec): spec.name, spec.images_per_step, spec.setup(data) -> step().
-- Parses the script's arguments, sets the thread count, seeds, builds the
-- workload, runs warm-up and timed steps, prints the JSON line.
function H.run(spec)
  local o = options(arg)
  mg.set_num_threads(o.threads)
  mg.manual_seed(0)
  local base = H.status().VmRSS
  local data = load_data(o.data)
  local step = spec.setup(data)
  for _ = 1, o.warmup do step() end
  local t0, c0 = mg.clock(), os.clock()
  local steps = 0
  while steps < o.steps or mg.clock() - t0 < o.seconds do
    step()
    steps = steps + 1
  end
  local seconds, cpu = mg.clock() - t0, os.clock() - c0
  local st = H.status()
  print(mg.json.encode {
    workload = spec.name, framework = "moongrad", threads = o.threads, warmup = o.warmup,
    steps = steps, seconds = seconds, cpu_seconds = cpu, images = spec.images_per_step * steps,
    peak_rss_kb = st.VmHWM or 0, base_rss_kb = base or 0,
  })
end

return H
