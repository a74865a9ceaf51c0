-- APGD (auto-PGD) and the DLR loss: inside the ball and [0, 1], at least
-- as strong as PGD-40, the checkpoint schedule of the paper, DLR against
-- hand computations and its indifference to the logits' scale (which is
-- what lets APGD-DLR through a saturated softmax that stops cross-entropy).
local H = require "helpers"
local mg = H.mg
local A = mg.attack
local L = A.losses
local fixture = require "attack.models"

local TOL = 1e-6

local function assert_valid(adv, x, eps, norm)
  assert.same(x:shape(), adv:shape())
  assert.is_true(adv:min():item() >= 0 and adv:max():item() <= 1, "outside [0, 1]")
  local d = A.distance(adv, x, norm):max():item()
  assert.is_true(d <= eps + TOL * (norm == "l2" and 10 or 1), string.format("distance %.8g > eps %g", d, eps))
end

local function fooled(model, adv, y)
  return mg.no_grad(function() return model(adv):argmax(2):ne(y):sum():item() end)
end

local function int64(t) return mg.tensor(t, { dtype = "int64" }) end

describe("attack: DLR and margin losses", function()
  before_each(H.reseed(21))

  it("match hand computations", function()
    local z = mg.tensor { { 3, 1, 2, 0 }, { 0, 5, 1, 2 }, { 1, 2, 4, 3 } }
    local y = int64 { 1, 1, 3 }
    -- row 1: y is first: -(3 - 2) / (3 - 1); row 2: -(0 - 5) / (5 - 1);
    -- row 3: y is first: -(4 - 3) / (4 - 2)
    H.assert_near(L.dlr(z, y), { -0.5, 1.25, -0.5 }, 1e-6)
    -- targeted, t = 2, 3, 4: -(z_y - z_t) / (z_1 - (z_3 + z_4) / 2)
    local t = int64 { 2, 3, 4 }
    H.assert_near(L.dlr_targeted(z, y, t), { -2 / (3 - 0.5), 1 / (5 - 0.5), -1 / (4 - 1.5) }, 1e-6)
    H.assert_near(L.margin(z, y), { 1, -5, 1 }, 1e-6)
    H.assert_near(L.margin_targeted(z, t), { 2, 4, 1 }, 1e-6)
    assert.same({ { 1, 3, 2, 4 }, { 2, 4, 3, 1 }, { 3, 4, 2, 1 } }, L.top_classes(z, 4):totable())
  end)

  it("DLR does not change when the logits are scaled or shifted", function()
    local z = mg.randn(16, 10)
    local y = mg.randint(1, 11, { 16 })
    local t = y + 1 - y:eq(10):long() * 10
    H.assert_near(L.dlr(z * 1000 + 7, y), L.dlr(z, y), 1e-4)
    H.assert_near(L.dlr_targeted(z * 1000 - 3, y, t), L.dlr_targeted(z, y, t), 1e-4)
  end)

  it("have the gradient of their formula", function()
    local y, t = int64 { 2, 1, 3 }, int64 { 1, 3, 4 }
    H.gradcheck(function(z) return L.dlr(z, y) end, { mg.randn(3, 5) })
    H.gradcheck(function(z) return L.dlr_targeted(z, y, t) end, { mg.randn(3, 5) })
  end)

  it("reject too few classes and bad labels", function()
    H.assert_error(function() L.dlr(mg.randn(2, 2), int64 { 1, 2 }) end, "dlr: needs at least 3 classes", "gave 2")
    H.assert_error(function() L.dlr(mg.randn(2, 4), int64 { 1 }) end, "dlr: labels must be an int64 Tensor [2]")
    H.assert_error(function() L.margin(mg.randn(4), int64 { 1 }) end, "margin: logits must be a float32 Tensor [N, C]")
  end)
end)

describe("attack: APGD", function()
  before_each(H.reseed(22))

  it("checks its progress at the paper's checkpoints", function()
    assert.same({ 22, 41, 57, 70, 80, 87, 93, 99 }, A.apgd_checkpoints(100))
    assert.same({ 1, 2, 3, 4, 5 }, A.apgd_checkpoints(5))
    assert.same({}, A.apgd_checkpoints(0))
  end)

  it("stays in the eps ball and in [0, 1], every variant", function()
    local model = fixture.cnn()
    local x, y = fixture.data(24)
    assert_valid(A.apgd(model, x, y, { eps = 0.1, steps = 10 }), x, 0.1, "linf")
    assert_valid(A.apgd(model, x, y, { eps = 0.3, steps = 10, loss = "dlr" }), x, 0.3, "linf")
    assert_valid(A.apgd(model, x, y, { eps = 1.5, steps = 10, norm = "l2" }), x, 1.5, "l2")
    assert_valid(A.apgd(model, x, y, { eps = 0.1, steps = 5, targeted = true, n_targets = 3 }), x, 0.1, "linf")
    assert_valid(A.apgd(model, x, y, { eps = 0.1, steps = 5, restarts = 2, random_start = false }), x, 0.1, "linf")
    local t = y + 1 - y:eq(10):long() * 10
    assert_valid(A.apgd(model, x, y, { eps = 0.1, steps = 5, targeted = true, target = t }), x, 0.1, "linf")
    H.assert_near(A.apgd(model, x, y, { eps = 0, steps = 5 }), x, 0)
  end)

  it("is at least as strong as PGD-40 on a fixed small model", function()
    local model = fixture.cnn()
    local x, y = fixture.data(48)
    for _, eps in ipairs({ 0.04, 0.1 }) do
      local pgd = fooled(model, A.pgd(model, x, y, { eps = eps, steps = 40 }), y)
      local apgd = fooled(model, A.apgd(model, x, y, { eps = eps, steps = 100 }), y)
      assert.is_true(apgd >= pgd, string.format("eps %g: APGD-CE fooled %d, PGD-40 %d", eps, apgd, pgd))
    end
    local pgd = fooled(model, A.pgd(model, x, y, { eps = 1.0, steps = 40, norm = "l2" }), y)
    local apgd = fooled(model, A.apgd(model, x, y, { eps = 1.0, norm = "l2" }), y)
    assert.is_true(apgd >= pgd, string.format("l2: APGD-CE fooled %d, PGD-40 %d", apgd, pgd))
  end)

  it("never returns a point with a lower loss than the clean image", function()
    local model = fixture.cnn()
    local x, y = fixture.data(32)
    local clean = fixture.losses(model, x, y)
    local adv = A.apgd(model, x, y, { eps = 0.02, steps = 20 })
    local worst = (fixture.losses(model, adv, y) - clean):min():item()
    assert.is_true(worst >= -1e-5, "a loss fell by " .. -worst)
  end)

  it("with DLR gets through a saturated softmax that stops cross-entropy", function()
    local model = fixture.saturated()
    local x, y = fixture.data(32)
    local ce = fooled(model, A.apgd(model, x, y, { eps = 0.1, steps = 30 }), y)
    local dlr = fooled(model, A.apgd(model, x, y, { eps = 0.1, steps = 30, loss = "dlr" }), y)
    local targeted = fooled(model, A.apgd(model, x, y, { eps = 0.1, steps = 30, targeted = true, n_targets = 2 }), y)
    assert.is_true(ce <= 4, ce .. " fooled by APGD-CE through the saturated softmax")
    assert.is_true(dlr >= 20 and targeted >= 20, string.format("APGD-DLR fooled %d, APGD-T %d of 32", dlr, targeted))
  end)

  it("APGD-T aims at the classes the model rates highest after the label", function()
    -- a fixed linear 4-class model: logits = x * (4, 3, 2, 1) - (0, 0, 0, c)
    local seen = {}
    local model = function(x)
      local v = x:reshape(x:size(1), -1):mean(2, true)
      return mg.cat({ v * 4, v * 3, v * 2, v * 1 - 5 }, 2)
    end
    local x, y = mg.full({ 2, 1, 2, 2 }, 0.5), int64 { 1, 1 }
    local dlr_targeted = L.dlr_targeted
    L.dlr_targeted = function(z, labels, t)
      seen[#seen + 1] = t:totable()
      return dlr_targeted(z, labels, t)
    end
    local ok, err = pcall(A.apgd, model, x, y, { eps = 0.01, steps = 1, targeted = true, n_targets = 3 })
    L.dlr_targeted = dlr_targeted
    assert(ok, err)
    -- ranked 1, 2, 3, 4 with label 1: targets 2, then 3, then 4
    local firsts = {}
    for _, t in ipairs(seen) do
      if firsts[#firsts] ~= t[1] then firsts[#firsts + 1] = t[1] end
      assert.are.equal(t[1], t[2])
    end
    assert.same({ 2, 3, 4 }, firsts)
  end)

  it("rejects bad options with clear messages", function()
    local model = fixture.cnn()
    local x, y = fixture.data(4)
    H.assert_error(function() A.apgd(model, x, y, { loss = "hinge" }) end, "apgd: loss must be \"ce\" or \"dlr\"",
      "'hinge'")
    H.assert_error(function() A.apgd(model, x, y, { n_targets = 0 }) end, "apgd: n_targets must be an integer >= 1")
    H.assert_error(function() A.apgd(model, x, y, { rho = 2 }) end, "apgd: rho must be a number in [0, 1]")
    H.assert_error(function() A.apgd(model, x, y, { alpha = 0.1 }) end, "apgd: unknown option 'alpha'")
    H.assert_error(function() A.apgd(model, x, y, { steps = -1 }) end, "apgd: steps must be an integer >= 0")
    local two = function(z) return z:reshape(z:size(1), -1):narrow(2, 1, 2) end
    H.assert_error(function() A.apgd(two, x, int64 { 1, 2, 1, 2 }, { loss = "dlr", steps = 1 }) end,
      "apgd: the DLR loss needs at least 3 classes, the model gave 2")
  end)
end)
