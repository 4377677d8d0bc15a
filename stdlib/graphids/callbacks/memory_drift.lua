-- graphids.callbacks.GpuMemoryDrift -- watches free GPU memory between epochs and warns once
-- when it shrank by more than `threshold` bytes since fit start (a leak across epochs), as
-- the reference's VRAMDriftCallback.
--   cb.GpuMemoryDrift{threshold = 512 * 2^20, device = "cuda:0"}
-- The drift (bytes) is logged as the metric "gpu_memory_drift" each epoch.  Without a GPU
-- (or with a CPU device) the callback does nothing and says so once.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local graphids = require "graphids"
local Callback = require "graphids.callbacks.base"
local Device = require "graphids.trainer.device"

local GpuMemoryDrift = class("GpuMemoryDrift", Callback)

function GpuMemoryDrift:__init(opts)
  local o = U.options("GpuMemoryDrift", opts, { threshold = 512 * 2 ^ 20, device = U.NONE,
    log = U.NONE }, U.CTOR)
  if o.threshold <= 0 or o.threshold ~= o.threshold then
    error("GpuMemoryDrift: threshold must be > 0 bytes, got " .. tostring(o.threshold), U.CTOR)
  end
  self.threshold, self.device, self.log = o.threshold, o.device, o.log
  self.warned = false
end

local function say(self, trainer, msg)
  local log = self.log or (trainer and trainer.log)
  if log then
    log(msg)
  else
    io.stderr:write(msg, "\n")
  end
end

function GpuMemoryDrift:on_fit_start(trainer)
  local dev = self.device or trainer.device or "cpu"
  -- (graphids.gpu.memory takes the CUDA index: given the trainer's "cuda:0" it raised, which
  -- failed every GPU fit with this callback)
  local index = Device.cuda_index(dev)
  if index == nil and dev ~= "cpu" then
    error("GpuMemoryDrift: device must be 'cpu', 'cuda' or 'cuda:N', got " .. U.describe(dev), 0)
  end
  self.active = index ~= nil and graphids.gpu.is_available()
  if not self.active then
    self.baseline = nil
    return
  end
  self.device, self.index = dev, index
  self.baseline = graphids.gpu.memory(index).free
end

function GpuMemoryDrift:on_train_epoch_start(trainer)
  if not self.active then
    return
  end
  local free = graphids.gpu.memory(self.index).free
  local drift = self.baseline - free
  trainer.callback_metrics.gpu_memory_drift = drift
  if drift > self.threshold and not self.warned then
    self.warned = true
    say(self, trainer, string.format("warning: gpu memory drift on %s: %.1f MiB less free than at fit " ..
      "start (threshold %.1f MiB), epoch %d", self.device, drift / 2 ^ 20, self.threshold / 2 ^ 20,
      trainer.epoch))
  end
end

return GpuMemoryDrift
