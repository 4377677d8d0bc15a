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
-- Lightning 2.x's stopping_threshold (stop once the value is better than it) and
-- divergence_threshold (stop once it is worse), judged in its order: finiteness, then the
-- stopping threshold, then the divergence one, then improvement and patience.  Why it stopped
-- is in stopping_reason ("NOT_STOPPED", "NON_FINITE_METRIC", "STOPPING_THRESHOLD",
-- "DIVERGENCE_THRESHOLD", "PATIENCE_EXHAUSTED": Lightning's EarlyStoppingReason names) and
-- stopping_reason_message (Lightning's text), both resume state as in Lightning.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local json = require "graphids.json"
local Callback = require "graphids.callbacks.base"

local EarlyStopping = class("EarlyStopping", Callback)

local DEFAULTS = { monitor = "val_loss", mode = "min", patience = 3, min_delta = 0, check_finite = true,
  stopping_threshold = U.NONE, divergence_threshold = U.NONE }

-- Lightning's EarlyStoppingReason members, by name (the state keeps the name).
EarlyStopping.REASONS = { NOT_STOPPED = true, NON_FINITE_METRIC = true, STOPPING_THRESHOLD = true,
  DIVERGENCE_THRESHOLD = true, PATIENCE_EXHAUSTED = true }

local ORDER = { min = "<", max = ">" }

-- A threshold option: nil or a number that is not NaN (every comparison with NaN is false, so
-- it would never stop anything, without a word).
local function check_threshold(name, v)
  if v ~= nil and (type(v) ~= "number" or v ~= v) then
    error(string.format("EarlyStopping: %s must be a number (not NaN) or nil, got %s", name, U.describe(v)),
      U.CTOR + 1)
  end
end

-- A value as Python prints a float (the shortest text that reads back as it), so the messages
-- read as Lightning's.
local function shown(v)
  if v ~= v or v == math.huge or v == -math.huge then return U.describe(v) end
  return json.encode(v)
end

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
  check_threshold("stopping_threshold", o.stopping_threshold)
  check_threshold("divergence_threshold", o.divergence_threshold)
  local s, d = o.stopping_threshold, o.divergence_threshold
  if s ~= nil and d ~= nil and (o.mode == "min" and s > d or o.mode == "max" and s < d) then
    -- every value would be past one of them: the fit would stop at its first judged epoch
    error(string.format("EarlyStopping: stopping_threshold = %s is past divergence_threshold = %s in " ..
      "mode '%s' (every value would stop the fit); the stopping threshold must be the better one",
      shown(s), shown(d), o.mode), U.CTOR)
  end
  self.stopping_threshold, self.divergence_threshold = s, d
  self.monitors = true -- a monitoring callback: its epoch end runs after the others' (trainer)
  self.state_key = string.format("EarlyStopping{monitor=%s,mode=%s}", o.monitor, o.mode)
  self.best_score, self.wait_count, self.stopped_epoch = nil, 0, nil
  self.stopping_reason, self.stopping_reason_message = "NOT_STOPPED", nil
end

-- The best so far; no best yet is Lightning's starting best, inf (min) or -inf (max), so an
-- infinite first value (check_finite = false) does not beat it and counts patience, as there.
function EarlyStopping:_best()
  if self.best_score ~= nil then return self.best_score end
  return self.mode == "min" and math.huge or -math.huge
end

local function stop(self, trainer, reason, message)
  self.stopped_epoch = trainer.epoch
  trainer.should_stop = true
  self.stopping_reason, self.stopping_reason_message = reason, message
end

-- Whether v is better than ref in this mode (strictly: Lightning's torch.lt / torch.gt).
local function better_than(self, v, ref)
  if self.mode == "min" then return v < ref end
  return v > ref
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
    stop(self, trainer, "NON_FINITE_METRIC", string.format("Monitored metric %s = %s is not finite. " ..
      "Previous best value was %.3f. Signaling Trainer to stop.", self.monitor, shown(v), self:_best()))
    trainer:warn(string.format("EarlyStopping: %s = %s is not finite at epoch %d; stopping",
      self.monitor, tostring(v), trainer.epoch))
    return
  end
  local st, dt = self.stopping_threshold, self.divergence_threshold
  if st ~= nil and better_than(self, v, st) then
    -- (the value has reached the goal: Lightning stops without touching the best or patience)
    stop(self, trainer, "STOPPING_THRESHOLD", string.format("Stopping threshold reached: %s = %s %s %s. " ..
      "Signaling Trainer to stop.", self.monitor, shown(v), ORDER[self.mode], shown(st)))
    return
  end
  if dt ~= nil and better_than(self, dt, v) then
    -- (Lightning's message writes the mode's own comparison here, "4.0 < 3.0" in mode min;
    -- this one writes the comparison that holds)
    local worse = ORDER[self.mode == "min" and "max" or "min"]
    stop(self, trainer, "DIVERGENCE_THRESHOLD", string.format("Divergence threshold reached: %s = %s %s " ..
      "%s. Signaling Trainer to stop.", self.monitor, shown(v), worse, shown(dt)))
    return
  end
  -- A NaN compares false with anything, so it is never an improvement (taken as the first best,
  -- every later value would compare false against it and the fit would stop after `patience`).
  local margin = self.mode == "min" and -self.min_delta or self.min_delta
  if better_than(self, v, self:_best() + margin) then
    self.best_score, self.wait_count = v, 0
  else
    self.wait_count = self.wait_count + 1
    if self.wait_count >= self.patience then
      stop(self, trainer, "PATIENCE_EXHAUSTED", string.format("Monitored metric %s did not improve in the " ..
        "last %d records. Best score: %.3f. Signaling Trainer to stop.", self.monitor, self.wait_count,
        self:_best()))
    end
  end
end

function EarlyStopping:state_dict()
  return { best_score = self.best_score, wait_count = self.wait_count,
    stopped_epoch = self.stopped_epoch, patience = self.patience, stopping_reason = self.stopping_reason,
    stopping_reason_message = self.stopping_reason_message }
end

-- (a checkpoint written before stopping_reason existed has neither reason field: not stopped,
-- as Lightning reads a state without them)
function EarlyStopping.check_state(st)
  Callback.check_fields(st, { { "best_score", "number?" }, { "wait_count", "count" },
    { "stopped_epoch", "count?" } })
  local r, m = st.stopping_reason, st.stopping_reason_message
  if r ~= nil and not EarlyStopping.REASONS[r] then
    error("'stopping_reason' must be one of NOT_STOPPED, NON_FINITE_METRIC, STOPPING_THRESHOLD, " ..
      "DIVERGENCE_THRESHOLD, PATIENCE_EXHAUSTED or absent, got " .. U.describe(r), 0)
  end
  if m ~= nil and type(m) ~= "string" then
    error("'stopping_reason_message' must be a string or absent, got " .. U.describe(m), 0)
  end
end

function EarlyStopping:load_state_dict(st)
  self.check_state(st)
  self.best_score, self.wait_count, self.stopped_epoch = st.best_score, st.wait_count, st.stopped_epoch
  self.stopping_reason = st.stopping_reason or "NOT_STOPPED"
  self.stopping_reason_message = st.stopping_reason_message
end

return EarlyStopping
