-- Every collective of mg.dist on each rank; writes the results as JSON (see ../mpi.lua).
local mg = require "moongrad"
local dist = mg.dist

local before = dist.is_initialized()
local rank, world = dist.init()
local r = {
  before = before, after = dist.is_initialized(), rank = rank, world = world, again = { dist.init() },
  fn_rank = dist.rank(), fn_world = dist.world_size(), local_rank = dist.local_rank(),
  local_size = dist.local_size(), backend = dist.backend(),
}

local function on(x, opts) return dist.all_reduce(x, opts):totable() end
-- rank k holds k, 2k, 3k
local function mine() return mg.tensor { rank, 2 * rank, 3 * rank } end
r.sum, r.mean = on(mine()), on(mine(), { op = "mean" })
r.max, r.min = on(mine(), { op = "max" }), on(mine(), { op = "min" })
r.i64 = on(mg.tensor({ rank, 10 * rank }, { dtype = "int64" }))
r.u8max = on(mg.tensor({ rank, 7 }, { dtype = "uint8" }), { op = "max" })
-- a list moves as one message, a strided view is written back in place
local a, b = mg.ones(2, 2) * rank, mg.arange(0, 6):float():view(2, 3):t() * rank
local same = dist.all_reduce({ a, b }, { op = "sum" })
r.list_same = same[1] == a
r.list = { a:totable(), b:totable() }
local big = mg.zeros(4, 5)
local view = big:narrow(2, 2, 3) -- not contiguous: the rest of big stays
view:copy_(mg.ones(4, 3) * rank)
dist.all_reduce(view)
r.narrow = big:totable()
-- numbers
r.num_sum = dist.all_reduce(rank)
r.num_sum_type = math.type(r.num_sum)
r.num_mean = dist.all_reduce(rank, { op = "mean" })
r.num_list = dist.all_reduce({ rank, 0.5 * rank }, { op = "max" })
-- broadcast from rank 2 (the last) and from the default root, rank 1
local t = mg.full({ 3 }, rank)
dist.broadcast(t, { root = world })
r.bcast_last = t:totable()
local list = { mg.full({ 2 }, rank), mg.full({ 1, 2 }, 10 * rank) }
dist.broadcast(list)
r.bcast_list = { list[1]:totable(), list[2]:totable() }
r.bcast_string = dist.broadcast(rank == 1 and "from the root" or nil)
r.bcast_int = dist.broadcast(rank == 1 and 42 or "ignored")
r.bcast_float = dist.broadcast(rank == 1 and 0.1 or nil)
r.bcast_bool = dist.broadcast(rank == 1)
r.bcast_nil = dist.broadcast(nil) == nil
-- gather
local g = dist.all_gather(mg.tensor { { rank, -rank } })
r.gather_shape, r.gather = g:shape(), g:totable()
r.gather_num = dist.all_gather(rank * 1.5)
-- disagreements raise the same error on every rank, and the job goes on
local ok, err = pcall(dist.all_reduce, mg.zeros(rank + 1))
r.disagree = not ok and err or "no error"
ok, err = pcall(dist.all_gather, mg.zeros(rank, 2))
r.gather_disagree = not ok and err or "no error"
ok, err = pcall(dist.broadcast, mg.zeros(2), { root = world + 1 })
r.bad_root = not ok and err or "no error"
-- an in-place result is seen by autograd like any in-place write
local x = mg.ones(3):requires_grad_()
local y = x:detach()
local z = (x * y):sum()
dist.all_reduce(y)
r.autograd = select(2, pcall(z.backward, z))
dist.barrier()
local f = assert(io.open(os.getenv("MG_DIST_RESULT"):format(rank), "w"))
f:write(mg.json.encode(r))
f:close()
