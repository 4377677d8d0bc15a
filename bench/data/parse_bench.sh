#!/usr/bin/env bash
# parse_bench.sh -- builds bench/data/parse_bench.c (make $BUILD/bench/parse_bench, linked with
# the runtime's libraries) and runs it
# over the full hcrl_sa (or DIR): parse alone, files in parallel, median of RUNS runs.
#   BUILD=build bench/data/parse_bench.sh [DIR] [RUNS]
# Prints one table row (can_parse_mfps ...) in tools/run-bench.sh's format; skips with a printed
# reason when the data is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DIR=${1:-../shared/data/can/hcrl_sa}
if [ ! -d "$DIR" ]; then
  echo "skipped: no CAN data at $DIR" >&2
  exit 0
fi
make --no-print-directory -s BUILD="$BUILD" "$BUILD/bench/parse_bench" >&2
"$BUILD/bench/parse_bench" "$DIR" "${2:-9}"
