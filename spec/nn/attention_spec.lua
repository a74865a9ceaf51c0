-- Fused scaled dot-product attention (core/nn_attention.c) against the
-- plain composition softmax(q k^T * scale + masks) v built from matmul,
-- masked_fill and softmax: values, gradients, masks, dropout, layouts,
-- memory kept for backward, errors.
local H = require "helpers"
local mg = H.mg

local sdpa = mg.scaled_dot_product_attention
local NEG = -math.huge

-- The plain composition with the same option meanings.
local function reference(q, k, v, o)
  o = o or {}
  local scale = o.scale or 1 / math.sqrt(q:size(-1))
  local s = mg.matmul(q, k:transpose(-1, -2)) * scale
  local L, S = s:size(-2), s:size(-1)
  local m = o.attn_mask
  if m and m.dtype == "float32" then
    s = s + m
  elseif m then
    local allowed = o.attn_mask_blocks and m:float():eq(0) or m:float():ne(0)
    s = s:masked_fill(allowed:eq(0), NEG)
  end
  if o.key_padding_mask then
    local kp = o.key_padding_mask
    local shape = { kp:size(1) }
    for _ = 2, s:dim() - 1 do shape[#shape + 1] = 1 end
    shape[#shape + 1] = S
    if s:dim() == 2 then shape = { S } end
    if kp.dtype == "float32" then s = s + kp:reshape(shape)
    else s = s:masked_fill(kp:float():reshape(shape), NEG) end
  end
  if o.is_causal then
    local above = mg.arange(1, L + 1):float():view(L, 1):lt(mg.arange(1, S + 1):float():view(1, S))
    s = s:masked_fill(above, NEG)
  end
  return mg.matmul(mg.softmax(s, -1), v)
end

-- Forward and the gradients of q, k, v (and a float mask) against the
-- reference, with the weights kept for backward and recomputed.
local function compare(q, k, v, o, tol)
  if not (o and o.keep_weights ~= nil) then
    for _, keep in ipairs { true, false } do
      local o2 = { keep_weights = keep }
      for key, x in pairs(o or {}) do o2[key] = x end
      compare(q:detach(), k:detach(), v:detach(), o2, tol)
    end
    return
  end
  tol = tol or 2e-5
  local ins = { q:requires_grad_(), k:requires_grad_(), v:requires_grad_() }
  if o and o.attn_mask and o.attn_mask.dtype == "float32" and o.attn_mask.requires_grad then
    ins[4] = o.attn_mask
  end
  local out, ref = sdpa(q, k, v, o), reference(q, k, v, o)
  H.assert_near(out, ref, tol, tol, "forward")
  local w = mg.randn(table.unpack(out:shape()))
  local g1 = mg.grad((out * w):sum(), ins)
  local g2 = mg.grad((ref * w):sum(), ins)
  for i = 1, #ins do H.assert_near(g1[i], g2[i], tol, 1e-4, "gradient " .. i) end
end

describe("scaled_dot_product_attention", function()
  before_each(H.reseed(21))

  it("matches the plain composition on awkward shapes", function()
    compare(mg.randn(1, 1, 1, 1), mg.randn(1, 1, 1, 1), mg.randn(1, 1, 1, 1))
    compare(mg.randn(3, 7, 5), mg.randn(3, 9, 5), mg.randn(3, 9, 2))
    compare(mg.randn(5, 3), mg.randn(4, 3), mg.randn(4, 6)) -- no leading dims
    compare(mg.randn(2, 1, 3, 2, 4), mg.randn(2, 1, 3, 6, 4), mg.randn(2, 1, 3, 6, 4))
  end)

  it("matches it over several blocks of query rows", function()
    -- 2000 keys make blocks of 16 query rows: 40 rows are 16 + 16 + 8
    compare(mg.randn(2, 2, 40, 8), mg.randn(2, 2, 2000, 8), mg.randn(2, 2, 2000, 3), { is_causal = true }, 5e-5)
  end)

  it("applies boolean, additive and padding masks as PyTorch does", function()
    local L, S = 4, 6
    local allow = mg.rand(L, S):lt(0.7):long()
    allow:select(2, 1):fill_(1) -- every query keeps a key
    compare(mg.randn(2, 3, L, 5), mg.randn(2, 3, S, 5), mg.randn(2, 3, S, 5), { attn_mask = allow })
    compare(mg.randn(2, 3, L, 5), mg.randn(2, 3, S, 5), mg.randn(2, 3, S, 5),
      { attn_mask = allow:eq(0):byte(), attn_mask_blocks = true })
    local additive = mg.randn(2, 1, L, S):requires_grad_()
    compare(mg.randn(2, 3, L, 5), mg.randn(2, 3, S, 5), mg.randn(2, 3, S, 5), { attn_mask = additive })
    local pad = mg.tensor({ { 0, 0, 0, 0, 1, 1 }, { 0, 0, 0, 0, 0, 1 } }, { dtype = "uint8" })
    compare(mg.randn(2, 3, L, 5), mg.randn(2, 3, S, 5), mg.randn(2, 3, S, 5),
      { key_padding_mask = pad, is_causal = true, scale = 0.3 })
    compare(mg.randn(2, L, 5), mg.randn(2, S, 5), mg.randn(2, S, 5), { key_padding_mask = mg.randn(2, S) })
    compare(mg.randn(L, 5), mg.randn(S, 5), mg.randn(S, 5), { key_padding_mask = pad:select(1, 1) })
  end)

  it("gives zeros, and zero gradients, to a query whose keys are all masked", function()
    local q, k, v = mg.randn(1, 3, 2):requires_grad_(), mg.randn(1, 4, 2):requires_grad_(), mg.randn(1, 4, 2)
    local allow = mg.tensor({ { 1, 1, 0, 0 }, { 0, 0, 0, 0 }, { 0, 1, 1, 1 } }, { dtype = "int64" })
    local out = sdpa(q, k, v, { attn_mask = allow })
    H.assert_near(out:select(2, 2), mg.zeros(1, 2), 0, 0)
    local ref = reference(q, k, v, { attn_mask = allow }) -- NaN in the masked row
    for _, i in ipairs { 1, 3 } do H.assert_near(out:select(2, i), ref:select(2, i), 1e-6, 1e-6) end
    local gq = mg.grad(out:sum(), { q })[1]
    H.assert_near(gq:select(2, 2), mg.zeros(1, 2), 0, 0)
    -- no keys at all
    local empty = sdpa(mg.randn(2, 3, 4), mg.randn(2, 0, 4), mg.randn(2, 0, 5))
    H.assert_near(empty, mg.zeros(2, 3, 5), 0, 0)
  end)

  it("reads strided views as they lie and returns heads that merge as a view", function()
    local x = mg.randn(2, 5, 3 * 8)
    local function heads(i) return x:narrow(3, 1 + 8 * (i - 1), 8):view(2, 5, 2, 4):transpose(2, 3) end
    local q, k, v = heads(1), heads(2), heads(3)
    compare(q, k, v, { is_causal = true })
    local out = sdpa(q, k, v)
    assert.is_true(out:transpose(2, 3):is_contiguous())
    H.assert_near(out:transpose(2, 3):reshape(2, 5, 8), reference(q, k, v):transpose(2, 3):reshape(2, 5, 8), 2e-5, 2e-5)
    -- an expanded (stride 0) key is copied, not misread
    local k1 = mg.randn(1, 1, 6, 4):expand(2, 2, 6, 4)
    compare(mg.randn(2, 2, 3, 4), k1:contiguous(), mg.randn(2, 2, 6, 4))
    H.assert_near(sdpa(mg.ones(2, 2, 3, 4), k1, mg.ones(2, 2, 6, 4)), mg.ones(2, 2, 3, 4), 1e-6, 1e-6)
  end)

  it("drops attention weights with probability dropout_p, the same mask on any thread count", function()
    -- equal scores (q = 0) make every weight 1/S; v = I reads the weights out
    local S, p = 64, 0.25
    local q, k, v = mg.zeros(4, 2, 32, 8), mg.randn(4, 2, S, 8), mg.eye(S):expand(4, 2, S, S)
    mg.manual_seed(3)
    local w = sdpa(q, k, v, { dropout_p = p })
    local zeros = w:eq(0):float():mean():item()
    assert.is_true(math.abs(zeros - p) < 0.02, "fraction dropped " .. zeros)
    local kept = w:masked_fill(w:eq(0), 0):sum():item() / w:ne(0):float():sum():item()
    assert.is_near(1 / (S * (1 - p)), kept, 1e-6)
    local threads = mg.get_num_threads()
    mg.set_num_threads(1)
    mg.manual_seed(3)
    local w1 = sdpa(q, k, v, { dropout_p = p })
    mg.set_num_threads(2)
    mg.manual_seed(3)
    local w2 = sdpa(q, k, v, { dropout_p = p })
    mg.set_num_threads(threads)
    H.assert_near(w1, w, 0, 0)
    H.assert_near(w2, w, 0, 0)
    H.assert_near(sdpa(q, k, v, { dropout_p = 1 }), mg.zeros(4, 2, 32, S), 0, 0)
  end)

  it("gives the same gradients through dropout with the mask kept as bits or drawn again", function()
    local q, k, v = mg.randn(2, 3, 9, 4), mg.randn(2, 3, 13, 4), mg.randn(2, 3, 13, 5)
    local w = mg.randn(2, 3, 9, 5)
    local function grads(keep)
      local a, b, c = q:detach():requires_grad_(), k:detach():requires_grad_(), v:detach():requires_grad_()
      mg.manual_seed(8)
      local out = sdpa(a, b, c, { dropout_p = 0.4, keep_weights = keep, is_causal = true })
      return out, mg.grad((out * w):sum(), { a, b, c })
    end
    local o1, g1 = grads(true)
    local o2, g2 = grads(false)
    H.assert_near(o1, o2, 1e-6, 1e-6)
    for i = 1, 3 do H.assert_near(g1[i], g2[i], 1e-5, 1e-5, "gradient " .. i) end
  end)

  it("keeps memory for backward linear in the sequence length unless told to keep the weights", function()
    -- 4 slices of 512 x 512 weights are 4 MB; q, k, v are 64 KB each
    local q, k, v = mg.randn(4, 512, 8):requires_grad_(), mg.randn(4, 512, 8), mg.randn(4, 512, 8)
    local function kept_bytes(o, L)
      local qq = L and mg.randn(1, L, 4):requires_grad_() or q
      local kk, vv = L and mg.randn(1, L, 4) or k, L and mg.randn(1, L, 4) or v
      collectgarbage()
      local before = mg.memory().live
      local out = sdpa(qq, kk, vv, o)
      local kept = mg.memory().live - before
      assert.are.same(qq:shape(), mg.grad(out:sum(), { qq })[1]:shape())
      return kept
    end
    assert.is_true(kept_bytes { keep_weights = false } < 200 * 1024)
    assert.is_true(kept_bytes { keep_weights = true } > 4 * 512 * 512 * 4)
    assert.is_true(kept_bytes() > 4 * 512 * 512 * 4) -- small: kept by default
    -- beyond 16M weights (64 MB) the default recomputes them
    assert.is_true(kept_bytes(nil, 4100) < 400 * 1024)
  end)

  it("records no graph without grad and rejects bad input clearly", function()
    local q, k, v = mg.randn(2, 3, 4), mg.randn(2, 5, 4), mg.randn(2, 5, 6)
    assert.is_nil(mg.no_grad(function() return sdpa(q:requires_grad_(), k, v) end).grad_fn)
    assert.are.equal("scaled_dot_product_attention", sdpa(q, k, v).grad_fn)
    H.assert_error(function() sdpa(q, k:long(), v) end, "scaled_dot_product_attention", "float32")
    H.assert_error(function() sdpa(q, mg.randn(2, 5, 3), v) end, "same last dim")
    H.assert_error(function() sdpa(q, k, mg.randn(2, 4, 6)) end, "same number of positions")
    H.assert_error(function() sdpa(q, mg.randn(3, 5, 4), mg.randn(3, 5, 6)) end, "leading dims")
    H.assert_error(function() sdpa(mg.randn(4), k, v) end, "at least 2")
    H.assert_error(function() sdpa(q, k, v, { attn_mask = mg.ones(4, 5) }) end, "attn_mask [4, 5]", "[2, 3, 5]")
    H.assert_error(function() sdpa(q, k, v, { key_padding_mask = mg.ones(5) }) end, "key_padding_mask", "[2, 5]")
    H.assert_error(function() sdpa(q, k, v, { dropout_p = 1.5 }) end, "dropout_p")
    H.assert_error(function() sdpa(q, k, v, { causal = true }) end, "unknown option 'causal'")
    H.assert_error(function() sdpa(q, k, v, { attn_mask = "no" }) end, "attn_mask", "Tensor")
    H.assert_error(function() sdpa(q, k, v, { scale = math.huge }) end, "scale")
  end)
end)
