-- graphids.nn GINConv, GINEConv -- PyTorch Geometric's graph isomorphism operators (2.8):
-- GIN of "How Powerful are Graph Neural Networks?" (Xu et al.) and GINE of "Strategies for
-- Pre-training Graph Neural Networks" (Hu et al.).
--   local gin = nn.GINConv(nn.Sequential(nn.Linear(35, 64), nn.ReLU(), nn.Linear(64, 64)))
--   local y = gin(x, edge_index)                                       -- [N, 64]
--   local gine = nn.GINEConv(nn.Sequential(nn.Linear(35, 64), nn.ReLU()), { edge_dim = 11 })
--   local y2 = gine(x, edge_index, edge_attr)                          -- edge_attr [E, 11]
-- GINConv:  out_i = nn((1 + eps) x_i + sum_{j -> i} x_j)
-- GINEConv: out_i = nn((1 + eps) x_i + sum_{j -> i} relu(x_j + e_ji)), e_ji = lin(edge_attr)
-- with edge_dim, else edge_attr itself (it must then have x's width).
-- Options (PyG's): eps=0, train_eps=false (eps a parameter instead of a buffer), GINEConv
-- edge_dim=nil; dtype and device of eps and lin, by default those of nn's first parameter.
-- With edge_dim, lin is Linear(edge_dim, in_channels), in_channels read as PyG reads it: from
-- nn, or the first module of an nn.Sequential, which must have in_features (Linear) or
-- in_channels (a graph layer).  As PyG, the constructor resets nn's parameters.
-- State (PyG's names): eps [1] (a buffer, or a parameter with train_eps), nn.*, lin.weight
-- [in, edge_dim] and lin.bias [in] (PyG's Linear initialisation).
local Module = require "graphids.nn.module"
local G = require "graphids.nn.graph"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local graphids = require "graphids"
local Sequential = require("graphids.nn.containers").Sequential
local C = require "graphids.nn.gnn._common"

-- nn must be a graphids module (a function has no parameters to train or save).
local function check_nn(fname, m)
  if not class.isinstance(m, Module) then
    error(string.format("%s: nn must be a Module (e.g. nn.Sequential(nn.Linear(...), ...)), " ..
      "got %s", fname, U.describe(m)), U.CTOR + 2)
  end
end

-- The factory options of eps and lin: those given, else those of nn's first parameter.
local function factory(o, m)
  local p = m:parameters()[1]
  return { dtype = o.dtype or (p and p.dtype), device = o.device or (p and p.device) }
end

-- PyG's torch.nn.Module reset(): reset_parameters where a module has it, else its children's.
local function reset(m)
  if type(m.reset_parameters) == "function" then
    m:reset_parameters()
    return
  end
  for _, c in m:named_children() do reset(c) end
end

-- The constructor's common part: nn, eps (parameter or buffer).
local function setup(self, fname, m, o)
  check_nn(fname, m)
  self.nn = m
  self.initial_eps, self.train_eps = o.eps, o.train_eps
  local eps = U.empty({ 1 }, factory(o, m))
  if o.train_eps then
    self:register_parameter("eps", eps)
  else
    self:register_buffer("eps", eps)
  end
end

local function reset_common(self)
  reset(self.nn)
  U.no_grad(function() self.eps:fill_(self.initial_eps) end)
end

-- The graph part of both forwards: x [N, F] float and edge_index over its nodes.  Returns N.
local function check_graph(fname, x, edge_index, in_channels)
  local N = C.check_x(fname, x, in_channels, nil, 4)
  C.check_edge_index(fname, edge_index, N, 4)
  return N
end

local function extra_repr(self)
  return string.format("eps=%s, train_eps=%s", tostring(self.initial_eps),
    tostring(self.train_eps))
end

-- ------------------------------------------------------------------------------- GINConv

local GINConv = class("GINConv", Module)

local GIN_DEFAULTS = C.defaults({ eps = 0.0, train_eps = false })

function GINConv:__init(m, opts)
  Module.__init(self)
  local o = U.options("GINConv", opts, GIN_DEFAULTS, U.CTOR)
  setup(self, "GINConv", m, o)
  self:reset_parameters()
end

GINConv.reset_parameters = reset_common

-- forward(x [N, F], edge_index [2, E]) -> nn's output for [N, F]
function GINConv:forward(x, edge_index)
  local N = check_graph("GINConv", x, edge_index)
  local out = G.scatter(G.gather(x, edge_index:select(1, 1)), edge_index:select(1, 2), N, "sum")
  return self.nn(out + (1 + self.eps) * x)
end

GINConv.extra_repr = extra_repr

-- ------------------------------------------------------------------------------ GINEConv

local GINEConv = class("GINEConv", Module)

local GINE_DEFAULTS = C.defaults({ eps = 0.0, train_eps = false, edge_dim = U.NONE })

-- PyG's rule: nn, or nn[0] of a Sequential, has in_features or in_channels.
local function infer_in_channels(m)
  local first = m
  if class.isinstance(m, Sequential) then first = m[1] end
  local c = first ~= nil and (first.in_features or first.in_channels) or nil
  if math.type(c) ~= "integer" then
    error("GINEConv: cannot infer the input channels from nn for edge_dim (nn, or the first " ..
      "module of an nn.Sequential, must have in_features or in_channels), got " ..
      (first == nil and "an empty Sequential" or U.describe(first)), U.CTOR + 1)
  end
  return c
end

function GINEConv:__init(m, opts)
  Module.__init(self)
  local o = U.options("GINEConv", opts, GINE_DEFAULTS, U.CTOR)
  setup(self, "GINEConv", m, o)
  if o.edge_dim ~= nil then
    C.check_positive("GINEConv", "edge_dim", o.edge_dim)
    self.edge_dim = o.edge_dim
    self.in_channels = infer_in_channels(m)
    self.lin = C.linear(o.edge_dim, self.in_channels, {}, factory(o, m))
  end
  self:reset_parameters()
end

function GINEConv:reset_parameters()
  reset_common(self)
  if self.lin then C.reset_linear(self.lin, false) end
end

-- forward(x [N, F], edge_index [2, E], edge_attr [E, edge_dim or F]) -> nn's output for [N, F]
function GINEConv:forward(x, edge_index, edge_attr)
  local N = check_graph("GINEConv", x, edge_index, self.in_channels)
  local F = x:size(2)
  if edge_attr == nil then
    error(string.format("GINEConv: edge_attr [E, %d] is required", self.edge_dim or F), 2)
  end
  if self.lin == nil and graphids.is_tensor(edge_attr) and edge_attr:dim() == 2
    and edge_attr:size(2) ~= F then
    error(string.format("GINEConv: edge_attr has %d channels and x %d: without edge_dim they " ..
      "must be equal (construct with {edge_dim = %d} to project edge_attr)", edge_attr:size(2), F,
      edge_attr:size(2)), 2)
  end
  edge_attr = C.check_edge_attr("GINEConv", edge_attr, edge_index:size(2), self.edge_dim or F)
  if self.lin then
    C.check_dtype("GINEConv", "edge_attr", edge_attr, self, "lin")
    edge_attr = self.lin(edge_attr)
  end
  local msg = (G.gather(x, edge_index:select(1, 1)) + edge_attr):relu()
  local out = G.scatter(msg, edge_index:select(1, 2), N, "sum")
  return self.nn(out + (1 + self.eps) * x)
end

GINEConv.extra_repr = extra_repr

return { GINConv = GINConv, GINEConv = GINEConv }
