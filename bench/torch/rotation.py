"""Benchmark workload (PyTorch twin of bench/workloads/rotation.lua): one
training step of the seed rotation CNN. 128 images become 512 (0, 90, 180,
270 degrees), forward, cross-entropy, backward, Adam (lr 1e-3)."""
import harness  # first: it notes the memory in use before torch loads
import torch
import torch.nn.functional as F


def setup(data):
    images = data["images"][:128]
    model = harness.seed_cnn(4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b = images.shape[0]

    def step():
        x = torch.cat([images, images.rot90(1, (2, 3)), images.rot90(2, (2, 3)), images.rot90(3, (2, 3))])
        r = torch.cat([torch.full((b,), k, dtype=torch.int64) for k in range(4)])
        loss = F.cross_entropy(model(x), r)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


harness.run("rotation", 512, setup)
