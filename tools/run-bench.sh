#!/usr/bin/env bash
# make bench: runs the benchmarks and prints one table.  For each row: graphids' figure, its
# ratio to the hardware-side reference with the target ratio (ops_bench, lua_overhead), and the
# same figure from the PyTorch peer on this machine with graphids/peer (> 1 means graphids is
# better: higher throughput, or lower time for the "us"/"ms" rows).  The training-step rows
# (bench/train) carry ratio = torch time / graphids time (target 1.0), PyTorch running with
# graphids' thread count; the two alternate for TRAIN_ROUNDS rounds (default 3), each round's
# ratio pairs runs minutes apart at most, and the table shows the medians over the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ours=$(mktemp) peer=$(mktemp) peer_train=$(mktemp) train=$(mktemp)
trap 'rm -f "$ours" "$peer" "$peer_train" "$train"' EXIT
# libgomp spin-waits between parallel regions by default; on a shared or oversubscribed
# machine a spinning thread holds a core the other thread needs, and 2-thread runs were 3-10x
# slower.  Passive waiting (futex sleep) is the robust choice here; override by setting it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export LUA_PATH="stdlib/?.lua;stdlib/?/init.lua;;" LUA_CPATH="$BUILD/lua/?.so;;"
"$BUILD"/bench/ops_bench >>"$ours"
lua5.4 bench/ops/lua_overhead.lua >>"$ours"
threads=$(lua5.4 -e 'print(require("graphids").get_num_threads())')
if py=$(tools/peer-venv.sh); then
  "$py" bench/peer/torch_ops.py >"$peer" || echo "peer: torch_ops.py failed" >&2
else
  py=""
  echo "skipped: PyTorch peer unavailable (see message above); peer columns left empty"
fi
for _ in $(seq "${TRAIN_ROUNDS:-3}"); do
  : >"$peer_train"
  if [ -n "$py" ]; then
    "$py" bench/peer/torch_train.py "$threads" >"$peer_train" || echo "peer: torch_train.py failed" >&2
    sed 's/^/peer /' "$peer_train" >>"$train"
  fi
  lua5.4 bench/train/train_bench.lua "$peer_train" >>"$train" || echo "bench: train_bench.lua failed" >&2
done
lua5.4 bench/gnn/gnn_bench.lua "$threads" "$py" >>"$ours" || echo "bench: gnn_bench.lua failed" >&2
# Medians over the rounds: graphids' time and ratio (rows keep their order and description),
# PyTorch's time for the peer column.
awk 'function med(s,   a, n, i, j, t) {
       n = split(s, a, " ")
       for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
         t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
       return a[int((n + 1) / 2)] }
     $1 == "peer" { pv[$2] = pv[$2] " " $3; next }
     { if (!($1 in v)) { order[++n] = $1; unit[$1] = $3; d = ""
         for (i = 6; i <= NF; i++) d = d (i > 6 ? " " : "") $i
         desc[$1] = d }
       v[$1] = v[$1] " " $2; if ($4 != "-") r[$1] = r[$1] " " $4 }
     END { for (i = 1; i <= n; i++) { k = order[i]
             printf "%s %s %s %s 1.0 %s\n", k, med(v[k]), unit[k], (k in r) ? med(r[k]) : "-", desc[k] }
           for (k in pv) printf "peer %s %s\n", k, med(pv[k]) }' "$train" >"$peer_train"
grep -v '^peer ' "$peer_train" >>"$ours" || true
grep '^peer ' "$peer_train" | cut -d' ' -f2- >>"$peer" || true
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
echo "(train_* rows: torch set to graphids' $threads threads; medians over ${TRAIN_ROUNDS:-3} alternating rounds)"

# The data pipeline on the full hcrl_sa (skipped, saying why, without ../shared/data): parse
# alone (frames/s), CSV -> cached graphs (build, reload, peak memory) and the window builder
# against the polars peer (speed-up and feature agreement).
data_root=${GRAPHIDS_DATA_ROOT:-../shared/data/can}
echo
echo "data pipeline ($data_root/hcrl_sa):"
if [ -d "$data_root/hcrl_sa" ]; then
  BUILD=$BUILD bench/data/parse_bench.sh "$data_root/hcrl_sa" 5 2>/dev/null | tail -n1 || echo "bench: parse_bench failed" >&2
  lua5.4 bench/data/cache_bench.lua "$data_root" 5 || echo "bench: cache_bench failed" >&2
  lua5.4 bench/data/windows_bench.lua "$data_root/hcrl_sa" 3 2>&1 | tail -n4 || echo "bench: windows_bench failed" >&2
else
  echo "skipped: no CAN data at $data_root/hcrl_sa"
fi
