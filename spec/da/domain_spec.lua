-- mg.da: the shifted target domain (seeded recipe, values, shapes, labels).
local H = require "helpers"
local mg = H.mg
local da = mg.da

local function digits(n) return mg.rand(n, 1, 28, 28) end

describe("da.shift", function()
  before_each(H.reseed(5))

  it("keeps the shape, stays in [0, 1] and reports its choices", function()
    local d, t = digits(6), mg.rand(3, 1, 28, 28)
    local x, info = da.shift(d, t, { seed = 3 })
    assert.are.same({ 6, 1, 28, 28 }, x:shape())
    assert.are.equal("float32", x.dtype)
    assert.is_true(x:min():item() >= 0 and x:max():item() <= 1)
    assert.are.equal("int64", info.texture.dtype)
    assert.are.same({ 6 }, info.texture:shape())
    assert.is_true(info.texture:float():min():item() >= 1 and info.texture:float():max():item() <= 3)
    for _, v in ipairs(info.inverted:totable()) do assert.is_true(v == 0 or v == 1) end
  end)

  it("gives the same images for the same seed, other images for another, and leaves the RNG alone", function()
    local d, t = digits(8), mg.rand(5, 1, 28, 28)
    local state = mg.get_rng_state()
    local a = da.shift(d, t, { seed = 7 })
    local after = mg.rand(4)
    mg.set_rng_state(state)
    local expected = mg.rand(4)
    H.assert_near(after, expected, 0, 0, "global RNG")
    local b = da.shift(d, t, { seed = 7 })
    H.assert_near(a, b, 0, 0, "same seed")
    local c = da.shift(d, t, { seed = 8 })
    assert.is_true((a - c):abs():max():item() > 0.1)
  end)

  it("blends |digit - texture| and inverts where told (a constant texture)", function()
    local d = digits(4)
    local t = mg.full({ 2, 1, 28, 28 }, 0.6)
    local c = { contrast_min = 0.5, contrast_max = 0.5 } -- texture 0.6 at contrast 0.5: 0.3
    H.assert_near(da.shift(d, t, { seed = 1, invert = 0, contrast_min = 0.5, contrast_max = 0.5 }),
      (d - 0.3):abs(), 1e-6, 0)
    H.assert_near(da.shift(d, t, { seed = 1, invert = 1, contrast_min = 0.5, contrast_max = 0.5 }),
      1 - (d - 0.3):abs(), 1e-6, 0)
    c.seed, c.invert = 1, 0.5
    local x, info = da.shift(d, t, c)
    local inv = info.inverted:view(4, 1, 1, 1)
    H.assert_near(x, (d - 0.3):abs() * (1 - inv) + (1 - (d - 0.3):abs()) * inv, 1e-6, 0)
  end)

  it("scales each texture by a contrast drawn in [contrast_min, contrast_max] (default [0.3, 0.8])", function()
    local x = da.shift(mg.zeros(200, 1, 28, 28), mg.ones(3, 1, 28, 28), { seed = 5 })
    local c = x:view(200, -1)
    H.assert_near(c:max(2), c:min(2), 1e-6, 0, "one contrast per image")
    local lo, hi = c:min():item(), c:max():item()
    assert.is_true(lo >= 0.3 - 1e-6 and lo < 0.35, "least contrast " .. lo)
    assert.is_true(hi <= 0.8 + 1e-6 and hi > 0.75, "greatest contrast " .. hi)
  end)

  it("zooms a window of the central region with bilinear sampling (a ramp texture)", function()
    -- texture value = column / 27: bilinear sampling of a linear ramp is exact,
    -- so with zoom 2 each row rises by 1/54 per pixel; the window's sample
    -- points lie in columns [margin - 1/4, margin + 20 - 14 + 13.375].
    local ramp = (mg.arange(28):float() / 27):view(1, 1, 1, 28):expand(2, 1, 28, 28):contiguous()
    local x = da.shift(mg.zeros(5, 1, 28, 28), ramp, { seed = 2, zoom_min = 2, zoom_max = 2, invert = 0,
      contrast_min = 1, contrast_max = 1 })
    local step = x:narrow(4, 2, 27) - x:narrow(4, 1, 27)
    H.assert_near(step, mg.full({ 5, 1, 28, 27 }, 1 / 54), 1e-5, 0, "slope along a row")
    H.assert_near(x:narrow(3, 2, 27), x:narrow(3, 1, 27), 1e-6, 0, "constant down a column")
    assert.is_true(x:min():item() >= 3.75 / 27 - 1e-6)
    assert.is_true(x:max():item() <= 23.375 / 27 + 1e-6)
  end)

  it("uses the picked texture for each digit", function()
    local t = mg.cat({ mg.zeros(1, 1, 28, 28), mg.ones(1, 1, 28, 28) }, 1)
    local d = mg.zeros(10, 1, 28, 28)
    local x, info = da.shift(d, t, { seed = 4, invert = 0, contrast_min = 1, contrast_max = 1 })
    local picked = info.texture:totable()
    for i, v in ipairs(x:view(10, -1):mean(2):totable()) do H.assert_near(v, picked[i] - 1, 1e-6, 0) end
  end)

  it("rejects bad inputs with the op's name", function()
    H.assert_error(function() da.shift(mg.rand(2, 28, 28), mg.rand(2, 1, 28, 28)) end, "da.shift", "digits",
      "[N, 1, H, W]")
    H.assert_error(function() da.shift(mg.rand(2, 1, 28, 28), mg.rand(2, 1, 20, 20)) end, "da.shift", "20x20")
    H.assert_error(function() da.shift(mg.rand(2, 1, 28, 28), mg.rand(2, 1, 28, 28), { invert = 2 }) end,
      "da.shift", "invert")
    H.assert_error(function() da.shift(mg.rand(2, 1, 28, 28), mg.rand(2, 1, 28, 28), { zoom_min = 0.5 }) end,
      "da.shift", "zoom_min")
    H.assert_error(function() da.shift(mg.rand(2, 1, 28, 28), mg.rand(2, 1, 28, 28), { contrast_max = 2 }) end,
      "da.shift", "contrast_max")
  end)
end)

describe("da.target_domain and da.split_halves", function()
  before_each(H.reseed(6))

  it("keeps the labels of the digits, image by image", function()
    local ds = mg.data.TensorDataset(digits(5), mg.tensor({ 3, 1, 4, 1, 5 }, { dtype = "int64" }))
    local t = mg.full({ 1, 1, 28, 28 }, 0.6)
    local target = da.target_domain(ds, t, { seed = 9, invert = 0, contrast_min = 1, contrast_max = 1 })
    assert.are.same({ 3, 1, 4, 1, 5 }, target.labels:totable())
    H.assert_near(target.images, (ds.images - 0.6):abs(), 1e-6, 0)
    assert.are.same({ 5 }, target.inverted:shape())
  end)

  it("splits a dataset into two disjoint halves", function()
    local ds = mg.data.TensorDataset(mg.arange(5):float():view(5, 1, 1, 1), mg.arange(5))
    local a, b = da.split_halves(ds)
    assert.are.same({ 0, 1, 2 }, a.labels:totable())
    assert.are.same({ 3, 4 }, b.labels:totable())
    assert.are.same({ 3, 4 }, b.images:view(-1):long():totable())
    H.assert_error(function() da.split_halves(mg.data.TensorDataset(mg.zeros(1, 1))) end, "da.split_halves", "got 1")
  end)
end)
