-- The model and batch of the transformer workloads (transformer.lua,
-- transformer_infer.lua, transformer_infer_slowpath.lua): the IMDB
-- classifier of examples/transformer.lua as PyTorch builds the same
-- (bench/torch/transformer_model.py): token and position embeddings, a
-- LayerNorm and dropout, 4 post-norm nn.TransformerEncoderLayer(128, 4,
-- {dim_feedforward = 512, activation = "gelu"}) (dropout 0.1), a [CLS]
-- linear head to 2 classes. A batch is 32 sequences of 256 token ids from a
-- vocabulary of 8,192, made from the shared image file (the same ids on
-- both sides), without padding.
local mg = require "moongrad"

local M = { batch_size = 32, seq = 256, vocab = 8192 }

--- batch(data) -> ids int64 [32, 256] (1-based), labels int64 [32] (1 or 2)
function M.batch(data)
  local n = M.batch_size * M.seq
  local v = data.images:reshape(-1):narrow(1, 1, n)
  local ids = (v * (M.vocab - 1)):long():view(M.batch_size, M.seq) + 1 -- truncation, as torch .long()
  local labels = {}
  for i, c in ipairs(data.labels:narrow(1, 1, M.batch_size):totable()) do labels[i] = (c - 1) % 2 + 1 end
  labels = mg.tensor(labels, { dtype = "int64" })
  return ids, labels
end

--- model() -> mg.models.TransformerClassifier
function M.model()
  local enc = mg.models.TextEncoder { vocab_size = M.vocab, max_len = M.seq, d_model = 128, nhead = 4,
    num_layers = 4, dim_feedforward = 512, dropout = 0.1, activation = "gelu", norm_first = false }
  return mg.models.TransformerClassifier(enc, 2, { pool = "cls", dropout = 0.1 })
end

--- run_inference(H, name): the inference workload under `name` (the
-- harness H runs it): eval mode, no graph, 32 sequences to logits.
function M.run_inference(H, name)
  H.run {
    name = name, images_per_step = M.batch_size,
    setup = function(data)
      local ids = M.batch(data)
      local model = M.model():eval()
      return function() return mg.no_grad(model, ids) end
    end,
  }
end

return M
