"""Benchmark workload (PyTorch twin of bench/workloads/inpaint.lua): one
training step of the inpainting CNN, batch 64: centre rows and columns
10..19 zeroed, input normalised (mean 0.5, std 0.5), two 3x3 convolutions,
two linear layers, MSE against the original, Adam (lr 1e-3)."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn as nn
import torch.nn.functional as F


def setup(data):
    x = data["images"][:64]
    target = x.reshape(64, 784)
    keep = torch.ones(1, 1, 28, 28)
    keep[:, :, 10:20, 10:20] = 0
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(32 * 24 * 24, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid(),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        inp = (x * keep - 0.5) / 0.5
        loss = F.mse_loss(model(inp), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


harness.run("inpaint", 64, setup)
