-- graphids.track -- experiment tracking: MLflow runs (FileStore or REST), spooled when the
-- store fails, and the trainer callback that feeds them.
--   local track = require "graphids.track"
--   local run = track.start_fit_run(run_dir, {experiment = "graphids/hcrl_sa/gat",
--     run_name = "gat_seed0", params = resolved_config, tags = {["graphids.seed"] = 0}})
--   run:log_metrics({train_loss = 0.4, val_loss = 0.5}, epoch)
--   run:finish("FINISHED")                                  -- or "FAILED" / "KILLED"
--   track.log_test_run(run_dir, {experiment = ..., run_name = ..., metrics = test_metrics})
--   local parent = track.parent_run({experiment = ..., run_name = "gat_group"})
--   trainer callbacks: track.Callback{run_dir = run_dir, experiment = ..., params = cfg}
--
-- The store comes from MLFLOW_TRACKING_URI (http(s):// -> REST, file: or a path -> FileStore),
-- else a FileStore under <lake_root>/mlruns (opts.lake_root, $GRAPHIDS_LAKE_ROOT, "lake").
-- A tracking failure never fails training: the first failing call of a run prints one warning
-- (stderr and a "tracking_failed" trace event), and that event and every later one of the run
-- go to run_dir/tracking_spool.jsonl, delivered later by `graphids track sync RUN_DIR`.  A
-- request the store refuses for what it holds (a 4xx answer, graphids.track.mlflow.refused)
-- is no failure of the store: that event alone is set aside in
-- run_dir/tracking_spool.rejected.jsonl, with a warning, and the run goes on.  With
-- run_dir == nil nothing is tracked at all (a no-op run).
local core = require "graphids.core"
local mlflow = require "graphids.track.mlflow"
local spool = require "graphids.track.spool"
local system_step = require "graphids.track.system_step"
local traces = require "graphids.track.traces"

local M = {
  mlflow = mlflow,
  spool = spool,
  traces = traces,
}

local Run = {}
Run.__index = Run
Run.__name = "graphids.track.Run"
M.Run = Run

local START_OPTS = { experiment = true, run_name = true, params = true, tags = true, uri = true,
  lake_root = true, parent = true, tracer = true, store_opts = true, resume = true }

local function check_opts(fname, opts, allowed)
  for k in pairs(opts or {}) do
    if not allowed[k] then
      local names = mlflow.sorted_keys(allowed)
      error(string.format("%s: unknown option '%s' (allowed: %s)", fname, tostring(k),
        table.concat(names, ", ")), 3)
    end
  end
end

local function command_line(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  if not p then return nil end
  local out = p:read("l")
  p:close()
  return out
end

-- Tags that say who ran what where: user, host, git commit (inside a git tree), SLURM job ids
-- when present, graphids version.
function M.identity_tags()
  local t = {
    ["mlflow.user"] = mlflow.user_name(),
    ["mlflow.source.name"] = "graphids",
    ["mlflow.source.type"] = "LOCAL",
    ["graphids.host"] = core.hostname() or "unknown",
    ["graphids.version"] = core.version(),
  }
  local sha = command_line("git rev-parse HEAD")
  if sha and sha:match("^%x+$") then t["mlflow.source.git.commit"] = sha end
  for _, v in ipairs({ "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_CLUSTER_NAME",
    "SLURMD_NODENAME", "SLURM_JOB_PARTITION" }) do
    local x = os.getenv(v)
    if x and x ~= "" then t["slurm." .. v:lower()] = x end
  end
  return t
end

-- Stores that failed in this process, by URI, with the time: a later run within DOWN_FOR
-- seconds spools at once instead of waiting through the retries again (an unreachable server
-- costs minutes of backoff per call).
local down = {}
M.DOWN_FOR = 300
-- The tag a resumed run gets: the time (ms) it was resumed.
M.RESUMED_TAG = spool.RESUMED_TAG
-- The tag of a fit that failed: its error (graphids.track.Callback); a resume removes it.
M.ERROR_TAG = "graphids.error"

-- An experiment name MLflow accepts (non-empty, one line, at most 500 characters); bad
-- configuration is refused when the run is set up, not spooled to fail at every sync.
function M.check_experiment(name, fname)
  if name == nil then return end
  if type(name) ~= "string" or name == "" or name:find("[\r\n]") or (utf8.len(name) or #name) > 500 then
    error(string.format("%s: experiment must be a one-line name of 1..500 characters, got %q", fname,
      mlflow.truncate(tostring(name), 80)), 4) -- 80 characters: none cut in two
  end
end

local function noop_run()
  return setmetatable({ noop = true }, Run)
end

-- Whether the run a resume refers to (run_id, or the run tagged graphids.run_key = key in the
-- experiment) is gone: {run_id =, why = "deleted" | "no longer there"}, false (it is there, or
-- does not exist yet: a key whose create_run is still spooled), or nil, message, code, status
-- when the store failed.  An answer the store refused otherwise (a 4xx) leaves the decision to
-- the events themselves (false).  With false comes what the store says of the run's system
-- metrics ({system_step, system_step_error, run_key}: get_run_info's; system_step = false when
-- the run is not in the store yet), or nil, why when it could not say.
local function resumed_run_gone(store, run_id, key, experiment)
  local function failure(err, code, status)
    if mlflow.refused(code, status) then return false, nil, err end
    return nil, err, code, status
  end
  if run_id == nil then
    local exp, err, code, status = store:get_or_create_experiment(experiment)
    if not exp then return failure(err, code, status) end
    run_id, err, code, status = store:find_run(exp, spool.RUN_KEY_TAG, key)
    if run_id == nil then return failure(err, code, status) end
    if run_id == false then return false, { system_step = false } end
  end
  local info, err, code, status = store:get_run_info(run_id, { system_step = true })
  if not info then
    if code == "RESOURCE_DOES_NOT_EXIST" and mlflow.refused(code, status) then
      return { run_id = run_id, why = "no longer there" }
    end
    return failure(err, code, status)
  end
  if info.lifecycle_stage == "deleted" then return { run_id = run_id, why = "deleted" } end
  return false, info
end

-- Opens a run.  kind is the graphids.phase tag ("fit" | "test" | "parent").
local function open_run(run_dir, opts, phase)
  M.check_experiment(opts.experiment, "track")
  if run_dir == nil and phase ~= "parent" then return noop_run() end
  -- attempt: which fit of the run this is, recorded in each event (graphids.track.spool, "late
  -- events"): 0 for the fit that creates the run
  local self = setmetatable({ run_dir = run_dir, key = mlflow.new_run_id(), phase = phase, attempt = 0 }, Run)
  self.tracer = opts.tracer or traces.open(run_dir)
  -- absolute: `graphids track sync` may run from another folder than training; self.uri is
  -- what is shown, traced and spooled: without the user-info of http://user:password@host
  -- (a sync takes the credentials from its --uri or the environment)
  local uri = mlflow.absolute_uri(mlflow.tracking_uri(opts))
  self.uri = mlflow.redact_uri(uri)
  self.experiment = mlflow.utf8_clean(opts.experiment or "Default")
  local store, err = mlflow.store({ uri = uri, lake_root = opts.lake_root })
  if store and opts.store_opts and store.max_retries then
    for k, v in pairs(opts.store_opts) do store[k] = v end
  end
  self.store = store
  local tags = M.identity_tags()
  tags["graphids.phase"] = phase
  if run_dir then tags["graphids.run_dir"] = run_dir end
  for k, v in pairs(opts.tags or {}) do tags[k] = v end
  local parent = opts.parent
  if parent == nil and phase ~= "parent" then
    local env = os.getenv("MLFLOW_PARENT_RUN_ID")
    if env and env ~= "" then parent = env end
  end
  local ev = { op = "create_run", experiment = self.experiment,
    run_name = opts.run_name and mlflow.utf8_clean(tostring(opts.run_name)), start_time = mlflow.now_ms(),
    tags = mlflow.tag_list(tags) }
  if type(parent) == "string" then
    ev.parent_id = parent
  elseif type(parent) == "table" and not parent.noop then
    -- parent_dir: where the parent's own spool is, for a child synced before it
    ev.parent_id, ev.parent_key, ev.parent_dir = parent.run_id, parent.key, parent.run_dir
  end
  local since = down[self.uri]
  if store and since and core.wall_time() - since < M.DOWN_FOR then
    store, err = nil, string.format("it failed %.0f s ago in this process (not retried before %d s)",
      core.wall_time() - since, M.DOWN_FOR)
    self.store_skipped = true
  end
  local fresh, resumed, create_ev, failed, key = true, opts.resume ~= nil, ev, nil, nil
  if resumed then
    -- a run reference from a checkpoint (Run:ref): log to that run again.  A resume is the
    -- attempt of its time, which it gives the run as graphids.resumed_time: a late sync then
    -- tells its events from those of the fit it resumes without comparing times written by
    -- other machines' clocks
    self.attempt = mlflow.now_ms()
    local ref = tostring(opts.resume)
    key = ref:match("^key:(%x+)$")
    if key then
      self.key, fresh = key, false -- maybe created by a sync since: found by its key
    elseif ref:match("^[%w][%w_%-]*$") then
      self.run_id = ref
      -- (a late sync of this event must not set a run that a later resume finished back to
      -- RUNNING: it is judged by its attempt, graphids.track.spool)
      ev = { op = "update_run", status = "RUNNING", time = self.attempt }
    else
      error("track: resume must be a run reference from Run:ref(), got '" .. ref .. "'", 3)
    end
    -- where its system metrics go on (graphids.track.system_step): the spool and the run dir's
    -- record are read before the store is asked, which a sync delivering meanwhile empties only
    -- of what the store holds
    local rec = system_step.read_record(run_dir)
    self.system_steps = { spooled = system_step.scan_spool(run_dir, rec, self), recorded = rec,
      stored_why = err }
    if store then
      local gone, gerr, gcode, gstatus = resumed_run_gone(store, self.run_id, key, self.experiment)
      if gone == nil then
        failed = { gerr, gcode, gstatus } -- the store failed: spooled as any failure
        self.system_steps.stored_why = gerr
      elseif not gone then
        local steps = self.system_steps
        if gerr then
          steps.stored, steps.run_key = gerr.system_step, gerr.run_key
          steps.stored_why = gerr.system_step_error
        else
          steps.stored_why = gcode -- (a refusal's message)
        end
      else
        -- logging into a deleted run is refused event by event (or, in a FileStore, would write
        -- into a run MLflow no longer shows): the fit goes on in a new run, said once
        io.stderr:write(string.format("graphids: warning: the run %s to resume (%s) is %s in %s; " ..
          "this fit is logged to a new run\n", gone.run_id, ref, gone.why, tostring(self.uri)))
        self.tracer:warning("tracking_resume_new_run", { resume = ref, run_id = gone.run_id,
          reason = gone.why, uri = self.uri })
        tags["graphids.resumed_from_run"] = gone.run_id
        create_ev.tags = mlflow.tag_list(tags)
        self.run_id, self.key, ev, fresh, resumed = nil, mlflow.new_run_id(), create_ev, true, false
        self.attempt, self.system_steps = 0, nil
      end
    end
  end
  if not store then
    self:_fail(err, ev)
  elseif failed then
    self:_fail(failed[1], ev, failed[2], failed[3])
  else
    self:_emit(ev, fresh)
  end
  if resumed then
    -- a run found by its key was made by a sync of the spool of the fit it resumes, which may
    -- have ended it (FAILED): it runs again
    if key then self:_emit({ op = "update_run", status = "RUNNING", time = self.attempt }) end
    -- when this fit went on: a test run that started before it tested the old weights
    -- (graphids.orchestrate.runs), though the run keeps its start_time
    self:set_tags({ [M.RESUMED_TAG] = string.format("%d", self.attempt) })
    -- the error of the fit it resumes is not this fit's: MLflow shows a tag as the run's
    -- current state, so a run that finishes now must not read as failed with it
    self:_emit({ op = "delete_tag", key = M.ERROR_TAG, time = self.attempt })
  end
  if opts.params then
    local list = mlflow.flatten(opts.params)
    -- MLflow params cannot change: a resume's params are checked against the run's when they
    -- are delivered, now or by a sync (graphids.track.spool), and one whose value changed (a
    -- longer max_epochs) becomes the tag graphids.resumed_param.<key>, with a warning
    if #list > 0 then self:_emit({ op = "log_batch", params = list, resumed = resumed or nil }) end
  end
  return self
end

-- What a checkpoint keeps to log to this run again after a resume (opts.resume): the run id,
-- or "key:<run key>" while the run exists only in the spool.  nil for a no-op run.
function Run:ref()
  if self.noop then return nil end
  return self.run_id or ("key:" .. self.key)
end

-- Starts delivering to the spool: one warning, one trace event.  code and status (the store's
-- failure) say whether the store is down (mlflow.store_down: no answer, or 5xx/408/429 after
-- the retries): only then do later runs of this process skip it for DOWN_FOR seconds.  A
-- request the store answered at once (a credential error, a proxy's page) costs later runs no
-- waiting, and a healthy run elsewhere on the server must not be spooled for it.
function Run:_fail(err, ev, code, status)
  self.spooling = true
  if self.uri and not self.store_skipped and mlflow.store_down(code, status) then
    down[self.uri] = core.wall_time()
  end
  local where = self.run_dir and spool.path(self.run_dir) or "nowhere (no run directory)"
  io.stderr:write(string.format("graphids: warning: tracking to %s failed: %s; events are spooled to %s%s\n",
    tostring(self.uri), tostring(err), where,
    self.run_dir and (" (send them later with: graphids track sync " .. self.run_dir .. ")") or ""))
  self.tracer:warning("tracking_failed", { error = tostring(err), uri = self.uri, op = ev.op })
  return self:_spool(ev)
end

-- The store refused this one event (a 4xx answer: mlflow.refused): sending it again cannot
-- succeed, so it is set aside, with a warning, and tracking goes on (the store is fine).  The
-- warning is said once per reason a run's events are refused for: a run deleted under a fit
-- refuses every later event with the same words, and each of them is set aside all the same.
function Run:_refuse(err, ev)
  if ev.op == "create_run" then self.create_refused = true end
  local where = "nowhere (no run directory)"
  if self.run_dir then
    local saved, serr = spool.set_aside(self.run_dir, self:_record(ev), err)
    where = saved or ("nowhere (" .. tostring(serr) .. ")")
  end
  local said = tostring(err) .. "\0" .. where
  self.refusals = self.refusals or {}
  if self.refusals[said] then return end
  self.refusals[said] = true
  io.stderr:write(string.format("graphids: warning: %s refused %s: %s; the event is set aside in %s\n",
    tostring(self.uri), ev.op, tostring(err), where))
  self.tracer:warning("tracking_refused", { error = tostring(err), uri = self.uri, op = ev.op })
end

-- ev with what a later delivery needs: the run's key and URI, and its run id or experiment (a
-- sync finds the run by key when its create_run was delivered by an earlier sync).
function Run:_record(ev)
  ev.run_key, ev.uri, ev.attempt = self.key, self.uri, self.attempt
  if ev.op ~= "create_run" then ev.run_id, ev.experiment = self.run_id, self.experiment end
  return ev
end

-- "spooled", or "lost" when the event cannot be spooled (said once per run: a run dir that
-- cannot be written fails every event alike).
function Run:_spool(ev)
  if not self.run_dir then return "lost" end
  self:_record(ev)
  local ok, err = spool.append(self.run_dir, ev)
  if ok then return "spooled" end
  if not self.spool_warned then
    self.spool_warned = true
    io.stderr:write("graphids: warning: cannot spool a tracking event: ", tostring(err),
      "; this run's events that cannot be spooled are lost\n")
    self.tracer:warning("tracking_spool_failed", { error = tostring(err), uri = self.uri, op = ev.op })
  end
  return "lost"
end

-- Delivers ev; returns what became of it: "sent", "spooled" (the store failed: a sync sends it
-- later), "refused" (set aside: it will never be delivered as it is) or "lost" (it could not
-- be spooled).  A no-op run returns nil.
function Run:_emit(ev, fresh)
  if self.noop then return end
  if self.spooling then return self:_spool(ev) end
  if self.create_refused then -- its run does not exist: nothing of it can be delivered
    if self.run_dir then
      spool.set_aside(self.run_dir, self:_record(ev), "the run's create_run was refused")
    end
    return "refused"
  end
  ev.run_key, ev.uri, ev.attempt = self.key, self.uri, self.attempt
  local ids = { [self.key] = self.run_id }
  local first = fresh ~= false and ev.op == "create_run"
  local ok, res, err, code, status = pcall(spool.apply, self.store, ev, ids, first)
  if ok and res then
    self.run_id = ids[self.key]
    if type(err) == "string" then self:_note(err, ev) end
    return "sent"
  end
  if ok and mlflow.refused(code, status) then
    self:_refuse(err, ev)
    return "refused"
  end
  if ok then return self:_fail(err, ev, code, status) end
  local fate = self:_fail(res, ev)
  -- a Ctrl-C (during the retry waits, say): the event is spooled, and so are the later ones of
  -- this run (a FAILED status on the way out), and the interrupt goes on
  if mlflow.is_interrupt(res) then error(res, 0) end
  return fate
end

-- What delivery changed or left out of ev (a note, one line each: a resumed param logged as a
-- tag), said on stderr and in traces.jsonl as a "tracking_note" warning.
function Run:_note(note, ev)
  for line in note:gmatch("[^\n]+") do
    io.stderr:write("graphids: warning: ", line, "\n")
    self.tracer:warning("tracking_note", { note = line, uri = self.uri, op = ev.op })
  end
end

-- Returns what became of the metrics (Run:_emit's "sent", "spooled", "refused", "lost"), nil
-- when there was nothing to log.
function Run:log_metrics(metrics, step)
  local _, err = mlflow.step_of(step)
  if err then error("Run:log_metrics: " .. err, 2) end
  if self.noop then return end
  local list = mlflow.metric_list(metrics, step)
  if #list > 0 then return self:_emit({ op = "log_batch", metrics = list }) end
end

function Run:log_params(params)
  if self.noop then return end
  local list = mlflow.flatten(params)
  if #list > 0 then self:_emit({ op = "log_batch", params = list }) end
end

-- (tags say what the run is now, so a late sync of this event must not overwrite the tags of
-- an attempt that went on after it: graphids.track.spool judges it by its attempt; its time
-- says when it was logged)
function Run:set_tags(tags)
  if self.noop then return end
  local list = mlflow.tag_list(tags)
  if #list > 0 then self:_emit({ op = "log_batch", tags = list, time = mlflow.now_ms() }) end
end

local FINAL = { FINISHED = true, FAILED = true, KILLED = true }

function Run:finish(status)
  status = status or "FINISHED"
  if not FINAL[status] then
    error("Run:finish: status must be FINISHED, FAILED or KILLED, got " .. tostring(status), 2)
  end
  -- FAILED may follow FINISHED: a failure after the run's finish (a hook after the tracking
  -- callback's on_fit_end, a later callback's) fails the fit, and Lightning's logger, finalized
  -- after every hook, records it FAILED.  Anything else after a finish is a no-op.
  if self.noop then return end
  if self.finished and not (status == "FAILED" and self.finished == "FINISHED") then return end
  self.finished = status
  self:_emit({ op = "update_run", status = status, end_time = mlflow.now_ms() })
end

-- The fit run of run_dir (no-op when run_dir is nil).
function M.start_fit_run(run_dir, opts)
  check_opts("track.start_fit_run", opts, START_OPTS)
  return open_run(run_dir, opts or {}, "fit")
end

-- Metrics nested one level ({test = {acc = 1}}) become "test/acc"; non-numbers are dropped.
local function flat_metrics(t)
  local out = {}
  for k, v in pairs(t or {}) do
    if type(v) == "number" then
      out[k] = v
    elseif type(v) == "table" then
      for k2, v2 in pairs(v) do
        if type(v2) == "number" then out[tostring(k) .. "/" .. tostring(k2)] = v2 end
      end
    end
  end
  return out
end
M.flat_metrics = flat_metrics

-- A separate, finished test run: params, metrics (step 0), tags.  Returns the run.
function M.log_test_run(run_dir, opts)
  local allowed = { metrics = true }
  for k in pairs(START_OPTS) do allowed[k] = true end
  check_opts("track.log_test_run", opts, allowed)
  opts = opts or {}
  local run = open_run(run_dir, opts, "test")
  run:log_metrics(flat_metrics(opts.metrics), 0)
  run:finish("FINISHED")
  return run
end

-- A parent run for a multi-seed group, opened and closed at once; children name it with
-- opts.parent = the returned run (same process) or MLFLOW_PARENT_RUN_ID = run.run_id.
function M.parent_run(opts)
  local allowed = { run_dir = true }
  for k in pairs(START_OPTS) do allowed[k] = true end
  check_opts("track.parent_run", opts, allowed)
  opts = opts or {}
  local run = open_run(opts.run_dir, opts, "parent")
  run:finish("FINISHED")
  return run
end

-- Forgets which stores failed (the next run tries them again at once).
function M.reset_failures()
  for k in pairs(down) do down[k] = nil end
end

-- Replays run_dir's spool (graphids.track.spool.sync).
function M.sync(run_dir, opts)
  return spool.sync(run_dir, opts)
end

M.Callback = require("graphids.track.callback")

return M
