"""torch_ops.py -- the PyTorch peer for bench/ops: the same rows, measured the same way.

Prints "name value unit" lines (median of REPS runs after a warm-up) that tools/run-bench.sh
sets beside graphids' figures.  Run with the peer virtual environment (tools/peer-venv.sh).

The bandwidth rows are timed as ops_bench.c times graphids': each run follows a copy of the
same bytes ops_bench uses as its reference, so both sides read their inputs from memory, not
from a cache the previous run left warm (back to back, half of a 64 MB input can still be in a
32 MB L3, and a sum then appeared twice as fast as the same kernel timed after the copy).
"""
import statistics
import time

import torch

REPS = 9


def median_time(fn, before=None):
    """Median seconds of fn over REPS runs after a warm-up; `before` (untimed) runs first each time."""
    fn()
    runs = []
    for _ in range(REPS):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def copier(nbytes):
    """A copy of nbytes between two buffers: ops_bench.c's memcpy reference, run between timings."""
    src = torch.ones(nbytes, dtype=torch.uint8)
    dst = torch.zeros(nbytes, dtype=torch.uint8)
    return lambda: dst.copy_(src)


def main():
    torch.manual_seed(1)
    print(f"peer_threads {torch.get_num_threads()} threads torch-{torch.__version__}")
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = median_time(lambda: torch.mm(a, b))
    print(f"matmul_1024_gflops {2.0 * n ** 3 / t * 1e-9:.2f} GFLOP/s")

    m = 16 * 1024 * 1024
    x, y = torch.randn(m), torch.randn(m)
    flush = copier(m * 4 * 3)
    t = median_time(lambda: x + y, flush)
    print(f"add_16M_gbs {12.0 * m / t * 1e-9:.2f} GB/s")
    t = median_time(lambda: x.sum(), flush)
    print(f"sum_16M_gbs {4.0 * m / t * 1e-9:.2f} GB/s")

    lx, lg = torch.randn(2988, 2049), torch.randn(2988, 2049)
    ly = torch.log_softmax(lx, 1)
    ls_bytes = lx.numel() * 4
    t = median_time(lambda: torch.log_softmax(lx, 1), copier(2 * ls_bytes))
    print(f"log_softmax_rows2049_gbs {8.0 * lx.numel() / t * 1e-9:.2f} GB/s")
    t = median_time(lambda: torch._log_softmax_backward_data(lg, ly, 1, torch.float32), copier(3 * ls_bytes))
    print(f"log_softmax_backward_rows2049_gbs {12.0 * lx.numel() / t * 1e-9:.2f} GB/s")

    s1, s2 = torch.ones(1), torch.ones(1)
    calls = 200000

    def loop_add():
        for _ in range(calls):
            s1 + s2

    def loop_add_():
        for _ in range(calls):
            s1.add_(s2)

    def loop_sum():
        for _ in range(calls):
            s1.sum()

    print(f"lua_small_add_us {median_time(loop_add) / calls * 1e6:.3f} us")
    print(f"lua_small_add_inplace_us {median_time(loop_add_) / calls * 1e6:.3f} us")
    print(f"lua_small_sum_us {median_time(loop_sum) / calls * 1e6:.3f} us")


if __name__ == "__main__":
    main()
