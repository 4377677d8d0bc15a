-- write_batches.lua -- writes the GNN benchmarks' batches (bench/gnn/graphs.lua: real hcrl_sa
-- windows when the data is here, else random graphs) as DIR/batch_{32,1024}.safetensors, for a
-- machine that has no copy of the data (the GPU machine: tools/gpu-carry.sh calls this).
--   graphids run bench/gpu/write_batches.lua DIR        (from the project root)
package.path = "bench/gnn/?.lua;" .. package.path
local gio = require "graphids.io"
local graphs = require "graphs"

local dir = assert(arg[1], "usage: write_batches.lua DIR")
assert(gio.mkdir_p(dir))
for _, g in ipairs({ 32, 1024 }) do
  local b, source = graphs.batch(g)
  assert(gio.save_safetensors(gio.join(dir, "batch_" .. g .. ".safetensors"), {
    x = b.x, edge_index = b.edge_index, edge_attr = b.edge_attr, node_id = b.node_id,
    batch = b.batch, ptr = b.ptr, edge_ptr = b.edge_ptr, y = b.y }, { source = source }))
  print(string.format("batch_%d.safetensors: %s", g, source))
end
