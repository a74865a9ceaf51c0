-- Finite-difference checks for the contrastive losses of core/nn_contrastive.c.
local H = require "helpers"
local mg = H.mg

return {
  nt_xent = function()
    H.gradcheck(function(a, b) return mg.nt_xent(a, b) end, { mg.randn(3, 4), mg.randn(3, 4) })
    -- a low temperature, more pairs than dims, one input constant
    local b = mg.randn(5, 3)
    H.gradcheck(function(a) return mg.nt_xent(a, b, { temperature = 0.2 }) end, { mg.randn(5, 3) })
    -- rows of very different lengths (the normalisation's gradient)
    H.gradcheck(function(a, c) return mg.nt_xent(a, c, { temperature = 1 }) end,
      { mg.randn(2, 3) * mg.tensor { { 0.3 }, { 4 } }, mg.randn(2, 3) })
  end,
}
