--- Weight initialisation, exposed as mg.nn.init. Every function fills its
-- tensor in place without recording a graph and returns it. Fans follow
-- PyTorch: for a weight [out, in, k1, k2, ...], fan_in = in * k1 * k2 * ...
-- and fan_out = out * k1 * k2 * ...
-- @module moongrad.nn.init
-- @alias M
-- @usage nn.init.kaiming_normal_(conv.weight, {nonlinearity = "relu"})
-- nn.init.zeros_(conv.bias)
local mg = require "moongrad"

local M = {}

local function check(fname, t)
  if not mg.is_tensor(t) then error("nn.init." .. fname .. ": expects a Tensor, got " .. type(t), 3) end
  if t.dtype ~= "float32" then
    error("nn.init." .. fname .. ": expects a float32 tensor, got " .. t.dtype, 3)
  end
end

-- Runs a fill without grad recording (parameters require grad).
local function fill(t, method, ...)
  local previous = mg.set_grad_enabled(false)
  local ok, err = pcall(t[method], t, ...)
  mg.set_grad_enabled(previous)
  if not ok then error(err, 3) end
  return t
end

--- The fans of a weight tensor.
-- @tparam Tensor t at least 2 dims
-- @treturn int fan_in
-- @treturn int fan_out
function M.calculate_fan_in_and_fan_out(t)
  if not mg.is_tensor(t) then error("nn.init: expects a Tensor, got " .. type(t), 2) end
  local d = t:dim()
  if d < 2 then
    error("nn.init: fan in and fan out need a tensor with at least 2 dims, got " .. d, 2)
  end
  local receptive = 1
  for i = 3, d do receptive = receptive * t:size(i) end
  return t:size(2) * receptive, t:size(1) * receptive
end

local function fan(fname, t, mode)
  if t:dim() < 2 then
    error("nn.init." .. fname .. ": fan in and fan out need a tensor with at least 2 dims, got " .. t:dim(), 3)
  end
  local fan_in, fan_out = M.calculate_fan_in_and_fan_out(t)
  if mode == "fan_in" then return fan_in end
  if mode == "fan_out" then return fan_out end
  error("nn.init." .. fname .. ": mode must be 'fan_in' or 'fan_out', got " .. tostring(mode), 3)
end

--- The recommended gain of a nonlinearity: linear, conv*, sigmoid 1;
-- tanh 5/3; relu sqrt(2); leaky_relu sqrt(2 / (1 + slope^2)); selu 3/4.
-- @string nonlinearity
-- @number[opt=0.01] param the slope of leaky_relu
-- @treturn number
function M.calculate_gain(nonlinearity, param)
  local linear = { linear = true, conv1d = true, conv2d = true, conv3d = true, conv_transpose1d = true,
    conv_transpose2d = true, conv_transpose3d = true, sigmoid = true, identity = true }
  if linear[nonlinearity] then return 1 end
  if nonlinearity == "tanh" then return 5 / 3 end
  if nonlinearity == "relu" then return math.sqrt(2) end
  if nonlinearity == "leaky_relu" then
    local slope = param == nil and 0.01 or param
    if type(slope) ~= "number" then error("calculate_gain: the slope must be a number", 2) end
    return math.sqrt(2 / (1 + slope * slope))
  end
  if nonlinearity == "selu" then return 3 / 4 end
  error("calculate_gain: unknown nonlinearity " .. tostring(nonlinearity), 2)
end

--- Fills with U(a, b).
-- @tparam Tensor t
-- @number[opt=0] a
-- @number[opt=1] b
-- @treturn Tensor t
function M.uniform_(t, a, b)
  check("uniform_", t)
  return fill(t, "uniform_", a or 0, b or 1)
end

--- Fills with N(mean, std^2).
-- @tparam Tensor t
-- @number[opt=0] mean
-- @number[opt=1] std
-- @treturn Tensor t
function M.normal_(t, mean, std)
  check("normal_", t)
  return fill(t, "normal_", mean or 0, std or 1)
end

--- Fills with a value.
-- @tparam Tensor t
-- @number value
-- @treturn Tensor t
function M.constant_(t, value)
  check("constant_", t)
  if type(value) ~= "number" then error("nn.init.constant_: value must be a number", 2) end
  return fill(t, "fill_", value)
end

--- Fills with zeros.
-- @tparam Tensor t
-- @treturn Tensor t
function M.zeros_(t)
  check("zeros_", t)
  return fill(t, "fill_", 0)
end

--- Fills with ones.
-- @tparam Tensor t
-- @treturn Tensor t
function M.ones_(t)
  check("ones_", t)
  return fill(t, "fill_", 1)
end

-- Reads gain as a number or {gain = g}.
local function gain_arg(g)
  if type(g) == "table" then g = g.gain end
  return g or 1
end

--- Xavier (Glorot) uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
-- @tparam Tensor t
-- @tparam[opt=1] number|table gain a number or `{gain = g}`
-- @treturn Tensor t
function M.xavier_uniform_(t, gain)
  check("xavier_uniform_", t)
  local fan_in, fan_out = fan("xavier_uniform_", t, "fan_in"), fan("xavier_uniform_", t, "fan_out")
  local b = gain_arg(gain) * math.sqrt(6 / (fan_in + fan_out))
  return fill(t, "uniform_", -b, b)
end

--- Xavier (Glorot) normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
-- @tparam Tensor t
-- @tparam[opt=1] number|table gain a number or `{gain = g}`
-- @treturn Tensor t
function M.xavier_normal_(t, gain)
  check("xavier_normal_", t)
  local fan_in, fan_out = fan("xavier_normal_", t, "fan_in"), fan("xavier_normal_", t, "fan_out")
  return fill(t, "normal_", 0, gain_arg(gain) * math.sqrt(2 / (fan_in + fan_out)))
end

-- Reads kaiming options: (t, {a, mode, nonlinearity}) or (t, a, mode, nonlinearity).
local function kaiming_args(a, mode, nonlinearity)
  if type(a) == "table" then a, mode, nonlinearity = a.a, a.mode, a.nonlinearity end
  return a or 0, mode or "fan_in", nonlinearity or "leaky_relu"
end

--- Kaiming (He) uniform: U(-b, b) with b = gain * sqrt(3 / fan). With
-- a = sqrt(5) this is the default of Linear and Conv2d weights,
-- b = 1 / sqrt(fan_in).
-- @tparam Tensor t
-- @tparam[opt=0] number|table a the leaky_relu slope, or the options table
--   `{a = 0, mode = "fan_in", nonlinearity = "leaky_relu"}`
-- @string[opt="fan_in"] mode "fan_in" or "fan_out"
-- @string[opt="leaky_relu"] nonlinearity
-- @treturn Tensor t
function M.kaiming_uniform_(t, a, mode, nonlinearity)
  check("kaiming_uniform_", t)
  a, mode, nonlinearity = kaiming_args(a, mode, nonlinearity)
  local std = M.calculate_gain(nonlinearity, a) / math.sqrt(fan("kaiming_uniform_", t, mode))
  local b = math.sqrt(3) * std
  return fill(t, "uniform_", -b, b)
end

--- Kaiming (He) normal: N(0, std^2) with std = gain / sqrt(fan).
-- @tparam Tensor t
-- @tparam[opt=0] number|table a the leaky_relu slope, or the options table
--   `{a = 0, mode = "fan_in", nonlinearity = "leaky_relu"}`
-- @string[opt="fan_in"] mode "fan_in" or "fan_out"
-- @string[opt="leaky_relu"] nonlinearity
-- @treturn Tensor t
function M.kaiming_normal_(t, a, mode, nonlinearity)
  check("kaiming_normal_", t)
  a, mode, nonlinearity = kaiming_args(a, mode, nonlinearity)
  local std = M.calculate_gain(nonlinearity, a) / math.sqrt(fan("kaiming_normal_", t, mode))
  return fill(t, "normal_", 0, std)
end

return M
