-- graphids.nn MultiAggregation -- PyTorch Geometric's MultiAggregation (2.8): several
-- aggregations of the same rows, combined.
--   local aggr = nn.MultiAggregation({ "mean", "max", "std" })          -- mode "cat"
--   local g = aggr(x, batch)                 -- x [N, C], batch [N] i64 -> [B, 3 * C]
--   local p = nn.MultiAggregation({ "mean", "max" },
--     { mode = "proj", mode_kwargs = { in_channels = 64, out_channels = 64 } })
-- Aggregations (PyG's resolver names): "sum" (or "add"), "mean", "max", "min", "var" (mean of
-- squares minus squared mean), "std" (sqrt(max(var, 1e-5)), and 0 where that is <= sqrt(1e-5)).
-- Modes: "cat" (default; concatenation along the channels), "sum", "mean", "max", "min"
-- (elementwise over the aggregations), "proj" (Linear(sum of in_channels, out_channels) over
-- the concatenation; mode_kwargs = {in_channels = (number or list), out_channels, bias = true}).
-- PyG's "attn" mode, aggregation keyword arguments and learnable aggregations are not offered.
-- forward(x, index, dim_size): index nil aggregates every row into one ([1, C]; [0, C] for an x
-- without rows, as PyG); dim_size defaults to max(index) + 1; groups without rows give 0.
-- Parameters (proj only, PyG's names): lin.weight [out, in_total], lin.bias [out].
local G = require "graphids.nn.graph"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local graphids = require "graphids"
local linear = require "graphids.nn.linear"
local C = require "graphids.nn.gnn._common"

local MultiAggregation = class("MultiAggregation", Module)

local function var(x, index, n)
  local mean = G.scatter(x, index, n, "mean")
  return G.scatter(x * x, index, n, "mean") - mean * mean
end

local AGGRS = {
  sum = function(x, index, n) return G.scatter(x, index, n, "sum") end,
  mean = function(x, index, n) return G.scatter(x, index, n, "mean") end,
  -- (C.aggregate: tied rows share the gradient evenly, as PyG's scatter max/min)
  max = function(x, index, n) return C.aggregate(x, index, n, "max") end,
  min = function(x, index, n) return C.aggregate(x, index, n, "min") end,
  var = var,
  std = function(x, index, n)
    local out = var(x, index, n):clamp(1e-5):sqrt()
    return out:masked_fill(out:le(math.sqrt(1e-5)), 0.0)
  end,
}
AGGRS.add = AGGRS.sum

-- max and min as torch.max(dim)/torch.min(dim): on a tie the gradient goes to the first
-- aggregation, as PyG's dense combine
local COMBINE = { sum = "sum", mean = "mean", max = "max", min = "min" }

function MultiAggregation:__init(aggrs, opts)
  Module.__init(self)
  local o = U.options("MultiAggregation", opts,
    C.defaults({ mode = "cat", mode_kwargs = U.NONE }), U.CTOR)
  if type(aggrs) ~= "table" or #aggrs == 0 then
    error("MultiAggregation: aggrs must be a non-empty list of aggregation names", U.CTOR)
  end
  local names = {}
  for i, a in ipairs(aggrs) do
    local key = type(a) == "string" and a:lower() or a
    if AGGRS[key] == nil then
      error(string.format("MultiAggregation: aggrs[%d] '%s' is not one of add, max, mean, min, " ..
        "std, sum, var", i, tostring(a)), U.CTOR)
    end
    names[i] = key
  end
  self.aggrs, self.mode = names, o.mode
  if o.mode == "proj" then
    if #names == 1 then
      error("MultiAggregation: mode 'proj' needs several aggregations", U.CTOR)
    end
    local kw = U.options("MultiAggregation mode_kwargs", o.mode_kwargs,
      { in_channels = U.NONE, out_channels = U.NONE, bias = true }, U.CTOR)
    if kw.in_channels == nil or kw.out_channels == nil then
      error("MultiAggregation: mode 'proj' needs mode_kwargs in_channels and out_channels", U.CTOR)
    end
    local total = 0
    if type(kw.in_channels) == "table" then
      for _, c in ipairs(kw.in_channels) do total = total + c end
    else
      total = kw.in_channels * #names
    end
    self.in_channels, self.out_channels = kw.in_channels, kw.out_channels
    self.lin = linear.Linear(total, kw.out_channels,
      { bias = kw.bias, dtype = o.dtype, device = o.device })
  elseif o.mode ~= "cat" and COMBINE[o.mode] == nil then
    error("MultiAggregation: mode must be 'cat', 'proj', 'sum', 'mean', 'max' or 'min', got " ..
      tostring(o.mode), U.CTOR)
  elseif o.mode_kwargs ~= nil then
    error("MultiAggregation: mode_kwargs apply to mode 'proj' only", U.CTOR)
  end
end

function MultiAggregation:reset_parameters()
  if self.lin then self.lin:reset_parameters() end
end

-- forward(x [N, C], index [N] i64?, dim_size?) -> [B, len(aggrs) * C] (cat), [B, C] (sum,
-- mean, max, min) or [B, out_channels] (proj)
function MultiAggregation:forward(x, index, dim_size)
  if not graphids.is_tensor(x) or x:dim() ~= 2 or not U.is_float(x) then
    error("MultiAggregation: x must be a float [N, C] tensor, got " ..
      (graphids.is_tensor(x) and (x.dtype .. " " .. U.shape_str(x)) or type(x)), 2)
  end
  if index == nil then
    -- every row into group 0: one group, or none for no rows, as PyG's zeros index with
    -- dim_size = max + 1 (a [0, C] x gives [0, k * C], not a row of zeros); a dim_size given
    -- is kept, as PyG keeps it (groups past 0 are 0)
    local n = x:size(1)
    local least = n > 0 and 1 or 0
    if dim_size == nil then
      dim_size = least
    elseif math.type(dim_size) ~= "integer" or dim_size < least then
      error(string.format("MultiAggregation: dim_size must be an integer >= %d (index nil puts every "
        .. "row in group 0), got %s", least, tostring(dim_size)), 2)
    end
    index = graphids.zeros({ n }, { dtype = "i64", device = x.device })
  else
    dim_size = C.check_batch("MultiAggregation", index, x:size(1), dim_size, "index", "dim_size")
  end
  local outs = {}
  for i, name in ipairs(self.aggrs) do
    outs[i] = AGGRS[name](x, index, dim_size)
  end
  if #outs == 1 then
    return outs[1]
  end
  if self.mode == "cat" then
    return graphids.cat(outs, 2)
  elseif self.mode == "proj" then
    return self.lin(graphids.cat(outs, 2))
  end
  local stacked = graphids.stack(outs, 1)
  return (stacked[COMBINE[self.mode]](stacked, 1))
end

function MultiAggregation:extra_repr()
  return string.format("[%s], mode=%s", table.concat(self.aggrs, ", "), self.mode)
end

return { MultiAggregation = MultiAggregation }
