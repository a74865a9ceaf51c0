-- nn.Dropout: zeroes elements with probability p in training and scales the
-- rest by 1 / (1 - p); the identity in eval.
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local args = require "moongrad.nn.args"

local Dropout = Module:extend("nn.Dropout")

-- nn.Dropout(p = 0.5)
function Dropout:init(p)
  Module.init(self)
  self.p = args.probability("nn.Dropout", "p", p == nil and 0.5 or p)
end

function Dropout:forward(x)
  return mg.dropout(x, self.p, self.training)
end

function Dropout:extra_repr() return "p " .. self.p end

return Dropout
