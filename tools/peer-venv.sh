#!/usr/bin/env bash
# Prints the python of the benchmark and fixture peer's virtual environment (PyTorch, PyTorch
# Geometric, NumPy, polars, pandas, safetensors, scikit-learn), creating or completing it outside the
# repository on first use ($GRAPHIDS_PEER_VENV, default ~/.cache/graphids-peer).
# The first install downloads several GB from PyPI.  Exits 1 with a reason when it cannot.
set -uo pipefail
venv=${GRAPHIDS_PEER_VENV:-$HOME/.cache/graphids-peer}
if ! "$venv/bin/python" -c 'import torch, torch_geometric, polars, pandas, safetensors, sklearn' >/dev/null 2>&1; then
  echo "peer: installing torch, torch_geometric, polars, pandas, safetensors into $venv (one-time, large download)" >&2
  { [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2; } &&
    "$venv/bin/pip" install -q torch torch_geometric numpy polars pandas safetensors scikit-learn >&2 \
    || { echo "peer: could not install the peer packages into $venv" >&2; exit 1; }
fi
echo "$venv/bin/python"
