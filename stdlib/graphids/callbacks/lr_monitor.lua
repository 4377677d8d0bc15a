-- graphids.callbacks.LearningRateMonitor -- logs the learning rate of every param group at the
-- start of each epoch as the metric "lr-<Optimizer>" ("lr-<Optimizer>/pg<i>" when there are
-- several groups), so it reaches the epoch's metrics, checkpoints and trackers.  A scheduler
-- config's name (configure_optimizers' {scheduler = S, name = "lr-warmup"}) replaces
-- "lr-<Optimizer>", as Lightning's.  Its state is the epoch's starting lrs: a fit resumed inside
-- an epoch logs those, not the rate a per-step schedule has reached by the resumed batch.
--   cb.LearningRateMonitor()
local class = require "graphids.class"
local U = require "graphids.nn._util"
local Callback = require "graphids.callbacks.base"

local LearningRateMonitor = class("LearningRateMonitor", Callback)

LearningRateMonitor.state_key = "LearningRateMonitor"

function LearningRateMonitor:__init(opts)
  local o = U.options("LearningRateMonitor", opts, { logging_interval = "epoch" }, U.CTOR)
  if o.logging_interval ~= "epoch" then
    error("LearningRateMonitor: logging_interval must be 'epoch' (the trainer's metrics are per epoch), " ..
      "got '" ..
      tostring(o.logging_interval) .. "'", U.CTOR)
  end
  self.history = {}
  -- the lrs logged at the start of the epoch in progress, and that epoch
  self.epoch_lrs, self.lrs_epoch = nil, nil
end

function LearningRateMonitor:on_train_epoch_start(trainer)
  local opt = trainer.optimizer
  if opt == nil then
    return
  end
  local groups = opt.param_groups
  local cfg = trainer.scheduler_config
  local base = cfg and cfg.name or "lr-" .. (opt.__name or "optimizer")
  -- a resume inside this epoch (its data position past 0) restored its starting lrs: some of its
  -- batches ran, and a per-step schedule moved the rate since
  local resumed = self.lrs_epoch == trainer.epoch and (trainer.datamodule.position or 0) > 0
    and #self.epoch_lrs == #groups
  local lrs = {}
  for i, g in ipairs(groups) do
    local name = #groups == 1 and base or string.format("%s/pg%d", base, i)
    local lr = resumed and self.epoch_lrs[i] or g.lr
    lrs[i] = lr
    trainer.callback_metrics[name] = lr
    self.history[#self.history + 1] = { epoch = trainer.epoch, name = name, lr = lr }
  end
  self.epoch_lrs, self.lrs_epoch = lrs, trainer.epoch
end

function LearningRateMonitor:state_dict()
  return { epoch = self.lrs_epoch, lrs = self.epoch_lrs }
end

function LearningRateMonitor.check_state(st)
  Callback.check_fields(st, { { "epoch", "count?" } })
  if st.lrs ~= nil then
    if type(st.lrs) ~= "table" or st.epoch == nil then
      error("'lrs' must be a list of numbers with an 'epoch', got " .. U.describe(st.lrs), 0)
    end
    for i, v in ipairs(st.lrs) do
      if type(v) ~= "number" then
        error(string.format("'lrs'[%d] must be a number, got %s", i, U.describe(v)), 0)
      end
    end
  end
end

function LearningRateMonitor:load_state_dict(st)
  self.check_state(st)
  self.lrs_epoch, self.epoch_lrs = st.lrs and st.epoch, st.lrs
end

return LearningRateMonitor
