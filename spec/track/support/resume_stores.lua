-- spec/track/support/resume_stores.lua -- the two stores the resume specs run each scenario
-- against (a FileStore read as files, and a REAL `mlflow server` read by MLflow's own client),
-- and the fits they play: one that crashes with its store down (all spooled), one that fails
-- online, and a late `graphids track sync`.
--   local rs = require "track.support.resume_stores"
--   rs.each_store(function(name, make_store) describe(...) make_store(function(st, dir) ...) end)
--   local run, failed_at = rs.crashed_fit(run_dir, store.down(), exp, {[0] = 1.0}, {params = p})
--   local res, said = rs.late_sync(run_dir, store.uri)   -- {sent, left, aside, skipped}, notes
local assert = require "luassert"
local core = require "graphids.core"
local fixture = require "track.support.fixture"
local mlflow = require "graphids.track.mlflow"
local server = require "track.mlflow_server"
local spool = require "graphids.track.spool"
local track = require "graphids.track"

local read = require("graphids.io").read_file

local M = {}

-- Quiet, fast retries (the defaults wait minutes).
M.FAST = { max_retries = 1, backoff_factor = 0.01, backoff_jitter = 0, notify = function() end }
local STATUS = { ["1"] = "RUNNING", ["3"] = "FINISHED", ["4"] = "FAILED", ["5"] = "KILLED" }

-- ---------------------------------------------------------------- the two stores
-- store.uri: where the runs live; store.down(): a URI of the same kind that cannot be reached
-- (every event spooled); store.info(run_id): {status, start_time, end_time, stage, tags, params,
-- loss = {{step, value}, ...} sorted; latest_loss: MLflow's value of the run, from a server});
-- store.id_of(experiment, key): the id of the run with that graphids.run_key; store.delete(run_id)
-- as MLflow's delete_run; store.missing: why the store cannot be used here (then skipped).

local function sorted_history(h)
  table.sort(h, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  return h
end

-- A FileStore under dir, read as files (MLflow's layout).  Unreachable: a root under a file
-- (it cannot be listed: a store failure, not a run that is gone).
function M.file_store(dir)
  local root = dir .. "/mlruns"
  local st = { kind = "file", uri = "file:" .. root, root = root }
  function st.down()
    assert(io.open(dir .. "/blocked", "w")):close()
    return "file:" .. dir .. "/blocked/mlruns"
  end
  function st.run_dir(run_id)
    for _, exp in ipairs(core.list_dir(root) or {}) do
      local d = root .. "/" .. exp .. "/" .. run_id
      if core.stat(d .. "/meta.yaml") then return d end
    end
    error("no run " .. run_id .. " under " .. root)
  end
  function st.info(run_id)
    local d = st.run_dir(run_id)
    local meta = assert(read(d .. "/meta.yaml"))
    local loss = {}
    for v, step in (read(d .. "/metrics/loss") or ""):gmatch("%d+ (%S+) (%d+)\n") do
      loss[#loss + 1] = { tonumber(step), tonumber(v) }
    end
    local function files(sub)
      return setmetatable({}, { __index = function(_, k) return read(table.concat({ d, sub, k }, "/")) end })
    end
    return { status = STATUS[meta:match("\nstatus: (%d+)\n")],
      start_time = tonumber(meta:match("\nstart_time: (%d+)")),
      end_time = tonumber(meta:match("\nend_time: (%d+)")), stage = meta:match("\nlifecycle_stage: '?(%a+)"),
      tags = files("tags"), params = files("params"), loss = sorted_history(loss) }
  end
  function st.id_of(_, key) return key end -- (a FileStore run is named by its key)
  function st.delete(run_id) -- as MLflow's delete_run leaves it
    local path = st.run_dir(run_id) .. "/meta.yaml"
    local meta = read(path):gsub("\nlifecycle_stage: [^\n]*", "\nlifecycle_stage: deleted")
    assert(core.atomic_write(path, meta))
  end
  return st
end

-- The real server, read by MLflow's client.  Unreachable: a port nothing listens on.
function M.server_store(srv, why)
  local st = { kind = "server", uri = srv and srv.url,
    missing = not srv and ("no mlflow server: " .. tostring(why)) }
  function st.down() return "http://127.0.0.1:1" end
  function st.info(run_id)
    local r = server.query(srv.url, string.format([[
r = c.get_run(%q)
out = {"status": r.info.status, "start_time": r.info.start_time, "end_time": r.info.end_time,
       "stage": r.info.lifecycle_stage,
       "tags": r.data.tags, "params": r.data.params, "latest_loss": r.data.metrics.get("loss"),
       "loss": [[m.step, m.value] for m in c.get_metric_history(r.info.run_id, "loss")]}
]], run_id))
    r.loss = sorted_history(r.loss)
    return r
  end
  function st.id_of(experiment, key)
    return server.query(srv.url, string.format([[
out = c.search_runs([c.get_experiment_by_name(%q).experiment_id],
                    "tags.`graphids.run_key` = '%s'")[0].info.run_id]], experiment, key))
  end
  function st.delete(run_id)
    server.query(srv.url, string.format("c.delete_run(%q)\nout = 1", run_id))
  end
  return st
end

-- ---------------------------------------------------------------- helpers

-- A fit whose store is unreachable: everything is spooled in run_dir.  It logs loss at the
-- given steps ({step = value}) and, crashing as the trainer callback does, the graphids.error
-- tag and FAILED.  opts: resume, params (start_fit_run's).  Returns the run and the end_time
-- its spooled update_run holds.
function M.crashed_fit(run_dir, uri, experiment, losses, opts)
  opts = opts or {}
  local run
  fixture.stderr_of(function()
    run = track.start_fit_run(run_dir, { uri = uri, experiment = experiment, run_name = "fit",
      params = opts.params, store_opts = M.FAST, resume = opts.resume })
    for step = 0, 9 do
      if losses[step] then run:log_metrics({ loss = losses[step] }, step) end
    end
    run:set_tags({ ["graphids.error"] = "boom in epoch 2" })
    run:finish("FAILED")
  end)
  local evs = assert(spool.read(run_dir))
  assert.equal("update_run", evs[#evs].op)
  core.sleep(0.01) -- the next fit's times are later
  track.reset_failures()
  return run, evs[#evs].end_time
end

-- A fit logged to uri that fails as the trainer callback ends it: its error tag, FAILED.
-- params: start_fit_run's.
function M.online_failure(run_dir, uri, experiment, err, params)
  local run = track.start_fit_run(run_dir, { uri = uri, experiment = experiment, store_opts = M.FAST,
    params = params })
  run:set_tags({ ["graphids.error"] = err })
  run:finish("FAILED")
  core.sleep(0.01) -- the next fit's times are later
  return run
end

-- spool.sync of run_dir into uri: {delivered, left, set aside, skipped} and the notes it gave.
function M.late_sync(run_dir, uri)
  local said = {}
  local notify = function(l) said[#said + 1] = l end
  local res = { spool.sync(run_dir, { uri = uri, store_opts = M.FAST, notify = notify }) }
  return res, said
end

-- fn() with the client's clock shifted by ms (a machine whose clock is off): graphids.track
-- takes every time it records (start, end, event and metric times, the resume time) from
-- mlflow.now_ms.  fn's results.
function M.skewed(ms, fn)
  local real = mlflow.now_ms
  mlflow.now_ms = function() return real() + ms end
  local res = table.pack(pcall(fn))
  mlflow.now_ms = real
  assert(res[1], res[2])
  return table.unpack(res, 2, res.n)
end

-- A resume of ref whose store is unreachable (everything spooled in run_dir): it logs loss =
-- 0.5 at step 1 and finishes FINISHED.  opts: params.  Returns the run.
function M.spooled_resume(run_dir, uri, experiment, ref, opts)
  opts = opts or {}
  local run
  fixture.stderr_of(function()
    run = track.start_fit_run(run_dir, { uri = uri, experiment = experiment, run_name = "fit",
      params = opts.params, store_opts = M.FAST, resume = ref })
    run:log_metrics({ loss = 0.5 }, 1)
    run:finish("FINISHED")
  end)
  assert.is_true(run.spooling)
  core.sleep(0.01)
  track.reset_failures()
  return run
end

-- fn(name, make_store) for each store: make_store(set) sets up the store for a describe block
-- (a fresh FileStore for each test; one real server for the block) and hands it to set(store,
-- dir), with a fresh folder.
function M.each_store(fn)
  fn("FileStore", function(set)
    fixture.tmpdir_each(function(d) set(M.file_store(d), d) end)
  end)
  fn("real mlflow server", function(set)
    fixture.server(function(srv, why, dir) set(M.server_store(srv, why), dir) end)
  end)
end

return M
