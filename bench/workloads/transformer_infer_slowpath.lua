-- Benchmark workload: transformer_infer.lua's pass again (moongrad has one
-- inference path), against PyTorch with its fused fast path turned off
-- (bench/torch/transformer_infer_slowpath.py).
local here = arg[0]:match("^(.*)/") or "."
local H = dofile(here .. "/harness.lua")
dofile(here .. "/transformer_model.lua").run_inference(H, "transformer_infer_slowpath")
