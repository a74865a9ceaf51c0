--- The dataset protocol and its tensor implementation.
-- @module moongrad.data
local mg = require "moongrad"
local class = require "moongrad.class"

local M = {}

--- The dataset protocol: a dataset is any object with `#ds` (the number of
-- samples) and `ds:batch(idx)`, idx an int64 Tensor [B] of 1-based sample
-- indices, returning a table of tensors whose first dim is B:
-- `{images = ..., labels = ...}` for an image set, `{input = ...,
-- target = ...}` for token windows, two views of each image for
-- contrastive learning. The loader only needs these two; `ds.fields`, when
-- present, lists the batch's fields in the order loader:iter() returns
-- them.
--
-- TensorDataset is the dataset over named tensors of equal first dim. Each
-- tensor is also a field of the dataset (ds.images, ds.labels); ds.fields
-- lists the names, images and labels first when present, the others in
-- alphabetical order.
-- @type TensorDataset
-- @usage local ds = mg.data.TensorDataset{images = X, labels = Y}
-- local b = ds:batch(mg.tensor({1, 2, 3}, "int64"))   -- b.images, b.labels
local TensorDataset = class("data.TensorDataset")
M.TensorDataset = TensorDataset

-- Names a field may not take: they are the dataset's own methods and fields.
local RESERVED = { batch = true, fields = true, name = true, init = true }

local function shape_of(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

--- data.TensorDataset{name = Tensor, ...} or data.TensorDataset(images [, labels]):
-- a new dataset.
-- @tparam table|Tensor tensors the named tensors, or the images
-- @tparam[opt] Tensor labels with images given alone
function TensorDataset:init(tensors, labels)
  if mg.is_tensor(tensors) then
    tensors = { images = tensors, labels = labels }
  elseif labels ~= nil then
    error("TensorDataset: expected TensorDataset{name = Tensor, ...} or TensorDataset(images [, labels])", 3)
  end
  if type(tensors) ~= "table" then
    error("TensorDataset: expected a table of named tensors {images = T, labels = T, ...}, got " .. type(tensors), 3)
  end
  local names = {}
  for name, t in pairs(tensors) do
    if type(name) ~= "string" or RESERVED[name] then
      error(string.format("TensorDataset: field names must be strings other than %s, got %s",
        "batch, fields, name, init", tostring(name)), 3)
    end
    if not mg.is_tensor(t) then
      error(string.format("TensorDataset: %s must be a Tensor, got %s", name, type(t)), 3)
    end
    if t:dim() == 0 then
      error(string.format("TensorDataset: %s must have a first dim of samples, got a 0-dim Tensor", name), 3)
    end
    names[#names + 1] = name
  end
  if #names == 0 then error("TensorDataset: expected at least one tensor", 3) end
  local rank = { images = 1, labels = 2 }
  table.sort(names, function(a, b)
    local ra, rb = rank[a] or 3, rank[b] or 3
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  local n = tensors[names[1]]:size(1)
  for _, name in ipairs(names) do
    if tensors[name]:size(1) ~= n then
      error(string.format("TensorDataset: %s has %d samples (%s) but %s has %d", name, tensors[name]:size(1),
        shape_of(tensors[name]), names[1], n), 3)
    end
    self[name] = tensors[name]
  end
  self.fields, self.name = names, "TensorDataset"
end

function TensorDataset:__len() return self[self.fields[1]]:size(1) end

--- The samples idx, as new tensors (never views of the dataset's).
-- @tparam Tensor idx int64 [B], 1-based
-- @treturn table `{field = Tensor, ...}`
function TensorDataset:batch(idx)
  local out = {}
  for _, name in ipairs(self.fields) do out[name] = self[name]:index_select(1, idx) end
  return out
end

function TensorDataset:__tostring()
  local parts = {}
  for _, name in ipairs(self.fields) do parts[#parts + 1] = name .. " " .. shape_of(self[name]) end
  return string.format("%s: %d samples, %s", self.name, #self, table.concat(parts, ", "))
end

return M
