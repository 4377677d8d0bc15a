-- trainer/grad_check.lua -- the Trainer's check of every step's gradients for inf and NaN.
--
-- A finite loss can come with a NaN gradient (a square root's at 0, a norm's at a zero vector,
-- a division by a vanishing denominator in the backward only); the optimizer step would write
-- it into every weight it touches, and the fit would stop a step later with its weights already
-- lost.  So the step's gradients are counted before the step: graphids.count_nonfinite leaves
-- the count on the device, and the Trainer reads it in the same copy as the step's logged
-- values (trainer/epoch_mean.lua), so the check adds no wait on a GPU.
--   local bad = grad_check.count(params)            -- 0-d tensor, or nil when no gradient
--   grad_check.describe(model, params)              -- "encoder.lin.weight (3 of 4096), ..."
local graphids = require "graphids"
local amp = require "graphids.amp"

local M = {}

-- The inf/NaN elements of the gradients of params, as a 0-d f64 tensor on the first gradient's
-- device (one count per device, added there), or nil when no parameter has a gradient.
function M.count(params)
  local grads = {}
  for _, p in ipairs(params) do
    if p.grad ~= nil then grads[#grads + 1] = p.grad end
  end
  if #grads == 0 then return nil end
  local counts = amp.nonfinite_counts(grads)
  local total = counts[1]
  for i = 2, #counts do total = total + counts[i]:to(total.device) end
  return total
end

-- The parameters whose gradients hold an inf or NaN, named as the model names them (its
-- named_parameters; "parameter <i>" for one the model does not list), with their counts: for
-- the error, after the count was found non-zero (these reads wait, which no longer matters).
function M.describe(model, params, limit)
  limit = limit or 5
  local names = {}
  if type(model) == "table" and type(model.named_parameters) == "function" then
    for name, p in model:named_parameters() do names[p] = name end
  end
  local parts, more = {}, 0
  for i, p in ipairs(params) do
    local g = p.grad
    local c = g ~= nil and graphids.count_nonfinite({ g }):item() or 0
    if c > 0 then
      if #parts < limit then
        parts[#parts + 1] = string.format("%s (%d of %d)", names[p] or ("parameter " .. i),
          math.tointeger(c) or c, g:numel())
      else
        more = more + 1
      end
    end
  end
  if more > 0 then parts[#parts + 1] = string.format("and %d more", more) end
  return table.concat(parts, ", ")
end

return M
