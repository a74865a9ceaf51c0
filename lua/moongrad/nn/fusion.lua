-- Fusion of nn.Sequential's children: a Conv2d followed by a ReLU, or by a
-- ReLU and a MaxPool2d of 2x2 windows with stride 2 (no padding, floor
-- mode), runs as one core op (mg.conv2d with relu = true [, pool = 2]),
-- which gives the same values and gradients with fewer passes over memory
-- and less of it kept for the backward pass. Only the stock classes fuse:
-- a subclass, or a module given its own forward, runs as written. When the
-- fused op refuses its input, the children run one by one, so errors name
-- the child that raised them.
local M = {}

local Conv2d = require("moongrad.nn.conv").Conv2d
local ReLU = require("moongrad.nn.activation").ReLU
local MaxPool2d = require("moongrad.nn.pool").MaxPool2d

local function plain(m, class) return getmetatable(m) == class and m.forward == class.forward end

local function pool2(m)
  return plain(m, MaxPool2d) and not m.ceil_mode and m.kernel_size[1] == 2 and m.kernel_size[2] == 2 and
    m.stride[1] == 2 and m.stride[2] == 2 and m.padding[1] == 0 and m.padding[2] == 0
end

--- run(children, i, x) -> count, output: runs the children from position i
-- on x fused when they fuse (count 2 or 3); nil when they do not.
function M.run(children, i, x)
  local conv = children[i]
  if not plain(conv, Conv2d) or not plain(children[i + 1], ReLU) then return nil end
  local pool = pool2(children[i + 2]) and 2 or 1
  local ok, out = pcall(conv.forward_relu_pool, conv, x, pool)
  if not ok then return nil end
  return pool == 2 and 3 or 2, out
end

return M
