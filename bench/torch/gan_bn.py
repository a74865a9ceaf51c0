"""Benchmark workload (PyTorch twin of bench/workloads/gan_bn.lua): one
step of the BatchNorm GAN, batch 256, pixels in [-1, 1], BCE on logits,
Adam (lr 1e-4); the step as gan_mlp."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn as nn
import torch.nn.functional as F


def setup(data):
    b = 256
    real = data["images"][:b].reshape(b, 784) * 2 - 1
    G = nn.Sequential(
        nn.Linear(100, 256, bias=False), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512, bias=False), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 784), nn.Tanh(),
    )
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2),
                      nn.Linear(256, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4)
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
    bce = F.binary_cross_entropy_with_logits

    def step():
        with torch.no_grad():
            fake = G(torch.randn(b, 100))
        loss_d = bce(D(real), ones) + bce(D(fake), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        loss_g = bce(D(G(torch.randn(b, 100))), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
    return step


harness.run("gan_bn", 256, setup)
