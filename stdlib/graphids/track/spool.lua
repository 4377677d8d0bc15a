-- graphids.track.spool -- tracking events that could not be delivered, kept in
-- run_dir/tracking_spool.jsonl (one JSON event per line, appended whole), and their replay.
--   spool.append(run_dir, {op = "log_batch", run_key = k, uri = u, metrics = {...}})
--   local sent, left, aside, skipped = spool.sync(run_dir)  -- or nil, message, sent, left, ...
--
-- Events: create_run {run_key, experiment, run_name, start_time, tags, parent_key, parent_id,
-- parent_dir},
-- log_batch {run_key, run_id?, experiment?, metrics, params, tags, time (with tags), resumed
-- (params a resume was started with)}, update_run {run_key, run_id?, experiment?, status,
-- end_time, time}, delete_tag {run_key, run_id?, experiment?, key, time}; each records the
-- tracking `uri` it was meant for and the `attempt` (the fit of its run) that wrote it (see
-- "late events"), and one re-sent by hand from the rejected file keeps its `rejected`.
-- `run_key` is the client's id of a run (32 hex), also sent as the tag graphids.run_key, so a
-- replay finds a run that an earlier, interrupted delivery created instead of creating it twice.
-- Delivery goes in file order and stops at the first failure of the store; what was delivered
-- is recorded at once (tracking_spool.delivered) and removed from the spool at the end, so
-- running sync again is always safe.  An event the store refuses for what it
-- holds (HTTP 4xx: a tag key it does not take) can never be delivered: it is set aside in
-- run_dir/tracking_spool.rejected.jsonl, with the reason, instead of blocking every later one.
--
-- A training process may append while `graphids track sync` runs: both hold an exclusive
-- flock on run_dir/tracking_spool.lock around each append and each rewrite, and a rewrite
-- keeps every line appended after sync read the file.  A second sync of the same run dir is
-- refused (run_dir/tracking_spool.sync.lock) instead of delivering the same events twice.
-- A sync killed between delivering (or setting aside) an event and recording it repeats that
-- one event: a create finds its run by key, params, tags and a status are the
-- same again, a tag removed again is gone already, a FileStore skips a metric point it
-- already holds last, and a set-aside line equal to the last one in the rejected file is not
-- written again.
local core = require "graphids.core"
local json = require "graphids.json"
local mlflow = require "graphids.track.mlflow"

local M = {}

M.FILE = "tracking_spool.jsonl"
M.REJECTED = "tracking_spool.rejected.jsonl"
M.LOCK = "tracking_spool.lock"
M.SYNC_LOCK = "tracking_spool.sync.lock"
M.RUN_KEY_TAG = "graphids.run_key"
-- The tag a resumed run gets: the time (ms) it was resumed (graphids.track).
M.RESUMED_TAG = "graphids.resumed_time"
-- The spool lock is only held for file operations (never across a request), so a wait this
-- long means something is wrong; the caller then warns instead of blocking training.
M.LOCK_TIMEOUT = 60

function M.path(run_dir)
  return run_dir .. "/" .. M.FILE
end

function M.rejected_path(run_dir)
  return run_dir .. "/" .. M.REJECTED
end

-- fn(...) while holding the spool lock of run_dir; its results, or nil, message.
local function with_lock(run_dir, fn, ...)
  local lk, err = core.lock(run_dir .. "/" .. M.LOCK, { exclusive = true, timeout = M.LOCK_TIMEOUT })
  if not lk then return nil, "spool: " .. tostring(err) end
  local res = table.pack(pcall(fn, ...))
  lk:unlock()
  if not res[1] and mlflow.is_interrupt(res[2]) then error(res[2], 0) end
  if not res[1] then return nil, "spool: " .. tostring(res[2]) end
  return table.unpack(res, 2, res.n)
end

-- One event as a spool line (no newline); invalid UTF-8 becomes U+FFFD rather than losing the
-- event.
local function encode(ev)
  local plain = require("graphids.track.traces").plain
  return json.encode(plain(mlflow.clean_strings(ev)))
end

-- Appends one event (fsynced: the spool is the only copy).  Returns true or nil, message.
function M.append(run_dir, ev)
  local ok, line = pcall(encode, ev)
  if not ok then return nil, "spool: " .. tostring(line) end
  local made, err = core.mkdir_p(run_dir)
  if not made then return nil, err end
  return with_lock(run_dir, core.append_file, M.path(run_dir), line .. "\n", { sync = true })
end

-- Keeps an event that the store refused (never to be sent as it is), with the reason, in
-- run_dir/tracking_spool.rejected.jsonl.  Returns the file's path, or nil, message.
function M.set_aside(run_dir, ev, reason)
  local copy = {}
  for k, v in pairs(ev) do copy[k] = v end
  -- compared without the run id (a sync fills it in for the events of its runs) and the reason
  -- (an event set aside before, fixed by hand and refused again, holds the old one)
  copy.run_id, copy.rejected = nil, nil
  local ok, plain_line = pcall(encode, copy)
  copy.run_id = ev.run_id
  if not ok then return nil, "spool: " .. tostring(plain_line) end
  copy.rejected = tostring(reason)
  local line
  ok, line = pcall(encode, copy)
  if not ok then return nil, "spool: " .. tostring(line) end
  local made, err = core.mkdir_p(run_dir)
  if not made then return nil, err end
  -- the same event as the last one set aside: a sync killed before it removed that event from
  -- the spool, repeated now (a second copy would say nothing more)
  local last = require("graphids.io").last_line(M.rejected_path(run_dir))
  local dok, prev = pcall(json.decode, last or "")
  if dok and type(prev) == "table" and not json.is_array(prev) then
    prev.rejected, prev.run_id = nil, nil
    local eok, prev_line = pcall(encode, prev)
    if eok and prev_line == plain_line then return M.rejected_path(run_dir) end
  end
  local wrote, werr = core.append_file(M.rejected_path(run_dir), line .. "\n", { sync = true })
  if not wrote then return nil, werr end
  return M.rejected_path(run_dir)
end

-- ---------------------------------------------------------------- the shape of an event

-- Metric values in a spool are JSON, where non-finite numbers are strings.
local NONFINITE = { NaN = 0 / 0, Infinity = math.huge, ["-Infinity"] = -math.huge }

-- A JSON array, or a Lua sequence (events built in this process).
local function is_list(t)
  if type(t) ~= "table" or json.is_array(t) then return type(t) == "table" end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function opt(v, kind)
  return v == nil or type(v) == kind
end

-- A whole number (math.tointeger alone takes the string "5" too).
local function whole(v)
  return type(v) == "number" and math.tointeger(v) ~= nil
end

local function kv_ok(e)
  return type(e) == "table" and type(e.key) == "string" and type(e.value) == "string"
end

-- (a timestamp and a step are int64 to MLflow, and a FileStore writes them as such: 1.5 would
-- fail the store at every sync instead of being named here)
local function metric_ok(e)
  if not (type(e) == "table" and type(e.key) == "string" and type(e.timestamp) == "number"
    and (type(e.value) == "number" or NONFINITE[e.value] ~= nil) and opt(e.step, "number")) then
    return false
  end
  for _, k in ipairs({ "timestamp", "step" }) do
    if e[k] ~= nil and not whole(e[k]) then
      return false, string.format("its %s must be a whole number, got %.17g", k, e[k])
    end
  end
  return true
end

local LISTS = { metrics = { metric_ok, "{key, value, timestamp, step}" }, params = { kv_ok, "{key, value}" },
  tags = { kv_ok, "{key, value}" } }

local function check_list(ev, name)
  local v = ev[name]
  if v == nil then return nil end
  local ok, what = LISTS[name][1], LISTS[name][2]
  if not is_list(v) then
    return string.format("'%s' must be a list of %s, got %s", name, what, type(v))
  end
  for i, e in ipairs(v) do
    local fine, why = ok(e)
    if not fine then
      return string.format("'%s' item %d is not a %s%s", name, i, what, why and ": " .. why or "")
    end
  end
  return nil
end

local OPS = { create_run = true, log_batch = true, update_run = true, delete_tag = true }

-- Why ev is not an event this module wrote (nil when it is): a line that is valid JSON but of
-- another shape would otherwise be "delivered" as nothing and deleted.
function M.check_event(ev)
  if type(ev) ~= "table" or json.is_array(ev) then return "not a JSON object" end
  if not OPS[ev.op] then
    return ev.op == nil and "no 'op'" or ("unknown op '" .. tostring(ev.op) .. "'")
  end
  if type(ev.run_key) ~= "string" or not ev.run_key:match("^%x+$") then
    return "'run_key' must be hex text"
  end
  for _, k in ipairs({ "uri", "run_id", "experiment", "run_name", "parent_id", "parent_key",
    "parent_dir" }) do
    if not opt(ev[k], "string") then return string.format("'%s' must be text, got %s", k, type(ev[k])) end
  end
  for _, k in ipairs({ "start_time", "end_time", "time" }) do
    if ev[k] ~= nil and not whole(ev[k]) then
      return string.format("'%s' must be a whole number (ms), got %s", k,
        type(ev[k]) == "number" and string.format("%.17g", ev[k]) or type(ev[k]))
    end
  end
  if ev.attempt ~= nil and not (whole(ev.attempt) and ev.attempt >= 0) then
    return "'attempt' must be a whole number >= 0 (0, or a resume's time in ms), got " ..
      tostring(ev.attempt)
  end
  if not opt(ev.resumed, "boolean") then
    return "'resumed' must be true or false, got " .. type(ev.resumed)
  end
  if not opt(ev.rejected, "string") then return "'rejected' must be text, got " .. type(ev.rejected) end
  if ev.op == "create_run" and type(ev.experiment) ~= "string" then
    return "create_run without 'experiment'"
  end
  if ev.op == "delete_tag" and type(ev.key) ~= "string" then return "delete_tag without 'key'" end
  if ev.op == "update_run" and not mlflow.STATUS[ev.status] then
    return "update_run 'status' must be a run status, got " .. tostring(ev.status)
  end
  return check_list(ev, "metrics") or check_list(ev, "params") or check_list(ev, "tags")
end

-- The events of a spool text, in order, with their lines and the byte offset just past each
-- line (its newline included); the first bad line (file:line: why, counting from line first + 1)
-- and the number of events (non-empty lines).
local function parse(text, path, first)
  local evs, lines, ends, n, bad = {}, {}, {}, first or 0, nil
  local pos = 1
  while pos <= #text do
    local nl = text:find("\n", pos, true) or #text + 1
    local line = text:sub(pos, nl - 1)
    n = n + 1
    if line ~= "" then
      local ok, ev = pcall(json.decode, line)
      local why = ok and M.check_event(ev) or (not ok and tostring(ev))
      if bad == nil and why then
        bad = string.format("%s:%d: not a spooled tracking event (%s)", path, n, why)
      end
      evs[#evs + 1], lines[#lines + 1], ends[#ends + 1] = ev, line, math.min(nl, #text)
    end
    pos = nl + 1
  end
  return evs, lines, bad, ends
end

-- The spool's text ("" when there is none), or nil, message.
local function read_text(run_dir)
  local path = M.path(run_dir)
  local st = core.stat(path)
  if st == nil then return "" end
  if st.type ~= "file" then return nil, path .. " is not a file" end
  local f, err = io.open(path, "rb")
  if not f then return nil, tostring(err) end
  local text = f:read("a")
  f:close()
  if text == nil then return nil, path .. ": cannot be read" end
  return text
end

-- ---------------------------------------------------------------- what a sync delivered
--
-- What a sync has delivered of the spool is not cut from the file event by event (a rewrite
-- of the whole spool after each one made a sync quadratic in the spool's size).  Each event
-- delivered (or set aside, or skipped as late) appends one fsynced line to
-- run_dir/tracking_spool.delivered: {bytes, chain, ids}, saying that the spool's first `bytes`
-- bytes are done; `chain` is the sha256 chain of their non-empty lines (c = sha256(c .. line),
-- from c = "") and `ids` the run ids the sync learned (run_key -> id).  At the end of each pass
-- and when the sync stops, the spool is rewritten once without that prefix and the marker is
-- removed (compact, below).  A sync killed in between leaves both, and what reads the spool
-- next (a sync, spool.read) skips the prefix the marker names after checking that the spool
-- is still the file the sync read (its inode: the rewrite replaces it by rename) and still
-- starts with exactly those lines: a marker left by a sync killed after the rewrite but before
-- removing the marker names another file, and is ignored, even where the rewritten spool
-- happens to start with lines equal to the delivered ones.
M.DONE = "tracking_spool.delivered"

local function done_path(run_dir)
  return run_dir .. "/" .. M.DONE
end

local function chain_step(chain, line)
  return core.sha256(chain .. line)
end

-- The marker's last whole line as a table, or nil.  (A kill never leaves half a line: each is
-- one write(2); a line torn by a power loss is passed over.)
local function read_done(run_dir)
  local f = io.open(done_path(run_dir), "rb")
  if not f then return nil end
  local text = f:read("a") or ""
  f:close()
  local last
  for line in text:gmatch("[^\n]+") do
    local ok, m = pcall(json.decode, line)
    if ok and type(m) == "table" and math.tointeger(m.bytes) and type(m.chain) == "string" then last = m end
  end
  return last
end

-- How many bytes at the start of text (the spool's) a killed sync delivered: 0 when there is
-- no marker or it does not match text; then the chain of those lines and the run ids it
-- learned.
local function delivered(run_dir, text)
  local m = read_done(run_dir)
  if not m or m.bytes <= 0 or m.bytes > #text then return 0, "", {} end
  -- (a marker of an older graphids names no inode: the lines alone decide then)
  if m.inode ~= nil then
    local st = core.stat(M.path(run_dir))
    if st == nil or st.inode ~= m.inode then return 0, "", {} end
  end
  if m.bytes < #text and text:sub(m.bytes, m.bytes) ~= "\n" then return 0, "", {} end
  local chain = ""
  for line in text:sub(1, m.bytes):gmatch("[^\n]+") do chain = chain_step(chain, line) end
  if chain ~= m.chain then return 0, "", {} end
  local ids = {}
  if type(m.ids) == "table" and not json.is_array(m.ids) then
    for k, v in pairs(m.ids) do
      if type(k) == "string" and type(v) == "string" then ids[k] = v end
    end
  end
  return m.bytes, chain, ids
end

-- The spool's text less what a killed sync delivered, and the number of lines left out; then
-- what delivered says.
local function undelivered(run_dir, text)
  local done, chain, ids = delivered(run_dir, text)
  local _, lines = text:sub(1, done):gsub("\n", "")
  return text:sub(done + 1), lines, done, chain, ids
end

-- The events of a spool file, in order; nil, message naming file and line for a bad line (or
-- a spool path that is not a file), and the number of events the file holds (its non-empty
-- lines: what is left undelivered).
function M.read(run_dir)
  local text, err = read_text(run_dir)
  if not text then return nil, err, 0 end
  local rest, skipped = undelivered(run_dir, text)
  local evs, _, bad = parse(rest, M.path(run_dir), skipped)
  if bad then return nil, bad, #evs end
  return evs
end

-- ---------------------------------------------------------------- delivery

local function list(t)
  local out = {}
  for _, x in ipairs(t or {}) do out[#out + 1] = x end
  return out
end

local function metrics_of(ev)
  local out = {}
  for _, m in ipairs(ev.metrics or {}) do
    out[#out + 1] = { key = m.key, value = NONFINITE[m.value] or m.value, timestamp = m.timestamp,
      step = m.step }
  end
  return out
end

-- An event that cannot be sent as it is: refused like a 4xx answer (mlflow.refused).
local function refuse(fmt, ...)
  return nil, "spool: " .. string.format(fmt, ...), "INVALID_SPOOL_EVENT", 400
end

-- A run that create_run finds by its key was made by another fit: a `key:` resume creates the
-- run when the create_run of the fit it resumes is still spooled, and this event, delivered
-- late, is that first fit's.  The run keeps the earlier start: a FileStore's is set back
-- (set_start_time); MLflow's server cannot change a start_time (runs/update takes a status, an
-- end time and a name), so there the first fit's start is the tag graphids.first_start_time.
-- true, or nil, message, code, status.
M.FIRST_START_TAG = "graphids.first_start_time"
local function keep_first_start(store, run_id, ev)
  if type(ev.start_time) ~= "number" or not store.get_run_info then return true end
  local info, err, code, status = store:get_run_info(run_id)
  if not info then return nil, err, code, status end
  if type(info.start_time) ~= "number" or ev.start_time >= info.start_time then return true end
  if store.set_start_time then return store:set_start_time(run_id, ev.start_time) end
  return store:log_batch(run_id, { tags = { { key = M.FIRST_START_TAG,
    value = string.format("%d", ev.start_time) } } })
end

local function create_run(store, ev, ids, fresh)
  local exp, err, code, status = store:get_or_create_experiment(ev.experiment)
  if not exp then return nil, err, code, status end
  local found = false
  if not fresh then
    found, err, code, status = store:find_run(exp, M.RUN_KEY_TAG, ev.run_key)
    if found == nil then return nil, err, code, status end
  end
  -- (a FileStore run is named by its key: create_run completes one that a failure left
  -- half-written, and returns it)
  if found and not (store.root and found == ev.run_key) then
    ids[ev.run_key] = found
    return keep_first_start(store, found, ev)
  end
  local tags = list(ev.tags)
  tags[#tags + 1] = { key = M.RUN_KEY_TAG, value = ev.run_key }
  local parent = ev.parent_id or (ev.parent_key and ids[ev.parent_key])
  if not parent and ev.parent_key then
    -- a parent spooled elsewhere (its own run dir) and delivered since: found by its key
    parent = store:find_run(exp, M.RUN_KEY_TAG, ev.parent_key) or nil
  end
  if not parent and ev.parent_key then
    -- created without it, the run would lose its parent link for good: it waits, with its
    -- events, in this spool (a failure of delivery, not a refusal) until the parent exists
    return nil, string.format("waiting for parent run (run key %s): sync its run dir %s first", ev.parent_key,
      ev.parent_dir or "(not recorded)"), "WAITING_FOR_PARENT"
  end
  if parent then tags[#tags + 1] = { key = "mlflow.parentRunId", value = parent } end
  local id
  id, err, code, status = store:create_run { experiment_id = exp, run_name = ev.run_name,
    start_time = ev.start_time, tags = tags, run_id = store.root and ev.run_key or nil }
  if not id then return nil, err, code, status end
  ids[ev.run_key] = id
  if found then return keep_first_start(store, id, ev) end
  return true
end

-- The run id of a later event: recorded, created earlier in this delivery, or (when the
-- event names its experiment) found by its key, since its create_run may have been delivered
-- and removed by an earlier sync while training went on appending.
local function run_id_of(store, ev, ids)
  local id = ev.run_id or ids[ev.run_key]
  if id == false then
    return refuse("%s for run key %s, whose create_run was set aside", ev.op, ev.run_key)
  end
  if id then return id end
  if ev.experiment then
    local exp, err, code, status = store:get_or_create_experiment(ev.experiment)
    if not exp then return nil, err, code, status end
    id, err, code, status = store:find_run(exp, M.RUN_KEY_TAG, ev.run_key)
    if id == nil then return nil, err, code, status end
    if id then
      ids[ev.run_key] = id
      return id
    end
  end
  return refuse("%s for run key %s, whose run was never created", ev.op, ev.run_key)
end

-- ---------------------------------------------------------------- late events
--
-- A run may be written by several fits: the one that created it and each resume of it.  A late
-- sync (`seen` given: a sync's memory, see stale_by_time) delivers the events of one of them
-- after a later one went on, and then must not set what the run is now (its status, its tags,
-- a tag's removal) back to what that older fit said: a crashed fit's FAILED over the FINISHED
-- of the resume that finished the run, its graphids.error over a run that no longer failed.
-- Metrics and params go in all the same (history; below).  An event delivered live never is
-- late: it is the fit running now, whatever the times that earlier fits wrote, which come from
-- other machines' clocks.  Nor is one re-sent by hand: a line of the rejected file, fixed and
-- appended back to the spool, still holds its `rejected` field, and is the user's decision.
--
-- Which fit wrote an event is its `attempt`: 0 for the fit that created the run, the resume's
-- time (ms) for a resume, the value of the graphids.resumed_time tag that resume gives the run,
-- which thus names the run's current attempt (0 while it was never resumed).  A resume comes
-- after the fit that created the run, whatever the clocks say, so only two resumes are told
-- apart by their times (the clocks of the machines that resumed them must agree to within the
-- time between the two).  An event without an attempt (an older graphids's spool) is judged
-- by its time (stale_by_time).

-- The run's info (get_run_info), and the latest time (ms) it is known to have reached with
-- what that is ("end_time" or "resumed_time"): the later of its end and its
-- graphids.resumed_time tag (a resumed run may still be running, without an end), and of what
-- `seen` (one sync's memory: run id -> {time, what}) holds for it, which is then updated, so
-- that within one sync the time only grows whatever the store says later (nil, nil when none).
-- nil, message, code, status when the run cannot be read.
local function latest_time(store, run_id, seen)
  local info, err, code, status = store:get_run_info(run_id)
  if not info then return nil, err, code, status end
  local best = seen and seen[run_id] or {}
  local latest, what = best[1], best[2]
  for _, k in ipairs({ "end_time", "resumed_time" }) do
    local t = info[k]
    if type(t) == "number" and (latest == nil or t > latest) then latest, what = t, k end
  end
  if seen and latest then seen[run_id] = { latest, what } end
  return info, latest, what
end

-- Why an event of an older graphids (no attempt), logged at `at` (its end_time, or `time`), is
-- late: the run ended or was resumed after it (latest_time).  false when it was not, or there
-- is no time to compare (the event is sent); nil, message, code, status when the run cannot be
-- read.
local function stale_by_time(store, run_id, at, seen)
  if type(at) ~= "number" then return false end
  local info, latest, what, status = latest_time(store, run_id, seen)
  if not info then return nil, latest, what, status end
  if latest == nil or latest <= at then return false end
  return string.format("it was logged at %d, and the run is %s with a later %s (%d)", at,
    tostring(info.status), what, latest)
end

-- Why ev, delivered by a late sync, comes from a fit before the run's current one (the reason,
-- in words), or false; nil, message, code, status when the run cannot be read.
local function stale(store, run_id, ev, seen)
  if seen == nil or ev.rejected ~= nil or not store.get_run_info then return false end
  if ev.attempt == nil then return stale_by_time(store, run_id, ev.end_time or ev.time, seen) end
  local info, err, code, status = store:get_run_info(run_id)
  if not info then return nil, err, code, status end
  local current = info.resumed_time or 0
  local a = ev.attempt
  if a == current or (a > 0 and (current == 0 or a > current)) then return false end
  return string.format("it is from %s, and the run was resumed after it (at %d; it is %s)",
    a == 0 and "the fit that created the run" or string.format("the resume at %d", a), current,
    tostring(info.status))
end

-- Tags that say what a param of the run was in another fit than the one whose value MLflow
-- keeps (params cannot change: the value the store got first stays).
M.RESUMED_PARAM = "graphids.resumed_param."
M.FIRST_PARAM = "graphids.first_param."

-- The params of batch that the run holds with another value, split off: batch.params keeps
-- those it does not hold yet (the ones it holds alike need not be sent), and each changed one
-- becomes a tag in `tags` with a note: the value of a resume (ev.resumed: the params a resume
-- was started with) as graphids.resumed_param.<key>, that of the fit that created the run,
-- delivered late after a `key:` resume had created the run with its own, as
-- graphids.first_param.<key>.  An older resume's value (old: a later resume went on) is left
-- out: the later resume's tag is the run's.  true and whether a value was left out, or nil,
-- message, code, status.
local function split_params(store, run_id, ev, batch, old, tags, notes)
  local keys = {}
  for i, p in ipairs(batch.params) do keys[i] = p.key end
  local held, err, code, status = store:get_params(run_id, keys)
  if not held then return nil, err, code, status end
  local new, left_out = {}, false
  for _, p in ipairs(batch.params) do
    local was = held[p.key]
    if was == nil then
      new[#new + 1] = p
    elseif was ~= p.value then
      local first = ev.attempt == 0
      local tag = mlflow.sanitize_key((first and M.FIRST_PARAM or M.RESUMED_PARAM) .. p.key)
      local said = string.format("param '%s' of run %s is '%s' and MLflow params cannot change; ", p.key,
        run_id, was)
      if first then
        tags[#tags + 1] = { key = tag, value = p.value }
        notes[#notes + 1] = said .. string.format("the value '%s' of the fit that created the run (a " ..
          "resume logged it first) is logged as the tag %s", p.value, tag)
      elseif old then
        left_out = true
        notes[#notes + 1] = said .. string.format("the resumed value '%s' is skipped: %s", p.value, old)
      else
        tags[#tags + 1] = { key = tag, value = p.value }
        notes[#notes + 1] = said .. string.format("the resumed value '%s' is logged as the tag %s", p.value,
          tag)
      end
    end
  end
  batch.params = new
  return true, left_out
end

-- The batch of a log_batch event as it may be delivered now, the notes on what was changed or
-- left out (a list), and whether something was left out as late; nil, message, code, status
-- when the run cannot be read.  Tags say what the run is now (MLflow keeps only the last value
-- of each), so the tags of a late event (stale) are left out: a crashed attempt's
-- graphids.error would otherwise read as the error of the attempt that resumed and finished the
-- run, and its graphids.resumed_time would rewind the run's current attempt.  Metrics and
-- params go in all the same: metric points are history, kept with their step and timestamp,
-- and the first attempt's epochs before the checkpoint are logged nowhere else.  The params of
-- a resume, and those of a late event, are checked against the run's (split_params): MLflow
-- refuses a changed one, and the whole batch with it.  A batch of an older graphids without a
-- time keeps its tags, but for a graphids.resumed_time older than the run's.
local function current_batch(store, run_id, ev, seen)
  local batch = { metrics = metrics_of(ev), params = list(ev.params), tags = list(ev.tags) }
  local notes, old, left_out = {}, false, false
  local err, code, status
  local judged = ev.attempt ~= nil or ev.time ~= nil
  if #batch.tags > 0 and judged or #batch.params > 0 and ev.attempt ~= nil then
    old, err, code, status = stale(store, run_id, ev, seen)
    if old == nil then return nil, err, code, status end
  end
  local derived = {}
  if #batch.params > 0 and (ev.resumed or (old and ev.attempt ~= nil)) then
    local ok
    ok, left_out, code, status = split_params(store, run_id, ev, batch, old, derived, notes)
    if not ok then return nil, left_out, code, status end
  end
  if old and #batch.tags > 0 then
    local keys = {}
    for i, t in ipairs(batch.tags) do keys[i] = t.key end
    notes[#notes + 1] = string.format("tags %s of run %s skipped: %s", table.concat(keys, ", "), run_id, old)
    batch.tags, left_out = {}, true
  end
  for _, t in ipairs(derived) do batch.tags[#batch.tags + 1] = t end
  if judged or seen == nil or not store.get_run_info then
    return batch, notes, left_out
  end
  local resumed
  for _, t in ipairs(batch.tags) do
    if t.key == M.RESUMED_TAG then resumed = tonumber(t.value) end
  end
  if not resumed then return batch, notes, false end
  local info, latest, what
  info, latest, what, status = latest_time(store, run_id, seen)
  if not info then return nil, latest, what, status end
  local held = what == "resumed_time" and latest or info.resumed_time
  if type(held) ~= "number" or held <= resumed then return batch, notes, false end
  local tags = {}
  for _, t in ipairs(batch.tags) do
    if t.key ~= M.RESUMED_TAG then tags[#tags + 1] = t end
  end
  batch.tags = tags
  notes[#notes + 1] = string.format("tag %s of run %s (%d) skipped: the run was resumed later (%d)",
    M.RESUMED_TAG, run_id, resumed, held)
  return batch, notes, true
end

-- What apply returns for an event whose every part was left out as late: it is taken out of
-- the spool, but never counted as delivered.
M.SKIPPED = "skipped"

local function note_of(notes)
  return #notes > 0 and table.concat(notes, "\n") or nil
end

-- Delivers one event to store.  ids maps run_key -> run id (filled by create_run; false for
-- a run whose create_run was refused); `fresh` says the run cannot exist yet (first delivery
-- in the process that made it), which skips the search for an earlier delivery; `seen` (a
-- sync's; nil for a live event) makes it a late sync (see "late events") and keeps the latest
-- time of each run met so far (latest_time).  Returns true, or M.SKIPPED when all of it was
-- left out as late, with a note (lines: what was left out or changed, for the user) when there
-- is one; or nil, message, code, status (graphids.track.mlflow.refused tells a refused event).
function M.apply(store, ev, ids, fresh, seen)
  if ev.op == "create_run" then return create_run(store, ev, ids, fresh) end
  local run_id, err, code, status = run_id_of(store, ev, ids)
  if not run_id then return nil, err, code, status end
  if ev.op == "log_batch" then
    local batch, notes, late, bstatus = current_batch(store, run_id, ev, seen)
    if not batch then return nil, notes, late, bstatus end
    if #batch.metrics == 0 and #batch.params == 0 and #batch.tags == 0 then
      return late and M.SKIPPED or true, note_of(notes)
    end
    -- (a sync's: a FileStore then leaves out a point its file holds anywhere, not only last)
    local ok, lerr, lcode, lstatus = store:log_batch(run_id, batch, seen and { sync = true } or nil)
    if not ok then return nil, lerr, lcode, lstatus end
    return true, note_of(notes)
  end
  local why, serr, scode, sstatus = stale(store, run_id, ev, seen)
  if why == nil then return nil, serr, scode, sstatus end
  if ev.op == "update_run" then
    if why then
      return M.SKIPPED, string.format("update_run %s of run %s skipped: %s", ev.status, run_id, why)
    end
    return store:update_run(run_id, ev.status, ev.end_time)
  elseif ev.op == "delete_tag" then
    if why then
      return M.SKIPPED, string.format("delete_tag %s of run %s skipped: %s", ev.key, run_id, why)
    end
    return store:delete_tag(run_id, ev.key)
  end
  return refuse("unknown event op '%s'", tostring(ev.op))
end

-- ---------------------------------------------------------------- sync

-- Counts the events (non-empty lines) of a text.
local function count(text)
  local n = 0
  for _ in text:gmatch("[^\n]+") do n = n + 1 end
  return n
end

-- Records that the next event of snap (snap.next) is done: one fsynced marker line.  true,
-- or nil, message.
local function mark_done(run_dir, snap, ids)
  local i = snap.next
  snap.done, snap.chain, snap.next = snap.base + snap.ends[i], chain_step(snap.chain, snap.lines[i]), i + 1
  local known = {}
  for k, v in pairs(ids) do
    if type(v) == "string" then known[k] = v end
  end
  local line = json.encode({ bytes = snap.done, chain = snap.chain, ids = known, inode = snap.inode })
  return core.append_file(done_path(run_dir), line .. "\n", { sync = true })
end

-- Rewrites the spool without what this sync delivered (its first snap.done bytes), under the
-- lock, then removes the marker.  snap.head is the text the sync read; whatever follows it was
-- appended since and is kept as it is.  Later events of a run created by this sync get its run
-- id.  Returns the number of events appended since snap was read, or nil, message.
local function compact(run_dir, snap, ids)
  return with_lock(run_dir, function()
    local text = assert(read_text(run_dir))
    if text:sub(1, #snap.head) ~= snap.head then
      error(M.path(run_dir) .. " was changed by another process during the sync", 0)
    end
    local tail = text:sub(#snap.head + 1)
    if snap.done > 0 or #snap.evs == 0 then -- (an empty spool file goes too)
      local lines = {}
      for i = snap.next, #snap.evs do
        local ev = snap.evs[i]
        if ev.op ~= "create_run" and ev.run_id == nil and ids[ev.run_key] then
          ev.run_id = ids[ev.run_key]
          snap.lines[i] = encode(ev)
        end
        lines[#lines + 1] = snap.lines[i] .. "\n"
      end
      local rest = table.concat(lines) .. tail
      -- (an emptied spool is replaced by an empty file first, and removed only after the
      -- record: removed before it, a spool a later fit makes could take its inode back while a
      -- killed sync's record still names it)
      assert(core.atomic_write(M.path(run_dir), rest:match("^%s*$") and "" or rest))
    end
    local ok, err = os.remove(done_path(run_dir))
    if not ok and core.stat(done_path(run_dir)) then error(err, 0) end
    local st = core.stat(M.path(run_dir))
    if st and st.size == 0 then
      local rok, rerr = os.remove(M.path(run_dir))
      if not rok and core.stat(M.path(run_dir)) then error(rerr, 0) end
    end
    return count(tail)
  end)
end

-- The events left in the spool (its non-empty lines less what a killed sync delivered; 0 when
-- it cannot be read).
local function left_in(run_dir)
  return count((undelivered(run_dir, read_text(run_dir) or "")))
end

-- The spool as it is now (under the lock), less what a killed sync delivered: {evs, lines,
-- ends (byte offsets past each line, from base), base, head, next, done, chain}, or nil,
-- message, events.  ids gets the run ids that the killed sync learned.
local function snapshot(run_dir, ids)
  local text, err, inode = with_lock(run_dir, function()
    local t, e = read_text(run_dir)
    local st = t and core.stat(M.path(run_dir))
    return t, e, st and st.inode
  end)
  if not text then return nil, err, left_in(run_dir) end
  local rest, skipped, done, chain, known = undelivered(run_dir, text)
  for k, v in pairs(known) do
    if ids[k] == nil then ids[k] = v end
  end
  local evs, lines, bad, ends = parse(rest, M.path(run_dir), skipped)
  if bad then return nil, bad, #evs end
  return { evs = evs, lines = lines, ends = ends, base = done, head = text, next = 1, done = done,
    chain = chain, inode = inode }
end

-- The URI to send ev to: opts.uri, else the event's own.  A spool keeps a URI without its
-- user-info (http://user:password@host is spooled as http://host): the credentials then come
-- from $MLFLOW_TRACKING_URI when it names the same server with them, or from
-- MLFLOW_TRACKING_USERNAME/_PASSWORD (or _TOKEN), or from a --uri that holds them.
local function target_uri(state, ev)
  if state.opts.uri then return state.opts.uri end
  local env = os.getenv("MLFLOW_TRACKING_URI")
  if ev.uri and env and env ~= ev.uri and mlflow.redact_uri(env) == ev.uri then return env end
  return ev.uri
end

local function store_for(state, ev)
  local uri = target_uri(state, ev)
  local store = state.stores[uri or ""]
  if store then return store end
  local so = {}
  for k, v in pairs(state.opts.store_opts or {}) do so[k] = v end
  so.uri = uri
  local err
  store, err = mlflow.store(so)
  if not store then return nil, err end
  state.stores[uri or ""] = store
  return store
end

-- Delivers one event: true (or M.SKIPPED: left out as late), or nil, message, refused (the
-- event itself was refused).  Each line of a note is told.  A store found down (no answer, or
-- 5xx/408/429 after the retries: mlflow.store_down) is noted in state.down, which the run dirs
-- of one `graphids track sync` share, and is not tried again by it: every later run dir would
-- otherwise wait through the whole retry cycle (minutes with MLflow's defaults) again.
local function deliver(state, ev)
  local uri = target_uri(state, ev) or ""
  if state.down[uri] then
    return nil, string.format("not sent: the store %s was down earlier in this sync", mlflow.redact_uri(uri)),
      false
  end
  local store, err = store_for(state, ev)
  if not store then return nil, err, false end
  local ok, res, msg, code, status = pcall(M.apply, store, ev, state.ids, nil, state.seen)
  if not ok and mlflow.is_interrupt(res) then error(res, 0) end -- the event stays in the spool
  if not ok then return nil, "spool: " .. tostring(res), false end
  if res then
    if type(msg) == "string" then
      for line in msg:gmatch("[^\n]+") do state.notify(line) end
    end
    return res
  end
  if mlflow.store_down(code, status) then state.down[uri] = true end
  return nil, tostring(msg), mlflow.refused(code, status)
end

-- Removes the temporary files of spool rewrites (.tracking_spool.jsonl.tmp-PID-N) whose
-- writer is dead (killed mid-rewrite); only a sync rewrites the spool, and this one holds the
-- sync lock, so a live PID is another process's by reuse, and its file is left alone.
local function remove_stale_tmp(run_dir)
  local prefix = "." .. M.FILE .. ".tmp-"
  for _, name in ipairs(core.list_dir(run_dir) or {}) do
    local pid = name:sub(1, #prefix) == prefix and name:sub(#prefix + 1):match("^(%d+)%-%d+$")
    if pid and not core.stat("/proc/" .. pid) then os.remove(run_dir .. "/" .. name) end
  end
end

-- Delivers the events of snap in order, recording each one done (mark_done).  nil when every
-- one went (delivered, set aside or skipped), else why delivery stopped (the event stays).
local function deliver_pass(run_dir, state, snap)
  for i, ev in ipairs(snap.evs) do
    local ok, why, refused = deliver(state, ev)
    local where, err
    if refused then
      if ev.op == "create_run" then state.ids[ev.run_key] = false end
      where, err = M.set_aside(run_dir, ev, why)
      if not where then -- kept in the spool rather than lost
        refused, why = false, why .. " (and it cannot be set aside: " .. tostring(err) .. ")"
      end
    end
    if not ok and not refused then return string.format("event %d (%s): %s", i, ev.op, why) end
    if refused then
      state.aside = state.aside + 1
      state.notify(string.format("event %d (%s) refused: %s; set aside in %s", i, ev.op, why, where))
    elseif ok == M.SKIPPED then
      state.skipped = state.skipped + 1
    else
      state.sent = state.sent + 1
    end
    local marked, merr = mark_done(run_dir, snap, state.ids)
    if not marked then
      return "spool: cannot record the delivery in " .. done_path(run_dir) .. ": " .. tostring(merr)
    end
  end
  return nil
end

local function sync_locked(run_dir, opts)
  remove_stale_tmp(run_dir)
  local notify = opts.notify or function(line) io.stderr:write("graphids track sync: ", line, "\n") end
  local state = { opts = opts, stores = {}, ids = {}, seen = {}, sent = 0, aside = 0, skipped = 0,
    down = opts.down or {},
    notify = function(line) notify(run_dir .. ": " .. line) end }
  while true do -- again for what training appended meanwhile
    local snap, err, held = snapshot(run_dir, state.ids)
    if not snap then return nil, err, state.sent, held, state.aside, state.skipped end
    local res = table.pack(pcall(deliver_pass, run_dir, state, snap))
    -- what was delivered leaves the spool also when delivery stopped (a Ctrl-C included)
    local appended, cerr = compact(run_dir, snap, state.ids)
    if not res[1] then error(res[2], 0) end
    local failed = res[2]
    if appended == nil then
      failed = (failed and failed .. "; and " or "") .. "spool: cannot rewrite " .. M.path(run_dir) .. ": " ..
        tostring(cerr)
    end
    if failed then return nil, failed, state.sent, left_in(run_dir), state.aside, state.skipped end
    if appended == 0 then return state.sent, 0, state.aside, state.skipped end
  end
end

-- Replays the spool of run_dir.  opts.uri sends everything there instead of each event's own
-- URI; opts.store_opts go to the stores (retry settings); opts.notify(line) is told of each
-- event set aside, and of what was left out as late or changed (default: stderr); opts.down
-- (a table the syncs of several run dirs share) keeps the stores found down, which are then
-- not tried again (an event for one fails at once).  Returns
-- delivered, remaining, set_aside, skipped (events left out whole as late: removed from the
-- spool, not delivered), or nil, message, delivered, remaining, set_aside, skipped.
function M.sync(run_dir, opts)
  opts = opts or {}
  if not core.stat(M.path(run_dir)) then return 0, 0, 0, 0 end
  local guard, err = core.lock(run_dir .. "/" .. M.SYNC_LOCK, { exclusive = true, timeout = 0 })
  if not guard then
    local why = tostring(err)
    if not why:find("is held by another process", 1, true) then -- not a sync: a lock file that
      -- cannot be opened (left by another user of a shared run dir), named with the errno text
      return nil, "spool: cannot take the sync lock of " .. run_dir .. ": " .. why, 0, left_in(run_dir), 0, 0
    end
    local left = left_in(run_dir)
    return nil, "another graphids track sync is delivering this spool (" .. why .. ")", 0, left, 0, 0
  end
  local res = table.pack(pcall(sync_locked, run_dir, opts))
  guard:unlock()
  if not res[1] and mlflow.is_interrupt(res[2]) then error(res[2], 0) end -- Ctrl-C stops the sync
  if not res[1] then return nil, "spool: " .. tostring(res[2]), 0, left_in(run_dir), 0, 0 end
  return table.unpack(res, 2, res.n)
end

return M
