-- mg recon: the seed autoencoder and inpainting CNN (shapes, sizes), the
-- denoising noise, the Apply module and the linear probe helper.
local H = require "helpers"
local mg = H.mg
local recon = require "moongrad.recon"

local function count(m)
  local n = 0
  for _, p in ipairs(m:parameters()) do n = n + p:numel() end
  return n
end

describe("mg.models.Autoencoder", function()
  before_each(H.reseed(31))

  it("is 784 -> 32 (ReLU) -> 784 (Sigmoid) and gives images back in their shape", function()
    local ae = mg.models.Autoencoder()
    local x = mg.rand(5, 1, 28, 28)
    local code = ae:encode(x)
    assert.are.same({ 5, 32 }, code:shape())
    assert.is_true(code:min():item() >= 0) -- after the ReLU
    local r = ae(x)
    assert.are.same({ 5, 1, 28, 28 }, r:shape())
    assert.is_true(r:min():item() > 0 and r:max():item() < 1)
    assert.are.equal(784 * 32 + 32 + 32 * 784 + 784, count(ae))
    assert.are.same({ 32, 784 }, ae.encoder[2].weight:shape())
    assert.are.same({ 784, 32 }, ae.decoder[1].weight:shape())
  end)

  it("learns: BCE falls on a fixed batch", function()
    local ae = mg.models.Autoencoder(16, 4)
    local x = mg.rand(8, 16):gt(0.5):float()
    local opt = mg.optim.Adam(ae:parameters(), { lr = 1e-2 })
    local first
    for i = 1, 60 do
      local loss = mg.binary_cross_entropy(ae(x), x)
      if i == 1 then first = loss:item() end
      opt:zero_grad(); loss:backward(); opt:step()
    end
    assert.is_true(mg.binary_cross_entropy(ae(x), x):item() < 0.8 * first)
  end)
end)

describe("recon.denoise_noise", function()
  before_each(H.reseed(32))

  it("adds Gaussian noise of the given std, clipped to [0, 1]", function()
    local x = mg.full({ 50, 1, 28, 28 }, 0.5)
    local y = recon.denoise_noise(0.1)(x)
    assert.is_true(y:min():item() >= 0 and y:max():item() <= 1)
    H.assert_near(y:mean(), 0.5, 2e-3)
    H.assert_near((y - 0.5):square():mean():sqrt(), 0.1, 2e-3)
    local z = recon.denoise_noise()(mg.zeros(4, 1, 28, 28)) -- std 0.3: half the pixels clip to 0
    assert.is_true(z:min():item() == 0 and z:max():item() <= 1)
    H.assert_near(mg.eq(z, 0):float():mean(), 0.5, 0.05)
  end)
end)

describe("mg.models.InpaintNet", function()
  before_each(H.reseed(33))

  it("has 32*24*24 features into the 128-d layer and restores [B, 1, 28, 28]", function()
    local net = mg.models.InpaintNet()
    local x = mg.rand(2, 1, 28, 28)
    local conv = net.features[4](net.features[3](net.features[2](net.features[1](x))))
    assert.are.same({ 2, 32, 24, 24 }, conv:shape())
    assert.are.same({ 128, 32 * 24 * 24 }, net.features[6].weight:shape())
    assert.are.same({ 2, 128 }, net.features(x):shape())
    local y = net(x)
    assert.are.same({ 2, 1, 28, 28 }, y:shape())
    assert.is_true(y:min():item() > 0 and y:max():item() < 1)
    assert.are.equal(160 + 4640 + (18432 * 128 + 128) + (128 * 784 + 784), count(net))
  end)
end)

describe("recon.Apply", function()
  it("runs its function as forward and has no parameters", function()
    local m = recon.Apply(function(x) return x * 2 end, "double")
    H.assert_near(m(mg.tensor { 1, 2 }), { 2, 4 }, 0)
    assert.are.equal(0, #m:parameters())
    assert.is_truthy(tostring(m):find("double", 1, true))
    H.assert_error(function() recon.Apply(3) end, "recon.Apply", "function")
  end)
end)

describe("recon.probe", function()
  before_each(H.reseed(34))

  it("probes a frozen trunk per label count on balanced subsets", function()
    -- 4 classes, class c lights pixel c of a 2x2 image: linearly separable
    local n = 40
    local labels = mg.tensor((function() local t = {} for i = 1, n do t[i] = (i - 1) % 4 + 1 end return t end)(),
      { dtype = "int64" })
    local images = mg.nn.functional.one_hot(labels, 4):view(n, 1, 2, 2) * 5 + mg.rand(n, 1, 2, 2) * 0.5
    local ds = mg.data.TensorDataset(images, labels)
    local seen = {}
    local rows = recon.probe(mg.nn.Flatten(), ds, ds, {
      labels = { 8, "all" }, seed = 1, steps = 600, on_row = function(r) seen[#seen + 1] = r.labels end,
    })
    assert.are.same({ 8, 40 }, seen)
    assert.are.equal(2, #rows)
    for _, r in ipairs(rows) do assert.are.equal(1, r.probe) end
  end)
end)
