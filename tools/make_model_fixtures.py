"""make_model_fixtures.py -- PyTorch Geometric reference fixtures for graphids.models.

Run by hand (not by CI) with the peer virtual environment, from the repository root:

    py=$(tools/peer-venv.sh) && "$py" tools/make_model_fixtures.py

It rewrites spec/fixtures/models/*.safetensors and spec/fixtures/models/index.json; commit them.
spec/models/fixtures_spec.lua reads them.

The models are written here in PyG from the reference's description (upstream-graphids.md §3:
GATWithJK, GraphAutoencoderNeighborhood, GraphInfomaxModel and their InputEncoder/IdEncoders),
with the state_dict names the reference uses, so graphids loads the weights unchanged.  Sizes are
reduced; dropout is 0 so training-mode forwards are deterministic, and every random draw of a
training step (feature mask, reparameterisation noise, negative ids, corruption permutation) is
made here and stored, then passed to graphids in the step context.

Where graphids departs from the reference on purpose, the fixture follows graphids and says so:
VGAE scores and features are computed with z = mu in eval mode (the reference samples z there).

One file per case, f32 (index data i64).  Tensor names:
  param.<name>        the model's state_dict (persistent buffers included)
  input.<name>        the batch: x, edge_index, edge_attr, node_id, batch, y
  draw.<name>         the training step's draws (mask, eps, neg_ids, perm)
  output.<name>       forward outputs, losses, eval scores and fusion features
  grad.param.<name>   gradient of the training loss for each parameter
__metadata__["case"]: JSON {name, class_path, hparams, num_graphs, params (named_parameters
order), num_parameters, outputs}.
"""
import json
import math
import os
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torch_geometric.nn import (GATConv, GATv2Conv, GraphNorm, JumpingKnowledge,
                                TransformerConv, global_mean_pool)
from torch_geometric.nn.aggr import MultiAggregation
from torch_geometric.utils import scatter

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spec", "fixtures", "models")
KNUTH = 2654435761
EDGE_TYPES = ("gatv2", "transformer")


# ----------------------------------------------------------------------------- id encoders
class LookupIdEncoder(nn.Module):
    def __init__(self, num_ids, dim):
        super().__init__()
        self.embedding = nn.Embedding(num_ids, dim)
        self.out_dim = dim

    def forward(self, ids):
        return self.embedding(ids)


class HashIdEncoder(nn.Module):
    def __init__(self, num_buckets, dim, k=2, seed=42):
        super().__init__()
        self.embedding = nn.Embedding(num_buckets, dim)
        self.out_dim, self.num_buckets = dim, num_buckets
        self.register_buffer("_hash_offsets",
                             torch.tensor([seed + i * (1 << 30) for i in range(k)]))

    def forward(self, ids):
        b = (ids.unsqueeze(-1) * KNUTH + self._hash_offsets).remainder(self.num_buckets)
        return self.embedding(b).sum(-2)


def id_encoder(hp):
    kw = hp.get("id_encoder_kwargs", {})
    if hp.get("id_encoder_class_path", "").endswith("HashIdEncoder"):
        target = max(8, kw.get("num_buckets_factor", 4) * max(1, hp["num_ids"]))
        nb = kw.get("num_buckets") or 1 << (target - 1).bit_length()
        return HashIdEncoder(nb, hp["embedding_dim"], kw.get("k", 2), kw.get("seed", 42))
    return LookupIdEncoder(hp["num_ids"], hp["embedding_dim"])


class InputEncoder(nn.Module):
    def __init__(self, enc, in_channels, proj_dim):
        super().__init__()
        self.id_encoder = enc
        self.feat_proj = nn.Linear(in_channels, proj_dim) if proj_dim > 0 else None
        self.out_dim = enc.out_dim + (proj_dim if proj_dim > 0 else in_channels)

    def forward(self, x, ids):
        e = self.id_encoder(ids)
        if self.feat_proj is not None:
            x = self.feat_proj(x)
        return torch.cat([e, x], 1)


def make_conv(kind, i, o, heads, edge_dim):
    if kind == "transformer":
        return TransformerConv(i, o, heads=heads, edge_dim=edge_dim, concat=True)
    if kind == "gatv2":
        return GATv2Conv(i, o, heads=heads, edge_dim=edge_dim, concat=True)
    return GATConv(i, o, heads=heads, concat=True)


def conv_call(conv, x, ei, ea):
    return conv(x, ei, ea) if ea is not None else conv(x, ei)


# ----------------------------------------------------------------------------- GAT
class GATWithJK(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.input_encoder = InputEncoder(id_encoder(hp), hp["in_channels"], hp["proj_dim"])
        self.edge = hp["conv_type"] in EDGE_TYPES
        ed = hp["edge_dim"] if self.edge else None
        w = hp["hidden"] * hp["heads"]
        self.convs = nn.ModuleList(
            [make_conv(hp["conv_type"], self.input_encoder.out_dim if i == 0 else w, hp["hidden"],
                       hp["heads"], ed) for i in range(hp["num_layers"])])
        mode = hp.get("jk_mode", "lstm")
        if mode == "lstm":
            self.jk = JumpingKnowledge(mode="lstm", channels=w, num_layers=hp["num_layers"])
        else:
            self.jk = JumpingKnowledge(mode=mode)
        aggrs = hp["pool_aggrs"]
        self.pool = MultiAggregation(list(aggrs)) if len(aggrs) > 1 else None
        d = (w * hp["num_layers"] if mode == "cat" else w) * len(aggrs)
        fc = []
        for _ in range(hp["fc_layers"] - 1):
            fc += [nn.Linear(d, d), nn.ReLU(), nn.Dropout(hp["dropout"])]
        fc.append(nn.Linear(d, hp["num_classes"]))
        self.fc_layers = nn.ModuleList(fc)

    def forward(self, b):
        x = self.input_encoder(b["x"], b["node_id"])
        ea = b["edge_attr"] if self.edge else None
        xs = []
        for conv in self.convs:
            x = conv_call(conv, x, b["edge_index"], ea).relu()
            xs.append(x)
        x = self.jk(xs)
        n = b["num_graphs"]
        emb = self.pool(x, b["batch"], dim_size=n) if self.pool is not None else \
            global_mean_pool(x, b["batch"], n)
        x = emb
        for layer in self.fc_layers:
            x = layer(x)
        return x, emb


def gat_features(logits, emb):
    p = logits.softmax(1)
    ent = -(p * (p + 1e-8).log()).sum(1)
    conf = (1 - ent / math.log(2)).clamp(0, 1)
    return torch.stack([p[:, 0], p[:, 1], emb.mean(1), emb.std(1), emb.amax(1), emb.amin(1),
                        conf], 1)


# ----------------------------------------------------------------------------- VGAE / DGI
def encoder_targets(hp):
    t = list(hp["hidden_dims"])
    if len(t) >= 2 and t[-1] == hp["latent_dim"]:
        t = t[:-1]
    return t


def conv_stack(kind, in_dim, targets, ed, heads_first):
    convs, norms = nn.ModuleList(), nn.ModuleList()
    for i, t in enumerate(targets):
        h = heads_first if i == 0 else 1
        if h > 1 and t % h == 0:
            per = t // h
        else:
            h, per = 1, t
        convs.append(make_conv(kind, in_dim, per, h, ed))
        norms.append(GraphNorm(per * h))
        in_dim = per * h
    return convs, norms, in_dim


class Encoder(nn.Module):
    """The encoder half shared by VGAE and DGI (InputEncoder, convs, GraphNorms)."""

    def build_encoder(self, hp):
        self.input_encoder = InputEncoder(id_encoder(hp), hp["in_channels"], hp["proj_dim"])
        self.edge = hp["conv_type"] in EDGE_TYPES
        self.ed = hp["edge_dim"] if self.edge else None
        self.encoder_layers, self.encoder_bns, last = conv_stack(
            hp["conv_type"], self.input_encoder.out_dim, encoder_targets(hp), self.ed, hp["heads"])
        return last

    def encode_layers(self, x, b):
        h = self.input_encoder(x, b["node_id"])
        ea = b["edge_attr"] if self.edge else None
        for conv, bn in zip(self.encoder_layers, self.encoder_bns):
            h = bn(conv_call(conv, h, b["edge_index"], ea), b["batch"], b["num_graphs"]).relu()
        return h


class VGAE(Encoder):
    def __init__(self, hp):
        super().__init__()
        self.hp = hp
        last = self.build_encoder(hp)
        lat = hp["latent_dim"]
        self.variational = hp.get("variational", True)
        self.z_mean = nn.Linear(last, lat)
        if self.variational:
            self.z_logvar = nn.Linear(last, lat)
        dec = list(reversed(encoder_targets(hp)))
        dec[-1] = hp["in_channels"]
        self.decoder_layers, bns, _ = conv_stack(hp["conv_type"], lat, dec, self.ed,
                                                 hp["decoder_heads"])
        self.decoder_bns = bns[:-1]
        self.canid_classifier = nn.Linear(lat, hp["num_ids"])
        self.neighborhood_decoder = nn.Sequential(
            nn.Linear(lat, lat), nn.ReLU(), nn.Dropout(0.0), nn.Linear(lat, lat), nn.ReLU(),
            nn.Dropout(0.0), nn.Linear(lat, hp["num_ids"]))

    def forward(self, b, mask=None, eps=None):
        x = b["x"]
        if mask is not None:
            x = x.masked_fill(mask, 0.0)
        h = self.encode_layers(x, b)
        mu = self.z_mean(h)
        if self.variational:
            logvar = self.z_logvar(h).clamp(-10, 10)
            kl = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
            z = mu + eps * torch.exp(0.5 * logvar) if eps is not None else mu
        else:  # the GAE arm: z = mu, no KL
            kl, z = mu.new_zeros(()), mu
        ea = b["edge_attr"] if self.edge else None
        y = z
        n = len(self.decoder_layers)
        for i, conv in enumerate(self.decoder_layers):
            y = conv_call(conv, y, b["edge_index"], ea)
            if i < n - 1:
                y = self.decoder_bns[i](y, b["batch"], b["num_graphs"]).relu()
            else:
                y = torch.sigmoid(y)
        return y, self.canid_classifier(z), self.neighborhood_decoder(z), z, kl


def nbr_negsampled(logits, node_id, edge_index, num_ids, neg_ids):
    src, dst = edge_index
    dst_ids = node_id[dst]
    pos = -F.logsigmoid(logits[src, dst_ids]).mean()
    pos_keys = src * num_ids + dst_ids
    neg_keys = (torch.arange(logits.size(0)).unsqueeze(1) * num_ids + neg_ids).reshape(-1)
    neg = logits.gather(1, neg_ids).reshape(-1)[~torch.isin(neg_keys, pos_keys)]
    return pos + (-F.logsigmoid(-neg).mean() if neg.numel() > 0 else 0.0)


def vgae_loss(hp, out, b, mask, neg_ids):
    cont, canid_logits, nbr_logits, _, kl = out
    recon = (cont - b["x"]).pow(2)[mask].mean()
    canid = F.cross_entropy(canid_logits, b["node_id"])
    nbr = nbr_negsampled(nbr_logits, b["node_id"], b["edge_index"], hp["num_ids"], neg_ids)
    total = recon + hp["canid_weight"] * canid + hp["nbr_weight"] * nbr + hp["kl_weight"] * kl
    return total, {"recon": recon, "canid": canid, "nbr": nbr, "kl": kl}


def vgae_node_errors(model, b):
    cont, canid_logits, nbr_logits, z, _ = model(b)
    mse = (cont - b["x"]).pow(2).mean(1)
    ce = F.cross_entropy(canid_logits, b["node_id"], reduction="none")
    t = torch.zeros(b["x"].size(0), model.hp["num_ids"])
    src, dst = b["edge_index"]
    t[src, b["node_id"][dst]] = 1.0
    bce = F.binary_cross_entropy_with_logits(nbr_logits, t, reduction="none").mean(1)
    return mse, ce, bce, z


class DGI(Encoder):
    def __init__(self, hp):
        super().__init__()
        last = self.build_encoder(hp)
        self.z_proj = nn.Linear(last, hp["latent_dim"])
        self.discriminator_weight = nn.Parameter(torch.empty(hp["latent_dim"], hp["latent_dim"]))
        nn.init.xavier_uniform_(self.discriminator_weight)

    def encode(self, x, b):
        return self.z_proj(self.encode_layers(x, b))

    def discriminate(self, z, s, b):
        return torch.sigmoid((z @ self.discriminator_weight * s[b["batch"]]).sum(1))


def dgi_loss(model, b, perm):
    pos = model.encode(b["x"], b)
    neg = model.encode(b["x"][perm], b)
    s = torch.sigmoid(global_mean_pool(pos, b["batch"], b["num_graphs"]))
    p, q = model.discriminate(pos, s, b), model.discriminate(neg, s, b)
    return -torch.log(p + 1e-6).mean() - torch.log(1 - q + 1e-6).mean(), pos, neg, s


# ----------------------------------------------------------------------------- graphs
def graphs(num_ids, gen):
    """Hand-made graphs: parallel edges, self-loops, isolated nodes, a 1-node graph."""
    specs = [
        (5, [[0, 1], [0, 1], [1, 2], [2, 2], [3, 0], [2, 3]]),          # node 4 isolated
        (3, [[0, 1], [1, 2], [2, 0], [1, 1]]),
        (4, [[0, 1], [1, 0], [0, 1], [3, 3]]),                          # node 2 isolated
        (1, [[0, 0]]),
    ]
    xs, eis, eas, ids, batch, y = [], [], [], [], [], []
    off = 0
    for g, (n, edges) in enumerate(specs):
        xs.append(torch.rand(n, 35, generator=gen))
        e = torch.tensor(edges, dtype=torch.long).t() + off
        eis.append(e)
        eas.append(torch.randn(e.size(1), 11, generator=gen))
        ids.append(torch.randint(0, num_ids, (n,), generator=gen))
        batch.append(torch.full((n,), g, dtype=torch.long))
        y.append(g % 2)
        off += n
    ids[0][0] = 0  # an UNK node
    return {"x": torch.cat(xs), "edge_index": torch.cat(eis, 1), "edge_attr": torch.cat(eas),
            "node_id": torch.cat(ids), "batch": torch.cat(batch),
            "y": torch.tensor(y, dtype=torch.long), "num_graphs": len(specs)}


# ----------------------------------------------------------------------------- cases
def perturb(model, gen):
    """Moves every parameter off its initial value (GraphNorm's ones/zeros included)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)


def write(name, class_path, hp, model, b, tensors, outputs):
    tensors = dict(tensors)
    for k, v in model.state_dict().items():
        tensors["param." + k] = v
    for k in ("x", "edge_index", "edge_attr", "node_id", "batch", "y"):
        tensors["input." + k] = b[k]
    for k, v in outputs.items():
        tensors["output." + k] = v.reshape(v.shape) if v.dim() else v.reshape(())
    for k, p in model.named_parameters():
        tensors["grad.param." + k] = p.grad
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    case = {"name": name, "class_path": class_path, "hparams": hp,
            "num_graphs": b["num_graphs"], "params": [k for k, _ in model.named_parameters()],
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "outputs": sorted(outputs), "generator": "tools/make_model_fixtures.py",
            "torch": torch.__version__}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"),
              metadata={"case": json.dumps(case, sort_keys=True)})
    return name


def gat_case(name, **over):
    hp = {"num_ids": 12, "in_channels": 35, "num_classes": 2, "conv_type": "gatv2", "hidden": 6,
          "num_layers": 2, "heads": 2, "embedding_dim": 4, "proj_dim": 8, "fc_layers": 2,
          "dropout": 0.0, "edge_dim": 11, "pool_aggrs": ["mean"]}
    hp.update(over)
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    torch.manual_seed(zlib.crc32(name.encode()))
    model = GATWithJK(hp)
    perturb(model, gen)
    b = graphs(hp["num_ids"], gen)
    model.train()
    logits, emb = model(b)
    loss = F.cross_entropy(logits, b["y"])
    loss.backward()
    model.eval()
    with torch.no_grad():
        lg, em = model(b)
        feats = gat_features(lg, em)
        scores = 1 - lg.softmax(1)[:, 0]
    return write(name, "graphids.models.GATClassifier", hp, model, b, {},
                 {"logits": logits, "embedding": emb, "loss": loss, "features": feats,
                  "scores": scores})


def vgae_case(name, **over):
    hp = {"num_ids": 12, "in_channels": 35, "conv_type": "gatv2", "hidden_dims": [16, 8, 4],
          "latent_dim": 4, "heads": 2, "decoder_heads": 4, "embedding_dim": 4, "proj_dim": 8,
          "dropout": 0.0, "edge_dim": 11, "mask_ratio": 0.3, "k_neg": 5, "canid_weight": 0.1,
          "nbr_weight": 0.05, "kl_weight": 0.01}
    hp.update(over)
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    torch.manual_seed(zlib.crc32(name.encode()))
    model = VGAE(hp)
    perturb(model, gen)
    b = graphs(hp["num_ids"], gen)
    n = b["x"].size(0)
    mask = torch.rand(n, 35, generator=gen) < hp["mask_ratio"]
    eps = torch.randn(n, hp["latent_dim"], generator=gen)
    neg_ids = torch.randint(0, hp["num_ids"], (n, hp["k_neg"]), generator=gen)
    model.train()
    out = model(b, mask, eps)
    total, parts = vgae_loss(hp, out, b, mask, neg_ids)
    total.backward()
    with torch.no_grad():
        mse, ce, bce, z = vgae_node_errors(model, b)
        bb, g = b["batch"], b["num_graphs"]
        scores = scatter(mse, bb, 0, dim_size=g, reduce="max") + hp["canid_weight"] * scatter(
            ce, bb, 0, dim_size=g, reduce="max") + hp["nbr_weight"] * scatter(
            bce, bb, 0, dim_size=g, reduce="max")
        recon = scatter(mse, bb, 0, dim_size=g, reduce="mean")
        feats = torch.stack([recon, scatter(bce, bb, 0, dim_size=g, reduce="mean"),
                             scatter(ce, bb, 0, dim_size=g, reduce="mean"),
                             scatter(z.mean(1), bb, 0, dim_size=g, reduce="mean"),
                             scatter(z.std(1), bb, 0, dim_size=g, reduce="mean"),
                             scatter(z.amax(1), bb, 0, dim_size=g, reduce="max"),
                             scatter(z.amin(1), bb, 0, dim_size=g, reduce="min"),
                             1 / (1 + recon)], 1)
    outputs = {"cont": out[0], "canid_logits": out[1], "nbr_logits": out[2], "z": out[3],
               "kl": out[4], "loss": total, "scores": scores, "features": feats}
    for k, v in parts.items():
        outputs["loss_" + k] = v
    return write(name, "graphids.models.VGAE", hp, model, b,
                 {"draw.mask": mask, "draw.eps": eps, "draw.neg_ids": neg_ids}, outputs)


def dgi_case(name, **over):
    hp = {"num_ids": 12, "in_channels": 35, "conv_type": "gatv2", "hidden_dims": [16, 8, 4],
          "latent_dim": 4, "heads": 2, "embedding_dim": 4, "proj_dim": 8, "dropout": 0.0,
          "edge_dim": 11}
    hp.update(over)
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    torch.manual_seed(zlib.crc32(name.encode()))
    model = DGI(hp)
    perturb(model, gen)
    b = graphs(hp["num_ids"], gen)
    perm = torch.randperm(b["x"].size(0), generator=gen)
    model.train()
    loss, pos, neg, s = dgi_loss(model, b, perm)
    loss.backward()
    with torch.no_grad():
        z = model.encode(b["x"], b)
        bb, g = b["batch"], b["num_graphs"]
        pooled = global_mean_pool(z, bb, g)
        center = pooled.mean(0)
        scores = (pooled - center).pow(2).sum(1)
        d = model.discriminate(z, torch.sigmoid(pooled), b)
        mean = scatter(d, bb, 0, dim_size=g, reduce="mean")
        spread = (scatter(d.pow(2), bb, 0, dim_size=g, reduce="mean") - mean.pow(2)).clamp(
            min=0).sqrt()
        feats = torch.stack([1 - mean, mean, spread,
                             scatter(z.mean(1), bb, 0, dim_size=g, reduce="mean"),
                             scatter(z.std(1), bb, 0, dim_size=g, reduce="mean"),
                             scatter(z.amax(1), bb, 0, dim_size=g, reduce="max"),
                             scatter(z.amin(1), bb, 0, dim_size=g, reduce="min"),
                             1 / (2 - mean)], 1)
    return write(name, "graphids.models.DGI", hp, model, b, {"draw.perm": perm},
                 {"pos_z": pos, "neg_z": neg, "summary": s, "loss": loss,
                  "svdd_center": center, "scores": scores, "features": feats})


def distill_cases():
    """Soft-label KD (T=4, alpha=0.7) and feature KD with a projection, on fixed tensors."""
    gen = torch.Generator().manual_seed(zlib.crc32(b"distill"))
    s = torch.randn(6, 2, generator=gen).requires_grad_(True)
    t = torch.randn(6, 2, generator=gen) * 2
    y = torch.randint(0, 2, (6,), generator=gen)
    T, alpha = 4.0, 0.7
    hard = F.cross_entropy(s, y)
    soft = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
    total = alpha * soft + (1 - alpha) * hard
    total.backward()
    tensors = {"input.student_logits": s, "input.teacher_logits": t, "input.labels": y,
               "output.hard": hard, "output.soft": soft, "output.total": total,
               "grad.student_logits": s.grad}
    torch.manual_seed(zlib.crc32(b"feature"))
    proj = nn.Linear(4, 6)
    zs = torch.randn(7, 4, generator=gen).requires_grad_(True)
    zt = torch.randn(7, 6, generator=gen)
    rs = torch.rand(7, 35, generator=gen).requires_grad_(True)
    rt = torch.rand(7, 35, generator=gen)
    base = (zs.pow(2).mean() + rs.mean())
    kd = 1.0 * F.mse_loss(proj(zs), zt) + 0.5 * F.mse_loss(rs, rt)
    ftotal = 0.7 * kd + 0.3 * base
    ftotal.backward()
    tensors.update({"param.projection.weight": proj.weight, "param.projection.bias": proj.bias,
                    "input.student_z": zs, "input.teacher_z": zt, "input.student_recon": rs,
                    "input.teacher_recon": rt, "output.feature_kd": kd,
                    "output.feature_total": ftotal, "grad.student_z": zs.grad,
                    "grad.student_recon": rs.grad, "grad.projection.weight": proj.weight.grad,
                    "grad.projection.bias": proj.bias.grad})
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    case = {"name": "distill", "T": T, "alpha": alpha, "latent_weight": 1.0, "recon_weight": 0.5,
            "generator": "tools/make_model_fixtures.py", "torch": torch.__version__}
    save_file(tensors, os.path.join(OUT, "distill.safetensors"),
              metadata={"case": json.dumps(case, sort_keys=True)})


# The reference's presets (upstream §3.2-3.4) at set_01's vocabulary size: parameter counts.
PRESETS = {
    "gat.small": (GATWithJK, {"conv_type": "gatv2", "hidden": 24, "num_layers": 2, "heads": 4,
                              "embedding_dim": 8, "proj_dim": 32, "fc_layers": 2}),
    "gat.large": (GATWithJK, {"conv_type": "gatv2", "hidden": 64, "num_layers": 3, "heads": 4,
                              "embedding_dim": 8, "proj_dim": 48, "fc_layers": 4}),
    "vgae.small": (VGAE, {"hidden_dims": [80, 40, 16], "latent_dim": 16, "heads": 1,
                          "embedding_dim": 4, "proj_dim": 32}),
    "vgae.large": (VGAE, {"hidden_dims": [480, 240, 64], "latent_dim": 64, "heads": 4,
                          "embedding_dim": 32, "proj_dim": 48}),
    "dgi.small": (DGI, {"hidden_dims": [80, 40, 16], "latent_dim": 16, "heads": 1,
                        "embedding_dim": 4, "proj_dim": 32}),
    "dgi.large": (DGI, {"hidden_dims": [480, 240, 64], "latent_dim": 64, "heads": 4,
                        "embedding_dim": 32, "proj_dim": 48}),
}
PRESET_NUM_IDS = 2047


def preset_counts():
    out = {}
    for name, (cls, over) in sorted(PRESETS.items()):
        hp = {"num_ids": PRESET_NUM_IDS, "in_channels": 35, "num_classes": 2, "conv_type": "gatv2",
              "edge_dim": 11, "dropout": 0.0, "pool_aggrs": ["mean"], "decoder_heads": 4}
        hp.update(over)
        out[name] = sum(p.numel() for p in cls(hp).parameters())
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    names = [
        gat_case("gat_gatv2"),
        gat_case("gat_gat_multiagg", conv_type="gat", pool_aggrs=["mean", "max"], fc_layers=3),
        gat_case("gat_transformer_3layers", conv_type="transformer", num_layers=3, heads=3),
        gat_case("gat_hash_ids", id_encoder_class_path="graphids.models.id_encoder.HashIdEncoder",
                 id_encoder_kwargs={"k": 2}, proj_dim=0),
        gat_case("gat_jk_cat", jk_mode="cat", num_layers=3),
        gat_case("gat_jk_max_transformer", jk_mode="max", conv_type="transformer"),
        vgae_case("vgae_gatv2"),
        vgae_case("vgae_gae_transformer", variational=False, conv_type="transformer"),
        vgae_case("vgae_heads1_noproj", heads=1, proj_dim=0, hidden_dims=[12, 6], latent_dim=6),
        dgi_case("dgi_gatv2"),
        dgi_case("dgi_gat", conv_type="gat", hidden_dims=[8, 4]),
    ]
    distill_cases()
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump({"models": names, "preset_num_ids": PRESET_NUM_IDS,
                   "preset_parameters": preset_counts()}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", len(names), "model fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
