-- viz.image_grid and viz.image_rows: picture sizes for given counts,
-- nrow, padding, scale, captions and titles; pixel values of known inputs
-- at known positions; value ranges, normalisation and colour maps.
local H = require "helpers"
local mg = H.mg
local viz = mg.viz

local tmp
before_each(function() tmp = os.tmpname() end)
after_each(function() os.remove(tmp) end)

-- N images [N,1,h,w], image k filled with k/10.
local function constant_images(n, h, w)
  local t = mg.zeros(n, 1, h, w)
  for k = 1, n do t:narrow(1, k, 1):fill_(k / 10) end
  return t
end

local function load(path)
  local img = mg.read_png(path)
  return img:totable(), img:shape()
end

local function grey(v) return { v, v, v } end

describe("viz.image_grid", function()
  before_each(H.reseed(11))

  it("lays N images out nrow to a row with padding between and around", function()
    local imgs = constant_images(10, 5, 4)
    assert.are.equal(tmp, viz.image_grid(imgs, tmp, { nrow = 4, padding = 2 }))
    local px, shape = load(tmp)
    assert.are.same({ 23, 26, 3 }, shape) -- 3 rows of 5 + 4 * 2; 4 columns of 4 + 5 * 2
    for y = 1, 23 do
      for x = 1, 26 do
        local expect = 255 -- padding and the two empty cells of the last row
        local cx, cy = (x - 3) % 6, (y - 3) % 7
        local c, r = (x - 3) // 6, (y - 3) // 7
        if x >= 3 and y >= 3 and cx < 4 and cy < 5 and c < 4 and r < 3 and r * 4 + c < 10 then
          expect = math.floor((r * 4 + c + 1) / 10 * 255 + 0.5)
        end
        assert.are.same(grey(expect), px[y][x], "pixel " .. x .. "," .. y)
      end
    end
  end)

  it("sizes follow count, nrow, padding and scale", function()
    local function size(n, opts)
      viz.image_grid(constant_images(n, 5, 4), tmp, opts)
      local s = mg.read_png(tmp):shape()
      return { s[2], s[1] }
    end
    assert.are.same({ 58, 53 }, size(10, { nrow = 4, scale = 3 }))
    assert.are.same({ 16, 15 }, size(10, { nrow = 4, padding = 0 }))
    assert.are.same({ 20, 9 }, size(3, {}))               -- fewer images than nrow: one short row
    assert.are.same({ 8 * 4 + 9 * 2, 2 * 5 + 3 * 2 }, size(9, {})) -- nrow defaults to 8
    assert.are.same({ 4, 5 }, size(1, { padding = 0 }))
  end)

  it("blows pixels up by scale", function()
    local img = mg.tensor({ { { { 0, 1 }, { 1, 0 } } } })
    viz.image_grid(img, tmp, { scale = 2, padding = 1 })
    local px = load(tmp)
    assert.are.same(grey(0), px[2][2]); assert.are.same(grey(0), px[3][3])
    assert.are.same(grey(255), px[2][4]); assert.are.same(grey(255), px[4][2])
    assert.are.same(grey(0), px[5][5])
  end)

  it("maps the range to black..white and clips outside it", function()
    local img = mg.tensor({ { { { -1, 0, 1, 3, -2 } } } })
    viz.image_grid(img, tmp, { range = { -1, 1 }, padding = 0 })
    assert.are.same({ grey(0), grey(128), grey(255), grey(255), grey(0) }, load(tmp)[1])
    viz.image_grid(img, tmp, { padding = 0 }) -- default {0, 1}
    assert.are.same({ grey(0), grey(0), grey(255), grey(255), grey(0) }, load(tmp)[1])
  end)

  it("normalises all images together or each on its own", function()
    local img = mg.tensor({ { { { 2, 4 } } }, { { { 3, 3.5 } } } })
    viz.image_grid(img, tmp, { normalize = true, padding = 0 })
    assert.are.same({ grey(0), grey(255), grey(128), grey(191) }, load(tmp)[1])
    viz.image_grid(img, tmp, { normalize = "each", padding = 0 })
    assert.are.same({ grey(0), grey(255), grey(0), grey(255) }, load(tmp)[1])
  end)

  it("takes [N,H,W], colour, uint8 and lists of images", function()
    viz.image_grid(mg.full({ 2, 1, 1 }, 0.5), tmp, { padding = 0 })
    assert.are.same({ grey(128), grey(128) }, load(tmp)[1])
    local rgb = mg.tensor({ { { { 1 } }, { { 0 } }, { { 0.5 } } } }) -- [1,3,1,1]
    viz.image_grid(rgb, tmp, { padding = 0 })
    assert.are.same({ 255, 0, 128 }, load(tmp)[1][1])
    viz.image_grid(mg.tensor({ { { { 100 } } } }, { dtype = "uint8" }), tmp, { padding = 0 })
    assert.are.same(grey(100), load(tmp)[1][1])
    viz.image_grid({ mg.zeros(1, 1), mg.ones(1, 1, 1) }, tmp, { padding = 0 })
    assert.are.same({ grey(0), grey(255) }, load(tmp)[1])
  end)

  it("shows signed values with the diverging colour map", function()
    viz.image_grid(mg.tensor({ { { { -1, 0, 1, 0.5 } } } }), tmp, { cmap = "diverging", padding = 0 })
    assert.are.same({ { 0, 0, 255 }, { 255, 255, 255 }, { 255, 0, 0 }, { 255, 128, 128 } }, load(tmp)[1])
  end)

  it("uses pad_value for the background", function()
    viz.image_grid(mg.ones(1, 1, 1, 1), tmp, { padding = 1, pad_value = 0 })
    assert.are.same({ grey(0), grey(0), grey(0) }, load(tmp)[1])
    viz.image_grid(mg.ones(1, 1, 1, 1), tmp, { padding = 1, pad_value = "red" })
    assert.are.same({ 214, 39, 40 }, load(tmp)[1][1])
  end)

  it("adds a caption strip under every image, coloured when asked", function()
    local imgs = constant_images(6, 5, 4)
    viz.image_grid(imgs, tmp, { nrow = 3, captions = { "1", "2", "3", "4", "5", "6" },
                                caption_colors = { nil, "red" } })
    local px, shape = load(tmp)
    -- cells: 4 wide images, captions 5 + 4 wide; 5 + 2 + 9 tall
    assert.are.same({ 2 * 16 + 3 * 2, 3 * 9 + 4 * 2, 3 }, shape)
    -- image 1 centred in its cell: columns 3 + 2 .. 3 + 5
    assert.are.same(grey(26), px[3][5]); assert.are.same(grey(26), px[7][8])
    assert.are.same(grey(255), px[3][4])
    local red, dark = 0, 0
    for y = 3 + 5, 3 + 15 do
      for x = 1, shape[2] do
        local p = px[y][x]
        if p[1] == 214 and p[2] == 39 and p[3] == 40 then
          red = red + 1
          assert.is_true(x >= 12 and x <= 20, "red pixel outside caption 2 at " .. x)
        elseif p[1] < 100 then dark = dark + 1 end
      end
    end
    assert.is_true(red > 5)
    assert.is_true(dark > 10)
  end)

  it("adds a title above the grid and widens for long ones", function()
    viz.image_grid(constant_images(10, 5, 4), tmp, { nrow = 4, title = "T" })
    local px, shape = load(tmp)
    assert.are.same({ 23 + 18 + 8, 26, 3 }, shape)
    local dark = 0
    for y = 1, 26 do for x = 1, 26 do if px[y][x][1] < 100 then dark = dark + 1 end end end
    assert.is_true(dark > 10)
    viz.image_grid(constant_images(2, 5, 4), tmp, { title = "a much longer title" })
    local w = mg.read_png(tmp):size(2)
    assert.is_true(w >= (mg.core.text_size("a much longer title")) + 4)
  end)

  it("refuses bad arguments with clear messages", function()
    H.assert_error(function() viz.image_grid(mg.zeros(2, 2, 4, 4), tmp) end, "image_grid", "[2,2,4,4]")
    H.assert_error(function() viz.image_grid(mg.zeros(0, 1, 4, 4), tmp) end, "no images")
    H.assert_error(function() viz.image_grid(mg.zeros(2, 1, 4, 4), 7) end, "file path")
    H.assert_error(function() viz.image_grid(mg.zeros(2, 1, 4, 4), tmp, { nrow = 0 }) end, "nrow")
    H.assert_error(function() viz.image_grid(mg.zeros(2, 1, 4, 4), tmp, { range = { 1, 0 } }) end, "range")
    H.assert_error(function() viz.image_grid(mg.zeros(2, 1, 4, 4), tmp, { captions = "x" }) end, "captions")
    H.assert_error(function() viz.image_grid(mg.zeros(2, 1, 4, 4), tmp, { cmap = "jet" }) end, "cmap")
    H.assert_error(function() viz.image_grid({ 1, 2 }, tmp) end, "image 1")
    H.assert_error(function() viz.image_grid(mg.zeros(1, 1, 4, 4), tmp, { captions = { "a" },
      caption_colors = { "nope" } }) end,
      "viz.image_grid: caption_colors[1]: unknown colour 'nope'")
    H.assert_error(function() viz.image_grid(mg.zeros(1, 1, 4, 4), tmp, { pad_value = -1 }) end, "pad_value", "outside")
    -- errors from the C layer blame the caller's line too
    local err = H.assert_error(function() viz.image_grid(mg.zeros(1, 1, 4, 4), "/nonexistent-dir/a.png") end,
      "viz.image_grid: write_png: cannot write '/nonexistent-dir/a.png'")
    assert.is_truthy(err:find("image_grid_spec.lua:", 1, true), err)
  end)
end)

describe("viz.image_rows", function()
  before_each(H.reseed(12))

  it("stacks labelled rows, each with its own range", function()
    local clean = constant_images(3, 5, 4)
    local pert = mg.tensor({ { { { -0.1, 0, 0.1, 0.05 } } } }):expand(3, 1, 5, 4):contiguous()
    viz.image_rows({ { label = "clean", images = clean },
                     { label = "perturbation", images = pert, normalize = "symmetric" } }, tmp, { padding = 2 })
    local px, shape = load(tmp)
    local label_col = mg.core.text_size("perturbation") + 8
    assert.are.same({ 2 + 2 * (5 + 2), label_col + 3 * 4 + 4 * 2, 3 }, shape)
    -- row 1, image 2 (value 0.2) at x = label_col + 2 + 6 + 1
    local x = label_col + 2 + 6 + 1
    assert.are.same(grey(51), px[3][x])
    -- row 2: symmetric range {-0.1, 0.1}; values -0.1, 0, 0.1, 0.05 in a row
    assert.are.same({ grey(0), grey(128), grey(255), grey(191) },
      { px[10][x], px[10][x + 1], px[10][x + 2], px[10][x + 3] })
    -- label text drawn left of the images
    local dark = 0
    for y = 1, shape[1] do for xx = 1, label_col do if px[y][xx][1] < 100 then dark = dark + 1 end end end
    assert.is_true(dark > 20)
  end)

  it("adds caption strips to rows that have captions", function()
    local imgs = constant_images(2, 5, 4)
    viz.image_rows({ { images = imgs }, { images = imgs, captions = { "a", "b" } } }, tmp, { padding = 1 })
    local _, shape = load(tmp)
    assert.are.equal(1 + (5 + 1) + (5 + 2 + 9 + 1), shape[1])
    H.assert_error(function() viz.image_rows({}, tmp) end, "image_rows", "non-empty list")
    H.assert_error(function() viz.image_rows({ { label = "x" } }, tmp) end, "row 1")
  end)
end)
