-- graphs.lua -- small hand-made batches for the model specs, as plain tables with the fields of
-- graphids.data.Batch (x, edge_index, edge_attr, node_id, batch, ptr, y, num_graphs).
--   local graphs = require "models.graphs"
--   local b = graphs.batch({ num_ids = 10, seed = 1 })
local graphids = require "graphids"

local M = {}

-- Three graphs: parallel edges and a self-loop, an isolated node, a one-node graph.
local SPECS = {
  { 5, { { 0, 1 }, { 0, 1 }, { 1, 2 }, { 2, 2 }, { 3, 0 }, { 2, 3 } } },
  { 4, { { 0, 1 }, { 1, 0 }, { 3, 3 } } },
  { 1, { { 0, 0 } } },
}

function M.batch(opts)
  opts = opts or {}
  local num_ids = opts.num_ids or 10
  local g = graphids.Generator(opts.seed or 1)
  local xs, eis, eas, ids, bs, ys, ptr = {}, {}, {}, {}, {}, {}, { 0 }
  local off = 0
  for i, spec in ipairs(SPECS) do
    local n, edges = spec[1], spec[2]
    local e = {}
    for k, ed in ipairs(edges) do
      e[k] = { ed[1] + off, ed[2] + off }
    end
    xs[i] = graphids.rand({ n, 35 }, { generator = g })
    eis[i] = graphids.tensor(e, { dtype = "i64" }):t()
    eas[i] = graphids.randn({ #edges, 11 }, { generator = g })
    ids[i] = graphids.randint(num_ids, { n }, { generator = g })
    bs[i] = graphids.full({ n }, i - 1)
    ys[i] = (opts.labels or { 0, 1, 0 })[i]
    off = off + n
    ptr[i + 1] = off
  end
  local b = { x = graphids.cat(xs, 1), edge_index = graphids.cat(eis, 2),
    edge_attr = graphids.cat(eas, 1), node_id = graphids.cat(ids, 1), batch = graphids.cat(bs, 1),
    ptr = graphids.tensor(ptr, { dtype = "i64" }), y = graphids.tensor(ys, { dtype = "i64" }),
    num_graphs = #SPECS }
  b.num_nodes = off
  return b
end

return M
