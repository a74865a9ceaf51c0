-- Robust evaluation: counting per eps and attack, with a fake model and
-- fake attacks whose outcomes the spec controls.
local H = require "helpers"
local mg = H.mg
local A = mg.attack
local fixture = require "attack.models"

-- Images [N, 1, 1, 2]: pixel 1 is the evidence for class 1 (the model says
-- class 1 when it is above 0.5, else class 2), pixel 2 the image's id / 100.
local function fake_data(evidence)
  local n = #evidence
  local pix = {}
  for i = 1, n do pix[i] = { { { evidence[i], i / 100 } } } end
  return mg.tensor(pix), mg.ones(n):long()
end

local function fake_model(x)
  local e = x:select(4, 1):reshape(-1, 1) -- [N, 1]
  return mg.cat({ e, mg.full_like(e, 0.5) }, 2)
end

local function ids_of(x)
  local out = {}
  for i, v in ipairs(x:select(4, 2):reshape(-1):totable()) do out[i] = math.floor(v * 100 + 0.5) end
  return out
end

-- An attack that flips (sets the evidence to 0) the images whose id is in
-- fools[eps]; it records the ids it was given.
local function fake_attack(fools, seen)
  return function(_, x, _, opts)
    local ids = ids_of(x)
    seen[#seen + 1] = { eps = opts.eps, ids = ids }
    local set = fools[opts.eps] or {}
    local keep = {}
    for i, id in ipairs(ids) do keep[i] = set[id] and 0 or 1 end
    local mask = mg.tensor(keep):reshape(-1, 1, 1, 1)
    local flipped = mg.cat({ x:narrow(4, 1, 1) * mask, x:narrow(4, 2, 1) }, 4)
    return flipped
  end
end

describe("attack.evaluate", function()
  before_each(H.reseed(6))

  it("counts an image robust only if it is right clean and every attack fails", function()
    -- ids 1..8 right clean, 9 and 10 wrong
    local x, y = fake_data({ 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 })
    local loader = mg.data.DataLoader(mg.data.TensorDataset(x, y), { batch_size = 4 })
    local seen_a, seen_b = {}, {}
    local r = A.evaluate(fake_model, loader, {
      eps = { 0, 0.1, 0.2 },
      attacks = {
        { label = "a", fn = fake_attack({ [0.1] = { [1] = true, [2] = true, [9] = true }, [0.2] = { [5] = true } },
          seen_a) },
        { label = "b", fn = fake_attack({ [0.1] = { [2] = true, [3] = true }, [0.2] = { [6] = true, [7] = true } },
          seen_b) },
      },
    })
    assert.are.equal(10, r.n)
    assert.are.same({ "a", "b" }, r.attacks)
    H.assert_near(r.clean, 0.8, 1e-12)
    H.assert_near({ r.by_eps[1].a, r.by_eps[1].b, r.by_eps[1].robust }, { 0.8, 0.8, 0.8 }, 1e-12)
    -- eps 0.1: a fools 1, 2 (9 is wrong anyway); b fools 2, 3; robust: 4..8
    H.assert_near({ r.by_eps[2].a, r.by_eps[2].b, r.by_eps[2].robust }, { 0.6, 0.6, 0.5 }, 1e-12)
    -- eps 0.2: a fools 5; b fools 6, 7; robust: 1..4, 8
    H.assert_near({ r.by_eps[3].a, r.by_eps[3].b, r.by_eps[3].robust }, { 0.7, 0.6, 0.5 }, 1e-12)
    assert.are.equal(0.1, r.by_eps[2].eps)
    -- attacks run only on the images classified right, never at eps 0
    local given = {}
    for _, call in ipairs(seen_a) do
      assert.is_true(call.eps > 0)
      for _, id in ipairs(call.ids) do given[id] = (given[id] or 0) + 1 end
    end
    for id = 1, 8 do assert.are.equal(2, given[id]) end
    assert.is_nil(given[9])
    assert.is_nil(given[10])
  end)

  it("stops after limit images and reports progress", function()
    local x, y = fake_data({ 1, 1, 1, 1, 1, 0, 1, 1, 1, 1 })
    local loader = mg.data.DataLoader(mg.data.TensorDataset(x, y), { batch_size = 4 })
    local progress = {}
    local r = A.evaluate(fake_model, loader, {
      eps = { 0.3 }, limit = 6,
      attacks = { { label = "a", fn = fake_attack({ [0.3] = { [1] = true } }, {}) } },
      on_batch = function(n) progress[#progress + 1] = n end,
    })
    assert.are.equal(6, r.n)
    H.assert_near({ r.clean, r.by_eps[1].a, r.by_eps[1].robust }, { 5 / 6, 4 / 6, 4 / 6 }, 1e-12)
    assert.are.same({ 4, 6 }, progress)
  end)

  it("runs the named attacks on a real model and restores its mode", function()
    local model = fixture.cnn()
    local x, y = fixture.data(24)
    local loader = mg.data.DataLoader(mg.data.TensorDataset(x, y), { batch_size = 12 })
    model:train()
    local r = A.evaluate(model, loader, {
      eps = { 0, 0.1 },
      attacks = { { name = "fgsm" }, { name = "pgd", steps = 3, restarts = 2 } },
    })
    assert.is_true(model.training)
    assert.are.equal(24, r.n)
    local row = r.by_eps[2]
    assert.is_true(row.pgd <= r.clean and row.fgsm <= r.clean)
    assert.is_true(row.robust <= math.min(row.pgd, row.fgsm))
    assert.are.equal(r.clean, r.by_eps[1].robust)
  end)

  it("rejects bad options with clear messages", function()
    local x, y = fake_data({ 1, 1 })
    local loader = mg.data.DataLoader(mg.data.TensorDataset(x, y), { batch_size = 2 })
    H.assert_error(function() A.evaluate(fake_model, loader, { attacks = { { name = "cw" } } }) end,
      "evaluate: unknown attack 'cw'", "fgsm")
    H.assert_error(function() A.evaluate(fake_model, loader, { eps = { -1 } }) end, "eps values must be numbers >= 0")
    H.assert_error(function() A.evaluate(fake_model, loader, { eps = {} }) end, "non-empty list")
    H.assert_error(function()
      A.evaluate(fake_model, loader, { attacks = { { name = "fgsm" }, { name = "fgsm" } } })
    end, "distinct label")
    H.assert_error(function() A.evaluate(fake_model, loader, { limit = 0 }) end, "limit must be a positive integer")
    H.assert_error(function() A.evaluate(fake_model, {}) end, "expected a DataLoader")
    H.assert_error(function() A.evaluate(42, loader) end, "model must be callable")
  end)
end)
