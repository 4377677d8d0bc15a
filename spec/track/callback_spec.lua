-- graphids.track.Callback in the real trainer (spec-local tiny MLP), into a FileStore: one
-- metric line per epoch with step = epoch, checkpoint hash, FINISHED; a fit that fails ends
-- its run FAILED with the error in a tag and in traces.jsonl, and the error still propagates.
-- System metrics: sampled from the fit's hooks into metrics/system/<name>, steps 0, 1, ...
local core = require "graphids.core"
local class = require "graphids.class"
local json = require "graphids.json"
local Callback = require "graphids.callbacks.base"
local T = require "graphids.trainer"
local tiny = require "trainer.support.tiny"
local fixture = require "track.support.fixture"
local track = require "graphids.track"
local filestore = require "graphids.track.filestore"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The lines of a FileStore metric file as {ms, value, step} each.
local function points(path)
  local out = {}
  for l in (read(path) or ""):gmatch("[^\n]+") do
    local ms, v, step = l:match("^(%d+) (%S+) (%d+)$")
    assert(ms, "a metric line: " .. l)
    out[#out + 1] = { tonumber(ms), tonumber(v), tonumber(step) }
  end
  return out
end

-- A clock that moves one second at each reading: every poll of the sampler finds a sample due.
local function ticking()
  local t = 0
  return function()
    t = t + 1
    return t
  end
end

-- What `graphids run` prints for code (the environment set as given).
local function run_lua(env, code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = io.popen(env .. " build/bin/graphids run " .. path .. " 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out
end

local Boom = class("Boom", Callback)
function Boom.on_validation_epoch_end(_, trainer)
  if trainer.epoch == 1 then error("boom in epoch 1", 0) end
end

local function fit(dir, extra, cbopts)
  local run_dir = dir .. "/run"
  local o = { run_dir = run_dir, uri = "file:" .. dir .. "/mlruns", experiment = "cb", run_name = "tiny",
    params = { hidden = 8 } }
  for k, v in pairs(cbopts or {}) do o[k] = v end
  local cbs = { track.Callback(o) }
  if extra then cbs[#cbs + 1] = extra end
  local trainer = T.Trainer({ max_epochs = 3, default_root_dir = run_dir, progress = "off", callbacks = cbs })
  local ok, err = pcall(trainer.fit, trainer, tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }),
    tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
  local fs = assert(filestore.new(dir .. "/mlruns"))
  local exp = assert(fs:find_experiment("cb"))
  local key = cbs[1].run.key
  local id = assert(fs:find_run(exp, "graphids.run_key", key) or nil)
  return ok, err, dir .. "/mlruns/" .. exp .. "/" .. id, run_dir, trainer
end

describe("graphids.track.Callback", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("tracks a fit: per-epoch metrics at step = epoch, peak memory, checkpoint hash, FINISHED", function()
    local ok, err, run, run_dir, trainer = fit(dir)
    assert(ok, err)
    local lines = {}
    for l in (read(run .. "/metrics/train_loss") or ""):gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(3, #lines)
    for e = 0, 2 do assert.matches("^%d+ [%d.e%-]+ " .. e .. "$", lines[e + 1]) end
    assert.matches(" 3.0 3\n$", read(run .. "/metrics/epochs_run"))
    assert.is_not_nil(read(run .. "/metrics/peak_cpu_mb"))
    local best = trainer:checkpoint_callback():best_model_path()
    assert.equal(core.sha256_file(best), read(run .. "/tags/graphids.ckpt_sha256"))
    assert.equal("8", read(run .. "/params/hidden"))
    assert.matches("\nstatus: 3\n", read(run .. "/meta.yaml"))
    local events = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do
      local r = json.decode(l)
      events[#events + 1] = r.event .. (r.span and (":" .. r.span .. ":" .. (r.status or "")) or "")
    end
    assert.same({ "span_start:fit:", "span_start:epoch:", "span_end:epoch:ok", "span_start:epoch:",
      "span_end:epoch:ok", "span_start:epoch:", "span_end:epoch:ok", "span_end:fit:ok" }, events)
    -- the epoch spans sit inside the fit span and carry the epoch's metrics
    local recs = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do recs[#recs + 1] = json.decode(l) end
    assert.equal(recs[1].span_id, recs[3].parent_id)
    assert.equal(0, recs[3].epoch)
    assert.equal("number", type(recs[3].train_loss))
  end)

  it("traces a resumed fit's checkpoint and next epoch inside its fit span", function()
    local ok, err, _, run_dir, trainer = fit(dir)
    assert(ok, err)
    local last = trainer:checkpoint_callback():last_model_path()
    local warned = {}
    local resumed = T.Trainer({ max_epochs = 4, default_root_dir = run_dir, progress = "off",
      log = function(line) warned[#warned + 1] = line end,
      callbacks = { track.Callback({ run_dir = run_dir, uri = "file:" .. dir .. "/mlruns", experiment = "cb",
        run_name = "tiny" }) } })
    local data = tiny.DataModule({ n = 32, batch_size = 8, seed = 2 })
    resumed:fit(tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }), data, { ckpt_path = last })
    local recs, fit_spans = {}, {}
    for l in io.lines(run_dir .. "/traces.jsonl") do
      local r = json.decode(l)
      recs[#recs + 1] = r
      if r.event == "span_start" and r.span == "fit" then fit_spans[#fit_spans + 1] = r end
    end
    local ev
    for _, r in ipairs(recs) do
      if r.event == "resumed_from_checkpoint" then
        assert.is_nil(ev, "one event")
        ev = r
      end
    end
    assert.is_not_nil(ev)
    assert.same({ last, 3, 12, fit_spans[2].span_id }, { ev.path, ev.epoch, ev.global_step, ev.parent_id })
    assert.matches("schedule was built for max_epochs = 3", table.concat(warned, "\n"))
  end)

  it("ends the run FAILED with the error when the fit fails, and the error propagates", function()
    local ok, err, run, run_dir = fit(dir, Boom())
    assert.is_false(ok)
    assert.equal("boom in epoch 1", err)
    assert.matches("\nstatus: 4\n", read(run .. "/meta.yaml"))
    assert.equal("boom in epoch 1", read(run .. "/tags/graphids.error"))
    local recs = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do recs[#recs + 1] = json.decode(l) end
    local last, before = recs[#recs], recs[#recs - 1]
    assert.same({ "span_end", "fit", "error", "boom in epoch 1" },
      { last.event, last.span, last.status, last.error })
    -- the epoch span the error interrupted is closed as an error first
    assert.same({ "span_end", "epoch", "error" }, { before.event, before.span, before.status })
  end)

  it("ends the run FAILED when a later callback's on_fit_end fails the fit after the run finished", function()
    local Late = class("LateFail", Callback)
    function Late.on_fit_end() error("calibration failed at fit end", 0) end
    local ok, err, run, run_dir = fit(dir, Late())
    assert.is_false(ok)
    assert.equal("calibration failed at fit end", err)
    assert.matches("\nstatus: 4\n", read(run .. "/meta.yaml")) -- FAILED
    assert.equal("calibration failed at fit end", read(run .. "/tags/graphids.error"))
    local recs = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do recs[#recs + 1] = json.decode(l) end
    assert.same({ "fit_failed_after_end", "calibration failed at fit end" },
      { recs[#recs].event, recs[#recs].error })
  end)

  it("a test failing after the fit closes its test span as an error, the run staying FINISHED", function()
    local ok, err, run, run_dir, trainer = fit(dir)
    assert.is_true(ok, err)
    local m = tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 })
    rawset(m, "test_step", function() error("boom in test", 0) end)
    local tok, terr = pcall(trainer.test, trainer, m, tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
    assert.is_false(tok)
    assert.equal("boom in test", terr)
    assert.matches("\nstatus: 3\n", read(run .. "/meta.yaml")) -- FINISHED, as the fit ended
    assert.is_nil(read(run .. "/tags/graphids.error"))
    local recs = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do recs[#recs + 1] = json.decode(l) end
    local last = recs[#recs]
    assert.same({ "span_end", "test", "error", "boom in test" },
      { last.event, last.span, last.status, last.error })
  end)

  it("logs MLflow's system/ metrics from the fit's hooks at steps 0, 1, ... (one at fit start)", function()
    local ok, err, run = fit(dir, nil,
      { system_metrics_interval = 0.5, system_metrics = { clock = ticking() } })
    assert(ok, err)
    for _, name in ipairs({ "cpu_utilization_percentage", "system_memory_usage_megabytes",
      "system_memory_usage_percentage", "disk_usage_percentage", "disk_usage_megabytes",
      "disk_available_megabytes", "network_receive_megabytes", "network_transmit_megabytes" }) do
      local pts = points(run .. "/metrics/system/" .. name)
      -- at fit start, then each epoch's start and end, each train batch's end and each
      -- validation's start and end: 1 + 3 * (2 + 4 + 2) with 4 batches an epoch
      assert.equal(25, #pts, name)
      for i, p in ipairs(pts) do assert.equal(i - 1, p[3], name) end
    end
    local mem = points(run .. "/metrics/system/system_memory_usage_percentage")
    assert.is_true(mem[1][2] > 0 and mem[1][2] <= 100)
    -- no metric of the fit's own is at a system step beyond the epochs
    assert.equal(3, #points(run .. "/metrics/train_loss"))
  end)

  it("samples every interval seconds of the clock, not at every hook", function()
    local t = 0
    local clock = function() return t end
    local Tick = class("Tick", Callback)
    function Tick.on_train_batch_end() t = t + 2 end -- each batch takes 2 s on this clock
    local ok, err, run = fit(dir, Tick(),
      { system_metrics_interval = 5, system_metrics = { clock = clock } })
    assert(ok, err)
    -- 12 batches, 24 s: at 0, then at the first hook 5 s or more after the last sample (the
    -- tracking callback's batch hook runs before Tick's, so it sees 0, 2, 4, ...): 6, 12, 18, and
    -- the last epoch's end at 24
    local pts = points(run .. "/metrics/system/disk_usage_megabytes")
    assert.equal(5, #pts)
    for i, p in ipairs(pts) do assert.equal(i - 1, p[3]) end
  end)

  it("logs no system metrics with system_metrics_interval = false or 0, and refuses a bad one", function()
    local ok, err, run = fit(dir, nil, { system_metrics_interval = false })
    assert(ok, err)
    assert.is_nil(core.stat(run .. "/metrics/system"))
    assert.is_not_nil(read(run .. "/metrics/train_loss"))
    assert.is_false(track.Callback({ system_metrics_interval = 0 }).sampling_interval)
    assert.has_error(function() track.Callback({ system_metrics_interval = -1 }) end,
      "track.Callback: system_metrics_interval must be a number of seconds > 0, or false or 0 for none, " ..
      "got -1")
    assert.has_error(function() track.Callback({ system_metrics = 5 }) end,
      "track.Callback: system_metrics must be a table of sampler options, got number")
  end)

  it("checks the sampler's options when it is made: a misspelt key, a bad type, another interval", function()
    assert.has_error(function() track.Callback({ system_metrics = { disk_pth = "/data" } }) end,
      "track.Callback: system_metrics: unknown option 'disk_pth' (did you mean 'disk_path'?)")
    assert.has_error(function() track.Callback({ system_metrics = { proc = 1 } }) end,
      "track.Callback: system_metrics: option 'proc' must be a string, got 1")
    assert.has_error(function()
      track.Callback({ system_metrics_interval = 5, system_metrics = { interval = 2 } })
    end, "track.Callback: system_metrics.interval = 2 conflicts with the sampling interval 5 " ..
      "(system_metrics_interval, $MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL or 5 s); set it with " ..
      "system_metrics_interval")
    assert.has_error(function()
      track.Callback({ system_metrics_interval = false, system_metrics = { interval = 2 } })
    end, "track.Callback: system_metrics.interval = 2 conflicts with the sampling interval false (none) " ..
      "(system_metrics_interval, $MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL or 5 s); set it with " ..
      "system_metrics_interval")
    -- the same interval again is no conflict
    assert.equal(2, track.Callback({ system_metrics_interval = 2, system_metrics = { interval = 2 } })
      .sampling_interval)
  end)

  it("takes the interval from $MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL (0: none; a bad one warns)", function()
    local code = "print(require('graphids.track').Callback({}).sampling_interval)"
    assert.equal("5\n", run_lua("env -u MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", code))
    assert.equal("2.5\n", run_lua("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL=2.5", code))
    assert.equal("false\n", run_lua("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL=0", code))
    assert.equal("graphids: warning: MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL=\"soon\" is not a number of " ..
      "seconds > 0 (0: none); no system metrics are logged\nfalse\n",
      run_lua("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL=soon", code))
    -- the option wins over the variable
    assert.equal("false\n", run_lua("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL=3",
      "print(require('graphids.track').Callback({system_metrics_interval = false}).sampling_interval)"))
  end)

  it("stops system sampling at the first refused sample, with one warning; epochs are set aside", function()
    local Delete = class("Delete", Callback)
    local cb
    local batches = 0
    function Delete.on_train_batch_end()
      batches = batches + 1
      if batches ~= 3 then return end
      -- the run deleted under the fit (as `mlflow runs delete` leaves it in a FileStore)
      local fs = assert(filestore.new(dir .. "/mlruns"))
      local meta = dir .. "/mlruns/" .. assert(fs:find_experiment("cb")) .. "/" .. cb.run.run_id ..
        "/meta.yaml"
      local text = read(meta):gsub("lifecycle_stage: '?active'?", "lifecycle_stage: deleted")
      local f = assert(io.open(meta, "wb"))
      f:write(text)
      f:close()
    end
    local run_dir = dir .. "/run"
    cb = track.Callback({ run_dir = run_dir, uri = "file:" .. dir .. "/mlruns", experiment = "cb",
      system_metrics_interval = 0.5, system_metrics = { clock = ticking() } })
    local trainer = T.Trainer({ max_epochs = 3, default_root_dir = run_dir, progress = "off",
      callbacks = { cb, Delete() } })
    local stderr = fixture.stderr_of(function()
      trainer:fit(tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }),
        tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
    end)
    local _, n = stderr:gsub("must be in the 'active' state", "")
    assert.equal(1, n, stderr)
    local system, epochs = 0, 0
    for l in io.lines(run_dir .. "/tracking_spool.rejected.jsonl") do
      local ev = json.decode(l)
      for _, m in ipairs(ev.metrics or {}) do
        if m.key == "system/disk_usage_megabytes" then system = system + 1 end
        if m.key == "train_loss" then epochs = epochs + 1 end
      end
    end
    -- samples at fit start and 3 batch ends were logged; the 4th batch's was refused, and then
    -- sampling stopped; every epoch's metrics are kept
    assert.same({ 1, 3 }, { system, epochs })
    assert.matches('"event":"system_metrics_stopped"', read(run_dir .. "/traces.jsonl"))
  end)

  it("stops system sampling when a sample can be neither sent nor spooled (one warning)", function()
    local polls = 0
    local clock = ticking()
    local stderr = fixture.stderr_of(function()
      local cb = track.Callback({ run_dir = "/proc/nope/run", uri = "file:/proc/nope/mlruns",
        experiment = "cb",
        system_metrics_interval = 0.5, system_metrics = { clock = function()
          polls = polls + 1
          return clock()
        end } })
      local trainer = T.Trainer({ max_epochs = 3, default_root_dir = dir .. "/ckpt", progress = "off",
        callbacks = { cb } })
      trainer:fit(tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }),
        tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
    end)
    local _, n = stderr:gsub("cannot spool a tracking event", "")
    assert.equal(1, n, stderr)
    assert.equal(1, polls) -- the sample at fit start, which could not be spooled; none after it
  end)

  it("averages system_metrics_samples_before_logging samples a step, under system/<node id>/", function()
    local ok, err, run = fit(dir, nil, { system_metrics_interval = 0.5,
      system_metrics_samples_before_logging = 2, system_metrics_node_id = "node_0",
      system_metrics = { clock = ticking() } })
    assert(ok, err)
    assert.is_nil(read(run .. "/metrics/system/cpu_utilization_percentage"))
    -- 25 samples (as above): 12 steps of two, the last sample alone not logged (MLflow's monitor
    -- logs no part of a step when the run ends)
    local pts = points(run .. "/metrics/system/node_0/disk_usage_megabytes")
    assert.equal(12, #pts)
    for i, p in ipairs(pts) do assert.equal(i - 1, p[3]) end
    assert.equal(12, #points(run .. "/metrics/system/node_0/network_receive_megabytes"))
  end)

  it("takes samples before logging and the node id from MLflow's variables (the options win)", function()
    local code = "local s = require('graphids.track').Callback({}).system_metrics " ..
      "print(s.interval, s.samples_before_logging, s.node_id)"
    local clean = "env -u MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL " ..
      "-u MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING -u MLFLOW_SYSTEM_METRICS_NODE_ID"
    assert.equal("5\t1\tnil\n", run_lua(clean, code))
    assert.equal("5\t3\tn1\n", run_lua(clean .. " MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=3 " ..
      "MLFLOW_SYSTEM_METRICS_NODE_ID=n1", code))
    -- 0 samples is MLflow's default, 1; an empty variable is unset
    assert.equal("5\t1\tnil\n", run_lua(clean .. " MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=0 " ..
      "MLFLOW_SYSTEM_METRICS_NODE_ID=", code))
    assert.equal("graphids: warning: MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=\"2.5\" is not a whole " ..
      "number of samples; no system metrics are logged\nfalse\t1\tnil\n",
      run_lua(clean .. " MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=2.5", code))
    assert.matches("^graphids: warning: MLFLOW_SYSTEM_METRICS_NODE_ID=\"a|b\" is not a node name MLflow " ..
      "takes %(it makes metric names MLflow refuses: .*%); no system metrics are logged\nfalse\t1\tnil\n$",
      run_lua(clean .. " MLFLOW_SYSTEM_METRICS_NODE_ID='a|b'", code))
    assert.equal("5\t2\tn2\n", run_lua(clean .. " MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=3 " ..
      "MLFLOW_SYSTEM_METRICS_NODE_ID=n1", "local s = require('graphids.track').Callback({" ..
      "system_metrics_samples_before_logging = 2, system_metrics_node_id = 'n2'}).system_metrics " ..
      "print(s.interval, s.samples_before_logging, s.node_id)"))
    assert.has_error(function() track.Callback({ system_metrics_samples_before_logging = 0 }) end,
      "track.Callback: system_metrics_samples_before_logging must be an integer >= 1, got 0")
    assert.has_error(function() track.Callback({ system_metrics_node_id = "a|b" }) end,
      "track.Callback: system_metrics_node_id 'a|b' makes metric names MLflow refuses: " ..
      "'system/a|b/cpu_utilization_percentage' holds the character \"|\" (letters, digits, _ . / - : " ..
      "and space)")
    -- a bad variable turns the metrics off with its warning; a sampler option cannot conflict then
    assert.equal("graphids: warning: MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=\"abc\" is not a whole " ..
      "number of samples; no system metrics are logged\nfalse\t1\tnil\n",
      run_lua(clean .. " MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=abc", "local s = " ..
      "require('graphids.track').Callback({system_metrics = {interval = 5}}).system_metrics " ..
      "print(s.interval, s.samples_before_logging, s.node_id)"))
    -- a node id is refused by the longest name it makes, not only the first (MLflow's 250 characters)
    local long = string.rep("n", 214) -- system/<214>/cpu_utilization_percentage is 248 characters
    assert.has_error(function() track.Callback({ system_metrics_node_id = long }) end,
      "track.Callback: system_metrics_node_id '" .. long .. "' makes metric names MLflow refuses: " ..
      "'system/" .. long .. "/gpu_99_memory_usage_percentage' is longer than 250 characters")
    assert.has_error(function()
      track.Callback({ system_metrics_samples_before_logging = 2,
        system_metrics = { samples_before_logging = 3 } })
    end, "track.Callback: system_metrics.samples_before_logging = 3 conflicts with the samples before " ..
      "logging 2 (system_metrics_samples_before_logging, $MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING " ..
      "or 1); set it with system_metrics_samples_before_logging")
  end)

  it("leaves a source it cannot read out, with one warning on stderr and in traces.jsonl", function()
    local stderr
    local ok, err, run, run_dir
    stderr = fixture.stderr_of(function()
      ok, err, run, run_dir = fit(dir, nil, { system_metrics_interval = 0.5,
        system_metrics = { clock = ticking(), proc = dir .. "/noproc" } })
    end)
    assert(ok, err)
    assert.is_nil(read(run .. "/metrics/system/cpu_utilization_percentage"))
    assert.equal(25, #points(run .. "/metrics/system/disk_usage_megabytes"))
    local _, n = stderr:gsub("system metrics: ", "")
    assert.equal(3, n) -- cpu, memory, network: once each
    local traced = 0
    for l in io.lines(run_dir .. "/traces.jsonl") do
      if json.decode(l).event == "system_metrics_missing" then traced = traced + 1 end
    end
    assert.equal(3, traced)
  end)
end)
