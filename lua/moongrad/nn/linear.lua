--- nn.Linear: y = x W^T + b over the last dim of x.
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local init = require "moongrad.nn.initializers"
local args = require "moongrad.nn.args"

--- A fully connected layer: y = x W^T + b over the last dim of x. Weight
-- [out, in] and bias [out], both drawn from U(-1/sqrt(in), 1/sqrt(in)) as
-- in PyTorch.
-- @type Linear
-- @usage local fc = nn.Linear(784, 128)
-- local y = fc(x)   -- [N, 784] -> [N, 128]
local Linear = Module:extend("nn.Linear")

--- nn.Linear(in_features, out_features [, opts]): a new layer.
-- @int in_features the size of the last dim of the input
-- @int out_features the size of the last dim of the output
-- @tparam[opt] table opts `{bias = true}`
function Linear:init(in_features, out_features, opts)
  Module.init(self)
  args.options("nn.Linear", opts, { bias = true })
  self.in_features = args.positive_int("nn.Linear", "in_features", in_features)
  self.out_features = args.positive_int("nn.Linear", "out_features", out_features)
  self.weight = Module.Parameter(mg.empty(out_features, in_features))
  if not opts or opts.bias ~= false then self.bias = Module.Parameter(mg.empty(out_features)) end
  self:reset_parameters()
end

--- Draws fresh weights (the default initialisation).
function Linear:reset_parameters()
  init.kaiming_uniform_(self.weight, { a = math.sqrt(5) })
  if self.bias then
    local bound = 1 / math.sqrt(self.in_features)
    init.uniform_(self.bias, -bound, bound)
  end
end

--- Applies the layer.
-- @tparam Tensor x [..., in]
-- @treturn Tensor [..., out]
function Linear:forward(x)
  return mg.linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
  return self.in_features .. " -> " .. self.out_features .. (self.bias and "" or ", no bias")
end

return Linear
