"""gnn_pyg.py -- the PyTorch Geometric peer of bench/gnn/gnn_bench.lua: the same GNN steps.

Rows (median ms of REPS timed steps after WARMUP, wall clock):
  gnn_gatv2_layer_b{B}_ms  GATv2Conv(35, 64, heads=4, edge_dim=11, concat=True) forward +
                           backward of mean(out^2)
  gnn_gat_{small,large}_b{B}_ms  one training step (zero_grad, forward, cross-entropy, backward,
                           Adam) of the reference's GATWithJK (upstream graphids
                           core/models/supervised/gat.py, sizes of configs/models/supervised:
                           small hidden 24 x 2 layers, proj 32, fc 2; large hidden 64 x 3, proj
                           48, fc 4; heads 4, embedding 8, edge_dim 11, JK lstm, mean pool)
for batches of B = 32 and 1024 graphs.

Graphs: the batch file written by gnn_bench.lua (safetensors, the Batch fields) when given, so
both sides run on the same graphs; else random graphs of 38 nodes and 98 edges each.
Prints "name value ms" lines.
Usage: python gnn_pyg.py THREADS [BATCH_DIR [ROW,...]]   (BATCH_DIR holds batch_{B}.safetensors;
ROW limits the run to those rows, so gnn_bench.lua can time each row right beside its own)
With GNN_DEVICE=cuda the model steps run on the GPU (bench/gpu/gat_step.lua's peer): rows
gpu_gat_{small,large}_b{B}_ms, each step synchronised, and gpu_gat_*_peak_mib, PyTorch's peak
allocated bytes over the timed steps (model, optimizer state and batch included).
GNN_AUTOCAST=bf16 (GPU rows only) runs each step's forward and loss under
torch.autocast("cuda", dtype=torch.bfloat16), the backward and Adam outside it (gat_step.lua's
GAT_AUTOCAST=bf16); name the rows with GNN_SUFFIX=_bf16.
"""
import contextlib
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.nn import GATv2Conv, JumpingKnowledge, global_mean_pool

WARMUP, REPS = int(os.environ.get("GNN_WARMUP", "2")), int(os.environ.get("GNN_REPS", "5"))
DEVICE = os.environ.get("GNN_DEVICE", "cpu")


def sync():
    if DEVICE != "cpu":
        torch.cuda.synchronize()
NODES, EDGES, NODE_F, EDGE_F, NUM_IDS = 38, 98, 35, 11, 200


def median_ms(step, reps=REPS, warmup=WARMUP):
    for _ in range(warmup):
        step()
    sync()
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        sync()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1e3


def random_batch(g, seed=7):
    gen = torch.Generator().manual_seed(seed)
    local = torch.randint(0, NODES, (2, g * EDGES), generator=gen)
    offs = torch.arange(g).repeat_interleave(EDGES) * NODES
    return {
        "x": torch.randn(g * NODES, NODE_F, generator=gen),
        "edge_index": local + offs,
        "edge_attr": torch.randn(g * EDGES, EDGE_F, generator=gen),
        "node_id": torch.randint(1, NUM_IDS, (g * NODES,), generator=gen),
        "batch": torch.arange(g).repeat_interleave(NODES),
        "y": torch.randint(0, 2, (g,), generator=gen),
        "num_graphs": g,
    }


def load_batch(path):
    from safetensors.torch import load_file
    t = load_file(path)
    t["num_graphs"] = int(t["y"].shape[0])
    return t


def gpu_main(bdir):
    """The model steps on the GPU, with their peak memory (GNN_DEVICE=cuda).  PyTorch's default
    lets cuDNN (the JK LSTM) use TF32 while matmuls stay f32; GNN_STRICT_F32=1 turns cuDNN's
    TF32 off too, GNN_TF32=1 turns TF32 on for both, GNN_ROWS=name,... limits the rows and
    GNN_SUFFIX=s is appended to the row names; GNN_AUTOCAST=bf16 or f16 runs the forward and
    loss under torch.autocast (f16 without a GradScaler: a timing only); GNN_BENCHMARK=1 sets
    torch.backends.cudnn.benchmark (cuDNN times its algorithms per shape, beside graphids'
    GRAPHIDS_GEMM_TUNE=1)."""
    if os.environ.get("GNN_STRICT_F32") == "1":
        torch.backends.cudnn.allow_tf32 = False
    if os.environ.get("GNN_BENCHMARK") == "1":
        torch.backends.cudnn.benchmark = True
    if os.environ.get("GNN_TF32") == "1":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = os.environ.get("GNN_AUTOCAST") or None
    if autocast not in (None, "bf16", "f16"):
        raise SystemExit(f"gnn_pyg.py: GNN_AUTOCAST must be bf16 or f16, got {autocast!r}")
    autocast = {"bf16": torch.bfloat16, "f16": torch.float16}.get(autocast)
    suffix = os.environ.get("GNN_SUFFIX", "")
    rows = os.environ.get("GNN_ROWS")
    rows = set(rows.split(",")) if rows else None
    for g in (32, 1024):
        b = load_batch(os.path.join(bdir, f"batch_{g}.safetensors"))
        b = {k: (v.to(DEVICE) if torch.is_tensor(v) else v) for k, v in b.items()}
        for size in ("small", "large"):
            if rows is not None and f"gpu_gat_{size}_b{g}" not in rows:
                continue
            torch.manual_seed(1)
            step = model_step(b, size, DEVICE, autocast)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            ms = median_ms(step, 10, 3)
            peak = torch.cuda.max_memory_allocated() / 2 ** 20
            print(f"gpu_gat_{size}_b{g}{suffix}_ms {ms:.3f} ms", flush=True)
            print(f"gpu_gat_{size}_b{g}{suffix}_peak_mib {peak:.1f} MiB", flush=True)
            del step
            torch.cuda.empty_cache()


class InputEncoder(nn.Module):
    """The reference's InputEncoder with a LookupIdEncoder: [embedding(id), Linear(35, proj)]."""

    def __init__(self, num_ids, emb, proj):
        super().__init__()
        self.id_encoder = nn.Embedding(num_ids, emb)
        self.proj = nn.Linear(NODE_F, proj)

    def forward(self, x, node_id):
        return torch.cat([self.id_encoder(node_id), self.proj(x)], dim=-1)


class GATWithJK(nn.Module):
    def __init__(self, num_ids, hidden, layers, heads, emb, proj, fc_layers, dropout):
        super().__init__()
        self.input_encoder = InputEncoder(num_ids, emb, proj)
        self.convs = nn.ModuleList()
        d = emb + proj
        for _ in range(layers):
            self.convs.append(GATv2Conv(d, hidden, heads=heads, edge_dim=EDGE_F, concat=True))
            d = hidden * heads
        self.dropout = dropout
        self.jk = JumpingKnowledge(mode="lstm", channels=d, num_layers=layers)
        fcs = []
        for _ in range(fc_layers - 1):
            fcs += [nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout)]
        fcs.append(nn.Linear(d, 2))
        self.fc_layers = nn.Sequential(*fcs)

    def forward(self, b):
        x = self.input_encoder(b["x"], b["node_id"])
        xs = []
        for conv in self.convs:
            x = F.dropout(F.relu(conv(x, b["edge_index"], b["edge_attr"])), self.dropout,
                          self.training)
            xs.append(x)
        x = self.jk(xs)
        x = global_mean_pool(x, b["batch"], b["num_graphs"])
        return self.fc_layers(x)


SIZES = {
    "small": dict(hidden=24, layers=2, heads=4, emb=8, proj=32, fc_layers=2, dropout=0.10),
    "large": dict(hidden=64, layers=3, heads=4, emb=8, proj=48, fc_layers=4, dropout=0.11),
}


def layer_step(b):
    conv = GATv2Conv(NODE_F, 64, heads=4, edge_dim=EDGE_F, concat=True)

    def step():
        conv.zero_grad()
        out = conv(b["x"], b["edge_index"], b["edge_attr"])
        (out * out).mean().backward()
    return step


def model_step(b, size, device="cpu", autocast=None):
    """One training step's closure; autocast a dtype runs the forward and the loss under
    torch.autocast of the device's type (the backward outside it, as torch recommends)."""
    # the id-table size rule of bench/gnn/graphs.lua
    model = GATWithJK(max(NUM_IDS, int(b["node_id"].max()) + 1), **SIZES[size]).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def region():
        if autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=autocast)

    def step():
        opt.zero_grad()
        with region():
            loss = F.cross_entropy(model(b), b["y"])
        loss.backward()
        opt.step()
    return step


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    torch.manual_seed(1)
    bdir = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    if DEVICE != "cpu":
        return gpu_main(bdir)
    rows = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else None
    for g in (32, 1024):
        names = [f"gnn_gatv2_layer_b{g}_ms"] + [f"gnn_gat_{s}_b{g}_ms" for s in ("small", "large")]
        if rows is not None and not rows.intersection(names):
            continue
        path = bdir and os.path.join(bdir, f"batch_{g}.safetensors")
        b = load_batch(path) if path and os.path.exists(path) else random_batch(g)
        if rows is None or names[0] in rows:
            print(f"{names[0]} {median_ms(layer_step(b)):.3f} ms", flush=True)
        for size in ("small", "large"):
            if rows is not None and f"gnn_gat_{size}_b{g}_ms" not in rows:
                continue
            # the large model on 1024 graphs takes seconds a step: fewer runs (as gnn_bench.lua)
            few = size == "large" and g >= 1024
            ms = median_ms(model_step(b, size), min(REPS, 3) if few else REPS,
                           min(WARMUP, 1) if few else WARMUP)
            print(f"gnn_gat_{size}_b{g}_ms {ms:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
