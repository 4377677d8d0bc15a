-- harness.lua -- the small test harness of the GPU parity scripts (spec/gpu/*_check.lua), which
-- run under `graphids run` on the device machine: plain Lua, no busted (that machine has no Lua
-- packages).  Loaded with dofile; returns a table:
--   local T = dofile(dir .. "/harness.lua")("fused")   -- the summary line's name
--   T.check("what", function() ... end)                -- an error inside is one failure
--   T.device_check("what", function() ... end)         -- T.check, not run in a dry run
--   T.close(gpu_tensor, cpu_tensor, tol, "what")       -- same shape, relative error <= tol
--   T.finish()                                         -- prints "fused: N passed, M failed", exits
--   T.dev                                              -- "cuda", or "cpu" in a dry run
-- GRAPHIDS_GPU_DRYRUN=1 runs a script with T.dev = "cpu" (CPU against CPU): on a machine without
-- a GPU it checks that the script itself runs (its API calls, shapes and bookkeeping).
local graphids = require "graphids"

return function(name)
  local dry = os.getenv("GRAPHIDS_GPU_DRYRUN") == "1"
  local T = { passed = 0, failed = 0, dry = dry, dev = dry and "cpu" or "cuda" }

  -- Whether the script should run here: a GPU, or a dry run; prints why not.
  function T.available()
    if dry or graphids.gpu.is_available() then
      return true
    end
    print("skipped: " .. graphids.gpu.status())
    return false
  end

  function T.check(what, fn)
    local ok, err = pcall(fn)
    if ok then
      T.passed = T.passed + 1
    else
      T.failed = T.failed + 1
      print("FAIL " .. what .. ": " .. tostring(err))
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

  function T.close(a, b, tol, what)
    assert(a ~= nil, (what or "result") .. " is nil on the GPU")
    assert(b ~= nil, (what or "result") .. " is nil on the CPU")
    assert(dry or a.device:match("^cuda"),
      (what or "result") .. " is on " .. a.device .. ", not the GPU")
    T.same_shape(a, b, what)
    assert(a.dtype == b.dtype, string.format("%s: dtype %s, expected %s", what or "result",
      a.dtype, b.dtype))
    local e = T.maxerr(a, b)
    assert(e <= tol, string.format("%s: relative error %.3g > %.3g", what or "values", e, tol))
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
