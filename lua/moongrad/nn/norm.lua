--- Normalisation layers: nn.BatchNorm1d, nn.BatchNorm2d (running statistics
-- kept as buffers) and nn.LayerNorm; the fused C ops mg.batch_norm and
-- mg.layer_norm do the work.
-- @module moongrad.nn
local mg = require "moongrad"
local Module = require "moongrad.nn.module"
local args = require "moongrad.nn.args"

local M = {}

local function shape_str(x)
  return "[" .. table.concat(x:shape(), ", ") .. "]"
end

-- ---- batch norm ----------------------------------------------------------------

--- The shared base of BatchNorm1d and BatchNorm2d: batch normalization
-- over dim 2 (channels), with a learned weight (1) and bias (0), and the
-- running statistics as buffers: running_mean (0), running_var (1) and
-- num_batches_tracked (0, int64). In training mode the batch's statistics
-- normalize and update the running ones; in eval mode the running ones
-- normalize.
-- @type BatchNorm
local BatchNorm = Module:extend("nn.BatchNorm")
M.BatchNorm = BatchNorm

--- nn.BatchNorm1d(num_features [, opts]) and nn.BatchNorm2d: a new layer.
-- @int num_features the number of channels C
-- @tparam[opt] table opts `{eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true}`;
--   momentum = false uses a cumulative average (PyTorch's momentum=None)
-- @usage local bn = nn.BatchNorm2d(32)
function BatchNorm:init(num_features, opts)
  Module.init(self)
  local who = self:type_name()
  opts = args.options(who, opts, { eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true })
  self.num_features = args.positive_int(who, "num_features", num_features)
  self.eps = opts.eps or 1e-5
  if type(self.eps) ~= "number" or self.eps <= 0 then error(who .. ": eps must be a positive number", 3) end
  if opts.momentum == false then
    self.momentum = false
  else
    self.momentum = args.probability(who, "momentum", opts.momentum or 0.1)
  end
  self.affine = opts.affine ~= false
  self.track_running_stats = opts.track_running_stats ~= false
  if self.affine then
    self.weight = Module.Parameter(mg.ones(self.num_features))
    self.bias = Module.Parameter(mg.zeros(self.num_features))
  end
  if self.track_running_stats then
    self:register_buffer("running_mean", mg.zeros(self.num_features))
    self:register_buffer("running_var", mg.ones(self.num_features))
    self:register_buffer("num_batches_tracked", mg.tensor(0, { dtype = "int64" }))
  end
end

--- Sets the running statistics back to 0 and 1 and the batch count to 0.
function BatchNorm:reset_running_stats()
  if self.track_running_stats then
    mg.no_grad(function()
      self.running_mean:fill_(0)
      self.running_var:fill_(1)
      self.num_batches_tracked:fill_(0)
    end)
  end
end

--- Normalizes x (see the class).
-- @tparam Tensor x [N, C] or [N, C, L] (BatchNorm1d), [N, C, H, W] (BatchNorm2d)
-- @treturn Tensor x's shape
function BatchNorm:forward(x)
  self:check_input(x)
  local momentum = self.momentum
  if self.training and self.track_running_stats then
    local n = self.num_batches_tracked:item() + 1
    self.num_batches_tracked:fill_(n)
    if momentum == false then momentum = 1 / n end
  end
  return mg.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, {
    training = self.training or not self.track_running_stats,
    momentum = momentum or 0, eps = self.eps,
  })
end

--- Raises an error naming the layer when x's shape does not fit it.
-- @tparam Tensor x
function BatchNorm:check_input(x)
  local dims = self.input_dims
  if not mg.is_tensor(x) then error(self:short_repr() .. ": expects a Tensor, got " .. type(x), 3) end
  if not dims[x:dim()] then
    error(string.format("%s: expects %s input, got %s", self:short_repr(), self.input_desc, shape_str(x)), 3)
  end
  if x:size(2) ~= self.num_features then
    error(string.format("%s: input %s has %d channels (dim 2), expected %d", self:short_repr(),
      shape_str(x), x:size(2), self.num_features), 3)
  end
end

function BatchNorm:extra_repr()
  local parts = { tostring(self.num_features) }
  if self.eps ~= 1e-5 then parts[#parts + 1] = "eps " .. self.eps end
  if self.momentum ~= 0.1 then parts[#parts + 1] = "momentum " .. tostring(self.momentum) end
  if not self.affine then parts[#parts + 1] = "no affine" end
  if not self.track_running_stats then parts[#parts + 1] = "no running stats" end
  return table.concat(parts, ", ")
end

--- nn.BatchNorm1d(num_features [, opts]): batch normalization of [N, C]
-- or [N, C, L] input (see BatchNorm).
-- @type BatchNorm1d

--- A new layer.
-- @function BatchNorm1d:init
-- @int num_features the number of channels C
-- @tparam[opt] table opts as BatchNorm's
-- @usage local bn = nn.BatchNorm1d(128)

local BatchNorm1d = BatchNorm:extend("nn.BatchNorm1d")
M.BatchNorm1d = BatchNorm1d
BatchNorm1d.input_dims = { [2] = true, [3] = true }
BatchNorm1d.input_desc = "a 2-d [N, C] or 3-d [N, C, L]"

--- nn.BatchNorm2d(num_features [, opts]): batch normalization of
-- [N, C, H, W] input (see BatchNorm).
-- @type BatchNorm2d

--- A new layer.
-- @function BatchNorm2d:init
-- @int num_features the number of channels C
-- @tparam[opt] table opts as BatchNorm's
-- @usage local bn = nn.BatchNorm2d(32)

local BatchNorm2d = BatchNorm:extend("nn.BatchNorm2d")
M.BatchNorm2d = BatchNorm2d
BatchNorm2d.input_dims = { [4] = true }
BatchNorm2d.input_desc = "a 4-d [N, C, H, W]"

-- ---- layer norm ------------------------------------------------------------------

--- Layer normalization over the trailing dims, with a learned weight (1)
-- and bias (0) of that shape.
-- @type LayerNorm
-- @usage local ln = nn.LayerNorm(64)   -- over the last dim of size 64
local LayerNorm = Module:extend("nn.LayerNorm")
M.LayerNorm = LayerNorm

--- nn.LayerNorm(normalized_shape [, opts]): a new layer.
-- @tparam int|{int,...} normalized_shape the sizes of the trailing dims
-- @tparam[opt] table opts `{eps = 1e-5, elementwise_affine = true, bias = true}`
function LayerNorm:init(normalized_shape, opts)
  Module.init(self)
  opts = args.options("nn.LayerNorm", opts, { eps = 1e-5, elementwise_affine = true, bias = true })
  local shape = type(normalized_shape) == "table" and normalized_shape or { normalized_shape }
  if #shape == 0 then error("nn.LayerNorm: normalized_shape must name at least one dim", 2) end
  local copy = {}
  for i, n in ipairs(shape) do copy[i] = args.positive_int("nn.LayerNorm", "normalized_shape", n) end
  self.normalized_shape = copy
  self.eps = opts.eps or 1e-5
  self.elementwise_affine = opts.elementwise_affine ~= false
  if self.elementwise_affine then
    self.weight = Module.Parameter(mg.ones(copy))
    if opts.bias ~= false then self.bias = Module.Parameter(mg.zeros(copy)) end
  end
end

--- Normalizes x over its trailing dims.
-- @tparam Tensor x [..., normalized_shape]
-- @treturn Tensor x's shape
function LayerNorm:forward(x)
  return mg.layer_norm(x, self.normalized_shape, self.weight, self.bias, { eps = self.eps })
end

function LayerNorm:extra_repr()
  local s = self.normalized_shape
  local parts = { #s == 1 and tostring(s[1]) or ("[" .. table.concat(s, ", ") .. "]") }
  if self.eps ~= 1e-5 then parts[#parts + 1] = "eps " .. self.eps end
  if not self.elementwise_affine then parts[#parts + 1] = "no affine" end
  return table.concat(parts, ", ")
end

return M
