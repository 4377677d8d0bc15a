-- graphids.track.callback -- the trainer callback that tracks a fit (graphids.track.Callback).
--   trainer callbacks: track.Callback{run_dir = dir, experiment = "graphids/hcrl_sa/gat",
--                                     run_name = "gat_seed0", params = cfg, tags = {...}}
--   (or {run = an open graphids.track run}; {resume = ref} logs to the run of a checkpoint's
--   tracking reference, Run:ref())
-- on_fit_start opens the fit run (unless one was given) and traces a "fit" span (and, for a
-- resumed fit, a resumed_from_checkpoint event with the checkpoint and its next epoch);
-- on_train_epoch_start opens an "epoch" span; on_train_epoch_end logs the epoch's numeric
-- trainer.callback_metrics with step = epoch (the validation metrics are in them by then, so
-- on_validation_epoch_end logs nothing) and closes the span with them; on_step_metrics logs
-- the per-step values of trainer:log_step_metrics (LearningRateMonitor's per-step lr) with their
-- step, the global step before the optimizer step they belong to (Lightning's logger step); on_test_start /
-- on_test_end trace a "test" span (the test run itself is graphids.track.log_test_run's);
-- on_fit_end logs peak memory (CPU, and GPU when one is used), epochs_run,
-- the best checkpoint's path and SHA-256, and finishes the run FINISHED; on_exception records
-- the error (tag and trace) and finishes the run FAILED, also after on_fit_end finished it (a
-- later callback's on_fit_end failed the fit) (a test's error closes the test span only).
-- Nothing here raises for a tracking problem: the run spools instead (graphids.track).
-- System metrics (graphids.track.sysmetrics, MLflow's system/ metrics): sampled at on_fit_start
-- and then from the fit's hooks (each batch's end, an epoch's and a validation's start and end)
-- once system_metrics_interval seconds (default 5, or $MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL;
-- false or 0: none) have passed, every system_metrics_samples_before_logging samples (1)
-- logged to the fit run as one step, named system/<system_metrics_node_id>/... with a node id
-- (graphids.track.sysmetrics_settings: the options and MLflow's variables).  system_metrics:
-- options for the sampler (sysmetrics.OPTIONS: disk_path, proc; clock, read, disk_usage,
-- gpu_memory, warn: fakes for specs), checked when the callback is made.  A resumed run's
-- system metrics go on after the largest system step it holds (graphids.track.system_step),
-- so each step logged is also recorded in the run dir.
local class = require "graphids.class"
local core = require "graphids.core"
local Callback = require "graphids.callbacks.base"
local sysmetrics = require "graphids.track.sysmetrics"
local system_step = require "graphids.track.system_step"
local traces = require "graphids.track.traces"
local sysmetrics_settings = require "graphids.track.sysmetrics_settings"

local TrackCallback = class("TrackCallback", Callback)

local ALLOWED = { run_dir = true, experiment = true, run_name = true, params = true, tags = true,
  uri = true, lake_root = true, parent = true, run = true, tracer = true, store_opts = true, resume = true,
  system_metrics_interval = true, system_metrics_samples_before_logging = true, system_metrics_node_id = true,
  system_metrics = true }
-- (the sampler's own options: not the run's)
local SAMPLER_OPTS = { system_metrics_interval = true, system_metrics_samples_before_logging = true,
  system_metrics_node_id = true, system_metrics = true }

function TrackCallback:__init(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not ALLOWED[k] then
      error("track.Callback: unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  require("graphids.track").check_experiment(opts.experiment, "track.Callback")
  -- (checked now, not when the fit starts)
  self.system_metrics = sysmetrics_settings.resolve(opts, 3)
  self.sampling_interval = self.system_metrics.interval
  self.opts = opts
  self.run = opts.run
  self.tracer = opts.tracer or traces.open(opts.run_dir)
end

function TrackCallback:on_fit_start(trainer)
  if self.run == nil then
    local o = {}
    for k, v in pairs(self.opts) do
      if k ~= "run_dir" and k ~= "run" and not SAMPLER_OPTS[k] then o[k] = v end
    end
    o.tracer = self.tracer
    self.run = require("graphids.track").start_fit_run(self.opts.run_dir, o)
  end
  self.span = self.tracer:start_span("fit", { max_epochs = trainer.max_epochs, start_epoch = trainer.epoch })
  if trainer.resumed_from ~= nil then
    -- (the trainer has restored it by now: epoch is the next one to train)
    self.tracer:event("resumed_from_checkpoint", { path = trainer.resumed_from, epoch = trainer.epoch,
      global_step = trainer.global_step })
  end
  self:_start_sampler(trainer)
end

-- The system metrics sampler of this fit (none without a run or with the interval off), and
-- its first sample, as MLflow's monitor takes one when it starts.
function TrackCallback:_start_sampler(trainer)
  if not self.sampling_interval or self.run == nil or self.run.noop then return end
  local o = {}
  for k, v in pairs(self.opts.system_metrics or {}) do o[k] = v end
  o.interval, o.device = self.sampling_interval, o.device or trainer.device
  local set = self.system_metrics
  o.samples_before_logging, o.node_id = set.samples_before_logging, set.node_id
  local tracer = self.tracer
  o.warn = o.warn or function(msg)
    io.stderr:write("graphids: warning: ", msg, "\n")
    tracer:warning("system_metrics_missing", { reason = msg })
  end
  if o.step == nil then o.step = self:_first_system_step() end
  self.sampler = sysmetrics.new(o)
  self:_poll_system()
end

-- The sampler's first step: 0 for a new run; a resumed run's system metrics go on after the
-- largest step it holds (graphids.track.system_step), as MLflow's monitor does when a run is
-- resumed.  When the store could not say, the run's spool is all there is: said once.
function TrackCallback:_first_system_step()
  local step, why = system_step.first(self.run)
  if why and self.run.system_steps then
    local msg = string.format("system metrics of the resumed run %s go on at step %d, after the steps " ..
      "its spool holds: %s could not say which steps it holds (%s), so a step the fit it resumes " ..
      "delivered there may be logged again", tostring(self.run:ref()), step, tostring(self.run.uri),
      tostring(why))
    io.stderr:write("graphids: warning: ", msg, "\n")
    self.tracer:warning("system_metrics_resume_step", { step = step, reason = tostring(why) })
  end
  return step
end

-- Logs a system metrics sample when one is due.  Sampling stops at the first sample the store
-- refuses (a run deleted under the fit refuses every later one alike) or that cannot be
-- spooled, as MLflow's monitor returns at its first failed log: the run's warning has said why,
-- and each later sample would cost another refusal (an fsync'd set-aside line) or failure.
function TrackCallback:_poll_system()
  local s = self.sampler
  if s == nil then return end
  local m, step = s:poll()
  if not (m and next(m)) then return end
  local fate = self.run:log_metrics(m, step)
  if fate == "refused" or fate == "lost" then
    self.sampler = nil
    self.tracer:warning("system_metrics_stopped", { step = step, reason = "the sample was " .. fate })
  elseif fate == "sent" or fate == "spooled" then
    self:_record_system_step(step)
  end
end

-- Keeps the step just logged in the run dir's record (graphids.track.system_step), which a
-- resume that finds the store down goes by.  A record that cannot be written is said once: a
-- resume may then log some of this fit's steps again.
function TrackCallback:_record_system_step(step)
  local ok, err = system_step.record(self.run, step)
  if ok or self.record_warned then return end
  self.record_warned = true
  local msg = string.format("cannot record the system metrics step in %s/%s: %s; a resume of this fit " ..
    "with its store down may log some steps again", tostring(self.run.run_dir), system_step.RECORD,
    tostring(err))
  io.stderr:write("graphids: warning: ", msg, "\n")
  self.tracer:warning("system_metrics_record_failed", { step = step, reason = tostring(err) })
end

local function numeric(t)
  local out = {}
  for k, v in pairs(t or {}) do
    if type(v) == "number" then out[k] = v end
  end
  return out
end

function TrackCallback:on_step_metrics(_, metrics, step)
  if self.run then self.run:log_metrics(numeric(metrics), step) end
end

function TrackCallback:on_train_batch_end()
  self:_poll_system()
end

function TrackCallback:on_validation_epoch_start()
  self:_poll_system()
end

function TrackCallback:on_validation_epoch_end()
  self:_poll_system()
end

function TrackCallback:on_train_epoch_start(trainer)
  self:_poll_system()
  self.epoch_span = self.tracer:start_span("epoch", { epoch = trainer.epoch })
end

function TrackCallback:on_train_epoch_end(trainer)
  self:_poll_system()
  local m = numeric(trainer.callback_metrics)
  self.run:log_metrics(m, trainer.epoch)
  m.epoch, m.global_step = trainer.epoch, trainer.global_step
  if self.epoch_span then
    self.epoch_span:finish("ok", m)
    self.epoch_span = nil
  else
    self.tracer:event("epoch", m)
  end
end

function TrackCallback:on_test_start()
  self.test_span = self.tracer:start_span("test")
end

function TrackCallback:on_test_end(_, metrics)
  if self.test_span then self.test_span:finish("ok", numeric(metrics)) end
  self.test_span = nil
end

local function gpu_peak_mb(trainer)
  -- (gpu.memory takes the device's index: given the name "cuda:0" it raised, and the pcall
  -- left peak_gpu_mb out of every GPU fit)
  local index = sysmetrics.cuda_index(trainer.device)
  if index == nil then return nil end
  local ok, gpu = pcall(require, "graphids")
  if not ok or not gpu.gpu then return nil end
  local ok2, m = pcall(gpu.gpu.memory, index)
  if ok2 and type(m) == "table" and m.peak then return m.peak / 2 ^ 20 end
  return nil
end

function TrackCallback:on_fit_end(trainer)
  self.sampler = nil -- (MLflow's monitor stops with the run, taking no last sample)
  local m = { epochs_run = trainer.epoch, peak_cpu_mb = core.memory().peak_bytes / 2 ^ 20 }
  m.peak_gpu_mb = gpu_peak_mb(trainer)
  self.run:log_metrics(m, trainer.epoch)
  local tags = {}
  local ck = trainer.checkpoint_callback and trainer:checkpoint_callback()
  local best = ck and ck:best_model_path()
  if best and core.stat(best) then
    tags["graphids.best_ckpt_path"] = best
    tags["graphids.ckpt_sha256"] = core.sha256_file(best)
  end
  if next(tags) then self.run:set_tags(tags) end
  self.run:finish("FINISHED")
  m.best_ckpt_path, m.ckpt_sha256 = tags["graphids.best_ckpt_path"], tags["graphids.ckpt_sha256"]
  if self.span then self.span:finish("ok", m) end
end

function TrackCallback:on_exception(trainer, err)
  if trainer.stage == "test" then
    -- a test's failure is the test span's: the fit run it follows finished as it did
    if self.test_span then self.test_span:finish("error", {}, err) end
    self.test_span = nil
    return
  end
  self.sampler = nil
  if self.run then
    self.run:set_tags({ [require("graphids.track").ERROR_TAG] = tostring(err) })
    self.run:finish("FAILED")
  end
  if self.span and self.span.open then
    self.span:finish("error", { epoch = trainer.epoch }, err)
  elseif self.span then
    -- (the fit span closed "ok" in this callback's on_fit_end; a later callback's failed)
    self.tracer:error("fit_failed_after_end", { epoch = trainer.epoch, error = tostring(err) })
  end
end

return TrackCallback
