-- mg.train: training helpers. fit/evaluate for the common classifier loop,
-- and the pieces other loops reuse: Progress (a progress bar on a
-- terminal, plain lines otherwise), MetricsLog (JSON lines) and checkpoint
-- (save/load with bit-exact resume).
local loop = require "moongrad.train.loop"

return {
  fit = loop.fit,
  evaluate = loop.evaluate,
  Progress = require "moongrad.train.progress",
  MetricsLog = require "moongrad.train.metrics",
  checkpoint = require "moongrad.train.checkpoint",
}
