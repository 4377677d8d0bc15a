#!/usr/bin/env bash
# Installs a built graphids into DIR with the standard Lua 5.4 layout (called by
# `make install PREFIX=DIR`):
#   DIR/share/lua/5.4/graphids/...      the Lua stdlib (init.lua, repl.lua, ...)
#   DIR/lib/lua/5.4/graphids/core.so    the C module graphids.core
#   DIR/bin/graphids                    the host (finds the stdlib at ../share/lua/5.4)
#   DIR/include/gids/*.h                the public C headers
#   DIR/lib/libgraphids.{a,so}          the runtime, and graphids_cuda.so when it was built
#   DIR/lib/pkgconfig/graphids.pc
# Usage: tools/install.sh PREFIX [BUILD]   (BUILD defaults to build)
# DESTDIR (environment) stages the files under DESTDIR/PREFIX while graphids.pc still says
# PREFIX, as packagers expect.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
  echo "usage: tools/install.sh PREFIX [BUILD]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
build=${2:-build}
case "$1" in
  /*) prefix=$1 ;;
  *) prefix="$PWD/$1" ;;
esac
dest="${DESTDIR:-}$prefix"
mkdir -p "$dest"

for f in "$build/lib/libgraphids.a" "$build/lib/libgraphids.so" "$build/lua/graphids/core.so" \
  "$build/bin/graphids"; do
  if [ ! -f "$f" ]; then
    echo "install: $f is missing; run make first" >&2
    exit 1
  fi
done

luadir="$dest/share/lua/5.4"
cmoddir="$dest/lib/lua/5.4"
install -d "$luadir" "$cmoddir/graphids" "$dest/bin" "$dest/include/gids" "$dest/lib/pkgconfig"

# The stdlib tree, file by file, so the installed copy holds Lua sources only.
(cd stdlib && find . -type f -name '*.lua' | sort) | while read -r f; do
  install -D -m 644 "stdlib/$f" "$luadir/${f#./}"
done
# Recipes, presets and the dataset catalog, where graphids.paths finds them.
(find recipes -type f -name '*.lua' | sort) | while read -r f; do
  install -D -m 644 "$f" "$dest/share/graphids/$f"
done
install -m 755 "$build/lua/graphids/core.so" "$cmoddir/graphids/core.so"
install -m 755 "$build/bin/graphids" "$dest/bin/graphids"
install -m 644 runtime/include/gids/*.h "$dest/include/gids/"
install -m 644 "$build/lib/libgraphids.a" "$dest/lib/libgraphids.a"
install -m 755 "$build/lib/libgraphids.so" "$dest/lib/libgraphids.so"
if [ -f "$build/lib/graphids_cuda.so" ]; then
  install -m 755 "$build/lib/graphids_cuda.so" "$dest/lib/graphids_cuda.so"
fi

version=$(sed -n 's/^#define GIDS_VERSION_STRING "\(.*\)"/\1/p' runtime/include/gids/runtime.h)
cat >"$dest/lib/pkgconfig/graphids.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: graphids
Description: tensor runtime for graph-based CAN-bus intrusion detection
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lgraphids
Libs.private: ${BLAS_LIBS:--lopenblas} -lcurl -lgomp -lm -lpthread -ldl
PC

echo "installed graphids $version into $dest"
echo "  Lua: LUA_PATH='$luadir/?.lua;$luadir/?/init.lua;;' LUA_CPATH='$cmoddir/?.so;;'"
