-- fixtures_spec.lua -- graphids.nn modules and losses against PyTorch (spec/fixtures/, written by
-- tools/make_fixtures.py): the same constructor arguments and state_dict, the same forward, then
-- backward of the same weighted sum of the outputs; every output, input gradient, parameter
-- gradient and (BatchNorm in training) buffer must be within relative error 1e-5 (f32).
local graphids = require "graphids"
local fx = require "fixtures"
local skip = require "skip"

local ok_nn, nn = pcall(require, "graphids.nn")
local has_autograd = graphids.Tensor.backward ~= nil and graphids.Tensor.requires_grad_ ~= nil

-- Flattens a (nested) output-name structure against the forward's (nested) results.
local function pair_outputs(struct, value, out, path)
  if type(struct) == "table" then
    if type(value) ~= "table" or graphids.is_tensor(value) then
      error(string.format("%s: expected %d outputs, got %s", path, #struct, tostring(value)), 0)
    end
    for i, s in ipairs(struct) do pair_outputs(s, value[i], out, path .. "[" .. i .. "]") end
  else
    out[#out + 1] = { struct, value }
  end
end

-- The forward's arguments: input names in call order, a nested list being a table argument.
local function call_args(struct, inputs)
  local out = {}
  for i, s in ipairs(struct) do
    out[i] = type(s) == "table" and call_args(s, inputs) or inputs[s]
  end
  return out
end

-- Marks float inputs as requiring grad and returns name -> tensor for the forward.
local function inputs_of(t, names, case)
  local ins = {}
  for _, n in ipairs(names) do
    local k = n:match("^input%.(.*)$")
    if k then
      local x = t[n]
      if t["grad.input." .. k] ~= nil then x:requires_grad_(true) end
      ins[k] = x
    end
  end
  for _, k in ipairs(case.forward) do
    if type(k) == "string" then assert(ins[k], "fixture has no input." .. k) end
  end
  return ins
end

-- backward of sum(output * cotangent) over all outputs; checks outputs and input gradients.
local function backward_and_check(errs, t, outs, ins)
  local total
  for _, o in ipairs(outs) do
    local name, value = o[1], o[2]
    fx.check(errs, "output." .. name, value, t["output." .. name])
    if graphids.is_tensor(value) then
      local s = (value * t["cotangent." .. name]):sum()
      total = total and total + s or s
    end
  end
  if #errs > 0 and total == nil then return end
  total:backward()
  for k, x in pairs(ins) do
    local want = t["grad.input." .. k]
    if want ~= nil then fx.check(errs, "grad.input." .. k, x.grad, want) end
  end
end

local function run_module(name)
  local t, names, case = fx.load(name)
  local errs = {}
  local m = fx.build(nn, case)
  m:load_state_dict(fx.state_dict(t, names), { strict = true })
  if case.mode == "eval" then m:eval() else m:train() end
  local plist, params = fx.named_parameters(m)
  if table.concat(plist, " ") ~= table.concat(case.params, " ") then
    errs[#errs + 1] = string.format("named_parameters: {%s}, torch has {%s}",
      table.concat(plist, ", "), table.concat(case.params, ", "))
  end
  local ins = inputs_of(t, names, case)
  local res = table.pack(m(table.unpack(call_args(case.forward, ins))))
  local outs = {}
  if #case.outputs == 1 then
    pair_outputs(case.outputs[1], res[1], outs, "output")
  else
    pair_outputs(case.outputs, res, outs, "output")
  end
  backward_and_check(errs, t, outs, ins)
  for _, p in ipairs(case.params) do
    fx.check(errs, "grad.param." .. p, params[p] and params[p].grad, t["grad.param." .. p])
  end
  local sd = m:state_dict()
  for _, n in ipairs(names) do
    local k = n:match("^state%.(.*)$")
    if k then fx.check(errs, n, sd[k], t[n]) end
  end
  return errs
end

local function run_loss(name)
  local t, names, case = fx.load(name)
  local errs = {}
  local F = nn.functional
  local fn = F[case.loss]
  assert(fn ~= nil, "graphids.nn.functional has no " .. case.loss)
  local kw = {}
  for k, v in pairs(case.kwargs) do
    kw[k] = type(v) == "table" and v.tensor and t[v.tensor] or v
  end
  local ins = inputs_of(t, names, case)
  local args = call_args(case.forward, ins)
  if next(kw) ~= nil then args[#args + 1] = kw end
  local out = fn(table.unpack(args))
  backward_and_check(errs, t, { { "loss", out } }, ins)
  return errs
end

local function report(name, errs)
  assert(#errs == 0, name .. ":\n  " .. table.concat(errs, "\n  "))
end

describe("graphids.nn against the PyTorch fixtures", function()
  if skip.unless(ok_nn, "graphids.nn is not available: " .. tostring(nn)) then return end
  if skip.unless(has_autograd, "the autograd Lua API (t:backward, t:requires_grad_) is not bound")
  then
    return
  end
  local index = fx.index()

  for _, name in ipairs(index.nn) do
    it("module fixture " .. name .. " matches", function()
      report(name, fx.enable_grad(run_module, name))
    end)
  end

  for _, name in ipairs(index.loss) do
    it("loss fixture " .. name .. " matches", function()
      report(name, fx.enable_grad(run_loss, name))
    end)
  end
end)
