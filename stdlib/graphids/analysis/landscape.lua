-- graphids.analysis.landscape -- the loss surface around a model's trained weights along two
-- random, filter-normalised directions (Li et al. 2018, "Visualizing the Loss Landscape of
-- Neural Nets"; the reference's 51 x 51 loss-landscape artifact).
--   local ls = analysis.loss_landscape(model, dm:val_loader(), { steps = 21, max_graphs = 256 })
--   ls.loss  --> [21, 21] f64: loss at w + coords[i] d1 + coords[j] d2; ls.center = ls.loss[11][11]
-- Each direction holds one standard-normal draw per weight, rescaled filter by filter (the rows of
-- a weight of two or more dimensions: a Linear's output units, an embedding's ids) to the norm of
-- that filter of the trained weights, so that layers of every scale move in proportion.  One-
-- dimensional parameters (biases, norm scales) get no direction, as in the paper.  The grid is
-- evaluated in eval mode without grad, with the same random draws at every point (a fresh
-- generator per batch, seeded from opts.seed), and the weights are put back afterwards, also
-- after an error.
local graphids = require "graphids"
local A = require "graphids.analysis._common"
local U = require "graphids.nn._util"

local M = {}

local OPTS = { steps = U.NONE, span = U.NONE, seed = U.NONE, max_graphs = U.NONE, loss = U.NONE }

-- The scalar loss of a batch: validation_step's val_loss (a tensor or a number).
local function default_loss(model, batch, ctx)
  if type(model.validation_step) ~= "function" then
    error("analysis.loss_landscape: the model has no validation_step; pass opts.loss(model, batch, ctx)", 0)
  end
  local logs = model:validation_step(batch, ctx)
  local l = type(logs) == "table" and logs.val_loss or nil
  if l == nil then
    error("analysis.loss_landscape: the model's validation_step gives no val_loss (a policy " ..
      "scored by reward has no loss surface); pass opts.loss(model, batch, ctx)", 0)
  end
  return l
end

local function as_number(v, i)
  if graphids.is_tensor(v) and v:numel() == 1 then return v:item() end
  if type(v) == "number" then return v end
  error(string.format("analysis.loss_landscape: batch %d: the loss must be a scalar tensor or a number, " ..
    "got %s", i, A.describe(v)), 0)
end

-- The parameters a landscape moves: the trainable ones of two or more dimensions.
function M.landscape_parameters(model)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    if p.requires_grad and p.ndim >= 2 then out[#out + 1] = p end
  end
  return out
end

-- One filter-normalised random direction for parameter p (two or more dimensions).
local function direction(p, gen)
  local w = p:detach():to("cpu"):to("f64"):reshape(p:size(1), -1)
  local d = graphids.randn(w.shape, { dtype = "f64", generator = gen })
  local scale = w:norm(2, 2, { keepdim = true }) / (d:norm(2, 2, { keepdim = true }) + 1e-10)
  return (d * scale):reshape(p.shape):to(p.dtype):to(p.device)
end

local function check_opts(o)
  local steps = o.steps or 51
  if math.type(steps) ~= "integer" or steps < 2 then
    error(string.format("analysis.loss_landscape: opts.steps must be an integer >= 2, got %s",
      tostring(o.steps)), 3)
  end
  local span = o.span or 1.0
  if type(span) ~= "number" or not (span > 0 and span < math.huge) then
    error(string.format("analysis.loss_landscape: opts.span must be a finite number > 0, got %s",
      tostring(o.span)), 3)
  end
  local seed = o.seed or 0
  if math.type(seed) ~= "integer" or seed < 0 then
    error(string.format("analysis.loss_landscape: opts.seed must be an integer >= 0, got %s",
      tostring(o.seed)), 3)
  end
  if o.max_graphs ~= nil and (math.type(o.max_graphs) ~= "integer" or o.max_graphs < 1) then
    error(string.format("analysis.loss_landscape: opts.max_graphs must be a positive integer, got %s",
      tostring(o.max_graphs)), 3)
  end
  if o.loss ~= nil and type(o.loss) ~= "function" then
    error("analysis.loss_landscape: opts.loss must be a function(model, batch, ctx)", 3)
  end
  return steps, span, seed
end

-- The graph-weighted mean loss of the batches at the model's current weights.
local function mean_loss(model, batches, loss, seed)
  local total, n = 0, 0
  for i, b in ipairs(batches) do
    local g = b.num_graphs or (b.labels and b.labels:numel()) or 1
    local ctx = { generator = graphids.Generator(seed + i) }
    total = total + as_number(loss(model, b, ctx), i) * g
    n = n + g
  end
  return total / n
end

-- {coords [steps] f64 (evenly from -span to span), loss [steps, steps] f64 (row i: the first
-- direction's coords[i], column j: the second's coords[j]), center (the loss at the trained
-- weights, the grid's middle when steps is odd: 51 puts it at [26][26]), graphs (how many the
-- mean ran over)}.
-- opts: steps (51), span (1.0: a step of the direction's full filter norms), seed (0: the
-- directions' and the loss's draws), max_graphs (the loader's leading batches up to that many
-- graphs; default all), loss(model, batch, ctx) -> scalar (default validation_step's val_loss).
function M.loss_landscape(model, loader, opts)
  local o = U.options("analysis.loss_landscape", opts, OPTS)
  A.check_loader("analysis.loss_landscape", loader)
  local steps, span, seed = check_opts(o)
  local loss = o.loss or default_loss
  local batches, graphs = A.take(loader, o.max_graphs)
  if #batches == 0 then error("analysis.loss_landscape: the loader gave no batches", 2) end
  local params = M.landscape_parameters(model)
  if #params == 0 then
    error("analysis.loss_landscape: the model has no trainable parameter of two or more dimensions " ..
      "(one-dimensional ones stay where they are: its surface would be flat)", 2)
  end
  local gen = graphids.Generator(seed)
  local base, d1, d2 = {}, {}, {}
  for i, p in ipairs(params) do base[i] = p:detach():clone() end
  for i, p in ipairs(params) do d1[i] = direction(p, gen) end
  for i, p in ipairs(params) do d2[i] = direction(p, gen) end
  local c = {}
  for i = 1, steps do
    -- (the middle point of an odd grid is exactly 0: the trained weights themselves)
    c[i] = (2 * (i - 1) - (steps - 1)) * span / (steps - 1)
  end
  local grid = {}
  local ok, center = pcall(A.in_eval, model, function()
    local at_center = mean_loss(model, batches, loss, seed)
    for i = 1, steps do
      grid[i] = {}
      for j = 1, steps do
        for k, p in ipairs(params) do
          p:copy_(base[k] + d1[k] * c[i] + d2[k] * c[j])
        end
        grid[i][j] = mean_loss(model, batches, loss, seed)
      end
    end
    return at_center
  end)
  graphids.no_grad(function()
    for k, p in ipairs(params) do p:copy_(base[k]) end
  end)
  if not ok then error(center, 2) end
  return { coords = graphids.tensor(c, { dtype = "f64" }), loss = graphids.tensor(grid, { dtype = "f64" }),
    center = center, graphs = graphs }
end

return M
