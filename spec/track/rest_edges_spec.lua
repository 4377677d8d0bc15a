-- rest_edges_spec.lua -- graphids.track and the read side against a REAL `mlflow server` (SQLite
-- store, loopback), for what the SQL store and proxies in front of it do to a client:
--   * an infinite metric comes back as +-1.7976931348623157e308 and must read as the infinity
--     it was (null in records: it neither ranks nor prints as 309 digits);
--   * a tag filter value with a quote: MLflow takes the text between the quotes as it is;
--   * a run in a deleted experiment must not make a healthy run in another one spool;
--   * a 400 that is no MLflow answer (a proxy's page) spools, so that sync delivers it later;
--   * credentials in the tracking URI never reach the spool, traces, stderr or listings.
-- Fault cases go through spec/track/flaky_proxy.py in front of the real server.
local core = require "graphids.core"
local fixture = require "track.support.fixture"
local gio = require "graphids.io"
local json = require "graphids.json"
local query = require "graphids.track.query"
local runs = require "graphids.orchestrate.runs"
local server = require "track.mlflow_server"
local skip = require "skip"
local spool = require "graphids.track.spool"
local support = require "track.runs_support"
local track = require "graphids.track"

local FAST = { max_retries = 2, backoff_factor = 0.05, backoff_jitter = 0 }

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- A fit run and a FINISHED test run of one run dir, with the identity tags graphids logs.
local function log_run(uri, dir, experiment, identity, metrics)
  local tags = {}
  for k, v in pairs(identity) do tags["graphids." .. k] = v end
  local fit = track.start_fit_run(dir, { uri = uri, experiment = experiment, run_name = "r", tags = tags,
    store_opts = FAST })
  fit:finish("FINISHED")
  local test = track.log_test_run(dir, { uri = uri, experiment = experiment, run_name = "r", tags = tags,
    metrics = metrics, store_opts = FAST })
  return fit, test
end

describe("graphids.track against a real mlflow server: edge cases", function()
  local srv, why, dir
  fixture.server(function(s, w, d) srv, why, dir = s, w, d end)
  teardown(function() track.reset_failures() end)
  before_each(function() track.reset_failures() end)

  it("reads an infinite metric (the SQL store's +-1.7976931348623157e308) back as infinite", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local id = { dataset = "inf", stage = "gat", variant = "v", seed = 0 }
    local _, test = log_run(srv.url, dir .. "/inf/seed_0", "graphids/inf", id,
      { test = { f1_macro = math.huge, auroc = -math.huge, accuracy = 0.5 } })
    id.seed = 1
    log_run(srv.url, dir .. "/inf/seed_1", "graphids/inf2", { dataset = "inf", stage = "gat", variant = "w",
      seed = 0 }, { test = { f1_macro = 0.25, accuracy = 0.5 } })
    -- what the server holds
    local held = server.query(srv.url, string.format("out = c.get_run(%q).data.metrics", test.run_id))
    assert.equal(1.7976931348623157e308, held["test/f1_macro"])
    local src = assert(query.open(srv.url))
    local r = assert(src:get_run(test.run_id))
    assert.same({ math.huge, -math.huge, 0.5 }, { r.metrics["test/f1_macro"], r.metrics["test/auroc"],
      r.metrics["test/accuracy"] })
    local rs = assert(runs.scan_tracking(src, { dataset = "inf" }))
    assert.equal(2, #rs)
    assert.same({ json.null, json.null, 0.5 }, { rs[1].metrics["test/f1_macro"], rs[1].metrics["test/auroc"],
      rs[1].metrics["test/accuracy"] })
    -- the infinite F1 does not rank (first, as 1.8e308 did)
    local rows = runs.leaderboard(rs)
    assert.same({ 1, "w", 0.25 }, { #rows, rows[1].variant, rows[1].mean })
    -- and the listing prints no 309-digit number
    local out, code = fixture.stdout_of(function()
      return require("graphids.cli.runs").main({ "list", "--tracking-uri", srv.url, "--dataset", "inf" })
    end)
    assert.equal(0, code)
    assert.is_nil(out:find("%d%d%d%d%d%d%d%d%d%d"), out)
    local show = fixture.stdout_of(function()
      return require("graphids.cli.runs").main({ "show", test.run_id, "--tracking-uri", srv.url, "--json" })
    end)
    assert.equal(json.null, json.decode(show).metrics["test/f1_macro"])
  end)

  it("filters by a tag value with a quote as MLflow reads it (no escapes in its literals)", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local values = { "o'k", 'say "hi"', "both ' and \"", "back\\slash'", "plain" }
    for i, v in ipairs(values) do
      log_run(srv.url, dir .. "/quote/" .. i, "graphids/quote", { dataset = v, stage = "gat", variant = "v",
        seed = 0 }, { test = { f1_macro = i / 10 } })
    end
    local src = assert(query.open(srv.url))
    for i, v in ipairs(values) do
      local rs = assert(runs.scan_tracking(src, { dataset = v }))
      assert.equal(1, #rs, v)
      assert.same({ v, i / 10 }, { rs[1].identity.dataset, rs[1].metrics["test/f1_macro"] })
    end
    assert.same({}, assert(runs.scan_tracking(src, { dataset = "o'" })))
    -- the writer's own lookup by tag
    local rest = assert(require("graphids.track.rest").new(srv.url, FAST))
    local exp = assert(rest:get_or_create_experiment("graphids/quote"))
    assert.matches("^%x+$", assert(rest:find_run(exp, "graphids.dataset", "o'k")))
    local none, err = rest:find_run(exp, "graphids.dataset", "both ' and \"")
    assert.is_nil(none)
    assert.matches("both quote characters", err)
  end)

  it("keeps logging a healthy run after a run in a deleted experiment failed", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    server.query(srv.url, [[
c.delete_experiment(c.create_experiment("graphids/deleted"))
out = 1]])
    local a, b
    local err = fixture.stderr_of(function()
      a = track.start_fit_run(dir .. "/deleted", { uri = srv.url, experiment = "graphids/deleted",
        store_opts = FAST })
      a:finish("FINISHED")
      b = track.start_fit_run(dir .. "/healthy", { uri = srv.url, experiment = "graphids/healthy",
        store_opts = FAST })
      b:log_metrics({ loss = 1 }, 0)
      b:finish("FINISHED")
    end)
    assert.matches("is deleted", err)
    assert.is_true(a.spooling)
    assert.is_nil(b.spooling)
    assert.is_nil(err:find("ago in this process", 1, true))
    assert.is_nil(core.stat(spool.path(dir .. "/healthy")))
    assert.equal("FINISHED", server.query(srv.url,
      string.format("out = c.get_run(%q).info.status", b.run_id)))
  end)

  it("spools on a 400 that is no MLflow answer (a proxy's page), and sync delivers it later", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local proxy = server.proxy(srv, -1, 400, "<html>The plain HTTP request was sent to HTTPS port</html>")
    local run_dir = dir .. "/plain400"
    local run
    local err = fixture.stderr_of(function()
      run = track.start_fit_run(run_dir, { uri = proxy.url, experiment = "graphids/plain400", run_name = "p",
        params = { lr = 0.1 }, store_opts = FAST })
      run:log_metrics({ loss = 0.5 }, 0)
      run:finish("FINISHED")
    end)
    server.kill(proxy.pid)
    assert.matches("HTTP 400: <html>The plain HTTP request", err)
    assert.is_true(run.spooling)
    assert.is_nil(core.stat(spool.rejected_path(run_dir)))
    assert.equal(4, #assert(spool.read(run_dir)))
    local sent, left, aside = spool.sync(run_dir, { uri = srv.url })
    assert.same({ 4, 0, 0 }, { sent, left, aside })
    local r = server.query(srv.url, [==[
r = c.search_runs([c.get_experiment_by_name("graphids/plain400").experiment_id])[0]
out = [r.info.status, r.data.params, r.data.metrics]]==])
    assert.same({ "FINISHED", { lr = "0.1" }, { loss = 0.5 } }, r)
  end)

  it("keeps the credentials of the tracking URI out of the spool, traces, stderr and listings", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local proxy = server.proxy(srv, 3, 503) -- one call's tries fail: the run spools
    local clean = proxy.url
    local uri = "http://bob:s3cr%40t@127.0.0.1:" .. proxy.port
    local run_dir = dir .. "/creds"
    local run
    local err = fixture.stderr_of(function()
      run = track.start_fit_run(run_dir, { uri = uri, experiment = "graphids/creds", run_name = "c",
        store_opts = FAST })
      run:finish("FINISHED")
    end)
    assert.is_true(run.spooling)
    assert.equal(clean, run.uri)
    for what, text in pairs({ stderr = err, spool = slurp(spool.path(run_dir)),
      traces = slurp(run_dir .. "/traces.jsonl") }) do
      assert.is_nil(text:find("s3cr", 1, true), what .. ": " .. text)
      assert.truthy(text:find(clean, 1, true), what .. ": " .. text)
    end
    for _, ev in ipairs(assert(spool.read(run_dir))) do assert.equal(clean, ev.uri) end
    -- the URI's credentials went to the server as Basic auth
    local basic = "Basic " .. require("graphids.track.rest").base64("bob:s3cr@t")
    local log = slurp(proxy.log)
    assert.truthy(log:find(basic, 1, true), log)
    -- sync takes them from $MLFLOW_TRACKING_URI, which names the same server with them
    local out, serr, rc = support.host({ MLFLOW_TRACKING_URI = uri }, { "track", "sync", run_dir })
    assert.equal(0, rc, serr .. out)
    assert.is_nil((out .. serr):find("s3cr", 1, true))
    local lines = {}
    for l in slurp(proxy.log):gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.is_true(#lines > 3)
    for i = 4, #lines do assert.truthy(lines[i]:find(basic, 1, true), lines[i]) end
    assert.equal("FINISHED", server.query(srv.url, [[
out = c.search_runs([c.get_experiment_by_name("graphids/creds").experiment_id])[0].info.status]]))
    -- listings name the store without them
    out, serr, rc = support.host({ MLFLOW_TRACKING_URI = "" }, { "runs", "list", "--tracking-uri", uri })
    server.kill(proxy.pid)
    assert.equal(0, rc, serr)
    assert.is_nil((out .. serr):find("s3cr", 1, true), out)
    assert.truthy(out:find("in " .. clean, 1, true), out)
    assert.equal(clean, assert(query.open(uri)).uri)
    assert.is_true(gio.exists(run_dir .. "/traces.jsonl"))
  end)
end)
