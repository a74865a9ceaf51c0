--- fit and evaluate: the classifier's step on the engine, and its
-- evaluation.
-- @module moongrad.train
-- @alias M
local mg = require "moongrad"
local Trainer = require "moongrad.train.trainer"

local M = {}

local function default_loss(logits, labels) return mg.cross_entropy(logits, labels) end

-- Number of correct argmax predictions when the output looks like class scores.
local function correct(logits, labels)
  if not labels or labels.dtype ~= "int64" or logits:dim() ~= 2 or labels:dim() ~= 1 then return nil end
  return logits:argmax(2):eq(labels):sum():item()
end

--- Evaluates a model, in eval mode and without recording a graph;
-- restores every module's mode.
-- @tparam Module model
-- @tparam DataLoader loader
-- @tparam[opt] table opts `{loss_fn = cross-entropy}`
-- @treturn table `{loss = mean per example, accuracy = fraction (classifiers), n = examples}`
-- @usage local r = mg.train.evaluate(model, test_loader)
-- print(r.accuracy)
function M.evaluate(model, loader, opts)
  opts = mg.check_options("evaluate", opts, { "loss_fn" })
  local loss_fn = opts.loss_fn or default_loss
  local total, hits, n, counted = 0, 0, 0, true
  mg.nn.utils.inference(model, function()
    for x, y in loader:iter() do
      local logits = model(x)
      local b = #x
      total = total + loss_fn(logits, y):item() * b
      local c = correct(logits, y)
      if c then hits = hits + c else counted = false end
      n = n + b
    end
  end)
  return { loss = n > 0 and total / n or 0 / 0, accuracy = counted and n > 0 and hits / n or nil, n = n }
end

local FIT_OPTIONS = {
  "optimizer", "loss_fn", "epochs", "val_loader", "scheduler", "scheduler_step", "out", "checkpoint",
  "checkpoint_every", "resume", "progress", "desc", "clip_grad_norm", "on_epoch", "log", "early_stop",
  "grad_hook", "rank", "tags",
}

--- The engine with a classifier's step. Records hold train_loss, train_acc
-- (when the outputs are class scores), lr, ... (val_loss and val_acc with
-- val_loader).
-- @tparam Module model
-- @tparam DataLoader loader
-- @tparam table opts `optimizer` (required), `loss_fn(logits, labels)` (cross-entropy),
--   `epochs = 1`, `val_loader`, `clip_grad_norm`, and the Trainer's scheduler, scheduler_step,
--   out, log, tags, checkpoint, checkpoint_every, resume, progress, desc, on_epoch,
--   early_stop, grad_hook, rank
-- @treturn {table,...} the history, one record per epoch
-- @usage local history = mg.train.fit(model, loader, {optimizer = opt, epochs = 5, val_loader = test})
function M.fit(model, loader, opts)
  opts = mg.check_options("fit", opts, FIT_OPTIONS)
  local opt = opts.optimizer
  if not opt then error("fit: opts.optimizer is required", 2) end
  local loss_fn = opts.loss_fn or default_loss
  local val = opts.val_loader
  local trainer = Trainer {
    model = model, optimizer = opt, scheduler = opts.scheduler, scheduler_step = opts.scheduler_step,
    epochs = opts.epochs or 1, out = opts.out, log = opts.log, tags = opts.tags, checkpoint = opts.checkpoint,
    checkpoint_every = opts.checkpoint_every, resume = opts.resume, progress = opts.progress,
    desc = opts.desc or "epoch", unit = "img", on_epoch = opts.on_epoch, early_stop = opts.early_stop,
    grad_hook = opts.grad_hook, rank = opts.rank,
    evaluate = val and function()
      local v = M.evaluate(model, val, { loss_fn = loss_fn })
      return { val_loss = v.loss, val_acc = v.accuracy }
    end,
  }
  local clip = opts.clip_grad_norm and { clip_grad_norm = opts.clip_grad_norm } or nil
  local fields
  return trainer:run(loader, function(batch, ctx)
    fields = fields or loader.fields or { "images", "labels" }
    local x, y = batch[fields[1]], batch[fields[2]]
    local logits = model(x)
    local loss = loss_fn(logits, y)
    ctx:optimize(loss, opt, clip)
    local b = x:size(1)
    local c = mg.no_grad(correct, logits:detach(), y)
    return { train_loss = loss, train_acc = c and c / b, n = b }
  end)
end

return M
