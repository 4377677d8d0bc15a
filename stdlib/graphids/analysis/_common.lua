-- graphids.analysis._common -- what the analyses share: running a model in eval mode without
-- grad (its mode restored afterwards, also after an error), checking a loader, and the batches of
-- a loader up to a number of graphs.  Options are checked by graphids.nn._util.options.
local graphids = require "graphids"
local U = require "graphids.nn._util"

local M = {}

function M.check_loader(fname, loader)
  if type(loader) ~= "table" or type(loader.iter) ~= "function" then
    error(fname .. ": loader must have iter() (a graphids.data loader)", 3)
  end
end

-- fn() with model in eval mode and under no_grad; afterwards, also after an error (raised again
-- as it came), every module's own training flag is what it was: a frozen BatchNorm inside a
-- training model stays in eval mode.
function M.in_eval(model, fn)
  local modes = {}
  for _, m in model:named_modules() do modes[#modes + 1] = { m, m.training } end
  model:eval()
  local ok, res = pcall(graphids.no_grad, fn)
  for _, e in ipairs(modes) do rawset(e[1], "training", e[2]) end
  if not ok then error(res, 0) end
  return res
end

-- The leading batches of loader holding up to max_graphs graphs (all of them when max_graphs
-- is nil), as a list, and how many graphs they hold.  Whole batches only: the first one is
-- always taken, so a batch larger than max_graphs still gives one batch.
function M.take(loader, max_graphs)
  local out, n = {}, 0
  for batch in loader:iter(0) do
    local g = batch.num_graphs or (batch.labels and batch.labels:numel()) or 1
    if max_graphs ~= nil and #out > 0 and n + g > max_graphs then break end
    out[#out + 1] = batch
    n = n + g
    if max_graphs ~= nil and n >= max_graphs then break end
  end
  return out, n
end

-- Whole batches spread evenly over the loader (every k-th one, from the first) holding up to
-- max_graphs graphs, and how many graphs they hold: a split's captures in order (a benign
-- capture first) are all represented, not only its head.  Batches not chosen are not collated.
-- A loader without a length (#loader) or without iter(epoch, start) gives its leading batches.
function M.spread(loader, max_graphs)
  local mt = getmetatable(loader)
  local n = mt and mt.__len and #loader or nil
  if max_graphs == nil or n == nil or n == 0 then return M.take(loader, max_graphs) end
  local first = loader:iter(0)()
  local per = first and (first.num_graphs or (first.labels and first.labels:numel())) or 1
  local want = math.max(1, max_graphs // math.max(per, 1))
  if want >= n then return M.take(loader, max_graphs) end
  local stride = n / want
  local out, total = {}, 0
  for k = 0, want - 1 do
    local b = k == 0 and first or loader:iter(0, 1 + math.floor(k * stride))()
    local g = b.num_graphs or (b.labels and b.labels:numel()) or 1
    if #out > 0 and total + g > max_graphs then break end
    out[#out + 1] = b
    total = total + g
  end
  return out, total
end

-- A loader over a list of batches (what take gives), for the functions that take loaders.
function M.list_loader(batches)
  return { iter = function()
    local i = 0
    return function()
      i = i + 1
      return batches[i]
    end
  end }
end

-- "a tensor of shape [3, 2]" or the Lua type of v, for messages.
function M.describe(v)
  if graphids.is_tensor(v) then return "a tensor of shape " .. U.shape_str(v) end
  return type(v)
end

return M
