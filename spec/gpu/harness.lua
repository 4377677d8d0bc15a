-- harness.lua -- the small test harness of the GPU parity scripts (spec/gpu/*_check.lua), which
-- run under `graphids run` on the device machine: plain Lua, no busted (that machine has no Lua
-- packages).  Loaded with dofile; returns a table:
--   local T = dofile(dir .. "/harness.lua")("fused")   -- the summary line's name
--   T.check("what", function() ... end)                -- an error inside is one failure
--   T.device_check("what", function() ... end)         -- T.check, not run in a dry run
--   T.close(gpu_tensor, cpu_tensor, tol, "what")       -- same shape, relative error <= tol
--   T.rel_close(gpu_tensor, cpu_tensor, rtol, "what", floor) -- error relative to the CPU's own
--                                                      -- scale max(max |cpu|, floor), not max(1, ...)
--   T.parity("what", { x, w, ... }, fn, opts)         -- fn(...) on the device and on the CPU:
--                                                      -- outputs and input gradients (rel_close)
--   T.finish()                                         -- prints "fused: N passed, M failed", exits
--   T.dev                                              -- "cuda", or "cpu" in a dry run
-- GRAPHIDS_GPU_DRYRUN=1 runs a script with T.dev = "cpu" (CPU against CPU): on a machine without
-- a GPU it checks that the script itself runs (its API calls, shapes and bookkeeping).
local graphids = require "graphids"

-- A 0/1 switch of the environment; another value is an error, not silently off.
local function switch(var)
  local v = os.getenv(var)
  if v == nil or v == "" or v == "0" then return false end
  if v == "1" then return true end
  error(string.format("%s is '%s'; it takes 0 or 1 (or unset)", var, v), 0)
end

return function(name)
  local dry = switch("GRAPHIDS_GPU_DRYRUN")
  local T = { passed = 0, failed = 0, dry = dry, dev = dry and "cpu" or "cuda" }

  -- Whether the script should run here: a GPU, or a dry run; prints why not.
  function T.available()
    if dry or graphids.gpu.is_available() then
      return true
    end
    print("skipped: " .. graphids.gpu.status())
    return false
  end

  -- GRAPHIDS_CHECK_TRACE=1 names each check before it runs.  Every line is flushed at once:
  -- a script that dies in a kernel or the plugin (a signal) would otherwise lose what its
  -- buffered output held, and the log would not say where it stopped.
  local trace = switch("GRAPHIDS_CHECK_TRACE")
  local function say(line)
    io.stdout:write(line, "\n")
    io.stdout:flush()
  end

  function T.check(what, fn)
    if trace then
      say("check: " .. what)
    end
    local ok, err = pcall(fn)
    if ok then
      T.passed = T.passed + 1
    else
      T.failed = T.failed + 1
      say("FAIL " .. what .. ": " .. tostring(err))
    end
  end

  -- A check of what only a device has (its count of waits, its memory): run as T.check, and in
  -- a dry run (the CPU) named as not run, counted neither way.
  function T.device_check(what, fn)
    if dry then
      print("not run in a dry run (it needs a device): " .. what)
      return
    end
    T.check(what, fn)
  end

  -- Largest |a - b| relative to max(1, max |b|) over all elements (a on any device, b on the
  -- CPU).
  function T.maxerr(a, b)
    a, b = a:detach(), b:detach()
    if b:numel() == 0 then
      return 0
    end
    local d = (a:cpu():double() - b:double()):abs()
    local scale = b:double():abs():amax():item()
    return d:amax():item() / math.max(1, scale)
  end

  function T.same_shape(a, b, what)
    local sa, sb = table.concat(a.shape, ","), table.concat(b.shape, ",")
    assert(sa == sb, string.format("%s: shape [%s], expected [%s]", what or "result", sa, sb))
  end

  -- a on the device (the GPU, or the CPU in a dry run), b on the CPU, same shape and dtype.
  local function comparable(a, b, what)
    assert(a ~= nil, (what or "result") .. " is nil on the GPU")
    assert(b ~= nil, (what or "result") .. " is nil on the CPU")
    assert(dry or a.device:match("^cuda"),
      (what or "result") .. " is on " .. a.device .. ", not the GPU")
    T.same_shape(a, b, what)
    assert(a.dtype == b.dtype, string.format("%s: dtype %s, expected %s", what or "result",
      a.dtype, b.dtype))
  end

  function T.close(a, b, tol, what)
    comparable(a, b, what)
    local e = T.maxerr(a, b)
    assert(e <= tol, string.format("%s: relative error %.3g > %.3g", what or "values", e, tol))
  end

  -- Largest |a - b| relative to b's own scale, max(max |b|, floor) (floor default 1e-30): a
  -- result far below 1 (a small gradient) is held to rtol of itself, where T.close would let
  -- anything below tol pass, zeros included.  NaN anywhere (in a but not b) fails.
  function T.rel_err(a, b, floor)
    a, b = a:detach(), b:detach()
    if b:numel() == 0 then
      return 0
    end
    local bd = b:double()
    local d = (a:cpu():double() - bd):abs():amax():item()
    local scale = math.max(bd:abs():amax():item(), floor or 1e-30)
    if d ~= d then
      return math.huge
    end
    return d / scale
  end

  function T.rel_close(a, b, rtol, what, floor)
    comparable(a, b, what)
    local e = T.rel_err(a, b, floor)
    assert(e <= rtol, string.format("%s: error %.3g of its own scale > %.3g (max |cpu| %.3g)",
      what or "values", e, rtol, b:numel() > 0 and b:detach():double():abs():amax():item() or 0))
  end

  local function is_float(t)
    return t.dtype == "f32" or t.dtype == "f64"
  end

  -- fn(...) over inputs (a list: tensors, given to fn on the device and on the CPU, and other
  -- values as they are) on both devices: every output equal within rtol of its own scale
  -- (integer outputs exactly), and the gradient of sum_k sum(out_k * w_k) (w_k fixed random
  -- weights) with respect to every float input equal within rtol of its own scale.  opts:
  -- rtol (default 2e-5 when the first float input is f32, else 1e-10), floor (T.rel_err's),
  -- nograd = { [i] = true } (inputs that need no gradient), n (the count of inputs, when the
  -- list has holes).
  function T.parity(what, inputs, fn, opts)
    opts = opts or {}
    local n = opts.n or #inputs
    local rtol = opts.rtol
    if rtol == nil then
      rtol = 1e-10
      for i = 1, n do
        local v = inputs[i]
        if graphids.is_tensor(v) and is_float(v) then
          rtol = v.dtype == "f32" and 2e-5 or 1e-10
          break
        end
      end
    end
    local weights
    local function run(dev)
      local args, leaves = {}, {}
      for i = 1, n do
        local v = inputs[i]
        if graphids.is_tensor(v) then
          local moved = dev == "cpu" and v:detach():clone() or v:detach():to(dev)
          if is_float(v) and not (opts.nograd and opts.nograd[i]) then
            moved:requires_grad_()
            leaves[i] = moved
          end
          args[i] = moved
        else
          args[i] = v
        end
      end
      local outs = table.pack(fn(table.unpack(args, 1, n)))
      if weights == nil then
        weights = {}
        for k = 1, outs.n do
          local o = outs[k]
          if graphids.is_tensor(o) and is_float(o) then
            weights[k] = graphids.randn(o.shape):to(o.dtype)
          end
        end
      end
      local loss
      for k = 1, outs.n do
        local o = outs[k]
        if weights[k] ~= nil and o.requires_grad then
          local part = (o * weights[k]:to(dev)):sum()
          loss = loss and loss + part or part
        end
      end
      if loss ~= nil then
        loss:backward()
      end
      return outs, leaves
    end
    local co, cl = run("cpu")
    local go, gl = run(T.dev)
    assert(go.n == co.n, string.format("%s: %d outputs, expected %d", what, go.n, co.n))
    for k = 1, co.n do
      local c, g = co[k], go[k]
      if graphids.is_tensor(c) then
        assert(graphids.is_tensor(g), string.format("%s: output %d is not a tensor", what, k))
        if is_float(c) then
          T.rel_close(g, c, rtol, string.format("%s: output %d", what, k), opts.floor)
        else
          T.close(g, c, 0, string.format("%s: output %d", what, k))
        end
      end
    end
    for i = 1, n do
      if cl[i] ~= nil then
        local cg, gg = cl[i].grad, gl[i].grad
        assert((cg == nil) == (gg == nil), string.format("%s: gradient of input %d is %s on " ..
          "the device, %s on the CPU", what, i, gg and "set" or "nil", cg and "set" or "nil"))
        if cg ~= nil then
          T.rel_close(gg, cg, rtol, string.format("%s: gradient of input %d", what, i),
            opts.floor)
        end
      end
    end
  end

  -- Bit-identical (two GPU runs of one op).
  function T.identical(a, b, what)
    T.same_shape(a, b, what)
    assert(graphids.equal(a:cpu(), b:cpu()), (what or "result") .. " differs between two runs")
  end

  function T.finish()
    print(string.format("%s: %d passed, %d failed", name, T.passed, T.failed))
    os.exit(T.failed == 0 and 0 or 1)
  end

  return T
end
