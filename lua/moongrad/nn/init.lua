--- mg.nn: modules (layers, containers, losses), nn.functional (F), nn.init
-- (weight initialisation) and nn.utils (gradient clipping). A model is an
-- nn.Module: see Module for how to define one and how parameters are
-- registered and named.
-- @module moongrad.nn
-- @usage local nn = mg.nn
-- local model = nn.Sequential{
--   nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
--   nn.Linear(32 * 13 * 13, 10),
-- }
-- print(model)
local nn = {}

local Module = require "moongrad.nn.module"
nn.Module = Module
nn.Parameter = Module.Parameter

-- Copies the classes of a file's table into nn.
local function merge(t)
  for k, v in pairs(t) do nn[k] = v end
end

merge(require "moongrad.nn.containers")
nn.Linear = require "moongrad.nn.linear"
merge(require "moongrad.nn.conv")
merge(require "moongrad.nn.pool")
merge(require "moongrad.nn.norm")
nn.BatchNorm = nil -- the shared base of BatchNorm1d/2d, not a layer of its own
merge(require "moongrad.nn.activation")
nn.Dropout = require "moongrad.nn.dropout"
nn.Embedding = require "moongrad.nn.embedding"
nn.MultiheadAttention = require "moongrad.nn.attention"
merge(require "moongrad.nn.transformer")
merge(require "moongrad.nn.shape")
merge(require "moongrad.nn.loss")

nn.functional = require "moongrad.nn.functional"
nn.F = nn.functional
nn.init = require "moongrad.nn.initializers"
nn.utils = require "moongrad.nn.utils"

-- True when v is an nn.Module (an instance of any module class).
nn.is_module = Module.is_module

return nn
