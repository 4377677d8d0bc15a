#!/usr/bin/env bash
# spec/gpu/loopback.sh [--quick] [BUILD] -- the GPU checks on the loopback device: every
# spec/gpu/*_check.lua, a short real stage (`graphids fit` and `graphids test` of the GAT recipe
# on small synthetic data with trainer.device=cuda, into a temp lake) and bench/gpu/gat_step.lua,
# run with GIDS_CUDA_PLUGIN pointing at $BUILD/lib/graphids_loopback.so, which stands in for the
# CUDA plugin and computes every device op with the runtime's CPU ops (runtime/src/loopback/).
# A failure here is a device-path bug (an op that checks for CPU tensors before handing itself
# to the device, an op with no device entry, a CPU tensor mixed with device ones, a batch left
# on the CPU), not a numerics one.  Prints each script's summary line (and its FAIL lines), then
# "loopback_device: N passed, N failed" (each check script's own counts, one for each stage
# command, one failure for a script that fails without counting one; tools/run-tests.sh adds
# them up); exits 1 when anything failed.
#   --quick                                       leaves out the gat_step benchmark (make test)
#   GIDS_LOOPBACK_ALL=1 spec/gpu/loopback.sh      also fills the entries the CUDA plugin lacks
#   LOOPBACK_VERBOSE=1 spec/gpu/loopback.sh       whole outputs, not only FAIL/summary lines
#   GIDS_LOOPBACK_MEMORY_MIB=N                    the device's memory (default a quarter of RAM)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
quick=0
if [ "${1:-}" = --quick ]; then
  quick=1
  shift
fi
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
status=0 passed=0 failed=0

# Runs the host with a time limit (name, seconds, host arguments...); prints the log's
# FAIL/error/summary lines (or all of it) and adds the log's "N passed, N failed" counts, or one
# pass or failure by the exit status when it prints none.
run() {
  local name=$1 limit=$2
  shift 2
  local log="$tmp/$name.log" rc line
  echo "== $name"
  timeout "$limit" "$HOST" "$@" >"$log" 2>&1
  rc=$?
  if [ "${LOOPBACK_VERBOSE:-0}" = 1 ]; then
    cat "$log"
  else
    grep -E '^(FAIL|skipped|probe )|: [0-9]+ passed, [0-9]+ failed$| error |^gpu_|lua:|traceback' "$log"
  fi
  line=$(grep -E ': [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1)
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')))
  elif [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  fi
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "$name: timed out after ${limit}s"
    echo "$name: exit $rc; last lines:"
    tail -n 5 "$log"
    status=1
    [ -z "$line" ] || [ "$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')" = 0 ] &&
      failed=$((failed + 1))
  fi
  return "$rc"
}

# Prints the summary line and exits with the status.
finish() {
  echo "loopback_device: $passed passed, $failed failed"
  exit $status
}

for spec in spec/gpu/*_check.lua; do
  run "$(basename "$spec" .lua)" 300 run "$spec"
done

# A real stage on the device: gradient clipping in the GAT recipe, the train/val prediction
# sidecars of fit, the test's batches.  Small synthetic captures, a small model, one epoch.
catalog='{"synthetic":{"train":["train_01_attack_free","train_02_with_attacks"],'
catalog+='"test":["test_01_known_vehicle_known_attack"],"simulated":true,"frames":1500,"seed":11}}'
stage_args=(--config recipes/stages/gat.lua --tla "lake_root=$tmp/lake"
  --set "data.init_args.catalog=$catalog" --set data.init_args.batch_size=16
  --set model.init_args.hidden=8 --set model.init_args.heads=2 --set model.init_args.proj_dim=8
  --set model.init_args.embedding_dim=4 --set model.init_args.fc_layers=2
  --set trainer.max_epochs=1 --set trainer.progress=off --set trainer.device=cuda)
if run gat_fit 300 fit "${stage_args[@]}" && run gat_test 300 test "${stage_args[@]}" &&
  [ -z "$(find "$tmp/lake" -name .test_complete -print -quit)" ]; then
  echo "gat_test: no .test_complete marker under $tmp/lake"
  status=1 failed=$((failed + 1))
fi

[ "$quick" = 1 ] && finish
if ! "$HOST" run bench/gpu/write_batches.lua "$tmp/batches" >"$tmp/batches.log" 2>&1; then
  echo "loopback: write_batches failed:"
  tail -n 5 "$tmp/batches.log"
  status=1 failed=$((failed + 1))
  finish
fi
run gat_step 600 run bench/gpu/gat_step.lua "$tmp/batches"
step_rc=$?
# gat_step prints "<row> error <message>" for a failed row and still exits 0.  A row that runs
# out of the loopback device's memory (a quarter of the host's RAM unless
# GIDS_LOOPBACK_MEMORY_MIB says otherwise) says nothing about device paths: reported, not failed.
if grep ' error ' "$tmp/gat_step.log" | grep -qv 'out of memory on cuda:0 (loopback)'; then
  status=1
  # an exit status 0 counted as a pass in run
  [ "$step_rc" -eq 0 ] && passed=$((passed - 1)) failed=$((failed + 1))
fi
grep -q 'out of memory on cuda:0 (loopback)' "$tmp/gat_step.log" &&
  echo "gat_step: a row ran out of the loopback device's memory (not a device-path failure;" \
    "raise GIDS_LOOPBACK_MEMORY_MIB where the host has the RAM)"
finish
