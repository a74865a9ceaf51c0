-- Finite-difference checks for the fused attention of core/nn_attention.c.
local H = require "helpers"
local mg = H.mg

local sdpa = mg.scaled_dot_product_attention

return {
  scaled_dot_product_attention = function()
    -- [N, H, L, E] with different L and S and a value width of its own
    H.gradcheck(function(q, k, v) return sdpa(q, k, v) end,
      { mg.randn(2, 2, 3, 4), mg.randn(2, 2, 5, 4), mg.randn(2, 2, 5, 3) })
    -- causal, a boolean mask and key padding together; 3-d inputs
    local allow = mg.tensor({ { 1, 1, 0, 1 }, { 1, 0, 1, 1 }, { 1, 1, 1, 0 }, { 1, 1, 1, 1 } }, { dtype = "int64" })
    local pad = mg.tensor({ { 0, 0, 0, 1 }, { 0, 0, 0, 0 } }, { dtype = "uint8" })
    H.gradcheck(function(q, k, v)
      return sdpa(q, k, v, { attn_mask = allow, key_padding_mask = pad, is_causal = true })
    end, { mg.randn(2, 4, 3), mg.randn(2, 4, 3), mg.randn(2, 4, 2) })
    -- a float mask broadcast over the batch is differentiable too, and a scale
    H.gradcheck(function(q, k, v, m) return sdpa(q, k, v, { attn_mask = m, scale = 0.7, keep_weights = false }) end,
      { mg.randn(2, 3, 2), mg.randn(2, 4, 2), mg.randn(2, 4, 2), mg.randn(3, 4) })
    -- dropout on the weights: the same seed draws the same mask; with the
    -- weights kept for backward and recomputed from lse
    for _, keep in ipairs { true, false } do
      H.gradcheck(function(q, k, v)
        mg.manual_seed(5)
        return sdpa(q, k, v, { dropout_p = 0.3, keep_weights = keep, is_causal = not keep })
      end, { mg.randn(1, 2, 4, 3), mg.randn(1, 2, 5, 3), mg.randn(1, 2, 5, 2) })
    end
    -- strided inputs (heads taken from one projection, as nn.MultiheadAttention does)
    H.gradcheck(function(x)
      local q = x:narrow(3, 1, 4):view(2, 3, 2, 2):transpose(2, 3)
      local k = x:narrow(3, 5, 4):view(2, 3, 2, 2):transpose(2, 3)
      local v = x:narrow(3, 9, 4):view(2, 3, 2, 2):transpose(2, 3)
      return sdpa(q, k, v, { is_causal = true })
    end, { mg.randn(2, 3, 12) })
  end,
}
