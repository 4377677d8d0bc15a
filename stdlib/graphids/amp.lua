-- graphids.amp -- automatic mixed precision: the loss scaler (docs/amp.md).
--   local amp = require "graphids.amp"
--   local scaler = amp.GradScaler{init_scale = 65536}
--   local loss = graphids.autocast("f16", model.forward, model, x)   -- matmuls in f16
--   scaler:scale(loss):backward()      -- gradients of loss * scale: small ones survive f16
--   scaler:unscale_(opt)               -- optional: before clipping, grads back to true size
--   scaler:step(opt)                   -- skipped when a gradient is inf or NaN
--   scaler:update()                    -- halves the scale after an overflow, doubles it after
--                                      -- growth_interval clean steps
-- The semantics are torch.amp.GradScaler's: the same defaults, the same update rule (a grown
-- scale that would be inf is not taken), the same state_dict keys (scale, growth_factor,
-- backoff_factor, growth_interval, _growth_tracker) and the same errors for calls out of order.
-- The scale is a Lua number holding the f32 value torch's scale tensor holds (every new scale is
-- rounded to f32: a grown scale past f32's range is inf and not taken, a backed-off one can reach
-- 0 as torch's does), so reading it never synchronises the GPU; finding inf/NaN costs one read
-- of a count per device per unscale_.  A disabled scaler passes everything through (scale
-- returns the loss, step just steps).
local graphids = require "graphids"
local class = require "graphids.class"
local U = require "graphids.nn._util"

local M = {}

-- The trainer's precision choices (Lightning's names), in order, and the autocast dtype of each
-- (false: none).
M.PRECISIONS = { "32", "bf16-mixed", "16-mixed" }
local AUTOCAST = { ["32"] = false, ["bf16-mixed"] = "bf16", ["16-mixed"] = "f16" }

-- The autocast dtype of precision p ("bf16", "f16" or nil for "32"), or nil and the end of an
-- error message ("must be one of ..." / "'bf16-mixed' needs a CUDA device ...", the caller
-- names the option) for an unknown precision or a mixed one on the CPU, where autocast would
-- change nothing (no half storage) and a run that asked for it would silently train in f32.
function M.precision_autocast(precision, device)
  local dt = AUTOCAST[precision]
  if dt == nil then
    return nil, string.format("must be one of %s, got %s",
      table.concat(M.PRECISIONS, ", "), type(precision) == "string" and "'" .. precision .. "'"
        or tostring(precision))
  end
  if dt and not (type(device) == "string" and device:match("^cuda")) then
    return nil, string.format("'%s' needs a CUDA device (device is '%s'): the CPU has " ..
      "no half storage and autocast does nothing there; use precision '32'", precision,
      tostring(device))
  end
  return dt or nil
end

local GradScaler = class("GradScaler")
M.GradScaler = GradScaler

-- The inf/NaN counts of tensors on several devices: one 0-d tensor per device (in the order the
-- devices first appear), each from one graphids.count_nonfinite and not read back (the scaler's
-- unscale_ and the Trainer's gradient check read them when they need them).
function M.nonfinite_counts(tensors)
  local by_device, devices = {}, {}
  for _, t in ipairs(tensors) do
    local d = t.device
    if by_device[d] == nil then
      devices[#devices + 1] = d
      by_device[d] = {}
    end
    local list = by_device[d]
    list[#list + 1] = t
  end
  local counts = {}
  for i, d in ipairs(devices) do counts[i] = graphids.count_nonfinite(by_device[d]) end
  return counts
end

local DEFAULTS = {
  init_scale = 65536.0, growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 2000,
  enabled = true,
}

-- The per-optimizer stage within one iteration (torch's OptState).
local READY, UNSCALED, STEPPED = "ready", "unscaled", "stepped"

-- level: the caller's error level (this function adds its own frame).
local function positive(name, v, level)
  if type(v) ~= "number" or not (v > 0) or v == math.huge then -- luacheck: ignore 581 (NaN fails)
    error(string.format("GradScaler: %s must be a finite number > 0, got %s", name, U.describe(v)), level + 1)
  end
end

-- x rounded to f32 (torch keeps the scale in an f32 tensor): inf past f32's range, 0 below it.
local function f32(x)
  return (string.unpack("f", string.pack("f", x)))
end

-- Why v (a number > 0) cannot be a scale, or nil: the scale is stored in f32, where a value past
-- its range is inf (every step skipped for good) and one below its smallest subnormal is 0.
local function f32_scale_problem(v)
  local x = f32(v)
  if x == math.huge then
    return string.format("%s is past f32's range (the scale is an f32: at most %.17g)", U.describe(v),
      f32(2 ^ 128 - 2 ^ 104))
  elseif x == 0 then
    return string.format("%s rounds to 0 in f32 (the scale is an f32: at least %.17g)", U.describe(v),
      2 ^ -149)
  end
  return nil
end

-- v as the scale (rounded to f32), checked: a finite number > 0 that f32 holds.
local function scale_value(name, v, level)
  positive(name, v, level + 1)
  local problem = f32_scale_problem(v)
  if problem then error(string.format("GradScaler: %s %s", name, problem), level + 1) end
  return f32(v)
end

function GradScaler:__init(opts)
  local o = U.options("GradScaler", opts, DEFAULTS, U.CTOR)
  local init_scale = scale_value("init_scale", o.init_scale, U.CTOR)
  positive("growth_factor", o.growth_factor, U.CTOR)
  positive("backoff_factor", o.backoff_factor, U.CTOR)
  if o.growth_factor <= 1 then -- (positive() refused NaN)
    error("GradScaler: growth_factor must be > 1, got " .. tostring(o.growth_factor), U.CTOR)
  end
  if o.backoff_factor >= 1 then
    error("GradScaler: backoff_factor must be < 1, got " .. tostring(o.backoff_factor), U.CTOR)
  end
  if math.type(o.growth_interval) ~= "integer" or o.growth_interval < 1 then
    error("GradScaler: growth_interval must be an integer >= 1, got " .. tostring(o.growth_interval),
      U.CTOR)
  end
  self.enabled = o.enabled
  self.scale_value = init_scale
  self.growth_factor, self.backoff_factor = o.growth_factor + 0.0, o.backoff_factor + 0.0
  self.growth_interval = o.growth_interval
  self.growth_tracker = 0
  -- optimizer -> {stage = READY|UNSCALED|STEPPED, found_inf = bool}; weak keys: an optimizer
  -- dropped between iterations does not stay alive here.
  self.per_opt = setmetatable({}, { __mode = "k" })
end

function GradScaler:is_enabled()
  return self.enabled
end

-- The current scale (1.0 when disabled, as torch).
function GradScaler:get_scale()
  return self.enabled and self.scale_value or 1.0
end

function GradScaler:get_growth_tracker()
  return self.growth_tracker
end

-- loss * scale (the loss itself when disabled).
function GradScaler:scale(loss)
  if not self.enabled then return loss end
  if not graphids.is_tensor(loss) then
    error("GradScaler:scale: expected a loss tensor, got " .. type(loss), 2)
  end
  return loss * self.scale_value
end

local function opt_state(self, opt)
  local st = self.per_opt[opt]
  if st == nil then
    st = { stage = READY, found_inf = false }
    self.per_opt[opt] = st
  end
  return st
end

local function check_optimizer(opt, fname)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" or type(opt.step) ~= "function" then
    error(string.format("GradScaler:%s: expected an optimizer (param_groups and step()), got %s",
      fname, class.name_of(opt)), 3)
  end
end

-- Divides every gradient of the optimizer's parameters by the scale, in place, and records
-- whether any of them holds an inf or NaN.  Once per optimizer per iteration.
function GradScaler:unscale_(opt)
  if not self.enabled then return end
  check_optimizer(opt, "unscale_")
  local st = opt_state(self, opt)
  if st.stage == UNSCALED then
    error("GradScaler:unscale_: already called on this optimizer since the last update()", 2)
  elseif st.stage == STEPPED then
    error("GradScaler:unscale_: called after step() (call update() first)", 2)
  end
  -- 1/scale as torch takes it (the f32 reciprocal; exact for the powers of two the scale
  -- normally is).
  local inv = f32(1.0 / self.scale_value)
  local grads = {}
  for _, group in ipairs(opt.param_groups) do
    for _, p in ipairs(group.params) do
      if p.grad ~= nil then grads[#grads + 1] = p.grad end
    end
  end
  graphids.no_grad(function()
    for _, g in ipairs(grads) do g:mul_(inv) end
  end)
  -- the inf/NaN count per device (torch keeps its inf checks per device too), one list kernel
  -- each, read once at the end: one synchronisation per device
  local count = 0
  for _, c in ipairs(M.nonfinite_counts(grads)) do count = count + c:item() end
  st.checked = #grads > 0
  st.found_inf = count > 0
  st.stage = UNSCALED
end

-- optimizer:step() unless a gradient is inf or NaN (then the step is skipped and nil returned);
-- unscales first when unscale_ was not called.  Returns what step() returned.
function GradScaler:step(opt, ...)
  if not self.enabled then return opt:step(...) end
  check_optimizer(opt, "step")
  local st = opt_state(self, opt)
  if st.stage == STEPPED then
    error("GradScaler:step: already called on this optimizer since the last update()", 2)
  end
  if st.stage == READY then self:unscale_(opt) end
  if not st.checked then
    -- (torch: "No inf checks were recorded for this optimizer."): stepping it would step nothing
    -- and count as a clean iteration towards growing the scale
    error("GradScaler:step: no inf checks were recorded for this optimizer (none of its " ..
      "parameters has a gradient)", 2)
  end
  local ret
  if not st.found_inf then ret = opt:step(...) end
  st.stage = STEPPED
  return ret
end

-- Whether the last unscale_ of opt found an inf or NaN (nil before any this iteration).
function GradScaler:found_inf(opt)
  local st = self.per_opt[opt]
  if st == nil or st.stage == READY then return nil end
  return st.found_inf
end

-- Ends the iteration: new_scale when given, else backoff_factor * scale after an inf/NaN in any
-- optimizer, growth_factor * scale after growth_interval clean iterations in a row (not taken
-- when it would be inf), else unchanged.
function GradScaler:update(new_scale)
  if not self.enabled then return end
  if new_scale ~= nil then
    self.scale_value = scale_value("new_scale", new_scale, 2)
  else
    local any, found = false, false
    for _, st in pairs(self.per_opt) do -- order-free: only an "or" over the optimizers
      -- (an unscale_ of an optimizer without gradients checked nothing: as torch, it is no
      -- clean iteration towards growing the scale)
      if st.stage ~= READY and st.checked then
        any = true
        found = found or st.found_inf
      end
    end
    if not any then
      error("GradScaler:update: no inf checks were recorded before update() (call step() or " ..
        "unscale_() first, on an optimizer whose parameters have gradients)", 2)
    end
    if found then
      self.scale_value = f32(self.scale_value * self.backoff_factor)
      self.growth_tracker = 0
    else
      local n = self.growth_tracker + 1
      if n == self.growth_interval then
        local grown = f32(self.scale_value * self.growth_factor)
        if grown ~= math.huge then self.scale_value = grown end
        n = 0
      end
      self.growth_tracker = n
    end
  end
  self.per_opt = setmetatable({}, { __mode = "k" })
end

-- torch's keys; {} when disabled.
function GradScaler:state_dict()
  if not self.enabled then return {} end
  return {
    scale = self.scale_value, growth_factor = self.growth_factor,
    backoff_factor = self.backoff_factor, growth_interval = self.growth_interval,
    _growth_tracker = self.growth_tracker,
  }
end

local SD_KEYS = { "_growth_tracker", "backoff_factor", "growth_factor", "growth_interval", "scale" }

-- nil when sd is an enabled scaler's state dict, else what is wrong with it (the trainer checks
-- a checkpoint's before a resume restores anything).
function GradScaler.state_error(sd)
  if type(sd) ~= "table" or next(sd) == nil then
    return "the state dict is empty, possibly saved from a disabled GradScaler"
  end
  local known = {}
  for _, k in ipairs(SD_KEYS) do
    known[k] = true
    if type(sd[k]) ~= "number" then
      return string.format("'%s' must be a number, got %s", k, U.describe(sd[k]))
    end
  end
  for _, k in ipairs(U.sorted_keys(sd)) do
    if not known[k] then
      return string.format("unknown key '%s' (expected %s)", tostring(k), table.concat(SD_KEYS, ", "))
    end
  end
  local checks = { { "scale", 0 }, { "growth_factor", 1 } }
  for _, c in ipairs(checks) do
    local v = sd[c[1]]
    if not (v > c[2]) or v == math.huge then -- luacheck: ignore 581 (NaN fails)
      return string.format("'%s' must be a finite number > %d, got %s", c[1], c[2], U.describe(v))
    end
  end
  local problem = f32_scale_problem(sd.scale)
  if problem then return "'scale' " .. problem end
  if not (sd.backoff_factor > 0 and sd.backoff_factor < 1) then
    return "'backoff_factor' must be between 0 and 1, got " .. U.describe(sd.backoff_factor)
  end
  local gi, gt = math.tointeger(sd.growth_interval), math.tointeger(sd._growth_tracker)
  if gi == nil or gi < 1 then
    return "'growth_interval' must be an integer >= 1, got " .. U.describe(sd.growth_interval)
  end
  if gt == nil or gt < 0 then
    return "'_growth_tracker' must be an integer >= 0, got " .. U.describe(sd._growth_tracker)
  end
  return nil
end

function GradScaler:load_state_dict(sd)
  if not self.enabled then return end
  local err = GradScaler.state_error(sd)
  if err then error("GradScaler:load_state_dict: " .. err, 2) end
  local gi, gt = math.tointeger(sd.growth_interval), math.tointeger(sd._growth_tracker)
  -- JSON gives 65536 back as an integer: the scale and factors are floats again here
  self.scale_value = f32(sd.scale)
  self.growth_factor, self.backoff_factor = sd.growth_factor + 0.0, sd.backoff_factor + 0.0
  self.growth_interval, self.growth_tracker = gi, gt
end

return M
