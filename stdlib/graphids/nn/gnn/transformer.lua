-- graphids.nn TransformerConv -- PyTorch Geometric's TransformerConv (2.8): the graph
-- transformer of "Masked Label Prediction" (Shi et al.).
--   local conv = nn.TransformerConv(35, 24, { heads = 4, edge_dim = 11 })   -- out [N, 96]
--   local y = conv(x, edge_index, edge_attr)
-- For an edge j -> i, per head: alpha = softmax_i(q_i . (k_j + e_ji) / sqrt(C)); the message
-- is alpha * (v_j + e_ji) with e_ji = lin_edge(edge_attr) (absent without edge_dim); messages
-- are summed onto i.  Then heads are concatenated (or averaged) and, with root_weight, the
-- skip projection lin_skip(x) is added, or gated by beta = sigmoid(lin_beta([out, skip,
-- out - skip])) when beta=true.  No self-loops are added (PyG does not).
-- Options (PyG's): heads=1, concat=true, beta=false, dropout=0 (attention, training only),
-- edge_dim=nil, bias=true, root_weight=true, dtype, device.
-- Parameters (PyG's names): lin_key, lin_query, lin_value (weight [H*C, in], bias), lin_edge
-- (weight [H*C, edge_dim]), lin_skip (weight [H*C or C, in], bias), lin_beta (weight [1,
-- 3*H*C or 3*C]).  Initialised as PyG: torch's Linear initialisation.
-- edge_attr is required when edge_dim is set and refused otherwise (in PyG an edge_attr
-- without edge_dim is added to the values unprojected, which only broadcasts by accident).
local G = require "graphids.nn.graph"
local F = require "graphids.nn.functional"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local graphids = require "graphids"
local C = require "graphids.nn.gnn._common"

local TransformerConv = class("TransformerConv", Module)

local DEFAULTS = C.defaults({ heads = 1, concat = true, beta = false, dropout = 0.0,
  edge_dim = U.NONE, bias = true, root_weight = true })

function TransformerConv:__init(in_channels, out_channels, opts)
  Module.__init(self)
  local o = U.options("TransformerConv", opts, DEFAULTS, U.CTOR)
  C.check_heads_opts("TransformerConv", in_channels, out_channels, o)
  local H, Ch = o.heads, out_channels
  self.in_channels, self.out_channels, self.heads = in_channels, out_channels, H
  self.concat, self.dropout, self.edge_dim = o.concat, o.dropout, o.edge_dim
  self.root_weight = o.root_weight
  self.beta = o.beta and o.root_weight
  local lb = { bias = o.bias }
  self.lin_key = C.linear(in_channels, H * Ch, lb, o)
  self.lin_query = C.linear(in_channels, H * Ch, lb, o)
  self.lin_value = C.linear(in_channels, H * Ch, lb, o)
  if o.edge_dim then
    self.lin_edge = C.linear(o.edge_dim, H * Ch, { bias = false }, o)
  end
  local total = o.concat and H * Ch or Ch
  -- PyG builds lin_skip even without root_weight (it then gets no gradient)
  self.lin_skip = C.linear(in_channels, total, lb, o)
  if self.beta then
    self.lin_beta = C.linear(3 * total, 1, { bias = false }, o)
  end
end

function TransformerConv:reset_parameters()
  for _, name in ipairs({ "lin_key", "lin_query", "lin_value", "lin_edge", "lin_skip",
    "lin_beta" }) do
    if self[name] then C.reset_linear(self[name], false) end
  end
end

local CALL = { return_attention_weights = false }

-- forward(x [N, in], edge_index [2, E], edge_attr [E, edge_dim]?, {return_attention_weights})
-- -> out [N, H*C] (concat) or [N, C]; with return_attention_weights also edge_index and alpha
-- [E, H] (before dropout).
function TransformerConv:forward(x, edge_index, edge_attr, opts)
  local call = U.options("TransformerConv:forward", opts, CALL)
  local H, Ch = self.heads, self.out_channels
  local N = C.check_graph("TransformerConv", x, edge_index, self.in_channels)
  C.check_dtype("TransformerConv", "x", x, self, "lin_query")
  C.check_attention_edge_attr("TransformerConv", edge_attr)
  if self.lin_edge then
    if edge_attr == nil then
      error(string.format("TransformerConv: edge_attr [E, %d] is required (edge_dim = %d)",
        self.edge_dim, self.edge_dim), 2)
    end
    edge_attr = C.check_edge_attr("TransformerConv", edge_attr, edge_index:size(2),
      self.edge_dim)
    C.check_dtype("TransformerConv", "edge_attr", edge_attr, self, "lin_edge")
  elseif edge_attr ~= nil then
    error("TransformerConv: edge_attr was given but the layer has no edge_dim", 2)
  end
  local src, dst = edge_index:select(1, 1), edge_index:select(1, 2)
  local q = self.lin_query(x):view(N, H, Ch)
  local k = self.lin_key(x):view(N, H, Ch)
  local v = self.lin_value(x):view(N, H, Ch)
  local kj, vj = G.gather(k, src), G.gather(v, src)
  if edge_attr ~= nil then
    local e = self.lin_edge(edge_attr):view(-1, H, Ch)
    kj, vj = kj + e, vj + e
  end
  local alpha = (G.gather(q, dst) * kj):sum(3) / math.sqrt(Ch)
  alpha = G.softmax(alpha, dst, N)
  local a = F.dropout(alpha, self.dropout, self.training)
  local out = G.scatter(vj * a:unsqueeze(3), dst, N, "sum")
  out = C.combine_heads(out, self.concat)
  if self.root_weight then
    local skip = self.lin_skip(x)
    if self.lin_beta then
      local b = self.lin_beta(graphids.cat({ out, skip, out - skip }, 2)):sigmoid()
      out = b * skip + (1 - b) * out
    else
      out = out + skip
    end
  end
  if call.return_attention_weights then
    return out, edge_index, alpha
  end
  return out
end

TransformerConv.extra_repr = C.heads_repr

return { TransformerConv = TransformerConv }
