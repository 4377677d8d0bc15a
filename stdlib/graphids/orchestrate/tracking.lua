-- graphids.orchestrate.tracking -- the one place where the stage verbs meet tracking
-- (graphids.track: traces.jsonl and MLflow runs).  Every call is protected: a tracking failure
-- is reported on stderr and never fails a stage (DESIGN §6).  Without a run dir nothing is
-- traced or tracked.
--   local tr = require "graphids.orchestrate.tracking"
--   tr.event(run_dir, "stage_train", {stage = "gat"})
--   tr.span(run_dir, "stage", {stage = "gat", phase = "fit"}, fn, ...)  -- fn's results
--   tr.stage(run_dir, "gat", "fit", fn, ...)   -- a "stage" span; a failure also as stage_failed
--   tr.failed(run_dir, "gat", "resume", err)   -- a stage_failed event, where the failure happened
--   local h = tr.start_fit(resolved)   -- h.callback opens the fit run at on_fit_start, feeds, closes it
--   tr.end_fit(h, ok)                  -- always: closes the run if the callback could not
--   tr.log_test(resolved, metrics)     -- the separate test-phase run row
-- Run identity: experiment "graphids/<dataset>/<stage>", run name
-- "<stage>_<variant>_<dataset>_seed<N>", tags graphids.{dataset,stage,variant,seed,scale,run_dir},
-- params = the validated configuration (flattened by graphids.track).
local class = require "graphids.class"
local config = require "graphids.config"
local Callback = require "graphids.callbacks.base"
local gio = require "graphids.io"

local M = {}

local function track()
  return require "graphids.track"
end

local function warn(what, err)
  io.stderr:write(string.format("graphids: tracking: %s failed (the run goes on): %s\n", what, tostring(err)))
end

local tracers = {}

-- The tracer of a run dir (one per run dir for the process's life: spans nest in it).
function M.tracer(run_dir)
  if tracers[run_dir] == nil then
    tracers[run_dir] = track().traces.open(run_dir)
  end
  return tracers[run_dir]
end

-- A structured event in run_dir/traces.jsonl (level from fields.level, default info).
function M.event(run_dir, event, fields)
  if run_dir == nil then
    return
  end
  local f, level = {}, "info"
  for k, v in pairs(fields or {}) do
    if k == "level" then level = v else f[k] = v end
  end
  local ok, err = pcall(function() M.tracer(run_dir):event(event, f, level) end)
  if not ok then warn("event " .. event, err) end
end

-- Runs fn(...) inside a span of run_dir/traces.jsonl and returns its results; an error is
-- recorded on the span's end line (status "error", the message) and raised again unchanged.
-- Spans nest: the trainer's fit and epoch spans (the tracking callback) open inside a stage's.
-- Without a run dir fn just runs.
function M.span(run_dir, name, fields, fn, ...)
  if run_dir == nil then
    return fn(...)
  end
  local ok, tracer = pcall(M.tracer, run_dir)
  if not ok then
    warn("span " .. name, tracer)
    return fn(...)
  end
  return tracer:span(name, fields, fn, ...)
end

-- The failure M.failed recorded last, so that the M.stage around it does not record it again.
local recorded_failure

-- Records err as a stage_failed event of the stage's phase (level error, with its message).
-- Called where a failure happens when its phase is not the enclosing M.stage's (a refused
-- resume inside a fit).
function M.failed(run_dir, stage, phase, err)
  M.event(run_dir, "stage_failed", { level = "error", stage = stage, phase = phase, error = tostring(err) })
  recorded_failure = err
end

-- Runs fn(...) as one phase of a stage and returns its results: inside a "stage" span
-- ({stage, phase}) of run_dir's trace, a failure recorded on the span's end line and as a
-- stage_failed event of phase (once: not again when M.failed recorded it where it happened),
-- then raised unchanged.  The stage verbs and the fusion states' extraction all run through
-- here, from a pipeline or called directly.  Without a run dir fn just runs.
function M.stage(run_dir, stage, phase, fn, ...)
  local function run(...)
    recorded_failure = nil
    local res = table.pack(pcall(fn, ...))
    local recorded = recorded_failure
    recorded_failure = nil
    if res[1] then return table.unpack(res, 2, res.n) end
    if res[2] ~= recorded then M.failed(run_dir, stage, phase, res[2]) end
    recorded_failure = nil
    error(res[2], 0)
  end
  return M.span(run_dir, "stage", { stage = stage, phase = phase }, run, ...)
end

-- experiment, run_name, tags, params and lake root of a resolved config.
local function identity(resolved)
  local v = config.thaw(resolved.validated)
  local id = v.identity
  -- the run dir as one folder, however --lake-root spelled it (L, ./L, /abs/L): the records of a
  -- store are grouped by this tag
  local dir_key = require("graphids.orchestrate.run_dir").same_dir_key(resolved.run_dir)
  local tags = { ["graphids.run_dir"] = dir_key,
    ["graphids.config_digest"] = resolved.config_digest }
  for _, k in ipairs({ "dataset", "stage", "variant", "seed", "scale" }) do
    tags["graphids." .. k] = tostring(id[k])
  end
  -- <lake_root>/<dataset>/<stage>/<variant>/seed_<N>: the lake root holds mlruns/
  local lake = resolved.run_dir:match("^(.*)/[^/]+/[^/]+/[^/]+/seed_%d+$")
  return {
    experiment = string.format("graphids/%s/%s", id.dataset ~= "" and id.dataset or "unknown",
      id.stage ~= "" and id.stage or resolved.stage_name),
    run_name = string.format("%s_%s_%s_seed%s", resolved.stage_name, id.variant, id.dataset,
      tostring(id.seed)),
    params = v, tags = tags, lake_root = lake,
  }
end

-- A callback whose hooks cannot fail the fit: a tracking callback's error is reported and the
-- training goes on (the tracker spools what it could not deliver).
local Guarded = class("GuardedTrackingCallback", Callback)

function Guarded:__init(inner)
  self.inner = inner
end

for _, hook in ipairs(Callback.HOOKS) do
  Guarded[hook] = function(self, ...)
    local ok, err = pcall(self.inner[hook], self.inner, ...)
    if not ok then warn(hook, err) end
  end
end

-- Opens the fit run and returns a handle whose callback logs the epochs into it and closes it
-- at fit end or on an exception; nil without a run dir.
-- Raises when $MLFLOW_TRACKING_URI names a store no client can take: a configuration error,
-- not a tracking failure to spool (that spool could never be sent).
function M.check_uri()
  local env = os.getenv("MLFLOW_TRACKING_URI")
  if env ~= nil and env ~= "" then
    local kind, msg = require("graphids.track.mlflow").classify(env)
    if kind == nil then error("MLFLOW_TRACKING_URI: " .. msg, 0) end
  end
end

-- The run dir's file naming its fit's tracking run (Run:ref()), for a resume to log into it again.
-- Beside the checkpoints, not in them: a checkpoint's bytes (and so its hash, which the pipeline
-- compares) must not depend on a run id drawn at random.
M.FIT_RUN_FILE = "tracking_run.json"

-- The reference of the fit run recorded in run_dir, or nil.  One that is not a run reference
-- (a damaged file) is a warning and nil: the resume opens a new run, which logs and spools as
-- any, where logging into it failed and lost every event of the resumed epochs.
function M.fit_run_ref(run_dir)
  local doc = run_dir and gio.read_json(gio.join(run_dir, M.FIT_RUN_FILE))
  local ref = type(doc) == "table" and doc.fit or nil
  if ref == nil then return nil end
  if type(ref) == "string" and (ref:match("^key:%x+$") or ref:match("^[%w][%w_%-]*$")) then return ref end
  warn("resume", string.format("%s names no run (fit = %s); this fit logs into a new run",
    gio.join(run_dir, M.FIT_RUN_FILE), require("graphids.json").encode(ref)))
  return nil
end

-- The handle of a fit's tracking: h.open(trainer), called as the fit commits (stage.lua),
-- opens the fit run and records it as the run dir's fit run (tracking_run.json); h.callback logs
-- the epochs and closes the run (its own on_fit_start waits for h.open).  A fit refused before
-- it commits (a bad learning rate, a locked checkpoint folder) opens nothing: the tracking store
-- then keeps the finished run's rows as they were, as the run dir keeps its files.  opts.resume:
-- the reference of the run to log into again (RUNNING), rather than opening a new one beside
-- the run a killed fit left RUNNING.  nil without a run dir.
function M.start_fit(resolved, opts)
  local run_dir = resolved.run_dir
  if run_dir == nil then
    return nil
  end
  opts = opts or {}
  local ok, cb = pcall(function()
    local o = identity(resolved)
    return track().Callback { run_dir = run_dir, experiment = o.experiment, run_name = o.run_name,
      params = o.params, tags = o.tags, lake_root = o.lake_root, tracer = M.tracer(run_dir),
      resume = opts.resume }
  end)
  if not ok then
    warn("start_fit", cb)
    return {}
  end
  local g = Guarded(cb)
  function g.on_fit_start() end -- h.open does it, at the commit
  local function open(trainer)
    Guarded.on_fit_start(g, trainer)
    M.record_fit_run(run_dir, cb.run and cb.run:ref() or nil) -- (none when it could not open)
  end
  return { callback = g, open = open }
end

-- Records ref (Run:ref() of the fit's run; nil: none) as run_dir's fit run, when the fit commits
-- to the run dir.  A failure to write it is a warning: tracking never fails a fit.
function M.record_fit_run(run_dir, ref)
  local path = gio.join(run_dir, M.FIT_RUN_FILE)
  local ok, err = pcall(function()
    if ref == nil then return assert(gio.remove_tree(path)) end
    return assert(gio.write_json(path, { fit = ref }))
  end)
  if not ok then warn("record_fit_run", err) end
end

-- The safety net after fit: a run the callback left open (a failure before on_fit_start, or
-- inside its own teardown) is closed here.
function M.end_fit(h, ok)
  if h == nil or h.callback == nil then
    return
  end
  local run = h.callback.inner.run
  if run and not run.finished then
    local okf, err = pcall(run.finish, run, ok and "FINISHED" or "FAILED")
    if not okf then warn("end_fit", err) end
  end
end

-- The test-phase run row: params, final scalars (non-finite ones logged as NaN / inf; the read
-- side, graphids.track.query, turns them into null), tags.
function M.log_test(resolved, metrics)
  if resolved.run_dir == nil then
    return
  end
  local ok, err = pcall(function()
    local o = identity(resolved)
    o.metrics, o.tracer = metrics, M.tracer(resolved.run_dir)
    track().log_test_run(resolved.run_dir, o)
  end)
  if not ok then warn("log_test_run", err) end
end

return M
