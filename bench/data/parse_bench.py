"""parse_bench.py -- the peer of parse_bench.c: polars reads every CSV of hcrl_sa and decodes ids
and payload bytes from hex (what the reference's CANBusDataset._read_raw does), median of runs.

    $(tools/peer-venv.sh) bench/data/parse_bench.py [DIR] [RUNS]

Prints "peer can_parse_mfps <Mframes/s>" (polars uses all cores)."""
import glob
import os
import statistics
import sys
import time

import polars as pl


def parse(paths):
    frames = 0
    for p in paths:
        df = pl.read_csv(p, schema={"timestamp": pl.Float64, "arbitration_id": pl.Utf8,
                                    "data_field": pl.Utf8, "attack": pl.Int64})
        payload = pl.col("data_field").fill_null("").str.pad_end(16, "0")
        df = df.select(
            pl.col("timestamp"),
            pl.col("arbitration_id").str.to_integer(base=16).alias("id"),
            *[payload.str.slice(2 * i, 2).str.to_integer(base=16).alias(f"b{i}") for i in range(8)],
            pl.col("attack"),
        )
        frames += df.height
    return frames


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/can/hcrl_sa"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    paths = sorted(glob.glob(os.path.join(root, "**", "*.csv"), recursive=True))
    if not paths:
        print(f"skipped: no CSV files under {root}", file=sys.stderr)
        return
    times, frames = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        frames = parse(paths)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"peer can_parse_mfps {frames / med / 1e6:.1f}  # {len(paths)} files, {frames} frames, "
          f"median {1e3 * med:.1f} ms of {runs} runs")


if __name__ == "__main__":
    main()
