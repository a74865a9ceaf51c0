--- Pooling: nn.MaxPool2d and nn.AvgPool2d over [N, C, H, W] (fused C ops
-- mg.max_pool2d and mg.avg_pool2d).
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local args = require "moongrad.nn.args"

local M = {}

local function setup(self, who, kernel_size, opts)
  self.kernel_size = args.pair(who, "kernel_size", kernel_size, 1)
  self.stride = opts.stride and args.pair(who, "stride", opts.stride, 1) or { self.kernel_size[1], self.kernel_size[2] }
  self.padding = args.pair(who, "padding", opts.padding or 0, 0)
  for d = 1, 2 do
    if self.padding[d] * 2 > self.kernel_size[d] then
      error(string.format("%s: padding (%s) must be at most half the kernel size (%s)", who,
        args.pair_str(self.padding), args.pair_str(self.kernel_size)), 3)
    end
  end
  self.ceil_mode = opts.ceil_mode == true
end

local function describe(self, extra)
  local parts = { args.pair_str(self.kernel_size) }
  if self.stride[1] ~= self.kernel_size[1] or self.stride[2] ~= self.kernel_size[2] then
    parts[#parts + 1] = "stride " .. (self.stride[1] == self.stride[2] and self.stride[1] or args.pair_str(self.stride))
  end
  if self.padding[1] ~= 0 or self.padding[2] ~= 0 then
    parts[#parts + 1] = "padding "
      .. (self.padding[1] == self.padding[2] and self.padding[1] or args.pair_str(self.padding))
  end
  if self.ceil_mode then parts[#parts + 1] = "ceil_mode" end
  if extra then parts[#parts + 1] = extra end
  return table.concat(parts, ", ")
end

--- 2-d max pooling over [N, C, H, W].
-- @type MaxPool2d
-- @usage local pool = nn.MaxPool2d(2)   -- halves H and W
local MaxPool2d = Module:extend("nn.MaxPool2d")
M.MaxPool2d = MaxPool2d

--- nn.MaxPool2d(kernel_size [, opts]): a new layer. Sizes are numbers or
-- {h, w} pairs.
-- @tparam int|{int,int} kernel_size
-- @tparam[opt] table opts `{stride = kernel_size, padding = 0, ceil_mode = false}`
function MaxPool2d:init(kernel_size, opts)
  Module.init(self)
  opts = args.options("nn.MaxPool2d", opts, { stride = 0, padding = 0, ceil_mode = false })
  setup(self, "nn.MaxPool2d", kernel_size, opts)
end

--- Applies the pooling.
-- @tparam Tensor x [N, C, H, W]
-- @treturn Tensor [N, C, OH, OW]
function MaxPool2d:forward(x)
  return mg.max_pool2d(x, args.compact(self.kernel_size), {
    stride = args.compact(self.stride), padding = args.compact(self.padding), ceil_mode = self.ceil_mode,
  })
end

function MaxPool2d:extra_repr() return describe(self) end

--- 2-d average pooling over [N, C, H, W].
-- @type AvgPool2d
local AvgPool2d = Module:extend("nn.AvgPool2d")
M.AvgPool2d = AvgPool2d

--- nn.AvgPool2d(kernel_size [, opts]): a new layer.
-- @tparam int|{int,int} kernel_size
-- @tparam[opt] table opts `{stride = kernel_size, padding = 0, ceil_mode = false, count_include_pad = true}`
function AvgPool2d:init(kernel_size, opts)
  Module.init(self)
  opts = args.options("nn.AvgPool2d", opts, { stride = 0, padding = 0, ceil_mode = false, count_include_pad = true })
  setup(self, "nn.AvgPool2d", kernel_size, opts)
  self.count_include_pad = opts.count_include_pad ~= false
end

--- Applies the pooling.
-- @tparam Tensor x [N, C, H, W]
-- @treturn Tensor [N, C, OH, OW]
function AvgPool2d:forward(x)
  return mg.avg_pool2d(x, args.compact(self.kernel_size), {
    stride = args.compact(self.stride), padding = args.compact(self.padding), ceil_mode = self.ceil_mode,
    count_include_pad = self.count_include_pad,
  })
end

function AvgPool2d:extra_repr()
  return describe(self, (not self.count_include_pad) and "count_include_pad = false" or nil)
end

return M
