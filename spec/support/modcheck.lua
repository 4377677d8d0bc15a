-- modcheck.lua -- gradcheck of a graphids.nn module over its inputs and every parameter.
--   local modcheck = require "modcheck"
--   modcheck.gradcheck(nn.Linear(3, 2, { dtype = "f64" }), { x })   -- true or raises
-- The module's parameters are passed to graphids.autograd.gradcheck after the inputs; gradcheck
-- perturbs them in place, so the module sees each perturbation.  Results that are tables of
-- tensors (LSTM's {h_n, c_n}) are flattened into the checked outputs.
local graphids = require "graphids"

local M = {}

local function flatten(out, v)
  if graphids.is_tensor(v) then
    out[#out + 1] = v
  elseif type(v) == "table" then
    for _, x in ipairs(v) do
      flatten(out, x)
    end
  end
end

-- inputs: the forward's arguments (f64 tensors that should be checked need requires_grad).
function M.gradcheck(m, inputs, opts)
  local n = #inputs
  local all = { table.unpack(inputs) }
  for _, p in ipairs(m:parameters()) do
    all[#all + 1] = p
  end
  local function fn(...)
    local res = table.pack(m(table.unpack({ ... }, 1, n)))
    local out = {}
    for i = 1, res.n do
      flatten(out, res[i])
    end
    return table.unpack(out)
  end
  return graphids.autograd.gradcheck(fn, all, opts)
end

-- An f64 tensor of the given shape that requires grad (standard normal values).
function M.input(...)
  return graphids.randn({ ... }, { dtype = "f64" }):requires_grad_()
end

return M
