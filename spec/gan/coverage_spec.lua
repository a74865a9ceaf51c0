-- Class coverage of generated samples (the histogram that shows mode
-- collapse) and the classifier score (the Inception-score formula).
local H = require "helpers"
local mg = H.mg
local gan = mg.gan

local function near(a, b, tol)
  assert.is_true(math.abs(a - b) <= (tol or 1e-9), string.format("%.12g vs %.12g", a, b))
end

describe("gan.class_coverage", function()
  it("counts the classes, 1-based, from a tensor or a list", function()
    local c = gan.class_coverage(mg.tensor({ 1, 3, 3, 4, 3 }, { dtype = "int64" }), 4)
    assert.are.same({ 1, 0, 3, 1 }, c.counts)
    assert.are.equal(5, c.n)
    near(c.fractions[3], 0.6)
    assert.are.same(c.counts, gan.class_coverage({ 1, 3, 3, 4, 3 }, 4).counts)
  end)

  it("says how many classes hold at least a quarter of their fair share", function()
    -- 100 samples over 4 classes: fair share 25, a quarter of it 6.25
    local list = {}
    for _ = 1, 80 do list[#list + 1] = 1 end
    for _ = 1, 13 do list[#list + 1] = 2 end
    for _ = 1, 6 do list[#list + 1] = 3 end
    list[#list + 1] = 4
    local c = gan.class_coverage(list, 4)
    assert.are.equal(2, c.covered)
    assert.are.equal(3, gan.class_coverage(list, 4, { min_fraction = 0.05 }).covered)
  end)

  it("has KL to uniform 0 for an even spread and log K for a collapse", function()
    near(gan.class_coverage({ 1, 2, 3, 1, 2, 3 }, 3).kl_uniform, 0, 1e-12)
    local collapsed = gan.class_coverage({ 2, 2, 2, 2 }, 10)
    near(collapsed.kl_uniform, math.log(10), 1e-12)
    assert.are.equal(1, collapsed.covered)
    local half = gan.class_coverage({ 1, 2 }, 4) -- two of four classes, evenly
    near(half.kl_uniform, math.log(4) - math.log(2), 1e-12)
  end)

  it("rejects classes outside 1..K", function()
    H.assert_error(function() gan.class_coverage({ 1, 0 }, 3) end, "class 0 at 2", "1..3")
    H.assert_error(function() gan.class_coverage({ 4 }, 3) end, "outside 1..3")
    H.assert_error(function() gan.class_coverage({ 1 }, 0) end, "num_classes")
  end)
end)

describe("gan.classifier_score", function()
  it("is 1 when every sample gets the same class distribution", function()
    near(gan.classifier_score(mg.full({ 5, 4 }, 0.25)), 1, 1e-6)
    near(gan.classifier_score(mg.tensor({ { 1, 0, 0 }, { 1, 0, 0 } })), 1, 1e-6)
  end)

  it("is K for confident predictions spread evenly over K classes", function()
    near(gan.classifier_score(mg.eye(4)), 4, 1e-5)
    local p = mg.tensor({ { 1, 0 }, { 1, 0 }, { 0, 1 }, { 0, 1 } })
    near(gan.classifier_score(p), 2, 1e-5)
  end)

  it("matches a hand computation on soft predictions", function()
    local p = { { 0.9, 0.1 }, { 0.2, 0.8 } }
    local m = { 0.55, 0.45 }
    local kl = 0
    for i = 1, 2 do for j = 1, 2 do kl = kl + p[i][j] * math.log(p[i][j] / m[j]) end end
    near(gan.classifier_score(mg.tensor(p)), math.exp(kl / 2), 1e-6)
  end)
end)
