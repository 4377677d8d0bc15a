-- optim/lr_cyclic.lua -- the per-batch cyclic schedules: CosineAnnealingWarmRestarts and
-- OneCycleLR (torch.optim.lr_scheduler's).
-- Installed into graphids.optim.lr_scheduler by that module, which passes the scheduler base
-- class and the argument and state rules it shares with these (I); use them from there:
-- graphids.optim.lr_scheduler.X.
local P = {}

function P.install(M, I)
  local class = I.class
  local util = I.util
  local raise = I.raise
  local LRScheduler = I.LRScheduler
  local read_args = I.read_args
  local check_optimizer = I.check_optimizer
  local state_keys = I.state_keys
  local number_rule = I.number_rule
  local list_rule = I.list_rule

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
    self:_apply_lrs(self:get_lr())
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
end

return P
