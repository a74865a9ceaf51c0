--- mg.optim.lr_scheduler: learning-rate schedules with PyTorch's formulas
-- (the chainable forms, so results match PyTorch to the last bit).
-- Every option table also takes last_epoch (default -1). Constructing a
-- scheduler sets the lr of epoch 0; `sched:step()` advances one epoch (call
-- it after `opt:step()`); `sched:get_last_lr()` lists the lr of each group.
-- `state_dict()` is plain data (mg.json.encode writes it); load_state_dict
-- restores it. LambdaLR's functions are not saved.
-- @module moongrad.optim.lr_scheduler
-- @alias M
-- @usage local sched = mg.optim.lr_scheduler.CosineAnnealingLR(opt, {T_max = epochs})
-- for epoch = 1, epochs do
--   train_one_epoch()
--   sched:step()
-- end
local class = require "moongrad.class"

local M = {}

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

-- Runs fn and re-raises its error at the user's line (level above caller).
local function blame(level, fn, ...)
  local results = table.pack(pcall(fn, ...))
  if not results[1] then error(results[2], level + 1) end
  return table.unpack(results, 2, results.n)
end

local function check_opts(name, opts, known)
  local allowed = { last_epoch = true }
  for k in pairs(known) do allowed[k] = true end
  return require("moongrad.options").check(name, opts, allowed, 0)
end

local function number_opt(name, opts, key, default, check, what)
  local v = opts[key]
  if v == nil then v = default end
  if v == nil then fail("%s: option '%s' is required", name, key) end
  if type(v) ~= "number" then fail("%s: option '%s' must be a number, got %s", name, key, type(v)) end
  if check and not check(v) then fail("%s: %s must be %s, got %s", name, key, what, tostring(v)) end
  return v
end

local function integer_opt(name, opts, key, default, min)
  local v = number_opt(name, opts, key, default)
  local i = math.tointeger(v)
  if not i or i < min then fail("%s: %s must be an integer >= %d, got %s", name, key, min, tostring(v)) end
  return i
end

-- -------------------------------------------------------------------------
-- the base class

--- The base of the schedules: attaching to an optimizer, stepping, and the
-- state. A schedule subclass sets `name`, calls `attach` from init and
-- defines `get_lr` (and `closed_form` for jumps).
-- @type LRScheduler
local LRScheduler = class("optim.lr_scheduler.LRScheduler")
M.LRScheduler = LRScheduler

-- Fields of a scheduler that state_dict leaves out.
LRScheduler.unsaved = { optimizer = true }

--- Attaches the schedule to an optimizer and sets the lr of epoch
-- last_epoch + 1 (each group's initial_lr is recorded on a fresh start).
-- @tparam Optimizer opt
-- @int[opt=-1] last_epoch
function LRScheduler:attach(opt, last_epoch)
  local name = self.name
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    fail("%s: the first argument must be an optimizer, got %s", name, type(opt))
  end
  last_epoch = last_epoch or -1
  if math.type(last_epoch) ~= "integer" or last_epoch < -1 then
    fail("%s: last_epoch must be an integer >= -1, got %s", name, tostring(last_epoch))
  end
  if last_epoch == -1 then
    for _, g in ipairs(opt.param_groups) do
      if g.initial_lr == nil then g.initial_lr = g.lr end
    end
  else
    for i, g in ipairs(opt.param_groups) do
      if g.initial_lr == nil then
        fail("%s: param_groups[%d] has no initial_lr, needed to resume at last_epoch %d", name, i, last_epoch)
      end
    end
  end
  self.optimizer = opt
  self.base_lrs = {}
  for i, g in ipairs(opt.param_groups) do self.base_lrs[i] = g.initial_lr end
  self.last_epoch = last_epoch
  self:_initial_step()
end

function LRScheduler:_initial_step()
  self._step_count = 0
  self:_step()
end

function LRScheduler:_step(epoch)
  self._step_count = self._step_count + 1
  local values
  if epoch == nil then
    self.last_epoch = self.last_epoch + 1
    values = self:get_lr()
  else
    self.last_epoch = epoch
    values = self.closed_form and self:closed_form() or self:get_lr()
  end
  local groups = self.optimizer.param_groups
  for i, g in ipairs(groups) do g.lr = values[i] end
  self._last_lr = {}
  for i, g in ipairs(groups) do self._last_lr[i] = g.lr end
end

--- Advances one epoch and sets each group's lr.
-- @int[opt] epoch jump to this epoch with the closed form, as SequentialLR does at its milestones
function LRScheduler:step(epoch)
  if epoch ~= nil and math.type(epoch) ~= "integer" then
    error(self.name .. ": step(epoch) needs an integer epoch, got " .. tostring(epoch), 2)
  end
  blame(2, self._step, self, epoch)
end

--- The lr of each group after the last step.
-- @treturn {number,...} a new list
function LRScheduler:get_last_lr()
  local out = {}
  for i, v in ipairs(self._last_lr) do out[i] = v end
  return out
end

--- The group lrs as they are now.
-- @treturn {number,...} a new list
function LRScheduler:group_lrs()
  local out = {}
  for i, g in ipairs(self.optimizer.param_groups) do out[i] = g.lr end
  return out
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

--- The schedule's state as plain data: every field except the optimizer
-- (and functions).
-- @treturn table
function LRScheduler:state_dict()
  local sd = { scheduler = self.name }
  for k, v in pairs(self) do
    if not self.unsaved[k] and type(v) ~= "function" then sd[k] = copy(v) end
  end
  return sd
end

--- Restores what state_dict returned.
-- @tparam table sd
function LRScheduler:load_state_dict(sd)
  if type(sd) ~= "table" then error(self.name .. ": load_state_dict expects a table, got " .. type(sd), 2) end
  if sd.scheduler ~= nil and sd.scheduler ~= self.name then
    error(string.format("%s: load_state_dict: the state is from %s", self.name, tostring(sd.scheduler)), 2)
  end
  for k, v in pairs(sd) do
    if k ~= "scheduler" and not self.unsaved[k] then self[k] = copy(v) end
  end
end

function LRScheduler:__tostring()
  return string.format("%s(last_epoch = %d, lr = {%s})", self.name, self.last_epoch,
    table.concat(self._last_lr or {}, ", "))
end

-- -------------------------------------------------------------------------
-- schedules

-- A new list: each of lrs times factor.
local function scaled(lrs, factor)
  local out = {}
  for i, lr in ipairs(lrs) do out[i] = lr * factor end
  return out
end

--- StepLR(opt, {step_size, gamma = 0.1}): lr *= gamma every step_size epochs.
-- @type StepLR
-- @usage local sched = mg.optim.lr_scheduler.StepLR(opt, {step_size = 30})
local StepLR = class("optim.lr_scheduler.StepLR", LRScheduler)
StepLR.name = "StepLR"
M.StepLR = StepLR

--- A new schedule.
-- @tparam Optimizer opt
-- @tparam table opts `{step_size = (required), gamma = 0.1, last_epoch = -1}`
function StepLR:init(opt, opts)
  blame(3, function()
    opts = check_opts("StepLR", opts, { step_size = true, gamma = true })
    self.step_size = integer_opt("StepLR", opts, "step_size", nil, 1)
    self.gamma = number_opt("StepLR", opts, "gamma", 0.1)
    self:attach(opt, opts.last_epoch)
  end)
end

--- The lrs of the current epoch (the chainable form).
-- @treturn {number,...}
function StepLR:get_lr()
  local e = self.last_epoch
  local lrs = self:group_lrs()
  if e == 0 or e % self.step_size ~= 0 then return lrs end
  return scaled(lrs, self.gamma)
end

--- The lrs of the current epoch from the initial ones.
-- @treturn {number,...}
function StepLR:closed_form()
  return scaled(self.base_lrs, self.gamma ^ (self.last_epoch // self.step_size))
end

--- MultiStepLR(opt, {milestones, gamma = 0.1}): lr *= gamma at each
-- milestone epoch (a milestone given twice applies gamma twice).
-- @type MultiStepLR
local MultiStepLR = class("optim.lr_scheduler.MultiStepLR", LRScheduler)
MultiStepLR.name = "MultiStepLR"
M.MultiStepLR = MultiStepLR

--- A new schedule.
-- @tparam Optimizer opt
-- @tparam table opts `{milestones = {30, 80}, gamma = 0.1, last_epoch = -1}`
function MultiStepLR:init(opt, opts)
  blame(3, function()
    opts = check_opts("MultiStepLR", opts, { milestones = true, gamma = true })
    local ms = opts.milestones
    if type(ms) ~= "table" then fail("MultiStepLR: option 'milestones' must be a list of epochs") end
    self.milestones = {}
    for i, m in ipairs(ms) do
      if math.type(m) ~= "integer" then fail("MultiStepLR: milestone %d must be an integer, got %s", i, tostring(m)) end
      self.milestones[i] = m
    end
    table.sort(self.milestones)
    self.gamma = number_opt("MultiStepLR", opts, "gamma", 0.1)
    self:attach(opt, opts.last_epoch)
  end)
end

--- The lrs of the current epoch (the chainable form).
-- @treturn {number,...}
function MultiStepLR:get_lr()
  local count = 0
  for _, m in ipairs(self.milestones) do if m == self.last_epoch then count = count + 1 end end
  local lrs = self:group_lrs()
  if count == 0 then return lrs end
  return scaled(lrs, self.gamma ^ count)
end

--- The lrs of the current epoch from the initial ones.
-- @treturn {number,...}
function MultiStepLR:closed_form()
  local passed = 0
  for _, m in ipairs(self.milestones) do if m <= self.last_epoch then passed = passed + 1 end end
  return scaled(self.base_lrs, self.gamma ^ passed)
end

--- ExponentialLR(opt, {gamma}): lr *= gamma every epoch.
-- @type ExponentialLR
local ExponentialLR = class("optim.lr_scheduler.ExponentialLR", LRScheduler)
ExponentialLR.name = "ExponentialLR"
M.ExponentialLR = ExponentialLR

--- A new schedule.
-- @tparam Optimizer opt
-- @tparam table opts `{gamma = (required), last_epoch = -1}`
function ExponentialLR:init(opt, opts)
  blame(3, function()
    opts = check_opts("ExponentialLR", opts, { gamma = true })
    self.gamma = number_opt("ExponentialLR", opts, "gamma")
    self:attach(opt, opts.last_epoch)
  end)
end

--- The lrs of the current epoch (the chainable form).
-- @treturn {number,...}
function ExponentialLR:get_lr()
  local lrs = self:group_lrs()
  if self.last_epoch == 0 then return lrs end
  return scaled(lrs, self.gamma)
end

--- The lrs of the current epoch from the initial ones.
-- @treturn {number,...}
function ExponentialLR:closed_form()
  return scaled(self.base_lrs, self.gamma ^ self.last_epoch)
end

--- CosineAnnealingLR(opt, {T_max, eta_min = 0}): the lr follows half a
-- cosine from the initial lr down to eta_min over T_max epochs (and back up
-- over the next T_max, as PyTorch's does).
-- @type CosineAnnealingLR
local CosineAnnealingLR = class("optim.lr_scheduler.CosineAnnealingLR", LRScheduler)
CosineAnnealingLR.name = "CosineAnnealingLR"
M.CosineAnnealingLR = CosineAnnealingLR

--- A new schedule.
-- @tparam Optimizer opt
-- @tparam table opts `{T_max = (required), eta_min = 0, last_epoch = -1}`
function CosineAnnealingLR:init(opt, opts)
  blame(3, function()
    opts = check_opts("CosineAnnealingLR", opts, { T_max = true, eta_min = true })
    self.T_max = integer_opt("CosineAnnealingLR", opts, "T_max", nil, 1)
    self.eta_min = number_opt("CosineAnnealingLR", opts, "eta_min", 0)
    self:attach(opt, opts.last_epoch)
  end)
end

--- The lrs of the current epoch (the chainable form).
-- @treturn {number,...}
function CosineAnnealingLR:get_lr()
  local e, T, eta = self.last_epoch, self.T_max, self.eta_min
  local lrs = self:group_lrs()
  if e == 0 then return lrs end
  local pi, cos = math.pi, math.cos
  if self._step_count == 1 and e > 0 then
    for i, base in ipairs(self.base_lrs) do lrs[i] = eta + (base - eta) * (1 + cos(e * pi / T)) / 2 end
  elseif (e - 1 - T) % (2 * T) == 0 then
    for i, base in ipairs(self.base_lrs) do lrs[i] = lrs[i] + (base - eta) * (1 - cos(pi / T)) / 2 end
  else
    for i, lr in ipairs(lrs) do
      lrs[i] = (1 + cos(pi * e / T)) / (1 + cos(pi * (e - 1) / T)) * (lr - eta) + eta
    end
  end
  return lrs
end

--- The lrs of the current epoch from the initial ones.
-- @treturn {number,...}
function CosineAnnealingLR:closed_form()
  local e, T, eta = self.last_epoch, self.T_max, self.eta_min
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = eta + (base - eta) * (1 + math.cos(math.pi * e / T)) / 2 end
  return out
end

--- LinearLR(opt, {start_factor = 1/3, end_factor = 1, total_iters = 5}):
-- the lr factor goes linearly from start_factor to end_factor over
-- total_iters epochs, then stays (also `LinearWarmup`).
-- @type LinearLR
local LinearLR = class("optim.lr_scheduler.LinearLR", LRScheduler)
LinearLR.name = "LinearLR"
M.LinearLR = LinearLR
M.LinearWarmup = LinearLR

--- A new schedule.
-- @tparam Optimizer opt
-- @tparam[opt] table opts `{start_factor = 1/3, end_factor = 1, total_iters = 5, last_epoch = -1}`
function LinearLR:init(opt, opts)
  blame(3, function()
    opts = check_opts("LinearLR", opts, { start_factor = true, end_factor = true, total_iters = true })
    local in01 = function(v) return v >= 0 and v <= 1 end
    self.start_factor = number_opt("LinearLR", opts, "start_factor", 1 / 3, function(v) return v > 0 and v <= 1 end,
      "in (0, 1]")
    self.end_factor = number_opt("LinearLR", opts, "end_factor", 1.0, in01, "in [0, 1]")
    self.total_iters = integer_opt("LinearLR", opts, "total_iters", 5, 1)
    self:attach(opt, opts.last_epoch)
  end)
end

--- The lrs of the current epoch (the chainable form).
-- @treturn {number,...}
function LinearLR:get_lr()
  local e, s, f, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
  local lrs = self:group_lrs()
  if e == 0 then return scaled(lrs, s) end
  if e > n then return lrs end
  return scaled(lrs, 1.0 + (f - s) / (n * s + (e - 1) * (f - s)))
end

--- The lrs of the current epoch from the initial ones.
-- @treturn {number,...}
function LinearLR:closed_form()
  local e, s, f, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
  return scaled(self.base_lrs, s + (f - s) * math.min(n, e) / n)
end

--- LambdaLR(opt, fn): lr = initial lr * fn(epoch), one function for all
-- groups or one per group.
-- @type LambdaLR
-- @usage local sched = mg.optim.lr_scheduler.LambdaLR(opt, function(e) return 0.95 ^ e end)
local LambdaLR = class("optim.lr_scheduler.LambdaLR", LRScheduler)
LambdaLR.name = "LambdaLR"
LambdaLR.unsaved = { optimizer = true, lr_lambdas = true }
M.LambdaLR = LambdaLR

--- A new schedule.
-- @tparam Optimizer opt
-- @tparam function|table opts fn, or `{lr_lambda = fn or {fn, ...}, last_epoch = -1}`
function LambdaLR:init(opt, opts)
  blame(3, function()
    if type(opts) == "function" then opts = { lr_lambda = opts } end
    opts = check_opts("LambdaLR", opts, { lr_lambda = true })
    local fns = opts.lr_lambda
    if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
      fail("LambdaLR: the first argument must be an optimizer, got %s", type(opt))
    end
    local n = #opt.param_groups
    self.lr_lambdas = {}
    if type(fns) == "function" then
      for i = 1, n do self.lr_lambdas[i] = fns end
    elseif type(fns) == "table" and #fns == n then
      for i = 1, n do
        if type(fns[i]) ~= "function" then fail("LambdaLR: lr_lambda[%d] must be a function", i) end
        self.lr_lambdas[i] = fns[i]
      end
    else
      fail("LambdaLR: lr_lambda must be a function or a list of %d functions (one per group)", n)
    end
    self:attach(opt, opts.last_epoch)
  end)
end

--- The lrs of the current epoch.
-- @treturn {number,...}
function LambdaLR:get_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    local f = self.lr_lambdas[i](self.last_epoch)
    if type(f) ~= "number" then fail("LambdaLR: lr_lambda returned %s, expected a number", type(f)) end
    out[i] = base * f
  end
  return out
end

--- SequentialLR(opt, {schedulers, milestones}): s1 runs until epoch m1, then
-- s2 (restarted at its epoch 0), and so on.
-- @type SequentialLR
local SequentialLR = class("optim.lr_scheduler.SequentialLR", LRScheduler)
SequentialLR.name = "SequentialLR"
SequentialLR.unsaved = { optimizer = true, _schedulers = true }
M.SequentialLR = SequentialLR

--- A new schedule.
-- @tparam Optimizer opt
-- @tparam table opts `{schedulers = {s1, s2, ...}, milestones = {m1, ...}, last_epoch = -1}`
function SequentialLR:init(opt, opts)
  blame(3, function()
    opts = check_opts("SequentialLR", opts, { schedulers = true, milestones = true })
    local ss, ms = opts.schedulers, opts.milestones
    if type(ss) ~= "table" or #ss == 0 then fail("SequentialLR: option 'schedulers' must be a non-empty list") end
    if type(ms) ~= "table" then fail("SequentialLR: option 'milestones' must be a list of epochs") end
    for i, s in ipairs(ss) do
      if type(s) ~= "table" or s.optimizer ~= opt then
        fail("SequentialLR: scheduler %d does not belong to the optimizer given", i)
      end
    end
    if #ms ~= #ss - 1 then
      fail("SequentialLR: expected %d milestones for %d schedulers, got %d", #ss - 1, #ss, #ms)
    end
    for i, m in ipairs(ms) do
      if math.type(m) ~= "integer" or (i > 1 and m <= ms[i - 1]) then
        fail("SequentialLR: milestones must be increasing integers, got %s at %d", tostring(m), i)
      end
    end
    self._schedulers = {}
    for i, s in ipairs(ss) do self._schedulers[i] = s end
    self._milestones = {}
    for i, m in ipairs(ms) do self._milestones[i] = m end
    self.last_epoch = (opts.last_epoch or -1) + 1
    self.optimizer = opt
    for _, g in ipairs(opt.param_groups) do g.lr = g.initial_lr end
    for _, s in ipairs(self._schedulers) do s.last_epoch = s.last_epoch - 1 end
    self._schedulers[1]:_initial_step()
    self._last_lr = self._schedulers[1]:get_last_lr()
  end)
end

function SequentialLR:_step()
  self.last_epoch = self.last_epoch + 1
  local idx = 0 -- milestones passed (bisect_right)
  for _, m in ipairs(self._milestones) do if m <= self.last_epoch then idx = idx + 1 end end
  local s = self._schedulers[idx + 1]
  if idx > 0 and self._milestones[idx] == self.last_epoch then s:_step(0) else s:_step() end
  self._last_lr = s:get_last_lr()
end

function SequentialLR:step()
  blame(2, self._step, self)
end

function SequentialLR:state_dict()
  local sd = LRScheduler.state_dict(self)
  sd._schedulers = {}
  for i, s in ipairs(self._schedulers) do sd._schedulers[i] = s:state_dict() end
  return sd
end

function SequentialLR:load_state_dict(sd)
  if type(sd) ~= "table" or type(sd._schedulers) ~= "table" or #sd._schedulers ~= #self._schedulers then
    error("SequentialLR: load_state_dict expects the state of " .. #self._schedulers .. " schedulers", 2)
  end
  LRScheduler.load_state_dict(self, sd)
  for i, s in ipairs(self._schedulers) do s:load_state_dict(sd._schedulers[i]) end
end

--- A linear warm-up from start_factor * lr to lr over warmup_iters epochs,
-- then a cosine decay to eta_min that ends at total_iters.
-- @tparam Optimizer opt
-- @tparam table opts `{warmup_iters = (required), total_iters = (required), start_factor = 0.01, eta_min = 0}`
-- @treturn SequentialLR
-- @usage local sched = mg.optim.lr_scheduler.warmup_cosine(opt, {warmup_iters = 5, total_iters = 100})
function M.warmup_cosine(opt, opts)
  return blame(2, function()
    opts = check_opts("warmup_cosine", opts,
      { warmup_iters = true, total_iters = true, start_factor = true, eta_min = true })
    local warm = integer_opt("warmup_cosine", opts, "warmup_iters", nil, 1)
    local total = integer_opt("warmup_cosine", opts, "total_iters", nil, warm + 1)
    number_opt("warmup_cosine", opts, "start_factor", 0.01, function(v) return v > 0 and v <= 1 end, "in (0, 1]")
    number_opt("warmup_cosine", opts, "eta_min", 0)
    local s1 = LinearLR(opt, { start_factor = opts.start_factor or 0.01, end_factor = 1.0, total_iters = warm })
    local s2 = CosineAnnealingLR(opt, { T_max = total - warm, eta_min = opts.eta_min or 0 })
    return SequentialLR(opt, { schedulers = { s1, s2 }, milestones = { warm } })
  end)
end

return M
