-- graphids.track.system_step -- the step at which a resumed run's system metrics go on: one
-- past the largest step of its system/ metrics, as MLflow's SystemMetricsMonitor does with
-- resume_logging (mlflow.start_run of an existing run: _get_next_logging_step reads the run's
-- latest values, every key under "system/", a node id's included, and starts after the largest
-- step; 0 when there is none).
--   local system_step = require "graphids.track.system_step"
--   local seen = system_step.scan_spool(run_dir)      -- before the store is asked (graphids.track)
--   local s = system_step.largest({{key =, step =}, ...})   -- nil when no key is a system/ one
--   local first, why = system_step.first(run)          -- why: the store could not say (a warning)
-- A graphids run's earlier events may be in the store, still in its run dir's spool
-- (tracking_spool.jsonl, the part a killed sync delivered included: those lines are in the
-- store too, and counting them twice changes no maximum), or both; the largest of the two
-- is taken.  The spool is read before the store is asked: a sync delivering meanwhile removes
-- lines from the spool only after the store holds them.  The store is asked by the resume's own
-- check of the run (graphids.track: runs/get, or the FileStore's files), so a resume costs no
-- request more; when that check failed (the store is down, its answer came too late for the
-- retries) the spool is all there is, and a step the earlier fit delivered itself may be
-- logged again.
local json = require "graphids.json"

local M = {}

M.PREFIX = "system/"

-- Whether metric key k is one of the system metrics (MLflow's test: key.startswith("system/")).
function M.is_system(k)
  return type(k) == "string" and k:sub(1, #M.PREFIX) == M.PREFIX
end

-- The largest step (an integer; a missing one is 0, as proto3 JSON leaves a 0 out and MLflow
-- reads it) of the system metrics in list ({key, step} each), or nil when there is none.
function M.largest(list)
  local best
  for _, m in ipairs(list or {}) do
    if type(m) == "table" and M.is_system(m.key) then
      local s = m.step == nil and 0 or math.tointeger(tonumber(m.step))
      if s and (best == nil or s > best) then best = s end
    end
  end
  return best
end

-- The largest system step of each run in run_dir's spool: {keys = {[run_key] = step}, ids =
-- {[run_id] = step}}.  Never raises: a spool that cannot be read counts as empty, and a line
-- that is not an event is passed over (a sync names it; a resume must not fail for it).
function M.scan_spool(run_dir)
  local out = { keys = {}, ids = {} }
  if run_dir == nil then return out end
  local f = io.open(require("graphids.track.spool").path(run_dir), "rb")
  if not f then return out end
  local ok, text = pcall(f.read, f, "a")
  f:close()
  if not ok or type(text) ~= "string" then return out end
  local function keep(t, k, s)
    if type(k) == "string" and (t[k] == nil or s > t[k]) then t[k] = s end
  end
  for line in text:gmatch("[^\n]+") do
    -- (decoded only when it may hold a system metric: a spool holds thousands of lines)
    if line:find('"' .. M.PREFIX, 1, true) then
      local okd, ev = pcall(json.decode, line)
      if okd and type(ev) == "table" and ev.op == "log_batch" and type(ev.metrics) == "table" then
        local s = M.largest(ev.metrics)
        if s then
          keep(out.keys, ev.run_key, s)
          keep(out.ids, ev.run_id, s)
        end
      end
    end
  end
  return out
end

-- The first system step of run's sampler (a graphids.track Run): 0 for a run this fit created;
-- for a resumed one, one past the largest system step that the store (run.system_steps.stored:
-- a step, false for none, nil when it could not say) and the spool (run.system_steps.spooled:
-- scan_spool's, by the run's key, id, and the graphids.run_key the store gave) hold.  Then the
-- reason the store could not say, when it could not (nil otherwise).
function M.first(run)
  local r = run and run.system_steps
  if r == nil then return 0 end
  local best
  local function take(s)
    if s and (best == nil or s > best) then best = s end
  end
  local sp = r.spooled or { keys = {}, ids = {} }
  take(sp.keys[run.key])
  take(r.run_key and sp.keys[r.run_key])
  take(run.run_id and sp.ids[run.run_id])
  take(r.stored or nil)
  local why = nil
  if r.stored == nil then why = r.stored_why or "no answer" end
  return best and best + 1 or 0, why
end

return M
