-- gat_step.lua -- the GAT classifier's training step on the GPU (bench/gnn/gnn_bench.lua's step:
-- zero_grad, forward, cross-entropy, backward, Adam), beside bench/peer/gnn_pyg.py with
-- GNN_DEVICE=cuda on the same batches, for tools/gpu-check.sh.
--   graphids run bench/gpu/gat_step.lua BATCH_DIR      (batch_{32,1024}.safetensors, written by
--                                                        bench/gpu/write_batches.lua)
-- Rows: gpu_gat_{small,large}_b{B}_ms (median of REPS steps after warm-up, synchronised) and
-- gpu_gat_{small,large}_b{B}_waits (the waits for the device a step made, gpu.waits()),
-- gpu_gat_{small,large}_b{B}_peak_mib (the allocator's peak over those steps, the model,
-- optimizer state and batch included: gpu.reset() first makes the peak the live bytes).  A row
-- that fails prints "<name> error <message>" and the others still run.  GAT_ROWS=name,...
-- (gpu_gat_large_b1024, ...) runs only those rows, GAT_SUFFIX=s appends s to the row names
-- (gpu_gat_large_b1024_tf32_ms, for a run with GRAPHIDS_ALLOW_TF32=1).  With GEMM tuning on
-- (GRAPHIDS_GEMM_TUNE=1) each row also lists the shapes tuned and their timings.  GAT_AUTOCAST=bf16 (or
-- f16, without a GradScaler: a timing only) runs each step's forward and loss under
-- graphids.autocast (docs/amp.md), as Trainer{precision = "bf16-mixed"} does; run it with
-- GAT_SUFFIX=_bf16.  Then "gpu_gat_curve" (with the suffix): 10 steps of the small model on 32
-- graphs from the same weights and dropout stream on the CPU and the GPU, and the largest
-- relative difference of their losses (under GAT_AUTOCAST the CPU stays f32: autocast is a
-- no-op there, so the row shows how far the mixed-precision losses drift from f32).
package.path = "bench/gnn/?.lua;" .. package.path
local graphids = require "graphids"
local graphs = require "graphs"
local models = require "graphids.models"
local optim = require "graphids.optim"

if not graphids.gpu.is_available() then
  print("skipped: " .. graphids.gpu.status())
  return
end
local dir = assert(arg[1], "usage: gat_step.lua BATCH_DIR")
local REPS, WARMUP = 10, 3
if os.getenv("GAT_STEPS") then -- GAT_STEPS=n: n timed steps, no warm-up (profilers)
  REPS, WARMUP = tonumber(os.getenv("GAT_STEPS")), 0
end
-- GAT_ROWS=name,... runs only those rows (and no curve).
local only
if os.getenv("GAT_ROWS") then
  only = {}
  for r in os.getenv("GAT_ROWS"):gmatch("[^,]+") do only[r] = true end
end

local SUFFIX = os.getenv("GAT_SUFFIX") or ""
local AUTOCAST = os.getenv("GAT_AUTOCAST")
if AUTOCAST == "" then AUTOCAST = nil end
if AUTOCAST ~= nil and AUTOCAST ~= "bf16" and AUTOCAST ~= "f16" then
  error("GAT_AUTOCAST must be bf16 or f16, got '" .. AUTOCAST .. "'", 0)
end
-- GAT_AUTOCAST_CACHE=0: autocast casts each parameter at every use, as before the cast cache
-- (gids/amp.h), for the row that measures what the cache saves.
if os.getenv("GAT_AUTOCAST_CACHE") == "0" then graphids.set_autocast_cache_enabled(false) end

local function load_batch(g)
  return graphs.load(dir, g)
end

-- The median step time, and the waits for the device a step made (graphids.gpu.waits(), less
-- the synchronisation that ends each timed step).
local function median_ms(step)
  for _ = 1, WARMUP do step() end
  graphids.gpu.synchronize()
  local runs = {}
  local w0 = graphids.gpu.waits()
  for r = 1, REPS do
    local t0 = graphids.clock()
    step()
    graphids.gpu.synchronize()
    runs[r] = (graphids.clock() - t0) * 1e3
  end
  local waits = (graphids.gpu.waits() - w0 - REPS) / REPS
  table.sort(runs)
  return runs[(REPS + 1) // 2], waits
end

-- A model, its optimizer and a step closure on device; the same weights for the same seed.
local function setup(b, size, device)
  graphids.manual_seed(1)
  local num_ids = graphs.num_ids(b)
  local m = models.GATClassifier(models.presets.gat[size]({ num_ids = num_ids }))
  m:to(device)
  m:train()
  local db = b:to(device)
  local opt = optim.Adam(m:parameters(), { lr = 1e-3 })
  local gen = graphids.Generator(1)
  local ctx = { generator = gen }
  return function()
    opt:zero_grad()
    local loss
    if AUTOCAST then
      loss = graphids.autocast(AUTOCAST, m.training_step, m, db, ctx)
    else
      loss = m:training_step(db, ctx)
    end
    loss:backward()
    opt:step()
    return loss
  end
end

-- One row: the step's median time and the allocator's peak, or "<name> error <message>".
local function time_row(b, size, name)
  local ok, err = pcall(function()
    local step = setup(b, size, "cuda")
    graphids.gpu.reset()
    local ms, waits = median_ms(step)
    print(string.format("%s_ms %.3f ms", name, ms))
    print(string.format("%s_waits %.1f per step", name, waits))
    print(string.format("%s_peak_mib %.1f MiB", name, graphids.gpu.memory().peak / 2 ^ 20))
    if graphids.gpu.gemm_tuning() then -- what the timing chose, shape by shape
      local first, best = 0, 0
      for _, r in ipairs(graphids.gpu.tuned_gemms()) do
        print(string.format("%s_gemm %s m=%d n=%d k=%d: heuristic's first %.3f ms, chosen #%d of %d %.3f ms",
          name, r.trans, r.m, r.n, r.k, r.first_ms, r.chosen, r.candidates, r.best_ms))
        first, best = first + r.first_ms, best + r.best_ms
      end
      print(string.format("%s_gemm_total heuristic %.3f ms, tuned %.3f ms (one call of each shape)",
        name, first, best))
    end
  end)
  if not ok then print(name .. " error " .. tostring(err)) end
  io.stdout:flush()
  collectgarbage()
  graphids.gpu.reset()
end

-- The small model's first 10 losses on the CPU and the GPU from the same start.
local function loss_curve()
  local b = load_batch(32)
  local cpu, gpu = setup(b, "small", "cpu"), setup(b, "small", "cuda")
  local worst, line = 0, {}
  for i = 1, 10 do
    local lc, lg = cpu():item(), gpu():item()
    worst = math.max(worst, math.abs(lc - lg) / math.max(math.abs(lc), 1e-12))
    line[i] = string.format("%.5f/%.5f", lc, lg)
  end
  print(string.format("gpu_gat_curve%s max_rel_diff %.3g (cpu/gpu losses: %s)", SUFFIX, worst,
    table.concat(line, " ")))
end

for _, g in ipairs({ 32, 1024 }) do
  local b = load_batch(g)
  for _, size in ipairs({ "small", "large" }) do
    local name = string.format("gpu_gat_%s_b%d", size, g)
    if not only or only[name] then
      time_row(b, size, name .. SUFFIX)
    end
  end
end
if not only then
  local ok, err = pcall(loss_curve)
  if not ok then print("gpu_gat_curve" .. SUFFIX .. " error " .. tostring(err)) end
end
