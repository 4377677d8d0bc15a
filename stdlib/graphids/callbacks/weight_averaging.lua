-- graphids.callbacks.EMAWeightAveraging -- an exponential moving average of the model's weights,
-- used for validation, checkpoints and the fitted model (Lightning's EMAWeightAveraging, built
-- on torch's AveragedModel with use_buffers=True).
--   local cb = require "graphids.callbacks"
--   trainer = Trainer{callbacks = {cb.EMAWeightAveraging{decay = 0.995}, ...}}
-- Options: decay (0.999; in [0, 1)), update_every_n_steps (1), update_starting_at_step (0: from
-- the first optimizer step).
--
-- After an optimizer step whose global step s (counted from 1) is >= update_starting_at_step
-- and a multiple of update_every_n_steps, every floating state entry (parameters and float
-- buffers) becomes avg = decay * avg + (1 - decay) * current; the first update copies, and
-- integer buffers are always copied.  Training itself never sees the average: the optimizer
-- steps the current weights.  The average takes the model's place
--   * during validation (swapped in at on_validation_epoch_start, out at _end), so the monitored
--     metric, early stopping and the best checkpoint judge the averaged model;
--   * in every checkpoint's `model` tensors, so test, predict and downstream stages load it
--     like any model; the current weights go under `current_model.*`, which resuming restores,
--     so a resumed fit continues exactly as an uninterrupted one;
--   * in the model after fit (on_fit_end copies it in), as Lightning does.
-- Why: on hcrl_sa the GAT's test accuracy varies with the seed from 0.957 to 0.999 with plain
-- weights; the average of the last few hundred steps removes that spread (docs/trainer.md).
local class = require "graphids.class"
local U = require "graphids.nn._util"
local Filled = require "graphids.nn.filled_state"
local Callback = require "graphids.callbacks.base"

local EMA = class("EMAWeightAveraging", Callback)

-- The Trainer runs it before the other callbacks: a checkpoint one of them saves in
-- on_train_batch_end (a preemption's) must hold the average with this step in it, and their
-- on_validation_epoch_start sees the average swapped in.  Its swap-out runs after the others'
-- on_validation_epoch_end, which see the averaged model too, as val_loss measured it.
EMA.runs_first = true
EMA.runs_last = { on_validation_epoch_end = true }

local DEFAULTS = { decay = 0.999, update_every_n_steps = 1, update_starting_at_step = 0 }

function EMA:__init(opts)
  local o = U.options("EMAWeightAveraging", opts, DEFAULTS, U.CTOR)
  if type(o.decay) ~= "number" or not (o.decay >= 0 and o.decay < 1) then
    error("EMAWeightAveraging: decay must be a number in [0, 1), got " .. tostring(o.decay), 3)
  end
  local every, start = math.tointeger(o.update_every_n_steps), math.tointeger(o.update_starting_at_step)
  if every == nil or every < 1 then
    error("EMAWeightAveraging: update_every_n_steps must be an integer >= 1, got " ..
      tostring(o.update_every_n_steps), 3)
  end
  if start == nil or start < 0 then
    error("EMAWeightAveraging: update_starting_at_step must be an integer >= 0, got " ..
      tostring(o.update_starting_at_step), 3)
  end
  self.decay, self.every, self.start = o.decay, every, start
  self.state_key = "EMAWeightAveraging"
  self.n_averaged = 0
  self.average = nil -- list of {name, tensor}, in the model's state_dict order
  self.stash = nil   -- the current weights while the average is swapped in
end

-- The model's state entries as a list of {name, tensor (a view sharing the model's storage)}.
local function entries(model)
  local sd = model:state_dict()
  local out = {}
  for _, k in ipairs(sd:keys()) do
    out[#out + 1] = { k, sd:get(k) }
  end
  return out
end

local function is_float(t)
  local d = t.dtype
  return d == "f32" or d == "f64" or d == "f16" or d == "bf16"
end

-- Copies src's tensors into dst's (both lists of {name, tensor} in the same order).
local function copy_into(dst, src)
  for i, e in ipairs(dst) do
    e[2]:copy_(src[i][2])
  end
end

local function clones(list)
  local out = {}
  for i, e in ipairs(list) do
    out[i] = { e[1], e[2]:clone() }
  end
  return out
end

function EMA:_update(model)
  local cur = entries(model)
  if self.n_averaged == 0 or self.average == nil then
    self.average = clones(cur)
  else
    local d = self.decay
    for i, e in ipairs(cur) do
      local a = self.average[i][2]
      if is_float(a) then
        a:mul_(d):add_(e[2], { alpha = 1 - d })
      else
        a:copy_(e[2])
      end
    end
  end
  self.n_averaged = self.n_averaged + 1
end

function EMA:on_train_batch_end(trainer)
  -- (a batch whose gradients wait for the rest of its group stepped nothing: the weights and
  -- global_step are those of the last step, averaged already)
  if trainer.accumulating then return end
  local s = trainer.global_step
  if s >= self.start and s % self.every == 0 then
    self:_update(trainer.model)
  end
end

local function swap_in(self, model)
  if self.average == nil or self.stash ~= nil then return end
  local cur = entries(model)
  self.stash = clones(cur)
  copy_into(cur, self.average)
end

local function swap_out(self, model)
  if self.stash == nil then return end
  copy_into(entries(model), self.stash)
  self.stash = nil
end

function EMA:on_validation_epoch_start(trainer)
  swap_in(self, trainer.model)
end

function EMA:on_validation_epoch_end(trainer)
  swap_out(self, trainer.model)
end

function EMA:on_exception(trainer)
  swap_out(self, trainer.model)
end

-- The fitted model is the averaged one.  The training weights are kept beside it: a checkpoint
-- saved after fit must resume from them, not from the average.
function EMA:on_fit_end(trainer)
  swap_out(self, trainer.model)
  if self.average ~= nil then
    local cur = entries(trainer.model)
    self.trained = clones(cur)
    copy_into(cur, self.average)
  end
end

local function as_map(list)
  local out = {}
  for _, e in ipairs(list) do
    out[e[1]] = e[2]
  end
  return out
end

-- contents.model (the current weights) moves to contents.current_model; the average takes its
-- place.  After fit the model holds the average, and the training weights are the kept ones.
function EMA:on_save_checkpoint(_, contents)
  if self.average == nil then return end
  local current = self.trained and as_map(self.trained) or contents.model
  contents.current_model, contents.model = current, as_map(self.average)
end

-- Resuming: the checkpoint's model tensors are the average (copied: a loaded checkpoint's
-- tensors are memory-mapped and read-only); the trainer restores current_model into the model.
function EMA:on_load_checkpoint(trainer, c)
  self.trained = nil
  if c.current_model == nil then
    self.average = nil
    return
  end
  local avg, filled = {}, Filled.rows(trainer.model)
  for _, e in ipairs(entries(trainer.model)) do
    local t = c.model[e[1]]
    if t == nil then
      error(string.format("EMAWeightAveraging: checkpoint '%s' has no averaged tensor '%s'",
        tostring(c.path), e[1]), 0)
    end
    -- (a buffer filled row by row is saved with its filled rows only: the average is kept whole)
    local whole = filled[e[1]] ~= nil and Filled.fits(t.shape, e[2].shape)
    avg[#avg + 1] = { e[1], whole and Filled.expand(t, e[2]) or t:to(e[2].device):clone() }
  end
  self.average = avg
end

function EMA:state_dict()
  return { n_averaged = self.n_averaged, decay = self.decay }
end

function EMA.check_state(st)
  Callback.check_fields(st, { { "n_averaged", "count?" } })
end

function EMA:load_state_dict(st)
  self.check_state(st)
  self.n_averaged = st.n_averaged or 0
end

return EMA
