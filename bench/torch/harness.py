"""The PyTorch side of one benchmark measurement: the twin of
bench/workloads/harness.lua (same options, same data file, same loop, same
JSON line). Run with Debian's interpreter:

    /usr/bin/python3 bench/torch/NAME.py --threads N --warmup W --steps S [--seconds T] --data FILE

The thread environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) and the
allocator (LD_PRELOAD of jemalloc, or GLIBC_TUNABLES) are set by the
driver before the interpreter starts; torch.set_num_threads(N) is called
here. The JSON line also says which settings were in force.

Tuned as PyTorch is best used: optimizers clear gradients with
zero_grad(set_to_none=True); attacks freeze the parameters so that only
input gradients are computed; graph-free passes run under torch.no_grad().
"""
import argparse
import json
import os
import struct
import sys
import time


def status():
    """Fields "Name: N kB" of /proc/self/status, as a dict of kB."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


INTERP_RSS = status().get("VmRSS", 0)  # before torch is imported

import torch  # noqa: E402

BASE_RSS = status().get("VmRSS", 0)  # torch loaded, no workload yet


def load_data(path):
    """The shared safetensors file: images [256,1,28,28] in [0,1], labels
    [256] in 0..9 (PyTorch's 0-based classes)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = bytearray(raw[8 + n:])
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        t = torch.frombuffer(body[lo:hi], dtype=dtypes[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def seed_cnn(classes):
    """The seed CNN: Conv(1,32,3)+ReLU, MaxPool(2), Conv(32,64,3)+ReLU,
    MaxPool(2), Conv(64,128,3)+ReLU, Flatten, Linear(1152,128)+ReLU,
    Linear(128, classes)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(128 * 3 * 3, 128), nn.ReLU(), nn.Linear(128, classes),
    )


def run(name, images_per_step, setup):
    """Parses the options, sets threads, builds the workload with
    setup(data) -> step(), runs warm-up and timed steps, prints JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seconds", type=float, default=0.0)
    p.add_argument("--data", required=True)
    o = p.parse_args()
    torch.set_num_threads(o.threads)
    torch.manual_seed(0)
    data = load_data(o.data)
    step = setup(data)
    for _ in range(o.warmup):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    steps = 0
    while steps < o.steps or time.perf_counter() - t0 < o.seconds:
        step()
        steps += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = status()
    print(json.dumps({
        "workload": name, "framework": "torch", "threads": o.threads, "warmup": o.warmup,
        "steps": steps, "seconds": seconds, "cpu_seconds": cpu, "images": images_per_step * steps,
        "peak_rss_kb": st.get("VmHWM", 0), "base_rss_kb": BASE_RSS, "interp_rss_kb": INTERP_RSS,
        "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "ld_preload": os.environ.get("LD_PRELOAD"), "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
    }))
    sys.stdout.flush()
