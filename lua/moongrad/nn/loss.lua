--- Loss modules: thin wrappers that keep options and call the functional
-- form: nn.CrossEntropyLoss, nn.NLLLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
-- nn.MSELoss, nn.L1Loss, nn.KLDivLoss. `loss(input, target)` gives a
-- tensor.
-- @module moongrad.nn
local Module = require "moongrad.nn.module"
local F = require "moongrad.nn.functional"
local args = require "moongrad.nn.args"

local M = {}

local function loss_class(name, fname, known)
  local cls = Module:extend("nn." .. name)
  M[name] = cls
  --- nn.NAME([opts]): a new loss module keeping opts for every call.
  -- @local
  -- @tparam[opt] table opts the options of the functional form
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

--- nn.CrossEntropyLoss([opts]): `F.cross_entropy` as a module: logits
-- [N, C] and int64 targets [N] of 1-based classes.
-- @type CrossEntropyLoss

--- A new loss.
-- @function CrossEntropyLoss:init
-- @tparam[opt] table opts `{reduction = "mean", label_smoothing = 0, ignore_index = nil}`
-- @usage local criterion = nn.CrossEntropyLoss()
-- local loss = criterion(model(x), y)

--- nn.NLLLoss([opts]): `F.nll_loss` as a module.
-- @type NLLLoss

--- A new loss.
-- @function NLLLoss:init
-- @tparam[opt] table opts `{reduction = "mean"}`

--- nn.BCELoss([opts]): `F.binary_cross_entropy` as a module.
-- @type BCELoss

--- A new loss.
-- @function BCELoss:init
-- @tparam[opt] table opts `{reduction = "mean"}`

--- nn.BCEWithLogitsLoss([opts]): `F.binary_cross_entropy_with_logits` as a module.
-- @type BCEWithLogitsLoss

--- A new loss.
-- @function BCEWithLogitsLoss:init
-- @tparam[opt] table opts `{reduction = "mean"}`

--- nn.MSELoss([opts]): `F.mse_loss` as a module.
-- @type MSELoss

--- A new loss.
-- @function MSELoss:init
-- @tparam[opt] table opts `{reduction = "mean"}`

--- nn.L1Loss([opts]): `F.l1_loss` as a module.
-- @type L1Loss

--- A new loss.
-- @function L1Loss:init
-- @tparam[opt] table opts `{reduction = "mean"}`

--- nn.KLDivLoss([opts]): `F.kl_div` as a module; input log-probabilities.
-- @type KLDivLoss

--- A new loss.
-- @function KLDivLoss:init
-- @tparam[opt] table opts `{reduction = "batchmean", log_target = false}`
loss_class("CrossEntropyLoss", "cross_entropy", { reduction = "mean", label_smoothing = 0, ignore_index = 0 })
loss_class("NLLLoss", "nll_loss", { reduction = "mean" })
loss_class("BCELoss", "binary_cross_entropy", { reduction = "mean" })
loss_class("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", { reduction = "mean" })
loss_class("MSELoss", "mse_loss", { reduction = "mean" })
loss_class("L1Loss", "l1_loss", { reduction = "mean" })
loss_class("KLDivLoss", "kl_div", { reduction = "batchmean", log_target = false })

return M
