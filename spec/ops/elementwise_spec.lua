-- elementwise_spec.lua -- arithmetic, comparisons, logical ops, math functions, activations,
-- clamp, where, equal/allclose, in-place forms and the Tensor metamethods: values against hand
-- computation, broadcasting, strided inputs, scalar-first forms, dtypes and error messages.
local graphids = require "graphids"
local helpers = require "helpers"
local errors, near = helpers.errors, helpers.near

local nan, inf = 0 / 0, math.huge

local sweep = require "ops.alpha_sweep"
local ALPHA_X, ALPHA_Y, ALPHA_SWEEP = sweep.x, sweep.y, sweep.cases

describe("binary arithmetic", function()
  it("broadcasts a column against a row", function()
    local col = graphids.tensor({ { 10 }, { 20 }, { 30 } })
    local row = graphids.tensor({ 1, 2, 3, 4 })
    local s = graphids.add(col, row)
    assert.are.same({ 3, 4 }, s.shape)
    assert.are.same({ { 11, 12, 13, 14 }, { 21, 22, 23, 24 }, { 31, 32, 33, 34 } }, s:totable())
    assert.are.same(s:totable(), (row + col):totable())
    assert.are.same({ { -9, -8, -7, -6 }, { -19, -18, -17, -16 }, { -29, -28, -27, -26 } },
      row:sub(col):totable())
  end)

  it("reads transposed, narrowed and expanded inputs", function()
    local a = graphids.arange(12):view(3, 4):double()
    local t = a:t()
    near((t + t * 10):totable(), { { 0, 44, 88 }, { 11, 55, 99 }, { 22, 66, 110 }, { 33, 77, 121 } })
    local n = a:narrow(2, 2, 2) -- columns 2..3 (1-based)
    local e = graphids.tensor({ { 2, -1 } }, { dtype = "f64" }):expand(3, 2)
    near((n * e):totable(), { { 2, -2 }, { 10, -6 }, { 18, -10 } })
    near(graphids.mul(n, e):totable(), (n * e):totable())
  end)

  it("takes numbers on either side, with the number first reversed", function()
    local t = graphids.tensor({ 1, 2, 4 })
    assert.are.same({ 1, 0, -2 }, (2 - t):totable())
    assert.are.same({ -1, 0, 2 }, (t - 2):totable())
    near((2 / t):totable(), { 2, 1, 0.5 })
    assert.are.same({ 2, 4, 16 }, (2 ^ t):totable())
    assert.are.same({ 1, 4, 16 }, (t ^ 2):totable())
    assert.are.same({ 3, 4, 6 }, graphids.add(2, t):totable())
    assert.are.same({ 1, 0, -2 }, graphids.sub(2, t):totable())
    assert.are.same({ 0, 0, 1 }, (t // 3):totable())
    assert.are.same({ 1, 2, 1 }, (t % 3):totable())
    errors("add: at least one operand must be a tensor, got a number and a number", graphids.add, 1, 2)
    errors("mul: argument #2 must be a tensor, a number or a boolean, got string", graphids.mul, t, "x")
  end)

  it("promotes dtypes as torch", function()
    local i = graphids.tensor({ 3, -4 })
    local f = graphids.tensor({ 0.5, 1.5 })
    assert.are.equal("f32", (i + f).dtype)
    near((i + f):totable(), { 3.5, -2.5 })
    assert.are.equal("f32", (i / i).dtype) -- integer division is true division
    assert.are.equal("f32", (i + 0.5).dtype)
    assert.are.equal("i64", (i * 2).dtype)
    assert.are.equal("f64", (f:double() + f).dtype)
    local i32 = graphids.tensor({ 7, 8 }, { dtype = "i32" })
    assert.are.equal("i32", (i32 + graphids.tensor(5)).dtype) -- 0-d of the same category
    assert.are.equal("f64", (i32 + graphids.tensor(0.5, { dtype = "f64" })).dtype)
    assert.are.equal("i64", (graphids.tensor({ true, false }) + 1).dtype)
    assert.are.equal("bool", (graphids.tensor({ true, false }) + graphids.tensor({ true, true })).dtype)
  end)

  -- torch 2.15: torch.result_type(L([1]), L([1.])) float32, (L(1., dtype=f64), L([1])) float64,
  -- (L(1., dtype=f64), L([1.])) float32, (L([1], dtype=u8), 300) uint8, (u8, 2.5) float32,
  -- (True, L([True])) bool, (L([True]), 3) int64, (2, L([1], dtype=i32)) int32
  it("names the dtype two operands promote to, as torch.result_type", function()
    local u8, i32 = graphids.tensor({ 1 }, { dtype = "u8" }), graphids.tensor({ 1 }, { dtype = "i32" })
    local f64_0d = graphids.tensor(1.0, { dtype = "f64" })
    local cases = {
      { "f32", graphids.tensor({ 1 }), graphids.tensor({ 1.0 }) },
      { "f64", f64_0d, graphids.tensor({ 1 }) },
      { "f32", f64_0d, graphids.tensor({ 1.0 }) },
      { "u8", u8, 300 }, { "f32", u8, 2.5 }, { "bool", true, graphids.tensor({ true }) },
      { "i64", graphids.tensor({ true }), 3 }, { "i32", 2, i32 }, { "i64", i32, graphids.tensor({ 1 }) },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[1], graphids.result_type(c[2], c[3]))
      -- the dtype add computes in
      assert.are.equal(c[1], graphids.add(c[2], c[3]).dtype)
    end
    assert.are.equal("i64", i32:result_type(graphids.tensor({ 2 })))
    errors("result_type: at least one operand must be a tensor, got a number and a number",
      graphids.result_type, 1, 2.5)
    errors("result_type: argument #2 must be a tensor, a number or a boolean, got string",
      graphids.result_type, u8, "x")
  end)

  -- A Lua boolean is a Python bool: the lowest dtype, where the integer 1 would promote to i64.
  it("takes booleans as bool scalars, as torch takes True and False", function()
    local b = graphids.tensor({ true, false })
    local r = b + true
    assert.are.equal("bool", r.dtype)
    assert.are.same({ true, true }, r:totable())
    assert.are.same({ false, true }, b:eq(false):totable())
    assert.are.same({ true, false }, b:logical_and(true):totable())
    assert.are.same({ true, false }, graphids.mul(true, b):totable())
    local f = graphids.ones(2) * true
    assert.are.equal("f32", f.dtype)
    assert.are.same({ 1, 1 }, f:totable())
    assert.are.equal("f32", (true * graphids.ones(2)).dtype)
    assert.are.same({ 0, 0 }, (graphids.ones(2) * false):totable())
    local i = graphids.tensor({ 1, 2 }) + true
    assert.are.equal("i64", i.dtype)
    assert.are.same({ 2, 3 }, i:totable())
    -- torch refuses a bool operand of sub, one or two (torch.tensor([1]) - True raises)
    errors("sub: subtraction with a bool operand %(argument #2%) is not supported",
      function() return graphids.tensor({ 1, 2 }, { dtype = "i32" }) - true end)
    assert.are.equal("u8", (graphids.tensor({ 1, 2 }, { dtype = "u8" }) + false).dtype)
    local w = graphids.where(b, true, false)
    assert.are.equal("bool", w.dtype)
    assert.are.same({ true, false }, w:totable())
    assert.are.equal("f32", graphids.where(b, graphids.ones(2), false).dtype)
    local t = graphids.ones(2)
    assert.are.equal(t, t:mul_(false))
    assert.are.same({ 0, 0 }, t:totable())
    assert.are.equal("f32", t.dtype)
    errors("sub: subtraction of two bool tensors is not supported", function() return b - true end)
    errors("add: at least one operand must be a tensor, got a boolean and a boolean", graphids.add,
      true, false)
  end)

  it("keeps integer results exact and wraps on overflow", function()
    local big = (1 << 62)
    assert.are.same({ big + 1, big + 2 }, (graphids.tensor({ 1, 2 }) + big):totable())
    local m = graphids.tensor({ math.maxinteger })
    assert.are.same({ math.mininteger }, (m + 1):totable())
    assert.are.same({ 4, 13 }, (graphids.tensor({ 250, 3 }, { dtype = "u8" }) + 10):totable())
  end)

  it("keeps an f32 tensor's exponent exact where f32 cannot hold it, as torch", function()
    -- 2^24 + 1 and 2^31 - 1 are odd, and round to even exponents in f32
    local t = graphids.tensor({ -1.0, -2.0 })
    assert.are.same({ -1.0, -math.huge }, (t ^ 16777217):totable())
    assert.are.same({ -1.0, -math.huge }, t:pow(2147483647):totable())
    assert.are.same({ -math.huge }, (graphids.tensor({ -1.5 }) ^ (2 ^ 24 + 1.0)):totable())
    assert.equal("f32", (t ^ 16777217).dtype)
    local u = graphids.tensor({ -1.0, 2.0 })
    u:pow_(16777217)
    assert.are.same({ -1.0, math.huge }, u:totable())
    -- an integer tensor to a float exponent computes in f32 too
    local i32 = graphids.tensor({ -1, 3 }, { dtype = "i32" })
    assert.are.same({ -1.0, math.huge }, i32:pow(16777217.0):totable())
    -- and the gradient e a^(e-1) keeps e - 1 even (torch: 16777216, 123967776, inf)
    local x = graphids.tensor({ -1.0, 1.0000001, -1.5 }, { requires_grad = true })
    x:pow(16777217):sum():backward()
    assert.are.same({ 16777216.0, 123967776.0, math.huge }, x.grad:totable())
  end)

  -- torch 2.x: a number converts to the dtype the op computes in; only there does it wrap
  it("divides an integer tensor by a number it does not fit, as torch", function()
    local u = graphids.tensor({ 128, 255 }, { dtype = "u8" })
    assert.are.same({ 0.5, 255 / 256 }, (u / 256):totable())
    assert.are.same({ -64, -127.5 }, graphids.div(u, -2):totable())
    assert.are.same({ -0.75 }, graphids.div(-3, graphids.tensor({ 4 }, { dtype = "u8" })):totable())
    near((graphids.tensor({ 1000 }, { dtype = "i32" }) / 4294967296):totable(), { 2.3283064e-07 }, 1e-6)
    near(graphids.atan2(-3, graphids.tensor({ 4 }, { dtype = "u8" })):totable(), { -0.6435011 }, 1e-6)
    near(graphids.atan2(graphids.tensor({ 4 }, { dtype = "u8" }), -3):totable(), { 2.2142975 }, 1e-6)
    -- ops that compute in u8 see the number wrapped, as torch's (300 is 44, -2 is 254)
    assert.are.same({ 172, 43 }, (u + 300):totable())
    assert.are.same({ false, false }, u:lt(300):totable())
    assert.are.same({ 128, 1 }, graphids.fmod(u, -2):totable())
    -- an exponent that does not fit is refused, and a divisor that wraps to 0 says so
    errors("pow: the exponent 256 does not fit the tensor's dtype u8", function() return u ^ 256 end)
    errors("the divisor 256 wraps to 0 in the tensor's dtype u8", graphids.div, u, 256,
      { rounding_mode = "floor" })
    errors("remainder: integer division by zero: the divisor 512 wraps to 0", graphids.remainder, u, 512)
    -- a bool tensor (computed in i64) to a negative integer power is refused as an integer's, as torch
    errors("pow: an integer tensor %(bool%) to a negative integer power %(%-2%)", graphids.pow,
      graphids.tensor({ true, false }), -2)
  end)

  it("supports alpha in add and sub", function()
    local a = graphids.tensor({ 1, 2 })
    local b = graphids.tensor({ 10, 20 })
    assert.are.same({ 21, 42 }, graphids.add(a, b, { alpha = 2 }):totable())
    assert.are.same({ -19, -38 }, a:sub(b, { alpha = 2 }):totable())
    assert.are.same({ 7, 8 }, a:add(3, { alpha = 2 }):totable())
    near(a:float():add(b, { alpha = 0.5 }):totable(), { 6, 12 })
    near(a:add(2.5, { alpha = 2 }):totable(), { 6, 7 })
    -- as torch: a float alpha needs a float result (torch.add(tensor([1, 2]), tensor([1, 1]),
    -- alpha=0.5) raises), and two bool operands give bool with alpha counted as a bool
    -- (torch.add(tensor([True]), tensor([True]), alpha=2) is tensor([True]))
    local float_alpha = "option 'alpha' is a float %(0.5%), which an integer or bool result cannot take"
    errors("add: " .. float_alpha, graphids.add, a, graphids.tensor({ 1, 1 }), { alpha = 0.5 })
    errors("add: " .. float_alpha, graphids.add, a, 2, { alpha = 0.5 })
    errors("add: " .. float_alpha, graphids.add, 2, a, { alpha = 0.5 })
    errors("sub_: " .. float_alpha, a.sub_, a, b, { alpha = 0.5 })
    local t, f = graphids.tensor({ true, false }), graphids.tensor({ true, true })
    for _, case in ipairs({ { 2, { true, true } }, { -1, { true, true } }, { 0, { true, false } } }) do
      local r = graphids.add(t, f, { alpha = case[1] })
      assert.are.equal("bool", r.dtype)
      assert.are.same(case[2], r:totable())
    end
    assert.are.same({ false, false }, graphids.add(false, f, { alpha = 0 }):totable())
    assert.are.same({ true, true }, t:clone():add_(true, { alpha = 3 }):totable())
    errors("add: " .. float_alpha, graphids.add, t, f, { alpha = 0.5 })
    local mixed = graphids.add(t, graphids.tensor({ 1, 1 }), { alpha = 2 }) -- i64: 1 + 2 * 1
    assert.are.equal("i64", mixed.dtype)
    assert.are.same({ 3, 2 }, mixed:totable())
    -- sub refuses a bool operand before alpha could turn it into an integer
    errors("sub: subtraction with a bool operand %(argument #2%)", graphids.sub, 1, t)
    errors("sub: subtraction with a bool operand %(argument #1%)", graphids.sub, t, 1)
    errors("sub: subtraction with a bool operand %(argument #1%)", graphids.sub, t, a, { alpha = 2 })
    errors("sub: subtraction with a bool operand", function() return 1 - t end)
    errors("sub_: subtraction with a bool operand", a.sub_, a:clone(), t)
    errors("add: unknown option 'alpah' %(did you mean 'alpha'%?%)", graphids.add, a, b, { alpah = 2 })
  end)

  it("refuses an integer alpha the integer result cannot hold, as torch (u8: -255..255)", function()
    local u = graphids.tensor({ 1, 2 }, { dtype = "u8" })
    assert.are.same({ 2, 4 }, graphids.add(u, u, { alpha = -255 }):totable()) -- torch: [2, 4]
    assert.are.same({ 0, 0 }, graphids.add(u, u, { alpha = 255 }):totable())
    local u8_range = "option 'alpha' %((%-?%d+)%) does not fit in the result's dtype u8 %(valid: %-255..255%)"
    errors("add: " .. u8_range, graphids.add, u, u, { alpha = 256 })
    errors("sub: " .. u8_range, graphids.sub, u, u, { alpha = -256 })
    errors("add_: " .. u8_range, u.add_, u:clone(), u, { alpha = 300 })
    errors("add: " .. u8_range, graphids.add, u, 3, { alpha = 256 }) -- a scalar y, as torch
    errors("add: " .. u8_range, graphids.add, 5, u, { alpha = 256 })
    local i = graphids.tensor({ 1 }, { dtype = "i32" })
    errors("add: option 'alpha' %(2147483648%) does not fit in the result's dtype i32", graphids.add, i, i,
      { alpha = 1 << 31 })
    assert.are.same({ -(1 << 31) }, graphids.add(i, i, { alpha = (1 << 31) - 1 }):totable())
    -- a 0-d operand does not widen a dimensioned one of its kind (torch's result type), so the
    -- result is u8 and alpha must fit it (torch refuses each of these)
    local i64_0d, i32_0d = graphids.tensor(3), graphids.tensor(1, { dtype = "i32" })
    errors("add: " .. u8_range, graphids.add, u, i64_0d, { alpha = 256 })
    errors("add: " .. u8_range, graphids.add, u, i32_0d, { alpha = 300 })
    errors("sub: " .. u8_range, graphids.sub, u, i64_0d, { alpha = 300 })
    errors("add_: " .. u8_range, u.add_, u:clone(), i32_0d, { alpha = 300 })
    errors("add: option 'alpha' %(2147483648%) does not fit in the result's dtype i32", graphids.add, i,
      i64_0d, { alpha = 1 << 31 })
    -- and alpha does not change the result's dtype: torch.add(tensor(3), u8 [1, 2], alpha=2) is u8 [5, 7]
    local r = graphids.add(i64_0d, u, { alpha = 2 })
    assert.are.equal("u8", r.dtype)
    assert.are.same({ 5, 7 }, r:totable())
    -- a float alpha past f32's range for an f32 result, as torch's "cannot be converted to type
    -- float"; an infinite one passes, and an f64 result takes it
    local f = graphids.tensor({ 1.0 })
    local f32_range = "option 'alpha' %(%-?1e%+40%) does not fit in the result's dtype f32"
    errors("add: " .. f32_range, graphids.add, f, f, { alpha = 1e40 })
    errors("sub_: " .. f32_range, f.sub_, f:clone(), f, { alpha = -1e40 })
    errors("add: option 'alpha' %(1e%+39%) does not fit", graphids.add, u, 2.5, { alpha = 1e39 })
    assert.same({ math.huge }, graphids.add(f, f, { alpha = math.huge }):totable())
    assert.same({ 1 + 1e40 }, graphids.add(f:double(), f, { alpha = 1e40 }):totable())
    -- the result's dtype decides: a u8 y beside an i64 or f32 x takes any alpha
    assert.are.same({ 1 + 256 * 2 }, graphids.add(graphids.tensor({ 1 }), u:narrow(1, 2, 1),
      { alpha = 256 }):totable())
    assert.are.same({ 1 + 256 * 2 }, graphids.add(graphids.tensor({ 1.0 }), u:narrow(1, 2, 1),
      { alpha = 256 }):totable())
  end)

  it("scales y by alpha in the result's dtype, not y's, over every dtype pair (as torch)", function()
    for _, c in ipairs(ALPHA_SWEEP) do
      local op, xd, yd, alpha = c[1], c[2], c[3], c[4]
      local x = graphids.tensor({ ALPHA_X[xd] }, { dtype = xd })
      local y = graphids.tensor({ ALPHA_Y[yd] }, { dtype = yd })
      local what = string.format("%s(%s, %s, alpha %s)", op, xd, yd, alpha)
      local ok, r = pcall(graphids[op], x, y, { alpha = alpha })
      if c[5] == false then
        assert(not ok, what .. " should be refused, as torch")
      else
        assert(ok, what .. ": " .. tostring(r))
        assert.are.equal(c[5], r.dtype, what)
        assert.are.equal(c[6], r:totable()[1], what)
      end
    end
    -- the reviewer's cases, by hand
    local u8 = { dtype = "u8" }
    assert.are.same({ 400 }, graphids.add(graphids.tensor({ 0.0 }), graphids.tensor({ 200 }, u8),
      { alpha = 2 }):totable())
    assert.are.same({ 9 }, graphids.add(graphids.tensor({ 10 }), graphids.tensor({ 1 }, u8),
      { alpha = -1 }):totable())
    local r = graphids.add(graphids.tensor({ 1 }, { dtype = "i32" }), graphids.tensor({ true }),
      { alpha = 2 })
    assert.are.equal("i32", r.dtype)
    assert.are.same({ 3 }, r:totable())
    assert.are.same({ 25165825.5 }, graphids.add(graphids.tensor({ 0.0 }, { dtype = "f64" }),
      graphids.tensor({ 16777217 }), { alpha = 1.5 }):totable())
    -- a scalar x, the in-place forms and the gradient
    assert.are.same({ 402.5 }, graphids.add(2.5, graphids.tensor({ 200 }, u8), { alpha = 2 }):totable())
    local i32 = graphids.tensor({ 1 << 30 }, { dtype = "i32" })
    assert.are.same({ 1 - (1 << 32) }, graphids.tensor({ 1 }):sub_(i32, { alpha = 4 }):totable())
    assert.are.same({ 4.5 }, graphids.tensor({ 0.5 }):add_(graphids.tensor({ 2 }, u8), { alpha = 2 })
      :totable())
    local w = graphids.tensor({ 1.0, 2.0 }):requires_grad_()
    graphids.add(graphids.tensor({ 0.5, 0.5 }, { dtype = "f64" }), w, { alpha = 3 }):sum():backward()
    assert.are.equal("f32", w.grad.dtype)
    assert.are.same({ 3, 3 }, w.grad:totable())
  end)

  it("computes pow, maximum, minimum, fmod, remainder and atan2", function()
    local a = graphids.tensor({ 5.5, -5.5, nan, 1 })
    local b = graphids.tensor({ 2, 2, 1, nan })
    near(a:fmod(b):totable(), { 1.5, -1.5, nan, nan })
    near(a:remainder(b):totable(), { 1.5, 0.5, nan, nan })
    near(graphids.maximum(a, b):totable(), { 5.5, 2, nan, nan })
    near(graphids.minimum(a, b):totable(), { 2, -5.5, nan, nan })
    near(graphids.atan2(graphids.tensor({ 1.0 }), graphids.tensor({ -1.0 })):totable(),
      { 3 * math.pi / 4 }, 1e-6)
    near(graphids.pow(graphids.tensor({ 2.0, 4.0 }), 0.5):totable(), { math.sqrt(2), 2 }, 1e-6)
    local i = graphids.tensor({ 7, -7 })
    assert.are.same({ 1, -1 }, i:fmod(2):totable())
    assert.are.same({ 1, 1 }, i:remainder(2):totable())
    assert.are.same({ -1, -1 }, i:remainder(-2):totable())
    errors("remainder: integer division by zero", function() return i % 0 end)
    errors("floor_divide: integer division by zero", function() return i // 0 end)
    assert.are.same({ 3, -4 }, (i // 2):totable())
    assert.are.equal("i64", (i // 2).dtype)
    near((graphids.tensor({ 7.5, -7.5 }) // 2):totable(), { 3, -4 })
  end)

  -- torch computes a number exponent of 0.5 as sqrt and -0.5 as rsqrt, a tensor exponent with
  -- the C pow; they differ at -inf and -0 (torch 2.x, f32 and f64):
  --   x = [-inf, -0.0, 0.0, -1, 4, inf]; x.pow(0.5) = [nan, -0., 0., nan, 2, inf];
  --   x.pow(-0.5) = [nan, -inf, inf, nan, 0.5, 0]; x.pow(tensor(0.5)) = [inf, 0., 0., nan, 2, inf]
  --   gradient of x.pow(0.5).sum() at [-inf, -0.0, 4] = [nan, -inf, 0.25]
  it("computes pow with the number exponents 0.5 and -0.5 as sqrt and rsqrt, as torch", function()
    local function same(want, got)
      assert.are.equal(#want, #got)
      for k = 1, #want do
        local w, v = want[k], got[k]
        if w ~= w then
          assert(v ~= v, "element " .. k .. ": " .. v .. ", expected nan")
        else
          assert.are.equal(w, v)
          assert.are.equal(1 / w, 1 / v) -- (the sign of a zero)
        end
      end
    end
    for _, dtype in ipairs({ "f32", "f64" }) do
      local x = graphids.tensor({ -inf, -0.0, 0.0, -1, 4, inf }, { dtype = dtype })
      same({ nan, -0.0, 0.0, nan, 2, inf }, x:pow(0.5):totable())
      same({ nan, -0.0, 0.0, nan, 2, inf }, (x ^ 0.5):totable())
      same({ nan, -0.0, 0.0, nan, 2, inf }, x:clone():pow_(0.5):totable())
      same({ nan, -inf, inf, nan, 0.5, 0.0 }, x:pow(-0.5):totable())
      same({ inf, 0.0, 0.0, nan, 2, inf }, x:pow(graphids.tensor(0.5, { dtype = dtype })):totable())
    end
    local i = graphids.tensor({ 4, 0 }):pow(-0.5)
    assert.are.equal("f32", i.dtype)
    same({ 0.5, inf }, i:totable())
    local x = graphids.tensor({ -inf, -0.0, 4 }, { requires_grad = true })
    x:pow(0.5):sum():backward()
    same({ nan, -inf, 0.25 }, x.grad:totable())
  end)

  it("rejects shapes that do not broadcast and bool subtraction", function()
    errors("add: shapes %[2,3%] and %[4%] do not broadcast", function()
      return graphids.zeros(2, 3) + graphids.zeros(4)
    end)
    errors("sub: subtraction of two bool tensors is not supported; use logical_xor", function()
      local b = graphids.tensor({ true })
      return b - b
    end)
    errors("attempt to use a freed tensor", function()
      local t = graphids.zeros(2)
      t:free()
      return t + 1
    end)
  end)

  it("divides with torch's rounding modes, integers staying integers", function()
    -- torch.div(a, b, rounding_mode=...) with a = [7., -7, 5, 1], b = [2., 2, -3, 0.1] (f32), and
    -- i = [7, -7, 5, -5] (i64): floor [3, -4, -2, 9], trunc [3, -3, -1, 10];
    -- div(i, [2, 2, -3, -3], trunc) [3, -3, -1, 1]; div(i, 2, floor) [3, -4, 2, -3] (i64);
    -- div(i, 2.5, floor) [2., -3, 2, -2]; div(7, L([2, -2]), trunc) [3, -3] (i64)
    local a, b = graphids.tensor({ 7.0, -7.0, 5.0, 1.0 }), graphids.tensor({ 2.0, 2.0, -3.0, 0.1 })
    local i = graphids.tensor({ 7, -7, 5, -5 })
    local function same(want, dtype, got)
      assert.equal(dtype, got.dtype)
      assert.same(want, got:totable())
    end
    same({ 3, -4, -2, 9 }, "f32", a:div(b, { rounding_mode = "floor" }))
    same({ 3, -3, -1, 10 }, "f32", graphids.div(a, b, { rounding_mode = "trunc" }))
    same({ 3, -3, -1, 1 }, "i64", i:div(graphids.tensor({ 2, 2, -3, -3 }), { rounding_mode = "trunc" }))
    same({ 3, -4, 2, -3 }, "i64", i:div(2, { rounding_mode = "floor" }))
    same({ 2, -3, 2, -2 }, "f32", i:div(2.5, { rounding_mode = "floor" }))
    same({ 3, -3 }, "i64", graphids.div(7, graphids.tensor({ 2, -2 }), { rounding_mode = "trunc" }))
    -- without the option: the core's true division, gradient and all
    local x = graphids.tensor({ 3.0 }, { requires_grad = true })
    x:div(2):sum():backward()
    assert.same({ 0.5 }, x.grad:totable())
    assert.equal("f32", i:div(2).dtype)
    errors("div: rounding_mode must be 'trunc' or 'floor', got 'round'", a.div, a, b,
      { rounding_mode = "round" })
    errors("div: integer division by zero", i.div, i, 0, { rounding_mode = "trunc" })
    errors("div: integer division by zero", i.div, i, 0, { rounding_mode = "floor" })
    -- an integer number keeps a narrow integer tensor's dtype, as the core ops do (torch: [0])
    same({ 0 }, "u8", graphids.tensor({ 7 }, { dtype = "u8" }):div(-2, { rounding_mode = "floor" }))
    -- a float trunc passes zeros back, as torch's
    local z = graphids.tensor({ 7.5, -7.5 }, { requires_grad = true })
    z:div(2, { rounding_mode = "trunc" }):sum():backward()
    assert.same({ 0, 0 }, z.grad:totable())
    -- in place: div_ takes the rounding modes too, into x's dtype
    local ii = graphids.tensor({ 7, -7, 5, -5 })
    assert.equal(ii, ii:div_(graphids.tensor({ 2, 2, -3, -3 }), { rounding_mode = "trunc" }))
    same({ 3, -3, -1, 1 }, "i64", ii)
    same({ 3, -4 }, "i64", graphids.tensor({ 7, -7 }):div_(2, { rounding_mode = "floor" }))
    same({ 3, -3 }, "f32", graphids.tensor({ 7.5, -7.5 }):div_(2, { rounding_mode = "trunc" }))
    errors("^div_: result dtype f32 cannot be written into an output of dtype i64",
      function() graphids.tensor({ 7 }):div_(2) end)
    errors("div_: integer division by zero",
      function() graphids.tensor({ 7 }):div_(0, { rounding_mode = "trunc" }) end)
    -- refusals point at the caller's line
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() return a:div(graphids.ones(3)) end)
    assert.is_false(ok)
    assert.matches("^spec/ops/elementwise_spec%.lua:" .. line .. ": div: shapes", err)
    errors("div: unknown option 'rounding' %(did you mean 'rounding_mode'%?%)", a.div, a, b,
      { rounding = "floor" })
    assert.is_true(graphids.equal(a / b, a:div(b, {}))) -- an empty options table: true division
  end)
end)

describe("comparisons and logical ops", function()
  local a = graphids.tensor({ 1, 2, nan, 0 })
  local b = graphids.tensor({ 1, 3, nan, -1 })

  it("give bool tensors, NaN comparing false", function()
    local cases = {
      eq = { true, false, false, false },
      ne = { false, true, true, true },
      lt = { false, true, false, false },
      le = { true, true, false, false },
      gt = { false, false, false, true },
      ge = { true, false, false, true },
      logical_and = { true, true, true, false },
      logical_or = { true, true, true, true },
      logical_xor = { false, false, false, true },
    }
    for name, want in pairs(cases) do
      local r = graphids[name](a, b)
      assert.are.equal("bool", r.dtype, name)
      assert.are.same(want, r:totable(), name)
      assert.are.same(want, a[name](a, b):totable(), name)
    end
    assert.are.same({ true, true, true, false }, graphids.logical_not(a:eq(0)):totable())
  end)

  it("compare integer tensors with float numbers in float and accept the number first", function()
    local i = graphids.tensor({ 1, 2, 3 })
    assert.are.same({ true, true, false }, i:lt(2.5):totable())
    assert.are.same({ false, false, true }, graphids.lt(2.5, i):totable())
    assert.are.same({ false, true, false }, i:eq(2):totable())
  end)
end)

describe("unary math", function()
  local x = graphids.tensor({ -2.5, -0.5, 0, 0.75, 3 })
  local xs = x:totable()

  it("matches math.* for each function", function()
    local fns = {
      exp = math.exp, sin = math.sin, cos = math.cos, tan = math.tan, floor = math.floor,
      ceil = math.ceil, abs = math.abs,
      tanh = function(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end,
      expm1 = function(v) return math.exp(v) - 1 end,
      trunc = function(v) return v >= 0 and math.floor(v) or math.ceil(v) end,
      neg = function(v) return -v end,
      square = function(v) return v * v end,
      sign = function(v) return v > 0 and 1 or (v < 0 and -1 or 0) end,
      sigmoid = function(v) return 1 / (1 + math.exp(-v)) end,
      relu = function(v) return v > 0 and v or 0 end,
      silu = function(v) return v / (1 + math.exp(-v)) end,
    }
    for name, f in pairs(fns) do
      local want = {}
      for i, v in ipairs(xs) do want[i] = f(v) end
      near(graphids[name](x):totable(), want, 2e-6, name)
      near(x[name](x):totable(), want, 2e-6, name)
    end
  end)

  it("computes roots, logs and reciprocals", function()
    local p = graphids.tensor({ 0.25, 1, 4, 9 }, { dtype = "f64" })
    near(p:sqrt():totable(), { 0.5, 1, 2, 3 })
    near(p:rsqrt():totable(), { 2, 1, 0.5, 1 / 3 }, 1e-15)
    near(p:log():totable(), { math.log(0.25), 0, math.log(4), math.log(9) }, 1e-15)
    near(p:log2():totable(), { -2, 0, 2, math.log(9, 2) }, 1e-15)
    near(p:log1p():totable(), { math.log(1.25), math.log(2), math.log(5), math.log(10) }, 1e-15)
    near(p:reciprocal():totable(), { 4, 1, 0.25, 1 / 9 }, 1e-15)
    near(graphids.log(graphids.tensor({ 0.0, -1.0 })):totable(), { -inf, nan })
  end)

  it("rounds half to even and keeps NaN through relu", function()
    near(graphids.tensor({ 0.5, 1.5, 2.5, -0.5, -1.5 }):round():totable(), { 0, 2, 2, -0, -2 })
    near(graphids.tensor({ nan, -1 }):relu():totable(), { nan, 0 })
  end)

  it("gives f32 for math of integers and keeps integer dtypes for neg/abs/sign/square", function()
    local i = graphids.tensor({ -2, 0, 3 })
    assert.are.equal("f32", i:exp().dtype)
    near(i:exp():totable(), { math.exp(-2), 1, math.exp(3) }, 1e-6)
    assert.are.equal("f32", i:sqrt().dtype)
    for _, name in ipairs({ "neg", "abs", "sign", "square", "relu", "floor" }) do
      assert.are.equal("i64", i[name](i).dtype, name)
    end
    assert.are.same({ 2, 0, -3 }, (-i):totable())
    assert.are.same({ 2, 0, 3 }, i:abs():totable())
    assert.are.same({ -1, 0, 1 }, i:sign():totable())
    assert.are.same({ 4, 0, 9 }, i:square():totable())
    errors("neg: bool tensors are not supported; use logical_not", function()
      return -graphids.tensor({ true })
    end)
  end)

  it("tests for NaN, infinities and finite values", function()
    local f = graphids.tensor({ inf, -inf, nan, 1 })
    assert.are.same({ false, false, true, false }, f:isnan():totable())
    assert.are.same({ true, true, false, false }, f:isinf():totable())
    assert.are.same({ false, false, false, true }, graphids.isfinite(f):totable())
    assert.are.same({ false, false }, graphids.tensor({ 1, 2 }):isnan():totable())
    assert.are.same({ true, true }, graphids.tensor({ 1, 2 }):isfinite():totable())
  end)

  it("reads a transposed input", function()
    local a = graphids.tensor({ { 1, 4 }, { 9, 16 } }, { dtype = "f64" })
    near(a:t():sqrt():totable(), { { 1, 3 }, { 2, 4 } })
  end)
end)

describe("activations", function()
  local x = graphids.tensor({ -30, -1, 0, 0.5, 2, 30 }, { dtype = "f64" })

  it("computes exact and tanh-approximated gelu", function()
    local g = x:gelu():totable()
    near(g[4], 0.34573123063700656, 1e-14) -- torch.nn.functional.gelu(0.5)
    near(g[5], 1.9544997361036416, 1e-14)
    local gt = graphids.gelu(x, { approximate = "tanh" }):totable()
    local function tanh(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end
    near(gt[4], 0.5 * 0.5 * (1 + tanh(math.sqrt(2 / math.pi) * (0.5 + 0.044715 * 0.125))), 1e-14)
    errors('gelu: option \'approximate\' must be "none" or "tanh", got "fast"', graphids.gelu, x,
      { approximate = "fast" })
  end)

  it("computes softplus with beta and threshold", function()
    local s = x:softplus():totable()
    near(s[2], math.log(1 + math.exp(-1)), 1e-14)
    assert.are.equal(30, s[6]) -- linear above the threshold 20
    local s2 = graphids.softplus(x, { beta = 2, threshold = 1 }):totable()
    near(s2[4], math.log(1 + math.exp(1)) / 2, 1e-14)
    assert.are.equal(2, s2[5])
    errors("softplus: beta must be non%-zero", graphids.softplus, x, { beta = 0 })
    errors("softplus: unknown option 'betta'", graphids.softplus, x, { betta = 1 })
  end)

  it("computes leaky_relu and elu with their parameters", function()
    near(x:leaky_relu():totable(), { -0.3, -0.01, 0, 0.5, 2, 30 }, 1e-15)
    near(graphids.leaky_relu(x, 0.1):totable(), { -3, -0.1, 0, 0.5, 2, 30 }, 1e-15)
    near(x:elu():totable()[2], math.exp(-1) - 1, 1e-15)
    near(graphids.elu(x, 2):totable()[2], 2 * (math.exp(-1) - 1), 1e-15)
    errors("leaky_relu: negative_slope %(argument #2%) must be a number, got string",
      graphids.leaky_relu, x, "x")
  end)
end)

describe("clamp", function()
  local x = graphids.tensor({ -3, -1, 0.5, 2, nan })

  it("limits to min and max, a nil bound being absent", function()
    near(x:clamp(-1, 1):totable(), { -1, -1, 0.5, 1, nan })
    near(x:clamp(nil, 1):totable(), { -3, -1, 0.5, 1, nan })
    near(x:clamp(0):totable(), { 0, 0, 0.5, 2, nan })
    near(graphids.clamp(x, 5, 1):totable(), { 1, 1, 1, 1, nan }) -- min > max gives max
    errors("clamp: at least one of min and max must be given", graphids.clamp, x)
    errors("clamp: min %(argument #2%) must be a number or nil, got string", graphids.clamp, x, "0")
  end)

  it("keeps integer dtypes for integer bounds", function()
    local i = graphids.tensor({ -5, 0, 5, 10 })
    assert.are.equal("i64", i:clamp(0, 6).dtype)
    assert.are.same({ 0, 0, 5, 6 }, i:clamp(0, 6):totable())
    assert.are.equal("f32", i:clamp(0.5).dtype)
    -- a bound that leaves nothing of a u8 or i32 tensor's range is refused, as torch; one
    -- beyond the other end bounds nothing
    local u = graphids.tensor({ 0, 7, 200 }, { dtype = "u8" })
    errors("clamp: min 256 is outside the range of the tensor's dtype u8 %(0..255%)", graphids.clamp, u, 256)
    errors("clamp: max %-1 is outside the range of the tensor's dtype u8", graphids.clamp, u, nil, -1)
    errors("clamp: min 2147483648 is outside the range of the tensor's dtype i32",
      graphids.clamp, graphids.tensor({ 1 }, { dtype = "i32" }), 2147483648)
    assert.are.same({ 0, 7, 200 }, u:clamp(-1, 300):totable())
    -- a float bound on either side makes the result f32: every integer bound fits then
    assert.are.same({ 256, 256, 256 }, u:clamp(256, 300.5):totable())
    assert.are.same({ -1, -1, -1 }, u:clamp(1.0, -1):totable())
    assert.equal("f32", u:clamp(256, 300.5).dtype)
  end)
end)

describe("where", function()
  it("selects with broadcasting and numbers", function()
    local c = graphids.tensor({ { true }, { false }, { true } })
    local a = graphids.tensor({ 1.0, 2, 3, 4 })
    local r = graphids.where(c, a, -1)
    assert.are.equal("f32", r.dtype)
    assert.are.same({ { 1, 2, 3, 4 }, { -1, -1, -1, -1 }, { 1, 2, 3, 4 } }, r:totable())
    local i = graphids.arange(12):view(3, 4)
    assert.are.same({ { 0, 1, 2, 3 }, { 0, 0, 0, 0 }, { 8, 9, 10, 11 } }, graphids.where(c, i, 0):totable())
    assert.are.equal("i64", graphids.where(c, i, 0).dtype)
    assert.are.equal("f32", graphids.where(c, i, 0.5).dtype)
    assert.are.same({ 1, 0 }, c:view(3):narrow(1, 1, 2):where(1, 0):totable())
  end)

  it("requires a bool condition and broadcastable shapes", function()
    local a = graphids.tensor({ 1.0, 2 })
    errors("where: condition must be bool %(or u8%), got f32", graphids.where, a, a, a)
    errors("where: value %-1 does not fit in u8 %[0, 255%]", graphids.where, graphids.tensor({ true, false }),
      graphids.tensor({ 1, 2 }, { dtype = "u8" }), -1)
    errors("where:", graphids.where, graphids.tensor({ true, false }), a, graphids.zeros(3))
  end)
end)

describe("in-place ops", function()
  it("write into the tensor and return it", function()
    local a = graphids.tensor({ 1.0, 2, 3 })
    local r = a:add_(1)
    assert.are.equal(a, r)
    assert.are.same({ 2, 3, 4 }, a:totable())
    a:mul_(graphids.tensor({ 2.0, 2, 2 })):sub_(1, { alpha = 3 })
    assert.are.same({ 1, 3, 5 }, a:totable())
    a:div_(2)
    near(a:totable(), { 0.5, 1.5, 2.5 })
    a:neg_():exp_()
    near(a:totable(), { math.exp(-0.5), math.exp(-1.5), math.exp(-2.5) }, 1e-6)
    a:clamp_(0.1, 0.3)
    near(a:totable(), { 0.3, 0.22313016, 0.1 }, 1e-6)
    local b = graphids.tensor({ -2.0, 3 })
    b:leaky_relu_(0.5)
    assert.are.same({ -1, 3 }, b:totable())
    b:pow_(2):fmod_(5)
    assert.are.same({ 1, 4 }, b:totable())
  end)

  -- Every `_` method of the elementwise ops, with the arguments its out-of-place form takes.
  local inplace_args = {
    neg_ = {}, abs_ = {}, sign_ = {}, exp_ = {}, expm1_ = {}, log_ = {}, log1p_ = {}, log2_ = {},
    sqrt_ = {}, rsqrt_ = {}, square_ = {}, reciprocal_ = {}, sin_ = {}, cos_ = {}, tan_ = {},
    tanh_ = {}, sigmoid_ = {}, relu_ = {}, silu_ = {}, floor_ = {}, ceil_ = {}, round_ = {},
    trunc_ = {},
    add_ = { "y", { alpha = 2 } }, sub_ = { 1.5, { alpha = 3 } }, mul_ = { "y" }, div_ = { "y" },
    pow_ = { 2 }, fmod_ = { 1.5 }, remainder_ = { "y" }, atan2_ = { "y" },
    gelu_ = { { approximate = "tanh" } }, leaky_relu_ = { 0.2 }, elu_ = { 0.5 },
    clamp_ = { -1, 1 },
    -- the elementwise ones of graphids.tensor_math (values checked in spec/ops/tensor_math_spec.lua)
    clip_ = { -1, 1 }, nan_to_num_ = { { nan = 0 } }, addcmul_ = { "y", "y", { value = 0.5 } },
    addcdiv_ = { "y", "y", { value = 0.5 } },
  }
  -- The other areas' in-place methods, checked in their own specs.
  local not_elementwise = {
    fill_ = true, zero_ = true, copy_ = true, uniform_ = true, normal_ = true, bernoulli_ = true,
    scatter_ = true, scatter_add_ = true, index_add_ = true, masked_fill_ = true,
    requires_grad_ = true, -- sets the autograd flag, no values (spec/autograd)
    index_copy_ = true, index_fill_ = true, index_put_ = true, scatter_reduce_ = true, -- (tensor_index_spec)
  }

  it("cover every in-place method of the elementwise ops", function()
    for name in pairs(graphids.Tensor) do
      if name:sub(-1) == "_" and not not_elementwise[name] then
        assert(inplace_args[name], name .. " has no in-place check below")
      end
    end
  end)

  it("match their out-of-place forms value for value and return the same tensor", function()
    local names = {}
    for name in pairs(inplace_args) do
      names[#names + 1] = name
    end
    table.sort(names)
    for _, name in ipairs(names) do
      -- contiguous and transposed (strided) targets; y is strided too
      for _, transposed in ipairs({ false, true }) do
        local base = graphids.tensor({ { -2.5, -0.75, 0.5 }, { 1.25, 2.5, 3.75 } })
        local x = transposed and base:t() or base
        local y = graphids.tensor({ { 0.5, 1.5, 2 }, { 3, -1, 0.25 } })
        y = transposed and y:t() or y
        local args = {}
        for i, v in ipairs(inplace_args[name]) do
          args[i] = v == "y" and y or v
        end
        local out = x[name:sub(1, -2)](x, table.unpack(args))
        local want = out:totable()
        local r = x[name](x, table.unpack(args))
        assert(rawequal(r, x), name .. " must return the tensor it wrote into")
        assert.are.equal("f32", x.dtype)
        near(x:totable(), want, 1e-6, name .. (transposed and " (transposed)" or ""))
      end
    end
  end)

  it("handle aliasing between the output and a transposed input", function()
    local a = graphids.arange(4):view(2, 2):float()
    a:add_(a:t())
    assert.are.same({ { 0, 3 }, { 3, 6 } }, a:totable())
  end)

  it("write through a strided view into its base", function()
    local base = graphids.zeros(2, 3)
    base:narrow(2, 2, 2):add_(5)
    assert.are.same({ { 0, 5, 5 }, { 0, 5, 5 } }, base:totable())
  end)

  it("refuse results that the tensor's dtype cannot hold, named as the in-place call", function()
    local i = graphids.tensor({ 1, 2 })
    errors("^div_: result dtype f32 cannot be written into an output of dtype i64", function()
      i:div_(2)
    end)
    errors("^exp_: result dtype f32 cannot be written", function() i:exp_() end)
    errors("^gelu_: result dtype f32 cannot be written", function() i:gelu_() end)
    errors("^leaky_relu_: ", function() i:leaky_relu_() end)
    errors("^elu_: ", function() i:elu_() end)
    errors("^div_: integer division by zero: the divisor 256 wraps to 0", function()
      graphids.tensor({ 1 }, { dtype = "u8" }):div_(256, { rounding_mode = "floor" })
    end)
    errors("clamp_: the result has dtype f32 and cannot be written in place into a tensor of dtype i64",
      function() i:clamp_(0.5) end)
    errors("^add_: output has shape %[2%], expected the broadcast shape %[3,2%]", function()
      i:add_(graphids.zeros(3, 2))
    end)
    assert.are.same({ 1, 2 }, i:totable())
  end)
end)

describe("equal, allclose and comparison metamethods", function()
  it("compare whole tensors", function()
    local a = graphids.tensor({ { 1, 2 }, { 3, 4 } })
    assert.is_true(graphids.equal(a, a:clone()))
    assert.is_true(a == a:clone())
    assert.is_true(a:equal(a:double()))
    assert.is_false(a == a:t())
    assert.is_false(a == a:view(4))
    assert.is_false(graphids.equal(graphids.tensor({ nan }), graphids.tensor({ nan })))
  end)

  it("check closeness with tolerances", function()
    local a = graphids.tensor({ 1.0, 2.0, inf })
    local b = graphids.tensor({ 1.0 + 1e-6, 2.0, inf }, { dtype = "f64" })
    assert.is_true(graphids.allclose(a, b))
    assert.is_false(a:allclose(b + 1e-3))
    assert.is_true(a:allclose(b + 1e-3, { atol = 1e-2 }))
    assert.is_true(a:allclose(b * 1.001, { rtol = 1e-2 }))
    local n = graphids.tensor({ nan, 1 })
    assert.is_false(n:allclose(n))
    assert.is_true(n:allclose(n, { equal_nan = true }))
    assert.is_true(graphids.tensor({ 1, 2 }):allclose(graphids.tensor({ 1.0, 2.0 })))
    errors("allclose: unknown option 'tol'", graphids.allclose, a, b, { tol = 1 })
  end)

  it("order single-element tensors and refuse larger ones", function()
    local s = graphids.tensor(3.0)
    assert.is_true(s < 4)
    assert.is_true(2 < s)
    assert.is_true(s <= 3)
    assert.is_false(s <= graphids.tensor({ 2.5 }))
    errors("only single%-element tensors can be ordered, got shape %[2%]; use a:lt%(b%)", function()
      return graphids.tensor({ 1, 2 }) < graphids.tensor({ 3, 4 })
    end)
    errors("use a:le%(b%)", function()
      return graphids.tensor({ 1, 2 }) <= 5
    end)
  end)
end)
