-- mg recon: the inpainting block (the article's rows and columns 10..19
-- counted from 0), the masked-region MSE and the inpainting input.
local H = require "helpers"
local mg = H.mg
local recon = require "moongrad.recon"

-- The 1-based (row, col) cells of a [1, 1, H, W] or [H, W] 0/1 tensor that are set.
local function cells(t)
  local rows = t:dim() == 4 and t:select(1, 1):select(1, 1):totable() or t:totable()
  local out = {}
  for i, row in ipairs(rows) do
    for j, v in ipairs(row) do if v ~= 0 then out[#out + 1] = { i, j } end end
  end
  return out
end

describe("recon.block_mask", function()
  it("marks exactly rows and columns 11..20 (10..19 from 0) by default", function()
    local m = recon.block_mask(28, 28)
    assert.are.same({ 1, 1, 28, 28 }, m:shape())
    local want = {}
    for i = 11, 20 do for j = 11, 20 do want[#want + 1] = { i, j } end end
    assert.are.same(want, cells(m))
  end)

  it("is not center_mask{size = 10}, which sits one row and column higher", function()
    local centred = mg.data.transforms.center_mask { size = 10 }(mg.ones(1, 1, 28, 28))
    local ours = recon.mask_block()(mg.ones(1, 1, 28, 28))
    assert.are.same({ 10, 10 }, cells(1 - centred)[1])
    assert.are.same({ 11, 11 }, cells(1 - ours)[1])
  end)

  it("puts a block anywhere: top, left, rows, cols (or size)", function()
    assert.are.same({ { 1, 2 }, { 1, 3 }, { 2, 2 }, { 2, 3 } },
      cells(recon.block_mask(4, 5, { top = 1, left = 2, size = 2 })))
    assert.are.same({ { 4, 5 } }, cells(recon.block_mask(4, 5, { top = 4, left = 5, rows = 1, cols = 1 })))
  end)

  it("refuses blocks that do not fit and bad options", function()
    H.assert_error(function() recon.block_mask(28, 28, { top = 20, left = 1, size = 10 }) end,
      "block_mask", "rows 20..29", "do not fit 28x28")
    H.assert_error(function() recon.block_mask(28, 28, { top = 0, left = 1, size = 3 }) end, "block_mask", "top",
      ">= 1")
    H.assert_error(function() recon.block_mask(28, 28, { top = 1, left = 1, size = 3, where = 1 }) end,
      "unknown option 'where'")
  end)
end)

describe("recon.mask_block", function()
  before_each(H.reseed(21))

  it("zeroes the block of every image and changes nothing else", function()
    local x = mg.rand(3, 2, 28, 28) + 0.5 -- no zeros anywhere
    local y = recon.mask_block()(x)
    local hole = recon.block_mask(28, 28)
    H.assert_near(y * hole, mg.zeros(3, 2, 28, 28), 0)
    H.assert_near(y * (1 - hole), x * (1 - hole), 0)
    assert.are.equal(3 * 2 * 100, mg.eq(y, 0):sum():item())
  end)

  it("fills with value, keeps the labels and names the batch it wanted", function()
    local x, labels = mg.zeros(1, 1, 6, 6), mg.tensor({ 3 }, { dtype = "int64" })
    local y, l = recon.mask_block { top = 2, left = 3, rows = 2, cols = 3, value = 0.5 }(x, labels)
    assert.are.equal(3, l:totable()[1])
    H.assert_near(y:sum(), 0.5 * 6, 1e-6)
    assert.are.same({ { 2, 3 }, { 2, 4 }, { 2, 5 }, { 3, 3 }, { 3, 4 }, { 3, 5 } }, cells(y))
    H.assert_error(function() recon.mask_block()(mg.zeros(28, 28)) end, "mask_block", "[B, C, H, W]")
    H.assert_error(function() recon.mask_block()(mg.zeros(1, 1, 12, 12)) end, "mask_block", "do not fit 12x12")
  end)
end)

describe("recon.inpaint_input", function()
  it("masks to black, then normalises: the hole reads -1, the rest 2x - 1", function()
    local x = mg.full({ 2, 1, 28, 28 }, 0.75)
    local y = recon.inpaint_input()(x)
    local hole = recon.block_mask(28, 28)
    H.assert_near(y * hole, hole:expand_as(y) * -1, 1e-6)
    H.assert_near(y * (1 - hole), (1 - hole):expand_as(y) * 0.5, 1e-6)
  end)
end)

describe("recon.masked_mse", function()
  before_each(H.reseed(22))

  it("averages the squared error over the masked pixels only", function()
    -- 2 images 1x2x2; the mask picks the top-left and bottom-right pixel
    local pred = mg.tensor { { { { 1, 9 }, { 9, 2 } } }, { { { 0, 9 }, { 9, 4 } } } }
    local target = mg.tensor { { { { 0, 0 }, { 0, 0 } } }, { { { 3, 0 }, { 0, 0 } } } }
    local mask = mg.tensor { { { { 1, 0 }, { 0, 1 } } } }
    -- squares inside: 1, 4, 9, 16 -> mean 7.5
    H.assert_near(recon.masked_mse(pred, target, mask), 7.5, 1e-6)
  end)

  it("equals the MSE of the cropped block, and its gradient is zero outside", function()
    local pred = mg.rand(3, 1, 28, 28):requires_grad_()
    local target = mg.rand(3, 1, 28, 28)
    local hole = recon.block_mask(28, 28)
    local loss = recon.masked_mse(pred, target, hole)
    local crop = function(t) return t:narrow(3, 11, 10):narrow(4, 11, 10) end
    H.assert_near(loss, mg.mse_loss(crop(pred:detach()), crop(target)), 1e-6, 1e-5)
    local g = mg.grad(loss, { pred })[1]
    H.assert_near(g * (1 - hole), mg.zeros(3, 1, 28, 28), 0)
    H.assert_near(crop(g), (crop(pred:detach()) - crop(target)) * (2 / 300), 1e-7, 1e-4)
  end)

  it("refuses an empty mask", function()
    H.assert_error(function() recon.masked_mse(mg.zeros(1, 1, 2, 2), mg.zeros(1, 1, 2, 2), mg.zeros(1, 1, 2, 2)) end,
      "masked_mse", "no pixel")
  end)
end)
