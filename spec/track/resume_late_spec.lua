-- A resumed fit against the events of the fit it resumed: a late `graphids track sync` of the
-- crashed fit's spool never moves the resumed run backwards (FAILED over FINISHED), and a
-- resume whose run was deleted goes on in a new run instead of losing every event to refusals.
-- Both stores: a FileStore, and a REAL `mlflow server` (spec/track/mlflow_server.lua).
local core = require "graphids.core"
local skip = require "skip"
local server = require "track.mlflow_server"
local track = require "graphids.track"
local spool = require "graphids.track.spool"
local filestore = require "graphids.track.filestore"

local read = require("graphids.io").read_file

-- Quiet, fast retries (the defaults wait minutes).
local FAST = { max_retries = 1, backoff_factor = 0.01, backoff_jitter = 0, notify = function() end }
local DEAD = "http://127.0.0.1:1" -- nothing listens there

local function quiet(fn)
  local old, buf = io.stderr, {}
  io.stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do buf[#buf + 1] = s end end } -- luacheck: ignore
  local ok, err = pcall(fn)
  io.stderr = old -- luacheck: ignore
  assert(ok, err)
  return table.concat(buf)
end

-- The crashed first fit: its store is unreachable, so everything is spooled in run_dir.
-- Returns the run and the end_time its spooled update_run holds.
local function crashed_fit(run_dir, uri, experiment)
  local run
  quiet(function()
    run = track.start_fit_run(run_dir, { uri = uri, experiment = experiment, run_name = "fit",
      params = { lr = 0.1 }, store_opts = FAST })
    run:log_metrics({ loss = 1.0 }, 0)
    run:finish("FAILED")
  end)
  local evs = assert(spool.read(run_dir))
  assert.equal("update_run", evs[#evs].op)
  core.sleep(0.01) -- the resumed fit's times are later
  track.reset_failures()
  return run, evs[#evs].end_time
end

describe("a late sync of a crashed fit's spool", function()
  local dir
  before_each(function()
    dir = server.tmpdir()
  end)
  after_each(function()
    os.execute("rm -rf " .. dir)
  end)

  it("leaves the resumed FileStore run FINISHED with its own end time", function()
    local root = dir .. "/mlruns"
    local blocked = dir .. "/blocked"
    assert(io.open(blocked, "w")):close()
    -- (the spooled URI names a store under a file: unwritable until the sync sends it to root)
    local run, failed_at = crashed_fit(dir .. "/r1", "file:" .. blocked .. "/mlruns", "e")
    local again = track.start_fit_run(dir .. "/r2", { uri = "file:" .. root, experiment = "e",
      resume = run:ref(), params = { lr = 0.1 } })
    again:log_metrics({ loss = 0.5 }, 1)
    again:finish("FINISHED")
    local said = {}
    assert.same({ 4, 0, 0 }, { spool.sync(dir .. "/r1", { uri = "file:" .. root,
      notify = function(l) said[#said + 1] = l end }) })
    local exp = assert(filestore.new(root):find_experiment("e"))
    local meta = assert(read(root .. "/" .. exp .. "/" .. run.key .. "/meta.yaml"))
    assert.matches("\nstatus: 3\n", meta) -- FINISHED
    assert.is_true(tonumber(meta:match("\nend_time: (%d+)")) > failed_at)
    assert.matches("update_run FAILED of run " .. run.key .. " %(at %d+%) skipped", said[1])
    -- the first fit's metric is there all the same (delivered after the resumed fit's)
    assert.matches("^%d+ 0.5 1\n%d+ 1.0 0\n$", read(root .. "/" .. exp .. "/" .. run.key .. "/metrics/loss"))
  end)

  it("leaves a FileStore run resumed again and still running RUNNING, with its newer resume time", function()
    local root = dir .. "/mlruns"
    local blocked = dir .. "/blocked"
    assert(io.open(blocked, "w")):close()
    local run = track.start_fit_run(dir .. "/r0", { uri = "file:" .. root, experiment = "e" })
    run:finish("FAILED")
    core.sleep(0.01)
    -- resume #1 while the store cannot be reached (a root under a file: it cannot be listed,
    -- which is a store failure, not a run that is gone): all of it spooled in r1
    local first = quiet(function()
      local r1 = track.start_fit_run(dir .. "/r1", { uri = "file:" .. blocked .. "/mlruns",
        experiment = "e", resume = run:ref() })
      assert.equal(run.run_id, r1.run_id)
      r1:log_metrics({ loss = 0.5 }, 1)
      r1:finish("FAILED")
    end)
    assert.not_matches("new run", first)
    local evs = assert(spool.read(dir .. "/r1"))
    assert.same({ "update_run", "log_batch", "log_batch", "update_run" },
      { evs[1].op, evs[2].op, evs[3].op, evs[4].op })
    core.sleep(0.01)
    -- resume #2 with the store up, still running
    local r2 = track.start_fit_run(dir .. "/r2", { uri = "file:" .. root, experiment = "e",
      resume = run:ref() })
    assert.equal(run.run_id, r2.run_id)
    local exp = assert(filestore.new(root):find_experiment("e"))
    local rdir = root .. "/" .. exp .. "/" .. run.run_id
    local resumed = read(rdir .. "/tags/graphids.resumed_time")
    assert.is_true(tonumber(resumed) > tonumber(evs[2].tags[1].value))
    local said = {}
    assert.same({ 4, 0, 0 }, { spool.sync(dir .. "/r1", { uri = "file:" .. root,
      notify = function(l) said[#said + 1] = l end }) })
    assert.matches("\nstatus: 1\n", read(rdir .. "/meta.yaml")) -- RUNNING
    assert.equal(resumed, read(rdir .. "/tags/graphids.resumed_time"))
    assert.equal(3, #said, table.concat(said, "\n"))
    assert.matches("update_run RUNNING of run " .. run.run_id .. " %(at %d+%) skipped", said[1])
    assert.matches("tag graphids.resumed_time of run " .. run.run_id .. " %(%d+%) skipped", said[2])
    assert.matches("update_run FAILED of run " .. run.run_id .. " %(at %d+%) skipped", said[3])
    assert.matches("^%d+ 0.5 1\n$", read(rdir .. "/metrics/loss")) -- resume #1's metric is there
    r2:finish("FINISHED")
    assert.matches("\nstatus: 3\n", read(rdir .. "/meta.yaml"))
  end)

  it("spools the resume of a run whose FileStore root cannot be listed, for that same run", function()
    local root = dir .. "/mlruns"
    local run = track.start_fit_run(dir .. "/r0", { uri = "file:" .. root, experiment = "e" })
    run:finish("FAILED")
    -- the root is, for now, a file (ENOTDIR when listed): a store failure, not a run gone
    assert(os.rename(root, dir .. "/away"))
    assert(io.open(root, "w")):close()
    core.sleep(0.01)
    local r1
    local said = quiet(function()
      r1 = track.start_fit_run(dir .. "/r1", { uri = "file:" .. root, experiment = "e", resume = run:ref() })
      r1:log_metrics({ loss = 0.5 }, 1)
      r1:finish("FINISHED")
    end)
    assert.equal(run.run_id, r1.run_id)
    assert.not_matches("new run", said)
    assert.matches("cannot list " .. root, said, 1, true)
    assert(os.remove(root))
    assert(os.rename(dir .. "/away", root))
    assert.same({ 4, 0, 0 }, { spool.sync(dir .. "/r1") })
    local exp = assert(filestore.new(root):find_experiment("e"))
    local rdir = root .. "/" .. exp .. "/" .. run.run_id
    assert.matches("\nstatus: 3\n", read(rdir .. "/meta.yaml")) -- FINISHED
    assert.matches("^%d+ 0.5 1\n$", read(rdir .. "/metrics/loss"))
    local runs = 0
    for _, d in ipairs(core.list_dir(root .. "/" .. exp)) do
      if d:match("^%x+$") then runs = runs + 1 end
    end
    assert.equal(1, runs)
  end)

  it("refuses to write into a deleted FileStore run, and a resume of it opens a new run", function()
    local root = dir .. "/mlruns"
    local run = track.start_fit_run(dir .. "/r1", { uri = "file:" .. root, experiment = "e" })
    run:finish("FAILED")
    local exp = assert(filestore.new(root):find_experiment("e"))
    local meta_path = root .. "/" .. exp .. "/" .. run.run_id .. "/meta.yaml"
    -- as MLflow's delete_run leaves it
    local meta = read(meta_path):gsub("\nlifecycle_stage: [^\n]*", "\nlifecycle_stage: deleted")
    assert(core.atomic_write(meta_path, meta))
    local fs = assert(filestore.new(root))
    local ok, err, code, status = fs:log_batch(run.run_id,
      { metrics = { { key = "x", value = 1, timestamp = 1, step = 0 } } })
    assert.same({ nil, "INVALID_PARAMETER_VALUE", 400 }, { ok, code, status })
    assert.matches("must be in the 'active' state%. Current state is deleted", err)
    assert.is_nil(core.stat(root .. "/" .. exp .. "/" .. run.run_id .. "/metrics/x"))
    assert.is_nil((fs:update_run(run.run_id, "FINISHED", core.wall_time() * 1000)))
    assert.matches("\nstatus: 4\n", read(meta_path)) -- still FAILED
    local again
    local said = quiet(function()
      again = track.start_fit_run(dir .. "/r1", { uri = "file:" .. root, experiment = "e",
        resume = run:ref(), params = { lr = 0.2 } })
      for epoch = 1, 100 do again:log_metrics({ loss = 1 / epoch }, epoch) end
      again:finish("FINISHED")
    end)
    -- one warning, not one per event
    local _, warnings = said:gsub("warning", "")
    assert.equal(1, warnings, said)
    assert.matches("the run " .. run.run_id .. " to resume %(" .. run.run_id .. "%) is deleted", said)
    assert.not_equal(run.run_id, again.run_id)
    local new = root .. "/" .. exp .. "/" .. again.run_id
    assert.matches("\nstatus: 3\n", read(new .. "/meta.yaml"))
    assert.equal(run.run_id, read(new .. "/tags/graphids.resumed_from_run"))
    assert.equal("0.2", read(new .. "/params/lr"))
    assert.equal(100, select(2, read(new .. "/metrics/loss"):gsub("\n", "")))
    assert.is_nil(core.stat(dir .. "/r1/tracking_spool.rejected.jsonl"))
  end)
end)

describe("a late sync and a deleted run (real mlflow server)", function()
  local srv, why, dir
  setup(function()
    srv, why = server.start()
    dir = server.tmpdir()
  end)
  teardown(function()
    server.stop(srv)
    if dir then os.execute("rm -rf " .. dir) end
  end)

  local function info(id)
    return server.query(srv.url, string.format([[
r = c.get_run(%q)
out = {"status": r.info.status, "end_time": r.info.end_time, "stage": r.info.lifecycle_stage,
       "tags": r.data.tags, "params": r.data.params,
       "n": len(c.get_metric_history(r.info.run_id, "loss"))}
]], id))
  end

  it("leaves the resumed run FINISHED with its own end time", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run, failed_at = crashed_fit(dir .. "/r1", DEAD, "graphids/late")
    assert.matches("^key:", run:ref())
    local again = track.start_fit_run(dir .. "/r2", { uri = srv.url, experiment = "graphids/late",
      resume = run:ref(), params = { lr = 0.1 }, store_opts = FAST })
    again:finish("FINISHED")
    local before = info(again.run_id)
    assert.equal("FINISHED", before.status)
    local said = {}
    assert.same({ 4, 0, 0 }, { spool.sync(dir .. "/r1", { uri = srv.url, store_opts = FAST,
      notify = function(l) said[#said + 1] = l end }) })
    local after = info(again.run_id)
    assert.equal("FINISHED", after.status)
    assert.equal(before.end_time, after.end_time)
    assert.is_true(after.end_time > failed_at)
    assert.matches("update_run FAILED of run %x+ %(at %d+%) skipped", said[1])
    assert.equal(1, after.n) -- the crashed fit's metric, delivered into the same run
  end)

  it("leaves a run resumed again and still running RUNNING, with its newer resume time", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run = track.start_fit_run(dir .. "/a0", { uri = srv.url, experiment = "graphids/late2",
      store_opts = FAST })
    run:finish("FAILED")
    core.sleep(0.01)
    quiet(function() -- resume #1 while the store is down: all of it spooled in a1
      local r1 = track.start_fit_run(dir .. "/a1", { uri = DEAD, experiment = "graphids/late2",
        resume = run:ref(), store_opts = FAST })
      r1:log_metrics({ loss = 0.5 }, 1)
      r1:finish("FAILED")
    end)
    track.reset_failures()
    core.sleep(0.01)
    local r2 = track.start_fit_run(dir .. "/a2", { uri = srv.url, experiment = "graphids/late2",
      resume = run:ref(), store_opts = FAST })
    assert.equal(run.run_id, r2.run_id)
    local before = info(run.run_id)
    assert.equal("RUNNING", before.status)
    local said = {}
    assert.same({ 4, 0, 0 }, { spool.sync(dir .. "/a1", { uri = srv.url, store_opts = FAST,
      notify = function(l) said[#said + 1] = l end }) })
    local after = info(run.run_id)
    assert.equal("RUNNING", after.status)
    assert.equal(before.tags["graphids.resumed_time"], after.tags["graphids.resumed_time"])
    assert.equal(3, #said, table.concat(said, "\n"))
    assert.matches("update_run FAILED of run %x+ %(at %d+%) skipped", said[3])
    assert.equal(1, after.n) -- resume #1's metric
    r2:finish("FINISHED")
    assert.equal("FINISHED", info(run.run_id).status)
  end)

  it("resumes a deleted run into a new run, with one warning instead of a refusal per event", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run = track.start_fit_run(dir .. "/d", { uri = srv.url, experiment = "graphids/deleted",
      store_opts = FAST })
    run:finish("FAILED")
    server.query(srv.url, string.format("c.delete_run(%q)\nout = 1", run.run_id))
    assert.equal("deleted", info(run.run_id).stage)
    local again
    local said = quiet(function()
      again = track.start_fit_run(dir .. "/d", { uri = srv.url, experiment = "graphids/deleted",
        resume = run:ref(), params = { lr = 0.2 }, store_opts = FAST })
      for epoch = 1, 100 do again:log_metrics({ loss = 1 / epoch }, epoch) end
      again:finish("FINISHED")
    end)
    local _, warnings = said:gsub("warning", "")
    assert.equal(1, warnings, said)
    assert.matches("the run " .. run.run_id .. " to resume %(" .. run.run_id .. "%) is deleted", said)
    assert.not_equal(run.run_id, again.run_id)
    local new = info(again.run_id)
    assert.same({ "FINISHED", "active", run.run_id, "0.2", 100 },
      { new.status, new.stage, new.tags["graphids.resumed_from_run"], new.params.lr, new.n })
    assert.is_nil(core.stat(dir .. "/d/tracking_spool.jsonl"))
    assert.is_nil(core.stat(dir .. "/d/tracking_spool.rejected.jsonl"))
  end)
end)
