"""make_metric_fixtures.py -- scikit-learn reference values for graphids.metrics.

Run by hand (not by CI) with the peer virtual environment, from the repository root:

    py=$(tools/peer-venv.sh) && "$py" tools/make_metric_fixtures.py

It rewrites spec/fixtures/metrics/*.safetensors and their list index.json; commit them.  spec/metrics/sklearn_spec.lua
checks graphids against them to 1e-6.

One file per case.  Tensors: the inputs (input.scores f32|f64 [N] or input.probs f32 [N,K] or
input.logits f32 [N,K], input.labels i64; anomaly cases input.val_scores, input.val_labels, input.test_scores,
input.test_labels) and, for binary cases, the curves (expected.roc_fpr, expected.roc_tpr,
expected.roc_thresholds, expected.pr_precision, expected.pr_recall, expected.pr_thresholds; f64).
__metadata__["case"] (the only key) is JSON: {"kind": "binary" | "classification" | "anomaly",
"name", "num_classes", "expected": {metric: value}, "absent": [metrics left undefined]}.
Non-finite values are the strings "inf", "-inf" (JSON has no infinity).

Where scikit-learn has no function (specificity, ECE, operating points, Youden's J) the value
is computed here with numpy from scikit-learn's confusion matrices and curves, following the
definitions of docs/metrics.md.
"""
import json
import math
import os
import warnings
import zlib

import numpy as np
import sklearn
from safetensors.numpy import save_file
from sklearn import metrics as skm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spec", "fixtures", "metrics")
ECE_BINS = 15
MIN_RECALL, MIN_PRECISION = 0.95, 0.99

warnings.filterwarnings("ignore")  # sklearn's zero-division and single-class warnings


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def num(v):
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    assert not math.isnan(v), "NaN values are recorded as absent"
    return v


def ece(conf, correct, bins=ECE_BINS):
    """L1 ECE, torchmetrics' binning: bin of the last boundary k/bins <= c (c == 1 alone)."""
    conf = np.asarray(conf, np.float64)
    correct = np.asarray(correct, np.float64)
    edges = np.arange(bins + 1) / bins
    idx = np.searchsorted(edges, conf, side="right") - 1
    total = 0.0
    for b in range(bins + 1):
        m = idx == b
        if m.any():
            total += abs(correct[m].mean() - conf[m].mean()) * m.sum() / len(conf)
    return total


def youden(y, s):
    """Threshold and J at the first maximum of TP*N - FP*P over roc_curve(drop_intermediate=False)."""
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    p, n = int(y.sum()), int(len(y) - y.sum())
    tp = np.rint(tpr * p).astype(np.int64)
    fp = np.rint(fpr * n).astype(np.int64)
    j_int = tp * n - fp * p
    i = int(np.argmax(j_int))
    # With exact ties broken the same way, numpy's float argmax agrees on these inputs.
    assert tpr[i] - fpr[i] == np.max(tpr - fpr) or abs(tpr[i] - fpr[i] - np.max(tpr - fpr)) < 1e-12
    return thr[i], tpr[i] - fpr[i]


def operating_points(y, s):
    """torchmetrics' rule over sklearn's precision_recall_curve (its last (1, 0) point dropped)."""
    prec, rec, thr = skm.precision_recall_curve(y, s)
    prec, rec = prec[:-1], rec[:-1]
    cand = [(p, r, t) for p, r, t in zip(prec, rec, thr) if r >= MIN_RECALL]
    p_at_r, _, t_at_r = max(cand)
    cand = [(r, p, t) for p, r, t in zip(prec, rec, thr) if p >= MIN_PRECISION]
    r_at_p, _, t_at_p = max(cand) if cand else (0.0, 0.0, math.inf)
    return {
        "precision@0.95recall": p_at_r,
        "threshold@0.95recall": t_at_r,
        "recall@0.99precision": r_at_p,
        "threshold@0.99precision": t_at_p,
    }


def binary_expect(y, s):
    """Curve summary of scores s against binary labels y (the binary and anomaly flavours)."""
    out, absent = {}, []
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if pos and neg:
        out["auroc"] = skm.roc_auc_score(y, s)
    else:
        absent.append("auroc")
    if pos:
        out["ap"] = skm.average_precision_score(y, s)
        out.update(operating_points(y, s))
    else:
        absent += ["ap", "precision@0.95recall", "threshold@0.95recall", "recall@0.99precision",
                   "threshold@0.99precision"]
    if s.min() >= 0 and s.max() <= 1:
        out["ece"] = ece(s, y)
    else:
        absent.append("ece")
    return out, absent


def write(name, tensors, case):
    os.makedirs(OUT, exist_ok=True)
    case = dict(case, name=name, generator="tools/make_metric_fixtures.py",
                sklearn=sklearn.__version__)
    case["expected"] = {k: num(v) for k, v in sorted(case["expected"].items())}
    case["absent"] = sorted(set(case.get("absent", [])))
    meta = {"case": json.dumps(case, sort_keys=True)}
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=meta)


# ---------------------------------------------------------------- binary curves

def binary_case(name, y, s):
    y = np.asarray(y, np.int64)
    exp, absent = binary_expect(y, s)
    if "auroc" in exp:
        t, j = youden(y, s)
        exp["youden_threshold"], exp["youden_j"] = t, j
    else:
        absent += ["youden_threshold", "youden_j"]
    fpr, tpr, rthr = skm.roc_curve(y, s, drop_intermediate=False)
    prec, rec, pthr = skm.precision_recall_curve(y, s)
    tensors = {
        "input.scores": s, "input.labels": y,
        "expected.roc_fpr": fpr.astype(np.float64), "expected.roc_tpr": tpr.astype(np.float64),
        "expected.roc_thresholds": rthr.astype(np.float64),
        "expected.pr_precision": prec.astype(np.float64),
        "expected.pr_recall": rec.astype(np.float64),
        "expected.pr_thresholds": pthr.astype(np.float64),
    }
    write("binary_" + name, tensors, {"kind": "binary", "num_classes": 2, "expected": exp,
                                      "absent": absent})


def binary_cases():
    r = rng_for("random")
    y = (r.random(2000) < 0.3).astype(np.int64)
    binary_case("random", y, (r.random(2000) * 0.6 + y * 0.3).astype(np.float32))
    r = rng_for("ties")
    y = (r.random(1000) < 0.4).astype(np.int64)
    binary_case("ties", y, ((r.integers(0, 5, 1000) + y) / 5.0).astype(np.float32))
    r = rng_for("ties_f64")
    y = (r.random(800) < 0.5).astype(np.int64)
    binary_case("ties_f64", y, np.round(r.normal(size=800) + y, 1).astype(np.float64) / 10 + 0.5)
    y = np.array([0] * 30 + [1] * 20)
    binary_case("perfect", y, np.where(y == 1, 0.7, 0.2).astype(np.float32)
                + np.linspace(0, 0.1, 50).astype(np.float32))
    binary_case("inverted", y, np.where(y == 1, 0.2, 0.7).astype(np.float32)
                + np.linspace(0, 0.1, 50).astype(np.float32))
    r = rng_for("imbalanced")
    y = (r.random(5000) < 0.01).astype(np.int64)
    binary_case("imbalanced", y, r.beta(2, 5, 5000).astype(np.float32) + y * 0.2)
    binary_case("all_negative", np.zeros(40, np.int64), rng_for("neg").random(40).astype(np.float32))
    binary_case("all_positive", np.ones(40, np.int64), rng_for("pos").random(40).astype(np.float32))


# ---------------------------------------------------------------- classification

def exact_logit_ranks(z, c):
    """Class c's dense rank by its EXACT softmax probability, for integer logits z [N,K].

    p_c depends only on the multiset of differences z_j - z_c, and for integers two multisets give
    one probability only when they are equal (Lindemann-Weierstrass: the e^n of distinct integers
    n are linearly independent); the order of distinct ones is their f64 log-odds, checked to be
    far apart.  scikit-learn on these ranks is roc_auc_score of the exact probabilities, which an
    f64 softmax is not: it can split two equal ones by a rounding."""
    keys = [tuple(sorted(int(v) - int(row[c]) for j, v in enumerate(row) if j != c)) for row in z]
    log_odds = {key: -float(np.log(np.sum(np.exp(np.array(key, np.float64))))) for key in set(keys)}
    order = sorted(log_odds, key=log_odds.get)
    gaps = np.diff([log_odds[key] for key in order])
    assert len(gaps) == 0 or gaps.min() > 1e-9, gaps.min()
    rank = {key: i for i, key in enumerate(order)}
    return np.array([rank[key] for key in keys], np.float64)


def classification_case(name, probs, y, k, logits=None):
    """probs [N,K] as the input, or (logits given, integer-valued) the input logits, their
    softmax as probs and the curves ranked by the exact probabilities (exact_logit_ranks)."""
    y = np.asarray(y, np.int64)
    probs = np.asarray(probs, np.float32)
    pred = np.argmax(probs, axis=1)
    labels = list(range(k))
    exp, absent = {}, []
    exp["accuracy"] = skm.accuracy_score(y, pred)
    exp["mcc"] = skm.matthews_corrcoef(y, pred)
    p, r, f, support = skm.precision_recall_fscore_support(y, pred, labels=labels,
                                                           zero_division=0.0)
    mcm = skm.multilabel_confusion_matrix(y, pred, labels=labels)  # [k, [[tn, fp], [fn, tp]]]
    tn, fp = mcm[:, 0, 0].astype(np.float64), mcm[:, 0, 1].astype(np.float64)
    spec = np.divide(tn, tn + fp, out=np.zeros(k), where=(tn + fp) > 0)
    w = support / support.sum()
    for metric, v in (("precision", p), ("recall", r), ("f1", f), ("specificity", spec)):
        exp[metric + "_macro"] = float(np.mean(v))
        exp[metric + "_weighted"] = float(np.sum(v * w))
        for c in range(k):
            exp["%s_class_%d" % (metric, c)] = v[c]
    # sklearn's averaged scores must agree with the per-class arithmetic above.
    assert abs(exp["f1_macro"] - skm.f1_score(y, pred, labels=labels, average="macro",
                                              zero_division=0.0)) < 1e-12
    assert abs(exp["f1_weighted"] - skm.f1_score(y, pred, labels=labels, average="weighted",
                                                 zero_division=0.0)) < 1e-12
    conf = probs.astype(np.float64).max(axis=1)
    exp["ece"] = ece(conf, (pred == y).astype(np.float64))
    aucs, aps = {}, {}
    for c in range(k):
        yc = (y == c).astype(np.int64)
        rank = probs[:, c] if logits is None else exact_logit_ranks(logits, c)
        if 0 < yc.sum() < len(yc):
            aucs[c] = skm.roc_auc_score(yc, rank)
            exp["auroc_class_%d" % c] = aucs[c]
        else:
            absent.append("auroc_class_%d" % c)
        if yc.sum() > 0:
            aps[c] = skm.average_precision_score(yc, rank)
            exp["ap_class_%d" % c] = aps[c]
        else:
            absent.append("ap_class_%d" % c)
    if k == 2:
        assert logits is None  # (the operating points would need the f32 softmax's thresholds)
        if 1 in aucs:
            exp["auroc"] = aucs[1]
        else:
            absent.append("auroc")
        if 1 in aps:
            exp["ap"] = aps[1]
            exp.update(operating_points((y == 1).astype(np.int64), probs[:, 1]))
        else:
            absent.append("ap")
    else:
        for key, vals in (("auroc", aucs), ("ap", aps)):
            if vals:
                cs = sorted(vals)
                exp[key] = float(np.mean([vals[c] for c in cs]))
                ws = np.array([support[c] for c in cs], np.float64)
                exp[key + "_weighted"] = float(np.sum(ws * np.array([vals[c] for c in cs])) / ws.sum())
            else:
                absent += [key, key + "_weighted"]
        # sklearn's own OvR macro needs every class present and rows summing to 1.
        rows = probs.astype(np.float64).sum(1)
        if logits is None and len(set(y.tolist())) == k and np.allclose(rows, 1, atol=1e-6):
            ovr = skm.roc_auc_score(y, probs.astype(np.float64) / rows[:, None],
                                    multi_class="ovr", labels=labels)
            assert abs(ovr - exp["auroc"]) < 1e-6, (ovr, exp["auroc"])
    cm = skm.confusion_matrix(y, pred, labels=labels).astype(np.int64)
    inputs = {"input.probs": probs} if logits is None else {"input.logits": logits.astype(np.float32)}
    write("classification_" + name, dict(inputs, **{"input.labels": y, "expected.confusion": cm}),
          {"kind": "classification", "num_classes": k, "expected": exp, "absent": absent})


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def classification_cases():
    r = rng_for("binary_probs")
    y = (r.random(600) < 0.35).astype(np.int64)
    z = r.normal(size=(600, 2)) + np.eye(2)[y] * 1.2
    classification_case("binary", softmax(z), y, 2)
    for k, present in ((3, [0, 1, 2]), (5, [0, 1, 3]), (7, [0, 2, 3, 4, 6])):
        r = rng_for("mc%d" % k)
        y = r.choice(present, size=900, p=None)
        z = r.normal(size=(900, k)) + np.eye(k)[y] * 1.5
        classification_case("k%d" % k, softmax(z), y, k)
    # Few distinct probabilities: ties in argmax (first max wins) and in every curve.
    r = rng_for("mc_ties")
    y = r.integers(0, 4, 700)
    z = np.round(softmax(r.normal(size=(700, 4)) + np.eye(4)[y]) * 4) / 4
    classification_case("k4_ties", z, y, 4)
    # Integer logits with few distinct rows, shifted by up to +-1000 per row: equal exact
    # probabilities everywhere (rows that differ by a constant, or whose other columns are the
    # same values in another order), which the curves must tie (docs/metrics.md).
    for k in (3, 4):
        r = rng_for("logit_ties%d" % k)
        y = r.integers(0, k, 600)
        z = r.integers(-3, 4, size=(600, k)) + np.eye(k, dtype=np.int64)[y] * 2
        z = z + r.integers(-1000, 1001, size=(600, 1))
        classification_case("logit_ties_k%d" % k, softmax(z.astype(np.float64)), y, k, logits=z)
    # Imbalanced binary with a perfect separation.
    y = np.array([0] * 95 + [1] * 5)
    p1 = np.where(y == 1, 0.9, 0.1) + np.linspace(0, 0.05, 100)
    classification_case("binary_perfect", np.stack([1 - p1, p1], 1), y, 2)


# ---------------------------------------------------------------- anomaly (threshold flavour)

def anomaly_case(name, vs, vy, ts, ty):
    vy, ty = np.asarray(vy, np.int64), np.asarray(ty, np.int64)
    thr, _ = youden(vy, vs)
    pred = (ts.astype(np.float64) >= thr).astype(np.int64)
    exp, absent = binary_expect(ty, ts)
    exp["threshold"] = thr
    exp["accuracy"] = skm.accuracy_score(ty, pred)
    exp["f1"] = skm.f1_score(ty, pred, zero_division=0.0)
    exp["precision"] = skm.precision_score(ty, pred, zero_division=0.0)
    exp["recall"] = skm.recall_score(ty, pred, zero_division=0.0)
    exp["specificity"] = skm.recall_score(1 - ty, 1 - pred, zero_division=0.0)
    exp["mcc"] = skm.matthews_corrcoef(ty, pred)
    write("anomaly_" + name,
          {"input.val_scores": vs, "input.val_labels": vy, "input.test_scores": ts,
           "input.test_labels": ty},
          {"kind": "anomaly", "num_classes": 2, "expected": exp, "absent": absent})


def anomaly_cases():
    r = rng_for("recon")
    vy = (r.random(800) < 0.2).astype(np.int64)
    ty = (r.random(1500) < 0.15).astype(np.int64)
    # reconstruction errors: positive, unbounded, attacks larger
    vs = (r.gamma(2.0, 0.05, 800) * (1 + 2 * vy)).astype(np.float32)
    ts = (r.gamma(2.0, 0.05, 1500) * (1 + 2 * ty)).astype(np.float32)
    anomaly_case("recon_errors", vs, vy, ts, ty)
    r = rng_for("prob_ties")
    vy = (r.random(500) < 0.3).astype(np.int64)
    ty = (r.random(700) < 0.3).astype(np.int64)
    vs = ((r.integers(0, 6, 500) + 2 * vy) / 8).astype(np.float32)
    ts = ((r.integers(0, 6, 700) + 2 * ty) / 8).astype(np.float32)
    anomaly_case("prob_ties", vs, vy, ts, ty)


def main():
    binary_cases()
    classification_cases()
    anomaly_cases()
    names = sorted(f[: -len(".safetensors")] for f in os.listdir(OUT) if f.endswith(".safetensors"))
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(names, f, indent=1)
        f.write("\n")
    print("wrote", len(names), "fixtures and index.json to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
