-- graphids.nn GATConv -- PyTorch Geometric's GATConv (2.8): graph attention of "Graph Attention
-- Networks" (Velickovic et al.).
--   local conv = nn.GATConv(35, 24, { heads = 4 })            -- out [N, 96]
--   local y = conv(x, edge_index)                             -- x [N, 35], edge_index [2, E] i64
--   local conv2 = nn.GATConv(35, 24, { heads = 4, edge_dim = 11, concat = false })
--   local y2, ei, alpha = conv2:forward(x, edge_index, edge_attr, { return_attention_weights = true })
-- Options (PyG's names and defaults): heads=1, concat=true, negative_slope=0.2, dropout=0
-- (on the attention coefficients, training mode only), add_self_loops=true, edge_dim=nil,
-- fill_value="mean", bias=true, residual=false, dtype, device.
-- Parameters (PyG's state_dict names): att_src, att_dst [1, H, C]; att_edge [1, H, C] with
-- edge_dim; bias [H*C or C]; lin.weight [H*C, in]; lin_edge.weight [H*C, edge_dim];
-- res.weight [H*C or C, in] with residual.  Initialised as PyG: glorot, bias zero.
-- edge_attr (a tensor or nil) is ignored when edge_dim is nil, as in PyG.  Only one
-- node-feature tensor (PyG's bipartite (x_src, x_dst) pair is not supported).
local G = require "graphids.nn.graph"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local init = require "graphids.nn.initializers"
local C = require "graphids.nn.gnn._common"

local GATConv = class("GATConv", Module)

local DEFAULTS = C.defaults({ heads = 1, concat = true, negative_slope = 0.2, dropout = 0.0,
  add_self_loops = true, edge_dim = U.NONE, fill_value = U.NONE, bias = true, residual = false })

function GATConv:__init(in_channels, out_channels, opts)
  Module.__init(self)
  local o = U.options("GATConv", opts, DEFAULTS, U.CTOR)
  C.check_heads_opts("GATConv", in_channels, out_channels, o)
  local fill = C.check_fill_value("GATConv", o.fill_value)
  local H, Ch = o.heads, out_channels
  self.in_channels, self.out_channels, self.heads = in_channels, out_channels, H
  self.concat, self.negative_slope, self.dropout = o.concat, o.negative_slope, o.dropout
  self.add_self_loops, self.edge_dim, self.fill_value = o.add_self_loops, o.edge_dim, fill
  self.residual = o.residual
  local total = o.concat and H * Ch or Ch
  -- torch's state_dict lists own parameters first, then children; registration order below
  -- gives PyG's: att_src, att_dst, att_edge, bias, lin, lin_edge, res.
  self:register_parameter("att_src", U.empty({ 1, H, Ch }, o))
  self:register_parameter("att_dst", U.empty({ 1, H, Ch }, o))
  self:register_parameter("att_edge", o.edge_dim and U.empty({ 1, H, Ch }, o) or nil)
  self:register_parameter("bias", o.bias and U.empty({ total }, o) or nil)
  self.lin = C.linear(in_channels, H * Ch, { bias = false, glorot = true }, o)
  if o.edge_dim then
    self.lin_edge = C.linear(o.edge_dim, H * Ch, { bias = false, glorot = true }, o)
  end
  if o.residual then
    self.res = C.linear(in_channels, total, { bias = false, glorot = true }, o)
  end
  self:reset_parameters()
end

function GATConv:reset_parameters()
  for _, name in ipairs({ "lin", "lin_edge", "res" }) do
    if self[name] then C.reset_linear(self[name], true) end
  end
  C.glorot(self.att_src)
  C.glorot(self.att_dst)
  if self.att_edge ~= nil then C.glorot(self.att_edge) end
  if self.bias ~= nil then init.zeros_(self.bias) end
end

local CALL = { return_attention_weights = false }

-- forward(x [N, in], edge_index [2, E], edge_attr [E, edge_dim]?, {return_attention_weights})
-- -> out [N, H*C] (concat) or [N, C]; with return_attention_weights also the edge_index the
-- attention ran on (self-loops included) and alpha [E', H].
function GATConv:forward(x, edge_index, edge_attr, opts)
  local call = U.options("GATConv:forward", opts, CALL)
  local H, Ch = self.heads, self.out_channels
  local N = C.check_graph("GATConv", x, edge_index, self.in_channels)
  C.check_dtype("GATConv", "x", x, self, "lin")
  C.check_attention_edge_attr("GATConv", edge_attr)
  if self.lin_edge then
    edge_attr = C.check_edge_attr("GATConv", edge_attr, edge_index:size(2), self.edge_dim)
    if edge_attr ~= nil then C.check_dtype("GATConv", "edge_attr", edge_attr, self, "lin_edge") end
  else
    edge_attr = nil
  end
  local xs = self.lin(x):view(N, H, Ch)
  local a_src = (xs * self.att_src):sum(3)
  local a_dst = (xs * self.att_dst):sum(3)
  if self.add_self_loops then
    edge_index, edge_attr = C.replace_self_loops(edge_index, edge_attr, N, self.fill_value)
  end
  local a_edge
  if edge_attr ~= nil then
    -- att_edge . (W e) = (W^T att_edge) . e: fold the attention vector into the projection
    -- ([H, edge_dim]) instead of projecting every edge to H*C channels
    local w = (self.lin_edge.weight:view(H, Ch, self.edge_dim) * self.att_edge:view(H, Ch, 1))
      :sum(2)
    a_edge = edge_attr:matmul(w:t())
  end
  local out, alpha = G.gat_attention(xs, a_src, a_dst, a_edge, edge_index, N, {
    negative_slope = self.negative_slope, dropout = self.dropout, training = self.training })
  return C.finish_attention(self, out, x, edge_index, alpha, call.return_attention_weights)
end

GATConv.extra_repr = C.heads_repr

return { GATConv = GATConv }
