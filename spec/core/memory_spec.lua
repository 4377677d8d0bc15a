-- memory_spec.lua -- no leaks (live tensors return to baseline after a full GC), heap tracking
-- (tensor bytes drive the Lua GC so a loop that allocates freely stays bounded), statistics.
local graphids = require "graphids"

local MB = 1024 * 1024

local function full_gc()
  collectgarbage()
  collectgarbage()
end

describe("graphids.memory", function()
  it("reports the CPU statistics and the soft limit", function()
    local m = graphids.memory()
    for _, k in ipairs({ "current_bytes", "peak_bytes", "live_tensors", "live_storages",
      "total_allocs", "cached_bytes", "soft_limit" }) do
      assert.are.equal("integer", math.type(m[k]), k)
    end
    assert.is_true(m.peak_bytes >= m.current_bytes)
  end)

  it("counts bytes, tensors, storages and allocations", function()
    full_gc()
    local m0 = graphids.memory()
    local a = graphids.zeros(1000, { dtype = "f64" })
    local v = a:view(10, 100) -- a view: one more tensor, no more storage
    local m1 = graphids.memory()
    assert.are.equal(m0.live_tensors + 2, m1.live_tensors)
    assert.are.equal(m0.live_storages + 1, m1.live_storages)
    assert.is_true(m1.current_bytes - m0.current_bytes >= 8000)
    assert.is_true(m1.total_allocs > m0.total_allocs)
    a:free()
    v:free()
    local m2 = graphids.memory()
    assert.are.equal(m0.live_tensors, m2.live_tensors)
    assert.are.equal(m0.current_bytes, m2.current_bytes)
  end)

  it("reset_peak_memory brings the peak down to the current bytes", function()
    full_gc()
    local big = graphids.empty(4 * MB)
    big:free()
    assert.is_true(graphids.memory().peak_bytes >= 4 * MB)
    graphids.reset_peak_memory()
    local m = graphids.memory()
    assert.are.equal(m.current_bytes, m.peak_bytes)
  end)

  it("keeps large freed blocks for reuse until empty_cache()", function()
    full_gc()
    graphids.empty_cache()
    assert.are.equal(0, graphids.memory().cached_bytes)
    local big = graphids.empty(MB) -- 4 MB of f32
    big:free()
    assert.are.equal(4 * MB, graphids.memory().cached_bytes)
    local again = graphids.empty(MB) -- served from the cache
    assert.are.equal(0, graphids.memory().cached_bytes)
    again:free()
    graphids.empty_cache()
    assert.are.equal(0, graphids.memory().cached_bytes)
  end)

  it("cache_limit(0) disables the block cache", function()
    full_gc()
    local old = graphids.cache_limit(0)
    assert.is_true(old > 0)
    graphids.empty(MB):free()
    assert.are.equal(0, graphids.memory().cached_bytes)
    assert.are.equal(0, graphids.cache_limit(old))
    assert.error_matches(function()
      graphids.cache_limit(-5)
    end, "cache_limit: bytes must be >= 0, got %-5")
  end)
end)

describe("leaks", function()
  it("live tensors return to the baseline after collectgarbage()", function()
    full_gc()
    local base = graphids.memory()
    for _ = 1, 50 do
      local a = graphids.randn(8, 8)
      local b = a:t():contiguous():view(64)
      local c = graphids.tensor({ { 1, 2 }, { 3, 4 } }):double():clone()
      local _ = { a:narrow(1, 2, 3), b:unsqueeze(1), c:expand(3, 2, 2), tostring(c), c:totable() }
    end
    local ok = pcall(graphids.tensor, { { 1 }, { 2, 3 } }) -- an error mid-creation
    assert.is_false(ok)
    pcall(graphids.frombytes, "abc", "f32", { 2 })
    pcall(function()
      return graphids.zeros(2, 3):view(4)
    end)
    full_gc()
    local after = graphids.memory()
    assert.are.equal(base.live_tensors, after.live_tensors)
    assert.are.equal(base.live_storages, after.live_storages)
    assert.are.equal(base.current_bytes, after.current_bytes)
  end)
end)

describe("heap tracking", function()
  local saved

  before_each(function()
    saved = graphids.gc_soft_limit()
    full_gc()
  end)

  after_each(function()
    graphids.gc_soft_limit(saved)
  end)

  it("keeps a loop of 2 GB in 8 MB tensors bounded by the soft limit", function()
    local base = graphids.memory().current_bytes
    local limit = graphids.gc_soft_limit()
    local peak = 0
    for _ = 1, 256 do
      local t = graphids.empty(2 * MB) -- 8 MB of f32, dropped at once
      local cur = graphids.memory().current_bytes - base
      if cur > peak then
        peak = cur
      end
      assert.are.equal(2 * MB, t:numel())
    end
    -- without heap tracking this would reach 2 GB: the userdata are too small for the GC
    assert.is_true(peak <= limit + 16 * MB, ("peak %d MB"):format(peak // MB))
  end)

  it("follows gc_soft_limit", function()
    assert.are.equal(saved, graphids.gc_soft_limit(32 * MB))
    assert.are.equal(32 * MB, graphids.gc_soft_limit())
    assert.are.equal(32 * MB, graphids.memory().soft_limit)
    local base = graphids.memory().current_bytes
    local peak = 0
    for _ = 1, 64 do
      local _ = graphids.empty(MB) -- 4 MB each, 256 MB in all
      peak = math.max(peak, graphids.memory().current_bytes - base)
    end
    assert.is_true(peak <= 48 * MB, ("peak %d MB"):format(peak // MB))
    assert.error_matches(function()
      graphids.gc_soft_limit(-1)
    end, "gc_soft_limit: bytes must be >= 0, got %-1")
  end)

  -- A paced collection that finds a step's activations live waits for a quarter of them as
  -- garbage next; the end of a backward collects the step's garbage anyway (l_util.c).
  it("collects a step's garbage at the end of its backward", function()
    graphids.gc_soft_limit(8 * MB)
    local w = graphids.ones(4, { requires_grad = true })
    local base = graphids.memory().current_bytes
    local live = graphids.empty(32 * MB) -- 128 MB: collected around, survives; next at +32 MB
    -- 16 MB of garbage (over the 8 MB slack, under the trigger) old enough to have been
    -- promoted, as a step's activations are when they die: no young collection frees it
    local acts = {} -- luacheck: ignore 241 (held, then dropped: the point)
    for i = 1, 4 do acts[i] = graphids.empty(MB) end
    collectgarbage("step")
    collectgarbage("step")
    acts = nil -- luacheck: ignore 311
    assert.are.equal(32 * MB, live:numel())
    live = nil -- luacheck: ignore 311 (the activations, released by the backward)
    local before = graphids.memory().current_bytes - base
    assert.is_true(before >= 144 * MB, ("before %d MB"):format(before // MB))
    local loss = (w * 2):sum()
    loss:backward()
    local after = graphids.memory().current_bytes - base
    assert.is_true(after <= MB, ("after the backward %d MB"):format(after // MB))
    -- less new garbage than the slack stays until later: no collection at every small step
    local _ = graphids.empty(MB // 2)
    _ = nil -- luacheck: ignore 311
    loss = (w * 3):sum()
    loss:backward()
    assert.is_true(graphids.memory().current_bytes - base >= 2 * MB, "collected below the slack")
  end)

  -- Young collections between the full ones free a loop's results while they are young, so
  -- the loop reuses a few warm blocks (PyTorch frees each at once) instead of cycling through
  -- the 64 MiB a full collection waits for (l_util.c, L_HEAP_YOUNG_SLACK).
  it("frees a loop's dead results every few MB in generational mode", function()
    local mode = collectgarbage("generational")
    local x = graphids.randn(MB) -- 4 MB
    full_gc()
    local base = graphids.memory().current_bytes
    local peak = 0
    for _ = 1, 64 do
      local _ = x:relu() -- 4 MB of garbage each
      peak = math.max(peak, graphids.memory().current_bytes - base)
    end
    collectgarbage(mode)
    assert.is_true(graphids.gc_soft_limit() >= 32 * MB, "the default soft limit")
    assert.is_true(peak <= 16 * MB, ("peak %d MB"):format(peak // MB))
  end)

  -- Above a 1 GiB soft limit no young collections run: a tensor held across two of them is
  -- promoted, and once dead waits for a full collection such a limit never runs (a loop holding
  -- each 1 MB tensor for 24 iterations held 2 GB after 2 000 of them, against 1 GB with
  -- collection left to Lua as before).  So there, a loop's results are not freed every 8 MiB.
  it("runs no young collections under a soft limit above 1 GiB", function()
    local mode = collectgarbage("generational")
    local x = graphids.randn(MB) -- 4 MB
    local function peak_of_loop()
      full_gc()
      local base, peak = graphids.memory().current_bytes, 0
      for _ = 1, 32 do
        local _ = x:relu()
        peak = math.max(peak, graphids.memory().current_bytes - base)
      end
      return peak
    end
    graphids.gc_soft_limit(1 << 30)
    local at_limit = peak_of_loop()
    graphids.gc_soft_limit((1 << 30) + 1)
    local above = peak_of_loop()
    collectgarbage(mode)
    assert.is_true(at_limit <= 16 * MB, ("at 1 GiB: peak %d MB"):format(at_limit // MB))
    assert.is_true(above >= 64 * MB, ("above 1 GiB: peak %d MB"):format(above // MB))
    -- and the full collections still come, every soft limit's worth of bytes: 1.6 GB of 4 MB
    -- results (empty: no page is touched) stay under the limit and a step of slack
    full_gc()
    local base, peak = graphids.memory().current_bytes, 0
    for _ = 1, 400 do
      local _ = graphids.empty(MB)
      peak = math.max(peak, graphids.memory().current_bytes - base)
    end
    graphids.gc_soft_limit(saved)
    assert.is_true(peak <= (1 << 30) + 16 * MB, ("above 1 GiB: a loop's peak %d MB"):format(peak // MB))
  end)

  it("does not collect tensors that are still referenced", function()
    graphids.gc_soft_limit(8 * MB)
    local keep = {}
    for i = 1, 10 do
      keep[i] = graphids.full({ MB }, i, { dtype = "f32" })
    end
    for i = 1, 10 do
      assert.are.equal(i, keep[i]:narrow(1, MB, 1):item())
    end
  end)
end)

describe("empty_cache", function()
  it("gives the freed memory back to the system with empty_cache(), every time", function()
    local f = io.open("/proc/self/status")
    if f == nil then return end -- (Linux only)
    f:close()
    local function rss_mb()
      local h = assert(io.open("/proc/self/status"))
      local s = h:read("a")
      h:close()
      return tonumber(s:match("VmRSS:%s*(%d+)")) / 1024
    end
    collectgarbage()
    graphids.empty_cache()
    local base = rss_mb()
    for round = 1, 3 do
      -- 50 x 4 MB alive together, then dropped, and a small tensor made after them kept (it
      -- sits above them in the heap, which glibc then cannot shrink from the top)
      local small
      local function hold()
        local ts = {}
        for i = 1, 50 do ts[i] = graphids.zeros(1024 * 1024):fill_(1) end
        small = graphids.zeros(10)
        return #ts
      end
      assert.equal(50, hold())
      collectgarbage()
      collectgarbage()
      graphids.empty_cache()
      -- (glibc keeps heap pages of freed mid-sized blocks after its first large free)
      assert.is_true(rss_mb() < base + 50,
        string.format("round %d: %.0f MB after %.0f MB", round, rss_mb(), base))
      assert.equal(10, small:numel())
    end
  end)
end)
