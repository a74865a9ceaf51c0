"""Benchmark workload (PyTorch twin of bench/workloads/classifier.lua): one
training step of the seed CNN as a 10-class classifier, batch 128, Adam."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn.functional as F


def setup(data):
    x, y = data["images"][:128], data["labels"][:128]
    model = harness.seed_cnn(10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


harness.run("classifier", 128, setup)
