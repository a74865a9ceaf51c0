"""Benchmark workload (PyTorch twin of bench/workloads/transformer.lua): one
training step of the IMDB Transformer classifier, 32 sequences of 256
tokens, AdamW (lr 1e-4), dropout on."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn.functional as F

import transformer_model as T


def setup(data):
    ids, labels = T.batch(data)
    model = T.Classifier().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss = F.cross_entropy(model(ids), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


harness.run("transformer", T.BATCH, setup)
