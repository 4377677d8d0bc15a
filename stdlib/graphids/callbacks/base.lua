-- graphids.callbacks.base -- the Callback base class: every hook of the trainer as a no-op, and
-- the state a checkpoint keeps.
--   local Callback = require "graphids.callbacks.base"
--   local Mine = class("Mine", Callback)
--   function Mine:on_train_epoch_end(trainer) ... trainer.callback_metrics.val_loss ... end
-- Hook names are Lightning's; each gets the trainer (trainer.model, trainer.optimizer,
-- trainer.epoch, trainer.global_step, trainer.callback_metrics, trainer.should_stop,
-- trainer.accumulating (in on_train_batch_end: the batch took no optimizer step, its gradients
-- wait for more of its group; in on_train_batch_start: the batch is not its group's first),
-- trainer.skipped_validation (at an epoch's end: it had no validation pass by design),
-- trainer.fast_dev_run (false, or its batch count)):
--   on_fit_start, on_train_epoch_start, on_train_batch_start(trainer, batch, batch_index) (before
--   the batch's training_step), on_train_batch_end(trainer, logs, batch_index),
--   on_step_metrics(trainer, metrics, step) (per-step values a callback logged through
--   trainer:log_step_metrics, with step = the optimizer steps taken before it; it stands in
--   for Lightning's loggers), on_validation_epoch_start, on_validation_epoch_end,
--   on_train_epoch_end, on_fit_end, on_test_start, on_test_end(trainer, metrics),
--   on_exception(trainer, err), on_save_checkpoint(trainer, contents) (may change the table
--   handed to ckpt.save), on_load_checkpoint(trainer, c) (resuming: c is ckpt.load's table,
--   before the trainer restores the weights from c.current_model or c.model).
-- Any other on_* method (or Lightning's setup / teardown) is refused by the Trainer: it would
-- never run.
-- A callback with resume state defines state_key (unique among the trainer's callbacks),
-- state_dict() (JSON-able) and load_state_dict(state); the trainer saves it in every
-- checkpoint and restores it on resume.  A callback that cannot run beside another names it
-- in CONFLICTS (class name -> reason), and the Trainer refuses the pair when it is built.
local class = require "graphids.class"
local U = require "graphids.nn._util"

local Callback = class("Callback")

Callback.HOOKS = { "on_fit_start", "on_train_epoch_start", "on_train_batch_start", "on_train_batch_end",
  "on_step_metrics",
  "on_validation_epoch_start", "on_validation_epoch_end", "on_train_epoch_end", "on_fit_end",
  "on_test_start", "on_test_end", "on_exception", "on_save_checkpoint", "on_load_checkpoint" }

for _, h in ipairs(Callback.HOOKS) do
  Callback[h] = function() end
end

local HOOK_SET = {}
for _, h in ipairs(Callback.HOOKS) do HOOK_SET[h] = true end

-- Lightning hooks this trainer does not call, and the one that stands at their place here (a
-- callback defining one would be silently skipped: the Trainer refuses it instead).
local LIGHTNING_NEAREST = {
  setup = "on_fit_start", teardown = "on_fit_end and on_exception", on_train_start = "on_fit_start",
  on_train_end = "on_fit_end", on_validation_start = "on_validation_epoch_start",
  on_validation_end = "on_validation_epoch_end", on_test_epoch_start = "on_test_start",
  on_test_epoch_end = "on_test_end", on_sanity_check_start = false, on_sanity_check_end = false,
  on_validation_batch_start = false, on_validation_batch_end = false, on_test_batch_start = false,
  on_test_batch_end = false, on_predict_start = false, on_predict_end = false,
  on_before_backward = false, on_after_backward = false, on_before_optimizer_step = false,
  on_before_zero_grad = false,
  -- Lightning 1.x's names, run where this trainer runs the train_ ones
  on_epoch_start = "on_train_epoch_start", on_epoch_end = "on_train_epoch_end",
  on_batch_start = "on_train_batch_start", on_batch_end = "on_train_batch_end",
  on_keyboard_interrupt = "on_exception",
}

-- Why callback c (at callbacks[i] of a Trainer) cannot be used as it is: a method named as a
-- hook (on_*, or Lightning's setup / teardown) that the trainer never calls, with the nearest
-- hook it does call; nil when there is none.
function Callback.unknown_hook_error(c, i)
  local found = {}
  local t, seen = c, {}
  while type(t) == "table" and t ~= Callback and not seen[t] do
    seen[t] = true
    for k, v in pairs(t) do
      if type(k) == "string" and type(v) == "function" and not HOOK_SET[k]
          and (k:match("^on_") or LIGHTNING_NEAREST[k] ~= nil) then
        found[#found + 1] = k
      end
    end
    t = t == c and getmetatable(c) or rawget(t, "__parent")
  end
  if #found == 0 then return nil end
  table.sort(found)
  local name = found[1]
  local near = LIGHTNING_NEAREST[name]
  if near == nil then
    local best, bestd = nil, math.huge
    for _, h in ipairs(Callback.HOOKS) do
      local d = U.edit_distance(name, h)
      if d < bestd then best, bestd = h, d end
    end
    near = bestd <= 3 and best or false
  end
  local hint = near and string.format(" (did you mean %s?)", near:gsub("on_[%w_]+", "'%0'")) or
    " (no hook of this trainer stands at its place)"
  return string.format("callbacks[%d] (%s) defines %s, which this trainer never calls%s; the hooks it " ..
    "calls: %s", i, class.name_of(c), name, hint, table.concat(Callback.HOOKS, ", "))
end

-- nil: the callback keeps no state across a resume.
Callback.state_key = nil

-- Callbacks this one cannot run beside: class name -> why.  The Trainer refuses the pair.
Callback.CONFLICTS = {}

function Callback.state_dict()
  return nil
end

function Callback.load_state_dict() end

-- Raises (a plain message) when st is not a state this callback can restore; the Trainer calls
-- it for every callback before a resume restores anything.  The default takes anything.
function Callback.check_state() end

-- For check_state: st must be a table whose fields have the kinds listed, {name, kind} with
-- kind "number" (inf and NaN included: saved states hold them), "count" (an integer >= 0), or
-- either with a trailing "?" (nil allowed too).
function Callback.check_fields(st, fields)
  if type(st) ~= "table" then
    error("the state must be a table, got " .. type(st), 0)
  end
  for _, f in ipairs(fields) do
    local v, kind = st[f[1]], f[2]
    local ok
    if v == nil then
      ok = kind:sub(-1) == "?"
    elseif kind:find("^number") then
      ok = type(v) == "number"
    else
      ok = math.type(v) == "integer" and v >= 0
    end
    if not ok then
      local want = kind:find("^number") and "a number" or "an integer >= 0"
      error(string.format("'%s' must be %s%s, got %s", f[1], want, kind:sub(-1) == "?" and " or absent" or "",
        v == nil and "nothing" or U.describe(v)), 0)
    end
  end
end

-- mode "min" | "max" checked, for the monitor-driven callbacks.
function Callback.check_mode(name, mode)
  if mode ~= "min" and mode ~= "max" then
    error(string.format("%s: mode must be 'min' or 'max', got %s", name, tostring(mode)), 4)
  end
end

-- The names of this epoch's metrics, sorted, as an error lists them ("nothing" for none).
function Callback.logged_names(trainer)
  local keys = {}
  for k in pairs(trainer.callback_metrics) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return #keys > 0 and table.concat(keys, ", ") or "nothing"
end

-- The monitored value of this epoch; a missing one raises listing what was logged.
function Callback.monitored(name, trainer, monitor)
  local v = trainer.callback_metrics[monitor]
  if v == nil then
    error(string.format("%s: monitored metric '%s' was not logged this epoch (logged: %s)", name,
      monitor, Callback.logged_names(trainer)), 0)
  end
  return v
end

-- The same, but nil on an epoch the trainer did not validate by design (check_val_every_n_epoch,
-- limit_val_batches = 0; trainer.skipped_validation) when the metric was not logged: a callback
-- that monitors a val metric judges the epochs that report it (Lightning's with
-- check_val_every_n_epoch > 1 check at validation ends only).
function Callback.monitored_if_validated(name, trainer, monitor)
  if trainer.skipped_validation and trainer.callback_metrics[monitor] == nil then return nil end
  return Callback.monitored(name, trainer, monitor)
end

return Callback
