#!/usr/bin/env bash
# make bench: runs the benchmarks and prints one table of figures with their ratio to the
# reference and the target ratio.  Rows: name, value, unit, ratio (>= target is good), target.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BUILD"/bench/ops_bench | tee -a "$out" >/dev/null
LUA_PATH="stdlib/?.lua;stdlib/?/init.lua;;" LUA_CPATH="$BUILD/lua/?.so;;" \
  lua5.4 bench/ops/lua_overhead.lua | tee -a "$out" >/dev/null
printf '\n%-28s %12s %-9s %8s %7s  %s\n' benchmark value unit ratio target note
awk '$1 == "threads" { printf "(%s CPU threads)\n", $2; next }
     { note = ""; for (i = 6; i <= NF; i++) note = note " " $i
       status = ($4 + 0 >= $5 + 0) ? "ok" : "BELOW"
       printf "%-28s %12s %-9s %8s %7s  %s%s\n", $1, $2, $3, $4, $5, status, note }' "$out"
