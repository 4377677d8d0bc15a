-- step_overlap.lua -- the large GAT classifier's training step at G graphs (default 1024) on
-- the GPU, timed two ways: synchronised after every step, and ten steps issued back to back
-- with one synchronisation at the end, where the host's work for a step overlaps the device's
-- for the one before (bench/gnn/gnn_profile.lua with GNN_HOST=1 splits the host's time by
-- part).  The difference is the device's idle
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
local function step()
  opt:zero_grad()
  local loss = m:training_step(db, ctx)
  loss:backward()
  opt:step()
end
for _ = 1, 3 do step() end
sync()
local R = 10
local synced = 0
for _ = 1, R do
  local t0 = clock()
  step()
  sync()
  synced = synced + (clock() - t0)
end
local t0 = clock()
for _ = 1, R do step() end
local issued = clock() - t0
sync()
local overlapped = clock() - t0
print(string.format("synchronised each step: %.2f ms a step; back to back: %.2f ms a step " ..
  "(the host issued them in %.2f ms a step)", synced / R * 1e3, overlapped / R * 1e3, issued / R * 1e3))
