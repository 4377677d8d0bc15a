-- step_overlap.lua -- the large GAT classifier's training step at G graphs (default 1024) on
-- the GPU, timed two ways: synchronised after every step, split into the host's time for each
-- phase (zero_grad, forward and loss, backward, optimizer step: issuing the work, no waits),
-- and ten steps issued back to back with one synchronisation at the end, where the host's work
-- for a step overlaps the device's for the one before.  The difference is the device's idle
-- time at each step's start that a per-step synchronisation (bench/gpu/gat_step.lua's, and
-- PyTorch's peer) counts.
--   graphids run bench/gpu/step_overlap.lua BATCH_DIR     (bench/gpu/write_batches.lua's files;
--                                                           "-" for a synthetic batch)
-- G=n picks the batch size.
package.path = "bench/gnn/?.lua;" .. package.path
local graphids = require "graphids"
local graphs = require "graphs"
local models = require "graphids.models"
local optim = require "graphids.optim"
local dir = assert(arg[1], "usage: step_overlap.lua BATCH_DIR (or - for a synthetic batch)")
if not graphids.gpu.is_available() then
  print("skipped: " .. graphids.gpu.status())
  return
end
local G = tonumber(os.getenv("G") or "1024")
local b = dir == "-" and graphs.batch(G) or graphs.load(dir, G)
graphids.manual_seed(1)
local m = models.GATClassifier(models.presets.gat.large({ num_ids = graphs.num_ids(b) }))
m:to("cuda")
m:train()
local db = b:to("cuda")
local opt = optim.Adam(m:parameters(), { lr = 1e-3 })
local ctx = { generator = graphids.Generator(1) }
local clock, sync = graphids.clock, graphids.gpu.synchronize
local ph = { zero = 0, fwd = 0, bwd = 0, opt = 0, host = 0, wall = 0 }
local function step(acc)
  local t0 = clock()
  opt:zero_grad()
  local t1 = clock()
  local loss = m:training_step(db, ctx)
  local t2 = clock()
  loss:backward()
  local t3 = clock()
  opt:step()
  local t4 = clock()
  sync()
  local t5 = clock()
  if acc then
    ph.zero = ph.zero + (t1 - t0); ph.fwd = ph.fwd + (t2 - t1); ph.bwd = ph.bwd + (t3 - t2)
    ph.opt = ph.opt + (t4 - t3); ph.host = ph.host + (t4 - t0); ph.wall = ph.wall + (t5 - t0)
  end
end
for _ = 1, 3 do step(false) end
local R = 10
for _ = 1, R do step(true) end
local s = {}
for _, k in ipairs({ "zero", "fwd", "bwd", "opt", "host", "wall" }) do
  s[#s + 1] = string.format("%s %.2f", k, ph[k] / R * 1e3)
end
print("synced steps, mean ms: " .. table.concat(s, "  "))
-- back to back: one sync at the end
sync()
local t0 = clock()
for _ = 1, R do
  opt:zero_grad(); local loss = m:training_step(db, ctx); loss:backward(); opt:step()
end
local th = clock()
sync()
print(string.format("back-to-back %d steps: host %.2f ms/step, wall %.2f ms/step", R,
  (th - t0) / R * 1e3, (clock() - t0) / R * 1e3))
print("waits", graphids.gpu.waits())
