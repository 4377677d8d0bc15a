-- graphids -- the Lua module: the C core (graphids.core) plus the small pieces written in Lua.
--   local graphids = require "graphids"
--   local x = graphids.randn(3, 4)
--   print(x:sum(1), x.shape)
-- Every C function of graphids.core is a field of this table; graphids.Tensor is the table of
-- Tensor methods (add Lua methods there).
local core = require "graphids.core"

local graphids = {}
for name, value in pairs(core) do
  graphids[name] = value
end

graphids.__version = core.version()

-- graphids.printoptions{precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80}
-- changes how tensors print and returns the options now in force; with no argument it only
-- returns them.
graphids.printoptions = core.printoptions

-- save_safetensors also takes a module's state dict (graphids.io's, which does the work).
graphids.save_safetensors = function(...)
  return require("graphids.io").save_safetensors(...)
end

-- Tensor methods composed in Lua from the core's ops (tolist, view_as, new_zeros, flip, unbind,
-- repeat_interleave, isin, ...): graphids.tensor_extras.
require("graphids.tensor_extras").install(graphids)
-- More of PyTorch's tensor functions composed in Lua, one module per concern: linear algebra
-- (dot, tril, diag, cdist, einsum, ...), indexing (index_copy_, index_put_, scatter_reduce,
-- searchsorted, ...), shapes (roll, diff, movedim, tile, tensor_split, ...) and elementwise math
-- (nan_to_num, lerp, hypot, isclose, median, kthvalue, ...).
require("graphids.tensor_linalg").install(graphids)
require("graphids.tensor_index").install(graphids)
require("graphids.tensor_shape").install(graphids)
require("graphids.tensor_math").install(graphids)

-- graphids.autograd: backward, Function, detect_anomaly (C) and gradcheck (Lua); the same table
-- as graphids.core.autograd.
graphids.autograd = require "graphids.autograd"

-- graphids.nn, optim, data, models, io, json, metrics and amp load on first use: `require
-- "graphids"` stays cheap, and they (which require "graphids" themselves) never see a half-built
-- table.
local lazy = {
  nn = "graphids.nn",
  optim = "graphids.optim",
  data = "graphids.data",
  models = "graphids.models",
  io = "graphids.io",
  json = "graphids.json",
  metrics = "graphids.metrics",
  amp = "graphids.amp",
}
setmetatable(graphids, {
  __index = function(t, k)
    local name = lazy[k]
    if name == nil then
      return nil
    end
    local m = require(name)
    rawset(t, k, m)
    return m
  end,
  -- What __index resolves, for the REPL's Tab completion (graphids.repl); listing a name does
  -- not load it.
  __names = function()
    local names = {}
    for k in pairs(lazy) do
      names[#names + 1] = k
    end
    return names
  end,
})

return graphids
