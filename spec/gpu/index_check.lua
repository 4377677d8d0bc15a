-- index_check.lua -- the device's index checks (runtime/src/cuda/index_range.cu,
-- runtime/src/core/ranges.c): an index's range kept after its first check, bounds carried
-- through the ops that make indexes, uploads that bring their range with them, and how often a
-- check waits for the device.  None of them may ever let a bad index through.  Run by
-- tools/gpu-check.sh on a machine with a GPU and by spec/gpu/loopback.sh on the loopback device
-- (which compares every kept bound with the values); prints one line per failure and ends with
-- "index: N passed, M failed".  Without a GPU it prints "skipped: <reason>" and exits 0.
local graphids = require "graphids"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("index")
if not T.available() then
  return
end
local check, close = T.check, T.close
-- the loopback device (graphids_loopback.so, make test) runs CPU ops: no kernels, no waits
local loopback = tostring(graphids.gpu.info()):match("loopback") ~= nil

graphids.manual_seed(11)
-- The range of an index is kept after its first check (index_range.cu): later checks of the
-- same values compare on the host, so they must still catch a smaller bound, an in-place write
-- (any op's), and a view of other values of the same memory.
check("kept index ranges still catch every bad index", function()
  local x = graphids.randn(50, 4):cuda()
  local idx = graphids.tensor({ 3, 0, 49, 3, 17 }):cuda()
  close(x:index_select(1, idx), x:cpu():index_select(1, idx:cpu()), 0, "first check")
  close(x:index_select(1, idx), x:cpu():index_select(1, idx:cpu()), 0, "kept range")
  local small = graphids.randn(20, 4):cuda()
  local ok, err = pcall(function() return small:index_select(1, idx) end)
  assert(not ok and tostring(err):match("index 49 out of range %[0, 20%) at position 2"),
    "a smaller bound: " .. tostring(err))
  idx:narrow(1, 2, 1):fill_(-1) -- in place on the device
  ok, err = pcall(function() return x:index_select(1, idx) end)
  assert(not ok and tostring(err):match("index %-1 out of range %[0, 50%) at position 1"),
    "after fill_: " .. tostring(err))
  idx:copy_(graphids.tensor({ 1, 2, 3, 4, 55 }):cuda())
  ok, err = pcall(function() return x:index_select(1, idx) end)
  assert(not ok and tostring(err):match("index 55 out of range %[0, 50%) at position 4"),
    "after copy_: " .. tostring(err))
  local both = graphids.tensor({ 1, 2, 3, 4, 60 }):cuda()
  close(x:index_select(1, both:narrow(1, 1, 4)), x:cpu():index_select(1, graphids.tensor({ 1, 2, 3, 4 })), 0,
    "a view's range")
  ok, err = pcall(function() return x:index_select(1, both) end)
  assert(not ok and tostring(err):match("index 60 out of range"), "the whole tensor: " .. tostring(err))
  local s = graphids.randn(5, 3):cuda()
  local seg = graphids.tensor({ 0, 2, 2, 1, 0 }):cuda()
  close(graphids.segment_sum(s, seg, 3), graphids.segment_sum(s:cpu(), seg:cpu(), 3), 1e-6, "segments")
  ok, err = pcall(graphids.segment_sum, s, seg, 2)
  assert(not ok and tostring(err):match("out of range"), "segments, a smaller count: " .. tostring(err))
  graphids.gpu.reset() -- drops the kept ranges
  close(x:index_select(1, both:narrow(1, 1, 4)), x:cpu():index_select(1, graphids.tensor({ 1, 2, 3, 4 })), 0,
    "after reset")
end)

check("int_range reads a range once and keeps it until the values change", function()
  local function waits_of(f)
    local w0 = graphids.gpu.waits()
    local a, b = f()
    return graphids.gpu.waits() - w0, a, b
  end
  local host = graphids.tensor({ 5, -3, 7, 2, 7 })
  local up = host:cuda() -- an upload waits (the copy) and brings its range along
  local w, lo, hi = waits_of(function() return up:int_range() end)
  assert(w == 0 and lo == -3 and hi == 7, string.format("uploaded: %d waits, [%d, %d]", w, lo, hi))
  local d = up * 2
  w, lo, hi = waits_of(function() return d:int_range() end)
  assert(w == 1 and lo == -6 and hi == 14, string.format("made on the device: %d waits, [%d, %d]",
    w, lo, hi))
  w = waits_of(function() return d:int_range() end)
  assert(w == 0, "the second look waited " .. w .. " times")
  d:narrow(1, 2, 1):fill_(-40) -- in place: the kept range is stale
  w, lo, hi = waits_of(function() return d:int_range() end)
  assert(w == 1 and lo == -40 and hi == 14, string.format("after fill_: %d waits, [%d, %d]", w, lo,
    hi))
  -- a part of a kept tensor gets its own least and greatest value, not the whole one's
  lo, hi = d:narrow(1, 3, 2):int_range()
  assert(lo == 4 and hi == 14, string.format("a view: [%d, %d]", lo, hi))
  lo, hi = host:to("i32"):cuda():int_range()
  assert(lo == -3 and hi == 7, "i32")
  lo, hi = graphids.zeros({ 0 }, { dtype = "i64", device = "cuda" }):int_range()
  assert(lo == 0 and hi == -1, "empty")
  assert(waits_of(function() return graphids.gpu.synchronize() end) == 1, "synchronize is a wait")
  assert(waits_of(function() return d:sum():item() end) == 1, "item is a wait")
  graphids.gpu.reset()
  w = waits_of(function() return up:int_range() end)
  assert(w == 1, "after reset (the ranges dropped): " .. w .. " waits")
end)

check("indexes made from indexes of known range are checked without a wait", function()
  local function waits_of(f)
    local w0 = graphids.gpu.waits()
    f()
    return graphids.gpu.waits() - w0
  end
  local x = graphids.randn(50, 4):cuda()
  local idx = graphids.tensor({ 3, 0, 49, 3, 17 }):cuda() -- uploaded: its range is known
  local picked, filled, joined, chosen, nz
  local w = waits_of(function()
    picked = idx:index_select(1, graphids.tensor({ 4, 1 }):cuda()) -- some of idx's values
    filled = graphids.full({ 3 }, 7, { dtype = "i64", device = "cuda" })
    joined = graphids.cat({ picked, filled })
    chosen = graphids.where(graphids.tensor({ true, false, true }):cuda(), filled,
      graphids.cat({ picked, idx:narrow(1, 1, 1) }))
    local keys = (idx * 3 + idx - 2):remainder(7) -- interval arithmetic, then [0, 6]
    local kept = idx:masked_select(graphids.tensor({ true, false, true, false, true }):cuda())
    for _, t in ipairs({ picked, filled, joined, chosen, keys, kept }) do
      local _ = x:index_select(1, t)
    end
  end)
  assert(w == 1, w .. " waits for indexes made from known ones (masked_select's count: 1)")
  -- arithmetic whose bounds do not fit is read and checked exactly
  local ok0, err0 = pcall(function() return x:index_select(1, idx * 1000 - 3000) end)
  assert(not ok0 and tostring(err0):match("index %-3000 out of range %[0, 50%) at position 1"),
    "a product out of range: " .. tostring(err0))
  -- a negative factor swaps the ends; the values are right
  local flipped = idx * -1 + 49
  close(x:index_select(1, flipped), x:cpu():index_select(1, graphids.tensor({ 46, 49, 0, 46, 32 })),
    0, "49 - idx")
  -- a product that overflows i64 gets no bounds (the device wraps it): read, and refused
  ok0, err0 = pcall(function() return x:index_select(1, idx * (1 << 62) + 1) end)
  assert(not ok0 and tostring(err0):match("out of range %[0, 50%)"),
    "an overflowing product: " .. tostring(err0))
  w = waits_of(function()
    nz = graphids.tensor({ true, false, true, true }):cuda():nonzero():select(2, 1)
    local _ = x:index_select(1, nz) -- below the mask's length
  end)
  assert(w == 1, w .. " waits: nonzero's count, and no check of its result")
  close(x:index_select(1, joined), x:cpu():index_select(1, graphids.tensor({ 17, 0, 7, 7, 7 })),
    0, "the values")
  -- bounds are never the answer to a failing check: the exact values are read and named
  local small = graphids.randn(10, 4):cuda()
  local ok, err = pcall(function() return small:index_select(1, joined) end)
  assert(not ok and tostring(err):match("index 17 out of range %[0, 10%) at position 0"),
    "a bound that does not fit: " .. tostring(err))
  -- bounds [0, 49] do not fit 20 rows, picked's values (17, 0) do: read once, then kept
  local twenty = graphids.randn(20, 4):cuda()
  w = waits_of(function() local _ = twenty:index_select(1, picked) end)
  assert(w == 1, "loose bounds: " .. w .. " waits")
  w = waits_of(function() local _ = twenty:index_select(1, picked) end)
  assert(w == 0, "the exact range kept: " .. w .. " waits")
  -- nor are they int_range's answer: the least and greatest value, read once
  w = waits_of(function()
    local lo, hi = chosen:int_range() -- {7, 0, 7}: its bounds are [0, 49]
    assert(lo == 0 and hi == 7, string.format("int_range [%d, %d]", lo, hi))
  end)
  assert(w == 1, "int_range of noted bounds waited " .. w .. " times")
end)

-- Bounds noted for an op's result (core/ranges.c) let a check that fits them skip the device:
-- they must never let a bad index through.  Each noting op's result, written in place by each
-- kind of write afterwards (the note is for the values it had), and results whose values wrap
-- or come from floats (no note), still have a bad value refused by name.  Every operand is
-- uploaded just before (it brings its range: 32 ranges are kept, the oldest give way).  On the
-- loopback a bound the values break fails with "kept bounds ... are wrong" (waits.c) instead.
check("bounds carried through ops never let a bad index through", function()
  local x = graphids.randn(50, 4):cuda()
  local function up(t) return graphids.tensor(t):cuda() end
  local function base() return up({ 1, 2, 3, 4 }) end
  local function refused(what, idx, bad)
    local ok, err = pcall(function() return x:index_select(1, idx) end)
    assert(not ok and tostring(err):match("index " .. bad .. " out of range %[0, 50%)"),
      what .. ": " .. tostring(err))
  end
  local made = {
    full = function() return graphids.full({ 4 }, 5, { dtype = "i64", device = "cuda" }) end,
    index_select = function() return base():index_select(1, up({ 0, 1, 2, 3 })) end,
    gather = function() return base():gather(1, up({ 0, 1, 2, 3 })) end,
    where = function() return graphids.where(up({ true, false, true, false }), base(), base()) end,
    cat = function() return graphids.cat({ up({ 1, 2 }), up({ 3, 4 }) }) end,
    masked_select = function() return base():masked_select(up({ true, true, true, true })) end,
    nonzero = function() return up({ 1, 1, 1, 1 }):nonzero():view(4) end,
    ["+"] = function() return base() + base() end,
    ["-"] = function() return 10 - base() end,
    ["*"] = function() return base() * 3 end,
    remainder = function() return base():remainder(up({ 7, 7, 7, 7 })) end,
    fmod = function() return base():fmod(5) end,
  }
  local writes = { -- each leaves -5 or a value of 60 or more in the tensor
    fill_ = function(t) t:narrow(1, 2, 1):fill_(60) end,
    ["copy_ from the host"] = function(t) t:copy_(graphids.tensor({ 1, 2, 3, 70 })) end,
    ["copy_ from f64"] = function(t) t:copy_(graphids.tensor({ 1, 2, 3, 70 }):double()) end,
    ["copy_ on the device"] = function(t) t:narrow(1, 4, 1):copy_(up({ 72 })) end,
    add_ = function(t) t:add_(100) end,
    mul_ = function(t) t:mul_(-1) end,
    scatter_ = function(t) t:scatter_(1, up({ 1 }), up({ 80 })) end,
    ["scatter_ of a number"] = function(t) t:scatter_(1, up({ 1 }), 81) end,
    scatter_add_ = function(t) t:scatter_add_(1, up({ 1 }), up({ 82 })) end,
    index_add_ = function(t) t:index_add_(1, up({ 1 }), up({ 83 })) end,
    masked_fill_ = function(t) t:masked_fill_(up({ false, true, false, false }), 84) end,
    clamp_ = function(t) t:clamp_(60, 70) end,
    ["select():fill_"] = function(t) t:select(1, 3):fill_(-5) end,
  }
  for op, make in pairs(made) do
    for how, write in pairs(writes) do
      local t = make()
      local _ = x:index_select(1, t) -- in range: checked by its bounds, or read and kept
      write(t)
      refused(op .. " then " .. how, t, "%-?%d+")
    end
  end
  local a = up({ 1, 2, 3 })
  local b = a * 20 -- [20, 60]: the note is b's own, whatever happens to a
  a:fill_(0)
  refused("a result whose input was written since", b, 60)
  -- values that wrap on i64 overflow (some, not all), signs that fmod and remainder keep,
  -- values from floats
  refused("+ that wraps", up({ 0, math.maxinteger }) + 10, "%-9223372036854775799")
  refused("- that wraps", up({ 10, math.mininteger }) - 10, "9223372036854775798")
  refused("* that wraps", up({ 0, 2 }) * (1 << 62), "%-9223372036854775808")
  refused("remainder by a negative number", base():remainder(-3), "%-2")
  refused("remainder by a negative divisor", base():remainder(up({ 3, -5, 3, 3 })), "%-3")
  refused("fmod of negative values", (base() - 10):fmod(3), "%-2")
  refused("f64 beyond i64", (base():double() * 1e30):long(), "9223372036854775807")
  refused("f64 below i64", (base():double() * -1e30):long(), "%-9223372036854775808")
  refused("floor_divide", base() * 100 // 2, 50)
  refused("where with a number", graphids.where(up({ true, false, true, false }), base(), 90), 90)
  local unknown = up({ 70, 71 }):double():long() -- made from floats: no range known
  refused("cat with an input of unknown range", graphids.cat({ up({ 1, 2 }), unknown }), 70)
  refused("where with an input of unknown range", graphids.where(up({ false, true }), up({ 1, 2 }),
    unknown), 70)
end)

check("uploads do not wait for the device and keep their values when the host's change", function()
  local x = graphids.randn(512, 512):cuda()
  local busy = x
  for _ = 1, 20 do busy = busy:mm(x):tanh() end -- work queued ahead of the uploads
  local hosts, devs = {}, {}
  local w0 = graphids.gpu.waits()
  for i = 1, 40 do -- more uploads in flight than a handful of staging blocks
    hosts[i] = graphids.full({ 256, 256 }, i)
    devs[i] = hosts[i]:cuda()
    hosts[i]:fill_(-1) -- the host's buffer changes at once: the upload must have its own copy
  end
  local w = graphids.gpu.waits() - w0
  assert(w == 0, w .. " waits for 40 uploads of 256 KiB")
  for i = 1, 40 do
    assert(graphids.equal(devs[i]:cpu(), graphids.full({ 256, 256 }, i)), "upload " .. i)
  end
  assert(busy:isfinite():all():item(), "the queued work")
  local big = graphids.zeros(17, 2 ^ 18) -- 17 MiB: past the staging limit, a plain wait
  w0 = graphids.gpu.waits()
  local _ = big:cuda()
  assert(graphids.gpu.waits() - w0 == 1, "a large upload waits")
  -- where another stream could read the tensor before a queued copy ran, an upload waits
  local small = graphids.ones(4)
  local side = graphids.gpu.Stream()
  w0 = graphids.gpu.waits()
  graphids.gpu.with_stream(side, function() return small:cuda() end)
  assert(graphids.gpu.waits() - w0 == 1, "an upload on a side stream waits")
  local nb = graphids.gpu.Stream({ nonblocking = true })
  w0 = graphids.gpu.waits()
  _ = small:cuda()
  assert(graphids.gpu.waits() - w0 == 1, "an upload beside a nonblocking stream waits")
  nb:close()
  side:close()
  w0 = graphids.gpu.waits()
  _ = small:cuda()
  assert(graphids.gpu.waits() - w0 == 0, "the nonblocking stream closed: queued again")
  graphids.gpu.reset() -- frees the staging blocks; uploads still work after it
  assert(graphids.equal(graphids.arange(10):cuda():cpu(), graphids.arange(10)), "after reset")
end)

-- How often the checks wait for the device, from GRAPHIDS_CUDA_SYNC_DEBUG=warn in a child:
-- never for an index copied from the host (its range comes with the copy), once for an index
-- made on the device, however often it is used.
local WAITS_CHILD = [[
local graphids = require "graphids"
local function mark(s) io.stdout:write(s, "\n"); io.stdout:flush() end
local x = graphids.randn(50, 4):cuda()
local idx = graphids.tensor({ 3, 0, 49, 3, 17 }):cuda()
mark("phase uploaded")
for _ = 1, 4 do local _ = x:index_select(1, idx) end
mark("phase derived")
local d = idx:to("f64"):to("i64") -- from floats: no bounds follow (core/ranges.c)
for _ = 1, 4 do local _ = x:index_select(1, d) end
mark("phase end")
]]

check("index checks wait once per index made on the device, never for one from the host", function()
  if loopback then return end
  local host = arg and arg[-2]
  assert(host and arg[-1] == "run", "not started by `graphids run`")
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(WAITS_CHILD)
  f:close()
  local p = assert(io.popen(string.format(
    "env -u GRAPHIDS_CUDA_SYNC GRAPHIDS_CUDA_SYNC_DEBUG=warn %q run %q 2>&1", host, path)))
  local out = p:read("a")
  local ok = p:close()
  os.remove(path)
  assert(ok and out:find("phase end", 1, true), "the child failed:\n" .. out)
  local counts, phase = {}, nil
  for line in out:gmatch("[^\n]+") do
    phase = line:match("^phase (%a+)") or phase
    if phase and line:find("waits for the device at index_range.cu", 1, true) then
      counts[phase] = (counts[phase] or 0) + 1
    end
  end
  assert((counts.uploaded or 0) == 0, "an index from the host waited:\n" .. out)
  assert(counts.derived == 1, "an index made on the device waited " .. tostring(counts.derived)
    .. " times in 4 uses:\n" .. out)
end)

T.finish()
