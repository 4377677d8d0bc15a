-- function_spec.lua -- custom autograd Functions written in Lua: forward without recording,
-- save_for_backward / saved_tensors with version checks, needs_input_grad, ctx fields, several
-- outputs, non-tensor arguments, and errors in backward surfacing from t:backward().
local graphids = require "graphids"
local helpers = require "helpers"
local errors = helpers.errors
local Function = graphids.autograd.Function

local F64 = { dtype = "f64" }

local function leaf(values)
  return graphids.tensor(values, { dtype = "f64", requires_grad = true })
end

-- exp(x), saving its result for backward
local Exp = Function {
  name = "MyExp",
  forward = function(ctx, x)
    local y = x:exp()
    ctx:save_for_backward(y)
    return y
  end,
  backward = function(ctx, g)
    local y = table.unpack(ctx.saved_tensors)
    return g * y
  end,
}

describe("autograd.Function", function()
  it("records a node whose backward is the Lua one", function()
    local x = leaf({ 0, 1 })
    local y = Exp(x)
    assert.are.equal("MyExpBackward", y.grad_fn)
    assert.is_true(y.requires_grad)
    y:sum():backward()
    helpers.near(x.grad:totable(), { 1, math.exp(1) }, 1e-12)
    assert.are.equal(Exp.apply, Exp.apply)
    assert.are.equal("MyExpBackward", Exp.apply(x).grad_fn)
    assert.are.equal("graphids.autograd.Function(MyExp)", tostring(Exp))
  end)

  it("runs forward without recording, and records nothing when no input needs grad", function()
    local seen
    local F = Function {
      forward = function(_, x)
        seen = graphids.is_grad_enabled()
        return x * 2
      end,
      backward = function(_, g) return g * 2 end,
    }
    local y = F(leaf({ 1 }))
    assert.is_false(seen)
    assert.are.equal("FunctionBackward", y.grad_fn)
    assert.is_true(graphids.is_grad_enabled())
    assert.is_false(F(graphids.ones(1)).requires_grad)
    assert.is_false(graphids.no_grad(F, leaf({ 1 })).requires_grad)
  end)

  it("passes needs_input_grad and its own ctx fields; non-tensors get nil gradients", function()
    local needs
    local Scale = Function {
      name = "Scale",
      forward = function(ctx, x, k, w)
        needs = ctx.needs_input_grad
        ctx.k = k
        ctx:save_for_backward(x, nil, w)
        return x * k * w
      end,
      backward = function(ctx, g)
        local x, none, w = table.unpack(ctx.saved_tensors, 1, 3)
        assert(none == nil)
        local gx = ctx.needs_input_grad[1] and g * ctx.k * w or nil
        local gw = ctx.needs_input_grad[3] and (g * ctx.k * x) or nil
        return gx, nil, gw
      end,
    }
    local x, w = leaf({ 1, 2 }), graphids.tensor({ 3, 4 }, F64)
    local y = Scale(x, 10, w)
    assert.are.same({ true, false, false }, needs)
    y:sum():backward()
    assert.are.same({ 30, 40 }, x.grad:totable())
    assert.is_nil(w.grad)
  end)

  it("returns several outputs, each with its gradient (zeros where none reached)", function()
    local Split = Function {
      name = "Split",
      forward = function(_, x) return x * 2, x * 3, "tag", graphids.arange(2) end,
      backward = function(_, ga, gb, gtag, gidx)
        assert(gtag == nil and gidx == nil)
        return ga * 2 + gb * 3
      end,
    }
    local x = leaf({ 1, 2 })
    local a, b, tag, idx = Split(x)
    assert.are.equal("tag", tag)
    assert.is_false(idx.requires_grad)
    assert.are.equal("SplitBackward", b.grad_fn)
    a:sum():backward()
    assert.are.same({ 2, 2 }, x.grad:totable())
  end)

  it("keeps an input returned as it is a leaf", function()
    local Id = Function {
      forward = function(_, x) return x end,
      backward = function(_, g) return g end,
    }
    local x = leaf({ 1, 2 })
    local y = Id(x)
    assert.is_true(x.is_leaf)
    assert.is_false(y.is_leaf)
    y:sum():backward()
    assert.are.same({ 1, 1 }, x.grad:totable())
  end)

  it("checks the saved tensors' versions and releases them after backward", function()
    local x = leaf({ 1, 2 })
    local y = Exp(x)
    graphids.no_grad(function() y:add_(1) end)
    errors("MyExp%.backward: .*MyExpBackward: a tensor saved for backward was modified in place",
      y.sum(y).backward, y:sum())
    local z = Exp(x)
    local s = z:sum()
    s:backward()
    errors("MyExp%.backward: .*its saved tensors were freed by an earlier backward", s.backward, s)
    local r = Exp(x):sum()
    r:backward({ retain_graph = true })
    r:backward()
  end)

  it("surfaces errors of the Lua backward naming the Function", function()
    local x = leaf({ 1, 2 })
    local function make(backward)
      return Function { name = "Broken", forward = function(_, a) return a * 1 end,
        backward = backward }
    end
    local cases = {
      { function() error("boom") end, "Broken%.backward: .*boom" },
      { function(_, g) return g, g end, "Broken%.backward: returned 2 gradient%(s%), expected 1" },
      { function() end, "Broken%.backward: returned 0 gradient%(s%), expected 1" },
      { function() return graphids.ones(3, F64) end,
        "Broken%.backward: gradient 1 has shape %[3%], expected %[2%]" },
      { function() return "x" end, "Broken%.backward: gradient 1 must be a Tensor or nil, got string" },
    }
    for _, case in ipairs(cases) do
      local y = make(case[1])(x):sum()
      errors(case[2], y.backward, y)
    end
    local WithNumber = Function {
      name = "WithNumber",
      forward = function(_, a, k) return a * k end,
      backward = function(_, g) return g, g end,
    }
    local y = WithNumber(x, 2):sum()
    errors("WithNumber%.backward: gradient 2 must be nil: argument 2 of forward is not a tensor",
      y.backward, y)
    -- the state is usable after the error
    assert.is_true(graphids.is_grad_enabled())
    Exp(x):sum():backward()
  end)

  it("converts a gradient of another float dtype to the input's", function()
    local F = Function {
      forward = function(_, a) return a * 1 end,
      backward = function(_, g) return g:float() * 2 end,
    }
    local x = leaf({ 1, 2 })
    F(x):sum():backward()
    assert.are.equal("f64", x.grad.dtype)
    assert.are.same({ 2, 2 }, x.grad:totable())
  end)

  it("rejects a definition without forward/backward or with unknown fields", function()
    errors("Function: field 'backward' must be a function, got nil", Function,
      { forward = function() end })
    errors("Function: unknown option 'forwad' %(did you mean 'forward'%?%)", Function,
      { forwad = 1, backward = function() end })
    errors("save_for_backward: at most 8 tensors, got 9", Function {
      forward = function(ctx) ctx:save_for_backward(1, 2, 3, 4, 5, 6, 7, 8, 9) end,
      backward = function() end,
    })
  end)

  it("passes gradcheck", function()
    local x = graphids.randn(3, 2, { dtype = "f64", requires_grad = true,
      generator = graphids.Generator(5) })
    assert.is_true(graphids.autograd.gradcheck(Exp, { x }))
  end)

  it("releases its Lua values and tensors with the graph", function()
    local function live()
      collectgarbage()
      collectgarbage()
      return graphids.memory().live_tensors
    end
    local before = live()
    local ctx_ref = setmetatable({}, { __mode = "v" })
    do
      local Keep = Function {
        forward = function(ctx, a)
          ctx_ref[1] = ctx
          local y = a:exp()
          ctx:save_for_backward(a, y)
          return y
        end,
        backward = function(ctx, g)
          local _, y = table.unpack(ctx.saved_tensors)
          return g * y
        end,
      }
      local x = graphids.randn(5, { dtype = "f64", requires_grad = true })
      local y = Keep(Keep(x))
      y:sum():backward()
      local z = Keep(x) -- never run
      assert.is_true(z.requires_grad)
    end
    assert.are.equal(before, live())
    assert.is_nil(ctx_ref[1])
  end)
end)
