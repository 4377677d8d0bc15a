-- graphids.nn GraphNorm -- PyTorch Geometric's GraphNorm (2.8), from "GraphNorm: A Principled
-- Approach to Accelerating Graph Neural Network Training" (Cai et al.).
--   local norm = nn.GraphNorm(96)                 -- {eps = 1e-5}
--   local y = norm(x, batch)                      -- x [N, 96], batch [N] i64 graph numbers
--   local y1 = norm(x)                            -- one graph
-- Per graph g and channel: out = x - mean_g(x) * mean_scale; y = weight * out /
-- sqrt(mean_g(out^2) + eps) + bias.  batch_size (third argument) defaults to max(batch) + 1.
-- Parameters (PyG's names): weight (ones), bias (zeros), mean_scale (ones), each [channels].
-- No running statistics: training and eval compute the same thing, as PyG.
local G = require "graphids.nn.graph"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local init = require "graphids.nn.initializers"
local C = require "graphids.nn.gnn._common"

local GraphNorm = class("GraphNorm", Module)

function GraphNorm:__init(in_channels, opts)
  Module.__init(self)
  local o = U.options("GraphNorm", opts, C.defaults({ eps = 1e-5 }), U.CTOR)
  C.check_positive("GraphNorm", "in_channels", in_channels)
  self.in_channels, self.eps = in_channels, o.eps
  self:register_parameter("weight", U.empty({ in_channels }, o))
  self:register_parameter("bias", U.empty({ in_channels }, o))
  self:register_parameter("mean_scale", U.empty({ in_channels }, o))
  self:reset_parameters()
end

function GraphNorm:reset_parameters()
  init.ones_(self.weight)
  init.zeros_(self.bias)
  init.ones_(self.mean_scale)
end

-- forward(x [N, C], batch [N] i64?, batch_size?) -> [N, C]
function GraphNorm:forward(x, batch, batch_size)
  local N = C.check_x("GraphNorm", x, self.in_channels)
  local out, var
  if batch == nil then
    out = x - x:mean(1, { keepdim = true }) * self.mean_scale
    var = (out * out):mean(1, { keepdim = true })
    return self.weight * out / (var + self.eps):sqrt() + self.bias
  end
  batch_size = C.check_batch("GraphNorm", batch, N, batch_size)
  local mean = G.scatter(x, batch, batch_size, "mean")
  out = x - G.gather(mean, batch) * self.mean_scale
  var = G.scatter(out * out, batch, batch_size, "mean")
  local std = G.gather((var + self.eps):sqrt(), batch)
  return self.weight * out / std + self.bias
end

function GraphNorm:extra_repr()
  return tostring(self.in_channels)
end

return { GraphNorm = GraphNorm }
