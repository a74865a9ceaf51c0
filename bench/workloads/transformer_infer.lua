-- Benchmark workload: an inference pass of the IMDB Transformer classifier
-- (transformer_model.lua) in eval mode without a graph: 32 sequences of
-- 256 tokens to logits, against PyTorch's fused fast path
-- (bench/torch/transformer_infer.py).
local here = arg[0]:match("^(.*)/") or "."
local H = dofile(here .. "/harness.lua")
dofile(here .. "/transformer_model.lua").run_inference(H, "transformer_infer")
