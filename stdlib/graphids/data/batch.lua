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
--
-- Extra fields (PyG's arbitrary Data attributes) are declared with their level, so that each is
-- gathered by the right rows and a misspelt built-in field is still an error:
--   set.fields = { node_y = "node", edge_w = "edge", weight = "graph" }   -- set.node_y: [N, ...]
--   Batch.from_graphs(list, { fields = { node_y = "node" } })
local graphids = require "graphids"
local class = require "graphids.class"

local Batch = class("Batch")

local TENSOR_FIELDS = { "x", "edge_index", "edge_attr", "node_id", "batch", "ptr", "edge_ptr", "y",
  "attack_type", "window_start", "source_file" }
local GRAPH_KEYS = { x = true, edge_index = true, edge_attr = true, node_id = true, y = true,
  attack_type = true, window_start = true, source_file = true }
local LEVELS = { node = true, edge = true, graph = true }
-- Names an extra field cannot take: the batch's own fields and methods.
local RESERVED = { batch = true, ptr = true, edge_ptr = true, node_ptr = true, num_graphs = true,
  num_nodes = true, num_edges = true, fields = true, to = true }
for k in pairs(GRAPH_KEYS) do
  RESERVED[k] = true
end

-- The declared extra fields { name = level } of a set or of from_graphs' options, checked;
-- returns their names sorted (nil: none).
local function declared_names(fields, where, level)
  if fields == nil then
    return {}
  end
  if type(fields) ~= "table" then
    error(string.format("%s must be a table of field name -> \"node\", \"edge\" or \"graph\", "
      .. "got %s", where, type(fields)), level)
  end
  local names = {}
  for k in pairs(fields) do
    if type(k) ~= "string" then
      error(string.format("%s: field names must be strings, got %s", where, type(k)), level)
    end
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    if RESERVED[k] or Batch[k] ~= nil then
      error(string.format("%s: '%s' is a built-in field of a batch, not an extra one", where, k),
        level)
    end
    if not LEVELS[fields[k]] then
      error(string.format("%s.%s must be \"node\", \"edge\" or \"graph\", got %s", where, k,
        tostring(fields[k])), level)
    end
  end
  return names
end

-- fields: the table graph_collate returns (tensors and num_graphs).
-- fields.fields, when present, declares extra fields held under their names.
function Batch:__init(fields)
  for _, k in ipairs(TENSOR_FIELDS) do
    self[k] = fields[k]
  end
  if fields.fields ~= nil then
    self.fields = fields.fields
    for k in pairs(fields.fields) do
      self[k] = fields[k]
    end
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
  for _, k in ipairs(declared_names(self.fields, "Batch.fields", 2)) do
    parts[#parts + 1] = k .. "=[" .. table.concat(self[k]:size(), ", ") .. "]"
  end
  return string.format("Batch(num_graphs=%d, %s)", self.num_graphs, table.concat(parts, ", "))
end

-- A batch with every tensor moved to device ("cpu", "cuda", "cuda:N"); self when
-- nothing moves.
function Batch:to(device)
  local fields, moved = { num_graphs = self.num_graphs, fields = self.fields }, false
  local names = {}
  for _, k in ipairs(TENSOR_FIELDS) do
    names[#names + 1] = k
  end
  for _, k in ipairs(declared_names(self.fields, "Batch.fields", 2)) do
    names[#names + 1] = k
  end
  for _, k in ipairs(names) do
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

-- Rows of a level's extra fields for the batch f of the graphs idx (an i64 tensor): graph
-- level, the graphs' rows; node and edge level, each picked graph's rows of the set in turn
-- (row = the graph's first row in the set + the row's position within the graph in the batch).
local function level_rows(set, f, idx, level)
  if level == "graph" then
    return idx
  end
  local set_ptr = level == "node" and set.node_ptr or set.edge_ptr
  local ptr = level == "node" and f.ptr or f.edge_ptr
  local G = f.num_graphs
  local owner -- the batch graph (0-based) of each row
  if level == "node" then
    owner = f.batch
  else
    owner = graphids.repeat_interleave(graphids.arange(G), ptr:narrow(1, 2, G) - ptr:narrow(1, 1, G))
  end
  local shift = set_ptr:index_select(1, idx) - ptr:narrow(1, 1, G)
  return shift:index_select(1, owner) + graphids.arange(owner:size(1))
end

-- The declared extra fields of set gathered into f, the batch of the graphs indices.
local function collate_extras(set, f, indices)
  local names = declared_names(set.fields, "collate: set.fields", 4)
  if #names == 0 then
    return
  end
  local idx = graphids.is_tensor(indices) and indices or graphids.tensor(indices, { dtype = "i64" })
  local count = {
    node = set.node_ptr:select(1, -1):item(),
    edge = set.edge_ptr:select(1, -1):item(),
    graph = set.num_graphs,
  }
  local rows = {}
  for _, k in ipairs(names) do
    local level, t = set.fields[k], set[k]
    if not graphids.is_tensor(t) or t:dim() == 0 then
      error(string.format("collate: set.%s (declared %s-level in set.fields) must be a tensor "
        .. "with a row per %s, got %s", k, level, level,
        graphids.is_tensor(t) and "a 0-d tensor" or type(t)), 3)
    end
    if t:size(1) ~= count[level] then
      error(string.format("collate: set.%s has %d rows, but the set has %d %ss", k, t:size(1),
        count[level], level), 3)
    end
    rows[level] = rows[level] or level_rows(set, f, idx, level)
    f[k] = t:index_select(1, rows[level])
  end
  f.fields = {} -- a copy: a later change to set.fields does not relabel batches made before
  for _, k in ipairs(names) do
    f.fields[k] = set.fields[k]
  end
end

-- The disjoint union of graphs indices (a Lua array or an i64 tensor of 0-based graph numbers,
-- at least one) of set, in that order; set.fields' extra fields come along.
local function collate(set, indices)
  if type(set) ~= "table" then
    error("collate: set must be a graph-set table, got " .. type(set), 2)
  end
  local f = graphids.graph_collate(set, indices)
  collate_extras(set, f, indices)
  return Batch(f)
end

local function check_graph(i, g, extra)
  if type(g) ~= "table" then
    error(string.format("Batch.from_graphs: graph %d must be a table, got %s", i, type(g)), 3)
  end
  local keys = {}
  for k in pairs(g) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not GRAPH_KEYS[k] and not extra[k] then
      error(string.format("Batch.from_graphs: graph %d has an unknown field '%s' (allowed: x, "
        .. "edge_index, edge_attr, node_id, y, attack_type, window_start, source_file; declare "
        .. "others in the options' fields)", i, k), 3)
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

-- The set-wide tensor of the declared extra field k over the graphs of list: node and edge
-- fields concatenated (one row per node / edge, checked against each graph's count), graph fields
-- stacked (numbers or tensors of one shape; [G, ...]).
local function extra_field(list, k, level)
  local parts, kinds = {}, {}
  for i, g in ipairs(list) do
    local v = g[k]
    if v == nil then
      error(string.format("Batch.from_graphs: graph %d lacks %s, declared in the options' fields",
        i, k), 3)
    end
    local is_t = graphids.is_tensor(v)
    if kinds[is_t and "number" or "tensor"] then
      error(string.format("Batch.from_graphs: field %s mixes numbers and tensors", k), 3)
    end
    if level ~= "graph" or is_t then
      if not is_t or (v:dim() == 0 and level ~= "graph") then
        error(string.format("Batch.from_graphs: graph %d field %s (%s-level) must be a tensor%s, "
          .. "got %s", i, k, level, level == "graph" and "" or " with a row per " .. level,
          is_t and "a 0-d tensor" or type(v)), 3)
      end
      local first = parts[1]
      if first ~= nil and (v.dtype ~= first.dtype
          or table.concat(v:size(), ",", level == "graph" and 1 or 2)
          ~= table.concat(first:size(), ",", level == "graph" and 1 or 2)) then
        error(string.format("Batch.from_graphs: graph %d field %s is %s [%s], graph 1's %s [%s]",
          i, k, v.dtype, table.concat(v:size(), ", "), first.dtype,
          table.concat(first:size(), ", ")), 3)
      end
    elseif math.type(v) == nil then
      error(string.format("Batch.from_graphs: graph %d field %s (graph-level) must be a number or a "
        .. "tensor, got %s", i, k, type(v)), 3)
    end
    if level ~= "graph" then
      local want = level == "node" and g.x:size(1)
        or (g.edge_index:dim() == 2 and g.edge_index:size(2) or 0)
      if v:size(1) ~= want then
        error(string.format("Batch.from_graphs: graph %d field %s has %d rows, the graph %d %ss",
          i, k, v:size(1), want, level), 3)
      end
    end
    parts[i], kinds[is_t and "tensor" or "number"] = v, true
  end
  if level ~= "graph" then
    return graphids.cat(parts, 1):contiguous()
  end
  return kinds.number and graphids.tensor(parts) or graphids.stack(parts, 1):contiguous()
end

-- A batch of hand-made graphs: list of { x = [n, F], edge_index = [2, e] i64 (local node
-- numbers), edge_attr = [e, D]?, node_id = [n] i64?, y = integer?, attack_type = ?, ... }.
-- Every graph must have the same optional fields.  opts.fields declares extra fields and their
-- level (see the head of this file).
function Batch.from_graphs(list, opts)
  if type(list) ~= "table" or #list == 0 then
    error("Batch.from_graphs: expected a non-empty list of graphs", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("Batch.from_graphs: options must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "fields" then
      error(string.format("Batch.from_graphs: unknown option '%s' (allowed: fields)", tostring(k)),
        2)
    end
  end
  local names = declared_names(opts.fields, "Batch.from_graphs: fields", 3)
  local extra = {}
  for _, k in ipairs(names) do
    extra[k] = true
  end
  for i, g in ipairs(list) do
    check_graph(i, g, extra)
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
  if #names > 0 then
    set.fields = opts.fields
    for _, k in ipairs(names) do
      set[k] = extra_field(list, k, opts.fields[k])
    end
  end
  local all = {}
  for i = 1, #list do
    all[i] = i - 1
  end
  return collate(set, all)
end

return { Batch = Batch, collate = collate }
