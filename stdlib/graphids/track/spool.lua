-- graphids.track.spool -- tracking events that could not be delivered, kept in
-- run_dir/tracking_spool.jsonl (one JSON event per line, appended whole), and their replay.
--   spool.append(run_dir, {op = "log_batch", run_key = k, uri = u, metrics = {...}})
--   local sent, left = spool.sync(run_dir)            -- or nil, message (the rest stays)
--
-- Events: create_run {run_key, experiment, run_name, start_time, tags, parent_key, parent_id},
-- log_batch {run_key, run_id?, metrics, params, tags}, update_run {run_key, run_id?, status,
-- end_time}; each records the tracking `uri` it was meant for.  `run_key` is the client's id of
-- a run (32 hex), also sent as the tag graphids.run_key, so a replay finds a run that an
-- earlier, interrupted delivery created instead of creating it twice.  Delivery goes in file
-- order and stops at the first failure; what was delivered is removed (the remaining events
-- are rewritten atomically after each one), so running sync again is always safe.
local core = require "graphids.core"
local json = require "graphids.json"
local mlflow = require "graphids.track.mlflow"

local M = {}

M.FILE = "tracking_spool.jsonl"
M.RUN_KEY_TAG = "graphids.run_key"

function M.path(run_dir)
  return run_dir .. "/" .. M.FILE
end

-- Appends one event (fsynced: the spool is the only copy).  Returns true or nil, message.
function M.append(run_dir, ev)
  local ok, line = pcall(json.encode, require("graphids.track.traces").plain(ev))
  if not ok then return nil, "spool: " .. tostring(line) end
  local made, err = core.mkdir_p(run_dir)
  if not made then return nil, err end
  return core.append_file(M.path(run_dir), line .. "\n", { sync = true })
end

-- The events of a spool file, in order; nil, message naming file and line for a bad line (or
-- a spool path that is not a file), and the number of events the file holds (its non-empty
-- lines: what is left undelivered).
function M.read(run_dir)
  local path = M.path(run_dir)
  local st = core.stat(path)
  if st == nil then return {} end
  if st.type ~= "file" then return nil, path .. " is not a file", 0 end
  local f, err = io.open(path, "rb")
  if not f then return nil, tostring(err), 0 end
  local text = f:read("a")
  f:close()
  if text == nil then return nil, path .. ": cannot be read", 0 end
  local evs, n, bad, lines = {}, 0, nil, 0
  for line in text:gmatch("([^\n]*)\n?") do
    n = n + 1
    if line ~= "" then
      lines = lines + 1
      local ok, ev = pcall(json.decode, line)
      if bad == nil and (not ok or type(ev) ~= "table" or type(ev.op) ~= "string") then
        bad = string.format("%s:%d: not a spooled tracking event (%s)", path, n,
          ok and "no 'op'" or tostring(ev))
      end
      evs[#evs + 1] = ev
    end
  end
  if bad then return nil, bad, lines end
  return evs
end

local function list(t)
  local out = {}
  for _, x in ipairs(t or {}) do out[#out + 1] = x end
  return out
end

-- Metric values in a spool are JSON, where non-finite numbers are strings.
local NONFINITE = { NaN = 0 / 0, Infinity = math.huge, ["-Infinity"] = -math.huge }
local function metrics_of(ev)
  local out = {}
  for _, m in ipairs(ev.metrics or {}) do
    out[#out + 1] = { key = m.key, value = NONFINITE[m.value] or m.value, timestamp = m.timestamp,
      step = m.step }
  end
  return out
end

-- Delivers one event to store.  ids maps run_key -> run id (filled by create_run); `fresh`
-- says the run cannot exist yet (first delivery in the process that made it), which skips
-- the search for an earlier delivery.  Returns true or nil, message.
function M.apply(store, ev, ids, fresh)
  if ev.op == "create_run" then
    local exp, err = store:get_or_create_experiment(ev.experiment)
    if not exp then return nil, err end
    local found = false
    if not fresh then
      found, err = store:find_run(exp, M.RUN_KEY_TAG, ev.run_key)
      if found == nil then return nil, err end
    end
    if found then
      ids[ev.run_key] = found
      return true
    end
    local tags = list(ev.tags)
    tags[#tags + 1] = { key = M.RUN_KEY_TAG, value = ev.run_key }
    local parent = ev.parent_id or (ev.parent_key and ids[ev.parent_key])
    if not parent and ev.parent_key then
      -- a parent spooled elsewhere (its own run dir) and delivered since: found by its key
      parent = store:find_run(exp, M.RUN_KEY_TAG, ev.parent_key) or nil
    end
    if parent then tags[#tags + 1] = { key = "mlflow.parentRunId", value = parent } end
    local id
    id, err = store:create_run { experiment_id = exp, run_name = ev.run_name, start_time = ev.start_time,
      tags = tags, run_id = store.root and ev.run_key or nil }
    if not id then return nil, err end
    ids[ev.run_key] = id
    return true
  end
  local run_id = ev.run_id or ids[ev.run_key]
  if run_id == nil then
    return nil, string.format("spool: %s for run key %s, whose run was never created", ev.op,
      tostring(ev.run_key))
  end
  if ev.op == "log_batch" then
    return store:log_batch(run_id, { metrics = metrics_of(ev), params = ev.params, tags = ev.tags })
  elseif ev.op == "update_run" then
    return store:update_run(run_id, ev.status, ev.end_time)
  end
  return nil, "spool: unknown event op '" .. tostring(ev.op) .. "'"
end

local function rewrite(run_dir, evs, from, ids)
  if from > #evs then
    return os.remove(M.path(run_dir)) or not core.stat(M.path(run_dir))
  end
  local lines = {}
  for i = from, #evs do
    local ev = evs[i]
    if ev.op ~= "create_run" and ev.run_id == nil and ids[ev.run_key] then ev.run_id = ids[ev.run_key] end
    lines[#lines + 1] = json.encode(ev)
  end
  return core.atomic_write(M.path(run_dir), table.concat(lines, "\n") .. "\n")
end

-- Replays the spool of run_dir.  opts.uri sends everything there instead of each event's own
-- URI; opts.store_opts go to the stores (retry settings).  Returns delivered, remaining or
-- nil, message, delivered, remaining.
function M.sync(run_dir, opts)
  opts = opts or {}
  local evs, err, held = M.read(run_dir)
  if not evs then return nil, err, 0, held end
  if #evs == 0 then
    rewrite(run_dir, evs, 1, {}) -- an empty spool file goes too
    return 0, 0
  end
  local stores, ids = {}, {}
  for i, ev in ipairs(evs) do
    local uri = opts.uri or ev.uri
    local store = stores[uri or ""]
    if store == nil then
      local so = {}
      for k, v in pairs(opts.store_opts or {}) do so[k] = v end
      so.uri = uri
      store, err = mlflow.store(so)
      if not store then return nil, err, i - 1, #evs - i + 1 end
      stores[uri or ""] = store
    end
    local ok
    ok, err = M.apply(store, ev, ids)
    if not ok then
      rewrite(run_dir, evs, i, ids)
      return nil, string.format("event %d (%s): %s", i, ev.op, tostring(err)), i - 1, #evs - i + 1
    end
    local wrote, werr = rewrite(run_dir, evs, i + 1, ids)
    if not wrote then
      return nil, "spool: cannot rewrite " .. M.path(run_dir) .. ": " .. tostring(werr), i, #evs - i
    end
  end
  return #evs, 0
end

return M
