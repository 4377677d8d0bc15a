#!/usr/bin/env bash
# Prepares what the GPU machine needs to run this build: it has CUDA, gcc and Python with
# PyTorch, but no Lua, OpenBLAS or readline.  Copies the shared libraries the built programs
# load (outside glibc and CUDA) into .gpu-carry/lib, which tools/gpu-check.sh puts on
# LD_LIBRARY_PATH.  Carry build/bin, build/lib, build/lua and .gpu-carry to that machine.
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
      *) cp -L -n "$lib" "$dest/" ;;
    esac
  done
done
# grep busted's needs are not carried: the GPU specs are plain Lua run by build/bin/graphids.
du -sh .gpu-carry
ls "$dest"
