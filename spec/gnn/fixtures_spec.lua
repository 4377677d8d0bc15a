-- fixtures_spec.lua -- the graph layers of graphids.nn against PyTorch Geometric 2.8
-- (spec/fixtures/gnn/, written by tools/make_gnn_fixtures.py): the same constructor arguments and
-- state_dict, the same forward on the same graph (parallel edges, a self-loop, a node without
-- in-edges, an isolated node; a graph without edges; a window of real CAN traffic; node
-- features in {-1, 0, 1} for ties in the max/min aggregations of SAGEConv), then
-- backward of the same weighted sum of the output.  Output, input and parameter gradients must
-- be within relative error 1e-5 (f32); parameter names, state_dict names and the parameter
-- count must equal PyG's.
local cjson = require "cjson"
local graphids = require "graphids"
local fx = require "fixtures"
local nn = require "graphids.nn"

local DIR = "gnn/"

local function index()
  local f = assert(io.open(fx.DIR .. DIR .. "index.json", "rb"))
  local t = cjson.decode(f:read("a"))
  f:close()
  return t
end

-- The forward's arguments: the inputs in call order (a nested list is a list argument), then
-- the value of the one call option (size, dim_size, batch_size), which graphids takes
-- positionally.
local function call_args(case, ins)
  local args = {}
  for i, s in ipairs(case.forward) do
    if type(s) == "table" then
      local list = {}
      for j, n in ipairs(s) do list[j] = ins[n] end
      args[i] = list
    else
      args[i] = ins[s]
    end
  end
  if case.call then
    local keys = {}
    for k in pairs(case.call) do keys[#keys + 1] = k end
    assert(#keys == 1, "one call option expected")
    args[#args + 1] = case.call[keys[1]]
  end
  return args
end

local function keys_of(sd)
  local out = {}
  for _, k in ipairs(sd:keys()) do out[#out + 1] = k end
  return out
end

-- Adds the tensors without elements that the fixture describes in its metadata.
local function add_empty(t, names, case)
  local keys = {}
  for k in pairs(case.empty or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local e = case.empty[k]
    t[k] = graphids.empty(e.shape, { dtype = e.dtype })
    names[#names + 1] = k
  end
  table.sort(names)
end

-- A gradient that is zero in exact arithmetic (PyG's f64 rerun says so) is rounding noise in
-- f32: it must stay below TOL times the case's largest gradient, whatever its own scale.
local function check_grad(errs, what, got, want, case)
  for _, z in ipairs(case.zero_grads or {}) do
    if z == what then
      local bound = fx.TOL * case.grad_scale
      local m = got and got:abs():amax():item() or 0
      if m > bound then
        errs[#errs + 1] = string.format("%s: exactly zero in PyG (f64), got max |g| %.3g > %.3g",
          what, m, bound)
      end
      return
    end
  end
  fx.check(errs, what, got, want)
end

-- The graphids module of a case: GINConv/GINEConv wrap the module the case's "nn" describes.
local function build(case)
  if case.nn then
    local args = { fx.build(nn, case.nn) }
    if next(case.kwargs or {}) ~= nil then args[2] = case.kwargs end
    return nn[case.module](table.unpack(args))
  end
  return fx.build(nn, case)
end

local function run(name)
  local t, names, case = fx.load(DIR .. name)
  add_empty(t, names, case)
  local errs = {}
  local fn, m
  if case.kind == "function" then
    fn = nn[case.fn]
    assert(fn, "graphids.nn has no " .. case.fn)
  else
    m = build(case)
    m:load_state_dict(fx.state_dict(t, names), { strict = true })
    m:eval()
    local plist = fx.named_parameters(m)
    if table.concat(plist, " ") ~= table.concat(case.params, " ") then
      errs[#errs + 1] = string.format("named_parameters: {%s}, PyG has {%s}",
        table.concat(plist, ", "), table.concat(case.params, ", "))
    end
    local skeys = keys_of(m:state_dict())
    if table.concat(skeys, " ") ~= table.concat(case.state, " ") then
      errs[#errs + 1] = string.format("state_dict: {%s}, PyG has {%s}", table.concat(skeys, ", "),
        table.concat(case.state, ", "))
    end
    if m:num_parameters() ~= case.num_params then
      errs[#errs + 1] = string.format("num_parameters %d, PyG has %d", m:num_parameters(),
        case.num_params)
    end
    fn = function(...) return m(...) end
  end
  local ins = {}
  for _, n in ipairs(names) do
    local k = n:match("^input%.(.*)$")
    if k then
      ins[k] = t[n]
      if t["grad.input." .. k] ~= nil then ins[k]:requires_grad_(true) end
    end
  end
  local y = fn(table.unpack(call_args(case, ins)))
  fx.check(errs, "output.y", y, t["output.y"])
  if #errs == 0 then
    (y * t["cotangent.y"]):sum():backward()
    for k, x in pairs(ins) do
      local want = t["grad.input." .. k]
      if want ~= nil then check_grad(errs, "grad.input." .. k, x.grad, want, case) end
    end
    if m then
      for pname, p in m:named_parameters() do
        local want = t["grad.param." .. pname]
        local got = p.grad
        -- a parameter the forward does not use has no grad (PyG: None, stored as zeros)
        if got == nil and want:abs():amax():item() == 0 then got = want end
        check_grad(errs, "grad.param." .. pname, got, want, case)
      end
    end
  end
  return errs
end

describe("graph layers against PyTorch Geometric fixtures", function()
  local idx = index()
  assert.is_true(#idx.conv >= 20 and #idx.other >= 15, "the fixture index is incomplete")
  for _, group in ipairs({ "conv", "other" }) do
    for _, name in ipairs(idx[group]) do
      it(name .. " matches PyG within 1e-5", function()
        local errs = run(name)
        assert(#errs == 0, name .. ":\n  " .. table.concat(errs, "\n  "))
      end)
    end
  end
end)
