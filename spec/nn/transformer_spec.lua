-- nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder:
-- PyTorch's values (spec/fixtures/transformer.lua), output shapes and
-- gradients, masks, layouts, copies and errors.
local H = require "helpers"
local mg = H.mg
local nn = mg.nn
local fx = require "fixtures.transformer"

local function T(v) return mg.tensor(v) end
local function L(v) return mg.tensor(v, { dtype = "int64" }) end

-- Loads a fixture's parameters (name, value pairs) into module m.
local function load(m, params)
  local sd = {}
  for _, p in ipairs(params) do sd[p.name] = T(p.value) end
  m:load_state_dict(sd)
  return m:eval()
end

describe("nn.MultiheadAttention", function()
  before_each(H.reseed(5))

  it("matches PyTorch for self-attention with padding and a boolean mask", function()
    local c = fx.mha_self
    local m = load(nn.MultiheadAttention(8, 2), c.params)
    local x = T(c.x):requires_grad_()
    local out, w = m(x, x, x, { key_padding_mask = L(c.key_padding_mask):byte(), attn_mask = L(c.attn_mask) })
    H.assert_near(out, c.out, 1e-5, 1e-4, "out")
    H.assert_near(w, c.weights, 1e-6, 1e-4, "weights")
    local g = mg.grad((out * T(c.gout)):sum(), { x, m.in_proj_weight })
    H.assert_near(g[1], c.gx, 1e-5, 1e-4, "grad x")
    H.assert_near(g[2], c.gin_proj, 1e-5, 1e-4, "grad in_proj_weight")
  end)

  it("matches PyTorch for cross-attention with an additive mask and per-head weights", function()
    local c = fx.mha_cross
    local m = load(nn.MultiheadAttention(8, 2), c.params)
    local q, kv = T(c.q):requires_grad_(), T(c.kv):requires_grad_()
    local out, w = m(q, kv, kv, { attn_mask = T(c.attn_mask), average_attn_weights = false })
    H.assert_near(out, c.out, 1e-5, 1e-4, "out")
    H.assert_near(w, c.weights, 1e-6, 1e-4, "weights")
    local g = mg.grad((out * T(c.gout)):sum(), { q, kv })
    H.assert_near(g[1], c.gq, 1e-5, 1e-4, "grad q")
    H.assert_near(g[2], c.gkv, 1e-5, 1e-4, "grad kv")
  end)

  it("has PyTorch's parameters and gradients that pass a finite-difference check", function()
    local m = nn.MultiheadAttention(6, 3, { kdim = 4, vdim = 5 })
    local names = {}
    for n in m:named_parameters() do names[#names + 1] = n end
    assert.are.same({ "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "out_proj.weight",
      "out_proj.bias" }, names)
    H.gradcheck(function(q, k, v) return (m(q, k, v, { need_weights = false })) end,
      { mg.randn(2, 3, 6), mg.randn(2, 4, 4), mg.randn(2, 4, 5) })
    local packed = nn.MultiheadAttention(4, 2)
    assert.are.same({ 12, 4 }, packed.in_proj_weight:shape())
    H.gradcheck(function(x) return (packed(x, x, x)) end, { mg.randn(2, 3, 4) })
  end)

  it("takes PyTorch's sequence-first layout with batch_first = false", function()
    local a = nn.MultiheadAttention(8, 4)
    local b = nn.MultiheadAttention(8, 4, { batch_first = false })
    b:load_state_dict(a:state_dict())
    local x, pad = mg.randn(3, 5, 8), mg.tensor({ { 0, 0, 0, 0, 1 }, { 0, 0, 0, 1, 1 }, { 0, 0, 0, 0, 0 } }):byte()
    local oa, wa = a(x, x, x, { key_padding_mask = pad })
    local xs = x:transpose(1, 2):contiguous()
    local ob, wb = b(xs, xs, xs, { key_padding_mask = pad })
    H.assert_near(ob:transpose(1, 2), oa, 1e-6, 1e-5)
    H.assert_near(wb, wa, 1e-6, 1e-5)
    -- a [N * H, L, S] mask: per-head masks
    local m3 = mg.rand(3 * 4, 5, 5):lt(0.3):byte()
    for i = 1, 5 do m3:select(2, i):select(2, i):fill_(0) end
    local o3, w3 = a(x, x, x, { attn_mask = m3, average_attn_weights = false })
    assert.are.same({ 3, 5, 8 }, o3:shape())
    assert.is_true(w3:masked_fill(m3:reshape(3, 4, 5, 5):eq(0), 0):abs():max():item() == 0)
  end)

  it("applies dropout to the weights in training only", function()
    local m = nn.MultiheadAttention(8, 2, { dropout = 0.5 })
    local x = mg.randn(2, 6, 8)
    local o1, o2 = m(x, x, x), m(x, x, x)
    assert.is_true((o1 - o2):abs():max():item() > 1e-3)
    m:eval()
    H.assert_near(m(x, x, x), m(x, x, x), 0, 0)
  end)

  it("rejects bad arguments clearly", function()
    local m = nn.MultiheadAttention(8, 2)
    local x = mg.randn(2, 3, 8)
    H.assert_error(function() nn.MultiheadAttention(8, 3) end, "divisible")
    H.assert_error(function() nn.MultiheadAttention(8, 2, { add_bias_kv = true }) end, "add_bias_kv")
    H.assert_error(function() nn.MultiheadAttention(8, 2, { heads = 2 }) end, "unknown option 'heads'")
    H.assert_error(function() m(mg.randn(3, 8), x, x) end, "query must be a 3-d Tensor")
    H.assert_error(function() m(x, mg.randn(2, 3, 7), x) end, "do not fit")
    H.assert_error(function() m(x, x, x, { attn_mask = mg.ones(3, 4) }) end, "attn_mask must be [3, 3]")
    H.assert_error(function() m(x, x, x, { key_padding_mask = mg.ones(3, 3):byte() }) end, "key_padding_mask")
    H.assert_error(function() m(x, x, x, { need_weight = false }) end, "unknown option 'need_weight'")
  end)
end)

describe("nn.TransformerEncoderLayer", function()
  before_each(H.reseed(6))

  for _, case in ipairs { { "layer_post_gelu", false, "gelu" }, { "layer_pre_relu", true, "relu" } } do
    it("matches PyTorch (" .. case[1] .. ")", function()
      local c = fx[case[1]]
      local m = load(nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16, activation = case[3],
        norm_first = case[2] }), c.params)
      local x = T(c.x):requires_grad_()
      local out = m(x, {
        src_key_padding_mask = c.src_key_padding_mask and L(c.src_key_padding_mask),
        src_mask = c.src_mask and T(c.src_mask),
      })
      H.assert_near(out, c.out, 1e-5, 1e-4, "out")
      local g = mg.grad((out * T(c.gout)):sum(), { x, m.linear1.weight, m.norm1.weight })
      H.assert_near(g[1], c.gx, 1e-5, 1e-4, "grad x")
      H.assert_near(g[2], c.glinear1, 1e-5, 1e-4, "grad linear1.weight")
      H.assert_near(g[3], c.gnorm1, 1e-5, 1e-4, "grad norm1.weight")
    end)
  end

  it("keeps the input's shape and passes a finite-difference check", function()
    for _, norm_first in ipairs { false, true } do
      local m = nn.TransformerEncoderLayer(4, 2, { dim_feedforward = 6, dropout = 0, norm_first = norm_first,
        activation = "gelu" })
      local out = m(mg.randn(3, 5, 4))
      assert.are.same({ 3, 5, 4 }, out:shape())
      H.gradcheck(function(x) return m(x, { is_causal = true }) end, { mg.randn(2, 3, 4) })
    end
    H.assert_error(function() nn.TransformerEncoderLayer(4, 2, { activation = "tanh" }) end, "activation")
    H.assert_error(function() nn.TransformerEncoderLayer(4, 2)(mg.randn(2, 3, 4), { mask = 1 }) end,
      "unknown option 'mask'")
  end)
end)

describe("nn.TransformerEncoder", function()
  before_each(H.reseed(7))

  it("matches PyTorch (pre-norm, a final norm, padding)", function()
    local c = fx.encoder_pre_norm
    local layer = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16, activation = "gelu", norm_first = true })
    local m = load(nn.TransformerEncoder(layer, 2, { norm = nn.LayerNorm(8) }), c.params)
    local x = T(c.x):requires_grad_()
    local out = m(x, { src_key_padding_mask = L(c.src_key_padding_mask) })
    H.assert_near(out, c.out, 1e-5, 1e-4, "out")
    H.assert_near(mg.grad((out * T(c.gout)):sum(), { x })[1], c.gx, 1e-5, 1e-4, "grad x")
  end)

  it("stacks deep copies of the layer and returns each layer's attention weights", function()
    local layer = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16 })
    local enc = nn.TransformerEncoder(layer, 3)
    local w1, w2 = enc.layers[1].linear1.weight, enc.layers[2].linear1.weight
    H.assert_near(w1, w2, 0, 0)
    mg.no_grad(function() w1:add_(1) end)
    assert.is_true((w1 - w2):abs():min():item() > 0.5, "layers share storage")
    assert.are.equal(3 * layer:num_parameters(), enc:num_parameters())
    enc:eval()
    local x = mg.randn(2, 5, 8)
    local out, weights = enc:attention_weights(x, { is_causal = true })
    H.assert_near(out, enc(x, { is_causal = true }), 1e-6, 1e-6)
    assert.are.equal(3, #weights)
    assert.are.same({ 2, 2, 5, 5 }, weights[3]:shape())
    H.assert_near(weights[1]:sum(-1), mg.ones(2, 2, 5), 1e-5, 1e-5)
    assert.are.equal(0, weights[2]:select(3, 1):narrow(3, 2, 4):abs():max():item())
  end)
end)

describe("nn.Module:clone", function()
  it("copies parameters, buffers and plain fields, keeping ties and frozen flags", function()
    local net = nn.Sequential { nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2) }
    net[3].weight:requires_grad_(false)
    net.note = { tag = "x" }
    net.shared = net[1] -- a module reachable twice
    local copy = net:clone()
    for name, p in net:named_parameters() do
      local q = copy:state_dict()[name]
      H.assert_near(q, p, 0, 0, name)
    end
    assert.is_true(rawequal(copy.shared, copy[1]))
    assert.is_false(rawequal(copy[1], net[1]))
    assert.is_false(copy[3].weight.requires_grad)
    assert.is_true(copy[1].weight.requires_grad)
    assert.are.equal("x", copy.note.tag)
    assert.is_false(rawequal(copy.note, net.note))
    mg.no_grad(function() copy[1].weight:fill_(0) end)
    assert.is_true(net[1].weight:abs():sum():item() > 0)
  end)
end)
