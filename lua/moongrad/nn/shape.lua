--- Shape layers: nn.Flatten, nn.Unflatten and nn.Identity.
-- @module moongrad.nn
local Module = require "moongrad.nn.module"

local M = {}

--- nn.Flatten([start_dim [, end_dim]]): merges dims start..end; the default
-- keeps the batch dim: [N, C, H, W] -> [N, C*H*W].
-- @type Flatten
local Flatten = Module:extend("nn.Flatten")
M.Flatten = Flatten
--- A new layer.
-- @int[opt=2] start_dim 1-based, negative from the end
-- @int[opt=-1] end_dim
function Flatten:init(start_dim, end_dim)
  Module.init(self)
  self.start_dim = math.tointeger(start_dim or 2)
  self.end_dim = math.tointeger(end_dim or -1)
  if not self.start_dim or not self.end_dim then error("nn.Flatten: dims must be integers", 2) end
end
function Flatten:forward(x) return x:flatten(self.start_dim, self.end_dim) end
function Flatten:extra_repr()
  if self.start_dim == 2 and self.end_dim == -1 then return "" end
  return self.start_dim .. ", " .. self.end_dim
end

--- nn.Unflatten(dim, sizes): splits dim into sizes.
-- @type Unflatten
-- @usage local to_images = nn.Unflatten(2, {1, 28, 28})   -- [N, 784] -> [N, 1, 28, 28]
local Unflatten = Module:extend("nn.Unflatten")
M.Unflatten = Unflatten
--- A new layer.
-- @int dim 1-based, negative from the end
-- @tparam {int,...} sizes the new sizes; one may be -1
function Unflatten:init(dim, sizes)
  Module.init(self)
  self.dim = math.tointeger(dim)
  if not self.dim or self.dim == 0 then
    error("nn.Unflatten: dim must be a non-zero integer, got " .. tostring(dim), 2)
  end
  if type(sizes) ~= "table" or #sizes == 0 then
    error("nn.Unflatten: sizes must be a list of sizes, e.g. {1, 28, 28}", 2)
  end
  local copy = {}
  for i, s in ipairs(sizes) do
    copy[i] = math.tointeger(s)
    if not copy[i] or (copy[i] < 1 and copy[i] ~= -1) then
      error("nn.Unflatten: sizes must be positive integers (or one -1), got " .. tostring(s), 2)
    end
  end
  self.sizes = copy
end
function Unflatten:forward(x)
  local shape = x:shape()
  local n = #shape
  local d = self.dim < 0 and n + 1 + self.dim or self.dim
  if d < 1 or d > n then
    error(string.format("nn.Unflatten: dim %d out of range for a %d-dim input", self.dim, n), 2)
  end
  local out = {}
  for i = 1, d - 1 do out[#out + 1] = shape[i] end
  for _, s in ipairs(self.sizes) do out[#out + 1] = s end
  for i = d + 1, n do out[#out + 1] = shape[i] end
  return x:reshape(out)
end
function Unflatten:extra_repr() return self.dim .. ", {" .. table.concat(self.sizes, ", ") .. "}" end

--- nn.Identity(): returns its input.
-- @type Identity

--- A new layer.
-- @function Identity:init
local Identity = Module:extend("nn.Identity")
M.Identity = Identity
function Identity:forward(x) return x end

return M
