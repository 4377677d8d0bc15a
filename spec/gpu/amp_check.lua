-- amp_check.lua -- mixed precision on the GPU: f16/bf16 conversions (exact round trips, the
-- rounding of hand-picked values against PyTorch's bit patterns, zeros/ones/full/empty made on
-- the device, fill, the CPU refusing half storage), half mm / addmm / bmm / matmul against the
-- f32 CPU product, bmm of f32 CUDA tensors, autocast forward and backward of a Linear, of
-- batched products and of bilstm (TF32 products, under autocast and with gpu.set_rnn_tf32)
-- against f32, 20 steps of "16-mixed"
-- training (GradScaler directly, then through the Trainer) whose loss falls, and the Trainer's
-- use of the scaler: clipping the optimizer's parameters after unscaling (the steps equal
-- "32"'s), once per group of accumulated batches (accumulate_grad_batches), a bad scaler state
-- refused before a resume changes the model, no scaler for manual
-- optimization; GradScaler.unscale_ over gradients on two devices; half elements moved by
-- index_select, gather, masked_select, where and scatter_; half tensors saved to safetensors.
-- Run by tools/gpu-check.sh; ends with "amp: N passed, M failed".  Without a GPU it prints
-- "skipped: <reason>".  GRAPHIDS_GPU_DRYRUN=1 runs what the CPU can (autocast there is a no-op,
-- the CPU has no half storage: the half checks are left out, and say so).
--
-- Tolerances (relative to max(1, max |ref|)): a product of half-rounded inputs against the
-- CPU's f32 product of the same rounded inputs differs by the rounding of the output (bf16:
-- 2^-9 relative, f16: 2^-12) plus the summation order: 4e-3 (bf16), 1e-3 (f16).  Against the
-- unrounded f32 inputs the inputs' rounding adds about 2^-8 (bf16) / 2^-11 (f16) relative per
-- term: 2e-2 and 4e-3.  Autocast results and gradients against f32: the same 2e-2 / 4e-3.
local graphids = require "graphids"
local nn = require "graphids.nn"
local optim = require "graphids.optim"
local amp = require "graphids.amp"
local class = require "graphids.class"
local Module = require "graphids.nn.module"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("amp")
if not T.available() then
  return
end
local check, close, D = T.check, T.close, T.dev

graphids.manual_seed(23)

local HALF = { "bf16", "f16" }
local TOL_ROUNDED = { bf16 = 4e-3, f16 = 1e-3 }
local TOL_F32 = { bf16 = 2e-2, f16 = 4e-3 }

-- A Lua list of t's values (as f32 on the CPU: every half value is exact there).
local function values(t)
  return t:to("f32"):cpu():totable()
end

local function same_list(got, want, what)
  assert(#got == #want, string.format("%s: %d values, expected %d", what, #got, #want))
  for i = 1, #want do
    local g, w = got[i], want[i]
    if type(w) ~= "number" then -- booleans
      assert(g == w, string.format("%s: value %d is %s, expected %s", what, i, tostring(g), tostring(w)))
      goto continue
    end
    local ok = (w ~= w and g ~= g) or (g == w and (w ~= 0 or 1 / g == 1 / w)) -- NaN; -0
    assert(ok, string.format("%s: value %d is %s, expected %s", what, i, string.format("%.17g", g),
      string.format("%.17g", w)))
    ::continue::
  end
end

if T.dry then
  print("dry run: the f16/bf16 storage checks need a GPU (the CPU has no half storage)")
else
  -- ------------------------------------------------------------ conversions

  check("values representable in both halves round-trip exactly, from f32 and f64", function()
    local v = { 0, -0.0, 1, -2, 0.5, 0.375, 1024, -3.5, 0.015625, 96, math.huge, -math.huge, 0 / 0 }
    for _, dt in ipairs(HALF) do
      for _, src in ipairs({ "f32", "f64" }) do
        local h = graphids.tensor(v, { dtype = src }):to(D):to(dt)
        assert(h.dtype == dt and h.device:match("^cuda"), "cast result " .. h.dtype .. " on " .. h.device)
        same_list(values(h), v, src .. " -> " .. dt .. " -> f32")
        same_list(h:to(src):cpu():totable(), v, src .. " -> " .. dt .. " -> " .. src)
      end
    end
    -- the largest finite values of each
    same_list(values(graphids.tensor({ 65504, -65504 }):to(D):to("f16")), { 65504, -65504 }, "f16 max")
    -- graphids.tensor with a half dtype and a device: filled in f32, rounded on the device (from
    -- a table and from a CPU tensor), a leaf when asked to require grad
    for _, src in ipairs({ { 1 + 2 ^ -9, -3 }, graphids.tensor({ 1 + 2 ^ -9, -3 }, { dtype = "f64" }) }) do
      local h = graphids.tensor(src, { dtype = "bf16", device = D, requires_grad = true })
      assert(h.dtype == "bf16" and h.device:match("^cuda") and h.requires_grad and h.is_leaf,
        "tensor: " .. h.dtype .. " on " .. h.device)
      same_list(values(h:detach()), { 1, -3 }, "tensor bf16 (rounded to nearest)")
    end
    same_list(values(graphids.tensor({ 3.3895313892515355e38 }):to(D):to("bf16")),
      { 3.3895313892515355e38 }, "bf16 max")
    -- f16 <-> bf16 directly (through f32)
    same_list(values(graphids.tensor({ 1.5, -96, 0.25 }):to(D):to("f16"):to("bf16")), { 1.5, -96, 0.25 },
      "f16 -> bf16")
  end)

  -- Expected values and bit patterns from torch 2.x (CPU) for the same f32 inputs.
  local ROUNDING = {
    { 1 + 2 ^ -8, 1.0, 1.00390625 },                -- bf16 0x3f80 (tie to even) / f16 0x3c04
    { 1 + 3 * 2 ^ -8, 1.015625, 1.01171875 },        -- bf16 0x3f82 (tie to even) / f16 0x3c0c
    { 1 + 2 ^ -8 + 2 ^ -20, 1.0078125, 1.00390625 }, -- bf16 0x3f81 (above the tie) / f16 0x3c04
    { 3.4028234663852886e38, math.huge, math.huge }, -- FLT_MAX: bf16 0x7f80 / f16 0x7c00
    { 1 + 2 ^ -11, 1.0, 1.0 },                       -- f16 0x3c00 (tie to even)
    { 1 + 3 * 2 ^ -11, 1.0, 1.001953125 },           -- f16 0x3c02 (tie to even)
    { 1 + 2 ^ -11 + 2 ^ -20, 1.0, 1.0009765625 },    -- f16 0x3c01 (above the tie)
    { 65519, 65536, 65504 },                         -- f16 0x7bff (below the tie)
    { 65520, 65536, math.huge },                     -- f16 0x7c00 (the tie rounds to inf)
    { 2 ^ -24, 2 ^ -24, 2 ^ -24 },                   -- f16 0x0001 (smallest subnormal)
    { 2 ^ -25, 2 ^ -25, 0.0 },                       -- f16 0x0000 (tie to even)
    { 3 * 2 ^ -25, 3 * 2 ^ -25, 2 ^ -23 },           -- f16 0x0002 (tie to even)
    { -0.0, -0.0, -0.0 },                            -- 0x8000
    { 1e-45, 0.0, 0.0 },                             -- an f32 subnormal: 0x0000
  }

  check("f32 -> bf16 / f16 rounds to nearest even as torch (ties, overflow, subnormals)", function()
    local inputs, want = {}, { bf16 = {}, f16 = {} }
    for i, r in ipairs(ROUNDING) do
      inputs[i], want.bf16[i], want.f16[i] = r[1], r[2], r[3]
    end
    local x = graphids.tensor(inputs, { dtype = "f32" }):to(D)
    local xs = graphids.tensor(inputs, { dtype = "f32" }):view(-1, 1):expand(-1, 2):contiguous():to(D)
      :select(2, 1)
    for _, dt in ipairs(HALF) do
      same_list(values(x:to(dt)), want[dt], "f32 -> " .. dt)
      -- a strided source (every other element of a [n, 2] tensor) takes the strided kernel path
      same_list(values(xs:to(dt)), want[dt], "strided f32 -> " .. dt)
    end
    -- f64 rounds to f32 first (as torch): 1 + 2^-8 + 2^-30 is a tie by then
    local d = graphids.tensor({ 1 + 2 ^ -8 + 2 ^ -30, 1 + 2 ^ -11 + 2 ^ -40 }, { dtype = "f64" }):to(D)
    same_list(values(d:to("bf16")), { 1.0, 1.0 }, "f64 -> bf16")
    same_list(values(d:to("f16")), { 1.00390625, 1.0 }, "f64 -> f16")
    -- integers through f32; halves to integers truncate and saturate (the CPU's rule)
    local i = graphids.tensor({ 2 ^ 24 + 1, 123456789 }, { dtype = "i64" }):to(D)
    same_list(values(i:to("bf16")), { 16777216, 123207680 }, "i64 -> bf16")
    local h = graphids.tensor({ -1.7, 2.9, 300.5, -3e9 }):to(D):to("bf16")
    same_list(h:to("i64"):cpu():totable(), { -1, 2, 300, -3003121664 }, "bf16 -> i64")
    same_list(h:to("u8"):cpu():totable(), { 0, 2, 255, 0 }, "bf16 -> u8 (saturating)")
    same_list(h:to("bool"):cpu():totable(), { true, true, true, true }, "bf16 -> bool")
  end)

  -- zeros/ones/full/empty with a device option are made on the device directly (lua/src/
  -- l_create.c), so a half dtype, which the CPU cannot hold, works there and only there.
  check("zeros, ones, full and empty of half dtypes with device = cuda; the CPU refuses them",
    function()
    for _, dt in ipairs(HALF) do
      local z = graphids.zeros(2, 3, { dtype = dt, device = D })
      assert(z.dtype == dt and z.device:match("^cuda"), "zeros: " .. z.dtype .. " on " .. z.device)
      assert(z.shape[1] == 2 and z.shape[2] == 3, "zeros: shape")
      same_list(values(z:view(-1)), { 0, 0, 0, 0, 0, 0 }, dt .. " zeros")
      local o = graphids.ones({ 4 }, { dtype = dt, device = D })
      assert(o.dtype == dt and o.device:match("^cuda"), "ones: " .. o.dtype .. " on " .. o.device)
      same_list(values(o), { 1, 1, 1, 1 }, dt .. " ones")
      -- the fill value is rounded to nearest even, as fill_ and to()
      local f = graphids.full({ 3 }, 1 + 2 ^ -8, { dtype = dt, device = D })
      assert(f.dtype == dt and f.device:match("^cuda"), "full: " .. f.dtype .. " on " .. f.device)
      local r = dt == "bf16" and 1 or 1.00390625
      same_list(values(f), { r, r, r }, dt .. " full (rounded)")
      local e = graphids.empty(5, { dtype = dt, device = D })
      assert(e.dtype == dt and e.device:match("^cuda") and e.shape[1] == 5, "empty: " .. e.dtype .. " on " ..
        e.device)
      same_list(values(e:fill_(-2.5)), { -2.5, -2.5, -2.5, -2.5, -2.5 }, dt .. " empty + fill_")
      -- a _like of a CPU tensor with device = cuda is made there too
      local l = graphids.zeros_like(graphids.zeros(2), { dtype = dt, device = D })
      assert(l.dtype == dt and l.device:match("^cuda"), "zeros_like of a CPU tensor: " .. l.device)
      for _, make in ipairs({
        function() return graphids.zeros(2, { dtype = dt }) end,
        function() return graphids.full({ 2 }, 1, { dtype = dt, device = "cpu" }) end,
        function() return graphids.empty_like(z, { device = "cpu" }) end,
      }) do
        local ok, err = pcall(make)
        assert(not ok and tostring(err):find("dtype " .. dt .. " is a GPU storage type; use f32 on the CPU",
          1, true), "a half tensor on the CPU: " .. tostring(err))
      end
    end
  end)

  check("zeros_like, full_like, empty_like and fill_ of half dtypes on the device; the CPU refuses them",
    function()
    local on_dev = graphids.zeros(3, 2):to(D)
    for _, dt in ipairs(HALF) do
      local z = graphids.zeros_like(on_dev, { dtype = dt })
      assert(z.dtype == dt and z.device:match("^cuda"), "zeros_like: " .. z.dtype .. " on " .. z.device)
      same_list(values(z:view(-1)), { 0, 0, 0, 0, 0, 0 }, dt .. " zeros")
      local f = graphids.full_like(on_dev:view(-1):narrow(1, 1, 4), 1 + 2 ^ -8, { dtype = dt })
      same_list(values(f), dt == "bf16" and { 1, 1, 1, 1 } or { 1.00390625, 1.00390625, 1.00390625,
        1.00390625 }, dt .. " full (rounded)")
      local e = graphids.empty_like(on_dev:view(-1):narrow(1, 1, 5), { dtype = dt })
      e:fill_(-2.5)
      same_list(values(e), { -2.5, -2.5, -2.5, -2.5, -2.5 }, dt .. " fill_")
      -- a strided destination: every other element
      local s = graphids.zeros_like(on_dev:view(-1), { dtype = dt })
      s:narrow(1, 2, 4):copy_(graphids.tensor({ 1, 2, 3, 4 }):to(D))
      same_list(values(s), { 0, 1, 2, 3, 4, 0 }, dt .. " copy_ into a narrowed view")
      local ok, err = pcall(function() return z:cpu() end)
      assert(not ok and tostring(err):find("GPU storage type", 1, true),
        "cpu() of a half tensor: " .. tostring(err))
      ok = pcall(graphids.zeros, 2, { dtype = dt })
      assert(not ok, "a half tensor on the CPU was created")
    end
  end)

  check("save_safetensors writes half tensors on the device as F16/BF16 bytes (an offset view too)",
    function()
    local gio = require "graphids.io"
    local path = os.tmpname() .. ".safetensors"
    local v = { 1.5, -96, 0.25, 0.1, -0.0, 1024 }
    local ts = {}
    for _, dt in ipairs(HALF) do
      local h = graphids.tensor(v):to(D):to(dt)
      ts[dt] = h
      ts[dt .. "_tail"] = h:narrow(1, 3, 4) -- a view at an offset into the storage
    end
    assert(gio.save_safetensors(path, ts))
    local back = assert(gio.load_safetensors(path, { mmap = false }))
    os.remove(path)
    for name, t in pairs(ts) do
      assert(back[name].dtype == "f32", name .. " loads as " .. back[name].dtype)
      same_list(back[name]:totable(), values(t), "saved " .. name)
    end
  end)

  check("autograd through explicit casts: a half grad comes back as f32", function()
    local x = graphids.randn(5, 3):to(D):requires_grad_()
    local w = graphids.randn(3, 4):to(D)
    local y = graphids.mm(x:to("bf16"), w:to("bf16")):to("f32")
    y:sum():backward()
    assert(x.grad.dtype == "f32", "grad dtype " .. x.grad.dtype)
    -- d sum(x w) / dx = row sums of w, each rounded to bf16 once (sums of bf16 products)
    local ref = w:cpu():to(D):to("bf16"):to("f32"):cpu():sum(2):view(1, 3):expand(5, 3):contiguous()
    close(x.grad, ref, TOL_ROUNDED.bf16, "grad through casts")
  end)

  -- ------------------------------------------------------------ half products

  -- x rounded to dt and back, on the CPU (the exact inputs the half product sees).
  local function rounded(x, dt)
    return x:to(D):to(dt):to("f32"):cpu()
  end

  check("half mm, addmm, bmm and matmul against the f32 CPU product", function()
    for _, dt in ipairs(HALF) do
      local a, b = graphids.randn(37, 64), graphids.randn(64, 29)
      local bias = graphids.randn(29)
      local ha, hb = a:to(D):to(dt), b:to(D):to(dt)
      local r = graphids.mm(ha, hb)
      assert(r.dtype == dt, "mm result dtype " .. r.dtype)
      close(r:to("f32"), graphids.mm(rounded(a, dt), rounded(b, dt)), TOL_ROUNDED[dt], dt .. " mm")
      close(r:to("f32"), graphids.mm(a, b), TOL_F32[dt], dt .. " mm vs unrounded")
      -- a transposed operand is read in place
      local bt = graphids.randn(29, 64)
      close(graphids.mm(ha, bt:to(D):to(dt):t()):to("f32"),
        graphids.mm(rounded(a, dt), rounded(bt, dt):t()), TOL_ROUNDED[dt], dt .. " mm with b^T")
      -- addmm: beta * bias + alpha * a @ b
      local hbias = bias:to(D):to(dt)
      local ad = graphids.addmm(hbias, ha, hb, { beta = 2, alpha = 0.5 })
      assert(ad.dtype == dt, "addmm result dtype " .. ad.dtype)
      close(ad:to("f32"), graphids.addmm(rounded(bias, dt), rounded(a, dt), rounded(b, dt),
        { beta = 2, alpha = 0.5 }), TOL_ROUNDED[dt], dt .. " addmm")
      -- an inner dim of 0: beta * bias alone (scaled in f32 and rounded once: half storage has
      -- no arithmetic kernel of its own), and a 0-d bias
      local bias43 = graphids.randn(4, 3)
      local none = graphids.addmm(bias43:to(D):to(dt), graphids.zeros(4, 0):to(D):to(dt),
        graphids.zeros(0, 3):to(D):to(dt), { beta = 0.5 })
      assert(none.dtype == dt, "addmm inner 0 result dtype " .. none.dtype)
      close(none:to("f32"), (rounded(bias43, dt) * 0.5):to(D):to(dt):to("f32"):cpu(), 0,
        dt .. " addmm with inner dim 0, beta 0.5")
      local scalar_bias = graphids.addmm(graphids.tensor(1.5):to(D):to(dt), ha, hb)
      close(scalar_bias:to("f32"), graphids.addmm(graphids.tensor(1.5), rounded(a, dt), rounded(b, dt)),
        TOL_ROUNDED[dt], dt .. " addmm with a 0-d bias")
      -- bmm and matmul with batch dims, broadcast batches and 1-D operands
      local x3, y3 = graphids.randn(3, 17, 32), graphids.randn(3, 32, 9)
      close(graphids.bmm(x3:to(D):to(dt), y3:to(D):to(dt)):to("f32"),
        graphids.bmm(rounded(x3, dt), rounded(y3, dt)), TOL_ROUNDED[dt], dt .. " bmm")
      local x4, w2 = graphids.randn(2, 3, 17, 32), graphids.randn(32, 9)
      close(graphids.matmul(x4:to(D):to(dt), w2:to(D):to(dt)):to("f32"),
        graphids.matmul(rounded(x4, dt), rounded(w2, dt)), TOL_ROUNDED[dt], dt .. " matmul 4-D @ 2-D")
      local p, q = graphids.randn(2, 1, 5, 8), graphids.randn(3, 8, 4)
      close(graphids.matmul(p:to(D):to(dt), q:to(D):to(dt)):to("f32"),
        graphids.matmul(rounded(p, dt), rounded(q, dt)), TOL_ROUNDED[dt], dt .. " matmul broadcast batches")
      local v = graphids.randn(32)
      close(graphids.matmul(v:to(D):to(dt), w2:to(D):to(dt)):to("f32"),
        graphids.matmul(rounded(v, dt), rounded(w2, dt)), TOL_ROUNDED[dt], dt .. " matmul 1-D @ 2-D")
    end
    -- mixed operand dtypes are an error naming them (not a silent promotion)
    local ok, err = pcall(graphids.mm, graphids.randn(2, 2):to(D):to("bf16"), graphids.randn(2, 2):to(D))
    assert(not ok and tostring(err):find("f32", 1, true), "bf16 @ f32: " .. tostring(err))
    ok, err = pcall(graphids.mm, graphids.randn(2, 2):to(D):to("bf16"), graphids.randn(2, 2):to(D):to("f16"))
    assert(not ok and tostring(err):find("f16", 1, true), "bf16 @ f16: " .. tostring(err))
  end)
end

-- ---------------------------------------------------------------- bmm on the device (f32)

check("bmm of f32 device tensors dispatches (it used to fail the CPU check first)", function()
  local x, y = graphids.randn(4, 6, 5), graphids.randn(4, 5, 3)
  close(graphids.bmm(x:to(D), y:to(D)), graphids.bmm(x, y), 1e-5, "f32 bmm")
  local ok, err = pcall(graphids.bmm, x:to(D), graphids.randn(3, 5, 3):to(D))
  assert(not ok and tostring(err):find("batch sizes 4 vs 3", 1, true), tostring(err))
end)

-- ---------------------------------------------------------------- autocast

-- y, and the gradients of sum(y * wo), of a Linear(64, 32) on x [50, 64], on the device.
local function linear_run(lin, x, wo, dt)
  local function fwd()
    return lin(x)
  end
  local y = dt and graphids.autocast(dt, fwd) or fwd()
  lin:zero_grad()
  local xg = x:detach():requires_grad_()
  local y2 = dt and graphids.autocast(dt, function() return lin(xg) end) or lin(xg)
  ;(y2 * wo):sum():backward()
  return y, xg.grad, lin.weight.grad:clone(), lin.bias.grad:clone()
end

check("autocast: a Linear's output and gradients are f32, within half tolerance of f32", function()
  local lin = nn.Linear(64, 32)
  lin:to(D)
  local x, wo = graphids.randn(50, 64):to(D), graphids.randn(50, 32):to(D)
  local y0, gx0, gw0, gb0 = linear_run(lin, x, wo, nil)
  for _, dt in ipairs(HALF) do
    local y, gx, gw, gb = linear_run(lin, x, wo, dt)
    assert(y.dtype == "f32" and gx.dtype == "f32" and gw.dtype == "f32" and gb.dtype == "f32",
      "autocast results must stay f32")
    close(y, y0:cpu(), TOL_F32[dt], dt .. " Linear output")
    close(gx, gx0:cpu(), TOL_F32[dt], dt .. " grad x")
    close(gw, gw0:cpu(), TOL_F32[dt], dt .. " grad weight")
    close(gb, gb0:cpu(), 1e-6, dt .. " grad bias (summed in f32)")
    if not T.dry then -- the product really ran in half
      assert(not graphids.equal(y:cpu(), y0:cpu()), dt .. ": autocast output equals the f32 one bit for bit")
    end
  end
  assert(not graphids.is_autocast_enabled(), "autocast left on")
end)

-- bilstm has no half kernel: under autocast its f32 GEMMs run in TF32 (10 mantissa bits),
-- through cublasGemmEx for those calls only (bilstm.cu); a wrong operand or leading dimension
-- there would be off by O(1), the TF32 rounding by about 1e-3.  gpu.set_rnn_tf32(true) (torch's
-- cudnn.rnn.fp32_precision "tf32") takes the same path outside autocast; on a GPU its results
-- must differ from f32's (else the setting did nothing there).
local real_gpu = not T.dry and not graphids.gpu.info():match("^loopback")
local function bilstm_runs(how)
  local core = require "graphids.core"
  local steps, n, c, h = 3, 40, 24, 16
  local x = graphids.randn(steps, n, c):to(D)
  local shapes = { { 4 * h, c }, { 4 * h, h }, { 4 * h }, { 4 * h } }
  local w = {}
  for i = 1, 8 do
    w[i] = (graphids.randn(shapes[(i - 1) % 4 + 1]) * 0.3):to(D):requires_grad_()
  end
  local go = graphids.randn(steps, n, 2 * h):to(D)
  local function run(mode)
    for _, p in ipairs(w) do p.grad = nil end
    local xg = x:detach():requires_grad_()
    local function fwd() return core.bilstm(xg, table.unpack(w, 1, 8)) end
    local out
    if mode == "bf16" then
      out = graphids.autocast("bf16", fwd)
    elseif mode == "rnn_tf32" then
      local prev = graphids.gpu.set_rnn_tf32(true)
      out = fwd()
      graphids.gpu.set_rnn_tf32(prev) -- the backward follows the forward's setting
    else
      out = fwd()
    end
    ;(out * go):sum():backward()
    return { out:detach(), xg.grad, w[1].grad, w[2].grad, w[3].grad, w[5].grad, w[6].grad }
  end
  local ref = run(nil)
  local got = run(how)
  local names = { "output", "grad x", "grad w_ih", "grad w_hh", "grad b_ih", "grad w_ih_reverse",
    "grad w_hh_reverse" }
  local differs = false
  for i, name in ipairs(names) do
    assert(got[i].dtype == "f32", name .. " must stay f32")
    close(got[i], ref[i]:cpu(), 5e-3, "bilstm (" .. how .. "): " .. name)
    differs = differs or not graphids.equal(got[i]:cpu(), ref[i]:cpu())
  end
  assert(differs or not real_gpu, "bilstm (" .. how .. "): bit for bit f32's: no TF32 products")
  assert(not graphids.is_autocast_enabled(), "autocast left on")
end

check("autocast: bilstm runs TF32 products within 5e-3 of f32, forward and backward", function()
  bilstm_runs("bf16")
end)

check("gpu.set_rnn_tf32(true): bilstm runs TF32 products outside autocast, forward and backward",
  function()
    local before = graphids.gpu.rnn_tf32()
    bilstm_runs("rnn_tf32")
    assert(graphids.gpu.rnn_tf32() == before, "the setting restored")
  end)

check("autocast: a Linear's weight is cast once per region (the cast cache), and the cache can be off",
  function()
    local lin = nn.Linear(64, 32)
    lin:to(D)
    local x = graphids.randn(50, 64):to(D)
    -- on the device the weight's cast is cached (x is an activation, the bias no product operand);
    -- in a dry run on the CPU autocast is a no-op and casts nothing
    local want = T.dry and 0 or 1
    local function twice()
      local a = lin(x)
      local n1 = graphids.autocast_cache_size()
      local b = lin(x)
      return n1, graphids.autocast_cache_size(), a, b
    end
    assert(graphids.is_autocast_cache_enabled(), "the cache is on by default")
    local n1, n2, a, b = graphids.autocast("bf16", twice)
    assert(n1 == want and n2 == want, string.format("cache sizes %d, %d, expected %d", n1, n2, want))
    assert(graphids.equal(a:cpu(), b:cpu()), "the cached cast gave another product")
    assert(graphids.autocast_cache_size() == 0, "the cache outlived the region")
    assert(graphids.set_autocast_cache_enabled(false) == true, "the setter returns the previous value")
    local m1, m2, c = graphids.autocast("bf16", twice)
    assert(graphids.set_autocast_cache_enabled(true) == false)
    assert(m1 == 0 and m2 == 0, "casts cached with the cache off")
    assert(graphids.equal(a:cpu(), c:cpu()), "the product differs without the cache")
    graphids.autocast("bf16", function()
      lin(x)
      graphids.clear_autocast_cache()
      assert(graphids.autocast_cache_size() == 0, "clear_autocast_cache left entries")
    end)
  end)

check("autocast: batched matmul with a broadcast weight and bmm, forward and backward", function()
  local a = graphids.randn(4, 10, 16):to(D):requires_grad_()
  local w = graphids.randn(16, 8):to(D):requires_grad_()
  local b = graphids.randn(4, 16, 6):to(D):requires_grad_()
  local function run(dt)
    local function f()
      return (graphids.matmul(a, w):sum() + graphids.bmm(a, b):sum() * 0.5
        + graphids.matmul(a:select(1, 1):select(1, 1), w):sum())
    end
    local s = dt and graphids.autocast(dt, f) or f()
    a.grad, w.grad, b.grad = nil, nil, nil
    s:backward()
    return s, a.grad, w.grad, b.grad
  end
  local s0, ga0, gw0, gb0 = run(nil)
  for _, dt in ipairs(HALF) do
    local s, ga, gw, gb = run(dt)
    assert(s.dtype == "f32", "sum dtype " .. s.dtype)
    close(s, s0:cpu(), TOL_F32[dt], dt .. " loss")
    close(ga, ga0:cpu(), TOL_F32[dt], dt .. " grad a")
    close(gw, gw0:cpu(), TOL_F32[dt], dt .. " grad w (summed over the batch in f32)")
    close(gb, gb0:cpu(), TOL_F32[dt], dt .. " grad b")
  end
end)

check("autocast leaves f64 products and the CPU alone", function()
  local a, b = graphids.randn(5, 4, { dtype = "f64" }), graphids.randn(4, 3, { dtype = "f64" })
  local r = graphids.autocast("bf16", graphids.mm, a:to(D), b:to(D))
  assert(r.dtype == "f64", "f64 product became " .. r.dtype)
  assert(graphids.equal(r:cpu(), graphids.mm(a, b)) or T.maxerr(r, graphids.mm(a, b)) < 1e-12,
    "f64 product changed under autocast")
end)

-- (these two need half storage: device checks, not run in a dry run)
T.device_check("index_select, gather, masked_select, where and scatter_ move half elements unchanged",
  function()
  graphids.manual_seed(37)
  local x32 = graphids.randn(3, 4)
  local mask = graphids.tensor({ { true, false, true, false }, { false, true, true, false },
    { true, true, false, true } })
  local idx = graphids.tensor({ 2, 0, 2, 1 })
  local gidx = graphids.tensor({ { 3, 0 }, { 1, 1 }, { 2, 3 } })
  local sidx = graphids.tensor({ { 3, 2, 1, 0 }, { 0, 1, 2, 3 }, { 1, 0, 3, 2 } })
  for _, dt in ipairs(HALF) do
    -- the half values themselves (x32 rounded once), on the CPU in f32 as the reference
    local xh = x32:to(D):to(dt)
    local ref = values(xh)
    local r = graphids.tensor(ref):view(3, 4)
    local function same(got, want, what)
      assert(got.dtype == dt and got.device:match("^cuda"), what .. ": " .. got.dtype .. " on " .. got.device)
      local flat = got:to("f32"):cpu():reshape({ -1 })
      same_list(flat:totable(), want:reshape({ -1 }):totable(), dt .. " " .. what)
    end
    same(xh:index_select(1, idx:to(D)), r:index_select(1, idx), "index_select")
    same(xh:gather(2, gidx:to(D)), r:gather(2, gidx), "gather")
    same(xh:masked_select(mask:to(D)), r:masked_select(mask), "masked_select")
    same(graphids.where(mask:to(D), xh, graphids.zeros(3, 4, { dtype = dt, device = D })),
      graphids.where(mask, r, graphids.zeros(3, 4)), "where")
    local y = graphids.zeros(3, 4, { dtype = dt, device = D })
    y:scatter_(2, sidx:to(D), xh)
    same(y, graphids.zeros(3, 4):scatter_(2, sidx, r), "scatter_")
  end
end)

T.device_check("a half tensor used twice: its two half gradients add (in f32, rounded once), as torch",
  function()
  graphids.manual_seed(31)
  local x0 = graphids.randn(4, 3)
  for _, dt in ipairs(HALF) do
    local x = x0:to(D):requires_grad_()
    local xh = x:to(dt) -- (in the graph: x requires grad)
    graphids.mm(xh, xh:t()):to("f32"):sum():backward()
    assert(x.grad ~= nil and x.grad.dtype == "f32", dt .. ": x.grad " .. tostring(x.grad and x.grad.dtype))
    -- d/dx sum(x x^T) = 2 * (sum of the rows) broadcast: the rows' sum of the half-rounded x
    local hr = x0:to(D):to(dt):to("f32"):cpu()
    local want = hr:sum(1, { keepdim = true }):expand(4, 3) * 2
    close(x.grad, want, TOL_ROUNDED[dt] * 4, dt .. " gradient")
  end
end)

-- ---------------------------------------------------------------- 16-mixed training

-- y = x w* + 0.1 noise: a regression a small MLP learns within a few Adam steps.
local function regression(n)
  local g = graphids.Generator(4)
  local x = graphids.randn(n, 16, { generator = g })
  local w = graphids.randn(16, 1, { generator = g })
  local y = graphids.mm(x, w) + graphids.randn(n, 1, { generator = g }) * 0.1
  return x:to(D), y:to(D)
end

local function mlp()
  graphids.manual_seed(5)
  local m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
  m:to(D)
  return m
end

local function mse(p, y)
  local d = p - y
  return (d * d):mean()
end

check("20 steps of f16 autocast with a GradScaler: the loss falls, steps are taken", function()
  local x, y = regression(128)
  local m = mlp()
  local opt = optim.Adam(m:parameters(), { lr = 1e-2 })
  local scaler = amp.GradScaler { init_scale = 2 ^ 12, growth_interval = 5 }
  local losses, skipped = {}, 0
  for i = 1, 20 do
    opt:zero_grad()
    local loss = graphids.autocast("f16", function() return mse(m(x), y) end)
    assert(loss.dtype == "f32", "loss dtype " .. loss.dtype)
    losses[i] = loss:item()
    scaler:scale(loss):backward()
    scaler:step(opt)
    if scaler:found_inf(opt) then skipped = skipped + 1 end
    scaler:update()
  end
  assert(losses[20] == losses[20] and losses[20] < 0.5 * losses[1],
    string.format("loss %.4g -> %.4g did not halve", losses[1], losses[20]))
  assert(skipped < 10, skipped .. " of 20 steps skipped")
  local s = scaler:get_scale()
  assert(s > 0 and s < math.huge, "scale " .. s)
  print(string.format("amp: 16-mixed MLP loss %.4g -> %.4g, %d steps skipped, scale %g", losses[1],
    losses[20], skipped, s))
end)

-- A model and data module implementing the trainer's protocols on the device tensors above.
local Reg = class("AmpCheckRegression", Module)
function Reg:__init()
  Module.__init(self)
  self.net = mlp()
end
function Reg:forward(x)
  return self.net(x)
end
function Reg:training_step(b)
  local loss = mse(self(b.x), b.y)
  return loss, { train_loss = loss:item() }
end
function Reg:validation_step(b)
  return { val_loss = mse(self(b.x), b.y):item() }
end
function Reg:configure_optimizers()
  return optim.Adam(self:parameters(), { lr = 3e-2 })
end

-- A data module of the 4 regression batches above (one validation batch of all of them).
local function reg_data(x, y)
  local batches = {}
  for i = 1, 4 do
    batches[i] = { x = x:narrow(1, (i - 1) * 32 + 1, 32), y = y:narrow(1, (i - 1) * 32 + 1, 32) }
  end
  return {
    train_batches = function()
      local i = 0
      return function()
        i = i + 1
        if i <= #batches then return batches[i], i end
      end
    end,
    next_epoch = function() end,
    val_loader = function()
      return { iter = function()
        local done = false
        return function()
          if not done then
            done = true
            return { x = x, y = y }
          end
        end
      end }
    end,
  }
end

-- A check of the Trainer in "16-mixed", which needs a CUDA device (an error on the CPU): left
-- out of a dry run.  fn gets the regression data and the Trainer class.
local function trainer_check(what, fn)
  check(what, function()
    if T.dry then
      print("dry run: Trainer 16-mixed needs a CUDA device (an error on the CPU); left out: " .. what)
      return
    end
    local x, y = regression(128)
    fn(x, y, require("graphids.trainer").Trainer)
  end)
end

trainer_check("Trainer precision 16-mixed: 5 epochs of 4 steps, the loss falls, the scaler is used",
  function(x, y, Trainer)
  local dm = reg_data(x, y)
  local t = Trainer { max_epochs = 5, precision = "16-mixed", device = D, progress = "off",
    enable_checkpointing = false }
  t:fit(Reg(), dm)
  local h = t.history
  assert(#h == 5, #h .. " epochs")
  assert(h[5].val_loss < 0.5 * h[1].val_loss,
    string.format("val_loss %.4g -> %.4g did not halve", h[1].val_loss, h[5].val_loss))
  assert(t.scaler ~= nil and t.scaler:get_scale() > 0, "no scaler")
  assert(t.global_step == 20, "global_step " .. t.global_step)
  print(string.format("amp: Trainer 16-mixed val_loss %.4g -> %.4g, scale %g", h[1].val_loss,
    h[5].val_loss, t.scaler:get_scale()))
end)

-- Reg whose optimizer holds the last layer only: the first layer's gradients are computed but
-- never stepped or unscaled.
local RegHead = class("AmpCheckRegressionHead", Reg)
function RegHead:configure_optimizers()
  return optim.SGD(self.net[3]:parameters(), { lr = 1e-2 })
end

trainer_check("16-mixed clips the optimizer's parameters only, after unscaling: the step is 32's",
  function(x, y, Trainer)
  -- targets a hundredth of the size: no f16 overflow at the default scale, so both runs take the
  -- same 4 steps
  y = y * 0.01
  local moved = {}
  for _, precision in ipairs({ "32", "16-mixed" }) do
    local m = RegHead()
    local w0 = m.net[3].weight:detach():cpu()
    local t = Trainer { max_epochs = 1, precision = precision, device = D, progress = "off",
      enable_checkpointing = false, gradient_clip_val = 0.5 }
    t:fit(m, reg_data(x, y))
    assert(t.scaler == nil or t.scaler:get_scale() == 65536, precision .. ": a step was skipped")
    moved[precision] = (m.net[3].weight:detach():cpu() - w0):norm():item()
  end
  -- the same steps to the rounding of f16 products; a norm taken over gradients still scaled
  -- (the first layer's, outside the optimizer, times 65536) made the 16-mixed steps ~1e-4 of 32's
  local r = moved["16-mixed"] / moved["32"]
  assert(r > 0.95 and r < 1.05, string.format("16-mixed moved the weights %.4g, 32 %.4g",
    moved["16-mixed"], moved["32"]))
end)

trainer_check("16-mixed, accumulate_grad_batches = 2: one unscale_, step and update per group; 32's steps",
  function(x, y, Trainer)
  y = y * 0.01 -- (no f16 overflow at the default scale: every group steps, as in "32")
  local calls = { unscale_ = 0, step = 0, update = 0 }
  local GS, saved = amp.GradScaler, {}
  for name in pairs(calls) do
    saved[name] = GS[name]
    GS[name] = function(...) calls[name] = calls[name] + 1; return saved[name](...) end
  end
  local moved = {}
  local ok, err = pcall(function()
    for _, precision in ipairs({ "32", "16-mixed" }) do
      local m = RegHead()
      local w0 = m.net[3].weight:detach():cpu()
      local t = Trainer { max_epochs = 1, precision = precision, device = D, progress = "off",
        enable_checkpointing = false, gradient_clip_val = 0.5, accumulate_grad_batches = 2 }
      -- (the trainer needs the epoch's length to know its last batch)
      local dm = reg_data(x, y)
      dm.train_loader = function() return setmetatable({}, { __len = function() return 4 end }) end
      t:fit(m, dm)
      assert(t.global_step == 2, precision .. ": global_step " .. t.global_step)
      moved[precision] = (m.net[3].weight:detach():cpu() - w0):norm():item()
    end
  end)
  for name in pairs(calls) do GS[name] = saved[name] end
  assert(ok, tostring(err))
  -- 4 batches, 2 groups: the scaler unscales (for the clip), steps and updates twice
  assert(calls.unscale_ == 2 and calls.step == 2 and calls.update == 2,
    string.format("unscale_ %d, step %d, update %d", calls.unscale_, calls.step, calls.update))
  local r = moved["16-mixed"] / moved["32"]
  assert(r > 0.95 and r < 1.05, string.format("16-mixed moved the weights %.4g, 32 %.4g",
    moved["16-mixed"], moved["32"]))
end)

trainer_check("a resume whose scaler state is bad is refused before the model changes",
  function(x, y, Trainer)
  local root = os.tmpname()
  os.remove(root)
  local t = Trainer { max_epochs = 1, precision = "16-mixed", device = D, progress = "off",
    default_root_dir = root }
  t:fit(Reg(), reg_data(x, y))
  t.scaler.growth_tracker = -1
  local bad = root .. "/bad.safetensors"
  t:save_checkpoint(bad)
  graphids.manual_seed(99)
  local fresh = Reg()
  local before = fresh.net[1].weight:detach():cpu()
  local t2 = Trainer { max_epochs = 2, precision = "16-mixed", device = D, progress = "off",
    enable_checkpointing = false, log = function() end }
  local ok, err = pcall(t2.fit, t2, fresh, reg_data(x, y), { ckpt_path = bad })
  os.execute("rm -rf '" .. root .. "'")
  assert(not ok, "the resume was taken")
  local want = "checkpoint '" .. bad .. "': grad scaler state ('trainer.scaler'): '_growth_tracker' must " ..
    "be an integer >= 0, got -1"
  assert(tostring(err):find(want, 1, true), tostring(err))
  assert(graphids.equal(fresh.net[1].weight:detach():cpu(), before), "the refused resume changed the model")
end)

trainer_check("16-mixed with manual optimization: autocast, no scaler (none checkpointed)",
  function(x, y, Trainer)
  local Manual = class("AmpCheckManual", Reg)
  Manual.automatic_optimization = false
  function Manual:training_step(b)
    local opt = self.optimizer
    opt:zero_grad()
    local loss = mse(self(b.x), b.y)
    loss:backward()
    opt:step()
    return loss:detach(), { train_loss = loss:item() }
  end
  local t = Trainer { max_epochs = 1, precision = "16-mixed", device = D, progress = "off",
    enable_checkpointing = false }
  t:fit(Manual(), reg_data(x, y))
  assert(t.scaler == nil, "a scaler was made for a model that runs its own backward")
end)

check("GradScaler.unscale_ over parameters on two devices (one inf check per device)", function()
  local a = graphids.tensor({ 1, 2 }, { dtype = "f32", requires_grad = true })
  local b = graphids.tensor({ 1, 2 }, { dtype = "f32" }):to(D):requires_grad_()
  a.grad = graphids.tensor({ 2, 4 }, { dtype = "f32" })
  b.grad = graphids.tensor({ 2, 4 }, { dtype = "f32" }):to(D)
  local opt = optim.SGD({ a, b }, { lr = 1.0 })
  local s = amp.GradScaler { init_scale = 2 }
  s:unscale_(opt)
  assert(s:found_inf(opt) == false, "found inf")
  same_list(a.grad:totable(), { 1, 2 }, "cpu grad")
  same_list(b.grad:cpu():totable(), { 1, 2 }, "device grad")
  s:step(opt)
  s:update()
  -- a NaN on the device only: that step is skipped, the scale halves
  a.grad = graphids.tensor({ 2, 4 }, { dtype = "f32" })
  b.grad = graphids.tensor({ 0 / 0, 1 }, { dtype = "f32" }):to(D)
  local a_before = a:detach():clone()
  s:step(opt)
  assert(s:found_inf(opt) == true, "the NaN on the device was missed")
  assert(graphids.equal(a:detach(), a_before), "a step was taken")
  s:update()
  assert(s:get_scale() == 1, "scale " .. s:get_scale())
end)

-- ---------------------------------------------------------------- speed probe (a GPU only)

-- Forward and backward of a Linear(4096, 4096) on [8192, 4096]: f32 against autocast bf16, the
-- median of 5 synchronised runs.  A probe line, not a check (the figure depends on the card).
if not T.dry and not graphids.gpu.info():match("^loopback") then
  local lin = nn.Linear(4096, 4096)
  lin:to(D)
  local x = graphids.randn(8192, 4096):to(D)
  local function median_ms(dt)
    local function once()
      lin:zero_grad()
      local y = dt and graphids.autocast(dt, function() return lin(x) end) or lin(x)
      y:sum():backward()
    end
    once()
    graphids.gpu.synchronize()
    local runs = {}
    for r = 1, 5 do
      local t0 = graphids.clock()
      once()
      graphids.gpu.synchronize()
      runs[r] = (graphids.clock() - t0) * 1e3
    end
    table.sort(runs)
    return runs[3]
  end
  local f32, bf16 = median_ms(nil), median_ms("bf16")
  print(string.format("probe autocast Linear 8192x4096x4096 fwd+bwd: f32 %.2f ms, bf16 %.2f ms (%.2fx)",
    f32, bf16, f32 / bf16))
end

T.finish()
