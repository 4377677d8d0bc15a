-- graphids.trainer.fit_loop -- the Trainer's fit loop: epochs, their training batches (the checks
-- before a step, clipping, mixed precision's scaler), validation, the scheduler step and the
-- epoch-end hooks.  Installed on the class by graphids.trainer (its init.lua), which hands over
-- the helpers it shares with test and predict: on_device, ctx_of, run_step, optimizer_params,
-- say.  docs/trainer.md, "One epoch", describes what this does.
local graphids = require "graphids"
local optim = require "graphids.optim"
local EpochMean = require "graphids.trainer.epoch_mean"
local grad_check = require "graphids.trainer.grad_check"

return function(Trainer, h)
  local on_device, ctx_of, run_step, optimizer_params, say =
    h.on_device, h.ctx_of, h.run_step, h.optimizer_params, h.say

  -- (graphids.trainer.epoch_mean: the graph-weighted means, and the step's values read in one copy)
  local new_mean = EpochMean.new

  -- The weight of a batch in the epoch means: its graphs (num_graphs), else its labels' count
  -- (fusion batches {states, labels}), else 1.
  local function batch_size(batch)
    if type(batch) ~= "table" then return 1 end
    local n = batch.num_graphs
    if math.type(n) == "integer" and n > 0 then return n end
    local y = batch.labels or batch.y
    if graphids.is_tensor(y) and y:numel() > 0 then return y:numel() end
    return 1
  end

  function Trainer:_train_epoch()
    local model, dm, opt = self.model, self.datamodule, self.optimizer
    local params = optimizer_params(opt)
    local mean = new_mean(self._resume_sums)
    self._resume_sums = nil
    self._epoch_mean = mean -- (what a mid-epoch save_checkpoint records)
    local stepped = false
    local loader_len
    local ok_len, train_loader = pcall(dm.train_loader, dm)
    if ok_len and train_loader then loader_len = #train_loader end
    self.progress:epoch_start(self.epoch, self.max_epochs, loader_len)
    model:train()
    local ctx = ctx_of(self)
    local manual = model.automatic_optimization == false
    for batch, i in dm:train_batches() do
      batch = on_device(self, batch)
      if not manual then opt:zero_grad() end
      local loss, logs = run_step(self, model, "training_step", batch, ctx)
      if not graphids.is_tensor(loss) then
        error("Trainer: training_step must return a loss tensor, got " .. type(loss), 0)
      end
      local n = batch_size(batch)
      -- The logged values are read (a wait for the device) once the backward is queued, not
      -- between forward and backward, and before the optimizer step, so a NaN stops the fit with
      -- the weights of the last good step.
      if manual then
        mean:add(self, logs or {}, n, "training_step")
      else
        local scaler = self.scaler
        if scaler then
          -- gradients of loss * scale, back to true size before clipping; an inf/NaN skips the step
          scaler:scale(loss):backward()
          mean:add(self, logs or {}, n, "training_step")
          if self.gradient_clip_val then
            scaler:unscale_(opt)
            optim.clip_grad_norm_(params, self.gradient_clip_val)
          end
          scaler:step(opt)
          scaler:update()
        else
          loss:backward()
          -- the gradients' inf/NaN count, read in the same copy as the logged values
          local nonfinite = mean:add(self, logs or {}, n, "training_step", grad_check.count(params))
          -- an infinite (or unlogged NaN) loss would step the weights to NaN (clipping an inf
          -- norm gives NaN gradients): stop before the step, with the last good step's weights.
          -- The logged train_loss was just read; the loss itself only when it is not logged (a
          -- read waits for the device)
          local lv = logs and logs.train_loss ~= nil and mean.last.train_loss or loss:detach():item()
          if lv ~= lv or lv == math.huge or lv == -math.huge then
            error(string.format("Trainer: the loss is %s (training_step, epoch %d, global step %d); " ..
              "stopping before the optimizer step, with the weights of the last good step", tostring(lv),
              self.epoch, self.global_step), 0)
          end
          -- a finite loss whose backward made an inf or NaN would put it into the weights
          if nonfinite ~= nil and nonfinite > 0 then
            error(string.format("Trainer: %d gradient values are inf or NaN while the loss is %s " ..
              "(training_step, epoch %d, global step %d): %s; stopping before the optimizer step, " ..
              "with the weights of the last good step", math.tointeger(nonfinite) or nonfinite,
              tostring(lv), self.epoch, self.global_step, grad_check.describe(model, params)), 0)
          end
          if self.gradient_clip_val then
            optim.clip_grad_norm_(params, self.gradient_clip_val)
          end
          opt:step()
        end
      end
      stepped = true
      self.global_step = self.global_step + 1
      self:_hook("on_train_batch_end", logs, i)
      self.progress:step(i, mean.last.train_loss or loss:detach(), n, self.global_step)
    end
    dm:next_epoch()
    self._epoch_mean = nil
    return mean, stepped
  end

  function Trainer:_validate()
    local model, dm = self.model, self.datamodule
    local mean = new_mean()
    local val = dm.val_loader and dm:val_loader() or nil
    if val == nil then return mean end
    mean.validated = true
    self:_hook("on_validation_epoch_start")
    model:eval()
    local ctx = ctx_of(self)
    graphids.no_grad(function()
      for batch in val:iter(0) do
        batch = on_device(self, batch)
        local logs = run_step(self, model, "validation_step", batch, ctx)
        mean:defer(logs, batch_size(batch), "validation_step")
      end
    end)
    mean:settle(self)
    model:train()
    return mean
  end

  -- Epoch schedulers step without arguments; ReduceLROnPlateau steps with the monitored metric.
  function Trainer:_step_scheduler()
    local sched = self.scheduler
    if sched.__name == "ReduceLROnPlateau" then
      local v = self.callback_metrics[self.scheduler_monitor]
      if v == nil then
        error(string.format("Trainer: ReduceLROnPlateau monitors '%s', which was not logged this epoch " ..
          "(set the Trainer's scheduler_monitor)", self.scheduler_monitor), 0)
      end
      sched:step(v)
    else
      sched:step()
    end
  end

  -- on_train_epoch_end in Lightning's order: the callbacks that monitor nothing first (a metric one
  -- of them puts into callback_metrics there can be monitored), then EarlyStopping (c.monitors),
  -- then the checkpoint callbacks, so the files they write hold this epoch's early-stopping
  -- state.  Every checkpoint callback judges the epoch before any of them writes: a file one
  -- writes holds the others' state of this epoch, as the files of an uninterrupted run do.
  function Trainer:_epoch_end_hooks()
    local cbs = self.callbacks
    for _, c in ipairs(cbs) do
      if not (c.monitors or c.is_checkpoint) then c:on_train_epoch_end(self) end
    end
    for _, c in ipairs(cbs) do
      if c.is_checkpoint and c.judge_epoch then c:judge_epoch(self) end
    end
    for _, c in ipairs(cbs) do
      if c.monitors and not c.is_checkpoint then c:on_train_epoch_end(self) end
    end
    for _, c in ipairs(cbs) do
      if c.is_checkpoint then c:on_train_epoch_end(self) end
    end
  end

  function Trainer:_fit_loop()
    local t0 = graphids.clock()
    while self.epoch < self.max_epochs and not self.should_stop and not self.stopped_by_time do
      self.callback_metrics = {}
      self:_hook("on_train_epoch_start")
      -- (a resume at the end of an epoch's batches has none left to run in it)
      local from_start = (self.datamodule.position or 0) == 0
      local train_mean, stepped = self:_train_epoch()
      if not stepped and from_start then
        -- nothing trained: a fit that "succeeds" with its initial weights would hide it
        error(string.format("Trainer:fit: epoch %d gave no training batch (an empty train split, or every " ..
          "graph skipped by the batching budget?)", self.epoch), 0)
      end
      -- from here to the epoch's end its batches are done and its end is not: a checkpoint could
      -- say neither "before" nor "after" it, so save_checkpoint refuses (a resume trained it twice)
      self._validating = true
      local val_mean = self:_validate()
      train_mean:into(self.callback_metrics)
      val_mean:into(self.callback_metrics)
      -- (the end hook pairs with the start hook, which only a validation pass calls)
      if val_mean.validated then self:_hook("on_validation_epoch_end") end
      -- an epoch some of whose batches ran before a resume steps its schedule too (a checkpoint
      -- of its last batch left none to run here, and the rate ran an epoch late ever after)
      if (stepped or not from_start) and self.scheduler then
        self:_step_scheduler()
      end
      self._validating = false
      local snapshot = { epoch = self.epoch }
      for k, v in pairs(self.callback_metrics) do snapshot[k] = v end
      self.history[#self.history + 1] = snapshot
      self.progress:epoch_end(self.callback_metrics)
      self._in_epoch_end = true
      self:_epoch_end_hooks()
      self._in_epoch_end = false
      self.epoch = self.epoch + 1
      -- max_time is checked between epochs (a checkpoint is an epoch's end): the time of this
      -- fit call only, so a resumed run gets max_time again.
      if self.max_time and graphids.clock() - t0 >= self.max_time then
        say(self, string.format("max_time %g s reached after %d epochs: stopping", self.max_time, self.epoch))
        self.stopped_by_time = true
      end
    end
  end
end
