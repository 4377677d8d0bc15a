-- gradcheck_spec.lua -- every differentiable function of the Lua API against central differences
-- in f64 (graphids.autograd.gradcheck), one line each: contiguous, strided (transposed leaves)
-- and broadcasting inputs.  Also gradcheck's own options and messages.
local graphids = require "graphids"
local helpers = require "helpers"
local errors, long = helpers.errors, helpers.long
local gradcheck = graphids.autograd.gradcheck

local gen = graphids.Generator(2024)
local function opts(grad)
  return { dtype = "f64", requires_grad = grad, generator = gen }
end
-- R: normal values; P: in [0.5, 1.5); S: in [-1, 1); T: a transposed (strided) leaf of shape
-- {r, c}; C: a constant (no grad).  All f64; all but C require grad.
local function R(...) return graphids.randn({ ... }, opts(true)) end
local function P(...) return (graphids.rand({ ... }, opts(false)) + 0.5):requires_grad_() end
local function S(...) return (graphids.rand({ ... }, opts(false)) * 2 - 1):requires_grad_() end
local function T(r, c) return graphids.randn(c, r, opts(false)):t():requires_grad_() end
local function C(...) return graphids.randn({ ... }, opts(false)) end
local g = graphids

local M = graphids.tensor({ { true, false, true, false }, { false, false, true, true },
  { true, true, false, false } })
local SEG = long({ 0, 2, 0, 1, 2 })

-- { name, fn, inputs, options } (gradcheck leaves the inputs as it found them)
local cases = {
  -- binary ops, tensor with tensor (broadcasting) and with a number
  { "add", function(a, b) return a + b end, { R(3, 4), R(4) } },
  { "add alpha", function(a, b) return g.add(a, b, { alpha = 2.5 }) end, { R(3, 1), R(1, 4) } },
  { "sub", g.sub, { T(3, 4), R(3, 1) } },
  { "sub alpha", function(a, b) return a:sub(b, { alpha = -2 }) end, { R(2, 3), R(2, 3) } },
  { "mul", g.mul, { T(3, 4), R(4) } },
  { "div", function(a, b) return a / b end, { R(3, 4), P(3, 1) } },
  { "pow", function(a, b) return a ^ b end, { P(3, 4), R(4) } },
  { "maximum", g.maximum, { R(3, 4), R(3, 4) } },
  { "minimum", g.minimum, { R(3, 4), R(1, 4) } },
  { "max(a, b)", g.max, { R(2, 3), R(2, 3) } },
  { "min(a, b)", g.min, { T(2, 3), R(2, 3) } },
  { "fmod", g.fmod, { R(3, 4), P(4) } },
  { "remainder", function(a, b) return a % b end, { R(3, 4), P(4) } },
  { "atan2", g.atan2, { R(3, 4), R(3, 1) } },
  { "tensor + number", function(a) return a + 2 end, { R(3) } },
  { "number - tensor", function(a) return 2 - a end, { T(2, 3) } },
  { "tensor * number", function(a) return a * 3 end, { R(3) } },
  { "number / tensor", function(a) return 2 / a end, { P(3) } },
  { "tensor ^ number", function(a) return a ^ 3 end, { R(3) } },
  { "number ^ tensor", function(a) return 2 ^ a end, { R(3) } },
  { "tensor % number", function(a) return a % 1.7 end, { R(4) } },
  { "atan2 with a number", function(a) return g.atan2(a, 0.5) end, { R(4) } },
  -- unary ops and activations
  { "neg", function(a) return -a end, { T(2, 3) } },
  { "abs", g.abs, { R(2, 3) } },
  { "sign", g.sign, { R(2, 3) } },
  { "exp", g.exp, { T(2, 3) } },
  { "expm1", g.expm1, { R(2, 3) } },
  { "log", g.log, { P(2, 3) } },
  { "log1p", g.log1p, { P(2, 3) } },
  { "log2", g.log2, { P(2, 3) } },
  { "sqrt", g.sqrt, { P(2, 3) } },
  { "rsqrt", g.rsqrt, { P(2, 3) } },
  { "square", g.square, { T(2, 3) } },
  { "reciprocal", g.reciprocal, { P(2, 3) } },
  { "sin", g.sin, { R(2, 3) } },
  { "cos", g.cos, { R(2, 3) } },
  { "tan", g.tan, { S(2, 3) } },
  { "tanh", g.tanh, { R(2, 3) } },
  { "sigmoid", g.sigmoid, { T(2, 3) } },
  { "relu", g.relu, { R(2, 3) } },
  { "silu", g.silu, { R(2, 3) } },
  { "floor", g.floor, { R(2, 3) } },
  { "ceil", g.ceil, { R(2, 3) } },
  { "round", g.round, { R(2, 3) } },
  { "trunc", g.trunc, { R(2, 3) } },
  { "gelu", g.gelu, { R(2, 3) } },
  { "gelu tanh", function(a) return g.gelu(a, { approximate = "tanh" }) end, { T(2, 3) } },
  { "leaky_relu", function(a) return g.leaky_relu(a, 0.2) end, { R(2, 3) } },
  { "elu", function(a) return g.elu(a, 1.5) end, { R(2, 3) } },
  { "softplus", function(a) return g.softplus(a, { beta = 2, threshold = 1 }) end, { R(2, 3) } },
  { "clamp", function(a) return g.clamp(a, -0.5, 0.5) end, { R(3, 4) } },
  { "clamp min", function(a) return a:clamp(0) end, { T(3, 4) } },
  { "clamp max", function(a) return a:clamp(nil, 0.3) end, { R(3, 4) } },
  { "where", function(a, b) return g.where(M, a, b) end, { R(3, 4), R(4) } },
  { "where with a number", function(a) return g.where(M, 1.5, a) end, { T(3, 4) } },
  -- reductions
  { "sum", g.sum, { T(3, 4) } },
  { "sum dims keepdim", function(a) return a:sum({ 1, 3 }, { keepdim = true }) end, { R(2, 3, 4) } },
  { "mean", function(a) return a:mean(2) end, { T(3, 4) } },
  { "prod", function(a) return a:prod(1) end, { R(3, 4) } },
  { "prod all", g.prod, { R(2, 3) } },
  { "amax", function(a) return a:amax(2) end, { R(3, 4) } },
  { "amin", function(a) return a:amin({ 1, 2 }) end, { T(3, 4) } },
  { "logsumexp", function(a) return a:logsumexp(2, { keepdim = true }) end, { R(3, 4) } },
  { "var", function(a) return a:var(2) end, { R(3, 4) } },
  { "var correction 0", function(a) return a:var({ 1, 2 }, { correction = 0, keepdim = true }) end,
    { T(3, 4) } },
  { "std", function(a) return a:std(1) end, { R(3, 4) } },
  { "std all", g.std, { R(3, 4) } },
  { "norm", g.norm, { R(3, 4) } },
  { "norm p=1 dim", function(a) return a:norm(1, 2) end, { T(3, 4) } },
  { "norm p=3", function(a) return a:norm(3, 1, { keepdim = true }) end, { R(3, 4) } },
  { "norm inf", function(a) return a:norm("inf", 2) end, { R(3, 4) } },
  { "norm -inf", function(a) return a:norm("-inf") end, { R(3, 4) } },
  { "max", g.max, { R(3, 4) } },
  { "max dim", function(a) return (a:max(2)) end, { T(3, 4) } },
  { "min dim keepdim", function(a) return (a:min(1, { keepdim = true })) end, { R(3, 4) } },
  { "softmax", function(a) return a:softmax(2) end, { R(3, 4) } },
  { "log_softmax", function(a) return a:log_softmax(1) end, { T(3, 4) } },
  { "cumsum", function(a) return a:cumsum(2) end, { T(3, 4) } },
  { "cumprod", function(a) return a:cumprod(1) end, { R(3, 4) } },
  -- linear algebra
  { "matmul", g.matmul, { R(3, 4), T(4, 2) } },
  { "matmul dot", g.matmul, { R(4), R(4) } },
  { "matmul vector-matrix", g.matmul, { R(4), R(4, 3) } },
  { "matmul matrix-vector", g.matmul, { T(3, 4), R(4) } },
  { "matmul batched broadcast", g.matmul, { R(2, 1, 3, 4), R(3, 4, 2) } },
  { "mm", g.mm, { T(3, 4), R(4, 2) } },
  { "bmm", g.bmm, { R(2, 3, 4), R(2, 4, 2) } },
  { "addmm", function(b, x, y) return g.addmm(b, x, y, { beta = 0.5, alpha = 2 }) end,
    { R(2), R(3, 4), T(4, 2) } },
  -- indexing, scatter and masking
  { "index_select", function(a) return a:index_select(1, long({ 2, 0, 2 })) end, { R(3, 4) } },
  { "gather", function(a) return a:gather(2, long({ { 0, 0 }, { 3, 1 }, { 2, 2 } })) end, { T(3, 4) } },
  { "scatter", function(a, s) return a:scatter(1, long({ { 0, 2, 1, 0 } }), s) end, { R(3, 4), R(1, 4) } },
  { "scatter value", function(a) return a:scatter(2, long({ { 1 }, { 3 }, { 0 } }), 2.5) end, { R(3, 4) } },
  { "scatter_add", function(a, s) return a:scatter_add(1, long({ { 0, 2, 0, 0 }, { 0, 1, 2, 1 } }), s) end,
    { R(3, 4), R(2, 4) } },
  { "index_add", function(a, s) return a:index_add(1, long({ 2, 0, 2 }), s, { alpha = 3 }) end,
    { T(3, 4), R(3, 4) } },
  { "masked_fill", function(a) return a:masked_fill(M, -1) end, { R(3, 4) } },
  { "masked_select", function(a) return a:masked_select(M) end, { T(3, 4) } },
  -- sorting (values only)
  { "sort", function(a) return (a:sort(2, { descending = true })) end, { R(3, 4) } },
  { "topk", function(a) return (a:topk(2, 1)) end, { T(3, 4) } },
  -- joining and splitting
  { "cat", function(a, b) return g.cat({ a, b }, 2) end, { R(3, 2), T(3, 4) } },
  { "stack", function(a, b) return g.stack({ a, b }, 2) end, { R(3, 4), R(3, 4) } },
  { "split", function(a) return a:split({ 1, 3 }, 2) end, { T(3, 4) } },
  { "chunk", function(a) return a:chunk(2, 1) end, { R(3, 4) } },
  -- segment ops
  { "segment_sum", function(a) return g.segment_sum(a, SEG, 4) end, { R(5, 3) } },
  { "segment_mean", function(a) return g.segment_mean(a, SEG, 4) end, { T(5, 3) } },
  { "segment_max", function(a) return (g.segment_max(a, SEG, 4)) end, { R(5, 3) } },
  { "segment_min", function(a) return (a:segment_min(SEG)) end, { R(5, 3) } },
  { "segment_softmax", function(a) return g.segment_softmax(a, SEG, 3) end, { R(5, 3) } },
  -- views and copies
  { "view", function(a) return a:view(4, 3) end, { R(3, 4) } },
  { "reshape", function(a) return a:reshape(2, 6) end, { T(3, 4) } },
  { "permute", function(a) return a:permute(3, 1, 2) end, { R(2, 3, 4) } },
  { "transpose", function(a) return a:transpose(1, 3) end, { R(2, 3, 4) } },
  { "t", g.t, { T(3, 4) } },
  { "narrow", function(a) return a:narrow(2, 2, 2) end, { R(3, 4) } },
  { "select", function(a) return a:select(1, -1) end, { T(3, 4) } },
  { "expand", function(a) return a:expand(2, 3, 4) end, { R(3, 1) } },
  { "expand_as", function(a) return a:expand_as(C(3, 4)) end, { R(4) } },
  { "squeeze", function(a) return a:squeeze() end, { R(3, 1, 2) } },
  { "unsqueeze", function(a) return a:unsqueeze(2) end, { T(3, 4) } },
  { "flatten", function(a) return a:flatten(2, 3) end, { R(2, 3, 4) } },
  { "contiguous", function(a) return a:contiguous() end, { T(3, 4) } },
  { "clone", g.clone, { R(3, 4) } },
  -- conversions: through f32, so a coarser step (f32 keeps about 7 digits)
  { "float", function(a) return a:float() end, { R(3) }, { eps = 1e-3, atol = 1e-4 } },
  { "to f32 and back", function(a) return a:to("f32"):to({ dtype = "f64" }) * 2 end, { T(2, 3) },
    { eps = 1e-3, atol = 1e-4 } },
  { "double of f32", function(a) return a:float():double() end, { R(3) }, { eps = 1e-3, atol = 1e-4 } },
  { "type", function(a) return a:type("graphids.FloatTensor") end, { R(3) }, { eps = 1e-3, atol = 1e-4 } },
}

describe("gradcheck of every differentiable function", function()
  for _, case in ipairs(cases) do
    it(case[1], function()
      assert.is_true(gradcheck(case[2], case[3], case[4]))
    end)
  end
end)

describe("gradcheck", function()
  local Wrong = graphids.autograd.Function {
    name = "Wrong",
    forward = function(_, a) return a * 2 end,
    backward = function(_, grad) return grad * 3 end,
  }

  it("names the input, the element and both values on a mismatch", function()
    local x = R(2, 3)
    errors("gradcheck: input 2, element 1 of 6 %(position 1,1%): numeric %-?[%d.]+, analytic %-?[%d.]+",
      gradcheck, function(_, a) return Wrong(a) end, { 7, x })
    local ok, msg = gradcheck(Wrong, { x }, { raise = false })
    assert.is_false(ok)
    assert.matches("gradcheck: input 1, element 1 of 6", msg)
  end)

  it("gives gelu's gradient at 0 and at subnormal inputs, where gelu(x) / x underflows", function()
    local vals = { 0.0, -0.0, 1e-45, -1e-45, 1e-40, -1.2e-38, 1e-30 }
    for _, dt in ipairs({ "f32", "f64" }) do
      local x = graphids.tensor(vals, { dtype = dt, requires_grad = true })
      g.gelu(x):sum():backward()
      for i, v in ipairs(x.grad:totable()) do assert.equal(0.5, v, dt .. " " .. vals[i]) end
    end
  end)

  it("leaves the inputs and their gradients as they were", function()
    local x = R(2, 2)
    local before = x:clone()
    x.grad = graphids.full({ 2, 2 }, 5, { dtype = "f64" })
    assert.is_true(gradcheck(g.exp, { x }))
    assert.is_true(g.equal(before, x))
    assert.are.same({ { 5, 5 }, { 5, 5 } }, x.grad:totable())
  end)

  it("leaves the inputs and their gradients as they were when fn or backward raises", function()
    local x = R(2, 2)
    local before = x:clone()
    x.grad = graphids.full({ 2, 2 }, 5, { dtype = "f64" })
    local function unchanged(what)
      assert.is_true(g.equal(before, x), what)
      assert.are.same({ { 5, 5 }, { 5, 5 } }, x.grad:totable(), what)
    end
    -- fn raises on its n-th call: 1 is the analytic pass, 2 the first perturbed one (x + eps)
    for _, n in ipairs({ 1, 2, 3 }) do
      local calls = 0
      local ok, err = pcall(gradcheck, function(t)
        calls = calls + 1
        if calls == n then error({ call = n }) end
        return g.exp(t)
      end, { x })
      assert.is_false(ok)
      assert.same({ call = n }, err) -- the error as fn raised it
      unchanged("call " .. n)
    end
    -- the backward raises (a hook's error)
    local h = x:register_hook(function() error("boom", 0) end)
    local ok, err = pcall(gradcheck, g.exp, { x })
    h:remove()
    assert.is_false(ok)
    assert.matches("gradient hook: boom", err)
    unchanged("backward")
  end)

  it("refuses f32 inputs, non-leaves, inputs without grad and unknown options", function()
    local x32 = graphids.randn(3, { requires_grad = true })
    errors("gradcheck: input 1 is f32; finite differences need f64 inputs", gradcheck, g.exp, { x32 })
    errors("gradcheck: input 1 is not a leaf %(it comes from MulBackward%)", gradcheck, g.exp, { R(3) * 2 })
    errors("gradcheck: no input requires grad", gradcheck, g.exp, { C(3) })
    errors("gradcheck: unknown option 'tol' %(allowed: atol, eps, raise, rtol%)", gradcheck, g.exp,
      { R(3) }, { tol = 1 })
    errors("gradcheck: no result of fn requires grad", gradcheck, function(a) return a:detach() end, { R(3) })
  end)
end)
