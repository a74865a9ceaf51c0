-- The text workload's models (lua/moongrad/models/transformer.lua): shapes,
-- padding that changes nothing, the tied output layer, and two tiny tasks
-- on a tokenized tensor dataset that the models must learn through the
-- engine.
local H = require "helpers"
local mg = H.mg
local T = mg.models
local mlm = require "moongrad.text.mlm"

local PAD, CLS, MASK, FIRST, V = 1, 2, 3, 4, 20

-- N sequences of length L: [CLS], then random ordinary tokens, padded after a
-- random length; label 2 when token FIRST (the "signal") occurs, else 1.
local function toy(N, L)
  local ids = mg.randint(FIRST + 1, V + 1, { N, L })
  local lens = mg.randint(3, L + 1, { N }):totable()
  local has = mg.rand(N):lt(0.5):totable()
  for i = 1, N do
    local row = ids:select(1, i)
    row[1] = CLS
    if has[i] == 1 then row[math.random(2, lens[i])] = FIRST end
    if lens[i] < L then row:narrow(1, lens[i] + 1, L - lens[i]):fill_(PAD) end
  end
  local labels = mg.tensor(has):long() + 1
  return mg.data.TensorDataset { input = ids, labels = labels }
end

local function small(opts)
  local o = { vocab_size = V, max_len = 16, d_model = 16, nhead = 2, num_layers = 1, dim_feedforward = 32,
    dropout = 0 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return T.TextEncoder(o)
end

describe("models.TextEncoder", function()
  before_each(H.reseed(4))

  it("maps ids [N, L] or vectors [N, L, D] to hidden states [N, L, d_model]", function()
    local enc = small()
    assert.are.same({ 3, 7, 16 }, enc(mg.randint(1, V + 1, { 3, 7 })):shape())
    local venc = T.TextEncoder { input_dim = 5, max_len = 16, d_model = 16, nhead = 2, num_layers = 1 }
    assert.are.same({ 2, 9, 16 }, venc(mg.randn(2, 9, 5)):shape())
    H.assert_error(function() enc(mg.randn(3, 7)) end, "int64 Tensor [N, L]")
    H.assert_error(function() enc(mg.randint(1, V + 1, { 1, 17 })) end, "max_len is 16")
    H.assert_error(function() T.TextEncoder { d_model = 8 } end, "vocab_size")
  end)

  it("ignores what stands at padding positions", function()
    local enc = small { num_layers = 2, norm_first = false }:eval()
    local ids = mg.randint(FIRST, V + 1, { 2, 6 })
    local pad = mg.tensor({ { 0, 0, 0, 0, 1, 1 }, { 0, 0, 0, 0, 0, 1 } }):byte()
    local other = ids:clone()
    other[{ 1, 5 }] = 7
    other[{ 2, 6 }] = 9
    local a, b = enc(ids, { padding_mask = pad }), enc(other, { padding_mask = pad })
    H.assert_near(a:narrow(2, 1, 4), b:narrow(2, 1, 4), 1e-6, 1e-6)
    local clf = T.TransformerClassifier(enc, 3, { pool = "mean" }):eval()
    H.assert_near(clf(ids, { padding_mask = pad }), clf(other, { padding_mask = pad }), 1e-6, 1e-6)
  end)

  it("with alibi adds -m_h |i - j| to every head's scores, in forward and in the attention maps", function()
    local enc = small { alibi = true, num_layers = 2 }:eval()
    assert.is_nil(small():attention_bias(2, 5))
    local bias = enc:attention_bias(2, 5)
    assert.are.same({ 4, 5, 5 }, bias:shape()) -- [n * nhead, L, L]
    for h = 1, 2 do
      local m = 2 ^ (-8 * h / 2)
      for n = 0, 1 do
        assert.are.equal(-3 * m, bias[n * 2 + h][1][4]:item())
        assert.are.equal(-3 * m, bias[n * 2 + h][4][1]:item())
        assert.are.equal(0, bias[n * 2 + h][2][2]:item())
      end
    end
    -- with the score projections at zero the weights are softmax(bias) alone
    for _, layer in ipairs({ enc.encoder.layers[1], enc.encoder.layers[2] }) do
      mg.no_grad(function() layer.self_attn.in_proj_weight:narrow(1, 1, 32):zero_() end)
    end
    local ids = mg.randint(FIRST, V + 1, { 2, 5 })
    local _, weights = enc:attention_weights(ids)
    H.assert_near(weights[2]:reshape(4, 5, 5), mg.softmax(bias, 3), 1e-6, 1e-6)
    -- forward runs the encoder with the same bias
    local x = enc:embed(ids)
    H.assert_near(enc(ids), enc.encoder(x, { mask = bias }), 1e-6, 1e-6)
    assert.is_true((enc(ids) - enc.encoder(x)):abs():max():item() > 1e-4)
    -- and the embedding seam too
    H.assert_near(enc:forward_embeddings(enc:embed_tokens(ids)), enc(ids), 1e-6, 1e-6)
  end)
end)

describe("models.MaskedLM", function()
  before_each(H.reseed(5))

  it("gives logits at the chosen positions only, from the tied token embedding", function()
    local enc = small()
    local model = T.MaskedLM(enc)
    assert.is_true(rawequal(model.encoder.tok.weight, enc.tok.weight))
    local n = 0
    for name in model:named_parameters() do if name:find("tok.weight", 1, true) then n = n + 1 end end
    assert.are.equal(1, n) -- listed (and optimised) once
    local ids = mg.randint(FIRST + 1, V + 1, { 3, 8 })
    local pos = mg.tensor({ 2, 9, 24 }, { dtype = "int64" })
    local logits = model(ids, pos)
    assert.are.same({ 3, V }, logits:shape())
    -- the gradient reaches the embedding through the output layer too
    local out_only = mg.grad(mg.linear(mg.randn(2, 16), enc.tok.weight):sum(), { enc.tok.weight })[1]
    assert.is_true(out_only:abs():sum():item() > 0)
    H.gradcheck(function(w) return mg.linear(mg.ones(2, 16), w, model.bias) end, { enc.tok.weight:detach():clone() })
  end)
end)

describe("the models learn a tiny tokenized set through the engine", function()
  before_each(H.reseed(6))

  it("classifies whether a token occurs (cls and mean pooling)", function()
    local train, test = toy(256, 12), toy(128, 12)
    for _, pool in ipairs { "cls", "mean" } do
      local clf = T.TransformerClassifier(small { num_layers = 2 }, 2, { pool = pool, dropout = 0 })
      local opt = mg.optim.AdamW(clf:parameters(), { lr = 3e-3, weight_decay = 0.01 })
      local loader = mg.data.DataLoader(train, { batch_size = 32, shuffle = true, seed = 1 })
      local trainer = mg.train.Trainer { model = clf, optimizer = opt, epochs = 12, progress = false }
      trainer:run(loader, function(batch, ctx)
        local pad = batch.input:eq(PAD):byte()
        local loss = mg.cross_entropy(clf(batch.input, { padding_mask = pad }), batch.labels)
        ctx:optimize(loss, opt)
        return { loss = loss, n = batch.input:size(1) }
      end)
      local acc = mg.nn.utils.inference(clf, function()
        local pred = clf(test.input, { padding_mask = test.input:eq(PAD):byte() }):argmax(2)
        return pred:eq(test.labels):float():mean():item()
      end)
      assert.is_true(acc > 0.9, pool .. " pooling: test accuracy " .. acc)
    end
  end)

  it("predicts masked tokens of a predictable sequence", function()
    -- each sequence counts up from a random start: token i+1 follows token i
    local N, L = 256, 10
    local start = mg.randint(FIRST + 1, V - L + 2, { N, 1 })
    local ids = start + mg.arange(0, L):view(1, L)
    local ds = mg.data.TensorDataset { input = ids }
    local model = T.MaskedLM(small { max_len = L })
    local opt = mg.optim.AdamW(model:parameters(), { lr = 1e-2 })
    local loader = mg.data.DataLoader(ds, { batch_size = 32, shuffle = true, seed = 2 })
    local history = mg.train.Trainer { model = model, optimizer = opt, epochs = 15, progress = false }:run(loader,
      function(batch, ctx)
        local inputs, pos, targets = mlm.mask_tokens(batch.input, { mask_id = MASK, special_ids = { PAD, CLS, MASK },
          random_range = { FIRST, V } })
        local logits = model(inputs, pos)
        local loss = mg.cross_entropy(logits, targets)
        ctx:optimize(loss, opt)
        local acc = logits:argmax(2):eq(targets):float():mean()
        return { loss = loss, acc = acc, n = pos:numel() }
      end)
    local first, last = history[1], history[#history]
    assert.is_true(last.loss < 0.5 * first.loss, "loss " .. first.loss .. " -> " .. last.loss)
    assert.is_true(last.acc > 0.8, "masked-token accuracy " .. last.acc)
  end)
end)
