-- mg.ssl: the rotation pretext transform, subsets and the probe wiring.
local H = require "helpers"
local mg = H.mg
local ssl = mg.ssl

describe("ssl.rotations", function()
  before_each(H.reseed(3))

  it("gives each image at 0, 90, 180 and 270 degrees with labels 1..4", function()
    local x = mg.arange(0, 2 * 9):float():view(2, 1, 3, 3)
    local r, labels = ssl.rotations(x)
    assert.are.same({ 8, 1, 3, 3 }, r:shape())
    assert.are.same({ 1, 1, 2, 2, 3, 3, 4, 4 }, labels:totable())
    assert.are.equal("int64", labels.dtype)
    -- image 1 = {{0,1,2},{3,4,5},{6,7,8}}; a quarter turn counterclockwise
    -- (as torch.rot90 over the last two dims) puts the last column on top
    H.assert_near(r:select(1, 1):view(3, 3), { { 0, 1, 2 }, { 3, 4, 5 }, { 6, 7, 8 } })
    H.assert_near(r:select(1, 3):view(3, 3), { { 2, 5, 8 }, { 1, 4, 7 }, { 0, 3, 6 } })
    H.assert_near(r:select(1, 5):view(3, 3), { { 8, 7, 6 }, { 5, 4, 3 }, { 2, 1, 0 } })
    H.assert_near(r:select(1, 7):view(3, 3), { { 6, 3, 0 }, { 7, 4, 1 }, { 8, 5, 2 } })
    -- image 2 follows the same order
    H.assert_near(r:select(1, 2), x:select(1, 2))
  end)

  it("refuses non-square images", function()
    H.assert_error(function() ssl.rotations(mg.zeros(1, 1, 3, 4)) end, "square")
  end)
end)

describe("ssl models and subsets", function()
  before_each(H.reseed(4))

  it("builds the seed RotNet: 1152 trunk features and 4 outputs", function()
    local net = mg.models.RotNet()
    local f = net.trunk(mg.rand(2, 1, 28, 28))
    assert.are.same({ 2, 1152 }, f:shape())
    assert.are.same({ 2, 4 }, net(mg.rand(2, 1, 28, 28)):shape())
  end)

  it("takes balanced, seeded subsets", function()
    local labels = mg.tensor({ 1, 1, 1, 1, 2, 2, 2, 3, 3, 3 }, { dtype = "int64" })
    local ds = mg.data.TensorDataset(mg.arange(0, 10):float():view(10, 1), labels)
    local s = ssl.balanced_subset(ds, 6, 7)
    local counts = {}
    for _, c in ipairs(s.labels:totable()) do counts[c] = (counts[c] or 0) + 1 end
    assert.are.same({ 2, 2, 2 }, counts)
    -- the same seed picks the same images; images stay with their labels
    H.assert_near(ssl.balanced_subset(ds, 6, 7).images, s.images, 0, 0)
    for i, v in ipairs(s.images:view(-1):totable()) do
      assert.are.equal(labels:totable()[v + 1], s.labels:totable()[i])
    end
    assert.are.equal(ds, ssl.balanced_subset(ds, "all"))
  end)

  it("extracts features in eval mode without a graph and restores the mode", function()
    local trunk = mg.nn.Sequential { mg.nn.Linear(3, 2), mg.nn.Dropout(0.5) }
    trunk:train()
    local x = mg.rand(5, 3)
    local f1, f2 = ssl.features(trunk, x, { batch_size = 2 }), ssl.features(trunk, x)
    H.assert_near(f1, f2, 0, 0) -- dropout off: deterministic
    assert.is_nil(f1.grad_fn)
    assert.is_true(trunk.training)
  end)

  it("probes features: a separable problem is learned, a frozen trunk is not changed", function()
    local x = mg.randn(200, 2)
    local y = (x:select(2, 1):gt(0) + 1):long()
    local ds = mg.data.TensorDataset(x, y)
    local trunk = mg.nn.Sequential { mg.nn.Linear(2, 8) } -- linear features keep the problem separable
    local before = trunk:state_dict()["1.weight"]:clone()
    local acc = ssl.linear_probe(trunk, ds, ds, { classes = 2, probe_steps = 300, lr = 1e-2 })
    assert.is_true(acc > 0.9, "probe accuracy " .. acc)
    H.assert_near(trunk:state_dict()["1.weight"], before, 0, 0)
  end)
end)
