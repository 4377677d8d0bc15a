#!/usr/bin/env bash
# Install what graphids needs to build and test, with apt-get, only when something is missing.
# Idempotent and fast: when every tool and header is present it checks and returns at once.
# Usage: tools/deps.sh [--lint]   (--lint adds the formatters and linters used by make fmt / lint)
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_file() { [ -e "$1" ]; }
want() { need+=("$1"); }

have_cmd gcc || want gcc
have_cmd make || want make
have_cmd pkg-config || want pkg-config
have_cmd lua5.4 || want lua5.4
have_file /usr/include/lua5.4/lua.h || want liblua5.4-dev
have_file /usr/include/x86_64-linux-gnu/cblas.h || have_file /usr/include/cblas.h \
  || have_file /usr/include/openblas/cblas.h || want libopenblas-dev
# The OpenMP build of OpenBLAS shares the runtime's thread pool (see the Makefile's BLAS_LIBS).
have_file /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 || want libopenblas0-openmp
have_file /usr/include/readline/readline.h || want libreadline-dev
have_file /usr/include/x86_64-linux-gnu/curl/curl.h || have_file /usr/include/curl/curl.h \
  || want libcurl4-openssl-dev
lua5.4 -e 'require "cjson"' >/dev/null 2>&1 || want lua-cjson
have_cmd busted || want lua-busted
# The REPL's terminal spec drives a pseudo-terminal with pexpect (from any python3 on PATH).
python3 -c 'import pexpect' >/dev/null 2>&1 || /usr/bin/python3 -c 'import pexpect' >/dev/null 2>&1 \
  || want python3-pexpect

if [ "${1:-}" = "--lint" ]; then
  have_cmd clang-format || want clang-format
  have_cmd cppcheck || want cppcheck
  have_cmd luacheck || want lua-check
fi

[ ${#need[@]} -eq 0 ] && exit 0

echo "deps: installing ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing on a fresh machine; refresh them once if an install fails.
if ! $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
