-- fit and evaluate: the common classifier loop, with progress, metrics
-- (JSON lines), checkpoints and resume. Loops that are not a classifier's
-- (GANs, attacks) use the pieces directly: train.Progress,
-- train.MetricsLog, train.checkpoint.
local mg = require "moongrad"
local Progress = require "moongrad.train.progress"
local MetricsLog = require "moongrad.train.metrics"
local checkpoint = require "moongrad.train.checkpoint"

local M = {}

local function default_loss(logits, labels) return mg.cross_entropy(logits, labels) end

-- Number of correct argmax predictions when the output looks like class scores.
local function correct(logits, labels)
  if not labels or labels.dtype ~= "int64" or logits:dim() ~= 2 or labels:dim() ~= 1 then return nil end
  return logits:argmax(2):eq(labels):sum():item()
end

--- evaluate(model, loader, {loss_fn}) -> {loss = mean per example,
-- accuracy = fraction (classifiers), n = examples}. Runs in eval mode
-- without recording a graph; restores the model's mode.
function M.evaluate(model, loader, opts)
  opts = opts or {}
  local loss_fn = opts.loss_fn or default_loss
  local was_training = model.training
  model:eval()
  local total, hits, n, counted = 0, 0, 0, true
  local ok, err = pcall(mg.no_grad, function()
    for x, y in loader:iter() do
      local logits = model(x)
      local b = #x
      total = total + loss_fn(logits, y):item() * b
      local c = correct(logits, y)
      if c then hits = hits + c else counted = false end
      n = n + b
    end
  end)
  if was_training then model:train() end
  if not ok then error(err, 0) end
  return { loss = n > 0 and total / n or 0 / 0, accuracy = counted and n > 0 and hits / n or nil, n = n }
end

local function lr_of(optimizer)
  local g = optimizer.param_groups and optimizer.param_groups[1]
  return g and g.lr
end

--- fit(model, loader, opts) -> history (one record per epoch)
-- opts: optimizer (required), loss_fn(logits, labels) (cross-entropy),
-- epochs (1), val_loader, scheduler (stepped once per epoch, or per batch
-- with scheduler_step = "batch"), out (folder: metrics.jsonl and, with
-- checkpoint = true, checkpoint.*), checkpoint (true or a path; written
-- at every epoch end and every `checkpoint_every` batches), resume (true:
-- continue from the checkpoint if it exists), progress (true), desc,
-- clip_grad_norm, on_epoch(record) (return false to stop early), log (a
-- MetricsLog to use instead of out/metrics.jsonl).
function M.fit(model, loader, opts)
  opts = opts or {}
  local opt = opts.optimizer
  if not opt then error("fit: opts.optimizer is required", 2) end
  local loss_fn = opts.loss_fn or default_loss
  local epochs = opts.epochs or 1
  local sched, per_batch = opts.scheduler, opts.scheduler_step == "batch"
  local ckpt = opts.checkpoint
  if ckpt == true then
    if not opts.out then error("fit: checkpoint = true needs opts.out", 2) end
    ckpt = opts.out .. "/checkpoint"
  end
  local log = opts.log
  if not log and opts.out then log = MetricsLog(opts.out .. "/metrics.jsonl") end
  local show = opts.progress ~= false

  local epoch, step, history = 1, 0, {}
  local resumed_mid_epoch = false
  if opts.resume and ckpt and checkpoint.exists(ckpt) then
    local info = checkpoint.load(ckpt, { model = model, optimizer = opt, scheduler = sched, loader = loader })
    step = info.step
    history = info.extra.history or {}

    resumed_mid_epoch = (loader._resume ~= nil)
    epoch = resumed_mid_epoch and info.epoch or info.epoch + 1
    if show then
      io.stderr:write(string.format("resuming from %s (epoch %d, step %d)%s\n", ckpt, info.epoch, info.step,
        resumed_mid_epoch and " mid-epoch" or ""))
    end

  end

  local function save(epoch_done)
    if ckpt then
      checkpoint.save(ckpt, { model = model, optimizer = opt, scheduler = sched, loader = loader,
        epoch = epoch_done, step = step, extra = { history = history } })
    end
  end

  while epoch <= epochs do
    model:train()
    local progress = show and Progress({ total = #loader, desc = string.format("epoch %d/%d", epoch, epochs), unit = "img" })
    local total, hits, n, counted = 0, 0, 0, true
    local t0 = mg.clock()
    for x, y in loader:iter() do
      local logits = model(x)
      local loss = loss_fn(logits, y)
      opt:zero_grad()
      loss:backward()
      if opts.clip_grad_norm then mg.optim.clip_grad_norm(model:parameters(), opts.clip_grad_norm) end
      opt:step()
      if sched and per_batch then sched:step() end
      step = step + 1
      local b = #x
      local lv = loss:item()
      total, n = total + lv * b, n + b
      local c = mg.no_grad(correct, logits:detach(), y)
      if c then hits = hits + c else counted = false end
      if progress then
        progress:update(1, b, { loss = total / n, acc = counted and hits / n or nil })
      end
      if ckpt and opts.checkpoint_every and step % opts.checkpoint_every == 0 then save(epoch) end
    end
    if sched and not per_batch then sched:step() end
    local secs = mg.clock() - t0
    local record = {
      epoch = epoch, step = step, train_loss = n > 0 and total / n or nil,
      train_acc = counted and n > 0 and hits / n or nil, lr = lr_of(opt),
      epoch_time = secs, items_per_s = secs > 0 and n / secs or nil,
    }
    if opts.val_loader then
      local v = M.evaluate(model, opts.val_loader, { loss_fn = loss_fn })
      record.val_loss, record.val_acc = v.loss, v.accuracy
    end
    if progress then progress:close({ loss = record.train_loss, acc = record.train_acc, val_acc = record.val_acc }) end
    if log then log:write(record) end
    history[#history + 1] = record
    save(epoch)
    if opts.on_epoch and opts.on_epoch(record) == false then break end
    epoch = epoch + 1
  end
  if log and not opts.log then log:close() end
  return history
end

return M
