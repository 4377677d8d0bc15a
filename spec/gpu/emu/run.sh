#!/usr/bin/env bash
# spec/gpu/emu/run.sh [BUILD] -- runs the CUDA plugin's graph attention, LSTM cell, bernoulli_,
# softmax, chunked scan and Adam list kernel bodies and its vector map on the CPU against the
# runtime's CPU ops (kernels_emu.cpp says how), for a machine without a GPU.  Needs g++ and a built
# $BUILD/lib/libgraphids.so (default build).
# The kernels are cut out of runtime/src/cuda/*.cu between their section comments; a cut that
# comes out empty (a renamed section) is an error, not a silent pass.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BUILD=${1:-${BUILD:-build}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=runtime/src/cuda
# graph_attention.cu: from "device helpers" up to (not including) "launches"
sed -n '/-- device helpers \*\//,/-- launches \*\//p' $src/graph_attention.cu | sed '$d' \
  >"$tmp/attention.inc"
# rnn.cu: after its include, up to (not including) "arguments"
sed -n '/#include "cuda_impl.h"/,/-- arguments/p' $src/rnn.cu | sed '1d;$d' >"$tmp/rnn.inc"
# rng.cu: the Philox rounds and the kernel, up to the entry point
sed -n '/^\/\* Philox 4x32-10/,/^gids_status gc_bernoulli_/p' $src/rng.cu | sed '$d' \
  >"$tmp/rng.inc"
# softmax.cu: its thread and row kernels and the row classes the launcher picks from (the block
# kernel's __syncthreads is not emulated)
sed -n '/-- kernels \*\//,/-- block kernel \*\//p' $src/softmax.cu | sed '$d' >"$tmp/softmax.inc"
grep -q SOFTMAX_ROW_CLASSES "$tmp/softmax.inc" || { echo "emu: no softmax row classes cut out"; exit 1; }
# scan.cu: its kernels (between "scan kernels" and "launches") and the chunk sizes
{ grep -E '^#define SCAN_' $src/scan.cu
  sed -n '/-- scan kernels \*\//,/-- launches \*\//p' $src/scan.cu | sed '$d'; } >"$tmp/scan.inc"
# optim.cu: its rounded arithmetic and the Adam kernels (up to "Adam launches")
{ echo '#define GC_THREADS 256'
  sed -n '/-- rounded arithmetic \*\//,/-- checks (as the CPU) \*\//p' $src/optim.cu | sed '$d'
  sed -n '/-- Adam \/ AdamW \*\//,/-- Adam launches \*\//p' $src/optim.cu | sed '$d'; } \
  >"$tmp/adam.inc"
# cuda_impl.h: the vector map (gc_map1, gc_map2) the elementwise kernels use
sed -n '/-- vector map \*\//,/-- end vector map \*\//p' runtime/src/cuda/cuda_impl.h \
  >"$tmp/vector_map.inc"
grep -q gc_map2 "$tmp/vector_map.inc" || { echo "emu: no vector map cut out of cuda_impl.h"; exit 1; }
# cuda_impl.h's gc_layout and gc_offset, and copy.cu's gc_layouts (the strided index math of
# every elementwise, copy and index kernel)
{ sed -n '/A view.s shape and element strides/,/^void gc_layouts(/p' runtime/src/cuda/cuda_impl.h
  sed -n '/-- layouts \*\//,/-- conversion kernels \*\//p' $src/copy.cu | sed '$d'; } \
  >"$tmp/layouts.inc"
grep -q 'gc_layouts(int n' "$tmp/layouts.inc" && grep -q 'gc_offset' "$tmp/layouts.inc" \
  || { echo "emu: no layouts cut out of cuda_impl.h and copy.cu"; exit 1; }
for f in attention rnn rng softmax scan adam; do
  grep -q __global__ "$tmp/$f.inc" || { echo "emu: no kernel cut out of $f (sections renamed?)"; exit 1; }
done
[ -e "$BUILD/lib/libgraphids.so" ] || { echo "emu: $BUILD/lib/libgraphids.so not built"; exit 1; }
# Twice: under ASan/UBSan (bounds, leaks), then under TSan, where a missing __syncwarp between
# a lane's write and another lane's read is a reported race (one OpenMP thread: the CPU
# reference's runtime is not instrumented).
flags=(-std=c++17 -O1 -g -ffp-contract=off -Wall -Wno-unknown-pragmas -Iruntime/include -I"$tmp"
  spec/gpu/emu/kernels_emu.cpp -L"$BUILD/lib" -lgraphids -Wl,-rpath,"$PWD/$BUILD/lib" -pthread)
g++ "${flags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=undefined -o "$tmp/emu_asan"
g++ "${flags[@]}" -fsanitize=thread -o "$tmp/emu_tsan"
ASAN_OPTIONS=detect_leaks=1 "$tmp/emu_asan"
OMP_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 "$tmp/emu_tsan" groups
