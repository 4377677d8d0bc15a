-- op_host.lua -- the host's time to issue one op (no synchronisation inside the timed loops):
-- what a training step pays per op before the device does any work.  Beside PyTorch's with
-- bench/peer/op_host.py on the same machine.
--   graphids run bench/gpu/op_host.lua [DEVICE]     (DEVICE cuda (default) or cpu)
-- Prints microseconds per call for a few op kinds on [64, 64] f32 tensors, with the Lua GC
-- running and stopped.
local g = require "graphids"
local F = require "graphids.nn.functional"
local dev = arg[1] or "cuda"
if dev ~= "cpu" and not g.gpu.is_available() then
  print("skipped: " .. g.gpu.status())
  return
end
local N = 20000
local function T(shape, rg)
  local t = g.randn(shape):to(dev)
  if rg then t:requires_grad_(true) end
  return t
end
local a, b = T({ 64, 64 }), T({ 64, 64 })
local ag = T({ 64, 64 }, true)
local idx = g.arange(0, 32):to(dev)
local lin = g.nn.Linear(64, 64)
lin:to(dev)
local gen = g.Generator(1)
local cases = {
  { "add", function() return a + b end },
  { "add (grad)", function() return ag + b end },
  { "add scalar", function() return a + 1 end },
  { "relu", function() return a:relu() end },
  { "sum", function() return a:sum() end },
  { "sum dim", function() return a:sum(2) end },
  { "matmul", function() return a:matmul(b) end },
  { "Linear (grad)", function() return lin(ag) end },
  { "empty", function() return g.empty({ 64, 64 }, { device = dev }) end },
  { "index_select", function() return a:index_select(1, idx) end },
  { "dropout", function() return F.dropout(a, 0.2, true, { generator = gen }) end },
  { "view", function() return a:view(4096) end },
  { "fwd+bwd mul/sum", function() local l = (ag * 2):sum(); l:backward() return l end },
}
for _, gc in ipairs({ "running", "stopped" }) do
  if gc == "stopped" then collectgarbage("stop") end
  local line = {}
  for _, c in ipairs(cases) do
    for _ = 1, 50 do c[2]() end
    if dev ~= "cpu" then g.gpu.synchronize() end
    local t0 = g.clock()
    for _ = 1, N do c[2]() end
    local t1 = g.clock()
    if dev ~= "cpu" then g.gpu.synchronize() end
    line[#line + 1] = string.format("%s %.1f", c[1], (t1 - t0) / N * 1e6)
  end
  print(string.format("%s, GC %s, host us/op: %s", dev, gc, table.concat(line, ", ")))
  collectgarbage("restart")
  collectgarbage()
end
