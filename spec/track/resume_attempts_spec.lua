-- Which fit of a run an event comes from, rather than the clocks of the machines that logged
-- them: a resume's own events always apply (live, or synced late) whatever times the fit it
-- resumes wrote, a late sync of the crashed fit never ends the run its resume finished, a
-- resume's changed param becomes graphids.resumed_param.<key> (and a crashed fit's, synced after
-- a `key:` resume created the run, graphids.first_param.<key>) instead of a refused batch, an
-- event fixed by hand and re-sent from the rejected file is delivered whole, and a run that a
-- `key:` resume created keeps the first fit's start.  Each scenario runs against a FileStore
-- and against a REAL `mlflow server` (spec/track/mlflow_server.lua), read back by MLflow's own
-- client.
local core = require "graphids.core"
local fixture = require "track.support.fixture"
local json = require "graphids.json"
local mlflow = require "graphids.track.mlflow"
local rs = require "track.support.resume_stores"
local skip = require "skip"
local spool = require "graphids.track.spool"
local track = require "graphids.track"

local read = require("graphids.io").read_file
local FAST = rs.FAST

-- The clock of the machine where the first fit ran: 90 s ahead of the one that resumes it.
local AHEAD = 90000

local P3 = { lr = 0.1, trainer = { max_epochs = 3 } }
local P5 = { lr = 0.1, trainer = { max_epochs = 5 } }
local MAX_EPOCHS_TAG = "graphids.resumed_param.trainer.max_epochs"

-- graphids track sync run_dir --uri uri, as the command line runs it: exit code, stdout, stderr.
local function cli_sync(run_dir, uri)
  local code, err
  local out = fixture.stdout_of(function()
    err = fixture.stderr_of(function()
      code = require("graphids.cli.track").main({ "sync", run_dir, "--uri", uri })
    end)
  end)
  return code, out, err
end

rs.each_store(function(name, make_store)
  describe("the fits of a resumed run (" .. name .. ")", function()
    local store, dir
    before_each(function() track.reset_failures() end)
    make_store(function(st, d) store, dir = st, d end)

    it("runs the run again and finishes it live although the crashed fit's clock ran ahead", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/skew-live/" .. name
      local run = rs.skewed(AHEAD, function()
        return rs.online_failure(dir .. "/a0", store.uri, exp, "boom")
      end)
      assert.is_true(store.info(run.run_id).end_time > mlflow.now_ms() + AHEAD / 2)
      local again
      local said = fixture.stderr_of(function()
        again = track.start_fit_run(dir .. "/a1", { uri = store.uri, experiment = exp, resume = run:ref(),
          store_opts = FAST })
      end)
      assert.equal("", said)
      local now = store.info(run.run_id)
      assert.same({ "RUNNING", nil }, { now.status, now.tags["graphids.error"] })
      again:log_metrics({ loss = 0.5 }, 1)
      local before = mlflow.now_ms()
      said = fixture.stderr_of(function() again:finish("FINISHED") end)
      assert.equal("", said)
      local done = store.info(run.run_id)
      assert.same({ "FINISHED", nil, { { 1, 0.5 } } },
        { done.status, done.tags["graphids.error"], done.loss })
      assert.is_true(done.end_time >= before and done.end_time < before + AHEAD / 2)
    end)

    it("delivers a resume spooled while the store was down whole, however far ahead the crashed fit's " ..
      "clock ran", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/skew-spooled/" .. name
      local run = rs.skewed(AHEAD, function()
        return rs.online_failure(dir .. "/b0", store.uri, exp, "boom")
      end)
      rs.spooled_resume(dir .. "/b1", store.down(), exp, run:ref())
      -- RUNNING, the resume time, the error cleared, a metric, FINISHED: nothing skipped
      local res, said = rs.late_sync(dir .. "/b1", store.uri)
      assert.same({ { 5, 0, 0, 0 }, {} }, { res, said })
      local got = store.info(run.run_id)
      assert.same({ "FINISHED", nil, { { 1, 0.5 } } }, { got.status, got.tags["graphids.error"], got.loss })
      assert.is_true(got.end_time < mlflow.now_ms() + AHEAD / 2)
    end)

    it("never ends the run its resume finished with a late sync of the crashed fit, whose clock ran ahead",
      function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/skew-late/" .. name
      local run = rs.skewed(AHEAD, function()
        return (rs.crashed_fit(dir .. "/c0", store.down(), exp, { [0] = 1.0 }))
      end)
      local again = track.start_fit_run(dir .. "/c1", { uri = store.uri, experiment = exp, resume = run:ref(),
        store_opts = FAST })
      again:log_metrics({ loss = 0.5 }, 1)
      again:finish("FINISHED")
      local finished = store.info(again.run_id)
      -- the create (the run found by its key) and the metric go in; the error and FAILED do not
      -- through the command line, which counts what it left out
      local code, out, err = cli_sync(dir .. "/c0", store.uri)
      assert.equal(0, code, err)
      assert.matches("2 events delivered, 2 left out as late\n", out)
      assert.matches("1 run dir, 2 events delivered, 0 left, 2 left out as late\n$", out)
      assert.matches("tags graphids.error of run " .. again.run_id .. " skipped: it is from the fit that " ..
        "created the run", err)
      assert.matches("update_run FAILED of run " .. again.run_id .. " skipped", err)
      local got = store.info(again.run_id)
      assert.same({ "FINISHED", finished.end_time, nil, { { 0, 1.0 }, { 1, 0.5 } } },
        { got.status, got.end_time, got.tags["graphids.error"], got.loss })
    end)

    it("logs a resume's longer max_epochs, spooled while the store was down, as a tag: sync exits 0",
      function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/resumed-param/" .. name
      local run = rs.online_failure(dir .. "/d0", store.uri, exp, "boom", P3)
      rs.spooled_resume(dir .. "/d1", store.down(), exp, run:ref(), { params = P5 })
      local code, out, err = cli_sync(dir .. "/d1", store.uri)
      assert.equal(0, code, err)
      assert.matches("6 events delivered", out)
      assert.matches("param 'trainer.max_epochs' of run " .. run.run_id .. " is '3' and MLflow params " ..
        "cannot change; the resumed value '5' is logged as the tag " .. MAX_EPOCHS_TAG, err, 1, true)
      local got = store.info(run.run_id)
      assert.same({ "FINISHED", "3", "0.1", "5" }, { got.status, got.params["trainer.max_epochs"],
        got.params.lr, got.tags[MAX_EPOCHS_TAG] })
      assert.is_nil(core.stat(spool.rejected_path(dir .. "/d1")))
    end)

    it("says a live resume's changed param on stderr and in traces.jsonl", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/resumed-param-live/" .. name
      local run = rs.online_failure(dir .. "/l0", store.uri, exp, "boom", P3)
      local said = fixture.stderr_of(function()
        track.start_fit_run(dir .. "/l1", { uri = store.uri, experiment = exp, resume = run:ref(),
          params = P5, store_opts = FAST }):finish("FINISHED")
      end)
      assert.matches("^graphids: warning: param 'trainer.max_epochs' of run " .. run.run_id .. " is '3'",
        said)
      local trace = read(dir .. "/l1/traces.jsonl")
      assert.matches('"event":"tracking_note"', trace, 1, true)
      assert.matches("the resumed value '5' is logged as the tag " .. MAX_EPOCHS_TAG, trace, 1, true)
      assert.equal("5", store.info(run.run_id).tags[MAX_EPOCHS_TAG])
    end)

    it("keeps the value of the fit that reached the store first as the param, and the crashed fit's, " ..
      "synced late, as graphids.first_param", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/first-param/" .. name
      local run = rs.crashed_fit(dir .. "/e0", store.down(), exp, { [0] = 1.0 }, { params = P3 })
      -- the resume creates the run (the crashed fit's create_run is still spooled)
      local again
      local live = fixture.stderr_of(function()
        again = track.start_fit_run(dir .. "/e1", { uri = store.uri, experiment = exp, resume = run:ref(),
          params = P5, store_opts = FAST })
        again:finish("FINISHED")
      end)
      assert.equal("", live)
      -- create (found), params (the changed one as a tag), the metric; the error and FAILED skipped
      local res, said = rs.late_sync(dir .. "/e0", store.uri)
      assert.same({ 3, 0, 0, 2 }, res)
      assert.matches("param 'trainer.max_epochs' of run " .. again.run_id .. " is '5' and MLflow params " ..
        "cannot change; the value '3' of the fit that created the run (a resume logged it first) is " ..
        "logged as the tag graphids.first_param.trainer.max_epochs", said[1], 1, true)
      local got = store.info(again.run_id)
      assert.same({ "FINISHED", "5", "3", nil }, { got.status, got.params["trainer.max_epochs"],
        got.tags["graphids.first_param.trainer.max_epochs"], got.tags[MAX_EPOCHS_TAG] })
      assert.is_nil(core.stat(spool.rejected_path(dir .. "/e0")))
    end)

    it("keeps the first fit's start in a run that its `key:` resume created", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/first-start/" .. name
      local run = rs.crashed_fit(dir .. "/f0", store.down(), exp, { [0] = 1.0 })
      local first_start = assert(spool.read(dir .. "/f0"))[1].start_time
      local again = track.start_fit_run(dir .. "/f1", { uri = store.uri, experiment = exp, resume = run:ref(),
        store_opts = FAST })
      again:finish("FINISHED")
      assert.is_true(store.info(again.run_id).start_time > first_start)
      rs.late_sync(dir .. "/f0", store.uri)
      local got = store.info(again.run_id)
      if store.kind == "file" then
        assert.same({ first_start, nil }, { got.start_time, got.tags["graphids.first_start_time"] })
      else -- MLflow's runs/update cannot change a start_time
        assert.equal(string.format("%d", first_start), got.tags["graphids.first_start_time"])
      end
    end)

    it("still judges a spool of an older graphids (events without an attempt) by its times", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/legacy/" .. name
      local run = rs.crashed_fit(dir .. "/g0", store.down(), exp, { [0] = 1.0 })
      local lines = {}
      for _, ev in ipairs(assert(spool.read(dir .. "/g0"))) do
        ev.attempt = nil
        lines[#lines + 1] = json.encode(ev) .. "\n"
      end
      assert(core.atomic_write(spool.path(dir .. "/g0"), table.concat(lines)))
      local again = track.start_fit_run(dir .. "/g1", { uri = store.uri, experiment = exp, resume = run:ref(),
        store_opts = FAST })
      again:finish("FINISHED")
      local res, said = rs.late_sync(dir .. "/g0", store.uri)
      assert.same({ 2, 0, 0, 2 }, res)
      assert.matches("tags graphids.error of run " .. again.run_id .. " skipped: it was logged at %d+, " ..
        "and the run is FINISHED with a later end_time %(%d+%)$", said[1])
      assert.same({ "FINISHED", nil }, { store.info(again.run_id).status,
        store.info(again.run_id).tags["graphids.error"] })
    end)
  end)
end)

describe("an event set aside, fixed by hand and appended back to the spool", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("is delivered whole, though the run was resumed and finished after it was logged", function()
    local st = rs.file_store(dir)
    local run_dir = dir .. "/r"
    local run = track.start_fit_run(run_dir, { uri = st.uri, experiment = "e" })
    fixture.stderr_of(function()
      run:set_tags({ a = "1" })
      run:set_tags({ ["a/b"] = "2" }) -- refused: the FileStore holds a tag 'a' already
    end)
    run:finish("FAILED")
    core.sleep(0.01)
    track.start_fit_run(run_dir, { uri = st.uri, experiment = "e", resume = run:ref() }):finish("FINISHED")
    -- as docs/tracking.md says: fix it, append it to the spool (its `rejected` field kept)
    local ev = json.decode(read(spool.rejected_path(run_dir)):match("[^\n]+"))
    assert.matches("is already a key", ev.rejected)
    ev.tags[1].key = "a_b"
    assert(core.append_file(spool.path(run_dir), json.encode(ev) .. "\n"))
    local res, said = rs.late_sync(run_dir, st.uri)
    assert.same({ { 1, 0, 0, 0 }, {} }, { res, said })
    local got = st.info(run.run_id)
    assert.same({ "FINISHED", "2" }, { got.status, got.tags.a_b })
  end)
end)
