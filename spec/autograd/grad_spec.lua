-- grad_spec.lua -- graphids.autograd.grad (gradients with respect to chosen tensors, no .grad
-- touched, only the nodes that lead to them run), t:retain_grad() (a non-leaf that keeps its
-- gradient) and t:register_hook(fn).  Expected values are the closed forms torch gives for the
-- same graphs.
local graphids = require "graphids"
local helpers = require "helpers"
local errors = helpers.errors
local grad = graphids.autograd.grad

local F64 = { dtype = "f64" }

local function leaf(values, dtype)
  return graphids.tensor(values, { dtype = dtype or "f64", requires_grad = true })
end

describe("autograd.grad", function()
  it("returns the gradients of the inputs and changes no .grad", function()
    local x, w = leaf({ 1, 2, 3 }), leaf({ 0.5, -1, 2 })
    local y = (x * x * w):sum()
    local gs = grad(y, { x, w })
    assert.same({ 1, -4, 12 }, gs[1]:totable()) -- 2 x w
    assert.same({ 1, 4, 9 }, gs[2]:totable()) -- x^2
    assert.is_nil(x.grad)
    assert.is_nil(w.grad)
    assert.is_false(gs[1].requires_grad)
  end)

  it("takes one input for one result, and gradients for roots of several elements", function()
    local x = leaf({ 1, 2 })
    local y = x * 3
    assert.same({ 30, 60 }, grad(y, x, graphids.tensor({ 10, 20 }, F64)):totable())
    errors("one%-element root", function() grad(x * 3, x) end)
    -- several roots, gradients as a list with nil where one is implied
    local a, b = (x * 2):sum(), x * x
    local g = grad({ a, b }, { x }, { nil, graphids.ones(2, F64) })[1]
    assert.same({ 4, 6 }, g:totable())
  end)

  it("gives the gradient of a non-leaf input, and of a leaf root by itself", function()
    local x = leaf({ 0, 1 })
    local h = x:exp()
    local out = (h * 3):sum()
    assert.same({ 3, 3 }, grad(out, h):totable())
    local g = graphids.tensor({ 5, 7 }, F64)
    local gx = grad(x, x, g)
    assert.same({ 5, 7 }, gx:totable())
    gx:fill_(0) -- the result is its own copy
    assert.same({ 5, 7 }, g:totable())
  end)

  it("runs only the nodes that lead to the inputs", function()
    local x, v = leaf({ 1, 2 }), leaf({ 1, 1 })
    local u = graphids.tensor({ 4, 5 }, F64)
    local y = (x * x):sum() + (v * u):sum() -- v * u saves u
    u:add_(1) -- u needs no grad: the write is allowed, and v's branch can no longer run
    assert.same({ 2, 4 }, grad(y, x, nil, { retain_graph = true }):totable())
    errors("MulBackward: a tensor saved for backward was modified in place", function() y:backward() end)
  end)

  it("frees the saved tensors of the nodes that ran unless retain_graph", function()
    local x = leaf({ 1, 2 })
    local y = (x * x):sum()
    assert.same({ 2, 4 }, grad(y, x, { retain_graph = true }):totable())
    assert.same({ 2, 4 }, grad(y, x):totable())
    errors("saved tensors were freed by an earlier backward", function() grad(y, x) end)
  end)

  it("refuses unused inputs unless allow_unused, and inputs that do not require grad", function()
    local x, z = leaf({ 1, 2 }), leaf({ 3 })
    local y = (x * 2):sum()
    errors("autograd.grad: input 1 is not used in the graph of the outputs %(pass allow_unused=true",
      function() grad(y, { z, x }, nil, { retain_graph = true }) end)
    local gs = grad(y, { z, x }, nil, { allow_unused = true, retain_graph = true })
    assert.is_nil(gs[1])
    assert.same({ 2, 2 }, gs[2]:totable())
    assert.is_nil(grad(y, z, { allow_unused = true }))
    errors("input 1 does not require grad", function() grad(y, graphids.ones(2)) end)
  end)

  it("gives separate tensors for an input asked for twice, in the input's dtype", function()
    local x = leaf({ 1, 2 }, "f32")
    local gs = grad((x * x):sum(), { x, x })
    assert.equal("f32", gs[1].dtype)
    gs[1]:fill_(0)
    assert.same({ 2, 4 }, gs[2]:totable())
  end)

  it("runs custom Functions on the way and raises their errors", function()
    local Cube = graphids.autograd.Function {
      name = "Cube",
      forward = function(ctx, x)
        ctx:save_for_backward(x)
        return x * x * x
      end,
      backward = function(ctx, g)
        local x = ctx.saved_tensors[1]
        return g * 3 * x * x
      end,
    }
    local x = leaf({ 1, 2 })
    assert.same({ 3, 12 }, grad(Cube(x):sum(), x):totable())
    local Bad = graphids.autograd.Function {
      name = "Bad",
      forward = function(_, t) return t * 1 end,
      backward = function() error("no gradient today") end,
    }
    errors("no gradient today", function() grad(Bad(x):sum(), x) end)
  end)

  it("walks a chain of 20000 nodes without deep recursion", function()
    local x = leaf({ 1 })
    local y = x
    for _ = 1, 20000 do y = y * 1 end
    assert.same({ 1 }, grad(y:sum(), x):totable())
  end)

  it("gives a GAT's input gradients for attribution, as backward would, leaving the model's alone", function()
    local models, P = require "graphids.models", require "graphids.models.presets"
    local batch = require("models.graphs").batch({ num_ids = 10, seed = 1 })
    graphids.manual_seed(5)
    local model = models.GATClassifier(P.gat.small({ num_ids = 10 }))
    model:eval()
    local function attack_score(x)
      return model:forward(setmetatable({ x = x }, { __index = batch })):select(2, 2):sum()
    end
    local x = batch.x:clone():requires_grad_()
    local g = grad(attack_score(x), x)
    for _, p in ipairs(model:parameters()) do
      assert.is_nil(p.grad)
    end
    attack_score(x):backward()
    assert.same(x.grad:totable(), g:totable())
    assert.is_true(g:abs():sum():item() > 0)
  end)

  it("keeps what it needs of a non-leaf input that a hook frees during the walk", function()
    local x = leaf({ 1, 2 }, "f32")
    local y = x * 2
    local z = (y * y):sum()
    y:register_hook(function(g)
      y:free()
      collectgarbage()
      return g
    end)
    local g = grad(z, y)
    assert.equal("f32", g.dtype)
    assert.same({ 4, 8 }, g:totable())
  end)

  it("names itself in the root checks", function()
    local x = leaf({ 1, 2 })
    errors("autograd.grad: gradient of shape %[3%] for root 1 of shape %[%]",
      function() grad((x * 1):sum(), x, graphids.ones(3, F64)) end)
    errors("autograd.grad: root 1 has shape %[2%]; .*%(grad%(outputs, inputs, grads%)%)",
      function() grad(x * 1, x) end)
    errors("autograd.grad: option 'allow_unused' must be a boolean, got 1",
      function() grad((x * 1):sum(), x, nil, { allow_unused = 1 }) end)
    errors("autograd.grad: root 1 does not require grad", function() grad(graphids.ones(1), x) end)
  end)

  it("checks its arguments", function()
    local x = leaf({ 1 })
    local y = (x * 2):sum()
    errors("autograd.grad: outputs %(argument #1%) must be a Tensor or a list of Tensors, got number",
      function() grad(1, x) end)
    errors("autograd.grad: inputs: 1 to 4096 tensors, got 0", function() grad(y, {}) end)
    errors("autograd.grad: inputs%[2%] must be a live Tensor, got string", function() grad(y, { x, "x" }) end)
    errors("unknown option 'create_graph'", function() grad(y, x, nil, { create_graph = true }) end)
    errors("autograd.grad: grads %(argument #3%) must be a list of 2 Tensors",
      function() grad({ y, y }, x, graphids.ones(1)) end)
  end)
end)

describe("retain_grad", function()
  it("keeps a non-leaf's gradient, accumulating over backward calls", function()
    local x = leaf({ 1, 2 })
    local a = x * 2
    assert.is_false(a.retains_grad)
    a:retain_grad()
    assert.is_true(a.retains_grad)
    local b = (a * a):sum()
    b:backward({ retain_graph = true })
    assert.same({ 4, 8 }, a.grad:totable()) -- 2a
    assert.same({ 8, 16 }, x.grad:totable())
    b:backward()
    assert.same({ 8, 16 }, a.grad:totable())
  end)

  it("is a no-op on a leaf and refused without requires_grad", function()
    local x = leaf({ 1 })
    x:retain_grad()
    assert.is_false(x.retains_grad)
    errors("retain_grad: the tensor does not require grad", function() graphids.ones(1):retain_grad() end)
    errors("retains_grad cannot", function() x.retains_grad = true end)
  end)

  it("is not filled by autograd.grad", function()
    local x = leaf({ 1, 2 })
    local a = x * 2
    a:retain_grad()
    grad((a * a):sum(), x)
    assert.is_nil(a.grad)
  end)

  it("leaves the graph intact when the retaining tensor is collected first", function()
    local x = leaf({ 1, 2 })
    local a = x * 2
    a:retain_grad()
    local b = (a * a):sum()
    a = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    b:backward()
    assert.same({ 8, 16 }, x.grad:totable())
  end)
end)

describe("register_hook", function()
  it("replaces a leaf's gradient before it is added into .grad", function()
    local x = leaf({ 1, 2, 3 })
    local seen
    x:register_hook(function(g)
      seen = g:clone()
      return g * 10
    end)
    local y = (x * x):sum()
    y:backward()
    assert.same({ 2, 4, 6 }, seen:totable())
    assert.same({ 20, 40, 60 }, x.grad:totable())
  end)

  it("changes a non-leaf's gradient before it flows on, and before retain_grad keeps it", function()
    local x = leaf({ 1, 2 })
    local a = x * 2
    a:retain_grad()
    a:register_hook(function(g) return g + 1 end)
    a:register_hook(function(g) return g * 3 end) -- runs second, on the first one's result
    local b = (a * a):sum() -- d/da = 2a = 4, 8
    b:backward()
    assert.same({ 15, 27 }, a.grad:totable())
    assert.same({ 30, 54 }, x.grad:totable())
  end)

  it("keeps the gradient when the hook returns nil, and stops on remove", function()
    local x = leaf({ 1, 2 })
    local calls = 0
    local function step()
      x.grad = nil
      local y = (x * 2):sum()
      y:backward()
      return x.grad:totable()
    end
    local h = x:register_hook(function() calls = calls + 1 end)
    assert.same({ 2, 2 }, step())
    assert.equal(1, calls)
    assert.is_true(h:remove())
    assert.is_false(h:remove())
    step()
    assert.equal(1, calls)
    do
      local scoped <close> = x:register_hook(function(g) return g * 0 end) -- luacheck: ignore 211
      assert.same({ 0, 0 }, step())
    end
    assert.same({ 2, 2 }, step())
  end)

  it("applies to what autograd.grad returns", function()
    local x = leaf({ 1, 2 })
    local y = x * 3
    y:register_hook(function(g) return g * 2 end)
    assert.same({ 6, 6 }, grad(y:sum(), x):totable())
  end)

  it("raises the hook's error and refuses a gradient of another shape or a non-tensor", function()
    local x = leaf({ 1, 2, 3 })
    local h = x:register_hook(function() error("boom") end)
    errors("gradient hook: .*boom", function() (x * 1):sum():backward() end)
    h:remove()
    h = x:register_hook(function() return graphids.ones(2, F64) end)
    errors("a gradient hook returned %[2%] on cpu for a gradient of shape %[3%]",
      function() (x * 1):sum():backward() end)
    h:remove()
    h = x:register_hook(function() return "no" end)
    errors("gradient hook: must return a Tensor or nil, got string", function() (x * 1):sum():backward() end)
    h:remove()
    errors("register_hook: the tensor does not require grad", function()
      graphids.ones(2):register_hook(print)
    end)
    errors("register_hook: argument #2 must be a function, got number", function() x:register_hook(1) end)
    h = x:register_hook(function(g) return g:to("f32") end)
    errors("AccumulateGrad: a gradient hook returned dtype f32 for a gradient of dtype f64",
      function() (x * 1):sum():backward() end)
    h:remove()
    h = x:register_hook(function() error({ code = 1 }) end)
    errors("gradient hook: table: ", function() (x * 1):sum():backward() end)
    h:remove()
    h = x:register_hook(function() error() end)
    errors("gradient hook: nil", function() (x * 1):sum():backward() end)
    h:remove()
    -- after all of these, the graph machinery still works
    local y = (x * 2):sum()
    y:backward()
  end)

  it("runs a hook registered during backward from the next backward on, as torch", function()
    local x = leaf({ 1, 2 })
    local calls = 0
    local function again(g)
      calls = calls + 1
      if calls < 10 then x:register_hook(again) end
      return g
    end
    x:register_hook(again)
    local y = (x * 1):sum()
    y:backward()
    assert.equal(1, calls)
    y = (x * 1):sum()
    y:backward()
    assert.equal(3, calls) -- the first hook and the one it added
  end)

  it("lives with the graph: a handle outliving its tensor, and a graph outliving the handle", function()
    local x = leaf({ 1, 2 })
    local a = x * 2
    a:register_hook(function(g) return g * 5 end) -- the handle is garbage at once
    local b = a:sum()
    a = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    b:backward()
    assert.same({ 10, 10 }, x.grad:totable())
    local y = leaf({ 1 })
    local h2 = (y * 2):register_hook(function() end)
    y = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    assert.is_true(h2:remove()) -- its graph died first: the handle's share of the list remains
    assert.is_false(h2:remove())
  end)

  -- The C tensors alive after full collections (a hook's function held where the collector
  -- cannot see it keeps its tensor alive for ever).
  local function live(n)
    for _ = 1, n or 2 do collectgarbage() end
    return graphids.memory().live_tensors
  end

  it("is collected with a tensor it refers to, leaf or not, as torch collects it", function()
    local base = live(4)
    for _ = 1, 50 do
      local x = graphids.ones(100, { requires_grad = true })
      x:register_hook(function(g) return g * x:detach() end)
      local y = x * 2
      y:register_hook(function(g) return g * y:detach() end)
    end
    assert.equal(base, live())
  end)

  it("keeps its tensor while a graph still reaches it, and lets go when the graph goes", function()
    local base = live(4)
    local calls, loss, b = 0, nil, nil -- luacheck: ignore 311
    do
      local x = leaf({ 1, 2 })
      x:register_hook(function(g) calls = calls + 1; return g + x:detach() end)
      loss = (x * 3):sum()
      local a = leaf({ 1, 2 }) * 2
      a:register_hook(function(g) calls = calls + 1; return g * a:detach() end)
      b = (a * 1):sum()
    end
    live(3) -- the handles x and a are garbage now; the graphs still reach their hooks
    loss:backward({ retain_graph = true })
    loss:backward()
    b:backward()
    assert.equal(3, calls)
    loss, b = nil, nil -- luacheck: ignore 311
    assert.equal(base, live(4))
  end)

  it("runs for a graph after its tensor was freed by hand", function()
    local x = leaf({ 1, 2 })
    local seen
    x:register_hook(function(g) seen = g:totable() end)
    local loss = (x * 5):sum()
    x:free()
    live()
    loss:backward()
    assert.same({ 5, 5 }, seen)
  end)

  it("is found while a collection has yet to finalize its dropped handle", function()
    -- Between a collection's atomic phase (which drops the function from the weak table that
    -- finds it by id) and the handle's finalizer (which puts it back), a backward may run: an
    -- incremental collection stepped by hand stops there.
    local junk = {} -- luacheck: ignore 241
    for i = 1, 100000 do junk[i] = { i } end -- (a heap that takes many steps)
    local calls, loss, fn = 0, nil, nil -- luacheck: ignore 311
    do
      local x = leaf({ 1, 2 })
      fn = function(g) calls = calls + 1; return g + x:detach() end
      x:register_hook(fn)
      loss = (x * 3):sum()
    end
    local by_id -- the registry's weak table holding fn by id
    for _, t in pairs(debug.getregistry()) do
      local mt = type(t) == "table" and getmetatable(t)
      if mt and mt.__mode == "v" then
        for _, v in pairs(t) do if v == fn then by_id = t end end
      end
    end
    assert.is_table(by_id)
    fn = nil -- luacheck: ignore 311
    collectgarbage("incremental", 100, 100, 0)
    collectgarbage("stop")
    local window = false
    for _ = 1, 100000 do
      collectgarbage("step", 0)
      if next(by_id) == nil then
        window = true
        loss:backward({ retain_graph = true })
        break
      end
    end
    collectgarbage("generational")
    collectgarbage("restart")
    junk = nil -- luacheck: ignore 311
    assert.is_true(window, "no step stopped between the atomic phase and the finalizer")
    assert.equal(1, calls)
    loss:backward()
    assert.equal(2, calls)
  end)
end)
