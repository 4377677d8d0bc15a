-- fused_check.lua -- CPU/GPU parity of the CUDA kernels a GAT training step needs beyond the
-- elementwise set (spec/gpu/gpu_check.lua): the fused GAT and GATv2 attention (forward and
-- backward, through autograd), the fused LSTM cell, matmul with batch dims or 1-D operands,
-- integer amax/amin and sums, max/min along a dim and argmax, bernoulli_ (the CPU's masks),
-- short GATConv training runs, one training step of each graph model family, the fusion
-- policies' steps, and the ops of the default GAT step that once had no kernel (self loops,
-- masked_fill, std, LayerNorm, bincount, bidirectional LSTM, stack).  Run by tools/gpu-check.sh
-- on a machine with a GPU; prints one line per failure and ends with "fused: N passed, M
-- failed".  Without a GPU it prints "skipped: <reason>" and exits 0.
--
-- Tolerances (relative to max(1, max |cpu|)): f32 2e-5 for the attention (channel sums in a
-- different order, FMA), 1e-5 for the LSTM cell (the CPU's f32 sigmoid/tanh approximations are
-- within 2e-7), 1e-5 for cuBLAS products; f64 1e-10 everywhere.  The models' gradients are held
-- to their own scale instead (MODEL_RTOL below).
local graphids = require "graphids"
local core = require "graphids.core"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("fused")
if not T.available() then
  return
end
local check, close, D = T.check, T.close, T.dev

graphids.manual_seed(17)

local function tol_of(dt, f32)
  return dt == "f32" and f32 or 1e-10
end

-- A leaf copy of t on dev that records gradients (nil stays nil).
local function leaf(t, dev)
  if t == nil then
    return nil
  end
  return (dev == "cpu" and t:clone() or t:to(dev)):requires_grad_()
end

-- edge_index [2, E] on N nodes: the last 5 nodes receive no edge, node 0 receives the first 40
-- (more edges than a warp has lanes), and sources are anywhere (some nodes send none).
local function graph(N, E)
  local src = graphids.randint(0, N, { E })
  local dst = graphids.randint(0, N - 5, { E })
  dst:narrow(1, 1, math.min(40, E)):fill_(0)
  return graphids.stack({ src, dst })
end

local N, E, H = 60, 300, 3
local CHANNELS = { 3, 8, 16, 40 } -- lane groups of 4, 8, 16 and 32 (40: two channels a lane)

-- ---------------------------------------------------------------- GAT (v1)

local function gat_inputs(dt, C, with_edge, with_scale)
  local ins = {
    x = graphids.randn(N, H, C):to(dt),
    a_src = graphids.randn(N, H):to(dt),
    a_dst = graphids.randn(N, H):to(dt),
    a_edge = with_edge and graphids.randn(E, H):to(dt) or nil,
    scale = with_scale and (graphids.rand(E, H):gt(0.3):to(dt) / 0.7) or nil,
    wo = graphids.randn(N, H, C):to(dt),
    wa = graphids.randn(E, H):to(dt),
  }
  return ins
end

-- out, alpha and every gradient of loss = sum(out * wo) (+ sum(alpha * wa)) on dev.
local function gat_run(dev, ins, ei, use_alpha)
  local x, as, ad, ae = leaf(ins.x, dev), leaf(ins.a_src, dev), leaf(ins.a_dst, dev),
    leaf(ins.a_edge, dev)
  local out, alpha = core.graph_gat_attention(x, as, ad, ae, ei:to(dev), N, 0.2,
    ins.scale and ins.scale:to(dev) or nil)
  local loss = (out * ins.wo:to(dev)):sum()
  if use_alpha then
    loss = loss + (alpha * ins.wa:to(dev)):sum()
  end
  loss:backward()
  return { out = out, alpha = alpha, x = x.grad, a_src = as.grad, a_dst = ad.grad,
    a_edge = ae and ae.grad or nil }
end

local RESULTS = { "out", "alpha", "x", "a_src", "a_dst", "a_edge" }

local function compare(g, c, tol, what)
  for _, k in ipairs(RESULTS) do
    if c[k] ~= nil or g[k] ~= nil then
      close(g[k], c[k], tol, what .. " " .. k)
    end
  end
end

for _, dt in ipairs({ "f32", "f64" }) do
  check("gat_attention forward and backward match the CPU (" .. dt .. ")", function()
    local ei = graph(N, E)
    for _, C in ipairs(CHANNELS) do
      for _, v in ipairs({ { false, false, true }, { true, false, true }, { true, true, false },
        { false, true, true } }) do
        local ins = gat_inputs(dt, C, v[1], v[2])
        local what = string.format("C=%d a_edge=%s scale=%s alpha=%s", C, tostring(v[1]),
          tostring(v[2]), tostring(v[3]))
        compare(gat_run(D, ins, ei, v[3]), gat_run("cpu", ins, ei, v[3]),
          tol_of(dt, 2e-5), what)
      end
    end
  end)
end

-- ---------------------------------------------------------------- GATv2

local function gatv2_inputs(dt, C, with_edge, with_scale, att3)
  return {
    xl = graphids.randn(N, H, C):to(dt),
    xr = graphids.randn(N, H, C):to(dt),
    edge_proj = with_edge and graphids.randn(E, H, C):to(dt) or nil,
    att = (att3 and graphids.randn(1, H, C) or graphids.randn(H, C)):to(dt),
    scale = with_scale and (graphids.rand(E, H):gt(0.3):to(dt) / 0.7) or nil,
    wo = graphids.randn(N, H, C):to(dt),
    wa = graphids.randn(E, H):to(dt),
  }
end

local function gatv2_run(dev, ins, ei, use_alpha)
  local xl, xr, ep, att = leaf(ins.xl, dev), leaf(ins.xr, dev), leaf(ins.edge_proj, dev),
    leaf(ins.att, dev)
  local out, alpha = core.graph_gatv2_attention(xl, xr, ep, att, ei:to(dev), N, 0.2,
    ins.scale and ins.scale:to(dev) or nil)
  local loss = (out * ins.wo:to(dev)):sum()
  if use_alpha then
    loss = loss + (alpha * ins.wa:to(dev)):sum()
  end
  loss:backward()
  return { out = out, alpha = alpha, x = xl.grad, xr = xr.grad,
    edge_proj = ep and ep.grad or nil, att = att.grad }
end

local RESULTS_V2 = { "out", "alpha", "x", "xr", "edge_proj", "att" }

for _, dt in ipairs({ "f32", "f64" }) do
  check("gatv2_attention forward and backward match the CPU (" .. dt .. ")", function()
    local ei = graph(N, E)
    for _, C in ipairs(CHANNELS) do
      for _, v in ipairs({ { false, false, true, false }, { true, false, true, true },
        { true, true, false, false }, { false, true, true, true } }) do
        local ins = gatv2_inputs(dt, C, v[1], v[2], v[4])
        local what = string.format("C=%d edge_proj=%s scale=%s alpha=%s", C, tostring(v[1]),
          tostring(v[2]), tostring(v[3]))
        local g, c = gatv2_run(D, ins, ei, v[3]), gatv2_run("cpu", ins, ei, v[3])
        for _, k in ipairs(RESULTS_V2) do
          if c[k] ~= nil or g[k] ~= nil then
            close(g[k], c[k], tol_of(dt, 2e-5), what .. " " .. k)
          end
        end
      end
    end
  end)
end

check("fused attention is deterministic: two GPU runs give the same bits", function()
  local ei = graph(N, E)
  local ins = gatv2_inputs("f32", 40, true, true, false)
  local a, b = gatv2_run(D, ins, ei, true), gatv2_run(D, ins, ei, true)
  for _, k in ipairs(RESULTS_V2) do
    T.identical(a[k], b[k], "gatv2 " .. k)
  end
  local ins1 = gat_inputs("f32", 8, true, false)
  local c, d = gat_run(D, ins1, ei, true), gat_run(D, ins1, ei, true)
  for _, k in ipairs(RESULTS) do
    T.identical(c[k], d[k], "gat " .. k)
  end
end)

check("fused attention without edges gives zeros, and forward-only calls work", function()
  local ei = graphids.zeros({ 2, 0 }, { dtype = "i64" })
  local x, as, ad = graphids.randn(7, 2, 5), graphids.randn(7, 2), graphids.randn(7, 2)
  local out, alpha = core.graph_gat_attention(x:to(D), as:to(D), ad:to(D), nil, ei:to(D), 7,
    0.2, nil)
  close(out, graphids.zeros(7, 2, 5), 0, "out")
  T.same_shape(alpha, graphids.zeros(0, 2), "alpha")
  local ei2 = graph(N, E)
  local ins = gatv2_inputs("f32", 16, true, false, false)
  local o2, a2 = core.graph_gatv2_attention(ins.xl:to(D), ins.xr:to(D), ins.edge_proj:to(D),
    ins.att:to(D), ei2:to(D), N, 0.2, nil)
  local o3, a3 = core.graph_gatv2_attention(ins.xl, ins.xr, ins.edge_proj, ins.att, ei2, N, 0.2,
    nil)
  close(o2, o3, 2e-5, "out without autograd")
  close(a2, a3, 2e-5, "alpha without autograd")
end)

-- The plugin keeps the last edge grouping for the next call on the same edge_index (the layers
-- of a model, each one's backward); an in-place write to the edge_index must make it anew.
check("attention reuses its plan only for an unchanged edge_index", function()
  local ins = gatv2_inputs("f32", 16, true, false, false)
  local ei = graph(N, E)
  local ed = ei:to(D)
  local function on(e, dev)
    return (core.graph_gatv2_attention(ins.xl:to(dev), ins.xr:to(dev), ins.edge_proj:to(dev),
      ins.att:to(dev), e, N, 0.2, nil))
  end
  close(on(ed, D), on(ei, "cpu"), 2e-5, "first call")
  close(on(ed, D), on(ei, "cpu"), 2e-5, "same edge_index again")
  local moved = ei:clone()
  moved:narrow(1, 2, 1):copy_(ei:narrow(1, 2, 1) * -1 + (N - 6)) -- every target elsewhere
  ed:copy_(moved:to(D))
  close(on(ed, D), on(moved, "cpu"), 2e-5, "after an in-place write")
  ed:narrow(1, 2, 1):fill_(N)
  local ok, err = pcall(on, ed, D)
  assert(not ok and tostring(err):match("edge_index target " .. N .. " of edge 0 is out of range"),
    tostring(err))
end)

check("fused attention range-checks edge_index on the GPU with the CPU's message", function()
  local x, as, ad = graphids.randn(7, 2, 5):to(D), graphids.randn(7, 2):to(D),
    graphids.randn(7, 2):to(D)
  local ei = graphids.tensor({ { 0, 1, 2 }, { 1, 7, 3 } }):to(D)
  local ok, err = pcall(core.graph_gat_attention, x, as, ad, nil, ei, 7, 0.2, nil)
  assert(not ok and tostring(err):match("edge_index target 7 of edge 1 is out of range"),
    tostring(err))
  local ei2 = graphids.tensor({ { 0, -1, 2 }, { 1, 2, 3 } }):to(D)
  ok, err = pcall(core.graph_gat_attention, x, as, ad, nil, ei2, 7, 0.2, nil)
  assert(not ok and tostring(err):match("edge_index source %-1 of edge 1"), tostring(err))
  if not T.dry then
    ok, err = pcall(core.graph_gat_attention, x, as, ad, nil, ei:cpu(), 7, 0.2, nil)
    assert(not ok and tostring(err):match("different devices"), tostring(err))
  end
end)

-- ---------------------------------------------------------------- LSTM cell

for _, dt in ipairs({ "f32", "f64" }) do
  check("lstm_cell forward and backward match the CPU (" .. dt .. ")", function()
    local Nr, Hd = 37, 50
    local gates = (graphids.randn(Nr, 4 * Hd) * 2):to(dt)
    local c_prev = graphids.randn(Nr, Hd):to(dt)
    local wh, wc = graphids.randn(Nr, Hd):to(dt), graphids.randn(Nr, Hd):to(dt)
    -- strided: the gates are a transposed view of a [4H, N] leaf
    local function run(dev, with_c, use_c, strided)
      local base = leaf(strided and gates:t():contiguous() or gates, dev)
      local g = strided and base:t() or base
      local cp = with_c and leaf(c_prev, dev) or nil
      local h, c = core.lstm_cell(g, cp)
      local loss = (h * wh:to(dev)):sum()
      if use_c then
        loss = loss + (c * wc:to(dev)):sum()
      end
      loss:backward()
      return { h = h, c = c, gates = base.grad, c_prev = cp and cp.grad or nil }
    end
    for _, v in ipairs({ { true, true, false }, { false, true, false }, { true, false, true },
      { false, false, true } }) do
      local g, c = run(D, v[1], v[2], v[3]), run("cpu", v[1], v[2], v[3])
      for _, k in ipairs({ "h", "c", "gates", "c_prev" }) do
        if c[k] ~= nil or g[k] ~= nil then
          close(g[k], c[k], tol_of(dt, 1e-5), string.format("%s (c_prev=%s, c used=%s, " ..
            "strided=%s)", k, tostring(v[1]), tostring(v[2]), tostring(v[3])))
        end
      end
    end
  end)
end

-- ---------------------------------------------------------------- bidirectional sequence LSTM

-- core.bilstm (runtime/src/cuda/bilstm.cu) against the CPU's: the output and the gradients of x
-- and all eight weights, with and without biases, one step and three, x strided, and the
-- backward both writing over the saved gates (graph not retained) and into its own buffer; f32
-- again with GEMM tuning on (its GEMMs through cuBLASLt, each shape's algorithm timed).
for _, mode in ipairs({ { "f32", false }, { "f64", false }, { "f32", true } }) do
  local dt, tuning = mode[1], mode[2]
  check("bilstm forward and backward match the CPU (" .. dt .. (tuning and ", GEMM tuning" or "")
    .. ")", function()
    local was = graphids.gpu.set_gemm_tuning(tuning)
    local tuned_before = #graphids.gpu.tuned_gemms()
    local Nr, C, Hd = 37, 20, 13
    local function case(Tn, bias, strided, retain)
      local x = graphids.randn(Tn, Nr, C):to(dt)
      local w = {}
      for d = 0, 1 do
        w[4 * d + 1] = (graphids.randn(4 * Hd, C) * 0.3):to(dt)
        w[4 * d + 2] = (graphids.randn(4 * Hd, Hd) * 0.3):to(dt)
        w[4 * d + 3] = bias and graphids.randn(4 * Hd):to(dt) or nil
        w[4 * d + 4] = bias and graphids.randn(4 * Hd):to(dt) or nil
      end
      local wo = graphids.randn(Tn, Nr, 2 * Hd):to(dt)
      local function run(dev)
        local xb = leaf(strided and x:transpose(1, 2):contiguous() or x, dev)
        local xi = strided and xb:transpose(1, 2) or xb
        local ws = {}
        for k = 1, 8 do ws[k] = leaf(w[k], dev) end
        local out = core.bilstm(xi, table.unpack(ws, 1, 8))
        ;(out * wo:to(dev)):sum():backward(nil, { retain_graph = retain })
        local r = { out = out, x = xb.grad }
        for k = 1, 8 do r[k] = ws[k] and ws[k].grad or nil end
        return r
      end
      local g, c = run(D), run("cpu")
      local what = string.format("(T=%d, bias=%s, strided=%s, retain=%s)", Tn, tostring(bias),
        tostring(strided), tostring(retain))
      for _, k in ipairs({ "out", "x", 1, 2, 3, 4, 5, 6, 7, 8 }) do
        if c[k] ~= nil or g[k] ~= nil then
          close(g[k], c[k], tol_of(dt, 1e-4), tostring(k) .. " " .. what)
        end
      end
    end
    case(3, true, false, false)
    case(3, true, true, true)
    case(1, true, false, false)
    case(4, false, false, true)
    graphids.gpu.set_gemm_tuning(was)
    local tuned = #graphids.gpu.tuned_gemms() - tuned_before
    -- the loopback device's products are the CPU's: it tunes nothing
    local want_tuned = tuning and not graphids.gpu.info():match("loopback")
    assert(want_tuned == (tuned > 0), tuned .. " shapes tuned with tuning " .. tostring(tuning))
  end)
end

for _, dt in ipairs({ "f32", "f64" }) do
  check("jk_sum forward and backward match the CPU (" .. dt .. ")", function()
    local x, a = graphids.randn(3, 301, 70):to(dt), graphids.randn(3, 301):to(dt)
    local wo = graphids.randn(301, 70):to(dt)
    for _, want in ipairs({ { true, true }, { true, false }, { false, true } }) do
      local function run(dev)
        local xl = want[1] and leaf(x, dev) or x:to(dev)
        local al = want[2] and leaf(a, dev) or a:to(dev)
        local y = core.jk_sum(xl, al)
        ;(y * wo:to(dev)):sum():backward()
        return { y = y, x = want[1] and xl.grad or nil, a = want[2] and al.grad or nil }
      end
      local g, c = run(D), run("cpu")
      for _, k in ipairs({ "y", "x", "a" }) do
        if c[k] ~= nil or g[k] ~= nil then
          close(g[k], c[k], tol_of(dt, 1e-6), string.format("%s (x grad %s, alpha grad %s)", k,
            tostring(want[1]), tostring(want[2])))
        end
      end
    end
  end)
end

check("JumpingKnowledge lstm matches the CPU (forward and gradients)", function()
  local n, channels, layers = 300, 16, 3
  local jk = graphids.nn.JumpingKnowledge("lstm", { channels = channels, num_layers = layers })
  local jd = graphids.nn.JumpingKnowledge("lstm", { channels = channels, num_layers = layers })
  jd:load_state_dict(jk:state_dict())
  jd:to(D)
  local xs, xd = {}, {}
  for i = 1, layers do
    xs[i] = graphids.randn(n, channels):requires_grad_()
    xd[i] = xs[i]:detach():to(D):requires_grad_()
  end
  local w = graphids.randn(n, channels)
  local yc, yd = jk(xs), jd(xd)
  ;(yc * w):sum():backward()
  ;(yd * w:to(D)):sum():backward()
  close(yd, yc, 1e-4, "output")
  for i = 1, layers do close(xd[i].grad, xs[i].grad, 1e-4, "x" .. i .. " grad") end
  local pd = {}
  for name, p in jd:named_parameters() do pd[name] = p end
  for name, p in jk:named_parameters() do close(pd[name].grad, p.grad, 1e-4, name .. " grad") end
end)

-- ---------------------------------------------------------------- matmul

check("matmul with batch dims and 1-D operands matches the CPU", function()
  local cases = {
    { { 4, 30, 20 }, { 20, 10 } },        -- folded into one GEMM
    { { 4, 30, 20 }, { 4, 20, 10 } },     -- strided batched
    { { 2, 1, 30, 20 }, { 1, 3, 20, 10 } }, -- broadcast both ways (packed copies)
    { { 3, 30, 20 }, { 1, 20, 10 } },     -- a size-1 batch dim shared
    { { 20, 10 }, { 4, 10, 6 } },         -- a shared left operand
    { { 20 }, { 4, 20, 10 } },            -- 1-D left
    { { 4, 30, 20 }, { 20 } },            -- 1-D right
    { { 20 }, { 20 } },                   -- dot product, 0-d result
    { { 20 }, { 20, 7 } },
    { { 5, 0, 20 }, { 20, 7 } },          -- empty
    { { 5, 3, 0 }, { 5, 0, 7 } },         -- empty inner dim: zeros
  }
  for _, dt in ipairs({ "f32", "f64" }) do
    for _, cs in ipairs(cases) do
      local a, b = graphids.randn(cs[1]):to(dt), graphids.randn(cs[2]):to(dt)
      local what = string.format("matmul [%s] @ [%s] %s", table.concat(cs[1], ","),
        table.concat(cs[2], ","), dt)
      close(graphids.matmul(a:to(D), b:to(D)), graphids.matmul(a, b), tol_of(dt, 1e-5), what)
    end
    local a, b = graphids.randn(6, 30, 20):to(dt), graphids.randn(6, 20, 10):to(dt)
    local bmm = graphids.bmm or core.bmm
    close(bmm(a:to(D), b:to(D)), bmm(a, b), tol_of(dt, 1e-5), "bmm " .. dt)
    local at = graphids.randn(6, 20, 30):to(dt):transpose(2, 3)
    close(bmm(at:to(D), b:to(D)), bmm(at, b), tol_of(dt, 1e-5), "bmm of a transposed view")
  end
end)

check("gradients through batched matmul match the CPU", function()
  local a0, b0 = graphids.randn(2, 1, 30, 20), graphids.randn(3, 20, 10)
  local w = graphids.randn(2, 3, 30, 10)
  local function run(dev)
    local a, b = leaf(a0, dev), leaf(b0, dev)
    ;(graphids.matmul(a, b) * w:to(dev)):sum():backward()
    return a.grad, b.grad
  end
  local ga, gb = run(D)
  local ca, cb = run("cpu")
  close(ga, ca, 1e-5, "grad of a")
  close(gb, cb, 1e-5, "grad of b")
end)

-- ---------------------------------------------------------------- integer amax / amin

check("amax and amin of i64 and i32 tensors match the CPU", function()
  for _, dt in ipairs({ "i64", "i32" }) do
    local x = graphids.randint(-1000000, 1000000, { 300, 70 }):to(dt)
    local g = x:to(D)
    assert(g:max():item() == x:max():item(), dt .. " max")
    assert(g:min():item() == x:min():item(), dt .. " min")
    close(g:amax(1), x:amax(1), 0, dt .. " amax dim 1")
    close(g:amin(2), x:amin(2), 0, dt .. " amin dim 2")
    local big = graphids.randint(0, 1000, { 200000 }):to(dt) -- the split (chunked) path
    assert(big:to(D):max():item() == big:max():item(), dt .. " max of 200000")
  end
end)

-- ---------------------------------------------------------------- dropout masks, argmax, counts

check("bernoulli_ on the GPU draws the CPU's mask, bit for bit, and advances the generator", function()
  for _, dt in ipairs({ "f32", "f64" }) do
    for _, n in ipairs({ 1, 3, 1000, 4099 }) do
      local g1, g2 = graphids.Generator(99), graphids.Generator(99)
      -- an odd offset first, so the draw starts inside a Philox block
      graphids.empty({ 5 }):bernoulli_(0.5, { generator = g1 })
      graphids.empty({ 5 }):bernoulli_(0.5, { generator = g2 })
      local c = graphids.empty({ n }, { dtype = dt }):bernoulli_(0.3, { generator = g1 })
      local g = graphids.empty({ n }, { dtype = dt, device = D }):bernoulli_(0.3, { generator = g2 })
      close(g, c, 0, string.format("mask of %d %s", n, dt))
      local c2 = graphids.empty({ 7 }):bernoulli_(0.5, { generator = g1 })
      local g3 = graphids.empty({ 7 }):bernoulli_(0.5, { generator = g2 })
      assert(graphids.equal(c2, g3), "the next CPU draw after a GPU draw is the same")
    end
  end
  local t = graphids.empty({ 6, 5 }, { device = D }):t() -- strided: drawn in row-major order
  local c = graphids.empty({ 5, 6 })
  graphids.manual_seed(4)
  t:bernoulli_(0.5)
  graphids.manual_seed(4)
  c:bernoulli_(0.5)
  close(t, c, 0, "strided mask")
  close(graphids.ones(9, { device = D }):bernoulli_(1), graphids.ones(9), 0, "p = 1")
  close(graphids.ones(9, { device = D }):bernoulli_(0), graphids.zeros(9), 0, "p = 0")
end)

check("max/min along a dim, argmax and argmin match the CPU", function()
  for _, dt in ipairs({ "f32", "f64", "i64", "i32" }) do
    local x = dt:match("^f") and graphids.randn(50, 7, 9):to(dt)
      or graphids.randint(-3, 4, { 50, 7, 9 }):to(dt) -- ties: the first one wins
    for _, d in ipairs({ 1, 2, 3 }) do
      local vg, ig = x:to(D):max(d)
      local vc, ic = x:max(d)
      close(vg, vc, 0, dt .. " max values dim " .. d)
      close(ig, ic, 0, dt .. " max indices dim " .. d)
      vg, ig = x:to(D):min(d, { keepdim = true })
      vc, ic = x:min(d, { keepdim = true })
      close(vg, vc, 0, dt .. " min values keepdim")
      close(ig, ic, 0, dt .. " min indices keepdim")
      close(x:to(D):argmax(d), x:argmax(d), 0, dt .. " argmax")
    end
    close(x:to(D):argmin(), x:argmin(), 0, dt .. " argmin of all")
  end
  local n = graphids.tensor({ { 1, 0 / 0, 3, 0 / 0 }, { 2, 5, 5, 1 } })
  close(n:to(D):argmax(2), n:argmax(2), 0, "the first NaN wins")
end)

check("sums of bool and integer tensors give the CPU's i64", function()
  local logits, y = graphids.randn(1000, 2), graphids.randint(0, 2, { 1000 })
  local acc_g = logits:to(D):argmax(2):eq(y:to(D)):sum()
  local acc_c = logits:argmax(2):eq(y):sum()
  close(acc_g, acc_c, 0, "accuracy count")
  local i = graphids.randint(-2 ^ 40, 2 ^ 40, { 300, 50 })
  close(i:to(D):sum(1), i:sum(1), 0, "i64 sum dim 1")
  close(i:to("i32"):to(D):sum(), i:to("i32"):sum(), 0, "i32 sum (wraps as the CPU)")
  close(graphids.ones(70000):gt(0):to(D):sum(), graphids.ones(70000):gt(0):sum(), 0, "bool sum")
end)

check("nonzero matches the CPU (row-major coordinates)", function()
  local x = graphids.randn(37, 11, 5)
  x = graphids.where(x:gt(0.5), x, 0.0)
  close(x:to(D):nonzero(), x:nonzero(), 0, "f32 3-d")
  close(x:to(D):transpose(1, 3):nonzero(), x:transpose(1, 3):nonzero(), 0, "a strided view")
  local b = graphids.randint(0, 2, { 70000 }):gt(0)
  close(b:to(D):nonzero(), b:nonzero(), 0, "bool, 70000")
  local i = graphids.randint(-1, 2, { 9, 9 }):to("i32")
  close(i:to(D):nonzero(), i:nonzero(), 0, "i32")
  close(graphids.zeros(4, 3):to(D):nonzero(), graphids.zeros(4, 3):nonzero(), 0, "none")
  close(graphids.tensor(0 / 0):to(D):nonzero(), graphids.tensor(0 / 0):nonzero(), 0,
    "0-d NaN counts")
end)

check("masked_select matches the CPU (broadcast mask, any dtype)", function()
  local x = graphids.randn(40, 30)
  local m = graphids.randn(40, 30):gt(0)
  close(x:to(D):masked_select(m:to(D)), x:masked_select(m), 0, "f32")
  local row = graphids.randn(30):gt(0)
  close(x:to(D):masked_select(row:to(D)), x:masked_select(row), 0, "broadcast mask")
  local i = graphids.randint(-9, 9, { 40, 30 })
  close(i:to(D):t():masked_select(m:t():to(D)), i:t():masked_select(m:t()), 0, "i64 strided")
  close(x:to(D):masked_select(graphids.zeros(40, 30):gt(1):to(D)),
    x:masked_select(graphids.zeros(40, 30):gt(1)), 0, "nothing selected")
end)

check("unique (values, inverse, counts) matches the CPU", function()
  for _, dt in ipairs({ "i64", "i32", "u8" }) do
    local x = graphids.randint(0, 50, { 30, 40 }):to(dt)
    local vg, ig, cg = graphids.unique(x:to(D), { return_inverse = true, return_counts = true })
    local vc, ic, cc = graphids.unique(x, { return_inverse = true, return_counts = true })
    close(vg, vc, 0, dt .. " values")
    close(ig, ic, 0, dt .. " inverse")
    close(cg, cc, 0, dt .. " counts")
  end
  local neg = graphids.randint(-2 ^ 40, 2 ^ 40, { 5000 })
  close(graphids.unique(neg:to(D)), graphids.unique(neg), 0, "negative i64")
  close(graphids.unique(graphids.ones(3):gt(0):to(D)), graphids.unique(graphids.ones(3):gt(0)), 0,
    "bool")
end)

check("scatter_ (last write wins) and scatter_ of a value match the CPU", function()
  local self = graphids.zeros(20, 30)
  local idx = graphids.randint(0, 20, { 50, 30 }) -- many positions meet
  local src = graphids.randn(50, 30)
  local g = self:to(D)
  g:scatter_(1, idx:to(D), src:to(D))
  local c = self:clone()
  c:scatter_(1, idx, src)
  close(g, c, 0, "scatter_ dim 1")
  local g2, c2 = self:to(D), self:clone()
  local idx2 = graphids.randint(0, 30, { 20, 7 })
  g2:scatter_(2, idx2:to(D), 2.5)
  c2:scatter_(2, idx2, 2.5)
  close(g2, c2, 0, "scatter_ of a number, dim 2")
  local b = graphids.zeros({ 9 }, { dtype = "bool" })
  local bi = graphids.tensor({ 1, 4, 4, 8 })
  local bg = b:to(D)
  bg:scatter_(1, bi:to(D), true)
  b:scatter_(1, bi, true)
  close(bg, b, 0, "scatter_ of true into bool")
  close(graphids.nn.functional.one_hot(graphids.tensor({ 0, 2, 1 }):to(D), 3),
    graphids.nn.functional.one_hot(graphids.tensor({ 0, 2, 1 }), 3), 0, "one_hot")
end)

-- ---------------------------------------------------------------- a GNN training run

-- Two GATConv layers on a random graph, 15 AdamW steps of node classification, without self
-- loops, without and with dropout (the device draws the CPU's masks: bernoulli_ above).  The
-- recipe's whole GATClassifier trains in spec/gpu/train_check.lua.
local function gat_curve(dev, dropout)
  graphids.manual_seed(5)
  local nn = graphids.nn
  local Nn = 200
  local conv1 = nn.GATConv(16, 8, { heads = 4, add_self_loops = false, dropout = dropout })
  local conv2 = nn.GATConv(32, 3, { heads = 1, add_self_loops = false, dropout = dropout })
  local params = {}
  for _, m in ipairs({ conv1, conv2 }) do
    m:to(dev)
    for _, p in ipairs(m:parameters()) do
      params[#params + 1] = p
    end
  end
  local opt = graphids.optim.AdamW(params, { lr = 1e-2 })
  local x = graphids.randn(Nn, 16):to(dev)
  local ei = graphids.randint(0, Nn, { 2, 1000 }):to(dev)
  local y = graphids.randint(0, 3, { Nn }):to(dev)
  local curve = {}
  for step = 1, 15 do
    opt:zero_grad()
    local h = conv1(x, ei):elu()
    local loss = nn.functional.cross_entropy(conv2(h, ei), y)
    loss:backward()
    opt:step()
    curve[step] = loss:item()
  end
  return curve
end

-- With dropout the GPU draws the CPU's masks (bernoulli_ above), so the curves still match.
for _, dropout in ipairs({ 0.0, 0.3 }) do
  check("a 15-step GATConv training run on the GPU follows the CPU's loss curve (dropout " ..
    dropout .. ")", function()
    local cpu, gpu = gat_curve("cpu", dropout), gat_curve(D, dropout)
    for i = 1, #cpu do
      local e = math.abs(cpu[i] - gpu[i]) / math.max(1, math.abs(cpu[i]))
      assert(e < 1e-4, string.format("step %d: cpu %.7f gpu %.7f", i, cpu[i], gpu[i]))
    end
    assert(cpu[#cpu] < cpu[1], "the loss goes down")
  end)
end

-- ---------------------------------------------------------------- model training steps

-- One training step of each model family (small preset) on a random batch of window-like
-- graphs, on the CPU and on the GPU from the same seeds (dropout on: the device draws the CPU's
-- masks).  The step must run on the GPU and give the CPU's loss and gradients.
local function model_batch(num_ids, seed)
  local g = graphids.Generator(seed or 1)
  local xs, eis, eas, ids, bs, ptr, ys = {}, {}, {}, {}, {}, { 0 }, {}
  local off = 0
  for i, n in ipairs({ 5, 4, 1, 7, 12 }) do
    local e = 2 * n
    local src = graphids.randint(0, n, { e }, { generator = g }) + off
    local dst = graphids.randint(0, n, { e }, { generator = g }) + off
    eis[i] = graphids.stack({ src, dst })
    xs[i] = graphids.rand({ n, 35 }, { generator = g })
    eas[i] = graphids.randn({ e, 11 }, { generator = g })
    ids[i] = graphids.randint(0, num_ids, { n }, { generator = g })
    bs[i] = graphids.full({ n }, i - 1, { dtype = "i64" })
    ys[i] = i % 2
    off = off + n
    ptr[i + 1] = off
  end
  return { x = graphids.cat(xs, 1), edge_index = graphids.cat(eis, 2),
    edge_attr = graphids.cat(eas, 1), node_id = graphids.cat(ids, 1), batch = graphids.cat(bs, 1),
    ptr = graphids.tensor(ptr, { dtype = "i64" }), y = graphids.tensor(ys, { dtype = "i64" }),
    num_graphs = #ys, num_nodes = off }
end

local function model_step(family, cls, dev)
  local models = require "graphids.models"
  graphids.manual_seed(3)
  local m = models[cls](models.presets[family].small({ num_ids = 10 }))
  m:to(dev)
  local b = {}
  for k, v in pairs(model_batch(10)) do -- moving every field: the order does not matter
    b[k] = type(v) == "userdata" and v:to(dev) or v
  end
  local loss = m:training_step(b, { generator = graphids.Generator(1) })
  loss:backward()
  local grads = {}
  for name, p in m:named_parameters() do
    grads[#grads + 1] = { name, p.grad }
  end
  return loss, grads
end

-- Each gradient is held to its own scale (T.rel_close), not to max(1, max |cpu|): the models'
-- gradients are 1e-5..1e-1, so an absolute bound would pass a small one that came out zero.
-- 2e-3 of that scale leaves room for f32 sums in another order (cuBLAS, the fused attention,
-- the segment reductions; no TF32 here).  The floor, 1e-3 of the model's largest gradient,
-- covers the gradients that are zero in exact arithmetic and so only rounding noise (a conv's
-- bias before a norm, the JK attention's bias before its softmax): no relative bound applies.
-- (With 1e-4 the VGAE's first encoder bias, 9e-9 on the CPU, failed one run in three on an
-- H200: 3e-7 of the largest gradient off, its atomic sums added in another order.)
local MODEL_RTOL = 2e-3

for _, fam in ipairs({ { "gat", "GATClassifier" }, { "vgae", "VGAE" }, { "dgi", "DGI" } }) do
  -- a step that fails on the device (an op without a kernel) fails this check
  check(fam[2] .. " training step on the GPU gives the CPU's loss and gradients", function()
    local lg, gg = model_step(fam[1], fam[2], D)
    local lc, gc = model_step(fam[1], fam[2], "cpu")
    T.rel_close(lg, lc, 1e-4, "loss")
    assert(#gg == #gc, "parameter count")
    local top = 0
    for i = 1, #gc do
      if gc[i][2] ~= nil then top = math.max(top, gc[i][2]:abs():amax():item()) end
    end
    assert(top > 0, "the CPU's gradients are all zero")
    for i = 1, #gc do
      assert(gg[i][1] == gc[i][1], "parameter order")
      if gc[i][2] ~= nil or gg[i][2] ~= nil then
        T.rel_close(gg[i][2], gc[i][2], MODEL_RTOL, "gradient of " .. gc[i][1], 1e-3 * top)
      end
    end
  end)
end

-- A training step of a graph model on the device (zero_grad, training step, backward, Adam),
-- over the batch `t.batch` (t.on_batch(seed) moves model_batch(10, seed) there), and the
-- waits for the device it made (graphids.gpu.waits()).
local function device_stepper(family, cls)
  local models = require "graphids.models"
  graphids.manual_seed(3)
  local m = models[cls](models.presets[family].small({ num_ids = 10 }))
  m:to(D)
  local t = { opt = graphids.optim.Adam(m:parameters(), { lr = 1e-3 }) }
  local gen = graphids.Generator(1)
  function t.on_batch(seed)
    t.batch = {}
    for k, v in pairs(model_batch(10, seed)) do
      t.batch[k] = type(v) == "userdata" and v:to(D) or v
    end
  end
  function t.step()
    local w0 = graphids.gpu.waits()
    t.opt:zero_grad()
    local loss, logs = m:training_step(t.batch, { generator = gen })
    loss:backward()
    t.opt:step()
    return graphids.gpu.waits() - w0, logs
  end
  t.on_batch(1)
  return t
end

-- A GAT training step reads nothing back: the batch's index tensors came from the host with
-- their ranges (so every range check answers on the host), the loss and accuracy it logs stay on
-- the device, and no op sizes its result from device values.  A wait would leave the GPU idle
-- while the host queues what follows (docs/cuda.md, "Waits for the device").
T.device_check("a GAT training step waits for the device nowhere once its forms are made, once a " ..
  "new batch", function()
  local t = device_stepper("gat", "GATClassifier")
  t.step() -- the first makes the self-loop forms and reads the ranges of what it made
  for i = 1, 3 do
    local waits, logs = t.step()
    assert(waits == 0, waits .. " waits in step " .. i .. " over the same batch")
    assert(logs.train_loss:item() > 0 and logs.train_acc:item() >= 0, "the logged values")
  end
  -- a new batch each step, as in training: only nonzero's count (the kept edges of the
  -- self-loop form) is read; the indexes made from the batch's have bounds (core/ranges.c)
  for seed = 2, 4 do
    t.on_batch(seed)
    local waits = t.step()
    assert(waits == 1, waits .. " waits in a step over a new batch (seed " .. seed .. ")")
  end
end)

-- The VGAE and DGI steps: the DGI reads nothing back; the VGAE's loss reads the count of the
-- negative samples that are not true neighbours (masked_select) and checks its total is finite.
T.device_check("VGAE and DGI training steps wait only where the VGAE loss reads", function()
  for _, fam in ipairs({ { "dgi", "DGI", 0 }, { "vgae", "VGAE", 2 } }) do
    local t = device_stepper(fam[1], fam[2])
    t.step()
    for i = 1, 3 do
      local waits = t.step()
      assert(waits == fam[3], string.format("%s, step %d: %d waits, expected %d", fam[2], i,
        waits, fam[3]))
    end
  end
end)

-- The trainer reads a step's logged values (a loss and an accuracy on the device) in one copy
-- after the backward: one wait a step for a model whose step reads nothing itself.
T.device_check("the trainer reads a step's logged values in one copy, and predictions once a key", function()
  package.path = dir .. "/../?.lua;" .. package.path
  local tiny = require "trainer.support.tiny"
  local Trainer = require("graphids.trainer").Trainer
  local Callback = require "graphids.callbacks.base"
  local Probe = require("graphids.class")("Probe", Callback)
  local at = {}
  function Probe.on_train_batch_end()
    at[#at + 1] = graphids.gpu.waits()
  end
  local t = Trainer { max_epochs = 1, progress = "off", device = D, callbacks = { Probe() },
    enable_checkpointing = false }
  local model, dm = tiny.MLP { in_dim = 4, hidden = 8, seed = 3 },
    tiny.DataModule { n = 48, batch_size = 8, seed = 2 }
  t:fit(model, dm)
  assert(#at == 6, #at .. " steps")
  for i = 2, #at do
    assert(at[i] - at[i - 1] == 1, (at[i] - at[i - 1]) .. " waits in step " .. i)
  end
  assert(t.callback_metrics.train_loss > 0 and t.callback_metrics.train_acc >= 0, "metrics")
  -- predictions stay on the device until the end: one move to the host per key (scores,
  -- preds, labels, window_start, source_file), not one per batch and key
  local w0 = graphids.gpu.waits()
  local out = t:predict(model, dm:val_loader())
  local waits = graphids.gpu.waits() - w0
  local keys = 0
  for _, v in pairs(out) do
    assert(v.device == "cpu" and v:size(1) == 24, "24 rows of each output on the host")
    keys = keys + 1
  end
  assert(keys == 5 and waits == keys, waits .. " waits for three batches of " .. keys .. " outputs")
end)

-- A finite loss with a NaN gradient stops the fit on the device as on the CPU, before the
-- optimizer step: the gradients' count comes back in the logged values' copy, so a step still
-- waits once.
T.device_check("the trainer stops on a NaN gradient before the step, with one wait a step", function()
  package.path = dir .. "/../?.lua;" .. package.path
  local tiny = require "trainer.support.tiny"
  local Trainer = require("graphids.trainer").Trainer
  local Callback = require "graphids.callbacks.base"
  local Probe = require("graphids.class")("NaNGradProbe", Callback)
  local at, before = {}, nil
  function Probe.on_train_batch_end(_, trainer)
    at[#at + 1] = graphids.gpu.waits()
    before = tiny.weights(trainer.model)
  end
  local model = tiny.MLP { in_dim = 4, hidden = 8, seed = 3 }
  local orig = model.training_step
  rawset(model, "training_step", function(self, b, ctx)
    local loss, logs = orig(self, b, ctx)
    if self.calls == 4 then loss = loss + (self.fc2.bias * 0):sqrt():sum() end
    return loss, logs
  end)
  local t = Trainer { max_epochs = 1, progress = "off", device = D, callbacks = { Probe() },
    enable_checkpointing = false }
  local ok, err = pcall(t.fit, t, model, tiny.DataModule { n = 48, batch_size = 8, seed = 2 })
  assert(not ok and tostring(err):find("2 gradient values are inf or NaN", 1, true), tostring(err))
  assert(#at == 3, #at .. " steps before the bad one")
  for i = 2, #at do
    assert(at[i] - at[i - 1] == 1, (at[i] - at[i - 1]) .. " waits in step " .. i)
  end
  assert(tiny.same_weights(before, tiny.weights(model)), "the weights of the last good step")
end)

-- The fusion policies over 15-D states: a training step and a test step on the device from the
-- CPU's weights, seeds and generator, against the same on the CPU: the loss and every output
-- of the test step (predictions exactly, scores within f32 rounding).
check("the fusion policies train and test on the GPU as on the CPU", function()
  local models = require "graphids.models"
  local g = graphids.Generator(5)
  local labels = graphids.randint(2, { 64 }, { generator = g })
  local states = graphids.rand({ 64, 15 }, { generator = g })
  local function run(name, dev)
    local cls = ({ dqn = "DQNFusion", bandit = "BanditFusion", mlp = "MLPFusion",
      weighted_avg = "WeightedAvgFusion" })[name]
    local over = ({ dqn = { batch_size = 32 }, bandit = { batch_size = 32, retrain_every = 1 } })
    graphids.manual_seed(12)
    local m = models.resolve("graphids.models.fusion." .. cls)(
      models.presets.fusion[name](over[name] or {}))
    m:to(dev)
    local batch = { states = states:to(dev), labels = labels:to(dev) }
    local loss = m:training_step(batch, { generator = graphids.Generator(1) })
    if m.automatic_optimization ~= false and loss ~= nil then loss:backward() end
    return loss, m:test_step(batch)
  end
  for _, name in ipairs({ "dqn", "bandit", "mlp", "weighted_avg" }) do
    local lg, tg = run(name, D)
    local lc, tc = run(name, "cpu")
    assert(T.dry or tg.preds.device:match("^cuda"), name .. ": predictions on " .. tg.preds.device)
    -- (the bandit's loss of its manual optimization is a host value: compared as a number)
    if graphids.is_tensor(lc) then
      local a, b = lg:item(), lc:item()
      assert(math.abs(a - b) <= 1e-5 * math.max(math.abs(b), 1e-6),
        string.format("%s: training loss %.8g, the CPU's %.8g", name, a, b))
    end
    local keys = 0
    for k, c in pairs(tc) do
      if graphids.is_tensor(c) then
        keys = keys + 1
        local gk = tg[k]
        if c.dtype == "f32" or c.dtype == "f64" then
          T.close(gk, c, 1e-5, name .. ": test output " .. k)
        else
          T.close(gk, c, 0, name .. ": test output " .. k)
        end
      end
    end
    assert(keys > 0 and tc.preds ~= nil, name .. ": the test step's outputs")
  end
end)

-- ---------------------------------------------------------------- pieces of the default GAT step

-- Once probes of ops without a CUDA kernel; each is now compared with the CPU.
check("add_self_loops, masked_fill, std, LayerNorm, bincount, bidirectional nn.LSTM and stack " ..
  "match the CPU", function()
  local G = require "graphids.nn.graph"
  local ei = graphids.tensor({ { 0, 1, 2, 2, 4 }, { 1, 1, 0, 3, 4 } })
  local eg = G.add_self_loops(ei:to(D), nil, 6)
  local ec = G.add_self_loops(ei, nil, 6)
  T.close(eg, ec, 0, "add_self_loops")
  local ea = graphids.randn(5, 3)
  local eg2, ag2 = G.add_self_loops(ei:to(D), ea:to(D), 6)
  local ec2, ac2 = G.add_self_loops(ei, ea, 6)
  T.close(eg2, ec2, 0, "add_self_loops with edge_attr: edges")
  if ac2 ~= nil or ag2 ~= nil then T.close(ag2, ac2, 1e-6, "add_self_loops: edge_attr") end
  local x = graphids.randn(40, 9)
  T.close(x:to(D):masked_fill(x:to(D):gt(0), -2.5), x:masked_fill(x:gt(0), -2.5), 0, "masked_fill")
  T.rel_close(x:to(D):std(2), x:std(2), 2e-5, "std dim 2")
  local ln = graphids.nn.LayerNorm(9)
  local lnd = graphids.nn.LayerNorm(9)
  lnd:load_state_dict(ln:state_dict())
  lnd:to(D)
  T.rel_close(lnd(x:to(D)), ln(x), 2e-5, "LayerNorm")
  local ids = graphids.tensor({ 3, 1, 3, 0, 7 })
  T.close(graphids.bincount(ids:to(D)), graphids.bincount(ids), 0, "bincount")
  graphids.manual_seed(2)
  local lstm = graphids.nn.LSTM(4, 3, { bidirectional = true })
  local lstmd = graphids.nn.LSTM(4, 3, { bidirectional = true })
  lstmd:load_state_dict(lstm:state_dict())
  lstmd:to(D)
  local seq = graphids.randn(5, 2, 4)
  local og, oc = lstmd(seq:to(D)), lstm(seq)
  T.close(og, oc, 1e-5, "bidirectional nn.LSTM output")
  local a, b = graphids.randn(2, 3), graphids.randn(2, 3)
  T.close(graphids.stack({ a:to(D), b:to(D) }, 2), graphids.stack({ a, b }, 2), 0, "stack")
end)

T.finish()
