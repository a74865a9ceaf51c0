-- DataLoader: batches of a dataset (see datasets.lua for the protocol),
-- in order or shuffled, with an optional batch transform.
local mg = require "moongrad"
local class = require "moongrad.class"

local M = {}

local DataLoader = class("data.DataLoader")
M.DataLoader = DataLoader

local OPTIONS = { batch_size = true, shuffle = true, drop_last = true, transform = true, seed = true }

local function fail(msg) error("DataLoader: " .. msg, 4) end

-- DataLoader(ds, {batch_size = 64, shuffle = false, drop_last = false,
-- transform = nil, seed = nil}).
--   ds: a table with `images` (Tensor [N, ...]) and optionally `labels`
--     (Tensor [N, ...]).
--   shuffle: a new order every epoch (every loader:iter()), drawn from the
--     global RNG, so mg.manual_seed makes it repeat; with `seed`, epoch e's
--     order depends only on (seed, e) and the global RNG is left alone.
--   drop_last: leave out the last batch when it is smaller than batch_size.
--   transform: function(images, labels) -> images [, labels], applied to
--     each batch (labels stay as they were when it returns one value).
-- #loader is the number of batches of an epoch.
function DataLoader:init(ds, opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail("options must be a table, got " .. type(opts)) end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      fail(string.format("unknown option '%s' (expected batch_size, shuffle, drop_last, transform, seed)", tostring(k)))
    end
  end
  if type(ds) ~= "table" or not mg.is_tensor(ds.images) then
    fail("the dataset must be a table with an `images` Tensor (and optionally `labels`), got " ..
      (type(ds) == "table" and "a table without images" or type(ds)))
  end
  local images, labels = ds.images, ds.labels
  if images:dim() == 0 then fail("images must have a first dim of samples, got a 0-dim Tensor") end
  if labels ~= nil and (not mg.is_tensor(labels) or labels:dim() == 0 or labels:size(1) ~= images:size(1)) then
    fail(string.format("labels must be a Tensor with %d rows, like the images", images:size(1)))
  end
  local bs = opts.batch_size or 64
  if type(bs) ~= "number" or bs < 1 or bs ~= math.floor(bs) then
    fail("batch_size must be a positive integer, got " .. tostring(bs))
  end
  for _, k in ipairs({ "shuffle", "drop_last" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "boolean" then fail(k .. " must be a boolean, got " .. type(opts[k])) end
  end
  if opts.transform ~= nil and not (type(opts.transform) == "function" or
      (getmetatable(opts.transform) or {}).__call) then
    fail("transform must be a function(images, labels), got " .. type(opts.transform))
  end
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    fail("seed must be an integer, got " .. tostring(opts.seed))
  end
  self.dataset, self.images, self.labels = ds, images, labels
  self.batch_size = math.tointeger(bs)
  self.shuffle, self.drop_last = opts.shuffle or false, opts.drop_last or false
  self.transform, self.seed = opts.transform, opts.seed
  self.epoch = 0 -- epochs started (iter() calls)
end

-- Number of samples.
function DataLoader:size() return self.images:size(1) end

function DataLoader:__len()
  local n, bs = self.images:size(1), self.batch_size
  if self.drop_last then return n // bs end
  return (n + bs - 1) // bs
end

function DataLoader:__tostring()
  return string.format("DataLoader(%d samples, batch_size %d%s%s): %d batches", self:size(), self.batch_size,
    self.shuffle and ", shuffle" or "", self.drop_last and ", drop_last" or "", #self)
end

-- A random order of 1..n as an int64 Tensor.
local function permutation(n)
  return mg.randperm(n)
end

-- The sample order of the next epoch (1-based int64), or nil in order.
function DataLoader:_order()
  if self._resume then -- continue the epoch a checkpoint was taken in
    local order = self._resume.order
    return order
  end
  self.epoch = self.epoch + 1
  if not self.shuffle then return nil end
  local n = self.images:size(1)
  if not self.seed then return permutation(n) end
  -- epoch e draws from counters [e * n, (e + 1) * n) of the stream `seed`
  local saved = mg.get_rng_state()
  mg.set_rng_state({ seed = self.seed, counter = (self.epoch - 1) * n })
  local ok, p = pcall(permutation, n)
  mg.set_rng_state(saved)
  if not ok then error(p, 0) end
  return p
end

-- One epoch: `for images, labels in loader:iter() do ... end`. Each batch
-- is a new Tensor (never a view of the dataset). labels is nil for a
-- dataset without labels.
function DataLoader:iter()
  local order = self:_order()
  local images, labels, transform = self.images, self.labels, self.transform
  local n, bs, count = images:size(1), self.batch_size, #self
  local b = self._resume and self._resume.position or 0
  self._resume = nil
  self._current = { order = order, position = b }
  local current = self._current
  return function()
    if b >= count then return nil end
    b = b + 1
    current.position = b
    local start = (b - 1) * bs + 1
    local len = math.min(bs, n - start + 1)
    local x, y
    if order then
      local idx = order:narrow(1, start, len)
      x = images:index_select(1, idx)
      y = labels and labels:index_select(1, idx)
    else
      x = images:narrow(1, start, len):clone()
      y = labels and labels:narrow(1, start, len):clone()
    end
    if transform then
      local tx, ty = transform(x, y)
      x = tx
      if ty ~= nil then y = ty end
    end
    return x, y
  end
end

-- Where the loader stands, for checkpoints: the epoch count, the batches
-- already taken in the current epoch and that epoch's order (nil when not
-- shuffled). {tensors = {order = T}, meta = {epoch = e, position = p}}.
function DataLoader:state_dict()
  local cur = self._current or { position = 0 }
  local meta = { epoch = self.epoch, position = cur.position }
  local tensors = {}
  if cur.order and cur.position > 0 and cur.position < #self then tensors.order = cur.order end
  if not tensors.order then meta.position = 0 end -- an epoch boundary
  return { tensors = tensors, meta = meta }
end

-- Restores state_dict()'s result: the next iter() finishes the interrupted
-- epoch with the same order, or starts the next epoch at a boundary.
function DataLoader:load_state_dict(sd)
  if type(sd) ~= "table" or type(sd.meta) ~= "table" then
    error("DataLoader: load_state_dict expects {tensors = ..., meta = ...} as state_dict() returns", 2)
  end
  local epoch, position = sd.meta.epoch, sd.meta.position or 0
  if math.type(epoch) ~= "integer" or math.type(position) ~= "integer" or position < 0 or position > #self then
    error("DataLoader: load_state_dict: bad epoch or position in the state", 2)
  end
  self.epoch = epoch
  self._current = nil
  if position > 0 then
    local order = sd.tensors and sd.tensors.order
    if self.shuffle and not mg.is_tensor(order) then
      error("DataLoader: load_state_dict: the state has no order for the interrupted epoch", 2)
    end
    self._resume = { order = self.shuffle and order or nil, position = position }
  else
    self._resume = nil
  end
end

return M
