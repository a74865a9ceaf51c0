-- viz.plot, viz.bar and viz.ticks: pictures of the requested size, series
-- drawn in their colours, a legend that does not hide the data, gaps at
-- NaN/inf, edge cases (one point, constant series, no data), axis ticks.
local H = require "helpers"
local mg = H.mg
local viz = mg.viz

local tmp
before_each(function() tmp = os.tmpname() end)
after_each(function() os.remove(tmp) end)

local function rgb(c) return { c >> 16 & 255, c >> 8 & 255, c & 255 } end

-- True when pixel p is colour c drawn over white with at least half
-- coverage (anti-aliased lines rarely hit a pixel fully), or exactly c.
local function is(p, c, exact)
  if exact then return p[1] == c[1] and p[2] == c[2] and p[3] == c[3] end
  for k = 1, 3 do
    if math.abs(p[k] - c[k]) > 0.5 * (255 - c[k]) + 2 then return false end
  end
  return true
end

-- Loads a PNG: pixel rows and a counter of pixels of a colour, optionally
-- inside a box {x0, y0, x1, y1}.
local function load(path)
  local img = mg.read_png(path)
  local px = img:totable()
  local function count(colour, box, exact)
    local c = rgb(colour)
    local x0, y0, x1, y1 = 1, 1, #px[1], #px
    if box then x0, y0, x1, y1 = table.unpack(box) end
    local n = 0
    for y = math.max(1, y0), math.min(#px, y1) do
      local row = px[y]
      for x = math.max(1, x0), math.min(#row, x1) do
        if is(row[x], c, exact) then n = n + 1 end
      end
    end
    return n
  end
  return px, img:shape(), count
end

-- Bounding box {x0, y0, x1, y1} of the pixels of a colour.
local function bbox(px, colour, exact)
  local c = rgb(colour)
  local x0, y0, x1, y1 = math.huge, math.huge, -1, -1
  for y, row in ipairs(px) do
    for x, p in ipairs(row) do
      if is(p, c, exact) then
        x0, y0, x1, y1 = math.min(x0, x), math.min(y0, y), math.max(x1, x), math.max(y1, y)
      end
    end
  end
  if x1 < 0 then return nil end
  return { x0, y0, x1, y1 }
end

local LEGEND_BORDER = 0xbbbbbb
local C1, C2 = viz.palette[1], viz.palette[2]

local function decreasing(n, a, b)
  local y = {}
  for i = 1, n do y[i] = a * math.exp(-i / (n / 4)) + b end
  return y
end

describe("viz.plot", function()
  it("writes a picture of the requested size with every series in its colour", function()
    local train, val = decreasing(50, 2, 0.3), decreasing(50, 2, 0.6)
    assert.are.equal(tmp, viz.plot({ { name = "train", y = train }, { name = "val", y = val } }, tmp,
      { width = 240, height = 160, title = "Loss", xlabel = "step", ylabel = "loss" }))
    local _, shape, count = load(tmp)
    assert.are.same({ 160, 240, 3 }, shape)
    assert.is_true(count(C1) > 60)
    assert.is_true(count(C2) > 60)
    assert.is_true(count(LEGEND_BORDER, nil, true) > 20)
    viz.plot(train, tmp) -- default size
    assert.are.same({ 400, 640, 3 }, select(2, load(tmp)))
  end)

  it("puts the legend where it covers no data", function()
    local series = { { name = "train loss", y = decreasing(60, 2, 0.3) }, { name = "val loss", y = decreasing(60, 2,
      0.8) } }
    viz.plot(series, tmp, { width = 300, height = 200 })
    local px = load(tmp)
    local box = bbox(px, LEGEND_BORDER, true)
    assert.is_truthy(box)
    -- the same data without names: no legend, the same layout
    viz.plot({ { y = series[1].y }, { y = series[2].y } }, tmp, { width = 300, height = 200 })
    local _, _, count = load(tmp)
    assert.are.equal(0, count(LEGEND_BORDER, nil, true))
    assert.are.equal(0, count(C1, box) + count(C2, box))
  end)

  it("moves the legend out of the plot when no corner is free", function()
    -- noise over the whole range: every corner holds data
    local y1, y2 = {}, {}
    for i = 1, 200 do y1[i] = (i * 7919) % 101 / 100; y2[i] = (i * 104729) % 97 / 96 end
    viz.plot({ ["series a"] = y1, ["series b"] = y2 }, tmp, { width = 320, height = 200 })
    local px, shape, count = load(tmp)
    local legend = bbox(px, LEGEND_BORDER, true)
    assert.is_truthy(legend)
    -- inside the plot, data would run below the legend in its columns
    assert.is_true(count(C1) > 200 and count(C2) > 200)
    local below = { legend[1], legend[4] + 1, legend[3], shape[1] }
    assert.are.equal(0, count(C1, below) + count(C2, below))
  end)

  it("leaves gaps at NaN and inf", function()
    viz.plot({ 1, 1, 1, 0 / 0, 1, 1, math.huge, 1, 1 }, tmp, { width = 200, height = 120 })
    local px = load(tmp)
    local c = rgb(C1)
    local cols = {}
    for _, row in ipairs(px) do
      for x, p in ipairs(row) do
        if is(p, c) then cols[x] = true end
      end
    end
    local first, last, gaps, inside = math.huge, 0, 0, false
    for x = 1, 200 do if cols[x] then first = math.min(first, x); last = x end end
    for x = first, last do
      if not cols[x] and not inside then gaps = gaps + 1 end
      inside = not cols[x]
    end
    assert.are.equal(2, gaps)
  end)

  it("draws a single point, constant series and series with x values", function()
    viz.plot({ 5 }, tmp, { width = 160, height = 120 })
    local _, _, count = load(tmp)
    assert.is_true(count(C1) >= 4)
    viz.plot({ { name = "flat", y = { 2, 2, 2 } }, { name = "x", x = { 0, 0.5, 3 }, y = mg.tensor({ 1, 3, 2 }) } }, tmp,
      { width = 160, height = 120 })
    local _, _, count2 = load(tmp)
    assert.is_true(count2(C1) > 20)
    assert.is_true(count2(C2) > 20)
  end)

  it("survives series with no finite value and log scales with non-positive values", function()
    viz.plot({ { name = "nan", y = { 0 / 0, 0 / 0 } } }, tmp, { width = 160, height = 120 })
    local _, _, count = load(tmp)
    assert.is_true(count(C1) <= 80) -- only the legend's sample line
    assert.is_true(count(0x555555, nil, true) > 10) -- "no data"
    viz.plot({ 0.01, 0.1, 1, 0, -1, 10 }, tmp, { logy = true, width = 160, height = 120 })
    local _, _, count2 = load(tmp)
    assert.is_true(count2(C1) > 10)
  end)

  it("writes the title, and keeps the top free without one", function()
    local function dark_top()
      local px = load(tmp)
      local n = 0
      for y = 1, 9 do for x = 50, 150 do if px[y][x][1] < 80 then n = n + 1 end end end
      return n
    end
    viz.plot({ 1, 2 }, tmp, { width = 200, height = 120, title = "Accuracy" })
    assert.is_true(dark_top() > 8)
    viz.plot({ 1, 2 }, tmp, { width = 200, height = 120 })
    assert.are.equal(0, dark_top())
  end)

  it("refuses bad arguments with clear messages", function()
    H.assert_error(function() viz.plot({ { x = { 1, 2 }, y = { 1 } } }, tmp) end, "viz.plot", "2 x values and 1 y")
    H.assert_error(function() viz.plot("loss", tmp) end, "viz.plot", "expected a list of series")
    H.assert_error(function() viz.plot({ { name = "a" } }, tmp) end, "series 1")
    H.assert_error(function() viz.plot({ 1, 2 }, tmp, { width = 10 }) end, "width must be an integer in 120..8192")
    H.assert_error(function() viz.plot({ 1, 2 }, nil) end, "file path")
    H.assert_error(function() viz.plot({ { y = { 1 }, color = { 1, 2 } } }, tmp) end, "color of series 1", "3 numbers")
  end)
end)

describe("viz.bar", function()
  -- heights of the bars of colour c along row `row`'s columns
  local function bar_heights(px, c)
    c = rgb(c)
    local cols = {}
    for _, row in ipairs(px) do
      for x, p in ipairs(row) do
        if is(p, c) then cols[x] = (cols[x] or 0) + 1 end
      end
    end
    -- one height per run of columns
    local heights, x = {}, 1
    local width = #px[1]
    while x <= width do
      if cols[x] then
        local h = cols[x]
        while cols[x] do x = x + 1 end
        heights[#heights + 1] = h
      else
        x = x + 1
      end
    end
    return heights
  end

  it("draws bars of proportional heights at the requested size", function()
    assert.are.equal(tmp, viz.bar({ 1, 2, 4 }, tmp, { width = 200, height = 160, labels = { "a", "b", "c" } }))
    local px, shape = load(tmp)
    assert.are.same({ 160, 200, 3 }, shape)
    local h = bar_heights(px, C1)
    assert.are.equal(3, #h)
    assert.is_true(math.abs(h[2] - 2 * h[1]) <= 1 and math.abs(h[3] - 4 * h[1]) <= 2, table.concat(h, " "))
  end)

  it("draws negative bars below the axis and skips NaN", function()
    viz.bar(mg.tensor({ 1, -1, 0 / 0, 2 }), tmp, { width = 200, height = 160, colors = { "red", "blue", "red",
      "red" } })
    local px = load(tmp)
    local red, blue = bbox(px, 0xd62728), bbox(px, 0x1f5fbf)
    assert.is_truthy(red and blue)
    assert.is_true(blue[2] >= red[4] - 1, "the negative bar starts at the axis")
    assert.are.equal(2, #bar_heights(px, 0xd62728))
  end)

  it("refuses bad arguments", function()
    H.assert_error(function() viz.bar({}, tmp) end, "viz.bar", "no values")
    H.assert_error(function() viz.bar({ 1, 2 }, tmp, { colors = { "red", "nah" } }) end, "colors[2]", "'nah'")
    H.assert_error(function() viz.bar("x", tmp) end, "viz.bar", "values must be")
  end)
end)

describe("viz.ticks", function()
  it("picks round steps and widens the range to a tick when that is cheap", function()
    local ticks, labels, lo, hi = viz.ticks(0.22, 2.6)
    assert.are.same({ "0", "0.5", "1.0", "1.5", "2.0", "2.5" }, labels)
    H.assert_near(ticks, { 0, 0.5, 1, 1.5, 2, 2.5 }, 1e-12)
    assert.are.equal(0, lo)
    assert.is_true(hi > 2.6 and hi < 2.75)
    assert.are.same({ "0", "2", "4", "6", "8", "10" }, select(2, viz.ticks(1, 10, { integer = true })))
    assert.are.same({ "-4", "-2", "0", "2", "4", "6", "8" }, select(2, viz.ticks(-3, 7)))
  end)

  it("labels tiny and huge numbers compactly", function()
    assert.are.same({ "-1e-5", "0", "1e-5", "2e-5", "3e-5" }, select(2, viz.ticks(-1e-5, 3e-5)))
    assert.are.same({ "1e6", "2e6", "3e6", "4e6", "5e6" }, select(2, viz.ticks(1e6, 5e6)))
    assert.are.same({ "0.25", "0.50", "0.75", "1.00" }, select(2, viz.ticks(0.25, 1, { target = 4 })))
  end)

  it("puts log ticks on powers of ten, with 2 and 5 on short ranges", function()
    local _, labels, lo, hi = viz.ticks(0.003, 0.8, { log = true })
    assert.are.same({ "0.001", "0.01", "0.1", "1" }, labels)
    assert.are.same({ 0.001, 1 }, { lo, hi })
    assert.are.same({ "0.2", "0.5", "1", "2", "5" }, select(2, viz.ticks(0.25, 2.6, { log = true })))
    H.assert_error(function() viz.ticks(0, 1, { log = true }) end, "lo > 0")
    H.assert_error(function() viz.ticks(1, 1) end, "lo < hi")
  end)
end)
