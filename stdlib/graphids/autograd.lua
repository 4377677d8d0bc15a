-- graphids.autograd -- the C part (graphids.core.autograd: backward, Function, detect_anomaly,
-- is_anomaly_enabled) plus gradcheck, written in Lua.
--   local x = graphids.randn(3, 4, { dtype = "f64", requires_grad = true })
--   local w = graphids.randn(4, 2, { dtype = "f64", requires_grad = true })
--   graphids.autograd.gradcheck(graphids.matmul, { x, w })   -- true, or raises naming the element
local core = require "graphids.core"

local autograd = core.autograd

local defaults = { eps = 1e-6, atol = 1e-5, rtol = 1e-3, raise = true }

local function check_options(opts)
  if opts == nil then
    return defaults
  end
  if type(opts) ~= "table" then
    error("gradcheck: options (argument #3) must be a table, got " .. type(opts), 3)
  end
  local keys = {}
  for k in pairs(opts) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys) -- the first unknown key in a defined order, whatever pairs() gives
  for _, k in ipairs(keys) do
    if defaults[k] == nil then
      error("gradcheck: unknown option '" .. k .. "' (allowed: atol, eps, raise, rtol)", 3)
    end
  end
  local o = {}
  for k, v in pairs(defaults) do
    local given = opts[k]
    if given ~= nil and type(given) ~= type(v) then
      error(string.format("gradcheck: option '%s' must be a %s, got %s", k, type(v), type(given)), 3)
    end
    o[k] = given == nil and v or given
  end
  return o
end

-- A 0-d view of element e (0-based, row-major) of t, and its 1-based position as text.
local function element(t, e)
  local shape, coords = t.shape, {}
  for d = #shape, 1, -1 do
    coords[d] = e % shape[d]
    e = e // shape[d]
  end
  local v = t
  for d = 1, #shape do
    v = v:select(1, coords[d] + 1)
    coords[d] = coords[d] + 1
  end
  return v, table.concat(coords, ",")
end

-- fn's results as a list: a table of tensors, or every value it returned.
local function results(fn, inputs)
  local out = table.pack(fn(table.unpack(inputs, 1, inputs.n)))
  if out.n == 1 and type(out[1]) == "table" and not core.is_tensor(out[1]) then
    out = out[1]
    out.n = out.n or #out
  end
  return out
end

local function is_float(t)
  return t.dtype == "f64" or t.dtype == "f32"
end

-- sum(out_k * w_k) over the float tensor results, as a Lua number (no graph).
local function objective(fn, inputs, weights)
  return core.no_grad(function()
    local out, total = results(fn, inputs), 0
    for k, w in pairs(weights) do
      total = total + (out[k]:to("f64") * w):sum():item()
    end
    return total
  end)
end

-- f(...)'s results; when it raises, restore() runs first and the error goes on as it was.
local function undoing(restore, f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then
    restore()
    error(r[2], 0)
  end
  return table.unpack(r, 2, r.n)
end

-- gradcheck(fn, inputs, {eps = 1e-6, atol = 1e-5, rtol = 1e-3, raise = true}): compares, for
-- every f64 input that requires grad, the gradient backward gives for sum(out * w) (w fixed
-- pseudo-random weights, one tensor per float result of fn) with central differences.  inputs
-- is a list of fn's arguments (tensors or other values; inputs.n counts trailing nils).
-- Returns true; on a mismatch raises (or, with raise = false, returns false and the message).
function autograd.gradcheck(fn, inputs, opts, ...)
  if select("#", ...) > 0 then
    error(string.format("gradcheck: unexpected argument #4 (%s); options go in one trailing table",
      type((...))), 2)
  end
  if type(inputs) ~= "table" or core.is_tensor(inputs) then
    error("gradcheck: inputs (argument #2) must be a list of arguments, got " .. type(inputs), 2)
  end
  local o = check_options(opts)
  inputs = table.pack(table.unpack(inputs, 1, inputs.n or #inputs))
  local checked = {}
  for i = 1, inputs.n do
    local x = inputs[i]
    if core.is_tensor(x) and x.requires_grad then
      if x.dtype ~= "f64" then
        error(string.format("gradcheck: input %d is %s; finite differences need f64 inputs", i,
          x.dtype), 2)
      end
      if not x.is_leaf then
        error(string.format("gradcheck: input %d is not a leaf (it comes from %s); pass "
          .. "x:detach():requires_grad_()", i, x.grad_fn), 2)
      end
      checked[#checked + 1] = i
    end
  end
  if #checked == 0 then
    error("gradcheck: no input requires grad", 2)
  end

  -- Analytic: backward of sum(out * w) with the previous gradients set aside (and put back
  -- on every way out, an error of fn or of its backward included).
  local saved = {}
  for _, i in ipairs(checked) do
    saved[i] = inputs[i].grad
    inputs[i].grad = nil
  end
  local function restore_grads()
    for _, i in ipairs(checked) do
      inputs[i].grad = saved[i]
    end
  end
  local weights, total = undoing(restore_grads, function()
    local out, w, sum = results(fn, inputs), {}, nil
    for k = 1, out.n do
      local t = out[k]
      if core.is_tensor(t) and is_float(t) then
        local gen = core.Generator(1000 + k)
        w[k] = core.rand(t.shape, { dtype = "f64", generator = gen }) * 2 - 1
        if t.requires_grad then
          local term = (t * w[k]:to(t.dtype)):sum()
          sum = sum and sum + term or term
        end
      end
    end
    return w, sum
  end)
  if total == nil then
    restore_grads()
    error("gradcheck: no result of fn requires grad (did an op not record?)", 2)
  end
  undoing(restore_grads, total.backward, total)
  local analytic = {}
  for _, i in ipairs(checked) do
    analytic[i] = inputs[i].grad or core.zeros_like(inputs[i])
  end
  restore_grads()

  -- Numeric: central differences, one element at a time, restored afterwards.
  for _, i in ipairs(checked) do
    local x = inputs[i]
    local n = x:numel()
    for e = 0, n - 1 do
      local cell, where = core.no_grad(element, x, e) -- a view that records nothing
      local v = cell:item()
      local function set(value)
        core.no_grad(cell.fill_, cell, value)
      end
      local function restore() set(v) end
      set(v + o.eps)
      local plus = undoing(restore, objective, fn, inputs, weights)
      set(v - o.eps)
      local minus = undoing(restore, objective, fn, inputs, weights)
      set(v)
      local numeric = (plus - minus) / (2 * o.eps)
      local a = element(analytic[i], e):item()
      local diff = math.abs(a - numeric)
      if diff > o.atol + o.rtol * math.abs(numeric) or diff ~= diff then -- NaN fails too
        local msg = string.format("gradcheck: input %d, element %d of %d (position %s): numeric "
          .. "%.10g, analytic %.10g (difference %.3g)", i, e + 1, n, where, numeric, a, diff)
        if o.raise then
          error(msg, 2)
        end
        return false, msg
      end
    end
  end
  return true
end

return autograd
