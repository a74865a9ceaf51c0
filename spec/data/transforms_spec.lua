-- mg.data.transforms: each batch transform checked by value on small inputs.
local H = require "helpers"
local mg = H.mg
local T = mg.data.transforms

-- [b, 1, h, w] batch whose pixels are 1, 2, 3, ... (row-major), so every
-- pixel of every image is distinct.
local function counting(b, h, w)
  return mg.arange(1, b * h * w + 1):float():view(b, 1, h, w)
end

-- One image as a Lua matrix.
local function img(x, i) return x[i][1]:totable() end

-- Hand-made transforms of a Lua matrix.
local function rot90(m) -- counter-clockwise, as rot90(1, rows, cols)
  local h, w, out = #m, #m[1], {}
  for i = 1, w do
    out[i] = {}
    for j = 1, h do out[i][j] = m[j][w - i + 1] end
  end
  return out
end

local function mirror(m)
  local out = {}
  for i, row in ipairs(m) do
    out[i] = {}
    for j = 1, #row do out[i][j] = row[#row - j + 1] end
  end
  return out
end

-- m shifted so that out[i][j] = m[i + dy][j + dx] (0 outside).
local function shifted(m, dy, dx, oh, ow)
  local out = {}
  for i = 1, oh do
    out[i] = {}
    for j = 1, ow do out[i][j] = (m[i + dy] or {})[j + dx] or 0 end
  end
  return out
end

local function same_matrix(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if #a[i] ~= #b[i] then return false end
    for j = 1, #a[i] do if a[i][j] ~= b[i][j] then return false end end
  end
  return true
end

describe("mg.data.transforms", function()
  before_each(H.reseed(5))

  it("normalize: scalar and per-channel", function()
    local x = mg.tensor({ { { { 0, 0.5 } }, { { 1, 0.25 } } } }) -- [1, 2, 1, 2]
    H.assert_near(T.normalize(0.5, 0.5)(x), { { { { -1, 0 } }, { { 1, -0.5 } } } })
    H.assert_near(T.normalize({ 0, 1 }, { 2, 0.5 })(x), { { { { 0, 0.25 } }, { { 0, -1.5 } } } })
    local y = mg.tensor({ 3, 4 })
    local _, ly = T.normalize(0, 1)(x, y)
    assert.equal(y, ly)
    H.assert_error(function() T.normalize({ 0, 0, 0 }, 1)(x) end, "normalize: 3 means and 1 stds for 2 channels")
    H.assert_error(function() T.normalize(0, 0) end, "normalize: std must not be 0")
    H.assert_error(function() T.normalize("a", 1) end, "normalize: mean must be a number or a list")
    H.assert_error(function() T.normalize(0, 1)(mg.zeros(3, 4)) end,
      "normalize: expected a batch [B, C, H, W], got [3, 4]")
  end)

  it("rotate90(k): quarter turns counter-clockwise", function()
    local x = counting(2, 2, 3)
    local r1 = T.rotate90(1)(x)
    assert.same({ 2, 1, 3, 2 }, r1:shape())
    assert.same({ { 3, 6 }, { 2, 5 }, { 1, 4 } }, img(r1, 1))
    assert.same(rot90(img(x, 2)), img(r1, 2))
    assert.same(rot90(rot90(img(x, 1))), img(T.rotate90(2)(x), 1))
    assert.same(rot90(rot90(rot90(img(x, 1)))), img(T.rotate90(-1)(x), 1))
    assert.same(img(x, 1), img(T.rotate90(4)(x), 1))
    H.assert_error(function() T.rotate90(1.5) end, "rotate90: k must be an integer")
  end)

  it("random_rotate90: each image turned by one of the four angles, all of them used", function()
    local x = counting(40, 3, 3)
    local out = T.random_rotate90()(x)
    local used = {}
    for i = 1, 40 do
      local m, k = img(x, i), nil
      for j = 0, 3 do
        if same_matrix(img(out, i), m) then k = j break end
        m = rot90(m)
      end
      assert.is_not_nil(k, "image " .. i .. " is not a rotation of its input")
      used[k] = true
    end
    assert.same({ [0] = true, true, true, true }, used)
    mg.manual_seed(8)
    local a = T.random_rotate90()(x)
    mg.manual_seed(8)
    H.assert_near(T.random_rotate90()(x), a, 0)
    H.assert_error(function() T.random_rotate90()(counting(1, 2, 3)) end,
      "random_rotate90: images must be square, got 2x3")
  end)

  it("rotations: four turned copies with rotation labels 1..4", function()
    local x = counting(2, 2, 2)
    local out, labels = T.rotations()(x, mg.tensor({ 7, 7 }))
    assert.same({ 8, 1, 2, 2 }, out:shape())
    assert.same({ 1, 1, 2, 2, 3, 3, 4, 4 }, labels:totable())
    assert.equal("int64", labels.dtype)
    for b = 1, 2 do
      local m = img(x, b)
      for k = 0, 3 do
        assert.same(m, img(out, k * 2 + b))
        m = rot90(m)
      end
    end
  end)

  it("center_mask: zeroes (or sets) the central block", function()
    local x = counting(1, 4, 4)
    assert.same({ { 1, 2, 3, 4 }, { 5, 0, 0, 8 }, { 9, 0, 0, 12 }, { 13, 14, 15, 16 } },
      img(T.center_mask{ size = 2 }(x), 1))
    local y = counting(2, 3, 5)
    local out = T.center_mask{ rows = 1, cols = 3, value = -1 }(y)
    assert.same({ { 16, 17, 18, 19, 20 }, { 21, -1, -1, -1, 25 }, { 26, 27, 28, 29, 30 } }, img(out, 2))
    -- odd slack rounds towards the top left
    assert.same({ { 0, 0, 3 }, { 0, 0, 6 }, { 7, 8, 9 } }, img(T.center_mask{ size = 2 }(counting(1, 3, 3)), 1))
    H.assert_near(T.center_mask{ size = 0 }(x), x, 0)
    H.assert_error(function() T.center_mask{ size = 5 }(x) end, "center_mask: a 5x5 block does not fit 4x4 images")
    H.assert_error(function() T.center_mask{} end, "center_mask: give size (or rows and cols)")
    H.assert_error(function() T.center_mask{ sise = 2 } end, "center_mask: unknown option 'sise'")
  end)

  it("random_erase: one solid rectangle per erased image, within the area bounds", function()
    local x = mg.ones(30, 2, 10, 10)
    H.assert_near(T.random_erase{ p = 0 }(x), x, 0)
    local out = T.random_erase{ p = 1, scale = { 0.1, 0.3 }, value = 0 }(x)
    for i = 1, 30 do
      local m, m2 = out[i][1]:totable(), out[i][2]:totable()
      assert.same(m, m2) -- the same block in every channel
      local rows, cols, zeros = {}, {}, 0
      for r = 1, 10 do
        for c = 1, 10 do
          if m[r][c] == 0 then rows[r], cols[c], zeros = true, true, zeros + 1 end
        end
      end
      local function span(set)
        local lo, hi, n = math.huge, -math.huge, 0
        for k in pairs(set) do lo, hi, n = math.min(lo, k), math.max(hi, k), n + 1 end
        assert.equal(hi - lo + 1, n) -- contiguous
        return n
      end
      local nr, nc = span(rows), span(cols)
      assert.equal(nr * nc, zeros) -- a full rectangle
      -- area in [10, 30] pixels, give or take the pixels its border cuts
      assert.is_true(zeros >= 10 - (nr + nc + 1) and zeros <= 30 + (nr + nc + 1), "erased " .. zeros)
    end
    local half = T.random_erase{ p = 0.5, value = 7 }(mg.ones(200, 1, 8, 8))
    local erased = mg.gt(half:view(200, -1):max(2), 1):sum():item()
    assert.is_true(erased > 70 and erased < 130, "erased " .. erased .. " of 200")
    H.assert_error(function() T.random_erase{ p = 2 } end, "random_erase: p must be a probability")
    H.assert_error(function() T.random_erase{ scale = { 0.5, 0.1 } } end, "random_erase: scale must be {lo, hi}")
  end)

  it("gaussian_noise: adds N(0, std^2) noise, optionally clamped", function()
    local x = counting(2, 3, 3)
    H.assert_near(T.gaussian_noise(0)(x), x, 0)
    local z = T.gaussian_noise(2)(mg.zeros(64, 1, 16, 16))
    H.assert_near(z:mean(), 0, 0.05)
    H.assert_near(z:std(), 2, 0.05)
    local c = T.gaussian_noise(1, { clamp = { 0, 1 } })(mg.full({ 16, 1, 8, 8 }, 0.5))
    assert.is_true(c:min():item() >= 0 and c:max():item() <= 1)
    assert.is_true(c:min():item() == 0 and c:max():item() == 1)
    mg.manual_seed(2)
    local a = T.gaussian_noise(1)(x)
    mg.manual_seed(2)
    H.assert_near(T.gaussian_noise(1)(x), a, 0)
    H.assert_error(function() T.gaussian_noise(-1) end, "gaussian_noise: std must be a number >= 0")
  end)

  it("random_crop: windows of the zero-padded image, per image", function()
    local x = counting(32, 4, 4)
    H.assert_near(T.random_crop(4)(x), x, 0)
    local out = T.random_crop(4, { padding = 1 })(x)
    assert.same({ 32, 1, 4, 4 }, out:shape())
    local shifts = {}
    for i = 1, 32 do
      local found
      for dy = -1, 1 do
        for dx = -1, 1 do
          if not found and same_matrix(img(out, i), shifted(img(x, i), dy, dx, 4, 4)) then found = dy .. "," .. dx end
        end
      end
      assert.is_not_nil(found, "image " .. i .. " is not a shifted copy")
      shifts[found] = true
    end
    local n = 0
    for _ in pairs(shifts) do n = n + 1 end
    assert.is_true(n >= 5, "only " .. n .. " distinct shifts")
    -- smaller windows without padding lie inside the image
    local small = T.random_crop({ 2, 3 }, nil)(x)
    assert.same({ 32, 1, 2, 3 }, small:shape())
    for i = 1, 32 do
      local ok = false
      for dy = 0, 2 do
        for dx = 0, 1 do ok = ok or same_matrix(img(small, i), shifted(img(x, i), dy, dx, 2, 3)) end
      end
      assert.is_true(ok)
    end
    -- channels move together
    local two = mg.cat({ counting(8, 4, 4), counting(8, 4, 4) * -1 }, 2)
    local t2 = T.random_crop(4, { padding = 2 })(two)
    H.assert_near(t2:select(2, 2), t2:select(2, 1) * -1, 0)
    H.assert_error(function() T.random_crop(9)(x) end, "random_crop: a 9x9 window does not fit 4x4 images padded by 0")
    H.assert_error(function() T.random_crop(0) end, "random_crop: size must be a positive integer")
  end)

  it("random_flip: mirrors left-right with probability p", function()
    local x = counting(40, 2, 3)
    H.assert_near(T.random_flip{ p = 0 }(x), x, 0)
    local all = T.random_flip{ p = 1 }(x)
    for i = 1, 40 do assert.same(mirror(img(x, i)), img(all, i)) end
    local some = T.random_flip()(x)
    local flipped = 0
    for i = 1, 40 do
      local m = img(some, i)
      if same_matrix(m, mirror(img(x, i))) then flipped = flipped + 1
      else assert.same(img(x, i), m) end
    end
    assert.is_true(flipped > 5 and flipped < 35, "flipped " .. flipped)
  end)

  it("compose: applies in turn and passes changed labels on", function()
    local x = counting(1, 2, 2)
    local t = T.compose({ T.normalize(1, 2), T.rotate90(1) })
    assert.same({ { 0.5, 1.5 }, { 0, 1 } }, img(t(x), 1))
    local out, labels = T.compose({ T.rotations(), T.normalize(0, 1) })(counting(3, 2, 2), mg.tensor({ 1, 2, 3 }))
    assert.same({ 12, 1, 2, 2 }, out:shape())
    assert.same({ 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4 }, labels:totable())
    H.assert_error(function() T.compose({ T.normalize(0, 1), 3 }) end, "compose: transform 2 is a number")
  end)
end)
