"""Benchmark workload (PyTorch twin of bench/workloads/transformer_infer.lua):
an inference pass of the IMDB Transformer classifier, eval mode under
no_grad, 32 sequences of 256 tokens, with PyTorch's fused fast path on."""
import harness  # first: it notes the memory in use before torch loads

import transformer_model as T

T.run_inference(harness, "transformer_infer", fast_path=True)
