"""make_gnn_fixtures.py -- PyTorch Geometric reference fixtures for the graph layers of graphids.nn.

Run by hand (not by CI) with the peer virtual environment, from the repository root:

    py=$(tools/peer-venv.sh) && "$py" tools/make_gnn_fixtures.py

It rewrites spec/fixtures/gnn/*.safetensors and spec/fixtures/gnn/index.json; commit them.  The
spec spec/gnn/fixtures_spec.lua reads them through spec/support/safetensors.lua.

The file format is tools/make_fixtures.py's (read its docstring): param.*, input.*, output.*,
cotangent.*, grad.input.*, grad.param.* tensors, f32 (index tensors i64), and one metadata key
"case", a JSON object with:
  kind        "module" (a PyG layer) or "function" (global_*_pool)
  module      the PyG class name (GATConv, GATv2Conv, TransformerConv, GCNConv, SAGEConv,
              GINConv, GINEConv, GraphNorm, JumpingKnowledge, MultiAggregation) or, for kind
              "function", "fn" (the function)
  args, kwargs  PyG's constructor arguments (Python names)
  nn          GINConv/GINEConv: the wrapped torch.nn module, described as make_fixtures.py
              describes one ("module", "args", "children"); it is the first constructor argument
  forward     input names in call order; a nested list is a list argument (JumpingKnowledge)
  call        extra keyword arguments of the call (size, dim_size, batch_size), or absent
  outputs     ["y"]
  params      named_parameters() names in order (shared parameters once)
  state       state_dict() names in order (shared parameters under every name)
  num_params  sum of numel over parameters(), PyG's count
  mode        "eval" (attention dropout cannot match another RNG: tested by properties)
Parameters are drawn N(0, 0.5^2) (GraphNorm's weight around 1) instead of PyG's initialisation so
that biases and attention vectors are not zero and every term of the formula is exercised.

Graphs: a hand-made graph with parallel edges (0->1 twice), a self-loop (2->2), a node with no
in-edges (0) and an isolated node (6); a graph with no edges; and one window of 100 frames of real
CAN traffic (../shared/data/can/hcrl_sa, DoS-kia.csv around the first attack frame): one node per
arbitration ID, one edge per consecutive pair of frames (parallel edges and self-loops kept).
Node and edge features are random (only the edge pattern comes from the data).  Without the data
folder the real-window cases are left out (the spec checks what index.json lists).
"""
import copy
import json
import os
import sys
import zlib

import torch
import torch_geometric
from safetensors.torch import save_file
from torch_geometric import nn as gnn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import backward_weighted, build_module, call_args, seed_for  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "spec", "fixtures", "gnn")
DATA = os.path.join(ROOT, "..", "shared", "data", "can", "hcrl_sa", "train_02_with_attacks",
                    "DoS-kia.csv")


# ------------------------------------------------------------------------------------ graphs
def hand_graph():
    src = [0, 0, 1, 2, 3, 2, 4, 1, 3, 5, 4, 1]
    dst = [1, 1, 2, 2, 2, 3, 3, 4, 1, 4, 5, 5]
    return torch.tensor([src, dst], dtype=torch.long), 7


def empty_edges():
    return torch.zeros(2, 0, dtype=torch.long), 5


_window = None


def real_window():
    """edge_index and node count of one 100-frame window of real traffic, or None."""
    global _window
    if _window is None:
        if not os.path.exists(DATA):
            _window = False
        else:
            import pandas as pd
            df = pd.read_csv(DATA, nrows=80000, dtype={"arbitration_id": str})
            first = int(df.index[df["attack"] == 1][0])
            ids = [int(s, 16) for s in df["arbitration_id"].iloc[first - 50:first + 50]]
            vocab = {}
            for i in ids:
                vocab.setdefault(i, len(vocab))
            nodes = [vocab[i] for i in ids]
            ei = torch.tensor([nodes[:-1], nodes[1:]], dtype=torch.long)
            _window = (ei, len(vocab))
    return _window or None


def edge_weight_of(ei):
    return torch.rand(ei.size(1)) + 0.5


# ------------------------------------------------------------------------------------ writing
def write(name, tensors, case):
    # Tensors without elements are described in the metadata instead ("empty": name -> shape
    # and dtype): safetensors gives them zero-length data ranges that a strict reader may refuse.
    empty = {k: {"shape": list(v.shape), "dtype": DTYPES[v.dtype]} for k, v in tensors.items()
             if v.numel() == 0}
    if empty:
        case = dict(case, empty=empty)
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items() if v.numel() > 0}
    case = dict(case, name=name, generator="tools/make_gnn_fixtures.py", torch=torch.__version__,
                torch_geometric=torch_geometric.__version__)
    save_file(tensors, os.path.join(OUT, name + ".safetensors"),
              metadata={"case": json.dumps(case, sort_keys=True)})


DTYPES = {torch.float32: "f32", torch.int64: "i64"}


def exact_zero_grads(m, forward, ins, call, cotangent):
    """Names of the gradients that are zero in exact arithmetic (the key bias of an attention
    whose softmax cancels it), found by rerunning in f64, and the largest gradient magnitude.
    In f32 these are rounding noise, so the spec bounds them by grad_scale instead."""
    is_module = isinstance(m, torch.nn.Module)
    m64 = copy.deepcopy(m).double() if is_module else m
    if is_module:
        m64.zero_grad(set_to_none=True)
    ins64 = {}
    for k, t in ins.items():
        t64 = t.detach().double() if t.is_floating_point() else t
        ins64[k] = t64.requires_grad_(t.requires_grad) if t.is_floating_point() else t64
    y = m64(*call_args(forward, ins64), **(call or {}))
    (y * cotangent.double()).sum().backward()
    grads = {"grad.param." + k: p.grad for k, p in m64.named_parameters()
             if p.grad is not None} if is_module else {}
    grads.update({"grad.input." + k: t.grad for k, t in ins64.items()
                  if t.is_floating_point() and t.grad is not None and t.numel() > 0})
    scale = max(float(g.abs().max()) for g in grads.values() if g.numel() > 0)
    zeros = sorted(k for k, g in grads.items() if float(g.abs().max()) <= 1e-12 * scale)
    return zeros, scale


def randomize(m):
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.randn(p.shape) * 0.5)
            if isinstance(m, gnn.GraphNorm) and name == "weight":
                p.add_(1.0)


def run_case(name, kind, spec, build, inputs, forward, call=None):
    """inputs() -> ordered list of (name, tensor); float inputs get requires_grad."""
    seed_for(name)
    m = build()
    if kind == "module":
        randomize(m)
        m.eval()
    tensors = {}
    if kind == "module":
        tensors.update({"param." + k: v.clone() for k, v in m.state_dict().items()})
    ins = {}
    for iname, t in inputs():
        t = t.clone()
        if t.is_floating_point():
            t.requires_grad_(True)
        ins[iname] = t
        tensors["input." + iname] = t
    y = m(*call_args(forward, ins), **(call or {}))
    backward_weighted([("y", y)], tensors)
    zeros, scale = exact_zero_grads(m, forward, ins, call, tensors["cotangent.y"])
    for iname, t in ins.items():
        if t.requires_grad:
            tensors["grad.input." + iname] = t.grad
    case = {"kind": kind, "mode": "eval", "forward": forward, "outputs": ["y"], **spec}
    if call:
        case["call"] = call
    case["grad_scale"] = scale
    if zeros:
        case["zero_grads"] = zeros
    if kind == "module":
        for pname, p in m.named_parameters():
            # an unused parameter (TransformerConv's lin_skip without root_weight) has no grad
            tensors["grad.param." + pname] = p.grad if p.grad is not None else torch.zeros_like(p)
        case["params"] = [k for k, _ in m.named_parameters()]
        case["state"] = list(m.state_dict().keys())
        case["num_params"] = sum(p.numel() for p in m.parameters())
    write(name, tensors, case)
    return name


def module(cls, args, kwargs=None):
    kwargs = kwargs or {}
    return ({"module": cls, "args": args, "kwargs": kwargs},
            lambda: getattr(gnn, cls)(*args, **kwargs))


def gin_module(cls, nn_spec, kwargs=None):
    """GINConv / GINEConv around a torch.nn module described as make_fixtures.py describes one
    (the case's "nn"; the spec builds the same with graphids.nn)."""
    kwargs = kwargs or {}
    return ({"module": cls, "args": [], "nn": nn_spec, "kwargs": kwargs},
            lambda: getattr(gnn, cls)(build_module(nn_spec), **kwargs))


def mlp(i, h, o):
    return {"module": "Sequential", "children": [
        {"module": "Linear", "args": [i, h]}, {"module": "ReLU"},
        {"module": "Linear", "args": [h, o]}]}


def tied_x(n, c):
    """Node features in {-1, 0, 1}: max/min aggregations meet ties, and extremes of exactly 0."""
    return torch.randint(-1, 2, (n, c)).float()


def graph_inputs(graph, in_ch, edge_dim=None, weight=False, x_fn=torch.randn):
    def make():
        ei, n = graph()
        ins = [("x", x_fn(n, in_ch)), ("edge_index", ei)]
        if edge_dim is not None:
            ins.append(("edge_attr", torch.randn(ei.size(1), edge_dim)))
        if weight:
            ins.append(("edge_weight", edge_weight_of(ei)))
        return ins
    fwd = ["x", "edge_index"]
    if edge_dim is not None:
        fwd.append("edge_attr")
    if weight:
        fwd.append("edge_weight")
    return make, fwd


# ------------------------------------------------------------------------------------ cases
def conv_cases(have_real):
    cases = []

    def conv(name, cls, args, kwargs=None, graph=hand_graph, edge_dim=None, weight=False):
        spec, build = module(cls, args, kwargs)
        make, fwd = graph_inputs(graph, args[0], edge_dim, weight)
        cases.append(run_case(name, "module", spec, build, make, fwd))

    conv("gat_default", "GATConv", [5, 4])
    conv("gat_heads3_concat", "GATConv", [5, 4], {"heads": 3})
    conv("gat_heads3_mean", "GATConv", [5, 4], {"heads": 3, "concat": False})
    conv("gat_edge_dim", "GATConv", [5, 4], {"heads": 2, "edge_dim": 3}, edge_dim=3)
    conv("gat_edge_dim_fill_const", "GATConv", [5, 4],
         {"heads": 2, "edge_dim": 3, "fill_value": 0.5}, edge_dim=3)
    conv("gat_no_self_loops", "GATConv", [5, 4], {"heads": 2, "add_self_loops": False})
    conv("gat_no_bias_slope", "GATConv", [5, 3], {"heads": 2, "bias": False,
                                                   "negative_slope": 0.1})
    conv("gat_residual", "GATConv", [5, 4], {"heads": 2, "residual": True})
    conv("gat_no_edges", "GATConv", [5, 4], {"heads": 2, "edge_dim": 3}, graph=empty_edges,
         edge_dim=3)
    conv("gatv2_default", "GATv2Conv", [5, 4])
    conv("gatv2_heads4_edge", "GATv2Conv", [5, 3], {"heads": 4, "edge_dim": 2}, edge_dim=2)
    conv("gatv2_heads2_mean", "GATv2Conv", [5, 4], {"heads": 2, "concat": False})
    conv("gatv2_share_weights", "GATv2Conv", [5, 4], {"heads": 2, "share_weights": True})
    conv("gatv2_no_self_loops_edge", "GATv2Conv", [5, 4],
         {"heads": 2, "add_self_loops": False, "edge_dim": 3}, edge_dim=3)
    conv("gatv2_no_bias", "GATv2Conv", [5, 4], {"heads": 2, "bias": False})
    conv("gatv2_fill_const_residual", "GATv2Conv", [5, 4],
         {"heads": 2, "edge_dim": 3, "fill_value": -1.0, "residual": True}, edge_dim=3)
    conv("gatv2_no_edges", "GATv2Conv", [5, 4], {"heads": 2, "edge_dim": 3},
         graph=empty_edges, edge_dim=3)
    conv("transformer_default", "TransformerConv", [5, 4])
    conv("transformer_heads2", "TransformerConv", [5, 3], {"heads": 2})
    conv("transformer_heads2_mean_edge", "TransformerConv", [5, 3],
         {"heads": 2, "concat": False, "edge_dim": 3}, edge_dim=3)
    conv("transformer_beta_edge", "TransformerConv", [5, 3],
         {"heads": 2, "beta": True, "edge_dim": 3}, edge_dim=3)
    conv("transformer_no_root_no_bias", "TransformerConv", [5, 3],
         {"heads": 2, "root_weight": False, "bias": False})
    conv("gcn_default", "GCNConv", [5, 4])
    conv("gcn_edge_weight", "GCNConv", [5, 4], weight=True)
    conv("gcn_improved_weight", "GCNConv", [5, 4], {"improved": True}, weight=True)
    conv("gcn_improved_no_weight", "GCNConv", [5, 4], {"improved": True})
    conv("gcn_no_self_loops", "GCNConv", [5, 4], {"add_self_loops": False})
    conv("gcn_no_normalize_weight", "GCNConv", [5, 4], {"normalize": False, "bias": False},
         weight=True)
    conv("gcn_no_edges", "GCNConv", [5, 4], graph=empty_edges)
    if have_real:
        conv("real_gatv2_35_24_h4_e11", "GATv2Conv", [35, 24], {"heads": 4, "edge_dim": 11},
             graph=real_window, edge_dim=11)
        conv("real_gat_35_8_h2", "GATConv", [35, 8], {"heads": 2}, graph=real_window)
        conv("real_transformer_35_8_h2_e11", "TransformerConv", [35, 8],
             {"heads": 2, "edge_dim": 11}, graph=real_window, edge_dim=11)
        conv("real_gcn_35_16", "GCNConv", [35, 16], graph=real_window)
    return cases


def sage_gin_cases(have_real):
    """SAGEConv, GINConv and GINEConv (appended to the "conv" group)."""
    cases = []

    def case(name, spec_build, in_ch, graph=hand_graph, edge_dim=None, x_fn=torch.randn):
        spec, build = spec_build
        make, fwd = graph_inputs(graph, in_ch, edge_dim, x_fn=x_fn)
        cases.append(run_case(name, "module", spec, build, make, fwd))

    case("sage_default", module("SAGEConv", [5, 4]), 5)
    case("sage_sum_no_root", module("SAGEConv", [5, 4], {"aggr": "sum", "root_weight": False}), 5)
    case("sage_max_ties", module("SAGEConv", [5, 4], {"aggr": "max"}), 5, x_fn=tied_x)
    case("sage_min_ties_no_bias", module("SAGEConv", [5, 4], {"aggr": "min", "bias": False}), 5,
         x_fn=tied_x)
    case("sage_max_project", module("SAGEConv", [5, 4], {"aggr": "max", "project": True}), 5)
    case("sage_project_normalize", module("SAGEConv", [5, 3],
                                          {"project": True, "normalize": True}), 5)
    # node 6 (isolated) and node 0 (no in-edges) give exact zero rows before the normalisation
    case("sage_normalize_no_root_no_bias", module("SAGEConv", [5, 4], {
        "normalize": True, "root_weight": False, "bias": False}), 5)
    case("sage_no_edges", module("SAGEConv", [5, 4]), 5, graph=empty_edges)
    case("sage_max_no_edges", module("SAGEConv", [5, 4], {"aggr": "max"}), 5, graph=empty_edges)
    case("gin_default", gin_module("GINConv", mlp(5, 8, 4)), 5)
    case("gin_train_eps", gin_module("GINConv", mlp(5, 8, 4), {"eps": 0.3, "train_eps": True}), 5)
    case("gin_eps_buffer", gin_module("GINConv", mlp(5, 6, 3), {"eps": -0.5}), 5)
    case("gin_linear_no_edges", gin_module("GINConv", {"module": "Linear", "args": [5, 4]}), 5,
         graph=empty_edges)
    case("gine_default", gin_module("GINEConv", mlp(5, 8, 4)), 5, edge_dim=5)
    case("gine_edge_dim_train_eps", gin_module("GINEConv", mlp(5, 8, 4), {
        "edge_dim": 3, "eps": 0.1, "train_eps": True}), 5, edge_dim=3)
    case("gine_linear_edge_dim", gin_module("GINEConv", {"module": "Linear", "args": [5, 4]},
                                            {"edge_dim": 2}), 5, edge_dim=2)
    case("gine_no_edges", gin_module("GINEConv", mlp(5, 8, 4), {"edge_dim": 3}), 5,
         graph=empty_edges, edge_dim=3)
    if have_real:
        # consecutive frames of one ID are parallel edges: ties in every max
        case("real_sage_max_35_16", module("SAGEConv", [35, 16], {"aggr": "max"}), 35,
             graph=real_window)
        case("real_gine_35_16_e11", gin_module("GINEConv", mlp(35, 16, 16), {"edge_dim": 11}), 35,
             graph=real_window, edge_dim=11)
    return cases


def batch_vector():
    """Graph 0 has 4 nodes, graph 1 none, graph 2 has 5, graph 3 none (with size 4)."""
    return torch.tensor([0, 0, 0, 0, 2, 2, 2, 2, 2], dtype=torch.long)


def other_cases():
    cases = []
    r = torch.randn
    spec, build = module("GraphNorm", [6])
    cases.append(run_case("graphnorm_single", "module", spec, build,
                          lambda: [("x", r(7, 6) * 2 + 1)], ["x"]))
    cases.append(run_case("graphnorm_batch", "module", spec, build,
                          lambda: [("x", r(9, 6) * 2 + 1), ("batch", batch_vector())],
                          ["x", "batch"]))
    spec, build = module("GraphNorm", [4], {"eps": 1e-2})
    cases.append(run_case("graphnorm_batch_size_eps", "module", spec, build,
                          lambda: [("x", r(9, 4)), ("batch", batch_vector())],
                          ["x", "batch"], call={"batch_size": 4}))
    layers = lambda: [("x0", r(6, 4)), ("x1", r(6, 4)), ("x2", r(6, 4))]  # noqa: E731
    for mode in ["cat", "max"]:
        spec, build = module("JumpingKnowledge", [mode])
        cases.append(run_case("jk_" + mode, "module", spec, build, layers,
                              [["x0", "x1", "x2"]]))
    spec, build = module("JumpingKnowledge", ["lstm"], {"channels": 4, "num_layers": 3})
    cases.append(run_case("jk_lstm", "module", spec, build, layers, [["x0", "x1", "x2"]]))
    for fn in ["global_mean_pool", "global_max_pool", "global_add_pool"]:
        f = getattr(gnn, fn)
        cases.append(run_case("pool_" + fn, "function", {"fn": fn}, lambda f=f: f,
                              lambda: [("x", r(9, 5)), ("batch", batch_vector())],
                              ["x", "batch"], call={"size": 4}))
        cases.append(run_case("pool_" + fn + "_nobatch", "function", {"fn": fn},
                              lambda f=f: (lambda x: f(x, None)), lambda: [("x", r(6, 5))],
                              ["x"]))
    aggrs = [
        ("multiaggr_mean_max_sum", [["mean", "max", "sum"]], {}),
        ("multiaggr_min_std_var", [["min", "std", "var"]], {}),
        ("multiaggr_mode_sum", [["mean", "max"]], {"mode": "sum"}),
        ("multiaggr_mode_max", [["mean", "sum"]], {"mode": "max"}),
        ("multiaggr_proj", [["mean", "max", "std"]],
         {"mode": "proj", "mode_kwargs": {"in_channels": 5, "out_channels": 3}}),
    ]
    for name, args, kwargs in aggrs:
        spec, build = module("MultiAggregation", args, kwargs)
        cases.append(run_case(name, "module", spec, build,
                              lambda: [("x", r(9, 5)), ("batch", batch_vector())],
                              ["x", "batch"], call={"dim_size": 4}))
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    have_real = real_window() is not None
    if not have_real:
        print("note: " + DATA + " is absent: the real-window cases are left out")
    index = {"generator": "tools/make_gnn_fixtures.py",
             "conv": conv_cases(have_real) + sage_gin_cases(have_real),
             "other": other_cases()}
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d fixtures to %s" % (len(index["conv"]) + len(index["other"]), OUT))


if __name__ == "__main__":
    main()
