-- The Square attack: inside the ball and [0, 1], within its query budget,
-- never a gradient, and it fools a model whose input gradients are zero
-- (gradient masking), where gradient attacks stay at the clean accuracy.
local H = require "helpers"
local mg = H.mg
local A = mg.attack
local fixture = require "attack.models"

local function fooled(model, adv, y)
  return mg.no_grad(function() return model(adv):argmax(2):ne(y):sum():item() end)
end

describe("attack: Square", function()
  before_each(H.reseed(31))

  it("stays in the eps ball and in [0, 1] and within its query budget", function()
    local model = fixture.cnn()
    local x, y = fixture.data(24)
    for _, eps in ipairs({ 0.05, 0.2 }) do
      local adv, info = A.square(model, x, y, { eps = eps, queries = 50 })
      assert.same(x:shape(), adv:shape())
      assert.is_true(adv:min():item() >= 0 and adv:max():item() <= 1)
      assert.is_true(A.distance(adv, x):max():item() <= eps + 1e-6)
      local q = info.queries
      assert.same({ 24 }, q:shape())
      assert.is_true(q:min():item() >= 1 and q:max():item() <= 50)
      -- an image still right used the whole budget; one fooled stopped there
      local right = fixture.right(model, adv, y)
      H.assert_near(q * right, right * 50, 0)
    end
    local adv = A.square(model, x, y, { eps = 0.1, queries = 1 })
    assert.is_true(A.distance(adv, x):max():item() <= 0.1 + 1e-6)
  end)

  it("never asks for a gradient", function()
    local cnn = fixture.cnn()
    local x, y = fixture.data(8)
    local calls = 0
    local model = function(z)
      calls = calls + 1
      assert(not mg.is_grad_enabled(), "the model ran with grad mode on")
      return cnn(z)
    end
    A.square(model, x, y, { eps = 0.1, queries = 20 })
    assert.is_true(calls >= 2)
  end)

  it("fools a model whose gradients are masked; gradient attacks do not", function()
    local model = fixture.masked()
    local x, y = fixture.data(32)
    local eps = 0.1
    local sq = fooled(model, A.square(model, x, y, { eps = eps, queries = 300 }), y)
    local clean = fooled(model, x, y)
    local pgd = fooled(model, A.pgd(model, x, y, { eps = eps, steps = 10 }), y)
    local apgd = fooled(model, A.apgd(model, x, y, { eps = eps, steps = 10 }), y)
    assert.is_true(sq >= clean + 16, string.format("Square fooled %d of 32 (clean errors %d)", sq, clean))
    assert.is_true(pgd <= clean + 2 and apgd <= clean + 2,
      string.format("the mask should stop gradients: PGD fooled %d, APGD %d", pgd, apgd))
  end)

  it("reaches a target when asked", function()
    local model = fixture.cnn()
    local x, y = fixture.data(16)
    local t = y + 1 - y:eq(10):long() * 10
    local adv = A.square(model, x, y, { eps = 0.3, queries = 200, targeted = true, target = t })
    local hits = mg.no_grad(function() return model(adv):argmax(2):eq(t):sum():item() end)
    assert.is_true(hits >= 8, hits .. " of 16 reached the target")
  end)

  it("shrinks its window on the paper's schedule", function()
    assert.are.equal(0.8, A.square_schedule(10, 10000, 0.8))
    assert.are.equal(0.4, A.square_schedule(11, 10000, 0.8))
    assert.are.equal(0.05, A.square_schedule(600, 10000, 0.8))
    assert.are.equal(0.8 / 512, A.square_schedule(9999, 10000, 0.8))
    -- scaled to the budget: query 300 of 5000 is 600 of 10000
    assert.are.equal(0.05, A.square_schedule(300, 5000, 0.8))
  end)

  it("rejects bad options with clear messages", function()
    local model = fixture.cnn()
    local x, y = fixture.data(4)
    H.assert_error(function() A.square(model, x, y, { norm = "l2" }) end, "square: only norm \"linf\"")
    H.assert_error(function() A.square(model, x, y, { queries = 0 }) end, "square: queries must be an integer >= 1")
    H.assert_error(function() A.square(model, x, y, { p_init = 1.5 }) end, "square: p_init must be a number in (0, 1]")
    H.assert_error(function() A.square(model, x:reshape(4, 784), y) end, "square: images must be [N, C, H, W]")
    H.assert_error(function() A.square(model, x, y, { steps = 3 }) end, "square: unknown option 'steps'", "queries")
  end)
end)
