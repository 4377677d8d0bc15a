-- optim/util.lua -- argument checks shared by the optimizers, schedulers and clipping.
--   local util = require "graphids.optim.util"
--   util.check_options("AdamW", opts, { "lr", "betas", "eps" })   -- unknown key: did-you-mean
--   local lr = util.number("AdamW", "lr", opts.lr, 1e-3, { min = 0 })
-- Messages follow the binding's: they start with the caller's name, name the option and give
-- the expected versus the actual value ("AdamW: option 'lr' must be >= 0, got -0.1").
local M = {}

-- Raises msg at the position of the first caller outside graphids.optim and the class helper,
-- so that "train.lua:12: AdamW: ..." points at the user's line, as the binding's errors do.
-- The install function of obj's state sd (an optimizer or a scheduler), checked now: obj's
-- _prepare_load when its load_state_dict is the stock one built on it (class._stock_load); a
-- subclass's own load_state_dict otherwise, run when installed (its checks come then).
function M.prepare_load(obj, sd)
  if obj._prepare_load ~= nil and obj._stock_load ~= nil and obj.load_state_dict == obj._stock_load then
    return obj:_prepare_load(sd)
  end
  return function() obj:load_state_dict(sd) end
end

function M.raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if info == nil then
      level = 0
      break
    end
    local src = info.source
    if info.what ~= "C" and not src:find("graphids[/\\]optim[/\\]") and
        not src:find("graphids[/\\]class%.lua$") then
      break
    end
    level = level + 1
  end
  error(msg, level)
end

-- A value as an error message shows it (the rule of U.describe, which the option checks and the
-- configuration share).
M.describe = require("graphids.nn._util").describe

-- (the stdlib's one distance for "did you mean": swapped neighbours count one edit)
local edit_distance = require("graphids.nn._util").edit_distance

-- Raises for an unknown key with the nearest allowed key (as the binding's l_checkopts does:
-- an abbreviation or a small edit distance) or the list of allowed keys.
function M.unknown_key(fname, what, key, allowed)
  local best, best_d = nil, math.huge
  for _, name in ipairs(allowed) do
    local d = (#key >= 2 and name:sub(1, #key) == key) and 1 or edit_distance(key, name)
    if d < best_d then best, best_d = name, d end
  end
  local limit = #key <= 4 and 1 or (#key <= 8 and 2 or 3)
  if best ~= nil and best_d <= limit then
    M.raise(string.format("%s: unknown %s '%s' (did you mean '%s'?)", fname, what, key, best))
  end
  M.raise(string.format("%s: unknown %s '%s' (allowed: %s)", fname, what, key,
    #allowed > 0 and table.concat(allowed, ", ") or "none"))
end

-- opts must be nil or a table whose keys are all in the list `allowed`.  With several unknown
-- keys the smallest is reported, so the message does not depend on pairs() order.
function M.check_options(fname, opts, allowed, what)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    M.raise(string.format("%s: options must be a table, got %s", fname, M.describe(opts)))
  end
  local set = {}
  for _, k in ipairs(allowed) do set[k] = true end
  local worst
  for k in pairs(opts) do
    if type(k) ~= "string" then
      M.raise(string.format("%s: option keys must be strings, got %s", fname, M.describe(k)))
    end
    if not set[k] and (worst == nil or k < worst) then worst = k end
  end
  if worst ~= nil then M.unknown_key(fname, what or "option", worst, allowed) end
  return opts
end

local function fail(fname, key, expected, v)
  M.raise(string.format("%s: option '%s' must be %s, got %s", fname, key, expected, M.describe(v)))
end
M.fail = fail

-- A number option (default when nil), not NaN and finite unless limits.infinite (an inf lr or
-- weight decay turns the weights to inf in one step); limits.min / limits.max are inclusive,
-- limits.above / limits.below exclusive.
function M.number(fname, key, v, default, limits)
  if v == nil then v = default end
  if type(v) ~= "number" then fail(fname, key, "a number", v) end
  if v ~= v then fail(fname, key, "a number (not NaN)", v) end
  limits = limits or {}
  if not limits.infinite and (v == math.huge or v == -math.huge) then fail(fname, key, "finite", v) end
  if limits.min ~= nil and v < limits.min then fail(fname, key, ">= " .. limits.min, v) end
  if limits.max ~= nil and v > limits.max then fail(fname, key, "<= " .. limits.max, v) end
  if limits.above ~= nil and v <= limits.above then fail(fname, key, "> " .. limits.above, v) end
  if limits.below ~= nil and v >= limits.below then fail(fname, key, "< " .. limits.below, v) end
  return v
end

-- An integer option (a float with an integral value is accepted and converted).
function M.integer(fname, key, v, default, min, max)
  if v == nil then v = default end
  local i = math.type(v) == "float" and math.tointeger(v) or v
  if math.type(i) ~= "integer" then fail(fname, key, "an integer", v) end
  if min ~= nil and i < min then fail(fname, key, "an integer >= " .. min, v) end
  if max ~= nil and i > max then fail(fname, key, string.format("an integer <= %d", max), v) end
  return i
end

function M.boolean(fname, key, v, default)
  if v == nil then v = default end
  if type(v) ~= "boolean" then fail(fname, key, "a boolean", v) end
  return v
end

-- One of the strings in `choices`.
function M.choice(fname, key, v, default, choices)
  if v == nil then v = default end
  for _, c in ipairs(choices) do
    if v == c then return v end
  end
  fail(fname, key, "one of '" .. table.concat(choices, "', '") .. "'", v)
end

-- A copy of a value kept in a state dict: lists (betas, milestones, lrs) are copied one level
-- deep, so that a saved dict and the live object never share a table.
function M.copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for i = 1, #v do out[i] = M.copy(v[i]) end
  return out
end

return M
