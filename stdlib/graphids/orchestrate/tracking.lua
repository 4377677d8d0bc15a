-- graphids.orchestrate.tracking -- the one place where the stage verbs meet tracking
-- (traces.jsonl, MLflow: graphids.track, docs/tracking.md).  Every call is protected: a
-- tracking failure is reported on stderr and never fails a stage (DESIGN §6).
--   local tr = require "graphids.orchestrate.tracking"
--   tr.event(run_dir, "stage_train", {stage = "gat"})
--   local h = tr.start_fit(resolved)          -- before fit; a trainer callback or nil in h.callback
--   tr.end_fit(h, ok, err)                    -- always, success or not
--   tr.log_test(resolved, metrics)            -- the test-phase run row
-- When graphids.track is not installed, events are appended to run_dir/traces.jsonl here
-- (one JSON object per line, written and closed at once), so a run dir never has an empty trace.
local json = require "graphids.json"
local gio = require "graphids.io"

local M = {}

local function track()
  local ok, t = pcall(require, "graphids.track")
  if ok and type(t) == "table" then
    return t
  end
  return nil
end

local function warn(what, err)
  io.stderr:write(string.format("graphids: tracking: %s failed (the run goes on): %s\n", what, tostring(err)))
end

local function iso_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- Appends one event line to run_dir/traces.jsonl (fallback writer).
local function append_line(run_dir, event, fields)
  local rec = { ts = iso_now(), level = fields and fields.level or "info", event = event }
  for k, v in pairs(fields or {}) do
    if k ~= "level" then rec[k] = v end
  end
  local f, err = io.open(gio.join(run_dir, "traces.jsonl"), "a")
  if not f then
    error(err, 0)
  end
  f:write(json.encode(rec), "\n")
  f:close()
end

-- A structured event: to graphids.track's tracer when there is one, else traces.jsonl.
-- Nothing at all without a run dir.
function M.event(run_dir, event, fields)
  if run_dir == nil then
    return
  end
  local t = track()
  local ok, err = pcall(function()
    if t and type(t.event) == "function" then
      t.event(run_dir, event, fields or {})
    else
      append_line(run_dir, event, fields)
    end
  end)
  if not ok then
    warn("event " .. event, err)
  end
end

-- Opens the fit run (MLflow) before training.  Returns a handle {callback = trainer callback or
-- nil, run = the tracker's run or nil}; nil without a run dir.
function M.start_fit(resolved)
  if resolved.run_dir == nil then
    return nil
  end
  local h = {}
  local t = track()
  if t and type(t.start_fit_run) == "function" then
    local ok, run = pcall(t.start_fit_run, resolved.run_dir, require("graphids.config").thaw(resolved.validated))
    if ok then
      h.run = run
      if type(t.trainer_callback) == "function" then
        local okc, cbk = pcall(t.trainer_callback, run)
        if okc then h.callback = cbk else warn("trainer callback", cbk) end
      end
    else
      warn("start_fit_run", run)
    end
  end
  return h
end

-- Closes the fit run, in every case (ok false: failed, with the error).
function M.end_fit(h, ok, err)
  if h == nil then
    return
  end
  local t = track()
  if t and type(t.end_fit_run) == "function" then
    local okc, e = pcall(t.end_fit_run, h.run, ok and "FINISHED" or "FAILED", err)
    if not okc then warn("end_fit_run", e) end
  end
end

-- The test-phase tracking row (params, final scalars, tags).
function M.log_test(resolved, metrics)
  if resolved.run_dir == nil then
    return
  end
  local t = track()
  if t and type(t.log_test_run) == "function" then
    local ok, e = pcall(t.log_test_run, resolved.run_dir, require("graphids.config").thaw(resolved.validated),
      metrics)
    if not ok then warn("log_test_run", e) end
  end
end

return M
