-- graphids.callbacks.EarlyStopping -- stops fitting when a monitored metric has not improved by
-- more than min_delta for `patience` epochs in a row.
--   cb.EarlyStopping{monitor = "val_loss", mode = "min", patience = 100, min_delta = 0}
-- Improvement is strict (min: v < best - min_delta; max: v > best + min_delta); with
-- check_finite (default true, as Lightning) an infinite or NaN value stops the fit at once;
-- without it a NaN never counts as an improvement, and the best starts at Lightning's inf (min) /
-- -inf (max), so an infinite first value counts patience.  The counter,
-- the best score and the stop decision are resume state, so a resumed run stops at the same
-- epoch as an uninterrupted one (the reference restarted the counter).  patience counts the
-- epochs that report the metric: with check_val_every_n_epoch = n, validations, not epochs.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local Callback = require "graphids.callbacks.base"

local EarlyStopping = class("EarlyStopping", Callback)

local DEFAULTS = { monitor = "val_loss", mode = "min", patience = 3, min_delta = 0, check_finite = true }

function EarlyStopping:__init(opts)
  local o = U.options("EarlyStopping", opts, DEFAULTS, U.CTOR)
  Callback.check_mode("EarlyStopping", o.mode)
  if math.type(o.patience) ~= "integer" or o.patience < 1 then
    error("EarlyStopping: patience must be an integer >= 1, got " .. tostring(o.patience), U.CTOR)
  end
  if o.min_delta < 0 or o.min_delta ~= o.min_delta then
    error("EarlyStopping: min_delta must be >= 0, got " .. tostring(o.min_delta), U.CTOR)
  end
  self.monitor, self.mode, self.patience, self.min_delta = o.monitor, o.mode, o.patience, o.min_delta
  self.check_finite = o.check_finite
  self.monitors = true -- a monitoring callback: its epoch end runs after the others' (trainer)
  self.state_key = string.format("EarlyStopping{monitor=%s,mode=%s}", o.monitor, o.mode)
  self.best_score, self.wait_count, self.stopped_epoch = nil, 0, nil
end

function EarlyStopping:on_train_epoch_end(trainer)
  -- (fast_dev_run is a smoke test: Lightning's stops no fit then; an epoch without validation
  -- counts no patience)
  if trainer.fast_dev_run then return end
  local v = Callback.monitored_if_validated("EarlyStopping", trainer, self.monitor)
  if v == nil then return end
  if self.check_finite and (v ~= v or v == math.huge or v == -math.huge) then
    -- (Lightning's check_finite: a diverged metric stops the fit now, not after `patience`
    -- more epochs of it.  A NaN gets here although the trainer refuses a logged one: a
    -- callback may put it into callback_metrics, and an epoch mean of +inf and -inf is NaN)
    self.stopped_epoch = trainer.epoch
    trainer.should_stop = true
    trainer:warn(string.format("EarlyStopping: %s = %s is not finite at epoch %d; stopping",
      self.monitor, tostring(v), trainer.epoch))
    return
  end
  -- No best yet is Lightning's starting best, inf (min) or -inf (max): an infinite first value
  -- (check_finite = false) does not beat it and counts patience, as there.  A NaN compares
  -- false with anything, so it is never an improvement (taken as the first best, every later
  -- value would compare false against it and the fit would stop after `patience`).
  local best = self.best_score
  if best == nil then best = self.mode == "min" and math.huge or -math.huge end
  local better
  if self.mode == "min" then
    better = v < best - self.min_delta
  else
    better = v > best + self.min_delta
  end
  if better then
    self.best_score, self.wait_count = v, 0
  else
    self.wait_count = self.wait_count + 1
    if self.wait_count >= self.patience then
      self.stopped_epoch = trainer.epoch
      trainer.should_stop = true
    end
  end
end

function EarlyStopping:state_dict()
  return { best_score = self.best_score, wait_count = self.wait_count,
    stopped_epoch = self.stopped_epoch, patience = self.patience }
end

function EarlyStopping.check_state(st)
  Callback.check_fields(st, { { "best_score", "number?" }, { "wait_count", "count" },
    { "stopped_epoch", "count?" } })
end

function EarlyStopping:load_state_dict(st)
  self.check_state(st)
  self.best_score, self.wait_count, self.stopped_epoch = st.best_score, st.wait_count, st.stopped_epoch
end

return EarlyStopping
