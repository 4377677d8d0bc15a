-- graphids.analysis.attention -- the attention coefficients of every attention layer of a model
-- (GATConv, GATv2Conv, TransformerConv) on one batch, without changing the model: each layer is
-- asked for its weights during one forward (the reference's attention-map analysis).
--   local layers = analysis.attention(gat, batch)
--   layers[1].name, layers[1].edge_index, layers[1].alpha  --> "convs.0", [2, E'], [E', heads]
--   analysis.attention_entropy(layers[1], batch.x:size(1))  --> [N] per-node entropy (nats)
-- E' counts the edges the layer attended over: with add_self_loops (the default) the batch's
-- edges without their self-loops, then one self-loop per node, as PyG's layers return them.
local graphids = require "graphids"
local nn = require "graphids.nn"
local G = require "graphids.nn.graph"
local class = require "graphids.class"
local A = require "graphids.analysis._common"
local U = require "graphids.nn._util"

local M = {}

local KINDS = { { nn.GATConv, "GATConv" }, { nn.GATv2Conv, "GATv2Conv" },
  { nn.TransformerConv, "TransformerConv" } }

local function kind_of(m)
  for _, k in ipairs(KINDS) do
    if class.isinstance(m, k[1]) then return k[2] end
  end
end

-- The model's attention layers as a list of {name, module, kind}, in named_modules order.
function M.attention_layers(model)
  local out = {}
  for name, m in model:named_modules() do
    local kind = kind_of(m)
    if kind then out[#out + 1] = { name = name, module = m, kind = kind } end
  end
  return out
end

local function default_forward(model, batch)
  return model(batch)
end

-- The attention of each attention layer of model on batch: a list, in named_modules order, of
-- {name, kind, edge_index [2, E'] long, alpha [E', heads] f32}, both on the CPU, from one forward
-- in eval mode without grad (the model's mode is restored).  A layer that runs several times
-- in the forward gives one entry per call, named "name#2", "name#3"...  Second result: what
-- opts.forward(model, batch) returned (default model(batch)).
function M.attention(model, batch, opts)
  opts = U.options("analysis.attention", opts, { forward = U.NONE })
  local forward = opts.forward or default_forward
  if type(forward) ~= "function" then error("analysis.attention: opts.forward must be a function", 2) end
  local layers = M.attention_layers(model)
  if #layers == 0 then
    error("analysis.attention: the model has no attention layer (GATConv, GATv2Conv or " ..
      "TransformerConv)", 2)
  end
  local found, calls, own = {}, {}, {}
  -- Each layer's forward is shadowed on the instance for the one pass: it asks the forward it
  -- had (the class's, or one set on the instance, put back afterwards) for the weights and
  -- hands the output on as the layer would have.
  for i, l in ipairs(layers) do
    local m, cls_forward = l.module, l.module.forward
    own[i] = rawget(m, "forward")
    calls[l.name] = 0
    rawset(m, "forward", function(self, x, edge_index, edge_attr, call)
      local out, ei, alpha = cls_forward(self, x, edge_index, edge_attr, { return_attention_weights = true })
      calls[l.name] = calls[l.name] + 1
      local n = calls[l.name]
      found[#found + 1] = { name = n == 1 and l.name or (l.name .. "#" .. n), kind = l.kind,
        edge_index = ei:to("cpu"), alpha = alpha:detach():to("cpu"):to("f32") }
      if type(call) == "table" and call.return_attention_weights then return out, ei, alpha end
      return out
    end)
  end
  local ok, res = pcall(A.in_eval, model, function() return forward(model, batch) end)
  for i, l in ipairs(layers) do rawset(l.module, "forward", own[i]) end
  if not ok then error(res, 2) end
  if #found == 0 then
    error("analysis.attention: the forward ran none of the model's attention layers", 2)
  end
  return found, res
end

-- Per-node entropy (nats) of the attention a node gives its incoming edges, averaged over the
-- heads: [num_nodes] f32.  0 when a node attends to one edge only; log(in-degree) when uniform.
function M.attention_entropy(layer, num_nodes)
  if type(layer) ~= "table" or not graphids.is_tensor(layer.alpha)
      or not graphids.is_tensor(layer.edge_index) then
    error("analysis.attention_entropy: layer must be an entry of analysis.attention's result", 2)
  end
  if math.type(num_nodes) ~= "integer" or num_nodes < 1 then
    error(string.format("analysis.attention_entropy: num_nodes must be a positive integer, got %s",
      tostring(num_nodes)), 2)
  end
  -- (else G.scatter's "index out of range" would name neither this function nor num_nodes)
  local ei = layer.edge_index
  local need = ei:numel() > 0 and ei:max():item() + 1 or 0
  if num_nodes < need then
    error(string.format("analysis.attention_entropy: num_nodes %d is smaller than the layer's edge_index " ..
      "needs (%d: it names node %d)", num_nodes, need, need - 1), 2)
  end
  local a = layer.alpha
  -- (a weight of exactly 0 adds 0: a log of 0 times 0 is taken as its limit)
  local terms = -(a * a:clamp(1e-30, 1):log())
  local per_node = G.scatter(terms, layer.edge_index:select(1, 2), num_nodes, "sum")
  return per_node:mean(2)
end

return M
