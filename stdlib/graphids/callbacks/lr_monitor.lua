-- graphids.callbacks.LearningRateMonitor -- Lightning 2.x's LearningRateMonitor: logs the
-- learning rate of every param group (and, when asked, its momentum and weight decay).
--   cb.LearningRateMonitor()   -- each schedule at its own interval
--   cb.LearningRateMonitor{logging_interval = "step", log_momentum = true, log_weight_decay = true}
-- Names are Lightning's: "lr-<Optimizer>" ("lr-<Optimizer>/pg<i>" with several groups; a
-- scheduler config's name, {scheduler = S, name = "lr-warmup"}, replaces "lr-<Optimizer>"), and
-- "<that>-momentum" (Adam's beta1, SGD's momentum, 0 for an optimizer with neither) and
-- "<that>-weight_decay".
-- logging_interval: "epoch" logs at each epoch's start, into the epoch's metrics
-- (callback_metrics: the trainer's history, checkpoints, the tracker's step = epoch points);
-- "step" logs before every log_every_n_steps-th optimizer step through trainer:log_step_metrics
-- (the tracker with step = global_step, the progress lines); nil (the default, Lightning's)
-- follows the schedule: an 'interval' = 'step' one per step, any other (or none) per epoch.
-- Its state is the epoch-start values: a fit resumed inside an epoch logs those, not the rate
-- a per-step schedule has reached by the resumed batch.  docs/trainer.md, "Callbacks".
local class = require "graphids.class"
local U = require "graphids.nn._util"
local Callback = require "graphids.callbacks.base"

local LearningRateMonitor = class("LearningRateMonitor", Callback)

-- One per Trainer (the Trainer refuses two callbacks of one state key): two monitors would log
-- the same lr-<Optimizer> keys, at one step or on two axes (step = epoch and the global step);
-- one monitor with log_momentum / log_weight_decay logs everything a second could.
LearningRateMonitor.state_key = "LearningRateMonitor"

-- The per-group values the monitor reads, as the state saves them: lr, momentum, weight decay.
local KINDS = { "lrs", "momentum", "weight_decay" }

function LearningRateMonitor:__init(opts)
  local o = U.options("LearningRateMonitor", opts,
    { logging_interval = U.NONE, log_momentum = false, log_weight_decay = false }, U.CTOR)
  local li = o.logging_interval
  if li ~= nil and li ~= "epoch" and li ~= "step" then
    error("LearningRateMonitor: logging_interval must be 'step', 'epoch' or nil (each schedule's own " ..
      "interval), got " .. U.describe(li), U.CTOR)
  end
  -- (U.options refuses a non-boolean log_momentum or log_weight_decay: their defaults are booleans)
  self.logging_interval, self.log_momentum, self.log_weight_decay = li, o.log_momentum, o.log_weight_decay
  -- every lr logged: {epoch, name, lr}, and step (the global step) for one logged per step
  self.history = {}
  -- the last momentum and weight decay logged, by name (Lightning's last_momentum_values, ...)
  self.last_momentum_values, self.last_weight_decay_values = {}, {}
  -- the values read at the start of the epoch in progress ({lrs, momentum, weight_decay}), and
  -- that epoch
  self.epoch_values, self.values_epoch = nil, nil
end

-- Where this fit's values go: "epoch" or "step".
function LearningRateMonitor:_interval(trainer)
  if self.logging_interval then return self.logging_interval end
  local cfg = trainer.scheduler_config
  return cfg and cfg.interval == "step" and "step" or "epoch"
end

-- Whether opt holds betas (Adam's, whose beta1 is its momentum), as Lightning's test of its defaults.
local function uses_betas(opt)
  return type(opt.defaults) == "table" and opt.defaults.betas ~= nil
end

-- The optimizer's values now: {lrs = {...}, momentum = {...}, weight_decay = {...}}, one per group.
local function read(opt)
  local v = { lrs = {}, momentum = {}, weight_decay = {} }
  local betas = uses_betas(opt)
  for i, g in ipairs(opt.param_groups) do
    v.lrs[i] = g.lr
    v.momentum[i] = betas and g.betas[1] or g.momentum or 0
    v.weight_decay[i] = g.weight_decay or 0
  end
  return v
end

-- name -> value of what this monitor logs of v, and the lr of each name in group order.
function LearningRateMonitor:_named(trainer, v)
  local opt, cfg = trainer.optimizer, trainer.scheduler_config
  local base = cfg and cfg.name or "lr-" .. (opt.__name or "optimizer")
  local n = #v.lrs
  local out, order = {}, {}
  for i = 1, n do
    local name = n == 1 and base or string.format("%s/pg%d", base, i)
    out[name], order[i] = v.lrs[i], name
    if self.log_momentum then
      out[name .. "-momentum"] = v.momentum[i]
      self.last_momentum_values[name .. "-momentum"] = v.momentum[i]
    end
    if self.log_weight_decay then
      out[name .. "-weight_decay"] = v.weight_decay[i]
      self.last_weight_decay_values[name .. "-weight_decay"] = v.weight_decay[i]
    end
  end
  return out, order
end

function LearningRateMonitor:_record(trainer, out, order, step)
  for _, name in ipairs(order) do
    self.history[#self.history + 1] = { epoch = trainer.epoch, name = name, lr = out[name], step = step }
  end
end

function LearningRateMonitor:on_fit_start(trainer)
  local d = trainer.optimizer and trainer.optimizer.defaults
  if self.log_momentum and type(d) == "table" and d.momentum == nil and d.betas == nil then
    -- (Lightning's warning)
    trainer:warn(string.format("LearningRateMonitor: log_momentum = true, but %s has no momentum; it " ..
      "logs 0 for it", class.name_of(trainer.optimizer)))
  end
end

function LearningRateMonitor:on_train_epoch_start(trainer)
  local opt = trainer.optimizer
  if opt == nil or self:_interval(trainer) ~= "epoch" then return end
  local v = read(opt)
  -- a resume inside this epoch (its data position past 0) restored its starting values: some of
  -- its batches ran, and a per-step schedule moved them since (a state saved before momentum
  -- and weight decay were kept restores its lrs)
  local saved = self.values_epoch == trainer.epoch and (trainer.datamodule.position or 0) > 0
    and self.epoch_values or nil
  if saved and #saved.lrs == #v.lrs then
    for _, k in ipairs(KINDS) do v[k] = saved[k] or v[k] end
  end
  local out, order = self:_named(trainer, v)
  for name, x in pairs(out) do trainer.callback_metrics[name] = x end
  self:_record(trainer, out, order, nil)
  self.epoch_values, self.values_epoch = v, trainer.epoch
end

-- Before the batch that takes an optimizer step (a group's first one under accumulation, once
-- per step), every log_every_n_steps-th step ((global_step + 1) % n == 0, Lightning's test),
-- with the values that step will use.
function LearningRateMonitor:on_train_batch_start(trainer)
  local opt = trainer.optimizer
  if opt == nil or trainer.accumulating or self:_interval(trainer) ~= "step" then return end
  if (trainer.global_step + 1) % trainer.log_every_n_steps ~= 0 then return end
  local out, order = self:_named(trainer, read(opt))
  self:_record(trainer, out, order, trainer.global_step)
  trainer:log_step_metrics(out)
end

function LearningRateMonitor:state_dict()
  local v = self.epoch_values or {}
  return { epoch = self.values_epoch, lrs = v.lrs, momentum = v.momentum, weight_decay = v.weight_decay }
end

function LearningRateMonitor.check_state(st)
  Callback.check_fields(st, { { "epoch", "count?" } })
  for _, k in ipairs(KINDS) do
    local list = st[k]
    if list ~= nil then
      if type(list) ~= "table" or st.epoch == nil then
        error(string.format("'%s' must be a list of numbers with an 'epoch', got %s", k, U.describe(list)), 0)
      end
      for i, x in ipairs(list) do
        if type(x) ~= "number" then
          error(string.format("'%s'[%d] must be a number, got %s", k, i, U.describe(x)), 0)
        end
      end
      if k ~= "lrs" and (st.lrs == nil or #list ~= #st.lrs) then
        error(string.format("'%s' must hold one number per group, as 'lrs' (%d), got %d", k,
          st.lrs and #st.lrs or 0, #list), 0)
      end
    end
  end
end

function LearningRateMonitor:load_state_dict(st)
  self.check_state(st)
  if st.lrs == nil then
    self.epoch_values, self.values_epoch = nil, nil
    return
  end
  self.epoch_values = { lrs = st.lrs, momentum = st.momentum, weight_decay = st.weight_decay }
  self.values_epoch = st.epoch
end

return LearningRateMonitor
