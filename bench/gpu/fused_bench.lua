-- fused_bench.lua -- the fused graph attention on the GPU against the composed form of the same
-- layer (gather, leaky_relu, segment softmax, weighted segment sum: what the GNN layers ran on
-- the GPU before the fused kernels), forward plus backward, each the median of REPS timed runs
-- after a warm-up, synchronised around each run.  Rows "name value unit", as gpu_bench.lua.
-- Size: about a batch of 1024 window graphs (N nodes, E edges, H heads of C channels).
local graphids = require "graphids"
local core = require "graphids.core"
local G = require "graphids.nn.graph"
local REPS = 10
-- GRAPHIDS_GPU_DRYRUN=1: the same script on the CPU at a tenth of the size (checks the script).
local DRY = os.getenv("GRAPHIDS_GPU_DRYRUN") == "1"
local DEV = DRY and "cpu" or "cuda"

if not DRY and not graphids.gpu.is_available() then
  print("skipped: " .. graphids.gpu.status())
  return
end

local function sync()
  if not DRY then
    graphids.gpu.synchronize()
  end
end

local function median_ms(fn)
  fn()
  sync()
  local runs = {}
  for r = 1, REPS do
    local t0 = graphids.clock()
    fn()
    sync()
    runs[r] = graphids.clock() - t0
  end
  table.sort(runs)
  return runs[(REPS + 1) // 2] * 1e3
end

local N, E, H, C = 40000, 320000, 4, 16
if DRY then
  N, E = N // 10, E // 10
end
graphids.manual_seed(3)
local ei = graphids.randint(0, N, { 2, E }):to(DEV)
local function leafs(...)
  local out = {}
  for i, shape in ipairs({ ... }) do
    out[i] = graphids.randn(shape):to(DEV):requires_grad_()
  end
  return table.unpack(out)
end

local x, a_src, a_dst = leafs({ N, H, C }, { N, H }, { N, H })
local wo = graphids.randn(N, H, C):to(DEV)
local function gat(fused)
  return function()
    local out
    if fused then
      out = core.graph_gat_attention(x, a_src, a_dst, nil, ei, N, 0.2, nil)
    else
      out = G.reference.gat_attention(x, a_src, a_dst, nil, ei, N)
    end
    ;(out * wo):sum():backward()
  end
end
local tf, tc = median_ms(gat(true)), median_ms(gat(false))
print(string.format("gpu_gat_attention_fwd_bwd_ms %.3f ms", tf))
print(string.format("gpu_gat_attention_composed_fwd_bwd_ms %.3f ms", tc))

local xl, xr, att = leafs({ N, H, C }, { N, H, C }, { H, C })
local function gatv2(fused)
  return function()
    local out
    if fused then
      out = core.graph_gatv2_attention(xl, xr, nil, att, ei, N, 0.2, nil)
    else
      out = G.reference.gatv2_attention(xl, xr, nil, att, ei, N)
    end
    ;(out * wo):sum():backward()
  end
end
tf, tc = median_ms(gatv2(true)), median_ms(gatv2(false))
print(string.format("gpu_gatv2_attention_fwd_bwd_ms %.3f ms", tf))
print(string.format("gpu_gatv2_attention_composed_fwd_bwd_ms %.3f ms", tc))

-- One LSTM cell step of the id encoder's size: fused against split + activations.
local gates = graphids.randn(DRY and 4096 or 65536, 4 * 64):to(DEV):requires_grad_()
local wh = graphids.randn(DRY and 4096 or 65536, 64):to(DEV)
tf = median_ms(function()
  local h = core.lstm_cell(gates, nil)
  ;(h * wh):sum():backward()
end)
print(string.format("gpu_lstm_cell_fwd_bwd_ms %.3f ms", tf))
