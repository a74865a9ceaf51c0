-- Loss modules: thin wrappers that keep options and call the functional
-- form: nn.CrossEntropyLoss, nn.NLLLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
-- nn.MSELoss, nn.L1Loss, nn.KLDivLoss. loss(input, target) -> tensor.
local Module = require "moongrad.nn.module"
local F = require "moongrad.nn.functional"
local args = require "moongrad.nn.args"

local M = {}

local function loss_class(name, fname, known)
  local cls = Module:extend("nn." .. name)
  M[name] = cls
  function cls:init(opts)
    Module.init(self)
    opts = args.options("nn." .. name, opts, known)
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    self.options = copy
  end
  function cls:forward(input, target)
    return F[fname](input, target, self.options)
  end
  function cls:extra_repr()
    local keys = {}
    for k in pairs(self.options) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. " = " .. tostring(self.options[k]) end
    return table.concat(parts, ", ")
  end
end

-- nn.CrossEntropyLoss({reduction = "mean", label_smoothing = 0, ignore_index}):
-- logits [N, C], targets int64 [N] (1-based classes).
loss_class("CrossEntropyLoss", "cross_entropy", { reduction = "mean", label_smoothing = 0, ignore_index = 0 })
loss_class("NLLLoss", "nll_loss", { reduction = "mean" })
loss_class("BCELoss", "binary_cross_entropy", { reduction = "mean" })
loss_class("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", { reduction = "mean" })
loss_class("MSELoss", "mse_loss", { reduction = "mean" })
loss_class("L1Loss", "l1_loss", { reduction = "mean" })
-- nn.KLDivLoss({reduction = "batchmean", log_target = false}): input log-probabilities.
loss_class("KLDivLoss", "kl_div", { reduction = "batchmean", log_target = false })

return M
