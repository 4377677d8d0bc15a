#!/usr/bin/env bash
# make check-gpu: the GPU checks, meant for a machine with an NVIDIA GPU (the `device` machine).
# It uses a build carried from the development machine (tools/gpu-carry.sh) or builds here when
# none is present, then: graphids version and gpu info, the CPU/GPU parity specs
# (spec/gpu/*_check.lua), the whole pipeline with --tla device=cuda on the simulator's data
# (correctness first, so a slow benchmark cannot crowd it out), and last the GPU benchmarks
# beside PyTorch (bench/gpu, bench/peer): matmul, copies, the fused ops, and the GAT
# classifier's training step on the batches tools/gpu-carry.sh wrote (.gpu-carry/batches)
# beside PyTorch Geometric.
# Every step has a time limit, so one hung kernel cannot eat the machine's lease.
# Everything goes to stdout and, when $OUT is set, to $OUT/gpu-check.log and $OUT/summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
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
  carry_lib=$(cd "$CARRY/lib" && pwd)
  export LD_LIBRARY_PATH="$carry_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
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
# models' steps, the fusion policies), grad_check (op gradients, i32 indexes, empty inputs),
# train_check (the optimizers over several steps, the losses and norms, the real GAT's loss
# curve), amp_check (mixed precision), empty_check (every kind of op over inputs with a 0 size),
# refusal_check, sort_check, stream_check, optim_check (optimizers composed from tensor ops),
# index_check (kept index ranges and bounds carried through ops never let a bad index through).
# A script killed by a signal (a fault in a kernel or the plugin) is run again with each check
# named before it runs (GRAPHIDS_CHECK_TRACE=1), so the log says which check it died in.
for spec in spec/gpu/*_check.lua; do
  echo "== GPU specs: $spec" | log
  GRAPHIDS_CUDA_SYNC=1 timeout 150 "$HOST" run "$spec" 2>&1 | log
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && continue
  status=1
  echo "probe $spec exited with status $rc" | log
  if [ "$rc" -gt 128 ] && [ "$rc" -ne 137 ]; then
    GRAPHIDS_CHECK_TRACE=1 GRAPHIDS_CUDA_SYNC=1 timeout 150 "$HOST" run "$spec" 2>&1 \
      | tail -n 8 | sed 's/^/  traced: /' | log
  fi
done

# The whole pipeline on the GPU (every stage's model, the fusion states and every test set), on
# the simulator's data: its results table, and whether it ran to the end.
echo "== The pipeline on the GPU (synthetic data, --tla device=cuda)" | log
plake=$(mktemp -d)
timeout 200 "$HOST" pipeline recipes/pipelines/graphids.lua --tla device=cuda --lake-root "$plake" \
  2>&1 | log
prc=${PIPESTATUS[0]}
echo "probe pipeline_on_gpu rc=$prc" | log
[ "$prc" -eq 0 ] || status=1

echo "== GPU benchmarks (graphids, then PyTorch on the same device)" | log
ours=$(mktemp) peer=$(mktemp)
timeout 120 "$HOST" run bench/gpu/gpu_bench.lua 2>&1 | tee "$ours" | log
# Fused graph attention and LSTM cell against their composed forms (no PyTorch row).
timeout 120 "$HOST" run bench/gpu/fused_bench.lua 2>&1 | tee -a "$ours" | log
# The same product with TF32 allowed (cuBLAS reads the setting when a handle is made).
GRAPHIDS_ALLOW_TF32=1 timeout 60 "$HOST" run bench/gpu/gpu_bench.lua 2>&1 | grep tf32 \
  | tee -a "$ours" | log
timeout 120 python3 bench/peer/torch_gpu.py 2>&1 | tee "$peer" | log
# cuDNN's softmax and activations on the same inputs (bench/peer/cudnn_ops.cu), with the
# libcudnn.so.9 of PyTorch's wheels.
cudnn=$(mktemp)
if [ -x "$CARRY/bin/cudnn_ops" ]; then
  cudnn_dir=$(dirname "$(timeout 30 find /opt /usr/local /usr/lib -name libcudnn.so.9 2>/dev/null | head -n 1)")
  LD_LIBRARY_PATH="$cudnn_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 60 "$CARRY/bin/cudnn_ops" \
    2>&1 | tee "$cudnn" | log
else
  echo "gpu-check: no carried cudnn_ops (tools/gpu-carry.sh builds it); no cuDNN rows" | log
fi
bdir="$CARRY/batches"
if [ ! -d "$bdir" ]; then
  bdir=$(mktemp -d)
  "$HOST" run bench/gpu/write_batches.lua "$bdir" 2>&1 | log
fi
echo "== GAT training step on the GPU (graphids, then PyTorch Geometric)" | log
timeout 240 "$HOST" run bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
GNN_DEVICE=cuda PYTHONUNBUFFERED=1 timeout 180 python3 bench/peer/gnn_pyg.py 1 "$bdir" 2>&1 \
  | tee -a "$peer" | log
# Precision matched: PyTorch's default lets cuDNN run the JK LSTM in TF32 while graphids' f32
# stays f32 unless GRAPHIDS_ALLOW_TF32=1.  So the large model also runs with TF32 on both sides
# (_tf32) and PyTorch with TF32 off everywhere (_f32strict, beside our default rows).
rows=gpu_gat_small_b1024,gpu_gat_large_b1024
GRAPHIDS_ALLOW_TF32=1 GAT_ROWS=$rows GAT_SUFFIX=_tf32 timeout 120 "$HOST" run \
  bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
# PyTorch's default precision on both sides (_rnntf32 beside PyTorch's default rows): products
# in strict f32, the LSTM in TF32 (cuDNN's RNN in PyTorch; gpu.set_rnn_tf32 / GRAPHIDS_RNN_TF32
# for our fused LSTM).
GRAPHIDS_RNN_TF32=1 GAT_ROWS=$rows GAT_SUFFIX=_rnntf32 timeout 120 "$HOST" run \
  bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
# Mixed precision: the forward under bf16 autocast on both sides (_bf16).
GAT_AUTOCAST=bf16 GAT_ROWS=$rows GAT_SUFFIX=_bf16 timeout 120 "$HOST" run \
  bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
# The same without autocast's cast cache (each parameter cast at every use): what the cache saves.
GAT_AUTOCAST=bf16 GAT_AUTOCAST_CACHE=0 GAT_ROWS=$rows GAT_SUFFIX=_bf16_nocache timeout 120 \
  "$HOST" run bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
# GEMM algorithms timed per shape on both sides (_f32tuned: strict f32, _tf32tuned: TF32):
# ours with GRAPHIDS_GEMM_TUNE=1 (each row lists the shapes and what the timing chose), PyTorch
# with torch.backends.cudnn.benchmark (GNN_BENCHMARK=1).
large=gpu_gat_large_b1024
GRAPHIDS_GEMM_TUNE=1 GAT_ROWS=$large GAT_SUFFIX=_f32tuned timeout 120 "$HOST" run \
  bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
GRAPHIDS_GEMM_TUNE=1 GRAPHIDS_ALLOW_TF32=1 GAT_ROWS=$large GAT_SUFFIX=_tf32tuned timeout 120 \
  "$HOST" run bench/gpu/gat_step.lua "$bdir" 2>&1 | tee -a "$ours" | log
for mode in STRICT_F32:_f32tuned TF32:_tf32tuned; do
  env GNN_DEVICE=cuda "GNN_${mode%%:*}=1" GNN_BENCHMARK=1 GNN_ROWS=$large GNN_SUFFIX="${mode#*:}" \
    PYTHONUNBUFFERED=1 timeout 120 python3 bench/peer/gnn_pyg.py 1 "$bdir" 2>&1 \
    | tee -a "$peer" | log
done
for mode in TF32:_tf32 STRICT_F32:_f32strict AUTOCAST=bf16:_bf16; do
  setting=${mode%%:*}
  [[ $setting == *=* ]] || setting="$setting=1"
  env GNN_DEVICE=cuda "GNN_$setting" GNN_ROWS=$rows GNN_SUFFIX="${mode#*:}" \
    PYTHONUNBUFFERED=1 timeout 120 python3 bench/peer/gnn_pyg.py 1 "$bdir" 2>&1 \
    | tee -a "$peer" | log
done
{
  # Throughputs and memory: graphids / torch.  Times (_ms): torch / graphids, the speed-up.
  printf '\n%-34s %12s %12s %8s\n' benchmark graphids torch ratio
  # A peer row NAME_f32strict_X is set beside our NAME_X (our f32 is always strict); our
  # NAME_rnntf32_X beside the peer's NAME_X (PyTorch's default precision).
  awk 'function row(name, ours, theirs) {
         if (name ~ /_ms$/) printf "%-34s %12s %12s %8.3f speed-up\n", name, ours, theirs, theirs / ours
         else printf "%-34s %12s %12s %8.3f\n", name, ours, theirs, ours / theirs }
       NR == FNR { peer[$1] = $2; next }
       { ours[$1] = $2; if ($1 in peer) row($1, $2, peer[$1])
         else if ($1 ~ /_rnntf32_/) { b = $1; sub(/_rnntf32/, "", b); if (b in peer) row($1, $2, peer[b]) } }
       END { for (p in peer) if (p ~ /_f32strict_/) { o = p; sub(/_f32strict/, "", o)
               if (o in ours) row(p, ours[o], peer[p]) } }' \
    "$peer" "$ours" | sort -s -k1,1
  # ours beside cuDNN's on the same inputs: ratio = graphids / cuDNN (GB/s)
  awk 'NR == FNR { if ($1 ~ /^cudnn_/) c[substr($1, 7)] = $2; next }
       $1 ~ /^gpu_/ { k = substr($1, 5); if (k in c) printf "%-34s %12s %12s %8.3f (cuDNN)\n", $1, $2, c[k], $2 / c[k] }' \
    "$cudnn" "$ours"
  grep -E '^cudnn_version|^cudnn_ops:' "$cudnn"
  grep -E ' error |^gpu_gat_curve' "$ours"
  grep -E '^gpu_memory|^gpu_(gat|gatv2|lstm)_' "$ours" | grep -v '_nocache'
  grep -E '_bf16(_nocache)?_ms' "$ours"
  grep -E '^[a-z]+: [0-9]+ passed|^probe ' "${OUT:-/dev/null}/gpu-check.log" 2>/dev/null || true
} | tee "${OUT:+$OUT/summary.txt}" | log
rm -f "$ours" "$peer" "$cudnn"
echo "gpu-check: ${SECONDS} s, status $status" | log
exit $status
