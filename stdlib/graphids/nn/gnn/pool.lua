-- graphids.nn global pooling -- PyTorch Geometric's global_add_pool, global_mean_pool and
-- global_max_pool (2.8): one row per graph from the rows of its nodes.
--   local g = nn.global_mean_pool(x, batch)          -- x [N, C], batch [N] i64 -> [B, C]
--   local g4 = nn.global_max_pool(x, batch, 4)        -- B = 4 (graphs without nodes give 0)
--   local all = nn.global_add_pool(x)                 -- batch nil: one graph -> [1, C]
-- x is [N, C] or [N] (then the result is [B], or [1] without batch).
-- size (the number of graphs) defaults to max(batch) + 1.  A graph without nodes pools to 0
-- for every reduction (PyG's scatter).  Without batch the whole tensor is one graph; there an
-- empty x gives 0 for add, NaN for mean (0/0) and an error for max, as torch's reductions.
-- Differentiable in x (max: the gradient goes to the chosen row).
local G = require "graphids.nn.graph"
local graphids = require "graphids"
local U = require "graphids.nn._util"
local C = require "graphids.nn.gnn._common"

local M = {}

local function pool(fname, reduce, whole)
  return function(x, batch, size)
    if not graphids.is_tensor(x) then
      error(string.format("%s: x must be a tensor, got %s", fname, type(x)), 2)
    end
    if x:dim() < 1 or x:dim() > 2 then
      error(string.format("%s: x must be [N] or [N, C], got %s", fname, U.shape_str(x)), 2)
    end
    if batch == nil then
      return whole(x, 1, true)
    end
    size = C.check_batch(fname, batch, x:size(1), size, "batch", "size")
    return G.scatter(x, batch, size, reduce)
  end
end

M.global_add_pool = pool("global_add_pool", "sum",
  function(x, dim, keep) return x:sum(dim, { keepdim = keep }) end)
M.global_mean_pool = pool("global_mean_pool", "mean",
  function(x, dim, keep) return x:mean(dim, { keepdim = keep }) end)
M.global_max_pool = pool("global_max_pool", "max", function(x, dim, keep)
  if x:size(1) == 0 then
    error("global_max_pool: x has no rows (the maximum of nothing is undefined)", 4)
  end
  return (x:max(dim, { keepdim = keep }))
end)

return M
