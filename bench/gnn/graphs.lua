-- graphs.lua -- batches for the GNN benchmarks: real window graphs when the window builder and
-- the CAN data are available, else random graphs of the same shape (38 nodes, 98 edges each).
--   local graphs = require "bench.gnn.graphs"   (run from the project root)
--   local batch, source = graphs.batch(1024)    -- source: "real hcrl_sa windows" | "random ..."
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

-- A batch of g graphs and a description of where they came from.
function M.batch(g)
  local set = M.random_set(g, 7)
  local all = {}
  for i = 1, g do
    all[i] = i - 1
  end
  return data.collate(set, all), string.format("%d random graphs of %d nodes, %d edges", g,
    M.NODES, M.EDGES)
end

return M
