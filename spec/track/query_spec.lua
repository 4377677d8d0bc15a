-- query_spec.lua -- the read side of the tracking store without a server: a FileStore written by
-- graphids.track.filestore reads back (latest metric values as MLflow picks them, keys with "/",
-- deleted runs and experiments left out, tag and experiment filters, a malformed metric file
-- named with its line); a server that accepts and never answers fails within the read limits;
-- and graphids.orchestrate.runs turns tracking runs into run records (grouping, status, metric
-- names, the config from params).
local core = require "graphids.core"
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local query = require "graphids.track.query"
local runs = require "graphids.orchestrate.runs"
local server = require "track.mlflow_server"
local skip = require "skip"
local FileStore = require "graphids.track.filestore"

local function metric(key, value, timestamp, step)
  return { key = key, value = value, timestamp = timestamp, step = step }
end

describe("graphids.track.query (FileStore)", function()
  local tmp, root, fs, exp, id, other
  setup(function()
    tmp = proc.tmpdir()
    root = gio.join(tmp, "mlruns")
    fs = assert(FileStore.new(root))
    exp = assert(fs:get_or_create_experiment("graphids/x/gat"))
    id = assert(fs:create_run({ experiment_id = exp, run_name = "r1", start_time = 1000,
      tags = { { key = "graphids.phase", value = "fit" } } }))
    assert(fs:log_batch(id, { params = { { key = "model.hidden", value = "64" } },
      tags = { { key = "x/y", value = "z" } },
      metrics = { metric("loss", 1.0, 5, 2), metric("loss", 9.0, 9, 1), metric("acc", 0.5, 1, 0),
        metric("acc", 0.25, 2, 0), metric("test/a", 0 / 0, 1, 0), metric("inf", math.huge, 1, 0) } }))
    assert(fs:update_run(id, "FINISHED", 2000))
    local e2 = assert(fs:get_or_create_experiment("other"))
    other = assert(fs:create_run({ experiment_id = e2, run_name = "r2", start_time = 500,
      tags = { { key = "graphids.phase", value = "test" } } }))
  end)
  teardown(function() proc.rmtree(tmp) end)

  it("reads runs with MLflow's latest metric values, sorted by start time", function()
    local src = assert(query.open(root))
    local list = assert(src:search())
    assert.same({ other, id }, { list[1].run_id, list[2].run_id })
    local r = list[2]
    assert.same({ exp, "graphids/x/gat", "r1", "FINISHED", 1000, 2000 },
      { r.experiment_id, r.experiment, r.run_name, r.status, r.start_time, r.end_time })
    assert.equal(1.0, r.metrics.loss) -- step 2 beats the later timestamp of step 1
    assert.equal(0.25, r.metrics.acc) -- same step: the later timestamp
    assert.is_true(r.metrics["test/a"] ~= r.metrics["test/a"])
    assert.equal(math.huge, r.metrics.inf)
    assert.same({ "64", "z", "fit" }, { r.params["model.hidden"], r.tags["x/y"], r.tags["graphids.phase"] })
    assert.same({ "RUNNING" }, { list[1].status, list[1].end_time })
    assert.equal(id, assert(src:get_run(id)).run_id)
    assert.is_false(src:get_run(string.rep("0", 32)))
  end)

  it("filters by tags and by experiment", function()
    local src = assert(query.open("file:" .. root))
    local fit = assert(src:search({ tags = { ["graphids.phase"] = "fit" } }))
    assert.same({ id }, { fit[1].run_id, fit[2] })
    local e = assert(src:experiment_id("other"))
    assert.equal(other, assert(src:search({ experiment_ids = { e } }))[1].run_id)
    local none, err = src:experiment_id("nope")
    assert.is_nil(none)
    assert.equal("FileStore " .. root .. " has no active experiment named 'nope'", err)
    assert.has_error(function() src:search({ tag = {} }) end,
      "query.search: unknown option 'tag' (allowed: experiment_ids, tags)")
  end)

  it("leaves out deleted runs and experiments", function()
    local copy = gio.join(tmp, "deleted")
    os.execute(string.format("cp -r %s %s", proc.q(root), proc.q(copy)))
    local src = assert(query.open(copy))
    local meta = gio.join(copy, exp, id, "meta.yaml")
    proc.spit(meta, (proc.slurp(meta):gsub("lifecycle_stage: 'active'", "lifecycle_stage: 'deleted'")))
    assert.same({ other }, { assert(src:search())[1].run_id, assert(src:search())[2] })
    assert.is_false(src:get_run(id))
    local e = assert(src:experiment_id("other"))
    meta = gio.join(copy, e, "meta.yaml")
    proc.spit(meta, (proc.slurp(meta):gsub("lifecycle_stage: 'active'", "lifecycle_stage: 'deleted'")))
    assert.same({}, assert(src:search()))
  end)

  it("names the metric file and line it cannot read", function()
    local copy = gio.join(tmp, "bad")
    os.execute(string.format("cp -r %s %s", proc.q(root), proc.q(copy)))
    local f = assert(io.open(gio.join(copy, exp, id, "metrics", "loss"), "a"))
    f:write("12 oops 3\n")
    f:close()
    local list, err = assert(query.open(copy)):search()
    assert.is_nil(list)
    local want = string.format("FileStore %s: %s/%s/%s/metrics/loss:3: not a metric line " ..
      "'<timestamp> <value> <step>': '12 oops 3'", copy, copy, exp, id)
    assert.equal(want, err)
  end)

  it("reads MLflow's older two-field metric lines as step 0", function()
    local copy = gio.join(tmp, "twofield")
    os.execute(string.format("cp -r %s %s", proc.q(root), proc.q(copy)))
    proc.spit(gio.join(copy, exp, id, "metrics", "old"), "100 0.5\n200 0.25\n")
    local run = assert(assert(query.open(copy)):get_run(id))
    assert.equal(0.25, run.metrics.old)
  end)

  it("names a run's meta.yaml without a run status", function()
    for i, text in ipairs({ "garbage\n", "status: 9\n" }) do
      local copy = gio.join(tmp, "badmeta" .. i)
      os.execute(string.format("cp -r %s %s", proc.q(root), proc.q(copy)))
      proc.spit(gio.join(copy, exp, id, "meta.yaml"), text)
      local list, err = assert(query.open(copy)):search()
      assert.is_nil(list)
      local want = string.format("FileStore %s: %s/%s/%s/meta.yaml: 'status' is %s, not one of " ..
        "MLflow's run status codes (1-5)", copy, copy, exp, id, i == 1 and "missing" or "'9'")
      assert.equal(want, err)
    end
  end)

  it("refuses a folder that is not a FileStore", function()
    local src, err = query.open(tmp)
    assert.is_nil(src)
    assert.equal(tmp .. " is not an MLflow FileStore (neither .trash/ nor <experiment id>/meta.yaml in " ..
      "it); did you mean " .. root .. "?", err)
    src, err = query.open(gio.join(tmp, "none"))
    assert.is_nil(src)
    assert.equal("FileStore " .. gio.join(tmp, "none") .. " does not exist (or is not a directory)", err)
    assert.has_error(function() query.open(root, { retries = 1 }) end)
  end)
end)

describe("graphids.track.query (a server that never answers)", function()
  it("gives up within its time limits, naming the URI", function()
    local py = io.popen("command -v python3"):read("l")
    if skip.unless(py, "python3 is not available to hold a silent socket") then return end
    local dir = proc.tmpdir()
    -- a socket that accepts connections (the kernel's backlog) and never reads or answers
    proc.spit(dir .. "/hold.py", "import os, socket, sys, time\ns = socket.socket()\n" ..
      "s.bind(('127.0.0.1', 0))\ns.listen(8)\nwith open(sys.argv[1] + '.tmp', 'w') as f:\n" ..
      "    f.write(str(s.getsockname()[1]))\nos.rename(sys.argv[1] + '.tmp', sys.argv[1])\ntime.sleep(60)\n")
    local pid = server.spawn(string.format("%s %s/hold.py %s/port", py, dir, dir), dir .. "/log")
    local port
    for _ = 1, 400 do
      port = tonumber(proc.slurp(dir .. "/port") or "")
      if port then break end
      core.sleep(0.05)
    end
    local url = "http://127.0.0.1:" .. tostring(port)
    local src = assert(query.open(url, { timeout = 0.3, max_retries = 1, backoff_factor = 0 }))
    local t0 = core.wall_time()
    local list, err = src:search()
    local took = core.wall_time() - t0
    server.kill(pid)
    proc.rmtree(dir)
    assert.is_nil(list)
    assert.truthy(err:find("tracking server " .. url .. ": MLflow POST experiments/search: ", 1, true), err)
    assert.truthy(err:find("(after 1 retries)", 1, true), err)
    assert.is_true(took < 3, took)
    if not (os.getenv("MLFLOW_HTTP_REQUEST_TIMEOUT") or os.getenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES")) then
      local rest = assert(query.open(url)).rest -- the interactive defaults
      assert.same({ 2, 10 }, { rest.max_retries, rest.timeout })
    end
  end)
end)

describe("graphids.orchestrate.runs.from_tracking", function()
  local function tr(id, phase, start, status, tags, extra)
    local t = { ["graphids.phase"] = phase }
    for k, v in pairs(tags or {}) do t[k] = v end
    local r = { run_id = id, experiment_id = "1", experiment = "e", run_name = "n", status = status,
      start_time = start, tags = t, params = {}, metrics = {} }
    for k, v in pairs(extra or {}) do r[k] = v end
    return r
  end
  local A = { ["graphids.run_dir"] = "l/a/x", ["graphids.stage"] = "gat", ["graphids.seed"] = "7" }
  local B = { ["graphids.run_dir"] = "l/a-b/x" }

  it("groups fit and test runs by run dir, the latest of each phase, with the status of the pair", function()
    local list = {
      tr("f1", "fit", 1, "FINISHED", A), tr("t1", "test", 2, "FINISHED", A,
        { metrics = { ["test/f1"] = 0.5 } }),
      tr("f2", "fit", 3, "FINISHED", A), -- a re-fit after the test: trained, the old metrics
      tr("p", "parent", 0, "FINISHED"), tr("o", nil, 0, "FINISHED"),
      tr("tb", "test", 4, "FINISHED", B),
    }
    local rs = runs.from_tracking(list, "u")
    assert.equal(2, #rs)
    assert.same({ "l/a/x", "trained", "f2", "t1", 0.5, 7 }, { rs[1].dir, rs[1].status, rs[1].run_id,
      rs[1].test_run_id, rs[1].metrics["test/f1"], rs[1].identity.seed })
    assert.equal("integer", math.type(rs[1].identity.seed))
    assert.same({ "l/a-b/x", "tested", "tb" }, { rs[2].dir, rs[2].status, rs[2].test_run_id })
    rs = runs.from_tracking({ tr("f", "fit", 1, "RUNNING", A), tr("g", "fit", 1, "FAILED", B) }, "u")
    assert.same({ "incomplete", "incomplete" }, { rs[1].status, rs[2].status })
    rs = runs.from_tracking({ tr("f", "fit", 1, "FINISHED", A), tr("t", "test", 1, "FINISHED", A) }, "u")
    assert.equal("tested", rs[1].status)
  end)

  it("gives metrics the names of test_metrics.json and rebuilds the config from params", function()
    local t = tr("t", "test", 1, "FINISHED", A, { metrics = { ["test/precision_at_0.95recall"] = 0.5,
      ["test/set_at_night/acc"] = 1.0, ["test/x_at_y"] = 2.0, ["test/ece"] = 0 / 0 },
      params = { ["a.b"] = "1", ["a.c"] = "x", d = "[1,2]", e = "true", f = "2026-01-01", g = "0.5" } })
    local r = runs.from_tracking({ t }, "u")[1]
    assert.same({ ["test/precision@0.95recall"] = 0.5, ["test/set_at_night/acc"] = 1.0, ["test/x_at_y"] = 2.0,
      ["test/ece"] = json.null }, r.metrics)
    assert.same({ a = { b = 1, c = "x" }, d = { 1, 2 }, e = true, f = "2026-01-01", g = 0.5 }, r.config)
  end)
end)
