--- Activation layers: nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.GELU,
-- nn.Softplus, nn.SiLU, nn.Softmax, nn.LogSoftmax, and nn.GradientReversal
-- (identity forward, gradient times -lambda backward).
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"

local M = {}

-- A layer with no state applying fn(x).
local function simple(name, fn)
  local cls = Module:extend("nn." .. name)
  function cls:forward(x) return fn(x) end
  M[name] = cls
  return cls
end

--- nn.ReLU(): max(x, 0) as a layer.
-- @type ReLU

--- A new layer.
-- @function ReLU:init
-- @usage local act = nn.ReLU()

--- nn.Sigmoid(): 1 / (1 + e^-x) as a layer.
-- @type Sigmoid

--- A new layer.
-- @function Sigmoid:init

--- nn.Tanh(): the hyperbolic tangent as a layer.
-- @type Tanh

--- A new layer.
-- @function Tanh:init

--- nn.SiLU(): x * sigmoid(x) as a layer.
-- @type SiLU

--- A new layer.
-- @function SiLU:init

simple("ReLU", function(x) return mg.relu(x) end)
simple("Sigmoid", function(x) return mg.sigmoid(x) end)
simple("Tanh", function(x) return mg.tanh(x) end)
simple("SiLU", function(x) return x * mg.sigmoid(x) end)

--- nn.GELU(): x * Phi(x), the exact (erf) form, as a layer.
-- @type GELU
local GELU = simple("GELU", function(x) return mg.gelu(x) end)
--- A new layer.
-- @tparam[opt] table opts `{approximate = "none"}` (the only form available)
function GELU:init(opts)
  Module.init(self)
  if opts and opts.approximate and opts.approximate ~= "none" then
    error("nn.GELU: only approximate = 'none' (the erf form) is available", 2)
  end
end

--- nn.LeakyReLU([negative_slope]): x where x > 0, else negative_slope * x.
-- @type LeakyReLU
local LeakyReLU = Module:extend("nn.LeakyReLU")
M.LeakyReLU = LeakyReLU
--- A new layer.
-- @number[opt=0.01] negative_slope
function LeakyReLU:init(negative_slope)
  Module.init(self)
  if negative_slope ~= nil and type(negative_slope) ~= "number" then
    error("nn.LeakyReLU: negative_slope must be a number, got " .. type(negative_slope), 2)
  end
  self.negative_slope = negative_slope or 0.01
end
function LeakyReLU:forward(x) return mg.leaky_relu(x, self.negative_slope) end
function LeakyReLU:extra_repr() return tostring(self.negative_slope) end

--- nn.Softplus([opts]): log(1 + exp(beta x)) / beta.
-- @type Softplus
local Softplus = Module:extend("nn.Softplus")
M.Softplus = Softplus
--- A new layer.
-- @tparam[opt] table opts `{beta = 1}`
function Softplus:init(opts)
  Module.init(self)
  self.beta = opts and opts.beta or 1
end
function Softplus:forward(x)
  if self.beta == 1 then return mg.softplus(x) end
  return mg.softplus(x * self.beta) / self.beta
end
function Softplus:extra_repr() return self.beta ~= 1 and ("beta " .. self.beta) or "" end

local function dim_layer(name, fn)
  local cls = Module:extend("nn." .. name)
  M[name] = cls
  --- nn.Softmax([dim]) and nn.LogSoftmax: a new layer.
  -- @local
  -- @int[opt=-1] dim 1-based, negative from the end
  function cls:init(dim)
    Module.init(self)
    if dim ~= nil and not math.tointeger(dim) then
      error("nn." .. name .. ": dim must be an integer, got " .. tostring(dim), 2)
    end
    self.dim = math.tointeger(dim) or -1
  end
  function cls:forward(x) return fn(x, self.dim) end
  function cls:extra_repr() return "dim " .. self.dim end
end

--- nn.Softmax([dim]): softmax along dim as a layer.
-- @type Softmax

--- A new layer.
-- @function Softmax:init
-- @int[opt=-1] dim 1-based, negative from the end
-- @usage local probs = nn.Softmax(2)(logits)

--- nn.LogSoftmax([dim]): log-softmax along dim as a layer.
-- @type LogSoftmax

--- A new layer.
-- @function LogSoftmax:init
-- @int[opt=-1] dim 1-based, negative from the end

dim_layer("Softmax", function(x, d) return mg.softmax(x, d) end)
dim_layer("LogSoftmax", function(x, d) return mg.log_softmax(x, d) end)

--- nn.GradientReversal([lambda]): the identity going forward; going back
-- the gradient is multiplied by -lambda (domain-adversarial training).
-- Set the factor with set_lambda for a schedule.
-- @type GradientReversal
local GradientReversal = Module:extend("nn.GradientReversal")
M.GradientReversal = GradientReversal
--- A new layer.
-- @number[opt=1] lambda
function GradientReversal:init(lambda)
  Module.init(self)
  self:set_lambda(lambda == nil and 1 or lambda)
end
--- Sets the factor.
-- @number lambda
-- @treturn GradientReversal self
function GradientReversal:set_lambda(lambda)
  if type(lambda) ~= "number" then error("nn.GradientReversal: lambda must be a number, got " .. type(lambda), 2) end
  self.lambda = lambda
  return self
end
function GradientReversal:forward(x) return mg.grad_reverse(x, self.lambda) end
function GradientReversal:extra_repr() return "lambda " .. self.lambda end

return M
