-- stream_check.lua -- streams, events and the allocator's pools per stream (gids_backend ABI 6;
-- runtime/src/cuda/stream.cu, allocator.cu; docs/cuda.md "Streams and events"):
--   results on a side stream are the default stream's bit for bit (kernels, cuBLAS and
--   cuBLASLt, CUB with a count read back, copies to the host); with_stream restores the previous
--   stream when its function raises, and raises the same error object; an event pair around a
--   matmul times it (> 0 ms); a stream that waits on an event recorded after another stream's
--   work reads that work's result; a block lives in the pool of the stream it was allocated on;
--   record_stream keeps a freed block from reuse until the recording stream's work is done
--   (checked in a child process without GRAPHIDS_CUDA_SYNC, which would leave no work pending);
--   destroying a stream gives its cached blocks back; reset with streams alive.
-- Run by tools/gpu-check.sh on a GPU and by spec/gpu/loopback.sh on the loopback device (whose
-- streams run their work at once: only the bookkeeping is real there).  Ends with
-- "stream: N passed, M failed"; without a GPU it prints "skipped: <reason>" and exits 0.
-- luacheck: ignore 231 311 (locals that only hold device memory until they are set to nil)
local graphids = require "graphids"
local gpu = graphids.gpu

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"

-- The child part: `graphids run stream_check.lua pending`, without GRAPHIDS_CUDA_SYNC (the
-- record_stream wait and the cross-stream order; see there).
local part = ...

local T = dofile(dir .. "/harness.lua")(part == "pending" and "stream_pending" or "stream")
if not T.available() then
  return
end
if T.dry then
  print("skipped: streams need a device (GRAPHIDS_GPU_DRYRUN runs on the CPU)")
  return
end
local check = T.check

local loopback = gpu.info():find("loopback", 1, true) ~= nil
-- Work that keeps a GPU busy for tens of milliseconds (a few ms per product on an H100); small
-- on the loopback device, where it runs on the CPU.
local N, REPS = 4096, 12
if loopback then
  N, REPS = 64, 2
end
graphids.manual_seed(5)
local big = graphids.randn(N, N):div(N ^ 0.5):cuda()
local function busy_work(x)
  local y = x
  for _ = 1, REPS do
    y = y:matmul(big)
  end
  return y
end

-- got (a CPU copy of a device result) within tol of ref, relative to max(1, max |ref|).
local function near(got, ref, tol, what)
  T.same_shape(got, ref, what)
  local e = T.maxerr(got, ref)
  assert(e <= tol, string.format("%s: relative error %.3g > %.3g", what, e, tol))
end

local function reserved()
  collectgarbage()
  collectgarbage()
  return gpu.memory().reserved
end

-- A float tensor of `bytes` bytes on the device, allocated on the current stream.
local function block(bytes)
  return graphids.zeros(bytes // 4, { device = "cuda" })
end

-- Two nonblocking streams, ordered only by an event: b reads a product a computes.  Run here
-- and in the child without GRAPHIDS_CUDA_SYNC (with it, a's work is done before b starts).
local function cross_stream_order()
  local a, b = gpu.Stream({ nonblocking = true }), gpu.Stream({ nonblocking = true })
  local xc = graphids.randn(N, N):div(N ^ 0.5)
  local x = xc:cuda()
  local ref = busy_work(x):sum(1):cpu() -- on the default stream
  -- Nonblocking: nothing orders a and b but the event.
  local y = gpu.with_stream(a, function() return busy_work(x) end)
  local e = a:record_event()
  b:wait_event(e)
  y:record_stream(b)
  local got = gpu.with_stream(b, function() return y:sum(1):cpu() end)
  -- Read before a's work ends, the sum would be of a poisoned or half-written product.
  near(got, ref, 1e-4, "sum of a's product read on b")
  a:close()
  b:close()
end

if part == "pending" then
  -- Without GRAPHIDS_CUDA_SYNC: x (default stream) is read on s, recorded there and freed while
  -- s still runs; an allocation of its size on the default stream must not reuse it then.  The
  -- allocation happens first and the query after it: if s is still busy after the allocation
  -- returned, the event recorded at free time had not completed during it.
  check("record_stream keeps a freed block until the stream's work is done", function()
    gpu.reset()
    local s = gpu.Stream()
    local bytes = 3 * 1024 * 1024 + 4096 -- a size nothing else here uses
    local x = block(bytes)
    gpu.with_stream(s, function()
      local y = busy_work(big)
      return y:sum(), x:sum()
    end)
    x:record_stream(s)
    x = nil
    -- x's block waits for an event on s; the default stream's pool holds nothing else (the
    -- products were allocated on s).
    local r0 = reserved()
    local y = block(bytes)
    local after = gpu.memory().reserved
    local still_busy = not s:query()
    if still_busy then
      assert(after > r0, string.format("reused while s was busy: reserved %d -> %d", r0, after))
    elseif loopback then -- its streams have no work pending: reused at once
      assert(after == r0, string.format("not reused on the loopback: reserved %d -> %d", r0, after))
    end
    s:synchronize()
    y = nil
    local again = reserved()
    -- y's block and, when y had to take a new one, x's (its event now complete): as many
    -- allocations reuse them.
    local z1, z2 = block(bytes), still_busy and block(bytes) or nil
    assert(gpu.memory().reserved == again, string.format(
      "x's block was not reused once s was done: reserved %d -> %d", again, gpu.memory().reserved))
    print(string.format("pending: s was %s when the default stream allocated", still_busy
      and "busy (checked: not reused)" or "already done (only the reuse after it is checked)"))
    z1, z2 = nil, nil
    s:close()
  end)
  check("a stream waiting on an event reads the other stream's result", cross_stream_order)
  T.finish()
end

-- ---------------------------------------------------------------- the same results
check("current_stream is the default stream until one is set", function()
  local d = gpu.current_stream()
  assert(d.is_default and d.device == 0, tostring(d))
  assert(rawequal(d, gpu.default_stream()) and rawequal(d, gpu.current_stream(0)))
end)

-- cuBLAS promises the same bits run to run only while one stream is active ("Results
-- reproducibility" in its guide: with several it may pick other implementations), so the BLAS
-- results are compared within 1e-5; everything else must be identical.
check("ops on a side stream give the default stream's results", function()
  local cpu = graphids.randn(300, 200)
  local w = graphids.randn(200, 96)
  local b = graphids.randn(96)
  local idx = graphids.tensor({ 5, 0, 299, 17, 17, 3 }, { dtype = "i64" })
  local function work()
    local x = cpu:cuda() -- a host-to-device copy on the current stream
    local h = graphids.addmm(b:cuda(), x, w:cuda()) -- cuBLASLt's fused bias
    local m = x:matmul(w:cuda()) -- cuBLAS
    local sel = x:index_select(1, idx:cuda())
    local nz = graphids.nonzero(x:gt(1)) -- a count read back from the device
    local u = graphids.unique(idx:cuda()) -- CUB, a count read back
    local srt = x:sort(2) -- CUB radix sort
    local sm = x:relu():softmax(2):sum(1)
    return { h = h:cpu(), m = m:cpu(), sel = sel:cpu(), nz = nz:cpu(), u = u:cpu(),
      srt = srt:cpu(), sm = sm:cpu() }
  end
  local ref = work()
  local s = gpu.Stream()
  local got = gpu.with_stream(s, work)
  s:synchronize()
  for _, k in ipairs({ "sel", "nz", "u", "srt", "sm" }) do
    T.identical(got[k], ref[k], k)
  end
  near(got.h, ref.h, 1e-5, "addmm")
  near(got.m, ref.m, 1e-5, "matmul")
  s:close()
end)

check("a nonblocking stream with a priority gives the same bits", function()
  local s = gpu.Stream({ priority = -1, nonblocking = true })
  assert(s.nonblocking and s.priority == -1, tostring(s))
  local x = graphids.randn(64, 64)
  local ref = x:cuda():matmul(x:cuda()):cpu()
  local got = gpu.with_stream(s, function()
    local xd = x:cuda()
    return xd:matmul(xd):cpu() -- the read to the host waits for s
  end)
  near(got, ref, 1e-5, "matmul")
  s:close()
end)

-- ---------------------------------------------------------------- with_stream
check("with_stream restores the previous stream on error and raises the same error", function()
  local before = gpu.current_stream()
  local s, inner = gpu.Stream(), gpu.Stream()
  local boom = { code = 7 }
  local ok, err = pcall(gpu.with_stream, s, function()
    assert(rawequal(gpu.current_stream(), s))
    gpu.with_stream(inner, function()
      assert(rawequal(gpu.current_stream(), inner))
    end)
    assert(rawequal(gpu.current_stream(), s), "the nested with_stream did not restore s")
    error(boom)
  end)
  assert(not ok and rawequal(err, boom), "the error object changed: " .. tostring(err))
  assert(rawequal(gpu.current_stream(), before), "not restored: " .. tostring(gpu.current_stream()))
  local a, b2 = gpu.with_stream(s, function(p, q) return p + q, "x" end, 2, 3)
  assert(a == 5 and b2 == "x", "results not passed through")
  gpu.set_stream(s)
  assert(rawequal(gpu.current_stream(), s))
  s:close() -- closing the current stream makes the default current
  assert(gpu.current_stream().is_default, tostring(gpu.current_stream()))
  inner:close()
end)

-- ---------------------------------------------------------------- events
check("an event pair times a matmul (> 0 ms)", function()
  local e0, e1 = gpu.Event({ timing = true }), gpu.Event({ timing = true })
  e0:record()
  local y = busy_work(big)
  e1:record()
  e1:synchronize()
  assert(e1:query() and e0:query())
  local ms = e0:elapsed_time(e1)
  assert(type(ms) == "number" and ms > 0, "elapsed " .. tostring(ms))
  assert(y:sum():item() == y:sum():item(), "NaN in the product")
  local ok, err = pcall(function() return gpu.Event():elapsed_time(e1) end)
  assert(not ok and tostring(err):find("without timing", 1, true), tostring(err))
end)

check("a stream waiting on an event reads the other stream's result", cross_stream_order)

-- ---------------------------------------------------------------- pools per stream
check("a block freed goes back to its own stream's pool", function()
  gpu.reset()
  local s = gpu.Stream()
  local bytes = 5 * 1024 * 1024 + 8192
  local x = gpu.with_stream(s, function() return block(bytes) end)
  x = nil
  local r0 = reserved() -- x's block is cached in s's pool
  local y = block(bytes) -- the default stream may not take it
  assert(gpu.memory().reserved > r0, "the default stream took a block of s's pool")
  local r1 = gpu.memory().reserved
  local z = gpu.with_stream(s, function() return block(bytes) end) -- s takes it back
  assert(gpu.memory().reserved == r1, "s did not reuse its own block")
  y, z = nil, nil
  local before_close = reserved()
  s:close() -- s's cached block goes back to the driver
  local after_close = reserved()
  assert(after_close < before_close,
    string.format("closing s kept its cached blocks: %d -> %d", before_close, after_close))
  local m = gpu.memory()
  assert(m.reserved >= m.allocated)
end)

check("a live block of a closed stream goes to the default stream's pool", function()
  gpu.reset()
  local s = gpu.Stream()
  local bytes = 6 * 1024 * 1024 + 4096
  local x = gpu.with_stream(s, function() return block(bytes) end)
  s:close()
  x = nil
  local r0 = reserved()
  local y = block(bytes)
  assert(gpu.memory().reserved == r0, "the default stream did not reuse the closed stream's block")
  y = nil
end)

check("reset with streams alive releases every pool; the streams still work", function()
  local s1, s2 = gpu.Stream(), gpu.Stream()
  for _, s in ipairs({ s1, s2 }) do
    gpu.with_stream(s, function() return block(2 * 1024 * 1024) end)
  end
  collectgarbage()
  collectgarbage()
  assert(gpu.reset() == true)
  local m = gpu.memory()
  assert(m.reserved == m.allocated, string.format("reserved %d, allocated %d after reset",
    m.reserved, m.allocated))
  assert(m.peak == m.allocated)
  local x = graphids.randn(32, 16)
  local got = gpu.with_stream(s2, function() return x:cuda():sum(1):cpu() end)
  T.identical(got, x:cuda():sum(1):cpu(), "sum on s2 after reset")
  s1:close()
  s2:close()
end)

check("record_stream in a child process without GRAPHIDS_CUDA_SYNC", function()
  local host = arg and arg[-2]
  assert(host and arg[-1] == "run", "not started by `graphids run`")
  local cmd = string.format("env -u GRAPHIDS_CUDA_SYNC %q run %q pending 2>&1", host, arg[0])
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  io.write(out)
  assert(ok and out:find("stream_pending: 2 passed, 0 failed", 1, true), "the child failed")
end)

check("closed handles and bad arguments are clear errors", function()
  local s, e = gpu.Stream(), gpu.Event()
  s:close()
  s:close() -- idempotent
  e:close()
  e:close()
  local function fails(pattern, fn, ...)
    local ok, err = pcall(fn, ...)
    assert(not ok and tostring(err):find(pattern, 1, true),
      "expected '" .. pattern .. "', got " .. tostring(err))
  end
  fails("Stream:synchronize: the stream is closed", s.synchronize, s)
  fails("gpu.set_stream: the stream is closed", gpu.set_stream, s)
  fails("Event:record: the event is closed", e.record, e)
  fails("gpu.Stream: device 9 does not exist", gpu.Stream, { device = 9 })
  fails("priority 3 is outside cuda:0's range", gpu.Stream, { priority = 3 })
  fails("the start event was never recorded", function()
    local a, b = gpu.Event({ timing = true }), gpu.Event({ timing = true })
    b:record()
    return a:elapsed_time(b)
  end)
  fails("record_stream: argument #2 must be a graphids.gpu.Stream", function()
    graphids.zeros(2, { device = "cuda" }):record_stream(42)
  end)
  fails("record_stream: expected a CUDA tensor, got one on cpu", function()
    graphids.zeros(2):record_stream(gpu.current_stream())
  end)
  local d = gpu.default_stream()
  d:close() -- the default stream cannot be destroyed: a no-op
  d:synchronize()
  assert(d:query())
end)

T.finish()
