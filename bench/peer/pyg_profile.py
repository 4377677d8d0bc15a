"""Where PyTorch Geometric's GAT training step spends its GPU time (the peer of
bench/gpu/profile.sh): torch.profiler over a few steps of gnn_pyg.py's model_step, with each CUDA
kernel's total time, the largest first.
    GNN_DEVICE=cuda python3 bench/peer/pyg_profile.py BATCH_DIR [SIZE [GRAPHS]]
GNN_TF32=1 / GNN_STRICT_F32=1 set the precision as in gnn_pyg.py."""
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(__file__))
import gnn_pyg  # noqa: E402


def main():
    bdir, size = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "large"
    g = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    if os.environ.get("GNN_STRICT_F32") == "1":
        torch.backends.cudnn.allow_tf32 = False
    if os.environ.get("GNN_TF32") == "1":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    b = gnn_pyg.load_batch(os.path.join(bdir, f"batch_{g}.safetensors"))
    dev = os.environ.get("GNN_DEVICE", "cuda")  # cpu: checks this script without a GPU
    b = {k: (v.to(dev) if torch.is_tensor(v) else v) for k, v in b.items()}
    torch.manual_seed(1)
    step = gnn_pyg.model_step(b, size, dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    kind = ProfilerActivity.CUDA if dev == "cuda" else ProfilerActivity.CPU
    dtype = torch.autograd.DeviceType.CUDA if dev == "cuda" else torch.autograd.DeviceType.CPU
    for _ in range(3):
        step()
    sync()
    steps = 3
    with profile(activities=[kind]) as prof:
        for _ in range(steps):
            step()
        sync()
    tot, cnt = {}, {}
    for e in prof.events():
        if e.device_type == dtype:
            name = e.name[:90]
            tot[name] = tot.get(name, 0.0) + e.time_range.elapsed_us() / 1e3 / steps
            cnt[name] = cnt.get(name, 0) + 1
    allms = sum(tot.values())
    print(f"peer {size} b{g}: {sum(cnt.values()) // steps} kernels a step, {allms:.2f} ms of kernel time")
    for name, ms in sorted(tot.items(), key=lambda kv: -kv[1])[:40]:
        print(f"{ms:9.3f} ms {100 * ms / allms:5.1f}% {cnt[name] // steps:5d}x  {name}")


if __name__ == "__main__":
    main()
