-- optim/lr_plateau.lua -- ReduceLROnPlateau: the lr cut by a factor when a metric stops
-- improving (torch.optim.lr_scheduler's).
-- Installed into graphids.optim.lr_scheduler by that module, which passes the scheduler base
-- class and the argument and state rules it shares with these (I); use them from there:
-- graphids.optim.lr_scheduler.X.
local P = {}

function P.install(M, I)
  local class = I.class
  local graphids = I.graphids
  local util = I.util
  local raise = I.raise
  local LRScheduler = I.LRScheduler
  local read_args = I.read_args
  local check_optimizer = I.check_optimizer
  local group_lrs = I.group_lrs

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
      -- (>= 0, as the state dict's rule: a floor the constructor took must load on resume)
      for i = 1, ngroups do self.min_lrs[i] = util.number(name, "min_lr", a.min_lr[i], nil, { min = 0 }) end
    else
      local m = util.number(name, "min_lr", a.min_lr, 0, { min = 0 })
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
end

return P
