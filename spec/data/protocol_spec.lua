-- The dataset protocol (#ds, ds:batch(idx)), TensorDataset's named fields,
-- a dataset that is not images (token windows), and the loader's shards.
local H = require "helpers"
local mg = H.mg

-- Token windows over one long stream of ids: sample i is the window
-- starting at token (i - 1) * stride + 1; input its first `len` tokens,
-- target the same shifted by one (next-token prediction).
local Windows = {}
Windows.__index = Windows
Windows.__len = function(self) return (self.tokens:size(1) - self.len - 1) // self.stride + 1 end
function Windows:batch(idx)
  local starts = (idx - 1) * self.stride                      -- 0-based start per sample [B]
  local offsets = mg.arange(0, self.len + 1):view(1, -1)      -- [1, len + 1]
  local pos = (starts:view(-1, 1) + offsets + 1):view(-1)     -- 1-based token positions
  local w = self.tokens:index_select(1, pos):view(idx:size(1), self.len + 1)
  return { input = w:narrow(2, 1, self.len):contiguous(), target = w:narrow(2, 2, self.len):contiguous() }
end
Windows.fields = { "input", "target" }
local function windows(n_tokens, len, stride)
  return setmetatable({ tokens = mg.arange(101, 101 + n_tokens), len = len, stride = stride }, Windows)
end

-- A dataset whose batches are their own indices.
local function index_set(n)
  return setmetatable({}, {
    __len = function() return n end,
    __index = { batch = function(_, idx) return { idx = idx:clone() } end, fields = { "idx" } },
  })
end

-- Every index of one epoch of `loader`, in order.
local function drawn(loader)
  local out = {}
  for batch in loader:batches() do
    for _, v in ipairs(batch.idx:totable()) do out[#out + 1] = v end
  end
  return out
end

describe("the dataset protocol", function()
  before_each(H.reseed(4))

  it("TensorDataset names its fields, images and labels first, and batches them", function()
    local ds = mg.data.TensorDataset { weights = mg.arange(1, 6):float() * 10, labels = mg.arange(1, 6),
      images = mg.arange(1, 6):float():view(5, 1), extra = mg.zeros(5, 2) }
    assert.same({ "images", "labels", "extra", "weights" }, ds.fields)
    assert.equal(5, #ds)
    local b = ds:batch(mg.tensor({ 4, 2 }, { dtype = "int64" }))
    assert.same({ { 4 }, { 2 } }, b.images:totable())
    assert.same({ 4, 2 }, b.labels:totable())
    assert.same({ 40, 20 }, b.weights:totable())
    b.images:fill_(0) -- a copy, not a view
    assert.equal(15, ds.images:sum():item())
    H.assert_error(function() mg.data.TensorDataset { a = mg.zeros(3), b = mg.zeros(4) } end,
      "TensorDataset: b has 4 samples ([4]) but a has 3")
    H.assert_error(function() mg.data.TensorDataset { batch = mg.zeros(3) } end,
      "field names must be strings other than")
  end)

  it("the image sets are TensorDatasets with images, labels and classes", function()
    local ds = mg.data.mnist { root = "data", quiet = true, limit = 20 }
    assert.same({ "images", "labels" }, ds.fields)
    local b = ds:batch(mg.tensor({ 3, 1 }, { dtype = "int64" }))
    assert.same({ 2, 1, 28, 28 }, b.images:shape())
    assert.same({ ds.labels:totable()[3], ds.labels:totable()[1] }, b.labels:totable())
    assert.equal(10, #ds.classes)
  end)

  it("the loader iterates token windows, shuffled, every window once", function()
    local ds = windows(50, 8, 4) -- windows start at tokens 1, 5, ..., 41: 11 windows
    assert.equal(11, #ds)
    local loader = mg.data.DataLoader(ds, { batch_size = 4, shuffle = true, seed = 3 })
    assert.equal(3, #loader)
    local starts = {}
    for input, target in loader:iter() do
      assert.equal("int64", input.dtype)
      assert.equal(8, input:size(2))
      H.assert_near(target:float(), input:float() + 1, 0) -- the next token
      for _, row in ipairs(input:totable()) do
        for k = 2, #row do assert.equal(row[k - 1] + 1, row[k]) end
        starts[#starts + 1] = (row[1] - 101) // 4 + 1
      end
    end
    table.sort(starts)
    local want = {}
    for i = 1, 11 do want[i] = i end
    assert.same(want, starts)
    -- the batch table form names the fields
    for batch in loader:batches() do
      assert.same({ batch.input:size(1), 8 }, batch.target:shape())
    end
  end)

  it("shards: same size on every rank, every index covered, ranks differ, epochs differ", function()
    for _, case in ipairs({ { n = 23, w = 4 }, { n = 24, w = 3 }, { n = 23, w = 4, drop_last = true } }) do
      local n, w = case.n, case.w
      local per = case.drop_last and n // w or (n + w - 1) // w
      local function shards(epoch)
        local out = {}
        for r = 1, w do
          local loader = mg.data.DataLoader(index_set(n), { batch_size = 2, shuffle = true, seed = 7, rank = r,
            world_size = w, drop_last = case.drop_last })
          loader:set_epoch(epoch)
          out[r] = drawn(loader)
          local batches = 0
          for _ in loader:batches() do batches = batches + 1 end
          assert.equal(#loader, batches)
        end
        return out
      end
      local e1, e2 = shards(1), shards(2)
      local seen = {}
      for r = 1, w do
        local expect = case.drop_last and (per // 2) * 2 or per
        assert.equal(expect, #e1[r], string.format("rank %d of %d, n %d", r, w, n))
        for _, i in ipairs(e1[r]) do seen[i] = (seen[i] or 0) + 1 end
        if r > 1 then assert.are_not.same(e1[1], e1[r]) end
        assert.are_not.same(e1[r], e2[r])
      end
      local covered = 0
      for i = 1, n do if seen[i] then covered = covered + 1 end end
      if case.drop_last then -- no padding: all distinct; the short batches are dropped
        local total = 0
        for _, c in pairs(seen) do total = total + c end
        assert.equal(covered, total)
        assert.equal(w * (per // 2) * 2, total)
      else
        assert.equal(n, covered)
        local total = 0
        for _, c in pairs(seen) do total = total + c end
        assert.equal(per * w, total) -- padding repeats only the start
      end
    end
  end)

  it("shards partition the same permutation as PyTorch's DistributedSampler", function()
    -- unshuffled, n = 10, w = 4: padded 1..10, 1, 2; rank r takes r, r + 4, ...
    local want = { { 1, 5, 9 }, { 2, 6, 10 }, { 3, 7, 1 }, { 4, 8, 2 } }
    for r = 1, 4 do
      local loader = mg.data.DataLoader(index_set(10), { batch_size = 2, rank = r, world_size = 4 })
      assert.same(want[r], drawn(loader))
      assert.equal(2, #loader)
    end
    local cut = mg.data.DataLoader(index_set(10), { batch_size = 2, rank = 2, world_size = 4, drop_last = true })
    assert.same({ 2, 6 }, drawn(cut))
    -- shuffled: the ranks' shares interleave one seeded permutation
    local whole = drawn(mg.data.DataLoader(index_set(12), { batch_size = 12, shuffle = true, seed = 5,
      rank = 1, world_size = 1 }))
    local p = mg.with_rng_state({ seed = 5, counter = 0 }, mg.randperm, 12):totable()
    assert.same(p, whole)
    for r = 1, 3 do
      local share = drawn(mg.data.DataLoader(index_set(12), { batch_size = 4, shuffle = true, seed = 5, rank = r,
        world_size = 3 }))
      assert.same({ p[r], p[r + 3], p[r + 6], p[r + 9] }, share)
    end
  end)

  it("resumes a shard mid-epoch from its state", function()
    local a = mg.data.DataLoader(index_set(30), { batch_size = 4, shuffle = true, seed = 2, rank = 2, world_size = 3 })
    local full = drawn(a)
    local b = mg.data.DataLoader(index_set(30), { batch_size = 4, shuffle = true, seed = 2, rank = 2, world_size = 3 })
    local it = b:batches()
    it(); it()
    local sd = b:state_dict()
    local c = mg.data.DataLoader(index_set(30), { batch_size = 4, shuffle = true, seed = 2, rank = 2, world_size = 3 })
    c:load_state_dict(sd)
    local rest = drawn(c)
    assert.same({ table.unpack(full, 9) }, rest)
  end)

  it("refuses bad shards", function()
    H.assert_error(function() mg.data.DataLoader(index_set(3), { rank = 3, world_size = 2 }) end,
      "DataLoader: rank must be an integer in 1..2 (world_size), got 3")
    H.assert_error(function() mg.data.DataLoader(index_set(3), { world_size = 0 }) end,
      "DataLoader: world_size must be a positive integer, got 0")
    H.assert_error(function() mg.data.DataLoader(index_set(3)):set_epoch(0) end, "set_epoch: expected an integer >= 1")
  end)
end)

describe("helpers with one home", function()
  it("with_rng_state runs under a state and puts the previous one back, also on error", function()
    mg.manual_seed(9)
    local before = mg.get_rng_state()
    local a = mg.with_rng_state(3, mg.rand, 4):totable()
    assert.same(before, mg.get_rng_state())
    mg.manual_seed(3)
    assert.same(mg.rand(4):totable(), a)
    mg.set_rng_state(before)
    assert.is_false(pcall(mg.with_rng_state, 5, function() mg.rand(2); error("boom") end))
    assert.same(before, mg.get_rng_state())
    H.assert_error(function() mg.with_rng_state("x", print) end, "with_rng_state: expected an integer seed")
  end)

  it("check_options names the function, the option and what is allowed", function()
    H.assert_error(function() mg.check_options("f", { b = 1, c = 2, zz = 3 }, { "b", "c" }) end,
      "f: unknown option 'zz' (expected one of b, c)")
    H.assert_error(function() mg.check_options("f", 3, { "b" }) end, "f: options must be a table, got number")
    assert.same({}, mg.check_options("f", nil, { "b" }))
    assert.same({ b = 1 }, mg.check_options("f", { b = 1 }, { b = true }))
  end)

  it("inference runs in eval mode without a graph and restores every module's mode, even on error", function()
    local nn = mg.nn
    local inner = nn.Dropout(0.5)
    local net = nn.Sequential { nn.Linear(2, 2), inner }
    net:train()
    inner:eval() -- a mixed state must come back as it was
    local seen
    local y = mg.nn.utils.inference(net, function(x)
      seen = { net.training, inner.training, mg.is_grad_enabled() }
      return net(x)
    end, mg.ones(3, 2))
    assert.same({ false, false, false }, seen)
    assert.is_false(y.requires_grad)
    assert.is_true(net.training)
    assert.is_false(inner.training)
    assert.is_true(mg.is_grad_enabled())
    assert.is_false(pcall(mg.nn.utils.inference, { net }, function() error("fail") end))
    assert.is_true(net.training)
    assert.is_false(inner.training)
    assert.is_true(mg.is_grad_enabled())
    -- eval_mode keeps the graph
    local g = mg.nn.utils.eval_mode(net, function() return net(mg.ones(1, 2)) end)
    assert.is_true(g.requires_grad)
  end)

  it("map_batches joins the results of each slice, several outputs too", function()
    local x = mg.arange(1, 8):float()
    local a, b = mg.nn.utils.map_batches(x, 3, function(s, start) return s * 2, s + start * 0 end)
    assert.same({ 2, 4, 6, 8, 10, 12, 14 }, a:totable())
    assert.same(x:totable(), b:totable())
  end)
end)
