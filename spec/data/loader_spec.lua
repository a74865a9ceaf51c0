-- mg.data.DataLoader: batching, every sample once per epoch, seeded
-- shuffles, drop_last, transforms, errors.
local H = require "helpers"
local mg = H.mg

-- n samples; image i is a [1, 2, 2] block filled with i, label i.
local function numbered(n)
  local images = mg.arange(1, n + 1):float():view(n, 1, 1, 1):expand(n, 1, 2, 2):contiguous()
  return mg.data.TensorDataset(images, mg.arange(1, n + 1))
end

-- Runs one epoch; returns the batch sizes and the labels in order, and
-- checks that every image matches its label.
local function epoch(loader)
  local sizes, seen = {}, {}
  for x, y in loader:iter() do
    sizes[#sizes + 1] = x:size(1)
    assert.same({ x:size(1), 1, 2, 2 }, x:shape())
    assert.same({ x:size(1) }, y:shape())
    assert.equal("int64", y.dtype)
    H.assert_near(x:select(2, 1):select(2, 1):select(2, 1), y:float(), 0)
    for _, v in ipairs(y:totable()) do seen[#seen + 1] = v end
  end
  return sizes, seen
end

local function sorted(t)
  local c = { table.unpack(t) }
  table.sort(c)
  return c
end

local function range(a, b)
  local r = {}
  for i = a, b do r[#r + 1] = i end
  return r
end

describe("mg.data.DataLoader", function()
  before_each(H.reseed(11))

  it("batches in order, keeping the last partial batch", function()
    local loader = mg.data.DataLoader(numbered(10), { batch_size = 4 })
    assert.equal(3, #loader)
    local sizes, seen = epoch(loader)
    assert.same({ 4, 4, 2 }, sizes)
    assert.same(range(1, 10), seen)
    -- a second epoch is the same
    local _, again = epoch(loader)
    assert.same(range(1, 10), again)
  end)

  it("drop_last leaves out the short batch", function()
    local loader = mg.data.DataLoader(numbered(10), { batch_size = 4, drop_last = true })
    assert.equal(2, #loader)
    local sizes, seen = epoch(loader)
    assert.same({ 4, 4 }, sizes)
    assert.same(range(1, 8), seen)
    local exact = mg.data.DataLoader(numbered(12), { batch_size = 4, drop_last = true })
    assert.equal(3, #exact)
    assert.same({ 4, 4, 4 }, (epoch(exact)))
    assert.equal(1, #mg.data.DataLoader(numbered(3), { batch_size = 8 }))
    assert.equal(0, #mg.data.DataLoader(numbered(3), { batch_size = 8, drop_last = true }))
    assert.same({}, (epoch(mg.data.DataLoader(numbered(3), { batch_size = 8, drop_last = true }))))
  end)

  it("shuffles: every sample exactly once per epoch, a new order each epoch", function()
    local loader = mg.data.DataLoader(numbered(50), { batch_size = 8, shuffle = true })
    assert.equal(7, #loader)
    local sizes, first = epoch(loader)
    assert.same({ 8, 8, 8, 8, 8, 8, 2 }, sizes)
    assert.same(range(1, 50), sorted(first))
    assert.are_not.same(range(1, 50), first)
    local _, second = epoch(loader)
    assert.same(range(1, 50), sorted(second))
    assert.are_not.same(first, second)
  end)

  it("shuffles with drop_last: no repeats, n - n % batch_size samples", function()
    local loader = mg.data.DataLoader(numbered(50), { batch_size = 8, shuffle = true, drop_last = true })
    assert.equal(6, #loader)
    local sizes, seen = epoch(loader)
    assert.same({ 8, 8, 8, 8, 8, 8 }, sizes)
    local s = sorted(seen)
    assert.equal(48, #s)
    for i = 2, #s do assert.is_true(s[i] > s[i - 1]) end
    assert.is_true(s[1] >= 1 and s[48] <= 50)
  end)

  it("repeats its shuffles after mg.manual_seed", function()
    local loader = mg.data.DataLoader(numbered(30), { batch_size = 7, shuffle = true })
    mg.manual_seed(3)
    local _, a1 = epoch(loader)
    local _, a2 = epoch(loader)
    mg.manual_seed(3)
    local _, b1 = epoch(loader)
    local _, b2 = epoch(loader)
    assert.same(a1, b1)
    assert.same(a2, b2)
  end)

  it("with seed, orders depend only on (seed, epoch) and leave the global RNG alone", function()
    local function orders(seed)
      local loader = mg.data.DataLoader(numbered(30), { batch_size = 7, shuffle = true, seed = seed })
      local before = mg.get_rng_state()
      local _, e1 = epoch(loader)
      assert.same(before, mg.get_rng_state())
      mg.rand(5) -- global draws in between change nothing
      local _, e2 = epoch(loader)
      return e1, e2
    end
    local a1, a2 = orders(9)
    mg.manual_seed(1234567)
    local b1, b2 = orders(9)
    assert.same(a1, b1)
    assert.same(a2, b2)
    assert.are_not.same(a1, a2)
    local c1 = orders(10)
    assert.are_not.same(a1, c1)
    assert.same(range(1, 30), sorted(a2))
  end)

  it("gives copies: writing into a batch leaves the dataset alone", function()
    local ds = numbered(6)
    for _, shuffle in ipairs({ false, true }) do
      for x, y in mg.data.DataLoader(ds, { batch_size = 4, shuffle = shuffle }):iter() do
        x:fill_(-1)
        y:fill_(0)
      end
    end
    H.assert_near(ds.images:sum(), 4 * 21, 0)
    assert.same(range(1, 6), ds.labels:totable())
  end)

  it("applies the transform to each batch; it may change the labels", function()
    local ds = numbered(5)
    local loader = mg.data.DataLoader(ds, { batch_size = 2,
      transform = function(batch) batch.images = batch.images * 10; return batch end })
    local got = {}
    for x, y in loader:iter() do
      H.assert_near(x:select(2, 1):select(2, 1):select(2, 1), y:float() * 10, 0)
      got[#got + 1] = y:size(1)
    end
    assert.same({ 2, 2, 1 }, got)
    -- the older form: a function of (images, labels)
    local relabel = mg.data.DataLoader(ds, { batch_size = 5, transform = function(x, y) return x, y:float() * 0 end })
    for _, y in relabel:iter() do H.assert_near(y, { 0, 0, 0, 0, 0 }, 0) end
    local keep = mg.data.DataLoader(ds, { batch_size = 5, transform = mg.data.transforms.normalize(1, 2) })
    for x, y in keep:iter() do H.assert_near(x:select(2, 1):select(2, 1):select(2, 1), (y:float() - 1) / 2, 0) end
    H.assert_error(function()
      for _ in mg.data.DataLoader(ds, { transform = function(b) return b.images end }):iter() do end
    end, "transform(batch) must return the batch table, got a Tensor")
  end)

  it("accepts any table with images (labels optional) and real datasets", function()
    local seen = 0
    for x, y in mg.data.DataLoader({ images = mg.zeros(7, 3) }, { batch_size = 3 }):iter() do
      assert.is_nil(y)
      seen = seen + x:size(1)
    end
    assert.equal(7, seen)
    local ds = mg.data.mnist{ root = "data", quiet = true, limit = 200 }
    local loader = mg.data.DataLoader(ds, { batch_size = 64, shuffle = true })
    assert.equal(4, #loader)
    local sizes = {}
    for x, y in loader:iter() do
      sizes[#sizes + 1] = x:size(1)
      assert.same({ x:size(1), 1, 28, 28 }, x:shape())
      assert.equal(x:size(1), y:size(1))
    end
    assert.same({ 64, 64, 64, 8 }, sizes)
  end)

  it("refuses bad datasets and options", function()
    local ds = numbered(4)
    H.assert_error(function() mg.data.DataLoader(ds, { batch_size = 0 }) end,
      "DataLoader: batch_size must be a positive integer, got 0")
    H.assert_error(function() mg.data.DataLoader(ds, { batch_size = 2.5 }) end, "batch_size must be a positive integer")
    H.assert_error(function() mg.data.DataLoader(ds, { batchsize = 2 }) end, "DataLoader: unknown option 'batchsize' "
      .. "(expected one of batch_size, drop_last, rank, seed, shuffle, transform, world_size)")
    H.assert_error(function() mg.data.DataLoader(ds, { shuffle = 1 }) end, "shuffle must be a boolean")
    H.assert_error(function() mg.data.DataLoader(ds, { transform = 3 }) end, "transform must be a function")
    H.assert_error(function() mg.data.DataLoader(ds, { seed = "x" }) end, "seed must be an integer")
    H.assert_error(function() mg.data.DataLoader({}) end,
      "DataLoader: the dataset must have #ds and ds:batch(idx), or be a table with an `images` Tensor")
    H.assert_error(function() mg.data.DataLoader(mg.zeros(3)) end, "the dataset must be a table")
    H.assert_error(function() mg.data.DataLoader({ images = mg.zeros(3, 2), labels = mg.zeros(2) }) end,
      "labels must be a Tensor with 3 rows")
  end)
end)
