-- fixtures.lua -- what spec/nn/fixtures_spec.lua and spec/optim/fixtures_spec.lua share: the
-- PyTorch reference fixtures of spec/fixtures/ (written by tools/make_fixtures.py), building the
-- graphids module a fixture describes, and the relative error they are held to.
--   local fx = require "fixtures"
--   for _, name in ipairs(fx.index().nn) do local f, case = fx.load(name) ... end
--   fx.rel_err(got, want)   -- max |got - want| / max |want| (absolute when want is all zero)
local cjson = require "cjson"
local graphids = require "graphids"
local safetensors = require "safetensors"

local M = {}

M.DIR = "spec/fixtures/"
-- The issue's bound for f32 outputs, gradients and 20-step optimizer trajectories.
M.TOL = 1e-5

-- JSON numbers arrive as floats; integral ones become integers (sizes, dims, counts).
function M.ints(v)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = M.ints(x) end
    return out
  end
  return math.type(v) == "float" and math.tointeger(v) or v
end

function M.index()
  local f = assert(io.open(M.DIR .. "index.json", "rb"))
  local index = cjson.decode(f:read("a"))
  f:close()
  return index
end

-- The tensors of a fixture (name -> Tensor), its sorted tensor names and its case description.
function M.load(name)
  local f = assert(safetensors.load(M.DIR .. name .. ".safetensors"))
  return f.tensors, f.names, M.ints(cjson.decode(f.metadata.case))
end

-- Runs fn with grad mode off where the autograd API exists.
function M.no_grad(fn)
  if graphids.no_grad then return graphids.no_grad(fn) end
  return fn()
end

-- Runs fn(...) with grad mode on where the autograd API exists.
function M.enable_grad(fn, ...)
  if graphids.enable_grad then return graphids.enable_grad(fn, ...) end
  return fn(...)
end

-- The inf-norm relative error of got against want (both tensors of one shape), in f64, and the
-- largest absolute difference.  NaN anywhere gives math.huge.
function M.rel_err(got, want)
  return M.no_grad(function()
    if got.detach then got = got:detach() end
    local g, w = got:double(), want:double()
    if g:numel() == 0 and w:numel() == 0 then return 0, 0 end
    if graphids.isnan(g):any():item() or graphids.isnan(w):any():item() then
      return math.huge, math.huge
    end
    local diff = (g - w):abs():amax():item()
    local scale = w:abs():amax():item()
    return scale > 0 and diff / scale or diff, diff
  end)
end

-- Compares got with want and records a line in errs (a list) when it is off; returns the error.
function M.check(errs, what, got, want, tol)
  if got == nil then
    errs[#errs + 1] = string.format("%s: missing (expected shape [%s])", what,
      table.concat(want.shape, ","))
    return math.huge
  end
  if not graphids.is_tensor(got) then
    errs[#errs + 1] = string.format("%s: expected a tensor, got %s", what, tostring(got))
    return math.huge
  end
  local gs, ws = table.concat(got.shape, ","), table.concat(want.shape, ",")
  if gs ~= ws then
    errs[#errs + 1] = string.format("%s: shape [%s], expected [%s]", what, gs, ws)
    return math.huge
  end
  local rel, diff = M.rel_err(got, want)
  if rel > (tol or M.TOL) then
    errs[#errs + 1] = string.format("%s: relative error %.3g (max |diff| %.3g) > %g", what, rel,
      diff, tol or M.TOL)
  end
  return rel
end

-- torch constructors whose graphids form differs from "positional args, then the torch keyword
-- arguments as an options table": dims become 1-based, lone scalars are positional.
local function dim1(d)
  return d >= 0 and d + 1 or d
end

local ADAPT = {
  Softmax = function(nn, _, kw) return nn.Softmax(dim1(kw.dim)) end,
  LogSoftmax = function(nn, _, kw) return nn.LogSoftmax(dim1(kw.dim)) end,
  LeakyReLU = function(nn, _, kw) return nn.LeakyReLU(kw.negative_slope) end,
  ELU = function(nn, _, kw) return nn.ELU(kw.alpha) end,
  Dropout = function(nn, _, kw) return nn.Dropout(kw.p) end,
}

-- The graphids module for a fixture's constructor description (torch's names).
function M.build(nn, spec)
  if spec.module == "Sequential" then
    local children = {}
    for i, c in ipairs(spec.children) do children[i] = M.build(nn, c) end
    return nn.Sequential(table.unpack(children))
  end
  local args, kw = spec.args or {}, spec.kwargs or {}
  if ADAPT[spec.module] then return ADAPT[spec.module](nn, args, kw) end
  local cls = nn[spec.module]
  assert(cls ~= nil, "graphids.nn has no " .. spec.module)
  args = { table.unpack(args) }
  if next(kw) ~= nil then args[#args + 1] = kw end
  return cls(table.unpack(args))
end

-- The fixture's "param.*" tensors as a state dict (name -> Tensor).
function M.state_dict(t, names)
  local sd = {}
  for _, n in ipairs(names) do
    local k = n:match("^param%.(.*)$")
    if k then sd[k] = t[n] end
  end
  return sd
end

-- named_parameters() as an ordered list of names and a name -> Tensor map, whichever of the
-- usual forms it takes (an iterator of name, tensor; a list of {name, tensor} pairs; a map).
function M.named_parameters(m)
  local list, map = {}, {}
  local function add(n, p)
    list[#list + 1] = n
    map[n] = p
  end
  local r = m:named_parameters()
  if type(r) == "function" then
    for n, p in r do add(n, p) end
  elseif type(r) == "table" and r[1] ~= nil then
    for _, e in ipairs(r) do add(e[1] or e.name, e[2] or e.param or e.tensor or e.value) end
  elseif type(r) == "table" then
    local names = {}
    for n in pairs(r) do names[#names + 1] = n end
    table.sort(names)
    for _, n in ipairs(names) do add(n, r[n]) end
  end
  return list, map
end

return M
