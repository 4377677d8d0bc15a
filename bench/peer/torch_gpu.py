"""torch_gpu.py -- the PyTorch peer of bench/gpu/gpu_bench.lua: same rows, same method."""
import statistics
import time

import torch

REPS = 10


def median_s(fn):
    fn()
    torch.cuda.synchronize()
    runs = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main():
    n = 8192
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        t = median_s(lambda: torch.mm(a, b))
        name = "tf32" if tf32 else "f32"
        print(f"gpu_matmul_8192_{name}_tflops {2 * n ** 3 / t * 1e-12:.2f} TFLOP/s")
    torch.backends.cuda.matmul.allow_tf32 = False
    a16, b16 = a.bfloat16(), b.bfloat16()
    t = median_s(lambda: torch.mm(a16, b16))
    print(f"gpu_matmul_8192_bf16_tflops {2 * n ** 3 / t * 1e-12:.2f} TFLOP/s")
    del a16, b16
    x = torch.empty(256, 1024, 1024, device="cuda")
    y = torch.empty_like(x)
    t = median_s(lambda: y.copy_(x))
    print(f"gpu_copy_d2d_gbs {2 * 2 ** 30 / t * 1e-9:.1f} GB/s")
    t = median_s(lambda: x.sum())
    print(f"gpu_sum_1gib_gbs {2 ** 30 / t * 1e-9:.1f} GB/s")
    del x, y
    r = torch.randn(262144, 1024, device="cuda")
    t = median_s(lambda: torch.softmax(r, 1))
    print(f"gpu_softmax_rows1024_gbs {2 * 2 ** 30 / t * 1e-9:.1f} GB/s")
    r4 = r.view(-1, 4)
    t = median_s(lambda: torch.softmax(r4, 1))
    print(f"gpu_softmax_rows4_gbs {2 * 2 ** 30 / t * 1e-9:.1f} GB/s")
    for name, f in (("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
                    ("elu", torch.nn.functional.elu)):
        t = median_s(lambda: f(r))
        print(f"gpu_{name}_1gib_gbs {2 * 2 ** 30 / t * 1e-9:.1f} GB/s")


if __name__ == "__main__":
    main()
