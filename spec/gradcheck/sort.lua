-- Finite-difference checks for sorting (sort and topk values share the op
-- "sort") and cumsum.
local H = require "helpers"
local mg = H.mg

return {
  sort = function()
    H.gradcheck(function(x) return (x:sort()) end, { mg.randn(3, 5) })
    H.gradcheck(function(x) return (x:sort(1, true)) end, { mg.randn(4, 3) })
    H.gradcheck(function(x) return (x:t():sort(2)) end, { mg.randn(4, 3) }) -- strided input
    H.gradcheck(function(x) return (x:topk(2)) end, { mg.randn(3, 5) })
    H.gradcheck(function(x) return (x:topk(2, { dim = 2, largest = false })) end, { mg.randn(2, 4, 3) })
  end,
  cumsum = function()
    H.gradcheck(function(x) return x:cumsum() end, { mg.randn(5) })
    H.gradcheck(function(x) return x:cumsum(2) end, { mg.randn(3, 4) })
    H.gradcheck(function(x) return x:cumsum(1) end, { mg.randn(2, 3, 2) })
    H.gradcheck(function(x) return x:t():cumsum(-1) end, { mg.randn(3, 4) })
  end,
}
