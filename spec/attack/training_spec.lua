-- attack.training_loss: the batch losses of adversarial training.
local H = require "helpers"
local mg = H.mg
local A = mg.attack
local fixture = require "attack.models"

local METHODS = { "normal", "seed", "fast", "pgd", "trades" }

describe("attack.training_loss", function()
  before_each(H.reseed(10))

  it("equals plain cross-entropy at eps 0 for every method", function()
    local model = fixture.cnn()
    local x, y = fixture.data(16)
    local plain = mg.no_grad(function() return mg.cross_entropy(model(x), y):item() end)
    for _, m in ipairs(METHODS) do
      local loss = A.training_loss(model, x, y, { method = m, eps = 0, steps = 2 })
      H.assert_near(loss:item(), plain, 1e-5, 1e-5, m)
    end
  end)

  it("is higher than the clean loss under attack, gives gradients and keeps the train mode", function()
    local model = fixture.cnn()
    local x, y = fixture.data(16)
    local plain = mg.no_grad(function() return mg.cross_entropy(model(x), y):item() end)
    model:train()
    for _, m in ipairs(METHODS) do
      local loss, logits, targets = A.training_loss(model, x, y, { method = m, eps = 0.1, steps = 2 })
      assert.is_true(model.training, m)
      assert.are.equal(targets:size(1), logits:size(1))
      assert.are.equal(m == "seed" and 32 or 16, targets:size(1), m)
      assert.is_false(logits.requires_grad)
      if m ~= "normal" then assert.is_true(loss:item() > plain, m .. " loss not above the clean loss") end
      model:zero_grad()
      loss:backward()
      for name, p in model:named_parameters() do
        assert.is_true(p.grad ~= nil and p.grad:abs():sum():item() > 0, m .. ": no gradient for " .. name)
      end
      model:zero_grad()
    end
  end)

  it("TRADES adds beta times a non-negative KL to the clean cross-entropy", function()
    local model = fixture.cnn()
    local x, y = fixture.data(16)
    local plain = mg.no_grad(function() return mg.cross_entropy(model(x), y):item() end)
    local function trades(beta)
      return mg.no_grad(function()
        return A.training_loss(model, x, y, { method = "trades", eps = 0.1, steps = 2, beta = beta })
      end)
    end
    local beta0 = trades(0)
    H.assert_near(beta0:item(), plain, 1e-5)
    local b1 = trades(1)
    assert.is_true(b1:item() > plain)
  end)

  it("rejects unknown methods and bad radii", function()
    local model = fixture.cnn()
    local x, y = fixture.data(4)
    H.assert_error(function() A.training_loss(model, x, y, { method = "free" }) end,
      "training_loss: method must be normal, seed, fast, pgd or trades", "'free'")
    H.assert_error(function() A.training_loss(model, x, y, { method = "pgd", eps = -1 }) end,
      "training_loss: eps must be a number >= 0")
  end)
end)
