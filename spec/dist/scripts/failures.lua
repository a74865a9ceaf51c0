-- A failure on rank 2 while rank 1 waits in a collective:
--   failures.lua error | kill | stuck
local mg = require "moongrad"
local dist = mg.dist
local mode = arg[1]
local rank = dist.init()
dist.barrier()
if rank == 2 then
  if mode == "error" then error("rank 2 fails on purpose") end
  if mode == "kill" then
    local pid = math.tointeger(io.open("/proc/self/stat"):read("n"))
    os.execute("kill -9 " .. pid)
  end
  if mode == "stuck" then -- busy outside any collective for longer than the test allows
    local stop = os.time() + 60
    while os.time() < stop do end
  end
end
dist.all_reduce(mg.ones(10))
local f = assert(io.open(os.getenv("MG_DIST_RESULT"):format(rank), "w"))
f:write("{}")
f:close()
