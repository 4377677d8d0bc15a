"""reduce_sweep.py -- the PyTorch peer of bench/ops/reduce_sweep.c: the same rows, timed the
same way (median and best of REPS calls after three warm-up calls, microseconds).

Run with the peer virtual environment (tools/peer-venv.sh), the threads and waiting policy of
the graphids run it is set beside:  OMP_NUM_THREADS=2 GOMP_SPINCOUNT=10000 python reduce_sweep.py
An argument keeps the rows whose name contains it.
"""
import sys
import time

import torch
import torch.nn.functional as F

REPS = 41


def main():
    want = sys.argv[1] if len(sys.argv) > 1 else None
    torch.manual_seed(1)
    v, x = torch.randn(1000000), torch.randn(1000, 1000)
    h, z, q = torch.randn(8192, 128), torch.randn(100000, 10), torch.randn(10, 100000)
    w, b, w2, b2 = torch.randn(1000), torch.randn(1000), torch.randn(128), torch.randn(128)
    c, n = torch.randn(100, 100, 100), torch.randn(1000, 100, 10)
    v64, h64, vb = v.double(), h.double(), v > 0
    vp, ix = v.abs() + 0.01, torch.tensor([i * 7919 % 1000 for i in range(1000)])
    b7 = torch.rand(10000000) > 0.5
    i32 = torch.randint(-1000000, 1000000, (1000, 1000), dtype=torch.int32)
    u8 = torch.randint(0, 256, (4096, 4096), dtype=torch.uint8)
    i32t, i64 = i32.t(), torch.randint(-1000000, 1000000, (1000000,))
    u83 = torch.randint(0, 256, (1000000, 3), dtype=torch.uint8)
    i643 = torch.randint(-1000000, 1000000, (1000000, 3))
    i323 = torch.randint(-1000000, 1000000, (1000000, 3), dtype=torch.int32)
    rows = [
        ("sum 1M", lambda: v.sum()),
        ("sum [1000,1000] dim1", lambda: x.sum(1)),
        ("mean [1000,1000] dim1", lambda: x.mean(1)),
        ("mean [1000,1000] dim0", lambda: x.mean(0)),
        ("sum [8192,128] dim0", lambda: h.sum(0)),
        ("mean [8192,128] dim1", lambda: h.mean(1)),
        ("sum [1e5,10] dim1", lambda: z.sum(1)),
        ("sum [1e5,10] dim0", lambda: z.sum(0)),
        ("sum [10,1e5] dim1", lambda: q.sum(1)),
        ("sum [10,1e5] dim0", lambda: q.sum(0)),
        ("sum [100,100,100] dim1", lambda: c.sum(1)),
        ("sum [1000,100,10] dim1", lambda: n.sum(1)),
        ("sum 1M f64", lambda: v64.sum()),
        ("sum [8192,128] dim0 f64", lambda: h64.sum(0)),
        ("sum [8192,128] dim1 f64", lambda: h64.sum(1)),
        ("sum 1M bool", lambda: vb.sum()),
        ("isum 1e7 bool", lambda: b7.sum()),
        ("isum [1000,1000] i32 dim0", lambda: i32.sum(0)),
        ("isum [1000,1000] i32 dim1", lambda: i32.sum(1)),
        ("isum [1000,1000] i32 T dim1", lambda: i32t.sum(1)),
        ("isum [4096,4096] u8", lambda: u8.sum()),
        ("isum [4096,4096] u8 dim0", lambda: u8.sum(0)),
        ("isum [4096,4096] u8 dim1", lambda: u8.sum(1)),
        ("isum 1M i64", lambda: i64.sum()),
        ("isum [1e6,3] u8 dim1", lambda: u83.sum(1)),
        ("isum [1e6,3] i64 dim1", lambda: i643.sum(1)),
        ("iamax [1e6,3] i32 dim1", lambda: i323.amax(1)),
        ("iprod [1000,1000] i32 dim1", lambda: i32.prod(1)),
        ("icumsum [1000,1000] i32 dim1", lambda: i32.cumsum(1)),
        ("amax [1000,1000] dim1", lambda: x.amax(1)),
        ("amax [8192,128] dim0", lambda: h.amax(0)),
        ("layer_norm [1000,1000]", lambda: F.layer_norm(x, (1000,), w, b)),
        ("layer_norm [8192,128]", lambda: F.layer_norm(h, (128,), w2, b2)),
        ("cumsum 1M", lambda: v.cumsum(0)),
        ("cumsum [1000,1000] dim1", lambda: x.cumsum(1)),
        ("argmax [1000,1000] dim1", lambda: x.argmax(1)),
        ("exp 1M", lambda: v.exp()),
        ("log 1M", lambda: vp.log()),
        ("pow 2.5 1M", lambda: vp.pow(2.5)),
        ("index_select [1000,1000] dim0", lambda: x.index_select(0, ix)),
        ("index_select [1000,1000] dim1", lambda: x.index_select(1, ix)),
    ]
    with torch.no_grad():
        for name, fn in rows:
            if want and want not in name:
                continue
            for _ in range(3):
                fn()
            t = []
            for _ in range(REPS):
                t0 = time.perf_counter()
                fn()
                t.append(time.perf_counter() - t0)
            t.sort()
            print(f"{name:30s} best {t[0] * 1e6:8.1f} median {t[REPS // 2] * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
