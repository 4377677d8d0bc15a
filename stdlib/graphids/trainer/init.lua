-- graphids.trainer -- the training loop: fit, test, predict, with callbacks and exact resume.
--   local Trainer = require("graphids.trainer").Trainer
--   local cb = require "graphids.callbacks"
--   local t = Trainer{max_epochs = 50, gradient_clip_val = 1.0, default_root_dir = run_dir,
--                     callbacks = {cb.EarlyStopping{patience = 10}}}
--   t:fit(model, datamodule)          -- or {ckpt_path = run_dir .. "/checkpoints/last.safetensors"}
--   local metrics = t:test(model, datamodule, {ckpt_path = best})   -- pooled + test/<set>/<metric>
--   local out = t:predict(model, loader)             -- scores, preds, labels, window_start, ...
--
-- The model implements the step API (docs/models.md): training_step(batch, ctx) -> loss, logs;
-- validation_step(batch, ctx) -> logs; test_step / predict_step(batch, ctx) -> per-graph
-- tensors; configure_optimizers({max_epochs, estimated_stepping_batches}) -> optimizer[, scheduler
-- or Lightning's scheduler config {scheduler =, interval = "epoch" | "step", ...}:
-- trainer/scheduler_config.lua];
-- class_path, hparams().
-- The data module: setup(), train_batches() (iterator from its saved position), next_epoch(),
-- val_loader():iter(), test_loaders() (name, loader pairs), state_dict(), load_state_dict().
--
-- One epoch (trainer/fit_loop.lua): on_train_epoch_start; for each train batch: zero_grad,
-- training_step, backward, clip_grad_norm_(gradient_clip_val), step, a per-step schedule's step;
-- then validation (eval mode, no grad); epoch metrics = graph-weighted means of the logged
-- values (a NaN is an error naming the metric); a per-epoch schedule steps once if the optimizer
-- stepped; on_train_epoch_end
-- (ModelCheckpoint instances last, so `last` holds every callback's state for the epoch).
-- Lightning's loop options (trainer/loop_options.lua): accumulate_grad_batches (one step per
-- group of N batches, each loss divided by N), limit_train_batches / limit_val_batches (a count
-- or a fraction of the epoch's batches), check_val_every_n_epoch, fast_dev_run (n batches, one
-- epoch, no checkpoint written).
-- docs/trainer.md has the details: hooks, metrics, resume, max_time, progress output.
--
-- precision (docs/amp.md): "32" (default); "bf16-mixed" runs every step of the model under
-- graphids.autocast("bf16") (matrix products in bf16 on the tensor cores, everything else f32);
-- "16-mixed" uses f16 and a GradScaler (scale, unscale_ before clipping, step skipped on
-- inf/NaN, update), whose state checkpoints keep under trainer.scaler.  Mixed precision needs a
-- CUDA device (an error on the CPU).  A model with automatic_optimization = false gets autocast
-- but no scaler (it runs its own backward).
local graphids = require "graphids"
local class = require "graphids.class"
local U = require "graphids.nn._util"
local Filled = require "graphids.nn.filled_state"
local errors = require "graphids.errors"
local ckpt = require "graphids.ckpt"
local amp = require "graphids.amp"
local Progress = require "graphids.trainer.progress"
local LoopOptions = require "graphids.trainer.loop_options"
local accumulation = require "graphids.trainer.accumulation"
local Device = require "graphids.trainer.device"
local SchedulerConfig = require "graphids.trainer.scheduler_config"
local Callback = require "graphids.callbacks.base"
local ModelCheckpoint = require "graphids.callbacks.model_checkpoint"

local M = {}

local Trainer = class("Trainer")
M.Trainer = Trainer

local DEFAULTS = {
  max_epochs = 10, max_time = U.NONE, gradient_clip_val = U.NONE, callbacks = U.NONE,
  default_root_dir = U.NONE, seed = 42, device = "cpu", progress = "auto", log_every_n_steps = 50,
  config_digest = U.NONE, tracking_run_id = U.NONE, log = U.NONE, enable_checkpointing = true,
  scheduler_monitor = "val_loss", precision = "32",
  -- (trainer/loop_options.lua checks these and fills in their defaults)
  accumulate_grad_batches = U.NONE, limit_train_batches = U.NONE, limit_val_batches = U.NONE,
  check_val_every_n_epoch = U.NONE, fast_dev_run = U.NONE,
}

function Trainer:__init(opts)
  local o = U.options("Trainer", opts, DEFAULTS, U.CTOR)
  if math.type(o.max_epochs) ~= "integer" or o.max_epochs < 0 then
    error("Trainer: max_epochs must be an integer >= 0, got " .. tostring(o.max_epochs), U.CTOR)
  end
  if o.max_time ~= nil and not (type(o.max_time) == "number" and o.max_time > 0) then
    error("Trainer: max_time must be a number of seconds > 0, got " .. tostring(o.max_time), U.CTOR)
  end
  local clip = o.gradient_clip_val
  if clip ~= nil and not (type(clip) == "number" and clip > 0) then
    error("Trainer: gradient_clip_val must be a number > 0, got " .. tostring(o.gradient_clip_val), U.CTOR)
  end
  if math.type(o.seed) ~= "integer" then
    error("Trainer: seed must be an integer, got " .. tostring(o.seed), U.CTOR)
  end
  -- (before the precision, whose check reads the device: "gpu" is a bad device, not a CPU)
  if not Device.valid(o.device) then
    error("Trainer: device must be 'cpu', 'cuda' or 'cuda:N', got " .. tostring(o.device), U.CTOR)
  end
  local autocast, perr = amp.precision_autocast(o.precision, o.device)
  if perr then error("Trainer: precision " .. perr, U.CTOR) end
  self.precision, self.autocast_dtype = o.precision, autocast
  self.max_epochs, self.max_time, self.gradient_clip_val = o.max_epochs, o.max_time, o.gradient_clip_val
  self.default_root_dir, self.seed, self.device = o.default_root_dir, o.seed, o.device
  self.config_digest, self.tracking_run_id, self.log = o.config_digest, o.tracking_run_id, o.log
  self.progress_mode, self.log_every_n_steps = o.progress, o.log_every_n_steps
  self.scheduler_monitor = o.scheduler_monitor
  local okl, lo = pcall(LoopOptions.normalize, o)
  if not okl then error(lo, U.CTOR) end
  for _, k in ipairs(LoopOptions.NAMES) do self[k] = lo[k] end
  if lo.fast_dev_run then
    -- Lightning's fast_dev_run: n batches of training and of validation (and of each test and
    -- predict loader), one epoch, validation in it; the checkpoint and early-stopping callbacks
    -- stand aside (a smoke test leaves no file and stops no fit)
    self.max_epochs, self.check_val_every_n_epoch = 1, 1
    self.limit_train_batches, self.limit_val_batches = lo.fast_dev_run, lo.fast_dev_run
  end
  local mode_err = Progress.mode_error(o.progress)
  if mode_err then error("Trainer: " .. mode_err, U.CTOR) end
  if type(self.log) ~= "nil" and type(self.log) ~= "function" then
    error("Trainer: log must be a function of a line, got " .. type(self.log), U.CTOR)
  end
  if math.type(o.log_every_n_steps) ~= "integer" or o.log_every_n_steps < 1 then
    error("Trainer: log_every_n_steps must be an integer >= 1, got " .. tostring(o.log_every_n_steps),
      U.CTOR)
  end
  for _, k in ipairs({ "default_root_dir", "config_digest", "tracking_run_id" }) do
    if o[k] ~= nil and type(o[k]) ~= "string" then
      error(string.format("Trainer: %s must be a string, got %s", k, type(o[k])), U.CTOR)
    end
  end
  -- a list: a lone callback (or a map of them) would be silently skipped by ipairs
  local list = o.callbacks or {}
  local n = 0
  for _ in pairs(type(list) == "table" and list or {}) do n = n + 1 end
  if type(list) ~= "table" or class.isinstance(list, Callback) or #list ~= n then
    error("Trainer: callbacks must be a list of callbacks ({cb, ...}), got " .. class.name_of(list), U.CTOR)
  end
  local cbs, keys, has_ckpt = {}, {}, false
  for i, c in ipairs(list) do
    if not class.isinstance(c, Callback) then
      error(string.format("Trainer: callbacks[%d] is not a graphids.callbacks.Callback (got %s)", i,
        class.name_of(c)), U.CTOR)
    end
    if c.state_key then
      if keys[c.state_key] then
        error(string.format("Trainer: two callbacks share the state key '%s' (callbacks[%d], a %s, and an " ..
          "earlier one): a checkpoint could not tell their states apart; keep one (callbacks whose " ..
          "settings name their key, as ModelCheckpoint's monitor, may differ in those)", c.state_key, i,
          class.name_of(c)), U.CTOR)
      end
      keys[c.state_key] = true
    end
    -- a hook it defines that no fit calls (Lightning's on_train_end, a misspelt one) would never
    -- run, without a word
    local hook_err = Callback.unknown_hook_error(c, i)
    if hook_err then error("Trainer: " .. hook_err, U.CTOR) end
    -- a callback holds its fit's state (best score, patience, a checkpoint folder bound at its
    -- setup): shared by two trainers, the second would run on the first one's
    local owner = rawget(c, "_trainer")
    if owner ~= nil and owner ~= self then
      error(string.format("Trainer: callbacks[%d] (%s) already belongs to another Trainer; make a new " ..
        "one", i, class.name_of(c)), U.CTOR)
    end
    rawset(c, "_trainer", self)
    has_ckpt = has_ckpt or c.is_checkpoint == true
    cbs[#cbs + 1] = c
  end
  for i, a in ipairs(cbs) do
    for j, b in ipairs(cbs) do
      local why = a.CONFLICTS[class.name_of(b)]
      if i ~= j and why then
        error(string.format("Trainer: callbacks[%d] (%s) cannot run beside callbacks[%d] (%s): %s", i,
          class.name_of(a), j, class.name_of(b), why), U.CTOR)
      end
    end
  end
  if o.enable_checkpointing and not has_ckpt and o.default_root_dir then
    cbs[#cbs + 1] = ModelCheckpoint()
  end
  -- each checkpoint callback locks its folder for the fit: two on one folder would meet as
  -- "another run" at the fit's start
  local folders = {}
  for _, c in ipairs(cbs) do
    local d = c.is_checkpoint and (c.dirpath or (o.default_root_dir and o.default_root_dir .. "/checkpoints"))
    if d then -- (without a folder a checkpoint callback only tracks its best score)
      if folders[d] then
        error("Trainer: two checkpoint callbacks write into one folder (" .. d .. "); give them distinct " ..
          "dirpath", U.CTOR)
      end
      folders[d] = true
    end
  end
  -- Checkpoint callbacks run after the others (stable order otherwise): what they save must
  -- include the state the others reached this epoch.  A callback that marks itself runs_first
  -- (weight averaging: its on_train_batch_end takes the step into the average) runs before the
  -- others, so a checkpoint another one saves in the same hook (a preemption's) holds the step.
  local ordered = {}
  for _, c in ipairs(cbs) do
    if c.runs_first and not c.is_checkpoint then ordered[#ordered + 1] = c end
  end
  for _, c in ipairs(cbs) do
    if not (c.runs_first or c.is_checkpoint) then ordered[#ordered + 1] = c end
  end
  for _, c in ipairs(cbs) do
    if c.is_checkpoint then ordered[#ordered + 1] = c end
  end
  self.callbacks = ordered
  self.callback_metrics = {}
  self.history = {}
  self.epoch, self.global_step, self.should_stop = 0, 0, false
  -- accumulating: the batch just run left its gradients for more of its group (no step);
  -- skipped_validation: this epoch has no validation pass by check_val_every_n_epoch or
  -- limit_val_batches = 0 (what callbacks that monitor a val metric read at its end)
  self.accumulating, self.skipped_validation = false, false
end

-- The first ModelCheckpoint callback (nil without one).
function Trainer:checkpoint_callback()
  for _, c in ipairs(self.callbacks) do
    if c.is_checkpoint then return c end
  end
end

-- Runs hook `name` of every callback in order, except that a callback whose runs_last lists
-- the hook runs it after all the others: weight averaging swaps the average in first at a
-- validation's start and out last at its end, so every callback's validation hooks see the
-- averaged model, wherever it is listed.
function Trainer:_hook(name, ...)
  local later
  for _, c in ipairs(self.callbacks) do
    if c.runs_last and c.runs_last[name] then
      later = later or {}
      later[#later + 1] = c
    else
      c[name](c, self, ...)
    end
  end
  for _, c in ipairs(later or {}) do
    c[name](c, self, ...)
  end
end

local function say(self, msg)
  if self.log then
    self.log(msg)
  elseif self.progress and self.progress.mode ~= "off" then
    io.stdout:write(msg, "\n")
  end
end

-- A warning: to opts.log when given, else on stderr whatever the progress mode (a resume that
-- restores less than it might, or nothing at all, must not pass unseen).
function Trainer:warn(msg)
  if self.log then self.log(msg) else io.stderr:write("graphids: warning: ", msg, "\n") end
end

-- Values of the optimizer step in progress (name -> number; LearningRateMonitor's per-step lr),
-- logged with step = global_step, the optimizer steps taken before this one (Lightning's logger
-- step): to each callback's on_step_metrics (track.Callback logs them into its run) and the
-- progress lines.  They stay out of callback_metrics, which holds the epoch's values (its
-- history, checkpoints, the tracker's step = epoch points).
function Trainer:log_step_metrics(metrics)
  if type(metrics) ~= "table" then
    error("Trainer:log_step_metrics: metrics must be a table of name -> number, got " .. U.describe(metrics),
      2)
  end
  for k, v in pairs(metrics) do
    if type(k) ~= "string" or type(v) ~= "number" then
      error(string.format("Trainer:log_step_metrics: metrics must map names to numbers, got %s = %s",
        U.describe(k), U.describe(v)), 2)
    end
  end
  if self.progress then self.progress:note(metrics) end
  self:_hook("on_step_metrics", metrics, self.global_step)
end

-- ---------------------------------------------------------------- checkpoints

local function vocab_digest(dm)
  if type(dm) ~= "table" then return nil end
  local d = rawget(dm, "vocab_digest")
  if d == nil and type(rawget(dm, "cache")) == "table" and type(dm.cache.metadata) == "table" then
    d = dm.cache.metadata.vocab_digest
  end
  return d
end

-- hyper_parameters of the checkpoint: the model's, plus the vocabulary digest of the data.
local function hyper_parameters(self)
  local hp = type(self.model.hparams) == "function" and self.model:hparams() or {}
  local d = vocab_digest(self.datamodule)
  if d ~= nil and hp.vocab_digest == nil then hp.vocab_digest = d end
  return hp
end

-- The parameters of opt's groups, in order: the positions of its state dict, and the ones
-- gradient clipping takes (as Lightning's: a parameter outside the optimizer is not stepped, and
-- its gradient, which GradScaler:unscale_ leaves scaled, must not enter the norm).
local function optimizer_params(opt)
  local out = {}
  for _, g in ipairs(opt and opt.param_groups or {}) do
    for _, p in ipairs(g.params) do out[#out + 1] = p end
  end
  return out
end

-- Where a save_checkpoint resumes exactly, for the refusals elsewhere.
local SAVE_POINTS = "save in on_train_batch_end (an epoch's last batch resumes into the epoch's end), " ..
  "or use ModelCheckpoint's last file, written at each epoch's end after every callback judged it"

-- Writes a checkpoint of the current state at path.  At an epoch's end (its callbacks) the next
-- epoch is self.epoch + 1; anywhere else (mid-epoch, after fit) the epoch counter has moved on
-- already, or the epoch is unfinished: the next epoch to run is self.epoch, from the data
-- module's position.
function Trainer:save_checkpoint(path)
  if self.model == nil or self.datamodule == nil then
    error("Trainer:save_checkpoint: nothing to save before a fit (the trainer holds no model yet)", 2)
  end
  if self._validating then
    error("Trainer:save_checkpoint: an epoch's validation is running (its training batches are done, its " ..
      "end is not), and a resume from here could not continue it exactly; " .. SAVE_POINTS, 2)
  end
  if self._judging then
    error("Trainer:save_checkpoint: called in an epoch's end before the checkpoint callbacks' turn " ..
      "(callbacks' on_train_epoch_end run first, then EarlyStopping's, then ModelCheckpoint's): the " ..
      "epoch is not judged yet, and a resume from here would never judge it; " .. SAVE_POINTS, 2)
  end
  if self._in_batch_start then
    error("Trainer:save_checkpoint: called in on_train_batch_start, when the data position has moved past " ..
      "the batch about to train, so a resume from here would skip it; " .. SAVE_POINTS ..
      " (the previous batch's end is the same point)", 2)
  end
  local callbacks = {}
  for _, c in ipairs(self.callbacks) do
    if c.state_key then callbacks[c.state_key] = c:state_dict() end
  end
  local next_epoch = self._in_epoch_end and self.epoch + 1 or self.epoch
  local contents = {
    model = self.model:state_dict(),
    optimizer = self.optimizer and self.optimizer:state_dict() or nil,
    scheduler = self.scheduler and self.scheduler:state_dict() or nil,
    rng = { trainer = self.generator:get_state(), default = graphids.get_rng_state() },
    epoch = math.max(next_epoch - 1, 0), global_step = self.global_step,
    class_path = self.model.class_path,
    hyper_parameters = hyper_parameters(self),
    metrics = self.callback_metrics,
    callbacks = callbacks,
    loader = self.datamodule.state_dict and self.datamodule:state_dict() or nil,
    trainer = { next_epoch = next_epoch, should_stop = self.should_stop, max_epochs = self.max_epochs,
      scaler = self.scaler and self.scaler:state_dict() or nil,
      -- mid-epoch: the epoch's logged sums so far, so a resume reports the whole epoch's means
      epoch_sums = (self._epoch_mean and not self._in_epoch_end) and self._epoch_mean:sums() or nil },
    config_digest = self.config_digest, tracking_run_id = self.tracking_run_id,
  }
  -- inside a group of accumulated batches: the gradients summed so far (trainer/accumulation.lua)
  accumulation.save(self, contents, optimizer_params(self.optimizer))
  self:_hook("on_save_checkpoint", contents)
  -- (after the hooks, which may set the weights aside as current_model: a buffer filled row by
  -- row, a replay buffer's, keeps only its filled rows in both, graphids.nn.filled_state)
  contents.model, contents.current_model = Filled.cut_alike(self.model, contents.model,
    contents.current_model)
  return ckpt.save(path, contents)
end

-- The optimizer state of a checkpoint (CPU tensors) moved to the devices of the parameters
-- they belong to (positions count through the groups in order, as state_dict() numbers them).
local function to_param_devices(opt, sd)
  local params = optimizer_params(opt)
  -- a malformed state is left as it is, for the optimizer's check to name
  for pos, st in pairs(type(sd) == "table" and type(sd.state) == "table" and sd.state or {}) do
    local p = params[pos]
    if p ~= nil and p.device ~= "cpu" and type(st) == "table" then
      for k, v in pairs(st) do
        if graphids.is_tensor(v) then st[k] = v:to(p.device) end
      end
    end
  end
  return sd
end

-- The trainer's and the callbacks' saved state, checked before a resume restores anything: a
-- checkpoint edited by hand or from another writer is named here, not an epoch later.
local function check_resume_state(c, tstate, callbacks)
  local function bad(what, msg)
    error(string.format("checkpoint '%s': %s: %s", c.path, what, msg), 0)
  end
  local e = tstate.next_epoch
  if math.type(e) ~= "integer" or e < 0 then
    bad("trainer state", "'next_epoch' must be an integer >= 0, got " .. U.describe(e))
  end
  if tstate.should_stop ~= nil and type(tstate.should_stop) ~= "boolean" then
    bad("trainer state", "'should_stop' must be a boolean, got " .. U.describe(tstate.should_stop))
  end
  if tstate.max_epochs ~= nil and math.type(tstate.max_epochs) ~= "integer" then
    bad("trainer state", "'max_epochs' must be an integer, got " .. U.describe(tstate.max_epochs))
  end
  local sums = tstate.epoch_sums
  if sums ~= nil then
    local ok = type(sums) == "table" and type(sums.sum) == "table" and type(sums.weight) == "table"
    for _, part in ipairs(ok and { sums.sum, sums.weight } or {}) do
      for k, v in pairs(part) do
        ok = ok and type(k) == "string" and type(v) == "number" and v == v
          and v ~= math.huge and v ~= -math.huge
      end
    end
    if not ok then
      bad("trainer state", "'epoch_sums' must be {sum = {name = number}, weight = {name = number}}, got " ..
        U.describe(sums))
    end
  end
  local saved = c.callbacks or {}
  for _, cb in ipairs(callbacks) do
    local st = cb.state_key and saved[cb.state_key]
    if st ~= nil then
      local ok, err = pcall(cb.check_state, st)
      if not ok then bad("callback state '" .. cb.state_key .. "'", tostring(err)) end
    end
  end
end

-- Restores everything a checkpoint holds.  What resuming needs is checked before anything is
-- restored (the compatibility guard ran before: shapes, class, vocabulary); no file is written.
function Trainer:_restore(c)
  local path = c.path
  local function need(v, what)
    if v == nil then
      error(string.format("checkpoint '%s' has no %s, which resuming needs (a weights-only file?)", path,
        what), 0)
    end
    return v
  end
  local tstate = need(c.trainer, "trainer state")
  local rng = need(c.rng.trainer, "trainer generator state ('rng.trainer')")
  if self.optimizer then need(c.optimizer, "optimizer state") end
  if self.scheduler then need(c.scheduler, "scheduler state") end
  if self.scaler then
    need(tstate.scaler, "grad scaler state ('trainer.scaler': it was not written with precision '16-mixed')")
    local err = amp.GradScaler.state_error(tstate.scaler)
    if err then
      error(string.format("checkpoint '%s': grad scaler state ('trainer.scaler'): %s", path, err), 0)
    end
  end
  check_resume_state(c, tstate, self.callbacks)
  accumulation.check(c, self, optimizer_params(self.optimizer))
  -- the data module's state first: it checks that the checkpoint's split is this one's (seed,
  -- sizes), and a refusal must leave the model and the callbacks as they were
  if c.loader and self.datamodule.load_state_dict then
    self.datamodule:load_state_dict(c.loader)
  end
  -- (a group whose step this fit's limit_train_batches would never reach)
  accumulation.check_limit(c, self)
  -- a weight-averaging fit saved the average as `model` and the weights it trains as
  -- `current_model` (callbacks/weight_averaging.lua): training continues from the latter
  self:_hook("on_load_checkpoint", c)
  -- the optimizer's and the scheduler's states (as the hook left them) checked, their tensors
  -- copied, before the model is restored: a refusal leaves the model, the optimizer and the
  -- schedule as they were (a subclass's own load_state_dict runs at its install instead)
  local function prepared(what, obj, sd)
    local ok, install = pcall(require("graphids.optim.util").prepare_load, obj, sd)
    if not ok then
      error(string.format("checkpoint '%s': %s: %s", path, what,
        errors.strip_own_position(install)), 0)
    end
    return install
  end
  local install_opt = self.optimizer and prepared("optimizer state", self.optimizer,
    to_param_devices(self.optimizer, c.optimizer))
  local install_sched = self.scheduler and prepared("scheduler state", self.scheduler, c.scheduler)
  self.model:load_state_dict(c.current_model or c.model)
  if install_opt then install_opt() end
  if install_sched then
    install_sched()
    if math.type(tstate.max_epochs) == "integer" and tstate.max_epochs ~= self.max_epochs
        and not self.scheduler_config.reduce_on_plateau then
      -- the restored schedule is the checkpoint's: it was built for its max_epochs (a cosine
      -- schedule past its end runs at its last rate); a plateau schedule has no horizon
      local msg = string.format("resume: the checkpoint's learning-rate schedule was built for " ..
        "max_epochs = %d, this fit has %d; the restored schedule is kept", tstate.max_epochs, self.max_epochs)
      self:warn(msg)
    end
  end
  if self.scaler then self.scaler:load_state_dict(tstate.scaler) end
  accumulation.restore(self, c, optimizer_params(self.optimizer))
  local saved, claimed = c.callbacks or {}, {}
  for _, cb in ipairs(self.callbacks) do
    if cb.state_key and saved[cb.state_key] ~= nil then
      cb:load_state_dict(saved[cb.state_key])
      claimed[cb.state_key] = true
    end
  end
  -- a state no callback claims (a changed monitor renames the key) restarts that bookkeeping:
  -- the best value and patience count from the resumed epoch on, so say it (a warning: on
  -- stderr whatever the progress mode, or to opts.log)
  for _, key in ipairs(U.sorted_keys(saved)) do
    if not claimed[key] then
      local msg = string.format("resume: the checkpoint's %s state matches no callback of this fit " ..
        "(a changed monitor or a removed callback?); it is not restored", key)
      self:warn(msg)
    end
  end
  self.generator:set_state(rng)
  if c.rng.default then graphids.set_rng_state(c.rng.default) end
  self.epoch = tstate.next_epoch
  self._resume_sums = tstate.epoch_sums
  self.global_step = c.global_step
  self.should_stop = tstate.should_stop == true
  self.callback_metrics = c.metrics or {}
  self.resumed_from = path
end

-- Loads and checks a checkpoint for model before anything is changed or written.  One that
-- records no vocabulary digest (another writer's weights, a fit on data without a vocabulary)
-- is checked without it, and said: check_compat would refuse the digest it cannot compare, and
-- testing such a file is allowed (a resume of a weights-only file fails on its missing state).
local function load_checked(self, path, model, dm, fname)
  if type(path) ~= "string" then
    error(string.format("Trainer:%s: ckpt_path must be a string, got %s", fname, type(path)), 0)
  end
  local c = ckpt.load(path)
  local digest = vocab_digest(dm)
  local hp = type(c.hyper_parameters) == "table" and c.hyper_parameters or {}
  if digest ~= nil and hp.vocab_digest == nil then
    self:warn(string.format("checkpoint '%s' records no vocabulary digest; its vocabulary cannot be " ..
      "checked against the data's (%s), only its class and shapes are", path, digest))
    digest = nil
  end
  ckpt.check_compat(c, model, { vocab_digest = digest })
  return c
end

-- ---------------------------------------------------------------- fit

-- A class passed where its instance belongs (it has the methods, so it would pass the checks
-- below and fail deep inside) is named.
local function not_a_class(v, what, fname)
  if type(v) == "table" and rawget(v, "__index") == v and rawget(v, "__name") then
    error(string.format("Trainer:%s: %s is the class %s, not an instance: build one (%s{...})", fname,
      what, v.__name, v.__name), 0)
  end
end

local function check_model(model, fname, needs)
  if type(model) ~= "table" then
    error(string.format("Trainer:%s: model must be a model object, got %s", fname, type(model)), 0)
  end
  not_a_class(model, "model", fname)
  for _, m in ipairs(needs) do
    if type(model[m]) ~= "function" then
      error(string.format("Trainer:%s: model %s has no %s() (the step API, docs/models.md)", fname,
        class.name_of(model), m), 0)
    end
  end
end

-- A batch on the trainer's device (graphids.trainer.device).
local function on_device(self, batch)
  return Device.batch(batch, self.device)
end

local function ctx_of(self)
  return { generator = self.generator, device = self.device, epoch = self.epoch }
end

-- model[name](model, batch, ctx), under autocast for a mixed precision.
local function run_step(self, model, name, batch, ctx)
  if self.autocast_dtype then
    return graphids.autocast(self.autocast_dtype, model[name], model, batch, ctx)
  end
  return model[name](model, batch, ctx)
end

-- What the loop options change that a user could miss: fast_dev_run's smoke test (Lightning
-- says so too), and a fit whose epochs never validate while a callback monitors a val metric
-- (its best, patience or checkpoint would then judge no epoch).
local function announce_loop_options(self)
  if self.fast_dev_run then
    say(self, string.format("fast_dev_run: %d batch(es) of training and of validation, one epoch; no " ..
      "checkpoint is written and early stopping stands aside", self.fast_dev_run))
    return
  end
  if self.max_epochs == 0 or self.limit_train_batches == 0 then return end -- (nothing trains)
  local why = self:_no_validation_reason()
  if not why then return end
  for _, c in ipairs(self.callbacks) do
    if type(c.monitor) == "string" and c.monitor:match("^val") then
      self:warn(string.format("%s monitors '%s', but no epoch of this fit validates (%s); it judges no " ..
        "epoch", class.name_of(c), c.monitor, why))
    end
  end
end

-- Fits model on datamodule.  opts.ckpt_path resumes from a checkpoint (normally
-- <root>/checkpoints/last.safetensors): weights, optimizer, scheduler, callbacks, data
-- position, RNG and counters, after checking that it belongs to this model and vocabulary.
-- A missing, corrupt or incompatible checkpoint raises before anything is written.
function Trainer:fit(model, datamodule, opts)
  local o = U.options("Trainer:fit", opts, { ckpt_path = U.NONE })
  o.ckpt_path = require("graphids.trainer.ckpt_path").resolve(self, o.ckpt_path, "fit") -- "last", "best"
  check_model(model, "fit", { "training_step", "validation_step", "configure_optimizers", "parameters" })
  if model.automatic_optimization == false and self.accumulate_grad_batches > 1 then
    -- its training_step steps its own optimizer on every batch: there is nothing to accumulate
    -- (Lightning refuses the pair too)
    error(string.format("Trainer:fit: accumulate_grad_batches = %d needs automatic optimization; %s " ..
      "optimizes itself (automatic_optimization = false) and steps on every batch",
      self.accumulate_grad_batches, class.name_of(model)), 0)
  end
  if model.automatic_optimization == false and self.gradient_clip_val ~= nil then
    -- the trainer clips only the gradients of the steps it takes: the value would be ignored
    -- (Lightning refuses it too); such a model clips in its own step (the DQN's max_grad_norm)
    error(string.format("Trainer:fit: gradient_clip_val = %s needs automatic optimization; %s optimizes " ..
      "itself (automatic_optimization = false) and clips, if at all, in its own training_step",
      tostring(self.gradient_clip_val), class.name_of(model)), 0)
  end
  not_a_class(datamodule, "datamodule", "fit")
  if type(datamodule) ~= "table" or type(datamodule.train_batches) ~= "function" then
    error("Trainer:fit: datamodule must provide train_batches(), next_epoch() and val_loader()", 2)
  end
  if self.fitted and o.ckpt_path == nil then
    -- its callbacks hold the first fit's state (best score, patience count, best checkpoint)
    error("Trainer:fit: this Trainer has fitted before and its callbacks keep that fit's state; " ..
      "make a new Trainer (with new callbacks), or resume with ckpt_path", 2)
  end
  if datamodule.setup then datamodule:setup() end
  local resume = o.ckpt_path and load_checked(self, o.ckpt_path, model, datamodule, "fit") or nil
  self.model, self.datamodule = model, datamodule
  Device.model(model, self.device)
  -- (from the data module's train_loader(), set up above: Lightning's users size a per-step
  -- schedule by it.  A loop option that cannot be met, a fraction of no batch, is named here)
  self.estimated_stepping_batches = self:_estimated_stepping_batches()
  local opt, sched = model:configure_optimizers({ max_epochs = self.max_epochs,
    estimated_stepping_batches = self.estimated_stepping_batches })
  if opt == nil then
    error("Trainer:fit: configure_optimizers() returned no optimizer", 0)
  end
  if type(opt) ~= "table" or type(opt.step) ~= "function" or type(opt.zero_grad) ~= "function" then
    error("Trainer:fit: configure_optimizers() must return an optimizer (with step and zero_grad), got " ..
      class.name_of(opt), 0)
  end
  -- a scheduler, or Lightning's config of one ({scheduler = S, interval = "step", ...})
  local sched_cfg = SchedulerConfig.normalize(sched, self)
  SchedulerConfig.check_plateau(self, sched_cfg)
  self.optimizer, self.scheduler, self.scheduler_config = opt, sched_cfg and sched_cfg.scheduler, sched_cfg
  if model.automatic_optimization == false then
    -- A model that optimizes itself steps the optimizer the trainer gave it (model.optimizer), so
    -- that its state is the one checkpoints save and resume restores.
    rawset(model, "optimizer", opt)
  end
  self.generator = graphids.Generator(self.seed)
  -- (a model that optimizes itself runs its own backward: autocast, but no scaler)
  self.scaler = self.precision == "16-mixed" and model.automatic_optimization ~= false and amp.GradScaler()
    or nil
  self.epoch, self.global_step, self.should_stop = 0, 0, false
  self.callback_metrics, self.history, self.stopped_by_time = {}, {}, false
  self.accumulating, self.skipped_validation = false, false
  self.resumed_from = nil
  -- where in an epoch a save_checkpoint is (fit_loop.lua): an earlier fit that failed inside
  -- an epoch's end or its validation left them set, and a retry's checkpoints then claimed the
  -- epoch ended (skipping the rest of it on resume) or refused a mid-epoch save
  self._in_epoch_end, self._validating, self._epoch_mean, self._resume_sums = false, false, nil, nil
  self._in_batch_start, self._judging = false, false
  -- from here the callbacks take this fit's state (a restore, then the hooks): a failure in the
  -- setup above (configure_optimizers) leaves the Trainer as new
  self.fitted = true
  if resume then
    -- a restore that fails (a callback's on_load_checkpoint) is the fit's failure: on_exception
    -- sees it, and the Trainer and the data module are left as they were
    local dm_state = datamodule.state_dict and datamodule:state_dict() or nil
    local okr, rerr = pcall(self._restore, self, resume)
    if not okr then
      if dm_state ~= nil then pcall(datamodule.load_state_dict, datamodule, dm_state) end
      self.fitted, self.stage = false, "fit"
      self:_fail(rerr)
    end
    if self.epoch >= self.max_epochs or self.should_stop then
      -- a finished run resumed: say why nothing trains rather than return as if it had
      local msg = string.format("resume: the checkpoint is at its end (next epoch %d, max_epochs %d%s); " ..
        "nothing to train", self.epoch, self.max_epochs, self.should_stop and ", stopped early" or "")
      self:warn(msg)
    end
  elseif datamodule.state_dict and datamodule.load_state_dict then
    -- A fresh fit starts the data at epoch 0, whatever a previous fit left in the module.
    local st = datamodule:state_dict()
    st.epoch, st.position = 0, 0
    datamodule:load_state_dict(st)
  end
  self.progress = Progress.new({ mode = self.progress_mode, every = self.log_every_n_steps })
  announce_loop_options(self)
  self.stage = "fit" -- (what on_exception hooks read: "fit" or "test")
  local ok, err = xpcall(function()
    self:_hook("on_fit_start")
    self:_fit_loop()
    self:_hook("on_fit_end")
  end, Trainer._keep_traceback)
  if not ok then self:_fail(err) end
  return self
end

-- xpcall's handler for fit and test: the failing frames (a callback, a step inside the model),
-- which the re-raise in _fail loses, kept for a caller that shows tracebacks (pipeline
-- --traceback).
function Trainer._keep_traceback(e)
  M.last_error = { message = e, traceback = debug.traceback(tostring(e), 2) }
  return e
end

-- The on_exception hooks see err (trainer.stage says whether fit or test failed); one failing
-- itself must not hide the original, which is raised again.
function Trainer:_fail(err)
  for _, c in ipairs(self.callbacks) do
    pcall(c.on_exception, c, self, err)
  end
  error(err, 0)
end

-- (graphids.trainer.fit_loop: epochs, their batches and validation, the epoch-end hooks)
require("graphids.trainer.fit_loop")(Trainer, { on_device = on_device, ctx_of = ctx_of, run_step = run_step,
  optimizer_params = optimizer_params, say = say })

-- ---------------------------------------------------------------- test and predict

-- (graphids.trainer.evaluation: Trainer:predict, save_predictions and test)
local evaluation = require("graphids.trainer.evaluation")(Trainer, { check_model = check_model,
  on_device = on_device, ctx_of = ctx_of, run_step = run_step, load_checked = load_checked })
M.concat_outputs = evaluation.concat_outputs

return M
