-- graphids.nn.functional_checks -- argument checks the functional layers
-- (graphids.nn.functional) and losses (graphids.nn.functional_losses) share.
--   local C = require "graphids.nn.functional_checks"
--   C.check_tensor("mse_loss", target, "target")     -- raises at the public function's caller
local graphids = require "graphids"
local U = require "graphids.nn._util"

local M = {}

-- level (check_tensor, check_same_shape): error's level for the caller, as seen from the
-- function calling the check (default 2: a public function's caller).
function M.check_tensor(fname, v, what, level)
  if not graphids.is_tensor(v) then
    error(string.format("%s: %s must be a tensor, got %s", fname, what, U.describe(v)), (level or 2) + 1)
  end
end

-- A float input: a class loss's scores or log-probabilities, a norm's input (torch's
-- log_softmax, nll_loss and norm kernels have none for an integer dtype).  level: error()'s,
-- seen from the function calling the check.
function M.check_float_input(fname, input, level)
  if not U.is_float(input) then
    error(string.format("%s: input must be a float tensor (f32 or f64), got %s", fname, input.dtype),
      level + 1)
  end
end

return M
