-- graphids.trainer.loop_options -- the Trainer's loop options that Lightning users expect:
-- accumulate_grad_batches, limit_train_batches, limit_val_batches, check_val_every_n_epoch and
-- fast_dev_run.  One set of rules for the Trainer and the configuration schema (which names the
-- key as trainer.<option>), and what the limits come to for a loader of a given length.
--   local LO = require "graphids.trainer.loop_options"
--   local o = LO.normalize(opts)                  -- raises "Trainer: <option> must be ..."
--   local n = LO.batches(o.limit_train_batches, #loader, "limit_train_batches")
--   local steps = LO.stepping_batches(n, max_epochs, o.accumulate_grad_batches)
-- The semantics are Lightning 2.x's (docs/trainer.md, "Loop options").
local U = require "graphids.nn._util"

local M = {}

M.NAMES = { "accumulate_grad_batches", "limit_train_batches", "limit_val_batches",
  "check_val_every_n_epoch", "fast_dev_run" }

-- The values an absent option takes.
M.DEFAULTS = { accumulate_grad_batches = 1, limit_train_batches = 1.0, limit_val_batches = 1.0,
  check_val_every_n_epoch = 1, fast_dev_run = false }

local function bad(name, want, v)
  error(string.format("Trainer: %s must be %s, got %s", name, want, U.describe(v)), 0)
end

local function int_at_least(name, v, lo)
  if math.type(v) == "float" and v == math.floor(v) and v >= lo and v < 2 ^ 53 then
    v = math.tointeger(v) -- (JSON and the command line write 4 as 4.0 at times)
  end
  if math.type(v) ~= "integer" or v < lo then bad(name, "an integer >= " .. lo, v) end
  return v
end

-- A limit: an integer count of batches (>= 0), or a fraction of the epoch's batches (a float in
-- [0, 1]); an integral float above 1 counts batches, as Lightning's _determine_batch_limits.
-- Integer 1 is one batch, float 1.0 the whole epoch.
local function limit(name, v)
  if math.type(v) == "integer" and v >= 0 then return v end
  if math.type(v) == "float" and v >= 0 and v <= 1 then return v end
  if math.type(v) == "float" and v > 1 and v == math.floor(v) and v < 2 ^ 53 then return math.tointeger(v) end
  bad(name, "an integer >= 0 (a number of batches) or a number in [0, 1] (a fraction of the epoch's " ..
    "batches)", v)
end

-- opts: a table holding some of M.NAMES (nil = the default).  Returns every one of them checked
-- and normalised: limits as integers or fractions, fast_dev_run false or its batch count.
-- fast_dev_run = true is 1 batch, an integer n is n, false or 0 is off.
function M.normalize(opts)
  local o = {}
  for _, k in ipairs(M.NAMES) do
    local v = opts[k]
    if v == nil then v = M.DEFAULTS[k] end
    o[k] = v
  end
  o.accumulate_grad_batches = int_at_least("accumulate_grad_batches", o.accumulate_grad_batches, 1)
  o.check_val_every_n_epoch = int_at_least("check_val_every_n_epoch", o.check_val_every_n_epoch, 1)
  o.limit_train_batches = limit("limit_train_batches", o.limit_train_batches)
  o.limit_val_batches = limit("limit_val_batches", o.limit_val_batches)
  local f = o.fast_dev_run
  if type(f) ~= "boolean" then
    local ok, n = pcall(int_at_least, "fast_dev_run", f, 0)
    if not ok then bad("fast_dev_run", "a boolean or an integer >= 0 (its number of batches)", f) end
    f = n
  end
  if f == true then f = 1 end
  o.fast_dev_run = (f ~= false and f > 0) and f or false
  return o
end

-- The batches an epoch runs of a loader of `length` batches (nil: not known) under the limit:
-- min(length, n) for a count, floor(length * f) for a fraction (Lightning's int()), an error
-- naming the option when a fraction > 0 comes to no batch.  nil when the length is not known and
-- the limit is a count (the loop stops at it) or the whole epoch.
function M.batches(lim, length, name)
  if math.type(lim) == "integer" then
    return length and math.min(length, lim) or lim
  end
  if length == nil then
    if lim == 1.0 then return nil end
    error(string.format("Trainer: %s = %s is a fraction of the epoch's batches, and the loader has no " ..
      "length to take it of; give a number of batches", name, tostring(lim)), 0)
  end
  local n = math.floor(length * lim)
  if n == 0 and lim > 0 and length > 0 then
    error(string.format("Trainer: %s = %s of %d batches is less than one batch; give at least 1/%d " ..
      "of them, or a number of batches", name, tostring(lim), length, length), 0)
  end
  return n
end

-- Lightning's estimated_stepping_batches: the optimizer steps a fit takes when all its epochs
-- run, given the training batches of one epoch (what M.batches gives; nil: not known, and so
-- is the result).  An epoch's last group steps however short (docs/trainer.md, "Loop
-- options"), so an epoch takes ceil(batches / accumulate) steps.  max_epochs = 0 counts one
-- epoch, as Lightning's max(max_epochs, 1): a schedule sized by it needs a length >= 1
-- (OneCycleLR's total_steps) even for a fit that trains nothing.
function M.stepping_batches(per_epoch, max_epochs, accumulate)
  if per_epoch == nil then return nil end
  return math.max(max_epochs, 1) * ((per_epoch + accumulate - 1) // accumulate)
end

return M
