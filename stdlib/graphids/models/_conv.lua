-- graphids.models._conv -- the graph-convolution pieces the models share (the reference's
-- core/models/_conv.py): the conv factory, the encoder/decoder stacks with GraphNorm and the
-- conv -> norm -> activation -> dropout block.
--   local C = require "graphids.models._conv"
--   local conv = C.make_conv("gatv2", 40, 24, 4, 11)              -- GATv2Conv, out 96
--   local convs, norms, out = C.build_stack("gatv2", 40, { 80, 40 }, 11, 4, true)
--   x = C.block(conv, x, batch, { norm = norms[1], dropout = 0.1, training = true })
-- The reference wraps each block in torch.utils.checkpoint (gradient checkpointing), a memory
-- optimisation with no effect on values; it is not reproduced.
local nn = require "graphids.nn"
local F = require "graphids.nn.functional"

local C = {}

C.CONV_TYPES = { "gat", "gatv2", "transformer" }
-- conv types whose layers read edge attributes
local EDGE = { gatv2 = true, transformer = true }

function C.uses_edge_attr(conv_type)
  return EDGE[conv_type] == true
end

function C.check_conv_type(name, conv_type)
  for _, t in ipairs(C.CONV_TYPES) do
    if t == conv_type then
      return
    end
  end
  error(string.format("%s: hyper-parameter 'conv_type' must be one of %s, got %s (the " ..
    "reference's 'gps' is not offered)", name, table.concat(C.CONV_TYPES, ", "),
    tostring(conv_type)), 0)
end

-- One conv layer with `heads` heads of `out` channels each, concatenated.
function C.make_conv(conv_type, in_dim, out, heads, edge_dim)
  if conv_type == "gat" then
    return nn.GATConv(in_dim, out, { heads = heads, concat = true })
  elseif conv_type == "gatv2" then
    return nn.GATv2Conv(in_dim, out, { heads = heads, concat = true, edge_dim = edge_dim })
  elseif conv_type == "transformer" then
    return nn.TransformerConv(in_dim, out, { heads = heads, concat = true, edge_dim = edge_dim })
  end
  error("unknown conv_type " .. tostring(conv_type), 2)
end

-- Convs to each target width (the first with heads_first heads of target / heads channels when
-- divisible, else 1 head; later layers 1 head) and a GraphNorm after each when norm is true.
-- Returns the two ModuleLists and the last width.
function C.build_stack(conv_type, in_dim, targets, edge_dim, heads_first, norm)
  local convs, norms = {}, {}
  for i, target in ipairs(targets) do
    local heads = i == 1 and heads_first or 1
    local per
    if heads > 1 and target % heads == 0 then
      per = target // heads
    else
      heads, per = 1, target
    end
    convs[i] = C.make_conv(conv_type, in_dim, per, heads, edge_dim)
    if norm then
      norms[i] = nn.GraphNorm(per * heads)
    end
    in_dim = per * heads
  end
  return nn.ModuleList(convs), nn.ModuleList(norms), in_dim
end

-- The encoder widths of hidden_dims: its last entry is dropped when it equals latent_dim.
function C.encoder_targets(hidden_dims, latent_dim)
  local t = {}
  for i, d in ipairs(hidden_dims) do
    t[i] = d
  end
  if #t >= 2 and t[#t] == latent_dim then
    t[#t] = nil
  end
  return t
end

-- conv -> norm(x, batch) -> activation (relu unless opts.activation == false) -> dropout.
-- opts: edge_attr, batch, num_graphs, norm, activation, dropout, training, generator.
function C.block(conv, x, edge_index, opts)
  if opts.edge_attr ~= nil then
    x = conv(x, edge_index, opts.edge_attr)
  else
    x = conv(x, edge_index)
  end
  if opts.norm ~= nil then
    x = opts.norm(x, opts.batch, opts.num_graphs)
  end
  if opts.activation ~= false then
    x = x:relu()
  end
  if (opts.dropout or 0) > 0 then
    x = F.dropout(x, opts.dropout, opts.training, { generator = opts.generator })
  end
  return x
end

return C
