-- The masked-token recipe (lua/moongrad/text/mlm.lua): its proportions,
-- what it never touches, and its errors.
local H = require "helpers"
local mg = H.mg
local mlm = require "moongrad.text.mlm"

local OPTS = { mask_id = 5, special_ids = { 1, 2, 3, 4, 5 }, random_range = { 6, 105 } }

describe("mlm.mask_tokens", function()
  before_each(H.reseed(9))

  it("chooses 15% of the ordinary tokens: 80% masked, 10% random, 10% kept", function()
    local ids = mg.randint(6, 106, { 64, 128 })
    ids:narrow(2, 1, 1):fill_(3)   -- [CLS]
    ids:narrow(2, 100, 29):fill_(1) -- padding
    local inputs, positions, targets = mlm.mask_tokens(ids, OPTS)
    local ordinary = 64 * 98
    local m = positions:numel()
    assert.is_true(math.abs(m / ordinary - 0.15) < 0.015, "chosen " .. m / ordinary)
    local at = inputs:view(-1):index_select(1, positions):float()
    local masked = at:eq(5):float():mean():item()
    local kept = at:eq(targets:float()):float():mean():item()
    local random = 1 - masked - kept
    assert.is_true(math.abs(masked - 0.8) < 0.03, "masked " .. masked)
    -- a random draw equals the original 1% of the time: kept is 10% + 0.1%
    assert.is_true(math.abs(kept - 0.101) < 0.02, "kept " .. kept)
    assert.is_true(math.abs(random - 0.099) < 0.02, "random " .. random)
    -- random replacements come from the ordinary range
    local replaced = at:masked_fill(at:eq(5), 50)
    assert.is_true(replaced:min():item() >= 6 and replaced:max():item() <= 105)
    -- targets are the original ids; nothing else changed; specials never chosen
    H.assert_near(targets, ids:view(-1):index_select(1, positions), 0, 0)
    local changed = inputs:float():ne(ids:float()):view(-1)
    assert.are.equal(changed:sum():item(), changed:index_select(1, positions):sum():item())
    local special = ids:view(-1):index_select(1, positions):float()
    assert.are.equal(0, special:le(5):float():sum():item())
    -- distinct positions
    local _, _, counts = positions:unique()
    assert.are.equal(1, counts:max():item())
  end)

  it("follows the RNG and always chooses at least one token", function()
    local ids = mg.randint(6, 106, { 4, 16 })
    mg.manual_seed(3)
    local a, pa = mlm.mask_tokens(ids, OPTS)
    mg.manual_seed(3)
    local b, pb = mlm.mask_tokens(ids, OPTS)
    H.assert_near(a, b, 0, 0)
    H.assert_near(pa, pb, 0, 0)
    local one = mg.tensor({ { 3, 1, 1, 42 } }, { dtype = "int64" })
    for _ = 1, 20 do
      local _, p, t = mlm.mask_tokens(one, { mask_id = 5, special_ids = { 1, 3, 5 }, random_range = { 6, 105 },
        prob = 0.01 })
      assert.are.same({ 4 }, p:totable())
      assert.are.same({ 42 }, t:totable())
    end
  end)

  it("rejects bad arguments", function()
    local ids = mg.randint(6, 106, { 2, 8 })
    H.assert_error(function() mlm.mask_tokens(ids:float(), OPTS) end, "int64 Tensor [N, L]")
    H.assert_error(function() mlm.mask_tokens(ids, { special_ids = {}, random_range = { 6, 9 } }) end, "mask_id")
    H.assert_error(function() mlm.mask_tokens(ids, { mask_id = 5 }) end, "random_range")
    H.assert_error(function() mlm.mask_tokens(ids, { mask_id = 5, random_range = { 6, 9 }, prob = 2 }) end, "prob")
    H.assert_error(function() mlm.mask_tokens(ids, { mask_id = 5, random_range = { 6, 9 }, mask_frac = 0.95 }) end,
      "at most 1")
    H.assert_error(function() mlm.mask_tokens(ids, { mask_id = 5, random_range = { 6, 9 }, probability = 0.1 }) end,
      "unknown option 'probability'")
    H.assert_error(function()
      mlm.mask_tokens(mg.ones(2, 3):long(), { mask_id = 5, special_ids = { 1 }, random_range = { 6, 9 } })
    end, "no token")
  end)
end)
