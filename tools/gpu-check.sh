#!/usr/bin/env bash
# make check-gpu: the GPU checks, meant for a machine with an NVIDIA GPU (the `device` machine).
# It uses a build carried from the development machine (tools/gpu-carry.sh) or builds here when
# none is present, then: graphids version and gpu info, the CPU/GPU parity specs
# (spec/gpu/*_check.lua), and the GPU benchmarks beside PyTorch
# (bench/gpu, bench/peer): matmul, copies, the fused ops, and the GAT classifier's training
# step on the batches tools/gpu-carry.sh wrote (.gpu-carry/batches) beside PyTorch Geometric.
# Every step has a time limit, so one hung kernel cannot eat the machine's lease.
# Everything goes to stdout and, when $OUT is set, to $OUT/gpu-check.log and $OUT/summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-}
log() { if [ -n "$OUT" ]; then tee -a "$OUT/gpu-check.log"; else cat; fi; }
[ -n "$OUT" ] && mkdir -p "$OUT" && : >"$OUT/gpu-check.log"

# The carried build, unpacked outside the checkout (so the packed carry stays all there is).
CARRY=.gpu-carry
if [ -e .gpu-carry/carry.tar.xz ]; then
  CARRY=$(mktemp -d)
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
    .gpu-carry/carry.tar.xz "$CARRY" || echo "gpu-check: could not unpack the carry" | log
fi
[ -d /usr/local/cuda/lib64 ] && export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -d "$CARRY/lib" ]; then
  export LD_LIBRARY_PATH="$(cd "$CARRY/lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
HOST="$BUILD/bin/graphids"
if [ -x "$CARRY/bin/graphids" ]; then
  HOST="$CARRY/bin/graphids" # carried; its stdlib is this checkout's
  export GRAPHIDS_STDLIB="$PWD/stdlib"
elif [ ! -x "$HOST" ] || [ ! -e "$BUILD/lib/graphids_cuda.so" ]; then
  echo "gpu-check: no carried build; building here" | log
  make build 2>&1 | tail -n 20 | log
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | log

status=0
{
  echo "== graphids version"; "$HOST" version
  echo "== graphids gpu info"; "$HOST" gpu info
} 2>&1 | log
# Every spec/gpu/*_check.lua: gpu_check (copies, elementwise, reductions, BLAS, index/segment
# ops, optimizers, allocator), fused_check (graph attention, LSTM cell, batched matmul, the
# models' steps), amp_check (mixed precision), ...
for spec in spec/gpu/*_check.lua; do
  echo "== GPU specs: $spec" | log
  GRAPHIDS_CUDA_SYNC=1 timeout 150 "$HOST" run "$spec" 2>&1 | log
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done

echo "== GPU benchmarks (graphids, then PyTorch on the same device)" | log
ours=$(mktemp) peer=$(mktemp)
timeout 120 "$HOST" run bench/gpu/gpu_bench.lua 2>&1 | tee "$ours" | log
# Fused graph attention and LSTM cell against their composed forms (no PyTorch row).
timeout 120 "$HOST" run bench/gpu/fused_bench.lua 2>&1 | tee -a "$ours" | log
# The same product with TF32 allowed (cuBLAS reads the setting when a handle is made).
GRAPHIDS_ALLOW_TF32=1 timeout 60 "$HOST" run bench/gpu/gpu_bench.lua 2>&1 | grep tf32 \
  | tee -a "$ours" | log
timeout 120 python3 bench/peer/torch_gpu.py 2>&1 | tee "$peer" | log
bdir="$CARRY/batches"
if [ ! -d "$bdir" ]; then
  bdir=$(mktemp -d)
  "$HOST" run bench/gpu/write_batches.lua "$bdir" 2>&1 | log
fi
echo "== GAT training step on the GPU (graphids, then PyTorch Geometric)" | log
timeout 240 "$HOST" run bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
GNN_DEVICE=cuda PYTHONUNBUFFERED=1 timeout 180 python3 bench/peer/gnn_pyg.py 1 "$bdir" 2>&1 \
  | tee -a "$peer" | log
{
  # Throughputs and memory: graphids / torch.  Times (_ms): torch / graphids, the speed-up.
  printf '\n%-28s %12s %12s %8s\n' benchmark graphids torch ratio
  awk 'NR == FNR { peer[$1] = $2; next }
       ($1 in peer) && $1 ~ /_ms$/ { printf "%-28s %12s %12s %8.3f speed-up\n", $1, $2, peer[$1], peer[$1] / $2; next }
       ($1 in peer) { printf "%-28s %12s %12s %8.3f\n", $1, $2, peer[$1], $2 / peer[$1] }' \
    "$peer" "$ours"
  grep -E ' error |^gpu_gat_curve' "$ours"
  grep -E '^gpu_memory|^gpu_(gat|gatv2|lstm)_' "$ours"
  grep -E '^[a-z]+: [0-9]+ passed|^probe ' "${OUT:-/dev/null}/gpu-check.log" 2>/dev/null || true
} | tee "${OUT:+$OUT/summary.txt}" | log
rm -f "$ours" "$peer"
exit $status
