-- empty_check.lua -- every kind of device op over inputs with a dimension of size 0, against the
-- CPU: the same result (shape, dtype, values, NaN where the CPU has NaN) or, where the CPU
-- refuses the call, a refusal on the device too.  Empty operands reach the plugin's host code
-- before their count is looked at (a layout's magic-number divider divided by a 0 size and
-- killed the process with SIGFPE, 2026-11-27), and a launch over nothing must not be a grid of 0
-- blocks.  Shapes [0], [0, 5], [5, 0] and [2, 0, 3] through elementwise ops, reductions along
-- each dim, scans, sorts, softmax, index and segment ops, products, the graph attention, the
-- fused LSTM, layer norm and dropout, forward and, where it applies, backward.
-- Run by tools/gpu-check.sh and on the loopback device by spec/gpu/loopback.sh; ends with
-- "empty: N passed, M failed".  Without a GPU it prints "skipped: <reason>".
local graphids = require "graphids"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("empty")
if not T.available() then
  return
end
local check, D = T.check, T.dev
local core = require "graphids.core"
local F = graphids.nn.functional

graphids.manual_seed(41)

-- g (device) equals c (CPU): shape, dtype, NaN positions and the other values (within 1e-6 of
-- their scale: a non-empty result beside an empty input, such as a sum, is a plain number).
local function same(g, c, what)
  assert(g ~= nil and c ~= nil, what .. ": a result is nil")
  assert(T.dry or g.device:match("^cuda"), what .. " is on " .. g.device .. ", not the GPU")
  T.same_shape(g, c, what)
  assert(g.dtype == c.dtype, string.format("%s: dtype %s, expected %s", what, g.dtype, c.dtype))
  if c:numel() == 0 then
    return
  end
  local gc = g:cpu()
  if c.dtype == "f32" or c.dtype == "f64" then
    assert(graphids.equal(gc:isnan(), c:isnan()), what .. ": NaN positions")
    T.close(graphids.where(g:isnan(), 0, g), graphids.where(c:isnan(), 0, c), 1e-6, what)
  else
    assert(graphids.equal(gc, c), what .. ": values")
  end
end

-- Flattens fn's results (tensors, tables of tensors, numbers) into a list of tensors and numbers.
local function results(...)
  local out = {}
  local function add(v)
    if type(v) == "table" then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for _, k in ipairs(keys) do add(v[k] ~= nil and v[k] or v[tonumber(k)]) end
    elseif v ~= nil then
      out[#out + 1] = v
    end
  end
  for i = 1, select("#", ...) do add((select(i, ...))) end
  return out
end

-- fn(dev) on the device and on the CPU: both refuse, or both give the same results.
local function agree(what, fn)
  check(what, function()
    local okc, rc = pcall(function() return results(fn("cpu")) end)
    local okg, rg = pcall(function() return results(fn(D)) end)
    if not okc then
      assert(not okg, what .. ": the CPU refuses (" .. tostring(rc) .. ") but the device does not")
      return
    end
    assert(okg, what .. ": the device fails where the CPU does not: " .. tostring(rg))
    assert(#rg == #rc, string.format("%s: %d results, expected %d", what, #rg, #rc))
    for i = 1, #rc do
      if type(rc[i]) == "number" then
        assert(rg[i] == rc[i] or (rg[i] ~= rg[i] and rc[i] ~= rc[i]),
          string.format("%s: result %d is %s, expected %s", what, i, tostring(rg[i]), tostring(rc[i])))
      else
        same(rg[i], rc[i], what .. " (result " .. i .. ")")
      end
    end
  end)
end

-- The method `name` of a tensor exists (so a misspelt op cannot pass as "both refuse").
local function method(name)
  assert(type(graphids.zeros(1)[name]) == "function", "no tensor method " .. name)
  return name
end

local SHAPES = { { 0 }, { 0, 5 }, { 5, 0 }, { 2, 0, 3 } }
local function label(shape)
  return "[" .. table.concat(shape, ", ") .. "]"
end

-- ---------------------------------------------------------------- elementwise

local UNARY = { "exp", "log1p", "sigmoid", "tanh", "relu", "neg", "abs", "floor", "sign", "gelu",
  "silu", "sin", "rsqrt", "reciprocal", "isnan" }
for _, shape in ipairs(SHAPES) do
  local x = graphids.randn(shape)
  for _, op in ipairs(UNARY) do
    method(op)
    agree(op .. " of " .. label(shape), function(dev) return x:to(dev)[op](x:to(dev)) end)
  end
  agree("leaky_relu, elu, softplus, clamp, pow of " .. label(shape), function(dev)
    local a = x:to(dev)
    return { a:leaky_relu(0.1), F.elu(a), F.softplus(a), a:clamp(-0.5, 0.5), a:pow(2) }
  end)
  agree("binary ops and comparisons of two " .. label(shape), function(dev)
    local a, b = x:to(dev), (x * 2 + 1):to(dev)
    return { a + b, a - b, a * b, a / b, graphids.maximum(a, b), graphids.atan2(a, b), a:gt(b),
      graphids.where(a:gt(0), a, b), a:to("i64") + 3, (a:to("i64") * 2):remainder(3) }
  end)
  agree("conversions and copies of " .. label(shape), function(dev)
    local a = x:to(dev)
    local z = graphids.zeros(shape, { device = dev })
    z:copy_(a)
    return { a:to("i64"), a:to("bool"), a:to("f64"), a:clone(), z, a:contiguous() }
  end)
end

agree("broadcasts over an empty dim: [0, 5] + [5], [5, 0] * [5, 1], [2, 0, 3] - [1, 1, 3]",
  function(dev)
    return { graphids.randn(0, 5):to(dev) + graphids.ones(5):to(dev),
      graphids.randn(5, 0):to(dev) * graphids.ones(5, 1):to(dev),
      graphids.randn(2, 0, 3):to(dev) - graphids.ones(1, 1, 3):to(dev) }
  end)

agree("transposed and narrowed empty views made contiguous", function(dev)
  local a = graphids.randn(2, 0, 3):to(dev)
  local b = graphids.randn(4, 6):to(dev)
  return { a:transpose(1, 3):contiguous(), b:narrow(2, 3, 0):contiguous(),
    b:narrow(1, 2, 0):t():contiguous() }
end)

agree("fill_, zero_ and creation with a 0 size on the device", function(dev)
  local a = graphids.randn(5, 0):to(dev)
  a:fill_(3)
  local b = graphids.randn(0, 2):to(dev)
  b:zero_()
  return { a, b, graphids.zeros(0, 3, { device = dev }), graphids.full({ 3, 0 }, 2, { device = dev }),
    graphids.ones({ 0 }, { dtype = "i64", device = dev }) }
end)

-- ---------------------------------------------------------------- reductions, scans, sorts

for _, shape in ipairs(SHAPES) do
  local x = graphids.randn(shape)
  agree("sum and mean of all of " .. label(shape), function(dev)
    local a = x:to(dev)
    return { a:sum(), a:mean(), a:to("i64"):sum() }
  end)
  for d = 1, #shape do
    local what = " of " .. label(shape) .. " along dim " .. d
    for _, op in ipairs({ "sum", "mean", "amax", "amin", "cumsum", "cumprod", "softmax",
      "log_softmax", "argmax", "argmin", "var", "std" }) do
      method(op)
      agree(op .. what, function(dev) local a = x:to(dev); return a[op](a, d) end)
    end
    for _, op in ipairs({ "max", "min", "sort" }) do
      method(op)
      agree(op .. " (values and positions)" .. what, function(dev)
        local a = x:to(dev)
        return table.pack(a[op](a, d))
      end)
    end
    agree("argsort and topk 0" .. what, function(dev)
      local a = x:to(dev)
      return { a:argsort(d), table.pack(a:topk(0, d)) }
    end)
    agree("keepdim sum and amax" .. what, function(dev)
      local a = x:to(dev)
      return { a:sum(d, { keepdim = true }), a:amax(d, { keepdim = true }) }
    end)
  end
end

-- ---------------------------------------------------------------- index and segment ops

agree("index_select: no indexes, and an empty source with no indexes", function(dev)
  local none = graphids.zeros({ 0 }, { dtype = "i64" }):to(dev)
  return { graphids.randn(6, 4):to(dev):index_select(1, none),
    graphids.randn(6, 4):to(dev):index_select(2, none),
    graphids.randn(0, 4):to(dev):index_select(1, none),
    graphids.randn(4, 0):to(dev):index_select(1, graphids.tensor({ 1, 3 }):to(dev)) }
end)

local X64 = graphids.randn(6, 4)
agree("gather, scatter_add_, index_add_ and scatter_ with empty indexes", function(dev)
  local x = X64:to(dev)
  local e = graphids.zeros({ 6, 0 }, { dtype = "i64" }):to(dev)
  local acc = X64:to(dev):clone()
  acc:scatter_add_(2, e, graphids.zeros(6, 0):to(dev))
  local acc2 = X64:to(dev):clone()
  acc2:index_add_(1, graphids.zeros({ 0 }, { dtype = "i64" }):to(dev), graphids.zeros(0, 4):to(dev))
  local acc3 = X64:to(dev):clone()
  acc3:scatter_(2, e, 1.5)
  return { x:gather(2, e), acc, acc2, acc3 }
end)

for _, shape in ipairs(SHAPES) do
  local x = graphids.randn(shape)
  agree("masked_select, nonzero and unique of " .. label(shape), function(dev)
    local a = x:to(dev)
    return { a:masked_select(a:gt(0)), a:gt(0):nonzero(), a:to("i64"):unique() }
  end)
end

local X34 = graphids.randn(3, 4)
agree("cat and stack with empty tensors", function(dev)
  local e, x = graphids.randn(0, 4):to(dev), X34:to(dev)
  return { graphids.cat({ e, x, e }, 1), graphids.cat({ e, e }, 1), graphids.stack({ e, e }),
    graphids.cat({ graphids.randn(3, 0):to(dev), x }, 2) }
end)

agree("segment ops: no rows into 3 segments, and rows into 0 segments refused alike", function(dev)
  local src, idx = graphids.zeros(0, 4):to(dev), graphids.zeros({ 0 }, { dtype = "i64" }):to(dev)
  local out = {}
  for _, op in ipairs({ "segment_sum", "segment_mean", "segment_max", "segment_min",
    "segment_softmax" }) do
    out[#out + 1] = table.pack(graphids[op](src, idx, 3))
    out[#out + 1] = table.pack(graphids[op](src, idx, 0))
  end
  return out
end)

-- ---------------------------------------------------------------- products

-- The same random values on both devices: a Generator seeded afresh for each call.
local function drawer(dev)
  local gen = graphids.Generator(7)
  return function(...)
    return graphids.randn({ ... }, { generator = gen }):to(dev)
  end
end

agree("mm and addmm: 0 rows, 0 columns, inner 0", function(dev)
  local r = drawer(dev)
  return { graphids.mm(r(0, 5), r(5, 3)), graphids.mm(r(3, 5), r(5, 0)), graphids.mm(r(3, 0), r(0, 4)),
    graphids.addmm(r(3), r(0, 5), r(5, 3)), graphids.addmm(r(4, 3), r(4, 0), r(0, 3), { beta = 0.5 }) }
end)

agree("bmm and matmul: 0 batches, 0 rows, 1-D empty operands", function(dev)
  local r = drawer(dev)
  return { graphids.bmm(r(0, 2, 3), r(0, 3, 4)), graphids.bmm(r(2, 0, 3), r(2, 3, 4)),
    graphids.bmm(r(2, 3, 0), r(2, 0, 4)), graphids.matmul(r(0), r(0)), graphids.matmul(r(0, 3, 5), r(5, 2)),
    graphids.matmul(r(4, 0), r(0)) }
end)

-- ---------------------------------------------------------------- models' building blocks

-- forward and the input gradients of fn over leaves made from the CPU tensors ins
local function with_grads(dev, ins, fn)
  local leaves = {}
  for i, t in ipairs(ins) do leaves[i] = t:detach():to(dev):requires_grad_() end
  local out = fn(table.unpack(leaves))
  local outs = type(out) == "table" and out or { out }
  local loss = nil
  for _, o in ipairs(outs) do
    local s = (o * 1.5):sum()
    loss = loss and loss + s or s
  end
  loss:backward()
  local r = { outs }
  for i, l in ipairs(leaves) do r[1 + i] = l.grad end
  return r
end

agree("graph attention (GAT and GATv2) over a graph with no edges, and with no nodes", function(dev)
  local out = {}
  for _, n in ipairs({ 4, 0 }) do
    local ei = graphids.zeros({ 2, 0 }, { dtype = "i64" }):to(dev)
    local x, as, ad = graphids.randn(n, 2, 3), graphids.randn(n, 2), graphids.randn(n, 2)
    out[#out + 1] = with_grads(dev, { x, as, ad }, function(a, b, c)
      return { core.graph_gat_attention(a, b, c, nil, ei, n, 0.2) }
    end)
    local att = graphids.randn(2, 3)
    out[#out + 1] = with_grads(dev, { x, x * 2, att }, function(a, b, c)
      return { core.graph_gatv2_attention(a, b, nil, c, ei, n, 0.2) }
    end)
  end
  return out
end)

local LSTM_W = {}
for d = 0, 1 do
  LSTM_W[4 * d + 1], LSTM_W[4 * d + 2] = graphids.randn(8, 5), graphids.randn(8, 2)
  LSTM_W[4 * d + 3], LSTM_W[4 * d + 4] = graphids.randn(8), graphids.randn(8)
end
local LIN_W, LIN_B = graphids.randn(3, 5), graphids.randn(3)
agree("bilstm over 0 nodes, and layer norm, linear and dropout over 0 rows", function(dev)
  local w = LSTM_W
  local r = { with_grads(dev, { graphids.randn(3, 0, 5), w[1], w[2] }, function(x, a, b)
    return core.bilstm(x, a, b, w[3]:to(dev), w[4]:to(dev), w[5]:to(dev), w[6]:to(dev),
      w[7]:to(dev), w[8]:to(dev))
  end) }
  r[#r + 1] = with_grads(dev, { graphids.randn(0, 5), graphids.ones(5), graphids.zeros(5) },
    function(x, g, b) return F.layer_norm(x, { 5 }, g, b) end)
  r[#r + 1] = with_grads(dev, { graphids.randn(0, 5), LIN_W, LIN_B },
    function(x, w2, b) return F.linear(x, w2, b) end)
  local gen = graphids.Generator(5)
  r[#r + 1] = F.dropout(graphids.randn(0, 5):to(dev), { p = 0.5, training = true, generator = gen })
  local e = graphids.zeros(0, 3):to(dev)
  e:bernoulli_(0.5, { generator = gen })
  r[#r + 1] = e
  return r
end)

T.finish()
