-- The ensemble run in sequence: each attack sees only the survivors of the
-- ones before it, the counts are cumulative, the images returned are the
-- first adversarial example found; evaluate's sequential and ensemble
-- modes report robust accuracy per attack and overall.
local H = require "helpers"
local mg = H.mg
local A = mg.attack
local fixture = require "attack.models"

-- Images [N, 1, 1, 2]: pixel 1 the evidence for class 1 (the model says
-- class 1 above 0.5, else class 2), pixel 2 the image's id / 100.
local function fake_data(evidence)
  local pix = {}
  for i, e in ipairs(evidence) do pix[i] = { { { e, i / 100 } } } end
  return mg.tensor(pix), mg.ones(#evidence):long()
end

local function fake_model(x)
  local e = x:select(4, 1):reshape(-1, 1)
  return mg.cat({ e, mg.full_like(e, 0.5) }, 2)
end

local function ids_of(x)
  local out = {}
  for i, v in ipairs(x:select(4, 2):reshape(-1):totable()) do out[i] = math.floor(v * 100 + 0.5) end
  return out
end

-- An attack that flips the images whose id is in `fools` (evidence set to
-- `mark`, below 0.5) and records the ids it was given.
local function fake_attack(fools, mark, seen)
  return function(_, x, _, opts)
    local ids = ids_of(x)
    seen[#seen + 1] = { eps = opts.eps, ids = ids }
    local e = {}
    for i, id in ipairs(ids) do e[i] = fools[id] and mark or x[i][1][1][1]:item() end
    return mg.cat({ mg.tensor(e):reshape(-1, 1, 1, 1), x:narrow(4, 2, 1) }, 4)
  end
end

describe("attack.ensemble", function()
  before_each(H.reseed(41))

  it("runs each attack on the survivors of the ones before it", function()
    -- ids 1..6 right clean, 7 wrong
    local x, y = fake_data({ 1, 1, 1, 1, 1, 1, 0 })
    local seen_a, seen_b, seen_c = {}, {}, {}
    local attacks = {
      { label = "a", fn = fake_attack({ [1] = true, [2] = true }, 0.1, seen_a) },
      { label = "b", fn = fake_attack({ [2] = true, [3] = true }, 0.2, seen_b) },
      { label = "c", fn = fake_attack({ [6] = true }, 0.3, seen_c) },
    }
    local adv, report = A.ensemble(fake_model, x, y, { eps = 0.25, attacks = attacks })
    assert.same({ 1, 2, 3, 4, 5, 6 }, seen_a[1].ids)
    assert.same({ 3, 4, 5, 6 }, seen_b[1].ids)
    assert.same({ 4, 5, 6 }, seen_c[1].ids)
    assert.are.equal(0.25, seen_c[1].eps)
    assert.are.equal(6, report.clean)
    assert.same({ 4, 3, 2 }, report.right)
    assert.same({ "a", "b", "c" }, report.attacks)
    assert.same({ "a", "a", "b", false, false, "c", false }, report.fooled_by)
    -- the first adversarial example per image, the clean image elsewhere
    H.assert_near(adv:select(4, 1):reshape(-1), { 0.1, 0.1, 0.2, 1, 1, 0.3, 0 }, 1e-6)
    H.assert_near(adv:select(4, 2), x:select(4, 2), 0)
  end)

  it("stops attacking once nothing is left and attacks nothing at eps 0", function()
    local x, y = fake_data({ 1, 1 })
    local seen_b = {}
    local _, report = A.ensemble(fake_model, x, y, { eps = 0.1, attacks = {
      { label = "a", fn = fake_attack({ [1] = true, [2] = true }, 0, {}) },
      { label = "b", fn = fake_attack({}, 0, seen_b) },
    } })
    assert.same({ 0, 0 }, report.right)
    assert.are.equal(0, #seen_b)
    local _, at0 = A.ensemble(fake_model, x, y,
      { eps = 0, attacks = { { label = "b", fn = fake_attack({}, 0, seen_b) } } })
    assert.same({ 2 }, at0.right)
    assert.are.equal(0, #seen_b)
  end)

  it("evaluate in sequence: accuracy after each attack, and robust the last", function()
    local x, y = fake_data({ 1, 1, 1, 1, 1, 1, 0, 1 })
    local loader = mg.data.DataLoader(mg.data.TensorDataset(x, y), { batch_size = 4 })
    local attacks = {
      { label = "a", fn = fake_attack({ [1] = true, [5] = true }, 0, {}) },
      { label = "b", fn = fake_attack({ [1] = true, [2] = true, [8] = true }, 0, {}) },
    }
    local r = A.evaluate(fake_model, loader, { eps = { 0, 0.1 }, attacks = attacks, sequential = true })
    H.assert_near(r.clean, 7 / 8, 1e-12)
    H.assert_near({ r.by_eps[1].a, r.by_eps[1].b, r.by_eps[1].robust }, { 7 / 8, 7 / 8, 7 / 8 }, 1e-12)
    -- a fools 1, 5; then b fools 2, 8 (1 is gone already): 3, 4, 6 remain
    H.assert_near({ r.by_eps[2].a, r.by_eps[2].b, r.by_eps[2].robust }, { 5 / 8, 3 / 8, 3 / 8 }, 1e-12)
    -- the independent mode counts b on its own
    local ind = A.evaluate(fake_model, loader, { eps = { 0.1 }, attacks = attacks })
    H.assert_near({ ind.by_eps[1].a, ind.by_eps[1].b, ind.by_eps[1].robust }, { 5 / 8, 4 / 8, 3 / 8 }, 1e-12)
  end)

  it("evaluate with the standard ensemble on a real model", function()
    local model = fixture.cnn()
    local x, y = fixture.data(24)
    local loader = mg.data.DataLoader(mg.data.TensorDataset(x, y), { batch_size = 12 })
    model:train()
    local r = A.evaluate(model, loader, { eps = { 0.1 }, ensemble = { steps = 10, n_targets = 2, queries = 30 } })
    assert.is_true(model.training)
    assert.same({ "apgd_ce", "apgd_t", "square" }, r.attacks)
    local row = r.by_eps[1]
    assert.is_true(r.clean >= row.apgd_ce and row.apgd_ce >= row.apgd_t and row.apgd_t >= row.square)
    assert.are.equal(row.square, row.robust)
    assert.is_true(row.robust < r.clean)
  end)

  it("ensemble_attacks lists APGD-CE, APGD-T and Square (no Square for l2)", function()
    local list = A.ensemble_attacks { steps = 7, n_targets = 4, queries = 99 }
    assert.same({ "apgd", "apgd", "square" }, { list[1].name, list[2].name, list[3].name })
    assert.same({ "ce", "dlr", true, 4, 7, 99 },
      { list[1].loss, list[2].loss, list[2].targeted, list[2].n_targets, list[2].steps, list[3].queries })
    assert.are.equal(2, #A.ensemble_attacks { norm = "l2" })
    assert.are.equal(2, #A.ensemble_attacks { queries = 0 })
  end)

  it("rejects bad arguments with clear messages", function()
    local x, y = fake_data({ 1, 1 })
    H.assert_error(function() A.ensemble(fake_model, x, y, {}) end, "ensemble: eps must be a number >= 0")
    H.assert_error(function() A.ensemble(fake_model, x, y:float(), { eps = 0.1 }) end,
      "ensemble: labels must be an int64 Tensor [2]")
    H.assert_error(function() A.ensemble(fake_model, x, y, { eps = 0.1, attacks = { { name = "cw" } } }) end,
      "ensemble: unknown attack 'cw'", "apgd", "square")
    H.assert_error(function() A.ensemble(fake_model, x, y, { eps = 0.1, attacks = {} }) end,
      "ensemble: attacks must be a non-empty list")
    H.assert_error(function() A.ensemble_attacks(5) end, "ensemble_attacks: options must be a table")
  end)
end)
