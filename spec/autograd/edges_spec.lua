-- edges_spec.lua -- values and gradients at the edges of an op's domain, as torch 2.15 gives
-- them (found by a differential review against it, 2026-11-27): pow with a zero exponent,
-- clamp at its bounds, atan2 at the origin, a mean cross entropy with every target ignored,
-- NaN through maximum/minimum, amax/amin, max()/min() and a clamp bound, float floor division,
-- and linspace of one step.
local graphids = require "graphids"
local F = require "graphids.nn.functional"

local function grad_of(values, f)
  local x = graphids.tensor(values, { dtype = "f64" }):requires_grad_()
  f(x):sum():backward()
  return x.grad:totable()
end

describe("gradients at the edges", function()
  it("pow with exponent 0 has a zero gradient at a base of 0, not 0 * inf", function()
    assert.same({ 0, 0 }, grad_of({ 0, 2 }, function(x) return x ^ 0 end))
    assert.same({ 0, 0 }, grad_of({ 0, 2 }, function(x) return x ^ graphids.zeros(2, { dtype = "f64" }) end))
    -- elsewhere b a^(b-1) as before
    assert.same({ 0, 4 }, grad_of({ 0, 2 }, function(x) return x ^ 2 end))
  end)

  it("clamp passes the gradient strictly inside its bounds", function()
    assert.same({ 0, 1, 0 }, grad_of({ 0, 0.5, 1 }, function(x) return x:clamp(0, 1) end))
    assert.same({ 0, 1, 1 }, grad_of({ 0, 0.5, 1 }, function(x) return x:clamp(0, nil) end))
    assert.same({ 1, 1, 0 }, grad_of({ 0, 0.5, 1 }, function(x) return x:clamp(nil, 1) end))
  end)

  it("maximum and minimum give the gradient to both operands where either is NaN", function()
    local nan = 0 / 0
    for _, op in ipairs({ "maximum", "minimum" }) do
      local a = graphids.tensor({ 1, nan, 3, 2 }, { dtype = "f64" }):requires_grad_()
      local b = graphids.tensor({ 2, 2, nan, 2 }, { dtype = "f64" }):requires_grad_()
      graphids[op](a, b):sum():backward()
      local win = op == "maximum" and { 0, 1, 1, 0.5 } or { 1, 1, 1, 0.5 }
      local other = op == "maximum" and { 1, 1, 1, 0.5 } or { 0, 1, 1, 0.5 }
      assert.same(win, a.grad:totable(), op)
      assert.same(other, b.grad:totable(), op)
      -- the loser's zero is +0, as torch's
      local lost = op == "maximum" and a.grad:totable()[1] or b.grad:totable()[1]
      assert.equal(math.huge, 1 / lost, op)
    end
  end)

  it("amax and amin make the gradient of a slice whose extreme is NaN NaN, and share ties", function()
    local nan = 0 / 0
    for _, op in ipairs({ "amax", "amin" }) do
      local x = graphids.tensor({ { 1, nan, 3 }, { 5, 1, 5 } }, { dtype = "f64" }):requires_grad_()
      x[op](x, 2):sum():backward()
      local g = x.grad:totable()
      for j = 1, 3 do assert.is_true(g[1][j] ~= g[1][j], op) end
      assert.same(op == "amax" and { 0.5, 0, 0.5 } or { 0, 1, 0 }, g[2], op)
    end
  end)

  it("max() and min() of every element share the gradient among the NaNs when the result is one",
    function()
      local nan = 0 / 0
      for _, op in ipairs({ "max", "min" }) do
        local x = graphids.tensor({ 1, nan, 3, nan }, { dtype = "f64" }):requires_grad_()
        x[op](x):backward()
        assert.same({ 0, 0.5, 0, 0.5 }, x.grad:totable(), op)
        local y = graphids.tensor({ { 3, 1 }, { 3, 2 } }, { dtype = "f64" }):requires_grad_()
        y[op](y):backward()
        assert.same(op == "max" and { { 0.5, 0 }, { 0.5, 0 } } or { { 0, 1 }, { 0, 0 } },
          y.grad:totable(), op)
      end
    end)

  it("a NaN clamp bound makes every element NaN with zero gradients, as torch", function()
    local nan = 0 / 0
    for _, bounds in ipairs({ { nan, nil }, { nil, nan }, { 0, nan }, { nan, 1 } }) do
      local x = graphids.tensor({ 0.25, 0.5, 2 }, { dtype = "f64" }):requires_grad_()
      local y = x:clamp(bounds[1], bounds[2])
      for _, v in ipairs(y:totable()) do assert.is_true(v ~= v) end
      y:sum():backward()
      assert.same({ 0, 0, 0 }, x.grad:totable())
    end
    -- an integer tensor with a NaN bound becomes float (the bound's type), as torch
    local i = graphids.tensor({ 1, 2 }):clamp(nan)
    assert.equal("f32", i.dtype)
    assert.is_true(i:totable()[1] ~= i:totable()[1])
  end)

  it("atan2 at the origin has gradients 0 and -0, not 0 / 0", function()
    local a = graphids.tensor({ 0.0, 1.0 }, { dtype = "f64" }):requires_grad_()
    local b = graphids.tensor({ 0.0, 1.0 }, { dtype = "f64" }):requires_grad_()
    graphids.atan2(a, b):sum():backward()
    assert.same({ 0, 0.5 }, a.grad:totable())
    assert.same({ 0, -0.5 }, b.grad:totable())
    assert.equal(-math.huge, 1 / b.grad:totable()[1]) -- -0
  end)

  it("atan2 with an integer operand: its square in the result's float dtype, no wrap", function()
    -- exact: -a / (a^2 + 1); torch squares a u8 20 in u8 (400 wraps to 144)
    local b = graphids.tensor({ 1.0, 1.0 }, { dtype = "f64" }):requires_grad_()
    graphids.atan2(graphids.tensor({ 20, 200 }, { dtype = "u8" }), b):sum():backward()
    assert.same({ -20 / 401, -200 / 40001 }, b.grad:totable())
    b = graphids.tensor({ 1.0 }, { dtype = "f64" }):requires_grad_()
    graphids.atan2(graphids.tensor({ 50000 }, { dtype = "i32" }), b):sum():backward()
    assert.same({ -50000 / (50000 * 50000 + 1) }, b.grad:totable())
  end)

  it("pow's exponent gradient takes log of the base in the result's dtype", function()
    -- torch: -0.10835755742454006 (log of an f32 0.3 in f64), and 9 log 3 for an i32 base
    local e = graphids.tensor({ 2.0 }, { dtype = "f64" }):requires_grad_()
    graphids.pow(graphids.tensor({ 0.3 }), e):sum():backward()
    assert.equal(-0.10835755742454006, e.grad:item())
    e = graphids.tensor({ 2.0 }, { dtype = "f64" }):requires_grad_()
    graphids.pow(graphids.tensor({ 3 }, { dtype = "i32" }), e):sum():backward()
    assert.equal(9 * math.log(3), e.grad:item())
  end)

  it("a mean cross entropy with every target ignored is NaN with zero gradients", function()
    local x = graphids.randn(3, 4):requires_grad_()
    local loss = F.cross_entropy(x, graphids.full({ 3 }, -100))
    assert.is_true(loss:item() ~= loss:item())
    loss:backward()
    assert.equal(0, x.grad:abs():sum():item())
    -- with some targets kept the mean is the sum over them by their count, as before
    local y = graphids.randn(3, 4)
    local t = graphids.tensor({ 1, -100, 2 })
    assert.equal(F.cross_entropy(y, t, { reduction = "sum" }):item() / 2, F.cross_entropy(y, t):item())
  end)
end)

describe("values at the edges", function()
  it("floor-divides floats as Python and torch: from fmod, so a == b (a // b) + a % b", function()
    local a = graphids.tensor({ 1.0, 7.0, -7.0, 7.5, -0.5, -3.5, 1 / 0 }, { dtype = "f64" })
    local b = graphids.tensor({ 0.1, 2.0, 2.0, -2.0, 3.0, 1 / 0, 2.0 }, { dtype = "f64" })
    local q = (a // b):totable()
    assert.same({ 9, 3, -4, -4, -1, -1 }, { q[1], q[2], q[3], q[4], q[5], q[6] })
    assert.is_true(q[7] ~= q[7]) -- inf // 2 is NaN
    local r = a:remainder(b):totable()
    local av, bv = a:totable(), b:totable()
    for i = 1, 5 do assert.near(av[i], bv[i] * q[i] + r[i], 1e-12) end
  end)

  it("linspace of one step is the start", function()
    assert.same({ 0 }, graphids.linspace(0, 1, 1):totable())
    assert.same({ 0, 0.5, 1 }, graphids.linspace(0, 1, 3):totable())
  end)
end)
