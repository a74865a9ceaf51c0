-- Perturbations of token embeddings through the models' embedding seam:
-- the seam itself, Miyato et al.'s normalised embeddings, FGM of norm eps
-- per example, random noise and VAT of norm eps, embedding PGD inside its
-- L2 ball, the training losses, and FreeLB's one optimizer step with
-- accumulated gradients.
local H = require "helpers"
local mg = H.mg
local E = mg.attack.embedding
local models = mg.models

local V, L, D = 40, 10, 8

-- Token ids [n, L] with the last `pad` positions of odd rows padded (id 1),
-- a padding mask and labels: class 2 when tokens 2..20 outnumber 21..40.
local function toy(n, pad)
  local ids = mg.randint(2, V + 1, { n, L })
  local mask_rows = {}
  for i = 1, n do
    mask_rows[i] = {}
    for j = 1, L do mask_rows[i][j] = (i % 2 == 1 and j > L - pad) and 1 or 0 end
  end
  local mask = mg.tensor(mask_rows)
  ids = ids - (ids - 1) * mask:long() -- id 1 at padding
  local low = ids:le(20):float() * (1 - mask)
  local high = ids:gt(20):float() * (1 - mask)
  local labels = (low:sum(2):gt(high:sum(2)):long() + 1):reshape(-1)
  return ids, mask, labels
end

local function bag(opts)
  opts = opts or {}
  opts.vocab_size, opts.dim = V, D
  return models.BagClassifier(opts)
end

local function norms(r) return r:reshape(r:size(1), -1):square():sum(2):sqrt():reshape(-1) end

local function trained()
  local model = bag { dropout = 0 }
  local opt = mg.optim.Adam(model:parameters(), { lr = 0.05 })
  local ids, mask, y = toy(64, 3)
  for _ = 1, 60 do
    opt:zero_grad()
    mg.cross_entropy(model(ids, { padding_mask = mask }), y):backward()
    opt:step()
  end
  model:zero_grad()
  return model
end

describe("attack.embedding: the seam and the normalised embeddings", function()
  before_each(H.reseed(61))

  it("model(ids) is forward_embeddings(embed_tokens(ids)); padding changes nothing", function()
    local model = bag { dropout = 0 }
    local ids, mask = toy(6, 4)
    local direct = model(ids, { padding_mask = mask })
    H.assert_near(direct, model:forward_embeddings(model:embed_tokens(ids), { padding_mask = mask }), 1e-6)
    local other = ids + mask:long() * 6 -- other ids at padding only
    H.assert_near(model(other, { padding_mask = mask }), direct, 1e-6)
    H.assert_error(function() E.fgm(mg.nn.Linear(2, 2), ids, mg.ones(6):long()) end, "the embedding seam")
  end)

  it("the Transformer classifier has the seam, with normalised token embeddings on request", function()
    local freq = mg.rand(V) + 0.5
    local enc = models.TextEncoder { vocab_size = V, max_len = L, d_model = 8, nhead = 2, num_layers = 1,
      dim_feedforward = 16, dropout = 0, token_frequencies = freq }
    local clf = models.TransformerClassifier(enc, 2, { pool = "mean", dropout = 0 })
    assert.are.equal("models.NormalizedEmbedding", enc.tok.__name or getmetatable(enc.tok).__name)
    local ids, mask, y = toy(6, 4)
    local direct = clf(ids, { padding_mask = mask:byte() })
    H.assert_near(clf:forward_embeddings(clf:embed_tokens(ids), { padding_mask = mask:byte() }), direct, 1e-5)
    local r = E.fgm(clf, ids, y, { eps = 3, padding_mask = mask:byte() })
    H.assert_near(norms(r), mg.full({ 6 }, 3), 1e-4)
    H.assert_near(r * mask:unsqueeze(3), mg.zeros(6, L, 8), 0)
    local delta = E.pgd(clf, ids, y, { eps = 3, steps = 2, padding_mask = mask:byte() })
    assert.is_true(norms(delta):max():item() <= 3 * (1 + 1e-5))
    local plain = models.TextEncoder { vocab_size = V, max_len = L, d_model = 8, nhead = 2, num_layers = 1 }
    assert.is_true(mg.nn.is_module(plain.tok) and plain.tok.weight:std():item() < 0.05) -- BERT's N(0, 0.02)
  end)

  it("normalises the table: frequency-weighted mean 0 and variance 1 per dimension", function()
    local f = mg.rand(V) + 0.1
    local emb = models.NormalizedEmbedding(V, D, { frequencies = f })
    mg.no_grad(function() emb.weight:mul_(5):add_(3) end) -- a table far from normal
    local w = emb:normalized_weight():detach()
    local p = (f / f:sum()):reshape(1, V)
    H.assert_near(p:matmul(w), mg.zeros(1, D), 1e-4)
    H.assert_near(p:matmul(w:square()), mg.ones(1, D), 1e-3)
    H.gradcheck(function(weight)
      emb.weight = weight
      return emb(mg.tensor({ { 1, 5, 9 } }):long())
    end, { mg.randn(V, D) }, { atol = 2e-2 })
    H.assert_error(function() models.NormalizedEmbedding(V, D, { frequencies = mg.ones(3) }) end, "frequencies must be")
  end)
end)

describe("attack.embedding: perturbations", function()
  before_each(H.reseed(62))

  it("FGM has norm eps per example, zero at padding, along the gradient", function()
    local model = trained()
    local ids, mask, y = toy(12, 4)
    for _, eps in ipairs({ 0.5, 2.0 }) do
      local r = E.fgm(model, ids, y, { eps = eps, padding_mask = mask })
      assert.same({ 12, L, D }, r:shape())
      H.assert_near(norms(r), mg.full({ 12 }, eps), 1e-4)
      H.assert_near(r * mask:unsqueeze(3), mg.zeros(12, L, D), 0)
    end
    -- the direction of the loss's gradient: a small step raises every loss
    local e = model:embed_tokens(ids):detach()
    local r = E.fgm(model, ids, y, { eps = 0.01, padding_mask = mask })
    local function losses(x)
      return mg.cross_entropy(model:forward_embeddings(x, { padding_mask = mask }), y, { reduction = "none" }):detach()
    end
    local rise = losses(e + r) - losses(e)
    assert.is_true(rise:min():item() >= -1e-7 and rise:sum():item() > 0)
    for _, p in ipairs(model:parameters()) do assert.is_nil(p.grad) end
  end)

  it("random noise and VAT have norm eps per example", function()
    local model = trained()
    local ids, mask = toy(10, 5)
    local r = E.random(ids, { eps = 1.5, dim = D, padding_mask = mask })
    H.assert_near(norms(r), mg.full({ 10 }, 1.5), 1e-4)
    H.assert_near(r * mask:unsqueeze(3), mg.zeros(10, L, D), 0)
    local v = E.vat(model, ids, { eps = 0.7, padding_mask = mask, xi = 1e-3 })
    H.assert_near(norms(v), mg.full({ 10 }, 0.7), 1e-4)
    -- VAT moves the prediction more than noise of the same norm
    local e = model:embed_tokens(ids):detach()
    local function change(delta)
      return mg.no_grad(function()
        local p = model:forward_embeddings(e, { padding_mask = mask }):softmax(2)
        local q = model:forward_embeddings(e + delta, { padding_mask = mask }):softmax(2)
        return (p - q):abs():sum():item()
      end)
    end
    assert.is_true(change(v) > change(E.random(e, { eps = 0.7, padding_mask = mask })))
  end)

  it("PGD stays in its L2 ball, lowers accuracy as eps grows, restores the modes", function()
    local model = trained()
    local ids, mask, y = toy(32, 3)
    model:train()
    local last = math.huge
    for _, eps in ipairs({ 0, 0.5, 2, 8 }) do
      local delta, right = E.pgd(model, ids, y, { eps = eps, steps = 5, padding_mask = mask })
      assert.is_true(norms(delta):max():item() <= eps * (1 + 1e-5) + 1e-6)
      H.assert_near(delta * mask:unsqueeze(3), mg.zeros(32, L, D), 0)
      local acc = E.accuracy(model, ids, y, { eps = eps, steps = 5, padding_mask = mask })
      assert.are.equal(right:sum():item(), acc)
      assert.is_true(acc <= last, string.format("eps %g: %g right, more than %g", eps, acc, last))
      last = acc
    end
    assert.is_true(last < 16, last .. " of 32 right at eps 8")
    assert.is_true(model.training and model.drop.training)
    for _, p in ipairs(model:parameters()) do assert.is_nil(p.grad) end
  end)
end)

describe("attack.embedding: training", function()
  before_each(H.reseed(63))

  it("training_loss: clean CE for normal, plus a perturbed term for the others", function()
    local model = bag { dropout = 0 }
    local ids, mask, y = toy(8, 2)
    local clean = mg.cross_entropy(model(ids, { padding_mask = mask }), y):item()
    local normal = E.training_loss(model, ids, y, { method = "normal", padding_mask = mask })
    H.assert_near(normal:item(), clean, 1e-6)
    for _, method in ipairs({ "random", "fgm", "vat" }) do
      model:zero_grad()
      local loss, logits = E.training_loss(model, ids, y, { method = method, eps = 1.0, padding_mask = mask })
      assert.is_true(loss:item() > clean, method)
      assert.same({ 8, 2 }, logits:shape())
      loss:backward()
      assert.is_true(model.embedding.weight.grad:abs():sum():item() > 0, method)
    end
    -- FGM's term is the loss at the worst first-order point: above noise's
    local fgm = E.training_loss(model, ids, y, { method = "fgm", eps = 2.0, padding_mask = mask }):item()
    local noise = E.training_loss(model, ids, y, { method = "random", eps = 2.0, padding_mask = mask }):item()
    assert.is_true(fgm > noise)
    H.assert_error(function() E.training_loss(model, ids, y, { method = "free" }) end, "method must be normal")
  end)

  it("FreeLB accumulates K gradients and steps the optimizer once", function()
    local ids, mask, y = toy(8, 2)
    -- with no perturbation, K passes of loss / K give the plain gradient
    mg.manual_seed(3)
    local a = bag { dropout = 0 }
    mg.manual_seed(3)
    local b = bag { dropout = 0 }
    local opt_a = mg.optim.SGD(a:parameters(), { lr = 0.5 })
    local steps = 0
    local step = opt_a.step
    opt_a.step = function(self) steps = steps + 1; return step(self) end
    local loss = E.freelb_step(a, opt_a, ids, y, { steps = 3, eps = 0, init_mag = 0, padding_mask = mask })
    assert.are.equal(1, steps)
    local opt_b = mg.optim.SGD(b:parameters(), { lr = 0.5 })
    local plain = mg.cross_entropy(b(ids, { padding_mask = mask }), y)
    opt_b:zero_grad()
    plain:backward()
    opt_b:step()
    H.assert_near(loss:item(), plain:item(), 1e-5)
    for name, t in pairs(a:state_dict()) do H.assert_near(t, b:state_dict()[name], 1e-5, 1e-5, name) end
    -- with a perturbation the loss rises over the ascent steps
    local c = bag { dropout = 0 }
    local opt_c = mg.optim.SGD(c:parameters(), { lr = 0 })
    local k1 = E.freelb_step(c, opt_c, ids, y, { steps = 1, eps = 1.0, padding_mask = mask }):item()
    local k4 = E.freelb_step(c, opt_c, ids, y, { steps = 4, eps = 1.0, alpha = 0.5, padding_mask = mask }):item()
    assert.is_true(k4 > k1, string.format("mean loss over 4 ascent steps %g, over 1 %g", k4, k1))
  end)

  it("runs inside the engine: FreeLB through ctx, FGM through ctx:optimize", function()
    local ids, mask, y = toy(64, 3)
    local ds = mg.data.TensorDataset { ids = ids, mask = mask, labels = y }
    local loader = mg.data.DataLoader(ds, { batch_size = 16, shuffle = true })
    for _, method in ipairs({ "fgm", "freelb" }) do
      local model = bag { dropout = 0 }
      local opt = mg.optim.Adam(model:parameters(), { lr = 0.05 })
      local trainer = mg.train.Trainer { model = model, optimizer = opt, epochs = 8, progress = false }
      local history = trainer:run(loader, function(batch, ctx)
        local loss
        if method == "freelb" then
          loss = E.freelb_step(model, opt, batch.ids, batch.labels,
            { steps = 2, eps = 0.5, padding_mask = batch.mask, ctx = ctx })
        else
          loss = ctx:optimize((E.training_loss(model, batch.ids, batch.labels,
            { method = "fgm", eps = 0.5, padding_mask = batch.mask })))
        end
        return { loss = loss }
      end)
      local right = E.accuracy(model, ids, y, { eps = 0, padding_mask = mask })
      assert.is_true(right >= 52, string.format("%s: %g of 64 right after training", method, right))
      assert.is_true(history[#history].loss < history[1].loss, method)
    end
  end)
end)
