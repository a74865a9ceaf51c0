"""Benchmark workload (PyTorch twin of bench/workloads/gan_mlp.lua): one
step of the seed MLP GAN, batch 128: D on real and graph-free fake, one D
update; G on fresh noise through the frozen D, one G update. BCE, Adam
(lr 2e-4, betas 0.5, 0.999)."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn as nn
import torch.nn.functional as F


def setup(data):
    b = 128
    real = data["images"][:b].reshape(b, 784)
    G = nn.Sequential(nn.Linear(100, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    D = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 1), nn.Sigmoid())
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)

    def step():
        with torch.no_grad():
            fake = G(torch.randn(b, 100))
        loss_d = F.binary_cross_entropy(D(real), ones) + F.binary_cross_entropy(D(fake), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        loss_g = F.binary_cross_entropy(D(G(torch.randn(b, 100))), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
    return step


harness.run("gan_mlp", 128, setup)
