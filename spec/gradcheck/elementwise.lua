-- Finite-difference checks for the ops of core/ops_elementwise.c.
-- Each entry: op name in the op table -> function that raises on failure.
local H = require "helpers"
local mg = H.mg

local function pos(...) return mg.rand(...) + 0.5 end -- away from 0 for log, sqrt, div

return {
  add = function() H.gradcheck(mg.add, { mg.randn(3, 4), mg.randn(4) }) end,
  sub = function() H.gradcheck(mg.sub, { mg.randn(2, 1, 3), mg.randn(4, 1) }) end,
  mul = function() H.gradcheck(mg.mul, { mg.randn(3, 4), mg.randn(3, 1) }) end,
  div = function() H.gradcheck(mg.div, { mg.randn(3, 4), pos(4) }) end,
  pow = function() H.gradcheck(mg.pow, { pos(3, 4), mg.randn(3, 4) }) end,
  maximum = function() H.gradcheck(mg.maximum, { mg.randn(5, 4), mg.randn(5, 4) }) end,
  minimum = function() H.gradcheck(mg.minimum, { mg.randn(5, 4), mg.randn(4) }) end,
  add_scalar = function() H.gradcheck(function(x) return x + 2.5 end, { mg.randn(3, 3) }) end,
  mul_scalar = function() H.gradcheck(function(x) return x * -1.5 end, { mg.randn(3, 3) }) end,
  pow_scalar = function() H.gradcheck(function(x) return x ^ 3 end, { mg.randn(3, 3) }) end,
  rsub_scalar = function() H.gradcheck(function(x) return 1 - x end, { mg.randn(3, 3) }) end,
  rdiv_scalar = function() H.gradcheck(function(x) return 2 / x end, { pos(3, 3) }) end,
  neg = function() H.gradcheck(mg.neg, { mg.randn(3, 3) }) end,
  exp = function() H.gradcheck(mg.exp, { mg.randn(3, 3) }) end,
  log = function() H.gradcheck(mg.log, { pos(3, 3) }) end,
  sqrt = function() H.gradcheck(mg.sqrt, { pos(3, 3) }) end,
  abs = function() H.gradcheck(mg.abs, { pos(3, 3) * mg.tensor { 1, -1, 1 } }) end,
  sign = function() H.gradcheck(mg.sign, { pos(3, 3) * mg.tensor { 1, -1, 1 } }) end,
  sin = function() H.gradcheck(mg.sin, { mg.randn(3, 3) }) end,
  cos = function() H.gradcheck(mg.cos, { mg.randn(3, 3) }) end,
  relu = function() H.gradcheck(mg.relu, { pos(3, 3) * mg.tensor { 1, -1, 1 } }) end,
  leaky_relu = function()
    H.gradcheck(function(x) return mg.leaky_relu(x, 0.2) end, { pos(3, 3) * mg.tensor { 1, -1, 1 } })
  end,
  sigmoid = function() H.gradcheck(mg.sigmoid, { mg.randn(3, 3) }) end,
  tanh = function() H.gradcheck(mg.tanh, { mg.randn(3, 3) }) end,
  gelu = function() H.gradcheck(mg.gelu, { mg.randn(3, 3) }) end,
  softplus = function() H.gradcheck(mg.softplus, { mg.randn(3, 3) }) end,
  clamp = function()
    H.gradcheck(function(x) return mg.clamp(x, -0.5, 0.5) end, { mg.tensor { -1.2, -0.3, 0.1, 0.4, 0.9 } })
  end,
  where = function()
    local cond = mg.tensor { 1, 0, 1, 0 }
    H.gradcheck(function(a, b) return mg.where(cond, a, b) end, { mg.randn(3, 4), mg.randn(4) })
  end,
}
