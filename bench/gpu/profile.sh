#!/usr/bin/env bash
# bench/gpu/profile.sh HOST BATCH_DIR [SIZE [GRAPHS]] -- where the GAT classifier's training step
# spends its time on the GPU (for the device machine; tools/gpu-check.sh's environment):
# the module profile (bench/gnn/gnn_profile.lua, synchronised around each part), then one step
# under Nsight Compute with each kernel's duration, summed per kernel name (the largest first).
# Writes $OUT/profile.txt and $OUT/kernels.csv when OUT is set.
set -uo pipefail
HOST=$1 BDIR=$2 SIZE=${3:-large} G=${4:-1024}
OUT=${OUT:-/tmp}
GNN_DEVICE=cuda GNN_BATCH_DIR="$BDIR" GNN_REPS=5 timeout 120 "$HOST" run bench/gnn/gnn_profile.lua \
  1 "$SIZE" "$G" 2>&1 | tee "$OUT/profile.txt"
GAT_ROWS="gpu_gat_${SIZE}_b${G}" GAT_STEPS=1 timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum \
  --csv "$HOST" run bench/gpu/gat_step.lua "$BDIR" >"$OUT/kernels.csv" 2>"$OUT/ncu.err"
echo "ncu exit $?; $(grep -c gpu__time_duration "$OUT/kernels.csv") kernels"
# CSV rows: ..."Kernel Name",..."Metric Name","Metric Unit","Metric Value" (ns or us)
python3 - "$OUT/kernels.csv" <<'PY' | tee -a "$OUT/profile.txt"
import csv, sys, collections
tot, cnt = collections.Counter(), collections.Counter()
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 5]
hdr = rows[0]
k, u, v = hdr.index("Kernel Name"), hdr.index("Metric Unit"), hdr.index("Metric Value")
scale = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "ns": 1e-6, "us": 1e-3, "ms": 1.0}
for r in rows[1:]:
    try:
        ms = float(r[v].replace(",", "")) * scale.get(r[u], 1e-6)
    except ValueError:
        continue
    name = r[k].split("(")[0][:90]
    tot[name] += ms
    cnt[name] += 1
all_ms = sum(tot.values())
print(f"one step: {sum(cnt.values())} kernels, {all_ms:.2f} ms of kernel time")
for name, ms in tot.most_common(40):
    print(f"{ms:9.3f} ms {100 * ms / all_ms:5.1f}% {cnt[name]:5d}x  {name}")
PY
