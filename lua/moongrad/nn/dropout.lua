--- nn.Dropout: zeroes elements with probability p in training and scales the
-- rest by 1 / (1 - p); the identity in eval.
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local args = require "moongrad.nn.args"

--- Dropout as a layer: in training, zeroes each element with probability
-- p and scales the rest by 1 / (1 - p); the identity in eval mode.
-- @type Dropout
-- @usage local drop = nn.Dropout(0.25)
local Dropout = Module:extend("nn.Dropout")

--- nn.Dropout([p]): a new layer.
-- @number[opt=0.5] p the probability of zeroing an element
function Dropout:init(p)
  Module.init(self)
  self.p = args.probability("nn.Dropout", "p", p == nil and 0.5 or p)
end

--- Applies dropout (in training mode) or nothing (in eval mode).
-- @tparam Tensor x
-- @treturn Tensor x's shape
function Dropout:forward(x)
  return mg.dropout(x, self.p, self.training)
end

function Dropout:extra_repr() return "p " .. self.p end

return Dropout
