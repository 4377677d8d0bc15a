"""op_host.py -- PyTorch's host time to issue one op on a CUDA tensor ([64, 64] f32, no
synchronisation inside the timed loops), beside bench/gpu/op_host.lua.
    python bench/peer/op_host.py
"""
import time

import torch


def main():
    a = torch.randn(64, 64, device="cuda")
    b = torch.randn(64, 64, device="cuda")
    ag = a.clone().requires_grad_()
    lin = torch.nn.Linear(64, 64).cuda()
    cases = [
        ("add", lambda: a + b),
        ("add (grad)", lambda: ag + b),
        ("relu", lambda: a.relu()),
        ("sum", lambda: a.sum()),
        ("matmul", lambda: a @ b),
        ("Linear (grad)", lambda: lin(ag)),
        ("empty", lambda: torch.empty(64, 64, device="cuda")),
        ("dropout", lambda: torch.nn.functional.dropout(a, 0.2, True)),
    ]
    n = 20000
    line = []
    for name, f in cases:
        for _ in range(50):
            f()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        line.append(f"{name} {(t1 - t0) / n * 1e6:.1f}")
    print("torch host us/op: " + ", ".join(line))


if __name__ == "__main__":
    main()
