--- mg.train.Trainer: the one training engine.
-- @module moongrad.train
local mg = require "moongrad"
local class = require "moongrad.class"
local Progress = require "moongrad.train.progress"
local MetricsLog = require "moongrad.train.metrics"
local checkpoint = require "moongrad.train.checkpoint"
local distributed = require "moongrad.train.distributed"

--- The training engine. It owns epochs, progress, metrics (JSON lines),
-- schedulers, checkpoints and resume, evaluation and early stop; the
-- experiment writes only the step.
--
-- The step gets the batch table (loader:batches()) and a context:
-- ctx.epoch, ctx.step (the global step, counted from 1), ctx.batch
-- (1-based within the epoch), ctx.trainer. `ctx:optimize(loss, opt, o)`
-- does opt:zero_grad() (unless o.zero_grad == false), loss:backward(),
-- grad_hook(params), clipping (o.clip_grad_norm) and opt:step(); a step may
-- call it several times (a GAN's two optimizers). opt may be left out when
-- the trainer has one optimizer.
--
-- The step returns a table of metrics: numbers or 1-element tensors (nil
-- for none), or pairs {total, count} (say {correct, batch size}); n, when
-- present, is the batch's weight (its size) and is not a metric. The
-- epoch's record holds each metric's mean weighted by n (plain mean over
-- steps without n; sum of totals over sum of counts for pairs), and epoch,
-- step, lr (lr_<name> with several optimizers), epoch_time, items_per_s,
-- the tags and what evaluate returned. run returns the history (the list
-- of records).
--
-- Every model is put in training mode at the start of each epoch, and
-- loader:set_epoch(e) is called before epoch e (seeded orders and shards
-- change with the epoch). Checkpoints hold the models, optimizers, schedulers, the loader's
-- position, the RNG state, the step, the history and the running sums of
-- an interrupted epoch, so a resumed run continues bit for bit, also from
-- the middle of an epoch.
-- @type Trainer
-- @usage local trainer = mg.train.Trainer{model = model, optimizer = opt, epochs = 10, out = "out/run"}
-- local history = trainer:run(loader, function(batch, ctx)
--   local loss = F.cross_entropy(model(batch.images), batch.labels)
--   ctx:optimize(loss, {clip_grad_norm = 1.0})
--   return {loss = loss, n = batch.images:size(1)}
-- end)
local Trainer = class("train.Trainer")

local OPTIONS = {
  "model", "models", "optimizer", "optimizers", "scheduler", "schedulers", "scheduler_step", "epochs",
  "max_steps", "out", "log", "tags", "checkpoint", "checkpoint_every", "resume", "progress", "desc", "unit",
  "evaluate", "early_stop", "grad_hook", "rank", "on_epoch", "distributed",
}

local function fail(msg) error("Trainer: " .. msg, 4) end

local function is_callable(f) return type(f) == "function" or (getmetatable(f) or {}).__call ~= nil end

-- {name = object} from a single one (under `default_name`) and/or a map.
local function named(opts, single, many, default_name)
  local out = {}
  if opts[many] ~= nil then
    if type(opts[many]) ~= "table" then fail(many .. " must be a table {name = ...}, got " .. type(opts[many])) end
    for k, v in pairs(opts[many]) do
      if type(k) ~= "string" or k == "" or k:find(".", 1, true) then
        fail(many .. " must be named by strings without dots, got " .. tostring(k))
      end
      out[k] = v
    end
  end
  if opts[single] ~= nil then
    if out[default_name] then fail(string.format("give %s or %s.%s, not both", single, many, default_name)) end
    out[default_name] = opts[single]
  end
  return out
end

local function sorted_names(map)
  local names = {}
  for k in pairs(map) do names[#names + 1] = k end
  table.sort(names)
  return names
end

local function positive_int(v) return math.type(v) == "integer" and v >= 1 end

--- train.Trainer(opts): a new engine.
-- @tparam table opts
--
-- - `models = {net = model}` or `model = m` (saved in checkpoints)
-- - `optimizers = {opt = opt}` or `optimizer = opt`
-- - `schedulers = {s = sched}` or `scheduler = s`; `scheduler_step = "epoch"` or "batch"
--   (stepped after each step)
-- - `epochs = 10`; `max_steps = nil` stops after max_steps steps (mid-epoch)
-- - `out = "out/run"`: metrics.jsonl there (fresh unless resuming); `log = nil`, or a
--   MetricsLog shared with other phases; `tags = {phase = "pretext"}`, fields added to
--   every record
-- - `checkpoint = true` (or a path; true: <out>/checkpoint), `checkpoint_every = nil`
--   (also every N steps, for mid-epoch resume), `resume = false` (continue from the
--   checkpoint if any)
-- - `progress = true, desc = "train", unit = "img"`
-- - `evaluate = function(trainer, epoch) return {val_acc = ...} end`
-- - `early_stop = {metric = "val_acc", mode = "max", patience = 3, min_delta = 0}`
-- - `grad_hook = nil`: function(params), e.g. averaging over ranks
-- - `rank = 1`: only rank 1 writes metrics, checkpoints and progress
-- - `distributed = nil`: data parallel over mg.dist's ranks (the default
--   once mg.dist.init() ran); see moongrad.train.distributed
-- - `on_epoch = function(record, trainer) end`: return false to stop
function Trainer:init(opts)
  opts = mg.check_options("Trainer", opts, OPTIONS, 3)
  self.models = named(opts, "model", "models", "model")
  self.optimizers = named(opts, "optimizer", "optimizers", "optimizer")
  self.schedulers = named(opts, "scheduler", "schedulers", "scheduler")
  for _, m in pairs(self.models) do
    if type(m) ~= "table" or type(m.state_dict) ~= "function" then fail("models must be nn.Modules") end
  end
  for _, o in pairs(self.optimizers) do
    if type(o) ~= "table" or type(o.step) ~= "function" or type(o.zero_grad) ~= "function" then
      fail("optimizers must be optimizers (zero_grad, step)")
    end
  end
  local per = opts.scheduler_step or "epoch"
  if per ~= "epoch" and per ~= "batch" then
    fail("scheduler_step must be \"epoch\" or \"batch\", got " .. tostring(per))
  end
  self.scheduler_step = per
  if opts.epochs ~= nil and not positive_int(opts.epochs) then
    fail("epochs must be a positive integer, got " .. tostring(opts.epochs))
  end
  if opts.max_steps ~= nil and not positive_int(opts.max_steps) then
    fail("max_steps must be a positive integer, got " .. tostring(opts.max_steps))
  end
  self.epochs = opts.epochs or (opts.max_steps and math.maxinteger or 1)
  self.max_steps = opts.max_steps
  if opts.checkpoint_every ~= nil and not positive_int(opts.checkpoint_every) then
    fail("checkpoint_every must be a positive integer, got " .. tostring(opts.checkpoint_every))
  end
  for _, k in ipairs({ "evaluate", "grad_hook", "on_epoch" }) do
    if opts[k] ~= nil and not is_callable(opts[k]) then fail(k .. " must be a function, got " .. type(opts[k])) end
  end
  if opts.out ~= nil and type(opts.out) ~= "string" then fail("out must be a folder name, got " .. type(opts.out)) end
  local ckpt = opts.checkpoint
  if ckpt == true then
    if not opts.out then fail("checkpoint = true needs out (the folder)") end
    ckpt = opts.out .. "/checkpoint"
  elseif ckpt == false then
    ckpt = nil
  elseif ckpt ~= nil and type(ckpt) ~= "string" then
    fail("checkpoint must be true or a path, got " .. type(ckpt))
  end
  if (ckpt or opts.checkpoint_every) and next(self.models) == nil then fail("checkpoints need models") end
  self.checkpoint_path, self.checkpoint_every = ckpt, opts.checkpoint_every
  self.resume = opts.resume or false
  local es = opts.early_stop
  if es ~= nil then
    es = mg.check_options("Trainer: early_stop", es, { "metric", "mode", "patience", "min_delta" }, 3)
    if type(es.metric) ~= "string" then
      fail("early_stop.metric must name a record field, got " .. tostring(es.metric))
    end
    if es.mode ~= nil and es.mode ~= "max" and es.mode ~= "min" then
      fail("early_stop.mode must be \"max\" or \"min\", got " .. tostring(es.mode))
    end
    if es.patience ~= nil and not positive_int(es.patience) then
      fail("early_stop.patience must be a positive integer, got " .. tostring(es.patience))
    end
  end
  self.early_stop = es
  local rank = opts.rank or 1
  if not positive_int(rank) then fail("rank must be an integer >= 1, got " .. tostring(rank)) end
  self.rank, self.is_main = rank, rank == 1
  self.out, self.log, self.tags = opts.out, opts.log, opts.tags or {}
  self.show = opts.progress ~= false and self.is_main
  self.desc, self.unit = opts.desc or "epoch", opts.unit or "it"
  self.evaluate, self.grad_hook, self.on_epoch = opts.evaluate, opts.grad_hook, opts.on_epoch
  if opts.distributed ~= nil and type(opts.distributed) ~= "boolean" then
    fail("distributed must be a boolean, got " .. type(opts.distributed))
  end
  if distributed.enabled(opts.distributed) then distributed.attach(self) end
  self.step, self.epoch, self.history = 0, 0, {}
end

-- ---- the step context ------------------------------------------------------------

local Context = class("train.Context")

local function params_of(opt)
  local list = {}
  for _, g in ipairs(opt.param_groups or {}) do
    for _, p in ipairs(g.params) do list[#list + 1] = p end
  end
  return list
end

--- The update the engine makes, for code that may run outside a trainer
-- (also mg.train.optimize): zero_grad, backward, the gradient hook,
-- clipping, step.
-- @tparam Tensor loss
-- @tparam Optimizer opt
-- @tparam[opt] table o `{clip_grad_norm = nil, zero_grad = true}`
-- @func[opt] hook called as hook(params) before clipping
-- @treturn Tensor loss
function Trainer.optimize(loss, opt, o, hook)
  if not mg.is_tensor(loss) then error("optimize: expected a loss Tensor, got " .. type(loss), 2) end
  if type(opt) ~= "table" or type(opt.step) ~= "function" then
    error("optimize: expected an optimizer, got " .. type(opt), 2)
  end
  o = mg.check_options("optimize", o, { "clip_grad_norm", "zero_grad" })
  if o.zero_grad ~= false then opt:zero_grad() end
  loss:backward()
  if hook or o.clip_grad_norm then
    local params = params_of(opt)
    if hook then hook(params) end
    if o.clip_grad_norm then mg.optim.clip_grad_norm(params, o.clip_grad_norm) end
  end
  opt:step() -- the one optimizer step of every training loop
  return loss
end

--- ctx:optimize(loss [, opt] [, o]): Trainer.optimize with the trainer's
-- gradient hook; opt may be left out when the trainer has one optimizer.
-- @local
function Context:optimize(loss, opt, o)
  local trainer = self.trainer
  if opt == nil or (type(opt) == "table" and type(opt.step) ~= "function" and o == nil) then
    o = opt
    local names = sorted_names(trainer.optimizers)
    if #names ~= 1 then error("ctx:optimize: name the optimizer (the trainer has " .. #names .. ")", 2) end
    opt = trainer.optimizers[names[1]]
  end
  return Trainer.optimize(loss, opt, o, trainer.grad_hook)
end

--- ctx:optimize when a step context is given, else Trainer.optimize: for
-- library steps (a GAN's d_step) that run inside the engine or on their
-- own (also mg.train.step_with).
-- @tparam table|nil ctx the step context, or nil
-- @tparam Tensor loss
-- @tparam Optimizer opt
-- @tparam[opt] table o as for optimize
-- @treturn Tensor loss
function Trainer.step_with(ctx, loss, opt, o)
  if ctx then return ctx:optimize(loss, opt, o) end
  return Trainer.optimize(loss, opt, o)
end

-- ---- metrics ----------------------------------------------------------------------

local function new_sums() return { sums = {}, weights = {}, items = 0, steps = 0, seconds = 0 } end

local function value_of(v, key)
  if type(v) == "number" then return v end
  if mg.is_tensor(v) then
    if v:numel() ~= 1 then
      error(string.format("Trainer: metric %s is a Tensor of %d elements, expected 1", key, v:numel()), 0)
    end
    return v:item()
  end
  error(string.format("Trainer: metric %s must be a number or a 1-element Tensor, got %s", key, type(v)), 0)
end

-- Adds a step's metrics to the epoch's sums.
local function accumulate(acc, out)
  acc.steps = acc.steps + 1
  if out == nil then return end
  if type(out) ~= "table" then
    error("Trainer: the step must return a table of metrics or nil, got " .. type(out), 0)
  end
  local w = out.n ~= nil and value_of(out.n, "n") or 1
  if out.n ~= nil then acc.items = acc.items + w end
  for k, v in pairs(out) do
    if k ~= "n" then
      local x, wk
      if type(v) == "table" then -- {total, count}: the mean is sum(total) / sum(count)
        x, wk = value_of(v[1], k), value_of(v[2], k)
      else
        x, wk = value_of(v, k) * w, w
      end
      acc.sums[k] = (acc.sums[k] or 0) + x
      acc.weights[k] = (acc.weights[k] or 0) + wk
    end
  end
end

local function means(acc)
  local out = {}
  for k, s in pairs(acc.sums) do
    local w = acc.weights[k]
    out[k] = w > 0 and s / w or nil
  end
  return out
end

function Trainer:_lrs(record)
  local names = sorted_names(self.optimizers)
  for _, name in ipairs(names) do
    local g = self.optimizers[name].param_groups and self.optimizers[name].param_groups[1]
    if g then record[#names == 1 and "lr" or ("lr_" .. name)] = g.lr end
  end
end

-- ---- checkpoints --------------------------------------------------------------------

function Trainer:_save(loader, epoch, acc)
  if not self.checkpoint_path then return end
  local rng_ranks
  if self.dist then acc, rng_ranks = distributed.before_save(self, acc) end -- every rank takes part
  if not self.is_main then return end
  local mid = loader.state_dict and loader:state_dict().meta.position > 0
  checkpoint.save(self.checkpoint_path, {
    models = self.models, optimizers = self.optimizers, schedulers = self.schedulers,
    loader = loader.state_dict and loader or nil, epoch = epoch, step = self.step,
    extra = { history = self.history, partial = mid and acc or nil, early = self._early,
              world_size = self.world_size or 1, rng_ranks = rng_ranks },
  })
end

-- Loads the checkpoint when resuming; returns the epoch to run next and
-- the sums of an interrupted epoch (or nil), or nil when not resuming.
function Trainer:_restore(loader)
  if not (self.resume and self.checkpoint_path and checkpoint.exists(self.checkpoint_path)) then return nil end
  local info = checkpoint.load(self.checkpoint_path, {
    models = self.models, optimizers = self.optimizers, schedulers = self.schedulers,
    loader = loader.load_state_dict and loader or nil,
  })
  self.step = info.step
  self.history = info.extra.history or {}
  self._early = info.extra.early
  local mid = loader.resuming and loader:resuming()
  distributed.check_resume(info, 1, mid)
  if self.show then
    io.stderr:write(string.format("resuming from %s (epoch %d, step %d)%s\n", self.checkpoint_path, info.epoch,
      info.step, mid and " mid-epoch" or ""))
  end
  if mid then return info.epoch, info.extra.partial end
  return info.epoch + 1, nil
end

-- Early stop: true when the metric has not improved for `patience` epochs.
function Trainer:_should_stop(record)
  local es = self.early_stop
  if not es then return false end
  local v = record[es.metric]
  if type(v) ~= "number" then
    error(string.format("Trainer: early_stop.metric %s is not in the epoch's record", es.metric), 0)
  end
  local st = self._early or { bad = 0 }
  self._early = st
  local delta = es.min_delta or 0
  local better = st.best == nil or ((es.mode or "min") == "max" and v > st.best + delta)
    or ((es.mode or "min") == "min" and v < st.best - delta)
  if better then st.best, st.bad = v, 0 else st.bad = st.bad + 1 end
  record.best = st.best
  return st.bad >= (es.patience or 3)
end

-- ---- the loop -------------------------------------------------------------------------

--- Trains: runs the epochs (or resumes them) and returns the history.
-- @tparam DataLoader loader a DataLoader, or any object with #loader and batches()
-- @func step called as step(batch, ctx); returns a table of metrics (see the class)
-- @treturn {table,...} one record per epoch
function Trainer:run(loader, step)
  if type(loader) ~= "table" or type(loader.batches) ~= "function" then
    error("Trainer:run: expected a DataLoader (batches()), got " .. type(loader), 2)
  end
  if not is_callable(step) then error("Trainer:run: expected a step function(batch, ctx), got " .. type(step), 2) end
  local epoch, partial
  if self.dist then
    distributed.shard(self, loader)
    epoch, partial = distributed.restore(self, loader)
    if epoch == nil then distributed.start(self) end
  else
    epoch, partial = self:_restore(loader)
  end
  local resumed = epoch ~= nil
  epoch = epoch or 1
  local log, own_log = self.log, false
  if not log and self.out and self.is_main then
    log, own_log = MetricsLog(self.out .. "/metrics.jsonl", { append = resumed }), true
  end
  local ctx = setmetatable({ trainer = self }, Context)
  local per_batch = self.scheduler_step == "batch"
  local sched_names = sorted_names(self.schedulers)
  local stop = false
  while epoch <= self.epochs and not stop do
    if self.max_steps and self.step >= self.max_steps then break end
    self.epoch, ctx.epoch = epoch, epoch
    for _, name in ipairs(sorted_names(self.models)) do self.models[name]:train() end
    if loader.set_epoch and not (loader.resuming and loader:resuming()) then loader:set_epoch(epoch) end
    local acc = partial or new_sums()
    partial = nil
    local total = #loader
    local progress = self.show and Progress {
      total = self.max_steps and math.min(total, self.max_steps - self.step + acc.steps) or total,
      desc = self.epochs == math.maxinteger and self.desc or string.format("%s %d/%d", self.desc, epoch, self.epochs),
      unit = self.unit,
    }
    if progress then progress.done = acc.steps end
    local t0 = mg.clock()
    local b = acc.steps
    for batch in loader:batches() do
      self.step, b = self.step + 1, b + 1
      ctx.step, ctx.batch = self.step, b
      local out = step(batch, ctx)
      if per_batch then for _, name in ipairs(sched_names) do self.schedulers[name]:step() end end
      accumulate(acc, out)
      if progress then progress:update(1, out and out.n and value_of(out.n, "n") or 0, means(acc)) end
      if self.checkpoint_every and self.step % self.checkpoint_every == 0 then
        acc.seconds = acc.seconds + (mg.clock() - t0); t0 = mg.clock()
        self:_save(loader, epoch, acc)
      end
      if self.max_steps and self.step >= self.max_steps then stop = true; break end
    end
    if not per_batch then for _, name in ipairs(sched_names) do self.schedulers[name]:step() end end
    local secs = acc.seconds + (mg.clock() - t0)
    if self.dist then
      acc = distributed.reduce(self, acc) -- the whole job's epoch
      distributed.sync_statistics(self)
    end
    local record = means(acc)
    for k, v in pairs(self.tags) do record[k] = v end
    record.epoch, record.step = epoch, self.step
    self:_lrs(record)
    record.epoch_time = secs
    if acc.items > 0 and secs > 0 then record.items_per_s = acc.items / secs end
    local shown = means(acc)
    if self.evaluate then
      for k, v in pairs(self.evaluate(self, epoch) or {}) do record[k], shown[k] = v, v end
    end
    if self.dist then record = distributed.share_record(self, record) end
    if progress then progress:close(shown) end
    if self:_should_stop(record) then stop = true end
    if log then log:write(record) end
    self.history[#self.history + 1] = record
    self:_save(loader, epoch, nil)
    if self.on_epoch then
      local halt = self.on_epoch(record, self) == false
      if self.dist then halt = distributed.any(self, halt) end
      if halt then stop = true end
    end
    epoch = epoch + 1
  end
  if self.dist then distributed.finish(self) end
  if own_log then log:close() end
  return self.history
end

return Trainer
