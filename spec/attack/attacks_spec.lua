-- Properties of the attacks: inside the eps ball and [0, 1], loss not lower
-- than clean, PGD at least as strong as FGSM, restarts never weaker than
-- one run, targeted attacks raise the target's score; FGSM against a hand
-- computation on a linear model.
local H = require "helpers"
local mg = H.mg
local A = mg.attack
local fixture = require "attack.models"

local TOL = 1e-6 -- x0 + eps rounds to float32

local function assert_valid(adv, x, eps, norm)
  assert.same(x:shape(), adv:shape())
  assert.is_true(adv:min():item() >= 0, "below 0")
  assert.is_true(adv:max():item() <= 1, "above 1")
  local d = A.distance(adv, x, norm):max():item()
  assert.is_true(d <= eps + TOL * (norm == "l2" and 10 or 1), string.format("distance %.8g > eps %g", d, eps))
end

local function not_lower(a, b, what)
  local worst = (a - b):min():item()
  assert.is_true(worst >= -1e-5, string.format("%s: a loss fell by %.6g", what, -worst))
end

describe("attack: FGSM", function()
  before_each(H.reseed(3))

  it("matches a hand computation on a linear model", function()
    -- logits = W x + b; d CE / d x = W^T (softmax - onehot)
    local model = fixture.linear()
    local x, y = fixture.data(8)
    local lin = model[2]
    local p = mg.no_grad(function() return model(x):softmax(2) end)
    local g = (p - mg.one_hot(y, 10):float()):matmul(lin.weight:detach()):reshape(8, 1, 28, 28)
    local expected = (x + g:sign() * 0.1):clamp(0, 1)
    H.assert_near(A.fgsm(model, x, y, { eps = 0.1 }), expected, 1e-6)
  end)

  it("stays in the eps ball and in [0, 1], linf and l2", function()
    local model = fixture.cnn()
    local x, y = fixture.data(32)
    for _, eps in ipairs({ 0.03, 0.1, 0.3 }) do
      assert_valid(A.fgsm(model, x, y, { eps = eps }), x, eps, "linf")
      assert_valid(A.fgsm(model, x, y, { eps = eps, random_start = true }), x, eps, "linf")
      assert_valid(A.fgsm(model, x, y, { eps = eps * 10, norm = "l2" }), x, eps * 10, "l2")
    end
  end)

  it("never lowers a per-example loss on the linear model (convex in the input)", function()
    local model = fixture.linear()
    local x, y = fixture.data(64)
    local clean = fixture.losses(model, x, y)
    for _, eps in ipairs({ 0.02, 0.1, 0.25 }) do
      not_lower(fixture.losses(model, A.fgsm(model, x, y, { eps = eps }), y), clean, "fgsm eps " .. eps)
    end
  end)

  it("raises the loss and lowers the accuracy of the small CNN", function()
    local model = fixture.cnn()
    local x, y = fixture.data(64)
    local adv = A.fgsm(model, x, y, { eps = 0.1 })
    assert.is_true(fixture.losses(model, adv, y):mean():item() > fixture.losses(model, x, y):mean():item() + 0.5)
    assert.is_true(fixture.right(model, adv, y):mean():item() < fixture.right(model, x, y):mean():item() - 0.3)
  end)

  it("returns the images unchanged at eps 0 and leaves the caller's images alone", function()
    local model = fixture.cnn()
    local x, y = fixture.data(16)
    local before = x:clone()
    H.assert_near(A.fgsm(model, x, y, { eps = 0 }), x, 0)
    A.pgd(model, x, y, { eps = 0.2, steps = 3 })
    A.bim(model, x, y, { eps = 0.2, steps = 3 })
    H.assert_near(x, before, 0)
  end)
end)

describe("attack: iterative attacks", function()
  before_each(H.reseed(4))

  it("stay in the eps ball and in [0, 1]", function()
    local model = fixture.cnn()
    local x, y = fixture.data(32)
    local eps = 0.15
    assert_valid(A.pgd(model, x, y, { eps = eps, steps = 5 }), x, eps, "linf")
    assert_valid(A.pgd(model, x, y, { eps = 1.5, steps = 5, norm = "l2" }), x, 1.5, "l2")
    assert_valid(A.pgd(model, x, y, { eps = eps, steps = 5, keep_best = false, restarts = 2 }), x, eps, "linf")
    assert_valid(A.bim(model, x, y, { eps = eps, steps = 5 }), x, eps, "linf")
    assert_valid(A.mifgsm(model, x, y, { eps = eps, steps = 5 }), x, eps, "linf")
    assert_valid(A.mifgsm(model, x, y, { eps = 1.5, steps = 5, norm = "l2" }), x, 1.5, "l2")
    assert_valid(A.gradient_ascent(model, x, y, { steps = 5, step = 1, eps = eps }), x, eps, "linf")
    -- a start far outside the ball is projected into it
    assert_valid(A.pgd(model, x, y, { eps = eps, steps = 0, start = mg.ones_like(x) }), x, eps, "linf")
  end)

  it("never give a per-example loss lower than clean (the best point is kept)", function()
    local model = fixture.cnn()
    local x, y = fixture.data(32)
    local clean = fixture.losses(model, x, y)
    for _, eps in ipairs({ 0.02, 0.1 }) do
      not_lower(fixture.losses(model, A.pgd(model, x, y, { eps = eps, steps = 5 }), y), clean, "pgd")
      not_lower(fixture.losses(model, A.pgd(model, x, y, { eps = eps * 10, steps = 5, norm = "l2" }), y), clean,
        "pgd l2")
      not_lower(fixture.losses(model, A.bim(model, x, y, { eps = eps, steps = 5 }), y), clean, "bim")
      not_lower(fixture.losses(model, A.mifgsm(model, x, y, { eps = eps, steps = 5 }), y), clean, "mifgsm")
    end
  end)

  it("the seed's gradient ascent raises the loss", function()
    local model = fixture.cnn()
    local x, y = fixture.data(32)
    local adv = A.gradient_ascent(model, x, y, { steps = 10, step = 0.5 })
    assert.is_true(adv:min():item() >= 0 and adv:max():item() <= 1)
    assert.is_true(fixture.losses(model, adv, y):mean():item() > fixture.losses(model, x, y):mean():item())
  end)

  it("PGD is at least as strong as FGSM", function()
    local model = fixture.cnn()
    local x, y = fixture.data(48)
    for _, eps in ipairs({ 0.05, 0.1 }) do
      local f = A.fgsm(model, x, y, { eps = eps })
      local p = A.pgd(model, x, y, { eps = eps, steps = 5 })
      local fr, pr = fixture.right(model, f, y):sum():item(), fixture.right(model, p, y):sum():item()
      assert.is_true(pr <= fr, string.format("eps %g: %d right under PGD, %d under FGSM", eps, pr, fr))
      assert.is_true(fixture.losses(model, p, y):mean():item() >= fixture.losses(model, f, y):mean():item())
    end
  end)

  it("with restarts fools every image a single run fools", function()
    local model = fixture.cnn()
    local x, y = fixture.data(48)
    for _, keep in ipairs({ true, false }) do
      mg.manual_seed(9)
      local one = A.pgd(model, x, y, { eps = 0.06, steps = 3, keep_best = keep })
      mg.manual_seed(9)
      local three = A.pgd(model, x, y, { eps = 0.06, steps = 3, restarts = 3, keep_best = keep })
      local fooled1 = 1 - fixture.right(model, one, y)
      local fooled3 = 1 - fixture.right(model, three, y)
      assert.are.equal(0, (fooled1 - fooled3):gt(0):sum():item())
      assert.is_true(fooled3:sum():item() >= fooled1:sum():item())
    end
  end)

  it("keep_best = false with no steps and no random start returns the start", function()
    local model = fixture.cnn()
    local x, y = fixture.data(8)
    local start = (x + 0.05):clamp(0, 1)
    H.assert_near(A.pgd(model, x, y, { eps = 0.1, steps = 0, start = start, keep_best = false }), start, 1e-6)
    H.assert_near(A.pgd(model, x, y, { eps = 0.1, steps = 0, random_start = false, keep_best = false }), x, 0)
  end)
end)

describe("attack: targeted", function()
  before_each(H.reseed(5))

  local function target_prob(model, x, t)
    return mg.no_grad(function() return model(x):softmax(2):gather(2, t:reshape(-1, 1)):reshape(-1) end)
  end

  it("raises the target's probability", function()
    local model = fixture.cnn()
    local x, y = fixture.data(32)
    local t = y + 1 - y:eq(10):long() * 10 -- the next class
    local clean = target_prob(model, x, t)
    local pgd = A.pgd(model, x, y, { eps = 0.2, steps = 10, targeted = true, target = t })
    not_lower(target_prob(model, pgd, t), clean, "targeted pgd")
    local hits = mg.no_grad(function() return model(pgd):argmax(2):eq(t):sum():item() end)
    assert.is_true(hits >= 16, "only " .. hits .. " of 32 reached the target")
    local f = A.fgsm(model, x, y, { eps = 0.1, targeted = true, target = t })
    assert.is_true(target_prob(model, f, t):mean():item() > clean:mean():item())
    local b = A.bim(model, x, y, { eps = 0.1, steps = 5, targeted = true, target = t })
    not_lower(target_prob(model, b, t), clean, "targeted bim")
  end)

  it("draws random targets other than the label, or the least likely class", function()
    local model = fixture.cnn()
    local x, y = fixture.data(64)
    -- with eps 0 nothing moves; what matters is which class the loss used
    local seen = {}
    local loss_fn = function(logits, target)
      seen[#seen + 1] = target
      return mg.cross_entropy(logits, target, { reduction = "none" })
    end
    A.fgsm(model, x, y, { eps = 0, targeted = true, target = "random", loss_fn = loss_fn })
    local t = seen[#seen]
    assert.are.equal(0, t:eq(y):sum():item())
    assert.is_true(t:float():min():item() >= 1 and t:float():max():item() <= 10)
    A.fgsm(model, x, y, { eps = 0, targeted = true, target = "least_likely", loss_fn = loss_fn })
    local ll = mg.no_grad(function() return model(x):argmin(2) end)
    H.assert_near(seen[#seen], ll, 0)
  end)
end)
