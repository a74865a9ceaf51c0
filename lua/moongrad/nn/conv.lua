--- Convolutions: nn.Conv2d and nn.ConvTranspose2d (the C core's fused ops
-- mg.conv2d and mg.conv_transpose2d do the work, backward included).
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local init = require "moongrad.nn.initializers"
local args = require "moongrad.nn.args"

local M = {}

--- Draws fresh weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
-- fan_in computed from the weight's dims 2.. as PyTorch does (for a
-- transposed convolution that is out_channels * kh * kw).
-- @local
local function reset(self)
  init.kaiming_uniform_(self.weight, { a = math.sqrt(5) })
  if self.bias then
    local fan_in = init.calculate_fan_in_and_fan_out(self.weight)
    local bound = 1 / math.sqrt(fan_in)
    init.uniform_(self.bias, -bound, bound)
  end
end

-- "1 -> 32, 3x3, stride 2, padding 1" (defaults left out).
local function describe(self, extra)
  local parts = { self.in_channels .. " -> " .. self.out_channels, args.pair_str(self.kernel_size) }
  local function add(name, p, default)
    if p[1] ~= default or p[2] ~= default then
      parts[#parts + 1] = name .. " " .. (p[1] == p[2] and tostring(p[1]) or args.pair_str(p))
    end
  end
  add("stride", self.stride, 1)
  add("padding", self.padding, 0)
  if extra then add("output_padding", self.output_padding, 0) end
  add("dilation", self.dilation, 1)
  if not self.bias then parts[#parts + 1] = "no bias" end
  return table.concat(parts, ", ")
end

-- Reads the options common to both convolutions.
local function setup(self, who, in_channels, out_channels, kernel_size, opts)
  self.in_channels = args.positive_int(who, "in_channels", in_channels)
  self.out_channels = args.positive_int(who, "out_channels", out_channels)
  self.kernel_size = args.pair(who, "kernel_size", kernel_size, 1)
  self.stride = args.pair(who, "stride", opts.stride or 1, 1)
  self.dilation = args.pair(who, "dilation", opts.dilation or 1, 1)
  local padding = opts.padding or 0
  if padding == "valid" then padding = 0 end
  if padding == "same" then
    if self.stride[1] ~= 1 or self.stride[2] ~= 1 then
      error(who .. ": padding = 'same' needs stride 1", 3)
    end
    local p = {}
    for d = 1, 2 do
      local total = self.dilation[d] * (self.kernel_size[d] - 1)
      if total % 2 ~= 0 then
        error(string.format("%s: padding = 'same' needs an odd kernel (or an even dilation); kernel %s, dilation %s",
          who, args.pair_str(self.kernel_size), args.pair_str(self.dilation)), 3)
      end
      p[d] = total // 2
    end
    padding = p
  end
  self.padding = args.pair(who, "padding", padding, 0)
end

-- ---- Conv2d --------------------------------------------------------------------

--- A 2-d convolution layer over [N, C, H, W]. Weight [out, in, kh, kw],
-- bias [out], initialised as PyTorch does.
-- @type Conv2d
-- @usage local conv = nn.Conv2d(1, 32, 3, {padding = "same"})
-- local y = conv(x)   -- [N, 1, 28, 28] -> [N, 32, 28, 28]
local Conv2d = Module:extend("nn.Conv2d")
M.Conv2d = Conv2d

--- nn.Conv2d(in_channels, out_channels, kernel_size [, opts]): a new layer.
-- Sizes are numbers or {h, w} pairs.
-- @int in_channels
-- @int out_channels
-- @tparam int|{int,int} kernel_size
-- @tparam[opt] table opts `{stride = 1, padding = 0, dilation = 1, bias = true}`; padding may
--   also be "same" (stride 1) or "valid"
function Conv2d:init(in_channels, out_channels, kernel_size, opts)
  Module.init(self)
  opts = args.options("nn.Conv2d", opts, { stride = 1, padding = 0, dilation = 1, bias = true })
  setup(self, "nn.Conv2d", in_channels, out_channels, kernel_size, opts)
  local k = self.kernel_size
  self.weight = Module.Parameter(mg.empty(self.out_channels, self.in_channels, k[1], k[2]))
  if opts.bias ~= false then self.bias = Module.Parameter(mg.empty(self.out_channels)) end
  self:reset_parameters()
end

Conv2d.reset_parameters = reset

--- Applies the convolution.
-- @tparam Tensor x [N, in, H, W]
-- @treturn Tensor [N, out, OH, OW]
function Conv2d:forward(x)
  return mg.conv2d(x, self.weight, self.bias, {
    stride = args.compact(self.stride), padding = args.compact(self.padding),
    dilation = args.compact(self.dilation),
  })
end

--- Applies the convolution followed by a ReLU, or by a ReLU and a 2x2 max
-- pooling with stride 2, as one core op with the same values: what
-- nn.Sequential runs for Conv2d, ReLU [, MaxPool2d(2)].
-- @tparam Tensor x [N, in, H, W]
-- @int pool 1 (ReLU only) or 2 (then the pooling)
-- @treturn Tensor [N, out, OH, OW], or [N, out, OH/2, OW/2] with pool 2
function Conv2d:forward_relu_pool(x, pool)
  return mg.conv2d(x, self.weight, self.bias, {
    stride = args.compact(self.stride), padding = args.compact(self.padding),
    dilation = args.compact(self.dilation), relu = true, pool = pool,
  })
end

function Conv2d:extra_repr() return describe(self, false) end

-- ---- ConvTranspose2d --------------------------------------------------------------

--- A 2-d transposed convolution layer (upsampling). Weight
-- [in, out, kh, kw], bias [out]. The output size per dim is
-- (H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
-- @type ConvTranspose2d
-- @usage local up = nn.ConvTranspose2d(64, 32, 4, {stride = 2, padding = 1})   -- doubles H and W
local ConvTranspose2d = Module:extend("nn.ConvTranspose2d")
M.ConvTranspose2d = ConvTranspose2d

--- nn.ConvTranspose2d(in_channels, out_channels, kernel_size [, opts]): a new layer.
-- @int in_channels
-- @int out_channels
-- @tparam int|{int,int} kernel_size
-- @tparam[opt] table opts `{stride = 1, padding = 0, output_padding = 0, dilation = 1, bias = true}`
function ConvTranspose2d:init(in_channels, out_channels, kernel_size, opts)
  Module.init(self)
  opts = args.options("nn.ConvTranspose2d", opts,
    { stride = 1, padding = 0, output_padding = 0, dilation = 1, bias = true })
  if opts.padding == "same" then error("nn.ConvTranspose2d: padding = 'same' is not supported", 2) end
  setup(self, "nn.ConvTranspose2d", in_channels, out_channels, kernel_size, opts)
  self.output_padding = args.pair("nn.ConvTranspose2d", "output_padding", opts.output_padding or 0, 0)
  for d = 1, 2 do
    if self.output_padding[d] >= math.max(self.stride[d], self.dilation[d]) then
      error(string.format("nn.ConvTranspose2d: output_padding (%s) must be smaller than stride (%s) or dilation (%s)",
        args.pair_str(self.output_padding), args.pair_str(self.stride), args.pair_str(self.dilation)), 2)
    end
  end
  local k = self.kernel_size
  self.weight = Module.Parameter(mg.empty(self.in_channels, self.out_channels, k[1], k[2]))
  if opts.bias ~= false then self.bias = Module.Parameter(mg.empty(self.out_channels)) end
  self:reset_parameters()
end

ConvTranspose2d.reset_parameters = reset

--- Applies the transposed convolution.
-- @tparam Tensor x [N, in, H, W]
-- @treturn Tensor [N, out, OH, OW]
function ConvTranspose2d:forward(x)
  return mg.conv_transpose2d(x, self.weight, self.bias, {
    stride = args.compact(self.stride), padding = args.compact(self.padding),
    output_padding = args.compact(self.output_padding), dilation = args.compact(self.dilation),
  })
end

function ConvTranspose2d:extra_repr() return describe(self, true) end

return M
