#!/usr/bin/env bash
# Prints the python of the benchmark peer's virtual environment (PyTorch + NumPy), creating it
# outside the repository on first use ($GRAPHIDS_PEER_VENV, default ~/.cache/graphids-peer).
# The first install downloads several GB from PyPI.  Exits 1 with a reason when it cannot.
set -uo pipefail
venv=${GRAPHIDS_PEER_VENV:-$HOME/.cache/graphids-peer}
if ! "$venv/bin/python" -c 'import torch' >/dev/null 2>&1; then
  echo "peer: creating $venv with torch and numpy (one-time, large download)" >&2
  python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q torch numpy >&2 \
    || { echo "peer: could not install torch into $venv" >&2; exit 1; }
fi
echo "$venv/bin/python"
