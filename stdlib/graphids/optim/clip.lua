-- optim/clip.lua -- gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
--   local total = graphids.optim.clip_grad_norm_(model:parameters(), 1.0)   -- 0-d tensor
--   graphids.optim.clip_grad_norm_(params, 5, { norm_type = math.huge, error_if_nonfinite = true })
--   graphids.optim.clip_grad_value_(params, 0.5)          -- clamps every grad to [-0.5, 0.5]
-- Parameters without a grad are skipped.  The norm is taken over all grads together (the norm
-- of the per-grad norms); grads are scaled by max_norm / (total + 1e-6) when that is below 1.
local graphids = require "graphids"
local core = require "graphids.core"
local util = require "graphids.optim.util"

local M = {}

-- The grads of params (a tensor or a list of tensors) that have one, in order.
local function grads_of(fname, params)
  if graphids.is_tensor(params) then params = { params } end
  if type(params) ~= "table" then
    util.raise(string.format("%s: params must be a tensor or a list of tensors, got %s", fname,
      util.describe(params)))
  end
  local grads = {}
  for i = 1, #params do
    local p = params[i]
    if not graphids.is_tensor(p) then
      util.raise(string.format("%s: parameter %d is %s, expected a tensor", fname, i,
        util.describe(p)))
    end
    local g = p.grad
    if g ~= nil then grads[#grads + 1] = g end
  end
  return grads
end

local function norm_type_of(fname, v)
  if v == "inf" then return math.huge end
  if v == "-inf" then return -math.huge end
  return util.number(fname, "norm_type", v, 2, { infinite = true }) -- (inf: the max norm)
end

-- The norm of the grads' norms, without a graph.
local function total_norm(grads, norm_type)
  return graphids.no_grad(function()
    local norms = {}
    for i, g in ipairs(grads) do norms[i] = g:norm(norm_type) end
    return graphids.stack(norms):norm(norm_type)
  end)
end

-- Scales the grads in place so that their total norm is at most max_norm; returns the total
-- norm before clipping as a 0-d tensor (0 when no parameter has a grad).
function M.clip_grad_norm_(params, max_norm, opts)
  local fname = "clip_grad_norm_"
  util.check_options(fname, opts, { "norm_type", "error_if_nonfinite" })
  opts = opts or {}
  local norm_type = norm_type_of(fname, opts.norm_type)
  local error_if_nonfinite = util.boolean(fname, "error_if_nonfinite", opts.error_if_nonfinite,
    false)
  -- (a negative bound would flip the gradient into ascent, NaN would skip the clip unnoticed)
  if type(max_norm) ~= "number" or not (max_norm >= 0) then -- luacheck: ignore 581 (NaN must fail too)
    util.raise(string.format("%s: max_norm must be a number >= 0, got %s", fname,
      util.describe(max_norm)))
  end
  local grads = grads_of(fname, params)
  if #grads == 0 then return graphids.tensor(0.0) end
  -- the norm's own error (an empty grad has no max: torch raises too) as this function's, at
  -- the caller's line
  local total = core._call_as(fname, { input = "gradient" }, total_norm, grads, norm_type)
  return graphids.no_grad(function()
    if error_if_nonfinite and not total:isfinite():item() then
      util.raise(string.format("%s: the total norm of order %s of the gradients is non-finite " ..
        "(%s), so it cannot be clipped; pass {error_if_nonfinite=false} to scale by it anyway",
        fname, tostring(norm_type), tostring(total:item())))
    end
    -- max_norm / (total + 1e-6) as torch evaluates it (reciprocal, then the product), clamped
    -- to 1; multiplying by 1 leaves a grad unchanged.
    local coef = (total + 1e-6):reciprocal():mul(max_norm):clamp(nil, 1.0)
    for _, g in ipairs(grads) do g:mul_(coef) end
    return total
  end)
end

-- Clamps every grad in place to [-clip_value, clip_value].
function M.clip_grad_value_(params, clip_value)
  local fname = "clip_grad_value_"
  if type(clip_value) ~= "number" or not (clip_value >= 0) then -- luacheck: ignore 581
    util.raise(string.format("%s: clip_value must be a number >= 0, got %s", fname,
      util.describe(clip_value)))
  end
  local grads = grads_of(fname, params)
  graphids.no_grad(function()
    for _, g in ipairs(grads) do g:clamp_(-clip_value, clip_value) end
  end)
end

return M
