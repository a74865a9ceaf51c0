"""Benchmark workload (PyTorch twin of bench/workloads/ae.lua): one training
step of the autoencoder 784 -> 32 -> 784, batch 256, BCE, Adam."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn as nn
import torch.nn.functional as F


def setup(data):
    x = data["images"][:256].reshape(256, 784)
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = F.binary_cross_entropy(model(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


harness.run("ae", 256, setup)
