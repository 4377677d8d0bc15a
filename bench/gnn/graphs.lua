-- graphs.lua -- batches for the GNN benchmarks: real window graphs (hcrl_sa, window 100,
-- stride 100, z-scored) when the CAN data is at $GRAPHIDS_DATA_ROOT or ../shared/data/can,
-- else random graphs of the reference's typical shape (38 nodes, 98 edges each).
--   package.path = "bench/gnn/?.lua;" .. package.path      (run from the project root)
--   local graphs = require "graphs"
--   local batch, source = graphs.batch(1024)   -- source says which of the two it is
local graphids = require "graphids"
local data = require "graphids.data"

local M = {}

M.NODES, M.EDGES, M.NODE_F, M.EDGE_F, M.NUM_IDS = 38, 98, 35, 11, 200

-- A graph set of g random graphs, each NODES nodes and EDGES edges (endpoints uniform within
-- the graph), x and edge_attr standard normal, node_id in [1, 200).
function M.random_set(g, seed)
  local gen = graphids.Generator(seed or 7)
  local n, e = M.NODES, M.EDGES
  local local_ei = graphids.randint(0, n, { 2, g * e }, { generator = gen })
  local node_ptr = graphids.arange(0, (g + 1) * n, n)
  local edge_ptr = graphids.arange(0, (g + 1) * e, e)
  return {
    num_graphs = g,
    x = graphids.randn({ g * n, M.NODE_F }, { generator = gen }),
    edge_index = local_ei,
    edge_attr = graphids.randn({ g * e, M.EDGE_F }, { generator = gen }),
    node_id = graphids.randint(1, M.NUM_IDS, { g * n }, { generator = gen }),
    node_ptr = node_ptr,
    edge_ptr = edge_ptr,
    y = graphids.randint(0, 2, { g }, { generator = gen }),
  }
end

local REAL = "hcrl_sa/test_01_known_vehicle_known_attack/fuzzing-kia.csv"
local real_cache

-- The windows of one real capture, scaled as training scales them; nil, reason when absent.
function M.real_set()
  if real_cache then
    return real_cache
  end
  local root = os.getenv("GRAPHIDS_DATA_ROOT") or "../shared/data/can"
  local path = root .. "/" .. REAL
  local f = io.open(path, "r")
  if not f then
    return nil, "no " .. path
  end
  f:close()
  local frames = data.read_can(path)
  local vocab = data.Vocabulary.from_frames({ frames })
  local set = data.build_windows({ files = { frames }, vocab = vocab, window = 100, stride = 100 })
  data.Scaler.fit(set, graphids.arange(set.num_graphs)):apply(set)
  real_cache = set
  return set
end

-- A batch of g graphs (real windows drawn by a seeded permutation, else random graphs) and a
-- description of where they came from.
function M.batch(g)
  local set = M.real_set()
  if set and set.num_graphs >= g then
    local pick = graphids.randperm(set.num_graphs, { generator = graphids.Generator(3) })
      :narrow(1, 1, g)
    local b = data.collate(set, pick)
    return b, string.format("%d real hcrl_sa windows, %.1f nodes, %.1f edges avg", g,
      b.num_nodes / g, b.num_edges / g)
  end
  local all = {}
  for i = 1, g do
    all[i] = i - 1
  end
  return data.collate(M.random_set(g, 7), all),
    string.format("%d random graphs of %d nodes, %d edges", g, M.NODES, M.EDGES)
end

-- The batch of g graphs that bench/gpu/write_batches.lua wrote into dir (for a machine without
-- the data: the GPU machine).
function M.load(dir, g)
  local gio = require "graphids.io"
  local t, err = gio.load_safetensors(gio.join(dir, "batch_" .. g .. ".safetensors"))
  assert(t, err)
  t.num_graphs = t.y:size(1)
  return data.Batch(t)
end

-- The id-table size for a batch: NUM_IDS, or more when the batch's ids need it (the peer uses
-- the same rule).
function M.num_ids(b)
  return math.max(M.NUM_IDS, b.node_id:max():item() + 1)
end

return M
