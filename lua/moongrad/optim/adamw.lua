--- optim.AdamW: Adam with decoupled weight decay.
-- @module moongrad.optim
local class = require "moongrad.class"
local Optimizer = require "moongrad.optim.optimizer"
local Adam = require "moongrad.optim.adam"

--- Adam with decoupled weight decay (PyTorch's AdamW): the parameter is
-- first scaled by (1 - lr * weight_decay), and the gradient is left alone.
-- @type AdamW
-- @usage local opt = mg.optim.AdamW(model:parameters(), {lr = 3e-4, weight_decay = 0.05})
local AdamW = class("optim.AdamW", Adam)
AdamW.name = "AdamW"
AdamW.decoupled = true
AdamW.class_defaults = {
  lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2, amsgrad = false, maximize = false,
}

--- optim.AdamW(params [, opts]): a new optimizer.
-- @tparam {Tensor,...}|table params a list of Tensors or of groups (see Optimizer)
-- @tparam[opt] table opts `{lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2,
--   amsgrad = false, maximize = false}`
function AdamW:init(params, opts)
  Optimizer.blame(3, self.setup, self, params, opts)
end

return AdamW
