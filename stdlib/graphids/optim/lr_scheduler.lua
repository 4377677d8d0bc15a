-- optim/lr_scheduler.lua -- learning-rate schedules, as torch.optim.lr_scheduler.
--
--   local sched = graphids.optim.lr_scheduler
--   local s = sched.StepLR(opt, 30, { gamma = 0.1 })       -- or StepLR(opt, {step_size=30, ...})
--   for epoch = 1, 100 do train(); s:step() end
--   -- linear warm-up for 5 epochs, then cosine annealing over the remaining 95:
--   local warm = sched.LinearLR(opt, { start_factor = 0.01, total_iters = 5 })
--   local cos = sched.CosineAnnealingLR(opt, 95, { eta_min = 1e-5 })
--   local s = sched.SequentialLR(opt, { warm, cos }, { 5 })
--   local p = sched.ReduceLROnPlateau(opt, { mode = "min", patience = 3 }); p:step(val_loss)
--   -- per batch: the 1cycle policy, or cosine annealing with warm restarts at fractional epochs
--   local s = sched.OneCycleLR(opt, { max_lr = 0.1, epochs = 10, steps_per_epoch = #loader })
--   local w = sched.CosineAnnealingWarmRestarts(opt, 10, { T_mult = 2 }); w:step(epoch + i / n)
-- Also LambdaLR, MultiplicativeLR, ConstantLR and PolynomialLR.
--
-- Required arguments come positionally or by name in the trailing options table; optional ones
-- only in the table.  Semantics follow torch: constructing a scheduler records each group's
-- `initial_lr` (when last_epoch is -1) and performs step 0; each step() advances last_epoch by
-- one and sets every group's lr from the previous lr (torch's recursive "chainable" formulas,
-- so schedulers compose); step(epoch) jumps to an epoch with the closed form where there is
-- one (deprecated in torch, kept for SequentialLR).  get_last_lr() lists the lrs in force;
-- state_dict() / load_state_dict() save and restore everything but the optimizer.
local class = require "graphids.class"
local graphids = require "graphids"
local Optimizer = require "graphids.optim.optimizer"
local util = require "graphids.optim.util"

local raise = util.raise

local M = {}

-- Required arguments that are themselves lists (an empty table there is the list, not options).
local LIST_ARGS = { milestones = true, schedulers = true, lr_lambda = true, max_lr = true }

-- The constructor arguments after the optimizer as one table: `required` names may come
-- positionally or in the trailing options table, `optional` names only in the table.
local function read_args(name, required, optional, ...)
  local a = table.pack(...)
  -- a trailing nil is no argument (StepLR(opt, 5, nil): an options variable left nil), as the
  -- optimizers take a nil options table; counted, it read as one positional argument too many
  while a.n > 0 and a[a.n] == nil do a.n = a.n - 1 end
  local vals, npos, opts = {}, 0, nil
  for i = 1, a.n do
    local v = a[i]
    local is_opts = type(v) == "table" and getmetatable(v) == nil and v[1] == nil and
        (next(v) ~= nil or not LIST_ARGS[required[npos + 1]])
    if is_opts then
      if i ~= a.n then raise(name .. ": the options table must be the last argument") end
      opts = v
    else
      npos = npos + 1
      if npos > #required then
        raise(string.format("%s: too many positional arguments (takes %s%s then an options " ..
          "table)", name, #required > 0 and "the optimizer, " or "the optimizer",
          table.concat(required, ", ")))
      end
      vals[required[npos]] = v
    end
  end
  local allowed = {}
  for _, k in ipairs(required) do allowed[#allowed + 1] = k end
  for _, k in ipairs(optional) do allowed[#allowed + 1] = k end
  util.check_options(name, opts, allowed)
  for _, k in ipairs(allowed) do
    local v = opts and opts[k]
    if v ~= nil then
      if vals[k] ~= nil then
        raise(string.format("%s: '%s' given both as an argument and as an option", name, k))
      end
      vals[k] = v
    end
  end
  for _, k in ipairs(required) do
    if vals[k] == nil then raise(string.format("%s: missing argument '%s'", name, k)) end
  end
  return vals
end

local function check_optimizer(name, optimizer)
  if not class.isinstance(optimizer, Optimizer) then
    raise(string.format("%s: expected an optimizer (graphids.optim.*), got %s", name,
      util.describe(optimizer)))
  end
end

local function group_lrs(optimizer)
  local lrs = {}
  for i, group in ipairs(optimizer.param_groups) do lrs[i] = group.lr end
  return lrs
end

-- A copy of a state value that shares no table with it (OneCycleLR's phases are tables of
-- named fields, which util.copy, for lists, would drop).
local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return out
end

-- ---------------------------------------------------------------- LRScheduler (base)

-- Base of the epoch-driven schedulers.  A subclass sets its fields, then calls
-- LRScheduler.__init(self, optimizer, last_epoch); it defines get_lr() (the recursive form) and
-- may define _closed_form_lr() (the lr of each group at self.last_epoch from base_lrs).
-- STATE_KEYS lists what state_dict() saves, in order; RULES (optional) overrides the checks of
-- STATE_RULES below for keys whose bounds differ in that class.  self._is_initial is true
-- during the step the constructor takes (torch's _initial_mode).
local LRScheduler = class("LRScheduler")
M.LRScheduler = LRScheduler

LRScheduler.STATE_KEYS = { "base_lrs", "last_epoch", "_step_count", "_last_lr" }

function LRScheduler:__init(optimizer, last_epoch)
  local name = self.__name
  check_optimizer(name, optimizer)
  last_epoch = util.integer(name, "last_epoch", last_epoch, -1, -1)
  local groups = optimizer.param_groups
  if last_epoch == -1 then
    for _, group in ipairs(groups) do
      if group.initial_lr == nil then group.initial_lr = group.lr end
    end
  else
    for i, group in ipairs(groups) do
      if group.initial_lr == nil then
        raise(string.format("%s: param group %d has no 'initial_lr', which resuming with " ..
          "last_epoch=%d needs (load the optimizer's state dict first)", name, i, last_epoch))
      end
    end
  end
  self.optimizer = optimizer
  self.base_lrs = {}
  for i, group in ipairs(groups) do self.base_lrs[i] = group.initial_lr end
  self.last_epoch = last_epoch
  self:_initial_step()
end

function LRScheduler:_initial_step()
  self._step_count = 0
  self._is_initial = true
  self:step()
  self._is_initial = false
end

function LRScheduler.get_lr(_)
  raise("LRScheduler: a scheduler class must define get_lr()")
end

-- Advances one epoch (or, deprecated, jumps to `epoch`) and sets every group's lr.
function LRScheduler:step(epoch)
  self._step_count = self._step_count + 1
  local values
  if epoch == nil then
    self.last_epoch = self.last_epoch + 1
    values = self:get_lr()
  else
    self.last_epoch = util.integer(self.__name .. ":step", "epoch", epoch)
    values = self._closed_form_lr and self:_closed_form_lr() or self:get_lr()
  end
  self:_apply_lrs(values)
end

-- Sets each group's lr from values, one per group.  A param group added (add_param_group)
-- after the scheduler was built has no base lr (and no lr_lambda): torch does not extend
-- base_lrs, so the recursive formulas, which read the lr in force, schedule it, and the
-- formulas over base_lrs give one lr fewer, which torch's zip(..., strict=True) refuses; so do
-- we, before any lr changes, rather than leave that group's lr silently unscheduled.
function LRScheduler:_apply_lrs(values)
  local groups = self.optimizer.param_groups
  if #values ~= #groups then
    raise(string.format("%s:step: the optimizer has %d param groups, but the scheduler was built " ..
      "on %d and this step's formula gives no lr for param group %d (added since by " ..
      "add_param_group); build the scheduler after adding the group", self.__name, #groups,
      #values, #values + 1))
  end
  for i, group in ipairs(groups) do group.lr = values[i] end
  self._last_lr = group_lrs(self.optimizer)
end

-- The lr of each group after the last step (a new list).
function LRScheduler:get_last_lr()
  return util.copy(self._last_lr)
end

function LRScheduler:state_dict()
  local sd = {}
  for _, k in ipairs(self.STATE_KEYS) do sd[k] = deep_copy(self[k]) end
  return sd
end

function LRScheduler:load_state_dict(sd)
  self:_prepare_load(sd)()
end
LRScheduler._stock_load = LRScheduler.load_state_dict

-- What each state key must hold (the same name means the same thing in every scheduler, and
-- the constructors' bounds): a checker returns nil for a good value, else what it must be.  A
-- damaged checkpoint is refused before anything is installed, not once a step does arithmetic
-- on a string, and an out-of-range value (T_max = -3) never drives a schedule.
local function integer_rule(min)
  return function(v)
    if math.type(v) ~= "integer" or v < min then return "an integer >= " .. min end
  end
end
local function number_rule(limits, what)
  return function(v)
    if type(v) ~= "number" or v ~= v or (not limits.infinite and (v == math.huge or v == -math.huge))
        or (limits.min and v < limits.min) or (limits.max and v > limits.max)
        or (limits.above and v <= limits.above) or (limits.below and v >= limits.below) then
      return what
    end
  end
end
local function list_rule(item, what)
  return function(v)
    if type(v) ~= "table" then return what end
    for i = 1, #v do
      if item(v[i]) then return what end
    end
  end
end
local function choice_rule(a, b)
  return function(v)
    if v ~= a and v ~= b then return string.format("'%s' or '%s'", a, b) end
  end
end
local function boolean_rule(v)
  if type(v) ~= "boolean" then return "a boolean" end
end
-- OneCycleLR's phases: a list of {end_step = <number>, start_lr = <group key>, ...}.
local PHASE_FIELDS = { "end_lr", "end_momentum", "end_step", "start_lr", "start_momentum" }
local PHASE_GROUP_KEYS = { initial_lr = true, max_lr = true, min_lr = true, max_momentum = true,
  base_momentum = true }
local function phases_rule(v)
  local what = "a list of phases {end_step = <number>, start_lr = <name>, end_lr = <name>, " ..
      "start_momentum = <name>, end_momentum = <name>}"
  if type(v) ~= "table" or #v < 1 then return what end
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > #v then return what end
  end
  for _, phase in ipairs(v) do
    if type(phase) ~= "table" then return what end
    local n = 0
    for _ in pairs(phase) do n = n + 1 end
    if n ~= #PHASE_FIELDS then return what end
    for _, f in ipairs(PHASE_FIELDS) do
      local x = phase[f]
      if f == "end_step" then
        if type(x) ~= "number" or x ~= x or x == math.huge or x == -math.huge then return what end
      elseif not PHASE_GROUP_KEYS[x] then
        return what
      end
    end
  end
end
local LR = number_rule({ min = 0 }, "a finite number >= 0")
local STATE_RULES = {
  base_lrs = list_rule(LR, "a list of finite numbers >= 0"),
  _last_lr = list_rule(LR, "a list of finite numbers >= 0"),
  min_lrs = list_rule(LR, "a list of finite numbers >= 0"),
  last_epoch = integer_rule(-1),
  _step_count = integer_rule(0),
  step_size = integer_rule(1),
  gamma = number_rule({ min = 0 }, "a finite number >= 0"),
  milestones = list_rule(integer_rule(math.mininteger), "a list of integers"),
  T_max = integer_rule(1),
  eta_min = number_rule({}, "a finite number"),
  start_factor = number_rule({ above = 0, max = 1 }, "a number in (0, 1]"),
  end_factor = number_rule({ min = 0, max = 1 }, "a number in [0, 1]"),
  total_iters = integer_rule(1),
  factor = number_rule({ below = 1 }, "a finite number < 1"),
  patience = integer_rule(0),
  cooldown = integer_rule(0),
  cooldown_counter = integer_rule(0),
  num_bad_epochs = integer_rule(0),
  mode = choice_rule("min", "max"),
  threshold_mode = choice_rule("rel", "abs"),
  threshold = number_rule({}, "a finite number"),
  eps = number_rule({}, "a finite number"),
  best = number_rule({ infinite = true }, "a number (not NaN)"),
  mode_worse = number_rule({ infinite = true }, "a number (not NaN)"),
  power = number_rule({ min = 0 }, "a finite number >= 0"),
  T_0 = integer_rule(1),
  T_i = integer_rule(1),
  T_mult = integer_rule(1),
  T_cur = number_rule({ min = 0 }, "a finite number >= 0"),
  total_steps = integer_rule(1),
  _schedule_phases = phases_rule,
  _anneal_func_type = choice_rule("cos", "linear"),
  cycle_momentum = boolean_rule,
  use_beta1 = boolean_rule,
}

-- A state dict's per-group list (base_lrs, _last_lr, min_lrs): one value for each param group
-- the scheduler knew of, which is every group of the optimizer unless some were added after it
-- was built (then the lists it recorded, and saves, are shorter, as torch's: base_lrs is never
-- extended, _last_lr only at the next step, min_lrs only when an lr is cut).  So 1 to the
-- number of groups; more names a group the optimizer does not have.
local function check_group_list(fname, optimizer, k, v)
  local ngroups = #optimizer.param_groups
  if type(v) ~= "table" or #v < 1 or #v > ngroups then
    raise(string.format("%s: '%s' must list one value per param group (the optimizer's %d, or " ..
      "fewer for groups added after the scheduler was built), got %s", fname, k, ngroups,
      type(v) == "table" and #v .. " values" or util.describe(v)))
  end
end

-- Checks sd as load_state_dict does, changing nothing; returns the function that installs it.
function LRScheduler:_prepare_load(sd)
  local fname = self.__name .. ":load_state_dict"
  if type(sd) ~= "table" then
    raise(string.format("%s: expected a state dict table, got %s", fname, util.describe(sd)))
  end
  util.check_options(fname, sd, self.STATE_KEYS, "key")
  for _, k in ipairs(self.STATE_KEYS) do
    if sd[k] == nil then raise(string.format("%s: the state dict misses '%s'", fname, k)) end
  end
  for _, k in ipairs({ "base_lrs", "_last_lr", "min_lrs" }) do
    if sd[k] ~= nil then check_group_list(fname, self.optimizer, k, sd[k]) end
  end
  for _, k in ipairs(self.STATE_KEYS) do
    local rule = self.RULES and self.RULES[k] or STATE_RULES[k]
    local want = rule and rule(sd[k])
    if want then
      raise(string.format("%s: the state dict's '%s' must be %s, got %s", fname, k, want,
        util.describe(sd[k])))
    end
  end
  local new = {}
  for _, k in ipairs(self.STATE_KEYS) do new[k] = deep_copy(sd[k]) end
  return function()
    for _, k in ipairs(self.STATE_KEYS) do self[k] = new[k] end
  end
end

-- The names of the state keys of a subclass: the base's, then `extra`.
local function state_keys(extra)
  local keys = {}
  for _, k in ipairs(LRScheduler.STATE_KEYS) do keys[#keys + 1] = k end
  for _, k in ipairs(extra) do keys[#keys + 1] = k end
  return keys
end

-- ---------------------------------------------------------------- StepLR

-- lr = initial_lr * gamma ^ floor(epoch / step_size).
local StepLR = class("StepLR", LRScheduler)
M.StepLR = StepLR
StepLR.STATE_KEYS = state_keys({ "step_size", "gamma" })

function StepLR:__init(optimizer, ...)
  local a = read_args("StepLR", { "step_size" }, { "gamma", "last_epoch" }, ...)
  self.step_size = util.integer("StepLR", "step_size", a.step_size, nil, 1)
  self.gamma = util.number("StepLR", "gamma", a.gamma, 0.1, { min = 0 })
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function StepLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return lrs end
  for i = 1, #lrs do lrs[i] = lrs[i] * self.gamma end
  return lrs
end

function StepLR:_closed_form_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    out[i] = base * self.gamma ^ (self.last_epoch // self.step_size)
  end
  return out
end

-- ---------------------------------------------------------------- MultiStepLR

-- lr = initial_lr * gamma ^ (number of milestones <= epoch); a milestone listed twice counts
-- twice.
local MultiStepLR = class("MultiStepLR", LRScheduler)
M.MultiStepLR = MultiStepLR
MultiStepLR.STATE_KEYS = state_keys({ "milestones", "gamma" })

function MultiStepLR:__init(optimizer, ...)
  local a = read_args("MultiStepLR", { "milestones" }, { "gamma", "last_epoch" }, ...)
  local ms = a.milestones
  if type(ms) ~= "table" then util.fail("MultiStepLR", "milestones", "a list of integers", ms) end
  self.milestones = {}
  for i = 1, #ms do
    self.milestones[i] = util.integer("MultiStepLR", "milestones", ms[i])
  end
  table.sort(self.milestones)
  self.gamma = util.number("MultiStepLR", "gamma", a.gamma, 0.1, { min = 0 })
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function MultiStepLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  local count = 0
  for _, m in ipairs(self.milestones) do
    if m == self.last_epoch then count = count + 1 end
  end
  if count == 0 then return lrs end
  for i = 1, #lrs do lrs[i] = lrs[i] * self.gamma ^ count end
  return lrs
end

function MultiStepLR:_closed_form_lr()
  local passed = 0
  for _, m in ipairs(self.milestones) do
    if m <= self.last_epoch then passed = passed + 1 end
  end
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = base * self.gamma ^ passed end
  return out
end

-- ---------------------------------------------------------------- ExponentialLR

-- lr = initial_lr * gamma ^ epoch.
local ExponentialLR = class("ExponentialLR", LRScheduler)
M.ExponentialLR = ExponentialLR
ExponentialLR.STATE_KEYS = state_keys({ "gamma" })

function ExponentialLR:__init(optimizer, ...)
  local a = read_args("ExponentialLR", { "gamma" }, { "last_epoch" }, ...)
  self.gamma = util.number("ExponentialLR", "gamma", a.gamma, nil, { min = 0 })
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function ExponentialLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  -- (the constructor's step keeps the lr, as torch's, also when it resumes at last_epoch >= 0)
  if self.last_epoch == 0 or self._is_initial then return lrs end
  for i = 1, #lrs do lrs[i] = lrs[i] * self.gamma end
  return lrs
end

function ExponentialLR:_closed_form_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = base * self.gamma ^ self.last_epoch end
  return out
end

-- ---------------------------------------------------------------- CosineAnnealingLR

-- lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, computed as torch
-- does by its recursive formula (so it composes with other schedulers); past T_max the lr
-- rises again (a cosine of period 2 * T_max).
local CosineAnnealingLR = class("CosineAnnealingLR", LRScheduler)
M.CosineAnnealingLR = CosineAnnealingLR
CosineAnnealingLR.STATE_KEYS = state_keys({ "T_max", "eta_min" })

function CosineAnnealingLR:__init(optimizer, ...)
  local a = read_args("CosineAnnealingLR", { "T_max" }, { "eta_min", "last_epoch" }, ...)
  self.T_max = util.integer("CosineAnnealingLR", "T_max", a.T_max, nil, 1)
  self.eta_min = util.number("CosineAnnealingLR", "eta_min", a.eta_min, 0)
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function CosineAnnealingLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  local e, T, eta = self.last_epoch, self.T_max, self.eta_min
  local pi, cos = math.pi, math.cos
  if e == 0 or self._is_initial then return lrs end
  -- (the two forms over base_lrs give no lr for a group added after the scheduler was built)
  if self._step_count == 1 and e > 0 then
    local out = {}
    for i, base in ipairs(self.base_lrs) do
      out[i] = eta + (base - eta) * (1 + cos(e * pi / T)) / 2
    end
    return out
  elseif (e - 1 - T) % (2 * T) == 0 then
    local out = {}
    for i, base in ipairs(self.base_lrs) do
      out[i] = lrs[i] + (base - eta) * (1 - cos(pi / T)) / 2
    end
    return out
  else
    local ratio = (1 + cos(pi * e / T)) / (1 + cos(pi * (e - 1) / T))
    for i = 1, #lrs do lrs[i] = ratio * (lrs[i] - eta) + eta end
  end
  return lrs
end

function CosineAnnealingLR:_closed_form_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    out[i] = self.eta_min + (base - self.eta_min) *
        (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
  end
  return out
end

-- ---------------------------------------------------------------- LinearLR

-- The linear warm-up: the lr factor goes from start_factor at epoch 0 to end_factor at
-- total_iters, then stays.
local LinearLR = class("LinearLR", LRScheduler)
M.LinearLR = LinearLR
LinearLR.STATE_KEYS = state_keys({ "start_factor", "end_factor", "total_iters" })

function LinearLR:__init(optimizer, ...)
  local a = read_args("LinearLR", {}, { "start_factor", "end_factor", "total_iters", "last_epoch" },
    ...)
  self.start_factor = util.number("LinearLR", "start_factor", a.start_factor, 1.0 / 3,
    { above = 0, max = 1 })
  self.end_factor = util.number("LinearLR", "end_factor", a.end_factor, 1.0, { min = 0, max = 1 })
  self.total_iters = util.integer("LinearLR", "total_iters", a.total_iters, 5, 1)
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function LinearLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  local s, e, n = self.start_factor, self.end_factor, self.total_iters
  if self.last_epoch == 0 then
    for i = 1, #lrs do lrs[i] = lrs[i] * s end
  elseif self.last_epoch <= n and not self._is_initial then
    local f = 1.0 + (e - s) / (n * s + (self.last_epoch - 1) * (e - s))
    for i = 1, #lrs do lrs[i] = lrs[i] * f end
  end
  return lrs
end

function LinearLR:_closed_form_lr()
  local s, e, n = self.start_factor, self.end_factor, self.total_iters
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    out[i] = base * (s + (e - s) * math.min(n, self.last_epoch) / n)
  end
  return out
end

-- ---------------------------------------------------------------- SequentialLR

-- Runs schedulers one after another: schedulers[1] until epoch milestones[1], then
-- schedulers[2] (restarted at its epoch 0), and so on.  The schedulers must share the optimizer.
local SequentialLR = class("SequentialLR", LRScheduler)
M.SequentialLR = SequentialLR
SequentialLR.STATE_KEYS = { "last_epoch", "_milestones", "_last_lr", "_schedulers" }

function SequentialLR:__init(optimizer, ...)
  local name = "SequentialLR"
  local a = read_args(name, { "schedulers", "milestones" }, { "last_epoch" }, ...)
  check_optimizer(name, optimizer)
  local scheds, ms = a.schedulers, a.milestones
  if type(scheds) ~= "table" or getmetatable(scheds) ~= nil then
    util.fail(name, "schedulers", "a list of schedulers", scheds)
  end
  if #scheds < 1 then raise(name .. ": expects at least one scheduler, got none") end
  for i, s in ipairs(scheds) do
    if not class.isinstance(s, LRScheduler) then
      raise(string.format("%s: schedulers[%d] is %s, expected a scheduler", name, i,
        util.describe(s)))
    end
    if class.isinstance(s, M.ReduceLROnPlateau) then
      raise(string.format("%s: schedulers[%d] is a ReduceLROnPlateau, which steps on a metric " ..
        "and cannot be sequenced", name, i))
    end
    if not rawequal(s.optimizer, optimizer) then
      raise(string.format("%s: schedulers[%d] drives another optimizer than the one given", name,
        i))
    end
  end
  if type(ms) ~= "table" or #ms ~= #scheds - 1 then
    raise(string.format("%s: expects one milestone fewer than schedulers: %d schedulers, %s " ..
      "milestones", name, #scheds, type(ms) == "table" and tostring(#ms) or util.describe(ms)))
  end
  self._milestones = {}
  for i = 1, #ms do
    self._milestones[i] = util.integer(name, "milestones", ms[i])
    if i > 1 and self._milestones[i] < self._milestones[i - 1] then
      raise(string.format("%s: milestones must be in increasing order, got %d after %d", name,
        self._milestones[i], self._milestones[i - 1]))
    end
  end
  local last_epoch = util.integer(name, "last_epoch", a.last_epoch, -1, -1)
  self._schedulers = {}
  for i, s in ipairs(scheds) do self._schedulers[i] = s end
  self.last_epoch = last_epoch + 1
  self.optimizer = optimizer
  -- back to the initial lrs, undo the step each scheduler took when it was built, and start
  -- the one whose epochs these are: schedulers[k + 1] runs from epoch milestones[k] on, so a
  -- milestone of 0 starts the second one (as torch's bisect_right)
  for _, group in ipairs(optimizer.param_groups) do group.lr = group.initial_lr end
  for _, s in ipairs(self._schedulers) do s.last_epoch = s.last_epoch - 1 end
  local first = 1
  for _, m in ipairs(self._milestones) do
    if m <= self.last_epoch then first = first + 1 end
  end
  self._schedulers[first]:_initial_step()
  self._last_lr = self._schedulers[first]:get_last_lr()
end

function SequentialLR:step(epoch)
  if epoch ~= nil then raise("SequentialLR:step: takes no epoch") end
  self.last_epoch = self.last_epoch + 1
  local idx = 0
  for _, m in ipairs(self._milestones) do
    if m <= self.last_epoch then idx = idx + 1 end
  end
  local s = self._schedulers[idx + 1]
  if idx > 0 and self._milestones[idx] == self.last_epoch then
    s:step(0)
  else
    s:step()
  end
  self._last_lr = s:get_last_lr()
end

function SequentialLR:state_dict()
  local scheds = {}
  for i, s in ipairs(self._schedulers) do scheds[i] = s:state_dict() end
  return { last_epoch = self.last_epoch, _milestones = util.copy(self._milestones),
    _last_lr = util.copy(self._last_lr), _schedulers = scheds }
end

function SequentialLR:load_state_dict(sd)
  self:_prepare_load(sd)()
end
SequentialLR._stock_load = SequentialLR.load_state_dict

-- Every scheduler's state checked before any is installed.
function SequentialLR:_prepare_load(sd)
  local fname = "SequentialLR:load_state_dict"
  if type(sd) ~= "table" then
    raise(string.format("%s: expected a state dict table, got %s", fname, util.describe(sd)))
  end
  util.check_options(fname, sd, self.STATE_KEYS, "key")
  if type(sd._schedulers) ~= "table" or #sd._schedulers ~= #self._schedulers then
    raise(string.format("%s: the state dict must hold the state of %d schedulers", fname,
      #self._schedulers))
  end
  if math.type(sd.last_epoch) ~= "integer" then
    raise(string.format("%s: 'last_epoch' must be an integer, got %s", fname, util.describe(sd.last_epoch)))
  end
  if type(sd._milestones) ~= "table" or #sd._milestones ~= #self._schedulers - 1 then
    raise(string.format("%s: '_milestones' must list %d milestones, got %s", fname, #self._schedulers - 1,
      util.describe(sd._milestones)))
  end
  check_group_list(fname, self.optimizer, "_last_lr", sd._last_lr)
  for k, rule in pairs({ _milestones = STATE_RULES.milestones, _last_lr = STATE_RULES._last_lr }) do
    local want = rule(sd[k])
    if want then
      raise(string.format("%s: the state dict's '%s' must be %s, got %s", fname, k, want,
        util.describe(sd[k])))
    end
  end
  local installs = {}
  for i, s in ipairs(self._schedulers) do installs[i] = util.prepare_load(s, sd._schedulers[i]) end
  local last_epoch, milestones, last_lr = sd.last_epoch, util.copy(sd._milestones), util.copy(sd._last_lr)
  return function()
    for _, install in ipairs(installs) do install() end
    self.last_epoch, self._milestones, self._last_lr = last_epoch, milestones, last_lr
  end
end

-- ---------------------------------------------------------------- LambdaLR, MultiplicativeLR

local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

-- lr_lambda as one function per param group: a function (or a callable table) serves every
-- group; a list must have one per group.
local function read_lambdas(name, optimizer, f)
  check_optimizer(name, optimizer)
  local n = #optimizer.param_groups
  local out = {}
  if is_callable(f) then
    for i = 1, n do out[i] = f end
    return out
  end
  if type(f) ~= "table" then
    util.fail(name, "lr_lambda", "a function or a list of functions (one per param group)", f)
  end
  if #f ~= n then
    raise(string.format("%s: expected %d lr_lambdas (one per param group), got %d", name, n, #f))
  end
  for i = 1, n do
    if not is_callable(f[i]) then
      raise(string.format("%s: lr_lambda[%d] is %s, expected a function", name, i,
        util.describe(f[i])))
    end
    out[i] = f[i]
  end
  return out
end

-- The factor lr_lambdas[i] gives for `epoch`, checked.
local function lambda_factor(self, i, epoch)
  local v = self.lr_lambdas[i](epoch)
  if type(v) ~= "number" then
    raise(string.format("%s: lr_lambda[%d](%d) returned %s, expected a number", self.__name, i,
      epoch, util.describe(v)))
  end
  return v
end

-- lr = initial_lr * lr_lambda(epoch).  The functions are not part of the state dict (torch saves
-- None for a function): build the scheduler with the same functions, then load the state.
local LambdaLR = class("LambdaLR", LRScheduler)
M.LambdaLR = LambdaLR

function LambdaLR:__init(optimizer, ...)
  local a = read_args("LambdaLR", { "lr_lambda" }, { "last_epoch" }, ...)
  self.lr_lambdas = read_lambdas("LambdaLR", optimizer, a.lr_lambda)
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function LambdaLR:get_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = base * lambda_factor(self, i, self.last_epoch) end
  return out
end

-- lr = the lr in force * lr_lambda(epoch), from epoch 1 on (the constructor's step leaves the
-- lrs as they are).  Only the recursive form exists, so step(epoch) multiplies by
-- lr_lambda(epoch) once.
local MultiplicativeLR = class("MultiplicativeLR", LRScheduler)
M.MultiplicativeLR = MultiplicativeLR

function MultiplicativeLR:__init(optimizer, ...)
  local a = read_args("MultiplicativeLR", { "lr_lambda" }, { "last_epoch" }, ...)
  self.lr_lambdas = read_lambdas("MultiplicativeLR", optimizer, a.lr_lambda)
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function MultiplicativeLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  if self._is_initial then return lrs end
  -- one lr per lr_lambda: a group added after the scheduler was built has none (torch refuses)
  local out = {}
  for i = 1, #self.lr_lambdas do out[i] = lrs[i] * lambda_factor(self, i, self.last_epoch) end
  return out
end

-- ---------------------------------------------------------------- ConstantLR

-- lr = initial_lr * factor until epoch total_iters, then initial_lr.
local ConstantLR = class("ConstantLR", LRScheduler)
M.ConstantLR = ConstantLR
ConstantLR.STATE_KEYS = state_keys({ "factor", "total_iters" })
ConstantLR.RULES = { factor = number_rule({ above = 0, max = 1 }, "a number in (0, 1]") }

function ConstantLR:__init(optimizer, ...)
  local a = read_args("ConstantLR", {}, { "factor", "total_iters", "last_epoch" }, ...)
  -- torch takes factor in [0, 1]; at 0 its recursive form divides by zero at total_iters
  self.factor = util.number("ConstantLR", "factor", a.factor, 1.0 / 3, { above = 0, max = 1 })
  self.total_iters = util.integer("ConstantLR", "total_iters", a.total_iters, 5, 1)
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function ConstantLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  if self.last_epoch == 0 then
    for i = 1, #lrs do lrs[i] = lrs[i] * self.factor end
  elseif self.last_epoch == self.total_iters then
    for i = 1, #lrs do lrs[i] = lrs[i] * (1.0 / self.factor) end
  end
  return lrs
end

function ConstantLR:_closed_form_lr()
  local out = {}
  local f = self.factor + (self.last_epoch >= self.total_iters and 1 - self.factor or 0.0)
  for i, base in ipairs(self.base_lrs) do out[i] = base * f end
  return out
end

-- ---------------------------------------------------------------- PolynomialLR

-- lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ^ power: 0 from total_iters on.
local PolynomialLR = class("PolynomialLR", LRScheduler)
M.PolynomialLR = PolynomialLR
PolynomialLR.STATE_KEYS = state_keys({ "total_iters", "power" })

function PolynomialLR:__init(optimizer, ...)
  local a = read_args("PolynomialLR", {}, { "total_iters", "power", "last_epoch" }, ...)
  self.total_iters = util.integer("PolynomialLR", "total_iters", a.total_iters, 5, 1)
  self.power = util.number("PolynomialLR", "power", a.power, 1.0, { min = 0 })
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function PolynomialLR:get_lr()
  local lrs = group_lrs(self.optimizer)
  local e, n = self.last_epoch, self.total_iters
  if self._is_initial or e > n then return lrs end
  local f = ((1.0 - e / n) / (1.0 - (e - 1) / n)) ^ self.power
  for i = 1, #lrs do lrs[i] = lrs[i] * f end
  return lrs
end

function PolynomialLR:_closed_form_lr()
  local out = {}
  local n = self.total_iters
  for i, base in ipairs(self.base_lrs) do
    out[i] = base * (1.0 - math.min(n, self.last_epoch) / n) ^ self.power
  end
  return out
end

-- ReduceLROnPlateau and the cyclic schedules live in their own files, sharing this one's base
-- class and rules.
local impl = {
  LRScheduler = LRScheduler, check_optimizer = check_optimizer, class = class, graphids = graphids,
  group_lrs = group_lrs, list_rule = list_rule, number_rule = number_rule, raise = raise,
  read_args = read_args, state_keys = state_keys, util = util
}
require("graphids.optim.lr_plateau").install(M, impl)
require("graphids.optim.lr_cyclic").install(M, impl)

return M
