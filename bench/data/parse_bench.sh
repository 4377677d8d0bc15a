#!/usr/bin/env bash
# parse_bench.sh -- builds bench/data/parse_bench.c against $BUILD/lib/libgraphids.a (one prelinked
# object: the whole runtime links, so its libraries too) and runs it
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
mkdir -p "$BUILD/bench"
${CC:-gcc} -std=c11 -D_GNU_SOURCE -O3 -fopenmp -Iruntime/include bench/data/parse_bench.c \
  "$BUILD/lib/libgraphids.a" -o "$BUILD/bench/parse_bench" -lopenblas -lcurl -lgomp -lm -lpthread -ldl
"$BUILD/bench/parse_bench" "$DIR" "${2:-9}"
