-- Finite-difference checks for convolutions and pooling (core/nn_conv.c,
-- core/nn_pool.c).
local H = require "helpers"
local mg = H.mg

-- Values without ties and at least 0.1 apart, so a perturbation of the
-- finite differences never changes which element of a window is largest.
local function distinct(...)
  local shape = { ... }
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return (mg.randperm(n):float() * 0.1 - n * 0.05):view(shape)
end

return {
  conv2d = function()
    H.gradcheck(mg.conv2d, { mg.randn(2, 2, 5, 4), mg.randn(3, 2, 3, 2), mg.randn(3) })
    H.gradcheck(function(x, w) return mg.conv2d(x, w, nil, { stride = 2, padding = 1, dilation = { 1, 2 } }) end,
      { mg.randn(1, 2, 6, 7), mg.randn(2, 2, 3, 3) })
  end,
  conv2d_relu_pool = function()
    H.gradcheck(function(x, w, b) return mg.conv2d(x, w, b, { relu = true, pool = 2 }) end,
      { mg.randn(2, 2, 7, 6), mg.randn(3, 2, 3, 3), mg.randn(3) })
    H.gradcheck(function(x, w) return mg.conv2d(x, w, nil, { padding = 1, relu = true }) end,
      { mg.randn(1, 2, 4, 5), mg.randn(2, 2, 3, 3) })
  end,
  conv_transpose2d = function()
    H.gradcheck(mg.conv_transpose2d, { mg.randn(2, 2, 3, 3), mg.randn(2, 3, 2, 2), mg.randn(3) })
    H.gradcheck(function(x, w)
      return mg.conv_transpose2d(x, w, nil, { stride = 2, padding = 1, output_padding = 1, dilation = { 1, 2 } })
    end, { mg.randn(1, 2, 3, 4), mg.randn(2, 2, 3, 3) })
  end,
  max_pool2d = function()
    H.gradcheck(function(x) return mg.max_pool2d(x, 2) end, { distinct(2, 2, 5, 4) })
    H.gradcheck(function(x) return mg.max_pool2d(x, 3, { stride = 2, padding = 1, ceil_mode = true }) end,
      { distinct(1, 2, 6, 5) })
  end,
  avg_pool2d = function()
    H.gradcheck(function(x) return mg.avg_pool2d(x, 2) end, { mg.randn(2, 2, 5, 4) })
    H.gradcheck(function(x)
      return mg.avg_pool2d(x, { 3, 2 }, { stride = { 2, 1 }, padding = 1, ceil_mode = true, count_include_pad = false })
    end, { mg.randn(1, 2, 6, 5) })
  end,
}
