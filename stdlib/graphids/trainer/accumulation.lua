-- graphids.trainer.accumulation -- a checkpoint taken inside a group of accumulated batches
-- (accumulate_grad_batches = N > 1, a save_checkpoint in on_train_batch_end before the group's
-- optimizer step).  The gradients summed so far go into the file, and a resume puts them back,
-- so the group's step is the one an uninterrupted run takes, bit for bit: the rest of the
-- group adds its gradients to the same sums in the same order.  (Which batches form a group
-- follows from the data position: groups are counted from the epoch's first batch.)
--   accumulation.save(trainer, contents, params)   -- trainer.accumulating + accumulated_grads
--   accumulation.check(c, trainer, params)         -- before a resume restores anything
--   accumulation.check_limit(c, trainer)           -- once the data position is restored
--   accumulation.restore(trainer, c, params)       -- after the weights
-- params: the optimizer's parameters in order (their positions number the saved gradients, as
-- the optimizer state's).  docs/checkpoints.md describes the file's part.
local graphids = require "graphids"
local U = require "graphids.nn._util"

local M = {}

function M.save(trainer, contents, params)
  if not trainer.accumulating then return end
  local grads = {}
  for pos, p in ipairs(params) do
    -- (a parameter no batch of the group reached has none, and gets none back)
    if p.grad ~= nil then grads[pos] = p.grad end
  end
  contents.trainer.accumulating = { of = trainer.accumulate_grad_batches }
  contents.accumulated_grads = grads
end

function M.check(c, trainer, params)
  local st, grads = c.trainer.accumulating, c.accumulated_grads
  local function bad(msg)
    error(string.format("checkpoint '%s': accumulated gradients: %s", c.path, msg), 0)
  end
  if st == nil then
    if grads ~= nil then bad("the file holds some but its trainer state has no 'accumulating'") end
    return
  end
  if type(st) ~= "table" or math.type(st.of) ~= "integer" or st.of < 2 then
    bad("'trainer.accumulating' must be {of = an integer >= 2}, got " .. U.describe(st))
  end
  if st.of ~= trainer.accumulate_grad_batches then
    error(string.format("checkpoint '%s' was saved inside a group of accumulated batches " ..
      "(accumulate_grad_batches = %d); this fit has accumulate_grad_batches = %d, which groups the " ..
      "batches otherwise: resume it with %d, or resume from an epoch's end", c.path, st.of,
      trainer.accumulate_grad_batches, st.of), 0)
  end
  if trainer.model.automatic_optimization == false then
    bad("the model optimizes itself (automatic_optimization = false); the trainer accumulates nothing for it")
  end
  -- under "16-mixed" the group's gradients are the scaled ones (scale times the sums; the
  -- GradScaler unscales them at the group's step): a fit without a scaler would step them as
  -- they are.  Dividing them by the scale here would not give either run's step (a group holding
  -- an inf, which the scaler skips, would stop that fit as a bad gradient), so it is refused.  (A
  -- "16-mixed" fit from a checkpoint without scaler state is refused before this, for any file.)
  local sc = c.trainer.scaler
  if type(sc) == "table" and sc.scale ~= nil and trainer.scaler == nil then
    error(string.format("checkpoint '%s' was saved inside a group of accumulated batches under precision " ..
      "'16-mixed', whose gradients so far are multiplied by its GradScaler's scale (%g) until the " ..
      "group's step; this fit's precision is '%s', which has no scaler to unscale them: resume it " ..
      "with precision '16-mixed', or resume from an epoch's end", c.path, sc.scale, trainer.precision), 0)
  end
  for _, pos in ipairs(U.sorted_keys(grads or {})) do
    local t, p = grads[pos], params[pos]
    if p == nil then
      bad(string.format("gradient %d names no parameter of the optimizer (it has %d)", pos - 1, #params))
    end
    if U.shape_str(t) ~= U.shape_str(p) then
      bad(string.format("gradient %d is %s, its parameter %s", pos - 1, U.shape_str(t), U.shape_str(p)))
    end
  end
end

-- After the data module's position is restored (before anything else is): this fit's
-- limit_train_batches must leave a batch of the saved group to run, whose step would otherwise
-- never come (the epoch ends first, and the summed gradients are dropped).  A limit that leaves
-- one cuts the group short there and steps it, as an uninterrupted run under that limit does.
-- (limit_train_batches = 0 trains nothing at all, and says so.)
function M.check_limit(c, trainer)
  if c.trainer.accumulating == nil or trainer.limit_train_batches == 0 then return end
  local pos = trainer.datamodule.position or 0
  local total = trainer:_train_batches_of_epoch()
  if total ~= nil and pos >= total then
    error(string.format("checkpoint '%s' was saved inside a group of accumulated batches, after batch %d " ..
      "of epoch %d; this fit's limit_train_batches = %s ends that epoch at batch %d, before the group's " ..
      "step, and would drop its summed gradients: resume it with a limit of at least %d batches, or " ..
      "resume from an epoch's end", c.path, pos, c.trainer.next_epoch, tostring(trainer.limit_train_batches),
      total, pos + 1), 0)
  end
end

function M.restore(trainer, c, params)
  if c.trainer.accumulating == nil then return end
  local grads = c.accumulated_grads or {}
  graphids.no_grad(function()
    for pos, p in ipairs(params) do
      local t = grads[pos]
      if t ~= nil then
        -- (the file's tensor is mapped read-only: a copy, on the parameter's device and dtype)
        t = p.device == "cpu" and t:clone() or t:to(p.device)
        if t.dtype ~= p.dtype then t = t:to(p.dtype) end
      end
      p.grad = t
    end
  end)
  trainer.accumulating = true
end

return M
