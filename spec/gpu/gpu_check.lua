-- gpu_check.lua -- CPU/GPU parity and device behaviour of the CUDA backend, run by
-- tools/gpu-check.sh on a machine with a GPU (plain Lua, no busted: that machine has no Lua
-- packages).  Prints one line per failure and ends with "gpu: N passed, N failed".
-- Without a GPU it prints "skipped: <reason>" and exits 0.
local graphids = require "graphids"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("gpu")
if not T.available() then
  return
end
local check, close = T.check, T.close
-- the loopback device (graphids_loopback.so, make test) runs CPU ops: no kernels, no waits
local loopback = tostring(graphids.gpu.info()):match("loopback") ~= nil

graphids.manual_seed(7)
print(graphids.gpu.info())

check("copies round-trip every dtype", function()
  for _, dt in ipairs({ "f32", "f64", "i64", "i32", "u8", "bool" }) do
    local x = graphids.randint(0, 100, { 3, 5 }):to(dt)
    local g = x:cuda()
    assert(g.device == "cuda:0" and g.dtype == dt)
    assert(graphids.equal(g:cpu(), x), dt .. " round trip changed values")
  end
end)

check("strided and broadcast copies on the device", function()
  local x = graphids.randn(64, 48)
  local g = x:cuda()
  assert(graphids.equal(g:t():contiguous():cpu(), x:t():contiguous()), "transpose")
  assert(graphids.equal(g:narrow(2, 5, 10):contiguous():cpu(), x:narrow(2, 5, 10):contiguous()))
  local row = graphids.randn(48):cuda()
  local dst = graphids.zeros(64, 48, { device = "cuda" })
  dst:copy_(row)
  assert(graphids.equal(dst:cpu(), row:cpu():expand(64, 48):contiguous()), "broadcast copy")
  assert(graphids.equal(g:double():cpu(), x:double()), "f32 -> f64 on the device")
end)

check("float -> integer conversions on the device saturate as the CPU's", function()
  local x = graphids.tensor({ 1e30, -1e30, 2 ^ 63, 0 / 0, -7.9, 300, -3 }, { dtype = "f64" })
  for _, src in ipairs({ "f64", "f32" }) do
    for _, dt in ipairs({ "i64", "i32", "u8" }) do
      local want = x:to(src):to(dt)
      local got = x:to(src):cuda():to(dt):cpu()
      assert(graphids.equal(got, want), src .. " -> " .. dt .. ": " .. tostring(got))
    end
  end
  assert(x:cuda():to("i64"):cpu():totable()[1] == math.maxinteger, "1e30 -> i64 max")
end)

check("creation with device= and printing", function()
  local z = graphids.zeros(2, 3, { device = "cuda" })
  assert(z.device == "cuda:0" and z:sum():item() == 0)
  local o = graphids.full({ 4 }, 2.5, { device = "cuda:0" })
  assert(o:cpu():totable()[4] == 2.5)
  assert(tostring(o):match("2%.5"), "tostring shows the values")
  assert(o:totable()[1] == 2.5 and graphids.ones(1, { device = "cuda" }):item() == 1)
end)

local shapes = { { 257, 129 }, { 1000, 3 } }
check("binary ops with broadcasting and strides match the CPU", function()
  for _, dt in ipairs({ "f32", "f64" }) do
    for _, sh in ipairs(shapes) do
      local a, b = graphids.randn(sh[1], sh[2]):to(dt), graphids.randn(sh[2]):to(dt)
      local at = graphids.randn(sh[2], sh[1]):to(dt):t()
      for _, op in ipairs({ "add", "sub", "mul", "div", "maximum", "minimum" }) do
        close(graphids[op](a:cuda(), b:cuda()), graphids[op](a, b), 1e-6, op .. " " .. dt)
        close(graphids[op](at:cuda(), a:cuda()), graphids[op](at, a), 1e-6, op .. " strided")
      end
      close(a:cuda() * 3 - 1, a * 3 - 1, 1e-6, "scalar ops")
      close(2 / (a:cuda():abs() + 1), 2 / (a:abs() + 1), 1e-6, "reversed scalar")
      assert(graphids.equal(a:cuda():gt(b:cuda()):cpu(), a:gt(b)), "gt")
    end
  end
end)

check("a number an integer tensor's dtype cannot hold: wrapped only where the op computes in it", function()
  local u = graphids.tensor({ 128, 255, 3 }, { dtype = "u8" })
  local i = graphids.tensor({ 1000, -7, 3 }, { dtype = "i32" })
  for _, t in ipairs({ u, i }) do
    for _, n in ipairs({ 256, -2, 300, 4294967296 }) do
      local g = t:cuda()
      local cases = {
        { "div", g / n, t / n }, { "rdiv", n / g, n / t },
        { "atan2", graphids.atan2(g, n), graphids.atan2(t, n) },
        { "add", g + n, t + n }, { "lt", g:lt(n), t:lt(n) }, { "mul", g * n, t * n },
      }
      for _, c in ipairs(cases) do
        assert(c[2].device == "cuda:0", c[1] .. " left the device")
        assert(graphids.equal(c[2]:cpu(), c[3]), string.format("%s(%s, %d): %s, CPU %s", c[1],
          t.dtype, n, tostring(c[2]:cpu()), tostring(c[3])))
      end
    end
  end
  assert((u:cuda() / 256):cpu():totable()[1] == 0.5, "u8 / 256 is x / 256")
  local ok, err = pcall(graphids.floor_divide, u:cuda(), 256)
  assert(not ok and tostring(err):match("the divisor 256 wraps to 0"), tostring(err))
  ok, err = pcall(function() return u:cuda() ^ 300 end)
  assert(not ok and tostring(err):match("exponent 300 does not fit"), tostring(err))
end)

check("hypot promotes an integer or bool operand to the float one's dtype, as on the CPU", function()
  local i, f = graphids.tensor({ 3, 5, -7 }), graphids.tensor({ 4.0, 12.0, 0.5 })
  local z = graphids.tensor(3.0, { dtype = "f64" })
  local b = graphids.tensor({ true, false, true })
  for _, c in ipairs({ { i, f }, { f, i }, { z, i }, { b, f }, { i, 4.5 } }) do
    local x, y = c[1], c[2]
    local gx = x:cuda()
    local gy = graphids.is_tensor(y) and y:cuda() or y
    local got, want = graphids.hypot(gx, gy), graphids.hypot(x, y)
    assert(got.device == "cuda:0" and got.dtype == want.dtype, "hypot: " .. got.dtype .. " on " .. got.device)
    close(got, want, 1e-6, "hypot " .. x.dtype)
  end
  local a = graphids.tensor({ 3.0, 5.0 }, { device = "cuda", requires_grad = true })
  graphids.hypot(a, graphids.tensor({ 4, 12 }):cuda()):sum():backward()
  close(a.grad, graphids.tensor({ 0.6, 5 / 13 }), 1e-6, "hypot gradient")
  local ok, err = pcall(graphids.hypot, i:cuda(), i:cuda())
  assert(not ok and tostring(err):match("needs a float operand: i64 and i64"), tostring(err))
end)

check("unary ops match the CPU", function()
  for _, dt in ipairs({ "f32", "f64" }) do
    local x = graphids.randn(513, 77):to(dt)
    local p = x:abs() + 0.1
    for _, op in ipairs({ "neg", "abs", "exp", "tanh", "sigmoid", "relu" }) do
      close(x:cuda()[op](x:cuda()), x[op](x), 2e-6, op .. " " .. dt)
    end
    close(p:cuda():log(), p:log(), 2e-6, "log " .. dt)
    close(p:cuda():sqrt(), p:sqrt(), 2e-6, "sqrt " .. dt)
  end
end)

check("16-byte packs: tails, unaligned views and compare results match the CPU", function()
  -- contiguous, aligned float operands take gc_map1/gc_map2 (cuda_impl.h); a view starting one
  -- element in is not 16-byte aligned and takes the layout loop
  for _, dt in ipairs({ "f32", "f64" }) do
    for _, n in ipairs({ 1, 3, 4, 5, 8, 1023, 4099 }) do
      local x, y = graphids.randn(n + 1):to(dt), graphids.randn(n + 1):to(dt)
      local gx, gy = x:cuda(), y:cuda()
      local what = string.format("%s n=%d", dt, n)
      for _, k in ipairs({ 1, 2 }) do -- k = 1 aligned, k = 2 one element in
        local a, b, ga, gb = x:narrow(1, k, n), y:narrow(1, 1, n), gx:narrow(1, k, n),
            gy:narrow(1, 1, n)
        close(ga:sigmoid(), a:sigmoid(), 2e-6, "sigmoid " .. what)
        close(ga:elu(0.5), a:elu(0.5), 2e-6, "elu " .. what)
        close(ga * gb, a * b, 1e-6, "mul " .. what)
        close(ga * 3 + 1, a * 3 + 1, 1e-6, "scalar ops " .. what)
        assert(graphids.equal(ga:gt(gb):cpu(), a:gt(b)), "gt " .. what)
        assert(graphids.equal(ga:isnan():cpu(), a:isnan()), "isnan " .. what)
      end
    end
  end
end)

check("reductions over dims match the CPU", function()
  local x = graphids.randn(37, 65, 129)
  for _, op in ipairs({ "sum", "mean", "amax", "amin" }) do
    close(x:cuda()[op](x:cuda()), x[op](x), 1e-5, op .. " all")
    for _, d in ipairs({ 1, 2, 3, { 1, 3 } }) do
      close(x:cuda()[op](x:cuda(), d), x[op](x, d), 1e-5, op .. " dims")
      close(x:cuda()[op](x:cuda(), d, { keepdim = true }), x[op](x, d, { keepdim = true }), 1e-5,
        op .. " keepdim")
    end
  end
  close(x:transpose(1, 3):cuda():sum(2), x:transpose(1, 3):sum(2), 1e-5, "sum of a transposed view")
end)

-- Column reductions (the kept dims contiguous, many reduced rows: bias gradients) take their
-- own kernel: row chunks of 512 folded in a second pass; the sizes cross the chunk edges.
check("column reductions (sum over rows) match the CPU and repeat bit for bit", function()
  for _, sh in ipairs({ { 3000, 100 }, { 45780, 40 }, { 513, 33 }, { 1025, 1536 } }) do
    for _, dt in ipairs({ "f32", "f64" }) do
      local x = graphids.randn(sh[1], sh[2]):to(dt)
      local g = x:cuda()
      for _, op in ipairs({ "sum", "mean", "amax", "amin" }) do
        close(g[op](g, 1), x[op](x, 1), 1e-6, op .. " over rows " .. dt)
      end
      T.identical(g:sum(1), g:sum(1), "column sum")
    end
  end
  local y = graphids.randn(300, 20, 64)
  close(y:cuda():sum({ 1, 2 }), y:sum({ 1, 2 }), 1e-6, "sum over two leading dims")
  close(y:cuda():amax({ 1, 2 }, { keepdim = true }), y:amax({ 1, 2 }, { keepdim = true }), 0,
    "amax keepdim")
  local iy = graphids.randint(-50, 50, { 700, 64 }, { dtype = "i64" })
  assert(graphids.equal(iy:cuda():amax(1):cpu(), iy:amax(1)), "i64 column amax")
end)

check("broadcast and strided elementwise ops past 2^16 rows match the CPU", function()
  local x, a = graphids.randn(70000, 3, 8), graphids.randn(70000, 3, 1)
  close(x:cuda() * a:cuda(), x * a, 0, "broadcast mul")
  close(x:transpose(1, 3):cuda():contiguous(), x:transpose(1, 3):contiguous(), 0, "transpose copy")
  local b = graphids.randn(1536)
  close(graphids.zeros(5000, 1536):cuda() + b:cuda(), graphids.zeros(5000, 1536) + b, 0,
    "row broadcast")
end)

check("norm (gradient clipping) and equal/allclose of device tensors match the CPU", function()
  local x = graphids.randn(300, 40)
  x = graphids.where(x:abs():lt(0.3), 0, x)
  local g = x:cuda()
  for _, p in ipairs({ 0, 1, 2, 3, math.huge }) do
    close(g:norm(p), x:norm(p), 1e-5, "norm p=" .. p)
    close(g:norm(p, 2), x:norm(p, 2), 1e-5, "norm p=" .. p .. " dim 2")
  end
  assert(graphids.equal(g, x:cuda()), "equal of two device tensors")
  assert(graphids.allclose(g * (1 + 1e-9), g), "allclose of two device tensors")
  assert(not graphids.equal(g, g + 1), "unequal device tensors")
end)

check("softmax and log_softmax match the CPU", function()
  local x = graphids.randn(300, 97) * 4
  for _, d in ipairs({ 1, 2, -1 }) do
    close(x:cuda():softmax(d), x:softmax(d), 1e-6, "softmax")
    close(x:cuda():log_softmax(d), x:log_softmax(d), 1e-5, "log_softmax")
  end
  -- rows of up to 32 take a group of lanes of the next power of two, up to 1024 a warp (each
  -- size class of the lanes' registers), longer ones a block (softmax.cu); 301 rows leave a
  -- warp's last groups past the end
  for _, cols in ipairs({ 1, 2, 3, 4, 5, 9, 17, 32, 33, 64, 65, 200, 513, 1024, 1025, 3000 }) do
    local r = graphids.randn(301, cols) * 4
    close(r:cuda():softmax(2), r:softmax(2), 1e-6, "softmax, rows of " .. cols)
    close(r:cuda():log_softmax(2), r:log_softmax(2), 1e-5, "log_softmax, rows of " .. cols)
  end
end)

-- The backward is one op on each side (gids_softmax_backward): a thread a slice across a dim,
-- a group of lanes a row (the power of two >= its length, at most a warp) (softmax.cu).
check("the softmax and log_softmax backward match the CPU", function()
  for _, shape in ipairs({ { 300, 2 }, { 301, 5 }, { 301, 33 }, { 37, 2049 }, { 4, 7, 5 } }) do
    for _, log_ in ipairs({ false, true }) do
      for _, d in ipairs({ 1, -1 }) do
        local x, w = graphids.randn(shape) * 3, graphids.randn(shape)
        local grads = {}
        for _, dev in ipairs({ "cpu", "cuda" }) do
          local xd = x:to(dev):detach():requires_grad_()
          local y = log_ and xd:log_softmax(d) or xd:softmax(d)
          ;(y * w:to(dev)):sum():backward()
          grads[dev] = xd.grad
        end
        close(grads.cuda, grads.cpu, 1e-5, string.format("%s backward [%s] dim %d",
          log_ and "log_softmax" or "softmax", table.concat(shape, ","), d))
      end
    end
  end
end)

check("mm and addmm through cuBLAS match the CPU", function()
  for _, dt in ipairs({ "f32", "f64" }) do
    local a, b = graphids.randn(300, 200):to(dt), graphids.randn(200, 150):to(dt)
    local bias = graphids.randn(150):to(dt)
    local tol = dt == "f32" and 1e-5 or 1e-12
    close(graphids.mm(a:cuda(), b:cuda()), graphids.mm(a, b), tol, "mm " .. dt)
    close(graphids.mm(b:t():cuda(), a:t():cuda()), graphids.mm(b:t(), a:t()), tol, "mm of transposes")
    close(graphids.addmm(bias:cuda(), a:cuda(), b:cuda(), { beta = 0.5, alpha = 2 }),
      graphids.addmm(bias, a, b, { beta = 0.5, alpha = 2 }), tol, "addmm " .. dt)
    close(a:cuda():matmul(b:cuda()), a:matmul(b), tol, "matmul 2-D")
  end
end)

-- f32 addmm goes through cuBLASLt: a bias vector in the epilogue, a bias matrix as C.
check("addmm's fused bias (vector, [1, n], strided matrix, beta) matches the CPU", function()
  local a, b = graphids.randn(3000, 96), graphids.randn(96, 384)
  local big = graphids.randn(3000, 3, 384)
  local cases = {
    { graphids.randn(384), 1, 1, "vector bias" },
    { graphids.randn(1, 384), 1, 0.5, "[1, n] bias, alpha 0.5" },
    { graphids.randn(3000, 384), 2, 1, "matrix bias, beta 2" },
    { big:select(2, 2), 1, 1, "strided matrix bias (a narrow of a wider tensor)" },
    { graphids.randn(3000, 384):t():contiguous():t(), 1, 1, "column-major bias (copy path)" },
  }
  for _, c in ipairs(cases) do
    local bias, beta, alpha, what = c[1], c[2], c[3], c[4]
    local o = { beta = beta, alpha = alpha }
    local g = graphids.addmm(bias:cuda(), a:cuda(), b:cuda(), o)
    close(g, graphids.addmm(bias, a, b, o), 1e-5, what)
    T.identical(g, graphids.addmm(bias:cuda(), a:cuda(), b:cuda(), o), what)
  end
  local v, at = graphids.randn(384), a:t():contiguous():t() -- a column-major operand
  close(graphids.addmm(v:cuda(), at:cuda(), b:cuda()), graphids.addmm(v, at, b), 1e-5,
    "vector bias with a column-major operand")
  -- views at odd element offsets of device tensors: pointers aligned to 4 bytes only, which the
  -- epilogue's bias and the operands must be read with (a kernel that assumed 16 would read
  -- the wrong elements or fault)
  local wide_bias, wide_a = graphids.randn(386):cuda(), graphids.randn(3000, 97):cuda()
  local odd_b = graphids.randn(96, 383)
  local views = {
    { wide_bias:narrow(1, 2, 384), a:cuda(), b:cuda(), "vector bias at an odd offset" },
    { v:cuda(), wide_a:narrow(2, 2, 96), b:cuda(), "left operand at an odd offset" },
    { wide_bias:narrow(1, 2, 383), wide_a:narrow(2, 2, 96), odd_b:cuda(),
      "n = 383, bias and left operand at odd offsets" },
    { graphids.tensor(1.5):cuda(), a:cuda(), b:cuda(), "a 0-d bias (the copy path)" },
  }
  for _, c in ipairs(views) do
    local g = graphids.addmm(c[1], c[2], c[3])
    close(g, graphids.addmm(c[1]:cpu(), c[2]:cpu(), c[3]:cpu()), 1e-5, c[4])
  end
end)

-- GEMM tuning (runtime/src/cuda/gemm_lt.cu): each f32 product's algorithm timed once per shape
-- and kept; the products stay the CPU's within f32 rounding whichever algorithm wins.
check("GEMM tuning: products match the CPU, each shape is tuned once, reset forgets", function()
  local gpu = graphids.gpu
  gpu.reset()
  local was = gpu.set_gemm_tuning(true)
  local a, b, v = graphids.randn(3000, 96), graphids.randn(96, 384), graphids.randn(384)
  local function products()
    close(graphids.mm(a:cuda(), b:cuda()), graphids.mm(a, b), 1e-5, "mm")
    close(graphids.mm(b:t():cuda(), a:t():cuda()), graphids.mm(b:t(), a:t()), 1e-5, "mm of transposes")
    close(graphids.addmm(v:cuda(), a:cuda(), b:cuda()), graphids.addmm(v, a, b), 1e-5, "addmm vector bias")
    local m = graphids.randn(3000, 384)
    close(graphids.addmm(m:cuda(), a:cuda(), b:cuda(), { beta = 2 }),
      graphids.addmm(m, a, b, { beta = 2 }), 1e-5, "addmm matrix bias")
  end
  products()
  local list = gpu.tuned_gemms()
  if loopback then
    assert(#list == 0, "the loopback device tunes nothing")
  else
    assert(#list == 4, #list .. " shapes tuned, expected 4")
    for i, r in ipairs(list) do
      assert(r.device == 0 and r.trans:match("^[NT][NT]$") and r.tf32 == false, "record " .. i)
      assert(r.candidates >= 1 and r.chosen >= 0 and r.chosen < r.candidates, "record " .. i)
      assert(r.best_ms > 0 and (r.first_ms < 0 or r.best_ms <= r.first_ms), "record " .. i)
    end
    local seen = list[1].m * list[1].n * list[1].k
    assert(seen == 3000 * 96 * 384, "the first record's sizes: " .. seen)
  end
  products() -- the same shapes: the kept algorithms, nothing tuned again
  assert(#gpu.tuned_gemms() == #list, "same shapes tuned again")
  -- a size in the same quarter octave (3000 and 2900 rows: 2560 .. 3071) shares the choice
  local a2 = graphids.randn(2900, 96)
  close(graphids.mm(a2:cuda(), b:cuda()), graphids.mm(a2, b), 1e-5, "mm, 2900 rows")
  assert(#gpu.tuned_gemms() == #list, "a size of the same class tuned again")
  -- products keep their values when tuning is turned off again (the heuristic's choice)
  gpu.set_gemm_tuning(false)
  close(graphids.mm(a:cuda(), b:cuda()), graphids.mm(a, b), 1e-5, "mm, tuning off")
  gpu.reset()
  assert(#gpu.tuned_gemms() == 0, "reset forgets the tuned shapes")
  gpu.set_gemm_tuning(was)
end)

-- Tensor keys (graphids.tensor_extras: nonzero, index_select, scatter_ on the device), a CPU key
-- moved to the tensor's device as torch does.
check("tensor keys read and write device tensors as the CPU's", function()
  local x = graphids.randn(300, 7)
  local mask = x:select(2, 1):gt(0)
  local idx = graphids.tensor({ 5, -1, 0, 5 }, { dtype = "i64" })
  close(x:cuda()[mask:cuda()], x[mask], 0, "mask read")
  close(x:cuda()[mask], x[mask], 0, "CPU mask, device tensor")
  close(x:cuda()[idx:cuda()], x[idx], 0, "index read")
  local g, c = x:cuda(), x:clone()
  g[mask:cuda()] = 0
  c[mask] = 0
  close(g, c, 0, "mask write")
  g[idx] = graphids.arange(7):float():cuda()
  c[idx] = graphids.arange(7):float()
  close(g, c, 0, "index write")
end)

-- Backward formulas that build position tensors (scatter's surviving writes, masked_select):
-- they are made on the gradient's device.
check("scatter and masked_select backward on the device match the CPU", function()
  local function grads(dev)
    local x = graphids.randn(6, 5, { generator = graphids.Generator(3) }):to(dev)
    local src = graphids.randn(2, 5, { generator = graphids.Generator(4) }):to(dev)
    x:requires_grad_()
    src:requires_grad_()
    local idx = graphids.tensor({ { 0, 1, 2, 3, 0 }, { 0, 5, 2, 1, 4 } }):to(dev)
    local y = x:scatter(1, idx, src)
    local loss = (y * y):sum() + x:masked_select(x:gt(0)):sum()
    loss:backward()
    return x.grad, src.grad
  end
  local gx, gs = grads("cuda")
  local cx, cs = grads("cpu")
  close(gx, cx, 1e-6, "grad of self")
  close(gs, cs, 1e-6, "grad of src")
end)

check("autograd through device ops gives the CPU's gradients", function()
  local x, w, b = graphids.randn(64, 20), graphids.randn(20, 5), graphids.randn(5)
  local y = graphids.randn(64, 5)
  local function loss_and_grads(dev)
    local wd = (dev == "cpu" and w:clone() or w:cuda()):requires_grad_()
    local bd = (dev == "cpu" and b:clone() or b:cuda()):requires_grad_()
    local xd, yd = x:to(dev), y:to(dev)
    local d = graphids.addmm(bd, xd, wd) - yd
    local loss = (d * d):mean()
    loss:backward()
    return loss, wd.grad, bd.grad
  end
  local lc, gwc, gbc = loss_and_grads("cpu")
  local lg, gwg, gbg = loss_and_grads("cuda")
  close(lg, lc, 1e-5, "loss")
  close(gwg, gwc, 1e-5, "weight gradient")
  close(gbg, gbc, 1e-5, "bias gradient")
end)

check("activations, where and the other elementwise ops match the CPU", function()
  for _, dt in ipairs({ "f32", "f64" }) do
    local x = (graphids.randn(301, 67) * 3):to(dt)
    local g = x:cuda()
    close(g:leaky_relu(0.2), x:leaky_relu(0.2), 1e-6, "leaky_relu " .. dt)
    close(g:elu(0.7), x:elu(0.7), 2e-6, "elu " .. dt)
    close(g:softplus({ beta = 2, threshold = 5 }), x:softplus({ beta = 2, threshold = 5 }), 2e-6,
      "softplus " .. dt)
    close(g:clamp(-1, 0.5), x:clamp(-1, 0.5), 0, "clamp " .. dt)
    close(g:clamp(nil, 0.5), x:clamp(nil, 0.5), 0, "clamp max only")
    -- a NaN bound makes every element NaN on the device as on the CPU
    local nan = g:clamp(0 / 0):cpu()
    assert(nan:isnan():all():item() and nan.dtype == dt, "clamp(nan) on the device " .. dt)
    for _, op in ipairs({ "gelu", "silu", "sin", "cos", "expm1", "log1p", "square", "floor", "round" }) do
      local src = op == "log1p" and x:abs() or x
      close(src:cuda()[op](src:cuda()), src[op](src), 2e-6, op .. " " .. dt)
    end
    local y = graphids.randn(67):to(dt)
    close(graphids.where(x:gt(0):cuda(), g, y:cuda()), graphids.where(x:gt(0), x, y), 0, "where")
    close(graphids.where(x:gt(0):cuda(), g, 0.0), graphids.where(x:gt(0), x, 0.0), 0, "where number")
    local p = x:abs() + 0.5
    close(p:cuda():pow(1.7), p:pow(1.7), 2e-6, "pow scalar")
    close(graphids.pow(p:cuda(), y:cuda():abs()), graphids.pow(p, y:abs()), 2e-6, "pow")
    close(graphids.fmod(g, 0.7), graphids.fmod(x, 0.7), 1e-6, "fmod")
    close(graphids.atan2(g, y:cuda()), graphids.atan2(x, y), 2e-6, "atan2")
    close(g // 0.5, x // 0.5, 0, "floor_divide")
  end
  local i = graphids.randint(-50, 50, { 200, 30 })
  close(i:cuda() + i:cuda(), i + i, 0, "i64 add")
  assert(graphids.equal((i:cuda() * 3):cpu(), i * 3), "i64 mul")
end)

check("index_select, gather, scatter_add_, index_add_ and cat match the CPU", function()
  local x = graphids.randn(50, 40, 3)
  local idx = graphids.tensor({ 3, 0, 49, 3, 17 })
  close(x:cuda():index_select(1, idx:cuda()), x:index_select(1, idx), 0, "index_select dim 1")
  local idx2 = graphids.tensor({ 39, 0, 7, 7 })
  close(x:cuda():index_select(2, idx2:cuda()), x:index_select(2, idx2), 0, "index_select dim 2")
  local m = graphids.ones(3):cuda()
  close(m + true, graphids.ones(3) + true, 0, "a boolean operand joins the device")
  local gidx = graphids.randint(0, 40, { 50, 7, 3 })
  close(x:cuda():gather(2, gidx:cuda()), x:gather(2, gidx), 0, "gather")
  local src = graphids.randn(5, 40, 3)
  local acc = graphids.zeros(50, 40, 3)
  local accg = acc:cuda()
  accg:index_add_(1, idx:cuda(), src:cuda(), { alpha = 2 })
  acc:index_add_(1, idx, src, { alpha = 2 })
  close(accg, acc, 1e-6, "index_add_ with duplicates")
  local sidx = graphids.randint(0, 50, { 80, 40, 3 })
  local ssrc = graphids.randn(80, 40, 3)
  local s0 = graphids.zeros(50, 40, 3)
  local s0g = s0:cuda()
  s0g:scatter_add_(1, sidx:cuda(), ssrc:cuda())
  s0:scatter_add_(1, sidx, ssrc)
  close(s0g, s0, 1e-6, "scatter_add_")
  -- an index that is self itself: read whole first on every device (the kernels would read
  -- indices that other threads are overwriting)
  for _, op in ipairs({ "scatter_", "scatter_add_" }) do
    local h = graphids.tensor({ 1, 0, 0, 0 })
    local g = h:cuda()
    local hs, gs = graphids.tensor({ 1000, 7, 0, 0 }), graphids.tensor({ 1000, 7, 0, 0 }):cuda()
    h[op](h, 1, h, hs)
    g[op](g, 1, g, gs)
    close(g, h, 0, op .. " with an index aliasing self")
  end
  local ok, err = pcall(function() return x:cuda():index_select(1, graphids.tensor({ 50 }):cuda()) end)
  assert(not ok and tostring(err):match("out of range"), "index range check: " .. tostring(err))
  local a, b = graphids.randn(3, 4), graphids.randn(3, 2):double()
  close(graphids.cat({ a:cuda(), b:cuda() }, 2), graphids.cat({ a, b }, 2), 0, "cat with promotion")
  close(graphids.cat({ a:cuda(), a:cuda() }, 1), graphids.cat({ a, a }, 1), 0, "cat dim 1")
end)

check("segment ops over an unsorted index match the CPU", function()
  local src = graphids.randn(1000, 8)
  local index = graphids.randint(0, 97, { 1000 })
  local n = 100 -- segments 97..99 are empty
  for _, op in ipairs({ "segment_sum", "segment_mean" }) do
    close(graphids[op](src:cuda(), index:cuda(), n), graphids[op](src, index, n), 1e-6, op)
  end
  for _, op in ipairs({ "segment_max", "segment_min" }) do
    local vg, ag = graphids[op](src:cuda(), index:cuda(), n)
    local vc, ac = graphids[op](src, index, n)
    close(vg, vc, 0, op)
    assert(graphids.equal(ag:cpu(), ac), op .. " argument rows")
  end
  close(graphids.segment_softmax(src:cuda(), index:cuda(), n),
    graphids.segment_softmax(src, index, n), 1e-6, "segment_softmax")
end)

check("an AdamW step on GPU parameters equals the CPU's", function()
  local function run(dev)
    graphids.manual_seed(3)
    local w = graphids.randn(64, 32):to(dev):requires_grad_()
    local opt = graphids.optim.AdamW({ w }, { lr = 1e-2, weight_decay = 0.1 })
    local x = graphids.randn(128, 64):to(dev)
    for _ = 1, 5 do
      opt:zero_grad()
      local y = graphids.mm(x, w)
      ;(y * y):mean():backward()
      opt:step()
    end
    return w:detach()
  end
  close(run("cuda"), run("cpu"), 1e-5, "parameters after 5 AdamW steps")
end)

-- Adam over a list on the device (gids_adam_steps_: one launch for up to 48 parameters) gives
-- the same bits as one parameter at a time: 60 parameters (two launches), f32 and f64 mixed,
-- an empty one, each at its own step, with amsgrad.
check("Adam over a list of device parameters equals one update at a time", function()
  graphids.manual_seed(5)
  local n = 60
  local lists = { {}, {}, {}, {}, {} }
  local steps = {}
  for i = 1, n do
    local size = i == 7 and 0 or (i * 37) % 3000 + 1
    local dt = i % 3 == 0 and "f64" or "f32"
    for k = 1, 5 do
      local t = graphids.randn(size):to(dt)
      lists[k][i] = k >= 4 and t:abs():cuda() or t:cuda()
    end
    steps[i] = i % 5 + 1
  end
  local one = {}
  for k = 1, 5 do
    one[k] = {}
    for i = 1, n do one[k][i] = lists[k][i]:clone() end
  end
  local cfg = { lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.1,
    decoupled = true, amsgrad = true }
  graphids._adam_steps(lists[1], lists[2], lists[3], lists[4], lists[5], steps, cfg)
  for i = 1, n do
    local c = {}
    for key, v in pairs(cfg) do c[key] = v end
    c.step = steps[i]
    graphids._adam_step(one[1][i], one[2][i], one[3][i], one[4][i], one[5][i], c)
    for _, k in ipairs({ 1, 3, 4, 5 }) do
      T.identical(lists[k][i], one[k][i], string.format("update %d, state %d", i, k))
    end
  end
end)

-- A short training run: the same model and data on the CPU and on the GPU give the same loss
-- curve within float tolerance (issue: "a short training run matching the CPU run").
local function train_curve(dev, loss_name)
  graphids.manual_seed(11)
  local nn = graphids.nn
  local model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(),
    nn.Linear(64, 4)):to(dev)
  local opt = graphids.optim.AdamW(model:parameters(), { lr = 1e-2 })
  local x = graphids.randn(256, 16):to(dev)
  local y = graphids.randint(0, 4, { 256 }):to(dev)
  local curve = {}
  for step = 1, 20 do
    opt:zero_grad()
    local out = model(x)
    local loss
    if loss_name == "mse" then
      loss = nn.functional.mse_loss(out, out:detach() * 0 + 1)
    else
      loss = nn.functional.cross_entropy(out, y)
    end
    loss:backward()
    opt:step()
    curve[step] = loss:item()
  end
  return curve
end

for _, loss_name in ipairs({ "mse", "cross_entropy" }) do
  check("a 20-step MLP training run on the GPU follows the CPU's loss curve (" .. loss_name .. ")",
    function()
      local cpu, gpu = train_curve("cpu", loss_name), train_curve("cuda", loss_name)
      for i = 1, 20 do
        local e = math.abs(cpu[i] - gpu[i]) / math.max(1, math.abs(cpu[i]))
        assert(e < 1e-4, string.format("step %d: cpu %.7f gpu %.7f", i, cpu[i], gpu[i]))
      end
      assert(cpu[20] < cpu[1], "the loss goes down")
    end)
end

check("tensors on different devices are an error naming both", function()
  local ok, err = pcall(function() return graphids.ones(2):cuda() + graphids.ones(2) end)
  assert(not ok and tostring(err):match("cuda:0") and tostring(err):match("cpu"), tostring(err))
end)

-- Arguments the binding reads from a device tensor: the segment count taken from the index,
-- a one-element tensor as masked_fill's value.
check("a device index without num_segments and a device fill value work", function()
  local src, idx = graphids.randn(7, 3), graphids.tensor({ 0, 2, 2, 1, 0, 4, 1 })
  close(graphids.segment_sum(src:cuda(), idx:cuda()), graphids.segment_sum(src, idx), 1e-6,
    "segment_sum with an inferred count")
  local x = graphids.randn(4, 5)
  local v = graphids.tensor({ 2.5 })
  close(x:cuda():masked_fill(x:cuda():gt(0), v:cuda()), x:masked_fill(x:gt(0), v), 0,
    "masked_fill by a device tensor")
end)

-- unique of floats is composed on a device (sort, neighbour comparison, cumsum, masked_select,
-- bincount, scatter): the CPU's values, inverse and counts, NaN its own group each time, -0.0
-- and +0.0 one group.
check("unique of floats on the device matches the CPU", function()
  local x = graphids.tensor({ { 3.5, -0.0, 1, 0.0 }, { 0 / 0, 1, 3.5, 0 / 0 }, { -2, 1, 7, -2 } })
  for _, dt in ipairs({ "f32", "f64" }) do
    local c = x:to(dt)
    local v, inv, cnt = c:cuda():unique({ return_inverse = true, return_counts = true })
    local cv, cinv, ccnt = c:unique({ return_inverse = true, return_counts = true })
    assert(graphids.equal(v:cpu():isnan(), cv:isnan()), "NaN positions " .. dt)
    close(graphids.where(v:isnan(), 0, v), graphids.where(cv:isnan(), 0, cv), 0, "values " .. dt)
    assert(graphids.equal(inv:cpu(), cinv), "inverse " .. dt)
    assert(graphids.equal(cnt:cpu(), ccnt), "counts " .. dt)
  end
  local r = graphids.randint(0, 50, { 3000 }):float()
  close(r:cuda():unique(), r:unique(), 0, "3000 values")
  assert(graphids.empty(0):cuda():unique():numel() == 0, "empty input")
end)

-- A dtype a kernel does not take gives an error naming the op, the dtype and CUDA.  The
-- loopback device runs the CPU op for every dtype, so only a real GPU shows this (the
-- loopback's own C spec checks EUNSUPPORTED for an entry it leaves out).
check("an op without a device kernel says so", function()
  if loopback then return end
  local ok, err = pcall(function()
    return graphids.zeros(3, { dtype = "bf16", device = "cuda" }):sort()
  end)
  assert(not ok and tostring(err):match("sort") and tostring(err):match("CUDA"), tostring(err))
end)

check("a device that does not exist is an error", function()
  local ok, err = pcall(function() return graphids.ones(2):cuda(99) end)
  assert(not ok and tostring(err):match("does not exist"), tostring(err))
end)

check("memory statistics follow allocations and reset returns the cache", function()
  collectgarbage()
  graphids.gpu.reset()
  local m0 = graphids.gpu.memory()
  assert(m0.reserved == m0.allocated, "after reset nothing is cached")
  local big = graphids.zeros(64, 1024, 1024, { device = "cuda" }) -- 256 MiB
  local m1 = graphids.gpu.memory()
  assert(m1.allocated - m0.allocated >= 256 * 2 ^ 20, "allocated grew by the tensor")
  assert(m1.peak >= m1.allocated and m1.total > 0 and m1.free > 0)
  big:free()
  local m2 = graphids.gpu.memory()
  assert(m2.allocated == m0.allocated, "freed bytes leave allocated")
  assert(m2.reserved >= m2.allocated + 256 * 2 ^ 20, "the block stays cached")
  assert(graphids.gpu.reset() == true)
  local m3 = graphids.gpu.memory()
  assert(m3.reserved == m3.allocated, "reset returns cached blocks")
  assert(m3.peak == m3.allocated, "reset brings the peak down to the current")
end)

-- The driver's NVML (gids/nvml.h) on a real GPU: the loopback device has no driver, and the
-- specs' stand-in library (spec/track/nvml_spec.lua) only shows that the calls are wired.
check("NVML lists the machine's GPUs with memory, utilisation and power", function()
  if loopback then return end
  local list, why = graphids.gpu.nvml()
  assert(list, "gpu.nvml: " .. tostring(why))
  assert(#list >= graphids.gpu.device_count(), "NVML lists fewer GPUs than CUDA sees")
  local g = list[1]
  assert(g.memory_total and g.memory_total > 0 and g.memory_used <= g.memory_total, tostring(g.missing))
  -- A board the driver does not ask for utilisation or power (a MIG instance, some boards'
  -- power) says "Not Supported": left out, as the sampler leaves it; any other reason fails.
  local function refused(what)
    return (g.missing or ""):match(what .. ": [^;]*[Nn]ot [Ss]upported") ~= nil
  end
  assert((g.utilization and g.utilization >= 0 and g.utilization <= 100) or refused("utilization"),
    tostring(g.missing))
  assert((g.power_mw and g.power_limit_mw and g.power_limit_mw > 0) or refused("power"),
    tostring(g.missing))
  print(string.format("   nvml: %d GPU(s); GPU 0 %.1f of %.1f GB, %s busy, %s W%s", #list,
    g.memory_used / 1e9, g.memory_total / 1e9, g.utilization and (g.utilization .. "%") or "?",
    g.power_mw and string.format("%.0f of %.0f", g.power_mw / 1000, g.power_limit_mw / 1000) or "?",
    g.missing and ("; left out: " .. g.missing) or ""))
end)

check("out of memory is an error and the process survives", function()
  local one = graphids.ones(1, 1, { device = "cuda" })
  local ok, err = pcall(function() return one:expand(1 << 20, 1 << 20):contiguous() end) -- 4 TiB
  assert(not ok and tostring(err):match("requested"), tostring(err))
  assert(graphids.ones(4, { device = "cuda" }):sum():item() == 4, "still usable")
end)

T.finish()
