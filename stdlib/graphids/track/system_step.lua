-- graphids.track.system_step -- the step at which a resumed run's system metrics go on: one
-- past the largest step of its system/ metrics, as MLflow's SystemMetricsMonitor does with
-- resume_logging (mlflow.start_run of an existing run: _get_next_logging_step reads the run's
-- latest values, every key under "system/", a node id's included, and starts after the largest
-- step; 0 when there is none).
--   local system_step = require "graphids.track.system_step"
--   system_step.record(run, step)                  -- after a fit logged (sent or spooled) a step
--   local rec = system_step.read_record(run_dir)            -- nil when there is none
--   local seen = system_step.scan_spool(run_dir, rec, run)  -- both before the store is asked
--   local s = system_step.largest({{key =, step =}, ...})   -- nil when no key is a system/ one
--   local first, why = system_step.first(run)      -- why: nothing could say (a warning)
-- A graphids run's earlier steps may be in the store, still in its run dir's spool
-- (tracking_spool.jsonl, the part a killed sync delivered included: those lines are in the
-- store too, and counting them twice changes no maximum), or both; the largest is taken.
-- The spool is read before the store is asked: a sync delivering meanwhile removes lines from
-- the spool only after the store holds them.  The store is asked by the resume's own check of
-- the run (graphids.track: runs/get, or the FileStore's files), so a resume costs no request
-- more.  When that check fails (the store is down, its answer came too late for the retries),
-- the store cannot say which steps the earlier fit delivered to it live: those are in neither
-- the store's answer nor the spool.  So each fit also keeps, in its run dir, the largest
-- system step it logged (delivered or spooled) and the run's identity: RECORD, read by a
-- resume as a third source.
local json = require "graphids.json"

local M = {}

M.PREFIX = "system/"
-- The run dir's record of the largest system step a fit logged: {"run_key", "run_id", "step"}.
M.RECORD = "tracking_system_step.json"

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

-- ---------------------------------------------------------------- the run dir's record
--
-- Written after each step a fit's sampler logged, when it was delivered or spooled: a temp
-- file renamed over RECORD, so a reader sees the old record or the new one, never a mix.  Not
-- fsynced: a SIGKILL keeps what the kernel was given, and an fsync of the file and its folder
-- cost about 9 ms a step on this project's disks (the rename alone 0.2..2 ms), where a power
-- loss costs only what is below.  What a crash leaves:
-- - a kill between the step's log and the rename leaves the record one step behind.  A step
--   that was spooled is in the spool (each append is fsynced), which a resume reads too: none
--   is logged twice.  A step delivered live is in the store: a resume that finds the store up
--   reads it there; one that finds the store down logs that one step again (at most one
--   duplicate, the last step before the kill, within the microseconds between the store's
--   answer and the rename).  Recording before the log would trade it for a step never logged,
--   and make one of every kill during the store's retries (minutes), so the record follows.
-- - a power loss may leave an older record, or none (an empty or torn file reads as none):
--   a resume with the store down may then log again the steps delivered since that record;
--   with no record it goes by the spool alone, with a warning (callback.lua).
-- A record of another run (a new fit in the run dir, or a resume whose run was deleted, writes
-- its own) is no source for this one.

local function record_path(run_dir)
  return run_dir .. "/" .. M.RECORD
end

-- Records that run (a graphids.track Run: run_dir, key, run_id) logged system step step.
-- true, or nil, message (the caller warns: a resume may then log some steps again).
function M.record(run, step)
  if run == nil or run.run_dir == nil then return true end
  local path = record_path(run.run_dir)
  local tmp = run.run_dir .. "/." .. M.RECORD .. ".tmp"
  local text = json.encode({ run_key = run.key, run_id = run.run_id, step = step }) .. "\n"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, tostring(err) end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if not ok or not closed then
    os.remove(tmp)
    return nil, tmp .. ": " .. tostring(werr or cerr)
  end
  local moved, merr = os.rename(tmp, path)
  if not moved then
    os.remove(tmp)
    return nil, tostring(merr)
  end
  return true
end

-- The run dir's record: {run_key, run_id (nil while the run had none), step}, or nil when
-- there is none or it cannot be read (a torn one included).  Never raises.
function M.read_record(run_dir)
  if run_dir == nil then return nil end
  local f = io.open(record_path(run_dir), "rb")
  if not f then return nil end
  local ok, text = pcall(f.read, f, "a")
  f:close()
  if not ok or type(text) ~= "string" then return nil end
  local dok, rec = pcall(json.decode, text)
  if not (dok and type(rec) == "table" and type(rec.run_key) == "string") then return nil end
  local step = math.tointeger(rec.step)
  if step == nil or step < 0 then return nil end
  local id = type(rec.run_id) == "string" and rec.run_id or nil
  return { run_key = rec.run_key, run_id = id, step = step }
end

-- Whether rec (a record, or a spooled event: run_key, run_id) is of the run known by key and
-- run_id (either may be nil).
local function names(rec, key, run_id)
  return rec ~= nil and ((key ~= nil and rec.run_key == key) or (run_id ~= nil and rec.run_id == run_id))
end

-- ---------------------------------------------------------------- the spool

-- The system step of one spool line, with the event's run_key and run_id: {run_key, run_id,
-- step}, or nil when the line is no log_batch holding a system metric (a line torn by a power
-- loss, or not an event at all, is passed over: a sync names it; a resume must not fail).
local function system_event(line)
  -- (decoded only when it may hold a system metric: a spool holds thousands of lines)
  if not line:find('"' .. M.PREFIX, 1, true) then return nil end
  local ok, ev = pcall(json.decode, line)
  if not (ok and type(ev) == "table" and ev.op == "log_batch" and type(ev.metrics) == "table") then
    return nil
  end
  local s = M.largest(ev.metrics)
  if s == nil then return nil end
  return { run_key = type(ev.run_key) == "string" and ev.run_key or nil,
    run_id = type(ev.run_id) == "string" and ev.run_id or nil, step = s }
end

local function keep(out, key, run_id, s)
  if key and (out.keys[key] == nil or s > out.keys[key]) then out.keys[key] = s end
  if run_id and (out.ids[run_id] == nil or s > out.ids[run_id]) then out.ids[run_id] = s end
end

-- Every line of the spool text.
local function scan_all(text, out)
  for line in text:gmatch("[^\n]+") do
    local e = system_event(line)
    if e then keep(out, e.run_key, e.run_id, e.step) end
  end
  return out
end

M.BLOCK = 65536

-- The pieces of tail (read back from the end: the last first) in file order, joined.
local function joined(tail)
  local parts = {}
  for i = #tail, 1, -1 do parts[#parts + 1] = tail[i] end
  return table.concat(parts)
end

-- The last system event of the spool file f (system_event's), read back from the end a block
-- at a time: the lines after it (a resume's status, tags and params, the epoch metrics, a
-- line torn by a power loss) are passed over.  nil when there is none.
-- Linear in the bytes read: a block inside one long line (a tag value of megabytes) is only
-- searched for a newline and kept aside, and the line is joined once its start is found
-- (joining and searching the whole line again at each block cost 43 s for a 64 MB line).
local function last_system_event(f)
  local pos = f:seek("end")
  local tail = {} -- the end of a line that begins in an earlier block, in pieces (last first)
  while pos > 0 do
    local n = math.min(M.BLOCK, pos)
    pos = pos - n
    f:seek("set", pos)
    local block = assert(f:read(n))
    local from = 1
    if pos > 0 then -- (the first line of the block may begin before it)
      from = block:find("\n", 1, true)
      from = from and from + 1
    end
    if from == nil then -- (the block lies inside one line)
      tail[#tail + 1] = block
    else
      local body = block:sub(from) .. joined(tail)
      tail = { block:sub(1, from - 1) }
      if body:find('"' .. M.PREFIX, 1, true) then -- (a block without one is passed over whole)
        local lines = {}
        for line in body:gmatch("[^\n]+") do lines[#lines + 1] = line end
        for i = #lines, 1, -1 do
          local e = system_event(lines[i])
          if e then return e end
        end
      end
    end
  end
  return nil
end

-- The largest system step of each run in run_dir's spool: {keys = {[run_key] = step}, ids =
-- {[run_id] = step}}.  Never raises: a spool that cannot be read counts as empty.
-- With rec, the run dir's record (read_record's), and the run being resumed (run.key,
-- run.run_id), a resume need not parse every spooled system metric (an 87 MB spool of a long
-- fit cost about 12 s at each resume).  Each fit's first step is past every step the spool held
-- when it started (first, below) and its steps only grow, so the record, when it names the run,
-- is at least every system step of the run in the spool, except the step a kill left between
-- its spool append and the record's rename: then the spool's last system event.  So only that
-- event is read, from the end; the record stands for the rest.  When the record names another
-- run, or the last system event is another run's (a fit of another run killed before its first
-- record), every line is read.
function M.scan_spool(run_dir, rec, run)
  local out = { keys = {}, ids = {} }
  if run_dir == nil then return out end
  local f = io.open(require("graphids.track.spool").path(run_dir), "rb")
  if rec and run and names(rec, run.key, run.run_id) then
    local ok, last = true, nil
    if f then ok, last = pcall(last_system_event, f) end
    if ok and (last == nil or names(last, run.key, run.run_id) or names(last, rec.run_key, rec.run_id)) then
      if f then f:close() end
      -- (the record's own identities are the run's: first looks the run up by them)
      keep(out, run.key, run.run_id, rec.step)
      if last then keep(out, run.key, run.run_id, last.step) end
      return out
    end
    if f then f:seek("set", 0) end
  end
  if not f then return out end
  local ok, text = pcall(f.read, f, "a")
  f:close()
  if not ok or type(text) ~= "string" then return out end
  return scan_all(text, out)
end

-- The first system step of run's sampler (a graphids.track Run): 0 for a run this fit created;
-- for a resumed one, one past the largest system step that the store (run.system_steps.stored:
-- a step, false for none, nil when it could not say), the spool (run.system_steps.spooled:
-- scan_spool's, by the run's key, id, and the graphids.run_key the store gave) and the run
-- dir's record (run.system_steps.recorded, when it names the run) hold.  Then the reason
-- nothing could say which steps the store holds (nil when the store or a record of the run
-- did).
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
  local rec = r.recorded
  local mine = names(rec, run.key, run.run_id) or names(rec, r.run_key, nil)
  if mine then take(rec.step) end
  local why = nil
  if r.stored == nil and not mine then why = r.stored_why or "no answer" end
  return best and best + 1 or 0, why
end

return M
