#!/usr/bin/env bash
# Runs every test suite and ends with one line for CI: "N passed, N failed, N skipped".
#   C tests:     $BUILD/asan/test_* (ASan + UBSan), each printing "<suite>: N passed, N failed"
#   loopback:    spec/gpu/loopback.sh --quick: the GPU checks and a short GAT fit/test on the
#                loopback device ($BUILD/lib/graphids_loopback.so), "loopback_device: N passed, ..."
#   busted:      spec/**/*_spec.lua against the build tree (see .busted)
#   skipped:     specs that cannot run here print "skipped: <reason>" (spec/support/skip.lua)
# Usage: tools/run-tests.sh [busted args...]   (extra args narrow the busted run)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
passed=0 failed=0 skipped=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# allocator_may_return_null: specs check that an impossible allocation is an error, not an abort.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
# libgomp spin-waits between parallel regions by default; on a shared or oversubscribed
# machine a spinning thread holds a core the other thread needs, and 2-thread runs were 3-10x
# slower.  Passive waiting (futex sleep) is the robust choice here; override by setting it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in "$BUILD"/asan/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  if "$t" >"$log/$name.out" 2>&1; then :; fi
  line=$(grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' "$log/$name.out" | tail -n1)
  if [ -z "$line" ]; then
    echo "$name: crashed or printed no summary:"; tail -n 30 "$log/$name.out"
    failed=$((failed + 1))
    continue
  fi
  p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
  if [ "$f" != 0 ] || grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log/$name.out"; then
    grep -vE '^[a-z0-9_]+: [0-9]+ passed' "$log/$name.out" | head -n 60
    [ "$f" = 0 ] && f=1
  fi
  echo "C  $line"
  passed=$((passed + p)); failed=$((failed + f))
done

# Device paths without a GPU (docs/development.md, "The loopback device"); not the gat_step
# benchmark, which takes minutes there.
if [ -e "$BUILD/lib/graphids_loopback.so" ] && [ -x "$BUILD/bin/graphids" ]; then
  spec/gpu/loopback.sh --quick "$BUILD" >"$log/loopback.out" 2>&1
  line=$(grep -E '^loopback_device: [0-9]+ passed, [0-9]+ failed$' "$log/loopback.out" | tail -n1)
  if [ -z "$line" ]; then
    echo "spec/gpu/loopback.sh: crashed or printed no summary:"; tail -n 30 "$log/loopback.out"
    failed=$((failed + 1))
  else
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    [ "$f" != 0 ] && grep -v '^loopback_device: ' "$log/loopback.out" | head -n 60
    echo "L  $line"
    passed=$((passed + p)); failed=$((failed + f))
  fi
else
  echo "skipped: loopback device checks ($BUILD/lib/graphids_loopback.so or" \
    "$BUILD/bin/graphids is not built)"
  loopback_skipped=1
fi

export GRAPHIDS_BUILD="$PWD/$BUILD"
lua5.4 /usr/bin/busted --output=plainTerminal --cpath="$BUILD/lua/?.so" "$@" >"$log/busted.out" 2>&1
cat "$log/busted.out"
sum=$(grep -E '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log/busted.out" | tail -n1)
if [ -z "$sum" ]; then
  echo "busted: no summary line (did it crash?)"
  failed=$((failed + 1))
else
  read -r s _ _ fl _ _ er _ <<<"$(echo "$sum" | tr -d ':')"
  passed=$((passed + s)); failed=$((failed + fl + er))
fi
skipped=$(grep -c '^skipped: ' "$log/busted.out" || true)
skipped=$((skipped + ${loopback_skipped:-0}))

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
