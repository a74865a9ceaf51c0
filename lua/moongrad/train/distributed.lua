--- Data parallelism for the Trainer over mg.dist (MPI): every rank runs
-- the same script on its shard of the data, and the ranks stay one model.
-- The engine calls these functions; library code that decides from rank
-- 1's files uses `agree` and `share`.
--
-- What the Trainer does in a distributed run (world_size W > 1):
--  - at the start, the models' parameters and buffers are broadcast from
--    rank 1, so every rank starts from rank 1's initialisation;
--  - the loader is sharded: rank r takes every W-th sample of the epoch's
--    order (DataLoader rank/world_size; shuffling uses a seed, 0 if none);
--  - after backward, ctx:optimize averages the gradients over the ranks in
--    one all-reduce (all the optimizer's gradients packed into one
--    buffer), so every rank takes the same step; a parameter without a
--    gradient on some ranks counts as zero there (and stays without one
--    when no rank has one);
--  - the epoch's metrics are summed over the ranks (the record covers the
--    whole epoch); evaluate runs on every rank (each holds the same model,
--    and a script may rely on what its evaluate keeps: guard files it
--    writes with trainer.is_main), and rank 1's record is sent to every
--    rank, so early stop and on_epoch decide the same everywhere;
--  - progress, metrics and checkpoints are written by rank 1 only;
--  - BatchNorm keeps per-rank batch statistics; the running statistics
--    (running_mean, running_var) are averaged over the ranks at the end of
--    each epoch, at each checkpoint and at the end, so the model saved is
--    the same on every rank;
--  - resume: rank 1 reads the checkpoint and sends its bytes to every rank,
--    which loads them (the file need only exist where rank 1 runs); each
--    rank gets back its own RNG state and loader position. A checkpoint
--    taken mid-epoch resumes only on the same number of ranks; one taken
--    at the end of an epoch resumes on any number (one process included).
--  - at the end, the ranks' parameters are compared; a difference (a step
--    that changed parameters outside ctx:optimize) is reported on rank 1.
-- @module moongrad.train.distributed
-- @alias D
-- @usage -- mpirun -np 2 bin/moongrad train.lua, where train.lua calls mg.dist.init():
-- local trainer = mg.train.Trainer{model = m, optimizer = opt}  -- distributed = true by default then
local mg = require "moongrad"
local json = require "moongrad.json"
local checkpoint = require "moongrad.train.checkpoint"

local D = {}

--- enabled(option) -> whether a Trainer runs distributed: the option when
-- given, else true once the script has called mg.dist.init() (without
-- loading the MPI module when it has not).
function D.enabled(option)
  if option ~= nil then return option end
  local dist = package.loaded["moongrad.dist"]
  return dist ~= nil and dist.is_initialized()
end

--- attach(trainer): makes the trainer distributed (from Trainer:init).
function D.attach(trainer)
  local dist = mg.dist
  local rank, world = dist.init()
  trainer.dist, trainer.rank, trainer.world_size = dist, rank, world
  trainer.is_main = rank == 1
  trainer.show = trainer.show and trainer.is_main
  local user_hook = trainer.grad_hook
  trainer.grad_hook = function(params)
    D.average_gradients(dist, params)
    if user_hook then user_hook(params) end
  end
end

-- Tensors grouped by dtype, in a fixed order of groups (a collective moves
-- one dtype at a time).
local function by_dtype(list)
  local groups, names = {}, {}
  for _, t in ipairs(list) do
    if not groups[t.dtype] then groups[t.dtype] = {}; names[#names + 1] = t.dtype end
    table.insert(groups[t.dtype], t)
  end
  table.sort(names)
  local out = {}
  for i, name in ipairs(names) do out[i] = groups[name] end
  return out
end

local function sorted_names(map)
  local names = {}
  for k in pairs(map) do names[#names + 1] = k end
  table.sort(names)
  return names
end

-- Every model's parameters and buffers, in one order on every rank.
local function model_tensors(trainer)
  local list = {}
  for _, name in ipairs(sorted_names(trainer.models)) do
    local m = trainer.models[name]
    for _, p in ipairs(m:parameters()) do list[#list + 1] = p end
    for _, b in ipairs(m:buffers()) do list[#list + 1] = b end
  end
  return list
end

--- average_gradients(dist, params): the gradients of params become their
-- mean over the ranks, in one all-reduce. A presence flag per parameter
-- travels in the same message: a gradient missing on some ranks is zero
-- there, and one that no rank has stays nil.
function D.average_gradients(dist, params)
  if dist.world_size() == 1 then return end
  local grads, present, filled = {}, {}, {}
  for i, p in ipairs(params) do
    local g = p.grad
    present[i] = g and 1 or 0
    if not g then
      g = mg.zeros_like(p)
      p.grad = g
      filled[#filled + 1] = i
    end
    grads[i] = g
  end
  local flags = mg.tensor(present)
  grads[#grads + 1] = flags
  dist.all_reduce(grads, { op = "mean" })
  if #filled > 0 then
    local any = flags:totable()
    for _, i in ipairs(filled) do
      if any[i] == 0 then params[i].grad = nil end
    end
  end
end

--- shard(trainer, loader): gives the loader this rank's shard.
function D.shard(trainer, loader)
  local world = trainer.world_size
  if loader.world_size == world and loader.rank == trainer.rank then return end
  if world == 1 then return end
  if loader.world_size == nil or loader.rank == nil then
    error("Trainer: a distributed run needs a DataLoader it can shard (rank, world_size), got a loader without them", 0)
  end
  if loader.world_size ~= 1 then
    error(string.format("Trainer: the loader is sharded for %d ranks (rank %d), the job has %d", loader.world_size,
      loader.rank, world), 0)
  end
  loader.rank, loader.world_size = trainer.rank, world
end

--- start(trainer): every rank takes rank 1's parameters and buffers.
function D.start(trainer)
  if trainer.world_size == 1 then return end
  for _, group in ipairs(by_dtype(model_tensors(trainer))) do trainer.dist.broadcast(group) end
end

-- ---- for library code that may run in a distributed job ----------------------------

-- mg.dist when the script runs in a job of several ranks, else nil.
local function job()
  local dist = package.loaded["moongrad.dist"]
  if dist and dist.is_initialized() and dist.world_size() > 1 then return dist end
  return nil
end

--- agree(value) -> rank 1's value (nil, a boolean, number or string) on
-- every rank of a distributed job; value itself otherwise. For decisions
-- that rest on rank 1's files (is there a cached model?), which the other
-- ranks, perhaps on other machines, cannot see.
function D.agree(value)
  local dist = job()
  if not dist then return value end
  return dist.broadcast(value)
end

--- share(modules): every rank takes rank 1's parameters and buffers of
-- the modules (a list), in a distributed job; nothing otherwise.
function D.share(modules)
  if not job() then return end
  D.start({ world_size = 2, dist = job(), models = modules })
end

--- sync_statistics(trainer): BatchNorm's running statistics (buffers
-- named running_*) become their mean over the ranks.
function D.sync_statistics(trainer)
  if trainer.world_size == 1 then return end
  local stats = {}
  for _, name in ipairs(sorted_names(trainer.models)) do
    for key, b in trainer.models[name]:named_buffers() do
      if key:match("running_[%w_]*$") and b.dtype == "float32" then stats[#stats + 1] = b end
    end
  end
  if #stats > 0 then trainer.dist.all_reduce(stats, { op = "mean" }) end
end

local SUM_FIELDS = { "items" }

--- reduce(trainer, acc) -> a copy of the epoch's running sums added over
-- the ranks (steps and seconds stay this rank's).
function D.reduce(trainer, acc)
  if trainer.world_size == 1 then return acc end
  local keys = sorted_names(acc.sums)
  local values = {}
  for _, k in ipairs(keys) do
    values[#values + 1] = acc.sums[k]
    values[#values + 1] = acc.weights[k]
  end
  for _, f in ipairs(SUM_FIELDS) do values[#values + 1] = acc[f] end
  local total = trainer.dist.all_reduce(values, { op = "sum" })
  local out = { sums = {}, weights = {}, steps = acc.steps, seconds = acc.seconds }
  for i, k in ipairs(keys) do out.sums[k], out.weights[k] = total[2 * i - 1], total[2 * i] end
  for i, f in ipairs(SUM_FIELDS) do out[f] = total[2 * #keys + i] end
  return out
end

--- share_record(trainer, record) -> rank 1's record, on every rank.
function D.share_record(trainer, record)
  if trainer.world_size == 1 then return record end
  local text = trainer.dist.broadcast(trainer.is_main and json.encode(record) or nil)
  return trainer.is_main and record or json.decode(text)
end

--- any(trainer, flag) -> true when the flag is true on some rank.
function D.any(trainer, flag)
  if trainer.world_size == 1 then return flag end
  return trainer.dist.all_reduce(flag and 1 or 0, { op = "max" }) == 1
end

--- before_save(trainer, acc) -> the sums to save (over all ranks), the
-- ranks' RNG states: what every rank does at a checkpoint (rank 1 writes).
function D.before_save(trainer, acc)
  D.sync_statistics(trainer)
  local global = acc and D.reduce(trainer, acc) or nil
  local rng = mg.get_rng_state()
  local seeds, counters = trainer.dist.all_gather(rng.seed), trainer.dist.all_gather(rng.counter)
  local states = {}
  for r = 1, trainer.world_size do states[r] = { seed = seeds[r], counter = counters[r] } end
  return global, states
end

--- check_resume(info, world_size, mid_epoch): refuses a mid-epoch
-- checkpoint of another number of ranks (its loader position counts
-- batches of shards that do not exist here).
function D.check_resume(info, world, mid)
  local saved = info.extra and info.extra.world_size or 1
  if mid and saved ~= world then
    error(string.format("Trainer: the checkpoint was taken in the middle of an epoch by a run of %d rank%s; " ..
      "resume it on %d rank%s, or from a checkpoint taken at the end of an epoch (which resumes on any number)",
      saved, saved == 1 and "" or "s", saved, saved == 1 and "" or "s"), 0)
  end
end

local function read_bytes(path)
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("a")
  f:close()
  return bytes
end

--- restore(trainer, loader) -> epoch to run next, sums of an interrupted
-- epoch (nil when not resuming): Trainer:_restore for a distributed run.
function D.restore(trainer, loader)
  if not (trainer.resume and trainer.checkpoint_path) then return nil end
  local dist, path = trainer.dist, trainer.checkpoint_path
  local base = path:gsub("%.safetensors$", "")
  local bytes
  if trainer.is_main and checkpoint.exists(path) then bytes = read_bytes(base .. ".safetensors") end
  bytes = dist.broadcast(bytes)
  if bytes == nil then return nil end
  local file, scratch = base, nil
  if not trainer.is_main then -- a copy of rank 1's file, loaded like it
    scratch = os.tmpname()
    local f = assert(io.open(scratch .. ".safetensors", "wb"))
    f:write(bytes)
    f:close()
    file = scratch
  end
  local ok, info = pcall(checkpoint.load, file, {
    models = trainer.models, optimizers = trainer.optimizers, schedulers = trainer.schedulers,
    loader = loader.load_state_dict and loader or nil,
  })
  if scratch then
    os.remove(scratch .. ".safetensors")
    os.remove(scratch)
  end
  if not ok then error(info, 0) end
  local mid = loader.resuming and loader:resuming() or false
  D.check_resume(info, trainer.world_size, mid)
  -- a shard's order follows from (seed, epoch): each rank takes its own
  if mid and trainer.world_size > 1 and info.loader then
    loader:load_state_dict({ tensors = { order = loader:indices(info.loader.epoch) }, meta = info.loader })
  end
  local states = info.extra.rng_ranks
  if states and #states == trainer.world_size then mg.set_rng_state(states[trainer.rank]) end
  trainer.step = info.step
  trainer.history = info.extra.history or {}
  trainer._early = info.extra.early
  if trainer.show then
    io.stderr:write(string.format("resuming from %s (epoch %d, step %d)%s on %d ranks\n", path, info.epoch, info.step,
      mid and " mid-epoch" or "", trainer.world_size))
  end
  if not mid then return info.epoch + 1, nil end
  local partial = info.extra.partial
  if partial and not trainer.is_main then -- the saved sums are the whole job's: counted once, on rank 1
    partial = { sums = {}, weights = {}, items = 0, steps = partial.steps, seconds = partial.seconds }
  end
  return info.epoch, partial
end

--- finish(trainer): averages the running statistics and reports on rank 1
-- when the ranks' parameters differ.
function D.finish(trainer)
  if trainer.world_size == 1 then return end
  D.sync_statistics(trainer)
  local params = {}
  for _, name in ipairs(sorted_names(trainer.models)) do
    for _, p in ipairs(trainer.models[name]:parameters()) do
      if p.dtype == "float32" then params[#params + 1] = p:detach() end
    end
  end
  if #params == 0 then return end
  local function copies()
    local out = {}
    for i, p in ipairs(params) do out[i] = p:clone() end
    return out
  end
  local hi, lo = copies(), copies()
  trainer.dist.all_reduce(hi, { op = "max" })
  trainer.dist.all_reduce(lo, { op = "min" })
  local worst = 0
  for i = 1, #params do worst = math.max(worst, (hi[i] - lo[i]):abs():max():item()) end
  if worst > 0 and trainer.is_main then
    io.stderr:write(string.format("Trainer: the ranks' parameters differ at the end (by up to %g): a step changed " ..
      "parameters outside ctx:optimize, or the ranks ran different code\n", worst))
  end
end

return D
