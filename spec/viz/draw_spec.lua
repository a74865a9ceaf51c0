-- Drawing on uint8 canvases (core/draw.c through mg.core.draw_*): pixel
-- positions (1-based), clipping, colours, anti-aliasing coverage, the
-- bitmap font and image blitting.
local H = require "helpers"
local mg = H.mg
local core = mg.core

local function canvas(h, w, c)
  if c then return mg.zeros(h, w, c, { dtype = "uint8" }) end
  return mg.zeros(h, w, { dtype = "uint8" })
end

-- Pixel (x, y), 1-based, as a table of channel values (or a number on grey).
local function px(t, x, y)
  local v = t:select(1, y):select(1, x)
  if v:dim() == 0 then return v:item() end
  return v:totable()
end

-- The set of (x, y) with any non-zero channel, as sorted "x,y" strings.
local function ink(t)
  local h, w = t:size(1), t:size(2)
  local g = t:dim() == 3 and t:float():sum(3) or t:float()
  local rows = g:totable()
  local out = {}
  for y = 1, h do
    for x = 1, w do
      if rows[y][x] > 0 then out[#out + 1] = x .. "," .. y end
    end
  end
  return out
end

describe("draw_rect", function()
  it("fills the given pixels and nothing else", function()
    local c = canvas(6, 8, 3)
    core.draw_rect(c, 2, 3, 4, 2, 0x102030)
    local expect = {}
    for y = 3, 4 do for x = 2, 5 do expect[#expect + 1] = x .. "," .. y end end
    table.sort(expect)
    local got = ink(c)
    table.sort(got)
    assert.are.same(expect, got)
    assert.are.same({ 16, 32, 48 }, px(c, 2, 3))
  end)

  it("clips at every edge", function()
    local c = canvas(4, 5, 3)
    core.draw_rect(c, -2, -2, 5, 4, "white")
    assert.are.same({ "1,1", "2,1" }, ink(c))
    local d = canvas(4, 5, 3)
    core.draw_rect(d, 5, 4, 100, 100, "white")
    assert.are.same({ "5,4" }, ink(d))
    core.draw_rect(d, 1, 1, 0, 3, "white")
    assert.are.same({ "5,4" }, ink(d))
  end)

  it("writes the luma on grey canvases and opaque pixels on RGBA", function()
    local g = canvas(2, 2)
    core.draw_rect(g, 1, 1, 1, 1, 0xff0000)
    assert.are.equal(76, px(g, 1, 1)) -- 255 * 0.299
    local a = canvas(2, 2, 4)
    core.draw_rect(a, 2, 2, 1, 1, { 1, 2, 3 })
    assert.are.same({ 1, 2, 3, 255 }, px(a, 2, 2))
    assert.are.same({ 0, 0, 0, 0 }, px(a, 1, 1))
  end)
end)

describe("colours", function()
  it("are accepted as numbers, {r, g, b}, #rrggbb and names", function()
    for _, colour in ipairs({ 0x102030, { 16, 32, 48 }, "#102030" }) do
      local c = canvas(1, 1, 3)
      core.draw_rect(c, 1, 1, 1, 1, colour)
      assert.are.same({ 16, 32, 48 }, px(c, 1, 1))
    end
    local c = canvas(1, 1, 3)
    core.draw_rect(c, 1, 1, 1, 1, "white")
    assert.are.same({ 255, 255, 255 }, px(c, 1, 1))
  end)

  it("refuses what is not a colour", function()
    local c = canvas(2, 2, 3)
    H.assert_error(function() core.draw_rect(c, 1, 1, 1, 1, "nope") end, "draw_rect", "unknown colour 'nope'")
    H.assert_error(function() core.draw_rect(c, 1, 1, 1, 1, { 1, 2 }) end, "3 numbers")
    H.assert_error(function() core.draw_rect(c, 1, 1, 1, 1, { 1, 2, 300 }) end, "outside 0..255")
    H.assert_error(function() core.draw_rect(c, 1, 1, 1, 1, 0x1000000) end, "outside")
    H.assert_error(function() core.draw_rect(c, 1, 1, 1, 1, true) end, "expected a colour")
  end)
end)

describe("canvases", function()
  it("must be contiguous uint8 [H,W] or [H,W,C] with C 1, 3, 4", function()
    H.assert_error(function() core.draw_rect(mg.zeros(2, 2, 3), 1, 1, 1, 1, 0) end, "canvas must be uint8", "float32")
    H.assert_error(function() core.draw_rect(canvas(2, 2, 2), 1, 1, 1, 1, 0) end, "[2, 2, 2]")
    H.assert_error(function() core.draw_rect(canvas(2, 2, 3):view(2, 2, 3, 1), 1, 1, 1, 1, 0) end, "canvas")
    H.assert_error(function() core.draw_text(canvas(3, 4, 3):transpose(1, 2), 1, 1, "a", 0) end, "contiguous")
  end)
end)

describe("draw_line", function()
  it("covers exactly the pixels of a 1-px line on pixel centres", function()
    local c = canvas(5, 9, 3)
    core.draw_line(c, 2, 3, 7, 3, "white")
    local expect = {}
    for x = 2, 7 do expect[#expect + 1] = x .. ",3" end
    assert.are.same(expect, ink(c))
    assert.are.same({ 255, 255, 255 }, px(c, 4, 3))
  end)

  it("shares a line between two rows half way", function()
    local c = canvas(6, 9)
    core.draw_line(c, 2, 3.5, 7, 3.5, "white")
    for x = 2, 7 do
      assert.are.equal(128, px(c, x, 3))
      assert.are.equal(128, px(c, x, 4))
    end
    assert.are.equal(0, px(c, 1, 3))
    assert.are.equal(0, px(c, 5, 2))
  end)

  it("draws 2 px thick lines with soft edges, vertical too", function()
    local c = canvas(9, 6)
    core.draw_line(c, 3, 2, 3, 7, "white", 2)
    for y = 2, 7 do
      assert.are.equal(255, px(c, 3, y))
      assert.are.equal(128, px(c, 2, y))
      assert.are.equal(128, px(c, 4, y))
      assert.are.equal(0, px(c, 5, y))
    end
  end)

  it("clips segments far outside the canvas and refuses bad input", function()
    local c = canvas(4, 6)
    core.draw_line(c, -1e8, 2, 1e8, 2, "white")
    for x = 1, 6 do assert.are.equal(255, px(c, x, 2)) end
    assert.are.equal(0, px(c, 1, 1))
    core.draw_line(c, -500, -500, -400, -450, "white") -- entirely outside
    H.assert_error(function() core.draw_line(c, 0 / 0, 1, 2, 2, "white") end, "draw_line", "out of range")
    H.assert_error(function() core.draw_line(c, 1, 1, 2, 2, "white", 0) end, "draw_line", "width")
  end)
end)

describe("draw_polyline", function()
  it("breaks at NaN and shows lone points as dots", function()
    local c = canvas(4, 9)
    core.draw_polyline(c, { 1, 3, 0 / 0, 6 }, { 2, 2, 2, 2 }, "white")
    for x = 1, 3 do assert.are.equal(255, px(c, x, 2)) end
    assert.are.equal(0, px(c, 4, 2))
    assert.are.equal(255, px(c, 6, 2))
    assert.are.equal(0, px(c, 9, 2))
    H.assert_error(function() core.draw_polyline(c, { 1, 2 }, { 1 }, "white") end, "2 x values but 1 y")
  end)
end)

describe("draw_disc", function()
  it("fills a round patch with soft edges", function()
    local c = canvas(9, 9)
    core.draw_disc(c, 5, 5, 2, "white")
    assert.are.equal(255, px(c, 5, 5))
    assert.are.equal(255, px(c, 6, 5))
    assert.are.equal(128, px(c, 7, 5)) -- distance 2: half covered
    assert.are.equal(128, px(c, 5, 3))
    assert.are.equal(0, px(c, 5, 8))
    assert.are.equal(0, px(c, 7, 7))
    H.assert_error(function() core.draw_disc(c, 5, 5, -1, "white") end, "draw_disc", "radius")
  end)
end)

describe("text", function()
  it("has sizes from the glyph widths, lines and scale", function()
    assert.are.same({ 5, 9 }, { core.text_size("A") })
    assert.are.same({ 3, 9 }, { core.text_size("I") })
    assert.are.same({ 9, 9 }, { core.text_size("AI") })
    assert.are.same({ 18, 18 }, { core.text_size("AI", 2) })
    assert.are.same({ 10, 40 }, { core.text_size("a\nb", 2) })
    -- digits share one width, so numbers line up
    local w1 = core.text_size("1")
    for d = 0, 9 do assert.are.equal(w1, (core.text_size(tostring(d)))) end
    assert.are.same({ 0, 9 }, { core.text_size("") })
  end)

  it("draws the bitmap of a glyph at the given corner and scale", function()
    local c = canvas(12, 10)
    core.draw_text(c, 2, 2, "I", "white")
    local expect = { "2,2", "3,2", "4,2", "3,3", "3,4", "3,5", "3,6", "3,7", "2,8", "3,8", "4,8" }
    local got = ink(c)
    table.sort(expect); table.sort(got)
    assert.are.same(expect, got)
    local big = canvas(20, 10)
    core.draw_text(big, 1, 1, "I", "white", { scale = 2 })
    assert.are.equal(11 * 4, #ink(big))
    assert.are.equal(255, px(big, 6, 14)) -- bottom bar, pixel (6,14) lies in block (3, 7)
  end)

  it("has a distinct, visible glyph for every printable character", function()
    local seen = {}
    for code = 33, 126 do
      local c = canvas(9, 6)
      core.draw_text(c, 1, 1, string.char(code), "white")
      local key = table.concat(ink(c), " ")
      assert.is_true(#key > 0, "glyph " .. string.char(code) .. " is empty")
      assert.is_nil(seen[key], string.char(code) .. " looks like " .. tostring(seen[key]))
      seen[key] = string.char(code)
    end
    -- other bytes show as '?'
    local a, b = canvas(9, 6), canvas(9, 6)
    core.draw_text(a, 1, 1, "\1", "white")
    core.draw_text(b, 1, 1, "?", "white")
    assert.are.same(ink(b), ink(a))
  end)

  it("turns vertical text a quarter anticlockwise", function()
    local h, v = canvas(12, 12), canvas(12, 12)
    core.draw_text(h, 1, 1, "Ab", "white")
    core.draw_text(v, 1, 1, "Ab", "white", { vertical = true })
    local tw, th = core.text_size("Ab")
    local hr, vr = h:totable(), v:totable()
    for u = 0, tw - 1 do
      for w = 0, th - 1 do
        assert.are.equal(hr[w + 1][u + 1], vr[tw - u][w + 1])
      end
    end
    assert.are.equal(#ink(h), #ink(v))
  end)

  it("clips at the edges and refuses bad scales", function()
    local c = canvas(5, 5)
    core.draw_text(c, -2, -3, "Hello, world", "white", { scale = 3 })
    core.draw_text(c, 4, 4, "W", "white")
    H.assert_error(function() core.draw_text(c, 1, 1, "a", "white", { scale = 0 }) end, "scale")
    H.assert_error(function() core.text_size("a", 17) end, "scale")
  end)
end)

describe("draw_image", function()
  it("maps the range to 0..255 and blows pixels up to blocks", function()
    local img = mg.tensor({ { { 0, 1 }, { 0.5, 0.25 } } })
    local c = canvas(6, 6, 3)
    core.draw_image(c, img, 2, 2, { scale = 2 })
    local expect = { { 2, 2, 0 }, { 3, 3, 0 }, { 4, 2, 255 }, { 5, 3, 255 }, { 2, 4, 128 }, { 3, 5, 128 },
                     { 4, 4, 64 }, { 5, 5, 64 } }
    for _, e in ipairs(expect) do assert.are.same({ e[3], e[3], e[3] }, px(c, e[1], e[2])) end
    assert.are.same({ 0, 0, 0 }, px(c, 6, 6))
    core.draw_image(c, img, 2, 2, { scale = 2, range = { -1, 1 } })
    assert.are.same({ 128, 191, 159 }, { px(c, 2, 2)[1], px(c, 2, 4)[1], px(c, 4, 4)[1] })
  end)

  it("clips values, maps NaN to black, takes [H,W], RGB and uint8 images", function()
    local c = canvas(1, 4, 3)
    core.draw_image(c, mg.tensor({ { -3, 7, 0 / 0, 1 } }), 1, 1)
    assert.are.same({ 0, 255, 0, 255 }, { px(c, 1, 1)[1], px(c, 2, 1)[1], px(c, 3, 1)[1], px(c, 4, 1)[1] })
    core.draw_image(c, mg.tensor({ { { 1 } }, { { 0 } }, { { 0.5 } } }), 2, 1)
    assert.are.same({ 255, 0, 128 }, px(c, 2, 1))
    core.draw_image(c, mg.tensor({ { 10, 200 } }, { dtype = "uint8" }), 3, 1)
    assert.are.same({ 10, 10, 10 }, px(c, 3, 1))
    assert.are.same({ 200, 200, 200 }, px(c, 4, 1))
    local g = canvas(2, 2)
    core.draw_image(g, mg.tensor({ { { 1 } }, { { 0 } }, { { 0 } } }), 1, 1)
    assert.are.equal(76, px(g, 1, 1))
  end)

  it("clips at the canvas edges and refuses bad images", function()
    local c = canvas(3, 3, 3)
    core.draw_image(c, mg.ones(4, 4), -1, -1, { scale = 2 })
    assert.are.equal(9, #ink(c))
    H.assert_error(function() core.draw_image(c, mg.ones(2, 3, 3), 1, 1) end, "draw_image", "[2, 3, 3]")
    H.assert_error(function() core.draw_image(c, mg.ones(3, 3), 1, 1, { range = { 1, 0 } }) end, "range")
    H.assert_error(function() core.draw_image(c, mg.ones(3, 3), 1, 1, { scale = 0 }) end, "scale")
  end)
end)

describe("viz.Canvas", function()
  it("wraps a white RGB canvas and saves it", function()
    local cv = mg.viz.Canvas(8, 4)
    assert.are.same({ 4, 8, 3 }, cv.tensor:shape())
    assert.are.same({ 255, 255, 255 }, px(cv.tensor, 8, 4))
    cv:rect(1, 1, 2, 2, "black"):text(8, 1, "1", "black", { align = "right" })
    assert.are.same({ 0, 0, 0 }, px(cv.tensor, 2, 2))
    local path = os.tmpname()
    assert.are.equal(path, cv:save(path))
    local back = mg.read_png(path)
    os.remove(path)
    assert.are.same(cv.tensor:totable(), back:totable())
    H.assert_error(function() mg.viz.Canvas(0, 4) end, "viz.Canvas", "positive integers")
  end)
end)
