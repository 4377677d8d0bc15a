-- graphids.nn.gnn._common -- what the graph layers share: PyG's initialisers and Linear
-- variants, and the checks of node features, edge_index and edge attributes.
--   local C = require "graphids.nn.gnn._common"
--   local lin = C.linear(35, 96, { bias = false, glorot = true }, o)   -- PyG Linear(..., 'glorot')
--   C.glorot(att)                                                       -- PyG inits.glorot
--   local N = C.check_x("GATv2Conv", x, 35)
--   local ei = C.check_edge_index("GATv2Conv", edge_index, N)
local graphids = require "graphids"
local core = require "graphids.core"
local G = require "graphids.nn.graph"
local init = require "graphids.nn.initializers"
local U = require "graphids.nn._util"
local linear = require "graphids.nn.linear"

local C = {}

-- PyG's inits.glorot: U(-a, a) with a = sqrt(6 / (size(-2) + size(-1))).  It reads the last two
-- dims, not torch's fans, so an attention vector [1, heads, channels] gets
-- sqrt(6 / (heads + channels)).
function C.glorot(t)
  local shape = t.shape
  local a = math.sqrt(6.0 / (shape[#shape - 1] + shape[#shape]))
  return init.uniform_(t, -a, a)
end

-- torch_geometric.nn.Linear as a graphids nn.Linear (the same parameters and state_dict names).
-- opts.glorot picks PyG's weight_initializer='glorot'; otherwise the weight is kaiming_uniform
-- (a = sqrt(5)) as torch's.  The bias is U(-1/sqrt(in), 1/sqrt(in)) in both cases (PyG's
-- default bias_initializer).  o carries the layer's factory options (dtype, device).
function C.linear(in_channels, out_channels, opts, o)
  local lin = linear.Linear(in_channels, out_channels,
    { bias = opts.bias ~= false, dtype = o.dtype, device = o.device })
  return C.reset_linear(lin, opts.glorot)
end

-- Re-draws a Linear made by C.linear (glorot: PyG's 'glorot' weight initializer).
function C.reset_linear(lin, glorot)
  lin:reset_parameters()
  if glorot then
    C.glorot(lin.weight)
  end
  return lin
end

-- Factory options every layer accepts.
C.FACTORY = { dtype = U.NONE, device = U.NONE }

-- The defaults table of a layer: its own options plus dtype and device.
function C.defaults(t)
  for k, v in pairs(C.FACTORY) do
    t[k] = v
  end
  return t
end

local shape_str = U.shape_str

-- The input checks below raise at error() level `level` as seen from them; the default 3 is
-- the caller of the layer method that called them directly.

-- Node features: a float [N, in_channels] tensor (any width when in_channels is nil: GINConv
-- leaves the width to its nn).  Returns N.
function C.check_x(fname, x, in_channels, what, level)
  what, level = what or "x", level or 3
  if not graphids.is_tensor(x) then
    error(string.format("%s: %s must be a tensor, got %s", fname, what, type(x)), level)
  end
  if not U.is_float(x) then
    error(string.format("%s: %s must be a float tensor, got %s", fname, what, x.dtype), level)
  end
  if x:dim() ~= 2 then
    error(string.format("%s: %s must have shape [num_nodes, %s], got %s", fname, what,
      in_channels and tostring(in_channels) or "channels", shape_str(x)), level)
  end
  if in_channels ~= nil and x:size(2) ~= in_channels then
    error(string.format("%s: %s has %d channels (shape %s), expected in_channels = %d", fname,
      what, x:size(2), shape_str(x), in_channels), level)
  end
  return x:size(1)
end

-- Index tensors already checked, with their version then: every layer of a model checks the
-- same edge_index (and the pooling the same batch vector), and the check reads the min and max
-- back to the host (on a GPU two waits for the device each time).  Weak keys: an entry goes
-- with its tensor; an in-place write changes the version and the next call checks again.
local in_range = setmetatable({}, { __mode = "k" })

-- edge_index: [2, E] i64 (or i32) with every node number in [0, num_nodes).  Checked here,
-- before any message is formed, so a bad edge names the layer instead of an inner op.
function C.check_edge_index(fname, edge_index, num_nodes, level)
  level = level or 3
  G._check_edge_index(fname, edge_index, level)
  local seen = in_range[edge_index]
  if seen and seen.n == num_nodes and seen.v == edge_index._version then
    return edge_index
  end
  local lo, hi = edge_index:int_range()
  if lo < 0 or hi >= num_nodes then
    local bad = lo < 0 and lo or hi
    error(string.format("%s: edge_index holds node %d, out of range [0, %d) for x with %d " ..
      "nodes", fname, bad, num_nodes, num_nodes), level)
  end
  in_range[edge_index] = { n = num_nodes, v = edge_index._version }
  return edge_index
end

-- The graph a conv layer's forward gets: x [N, in_channels] and an edge_index over its N
-- nodes.  Returns N.
function C.check_graph(fname, x, edge_index, in_channels)
  local N = C.check_x(fname, x, in_channels, nil, 4)
  C.check_edge_index(fname, edge_index, N, 4)
  return N
end

-- t (the input `what`, checked already) must have the dtype of the weight of the layer's Linear
-- child `lin` ("lin_l"), which projects it: the product would refuse the mix in its own terms
-- ("addmm: arg 2 has dtype f32"), and the child's check would name the child, not the layer.
function C.check_dtype(fname, what, t, layer, lin, level)
  local w = layer[lin].weight
  if t.dtype ~= w.dtype then
    U.dtype_mismatch(fname, what, t, lin .. ".weight", w, level or 3)
  end
end

-- edge_attr's type: nil or a tensor, raised at error() level `level` seen from here.
-- options_at: the position of the call options in the forward that got edge_attr, when it
-- takes them after edge_attr; a table given as edge_attr is then most likely those options
-- one place early, and the message says where they go.
local function check_edge_attr_type(fname, edge_attr, what, options_at, level)
  if edge_attr == nil or graphids.is_tensor(edge_attr) then
    return
  end
  local hint = ""
  if options_at and type(edge_attr) == "table" then
    hint = string.format(" (the call options go in position %d: forward(x, edge_index, nil, " ..
      "options))", options_at)
  end
  error(string.format("%s: %s must be a tensor or nil, got %s%s", fname, what,
    U.describe(edge_attr), hint), level)
end

-- The edge_attr of an attention layer's forward(x, edge_index, edge_attr, options) (GATConv,
-- GATv2Conv, TransformerConv): nil or a tensor, checked before anything reads it; the layer
-- then applies its own rule for an edge_attr with or without edge_dim.
function C.check_attention_edge_attr(fname, edge_attr)
  check_edge_attr_type(fname, edge_attr, "edge_attr", 4, 4)
end

-- edge_attr: nil, or a float [E, edge_dim] tensor ([E] when edge_dim is 1, as PyG's view(-1, 1)).
-- Returns the 2-D form.  A shape error shows the shape given, before any view.
function C.check_edge_attr(fname, edge_attr, num_edges, edge_dim, what)
  what = what or "edge_attr"
  if edge_attr == nil then
    return nil
  end
  check_edge_attr_type(fname, edge_attr, what, nil, 4)
  if not U.is_float(edge_attr) then
    error(string.format("%s: %s must be a float tensor, got %s", fname, what, edge_attr.dtype), 3)
  end
  local d = edge_attr:dim()
  if not ((d == 2 and edge_attr:size(1) == num_edges and edge_attr:size(2) == edge_dim)
    or (d == 1 and edge_dim == 1 and edge_attr:size(1) == num_edges)) then
    error(string.format("%s: %s must have shape [%d, %d] (num_edges, edge_dim), got %s", fname,
      what, num_edges, edge_dim, shape_str(edge_attr)), 3)
  end
  return d == 1 and edge_attr:view(-1, 1) or edge_attr
end

-- batch: a 1-D i64 (or i32) tensor of num_rows graph numbers in [0, size).  size (the number
-- of graphs) defaults to max(batch) + 1 (0 for an empty batch).  Returns size.
function C.check_batch(fname, batch, num_rows, size, what, size_name)
  what, size_name = what or "batch", size_name or "batch_size"
  if not graphids.is_tensor(batch) then
    error(string.format("%s: %s must be a tensor or nil, got %s", fname, what, type(batch)), 3)
  end
  if batch.dtype ~= "i64" and batch.dtype ~= "i32" then
    error(string.format("%s: %s must be an i64 or i32 tensor, got %s", fname, what, batch.dtype), 3)
  end
  if batch:dim() ~= 1 or batch:size(1) ~= num_rows then
    error(string.format("%s: %s must have shape [%d] (one entry per row of x), got %s", fname,
      what, num_rows, shape_str(batch)), 3)
  end
  local lo, hi = 0, -1
  local seen = in_range[batch]
  if seen and seen.rows == num_rows and seen.v == batch._version then
    lo, hi = seen.lo, seen.hi -- the same batch vector, unchanged: no second wait for the device
  elseif num_rows > 0 then
    lo, hi = batch:int_range()
    in_range[batch] = { rows = num_rows, v = batch._version, lo = lo, hi = hi }
  end
  if size == nil then
    size = hi + 1
  elseif math.type(size) ~= "integer" or size < 0 then
    error(string.format("%s: %s must be a non-negative integer, got %s", fname, size_name,
      tostring(size)), 3)
  end
  if lo < 0 or hi >= size then
    error(string.format("%s: %s holds %d, out of range [0, %d)", fname, what,
      lo < 0 and lo or hi, size), 3)
  end
  return size
end

-- The max and min aggregations with the gradient of PyG on the CPU, where they are torch's
-- scatter_reduce(include_self=False) into zeros: a target's gradient is split evenly among the
-- messages that hold its extreme (parallel edges always tie), and the zero the reduction starts
-- from counts as one more holder where the extreme is exactly 0.  (G.scatter gives all of it
-- to one message; the values are the same.)
local ScatterExtreme = graphids.autograd.Function {
  name = "ScatterExtreme",
  forward = function(ctx, msg, index, n, reduce)
    local out = G.scatter(msg, index, n, reduce)
    ctx.n = n
    ctx:save_for_backward(msg, index, out)
    return out
  end,
  backward = function(ctx, grad)
    local msg, index, out = table.unpack(ctx.saved_tensors)
    local hit = G.gather(out, index):eq(msg):to(msg.dtype)
    local holders = G.scatter(hit, index, ctx.n, "sum") + out:eq(0):to(msg.dtype)
    return hit * G.gather(grad / holders, index), nil, nil, nil
  end,
}

-- The messages msg [E, C] reduced onto their targets index [E] (n rows; rows without messages
-- get 0): reduce "sum" (or "add"), "mean", "max" or "min", as PyG's aggregation of that name.
function C.aggregate(msg, index, n, reduce)
  if reduce == "max" or reduce == "min" then
    return ScatterExtreme(msg, index, n, reduce)
  end
  return G.scatter(msg, index, n, reduce)
end

-- fill_value of the self-loops' edge attributes: a number or one of PyG's reductions.
local FILL = { mean = true, sum = true, add = true, max = true, min = true }

-- The checks below are made in a layer's __init; level is error()'s level seen from them
-- (U.CTOR + 1 when __init calls them directly).

-- fill_value, nil meaning PyG's default "mean".  Returns the value to use.
function C.check_fill_value(fname, v, level)
  v = v == nil and "mean" or v
  if type(v) ~= "number" and not FILL[v] then
    error(string.format("%s: fill_value must be a number or one of 'add', 'max', 'mean', " ..
      "'min', 'sum', got %s", fname, tostring(v)), level or U.CTOR + 1)
  end
  return v
end

function C.check_positive(fname, what, v, level)
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("%s: %s must be a positive integer, got %s", fname, what, tostring(v)),
      level or U.CTOR + 1)
  end
end

function C.check_probability(fname, v, level)
  if type(v) ~= "number" or v < 0 or v > 1 then
    error(string.format("%s: dropout must be in [0, 1], got %s", fname, tostring(v)),
      level or U.CTOR + 1)
  end
end

-- The constructor checks of the multi-head layers (GAT, GATv2, Transformer): channel counts,
-- heads, dropout and, when given, edge_dim.
function C.check_heads_opts(fname, in_channels, out_channels, o)
  local level = U.CTOR + 2
  C.check_positive(fname, "in_channels", in_channels, level)
  C.check_positive(fname, "out_channels", out_channels, level)
  C.check_positive(fname, "heads", o.heads, level)
  C.check_probability(fname, o.dropout, level)
  if o.edge_dim ~= nil then
    C.check_positive(fname, "edge_dim", o.edge_dim, level)
  end
end

-- One slot keyed by an edge_index: the value is held for as long as that edge_index lives (a
-- weak key, an ephemeron), and putting a new one drops the old.  Weak values had emptied the
-- slot in the middle of a step on a GPU, where the device-memory pacing collects often: every
-- layer of every step then made its form again (measured on an H100, the large GAT at 1024
-- graphs: eight or nine waits for the device a layer).  The slot holds no batch longer than the batch
-- itself lives.
local function last_of_edges()
  local slot = setmetatable({}, { __mode = "k" })
  return {
    get = function(edge_index) return slot[edge_index] end,
    put = function(edge_index, form)
      for k in pairs(slot) do slot[k] = nil end -- at most one entry
      slot[edge_index] = form
    end,
  }
end

-- The last self-loop form made: every attention layer of a model gets the same edge_index and
-- edge_attr, and on a GPU the dozen ops of the replacement (a nonzero that waits for the device
-- among them) cost each layer more time than its attention.  Used again only for the same
-- edge_index, edge_attr, node count and fill, with every tensor at the version it had (no
-- in-place write since), and never for an edge_attr that records gradients (its result belongs
-- to one autograd graph; see last_edges).
local last_loops = last_of_edges()

local function reuse_loops(edge_index, edge_attr, num_nodes, fill_value)
  local m = last_loops.get(edge_index)
  -- rawequal: a tensor's == compares elements
  if m == nil or not rawequal(m.ea, edge_attr) or m.n ~= num_nodes or m.fill ~= fill_value
    or m.v ~= edge_index._version or m.ei_out._version ~= m.ei_v
    or (edge_attr ~= nil and (m.ea_v ~= edge_attr._version
      or m.ea_out._version ~= m.ea_out_v)) then
    return nil
  end
  return m.ei_out, m.ea_out
end

local function keep_loops(edge_index, edge_attr, num_nodes, fill_value, ei, ea)
  last_loops.put(edge_index, { ea = edge_attr, ei_out = ei, ea_out = ea, n = num_nodes,
    fill = fill_value, v = edge_index._version, ei_v = ei._version,
    ea_v = edge_attr and edge_attr._version, ea_out_v = ea and ea._version })
end

-- The edges of the last self-loop form made for an edge_attr that records gradients: its
-- loops' attributes belong to one autograd graph and are made at every call, but the edges are
-- the same for every layer and every step over a batch, and making them waits for the device
-- on a GPU (a nonzero, a range check).  Used again only for the same edge_index, node count and
-- versions.
local last_edges = last_of_edges()

-- The edge_index with its loops replaced, the positions of the kept edges (nil: all of them)
-- and their targets.
local function loop_edges(edge_index, num_nodes)
  local m = last_edges.get(edge_index)
  if m ~= nil and m.n == num_nodes and m.v == edge_index._version
    and m.ei_out._version == m.ei_out_v and m.dst._version == m.dst_v
    and (m.kept == nil or m.kept._version == m.kept_v) then
    return m.ei_out, m.kept, m.dst
  end
  local positions = graphids.arange(edge_index:size(2), { device = edge_index.device })
  local ei, kept = G.remove_self_loops(edge_index, positions)
  if rawequal(ei, edge_index) then kept = nil end
  local ei_out = G._append_self_loops(ei, nil, num_nodes) -- edge_index checked by the layer
  local dst = ei:select(1, 2)
  last_edges.put(edge_index, { n = num_nodes, v = edge_index._version, ei_out = ei_out,
    ei_out_v = ei_out._version, dst = dst, dst_v = dst._version, kept = kept,
    kept_v = kept and kept._version })
  return ei_out, kept, dst
end

-- PyG's self-loop handling of the attention layers: drop the existing loops (and their
-- attributes), then append one loop per node whose attribute is fill_value.  edge_index must
-- have been checked against num_nodes (C.check_edge_index).  The default fill
-- ("mean") on the CPU is one call (core.graph_replace_self_loops: the same edges and bits, a
-- dozen fewer dispatches a layer) unless edge_attr needs a gradient (the composed ops carry it:
-- the kept edges' rows, then the loops' rows from G.self_loop_attr, on edges from loop_edges).
function C.replace_self_loops(edge_index, edge_attr, num_nodes, fill_value)
  local graded = edge_attr ~= nil and edge_attr.requires_grad and graphids.is_grad_enabled()
  if graded and num_nodes ~= nil and edge_attr:dim() >= 1 and edge_index:dim() == 2
    and edge_attr:size(1) == edge_index:size(2) then
    local ei, kept, dst = loop_edges(edge_index, num_nodes)
    local ea = kept and edge_attr:index_select(1, kept) or edge_attr
    return ei, graphids.cat({ ea, G.self_loop_attr(ea, dst, num_nodes, fill_value,
      "add_self_loops", 2) }, 1)
  end
  if not graded then
    local ei, ea = reuse_loops(edge_index, edge_attr, num_nodes, fill_value)
    if ei then return ei, ea end
  end
  local ei, ea
  if (fill_value == nil or fill_value == "mean") and edge_index.dtype == "i64"
    and edge_index.device == "cpu" and (edge_attr == nil or (edge_attr.device == "cpu"
      and not graded)) then
    ei, ea = core.graph_replace_self_loops(edge_index, edge_attr, num_nodes)
  else
    ei, ea = G.remove_self_loops(edge_index, edge_attr)
    ei, ea = G._append_self_loops(ei, ea, num_nodes, fill_value, 3)
  end
  if not graded then keep_loops(edge_index, edge_attr, num_nodes, fill_value, ei, ea) end
  return ei, ea
end

-- [N, H, C] -> [N, H*C] (concat) or [N, C] (mean over heads), as the PyG attention layers end.
function C.combine_heads(out, concat)
  if concat then
    return out:reshape(out:size(1), out:size(2) * out:size(3))
  end
  return out:mean(2)
end

-- extra_repr of the multi-head layers: "in, out, heads=H".
function C.heads_repr(layer)
  return string.format("%d, %d, heads=%d", layer.in_channels, layer.out_channels, layer.heads)
end

-- How the attention layers (GAT, GATv2) end: heads combined, the residual projection of x and
-- the bias added; the edge_index the attention ran on and alpha follow when asked.
function C.finish_attention(layer, out, x, edge_index, alpha, return_weights)
  out = C.combine_heads(out, layer.concat)
  if layer.res then out = out + layer.res(x) end
  if layer.bias ~= nil then out = out + layer.bias end
  if return_weights then
    return out, edge_index, alpha
  end
  return out
end

return C
