-- gnn_bench.lua -- GNN training steps against PyTorch Geometric (bench/peer/gnn_pyg.py) on the
-- same batches, for make bench.
--   lua5.4 bench/gnn/gnn_bench.lua [THREADS [PYTHON]]   (from the project root)
-- Rows: gnn_gatv2_layer_b{B}_ms (GATv2Conv(35, 64, heads 4, edge_dim 11) forward + backward of
-- mean(out^2)) and gnn_gat_{small,large}_b{B}_ms (one training step of the GAT classifier:
-- zero_grad, forward, cross-entropy, backward, Adam) for B = 32 and 1024 graphs.  Each prints
-- "name value ms ratio 2.0 (description)" with ratio = PyG time / graphids time (target 2: twice
-- as fast), or "-" without a peer.  The peer gets THREADS threads (graphids' count by default)
-- and reads the very batches timed here from safetensors files.  Each row runs the peer's
-- timing of it, then ours, so the two are taken under the same machine load (the machine is
-- shared); GNN_ROUNDS (default 1) repeats that pair and reports the medians of the times and
-- of the per-round ratios.  GNN_REPS / GNN_WARMUP set the timed and warm-up steps (default 5 /
-- 2; the large model at 1024 graphs takes 3 / 1); GNN_ROWS (comma-separated names) runs only
-- those rows.  After each large row, gnn_gat_large_b{B}_floor_ms: the GEMM floor of that step
-- on this machine and the best ratio it allows (lstm_gemm_floor below).
package.path = "bench/gnn/?.lua;" .. package.path
local graphids = require "graphids"
local system = require "system" -- luasystem (a busted dependency): a monotonic wall clock
local gio = require "graphids.io"
local graphs = require "graphs"

local ok, err = pcall(function()
  local _ = require("graphids.nn").GATv2Conv and require("graphids.models").GATClassifier
end)
if not ok then
  io.stderr:write("skipped: gnn_bench needs graphids.nn.GATv2Conv and graphids.models (" ..
    tostring(err) .. ")\n")
  return
end
local nn = require "graphids.nn"
local models = require "graphids.models"
local optim = require "graphids.optim"

local threads = tonumber(arg[1]) or graphids.get_num_threads()
graphids.set_num_threads(threads) -- both sides on the same count
local python = arg[2]
local WARMUP = tonumber(os.getenv("GNN_WARMUP") or "") or 2
local REPS = tonumber(os.getenv("GNN_REPS") or "") or 5
local ROUNDS = tonumber(os.getenv("GNN_ROUNDS") or "") or 1
local SIZES = { 32, 1024 }

local function median_ms(step, reps, warmup)
  for _ = 1, warmup do step() end
  local runs = {}
  for r = 1, reps do
    local t0 = system.monotime()
    step()
    runs[r] = (system.monotime() - t0) * 1e3
  end
  table.sort(runs)
  return runs[(reps + 1) // 2]
end

-- The batches, and their safetensors files for the peer.
local tmp = os.tmpname()
os.remove(tmp)
assert(gio.mkdir_p(tmp))
local batches, sources = {}, {}
for _, g in ipairs(SIZES) do
  local b, src = graphs.batch(g)
  batches[g], sources[g] = b, src
  assert(gio.save_safetensors(gio.join(tmp, "batch_" .. g .. ".safetensors"), {
    x = b.x, edge_index = b.edge_index, edge_attr = b.edge_attr, node_id = b.node_id,
    batch = b.batch, y = b.y }))
end

-- The peer's median for one row, or nil.
local function peer_ms(name)
  if not python or python == "" then
    return nil
  end
  -- the peer runs while this process waits: hand back its garbage and cached blocks first, or
  -- the gigabytes they hold after a large row squeeze the peer's memory (measured: the peer's
  -- large-model step at 1024 graphs grew from 17.5 to 26.5 s over three rounds without this)
  collectgarbage()
  collectgarbage()
  graphids.empty_cache()
  local p = io.popen(string.format("%q bench/peer/gnn_pyg.py %d %q %s", python, threads, tmp,
    name))
  local v
  for line in p:lines() do
    local n, value = line:match("^(%S+)%s+(%S+)")
    if n == name then v = tonumber(value) end
  end
  if not p:close() then io.stderr:write("peer: gnn_pyg.py failed for " .. name .. "\n") end
  return v
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[(#s + 1) // 2]
end

local only = os.getenv("GNN_ROWS")

local function selected(name)
  return not only or ("," .. only .. ","):find("," .. name .. ",", 1, true) ~= nil
end

-- ROUNDS pairs of (peer, ours) timings of one row; prints the row.  Returns the peer's median
-- ms (nil without a peer or when the row is not selected).
local function row(name, make_step, reps, warmup, what, g)
  if not selected(name) then
    return nil
  end
  local ours, ratios, peers = {}, {}, {}
  for r = 1, ROUNDS do
    local p = peer_ms(name)
    ours[r] = median_ms(make_step(), reps, warmup)
    if p then
      ratios[#ratios + 1] = p / ours[r]
      peers[#peers + 1] = p
    end
  end
  local ratio = #ratios > 0 and string.format("%.3f", median(ratios)) or "-"
  print(string.format("%s %.3f ms %s 2.0 (%s; %s)", name, median(ours), ratio, what, sources[g]))
  io.stdout:flush()
  return #peers > 0 and median(peers) or nil
end

-- The hardware floor of the large model's step: the FLOPs of its jumping-knowledge LSTM alone
-- (bidirectional, T = num_layers steps over N nodes, input C = heads * hidden, hidden
-- H = T * C / 2), forward and backward with the zero-state steps' recurrent GEMMs skipped, at
-- the best sgemm rate this machine reaches (measured here through graphids.matmul on the
-- LSTM's three GEMM shapes and a 2048^3 product; the best of them).  The convolutions' and
-- the head's GEMMs and every elementwise pass are left out, so the true floor is higher: the
-- printed ratio (peer time / floor) bounds from above what any implementation could reach on
-- this machine at f32.
local function sgemm_rate(m, k, n, transpose_a)
  local a = transpose_a and graphids.randn({ k, m }):t() or graphids.randn({ m, k })
  local b = graphids.randn({ k, n })
  local ms = median_ms(function() graphids.matmul(a, b) end, 3, 1)
  return 2.0 * m * k * n / (ms * 1e6)
end

local function lstm_gemm_floor(name, b, cfg, peer, g)
  if not selected(name) then return end
  local T, N, C = cfg.num_layers, b.x:size(1), cfg.heads * cfg.hidden
  local H = T * C // 2
  local f_in = 2.0 * T * N * C * 8 * H -- both directions' input projections
  local f_rec = 2.0 * 2 * (T - 1) * N * H * 4 * H -- both directions' recurrent GEMMs
  local flops = 3 * (f_in + f_rec) -- forward; backward: d input, d w_ih, d w_hh, d h
  local rates = {
    { "input projection", sgemm_rate(T * N, C, 8 * H) },
    { "recurrent", sgemm_rate(N, H, 4 * H) },
    { "weight gradient", sgemm_rate(8 * H, T * N, C, true) },
    { "2048^3", sgemm_rate(2048, 2048, 2048) },
  }
  table.sort(rates, function(x, y) return x[2] > y[2] end)
  local rate = rates[1][2] -- GFLOP/s
  local floor_ms = flops / (rate * 1e6)
  print(string.format("%s %.3f ms %s 2.0 (best possible: %.1f GFLOP of JK-LSTM GEMMs at the " ..
    "best measured sgemm rate, %.1f GFLOP/s (%s; others %.1f, %.1f, %.1f); ratio = peer time / " ..
    "this floor, an upper bound; %s)", name, floor_ms,
    peer and string.format("%.3f", peer / floor_ms) or "-", flops / 1e9, rate, rates[1][1],
    rates[2][2], rates[3][2], rates[4][2], sources[g]))
  io.stdout:flush()
end

local function layer_step(b)
  local conv = nn.GATv2Conv(graphs.NODE_F, 64, { heads = 4, edge_dim = graphs.EDGE_F })
  return function()
    conv:zero_grad()
    local out = conv(b.x, b.edge_index, b.edge_attr)
    local loss = (out * out):mean()
    loss:backward()
  end
end

local function model_step(b, size)
  local m = models.GATClassifier(models.presets.gat[size]({ num_ids = graphs.num_ids(b) }))
  m:train()
  local opt = optim.Adam(m:parameters(), { lr = 1e-3 })
  local gen = graphids.Generator(1)
  return function()
    opt:zero_grad()
    local loss = m:training_step(b, { generator = gen })
    loss:backward()
    opt:step()
  end
end

graphids.manual_seed(1)
for _, g in ipairs(SIZES) do
  local b = batches[g]
  row(string.format("gnn_gatv2_layer_b%d_ms", g), function() return layer_step(b) end, REPS,
    WARMUP, "GATv2Conv 35->4x64 edge_dim 11 fwd+bwd", g)
  for _, size in ipairs({ "small", "large" }) do
    local reps, warm = REPS, WARMUP
    if size == "large" and g >= 1024 then reps, warm = math.min(REPS, 3), math.min(WARMUP, 1) end
    local name = string.format("gnn_gat_%s_b%d_ms", size, g)
    local peer = row(name, function() return model_step(b, size) end, reps, warm,
      string.format("GAT %s train step (JK lstm, Adam)", size), g)
    if size == "large" then
      lstm_gemm_floor(string.format("gnn_gat_large_b%d_floor_ms", g), b,
        models.presets.gat.large({ num_ids = graphs.num_ids(b) }), peer, g)
    end
  end
end
gio.remove_tree(tmp)
