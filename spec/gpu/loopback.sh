#!/usr/bin/env bash
# spec/gpu/loopback.sh [BUILD] -- the GPU checks on the loopback device: every
# spec/gpu/*_check.lua and bench/gpu/gat_step.lua run with GIDS_CUDA_PLUGIN pointing at
# $BUILD/lib/graphids_loopback.so, which stands in for the CUDA plugin and computes every device
# op with the runtime's CPU ops (runtime/src/loopback/).  A failure here is a device-path bug
# (an op that checks for CPU tensors before handing itself to the device, an op with no device
# entry, a CPU tensor mixed with device ones), not a numerics one.  Prints each script's summary
# line (and its FAIL lines); exits 1 when any script fails.
#   GIDS_LOOPBACK_ALL=1 spec/gpu/loopback.sh      also fills the entries the CUDA plugin lacks
#   LOOPBACK_VERBOSE=1 spec/gpu/loopback.sh       whole outputs, not only FAIL/summary lines
#   GIDS_LOOPBACK_MEMORY_MIB=N                    the device's memory (default a quarter of RAM)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build}}
HOST="$BUILD/bin/graphids"
PLUGIN="$PWD/$BUILD/lib/graphids_loopback.so"
for f in "$HOST" "$PLUGIN"; do
  [ -e "$f" ] || { echo "loopback: $f is not built (make BUILD=$BUILD build)"; exit 1; }
done
export GIDS_CUDA_PLUGIN="$PLUGIN"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

# Runs one script with a time limit; prints its FAIL/error/summary lines (or all of it).
run() {
  local name=$1 limit=$2
  shift 2
  local log="$tmp/$name.log" rc
  echo "== $name"
  timeout "$limit" "$HOST" run "$@" >"$log" 2>&1
  rc=$?
  if [ "${LOOPBACK_VERBOSE:-0}" = 1 ]; then
    cat "$log"
  else
    grep -E '^(FAIL|skipped|probe )|: [0-9]+ passed, [0-9]+ failed$| error |^gpu_|lua:|traceback' "$log"
  fi
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "$name: timed out after ${limit}s"
    echo "$name: exit $rc; last lines:"
    tail -n 5 "$log"
    status=1
  fi
}

for spec in spec/gpu/*_check.lua; do
  run "$(basename "$spec" .lua)" 300 "$spec"
done
"$HOST" run bench/gpu/write_batches.lua "$tmp/batches" >"$tmp/batches.log" 2>&1 ||
  { echo "loopback: write_batches failed:"; tail -n 5 "$tmp/batches.log"; exit 1; }
run gat_step 600 bench/gpu/gat_step.lua "$tmp/batches"
# gat_step prints "<row> error <message>" for a failed row and still exits 0.  A row that runs
# out of the loopback device's memory (a quarter of the host's RAM unless
# GIDS_LOOPBACK_MEMORY_MIB says otherwise) says nothing about device paths: reported, not failed.
if grep ' error ' "$tmp/gat_step.log" | grep -qv 'out of memory on cuda:0 (loopback)'; then
  status=1
fi
grep -q 'out of memory on cuda:0 (loopback)' "$tmp/gat_step.log" &&
  echo "gat_step: a row ran out of the loopback device's memory (not a device-path failure;" \
    "raise GIDS_LOOPBACK_MEMORY_MIB where the host has the RAM)"
exit $status
