-- graphids.callbacks.LearningRateMonitor -- logs the learning rate of every param group at the
-- start of each epoch as the metric "lr-<Optimizer>" ("lr-<Optimizer>/pg<i>" when there are
-- several groups), so it reaches the epoch's metrics, checkpoints and trackers.  A scheduler
-- config's name (configure_optimizers' {scheduler = S, name = "lr-warmup"}) replaces
-- "lr-<Optimizer>", as Lightning's.
--   cb.LearningRateMonitor()
local class = require "graphids.class"
local U = require "graphids.nn._util"
local Callback = require "graphids.callbacks.base"

local LearningRateMonitor = class("LearningRateMonitor", Callback)

function LearningRateMonitor:__init(opts)
  local o = U.options("LearningRateMonitor", opts, { logging_interval = "epoch" }, U.CTOR)
  if o.logging_interval ~= "epoch" then
    error("LearningRateMonitor: logging_interval must be 'epoch' (the trainer's metrics are per epoch), " ..
      "got '" ..
      tostring(o.logging_interval) .. "'", U.CTOR)
  end
  self.history = {}
end

function LearningRateMonitor:on_train_epoch_start(trainer)
  local opt = trainer.optimizer
  if opt == nil then
    return
  end
  local groups = opt.param_groups
  local cfg = trainer.scheduler_config
  local base = cfg and cfg.name or "lr-" .. (opt.__name or "optimizer")
  for i, g in ipairs(groups) do
    local name = #groups == 1 and base or string.format("%s/pg%d", base, i)
    trainer.callback_metrics[name] = g.lr
    self.history[#self.history + 1] = { epoch = trainer.epoch, name = name, lr = g.lr }
  end
end

return LearningRateMonitor
