-- graphids.track over REST against a REAL `mlflow server` (SQLite store, loopback), checked
-- through MLflow's own Python client; fault cases through a small proxy in front of it
-- (spec/track/flaky_proxy.py) and a port with nothing listening.
local core = require "graphids.core"
local fixture = require "track.support.fixture"
local skip = require "skip"
local server = require "track.mlflow_server"
local track = require "graphids.track"
local spool = require "graphids.track.spool"

-- Quiet, fast retries for the specs (the defaults wait minutes, as MLflow's client does).
local FAST = { max_retries = 2, backoff_factor = 0.05, backoff_jitter = 0 }

local function log_lines(proxy)
  local out = {}
  local f = io.open(proxy.log)
  if not f then return out end
  for l in f:lines() do out[#out + 1] = l end
  f:close()
  return out
end

local function runs_of(srv, experiment)
  return server.query(srv.url, string.format([[
e = c.get_experiment_by_name(%q)
out = {}
for r in c.search_runs([e.experiment_id], run_view_type=3):
    out[r.data.tags.get("graphids.run_key", r.info.run_id)] = {"id": r.info.run_id, "name": r.info.run_name,
        "status": r.info.status, "params": r.data.params, "metrics": r.data.metrics, "tags": r.data.tags,
        "hist": [[m.step, m.value] for m in c.get_metric_history(r.info.run_id, "loss")]}
]], experiment))
end

describe("graphids.track over REST (real mlflow server)", function()
  local srv, why, dir
  fixture.server(function(s, w, d) srv, why, dir = s, w, d end)

  it("logs a fit run (params, metrics with steps, tags), a test run and their parent", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run_dir = dir .. "/ok"
    local parent = track.parent_run({ uri = srv.url, experiment = "graphids/rest", run_name = "group" })
    assert.matches("^%x+$", parent.run_id)
    local run = track.start_fit_run(run_dir, { uri = srv.url, experiment = "graphids/rest", run_name = "fit0",
      params = { model = { hidden = 64 }, lr = 0.001, odd = { ["k@1"] = "v" } }, parent = parent,
      tags = { ["graphids.seed"] = 1 } })
    for e = 0, 2 do run:log_metrics({ loss = 1 / (e + 1), acc = 0.5 + e / 10 }, e) end
    run:log_metrics({ loss = 0 / 0 }, 3)
    run:set_tags({ note = "done" })
    run:finish("FINISHED")
    track.log_test_run(run_dir, { uri = srv.url, experiment = "graphids/rest", run_name = "fit0",
      metrics = { test = { f1 = 0.25 } }, parent = parent })
    assert.is_nil(core.stat(spool.path(run_dir)))
    local runs = runs_of(srv, "graphids/rest")
    local fit = runs[run.key]
    assert.same({ "fit0", "FINISHED" }, { fit.name, fit.status })
    assert.same({ ["model.hidden"] = "64", lr = "0.001", ["odd.k_at_1"] = "v" }, fit.params)
    assert.same({ { 0, 1.0 }, { 1, 0.5 }, { 2, 1 / 3 }, { 3, "NaN" } }, fit.hist)
    assert.same({ "done", "1", "fit", parent.run_id }, { fit.tags.note, fit.tags["graphids.seed"],
      fit.tags["graphids.phase"], fit.tags["mlflow.parentRunId"] })
    assert.equal(require("graphids.track.mlflow").user_name(), fit.tags["mlflow.user"])
    local test
    for _, r in pairs(runs) do
      if r.tags["graphids.phase"] == "test" then test = r end
    end
    assert.same({ ["test/f1"] = 0.25 }, test.metrics)
    assert.equal(parent.run_id, test.tags["mlflow.parentRunId"])
    assert.equal("FINISHED", runs[parent.key].status)
  end)

  it("delivers a fit's system/ metrics, read back by MLflow's client at steps 0, 1, ...", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local T, tiny = require "graphids.trainer", require "trainer.support.tiny"
    local t = 0
    local cb = track.Callback({ run_dir = dir .. "/sys", uri = srv.url, experiment = "graphids/system",
      run_name = "sys", system_metrics_interval = 0.5,
      system_metrics = { clock = function() t = t + 1; return t end } }) -- every hook samples
    local trainer = T.Trainer({ max_epochs = 1, default_root_dir = dir .. "/sys", progress = "off",
      callbacks = { cb } })
    trainer:fit(tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }),
      tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
    local v = server.query(srv.url, string.format([[
r = c.get_run(%q)
out = {"status": r.info.status, "keys": sorted(k for k in r.data.metrics if k.startswith("system/")),
       "cpu": [[m.step, m.value] for m in c.get_metric_history(%q, "system/cpu_utilization_percentage")]}
]], cb.run.run_id, cb.run.run_id))
    assert.equal("FINISHED", v.status)
    assert.same({ "system/cpu_utilization_percentage", "system/disk_available_megabytes",
      "system/disk_usage_megabytes", "system/disk_usage_percentage", "system/network_receive_megabytes",
      "system/network_transmit_megabytes", "system/system_memory_usage_megabytes",
      "system/system_memory_usage_percentage" }, v.keys)
    -- at fit start, the epoch's start, 4 batch ends, the validation's start and end, the epoch's end
    assert.equal(9, #v.cpu)
    table.sort(v.cpu, function(a, b) return a[1] < b[1] end)
    for i, p in ipairs(v.cpu) do
      assert.equal(i - 1, p[1])
      assert.is_true(p[2] >= 0 and p[2] <= 100)
    end
  end)

  it("delivers 2500 metrics and 250 params completely (split within MLflow's limits)", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local m, p = {}, {}
    for i = 1, 2500 do m["m" .. i] = i end
    for i = 1, 250 do p["p" .. i] = i end
    local run = track.start_fit_run(dir .. "/big", { uri = srv.url, experiment = "graphids/big", params = p })
    run:log_metrics(m, 7)
    run:finish()
    assert.is_nil(core.stat(spool.path(dir .. "/big")))
    local v = server.query(srv.url, string.format([[
r = c.get_run(%q)
out = [len(r.data.metrics), len(r.data.params), r.data.metrics["m2500"], r.data.params["p250"],
       c.get_metric_history(r.info.run_id, "m1")[0].step]
]], run.run_id))
    assert.same({ 2500, 250, 2500.0, "250", 7 }, v)
  end)

  it("retries 503 answers with backoff and gets through, sending auth from the environment", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local proxy = server.proxy(srv, 2, 503)
    local rest = assert(require("graphids.track.rest").new(proxy.url, FAST))
    rest.headers.Authorization = "Bearer tok" -- what MLFLOW_TRACKING_TOKEN gives (Rest.new reads env)
    local exp = assert(rest:get_or_create_experiment("graphids/flaky"))
    server.kill(proxy.pid)
    local lines = log_lines(proxy)
    assert.equal(4, #lines) -- two 503s, then the real answers: not found, created
    assert.matches("^503 GET /api/2.0/mlflow/experiments/get%-by%-name%?" ..
      "experiment_name=graphids%%2Fflaky Bearer tok$", lines[1])
    assert.matches("^404 GET ", lines[3])
    assert.matches("^200 POST /api/2.0/mlflow/experiments/create Bearer tok$", lines[4])
    assert.matches("^%d+$", exp)
  end)

  it("refuses a 200 whose body is not JSON (an auth proxy's page), quoting it, without retrying", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local proxy = server.proxy(srv, -1, 200)
    local rest = assert(require("graphids.track.rest").new(proxy.url, FAST))
    local v, err, code = rest:get_or_create_experiment("graphids/html")
    server.kill(proxy.pid)
    assert.is_nil(v)
    assert.equal("BAD_RESPONSE", code)
    assert.matches("HTTP 200 with a body that is not a JSON object: <html><body>Please log in", err)
    assert.equal(1, #log_lines(proxy))
  end)

  it("reads Basic and Bearer credentials and TLS settings from MLflow's variables", function()
    local script = dir .. "/auth.lua"
    local f = assert(io.open(script, "w"))
    f:write([[package.path = "stdlib/?.lua;stdlib/?/init.lua;" .. package.path
      local r, err = require("graphids.track.rest").new("http://x")
      print(r and tostring(r.headers.Authorization) .. " " .. tostring(r.insecure_tls) or err)]])
    f:close()
    local cpath = (os.getenv("GRAPHIDS_BUILD") or "build") .. "/lua/?.so"
    local function run(env)
      return server.sh(string.format("env %s LUA_CPATH='%s' lua5.4 %s", env, cpath, script))
    end
    assert.equal("Basic dTpw false\n", run("MLFLOW_TRACKING_USERNAME=u MLFLOW_TRACKING_PASSWORD=p " ..
      "MLFLOW_TRACKING_TOKEN=t"))
    assert.equal("Bearer t false\n", run("MLFLOW_TRACKING_TOKEN=t"))
    assert.equal("nil true\n", run("MLFLOW_TRACKING_INSECURE_TLS=True"))
    assert.equal("MLflow REST: MLFLOW_TRACKING_INSECURE_TLS must be true, false, 1 or 0, got 'yes'\n",
      run("MLFLOW_TRACKING_INSECURE_TLS=yes"))
    assert.matches("cannot both be set",
      run("MLFLOW_TRACKING_INSECURE_TLS=1 MLFLOW_TRACKING_SERVER_CERT_PATH=/x"))
    assert.matches("MLFLOW_HTTP_REQUEST_MAX_RETRIES must be a number",
      run("MLFLOW_HTTP_REQUEST_MAX_RETRIES=lots"))
  end)

  it("spools on a server that keeps failing (one warning), and sync delivers to the real server", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local proxy = server.proxy(srv, -1, 500)
    local run_dir = dir .. "/failing"
    local run
    local err = fixture.stderr_of(function()
      run = track.start_fit_run(run_dir, { uri = proxy.url, experiment = "graphids/spooled", run_name = "s",
        params = { lr = 0.1 }, store_opts = FAST })
      run:log_metrics({ loss = 0.5 }, 0)
      run:log_metrics({ loss = 0.25 }, 1)
      run:finish("FINISHED")
      -- the store failed moments ago: the test run goes to the spool without trying it again
      track.log_test_run(run_dir, { uri = proxy.url, experiment = "graphids/spooled", run_name = "s",
        metrics = { acc = 1 }, store_opts = FAST })
    end)
    server.kill(proxy.pid)
    track.reset_failures()
    assert.equal(3, #log_lines(proxy)) -- one call tried 1 + 2 times; the rest went straight to the spool
    local _, n = err:gsub("warning: tracking to", "")
    assert.equal(2, n) -- once per run
    assert.matches("it failed %d+ s ago in this process", err)
    assert.matches("TEMPORARILY_UNAVAILABLE: flaky %(HTTP 500%) %(after 2 retries%)", err)
    local trace = io.open(run_dir .. "/traces.jsonl"):read("a")
    assert.matches('"event":"tracking_failed"', trace)
    assert.equal(8, #assert(spool.read(run_dir)))
    local cli = require "graphids.cli.track"
    local out, code = fixture.stdout_of(function() return cli.main({ "sync", run_dir, "--uri", srv.url }) end)
    assert.equal(0, code)
    assert.matches("8 events delivered", out)
    assert.is_nil(core.stat(spool.path(run_dir)))
    local runs = runs_of(srv, "graphids/spooled")
    local r = runs[run.key]
    assert.same({ "s", "FINISHED", { lr = "0.1" } }, { r.name, r.status, r.params })
    assert.same({ { 0, 0.5 }, { 1, 0.25 } }, r.hist)
    local n_runs, test = 0, nil
    for _, x in pairs(runs) do
      n_runs = n_runs + 1
      if x.tags["graphids.phase"] == "test" then test = x end
    end
    assert.equal(2, n_runs)
    assert.same({ acc = 1.0 }, test.metrics)
  end)

  it("spools on an unreachable server and a second sync creates no second run", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local port = server.free_port(srv.python) -- nothing listens there
    local run_dir = dir .. "/unreachable"
    local run
    local err = fixture.stderr_of(function()
      run = track.start_fit_run(run_dir, { uri = "http://127.0.0.1:" .. port, experiment = "graphids/offline",
        store_opts = FAST })
      run:log_metrics({ loss = 1 }, 0)
      run:finish("KILLED")
    end)
    assert.matches("Couldn't connect to server", err)
    -- deliver the create only, as if the first sync died right after it
    local evs = assert(spool.read(run_dir))
    local Rest = require "graphids.track.rest"
    local store = assert(Rest.new(srv.url, FAST))
    local ids = {}
    assert(spool.apply(store, evs[1], ids))
    -- the whole spool again: the run is found by its key, not created twice
    local sent = assert(spool.sync(run_dir, { uri = srv.url }))
    assert.equal(3, sent)
    local runs = runs_of(srv, "graphids/offline")
    local n = 0
    for _ in pairs(runs) do n = n + 1 end
    assert.equal(1, n)
    assert.same({ "KILLED", { { 0, 1.0 } } }, { runs[run.key].status, runs[run.key].hist })
  end)

  it("takes a 400 as that request's error: set aside, and later events and runs still go in", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run_dir = dir .. "/refused"
    local run, test
    local err = fixture.stderr_of(function()
      run = track.start_fit_run(run_dir, { uri = srv.url, experiment = "graphids/refused", run_name = "r",
        params = { lr = 0.1 }, store_opts = FAST })
      run:log_params({ lr = 0.2 })
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
      test = track.log_test_run(run_dir, { uri = srv.url, experiment = "graphids/refused", run_name = "r",
        metrics = { acc = 1 }, store_opts = FAST })
    end)
    assert.matches("refused log_batch: MLflow POST runs/log%-batch: INVALID_PARAMETER_VALUE: .* " ..
      "%(HTTP 400%); the event is set aside in " .. spool.rejected_path(run_dir):gsub("%p", "%%%0"), err)
    assert.is_nil(err:find("spooled", 1, true))
    assert.same({ false, false }, { run.spooling or false, test.spooling or false })
    assert.is_nil(core.stat(spool.path(run_dir)))
    local runs = runs_of(srv, "graphids/refused")
    assert.same({ "FINISHED", { lr = "0.1" }, { { 0, 1.0 } } }, { runs[run.key].status, runs[run.key].params,
      runs[run.key].hist })
    assert.same({ "FINISHED", { acc = 1.0 } }, { runs[test.key].status, runs[test.key].metrics })
    local rejected = require("graphids.json").decode(io.open(spool.rejected_path(run_dir)):read("l"))
    assert.same({ "lr", "0.2" }, { rejected.params[1].key, rejected.params[1].value })
  end)

  it("resumes a run with a changed param as a tag (MLflow params cannot change)", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run_dir = dir .. "/resumed"
    local opts = { uri = srv.url, experiment = "graphids/resumed", run_name = "r", store_opts = FAST }
    local run, again
    local err = fixture.stderr_of(function()
      opts.params = { lr = 0.1, epochs = 5 }
      run = track.start_fit_run(run_dir, opts)
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FAILED")
      opts.params, opts.resume = { lr = 0.1, epochs = 10, extra = "x" }, run:ref()
      again = track.start_fit_run(run_dir, opts)
      again:log_metrics({ loss = 0.5 }, 1)
      again:finish("FINISHED")
    end)
    assert.equal(run.run_id, again.run_id)
    assert.matches("param 'epochs' of run " .. run.run_id .. " is '5' and MLflow params cannot " ..
      "change; the resumed value '10' is logged as the tag graphids.resumed_param.epochs", err)
    assert.is_nil(err:find("refused", 1, true))
    assert.is_nil(core.stat(spool.rejected_path(run_dir)))
    local r = runs_of(srv, "graphids/resumed")[run.key]
    assert.same({ "FINISHED", { lr = "0.1", epochs = "5", extra = "x" }, "10", { { 0, 1.0 }, { 1, 0.5 } } },
      { r.status, r.params, r.tags["graphids.resumed_param.epochs"], r.hist })
  end)

  it("names a server's unexpected answers, and sync goes on with the other run dirs", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local Rest = require "graphids.track.rest"
    local cases = {
      { "{}", nil, "MLflow: unexpected answer from experiments/get%-by%-name: {}$" },
      { "{}", "experiments/create", "MLflow: unexpected answer from experiments/create: {}$" },
      { '{"run": null}', "runs/create", 'MLflow: unexpected answer from runs/create: {"run":null}$' },
      { '{"runs": [{}]}', "runs/search", 'MLflow: unexpected answer from runs/search: {"runs":%[{}%]}$' },
    }
    for i, c in ipairs(cases) do
      local proxy = server.proxy(srv, -1, 200, c[1], c[2])
      local store = assert(Rest.new(proxy.url, FAST))
      local ev = { op = "create_run", run_key = "ab" .. i, experiment = "graphids/garbage" .. i, tags = {} }
      local ok, err, code = spool.apply(store, ev, {}, c[2] ~= "runs/search")
      server.kill(proxy.pid)
      assert.is_nil(ok)
      assert.matches(c[3], err)
      assert.equal("BAD_RESPONSE", code)
    end
    -- two run dirs: the first one's server answers garbage, the second one's is fine
    local proxy = server.proxy(srv, -1, 200, '{"run": null}', "runs/create")
    local bad, good = dir .. "/garbage", dir .. "/fine"
    for d, uri in pairs({ [bad] = proxy.url, [good] = srv.url }) do
      local key = d == bad and "aa" or "bb"
      assert(spool.append(d, { op = "create_run", run_key = key, uri = uri, experiment = "graphids/two",
        tags = {} }))
      assert(spool.append(d, { op = "update_run", run_key = key, uri = uri, status = "FINISHED" }))
    end
    local cli = require "graphids.cli.track"
    local code, err
    local out = fixture.stdout_of(function()
      err = fixture.stderr_of(function() code = cli.main({ "sync", bad, good }) end)
    end)
    server.kill(proxy.pid)
    assert.equal(1, code)
    assert.matches(bad:gsub("%p", "%%%0") .. ": event 1 %(create_run%): MLflow: unexpected answer from " ..
      'runs/create: {"run":null} %(0 delivered, 2 left in', err)
    assert.matches(good:gsub("%p", "%%%0") .. ": 2 events delivered", out)
    assert.equal("FINISHED", runs_of(srv, "graphids/two").bb.status)
  end)

  it("does not create a run twice when the answer to its create was lost (503 after the work)", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local proxy = server.proxy(srv, 1, 503, '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"lost"}',
      "runs/create", "forward")
    local run
    local err = fixture.stderr_of(function()
      run = track.start_fit_run(dir .. "/lost", { uri = proxy.url, experiment = "graphids/lost",
        run_name = "r", store_opts = FAST })
      run:finish()
    end)
    server.kill(proxy.pid)
    assert.matches("MLflow POST runs/create: TEMPORARILY_UNAVAILABLE: lost %(HTTP 503%); retrying", err)
    assert.is_nil(run.spooling)
    assert.equal(1, server.query(srv.url, [[
out = len(c.search_runs([c.get_experiment_by_name("graphids/lost").experiment_id], run_view_type=3))]]))
    local runs = runs_of(srv, "graphids/lost") -- by run key
    assert.same({ run.run_id, "FINISHED" }, { runs[run.key].id, runs[run.key].status })
  end)

  it("logs keys in other scripts as MLflow's server takes them (letters and digits of any script)", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run = track.start_fit_run(dir .. "/unicode", { uri = srv.url, experiment = "graphids/unicode",
      params = { ["скорость"] = 0.1 }, store_opts = FAST })
    run:log_metrics({ ["ключ"] = 1.0, ["精度/召回²"] = 0.5, ["a€b"] = 2.0 }, 0)
    run:set_tags({ ["метка"] = "x" })
    run:finish("FINISHED")
    assert.is_nil(core.stat(spool.path(dir .. "/unicode")))
    assert.is_nil(core.stat(spool.rejected_path(dir .. "/unicode")))
    local got = server.query(srv.url, string.format([[
r = c.get_run(%q)
out = {"m": r.data.metrics, "p": r.data.params, "t": r.data.tags.get("метка")}]], run.run_id))
    assert.same({ ["ключ"] = 1.0, ["精度/召回²"] = 0.5, ["a_b"] = 2.0 }, got.m)
    assert.equal("0.1", got.p["скорость"])
    assert.equal("x", got.t)
  end)

  it("keeps undelivered events when sync fails, and names the reason", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run_dir = dir .. "/stuck"
    fixture.stderr_of(function()
      local run = track.start_fit_run(run_dir, { uri = "http://127.0.0.1:1", experiment = "x",
        store_opts = FAST })
      run:finish()
    end)
    local before = io.open(spool.path(run_dir)):read("a")
    local sent, err, delivered, left = spool.sync(run_dir, { uri = "http://127.0.0.1:1", store_opts = FAST })
    assert.is_nil(sent)
    assert.matches("event 1 %(create_run%): MLflow GET experiments/get%-by%-name: EIO", err)
    assert.same({ 0, 2 }, { delivered, left })
    assert.equal(before, io.open(spool.path(run_dir)):read("a"))
  end)
end)
