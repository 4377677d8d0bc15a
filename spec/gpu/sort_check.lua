-- sort_check.lua -- CPU/GPU parity of the sort and scan kernels (runtime/src/cuda/sort.cu,
-- scan.cu): sort, argsort and topk (stable: ties keep input order; NaN last ascending and first
-- descending; -0.0 and +0.0 equal and kept in input order) and cumsum/cumprod along every dim of
-- several shapes, every dtype with keys (f32, f64, i64, i32, u8, bool), and the backward of
-- sort, topk, cumsum and cumprod through autograd.  Every result must be the CPU's exactly:
-- indices, values (NaN where the CPU has NaN, the sign of every zero) and scans (the same adds in
-- the same order), except float scans of long lines along the last dim, which run in chunks
-- (close to the CPU's, and the same on every run).  Run by tools/gpu-check.sh on a machine with
-- a GPU and by spec/gpu/loopback.sh on the loopback device; prints one line per failure and
-- ends with "sort: N passed, M failed".  Without a GPU it prints "skipped: <reason>" and exits 0.
local graphids = require "graphids"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("sort")
if not T.available() then
  return
end
local check, D = T.check, T.dev

graphids.manual_seed(23)

local FLOATS = { f32 = true, f64 = true }
local DTYPES = { "f32", "f64", "i64", "i32", "u8", "bool" }

-- g (on the device) is c (on the CPU) exactly: shape, dtype, NaN positions, the other values,
-- and for floats the sign of every zero (1/x tells -0.0 from +0.0).
local function same(g, c, what)
  assert(g ~= nil and c ~= nil, what .. ": a result is nil")
  assert(T.dry or g.device:match("^cuda"), what .. " is on " .. g.device .. ", not the GPU")
  T.same_shape(g, c, what)
  assert(g.dtype == c.dtype, string.format("%s: dtype %s, expected %s", what, g.dtype, c.dtype))
  g = g:detach():cpu()
  c = c:detach()
  if not FLOATS[c.dtype] then
    assert(graphids.equal(g, c), what .. ": values differ")
    return
  end
  local gn, cn = g:isnan(), c:isnan()
  assert(graphids.equal(gn, cn), what .. ": NaN at other positions")
  assert(graphids.equal(g:masked_fill(gn, 0), c:masked_fill(cn, 0)), what .. ": values differ")
  local gi, ci = 1 / g, 1 / c
  assert(graphids.equal(gi:masked_fill(gi:isnan(), 0), ci:masked_fill(ci:isnan(), 0)),
    what .. ": the sign of a zero differs")
end

-- Values with many ties (0..4), as dtype dt.
local function tied(shape, dt)
  local hi = dt == "bool" and 2 or 5
  return graphids.randint(0, hi, shape):to(dt)
end

-- Random values of dtype dt over a wide range (few ties).
local function spread(shape, dt)
  if FLOATS[dt] then
    return graphids.randn(shape):to(dt)
  elseif dt == "u8" then
    return graphids.randint(0, 256, shape):to(dt)
  elseif dt == "bool" then
    return graphids.randint(0, 2, shape):to(dt)
  end
  return (graphids.randint(-1000000, 1000000, shape)):to(dt)
end

local SHAPES = { { 37 }, { 5, 300 }, { 4, 7, 9 }, { 3000, 6 }, { 2, 1, 3 } }

local function dims_of(shape)
  local ds = { -1 }
  for d = 1, #shape do
    ds[#ds + 1] = d
  end
  return ds
end

local function shape_str(shape)
  return "[" .. table.concat(shape, ",") .. "]"
end

-- ---------------------------------------------------------------- sort, argsort

check("sort and argsort match the CPU for every dtype, shape, dim and order", function()
  for _, dt in ipairs(DTYPES) do
    for _, shape in ipairs(SHAPES) do
      for _, make in ipairs({ tied, spread }) do
        local x = make(shape, dt)
        local g = x:to(D)
        for _, d in ipairs(dims_of(shape)) do
          for _, desc in ipairs({ false, true }) do
            local what = string.format("%s %s dim %d%s", dt, shape_str(shape), d,
              desc and " descending" or "")
            local cv, ci = x:sort(d, { descending = desc })
            local gv, gi = g:sort(d, { descending = desc })
            same(gv, cv, "sort values " .. what)
            same(gi, ci, "sort indices " .. what)
            same(g:argsort(d, { descending = desc }), ci, "argsort " .. what)
          end
        end
      end
    end
  end
end)

check("sort is stable over long lanes of ties (one lane, and lanes of 64-bit keys)", function()
  for _, dt in ipairs({ "f32", "f64", "i64", "i32", "u8" }) do
    for _, shape in ipairs({ { 100000 }, { 40, 2500 } }) do
      local x = tied(shape, dt)
      local cv, ci = x:sort(-1)
      local gv, gi = x:to(D):sort(-1)
      same(gv, cv, dt .. " " .. shape_str(shape) .. " values")
      same(gi, ci, dt .. " " .. shape_str(shape) .. " indices")
      local _, cd = x:sort(1, { descending = true })
      local _, gd = x:to(D):sort(1, { descending = true })
      same(gd, cd, dt .. " " .. shape_str(shape) .. " descending along dim 1")
    end
  end
end)

check("NaN, infinities and signed zeros sort as on the CPU", function()
  local nan, inf = 0 / 0, math.huge
  local row = { 3, nan, -0.0, 0.0, -inf, 1, nan, inf, -0.0, -2, 0.0, nan, 1 }
  for _, dt in ipairs({ "f32", "f64" }) do
    local x = graphids.tensor({ row, row, row }, { dtype = dt })
    for _, d in ipairs({ 1, 2 }) do
      for _, desc in ipairs({ false, true }) do
        local what = string.format("%s dim %d%s", dt, d, desc and " descending" or "")
        local cv, ci = x:sort(d, { descending = desc })
        local gv, gi = x:to(D):sort(d, { descending = desc })
        same(gv, cv, "values " .. what)
        same(gi, ci, "indices " .. what)
        for _, k in ipairs({ 0, 1, math.min(4, x.shape[d]), x.shape[d] }) do
          local tv, ti = x:topk(k, d, { largest = desc })
          local hv, hi = x:to(D):topk(k, d, { largest = desc })
          same(hv, tv, string.format("topk %d values %s", k, what))
          same(hi, ti, string.format("topk %d indices %s", k, what))
        end
      end
    end
    local cv = x:sort(2)
    assert(cv:narrow(2, #row - 2, 3):isnan():all():item(), dt .. ": NaN sorts last ascending")
  end
end)

check("strided inputs, 0-d and empty tensors", function()
  local x = graphids.randn(30, 20)
  -- transposed views of device tensors: not contiguous on the device
  same(x:to(D):t():sort(2), x:t():sort(2), "sort of a transposed view")
  local _, ti = x:t():topk(5, 1)
  local _, hi = x:to(D):t():topk(5, 1)
  same(hi, ti, "topk of a transposed view")
  local s = graphids.tensor(2.5)
  local sv, si = s:to(D):sort()
  same(sv, s:sort(), "0-d sort values")
  same(si, select(2, s:sort()), "0-d sort indices")
  for _, shape in ipairs({ { 0, 5 }, { 3, 0 } }) do
    local e = graphids.randn(shape)
    for _, d in ipairs({ 1, 2 }) do
      local cv, ci = e:sort(d)
      local gv, gi = e:to(D):sort(d)
      same(gv, cv, "empty sort values " .. shape_str(shape))
      same(gi, ci, "empty sort indices " .. shape_str(shape))
      same(e:to(D):cumsum(d), e:cumsum(d), "empty cumsum " .. shape_str(shape))
    end
  end
end)

-- ---------------------------------------------------------------- topk

check("topk matches the CPU for every dtype, k, dim and direction", function()
  for _, dt in ipairs(DTYPES) do
    for _, shape in ipairs({ { 37 }, { 5, 300 }, { 4, 7, 9 } }) do
      local x = tied(shape, dt)
      local g = x:to(D)
      for _, d in ipairs(dims_of(shape)) do
        local n = shape[d < 0 and #shape + 1 + d or d]
        for _, k in ipairs({ 0, 1, math.max(1, n // 2), n }) do
          for _, largest in ipairs({ true, false }) do
            local what = string.format("%s %s dim %d k %d%s", dt, shape_str(shape), d, k,
              largest and "" or " smallest")
            local cv, ci = x:topk(k, d, { largest = largest })
            local gv, gi = g:topk(k, d, { largest = largest })
            same(gv, cv, "values " .. what)
            same(gi, ci, "indices " .. what)
          end
        end
      end
    end
  end
end)

check("topk with k out of range is the CPU's error", function()
  local x = graphids.randn(3, 4)
  local cok, cerr = pcall(function() return x:topk(5, 2) end)
  local ok, err = pcall(function() return x:to(D):topk(5, 2) end)
  local want = tostring(cerr):match("topk: .*") -- without the Lua position
  assert(not cok and want and want:match("k 5 out of range"), tostring(cerr))
  assert(not ok and tostring(err):match("topk: .*") == want, tostring(err))
end)

-- ---------------------------------------------------------------- cumsum, cumprod

check("cumsum and cumprod give the CPU's bits for every dtype, shape and dim", function()
  for _, dt in ipairs(DTYPES) do
    for _, shape in ipairs(SHAPES) do
      local x = FLOATS[dt] and graphids.randn(shape):to(dt) * 0.9 or tied(shape, dt)
      local g = x:to(D)
      for _, d in ipairs(dims_of(shape)) do
        local what = string.format("%s %s dim %d", dt, shape_str(shape), d)
        same(g:cumsum(d), x:cumsum(d), "cumsum " .. what)
        same(g:cumprod(d), x:cumprod(d), "cumprod " .. what)
      end
    end
  end
end)

check("integer scans wrap in i64 as on the CPU; non-contiguous input", function()
  local big = graphids.randint(1000000, 3000000, { 4, 20 })
  same(big:to(D):cumprod(2), big:cumprod(2), "i64 cumprod past 2^63")
  local b32 = big:to("i32")
  same(b32:to(D):cumprod(2), b32:cumprod(2), "i32 cumprod (accumulates in i64)")
  local xt = graphids.randn(40, 30)
  same(xt:to(D):t():cumsum(1), xt:t():cumsum(1), "cumsum of a transposed view")
  local z = graphids.tensor(4.0)
  same(z:to(D):cumprod(1), z:cumprod(1), "0-d cumprod")
end)

-- Lines of SCAN_CHUNKED_MIN (512) elements or more along the last dim scan in chunks: integers
-- give the CPU's values exactly (wrapping), floats the CPU's f64 sums regrouped (within a few
-- f64 roundings; f32 results within one f32 rounding; relative to the largest value).
check("long lines along the last dim scan in chunks: exact for integers, close for floats", function()
  for _, shape in ipairs({ { 50000 }, { 3, 512 }, { 7, 2049 }, { 2, 100000 } }) do
    local what = shape_str(shape)
    local i = graphids.randint(-1000, 1000, shape)
    same(i:to(D):cumsum(-1), i:cumsum(-1), "i64 cumsum " .. what)
    local odd = graphids.randint(0, 2000000, shape) * 2 + 1
    same(odd:to(D):cumprod(-1), odd:cumprod(-1), "i64 cumprod " .. what .. " (wraps)")
    same(odd:int():to(D):cumsum(-1), odd:int():cumsum(-1), "i32 cumsum " .. what)
    for _, dt in ipairs({ "f32", "f64" }) do
      local x = graphids.randn(shape):to(dt)
      local tol = dt == "f32" and 2e-7 or 1e-12
      T.close(x:to(D):cumsum(-1), x:cumsum(-1), tol, dt .. " cumsum " .. what)
      local near1 = graphids.rand(shape):to(dt) * 0.002 + 0.999
      T.close(near1:to(D):cumprod(-1), near1:cumprod(-1), tol, dt .. " cumprod " .. what)
    end
  end
  local x = graphids.randn(4, 5000):to(D)
  T.identical(x:cumsum(2), x:cumsum(2), "chunked cumsum on two runs")
end)

check("integer scans wrap: past 2^63 along other dims too", function()
  local big = graphids.randint(1000000, 3000000, { 20, 4 })
  same(big:to(D):cumprod(1), big:cumprod(1), "i64 cumprod past 2^63 along dim 1")
end)

check("sort and scans give the same bits on two runs", function()
  local x = graphids.randn(64, 513):to(D)
  local v1, i1 = x:sort(2)
  local v2, i2 = x:sort(2)
  T.identical(v1, v2, "sort values")
  T.identical(i1, i2, "sort indices")
  T.identical(x:cumsum(1), x:cumsum(1), "cumsum")
end)

-- ---------------------------------------------------------------- backward

-- The input's gradient of loss = sum(f(x) * w) on dev, x a leaf copy of x0.
local function grad_of(dev, x0, w, f)
  local x = (dev == "cpu" and x0:clone() or x0:to(dev)):requires_grad_()
  local loss = (f(x) * w:to(dev)):sum()
  loss:backward()
  return x.grad
end

check("the backward of cumsum, cumprod, sort and topk matches the CPU", function()
  for _, dt in ipairs({ "f32", "f64" }) do
    local tol = dt == "f32" and 1e-5 or 1e-12
    local x0 = graphids.randn(6, 9, 5):to(dt)
    local withzero = x0:clone()
    withzero:narrow(1, 2, 1):narrow(2, 3, 1):narrow(3, 4, 1):fill_(0)
    withzero:narrow(1, 5, 1):narrow(2, 1, 1):narrow(3, 2, 1):fill_(0)
    for _, d in ipairs({ 1, 2, 3 }) do
      local ops = {
        { "cumsum", x0, function(x) return x:cumsum(d) end },
        { "cumprod", x0, function(x) return x:cumprod(d) end },
        { "cumprod with zeros", withzero, function(x) return x:cumprod(d) end },
        { "sort", x0, function(x) return (x:sort(d, { descending = true })) end },
        { "topk", x0, function(x) return (x:topk(2, d)) end },
      }
      for _, o in ipairs(ops) do
        local shape = o[3](o[2]).shape
        local w = graphids.randn(shape):to(dt)
        local what = string.format("%s %s dim %d", o[1], dt, d)
        T.close(grad_of(D, o[2], w, o[3]), grad_of("cpu", o[2], w, o[3]), tol, what)
      end
    end
  end
end)

-- Medians of 5 synchronised runs of each op on the GPU beside the CPU's: probe lines, not checks
-- (the figures depend on the card and the host).
if not T.dry and not graphids.gpu.info():match("^loopback") then
  local function median_ms(fn, sync)
    fn()
    if sync then
      graphids.gpu.synchronize()
    end
    local runs = {}
    for r = 1, 5 do
      local t0 = graphids.clock()
      fn()
      if sync then
        graphids.gpu.synchronize()
      end
      runs[r] = (graphids.clock() - t0) * 1e3
    end
    table.sort(runs)
    return runs[3]
  end
  local cases = {
    { "sort f32 [4096,1024] dim 2", graphids.randn(4096, 1024), function(x) return x:sort(2) end },
    { "sort f64 [4096,1024] dim 2", graphids.randn(4096, 1024):double(),
      function(x) return x:sort(2) end },
    { "sort f32 [16M]", graphids.randn(16 * 2 ^ 20), function(x) return x:sort(1) end },
    { "topk 10 f32 [65536,64] dim 2", graphids.randn(65536, 64),
      function(x) return x:topk(10, 2) end },
    { "cumsum f32 [4096,1024] dim 1", graphids.randn(4096, 1024),
      function(x) return x:cumsum(1) end },
    { "cumsum f32 [4096,1024] dim 2", graphids.randn(4096, 1024),
      function(x) return x:cumsum(2) end },
    { "cumsum f32 [1M]", graphids.randn(2 ^ 20), function(x) return x:cumsum(1) end },
  }
  for _, c in ipairs(cases) do
    local g = c[2]:to(D)
    local gpu = median_ms(function() return c[3](g) end, true)
    local cpu = median_ms(function() return c[3](c[2]) end, false)
    print(string.format("probe %s: gpu %.3f ms, cpu %.3f ms", c[1], gpu, cpu))
  end
end

T.finish()
