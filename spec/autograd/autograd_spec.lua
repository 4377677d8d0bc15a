-- autograd_spec.lua -- autograd from Lua: requires_grad and the grad fields, backward (scalar
-- roots, explicit gradients, accumulation, retain_graph, several roots), grad modes, detach,
-- in-place refusals, saved-tensor versions, anomaly detection and the release of graphs.
local graphids = require "graphids"
local helpers = require "helpers"
local errors, near = helpers.errors, helpers.near

local F64 = { dtype = "f64" }

local function leaf(values)
  return graphids.tensor(values, { dtype = "f64", requires_grad = true })
end

describe("requires_grad and the grad fields", function()
  it("start a tensor as a leaf that requires no grad", function()
    local t = graphids.ones(2)
    assert.is_false(t.requires_grad)
    assert.is_true(t.is_leaf)
    assert.is_nil(t.grad_fn)
    assert.is_nil(t.grad)
  end)

  it("are set by creation options, the field and requires_grad_", function()
    for _, make in ipairs({
      function(o) return graphids.tensor({ 1, 2 }, o) end,
      function(o) return graphids.zeros(2, o) end,
      function(o) return graphids.ones(2, o) end,
      function(o) return graphids.empty(2, o) end,
      function(o) return graphids.full({ 2 }, 1.5, o) end,
      function(o) return graphids.rand(2, o) end,
      function(o) return graphids.randn(2, o) end,
      function(o) return graphids.arange(0, 2, 1, o) end,
      function(o) return graphids.linspace(0, 1, 3, o) end,
      function(o) return graphids.eye(2, o) end,
      function(o) return graphids.zeros_like(graphids.ones(2), o) end,
      function(o) return graphids.ones_like(graphids.ones(2), o) end,
      function(o) return graphids.empty_like(graphids.ones(2), o) end,
      function(o) return graphids.full_like(graphids.ones(2), 3, o) end,
      function(o) return graphids.rand_like(graphids.ones(2), o) end,
      function(o) return graphids.randn_like(graphids.ones(2), o) end,
    }) do
      local t = make({ dtype = "f32", requires_grad = true })
      assert.is_true(t.requires_grad)
      assert.is_true(t.is_leaf)
      assert.is_false(make({ dtype = "f64", requires_grad = false }).requires_grad)
    end
    local t = graphids.ones(2)
    t.requires_grad = true
    assert.is_true(t.requires_grad)
    assert.are.equal(t, t:requires_grad_(false))
    assert.is_false(t.requires_grad)
    assert.is_true(t:requires_grad_().requires_grad)
  end)

  it("are refused for integer tensors and non-leaves", function()
    errors("arange: requires_grad=true needs a float dtype, got i64", graphids.arange, 3,
      { requires_grad = true })
    errors("zeros: requires_grad=true needs a float dtype, got i32", graphids.zeros, 2,
      { dtype = "i32", requires_grad = true })
    errors("zeros: option 'requires_grad' must be a boolean", graphids.zeros, 2,
      { requires_grad = 1 })
    errors("requires_grad: only float tensors can require grad, got i64",
      function() graphids.arange(3).requires_grad = true end)
    local y = leaf({ 1, 2 }) * 2
    assert.is_false(y.is_leaf)
    errors("requires_grad: only leaf tensors can be switched; this one comes from MulBackward",
      y.requires_grad_, y, false)
    errors("cannot set 'requires_grad': expected a boolean, got number",
      function() y.requires_grad = 1 end)
    errors("cannot set 'grad_fn': Tensor fields are read%-only", function() y.grad_fn = "x" end)
  end)

  it("show in a tensor's summary line", function()
    local x = leaf({ 1, 2 })
    assert.matches("%[graphids%.Tensor f64 2 requires_grad%]$", tostring(x))
    assert.matches("%[graphids%.Tensor f64 2 grad_fn=MulBackward%]$", tostring(x * 2))
    assert.matches("%[graphids%.Tensor f64 2%]$", tostring(x:detach()))
  end)

  it("name the node that produced a tensor", function()
    local x = leaf({ 1, 2 })
    assert.are.equal("MulBackward", (x * x).grad_fn)
    assert.are.equal("SumBackward", x:sum().grad_fn)
    assert.is_string((x:view(2, 1)).grad_fn)
    assert.is_nil(x:detach().grad_fn)
  end)

  it("read grad as a handle on the gradient itself, and set or clear it", function()
    local x = leaf({ 1, 2, 3 })
    assert.is_nil(x.grad)
    ;(x * x):sum():backward()
    local g = x.grad
    assert.are.same({ 2, 4, 6 }, g:totable())
    g:mul_(10)
    assert.are.same({ 20, 40, 60 }, x.grad:totable())
    x.grad = nil
    assert.is_nil(x.grad)
    x.grad = graphids.ones(3, F64)
    assert.are.same({ 1, 1, 1 }, x.grad:totable())
    errors("grad: a gradient of shape %[2%] for a tensor of shape %[3%]",
      function() x.grad = graphids.ones(2, F64) end)
    errors("grad: a gradient of dtype f32 for a tensor of dtype f64",
      function() x.grad = graphids.ones(3) end)
    errors("cannot set 'grad': expected a Tensor or nil, got number", function() x.grad = 1 end)
  end)

  it("refuses a tensor as its own grad, or a grad in its memory, as torch refuses the first", function()
    local x = leaf({ 1, 2, 3 })
    errors("grad: can't assign a tensor as its own grad", function() x.grad = x end)
    errors("grad: the gradient shares memory with the tensor", function() x.grad = x:detach() end)
    assert.is_nil(x.grad)
    x.grad = x:detach():clone() -- a copy is fine
    ;(x * 2):sum():backward()
    assert.are.same({ 3, 4, 5 }, x.grad:totable())
    assert.are.same({ 1, 2, 3 }, x:totable()) -- backward wrote into the grad only
    -- one buffer holding a parameter and its gradient side by side: disjoint parts are fine,
    -- overlapping ones are not
    local buf = graphids.zeros(6, F64)
    local p = buf:narrow(1, 1, 3):requires_grad_()
    p.grad = buf:narrow(1, 4, 3)
    errors("grad: the gradient shares memory", function() p.grad = buf:narrow(1, 3, 3) end)
    -- interleaved columns of one buffer never touch: accepted, as torch accepts them
    local cols = graphids.zeros({ 4, 2 }, F64)
    local q = cols:select(2, 1):requires_grad_()
    q.grad = cols:select(2, 2)
    ;(q * 3):sum():backward()
    assert.are.same({ 3, 3, 3, 3 }, cols:select(2, 2):totable())
    assert.are.same({ 0, 0, 0, 0 }, cols:select(2, 1):totable())
  end)
end)

-- docs/lua-api.md, Autograd, duplicate indices: the gradient of a position written twice goes
-- to the write that was kept (torch gives it to every duplicate).
describe("writes by index with duplicate indices", function()
  local w = graphids.tensor({ 10, 20, 30 }, F64)
  -- grad[k] is w at the position source k names when out there holds source k's value, else 0
  local function kept_only(out, names, values, grad)
    local o, gr = out:totable(), grad:totable()
    for k, pos in ipairs(names) do
      local expect = o[pos + 1] == values[k] and w:totable()[pos + 1] or 0
      assert.equal(expect, gr[k], "source " .. k)
    end
  end

  it("give a position's gradient to the kept write only: scatter, index_put, index_copy", function()
    local names, values = { 0, 0, 1, 0 }, { 1, 2, 3, 4 }
    local src = graphids.tensor(values, { dtype = "f64", requires_grad = true })
    local out = graphids.zeros(3, F64):scatter(1, graphids.tensor(names, { dtype = "i64" }), src)
    ;(out * w):sum():backward()
    kept_only(out, names, values, src.grad)
    assert.equal(30, src.grad:sum():item()) -- position 0's gradient once (10), position 1's (20)

    local v = graphids.tensor(values, { dtype = "f64", requires_grad = true })
    out = graphids.zeros(3, F64):index_put({ graphids.tensor(names, { dtype = "i64" }) }, v)
    ;(out * w):sum():backward()
    kept_only(out, names, values, v.grad)
    -- with accumulate every write is added, so every one gets the gradient (as torch)
    v.grad = nil
    out = graphids.zeros(3, F64):index_put({ graphids.tensor(names, { dtype = "i64" }) }, v, true)
    ;(out * w):sum():backward()
    assert.are.same({ 10, 10, 20, 10 }, v.grad:totable())

    local s = graphids.tensor({ { 1 }, { 2 }, { 3 }, { 4 } }, { dtype = "f64", requires_grad = true })
    out = graphids.zeros(3, 1, F64):index_copy(1, graphids.tensor(names, { dtype = "i64" }), s)
    ;(out:reshape(3) * w):sum():backward()
    kept_only(out:reshape(3), names, values, s.grad:reshape(4))
  end)
end)

describe("backward", function()
  it("gives 2x for (x * x):sum()", function()
    local x = leaf({ 1, -2, 3.5 })
    local y = (x * x):sum()
    assert.is_nil(y:backward())
    assert.are.same({ 2, -4, 7 }, x.grad:totable())
  end)

  it("accumulates over two backward calls", function()
    local x = leaf({ 1, 2 })
    ;(x * 3):sum():backward()
    ;(x * x):sum():backward()
    assert.are.same({ 5, 7 }, x.grad:totable())
    -- into the gradient in place, as torch: a handle read before the next backward follows it
    local g = x.grad
    ;(x * 2):sum():backward()
    assert.are.same({ 7, 9 }, g:totable())
    g:zero_()
    assert.are.same({ 0, 0 }, x.grad:totable())
  end)

  it("runs twice over one graph only with retain_graph", function()
    local x = leaf({ 1, 2 })
    local y = (x * x):sum()
    y:backward(nil, { retain_graph = true })
    y:backward({ retain_graph = true })
    assert.are.same({ 4, 8 }, x.grad:totable())
    y:backward()
    errors("MulBackward: its saved tensors were freed by an earlier backward; pass "
      .. "retain_graph=true", y.backward, y)
  end)

  it("needs a gradient for a root with more than one element", function()
    local x = leaf({ 1, 2 })
    local y = x * 3
    errors("backward: root 1 has shape %[2%]; a gradient can be implied only for a "
      .. "one%-element root", y.backward, y)
    y:backward(graphids.tensor({ 1, 10 }, F64))
    assert.are.same({ 3, 30 }, x.grad:totable())
    errors("backward: gradient of shape %[3%] for root 1 of shape %[2%]", y.backward, y,
      graphids.ones(3, F64))
  end)

  it("refuses a root that does not require grad, and unknown options", function()
    local t = graphids.ones(1)
    errors("backward: root 1 does not require grad", t.backward, t)
    local y = leaf({ 1 }) * 2
    errors("backward: unknown option 'retain' %(did you mean 'retain_graph'%?%)", y.backward, y,
      { retain = true })
  end)

  it("sends the gradient through views, broadcasting and conversions", function()
    local x = leaf({ { 1, 2, 3 }, { 4, 5, 6 } })
    local b = leaf({ 10, 20, 30 })
    local y = (x:t() * 2):sum(1) + (x + b):float():sum()
    y:sum():backward()
    -- each x counts twice in the first term, once per output in the second (2 outputs)
    assert.are.same({ { 4, 4, 4 }, { 4, 4, 4 } }, x.grad:totable())
    assert.are.same({ 4, 4, 4 }, b.grad:totable())
    assert.is_false(x:long().requires_grad)
  end)

  it("runs several roots at once with graphids.autograd.backward", function()
    local x = leaf({ 1, 2 })
    local a, b = x * 2, (x * x):sum()
    graphids.autograd.backward({ a, b }, { graphids.ones(2, F64), nil }, { retain_graph = true })
    assert.are.same({ 4, 6 }, x.grad:totable())
    errors("backward: root 1 has shape %[2%]", graphids.autograd.backward, { a, b })
    x.grad = nil
    graphids.autograd.backward({ a:sum(), b })
    assert.are.same({ 4, 6 }, x.grad:totable())
    x.grad = nil
    graphids.autograd.backward((x * 2):sum(), { retain_graph = false })
    assert.are.same({ 2, 2 }, x.grad:totable())
    errors("backward: tensors%[2%] must be a live Tensor, got number",
      graphids.autograd.backward, { a, 3 })
  end)
end)

describe("grad modes", function()
  it("no_grad runs a function without recording and returns its results", function()
    local x = leaf({ 1, 2 })
    local y, extra = graphids.no_grad(function(a, b)
      assert.is_false(graphids.is_grad_enabled())
      return a * 2, b
    end, x, "passed")
    assert.is_false(y.requires_grad)
    assert.are.equal("passed", extra)
    assert.is_true(graphids.is_grad_enabled())
  end)

  it("nests with enable_grad and restores the mode when the function raises", function()
    local x = leaf({ 1 })
    graphids.no_grad(function()
      local z = graphids.enable_grad(function()
        assert.is_true(graphids.is_grad_enabled())
        return x * 2
      end)
      assert.is_true(z.requires_grad)
      assert.is_false(graphids.is_grad_enabled())
      local ok, err = pcall(graphids.enable_grad, function() error("inner failure") end)
      assert.is_false(ok)
      assert.matches("inner failure", err)
      assert.is_false(graphids.is_grad_enabled())
    end)
    local ok = pcall(graphids.no_grad, function() error({ code = 1 }) end)
    assert.is_false(ok)
    assert.is_true(graphids.is_grad_enabled())
    errors("no_grad: argument #1 must be a function, got number", graphids.no_grad, 3)
  end)

  it("set_grad_enabled switches the mode and returns the previous one", function()
    assert.is_true(graphids.set_grad_enabled(false))
    local y = leaf({ 1 }) * 2
    assert.is_false(graphids.set_grad_enabled(true))
    assert.is_false(y.requires_grad)
    errors("set_grad_enabled: argument #1 must be a boolean", graphids.set_grad_enabled, 1)
  end)
end)

describe("detach", function()
  it("shares the storage and stops the gradient", function()
    local x = leaf({ 1, 2 })
    local d = x:detach()
    assert.is_false(d.requires_grad)
    assert.is_true(d.is_leaf)
    graphids.no_grad(function() x:fill_(5) end)
    assert.are.same({ 5, 5 }, d:totable())
    local y = (x * d):sum()
    y:backward()
    assert.are.same({ 5, 5 }, x.grad:totable())
  end)
end)

describe("in-place ops", function()
  local target = "a tensor that requires grad cannot be modified in place while grad mode is on"

  it("refuse a tensor that requires grad while grad mode is on, every one of them", function()
    local idx = helpers.long({ { 0, 1 } })
    local mask = graphids.tensor({ { true, false }, { false, true } })
    local calls = {
      add_ = { 1 }, sub_ = { 1 }, mul_ = { 2 }, div_ = { 2 }, pow_ = { 2 }, fill_ = { 0 },
      zero_ = {}, copy_ = { graphids.ones(2, 2) }, clamp_ = { 0, 1 }, exp_ = {}, relu_ = {},
      neg_ = {}, gelu_ = {}, leaky_relu_ = { 0.1 }, elu_ = {}, masked_fill_ = { mask, 0 },
      scatter_ = { 1, idx, 0 }, scatter_add_ = { 1, idx, graphids.ones(2, 2, F64) },
      index_add_ = { 1, helpers.long({ 0, 1 }), graphids.ones(2, 2, F64) },
      uniform_ = {}, normal_ = {}, bernoulli_ = {},
    }
    local names = {}
    for name in pairs(calls) do
      names[#names + 1] = name
    end
    table.sort(names)
    for _, name in ipairs(names) do
      local x = leaf({ { 1, 2 }, { 3, 4 } })
      errors(name .. ": " .. target, x[name], x, table.unpack(calls[name]))
      -- the update is allowed under no_grad (how optimizers step)
      graphids.no_grad(x[name], x, table.unpack(calls[name]))
    end
  end)

  it("refuse a view of such a tensor and an input that requires grad", function()
    local x = leaf({ 1, 2 })
    local v = x:narrow(1, 1, 1)
    errors("fill_: " .. target, v.fill_, v, 0)
    local t = graphids.zeros(2, F64)
    errors("add_: input 1 requires grad, but an in%-place result cannot record a history",
      t.add_, t, x)
    errors("copy_: input 1 requires grad", t.copy_, t, x)
    -- the fused optimizer updates too (the optimizers call them under no_grad)
    local grad = graphids.ones(2, F64)
    errors("_sgd_step: " .. target, graphids._sgd_step, x, grad, nil, { lr = 0.1 })
    graphids.no_grad(graphids._sgd_step, x, grad, nil, { lr = 0.5 })
    assert.are.same({ 0.5, 1.5 }, x:totable())
  end)

  it("make a later backward fail when they changed a saved tensor, naming the op", function()
    local x = leaf({ 1, 2 })
    local w = graphids.tensor({ 3, 4 }, F64)
    local y = (x * w):sum()
    w:add_(1)
    errors("MulBackward: a tensor saved for backward was modified in place", y.backward, y)
    local z = (x * x):sum()
    graphids.no_grad(function() x:mul_(2) end)
    errors("MulBackward: a tensor saved for backward was modified in place", z.backward, z)
  end)

  it("leave alone what a gradient does not read: add, sub, neg and a product's own operand", function()
    local x = leaf({ 1, 2 })
    local a = graphids.tensor({ 3, 4 }, F64)
    local y = ((x + a) - (a - x) + (-x) + x * 2 + x / 4 + a * x):sum()
    a:add_(10) -- (x * a reads a for x's gradient: not changed after its product)
    errors("MulBackward: a tensor saved for backward was modified in place", y.backward, y)
    local w = leaf({ 5, 6 })
    local c = graphids.tensor({ 1, 1 }, F64)
    local z = ((x + c) * 2 + (c - w) + (-w) + w * c:clone() + w / 2):sum()
    c:add_(1) -- read by no gradient formula
    z:backward()
    assert.are.same({ 2, 2 }, x.grad:totable())
    assert.are.same({ -0.5, -0.5 }, w.grad:totable())
  end)

  it("refuse, in grad mode, a view taken under no_grad of a tensor that requires grad", function()
    local x = leaf({ 1, 2, 3 })
    local v = graphids.no_grad(function() return x:narrow(1, 1, 2) end)
    errors("add_: this tensor is a view, taken under no_grad, of a tensor that requires grad",
      v.add_, v, 100)
    local vv = v:narrow(1, 2, 1) -- a view of that view, taken in grad mode
    errors("mul_: this tensor is a view, taken under no_grad", vv.mul_, vv, 2)
    assert.are.same({ 1, 2, 3 }, x:totable())
    graphids.no_grad(function() v:add_(1) end) -- allowed where grad mode is off
    local d = x:detach()
    d:add_(1) -- a detached tensor is no such view (torch allows it too)
    assert.are.same({ 3, 4, 4 }, x:totable())
    local c = graphids.no_grad(function() return x:contiguous() end) -- x itself: no view of x
    assert.is_true(rawequal(c, x) or c:data_ptr() == x:data_ptr())
    -- chunk and split make views too
    local ch = graphids.no_grad(function() return x:chunk(3)[1] end)
    local sp = graphids.no_grad(function() return x:split(2)[2] end)
    errors("mul_: this tensor is a view, taken under no_grad", ch.mul_, ch, 2)
    errors("mul_: this tensor is a view, taken under no_grad", sp.mul_, sp, 2)
    -- a non-leaf base: refused whatever happens to the leaf later
    local h = x * 2
    local hv = graphids.no_grad(function() return h:narrow(1, 1, 1) end)
    errors("add_: this tensor is a view, taken under no_grad", hv.add_, hv, 1)
    -- decided at the write, as torch: once x no longer requires grad, its views may be written
    x.requires_grad = false
    x:add_(1)
    v:add_(1)
    ch:mul_(2)
    assert.are.same({ 10, 6, 5 }, x:totable())
  end)

  it("pass relu's gradient through a NaN, as torch's threshold_backward", function()
    local x = leaf({ 0 / 0, -1, 0, 2 })
    x:relu():sum():backward()
    assert.are.same({ 1, 0, 0, 1 }, x.grad:totable())
  end)

  it("give no gradient to a leaf whose requires_grad was switched off after recording", function()
    local x = leaf({ 1, 2 })
    local y = (x * 2):sum()
    x.requires_grad = false
    y:backward()
    assert.is_nil(x.grad)
  end)

  it("runs a graph that saved nothing twice without retain_graph, as torch", function()
    local x = leaf({ 1, 2 })
    local y = ((x + 1) - 2 + (-x) * 3):sum()
    y:backward()
    y:backward()
    assert.are.same({ -4, -4 }, x.grad:totable())
  end)

  it("holds no operand of a sum of products the gradients do not read", function()
    local x = graphids.randn(100000, { dtype = "f64", requires_grad = true })
    collectgarbage()
    collectgarbage()
    local base = graphids.memory().current_bytes
    local acc = x * 0
    for i = 1, 20 do acc = acc + x:sin() * i end
    collectgarbage()
    collectgarbage()
    -- 20 saved sines (the products' x-gradients read none of them; each sin saves x, which is
    -- the leaf) and the sum: a few vectors, where saving every operand held 60
    local held = (graphids.memory().current_bytes - base) / (8 * 100000)
    assert.is_true(held <= 3, held .. " vectors held")
    acc:sum():backward()
    local want = graphids.cos(x:detach()) * 210
    assert.is_true(graphids.allclose(x.grad, want))
  end)
end)

describe("detect_anomaly", function()
  after_each(function()
    graphids.autograd.detect_anomaly(false)
  end)

  it("names the op whose result holds NaN in the forward pass", function()
    local x = leaf({ 1, -1 })
    local y = x:log():sum() -- NaN, but anomaly mode is off
    assert.are_not.equal(y:item(), y:item())
    assert.is_false(graphids.autograd.detect_anomaly(true))
    assert.is_true(graphids.autograd.is_anomaly_enabled())
    errors("detect_anomaly: log produced NaN", x.log, x)
  end)

  it("names the node whose gradient holds NaN in the backward pass", function()
    local x = leaf({ 0, 1 })
    local y = (x:sqrt() * 0):sum() -- the gradient of sqrt at 0 is inf; times 0 it is NaN
    graphids.autograd.detect_anomaly(true)
    errors("detect_anomaly: SqrtBackward produced NaN", y.backward, y)
    graphids.autograd.detect_anomaly(false)
    local z = (x:sqrt() * 0):sum()
    z:backward()
    near(x.grad:totable(), { 0 / 0, 0 })
  end)
end)

describe("graph lifetime", function()
  local function live()
    collectgarbage()
    collectgarbage()
    return graphids.memory().live_tensors
  end

  it("releases every tensor of a graph once the references are dropped", function()
    local before = live()
    do
      local x = graphids.randn(4, 3, { dtype = "f64", requires_grad = true })
      local w = graphids.randn(3, 2, { dtype = "f64", requires_grad = true })
      local h = x:matmul(w):relu()
      local loss = (h:softmax(2) * h):sum() + h:std() + h:view(-1):narrow(1, 2, 3):sum()
      loss:backward()
      assert.are.same({ 4, 3 }, x.grad.shape)
    end
    assert.are.equal(before, live())
  end)

  it("releases a graph that was never run", function()
    local before = live()
    do
      local x = graphids.randn(8, { requires_grad = true })
      local y = x
      for _ = 1, 50 do
        y = (y * 1.01):tanh()
      end
      assert.is_true(y.requires_grad)
    end
    assert.are.equal(before, live())
  end)
end)
