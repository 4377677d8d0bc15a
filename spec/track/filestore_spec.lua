-- The FileStore graphids writes, read back by MLflow's own Python client
-- (MLFLOW_ALLOW_FILE_STORE=true), and its failure handling.
local core = require "graphids.core"
local fixture = require "track.support.fixture"
local skip = require "skip"
local server = require "track.mlflow_server"
local track = require "graphids.track"
local filestore = require "graphids.track.filestore"

local spool = require "graphids.track.spool"

-- Runs fn with stderr and stdout captured; returns what each got.
local function capture(fn)
  local out
  local err = fixture.stderr_of(function() out = fixture.stdout_of(fn) end)
  return err, out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- A trainer stand-in with the fields the callback reads (graphids.callbacks.base).
local function fake_trainer(ckpt)
  return { epoch = 0, global_step = 0, max_epochs = 3, device = "cpu", callback_metrics = {},
    checkpoint_callback = function() return { best_model_path = function() return ckpt end } end }
end

-- A FileStore root under dir that cannot be made (a file stands where its parent goes), so
-- every event spools; os.remove(dir .. "/blocked") unblocks it.
local function blocked_store(dir)
  assert(io.open(dir .. "/blocked", "w")):close()
  return dir .. "/blocked/mlruns"
end

describe("graphids.track FileStore", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("writes MLflow's layout: experiment 0, .trash, metric lines, raw params and tags", function()
    local fs = assert(filestore.new(dir .. "/mlruns"))
    local exp = assert(fs:get_or_create_experiment("graphids/x"))
    assert.equal(exp, fs:get_or_create_experiment("graphids/x"))
    assert.matches("^%d+$", exp)
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "r", start_time = 5, tags = {} }))
    assert.matches("^%x+$", id)
    assert.equal(32, #id)
    assert(fs:log_batch(id, { params = { { key = "a.b", value = "1" } },
      tags = { { key = "t", value = "v" } },
      metrics = { { key = "train/loss", value = 0.5, timestamp = 7, step = 1 },
        { key = "train/loss", value = 0 / 0, timestamp = 8, step = 2 } } }))
    local run = dir .. "/mlruns/" .. exp .. "/" .. id
    assert.equal("7 0.5 1\n8 nan 2\n", read(run .. "/metrics/train/loss"))
    assert.equal("1", read(run .. "/params/a.b"))
    assert.equal("v", read(run .. "/tags/t"))
    assert.equal("r", read(run .. "/tags/mlflow.runName"))
    assert.is_not_nil(core.stat(dir .. "/mlruns/.trash"))
    assert.matches("name: 'Default'", read(dir .. "/mlruns/0/meta.yaml"))
    assert.matches("\nstatus: 1\n", read(run .. "/meta.yaml"))
    assert(fs:update_run(id, "FAILED", 99))
    assert.matches("\nstatus: 4\n", read(run .. "/meta.yaml"))
    assert.matches("\nend_time: 99\n", read(run .. "/meta.yaml"))
    -- params are immutable: the same value is fine, a different one is refused, nothing changes
    assert.is_true(fs:log_batch(id, { params = { { key = "a.b", value = "1" } } }))
    local ok, err = fs:log_batch(id, { params = { { key = "a.b", value = "2" } } })
    assert.is_nil(ok)
    assert.matches("changing param values is not allowed", err)
    assert.equal("1", read(run .. "/params/a.b"))
    local none, err2 = fs:log_batch("0123456789abcdef0123456789abcdef", { tags = {} })
    assert.is_nil(none)
    assert.matches("run '0123456789abcdef0123456789abcdef' not found", err2)
  end)

  it("logs keys of letters of any script that are long in bytes, cut to fit a file name", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    local ya, cjk = string.rep("я", 200), string.rep("精", 100)
    local run
    local said = capture(function()
      run = track.start_fit_run(run_dir, { uri = "file:" .. root, experiment = "e",
        params = { [ya] = 1 }, tags = { [cjk] = "v" } })
      run:log_metrics({ [ya] = 0.5, [cjk .. "/" .. ya] = 0.25 }, 1)
      run:finish("FINISHED")
    end)
    assert.equal("", said)
    assert.is_nil(core.stat(spool.path(run_dir)))
    local exp = assert(filestore.new(root):find_experiment("e"))
    local rdir = root .. "/" .. exp .. "/" .. run.run_id
    local ya127, cjk85 = string.rep("я", 127), string.rep("精", 85)
    assert.matches("^%d+ 0.5 1\n$", read(rdir .. "/metrics/" .. ya127))
    assert.matches("^%d+ 0.25 1\n$", read(rdir .. "/metrics/" .. cjk85 .. "/" .. ya127))
    assert.equal("1", read(rdir .. "/params/" .. ya127))
    assert.equal("v", read(rdir .. "/tags/" .. cjk85))
    assert.matches("\nstatus: 3\n", read(rdir .. "/meta.yaml"))
  end)

  it("is read back by MLflow's client: fit run with params, per-epoch metrics, tags; test and parent runs",
    function()
      local py = server.python()
      if skip.unless(py, "MLflow is not installed and could not be (tools/mlflow-venv.sh)") then return end
      local run_dir = dir .. "/lake/hcrl_sa/seed_0"
      local ckpt = dir .. "/best.safetensors"
      local f = io.open(ckpt, "wb")
      f:write("weights")
      f:close()
      local opts = { lake_root = dir .. "/lake", experiment = "graphids/hcrl_sa/gat" }
      local parent = track.parent_run({ lake_root = opts.lake_root, experiment = opts.experiment,
        run_name = "gat_group", uri = "" })
      local cb = track.Callback({ run_dir = run_dir, lake_root = opts.lake_root, experiment = opts.experiment,
        run_name = "gat_seed0", params = { model = { hidden = 64, heads = 4 }, lr = 0.001 },
        tags = { ["graphids.seed"] = 0 }, parent = parent, uri = "" })
      local tr = fake_trainer(ckpt)
      cb:on_fit_start(tr)
      for e = 0, 2 do
        tr.epoch = e
        tr.callback_metrics = { train_loss = 1 / (e + 1), val_loss = 2 / (e + 1), note = "x" }
        cb:on_validation_epoch_end(tr)
        cb:on_train_epoch_end(tr)
      end
      tr.epoch = 3
      cb:on_fit_end(tr)
      track.log_test_run(run_dir, { lake_root = opts.lake_root, experiment = opts.experiment, uri = "",
        run_name = "gat_seed0", metrics = { test = { f1 = 0.75 }, acc = 0.5 }, parent = parent })
      assert.is_nil(core.stat(run_dir .. "/tracking_spool.jsonl"))
      local v = server.query("file://" .. dir .. "/lake/mlruns", [[
e = c.get_experiment_by_name("graphids/hcrl_sa/gat")
out = {"exp": e.name, "runs": {}}
for r in c.search_runs([e.experiment_id]):
    ph = r.data.tags["graphids.phase"]
    out["runs"][ph] = {"id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
        "params": r.data.params, "metrics": r.data.metrics, "tags": r.data.tags,
        "hist": [[m.step, m.value] for m in c.get_metric_history(r.info.run_id, "train_loss")]}
]], "MLFLOW_ALLOW_FILE_STORE=true")
      local fit, test, par = v.runs.fit, v.runs.test, v.runs.parent
      assert.equal("graphids/hcrl_sa/gat", v.exp)
      assert.same({ "gat_seed0", "FINISHED" }, { fit.name, fit.status })
      assert.same({ ["model.hidden"] = "64", ["model.heads"] = "4", lr = "0.001" }, fit.params)
      assert.same({ { 0, 1.0 }, { 1, 0.5 }, { 2, 1 / 3 } }, fit.hist)
      assert.equal(3, fit.metrics.epochs_run)
      assert.is_true(fit.metrics.peak_cpu_mb >= 0)
      assert.is_nil(fit.metrics.note)
      assert.equal(core.sha256("weights"), fit.tags["graphids.ckpt_sha256"])
      assert.equal(ckpt, fit.tags["graphids.best_ckpt_path"])
      assert.equal("0", fit.tags["graphids.seed"])
      assert.equal(par.id, fit.tags["mlflow.parentRunId"])
      assert.equal(par.id, test.tags["mlflow.parentRunId"])
      assert.equal(core.version(), fit.tags["graphids.version"])
      assert.equal(core.hostname(), fit.tags["graphids.host"])
      assert.equal(run_dir, fit.tags["graphids.run_dir"])
      assert.same({ ["test/f1"] = 0.75, acc = 0.5 }, test.metrics)
      assert.same({ "gat_group", "FINISHED" }, { par.name, par.status })
      -- the trace of the fit: a fit span, one event per epoch
      local spans, epochs = {}, 0
      for l in io.lines(run_dir .. "/traces.jsonl") do
        local rec = require("graphids.json").decode(l)
        if rec.span then spans[#spans + 1] = rec.event .. ":" .. rec.span end
        if rec.event == "epoch" then epochs = epochs + 1 end
      end
      assert.same({ "span_start:fit", "span_end:fit" }, spans)
      assert.equal(3, epochs)
    end)

  it("spools when the store cannot be written, and sync delivers once it can", function()
    -- a regular file where the store's folder should be: even root cannot write there
    local root = blocked_store(dir)
    local run_dir = dir .. "/run"
    local run
    local said = fixture.stderr_of(function()
      run = track.start_fit_run(run_dir, { uri = "file:" .. root, experiment = "e", params = { a = 1 } })
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
    end)
    assert.matches("tracking to file:" .. root:gsub("%p", "%%%0") .. " failed", said)
    assert.matches("graphids track sync " .. run_dir:gsub("%p", "%%%0"), said)
    local spooled = require("graphids.track.spool").read(run_dir)
    assert.same({ "create_run", "log_batch", "log_batch", "update_run" },
      { spooled[1].op, spooled[2].op, spooled[3].op, spooled[4].op })
    os.remove(dir .. "/blocked")
    local cli = require "graphids.cli.track"
    local out, code = fixture.stdout_of(function() return cli.main({ "sync", run_dir }) end)
    assert.equal(0, code)
    assert.matches("4 events delivered", out)
    assert.is_nil(core.stat(run_dir .. "/tracking_spool.jsonl"))
    local fs = assert(filestore.new(root))
    local exp = assert(fs:find_experiment("e"))
    local id = assert(fs:find_run(exp, "graphids.run_key", run.key))
    assert.equal(run.key, id)
    assert.equal("1", read(root .. "/" .. exp .. "/" .. id .. "/params/a"))
    assert.matches("^%d+ 1.0 0\n$", read(root .. "/" .. exp .. "/" .. id .. "/metrics/loss"))
    assert.matches("\nstatus: 3\n", read(root .. "/" .. exp .. "/" .. id .. "/meta.yaml"))
    -- a second sync has nothing to do
    assert.equal(0, select(2, fixture.stdout_of(function() return cli.main({ "sync", run_dir }) end)))
  end)

  it("resumes a run from its reference: the same run again, RUNNING then FINISHED", function()
    local uri = "file:" .. dir .. "/mlruns"
    local run = track.start_fit_run(dir .. "/r", { uri = uri, experiment = "e", params = { a = 1 } })
    run:log_metrics({ loss = 1 }, 0)
    run:finish("KILLED")
    local ref = run:ref()
    assert.equal(run.run_id, ref)
    local again = track.start_fit_run(dir .. "/r", { uri = uri, experiment = "e", resume = ref,
      params = { a = 1 } })
    local fs = assert(filestore.new(dir .. "/mlruns"))
    local exp = assert(fs:find_experiment("e"))
    local meta = dir .. "/mlruns/" .. exp .. "/" .. ref .. "/meta.yaml"
    assert.matches("\nstatus: 1\n", read(meta))
    again:log_metrics({ loss = 0.5 }, 1)
    again:finish()
    assert.matches("\nstatus: 3\n", read(meta))
    local lines = read(dir .. "/mlruns/" .. exp .. "/" .. ref .. "/metrics/loss")
    assert.matches("^%d+ 1.0 0\n%d+ 0.5 1\n$", lines)
    assert.has_error(function() track.start_fit_run(dir, { uri = uri, resume = "../x" }) end)
  end)

  it("resumes a run that exists only in a spool without creating it twice", function()
    local root = blocked_store(dir)
    local run
    fixture.stderr_of(function()
      run = track.start_fit_run(dir .. "/r", { uri = "file:" .. root, experiment = "e" })
      run:finish("KILLED")
    end)
    local killed_at = assert(require("graphids.track.spool").read(dir .. "/r"))[2].end_time
    core.sleep(0.01) -- the resumed fit's times are later
    local ref = run:ref()
    assert.equal("key:" .. run.key, ref)
    os.remove(dir .. "/blocked")
    track.reset_failures()
    local again = track.start_fit_run(dir .. "/r2", { uri = "file:" .. root, experiment = "e", resume = ref })
    again:finish()
    assert.is_nil(core.stat(dir .. "/r2/tracking_spool.jsonl"))
    -- the create (the run found by its key) is delivered; the old KILLED is skipped, not delivered
    local said = {}
    assert.same({ 1, 0, 0, 1 }, { require("graphids.track.spool").sync(dir .. "/r",
      { notify = function(l) said[#said + 1] = l end }) })
    assert.equal(1, #said)
    assert.matches("update_run KILLED of run " .. run.key .. " skipped: it is from the fit that created " ..
      "the run", said[1])
    local fs = assert(filestore.new(root))
    local exp = assert(fs:find_experiment("e"))
    local runs = 0
    for _, d in ipairs(core.list_dir(root .. "/" .. exp)) do
      if d ~= "meta.yaml" then runs = runs + 1 end
    end
    assert.equal(1, runs)
    -- the old spool's KILLED came last but is older than the resumed fit's FINISHED: the late
    -- sync does not move the run back
    local meta = read(root .. "/" .. exp .. "/" .. run.key .. "/meta.yaml")
    assert.matches("\nstatus: 3\n", meta)
    assert.is_true(tonumber(meta:match("\nend_time: (%d+)")) > killed_at)
  end)

  it("links a child to a parent that was spooled in another run dir", function()
    local root = blocked_store(dir)
    local parent, child
    fixture.stderr_of(function()
      parent = track.parent_run({ uri = "file:" .. root, experiment = "e", run_dir = dir .. "/group" })
      child = track.start_fit_run(dir .. "/seed0", { uri = "file:" .. root, experiment = "e",
        parent = parent })
      child:finish()
    end)
    assert.is_nil(parent.run_id)
    os.remove(dir .. "/blocked")
    track.reset_failures()
    assert(require("graphids.track.spool").sync(dir .. "/group"))
    assert(require("graphids.track.spool").sync(dir .. "/seed0"))
    local fs = assert(filestore.new(root))
    local exp = assert(fs:find_experiment("e"))
    assert.equal(parent.key, read(root .. "/" .. exp .. "/" .. child.key .. "/tags/mlflow.parentRunId"))
  end)

  it("refuses one bad request without giving up on the store (a param changed: HTTP 400's case)", function()
    local root, run_dir = dir .. "/mlruns", dir .. "/run"
    local run, test
    local err = capture(function()
      run = track.start_fit_run(run_dir, { uri = root, experiment = "e", params = { lr = 0.1 } })
      run:log_params({ lr = 0.2 }) -- refused: params cannot change
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
      test = track.log_test_run(run_dir, { uri = root, experiment = "e", metrics = { acc = 1 } })
    end)
    assert.matches("graphids: warning: " .. root:gsub("%p", "%%%0") .. " refused log_batch: FileStore: " ..
      "param 'lr' of run %x+ is already '0.1'; changing param values is not allowed %(new value '0.2'%); " ..
      "the event is set aside in " .. spool.rejected_path(run_dir):gsub("%p", "%%%0") .. "\n$", err)
    assert.is_nil(run.spooling)
    assert.is_nil(test.spooling)
    assert.is_nil(core.stat(spool.path(run_dir)))
    local base = root .. "/" .. assert(filestore.new(root):find_experiment("e"))
    assert.equal("0.1", read(base .. "/" .. run.run_id .. "/params/lr"))
    assert.matches("^%d+ 1.0 0\n$", read(base .. "/" .. run.run_id .. "/metrics/loss"))
    assert.matches("\nstatus: 3\n", read(base .. "/" .. test.run_id .. "/meta.yaml"))
    local rejected = require("graphids.json").decode(read(spool.rejected_path(run_dir)))
    assert.same({ "log_batch", "lr", "0.2", run.run_id }, { rejected.op, rejected.params[1].key,
      rejected.params[1].value, rejected.run_id })
    assert.matches("changing param values is not allowed", rejected.rejected)
    assert.matches('"event":"tracking_refused"', read(run_dir .. "/traces.jsonl"))
  end)

  it("warns once per reason a run's events are refused, and sets every one of them aside", function()
    local root, run_dir = dir .. "/mlruns", dir .. "/run"
    local run, fates = nil, {}
    local err = capture(function()
      run = track.start_fit_run(run_dir, { uri = root, experiment = "e", params = { lr = 0.1 } })
      fates[1] = run:log_metrics({ loss = 1 }, 0)
      -- the run deleted under the fit: each later event is refused with the same words
      local meta = root .. "/" .. assert(filestore.new(root):find_experiment("e")) .. "/" .. run.run_id ..
        "/meta.yaml"
      local text = read(meta):gsub("lifecycle_stage: '?active'?", "lifecycle_stage: deleted")
      local f = assert(io.open(meta, "wb"))
      f:write(text)
      f:close()
      fates[2] = run:log_metrics({ loss = 2 }, 1)
      fates[3] = run:log_metrics({ loss = 3 }, 2)
      run:set_tags({ t = "x" })
      run:finish("FINISHED")
    end)
    assert.same({ "sent", "refused", "refused" }, fates)
    local _, n = err:gsub("refused log_batch: FileStore: The run %x+ must be in the 'active' state", "")
    assert.equal(1, n, err)
    assert.is_nil(err:find("refused update_run", 1, true)) -- the same reason, not said again
    local ops = {}
    for l in io.lines(spool.rejected_path(run_dir)) do
      ops[#ops + 1] = require("graphids.json").decode(l).op
    end
    assert.same({ "log_batch", "log_batch", "log_batch", "update_run" }, ops)
    local _, traced = read(run_dir .. "/traces.jsonl"):gsub('"event":"tracking_refused"', "")
    assert.equal(1, traced)
  end)

  it("sets aside a spooled event the store refuses and delivers the ones after it", function()
    local root = blocked_store(dir)
    local run_dir = dir .. "/run"
    local run
    capture(function()
      run = track.start_fit_run(run_dir, { uri = "file:" .. root, experiment = "e", params = { a = 1 } })
      run:log_params({ a = 2 }) -- a resumed config, say: refused at sync time
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
    end)
    assert.equal(5, #assert(spool.read(run_dir)))
    os.remove(dir .. "/blocked")
    track.reset_failures()
    local code
    local err, out = capture(function() code = require("graphids.cli.track").main({ "sync", run_dir }) end)
    assert.equal(1, code) -- not everything went in
    assert.matches(run_dir:gsub("%p", "%%%0") .. ": event 3 %(log_batch%) refused: FileStore: " ..
      "param 'a' of run %x+ is already '1'", err)
    local rejected_path = spool.rejected_path(run_dir)
    assert.matches("4 events delivered, 1 set aside in " .. rejected_path:gsub("%p", "%%%0"), out)
    assert.matches("1 run dir, 4 events delivered, 0 left, 1 set aside\n$", out)
    assert.is_nil(core.stat(spool.path(run_dir)))
    local rejected = require("graphids.json").decode(read(spool.rejected_path(run_dir)))
    assert.same({ "a", "2" }, { rejected.params[1].key, rejected.params[1].value })
    local base = root .. "/" .. assert(filestore.new(root):find_experiment("e")) .. "/" .. run.key
    assert.equal("1", read(base .. "/params/a"))
    assert.matches("^%d+ 1.0 0\n$", read(base .. "/metrics/loss"))
    assert.matches("\nstatus: 3\n", read(base .. "/meta.yaml"))
  end)

  it("refuses a batch whose keys clash as file and folder before writing any of it", function()
    local fs = assert(filestore.new(dir .. "/mlruns"))
    local exp = assert(fs:get_or_create_experiment("e"))
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "r", tags = {} }))
    local base = dir .. "/mlruns/" .. exp .. "/" .. id
    local function m(key) return { key = key, value = 1.0, timestamp = 1, step = 0 } end
    local ok, err, code, status = fs:log_batch(id, { metrics = { m("b"), m("a"), m("a/b") } })
    assert.is_nil(ok)
    assert.equal("FileStore: metrics of run " .. id .. ": key 'a' is also a folder of keys", err)
    assert.same({ "INVALID_PARAMETER_VALUE", 400 }, { code, status })
    assert.same({}, core.list_dir(base .. "/metrics")) -- not even "b"
    assert(fs:log_batch(id, { metrics = { m("c") }, tags = { { key = "t", value = "v" } } }))
    ok, err = fs:log_batch(id, { metrics = { m("d"), m("c/x") } })
    assert.is_nil(ok)
    assert.equal("FileStore: metrics of run " .. id .. ": key 'c' is already a key and cannot hold sub-keys",
      err)
    ok, err = fs:log_batch(id, { tags = { { key = "t/u", value = "v" } }, metrics = { m("d") } })
    assert.is_nil(ok)
    assert.matches("tags of run %x+: key 't' is already a key", err)
    assert.same({ "c" }, core.list_dir(base .. "/metrics"))
    assert.equal(1, #assert(read(base .. "/metrics/c")):gsub("[^\n]", ""))
  end)

  it("refuses keys and ids that would name files outside the run, as MLflow's server refuses them", function()
    local root = dir .. "/mlruns_keys"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "r", tags = {} }))
    local meta = read(root .. "/" .. exp .. "/" .. id .. "/meta.yaml")
    local function m(key) return { key = key, value = 1.0, timestamp = 1, step = 0 } end
    local bad = { "../meta.yaml", "../../../../escaped", "..foo", "a/./b", "/abs", "a//b", "x\n" }
    for _, key in ipairs(bad) do
      local ok, err, code, status = fs:log_batch(id, { metrics = { m("fine"), m(key) } })
      assert.is_nil(ok, key)
      assert.matches("metrics of run " .. id .. ": key \"", err)
      assert.same({ "INVALID_PARAMETER_VALUE", 400 }, { code, status })
      ok, err = fs:log_batch(id, { tags = { { key = key, value = "hacked: 1\n" } } })
      assert.is_nil(ok, key)
      assert.matches("tags of run " .. id .. ": key \"", err)
    end
    assert.equal(meta, read(root .. "/" .. exp .. "/" .. id .. "/meta.yaml"))
    assert.same({}, core.list_dir(root .. "/" .. exp .. "/" .. id .. "/metrics"))
    assert.is_nil(core.stat(dir .. "/escaped"))
    -- ids from a spool name folders too
    local ok, err = fs:log_batch("../" .. exp, { metrics = { m("a") } })
    assert.is_nil(ok)
    assert.matches("run id \"%.%./" .. exp .. "\" is not an id of this store", err)
    ok, err = fs:create_run({ experiment_id = "../x", run_name = "r", tags = {} })
    assert.is_nil(ok)
    assert.matches("experiment id \"%.%./x\" is not an id", err)
    ok, err = fs:create_run({ experiment_id = exp, run_name = "r", tags = { { key = "../t", value = "v" } } })
    assert.is_nil(ok)
    assert.matches("tag key \"%.%./t\" is not a plain relative path", err)
  end)

  it("stages param and tag files outside params/ and tags/, where a leftover would read as a key", function()
    local root = dir .. "/mlruns_staging"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "r",
      tags = { { key = "a/b", value = "t" } } }))
    assert(fs:log_batch(id, { params = { { key = "lr", value = "0.1" }, { key = "model/x", value = "1" } },
      tags = { { key = "t2", value = "v" } } }))
    local run = root .. "/" .. exp .. "/" .. id
    -- what a kill between the temporary file and its rename leaves: in the staging folder only
    for _, sub in ipairs({ "params", "params/model", "tags", "tags/a" }) do
      for _, name in ipairs(core.list_dir(run .. "/" .. sub)) do
        assert.is_nil(name:match("^%."), sub .. "/" .. name)
      end
    end
    assert.same({}, core.list_dir(run .. "/.graphids_tmp"))
    assert.equal("0.1", read(run .. "/params/lr"))
    assert.equal("t", read(run .. "/tags/a/b"))
  end)

  it("writes run names with control characters so that they read back whole", function()
    local root = dir .. "/mlruns_names"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    for _, name in ipairs({ "bad\1name", "two\nlines", "tab\there", 'q"uote\\back', "it's", "plain" }) do
      local id = assert(fs:create_run({ experiment_id = exp, run_name = name, tags = {} }))
      local text = read(root .. "/" .. exp .. "/" .. id .. "/meta.yaml")
      assert.equal(name, filestore.yaml_get(text, "run_name"))
      assert.is_nil(text:find("\1", 1, true)) -- YAML readers refuse raw control characters
    end
  end)

  it("creates an experiment once when several processes ask for it at the same moment", function()
    local root = dir .. "/mlruns_race"
    local script = dir .. "/race.lua"
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
local fs = assert(require("graphids.track.filestore").new(%q))
io.write(assert(fs:get_or_create_experiment("graphids/synthetic/gat")))
]], root))
    f:close()
    local host = (os.getenv("GRAPHIDS_BUILD") or "build") .. "/bin/graphids"
    local cmd = {}
    for i = 1, 12 do cmd[i] = string.format("%s run %s > %s/race_%d.out &", host, script, dir, i) end
    assert(os.execute(table.concat(cmd, " ") .. " wait"))
    local ids = {}
    for i = 1, 12 do ids[read(string.format("%s/race_%d.out", dir, i))] = true end
    local n = 0
    for _ in pairs(ids) do n = n + 1 end
    assert.equal(1, n)
    local exps = {}
    for _, d in ipairs(core.list_dir(root)) do
      if d:match("^%d+$") and d ~= "0" then exps[#exps + 1] = d end
    end
    assert.equal(1, #exps)
  end)

  it("records a relative FileStore URI as an absolute path, so sync can run anywhere", function()
    -- a relative path from this folder to a blocked store under dir
    local depth = select(2, core.getcwd():gsub("/[^/]+", ""))
    local rel = string.rep("../", depth) .. dir:sub(2) .. "/blocked/mlruns"
    local f = assert(io.open(dir .. "/blocked", "w"))
    f:close()
    local run_dir = dir .. "/run"
    local run
    local err = capture(function()
      run = track.start_fit_run(run_dir, { uri = rel, experiment = "e" })
      run:finish()
    end)
    local abs = core.getcwd() .. "/" .. rel
    assert.equal(abs, run.uri)
    assert.matches("tracking to " .. abs:gsub("%p", "%%%0") .. " failed", err)
    for _, ev in ipairs(assert(spool.read(run_dir))) do assert.equal(abs, ev.uri) end
  end)

  it("spools and delivers values and run dirs that are not UTF-8, with U+FFFD", function()
    local root = blocked_store(dir)
    local run_dir = dir .. "/caf\xe9"
    local run
    capture(function()
      run = track.start_fit_run(run_dir, { uri = root, experiment = "e", run_name = "r\xe9",
        params = { name = "caf\xe9" } })
      run:log_metrics({ loss = 1 }, 0)
      run:finish()
    end)
    local evs = assert(spool.read(run_dir))
    assert.same({ "create_run", "log_batch", "log_batch", "update_run" },
      { evs[1].op, evs[2].op, evs[3].op, evs[4].op })
    os.remove(dir .. "/blocked")
    track.reset_failures()
    assert.same({ 4, 0, 0, 0 }, { spool.sync(run_dir) })
    local base = root .. "/" .. assert(filestore.new(root):find_experiment("e")) .. "/" .. run.key
    assert.equal("caf\u{FFFD}", read(base .. "/params/name"))
    assert.equal("r\u{FFFD}", read(base .. "/tags/mlflow.runName"))
    assert.equal(dir .. "/caf\u{FFFD}", read(base .. "/tags/graphids.run_dir"))
  end)

  it("tracks nothing at all without a run dir", function()
    local run = track.start_fit_run(nil, { lake_root = dir .. "/lake" })
    run:log_metrics({ a = 1 }, 0)
    run:finish()
    assert.is_nil(core.stat(dir .. "/lake"))
  end)

  it("refuses an experiment name MLflow would refuse, before anything is written", function()
    assert.error_matches(function() track.start_fit_run(dir .. "/x", { experiment = "a\nb" }) end,
      "^track: experiment must be a one%-line name of 1%.%.500 characters, got \"a\\\nb\"$")
    assert.has_error(function() track.Callback({ experiment = string.rep("e", 501) }) end)
    -- the name is quoted by its first 80 characters, none cut in two
    local ok, err = pcall(track.Callback, { experiment = "x" .. string.rep("\u{e9}", 500) })
    assert.is_false(ok)
    assert.truthy(err:find('got "x' .. string.rep("\u{e9}", 79) .. '"$'), err)
    assert.is_nil(core.stat(dir .. "/x"))
  end)

  it("refuses unknown options and statuses", function()
    assert.has_error(function() track.start_fit_run(dir, { experimnt = "x" }) end)
    local run = track.start_fit_run(nil, {})
    assert.has_error(function() run:finish("DONE") end,
      "Run:finish: status must be FINISHED, FAILED or KILLED, got DONE")
  end)
end)
