-- graphids.nn SAGEConv -- PyTorch Geometric's SAGEConv (2.8): the GraphSAGE operator of
-- "Inductive Representation Learning on Large Graphs" (Hamilton et al.).
--   local conv = nn.SAGEConv(35, 64)                           -- mean of the neighbours
--   local y = conv(x, edge_index)                              -- x [N, 35] -> [N, 64]
--   local conv2 = nn.SAGEConv(35, 64, { aggr = "max", project = true, normalize = true })
-- out_i = lin_l(aggr_{j -> i} x_j) + lin_r(x_i); with project, x_j is first relu(lin(x_j))
-- (the root term keeps x_i); with normalize, each output row is divided by its L2 norm
-- (at least 1e-12, F.normalize).  A node without in-edges aggregates 0.
-- Options (PyG's): aggr="mean" ("sum"/"add", "max", "min"), normalize=false, root_weight=true,
-- project=false, bias=true (lin_l's), dtype, device.  PyG's aggregation lists and objects,
-- lazy (-1) and bipartite (pair) in_channels are not offered.
-- max/min: on tied messages the gradient is split as PyG on the CPU (C.aggregate).
-- Parameters (PyG's names): lin.weight [in, in], lin.bias [in] with project; lin_l.weight
-- [out, in], lin_l.bias [out]; lin_r.weight [out, in] with root_weight.  Initialised as PyG's
-- Linear: kaiming_uniform weights, U(+-1/sqrt(in)) biases.
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local G = require "graphids.nn.graph"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local C = require "graphids.nn.gnn._common"

local SAGEConv = class("SAGEConv", Module)

local DEFAULTS = C.defaults({ aggr = "mean", normalize = false, root_weight = true,
  project = false, bias = true })

local AGGRS = { mean = true, sum = true, add = true, max = true, min = true }

function SAGEConv:__init(in_channels, out_channels, opts)
  Module.__init(self)
  local o = U.options("SAGEConv", opts, DEFAULTS, U.CTOR)
  if type(in_channels) == "table" then
    error("SAGEConv: in_channels must be a positive integer (bipartite (x_src, x_dst) pairs " ..
      "are not supported)", U.CTOR)
  end
  C.check_positive("SAGEConv", "in_channels", in_channels)
  C.check_positive("SAGEConv", "out_channels", out_channels)
  if not AGGRS[o.aggr] then
    error(string.format("SAGEConv: aggr must be 'mean', 'sum', 'add', 'max' or 'min', got %s",
      U.describe(o.aggr)), U.CTOR)
  end
  self.in_channels, self.out_channels, self.aggr = in_channels, out_channels, o.aggr
  self.normalize, self.root_weight, self.project = o.normalize, o.root_weight, o.project
  -- PyG's registration order: lin, lin_l, lin_r
  if o.project then
    self.lin = C.linear(in_channels, in_channels, {}, o)
  end
  self.lin_l = C.linear(in_channels, out_channels, { bias = o.bias }, o)
  if o.root_weight then
    self.lin_r = C.linear(in_channels, out_channels, { bias = false }, o)
  end
end

function SAGEConv:reset_parameters()
  for _, name in ipairs({ "lin", "lin_l", "lin_r" }) do
    if self[name] then C.reset_linear(self[name], false) end
  end
end

-- forward(x [N, in], edge_index [2, E]) -> [N, out]
function SAGEConv:forward(x, edge_index)
  local N = C.check_graph("SAGEConv", x, edge_index, self.in_channels)
  C.check_dtype("SAGEConv", "x", x, self, self.lin and "lin" or "lin_l")
  local xs = self.lin and self.lin(x):relu() or x
  local out = C.aggregate(G.gather(xs, edge_index:select(1, 1)), edge_index:select(1, 2), N,
    self.aggr)
  out = self.lin_l(out)
  if self.lin_r then out = out + self.lin_r(x) end
  if self.normalize then out = F.normalize(out, { p = 2, dim = -1 }) end
  return out
end

function SAGEConv:extra_repr()
  return string.format("%d, %d, aggr=%s", self.in_channels, self.out_channels, self.aggr)
end

return { SAGEConv = SAGEConv }
