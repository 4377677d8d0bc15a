-- graphids.data.batch -- batches of graphs: the disjoint union of some graphs of a graph set.
--   local data = require "graphids.data"
--   local b = data.collate(set, { 0, 7, 3 })     -- or an i64 tensor of 0-based graph numbers
--   b.x, b.edge_index, b.edge_attr, b.batch, b.ptr, b.y, b.num_graphs, b.num_nodes
--   local g = data.Batch.from_graphs({ { x = x1, edge_index = ei1, y = 0 }, ... })
--   b = b:to("cuda")
--
-- Collation runs in C (gids_graph_batch_collate): it copies the picked graphs' rows back to back,
-- offsets edge endpoints to batch numbering and checks each picked graph's offsets and edges.
-- Fields a set lacks (edge_attr, node_id, attack_type, ...) are nil in the batch.
local graphids = require "graphids"
local class = require "graphids.class"

local Batch = class("Batch")

local TENSOR_FIELDS = { "x", "edge_index", "edge_attr", "node_id", "batch", "ptr", "edge_ptr", "y",
  "attack_type", "window_start", "source_file" }
local GRAPH_KEYS = { x = true, edge_index = true, edge_attr = true, node_id = true, y = true,
  attack_type = true, window_start = true, source_file = true }

-- fields: the table graph_collate returns (tensors and num_graphs).
function Batch:__init(fields)
  for _, k in ipairs(TENSOR_FIELDS) do
    self[k] = fields[k]
  end
  self.num_graphs = fields.num_graphs
  self.num_nodes = self.x:size(1)
  self.num_edges = self.edge_index:size(2)
end

function Batch:__tostring()
  local parts = {}
  for _, k in ipairs(TENSOR_FIELDS) do
    local t = self[k]
    if t ~= nil then
      parts[#parts + 1] = k .. "=[" .. table.concat(t:size(), ", ") .. "]"
    end
  end
  return string.format("Batch(num_graphs=%d, %s)", self.num_graphs, table.concat(parts, ", "))
end

-- A batch with every tensor moved to device ("cpu", "cuda", "cuda:N"); self when
-- nothing moves.
function Batch:to(device)
  local fields, moved = { num_graphs = self.num_graphs }, false
  for _, k in ipairs(TENSOR_FIELDS) do
    local t = self[k]
    if t ~= nil then
      fields[k] = t:to(device)
      moved = moved or not rawequal(fields[k], t) -- ~= would compare elementwise
    end
  end
  if not moved then
    return self
  end
  return Batch(fields)
end

-- The disjoint union of graphs indices (a Lua array or an i64 tensor of 0-based graph numbers,
-- at least one) of set, in that order.
local function collate(set, indices)
  if type(set) ~= "table" then
    error("collate: set must be a graph-set table, got " .. type(set), 2)
  end
  return Batch(graphids.graph_collate(set, indices))
end

local function check_graph(i, g)
  if type(g) ~= "table" then
    error(string.format("Batch.from_graphs: graph %d must be a table, got %s", i, type(g)), 3)
  end
  local keys = {}
  for k in pairs(g) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not GRAPH_KEYS[k] then
      error(string.format("Batch.from_graphs: graph %d has an unknown field '%s' (allowed: x, "
        .. "edge_index, edge_attr, node_id, y, attack_type, window_start, source_file)", i, k), 3)
    end
  end
  if not graphids.is_tensor(g.x) or g.x:dim() ~= 2 then
    error(string.format("Batch.from_graphs: graph %d needs x, a [num_nodes, F] tensor", i), 3)
  end
  if not graphids.is_tensor(g.edge_index) then
    error(string.format("Batch.from_graphs: graph %d needs edge_index, a [2, E] i64 tensor", i),
      3)
  end
end

-- A per-graph value (number or one-element tensor) as a Lua integer.
local function graph_value(i, g, k)
  local v = g[k]
  if graphids.is_tensor(v) then
    v = v:item()
  end
  if math.type(v) ~= "integer" then
    error(string.format("Batch.from_graphs: graph %d field %s must be an integer, got %s", i, k,
      tostring(v)), 3)
  end
  return v
end

-- A batch of hand-made graphs: list of { x = [n, F], edge_index = [2, e] i64 (local node
-- numbers), edge_attr = [e, D]?, node_id = [n] i64?, y = integer?, attack_type = ?, ... }.
-- Every graph must have the same optional fields.
function Batch.from_graphs(list)
  if type(list) ~= "table" or #list == 0 then
    error("Batch.from_graphs: expected a non-empty list of graphs", 2)
  end
  for i, g in ipairs(list) do
    check_graph(i, g)
  end
  local first = list[1]
  local set = { num_graphs = #list }
  local node_ptr, edge_ptr = { 0 }, { 0 }
  for i, g in ipairs(list) do
    node_ptr[i + 1] = node_ptr[i] + g.x:size(1)
    edge_ptr[i + 1] = edge_ptr[i] + (g.edge_index:dim() == 2 and g.edge_index:size(2) or 0)
  end
  set.node_ptr = graphids.tensor(node_ptr, { dtype = "i64" })
  set.edge_ptr = graphids.tensor(edge_ptr, { dtype = "i64" })
  for _, k in ipairs({ "x", "edge_index", "edge_attr", "node_id" }) do
    if first[k] ~= nil then
      local parts = {}
      for i, g in ipairs(list) do
        if g[k] == nil then
          error(string.format("Batch.from_graphs: graph %d lacks %s, which graph 1 has", i, k), 2)
        end
        parts[i] = g[k]
      end
      set[k] = graphids.cat(parts, k == "edge_index" and 2 or 1):contiguous()
    end
  end
  for _, k in ipairs({ "y", "attack_type", "window_start", "source_file" }) do
    if first[k] ~= nil then
      local vals = {}
      for i, g in ipairs(list) do
        vals[i] = graph_value(i, g, k)
      end
      set[k] = graphids.tensor(vals, { dtype = "i64" })
    end
  end
  local all = {}
  for i = 1, #list do
    all[i] = i - 1
  end
  return collate(set, all)
end

return { Batch = Batch, collate = collate }
