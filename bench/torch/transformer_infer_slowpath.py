"""Benchmark workload (PyTorch twin of
bench/workloads/transformer_infer_slowpath.lua): the inference pass of
transformer_infer.py with PyTorch's fused fast path turned off."""
import harness  # first: it notes the memory in use before torch loads

import transformer_model as T

T.run_inference(harness, "transformer_infer_slowpath", fast_path=False)
