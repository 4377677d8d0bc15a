-- graphids.nn GATv2Conv -- PyTorch Geometric's GATv2Conv (2.8): the dynamic attention of "How
-- Attentive are Graph Attention Networks?" (Brody et al.).
--   local conv = nn.GATv2Conv(35, 24, { heads = 4, edge_dim = 11 })   -- out [N, 96]
--   local y = conv(x, edge_index, edge_attr)     -- x [N, 35], edge_index [2, E] i64, edge_attr [E, 11]
-- Options (PyG's names and defaults): heads=1, concat=true, negative_slope=0.2, dropout=0
-- (on the attention coefficients, training mode only), add_self_loops=true, edge_dim=nil,
-- fill_value="mean", bias=true, share_weights=false, residual=false, dtype, device.
-- Parameters (PyG's state_dict names): att [1, H, C]; bias [H*C or C]; lin_l.weight/.bias
-- [H*C, in]/[H*C]; lin_r.* (the same tensors as lin_l.* with share_weights: state_dict lists
-- both names, parameters() once); lin_edge.weight [H*C, edge_dim]; res.weight with residual.
-- Initialised as PyG: glorot weights, lin_l/lin_r bias U(+-1/sqrt(in)), att glorot, bias zero.
-- edge_attr given without edge_dim is an error (PyG asserts).  Only one node-feature tensor.
local G = require "graphids.nn.graph"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local init = require "graphids.nn.initializers"
local C = require "graphids.nn.gnn._common"

local GATv2Conv = class("GATv2Conv", Module)

local DEFAULTS = C.defaults({ heads = 1, concat = true, negative_slope = 0.2, dropout = 0.0,
  add_self_loops = true, edge_dim = U.NONE, fill_value = U.NONE, bias = true,
  share_weights = false, residual = false })

function GATv2Conv:__init(in_channels, out_channels, opts)
  Module.__init(self)
  local o = U.options("GATv2Conv", opts, DEFAULTS, U.CTOR)
  C.check_heads_opts("GATv2Conv", in_channels, out_channels, o)
  local fill = C.check_fill_value("GATv2Conv", o.fill_value)
  local H, Ch = o.heads, out_channels
  self.in_channels, self.out_channels, self.heads = in_channels, out_channels, H
  self.concat, self.negative_slope, self.dropout = o.concat, o.negative_slope, o.dropout
  self.add_self_loops, self.edge_dim, self.fill_value = o.add_self_loops, o.edge_dim, fill
  self.share_weights, self.residual = o.share_weights, o.residual
  local total = o.concat and H * Ch or Ch
  -- own parameters first, then children in PyG's order: att, bias, lin_l, lin_r, lin_edge, res
  self:register_parameter("att", U.empty({ 1, H, Ch }, o))
  self:register_parameter("bias", o.bias and U.empty({ total }, o) or nil)
  self.lin_l = C.linear(in_channels, H * Ch, { bias = o.bias, glorot = true }, o)
  self.lin_r = o.share_weights and self.lin_l
    or C.linear(in_channels, H * Ch, { bias = o.bias, glorot = true }, o)
  if o.edge_dim then
    self.lin_edge = C.linear(o.edge_dim, H * Ch, { bias = false, glorot = true }, o)
  end
  if o.residual then
    self.res = C.linear(in_channels, total, { bias = false, glorot = true }, o)
  end
  self:reset_parameters()
end

function GATv2Conv:reset_parameters()
  for _, name in ipairs({ "lin_l", "lin_r", "lin_edge", "res" }) do
    if self[name] then C.reset_linear(self[name], true) end
  end
  C.glorot(self.att)
  if self.bias ~= nil then init.zeros_(self.bias) end
end

local CALL = { return_attention_weights = false }

-- forward(x [N, in], edge_index [2, E], edge_attr [E, edge_dim]?, {return_attention_weights})
-- -> out [N, H*C] (concat) or [N, C]; with return_attention_weights also the edge_index the
-- attention ran on (self-loops included) and alpha [E', H].
function GATv2Conv:forward(x, edge_index, edge_attr, opts)
  local call = U.options("GATv2Conv:forward", opts, CALL)
  local H, Ch = self.heads, self.out_channels
  local N = C.check_graph("GATv2Conv", x, edge_index, self.in_channels)
  C.check_dtype("GATv2Conv", "x", x, self, "lin_l")
  C.check_attention_edge_attr("GATv2Conv", edge_attr)
  if edge_attr ~= nil and not self.lin_edge then
    error("GATv2Conv: edge_attr was given but the layer has no edge_dim (construct it with " ..
      "{edge_dim = " .. (edge_attr.ndim == 2 and edge_attr:size(2) or 1) .. "})", 2)
  end
  edge_attr = C.check_edge_attr("GATv2Conv", edge_attr, edge_index:size(2), self.edge_dim)
  if edge_attr ~= nil then C.check_dtype("GATv2Conv", "edge_attr", edge_attr, self, "lin_edge") end
  local xl = self.lin_l(x):view(N, H, Ch)
  local xr = self.share_weights and xl or self.lin_r(x):view(N, H, Ch)
  if self.add_self_loops then
    edge_index, edge_attr = C.replace_self_loops(edge_index, edge_attr, N, self.fill_value)
  end
  local ep = edge_attr and self.lin_edge(edge_attr):view(-1, H, Ch)
  local out, alpha = G.gatv2_attention(xl, xr, ep, self.att, edge_index, N, {
    negative_slope = self.negative_slope, dropout = self.dropout, training = self.training })
  return C.finish_attention(self, out, x, edge_index, alpha, call.return_attention_weights)
end

GATv2Conv.extra_repr = C.heads_repr

return { GATv2Conv = GATv2Conv }
