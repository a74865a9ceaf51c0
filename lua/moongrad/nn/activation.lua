-- Activation layers: nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.GELU,
-- nn.Softplus, nn.SiLU, nn.Softmax, nn.LogSoftmax, and nn.GradientReversal
-- (identity forward, gradient times -lambda backward).
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

simple("ReLU", function(x) return mg.relu(x) end)
simple("Sigmoid", function(x) return mg.sigmoid(x) end)
simple("Tanh", function(x) return mg.tanh(x) end)
simple("SiLU", function(x) return x * mg.sigmoid(x) end)

-- nn.GELU(): the exact (erf) form; {approximate = "none"} only.
local GELU = simple("GELU", function(x) return mg.gelu(x) end)
function GELU:init(opts)
  Module.init(self)
  if opts and opts.approximate and opts.approximate ~= "none" then
    error("nn.GELU: only approximate = 'none' (the erf form) is available", 2)
  end
end

-- nn.LeakyReLU(negative_slope = 0.01)
local LeakyReLU = Module:extend("nn.LeakyReLU")
M.LeakyReLU = LeakyReLU
function LeakyReLU:init(negative_slope)
  Module.init(self)
  if negative_slope ~= nil and type(negative_slope) ~= "number" then
    error("nn.LeakyReLU: negative_slope must be a number, got " .. type(negative_slope), 2)
  end
  self.negative_slope = negative_slope or 0.01
end
function LeakyReLU:forward(x) return mg.leaky_relu(x, self.negative_slope) end
function LeakyReLU:extra_repr() return tostring(self.negative_slope) end

-- nn.Softplus({beta = 1}): log(1 + exp(beta x)) / beta.
local Softplus = Module:extend("nn.Softplus")
M.Softplus = Softplus
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
  -- nn.NAME(dim = -1): dim is 1-based, negative counts from the end.
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

dim_layer("Softmax", function(x, d) return mg.softmax(x, d) end)
dim_layer("LogSoftmax", function(x, d) return mg.log_softmax(x, d) end)

-- nn.GradientReversal(lambda = 1): the identity forward; backward the
-- gradient is multiplied by -lambda. Set `layer.lambda` for a schedule.
local GradientReversal = Module:extend("nn.GradientReversal")
M.GradientReversal = GradientReversal
function GradientReversal:init(lambda)
  Module.init(self)
  self:set_lambda(lambda == nil and 1 or lambda)
end
-- Sets the factor (a number). Returns self.
function GradientReversal:set_lambda(lambda)
  if type(lambda) ~= "number" then error("nn.GradientReversal: lambda must be a number, got " .. type(lambda), 2) end
  self.lambda = lambda
  return self
end
function GradientReversal:forward(x) return mg.grad_reverse(x, self.lambda) end
function GradientReversal:extra_repr() return "lambda " .. self.lambda end

return M
