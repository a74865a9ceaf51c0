-- Runs scripts on several ranks under Open MPI's mpirun for the dist specs.
--   local MPI = require "dist.mpi"
--   if not MPI.available then pending(MPI.why) return end
--   local ranks, out, code, seconds = MPI.run("collectives.lua", {np = 2})
-- Scripts live in spec/dist/scripts/; each rank writes its results as JSON
-- into the file named by $MG_DIST_RESULT with its rank in place of %d
-- (files, because the ranks' output lines can interleave). run returns
-- them decoded by rank, the whole output, the exit status and the time.
local H = require "helpers"
local mg = H.mg

local M = {}

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true end

-- The dist module sits beside the host program's build (see bindings/main.c).
local function module_built()
  local out = H.run(H.bin .. " -e 'print(package.searchpath(\"moongrad.dist\", package.cpath) or \"none\")'")
  return not out:find("none", 1, true)
end

if not have("mpirun") then
  M.why = "Open MPI is not installed (apt-get install libopenmpi-dev openmpi-bin, or make deps as root)"
elseif not module_built() then
  M.why = "moongrad.dist is not built (make, with Open MPI installed)"
else
  M.available = true
end

M.dir = "spec/dist/scripts/"

-- Open MPI refuses to run as root unless told; CI runs as root. More ranks
-- than cores are allowed, and the shared-memory transport copies through
-- its buffers instead of reading the other process's memory (which
-- container sandboxes often forbid), so the specs run on any machine.
M.env = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
  .. "OMPI_MCA_btl_vader_single_copy_mechanism=none"
-- Under the sanitizers (make asan) the ranks run the sanitized host and
-- module, but leak checking is off for them: Open MPI leaves about 3,000
-- blocks of its start-up behind in plugins it has unloaded, which cannot
-- be told apart from ours by a suppression. (The plain-process specs and
-- the fuzzer load the module with leak checking on.)
if os.getenv("MOONGRAD_ASAN") then
  M.env = M.env .. " ASAN_OPTIONS=" .. (os.getenv("ASAN_OPTIONS") or "") .. ":detect_leaks=0"
end

-- run(script, {np = 2, args = "...", env = "VAR=value ...", alone = false})
-- -> results by rank, output, exit status, seconds. alone: one plain
-- process on one thread, without mpirun. A job that outlives 60 s is
-- killed, so a hang fails the spec instead of stalling the suite.
function M.run(script, opts)
  opts = opts or {}
  local np = opts.alone and 1 or opts.np or 2
  local dir = H.tmpdir()
  local launch = opts.alone and (H.bin .. " --threads 1") or string.format("mpirun -np %d %s", np, H.bin)
  local cmd = string.format("env %s MG_DIST_RESULT=%s/%%d.json %s timeout -s KILL 60 %s %s%s %s",
    M.env, dir, opts.env or "", launch, M.dir, script, opts.args or "")
  local started = mg.clock()
  local out, code = H.run(cmd)
  local seconds = mg.clock() - started
  local ranks = {}
  for r = 1, np do
    local f = io.open(string.format("%s/%d.json", dir, r))
    if f then
      ranks[r] = mg.json.decode(f:read("a"))
      f:close()
      os.remove(string.format("%s/%d.json", dir, r))
    end
  end
  os.remove(dir)
  return ranks, out, code, seconds
end

-- Runs code in one plain host process (no launcher): stdout, stderr, status.
function M.run_alone(code, prefix)
  return H.run_host("-e " .. H.shell_quote(code), nil, prefix)
end

return M
