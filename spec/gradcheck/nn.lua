-- Finite-difference checks for the fused nn ops of core/nn_norm.c,
-- core/nn_activation.c and core/nn_loss.c.
local H = require "helpers"
local mg = H.mg

local function long(t) return mg.tensor(t, { dtype = "int64" }) end
local function prob(...) return mg.rand(...) * 0.8 + 0.1 end -- away from 0 and 1

return {
  batch_norm = function()
    -- training with batch statistics ([N, C] and [N, C, H, W]), then eval with running ones
    local bn = function(x, w, b) return mg.batch_norm(x, nil, nil, w, b, { training = true }) end
    H.gradcheck(bn, { mg.randn(5, 3), mg.randn(3), mg.randn(3) })
    H.gradcheck(bn, { mg.randn(3, 2, 2, 3), mg.randn(2), mg.randn(2) })
    H.gradcheck(function(x) return mg.batch_norm(x, nil, nil, nil, nil, { training = true }) end,
      { mg.randn(4, 3, 2) })
    local rm, rv = mg.randn(3), mg.rand(3) + 0.5
    H.gradcheck(function(x, w, b) return mg.batch_norm(x, rm, rv, w, b) end,
      { mg.randn(4, 3), mg.randn(3), mg.randn(3) })
  end,
  layer_norm = function()
    H.gradcheck(function(x, w, b) return mg.layer_norm(x, 4, w, b) end, { mg.randn(3, 4), mg.randn(4), mg.randn(4) })
    H.gradcheck(function(x, w, b) return mg.layer_norm(x, { 3, 2 }, w, b) end,
      { mg.randn(2, 3, 2), mg.randn(3, 2), mg.randn(3, 2) })
    H.gradcheck(function(x) return mg.layer_norm(x, 5) end, { mg.randn(2, 5) })
  end,
  softmax = function()
    H.gradcheck(function(x) return mg.softmax(x, 2) end, { mg.randn(3, 5) })
    H.gradcheck(function(x) return x:softmax(2) end, { mg.randn(2, 3, 4) })
  end,
  log_softmax = function()
    H.gradcheck(function(x) return mg.log_softmax(x, -1) end, { mg.randn(3, 5) })
    H.gradcheck(function(x) return x:log_softmax(1) end, { mg.randn(3, 2, 2) })
  end,
  dropout = function()
    -- the same seed gives the same mask on every call
    H.gradcheck(function(x)
      mg.manual_seed(11)
      return mg.dropout(x, 0.4, true)
    end, { mg.randn(4, 5) })
  end,
  embedding = function()
    local ids = long { { 1, 3, 1 }, { 4, 3, 3 } } -- repeated rows accumulate
    H.gradcheck(function(w) return mg.embedding(ids, w) end, { mg.randn(4, 3) })
  end,
  grad_reverse = function()
    -- two reversals cancel (-2 * -0.5 = 1): the numeric gradient is the identity's
    H.gradcheck(function(x) return mg.grad_reverse(mg.grad_reverse(x, 2), 0.5) end, { mg.randn(3, 4) })
    local x, w = mg.randn(3, 4):requires_grad_(), mg.randn(3, 4)
    local g = mg.grad((mg.grad_reverse(x, 0.3) * w):sum(), { x })[1]
    H.assert_near(g, w * -0.3, 1e-6, 1e-6)
  end,
  cross_entropy = function()
    local t = long { 2, 5, 1, 3 }
    H.gradcheck(function(x) return mg.cross_entropy(x, t) end, { mg.randn(4, 5) })
    H.gradcheck(function(x) return mg.cross_entropy(x, t, { reduction = "none", label_smoothing = 0.2 }) end,
      { mg.randn(4, 5) })
    H.gradcheck(function(x) return mg.cross_entropy(x, t, { ignore_index = 5, label_smoothing = 0.1 }) end,
      { mg.randn(4, 5) })
    H.gradcheck(function(x) return mg.cross_entropy(x, t, { reduction = "sum" }) end, { mg.randn(4, 5) })
  end,
  nll_loss = function()
    local t = long { 2, 5, 1 }
    H.gradcheck(function(x) return mg.nll_loss(x, t) end, { mg.randn(3, 5) })
    H.gradcheck(function(x) return mg.nll_loss(x, t, { reduction = "none" }) end, { mg.randn(3, 5) })
  end,
  binary_cross_entropy = function()
    H.gradcheck(mg.binary_cross_entropy, { prob(3, 4), prob(3, 4) })
    H.gradcheck(function(p, t) return mg.binary_cross_entropy(p, t, { reduction = "none" }) end,
      { prob(5), prob(5) })
  end,
  binary_cross_entropy_with_logits = function()
    H.gradcheck(mg.binary_cross_entropy_with_logits, { mg.randn(3, 4) * 3, prob(3, 4) })
    H.gradcheck(function(z, t) return mg.binary_cross_entropy_with_logits(z, t, { reduction = "sum" }) end,
      { mg.randn(6), prob(6) })
  end,
  mse_loss = function()
    H.gradcheck(mg.mse_loss, { mg.randn(3, 4), mg.randn(3, 4) })
    H.gradcheck(function(a, b) return mg.mse_loss(a, b, { reduction = "none" }) end, { mg.randn(5), mg.randn(5) })
  end,
  l1_loss = function()
    -- differences kept away from 0, where |a - b| has a kink
    local a = mg.randn(3, 4)
    local b = a + (mg.rand(3, 4) + 0.2) * mg.tensor { 1, -1, 1, -1 }
    H.gradcheck(mg.l1_loss, { a, b })
    H.gradcheck(function(x, y) return mg.l1_loss(x, y, { reduction = "sum" }) end, { a:clone(), b:clone() })
  end,
}
