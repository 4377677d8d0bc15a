#!/usr/bin/env bash
# bench/gpu/ncu_map.sh HOST -- why our vector-map kernels move bytes more slowly than PyTorch's
# (relu over 1 GiB: 0.604 against 0.533 ms of device time on an H200, docs/cuda.md): both sides'
# relu kernel, the second launch of each (the first is a warm-up), under Nsight Compute's
# speed-of-light, launch, occupancy and memory-workload sections, printed side by side.  For the
# device machine, in tools/gpu-check.sh's environment (LD_LIBRARY_PATH, GRAPHIDS_STDLIB set).
# Writes $OUT/ncu_map_{ours,torch}.csv and $OUT/ncu_map.txt when OUT is set.
set -uo pipefail
HOST=${1:?usage: ncu_map.sh HOST}
OUT=${OUT:-/tmp}
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
SECTIONS=(--section SpeedOfLight --section LaunchStats --section Occupancy
  --section MemoryWorkloadAnalysis --section WarpStateStats)
# Our relu kernel is unary_vec_kernel, PyTorch's vectorized_elementwise_kernel (its randn is another);
# --launch-skip 1 -c 1 takes the second launch of each.
timeout 150 "$NCU" --clock-control none "${SECTIONS[@]}" -k regex:unary_vec_kernel --launch-skip 1 \
  -c 1 --csv --page details "$HOST" run bench/gpu/map_once.lua >"$OUT/ncu_map_ours.csv" \
  2>"$OUT/ncu_map_ours.err"
echo "ncu (ours) exit $?"
timeout 150 "$NCU" --clock-control none "${SECTIONS[@]}" -k regex:vectorized_elementwise_kernel --launch-skip 1 \
  -c 1 --csv --page details python3 bench/peer/map_once.py >"$OUT/ncu_map_torch.csv" \
  2>"$OUT/ncu_map_torch.err"
echo "ncu (torch) exit $?"
# CSV rows: ..."Kernel Name",...,"Section Name","Metric Name","Metric Unit","Metric Value"
python3 - "$OUT/ncu_map_ours.csv" "$OUT/ncu_map_torch.csv" <<'PY' | tee "$OUT/ncu_map.txt"
import csv, sys

def read(path):
    try:
        rows = [r for r in csv.reader(open(path)) if len(r) > 5]
    except OSError as e:
        return "", {}, []
    if not rows or "Metric Name" not in rows[0]:
        return "", {}, []
    h = rows[0]
    k, s, m, u, v = (h.index(c) for c in
                     ("Kernel Name", "Section Name", "Metric Name", "Metric Unit", "Metric Value"))
    vals, order = {}, []
    for r in rows[1:]:
        key = (r[s], r[m])
        if key not in vals:
            order.append(key)
        vals[key] = f"{r[v]} {r[u]}".strip()
    return rows[1][k][:60] if len(rows) > 1 else "", vals, order

kn_o, ours, order = read(sys.argv[1])
kn_t, torch_, order_t = read(sys.argv[2])
for key in order_t:
    if key not in ours:
        order.append(key)
print(f"ours:  {kn_o or '(no kernel profiled)'}\ntorch: {kn_t or '(no kernel profiled)'}")
print(f"{'section / metric':62} {'ours':>22} {'torch':>22}")
for sec, met in order:
    print(f"{(sec + ' / ' + met)[:62]:62} {ours.get((sec, met), '-')[:22]:>22} "
          f"{torch_.get((sec, met), '-')[:22]:>22}")
PY
