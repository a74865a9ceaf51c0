-- optim.AdamW(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8,
--   weight_decay = 1e-2, amsgrad = false, maximize = false})
-- Adam with decoupled weight decay (PyTorch's AdamW): the parameter is
-- first scaled by (1 - lr * weight_decay), and the gradient is left alone.
local class = require "moongrad.class"
local Optimizer = require "moongrad.optim.optimizer"
local Adam = require "moongrad.optim.adam"

local AdamW = class("optim.AdamW", Adam)
AdamW.name = "AdamW"
AdamW.decoupled = true
AdamW.class_defaults = {
  lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2, amsgrad = false, maximize = false,
}

function AdamW:init(params, opts)
  Optimizer.blame(3, self.setup, self, params, opts)
end

return AdamW
