-- graphids.nn GCNConv -- PyTorch Geometric's GCNConv (2.8): the graph convolution of Kipf and
-- Welling, out = D^-1/2 (A + I) D^-1/2 X W + b.
--   local conv = nn.GCNConv(35, 64)
--   local y = conv(x, edge_index)                  -- or conv(x, edge_index, edge_weight [E])
-- Options (PyG's): improved=false, add_self_loops=nil (= normalize), normalize=true,
-- bias=true, dtype, device.  PyG's `cached` is not offered (recompute each call).
-- With normalize, gcn_norm as PyG: existing self-loops are replaced by one loop per node
-- (weight: the existing loop's weight if the node had one, else 2 with improved, else 1; with
-- no edge_weight every weight is 1, so improved changes nothing, as in PyG); deg = sum of the
-- weights into each target; each edge j -> i is weighted deg_j^-1/2 * w * deg_i^-1/2 (a zero
-- degree gives 0).  Messages x_j W * weight are summed onto their targets.
-- Parameters (PyG's names): bias [out]; lin.weight [out, in] (glorot, bias zero).
local G = require "graphids.nn.graph"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local graphids = require "graphids"
local init = require "graphids.nn.initializers"
local C = require "graphids.nn.gnn._common"

local GCNConv = class("GCNConv", Module)

local DEFAULTS = C.defaults({ improved = false, add_self_loops = U.NONE, normalize = true,
  bias = true })

function GCNConv:__init(in_channels, out_channels, opts)
  Module.__init(self)
  local o = U.options("GCNConv", opts, DEFAULTS, U.CTOR)
  C.check_positive("GCNConv", "in_channels", in_channels)
  C.check_positive("GCNConv", "out_channels", out_channels)
  local loops = o.add_self_loops
  if loops == nil then
    loops = o.normalize
  end
  if loops and not o.normalize then
    error("GCNConv: add_self_loops=true needs normalize=true (PyG adds self-loops only " ..
      "while normalising)", U.CTOR)
  end
  self.in_channels, self.out_channels = in_channels, out_channels
  self.improved, self.add_self_loops, self.normalize = o.improved, loops, o.normalize
  self:register_parameter("bias", o.bias and U.empty({ out_channels }, o) or nil)
  self.lin = C.linear(in_channels, out_channels, { bias = false, glorot = true }, o)
  self:reset_parameters()
end

function GCNConv:reset_parameters()
  C.reset_linear(self.lin, true)
  if self.bias ~= nil then init.zeros_(self.bias) end
end

-- PyG's add_remaining_self_loops: drops the loops, appends one per node; a node that had a
-- loop keeps that loop's weight (with several, the last in edge order).
local function add_remaining_self_loops(edge_index, edge_weight, fill, N)
  local src, dst = edge_index:select(1, 1), edge_index:select(1, 2)
  local is_loop = src:eq(dst)
  local ei, ew = G.remove_self_loops(edge_index, edge_weight)
  ei = G.add_self_loops(ei, nil, N)
  if edge_weight == nil then
    return ei, nil
  end
  local loop_w = graphids.full({ N }, fill, { dtype = edge_weight.dtype,
    device = edge_weight.device })
  local loops = is_loop:nonzero():select(2, 1)
  if loops:numel() > 0 then
    -- scatter writes in index order, so the last loop of a node wins, as PyG on the CPU
    loop_w = loop_w:scatter(1, src:index_select(1, loops), edge_weight:index_select(1, loops))
  end
  return ei, graphids.cat({ ew, loop_w }, 1)
end

-- The edges and weights GCNConv aggregates with (PyG's gcn_norm for an edge_index).
function GCNConv.gcn_norm(edge_index, edge_weight, N, improved, add_self_loops, dtype)
  if add_self_loops then
    edge_index, edge_weight = add_remaining_self_loops(edge_index, edge_weight,
      improved and 2.0 or 1.0, N)
  end
  if edge_weight == nil then
    edge_weight = graphids.ones({ edge_index:size(2) }, { dtype = dtype,
      device = edge_index.device })
  end
  local src, dst = edge_index:select(1, 1), edge_index:select(1, 2)
  local deg = G.scatter(edge_weight, dst, N, "sum")
  -- deg^-1/2 with 0 for a zero degree, computed on a safe base so no inf enters the graph
  local zero = deg:eq(0)
  local dis = graphids.where(zero, 1.0, deg):pow(-0.5):masked_fill(zero, 0.0)
  return edge_index, G.gather(dis, src) * edge_weight * G.gather(dis, dst)
end

-- forward(x [N, in], edge_index [2, E], edge_weight [E]?) -> [N, out]
function GCNConv:forward(x, edge_index, edge_weight)
  local N = C.check_graph("GCNConv", x, edge_index, self.in_channels)
  C.check_dtype("GCNConv", "x", x, self, "lin")
  if edge_weight ~= nil then
    edge_weight = C.check_edge_attr("GCNConv", edge_weight, edge_index:size(2), 1, "edge_weight")
      :view(-1)
  end
  if self.normalize then
    edge_index, edge_weight = GCNConv.gcn_norm(edge_index, edge_weight, N, self.improved,
      self.add_self_loops, x.dtype)
  end
  local h = self.lin(x)
  local msg = G.gather(h, edge_index:select(1, 1))
  if edge_weight ~= nil then
    msg = msg * edge_weight:unsqueeze(2)
  end
  local out = G.scatter(msg, edge_index:select(1, 2), N, "sum")
  if self.bias ~= nil then out = out + self.bias end
  return out
end

function GCNConv:extra_repr()
  return string.format("%d, %d", self.in_channels, self.out_channels)
end

return { GCNConv = GCNConv }
