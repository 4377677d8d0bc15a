"""Window graphs of CAN captures written with polars: an independent peer of graphids'
gids_build_windows for checking its features and timing it (not part of the product).

It follows the reference pipeline's polars expressions (graphids/core/data/datasets/can_bus.py
and graph_pipeline.py of frenken-lab/graphids): payload bytes and entropy, per-(window, id)
aggregations, shift-1 edges filtered on a non-null dst and iat, edge_freq by a window count,
bidir by a self-join, in/out degree and the clustering coefficient by joins.  Two departures
that graphids makes too: windows are cut per capture file (never across files) and graphs stay
in file then window order; nodes are numbered in order of first appearance in their window.
Windows here are non-overlapping (stride == window), the reference configuration.

  windows_peer.py --root ../shared/data/can/hcrl_sa --vocab-dirs train_01_attack_free,...
                  --files train_01_attack_free/attack-free-kia.csv,... [--max-rows N]
                  [--out peer.safetensors] [--compare ours.safetensors]

--compare loads graphids' set (same field names) and checks structure exactly and every feature
to |a - b| <= 1e-5 * max(|a|, |b|) + 1e-7; prints one line "windows_peer: OK ..." or the first
differences and exits 1.  Timing lines: "peer_time_s <seconds> <frames>".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

BYTE_COLS = [f"byte_{i}" for i in range(8)]
ATTACK_TYPE_CODES = {  # reference can_bus.py, first keyword match wins
    "normal": 0, "attack_free": 0, "benign": 0, "dos": 1, "fuzzy": 2, "fuzzing": 2,
    "gear": 3, "rpm": 4, "flooding": 5, "malfunction": 6,
}

NODE_COL_ORDER = (
    [f"{c}_mean" for c in BYTE_COLS] + [f"{c}_std" for c in BYTE_COLS]
    + [f"{c}_range" for c in BYTE_COLS]
    + ["msg_count", "entropy_mean", "skewness", "kurtosis", "clustering_coeff",
       "split_half_ratio", "change_rate", "node_iat_mean", "node_iat_std", "in_degree",
       "out_degree"]
)
EDGE_COL_ORDER = ["iat", *(f"byte_{i}_diff" for i in range(8)), "bidir", "edge_freq"]

NODE_STAT_EXPRS = [
    *[pl.col(c).mean().alias(f"{c}_mean") for c in BYTE_COLS],
    *[pl.col(c).std().alias(f"{c}_std") for c in BYTE_COLS],
    *[(pl.col(c).max() - pl.col(c).min()).alias(f"{c}_range") for c in BYTE_COLS],
    pl.len().cast(pl.Float32).alias("msg_count"),
    pl.col("entropy").mean().alias("entropy_mean"),
    pl.mean_horizontal(*[pl.col(c).skew().fill_nan(0).clip(-10, 10) for c in BYTE_COLS])
    .alias("skewness"),
    pl.mean_horizontal(*[pl.col(c).kurtosis().fill_nan(0).clip(-10, 10) for c in BYTE_COLS])
    .alias("kurtosis"),
    pl.col("_first_half").mean().alias("split_half_ratio"),
    pl.mean_horizontal(*[(pl.col(c).diff().abs().drop_nulls() > 0).mean() for c in BYTE_COLS])
    .alias("change_rate"),
    pl.col("timestamp").diff().mean().cast(pl.Float32).alias("node_iat_mean"),
    pl.col("timestamp").diff().std().fill_nan(0).cast(pl.Float32).alias("node_iat_std"),
]


def attack_type_code(path: Path) -> int:
    parts = path.stem.lower() + " " + path.parent.name.lower()
    for keyword, code in ATTACK_TYPE_CODES.items():
        if keyword in parts:
            return code
    return 0


def read_capture(path: Path, max_rows: int | None) -> pl.DataFrame:
    """The reference's _read_raw + parse_payload for one file (no cross-file sort)."""
    df = pl.read_csv(path, schema_overrides={"arbitration_id": pl.Utf8, "data_field": pl.Utf8},
                     n_rows=max_rows)
    df = df.rename({"arbitration_id": "arb_id", "data_field": "payload"})
    df = df.with_columns(
        pl.col("arb_id").str.to_uppercase(),
        *[pl.col("payload").str.slice(i * 2, 2).str.to_integer(base=16, strict=False)
          .fill_null(0).cast(pl.Float32).alias(f"byte_{i}") for i in range(8)],
    )
    cols = [pl.col(c) for c in BYTE_COLS]
    row_sum = pl.sum_horizontal(cols).clip(1e-12, None)
    terms = [pl.when(c > 0).then(-(c / row_sum) * (c / row_sum).log()).otherwise(0.0)
             for c in cols]
    return df.with_columns(pl.sum_horizontal(terms).alias("entropy"))


def scan_vocab(root: Path, dirs: list[str]) -> dict[str, int]:
    """Sorted unique id strings of every CSV under the dirs, indexed from 1 (0 = UNK)."""
    ids = pl.concat([
        pl.read_csv(p, columns=["arbitration_id"], schema_overrides={"arbitration_id": pl.Utf8})
        for d in dirs for p in sorted((root / d).rglob("*.csv"))
    ])["arbitration_id"].str.to_uppercase().unique().sort().to_list()
    return {t: i + 1 for i, t in enumerate(ids)}


def vocab_digest(vocab: dict[str, int]) -> str:
    """The reference's digest (vocab.py): SHA-256 of json.dumps of the pairs sorted by index."""
    import hashlib
    import json
    canon = json.dumps(sorted(((str(k), v) for k, v in vocab.items()), key=lambda kv: kv[1]),
                       sort_keys=True)
    return hashlib.sha256(canon.encode()).hexdigest()


def clustering(edges: pl.DataFrame) -> pl.DataFrame:
    """The reference's triangle join on the undirected pairs (self-pairs included)."""
    pairs = pl.concat([
        edges.select("_wid", pl.col("src").alias("u"), pl.col("dst").alias("v")),
        edges.select("_wid", pl.col("dst").alias("u"), pl.col("src").alias("v")),
    ]).unique(["_wid", "u", "v"])
    two = pairs.join(pairs.select("_wid", pl.col("u").alias("_mid"), pl.col("v").alias("w")),
                     left_on=["_wid", "v"], right_on=["_wid", "_mid"]).filter(
        pl.col("u") != pl.col("w"))
    tri = two.join(pairs, left_on=["_wid", "u", "w"], right_on=["_wid", "u", "v"], how="semi")
    tri_n = tri.group_by(["_wid", "u"]).agg((pl.len() / 2).alias("_tri"))
    deg = pairs.group_by(["_wid", "u"]).agg(pl.len().cast(pl.Float64).alias("_deg"))
    return (tri_n.join(deg, on=["_wid", "u"], how="right").fill_null(0).with_columns(
        pl.when(pl.col("_deg") > 1).then(2.0 * pl.col("_tri") / (pl.col("_deg") * (pl.col("_deg") - 1)))
        .otherwise(0.0).cast(pl.Float32).alias("clustering_coeff"))
        .select("_wid", pl.col("u").alias("node_id"), "clustering_coeff"))


def windows_of(df: pl.DataFrame, vocab: dict[str, int], window: int, code: int) -> dict | None:
    n = len(df)
    n_windows = (n - window) // window + 1 if n >= window else 0
    if n_windows == 0 or window <= 2:
        return None
    df = (df.head(n_windows * window).with_row_index("_row")
          .with_columns(pl.col("arb_id").replace_strict(vocab, default=0).cast(pl.Int64)
                        .alias("node_id"),
                        (pl.col("_row") // window).cast(pl.Int64).alias("_wid"),
                        (pl.col("_row") % window < window // 2).alias("_first_half")))
    nodes = (df.group_by(["_wid", "node_id"], maintain_order=True).agg(NODE_STAT_EXPRS)
             .fill_null(0).fill_nan(0))
    edges = (df.with_columns(
        pl.col("node_id").alias("src"),
        pl.col("node_id").shift(-1).over("_wid").alias("dst"),
        pl.col("timestamp").diff().over("_wid").cast(pl.Float32).alias("iat"),
        *[pl.col(c).diff().abs().over("_wid").cast(pl.Float32).alias(f"{c}_diff")
          for c in BYTE_COLS])
        .filter(pl.col("dst").is_not_null() & pl.col("iat").is_not_null())
        .with_columns(pl.len().over(["_wid", "src", "dst"]).cast(pl.Float32).alias("edge_freq")))
    rev = edges.select("_wid", "src", "dst").unique().with_columns(pl.lit(True).alias("_rev"))
    edges = (edges.join(rev, left_on=["_wid", "dst", "src"], right_on=["_wid", "src", "dst"],
                        how="left")
             .with_columns(pl.col("_rev").fill_null(False).cast(pl.Float32).alias("bidir")))
    ind = edges.group_by(["_wid", "dst"]).agg(pl.len().cast(pl.Float32).alias("in_degree"))
    outd = edges.group_by(["_wid", "src"]).agg(pl.len().cast(pl.Float32).alias("out_degree"))
    nodes = (nodes.with_row_index("_order")
             .join(clustering(edges), on=["_wid", "node_id"], how="left")
             .join(ind.rename({"dst": "node_id"}), on=["_wid", "node_id"], how="left")
             .join(outd.rename({"src": "node_id"}), on=["_wid", "node_id"], how="left")
             .fill_null(0).sort("_order")
             .with_columns((pl.cum_count("node_id").over("_wid") - 1).cast(pl.Int64)
                           .alias("_local")))
    ids = nodes.select("_wid", "node_id", "_local")
    edges = (edges.join(ids.rename({"node_id": "src", "_local": "src_local"}),
                        on=["_wid", "src"], how="left")
             .join(ids.rename({"node_id": "dst", "_local": "dst_local"}), on=["_wid", "dst"],
                   how="left")
             .sort("_row"))
    labels = (df.group_by("_wid", maintain_order=True)
              .agg((pl.col("attack").max() > 0).cast(pl.Int64).alias("y")).sort("_wid"))
    node_counts = nodes.group_by("_wid", maintain_order=True).len().sort("_wid")["len"].to_numpy()
    edge_counts = edges.group_by("_wid", maintain_order=True).len().sort("_wid")["len"].to_numpy()
    y = labels["y"].to_numpy()
    return {
        "x": nodes.select(NODE_COL_ORDER).to_numpy().astype(np.float32),
        "edge_index": np.stack([edges["src_local"].to_numpy(), edges["dst_local"].to_numpy()])
        .astype(np.int64),
        "edge_attr": edges.select(EDGE_COL_ORDER).to_numpy().astype(np.float32),
        "node_id": nodes["node_id"].to_numpy().astype(np.int64),
        "node_counts": node_counts, "edge_counts": edge_counts,
        "y": y.astype(np.int64), "attack_type": np.where(y == 1, code, 0).astype(np.int64),
        "window_start": (labels["_wid"].to_numpy() * window).astype(np.int64),
    }


def build(root: Path, files: list[str], vocab: dict[str, int], window: int,
          max_rows: int | None) -> dict[str, np.ndarray]:
    parts = []
    for f, name in enumerate(files):
        path = root / name
        g = windows_of(read_capture(path, max_rows), vocab, window, attack_type_code(path))
        if g is not None:
            g["source_file"] = np.full(len(g["y"]), f, dtype=np.int64)
            parts.append(g)
    cat = {k: np.concatenate([p[k] for p in parts], axis=1 if k == "edge_index" else 0)
           for k in ("x", "edge_index", "edge_attr", "node_id", "y", "attack_type",
                     "window_start", "source_file")}
    for ptr, counts in (("node_ptr", "node_counts"), ("edge_ptr", "edge_counts")):
        c = np.concatenate([p[counts] for p in parts])
        cat[ptr] = np.concatenate([[0], np.cumsum(c)]).astype(np.int64)
    return cat


def compare(ours: dict[str, np.ndarray], peer: dict[str, np.ndarray]) -> list[str]:
    bad = []
    for k in ("node_ptr", "edge_ptr", "node_id", "edge_index", "y", "attack_type",
              "window_start", "source_file"):
        if ours[k].shape != peer[k].shape or not np.array_equal(ours[k], peer[k]):
            bad.append(f"{k}: differs (shapes {ours[k].shape} vs {peer[k].shape})")
    for k, names in (("x", NODE_COL_ORDER), ("edge_attr", EDGE_COL_ORDER)):
        a, b = ours[k].astype(np.float64), peer[k].astype(np.float64)
        if a.shape != b.shape:
            bad.append(f"{k}: shape {a.shape} vs {b.shape}")
            continue
        err = np.abs(a - b)
        tol = 1e-5 * np.maximum(np.abs(a), np.abs(b)) + 1e-7
        for c in np.nonzero((err > tol).any(axis=0))[0]:
            r = int(np.argmax(err[:, c] - tol[:, c]))
            bad.append(f"{k}[:, {c}] ({names[c]}): {int((err[:, c] > tol[:, c]).sum())} rows off,"
                       f" row {r}: ours {a[r, c]!r} peer {b[r, c]!r}")
    return bad


def max_rel(ours, peer) -> tuple[float, str]:
    """Largest |a - b| / max(|a|, |b|) over values above 1e-3, and its column."""
    worst, where = 0.0, "-"
    for k, names in (("x", NODE_COL_ORDER), ("edge_attr", EDGE_COL_ORDER)):
        a, b = ours[k].astype(np.float64), peer[k].astype(np.float64)
        big = np.maximum(np.abs(a), np.abs(b))
        rel = np.where(big > 1e-3, np.abs(a - b) / np.maximum(big, 1e-300), 0.0)
        if rel.size and rel.max() > worst:
            worst = float(rel.max())
            where = names[int(np.unravel_index(np.argmax(rel), rel.shape)[1])]
    return worst, where


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--vocab-dirs", required=True, help="comma-separated train folders")
    ap.add_argument("--files", required=True, help="comma-separated CSVs under --root")
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--max-rows", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--compare", default=None)
    ap.add_argument("--threads", type=int, default=None, help="(informational) POLARS threads")
    args = ap.parse_args()
    root = Path(args.root)
    files = args.files.split(",")
    t0 = time.perf_counter()
    vocab = scan_vocab(root, args.vocab_dirs.split(","))
    peer = build(root, files, vocab, args.window, args.max_rows)
    t = time.perf_counter() - t0
    frames = sum(min(args.max_rows or 1 << 62, sum(1 for _ in open(root / f)) - 1) for f in files)
    print(f"peer_time_s {t:.3f} {frames} graphs {len(peer['y'])} polars_threads "
          f"{pl.thread_pool_size()}")
    print(f"vocab_digest {vocab_digest(vocab)} {len(vocab)}")
    if args.out:
        from safetensors.numpy import save_file
        save_file(peer, args.out)
    if args.compare:
        from safetensors.numpy import load_file
        ours = load_file(args.compare)
        bad = compare(ours, peer)
        if bad:
            print("windows_peer: MISMATCH")
            for line in bad[:40]:
                print("  " + line)
            return 1
        print(f"windows_peer: OK {len(peer['y'])} graphs, {len(peer['node_id'])} nodes, "
              f"{peer['edge_index'].shape[1]} edges; max relative error %.3g (%s)" % max_rel(ours, peer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
