#!/usr/bin/env bash
# Prepares what the GPU machine needs to run this build: it has CUDA, gcc and Python with
# PyTorch, but no Lua, OpenBLAS or readline.  Copies the shared libraries the built programs
# load (outside glibc and CUDA) into .gpu-carry/lib, which tools/gpu-check.sh puts on
# LD_LIBRARY_PATH, with the host program and the CUDA plugin (debug info stripped: the carry is
# limited to 64 MiB) and the GAT step benchmark's batches, packed into .gpu-carry/carry.tar.xz,
# so carrying .gpu-carry alone is enough.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
dest=.gpu-carry/lib
rm -rf .gpu-carry
mkdir -p "$dest"
for bin in "$BUILD/bin/graphids" "$BUILD/lua/graphids/core.so" "$BUILD/lib/graphids_cuda.so"; do
  [ -e "$bin" ] || continue
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libcuda.so*|libcudart*|libcublas*) ;;
      libstdc++.so*|libgcc_s.so*) ;; # part of every gcc installation
      *) cp -L -n "$lib" "$dest/" ;;
    esac
  done
done
# The host finds the plugin in ../lib beside itself; busted is not needed (the GPU specs are
# plain Lua run by the host).
mkdir -p .gpu-carry/bin
strip -o .gpu-carry/bin/graphids "$BUILD/bin/graphids"
strip --strip-debug -o "$dest/graphids_cuda.so" "$BUILD/lib/graphids_cuda.so"
# cuDNN's softmax and activations beside ours (bench/peer/cudnn_ops.cu; a peer, not the runtime):
# the GPU machine's libcudnn.so.9 comes with PyTorch's wheels.
nvcc -std=c++17 -O2 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
  -o .gpu-carry/bin/cudnn_ops bench/peer/cudnn_ops.cu -lcudnn
# The GAT step benchmark's batches (real windows when ../shared's data is here): the GPU machine
# has no copy of the data.
"$BUILD/bin/graphids" run bench/gpu/write_batches.lua .gpu-carry/batches
# Packed, since the carry is limited to 64 MiB (about 100 MB unpacked, 17 MB as xz);
# tools/gpu-check.sh unpacks it with Python's tarfile (that machine may lack xz).
tar -C .gpu-carry -cf - bin lib batches | xz -T0 -6 >.gpu-carry/carry.tar.xz
rm -rf .gpu-carry/bin .gpu-carry/lib .gpu-carry/batches
ls -la .gpu-carry
