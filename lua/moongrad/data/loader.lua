--- DataLoader: a sampler (the order of an epoch, and this rank's share of
-- it), the dataset's batch(idx), and an optional transform.
-- @module moongrad.data
local mg = require "moongrad"
local class = require "moongrad.class"
local TensorDataset = require("moongrad.data.tensor_dataset").TensorDataset

local M = {}

--- Batches of a dataset, in an order. ds is any dataset (see
-- TensorDataset): `#ds` and `ds:batch(idx)`; a plain table with an
-- `images` Tensor (and optionally `labels`) is wrapped in a TensorDataset.
-- `#loader` is the number of batches of an epoch (of this rank).
--
-- Order of epoch e (1-based; each batches() call starts the next epoch, or
-- the one set_epoch named): with shuffle = false 1, 2, ..., N; shuffled
-- with a seed, a permutation that depends only on (seed, e), the global RNG
-- left alone; shuffled without a seed on one rank, a permutation drawn
-- from the global RNG when the epoch starts (mg.manual_seed makes it
-- repeat).
--
-- Shards (rank r of world_size W, as PyTorch's DistributedSampler): every
-- rank computes the same order (so shuffling across ranks needs a seed; 0
-- when none is given), pads it by repeating its start to a multiple of W
-- (or, with drop_last, cuts it to one), and takes every W-th index
-- starting at r. Every rank gets ceil(N / W) samples (floor with
-- drop_last), so the same number of batches.
-- @type DataLoader
-- @usage local loader = mg.data.DataLoader(ds, {batch_size = 64, shuffle = true})
-- for batch in loader:batches() do print(batch.images:shape()) end
-- for images, labels in loader:iter() do end     -- ds.fields order
local DataLoader = class("data.DataLoader")
M.DataLoader = DataLoader

local OPTIONS = { "batch_size", "shuffle", "drop_last", "transform", "seed", "rank", "world_size" }

local function fail(msg, level) error("DataLoader: " .. msg, level or 4) end

local function is_callable(f)
  return type(f) == "function" or (getmetatable(f) or {}).__call ~= nil
end

-- The dataset: ds itself when it follows the protocol, else a
-- TensorDataset over a plain {images = T, labels = T} table.
local function as_dataset(ds)
  if type(ds) ~= "table" then fail("the dataset must be a table with #ds and ds:batch(idx), got " .. type(ds)) end
  if type(ds.batch) == "function" then return ds end
  if not mg.is_tensor(ds.images) then
    fail("the dataset must have #ds and ds:batch(idx), or be a table with an `images` Tensor "
      .. "(and optionally `labels`)", 5)
  end
  local images, labels = ds.images, ds.labels
  if images:dim() == 0 then fail("images must have a first dim of samples, got a 0-dim Tensor") end
  if labels ~= nil and (not mg.is_tensor(labels) or labels:dim() == 0 or labels:size(1) ~= images:size(1)) then
    fail(string.format("labels must be a Tensor with %d rows, like the images", images:size(1)))
  end
  return TensorDataset(images, labels)
end

--- data.DataLoader(ds [, opts]): a new loader.
-- @tparam table ds a dataset
-- @tparam[opt] table opts `{batch_size = 64, shuffle = false, seed = nil, drop_last = false,
--   transform = nil, rank = 1, world_size = 1}`. drop_last leaves out the last batch when it
--   is smaller than batch_size (and, with shards, the tail that does not fill a round).
--   transform is function(batch) -> batch; a function of two or more parameters, such as the
--   image transforms of mg.data.transforms, is called as transform(images, labels) ->
--   images [, labels]. rank (1..world_size) and world_size choose this process's shard.
function DataLoader:init(ds, opts)
  opts = mg.check_options("DataLoader", opts, OPTIONS, 3)
  ds = as_dataset(ds)
  local bs = opts.batch_size or 64
  if type(bs) ~= "number" or bs < 1 or bs ~= math.floor(bs) then
    fail("batch_size must be a positive integer, got " .. tostring(bs))
  end
  for _, k in ipairs({ "shuffle", "drop_last" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "boolean" then fail(k .. " must be a boolean, got " .. type(opts[k])) end
  end
  if opts.transform ~= nil and not is_callable(opts.transform) then
    fail("transform must be a function(batch) -> batch, got " .. type(opts.transform))
  end
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    fail("seed must be an integer, got " .. tostring(opts.seed))
  end
  local world = opts.world_size or 1
  if math.type(world) ~= "integer" or world < 1 then
    fail("world_size must be a positive integer, got " .. tostring(world))
  end
  local rank = opts.rank or 1
  if math.type(rank) ~= "integer" or rank < 1 or rank > world then
    fail(string.format("rank must be an integer in 1..%d (world_size), got %s", world, tostring(rank)))
  end
  self.dataset = ds
  self.fields = ds.fields
  self.batch_size = math.tointeger(bs)
  self.shuffle, self.drop_last = opts.shuffle or false, opts.drop_last or false
  self.seed, self.rank, self.world_size = opts.seed, rank, world
  self.transform = opts.transform
  local t = opts.transform
  self.pair_transform = t ~= nil and (type(t) ~= "function" or debug.getinfo(t, "u").nparams ~= 1
    or debug.getinfo(t, "u").isvararg)
  self.epoch = 0 -- the epoch of the last batches() call
  -- compatibility with loops that read loader.images / loader.labels
  self.images, self.labels = ds.images, ds.labels
end

--- The number of samples of the dataset.
-- @treturn int
function DataLoader:size() return #self.dataset end

--- The samples of this rank per epoch.
-- @treturn int
function DataLoader:num_samples()
  local n, w = #self.dataset, self.world_size
  if w == 1 then return n end
  if self.drop_last then return n // w end
  return (n + w - 1) // w
end

function DataLoader:__len()
  local n, bs = self:num_samples(), self.batch_size
  if self.drop_last then return n // bs end
  return (n + bs - 1) // bs
end

function DataLoader:__tostring()
  return string.format("DataLoader(%d samples, batch_size %d%s%s%s): %d batches", self:size(), self.batch_size,
    self.shuffle and ", shuffle" or "", self.drop_last and ", drop_last" or "",
    self.world_size > 1 and string.format(", rank %d of %d", self.rank, self.world_size) or "", #self)
end

--- Makes the next batches() run epoch e (its order; with a seed or shards
-- the order depends on e). Without set_epoch each batches() call starts the
-- epoch after the last one.
-- @int e
function DataLoader:set_epoch(e)
  if math.type(e) ~= "integer" or e < 1 then
    error("DataLoader:set_epoch: expected an integer >= 1, got " .. tostring(e), 2)
  end
  self._next_epoch = e
end

-- The permutation of epoch e from the stream `seed` (global RNG untouched).
local function seeded_permutation(seed, e, n)
  return mg.with_rng_state({ seed = seed, counter = (e - 1) * n }, mg.randperm, n)
end

--- This rank's sample indices of epoch e, in order. Without a seed on one
-- rank, a shuffled order comes from the global RNG (a new draw on each
-- call).
-- @int e
-- @treturn Tensor|nil int64 [num_samples], 1-based, or nil for 1..N in order
function DataLoader:indices(e)
  local n, w = #self.dataset, self.world_size
  local order
  if self.shuffle then
    if self.seed == nil and w == 1 then order = mg.randperm(n)
    else order = seeded_permutation(self.seed or 0, e, n) end
  end
  if w == 1 then return order end
  order = order or mg.arange(1, n + 1)
  local total = self:num_samples() * w
  if total > n then -- pad by repeating from the start
    local parts, have = { order }, n
    while have < total do
      local k = math.min(n, total - have)
      parts[#parts + 1] = order:narrow(1, 1, k)
      have = have + k
    end
    order = mg.cat(parts, 1)
  end
  -- rank r: positions r, r + w, ... of the first `total`
  return order:narrow(1, 1, total):view(total // w, w):select(2, self.rank):contiguous()
end

-- The order of the epoch about to start (resume first), and its number.
function DataLoader:_start()
  local r = self._resume
  if r then
    self._resume = nil
    self.epoch = r.epoch
    return r.order, r.position
  end
  self.epoch = self._next_epoch or (self.epoch + 1)
  self._next_epoch = nil
  return self:indices(self.epoch), 0
end

-- Applies the transform to a batch table.
function DataLoader:_transform(batch)
  local t = self.transform
  if not t then return batch end
  if not self.pair_transform then
    local out = t(batch)
    if type(out) ~= "table" or mg.is_tensor(out) then
      error("DataLoader: transform(batch) must return the batch table, got " ..
        (mg.is_tensor(out) and "a Tensor (a transform of images takes (images, labels))" or type(out)), 0)
    end
    return out
  end
  local f = self.fields or { "images", "labels" }
  local x, y = t(batch[f[1]], batch[f[2]])
  batch[f[1]] = x
  if y ~= nil and f[2] then batch[f[2]] = y end
  return batch
end

--- Iterates over the batch tables of one epoch (this rank's share). Each
-- batch holds new tensors, never views of the dataset's.
-- @treturn function an iterator of batch tables
function DataLoader:batches()
  local order, b = self:_start()
  local ds, bs, count = self.dataset, self.batch_size, #self
  local n = self:num_samples()
  self._current = { order = order, position = b, epoch = self.epoch }
  local current = self._current
  return function()
    if b >= count then return nil end
    b = b + 1
    current.position = b
    local start = (b - 1) * bs + 1
    local len = math.min(bs, n - start + 1)
    local idx = order and order:narrow(1, start, len) or mg.arange(start, start + len)
    return self:_transform(ds:batch(idx))
  end
end

--- Iterates over the batches' fields in ds.fields order (the batch table
-- itself for a dataset without `fields`).
-- @treturn function an iterator of the fields' tensors
-- @usage for images, labels in loader:iter() do end
function DataLoader:iter()
  local next_batch = self:batches()
  local fields = self.fields
  return function()
    local batch = next_batch()
    if batch == nil then return nil end
    if not fields then return batch end
    local out = {}
    for i, name in ipairs(fields) do out[i] = batch[name] end
    return table.unpack(out, 1, #fields)
  end
end

--- Where the loader stands, for checkpoints: the epoch, the batches
-- already taken in it and its order (when not 1..N); position 0 is an
-- epoch boundary.
-- @treturn table `{tensors = {order = T}, meta = {epoch = e, position = p}}`
function DataLoader:state_dict()
  local cur = self._current or { position = 0 }
  local meta = { epoch = self.epoch, position = cur.position }
  local tensors = {}
  if cur.position <= 0 or cur.position >= #self then
    meta.position = 0
  elseif cur.order then
    tensors.order = cur.order
  end
  return { tensors = tensors, meta = meta }
end

--- Restores state_dict()'s result: the next batches() finishes the
-- interrupted epoch with the same order, or starts the next epoch at a
-- boundary.
-- @tparam table sd
function DataLoader:load_state_dict(sd)
  if type(sd) ~= "table" or type(sd.meta) ~= "table" then
    error("DataLoader: load_state_dict expects {tensors = ..., meta = ...} as state_dict() returns", 2)
  end
  local epoch, position = sd.meta.epoch, sd.meta.position or 0
  if math.type(epoch) ~= "integer" or math.type(position) ~= "integer" or position < 0 or position > #self then
    error("DataLoader: load_state_dict: bad epoch or position in the state", 2)
  end
  self.epoch, self._current, self._next_epoch = epoch, nil, nil
  self._resume = nil
  if position > 0 then
    local order = sd.tensors and sd.tensors.order
    if (self.shuffle or self.world_size > 1) and not mg.is_tensor(order) then
      error("DataLoader: load_state_dict: the state has no order for the interrupted epoch", 2)
    end
    self._resume = { order = order, position = position, epoch = epoch }
  end
end

--- True when a load_state_dict left an epoch to finish.
-- @treturn bool
function DataLoader:resuming() return self._resume ~= nil end

return M
