-- viz.heatmap: cells shaded by value (white low, dark blue high), labels
-- on both axes, and clear errors.
local H = require "helpers"
local mg = H.mg
local viz = mg.viz

describe("viz.heatmap", function()
  local dir
  setup(function() dir = H.tmpdir() end)

  it("shades each cell by its value, lowest white, highest darkest", function()
    local m = mg.tensor { { 0, 1 }, { 0.5, 0 } }
    local path = viz.heatmap(m, dir .. "/hm.png", { cell = 10, row_labels = { "a", "b" }, col_labels = { "x", "y" },
      title = "attention" })
    assert.is_true(H.is_png(path))
    local img = mg.read_png(path):float() -- [H, W, 3]
    -- find the cells: the darkest pixel is the 1, a white one the 0 beside it
    local blue = img:select(3, 3) - img:select(3, 1) -- blue minus red: 0 on white and grey
    local _, at = blue:view(-1):max(1)
    local W = img:size(2)
    local y, x = (at:item() - 1) // W + 1, (at:item() - 1) % W + 1
    local dark = img[{ y, x }]:totable()
    assert.is_true(dark[1] < 40 and dark[3] > 90, "the 1 is dark blue")
    local left = img[{ y, x - 10 }]:totable() -- the cell of 0 in the same row
    assert.are.same({ 255, 255, 255 }, left)
    local below = img[{ y + 10, x - 10 }]:totable() -- the 0.5 cell: half way
    assert.is_true(below[1] > 100 and below[1] < 160, "the 0.5 is mid-blue, red " .. below[1])
  end)

  it("takes lists of rows and a fixed range, and refuses bad input", function()
    assert.is_true(H.is_png(viz.heatmap({ { 1, 2, 3 } }, dir .. "/row.png", { range = { 0, 10 } })))
    H.assert_error(function() viz.heatmap(mg.ones(2, 2, 2), dir .. "/x.png") end, "viz.heatmap", "2-D")
    H.assert_error(function() viz.heatmap({ { 1, 2 }, { 3 } }, dir .. "/x.png") end, "row 2 has 1 values")
    H.assert_error(function() viz.heatmap(mg.ones(2, 2), dir .. "/x.png", { cell = 0 }) end, "cell")
    H.assert_error(function() viz.heatmap(mg.ones(2, 2)) end, "file path")
  end)
end)
