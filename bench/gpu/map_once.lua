-- map_once.lua -- one relu over 1 GiB of f32 on the GPU (after a warm-up call), for a profiler
-- to look at our vector-map kernel alone (bench/gpu/ncu_map.sh; PyTorch's side is
-- bench/peer/map_once.py).
--   graphids run bench/gpu/map_once.lua
local g = require "graphids"
if not g.gpu.is_available() then
  print("skipped: " .. g.gpu.status())
  return
end
local x = g.randn(256 * 1024 * 1024, { device = "cuda" })
do
  local _ = x:relu() -- warm-up: module loads, allocator blocks
end
g.gpu.synchronize()
collectgarbage()
local y = x:relu()
g.gpu.synchronize()
print("relu of " .. y:numel() .. " f32 done")
