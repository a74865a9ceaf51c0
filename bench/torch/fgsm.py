"""Benchmark workload (PyTorch twin of bench/workloads/fgsm.lua): FGSM on
the seed CNN classifier in eval mode, batch 128, eps 0.1. Tuned: the
parameters are frozen, so only the input gradient is computed."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn.functional as F


def setup(data):
    x, y = data["images"][:128], data["labels"][:128]
    model = harness.seed_cnn(10).eval()
    model.requires_grad_(False)
    eps = 0.1

    def step():
        xg = x.detach().requires_grad_()
        loss = F.cross_entropy(model(xg), y, reduction="none").sum()
        (g,) = torch.autograd.grad(loss, [xg])
        with torch.no_grad():
            return (x + eps * g.sign()).clamp(0, 1)
    return step


harness.run("fgsm", 128, setup)
