-- graphids.nn.gnn -- graph layers with PyTorch Geometric's semantics; nn/init.lua merges this
-- table into graphids.nn (nn.GATv2Conv, nn.global_mean_pool, ...).  docs/gnn.md describes each
-- layer, its options and where it departs from PyG.
local M = {}

local files = { "gat", "gatv2", "transformer", "gcn", "sage", "gin", "graph_norm",
  "jumping_knowledge", "pool", "multi_aggregation" }
for _, file in ipairs(files) do
  local t = require("graphids.nn.gnn." .. file)
  local names = {}
  for name in pairs(t) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    assert(M[name] == nil, "graphids.nn.gnn: " .. name .. " defined twice")
    M[name] = t[name]
  end
end

-- A value past the last parameter of a layer's forward or of a pooling function is an error
-- (PyG raises too): dropped silently, SAGEConv(x, edge_index, edge_weight) had run unweighted
-- and GCNConv(x, edge_index, w, {cached = true}) had taken an option it does not have.
local U = require "graphids.nn._util"
U.refuse_extra_arguments(M, "")
U.refuse_extra_forward_arguments(M)

return M
