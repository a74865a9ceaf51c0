--- mg.train: the training engine (Trainer: epochs, progress, metrics,
-- schedulers, checkpoints, evaluation, early stop around a step function),
-- fit/evaluate (the engine with a classifier's step), and its pieces:
-- Progress (a progress bar on a terminal, plain lines otherwise),
-- MetricsLog (JSON lines) and checkpoint (save/load with bit-exact resume).
-- `optimize` and `step_with` are Trainer.optimize and Trainer.step_with.
-- @module moongrad.train
-- @usage local history = mg.train.fit(model, loader, {optimizer = opt, epochs = 5})
local loop = require "moongrad.train.loop"

return {
  Trainer = require "moongrad.train.trainer",
  optimize = require("moongrad.train.trainer").optimize,
  step_with = require("moongrad.train.trainer").step_with,
  fit = loop.fit,
  evaluate = loop.evaluate,
  Progress = require "moongrad.train.progress",
  MetricsLog = require "moongrad.train.metrics",
  checkpoint = require "moongrad.train.checkpoint",
}
