-- grad_check.lua -- CPU/GPU parity of the gradients of the ops a model's backward runs through
-- (segment ops, amax/amin, max/min along a dim, maximum/minimum, the elementwise math and
-- activations, softmax in f64 and over strided input), of i32 index tensors in the index and
-- segment ops, of index_add_ in every dtype, and of empty and zero-size inputs.  Run by
-- tools/gpu-check.sh on a machine with a GPU; prints one line per failure and ends with
-- "grad: N passed, M failed".  Without a GPU it prints "skipped: <reason>" and exits 0.
--
-- Each output and gradient is held to its own scale (T.parity, T.rel_close): f32 2e-5, f64
-- 1e-10.  Ties (equal values in amax, max along a dim, maximum) are given on purpose: the
-- device must share the gradient out as the CPU does.
local graphids = require "graphids"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("grad")
if not T.available() then
  return
end
local check, close, D = T.check, T.close, T.dev
-- Each comparison its own check, so that one run on a GPU reports every failing case (the
-- enclosing check counts the setup around them).
local function parity(what, ...)
  local args = table.pack(...)
  check(what, function() T.parity(what, table.unpack(args, 1, args.n)) end)
end
local F = graphids.nn.functional

graphids.manual_seed(31)

local DTYPES = { "f32", "f64" }

-- ---------------------------------------------------------------- segment ops

for _, dt in ipairs(DTYPES) do
  check("segment_sum/mean/max/min/softmax gradients match the CPU (" .. dt .. ", i64 and i32 " ..
    "index)", function()
    local src = graphids.randn(500, 6):to(dt)
    local index = graphids.randint(0, 47, { 500 })
    local n = 50 -- segments 47..49 are empty
    for _, it in ipairs({ "i64", "i32" }) do
      local idx = index:to(it)
      for _, op in ipairs({ "segment_sum", "segment_mean", "segment_max", "segment_min",
        "segment_softmax" }) do
        parity(op .. " " .. dt .. " " .. it, { src, idx }, function(s, i)
          return graphids[op](s, i, n)
        end)
      end
    end
    -- ties inside a segment (integer values): the maximum's gradient goes where the CPU's does
    local tied = graphids.randint(-2, 3, { 200, 4 }):to(dt)
    local ti = graphids.randint(0, 9, { 200 })
    for _, op in ipairs({ "segment_max", "segment_min" }) do
      parity(op .. " with ties " .. dt, { tied, ti }, function(s, i) return graphids[op](s, i, 9) end)
    end
  end)
end

-- ---------------------------------------------------------------- reductions with a max

for _, dt in ipairs(DTYPES) do
  check("amax/amin and max/min along a dim: gradients match the CPU, ties included (" .. dt ..
    ")", function()
    local x = graphids.randn(30, 17, 5):to(dt)
    local tied = graphids.randint(-2, 3, { 30, 17, 5 }):to(dt) -- many equal maxima
    for _, v in ipairs({ { "random", x }, { "ties", tied } }) do
      local what = v[1] .. " " .. dt
      for _, op in ipairs({ "amax", "amin" }) do
        parity(op .. " of all " .. what, { v[2] }, function(a) return a[op](a) end)
        parity(op .. " dim 2 " .. what, { v[2] }, function(a) return a[op](a, 2) end)
        parity(op .. " dims {1, 3} keepdim " .. what, { v[2] }, function(a)
          return a[op](a, { 1, 3 }, { keepdim = true })
        end)
      end
      for _, op in ipairs({ "max", "min" }) do
        for _, d in ipairs({ 1, 3 }) do
          parity(op .. " dim " .. d .. " " .. what, { v[2] }, function(a) return a[op](a, d) end)
        end
        parity(op .. " keepdim " .. what, { v[2] }, function(a)
          return a[op](a, 2, { keepdim = true })
        end)
      end
    end
  end)
end

-- ---------------------------------------------------------------- elementwise math

for _, dt in ipairs(DTYPES) do
  check("elementwise gradients match the CPU (" .. dt .. "): maximum, minimum, abs, pow, atan2, " ..
    "gelu, silu, leaky_relu, clamp, sin, cos, expm1, log1p", function()
    local x = (graphids.randn(123, 7) * 2):to(dt)
    local y = (graphids.randn(123, 7) * 2):to(dt)
    y:narrow(1, 1, 10):copy_(x:narrow(1, 1, 10)) -- equal operands: maximum's tie rule
    x:narrow(1, 11, 3):fill_(0)                  -- abs' gradient at 0
    local yb = graphids.randn(7):to(dt)
    for _, op in ipairs({ "maximum", "minimum" }) do
      parity(op .. " " .. dt, { x, y }, function(a, b) return graphids[op](a, b) end)
      parity(op .. " broadcast " .. dt, { x, yb }, function(a, b) return graphids[op](a, b) end)
    end
    parity("abs " .. dt, { x }, function(a) return a:abs() end)
    local pos = x:abs() + 0.2
    parity("pow scalar " .. dt, { pos }, function(a) return a:pow(1.7) end)
    parity("pow of a negative base, integer exponent " .. dt, { x }, function(a) return a:pow(3) end)
    parity("pow tensor exponent " .. dt, { pos, y / 4 }, function(a, b) return graphids.pow(a, b) end)
    parity("atan2 " .. dt, { x, y }, function(a, b) return graphids.atan2(a, b) end)
    parity("gelu " .. dt, { x }, function(a) return a:gelu() end)
    parity("gelu tanh " .. dt, { x }, function(a) return F.gelu(a, { approximate = "tanh" }) end)
    parity("silu " .. dt, { x }, function(a) return a:silu() end)
    parity("leaky_relu " .. dt, { x }, function(a) return a:leaky_relu(0.2) end)
    parity("clamp " .. dt, { x }, function(a) return a:clamp(-1, 0.5) end)
    parity("clamp min only " .. dt, { x }, function(a) return a:clamp(-0.3, nil) end)
    parity("sin " .. dt, { x }, function(a) return a:sin() end)
    parity("cos " .. dt, { x }, function(a) return a:cos() end)
    parity("expm1 " .. dt, { x / 2 }, function(a) return a:expm1() end)
    parity("log1p " .. dt, { pos }, function(a) return a:log1p() end)
  end)
end

-- ---------------------------------------------------------------- softmax

check("softmax and log_softmax gradients in f64 and over strided input match the CPU", function()
  for _, dt in ipairs(DTYPES) do
    local x = (graphids.randn(64, 37) * 4):to(dt)
    for _, op in ipairs({ "softmax", "log_softmax" }) do
      for _, d in ipairs({ 1, 2 }) do
        parity(op .. " dim " .. d .. " " .. dt, { x }, function(a) return a[op](a, d) end)
      end
      -- a transposed view (rows strided) and a narrowed one (an offset and a row pitch)
      parity(op .. " of a transposed view " .. dt, { x }, function(a) return a:t()[op](a:t(), 2) end)
      parity(op .. " of a narrowed view " .. dt, { x }, function(a)
        local v = a:narrow(2, 3, 30)
        return v[op](v, 2)
      end)
      local x3 = (graphids.randn(6, 9, 11) * 3):to(dt)
      parity(op .. " 3-d, middle dim, permuted " .. dt, { x3 }, function(a)
        local v = a:transpose(1, 3)
        return v[op](v, 2)
      end)
    end
  end
end)

-- ---------------------------------------------------------------- i32 indexes

check("i32 index tensors in index_select, gather, scatter_add, index_add and segment ops " ..
  "match the CPU (forward and gradients)", function()
  for _, dt in ipairs(DTYPES) do
    local x = graphids.randn(50, 8):to(dt)
    local sel = graphids.tensor({ 3, 0, 49, 3, 17, 17 }, { dtype = "i32" })
    parity("index_select i32 " .. dt, { x, sel }, function(a, i) return a:index_select(1, i) end)
    parity("index_select dim 2 i32 " .. dt, { x, graphids.tensor({ 7, 0, 7 }, { dtype = "i32" }) },
      function(a, i) return a:index_select(2, i) end)
    local gi = graphids.randint(0, 8, { 50, 5 }):to("i32")
    parity("gather i32 " .. dt, { x, gi }, function(a, i) return a:gather(2, i) end)
    local si = graphids.randint(0, 20, { 50, 8 }):to("i32")
    local base = graphids.randn(20, 8):to(dt)
    parity("scatter_add i32 " .. dt, { base, si, x }, function(b, i, s)
      return b:scatter_add(1, i, s)
    end)
    local ai = graphids.randint(0, 20, { 50 }):to("i32")
    parity("index_add i32 " .. dt, { base, ai, x }, function(b, i, s)
      return b:index_add(1, i, s, { alpha = 1.5 })
    end)
    parity("segment_sum i32 " .. dt, { x, ai }, function(s, i) return graphids.segment_sum(s, i, 20) end)
  end
end)

check("index_add_ in f32, f64, i64 and i32 matches the CPU (duplicates, alpha)", function()
  local idx = graphids.tensor({ 4, 0, 4, 9, 4, 1 })
  for _, dt in ipairs({ "f32", "f64", "i64", "i32" }) do
    for _, it in ipairs({ "i64", "i32" }) do
      local self = graphids.randint(-50, 50, { 10, 6 }):to(dt)
      local src = graphids.randint(-50, 50, { 6, 6 }):to(dt)
      local g = self:to(D)
      local c = self:clone()
      local alpha = (dt == "i64" or dt == "i32") and 3 or 0.5
      g:index_add_(1, idx:to(it):to(D), src:to(D), { alpha = alpha })
      c:index_add_(1, idx:to(it), src, { alpha = alpha })
      close(g, c, dt:match("^f") and 1e-12 or 0, "index_add_ " .. dt .. " index " .. it)
      local src2 = graphids.randint(-5, 5, { 10, 6 }):to(dt) -- along dim 2
      local c3 = self:clone()
      c3:index_add_(2, idx:to(it):clamp(0, 5), src2)
      local g3 = self:to(D)
      g3:index_add_(2, idx:to(it):clamp(0, 5):to(D), src2:to(D))
      close(g3, c3, dt:match("^f") and 1e-12 or 0, "index_add_ dim 2 " .. dt .. " index " .. it)
    end
  end
  -- f64 large values: no f32 round trip on the way
  local big = graphids.full({ 3 }, 2 ^ 40 + 0.25, { dtype = "f64" })
  local gb = big:to(D)
  gb:index_add_(1, graphids.tensor({ 0, 0, 2 }):to(D), graphids.full({ 3 }, 0.125,
    { dtype = "f64" }):to(D))
  big:index_add_(1, graphids.tensor({ 0, 0, 2 }), graphids.full({ 3 }, 0.125, { dtype = "f64" }))
  close(gb, big, 0, "index_add_ f64 keeps 2^40 + 0.5")
  local ib = graphids.full({ 2 }, 2 ^ 53 + 1, { dtype = "i64" })
  local gib = ib:to(D)
  gib:index_add_(1, graphids.tensor({ 1 }):to(D), graphids.tensor({ 2 }):to(D))
  ib:index_add_(1, graphids.tensor({ 1 }), graphids.tensor({ 2 }))
  assert(graphids.equal(gib:cpu(), ib), "index_add_ i64 past 2^53")
end)

-- ---------------------------------------------------------------- empty and zero-size inputs

-- NaN where the CPU has NaN (the mean of nothing), the rest within tol.
local function close_nan(g, c, tol, what)
  T.same_shape(g, c, what)
  assert(graphids.equal(g:isnan():cpu(), c:isnan()), what .. ": NaN positions")
  close(graphids.where(g:isnan(), 0, g), graphids.where(c:isnan(), 0, c), tol, what)
end

check("empty inputs: elementwise ops, reductions and softmax give the CPU's results", function()
  for _, dt in ipairs(DTYPES) do
    local e, f = graphids.randn(0, 4):to(dt), graphids.randn(0, 4):to(dt)
    local what = " " .. dt
    close(e:to(D) + f:to(D), e + f, 0, "add of [0, 4]" .. what)
    close(e:to(D) * 2 + 1, e * 2 + 1, 0, "scalar ops" .. what)
    close(e:to(D):exp(), e:exp(), 0, "exp" .. what)
    close(e:to(D) + graphids.randn(4):to(dt):to(D), e + graphids.zeros(4):to(dt), 0,
      "broadcast with [4]" .. what)
    close(e:to(D):t():contiguous(), e:t():contiguous(), 0, "transposed copy" .. what)
    close(e:to(D):sum(), e:sum(), 0, "sum of all" .. what)
    close(e:to(D):sum(1), e:sum(1), 0, "sum over the empty dim: zeros" .. what)
    close(e:to(D):sum(2), e:sum(2), 0, "sum over the other dim: [0]" .. what)
    close_nan(e:to(D):mean(1), e:mean(1), 0, "mean over the empty dim: NaN" .. what)
    close(e:to(D):amax(2), e:amax(2), 0, "amax over the kept-empty dim" .. what)
    close(e:to(D):softmax(2), e:softmax(2), 0, "softmax of [0, 4]" .. what)
    close(e:to(D):log_softmax(1), e:log_softmax(1), 0, "log_softmax over the empty dim" .. what)
    close(graphids.randn(4, 0):to(dt):to(D):softmax(2), graphids.randn(4, 0):to(dt):softmax(2), 0,
      "softmax of empty rows" .. what)
    -- gradients through empty ops: zeros of the input's shape
    parity("backward through an empty index_select" .. what, { graphids.randn(5, 3):to(dt),
      graphids.zeros({ 0 }, { dtype = "i64" }) }, function(a, i)
      return a:index_select(1, i) * 2
    end)
  end
  local ei = graphids.zeros({ 0 }, { dtype = "i64" })
  close(ei:to(D):sum(), ei:sum(), 0, "i64 sum of nothing")
  close(ei:to(D) * 3, ei * 3, 0, "i64 empty")
end)

check("empty indexes, segment ops over no rows, products with inner dim 0 and cat with an " ..
  "empty tensor give the CPU's results", function()
  for _, dt in ipairs(DTYPES) do
    local what = " " .. dt
    local x = graphids.randn(6, 4):to(dt)
    local none = graphids.zeros({ 0 }, { dtype = "i64" })
    close(x:to(D):index_select(1, none:to(D)), x:index_select(1, none), 0, "index_select, no rows" .. what)
    local gnone = graphids.zeros({ 6, 0 }, { dtype = "i64" })
    close(x:to(D):gather(2, gnone:to(D)), x:gather(2, gnone), 0, "gather, empty index" .. what)
    local acc = graphids.randn(6, 4):to(dt)
    local ga = acc:to(D)
    ga:index_add_(1, none:to(D), graphids.zeros(0, 4):to(dt):to(D))
    close(ga, acc, 0, "index_add_ of nothing" .. what)
    local gs = acc:to(D)
    gs:scatter_add_(1, graphids.zeros({ 0, 4 }, { dtype = "i64" }):to(D), graphids.zeros(0, 4):to(dt):to(D))
    close(gs, acc, 0, "scatter_add_ of nothing" .. what)
    -- segment ops with N = 0 rows into 3 segments
    local src, idx = graphids.zeros(0, 4):to(dt), graphids.zeros({ 0 }, { dtype = "i64" })
    for _, it in ipairs({ "i64", "i32" }) do
      for _, op in ipairs({ "segment_sum", "segment_mean", "segment_max", "segment_min" }) do
        local vg, ag = graphids[op](src:to(D), idx:to(it):to(D), 3)
        local vc, ac = graphids[op](src, idx:to(it), 3)
        close_nan(vg, vc, 0, op .. " of no rows" .. what .. " " .. it)
        if ac ~= nil then close(ag, ac, 0, op .. " argument rows of no rows " .. it) end
      end
      close(graphids.segment_softmax(src:to(D), idx:to(it):to(D), 3),
        graphids.segment_softmax(src, idx:to(it), 3), 0, "segment_softmax of no rows " .. it)
    end
    -- products over an inner dim of 0: zeros (mm), beta * bias (addmm)
    local a, b = graphids.zeros(5, 0):to(dt), graphids.zeros(0, 3):to(dt)
    close(graphids.mm(a:to(D), b:to(D)), graphids.mm(a, b), 0, "mm inner 0" .. what)
    local bias = graphids.randn(3):to(dt)
    close(graphids.addmm(bias:to(D), a:to(D), b:to(D)), graphids.addmm(bias, a, b), 0,
      "addmm inner 0" .. what)
    local mbias = graphids.randn(5, 3):to(dt)
    close(graphids.addmm(mbias:to(D), a:to(D), b:to(D), { beta = 0.5 }),
      graphids.addmm(mbias, a, b, { beta = 0.5 }), 0, "addmm inner 0, matrix bias, beta" .. what)
    close(graphids.mm(graphids.zeros(0, 7):to(dt):to(D), graphids.randn(7, 3):to(dt):to(D)),
      graphids.mm(graphids.zeros(0, 7):to(dt), graphids.randn(7, 3):to(dt)), 0, "mm with no rows" .. what)
    parity("gradients through addmm with inner dim 0" .. what, { bias, a, b }, function(c, p, q)
      return graphids.addmm(c, p, q)
    end)
    -- cat with an empty tensor
    local e = graphids.zeros(0, 4):to(dt)
    close(graphids.cat({ e:to(D), x:to(D) }, 1), graphids.cat({ e, x }, 1), 0, "cat [0,4] and [6,4]" .. what)
    close(graphids.cat({ x:to(D), e:to(D), x:to(D) }, 1), graphids.cat({ x, e, x }, 1), 0,
      "cat with an empty one between" .. what)
    close(graphids.cat({ graphids.zeros(6, 0):to(dt):to(D), x:to(D) }, 2),
      graphids.cat({ graphids.zeros(6, 0):to(dt), x }, 2), 0, "cat along dim 2 with [6, 0]" .. what)
    close(graphids.cat({ e:to(D), e:to(D) }, 1), graphids.cat({ e, e }, 1), 0, "cat of empties" .. what)
    parity("gradients through cat with an empty tensor" .. what, { e, x }, function(p, q)
      return graphids.cat({ p, q }, 1)
    end)
  end
end)

-- ---------------------------------------------------------------- gradients on the wrong device

-- A gradient must be on its tensor's device: a root's given on another is refused, a custom
-- Function's gradient on another is refused by name, and the zero gradient of a Function output
-- no path reached is made on that output's device (it was made on the CPU).
T.device_check("gradients on another device than their tensor's are refused; a Function's " ..
  "unreached output gets a zero gradient on its own device", function()
  local x = graphids.tensor({ 1.0, 2, 3 }):to(D):requires_grad_()
  local dev = x.device -- (D may say "cuda"; messages name "cuda:0")
  local ok, err = pcall(function() (x * 2):backward(graphids.ones(3)) end)
  assert(not ok and tostring(err):find("backward: gradient on cpu for root 1 on " .. dev, 1, true),
    tostring(err))
  local c = graphids.tensor({ 1.0, 2, 3 }):requires_grad_()
  ok, err = pcall(function() (c * 2):backward(graphids.ones(3):to(D)) end)
  assert(not ok and tostring(err):find("gradient on " .. dev .. " for root 1 on cpu", 1, true),
    tostring(err))
  local Two = graphids.autograd.Function { name = "TwoOut",
    forward = function(_, t) return t * 2, t * 3 end,
    backward = function(_, g1, g2) return g1 * 2 + g2 * 3 end }
  local _, b = Two(x)
  b:sum():backward()
  assert(x.grad.device == dev, "the gradient is on " .. x.grad.device)
  close(x.grad, graphids.full({ 3 }, 3.0), 0, "the Function's gradient")
  local Bad = graphids.autograd.Function { name = "CpuGrad",
    forward = function(_, t) return t * 2 end,
    backward = function() return graphids.ones(3) end }
  ok, err = pcall(function() Bad(x):sum():backward() end)
  assert(not ok and tostring(err):find("CpuGrad.backward: gradient 1 is on cpu, expected " .. dev,
    1, true), tostring(err))
end)

T.finish()
