#!/usr/bin/env bash
# make bench: runs the benchmarks and prints one table.  For each row: graphids' figure, its
# ratio to the hardware-side reference with the target ratio (ops_bench, lua_overhead), and the
# same figure from the PyTorch peer on this machine with graphids/peer (> 1 means graphids is
# better: higher throughput, or lower time for the "us"/"ms" rows).  The training-step rows
# (bench/train) run PyTorch first with graphids' thread count and carry ratio = torch time /
# graphids time themselves (target 1.0).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ours=$(mktemp) peer=$(mktemp) peer_train=$(mktemp)
trap 'rm -f "$ours" "$peer" "$peer_train"' EXIT
export LUA_PATH="stdlib/?.lua;stdlib/?/init.lua;;" LUA_CPATH="$BUILD/lua/?.so;;"
"$BUILD"/bench/ops_bench >>"$ours"
lua5.4 bench/ops/lua_overhead.lua >>"$ours"
threads=$(lua5.4 -e 'print(require("graphids").get_num_threads())')
if py=$(tools/peer-venv.sh); then
  "$py" bench/peer/torch_ops.py >"$peer" || echo "peer: torch_ops.py failed" >&2
  "$py" bench/peer/torch_train.py "$threads" >"$peer_train" || echo "peer: torch_train.py failed" >&2
  cat "$peer_train" >>"$peer"
else
  echo "skipped: PyTorch peer unavailable (see message above); peer columns left empty"
fi
lua5.4 bench/train/train_bench.lua "$peer_train" >>"$ours" || echo "bench: train_bench.lua failed" >&2
[ -s "$peer" ] || echo "peer_threads -" >"$peer"
printf '\n%-26s %10s %-8s %7s %6s %-6s %10s %9s\n' benchmark graphids unit ratio target status torch ours/torch
awk 'NR == FNR { if ($1 != "peer_threads") peer[$1] = $2; else pthreads = $2; next }
     $1 == "threads" { threads = $2; next }
     { status = ($4 == "-") ? "-" : ($4 + 0 >= $5 + 0) ? "ok" : "BELOW"
       p = ($1 in peer) ? peer[$1] : "-"; r = "-"
       if (p != "-" && p + 0 > 0) r = sprintf("%.2f", ($3 == "us" || $3 == "ms") ? p / $2 : $2 / p)
       printf "%-26s %10s %-8s %7s %6s %-6s %10s %9s\n", $1, $2, $3, $4, $5, status, p, r }
     END { printf "(graphids %s threads; torch %s threads; medians of repeated runs)\n", threads, pthreads }' \
  "$peer" "$ours"
echo "(train_* rows: torch set to graphids' $threads threads)"
