"""bw_events.py -- PyTorch's side of bench/gpu/bw_events.lua: 1 GiB of f32 through copy_,
relu, sigmoid and softmax, each timed by the wall clock around a synchronisation and by CUDA
events around the op alone.
    python bench/peer/bw_events.py
"""
import time

import torch


def main():
    n = 256 * 1024 * 1024
    r = torch.randn(n, device="cuda")
    y = torch.empty(n, device="cuda")
    r2 = r.view(n // 1024, 1024)
    e0 = torch.cuda.Event(enable_timing=True)
    e1 = torch.cuda.Event(enable_timing=True)

    def probe(name, fn):
        fn()
        torch.cuda.synchronize()
        walls, evs = [], []
        for _ in range(10):
            t0 = time.perf_counter()
            e0.record()
            fn()
            e1.record()
            torch.cuda.synchronize()
            walls.append((time.perf_counter() - t0) * 1e3)
            evs.append(e0.elapsed_time(e1))
        walls.sort()
        evs.sort()
        gb = 2 * 4 * n / 1e9
        print(f"torch {name:8s} wall {walls[4]:.3f} ms ({gb / walls[4] * 1e3:.0f} GB/s)  "
              f"event {evs[4]:.3f} ms ({gb / evs[4] * 1e3:.0f} GB/s)")

    probe("copy", lambda: y.copy_(r))
    probe("relu", lambda: r.relu())
    probe("sigmoid", lambda: r.sigmoid())
    probe("softmax", lambda: r2.softmax(1))


if __name__ == "__main__":
    main()
