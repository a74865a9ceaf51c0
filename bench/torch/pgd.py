"""Benchmark workload (PyTorch twin of bench/workloads/pgd.lua): PGD-10 on
the seed CNN classifier in eval mode, batch 128, L-infinity eps 0.1, step
0.01, random start, then one forward for the final loss. Tuned: the
parameters are frozen, so only input gradients are computed."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn.functional as F


def setup(data):
    x0, y = data["images"][:128], data["labels"][:128]
    model = harness.seed_cnn(10).eval()
    model.requires_grad_(False)
    eps, alpha, steps = 0.1, 0.01, 10

    def step():
        x = (x0 + (torch.rand_like(x0) * 2 - 1) * eps).clamp(0, 1)
        for _ in range(steps):
            xg = x.detach().requires_grad_()
            loss = F.cross_entropy(model(xg), y, reduction="none").sum()
            (g,) = torch.autograd.grad(loss, [xg])
            with torch.no_grad():
                x = x + alpha * g.sign()
                x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp(0, 1)
        with torch.no_grad():
            F.cross_entropy(model(x), y, reduction="none")
        return x
    return step


harness.run("pgd", 128, setup)
