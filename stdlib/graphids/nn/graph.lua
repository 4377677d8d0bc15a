-- graphids.nn.graph -- message passing on a batch of graphs (PyTorch Geometric's utils).
--   local G = require "graphids.nn.graph"
--   local msg = G.gather(x, edge_index[1])                    -- rows of x at the sources
--   local agg = G.scatter(msg, edge_index[2], n, "mean")      -- onto the targets
--   local ei, ea = G.add_self_loops(ei, ea, n, "mean")     -- (fill 1 by default, as PyG's)
--   local out, alpha = G.gatv2_attention(xl, xr, ea_proj, att, ei, n, {negative_slope = 0.2})
--
-- edge_index is a [2, E] i64 tensor of 0-based node numbers (row 1 = source, row 2 = target).
-- Every function is differentiable in its float inputs.  The attention ops run fused C kernels
-- (one pass over the edges in target order, forward and backward) when the binding has them;
-- G.reference holds the same ops composed from plain ops, which the specs compare against.
-- docs/graph.md describes every function exactly.
local graphids = require "graphids"
local F = require "graphids.nn.functional"
local U = require "graphids.nn._util"

local core = require "graphids.core"

local G = {}

local function is_tensor(v)
  return graphids.is_tensor(v)
end

local function check_tensor(fname, v, what, level)
  if not is_tensor(v) then
    error(string.format("%s: %s must be a tensor, got %s", fname, what, type(v)), level + 1)
  end
end

local function check_count(fname, v, what, level)
  if math.type(v) ~= "integer" or v < 0 then
    error(string.format("%s: %s must be a non-negative integer, got %s", fname, what,
      tostring(v)), level + 1)
  end
end

local function shape_str(t)
  return "[" .. table.concat(t:size(), ", ") .. "]"
end

-- edge_index must be [2, E] i64 (or i32); returns its source and target rows (views).
local function check_edge_index(fname, ei, level)
  check_tensor(fname, ei, "edge_index", level + 1)
  if ei.dtype ~= "i64" and ei.dtype ~= "i32" then
    error(string.format("%s: edge_index must be an i64 or i32 tensor, got %s", fname, ei.dtype),
      level + 1)
  end
  if ei:dim() ~= 2 or ei:size(1) ~= 2 then
    error(string.format("%s: edge_index must have shape [2, E], got %s", fname, shape_str(ei)),
      level + 1)
  end
  return ei:select(1, 1), ei:select(1, 2)
end
G._check_edge_index = check_edge_index

-- max(index) + 1, or 0 for an empty index (PyG's maybe_num_nodes).
local function infer_count(index)
  local _, hi = index:int_range() -- -1 when empty
  return hi + 1
end

-- Checks every value of an index against [0, n); the message names the first bad position.
local function check_range(fname, index, n, what, level)
  local lo, hi = index:int_range() -- 0, -1 when empty
  if lo < 0 or hi >= n then
    local bad = index:lt(0):logical_or(index:ge(n)):nonzero():select(1, 1):item()
    error(string.format("%s: %s value %d out of range [0, %d) at position %d (0-based)", fname,
      what, index:select(1, bad + 1):item(), n, bad), level + 1)
  end
end

G._check_range = check_range
G._check_count = check_count

-- The op a function below is built of checks its index (values in range, shape, dtype);
-- call_as(fname, names, op, ...) raises its error under the user's function at the user's
-- line ("scatter: index 7 out of range [0, 3) at position 2 (0-based)", not segment_sum's at a
-- line of this file), names renaming the op's words for its arguments (docs/development.md,
-- "Errors").  Called from fname's own body, not from a helper.
local call_as = core._call_as
local SCATTER_NAMES = { num_segments = "dim_size" }
local SOFTMAX_NAMES = { num_segments = "num_nodes" }

-- Rows of x at index: x:index_select(1, index).
function G.gather(x, index)
  check_tensor("gather", x, "x", 2)
  check_tensor("gather", index, "index", 2)
  local out = call_as("gather", nil, x.index_select, x, 1, index)
  return out
end

local REDUCERS = {
  sum = graphids.segment_sum,
  add = graphids.segment_sum,
  mean = graphids.segment_mean,
  max = graphids.segment_max,
  min = graphids.segment_min,
}

-- Rows of src reduced into dim_size rows by index ("sum" | "mean" | "max" | "min"); rows no
-- index names get 0 (PyG's scatter).  dim_size defaults to max(index) + 1.
function G.scatter(src, index, dim_size, reduce)
  check_tensor("scatter", src, "src", 2)
  check_tensor("scatter", index, "index", 2)
  reduce = reduce or "sum"
  local fn = REDUCERS[reduce]
  if fn == nil then
    error(string.format("scatter: reduce must be one of sum, mean, max, min, got %s",
      tostring(reduce)), 2)
  end
  if dim_size ~= nil then
    check_count("scatter", dim_size, "dim_size", 2)
  end
  local out = call_as("scatter", SCATTER_NAMES, fn, src, index, dim_size)
  return out
end

-- Softmax of src's rows among the rows that share an index value, per column (PyG's
-- utils.softmax(src, index, num_nodes=)).
function G.softmax(src, index, num_nodes)
  check_tensor("softmax", src, "src", 2)
  check_tensor("softmax", index, "index", 2)
  if num_nodes ~= nil then
    check_count("softmax", num_nodes, "num_nodes", 2)
  end
  local out = call_as("softmax", SOFTMAX_NAMES, graphids.segment_softmax, src, index, num_nodes)
  return out
end

-- Number of rows naming each node: bincount of index over num_nodes (default max + 1), as
-- dtype (default f32).
function G.degree(index, num_nodes, dtype)
  check_tensor("degree", index, "index", 2)
  if index.dtype ~= "i64" and index.dtype ~= "i32" then
    error("degree: index must be an i64 or i32 tensor, got " .. index.dtype, 2)
  end
  if index:dim() ~= 1 then
    error("degree: index must be 1-D, got " .. shape_str(index), 2)
  end
  if num_nodes == nil then
    num_nodes = infer_count(index)
  end
  check_count("degree", num_nodes, "num_nodes", 2)
  check_range("degree", index, num_nodes, "index", 2)
  return graphids.bincount(index, { minlength = num_nodes }):to(dtype or "f32")
end

-- Drops the edges whose source equals their target (and their edge_attr rows); the other
-- edges keep their order.
function G.remove_self_loops(edge_index, edge_attr)
  local src, dst = check_edge_index("remove_self_loops", edge_index, 2)
  if edge_attr ~= nil then
    check_tensor("remove_self_loops", edge_attr, "edge_attr", 2)
    if edge_attr:dim() < 1 or edge_attr:size(1) ~= edge_index:size(2) then
      error(string.format("remove_self_loops: edge_attr has shape %s, expected %d rows (one per "
        .. "edge)", shape_str(edge_attr), edge_index:size(2)), 2)
    end
  end
  local keep = src:ne(dst)
  local kept = keep:nonzero():select(2, 1)
  if kept:numel() == edge_index:size(2) then
    return edge_index, edge_attr
  end
  return edge_index:index_select(2, kept), edge_attr and edge_attr:index_select(1, kept)
end

local FILL_REDUCE = { mean = true, sum = true, add = true, max = true, min = true }

-- The edge_attr rows of the loops add_self_loops appends to the edges (edge_attr, one row per
-- edge, whose targets are dst): fill_value "mean" (default; or "sum", "max", "min") reduces
-- the attributes of each node's incoming edges (0 for a node without any), a number fills every
-- column.  [num_nodes, ...].  Split out so that the attention layers can keep the index part of
-- the self-loop form across calls and make only this part anew (nn/gnn/_common.lua).
function G.self_loop_attr(edge_attr, dst, num_nodes, fill_value, fname, level)
  fname, level = fname or "self_loop_attr", (level or 1) + 1
  check_tensor(fname, edge_attr, "edge_attr", level)
  if edge_attr:dim() < 1 or edge_attr:size(1) ~= dst:numel() then
    error(string.format("%s: edge_attr has shape %s, expected %d rows (one per edge)", fname,
      shape_str(edge_attr), dst:numel()), level)
  end
  if fill_value == nil then
    fill_value = "mean"
  end
  if type(fill_value) == "string" then
    if not FILL_REDUCE[fill_value] then
      error(fname .. ": fill_value must be a number or one of mean, sum, max, min, got "
        .. fill_value, level)
    end
    return G.scatter(edge_attr, dst, num_nodes, fill_value)
  elseif type(fill_value) == "number" then
    local shape = edge_attr:size()
    shape[1] = num_nodes
    return graphids.full(shape, fill_value, { dtype = edge_attr.dtype, device = edge_attr.device })
  end
  error(fname .. ": fill_value must be a number or a string, got " .. type(fill_value), level)
end

-- Appends one loop (i, i) per node after the existing edges (PyG's order), and their edge_attr
-- rows (G.self_loop_attr), filled with 1 unless fill_value says otherwise (PyG's
-- add_self_loops; its GATConv fills with "mean", which the layers pass).  PyG takes
-- (edge_index, edge_attr, fill_value, num_nodes), usually by keyword: the options-table form
-- G.add_self_loops(ei, ea, {fill_value =, num_nodes =}) is that call.
function G.add_self_loops(edge_index, edge_attr, num_nodes, fill_value)
  if type(num_nodes) == "table" then
    if fill_value ~= nil then
      error("add_self_loops: expected (edge_index, edge_attr, num_nodes, fill_value) or (edge_index, " ..
        "edge_attr, {fill_value =, num_nodes =})", 2)
    end
    local o = U.options("add_self_loops", num_nodes, { fill_value = U.NONE, num_nodes = U.NONE }, 3)
    num_nodes, fill_value = o.num_nodes, o.fill_value
  end
  if fill_value == nil then fill_value = 1.0 end
  check_edge_index("add_self_loops", edge_index, 2)
  if num_nodes == nil then
    num_nodes = infer_count(edge_index)
  end
  check_count("add_self_loops", num_nodes, "num_nodes", 2)
  -- (reshape: a transposed [E, 2] edge list is no view)
  check_range("add_self_loops", edge_index:reshape({ -1 }), num_nodes, "edge_index", 2)
  return G._append_self_loops(edge_index, edge_attr, num_nodes, fill_value, 3)
end

-- add_self_loops for edges already known to be in [0, num_nodes) (the conv layers check their
-- edge_index against x; the edges remove_self_loops kept of it are a new tensor at every batch,
-- whose range check would wait for a GPU).  level: where a bad fill_value's error points.
function G._append_self_loops(edge_index, edge_attr, num_nodes, fill_value, level)
  local loop = graphids.arange(num_nodes, { dtype = edge_index.dtype,
    device = edge_index.device })
  local ei = graphids.cat({ edge_index, graphids.stack({ loop, loop }) }, 2)
  if edge_attr == nil then
    return ei, nil
  end
  local loop_attr = G.self_loop_attr(edge_attr, edge_index:select(1, 2), num_nodes, fill_value,
    "add_self_loops", level or 2)
  return ei, graphids.cat({ edge_attr, loop_attr }, 1)
end

-- ---------------------------------------------------------------- attention

local ATT_DEFAULTS = { negative_slope = 0.2, dropout = 0.0, training = false,
  generator = U.NONE, fused = true }

local function check_dropout(fname, o, level)
  if type(o.dropout) ~= "number" or o.dropout < 0 or o.dropout > 1 then
    error(string.format("%s: dropout must be a probability in [0, 1], got %s", fname,
      tostring(o.dropout)), level + 1)
  end
end

-- The dropout multipliers of alpha [E, H] (0 or 1/(1-p)), drawn as F.dropout draws them (the
-- same generator state gives the same mask), or nil when no dropout applies.
local function dropout_scale(o, E, H, like)
  if not o.training or o.dropout == 0 then
    return nil
  end
  local opts = { dtype = like.dtype, device = like.device }
  if o.dropout == 1 then
    return graphids.zeros({ E, H }, opts)
  end
  local m = graphids.empty({ E, H }, opts)
  return m:bernoulli_(1 - o.dropout, o.generator and { generator = o.generator } or nil)
    :div_(1 - o.dropout)
end

local function dropout_alpha(alpha, o)
  if o.training and o.dropout > 0 then
    return F.dropout(alpha, o.dropout, true, { generator = o.generator })
  end
  return alpha
end

local function check_rows(fname, t, what, rows, level)
  check_tensor(fname, t, what, level + 1)
  if t:size(1) ~= rows then
    error(string.format("%s: %s has shape %s, expected %d rows", fname, what, shape_str(t), rows),
      level + 1)
  end
end

G.reference = {}

-- Unfused GATv2 attention from plain ops (see G.gatv2_attention).
function G.reference.gatv2_attention(xl, xr, edge_proj, att, edge_index, num_nodes, opts)
  local o = U.options("gatv2_attention", opts, ATT_DEFAULTS)
  check_dropout("gatv2_attention", o, 2)
  local src, dst = check_edge_index("gatv2_attention", edge_index, 2)
  local xj = xl:index_select(1, src)
  local m = xj + xr:index_select(1, dst)
  if edge_proj ~= nil then
    m = m + edge_proj
  end
  m = graphids.leaky_relu(m, o.negative_slope)
  local H = xl:size(2)
  local e = (m * att:reshape({ 1, H, -1 })):sum(3)
  local alpha = graphids.segment_softmax(e, dst, num_nodes)
  local a = dropout_alpha(alpha, o)
  local out = graphids.segment_sum(xj * a:unsqueeze(3), dst, num_nodes)
  return out, alpha
end

-- Unfused GAT (v1) attention from plain ops (see G.gat_attention).
function G.reference.gat_attention(x, a_src, a_dst, a_edge, edge_index, num_nodes, opts)
  local o = U.options("gat_attention", opts, ATT_DEFAULTS)
  check_dropout("gat_attention", o, 2)
  local src, dst = check_edge_index("gat_attention", edge_index, 2)
  local e = a_src:index_select(1, src) + a_dst:index_select(1, dst)
  if a_edge ~= nil then
    e = e + a_edge
  end
  e = graphids.leaky_relu(e, o.negative_slope)
  local alpha = graphids.segment_softmax(e, dst, num_nodes)
  local a = dropout_alpha(alpha, o)
  local out = graphids.segment_sum(x:index_select(1, src) * a:unsqueeze(3), dst, num_nodes)
  return out, alpha
end

local function check_attention_args(fname, x, others, edge_index, num_nodes, level)
  check_edge_index(fname, edge_index, level + 1)
  check_tensor(fname, x, "x", level + 1)
  if x:dim() ~= 3 then
    error(string.format("%s: x must have shape [N, heads, channels], got %s", fname,
      shape_str(x)), level + 1)
  end
  check_count(fname, num_nodes, "num_nodes", level + 1)
  for _, spec in ipairs(others) do
    local t, what, rows = spec[1], spec[2], spec[3]
    if t ~= nil or spec.required then
      check_rows(fname, t, what, rows, level + 1)
    end
  end
end

-- GATv2 attention (PyG GATv2Conv's message passing), for E edges on num_nodes nodes:
--   e[k, h]   = sum_c att[h, c] * leaky_relu(xl[src_k, h, c] + xr[dst_k, h, c] + ep[k, h, c])
--   alpha     = softmax of e over the edges sharing a target (per head)
--   out[i, h] = sum over edges k into i of dropout(alpha)[k, h] * xl[src_k, h, :]
-- xl, xr [N, H, C]; edge_proj [E, H, C] or nil; att [H, C] (or [1, H, C]).  Returns out
-- [N, H, C] and alpha [E, H] (before dropout).  opts: negative_slope=0.2, dropout=0,
-- training=false, generator (for the dropout mask, drawn as F.dropout draws it), fused=true
-- (false: the composed reference).
-- The fused attention kernels take an i64 edge_index; an i32 one (which the checks accept, as
-- every other graph op does) is widened for them.
local function i64(edge_index)
  return edge_index.dtype == "i32" and edge_index:long() or edge_index
end

function G.gatv2_attention(xl, xr, edge_proj, att, edge_index, num_nodes, opts)
  local E = is_tensor(edge_index) and edge_index:dim() == 2 and edge_index:size(2) or 0
  check_attention_args("gatv2_attention", xl, {
    { xr, "xr", num_nodes, required = true },
    { edge_proj, "edge_proj", E },
  }, edge_index, num_nodes, 2)
  check_tensor("gatv2_attention", att, "att", 2)
  local o = U.options("gatv2_attention", opts, ATT_DEFAULTS)
  check_dropout("gatv2_attention", o, 2)
  if not o.fused then
    return G.reference.gatv2_attention(xl, xr, edge_proj, att, edge_index, num_nodes,
      { negative_slope = o.negative_slope, dropout = o.dropout, training = o.training,
        generator = o.generator })
  end
  return core.graph_gatv2_attention(xl, xr, edge_proj, att, i64(edge_index), num_nodes,
    o.negative_slope, dropout_scale(o, E, xl:size(2), xl))
end

-- GAT (v1) attention (PyG GATConv's message passing):
--   e[k, h]   = leaky_relu(a_src[src_k, h] + a_dst[dst_k, h] + a_edge[k, h])
--   alpha     = softmax of e over the edges sharing a target (per head)
--   out[i, h] = sum over edges k into i of dropout(alpha)[k, h] * x[src_k, h, :]
-- x [N, H, C], a_src and a_dst [N, H], a_edge [E, H] or nil.  Returns out [N, H, C] and alpha
-- [E, H]; opts as gatv2_attention.
function G.gat_attention(x, a_src, a_dst, a_edge, edge_index, num_nodes, opts)
  local E = is_tensor(edge_index) and edge_index:dim() == 2 and edge_index:size(2) or 0
  check_attention_args("gat_attention", x, {
    { a_src, "a_src", num_nodes, required = true },
    { a_dst, "a_dst", num_nodes, required = true },
    { a_edge, "a_edge", E },
  }, edge_index, num_nodes, 2)
  local o = U.options("gat_attention", opts, ATT_DEFAULTS)
  check_dropout("gat_attention", o, 2)
  if not o.fused then
    return G.reference.gat_attention(x, a_src, a_dst, a_edge, edge_index, num_nodes,
      { negative_slope = o.negative_slope, dropout = o.dropout, training = o.training,
        generator = o.generator })
  end
  return core.graph_gat_attention(x, a_src, a_dst, a_edge, i64(edge_index), num_nodes,
    o.negative_slope, dropout_scale(o, E, x:size(2), x))
end

-- coalesce, to_undirected, is_undirected, sort_edge_index, dropout_edge, to_dense_batch
require("graphids.nn.graph_utils")(G)

-- (a value past a function's last parameter is an error, as for the core's functions)
U.refuse_extra_arguments(G, "")

return G
