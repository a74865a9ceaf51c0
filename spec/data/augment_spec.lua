-- The augmentation kernels (mg.affine_warp, color_jitter, gaussian_blur,
-- cutout) and the random transforms built on them: shapes, ranges, a seed
-- repeats them, each image draws its own parameters, and one property each.
local H = require "helpers"
local mg = H.mg
local T = mg.data.transforms

-- A [B, 1, h, w] batch whose pixel (i, j) (0-based) holds j (a ramp along columns).
local function ramp(b, h, w) return mg.arange(0, w):float():view(1, 1, 1, w):expand(b, 1, h, w):contiguous() end

-- Per-image sums of a batch: [B].
local function per_image_sum(t) return t:reshape(t:size(1), -1):sum(2) end

local function identity(b) return mg.tensor({ 1, 0, 0, 0, 1, 0 }):view(1, 6):expand(b, 6):contiguous() end

describe("mg.affine_warp", function()
  before_each(H.reseed(11))

  it("copies exactly under identity maps", function()
    local x = mg.rand(3, 2, 5, 7)
    H.assert_near(mg.affine_warp(x, identity(3)), x, 0, 0)
  end)

  it("shifts by whole pixels with the fill outside, and interpolates between pixels", function()
    local x = mg.arange(1, 13):float():view(1, 1, 3, 4)
    -- output (j, i) reads input (j + 1, i): one column to the left, fill on the right
    local shifted = mg.affine_warp(x, mg.tensor { { 1, 0, 1, 0, 1, 0 } }, { fill = -1 })
    H.assert_near(shifted:view(3, 4), { { 2, 3, 4, -1 }, { 6, 7, 8, -1 }, { 10, 11, 12, -1 } })
    -- half a pixel: the mean of neighbours; the last column mixes with the fill (0)
    local half = mg.affine_warp(x, mg.tensor { { 1, 0, 0.5, 0, 1, 0 } })
    H.assert_near(half:view(3, 4):select(1, 1), { 1.5, 2.5, 3.5, 2 })
  end)

  it("turns a quarter about the centre as rot90 does", function()
    local x = mg.rand(2, 1, 5, 5)
    -- output (u, v) from the centre reads input (-v, u): rot90's quarter turn
    local q = mg.tensor { { 0, -1, 0, 1, 0, 0 } }:expand(2, 6):contiguous()
    H.assert_near(mg.affine_warp(x, q), x:rot90(1, 3, 4), 1e-6, 0)
  end)

  it("keeps values between the input's extremes and the fill", function()
    local x = mg.rand(4, 1, 9, 9)
    local theta = mg.randn(4, 6)
    local y = mg.affine_warp(x, theta, { fill = 0 })
    assert.are.same({ 4, 1, 9, 9 }, y:shape())
    assert.is_true(y:min():item() >= 0 and y:max():item() <= x:max():item() + 1e-6)
  end)

  it("refuses bad shapes and images that need a gradient", function()
    H.assert_error(function() mg.affine_warp(mg.rand(2, 1, 4, 4), mg.rand(3, 6)) end, "affine_warp", "[2, 6]", "[3, 6]")
    H.assert_error(function() mg.affine_warp(mg.rand(4, 4), mg.rand(1, 6)) end, "affine_warp", "[B, C, H, W]")
    H.assert_error(function() mg.affine_warp(mg.rand(1, 1, 4, 4):requires_grad_(), identity(1)) end,
      "not differentiable")
  end)
end)

describe("mg.color_jitter, mg.gaussian_blur, mg.cutout", function()
  before_each(H.reseed(12))

  it("color_jitter: factors 1 give the input; brightness scales; contrast 0 leaves the mean", function()
    local x = mg.rand(3, 1, 4, 4)
    H.assert_near(mg.color_jitter(x, 1, 1), x, 0, 0)
    local b = mg.tensor { 0.5, 1.5, 1 }
    H.assert_near(mg.color_jitter(x, b, 1), (x * b:view(3, 1, 1, 1)):clamp(0, 1), 1e-6, 0)
    local flat = mg.color_jitter(x, 1, 0)
    H.assert_near(flat, x:reshape(3, 16):mean(2):view(3, 1, 1, 1):expand(3, 1, 4, 4), 1e-6, 0)
    local y = mg.color_jitter(x, 1.8, mg.tensor { 0.2, 1.7, 3 })
    assert.is_true(y:min():item() >= 0 and y:max():item() <= 1)
    local unclamped = mg.color_jitter(x, 3, 1, { clamp = false })
    H.assert_near(unclamped, x * 3, 1e-6, 0)
  end)

  it("gaussian_blur: sigma 0 copies, a constant stays, and it matches a direct convolution", function()
    local x = mg.rand(2, 2, 6, 5)
    H.assert_near(mg.gaussian_blur(x, 0, 3), x, 0, 0)
    local c = mg.full({ 1, 1, 5, 5 }, 0.7)
    H.assert_near(mg.gaussian_blur(c, 1.3, 2), c, 1e-6, 0)
    -- direct 2-D sum with the edge pixels repeated (the naive twin)
    local sigma, r = mg.tensor { 0.8, 1.6 }, 2
    local y = mg.gaussian_blur(x, sigma, r)
    local xs = x:totable()
    for b = 1, 2 do
      local s = sigma:totable()[b]
      local w, total = {}, 0
      for k = -r, r do w[k] = math.exp(-k * k / (2 * s * s)); total = total + w[k] end
      for k = -r, r do w[k] = w[k] / total end
      local want = {}
      for c2 = 1, 2 do
        want[c2] = {}
        for i = 1, 6 do
          want[c2][i] = {}
          for j = 1, 5 do
            local v = 0
            for di = -r, r do
              for dj = -r, r do
                local ii, jj = math.min(6, math.max(1, i + di)), math.min(5, math.max(1, j + dj))
                v = v + w[di] * w[dj] * xs[b][c2][ii][jj]
              end
            end
            want[c2][i][j] = v
          end
        end
      end
      H.assert_near(y:select(1, b), want, 1e-5, 1e-5)
    end
  end)

  it("cutout sets exactly the box (1-based corners, clipped to the image)", function()
    local x = mg.rand(2, 3, 5, 6) + 1
    local boxes = mg.tensor({ { 2, 3, 2, 3 }, { 4, 5, 4, 4 } }, { dtype = "int64" })
    local y = mg.cutout(x, boxes, { value = 0 })
    local inside = mg.zeros(2, 1, 5, 6)
    inside:narrow(1, 1, 1):narrow(3, 2, 2):narrow(4, 3, 3):fill_(1)
    inside:narrow(1, 2, 1):narrow(3, 4, 2):narrow(4, 5, 2):fill_(1) -- clipped at the bottom right
    H.assert_near(y, x * (1 - inside), 0, 0)
    H.assert_near(mg.cutout(x, mg.tensor({ { 1, 1, 0, 0 }, { 9, 9, 3, 3 } }, { dtype = "int64" })), x, 0, 0)
    H.assert_error(function() mg.cutout(x, mg.tensor { { 1, 1, 2, 2 }, { 1, 1, 2, 2 } }) end, "cutout", "int64")
    H.assert_error(function() mg.cutout(x, mg.tensor({ { 1, 1, -2, 2 }, { 1, 1, 2, 2 } }, { dtype = "int64" })) end,
      "cutout", "negative size")
  end)
end)

describe("random augmentations", function()
  before_each(H.reseed(13))

  local shared = nil
  local function batch()
    shared = shared or mg.rand(6, 1, 12, 12)
    return shared
  end

  local cases = {
    random_resized_crop = function() return T.random_resized_crop() end,
    random_rotation = function() return T.random_rotation { degrees = 20 } end,
    random_translation = function() return T.random_translation { max = 0.2 } end,
    random_affine = function() return T.random_affine { degrees = 10, translate = 0.1 } end,
    color_jitter = function() return T.color_jitter { p = 1 } end,
    gaussian_blur = function() return T.gaussian_blur { p = 1 } end,
    cutout = function() return T.cutout { p = 1 } end,
    contrastive = function() return T.contrastive() end,
    contrastive_all_parts = function() return T.contrastive { blur = true, cutout = { p = 1 } } end,
  }
  local names = {}
  for name in pairs(cases) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    it(name .. ": keeps the shape and [0, 1], repeats with a seed, draws per image", function()
      local t = cases[name]()
      local same = batch():narrow(1, 1, 1):expand(6, 1, 12, 12):contiguous()
      mg.manual_seed(5)
      local y, labels = t(same, "labels")
      assert.are.equal("labels", labels)
      assert.are.same({ 6, 1, 12, 12 }, y:shape())
      assert.is_true(y:min():item() >= 0 and y:max():item() <= 1, name .. " range")
      mg.manual_seed(5)
      H.assert_near(t(same), y, 0, 0, name .. " with the same seed")
      -- identical images get different parameters
      local differ = per_image_sum((y:narrow(1, 1, 1) - y:narrow(1, 2, 5)):abs()):gt(1e-4):sum():item()
      assert.is_true(differ >= 4, name .. ": only " .. differ .. " of 5 differ from the first")
    end)
  end

  it("random_resized_crop zooms by the square root of the scale; scale 1 is the identity", function()
    local r = ramp(4, 10, 10)
    local y = T.random_resized_crop { scale = 0.25, ratio = 1 }(r)
    local steps = y:narrow(4, 2, 9) - y:narrow(4, 1, 9) -- a crop of a ramp is a ramp with slope cw / W
    H.assert_near(steps, mg.full({ 4, 1, 10, 9 }, 0.5), 1e-4, 0)
    local x = mg.rand(3, 1, 8, 8)
    H.assert_near(T.random_resized_crop { scale = 1, ratio = 1 }(x), x, 1e-5, 0)
  end)

  it("random_translation moves a ramp by at most max * W, the same across each image", function()
    local r = ramp(5, 20, 20)
    local y = T.random_translation { max = 0.1 }(r)
    local shift = (y - r):narrow(4, 4, 13):narrow(3, 4, 13) -- away from the borders: no fill
    local per = shift:select(4, 1):select(3, 1):select(2, 1):view(5, 1, 1, 1)
    H.assert_near(shift, per:expand(5, 1, 13, 13), 1e-4, 0)
    assert.is_true(per:abs():max():item() <= 2 + 1e-5)
  end)

  it("random_rotation keeps the centre pixel and the inner disc of a constant image", function()
    local one = mg.ones(4, 1, 11, 11)
    local y = T.random_rotation { degrees = 30 }(one)
    H.assert_near(y:narrow(3, 4, 5):narrow(4, 4, 5), mg.ones(4, 1, 5, 5), 1e-5, 0)
    local x = mg.rand(4, 1, 11, 11)
    local yr = T.random_rotation { degrees = 30 }(x)
    H.assert_near(yr:narrow(3, 6, 1):narrow(4, 6, 1), x:narrow(3, 6, 1):narrow(4, 6, 1), 1e-5, 0)
  end)

  it("cutout with p = 1 zeroes one square per image of the asked size (before clipping)", function()
    local one = mg.ones(8, 1, 20, 20)
    local y = T.cutout { size = 0.25, p = 1 }(one)
    for _, zeros in ipairs(per_image_sum(1 - y):totable()) do assert.is_true(zeros <= 25 and zeros >= 1) end
    H.assert_near(T.cutout { p = 0 }(one), one, 0, 0)
  end)

  it("jitter and blur with p = 0 give the input", function()
    local x = mg.rand(3, 1, 6, 6)
    H.assert_near(T.color_jitter { p = 0 }(x), x, 0, 0)
    H.assert_near(T.gaussian_blur { p = 0 }(x), x, 0, 0)
  end)

  it("refuses bad options with the transform's name", function()
    H.assert_error(function() T.random_resized_crop { scale = { 0.5, 0.2 } } end, "random_affine", "crop.scale")
    H.assert_error(function() T.random_rotation { degrees = -3 } end, "random_affine", "degrees")
    H.assert_error(function() T.color_jitter { brightness = 2 } end, "color_jitter", "brightness")
    H.assert_error(function() T.gaussian_blur { radius = 40 } end, "gaussian_blur", "radius")
    H.assert_error(function() T.cutout { colour = 1 } end, "cutout", "unknown option 'colour'")
    H.assert_error(function() T.contrastive { blur = 3 } end, "gaussian_blur", "options must be a table")
    H.assert_error(function() T.contrastive()(mg.rand(4, 4)) end, "random_affine", "[B, C, H, W]")
  end)
end)
