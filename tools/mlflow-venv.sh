#!/usr/bin/env bash
# Prints the python of the MLflow test environment (the full `mlflow` package: server, SQLite
# store and Python client), creating it outside the repository on first use
# ($GRAPHIDS_MLFLOW_VENV, default ~/.cache/graphids-mlflow).  The tracking specs start a real
# `mlflow server` from it and read back what graphids sent through MLflow's own client.
# Exits 1 with a reason when it cannot (no network, no venv module).
set -uo pipefail
venv=${GRAPHIDS_MLFLOW_VENV:-$HOME/.cache/graphids-mlflow}
if ! "$venv/bin/python" -c 'import mlflow, mlflow.server' >/dev/null 2>&1; then
  echo "mlflow-venv: installing mlflow into $venv (one-time download)" >&2
  { [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2; } &&
    "$venv/bin/pip" install -q mlflow >&2 \
    || { echo "mlflow-venv: could not install mlflow into $venv" >&2; exit 1; }
fi
echo "$venv/bin/python"
