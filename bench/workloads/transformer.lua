-- Benchmark workload: one training step of the IMDB Transformer classifier
-- (transformer_model.lua): 32 sequences of 256 tokens, forward, cross-
-- entropy, backward, AdamW step (lr 1e-4), dropout on.
local mg = require "moongrad"
local here = arg[0]:match("^(.*)/") or "."
local H = dofile(here .. "/harness.lua")
local T = dofile(here .. "/transformer_model.lua")

H.run {
  name = "transformer", images_per_step = T.batch_size,
  setup = function(data)
    local ids, labels = T.batch(data)
    local model = T.model()
    local opt = mg.optim.AdamW(model:parameters(), { lr = 1e-4 })
    return function()
      local loss = mg.cross_entropy(model(ids), labels)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
  end,
}
