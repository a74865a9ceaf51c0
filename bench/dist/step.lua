-- One side of the data-parallel benchmark (bench/dist/run.lua starts it):
-- training steps of the rotation CNN as examples/rotnet.lua runs them
-- (each image at 4 rotations, cross-entropy, Adam), on one process or on
-- each rank of an MPI job, with the same global batch: 128 images (512
-- network inputs) per step, split among the ranks.
--
--   moongrad bench/dist/step.lua --threads N [--dist] [--steps S] [--warmup W] [--seconds T]
--
-- Prints one JSON line (rank 1): ranks, threads, steps, seconds, images
-- per second of the whole job, milliseconds per step, and for --dist the
-- milliseconds of the gradient all-reduce per step (timed inside the
-- steps) and of the same all-reduce alone, with the gradients' size.
local mg = require "moongrad"
local distributed = require "moongrad.train.distributed"

local o = { threads = 1, steps = 20, warmup = 5, seconds = 3, dist = false }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-([%w]+)$")
  if k == "dist" then o.dist = true; i = i + 1
  elseif k and o[k] ~= nil and arg[i + 1] then o[k] = tonumber(arg[i + 1]); i = i + 2
  else error("bench/dist/step.lua: unknown option " .. arg[i], 0) end
end

local rank, world = 1, 1
if o.dist then rank, world = mg.dist.init() end
mg.set_num_threads(math.tointeger(o.threads))
mg.manual_seed(0)

local GLOBAL = 128
local per_rank = GLOBAL // world
local images = mg.rand(GLOBAL, 1, 28, 28):narrow(1, (rank - 1) * per_rank + 1, per_rank):contiguous()
local model = mg.models.RotNet(4)
distributed.share({ model })
local opt = mg.optim.Adam(model:parameters(), { lr = 1e-3 })

local reduce_seconds = 0
local hook = o.dist and world > 1 and function(params)
  local t = mg.clock()
  distributed.average_gradients(mg.dist, params)
  reduce_seconds = reduce_seconds + (mg.clock() - t)
end or nil

local function step()
  local x, r = mg.ssl.rotations(images)
  mg.train.optimize(mg.cross_entropy(model(x), r), opt, nil, hook)
end

for _ = 1, o.warmup do step() end
if o.dist then mg.dist.barrier() end
reduce_seconds = 0
local t0 = mg.clock()
local steps = 0
-- every rank runs the same number of steps: rank 1's clock decides
local go = true
while go do
  step()
  steps = steps + 1
  go = steps < o.steps or mg.clock() - t0 < o.seconds
  if o.dist then go = distributed.agree(go) end
end
local seconds = mg.clock() - t0

local result = {
  ranks = world, threads = mg.get_num_threads(), steps = steps, seconds = seconds,
  images_per_s = GLOBAL * 4 * steps / seconds, step_ms = 1000 * seconds / steps,
}
if o.dist and world > 1 then
  result.allreduce_ms = 1000 * reduce_seconds / steps
  -- the same all-reduce with nothing else running
  local grads, n = {}, 0
  for k, p in ipairs(model:parameters()) do grads[k] = p.grad; n = n + p:numel() end
  mg.dist.barrier()
  local t = mg.clock()
  for _ = 1, 50 do mg.dist.all_reduce(grads, { op = "mean" }) end
  result.allreduce_alone_ms = 1000 * (mg.clock() - t) / 50
  result.gradient_mb = 4 * n / 2 ^ 20
end
if rank == 1 then print(mg.json.encode(result)) end
