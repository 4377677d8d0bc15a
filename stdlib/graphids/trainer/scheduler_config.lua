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
  if o.reduce_on_plateau == nil then
    o.reduce_on_plateau = class.isinstance(s, lr_scheduler.ReduceLROnPlateau)
  end
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

local function step(cfg, v)
  if cfg.reduce_on_plateau then cfg.scheduler:step(v) else cfg.scheduler:step() end
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
  step(cfg, v)
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
  step(cfg, v)
end

return M
