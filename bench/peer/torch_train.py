"""torch_train.py -- the PyTorch peer of bench/train/train_bench.lua: the same training steps.

One forward + backward + AdamW step of
  train_mlp_step_ms      MLP 35 -> 256 -> 256 -> 2 (ReLU), batch 4096, cross-entropy
  train_jk_lstm_step_ms  jumping-knowledge LSTM (PyG JumpingKnowledge mode="lstm", GAT "large":
                         3 layers of 4 heads x 64 = 256 channels, so LSTM(256, 384,
                         bidirectional) over a sequence of 3, attention Linear(768, 1), softmax
                         over the layers, weighted sum), 2048 nodes, loss mean(h^2)
Prints "name value unit" (median of REPS timed steps after WARMUP) for tools/run-bench.sh.
Usage: python torch_train.py THREADS   (the thread count graphids uses; run-bench.sh passes it)
"""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WARMUP, REPS = 3, 9
NODES, LAYERS, CHANNELS = 2048, 3, 256


def median_ms(step):
    for _ in range(WARMUP):
        step()
    runs = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        step()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1e3


def mlp_step():
    model = nn.Sequential(nn.Linear(35, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(4096, 35), torch.randint(0, 2, (4096,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def jk_lstm_step():
    hidden = LAYERS * CHANNELS // 2
    lstm = nn.LSTM(CHANNELS, hidden, bidirectional=True, batch_first=True)
    att = nn.Linear(2 * hidden, 1)
    opt = torch.optim.AdamW(list(lstm.parameters()) + list(att.parameters()), lr=1e-3)
    xs = torch.randn(NODES, LAYERS, CHANNELS, requires_grad=True)

    def step():
        opt.zero_grad()
        xs.grad = None
        out, _ = lstm(xs)
        alpha = torch.softmax(att(out).squeeze(-1), dim=-1)
        h = (xs * alpha.unsqueeze(-1)).sum(dim=1)
        (h * h).mean().backward()
        opt.step()
    return step


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    print(f"train_mlp_step_ms {median_ms(mlp_step()):.3f} ms")
    print(f"train_jk_lstm_step_ms {median_ms(jk_lstm_step()):.3f} ms")


if __name__ == "__main__":
    main()
