-- Finite-difference checks for the ops of core/ops_index.c (joining and
-- indexing). Index arguments are 1-based, as Lua users give them.
local H = require "helpers"
local mg = H.mg

local function long(t) return mg.tensor(t, { dtype = "int64" }) end

return {
  cat = function()
    H.gradcheck(function(a, b) return mg.cat({ a, b }, 2) end, { mg.randn(2, 3), mg.randn(2, 2) })
    -- more inputs than a tape node holds, one of them constant
    local c = mg.randn(1, 2)
    H.gradcheck(function(a, b, d, e, f)
      return mg.cat({ a, b, c, d, e, f, a }, 1)
    end, { mg.randn(2, 2), mg.randn(1, 2), mg.randn(3, 2), mg.randn(1, 2), mg.randn(2, 2) })
    -- stack is unsqueeze + cat
    H.gradcheck(function(a, b) return mg.stack({ a, b, a }, 2) end, { mg.randn(2, 3), mg.randn(2, 3) })
  end,
  index_select = function()
    H.gradcheck(function(x) return x:index_select(1, { 3, 1, 3, 3 }) end, { mg.randn(3, 4) })
    H.gradcheck(function(x) return x:index_select(-1, long { 2, 2, 1 }) end, { mg.randn(2, 3, 2) })
  end,
  gather = function()
    H.gradcheck(function(x) return x:gather(2, long { { 1, 1, 3 }, { 2, 1, 2 } }) end, { mg.randn(2, 3) })
    H.gradcheck(function(x) return x:gather(1, long { { 3, 1 }, { 3, 3 } }) end, { mg.randn(3, 2) })
  end,
  rot90 = function()
    H.gradcheck(function(x) return x:rot90() end, { mg.randn(2, 3) })
    H.gradcheck(function(x) return x:rot90(-1, 3, 4) end, { mg.randn(2, 1, 3, 2) })
    H.gradcheck(function(x) return x:rot90(2, 1, 3) end, { mg.randn(2, 3, 2) })
  end,
  flip = function()
    H.gradcheck(function(x) return x:flip(1, 3) end, { mg.randn(2, 3, 2) })
    H.gradcheck(function(x) return x:t():flip(-1) end, { mg.randn(3, 4) })
  end,
  masked_fill = function()
    local mask = mg.tensor { 1, 0, 0, 1 }
    H.gradcheck(function(x) return x:masked_fill(mask, -2) end, { mg.randn(3, 4) })
  end,
}
