-- Finite-difference checks for reductions, views and matrix products.
local H = require "helpers"
local mg = H.mg

return {
  sum = function() H.gradcheck(mg.sum, { mg.randn(3, 4) }) end,
  sum_dim = function()
    H.gradcheck(function(x) return x:sum(2) end, { mg.randn(3, 4, 2) })
    H.gradcheck(function(x) return x:sum(1, true) end, { mg.randn(3, 4) })
  end,
  max_dim = function() H.gradcheck(function(x) return (x:max(2)) end, { mg.randn(4, 5) }) end,
  min_dim = function() H.gradcheck(function(x) return (x:min(1, true)) end, { mg.randn(4, 5) }) end,
  reshape = function() H.gradcheck(function(x) return x:view(6, 2):unsqueeze(1):squeeze() end, { mg.randn(3, 4) }) end,
  transpose = function() H.gradcheck(function(x) return x:transpose(1, 3) end, { mg.randn(2, 3, 4) }) end,
  permute = function() H.gradcheck(function(x) return x:permute(3, 1, 2) end, { mg.randn(2, 3, 4) }) end,
  narrow = function() H.gradcheck(function(x) return x:narrow(2, 2, 2) end, { mg.randn(3, 4) }) end,
  select = function() H.gradcheck(function(x) return x:select(1, 2) end, { mg.randn(3, 4) }) end,
  expand = function() H.gradcheck(function(x) return x:expand(2, 3, 4) end, { mg.randn(3, 1) }) end,
  clone = function() H.gradcheck(function(x) return x:t():contiguous() end, { mg.randn(3, 4) }) end,
  matmul = function()
    H.gradcheck(mg.matmul, { mg.randn(3, 4), mg.randn(4, 2) })
    H.gradcheck(mg.matmul, { mg.randn(2, 3, 4), mg.randn(4, 5) })
    H.gradcheck(mg.matmul, { mg.randn(2, 1, 3, 4), mg.randn(3, 4, 2) })
    H.gradcheck(mg.matmul, { mg.randn(4), mg.randn(4, 3) })
  end,
  linear = function()
    H.gradcheck(mg.linear, { mg.randn(5, 4), mg.randn(3, 4), mg.randn(3) })
    H.gradcheck(function(x, w) return mg.linear(x, w) end, { mg.randn(2, 5, 4), mg.randn(3, 4) })
  end,
}
