"""make_fixtures.py -- PyTorch reference fixtures for graphids.nn, its losses and graphids.optim.

Run by hand (not by CI) with the peer virtual environment, from the repository root:

    py=$(tools/peer-venv.sh) && "$py" -m pip install -q safetensors && "$py" tools/make_fixtures.py

It rewrites spec/fixtures/*.safetensors and spec/fixtures/index.json; commit them.  The specs
spec/nn/fixtures_spec.lua and spec/optim/fixtures_spec.lua read them through
spec/support/safetensors.lua.

One small safetensors file per case, all f32 (integer targets i64).  Tensor names:
  param.<name>          the module's state_dict before the forward (torch names; buffers included)
  arg.<name>            tensor-valued constructor or loss options (class weights, pos_weight)
  input.<name>          the forward's (or loss's) arguments
  output.<name>         what the forward returned
  cotangent.<name>      w for each output; backward runs from sum over outputs of sum(output * w)
  grad.input.<name>     gradient of each float input
  grad.param.<name>     gradient of each parameter
  state.<name>          the state_dict after forward and backward (BatchNorm in training mode)
  step.<k>.<name>       optimizer cases: the parameters after step k (1..20)
__metadata__["case"] (the only key) is JSON describing how the case was built (torch's own names and 0-based
dims; the spec translates): kind "module" | "loss" | "optim", the constructor ("module", "args",
"kwargs", "children" for Sequential), "mode" (train | eval), "forward" (input names in call
order; a nested list is a tuple argument), "outputs" (names, nested as the result is), and for
losses "loss" (functional name) and "kwargs" where {"tensor": "arg.x"} stands for a stored tensor.
"""
import json
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spec", "fixtures")
STEPS = 20


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def build_module(spec):
    if spec["module"] == "Sequential":
        return nn.Sequential(*[build_module(c) for c in spec["children"]])
    return getattr(nn, spec["module"])(*spec.get("args", []), **spec.get("kwargs", {}))


def flatten(struct, value, out):
    """Pairs each name of a (nested) name list with the matching (nested) tuple element."""
    if isinstance(struct, list):
        assert isinstance(value, (tuple, list)) and len(value) == len(struct), (struct, value)
        for s, v in zip(struct, value):
            flatten(s, v, out)
    else:
        out.append((struct, value))


def call_args(struct, inputs):
    return [tuple(call_args(s, inputs)) if isinstance(s, list) else inputs[s] for s in struct]


def write(name, tensors, case):
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    # One metadata key: safetensors writes several in a random order, and the files should be
    # byte-identical from run to run.
    case = dict(case, name=name, generator="tools/make_fixtures.py", torch=torch.__version__)
    meta = {"case": json.dumps(case, sort_keys=True)}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=meta)


def backward_weighted(outs, tensors):
    """backward of sum(out * w) over every float output, w fixed; stores w as cotangent.*"""
    total = 0
    for oname, o in outs:
        tensors["output." + oname] = o
        w = torch.randn(o.shape)
        tensors["cotangent." + oname] = w
        total = total + (o * w).sum()
    total.backward()


# ------------------------------------------------------------------------------------ modules
def module_case(name, spec, inputs, forward, outputs, mode="train", init=None):
    """inputs: ordered list of (name, tensor); float inputs get requires_grad."""
    seed_for(name)
    m = build_module(spec)
    if init is not None:
        with torch.no_grad():
            init(m)
    m.train(mode == "train")
    tensors = {"param." + k: v.clone() for k, v in m.state_dict().items()}
    ins = {}
    for iname, t in inputs():
        t = t.clone()
        if t.is_floating_point():
            t.requires_grad_(True)
        ins[iname] = t
        tensors["input." + iname] = t
    res = m(*call_args(forward, ins))
    outs = []
    flatten(outputs if len(outputs) > 1 else outputs[0], res, outs)
    backward_weighted(outs, tensors)
    for iname, t in ins.items():
        if t.requires_grad:
            tensors["grad.input." + iname] = t.grad
    for pname, p in m.named_parameters():
        tensors["grad.param." + pname] = p.grad
    if mode == "train" and any(True for _ in m.buffers()):
        for k, v in m.state_dict().items():
            tensors["state." + k] = v
    case = {"kind": "module", "mode": mode, "forward": forward, "outputs": outputs,
            "params": [k for k, _ in m.named_parameters()], **spec}
    write(name, tensors, case)
    return name


def randomize_affine(m):
    for p in m.parameters():
        p.copy_(torch.randn(p.shape) * 0.5 + (1.0 if p.dim() and p is m.weight else 0.0))


def bn_eval_state(m):
    randomize_affine(m)
    m.running_mean.copy_(torch.randn(m.num_features))
    m.running_var.copy_(torch.rand(m.num_features) + 0.5)
    m.num_batches_tracked.fill_(7)


def modules():
    r = torch.randn
    cases = []
    add = cases.append
    add(module_case("nn_linear", {"module": "Linear", "args": [5, 3]},
                    lambda: [("x", r(4, 5))], ["x"], ["y"]))
    add(module_case("nn_linear_nobias_3d", {"module": "Linear", "args": [5, 3],
                                            "kwargs": {"bias": False}},
                    lambda: [("x", r(2, 3, 5))], ["x"], ["y"]))
    add(module_case("nn_embedding", {"module": "Embedding", "args": [10, 4]},
                    lambda: [("x", torch.tensor([[1, 2, 4, 5], [4, 3, 2, 9], [0, 0, 7, 1]]))],
                    ["x"], ["y"]))
    add(module_case("nn_embedding_padding", {"module": "Embedding", "args": [6, 3],
                                             "kwargs": {"padding_idx": 0}},
                    lambda: [("x", torch.tensor([0, 2, 0, 5, 1, 2]))], ["x"], ["y"]))
    add(module_case("nn_layernorm", {"module": "LayerNorm", "args": [6]},
                    lambda: [("x", r(4, 6) * 2 + 1)], ["x"], ["y"], init=randomize_affine))
    add(module_case("nn_layernorm_2d_eps", {"module": "LayerNorm", "args": [[3, 4]],
                                            "kwargs": {"eps": 1e-3}},
                    lambda: [("x", r(2, 3, 4))], ["x"], ["y"], init=randomize_affine))
    add(module_case("nn_batchnorm1d_train", {"module": "BatchNorm1d", "args": [5]},
                    lambda: [("x", r(8, 5) * 3 - 1)], ["x"], ["y"], init=randomize_affine))
    add(module_case("nn_batchnorm1d_train_3d", {"module": "BatchNorm1d", "args": [4],
                                                "kwargs": {"eps": 1e-4, "momentum": 0.2}},
                    lambda: [("x", r(3, 4, 5))], ["x"], ["y"], init=randomize_affine))
    add(module_case("nn_batchnorm1d_eval", {"module": "BatchNorm1d", "args": [5]},
                    lambda: [("x", r(8, 5))], ["x"], ["y"], mode="eval", init=bn_eval_state))
    add(module_case("nn_dropout_eval", {"module": "Dropout", "kwargs": {"p": 0.5}},
                    lambda: [("x", r(4, 6))], ["x"], ["y"], mode="eval"))
    acts = [
        ("relu", "ReLU", {}), ("leaky_relu", "LeakyReLU", {"negative_slope": 0.1}),
        ("elu", "ELU", {"alpha": 0.5}), ("gelu", "GELU", {}),
        ("gelu_tanh", "GELU", {"approximate": "tanh"}), ("silu", "SiLU", {}),
        ("sigmoid", "Sigmoid", {}), ("tanh", "Tanh", {}),
        ("softplus", "Softplus", {"beta": 2.0, "threshold": 5.0}),
        ("softmax", "Softmax", {"dim": 1}), ("log_softmax", "LogSoftmax", {"dim": -1}),
    ]
    for short, cls, kw in acts:
        add(module_case("nn_act_" + short, {"module": cls, "kwargs": kw},
                        lambda: [("x", r(3, 4, 5) * 2)], ["x"], ["y"]))
    lstm = {"module": "LSTM", "args": [4, 6],
            "kwargs": {"num_layers": 2, "bidirectional": True, "batch_first": True}}
    add(module_case("nn_lstm_2layer_bi_batchfirst", lstm, lambda: [("x", r(3, 5, 4))],
                    ["x"], ["output", ["h_n", "c_n"]]))
    add(module_case("nn_lstm_2layer_bi_h0", lstm,
                    lambda: [("x", r(3, 5, 4)), ("h0", r(4, 3, 6)), ("c0", r(4, 3, 6))],
                    ["x", ["h0", "c0"]], ["output", ["h_n", "c_n"]]))
    add(module_case("nn_lstm_1layer", {"module": "LSTM", "args": [3, 5]},
                    lambda: [("x", r(4, 2, 3))], ["x"], ["output", ["h_n", "c_n"]]))
    gru = {"module": "GRU", "args": [4, 6],
           "kwargs": {"num_layers": 2, "bidirectional": True, "batch_first": True}}
    add(module_case("nn_gru_2layer_bi_batchfirst", gru, lambda: [("x", r(3, 5, 4))],
                    ["x"], ["output", "h_n"]))
    add(module_case("nn_gru_1layer_h0", {"module": "GRU", "args": [3, 5]},
                    lambda: [("x", r(4, 2, 3)), ("h0", r(1, 2, 5))], ["x", "h0"],
                    ["output", "h_n"]))
    mlp = {"module": "Sequential", "children": [
        {"module": "Linear", "args": [6, 8]}, {"module": "ReLU"},
        {"module": "Linear", "args": [8, 8]}, {"module": "Tanh"},
        {"module": "Linear", "args": [8, 3]}]}
    add(module_case("nn_sequential_mlp", mlp, lambda: [("x", r(5, 6))], ["x"], ["y"]))
    return cases


# ------------------------------------------------------------------------------------- losses
def focal_loss(input, target, gamma=2.0):
    """../shared/reference/upstream-graphids.md 3.5: mean((1 - p_t)^gamma * CE)."""
    ce = F.cross_entropy(input, target, reduction="none")
    pt = torch.exp(-ce)
    return ((1 - pt) ** gamma * ce).mean()


LOSSES = {
    "cross_entropy": F.cross_entropy, "nll_loss": F.nll_loss, "focal_loss": focal_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "mse_loss": F.mse_loss, "l1_loss": F.l1_loss, "smooth_l1_loss": F.smooth_l1_loss,
    "huber_loss": F.huber_loss, "kl_div": F.kl_div,
}


def loss_case(name, loss, inputs, kwargs=None, args=None, grad_target=False):
    """inputs() -> [("input", t), ("target", t)]; args: tensor-valued options by name."""
    seed_for(name)
    kwargs = dict(kwargs or {})
    tensors, call_kw = {}, dict(kwargs)
    for aname, t in (args or (lambda: []))():
        tensors["arg." + aname] = t
        kwargs[aname] = {"tensor": "arg." + aname}
        call_kw[aname] = t
    ins = []
    for iname, t in inputs():
        t = t.clone()
        if t.is_floating_point() and (iname == "input" or grad_target):
            t.requires_grad_(True)
        tensors["input." + iname] = t
        ins.append((iname, t))
    out = LOSSES[loss](*[t for _, t in ins], **call_kw)
    backward_weighted([("loss", out)], tensors)
    for iname, t in ins:
        if t.requires_grad:
            tensors["grad.input." + iname] = t.grad
    case = {"kind": "loss", "loss": loss, "kwargs": kwargs, "forward": [n for n, _ in ins],
            "outputs": ["loss"]}
    write(name, tensors, case)
    return name


def losses():
    r = torch.randn
    N, C = 6, 4

    def logits_and(target):
        return lambda: [("input", r(N, C) * 2), ("target", target)]

    cls = torch.tensor([0, 3, 1, 1, 2, 3])
    ign = torch.tensor([0, -100, 1, 3, -100, 2])
    ign1 = torch.tensor([0, 1, 1, 3, 2, 1])
    weight = lambda: [("weight", torch.tensor([0.5, 2.0, 1.0, 1.5]))]  # noqa: E731
    cases = []
    add = cases.append
    add(loss_case("loss_cross_entropy", "cross_entropy", logits_and(cls)))
    add(loss_case("loss_cross_entropy_weight", "cross_entropy", logits_and(cls), args=weight))
    add(loss_case("loss_cross_entropy_ignore_index", "cross_entropy", logits_and(ign)))
    add(loss_case("loss_cross_entropy_ignore_index_1_weight", "cross_entropy", logits_and(ign1),
                  {"ignore_index": 1}, weight))
    add(loss_case("loss_cross_entropy_label_smoothing", "cross_entropy", logits_and(cls),
                  {"label_smoothing": 0.1}))
    add(loss_case("loss_cross_entropy_all_options", "cross_entropy", logits_and(ign),
                  {"label_smoothing": 0.2}, weight))
    add(loss_case("loss_cross_entropy_all_options_sum", "cross_entropy", logits_and(ign),
                  {"label_smoothing": 0.2, "reduction": "sum"}, weight))
    add(loss_case("loss_cross_entropy_none", "cross_entropy", logits_and(ign),
                  {"reduction": "none", "label_smoothing": 0.1}, weight))
    add(loss_case("loss_nll", "nll_loss",
                  lambda: [("input", F.log_softmax(r(N, C), 1)), ("target", cls)]))
    add(loss_case("loss_nll_weight_ignore_index", "nll_loss",
                  lambda: [("input", F.log_softmax(r(N, C), 1)), ("target", ign)], {}, weight))
    add(loss_case("loss_focal_gamma2", "focal_loss", logits_and(cls), {"gamma": 2.0}))
    add(loss_case("loss_focal_gamma0", "focal_loss", logits_and(cls), {"gamma": 0.0}))
    add(loss_case("loss_bce", "binary_cross_entropy",
                  lambda: [("input", torch.sigmoid(r(N, 3))), ("target", torch.rand(N, 3))]))
    add(loss_case("loss_bce_weight_sum", "binary_cross_entropy",
                  lambda: [("input", torch.sigmoid(r(N, 3))),
                           ("target", torch.randint(0, 2, (N, 3)).float())],
                  {"reduction": "sum"}, lambda: [("weight", torch.rand(N, 3) + 0.5)]))
    add(loss_case("loss_bce_with_logits", "binary_cross_entropy_with_logits",
                  lambda: [("input", r(N, 3) * 3), ("target", torch.rand(N, 3))]))
    add(loss_case("loss_bce_with_logits_pos_weight", "binary_cross_entropy_with_logits",
                  lambda: [("input", r(N, 3) * 3),
                           ("target", torch.randint(0, 2, (N, 3)).float())],
                  {}, lambda: [("pos_weight", torch.tensor([0.5, 2.0, 4.0])),
                               ("weight", torch.tensor([1.0, 0.25, 2.0]))]))
    add(loss_case("loss_bce_with_logits_pos_weight_none", "binary_cross_entropy_with_logits",
                  lambda: [("input", r(N, 3) * 3), ("target", torch.rand(N, 3))],
                  {"reduction": "none"}, lambda: [("pos_weight", torch.tensor([3.0, 1.0, 0.2]))]))
    reg = lambda: [("input", r(N, 3)), ("target", r(N, 3))]  # noqa: E731
    add(loss_case("loss_mse", "mse_loss", reg, grad_target=True))
    add(loss_case("loss_mse_sum", "mse_loss", reg, {"reduction": "sum"}, grad_target=True))
    add(loss_case("loss_mse_none", "mse_loss", reg, {"reduction": "none"}, grad_target=True))
    add(loss_case("loss_l1", "l1_loss", reg, grad_target=True))
    add(loss_case("loss_l1_none", "l1_loss", reg, {"reduction": "none"}, grad_target=True))
    add(loss_case("loss_smooth_l1", "smooth_l1_loss", reg, grad_target=True))
    add(loss_case("loss_smooth_l1_beta_sum", "smooth_l1_loss", reg,
                  {"beta": 0.5, "reduction": "sum"}, grad_target=True))
    add(loss_case("loss_huber", "huber_loss", lambda: [("input", r(N, 3) * 3),
                                                       ("target", r(N, 3))], grad_target=True))
    add(loss_case("loss_huber_delta_none", "huber_loss",
                  lambda: [("input", r(N, 3) * 3), ("target", r(N, 3))],
                  {"delta": 2.0, "reduction": "none"}, grad_target=True))
    kl = lambda: [("input", F.log_softmax(r(N, C), 1)), ("target", F.softmax(r(N, C), 1))]  # noqa
    add(loss_case("loss_kl_div_batchmean", "kl_div", kl, {"reduction": "batchmean"},
                  grad_target=True))
    add(loss_case("loss_kl_div_sum", "kl_div", kl, {"reduction": "sum"}, grad_target=True))
    add(loss_case("loss_kl_div_batchmean_log_target", "kl_div",
                  lambda: [("input", F.log_softmax(r(N, C), 1)),
                           ("target", F.log_softmax(r(N, C), 1))],
                  {"reduction": "batchmean", "log_target": True}, grad_target=True))
    return cases


# --------------------------------------------------------------------------------- optimizers
OPT_MODEL = {"module": "Sequential", "children": [
    {"module": "Linear", "args": [4, 8]}, {"module": "Tanh"},
    {"module": "Linear", "args": [8, 3]}]}


def optim_case(name, opt, kwargs):
    seed_for(name)
    model = build_module(OPT_MODEL)
    x, y = torch.randn(16, 4), torch.randn(16, 3)
    tensors = {"param." + k: v.clone() for k, v in model.state_dict().items()}
    tensors["input.x"], tensors["input.y"] = x, y
    ctor_kw = dict(kwargs)
    if "betas" in ctor_kw:
        ctor_kw["betas"] = tuple(ctor_kw["betas"])
    o = getattr(torch.optim, opt)(model.parameters(), foreach=False, **ctor_kw)
    names = [k for k, _ in model.named_parameters()]
    loss_hist = []
    for k in range(1, STEPS + 1):
        o.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        o.step()
        loss_hist.append(loss.item())
        for n, p in model.named_parameters():
            tensors[f"step.{k}.{n}"] = p.detach().clone()
    tensors["output.loss"] = torch.tensor(loss_hist)
    assert loss_hist[-1] < loss_hist[0], (name, loss_hist)
    case = {"kind": "optim", "optimizer": opt, "kwargs": kwargs, "model": OPT_MODEL,
            "loss": "mse_loss", "steps": STEPS, "params": names}
    write(name, tensors, case)
    return name


def optims():
    return [
        optim_case("optim_sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
        optim_case("optim_sgd_nesterov_wd", "SGD",
                   {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
        optim_case("optim_sgd_dampening_wd", "SGD",
                   {"lr": 0.1, "momentum": 0.5, "dampening": 0.1, "weight_decay": 0.01}),
        optim_case("optim_sgd_plain", "SGD", {"lr": 0.2}),
        optim_case("optim_adam", "Adam", {"lr": 1e-2}),
        optim_case("optim_adam_wd_betas", "Adam",
                   {"lr": 1e-2, "weight_decay": 1e-2, "betas": [0.8, 0.99]}),
        optim_case("optim_adam_amsgrad", "Adam", {"lr": 1e-2, "amsgrad": True}),
        optim_case("optim_adamw", "AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
        optim_case("optim_adamw_amsgrad_eps", "AdamW",
                   {"lr": 1e-2, "weight_decay": 0.05, "amsgrad": True, "eps": 1e-6}),
        optim_case("optim_rmsprop", "RMSprop", {"lr": 1e-2}),
        optim_case("optim_rmsprop_centered_momentum_wd", "RMSprop",
                   {"lr": 1e-3, "alpha": 0.9, "eps": 1e-6, "weight_decay": 1e-2, "momentum": 0.9,
                    "centered": True}),
        optim_case("optim_adagrad", "Adagrad", {"lr": 5e-2}),
        optim_case("optim_adagrad_lr_decay_acc_wd", "Adagrad",
                   {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1,
                    "weight_decay": 1e-2, "eps": 1e-8}),
    ]


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    index = {"generator": "tools/make_fixtures.py", "torch": torch.__version__,
             "nn": modules(), "loss": losses(), "optim": optims()}
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")
    n = sum(len(index[k]) for k in ("nn", "loss", "optim"))
    size = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {n} fixtures to {os.path.relpath(OUT)} ({size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
