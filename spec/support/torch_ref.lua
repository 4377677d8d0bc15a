-- torch_ref.lua -- the inputs and cotangents the torch references of spec/ops/tensor_*_spec.lua
-- were made with, built the same way here:
--   local ref = require "torch_ref"
--   local x = ref.seq({ 2, 3 }, 1)   -- sin(arange(6) + 1) as f64 [2, 3], requires_grad (torch: seq)
--   ref.backward(y)                  -- backward of sum(y * cos(arange(numel))), torch's weights
local graphids = require "graphids"

local M = {}

function M.numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

function M.seq(shape, offset)
  return (graphids.arange(0, M.numel(shape), 1, { dtype = "f64" }) + (offset or 0)):reshape(shape):sin()
    :requires_grad_()
end

function M.backward(y)
  local w = graphids.arange(0, M.numel(y.shape), 1, { dtype = "f64" }):reshape(y.shape):cos()
  ;(y * w):sum():backward()
end

return M
