-- graphids.trainer.scheduler_config -- what configure_optimizers' second result says of the
-- learning-rate schedule, and when the Trainer steps it: Lightning 2.x's lr_scheduler config.
--   local SC = require "graphids.trainer.scheduler_config"
--   local cfg = SC.normalize(result, trainer)   -- nil, or {scheduler, interval, frequency, ...}
--   SC.step_after_optimizer(trainer, cfg, logged)  -- after each optimizer step (a skipped one too)
--   SC.step_at_epoch_end(trainer, cfg)             -- at an epoch's end
-- The result is a scheduler (stepped once per epoch, as before this config existed), or
-- {scheduler = S, interval = "epoch" | "step", frequency = n, monitor = "val_loss",
--  strict = true, name = "lr-warmup", reduce_on_plateau = bool}.  docs/trainer.md, "One epoch"
-- step 5, has the rules and where they depart from Lightning's.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local errors = require "graphids.errors"
local lr_scheduler = require "graphids.optim.lr_scheduler"

local M = {}

local WHERE = "Trainer:fit: configure_optimizers()'s scheduler config"

-- Lightning's LRSchedulerConfig fields (opt_idx aside: the trainer has one optimizer).
-- monitor: the Trainer's scheduler_monitor when absent.
local DEFAULTS = { scheduler = U.NONE, interval = "epoch", frequency = 1, monitor = U.NONE, strict = true,
  name = U.NONE, reduce_on_plateau = U.NONE }

local function bad(key, want, v)
  error(string.format("%s: '%s' must be %s, got %s", WHERE, key, want, U.describe(v)), 0)
end

local function is_scheduler(v)
  return type(v) == "table" and type(v.step) == "function"
end

-- A scheduler config written as a table: a plain table (a scheduler object has a class).
local function is_config(v)
  return type(v) == "table" and getmetatable(v) == nil and not is_scheduler(v)
end

-- The checked config of configure_optimizers' second result r (nil: no schedule).  A bare
-- scheduler steps once per epoch with the Trainer's scheduler_monitor (strict), as it always has.
function M.normalize(r, trainer)
  if r == nil then return nil end
  local bare = not is_config(r)
  if bare then
    if not is_scheduler(r) then
      error("Trainer:fit: configure_optimizers()'s second result must be a scheduler (with step) or a " ..
        "scheduler config ({scheduler = S, interval = 'step', ...}), got " .. class.name_of(r), 0)
    end
    r = { scheduler = r }
  end
  -- level 1 + 1: the error is raised at pcall's frame, which adds no position to the message
  local ok, o = pcall(U.options, WHERE, r, DEFAULTS, 1)
  if not ok then error(o, 0) end
  local s = o.scheduler
  if s == nil then
    error(WHERE .. " has no 'scheduler' (the scheduler it configures: {scheduler = S, ...})", 0)
  end
  if not is_scheduler(s) then bad("scheduler", "a scheduler (with step)", s) end
  if o.interval ~= "epoch" and o.interval ~= "step" then bad("interval", "'epoch' or 'step'", o.interval) end
  if math.type(o.frequency) ~= "integer" or o.frequency < 1 then
    bad("frequency", "an integer >= 1", o.frequency)
  end
  if o.monitor ~= nil and type(o.monitor) ~= "string" then bad("monitor", "a metric name", o.monitor) end
  if o.name ~= nil and type(o.name) ~= "string" then bad("name", "a string", o.name) end
  if o.reduce_on_plateau ~= nil and type(o.reduce_on_plateau) ~= "boolean" then
    bad("reduce_on_plateau", "a boolean", o.reduce_on_plateau)
  end
  local plateau = class.isinstance(s, lr_scheduler.ReduceLROnPlateau)
  if o.reduce_on_plateau == false and plateau then
    -- it steps only with a metric: the first step would fail, an epoch into the fit
    error(string.format("%s: 'reduce_on_plateau' = false, but the scheduler is a %s, which steps " ..
      "with the monitored metric; drop the key", WHERE, class.name_of(s)), 0)
  end
  local cls = getmetatable(s)
  if o.reduce_on_plateau == true and not plateau and lr_scheduler[class.name_of(s)] == cls then
    -- one of graphids' own epoch schedules: its step would take the metric for an epoch number
    -- (a scheduler class of the user's may take a metric: it is left to its own step)
    error(string.format("%s: 'reduce_on_plateau' = true, but the scheduler is a %s, which steps " ..
      "without a metric; drop the key, or use a ReduceLROnPlateau", WHERE, class.name_of(s)), 0)
  end
  if o.reduce_on_plateau == nil then o.reduce_on_plateau = plateau end
  -- (what the errors tell a user to change)
  o.monitor_option = o.monitor and "the scheduler config's 'monitor'" or "the Trainer's scheduler_monitor"
  o.monitor = o.monitor or trainer.scheduler_monitor
  if o.interval == "step" and trainer.model.automatic_optimization == false then
    -- the model steps its optimizer itself, when it likes: the trainer cannot follow its steps
    -- (Lightning steps no schedule of such a model at all)
    error(string.format("%s: 'interval' = 'step' needs automatic optimization; %s optimizes itself " ..
      "(automatic_optimization = false): step the schedule in its training_step, or use 'epoch'",
      WHERE, class.name_of(trainer.model)), 0)
  end
  if o.interval == "epoch" and not bare and class.isinstance(s, lr_scheduler.OneCycleLR) then
    trainer:warn("configure_optimizers: a OneCycleLR scheduler is stepped per epoch ('interval' = " ..
      "'epoch'); did you mean 'interval' = 'step'? (Lightning warns of it too)")
  end
  return o
end

local function gcd(a, b)
  while b ~= 0 do a, b = b, a % b end
  return a
end

local function ordinal(n)
  local last2, last = n % 100, n % 10
  local suffix = (last2 >= 11 and last2 <= 13) and "th" or ({ "st", "nd", "rd" })[last] or "th"
  return n .. suffix
end

-- Before a fit trains: a per-epoch ReduceLROnPlateau on a val metric steps on the epochs where
-- its frequency ((epoch + 1) % frequency == 0) meets validation ((epoch + 1) %
-- check_val_every_n_epoch == 0), every lcm-th epoch; the others skip it (step_at_epoch_end).
-- Lightning raises at the first stepping epoch without the metric ("ReduceLROnPlateau
-- conditioned on metric val_loss which is not available"); this trainer skips such epochs by
-- design (docs/trainer.md), so a schedule that no epoch of the fit would step is refused here,
-- before training (strict; said when strict = false: it asked to skip a missing metric), and a
-- frequency that validation thins out is said.  (One stepped per optimizer step reads the
-- step's logged values, not validation's.)
function M.check_plateau(trainer, cfg)
  if cfg == nil or not cfg.reduce_on_plateau or cfg.interval ~= "epoch" or not cfg.monitor:match("^val") then
    return
  end
  if trainer.max_epochs == 0 or trainer.limit_train_batches == 0 then return end -- (nothing trains)
  -- remedy: what makes an epoch step it, besides a metric the training logs
  local function refuse(msg, remedy)
    if not cfg.strict then
      trainer:warn(msg)
      return
    end
    error(string.format("Trainer:fit: %s; %s, or set %s to a metric the training logs", msg, remedy,
      cfg.monitor_option), 0)
  end
  local why = trainer:_no_validation_reason()
  if why then
    return refuse(string.format("ReduceLROnPlateau monitors '%s', but no epoch of this fit validates " ..
      "(%s): the schedule would never step (Lightning refuses it too)", cfg.monitor, why),
      "let an epoch validate")
  end
  if trainer.fast_dev_run then return end -- (a smoke test's one epoch)
  local f, v, epochs = cfg.frequency, trainer.check_val_every_n_epoch, trainer.max_epochs
  local meet = f // gcd(f, v) * v
  local what = string.format("ReduceLROnPlateau monitors '%s' and steps every %s epoch (the scheduler " ..
    "config's 'frequency' = %d), but the fit validates every %s (check_val_every_n_epoch = %d)",
    cfg.monitor, ordinal(f), f, ordinal(v), v)
  if f > epochs then
    -- no epoch of the fit steps it at all, validation or not (Lightning says nothing of it)
    trainer:warn(string.format("ReduceLROnPlateau steps every %s epoch (the scheduler config's " ..
      "'frequency' = %d), past max_epochs = %d: it never steps in this fit", ordinal(f), f, epochs))
  elseif meet > epochs then
    refuse(string.format("%s: the two first meet at the %s epoch, past max_epochs = %d, so the " ..
      "schedule would never step", what, ordinal(meet), epochs),
      string.format("make 'frequency' a multiple of %d", v))
  elseif meet > f and f > 1 then
    -- (frequency = 1 steps at every validation, as documented: nothing to say)
    trainer:warn(string.format("%s: it steps only on the epochs that validate, every %s; make " ..
      "'frequency' a multiple of %d", what, ordinal(meet), v))
  end
end

-- The metric a plateau schedule steps with, or nil when it skips this step (a warning said why
-- when strict = false); an error naming what was logged when strict.  values: where the metric
-- is looked up; where: what the error says of them.
local function plateau_value(trainer, cfg, values, where)
  local v = values[cfg.monitor]
  if v ~= nil then return v end
  local logged = table.concat(U.sorted_keys(values), ", ")
  local msg = string.format("ReduceLROnPlateau monitors '%s', which %s (logged: %s)", cfg.monitor, where,
    logged ~= "" and logged or "nothing")
  if cfg.strict then
    error(string.format("Trainer: %s; set %s, or the scheduler config's 'strict' = false to skip such " ..
      "steps", msg, cfg.monitor_option), 0)
  end
  -- (once a fit: Lightning's warning is Python's, which says it once)
  if not cfg.warned then
    cfg.warned = true
    trainer:warn(msg .. "; 'strict' = false: the schedule skips such steps")
  end
  return nil
end

-- A scheduler's failing step (a OneCycleLR stepped past total_steps) is named with the config
-- and where in the fit it failed, its message without a position inside graphids' own modules
-- (a user's scheduler class keeps its line).
local function step(trainer, cfg, v)
  local s = cfg.scheduler
  local ok, err
  if cfg.reduce_on_plateau then ok, err = pcall(s.step, s, v) else ok, err = pcall(s.step, s) end
  if not ok then
    error(string.format("Trainer: the learning-rate schedule (%s, 'interval' = '%s') failed to step at " ..
      "epoch %d, global step %d: %s", class.name_of(s), cfg.interval, trainer.epoch, trainer.global_step,
      errors.strip_own_position(err)), 0)
  end
end

-- After an optimizer step of the loop (one a GradScaler skipped too, as Lightning's): an
-- 'interval' = 'step' schedule steps on every frequency-th (global_step, which counts optimizer
-- steps, a multiple of it).  A plateau schedule reads the values the step's last batch logged (logged:
-- name -> number): validation metrics come at the epoch's end.
function M.step_after_optimizer(trainer, cfg, logged)
  if cfg == nil or cfg.interval ~= "step" or trainer.global_step % cfg.frequency ~= 0 then return end
  local v
  if cfg.reduce_on_plateau then
    v = plateau_value(trainer, cfg, logged,
      "the training step did not log (an 'interval' = 'step' schedule reads the step's logged values; " ..
      "validation metrics come at the epoch's end: monitor them with 'interval' = 'epoch')")
    if v == nil then return end
  end
  step(trainer, cfg, v)
end

-- At the end of an epoch whose optimizer stepped (or that a resume continued): an 'interval' =
-- 'epoch' schedule steps on every frequency-th epoch ((epoch + 1) % frequency == 0, Lightning's
-- rule).  A plateau schedule steps with the epoch's monitored metric, and not at all on an epoch
-- that skipped validation without it (its patience counts the epochs that reported the metric).
function M.step_at_epoch_end(trainer, cfg)
  if cfg == nil or cfg.interval ~= "epoch" or (trainer.epoch + 1) % cfg.frequency ~= 0 then return end
  local v
  if cfg.reduce_on_plateau then
    if trainer.callback_metrics[cfg.monitor] == nil and trainer.skipped_validation then return end
    v = plateau_value(trainer, cfg, trainer.callback_metrics, "was not logged this epoch")
    if v == nil then return end
  end
  step(trainer, cfg, v)
end

return M
