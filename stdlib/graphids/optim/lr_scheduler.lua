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
  for i, group in ipairs(self.optimizer.param_groups) do
    if values[i] ~= nil then group.lr = values[i] end
  end
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
  local ngroups = #self.optimizer.param_groups
  for _, k in ipairs({ "base_lrs", "_last_lr", "min_lrs" }) do
    if sd[k] ~= nil and (type(sd[k]) ~= "table" or #sd[k] ~= ngroups) then
      raise(string.format("%s: '%s' must list one value per param group (%d), got %s", fname, k,
        ngroups, type(sd[k]) == "table" and #sd[k] .. " values" or util.describe(sd[k])))
    end
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
  if self._step_count == 1 and e > 0 then
    for i, base in ipairs(self.base_lrs) do
      lrs[i] = eta + (base - eta) * (1 + cos(e * pi / T)) / 2
    end
  elseif (e - 1 - T) % (2 * T) == 0 then
    for i, base in ipairs(self.base_lrs) do
      lrs[i] = lrs[i] + (base - eta) * (1 - cos(pi / T)) / 2
    end
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
  local ngroups = #self.optimizer.param_groups
  if type(sd._last_lr) ~= "table" or #sd._last_lr ~= ngroups then
    raise(string.format("%s: '_last_lr' must list one value per param group (%d), got %s", fname, ngroups,
      util.describe(sd._last_lr)))
  end
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

-- ---------------------------------------------------------------- ReduceLROnPlateau

-- Multiplies the lr by `factor` when a metric has not improved for more than `patience` steps
-- (by `threshold`, relative or absolute), then waits `cooldown` steps; lrs never go below
-- min_lr (a number, or one per group), and a change smaller than eps is not made.
--   local s = sched.ReduceLROnPlateau(opt, { mode = "min", factor = 0.1, patience = 10,
--     threshold = 1e-4, threshold_mode = "rel", cooldown = 0, min_lr = 0, eps = 1e-8 })
--   s:step(val_loss)     -- a number or a one-element tensor
local ReduceLROnPlateau = class("ReduceLROnPlateau", LRScheduler)
M.ReduceLROnPlateau = ReduceLROnPlateau
ReduceLROnPlateau.STATE_KEYS = { "factor", "min_lrs", "patience", "cooldown", "cooldown_counter",
  "mode", "threshold", "threshold_mode", "best", "num_bad_epochs", "mode_worse", "eps",
  "last_epoch", "_last_lr" }

function ReduceLROnPlateau:__init(optimizer, ...)
  local name = "ReduceLROnPlateau"
  local a = read_args(name, {}, { "mode", "factor", "patience", "threshold", "threshold_mode",
    "cooldown", "min_lr", "eps" }, ...)
  check_optimizer(name, optimizer)
  self.optimizer = optimizer
  self.factor = util.number(name, "factor", a.factor, 0.1, { below = 1 })
  local ngroups = #optimizer.param_groups
  self.min_lrs = {}
  if type(a.min_lr) == "table" then
    if #a.min_lr ~= ngroups then
      raise(string.format("%s: expected %d min_lrs (one per param group), got %d", name, ngroups,
        #a.min_lr))
    end
    for i = 1, ngroups do self.min_lrs[i] = util.number(name, "min_lr", a.min_lr[i]) end
  else
    local m = util.number(name, "min_lr", a.min_lr, 0)
    for i = 1, ngroups do self.min_lrs[i] = m end
    -- (as torch's default_min_lr: also the floor of a param group added later; not part of
    -- the state, which the constructor's arguments rebuild)
    self.default_min_lr = m
  end
  self.patience = util.integer(name, "patience", a.patience, 10, 0)
  self.cooldown = util.integer(name, "cooldown", a.cooldown, 0, 0)
  self.mode = util.choice(name, "mode", a.mode, "min", { "min", "max" })
  self.threshold = util.number(name, "threshold", a.threshold, 1e-4)
  self.threshold_mode = util.choice(name, "threshold_mode", a.threshold_mode, "rel",
    { "rel", "abs" })
  self.eps = util.number(name, "eps", a.eps, 1e-8)
  self.mode_worse = self.mode == "min" and math.huge or -math.huge
  self.last_epoch = 0
  self._last_lr = group_lrs(optimizer)
  self:_reset()
end

function ReduceLROnPlateau:_reset()
  self.best = self.mode_worse
  self.cooldown_counter = 0
  self.num_bad_epochs = 0
end

function ReduceLROnPlateau:is_better(a, best)
  local t = self.threshold
  if self.mode == "min" then
    if self.threshold_mode == "rel" then return a < best * (1 - t) end
    return a < best - t
  end
  if self.threshold_mode == "rel" then return a > best * (t + 1) end
  return a > best + t
end

function ReduceLROnPlateau:step(metrics, epoch)
  local name = "ReduceLROnPlateau:step"
  local current = metrics
  if graphids.is_tensor(current) then
    if current:numel() ~= 1 then
      raise(string.format("%s: the metric must be a number or a one-element tensor, got a " ..
        "tensor of %d elements", name, current:numel()))
    end
    current = current:item()
  end
  if type(current) ~= "number" then
    raise(string.format("%s: the metric must be a number, got %s", name, util.describe(current)))
  end
  if epoch == nil then epoch = self.last_epoch + 1 end
  self.last_epoch = util.integer(name, "epoch", epoch)
  if self:is_better(current, self.best) then
    self.best = current
    self.num_bad_epochs = 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0 -- bad epochs in cooldown do not count
  end
  if self.num_bad_epochs > self.patience then
    self:_reduce_lr()
    self.cooldown_counter = self.cooldown
    self.num_bad_epochs = 0
  end
  self._last_lr = group_lrs(self.optimizer)
end

function ReduceLROnPlateau:_reduce_lr()
  local groups = self.optimizer.param_groups
  if #self.min_lrs ~= #groups then
    -- a param group added since: a single min_lr floors it too; a list names no floor for it
    if self.default_min_lr == nil then
      raise(string.format("ReduceLROnPlateau: min_lr lists %d values but the optimizer now has %d " ..
        "param groups (one was added after the scheduler was built); give min_lr as one number, or " ..
        "build the scheduler after adding the group", #self.min_lrs, #groups))
    end
    for i = 1, #groups do self.min_lrs[i] = self.min_lrs[i] or self.default_min_lr end
  end
  for i, group in ipairs(groups) do
    local old = group.lr
    local new = math.max(old * self.factor, self.min_lrs[i])
    if old - new > self.eps then group.lr = new end
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
  for i = 1, #self.lr_lambdas do
    if lrs[i] ~= nil then lrs[i] = lrs[i] * lambda_factor(self, i, self.last_epoch) end
  end
  return lrs
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

-- ---------------------------------------------------------------- CosineAnnealingWarmRestarts

-- Cosine annealing from initial_lr to eta_min over T_i epochs, then a restart at initial_lr;
-- the first period is T_0 epochs and each next one T_mult times the last (SGDR).
--   lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
-- step(epoch) takes a fractional epoch (a step per batch: epoch + i / iters); torch's closed
-- form of where that epoch falls.  As in torch, its steps leave _step_count at 0.
local CosineAnnealingWarmRestarts = class("CosineAnnealingWarmRestarts", LRScheduler)
M.CosineAnnealingWarmRestarts = CosineAnnealingWarmRestarts
CosineAnnealingWarmRestarts.STATE_KEYS = state_keys({ "T_0", "T_i", "T_mult", "eta_min", "T_cur" })

function CosineAnnealingWarmRestarts:__init(optimizer, ...)
  local name = "CosineAnnealingWarmRestarts"
  local a = read_args(name, { "T_0" }, { "T_mult", "eta_min", "last_epoch" }, ...)
  self.T_0 = util.integer(name, "T_0", a.T_0, nil, 1)
  self.T_i = self.T_0
  self.T_mult = util.integer(name, "T_mult", a.T_mult, 1, 1)
  self.eta_min = util.number(name, "eta_min", a.eta_min, 0.0)
  self.T_cur = util.integer(name, "last_epoch", a.last_epoch, -1, -1)
  LRScheduler.__init(self, optimizer, a.last_epoch)
end

function CosineAnnealingWarmRestarts:get_lr()
  local out = {}
  local eta = self.eta_min
  for i, base in ipairs(self.base_lrs) do
    out[i] = eta + (base - eta) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
  end
  return out
end

local function ipow(b, n)
  local r = 1
  for _ = 1, n do r = r * b end
  return r
end

function CosineAnnealingWarmRestarts:step(epoch)
  local name = "CosineAnnealingWarmRestarts:step"
  if epoch ~= nil then
    if type(epoch) ~= "number" or epoch ~= epoch or epoch == math.huge then
      raise(string.format("%s: epoch must be a finite number, got %s", name, util.describe(epoch)))
    end
    if epoch < 0 then
      raise(string.format("%s: expected a non-negative epoch, got %s", name, tostring(epoch)))
    end
  end
  if epoch == nil and self.last_epoch < 0 then epoch = 0 end
  local T_0, T_mult = self.T_0, self.T_mult
  if epoch == nil then
    epoch = self.last_epoch + 1
    self.T_cur = self.T_cur + 1
    if self.T_cur >= self.T_i then
      self.T_cur = self.T_cur % self.T_i
      self.T_i = self.T_i * T_mult
    end
  elseif epoch >= T_0 then
    if T_mult == 1 then
      self.T_cur = epoch % T_0
    else
      -- torch's int(math.log(x, T_mult)): Python's log(x) / log(base), truncated
      local n = math.floor(math.log(epoch / T_0 * (T_mult - 1) + 1) / math.log(T_mult))
      self.T_cur = epoch - T_0 * (ipow(T_mult, n) - 1) / (T_mult - 1)
      self.T_i = T_0 * ipow(T_mult, n)
    end
  else
    self.T_i = T_0
    self.T_cur = epoch
  end
  self.last_epoch = math.floor(epoch)
  local values = self:get_lr()
  for i, group in ipairs(self.optimizer.param_groups) do
    if values[i] ~= nil then group.lr = values[i] end
  end
  self._last_lr = group_lrs(self.optimizer)
end

-- ---------------------------------------------------------------- OneCycleLR

-- The 1cycle policy (Smith & Topin), stepped once per batch: the lr rises from
-- max_lr / div_factor to max_lr over the first pct_start of total_steps, then falls to
-- initial_lr / final_div_factor (three_phase: back to initial_lr first, symmetrically, then to
-- the minimum); with cycle_momentum the momentum (SGD, RMSprop) or beta1 (Adam, AdamW) moves
-- the other way between max_momentum and base_momentum.  As in torch, each group holds its
-- initial_lr, max_lr, min_lr, max_momentum and base_momentum (saved in the optimizer's state
-- dict), and a step past total_steps raises.
--   local s = sched.OneCycleLR(opt, { max_lr = 0.1, epochs = 10, steps_per_epoch = #loader })
local OneCycleLR = class("OneCycleLR", LRScheduler)
M.OneCycleLR = OneCycleLR
OneCycleLR.STATE_KEYS = state_keys({ "total_steps", "_schedule_phases", "_anneal_func_type",
  "cycle_momentum", "use_beta1" })
-- the linear strategy's last step (step total_steps, past the last phase's end) extrapolates
-- below min_lr, to a negative lr, as torch's does
OneCycleLR.RULES = { _last_lr = list_rule(number_rule({}, "a finite number"), "a list of finite numbers") }

-- A number, or a list of one per param group, as a list of one per param group.
local function per_group(name, key, v, default, ngroups, limits)
  if v == nil then v = default end
  local out = {}
  if type(v) == "table" and getmetatable(v) == nil then
    if #v ~= ngroups then
      raise(string.format("%s: %s must have the same length as optimizer.param_groups: %s has %d " ..
        "values, param_groups has %d", name, key, key, #v, ngroups))
    end
    for i = 1, ngroups do out[i] = util.number(name, key, v[i], nil, limits) end
  else
    local x = util.number(name, key, v, nil, limits)
    for i = 1, ngroups do out[i] = x end
  end
  return out
end

local function phase(end_step, start_lr, end_lr, start_m, end_m)
  return { end_step = end_step, start_lr = start_lr, end_lr = end_lr, start_momentum = start_m,
    end_momentum = end_m }
end

function OneCycleLR:__init(optimizer, ...)
  local name = "OneCycleLR"
  local a = read_args(name, { "max_lr" }, { "total_steps", "epochs", "steps_per_epoch", "pct_start",
    "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum", "div_factor",
    "final_div_factor", "three_phase", "last_epoch" }, ...)
  check_optimizer(name, optimizer)
  -- everything is checked before a group changes
  if a.total_steps ~= nil then
    self.total_steps = util.integer(name, "total_steps", a.total_steps, nil, 1)
  elseif a.epochs ~= nil and a.steps_per_epoch ~= nil then
    local epochs = util.integer(name, "epochs", a.epochs, nil, 1)
    self.total_steps = epochs * util.integer(name, "steps_per_epoch", a.steps_per_epoch, nil, 1)
  else
    raise(name .. ": give total_steps, or epochs and steps_per_epoch")
  end
  local pct = util.number(name, "pct_start", a.pct_start, 0.3, { min = 0, max = 1 }) + 0.0
  local n = self.total_steps
  if util.boolean(name, "three_phase", a.three_phase, false) then
    self._schedule_phases = {
      phase(pct * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
      phase(2 * pct * n - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
      phase(n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
    }
  else
    self._schedule_phases = {
      phase(pct * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
      phase(n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
    }
  end
  self._anneal_func_type = util.choice(name, "anneal_strategy", a.anneal_strategy, "cos",
    { "cos", "linear" })
  local groups = optimizer.param_groups
  local max_lrs = per_group(name, "max_lr", a.max_lr, nil, #groups, { min = 0 })
  local div = util.number(name, "div_factor", a.div_factor, 25.0, { above = 0 })
  local final_div = util.number(name, "final_div_factor", a.final_div_factor, 1e4, { above = 0 })
  self.cycle_momentum = util.boolean(name, "cycle_momentum", a.cycle_momentum, true)
  local max_ms, base_ms
  if self.cycle_momentum then
    if optimizer.defaults.momentum == nil and optimizer.defaults.betas == nil then
      raise(string.format("%s: cycle_momentum needs an optimizer with 'momentum' or 'betas' (%s has " ..
        "neither); pass cycle_momentum = false", name, optimizer.__name))
    end
    self.use_beta1 = optimizer.defaults.betas ~= nil
    max_ms = per_group(name, "max_momentum", a.max_momentum, 0.95, #groups, { min = 0 })
    base_ms = per_group(name, "base_momentum", a.base_momentum, 0.85, #groups, { min = 0 })
  else
    self.use_beta1 = false
  end
  local last_epoch = util.integer(name, "last_epoch", a.last_epoch, -1, -1)
  if last_epoch == -1 then
    for i, group in ipairs(groups) do
      group.initial_lr = max_lrs[i] / div
      group.max_lr = max_lrs[i]
      group.min_lr = group.initial_lr / final_div
      if self.cycle_momentum then
        if self.use_beta1 then
          group.betas = { max_ms[i], group.betas[2] }
        else
          group.momentum = max_ms[i]
        end
        group.max_momentum, group.base_momentum = max_ms[i], base_ms[i]
      end
    end
  else
    local need = { "max_lr", "min_lr" }
    if self.cycle_momentum then need = { "max_lr", "min_lr", "max_momentum", "base_momentum" } end
    for i, group in ipairs(groups) do
      for _, k in ipairs(need) do
        if group[k] == nil then
          raise(string.format("%s: param group %d has no '%s', which resuming with last_epoch=%d " ..
            "needs (load the optimizer's state dict first)", name, i, k, last_epoch))
        end
      end
    end
  end
  LRScheduler.__init(self, optimizer, last_epoch)
end

local function anneal(kind, start, stop, pct)
  if kind == "cos" then
    return stop + (start - stop) / 2.0 * (math.cos(math.pi * pct) + 1)
  end
  return (stop - start) * pct + start
end

local function too_many_steps(self, step_num)
  raise(string.format("OneCycleLR:step: tried to step %d times. The specified number of total " ..
    "steps is %d", step_num, self.total_steps))
end

function OneCycleLR:step(epoch)
  local next_epoch = epoch == nil and self.last_epoch + 1 or epoch
  -- checked before the count moves: a refused step leaves the schedule as it was
  if type(next_epoch) == "number" and next_epoch > self.total_steps then
    too_many_steps(self, next_epoch)
  end
  LRScheduler.step(self, epoch)
end

function OneCycleLR:get_lr()
  local step_num = self.last_epoch
  if step_num > self.total_steps then too_many_steps(self, step_num) end
  local phases, kind = self._schedule_phases, self._anneal_func_type
  local lrs = {}
  for gi, group in ipairs(self.optimizer.param_groups) do
    local function get(k)
      local v = group[k]
      if v == nil then
        raise(string.format("OneCycleLR: param group %d has no '%s' (was it added after the " ..
          "scheduler was built?)", gi, k))
      end
      return v
    end
    local start_step = 0.0
    for pi, ph in ipairs(phases) do
      local end_step = ph.end_step
      if step_num <= end_step or pi == #phases then
        if end_step == start_step then
          raise(string.format("OneCycleLR: phase %d of the schedule has no steps (it ends at step " ..
            "%s, where it starts); change pct_start or total_steps", pi, tostring(end_step)))
        end
        local pct = (step_num - start_step) / (end_step - start_step)
        lrs[gi] = anneal(kind, get(ph.start_lr), get(ph.end_lr), pct)
        if self.cycle_momentum then
          local m = anneal(kind, get(ph.start_momentum), get(ph.end_momentum), pct)
          if self.use_beta1 then
            group.betas = { m, group.betas[2] }
          else
            group.momentum = m
          end
        end
        break
      end
      start_step = end_step
    end
  end
  return lrs
end

return M
