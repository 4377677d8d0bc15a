-- tracking_check.lua -- a fit on the device tracked into a FileStore: its run gets peak_gpu_mb
-- and the system/gpu_<i>_memory_usage_{megabytes,percentage} metrics of the trainer's device
-- (graphids.track.sysmetrics) beside the host ones.  Run by tools/gpu-check.sh and
-- spec/gpu/loopback.sh; ends with "tracking: N passed, M failed".  Without a GPU it prints
-- "skipped: <reason>"; a dry run (GRAPHIDS_GPU_DRYRUN=1) checks the host metrics only.
package.path = "spec/?.lua;" .. package.path
local track = require "graphids.track"
local T_ = require "graphids.trainer"
local tiny = require "trainer.support.tiny"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("tracking")
if not T.available() then
  return
end

local tmp = os.tmpname()
os.remove(tmp)
local metrics

T.check("a tracked fit on " .. T.dev .. " finishes with its metrics", function()
  local t = 0
  local cb = track.Callback({ run_dir = tmp .. "/run", uri = "file:" .. tmp .. "/mlruns", experiment = "gpu",
    system_metrics_interval = 0.5, system_metrics = { clock = function() t = t + 1; return t end } })
  local trainer = T_.Trainer({ max_epochs = 1, default_root_dir = tmp .. "/run", progress = "off",
    device = T.dev == "cuda" and "cuda:0" or "cpu", callbacks = { cb } })
  trainer:fit(tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }),
    tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
  local fs = require("graphids.track.filestore").new(tmp .. "/mlruns")
  local exp = assert(fs:find_experiment("gpu"))
  metrics = tmp .. "/mlruns/" .. exp .. "/" .. cb.run.run_id .. "/metrics/"
end)

local function lines(name)
  local f = io.open(metrics .. name)
  if not f then return 0 end
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  return n
end

T.check("host system metrics at every sample", function()
  assert(lines("system/system_memory_usage_megabytes") == 9, "9 samples in one epoch of 4 batches")
  assert(lines("system/disk_usage_percentage") == 9)
end)

T.device_check("peak_gpu_mb and the device's system/gpu_0_memory_usage_* metrics", function()
  assert(lines("peak_gpu_mb") == 1, "peak_gpu_mb logged at fit end")
  assert(lines("system/gpu_0_memory_usage_megabytes") == 9)
  assert(lines("system/gpu_0_memory_usage_percentage") == 9)
end)

os.execute("rm -rf " .. tmp)
T.finish()
