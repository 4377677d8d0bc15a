-- bw_events.lua -- 1 GiB of f32 through copy_, relu, sigmoid and softmax (rows of 1024) on the
-- GPU, each timed by the wall clock around a synchronisation (as bench/gpu/gpu_bench.lua) and
-- by CUDA events around the op alone (the device's time): which of the two a gap to PyTorch
-- (bench/peer/bw_events.py, the same rows) is in.  "nogc" runs with the Lua GC stopped, "kept"
-- keeps each result until the next call.
--   graphids run bench/gpu/bw_events.lua
local g = require "graphids"
if not g.gpu.is_available() then
  print("skipped: " .. g.gpu.status())
  return
end
local n = 256 * 1024 * 1024
local r = g.randn(n, { device = "cuda" })
local y = g.empty(n, { device = "cuda" })
local r2 = r:view(n // 1024, 1024)
local e0, e1 = g.gpu.Event({ timing = true }), g.gpu.Event({ timing = true })
local function probe(name, fn)
  fn()
  g.gpu.synchronize()
  local walls, evs = {}, {}
  for i = 1, 10 do
    local t0 = g.clock()
    e0:record()
    fn()
    e1:record()
    g.gpu.synchronize()
    walls[i] = (g.clock() - t0) * 1e3
    evs[i] = e0:elapsed_time(e1)
  end
  table.sort(walls)
  table.sort(evs)
  local gb = 2 * 4 * n / 1e9
  print(string.format("%-8s wall %.3f ms (%.0f GB/s)  event %.3f ms (%.0f GB/s)  gc %.1f KB", name,
    walls[5], gb / walls[5] * 1e3, evs[5], gb / evs[5] * 1e3, collectgarbage("count")))
end
probe("copy", function() y:copy_(r) end)
probe("relu", function() local _ = r:relu() end)
probe("sigmoid", function() local _ = r:sigmoid() end)
probe("softmax", function() local _ = r2:softmax(2) end)
collectgarbage("stop")
probe("relu nogc", function() local _ = r:relu() end)
collectgarbage("restart")
probe("relu kept", function() y = r:relu() end)
