-- graphids.trainer.fit_loop -- the Trainer's fit loop: epochs, their training batches (gradient
-- accumulation, the checks before a step, clipping, mixed precision's scaler), validation, the
-- scheduler steps (trainer/scheduler_config.lua) and the epoch-end hooks, under the loop options
-- (trainer/loop_options.lua).
-- Installed on the class by graphids.trainer (its init.lua), which hands over the helpers it
-- shares with test and predict: on_device, ctx_of, run_step, optimizer_params, say.
-- docs/trainer.md, "One epoch" and "Loop options", describes what this does.
local graphids = require "graphids"
local optim = require "graphids.optim"
local EpochMean = require "graphids.trainer.epoch_mean"
local grad_check = require "graphids.trainer.grad_check"
local LO = require "graphids.trainer.loop_options"
local SC = require "graphids.trainer.scheduler_config"

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

  -- The batches of a loader, or nil when it has no length.  A loader is an object with a
  -- length (__len, graphids.data's) and iter(epoch, start), or a plain list of batches; an
  -- object without __len has none: its # would read 0 (the raw table's border), which would
  -- run and schedule no batch at all.
  local function length_of(loader)
    if type(loader) ~= "table" then return nil end
    local mt = getmetatable(loader)
    if type(mt) == "table" and rawget(mt, "__len") ~= nil then
      local ok, n = pcall(function() return #loader end)
      return ok and math.type(n) == "integer" and n or nil
    end
    if loader.iter ~= nil then return nil end
    -- a list: every key one of 1..#loader (a table with other keys is no list of batches)
    local n, keys = rawlen(loader), 0
    for _ in next, loader do keys = keys + 1 end
    return keys == n and n or nil
  end

  -- The training batches this epoch runs (limit_train_batches of the loader's length), or nil
  -- when neither the loader's length nor a count limits them.
  function Trainer:_train_batches_of_epoch()
    local dm = self.datamodule
    local ok, loader = pcall(dm.train_loader, dm)
    local length = ok and loader and length_of(loader) or nil
    if length == nil and self.accumulate_grad_batches > 1 then
      -- the epoch's last batch ends its group however short: it must be known when it comes
      error(string.format("Trainer:fit: accumulate_grad_batches = %d needs the data module's " ..
        "train_loader() with a length (its last batch steps the optimizer)", self.accumulate_grad_batches), 0)
    end
    return LO.batches(self.limit_train_batches, length, "limit_train_batches")
  end

  -- The optimizer steps of the whole fit (Lightning's trainer.estimated_stepping_batches, what
  -- a per-step schedule is sized by): every epoch runs the batches of _train_batches_of_epoch,
  -- whose loaders keep one length across epochs.  nil when an epoch's batches are not known (a
  -- loader without a length and no count limit).  Early stopping and max_time may end the fit
  -- sooner; a resumed fit counts from its first epoch too.
  function Trainer:_estimated_stepping_batches()
    return LO.stepping_batches(self:_train_batches_of_epoch(), self.max_epochs, self.accumulate_grad_batches)
  end

  -- The gradients of one batch's loss, summed into those of its group (Lightning divides each
  -- loss by accumulate_grad_batches, so a full group's step sees the mean of its batches'
  -- gradients), with the logged values read once the backward is queued.  Without a scaler,
  -- an infinite or NaN loss, or a finite one whose gradients hold an inf or NaN, stops the fit
  -- here, before the step that would write it into the weights.
  local function backward(self, loss, logs, n, mean, params)
    local N = self.accumulate_grad_batches
    local scaled = N > 1 and loss:div(N) or loss -- (N = 1: the loss itself, bit for bit)
    if self.scaler then
      -- gradients of loss * scale; an inf/NaN skips the group's step instead
      self.scaler:scale(scaled):backward()
      mean:add(self, logs or {}, n, "training_step")
      return
    end
    scaled:backward()
    -- the gradients' inf/NaN count, read in the same copy as the logged values
    local nonfinite = mean:add(self, logs or {}, n, "training_step", grad_check.count(params))
    -- an infinite (or unlogged NaN) loss would step the weights to NaN (clipping an inf norm
    -- gives NaN gradients).  The logged train_loss was just read; the loss itself only when it
    -- is not logged (a read waits for the device)
    local lv = logs and logs.train_loss ~= nil and mean.last.train_loss or loss:detach():item()
    if lv ~= lv or lv == math.huge or lv == -math.huge then
      error(string.format("Trainer: the loss is %s (training_step, epoch %d, global step %d); " ..
        "stopping before the optimizer step, with the weights of the last good step", tostring(lv),
        self.epoch, self.global_step), 0)
    end
    if nonfinite ~= nil and nonfinite > 0 then
      error(string.format("Trainer: %d gradient values are inf or NaN while the loss is %s " ..
        "(training_step, epoch %d, global step %d): %s; stopping before the optimizer step, " ..
        "with the weights of the last good step", math.tointeger(nonfinite) or nonfinite,
        tostring(lv), self.epoch, self.global_step, grad_check.describe(self.model, params)), 0)
    end
  end

  -- The step that ends a group: clipping of the summed gradients (unscaled first under a
  -- scaler), the optimizer step (the scaler's skips it on an inf/NaN), the scale's update.
  local function optimizer_step(self, params)
    local opt, scaler = self.optimizer, self.scaler
    if scaler then
      if self.gradient_clip_val then
        scaler:unscale_(opt)
        optim.clip_grad_norm_(params, self.gradient_clip_val)
      end
      scaler:step(opt)
      scaler:update()
      return
    end
    if self.gradient_clip_val then
      optim.clip_grad_norm_(params, self.gradient_clip_val)
    end
    opt:step()
  end

  -- The values a batch logged, as numbers (the epoch mean read them): what an 'interval' =
  -- 'step' plateau schedule monitors.  This batch's only, so a resume inside the epoch sees the
  -- same.
  local function logged_values(logs, mean)
    local out = {}
    for k in pairs(logs or {}) do out[k] = mean.last[k] end
    return out
  end

  function Trainer:_train_epoch()
    local model, dm, opt = self.model, self.datamodule, self.optimizer
    local params = optimizer_params(opt)
    local mean = new_mean(self._resume_sums)
    self._resume_sums = nil
    self._epoch_mean = mean -- (what a mid-epoch save_checkpoint records)
    local stepped = false
    local total = self:_train_batches_of_epoch()
    self.progress:epoch_start(self.epoch, self.max_epochs, total)
    model:train()
    local ctx = ctx_of(self)
    local manual = model.automatic_optimization == false
    local N = self.accumulate_grad_batches
    -- (a resume at the end of the epoch's batches, or past its limit, has none left to run)
    local left = total == nil or (dm.position or 0) < total
    for batch, i in left and dm:train_batches() or function() end do
      batch = on_device(self, batch)
      -- the data position has moved past this batch already (and its making may have drawn from
      -- the RNG streams): a checkpoint here would resume after it, a batch never trained, so
      -- save_checkpoint refuses
      self._in_batch_start = true
      self:_hook("on_train_batch_start", batch, i)
      self._in_batch_start = false
      -- a group's first batch clears the gradients; the others add to them (a resume inside a
      -- group restored them: trainer/accumulation.lua)
      if not manual and not self.accumulating then opt:zero_grad() end
      local loss, logs = run_step(self, model, "training_step", batch, ctx)
      if not graphids.is_tensor(loss) then
        error("Trainer: training_step must return a loss tensor, got " .. type(loss), 0)
      end
      local n = batch_size(batch)
      -- groups of N batches counted from the epoch's first, the last one cut short by the
      -- epoch's end (Lightning's); global_step counts optimizer steps
      local group_end = manual or i % N == 0 or i == total
      if manual then
        mean:add(self, logs or {}, n, "training_step")
      else
        backward(self, loss, logs, n, mean, params)
        if group_end then optimizer_step(self, params) end
      end
      stepped = true
      self.accumulating = not group_end
      if group_end then self.global_step = self.global_step + 1 end
      -- before on_train_batch_end, so that a checkpoint saved there holds the step's schedule
      -- (Lightning steps its non-plateau ones there too).  A step a GradScaler skipped steps
      -- the schedule too, as global_step counts it: Lightning 2.x's scheduler follows the
      -- loop's steps, not the optimizer's (a ported per-step recipe keeps its lr trajectory).
      if group_end and not manual then
        SC.step_after_optimizer(self, self.scheduler_config, logged_values(logs, mean))
      end
      self:_hook("on_train_batch_end", logs, i)
      self.progress:step(i, mean.last.train_loss or loss:detach(), n, group_end and self.global_step or false)
      if total ~= nil and i >= total then break end
    end
    self.accumulating = false
    dm:next_epoch()
    self._epoch_mean = nil
    return mean, stepped
  end

  -- Whether this epoch validates: every check_val_every_n_epoch-th epoch ((epoch + 1) % n == 0,
  -- Lightning's rule, which does not force the last one), unless limit_val_batches is 0.
  function Trainer:_validates_epoch()
    local lim = self.limit_val_batches
    return lim ~= 0 and (self.epoch + 1) % self.check_val_every_n_epoch == 0
  end

  -- Why no epoch of the run validates (what a fit start says, or refuses, of the callbacks and
  -- the plateau schedule that monitor a val metric), or nil when some epoch does.
  function Trainer:_no_validation_reason()
    if self.limit_val_batches == 0 then return "limit_val_batches = 0" end
    if self.check_val_every_n_epoch > self.max_epochs then
      return string.format("check_val_every_n_epoch = %d > max_epochs = %d", self.check_val_every_n_epoch,
        self.max_epochs)
    end
  end

  -- The data module's validation loader (nil without one) and the batches limit_val_batches
  -- takes of it (nil: all); a fraction that comes to no batch is an error naming it.
  local function val_loader_and_limit(self)
    local dm = self.datamodule
    local val = dm.val_loader and dm:val_loader() or nil
    if val == nil then return nil end
    return val, LO.batches(self.limit_val_batches, length_of(val), "limit_val_batches")
  end

  function Trainer:_validate()
    local model = self.model
    local mean = new_mean()
    local val, limit = val_loader_and_limit(self)
    if val == nil then return mean end
    mean.validated = true
    self:_hook("on_validation_epoch_start")
    model:eval()
    local ctx = ctx_of(self)
    graphids.no_grad(function()
      local k = 0
      for batch in val:iter(0) do
        batch = on_device(self, batch)
        local logs = run_step(self, model, "validation_step", batch, ctx)
        mean:defer(logs, batch_size(batch), "validation_step")
        k = k + 1
        if limit ~= nil and k >= limit then break end
      end
    end)
    mean:settle(self)
    model:train()
    return mean
  end

  -- on_train_epoch_end in Lightning's order: the callbacks that monitor nothing first (a metric
  -- one of them puts into callback_metrics there can be monitored), then EarlyStopping
  -- (c.monitors), then the checkpoint callbacks, so the files they write hold this epoch's
  -- early-stopping state.  Every checkpoint callback judges the epoch before any of them writes:
  -- a file one writes holds the others' state of this epoch, as the files of an uninterrupted
  -- run do; and none removes a file (save_top_k) before all have committed the epoch.
  -- Until the checkpoint callbacks' turn the epoch is not judged (the monitors' best, patience
  -- and stop flag are the previous epoch's, and a later callback may still change the model or
  -- the metrics): a checkpoint saved then (a callback's on_train_epoch_end) would resume past an
  -- epoch never judged, so save_checkpoint refuses (_judging).
  function Trainer:_epoch_end_hooks()
    local cbs = self.callbacks
    self._judging = true
    for _, c in ipairs(cbs) do
      if not (c.monitors or c.is_checkpoint) then c:on_train_epoch_end(self) end
    end
    for _, c in ipairs(cbs) do
      if c.is_checkpoint and c.judge_epoch then c:judge_epoch(self) end
    end
    for _, c in ipairs(cbs) do
      if c.monitors and not c.is_checkpoint then c:on_train_epoch_end(self) end
    end
    self._judging = false
    for _, c in ipairs(cbs) do
      if c.is_checkpoint then c:on_train_epoch_end(self) end
    end
    -- a kept file that dropped out of a callback's top k goes only once every checkpoint
    -- callback has written its `last`: a run killed before then resumes from a `last` whose
    -- state lists it, and finds it there
    for _, c in ipairs(cbs) do
      if c.is_checkpoint and c.remove_dropped then c:remove_dropped(self) end
    end
  end

  function Trainer:_fit_loop()
    if self.limit_train_batches == 0 then
      -- Lightning skips the fit loop then (its fit hooks still run)
      say(self, "limit_train_batches = 0: no training batch runs; the fit trains nothing")
      return
    end
    -- the validation loader's length is known now: a limit_val_batches fraction that comes to no
    -- batch is named before any epoch trains (Lightning's sanity check does), not at the end of
    -- the first epoch that validates, which would lose that epoch's checkpoint
    local trains = self.epoch < self.max_epochs and not self.should_stop
    if trains and not self:_no_validation_reason() then val_loader_and_limit(self) end
    local t0 = graphids.clock()
    while self.epoch < self.max_epochs and not self.should_stop and not self.stopped_by_time do
      self.callback_metrics = {}
      self.skipped_validation = false
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
      local validates = self:_validates_epoch()
      -- (what the callbacks and the plateau schedule read: a val metric absent by design)
      self.skipped_validation = not validates
      local val_mean = validates and self:_validate() or new_mean()
      train_mean:into(self.callback_metrics)
      val_mean:into(self.callback_metrics)
      -- (the end hook pairs with the start hook, which only a validation pass calls)
      if val_mean.validated then self:_hook("on_validation_epoch_end") end
      -- an epoch some of whose batches ran before a resume steps its schedule too (a checkpoint
      -- of its last batch left none to run here, and the rate ran an epoch late ever after)
      if stepped or not from_start then SC.step_at_epoch_end(self, self.scheduler_config) end
      self._validating = false
      self._in_epoch_end = true
      self:_epoch_end_hooks()
      self._in_epoch_end = false
      -- after the epoch-end hooks: a metric a callback puts into callback_metrics there (which
      -- the monitors and the checkpoints see) is in the history and the epoch line too
      local snapshot = { epoch = self.epoch }
      for k, v in pairs(self.callback_metrics) do snapshot[k] = v end
      self.history[#self.history + 1] = snapshot
      self.progress:epoch_end(self.callback_metrics)
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
