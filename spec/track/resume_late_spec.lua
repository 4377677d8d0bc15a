-- A resumed fit against the events of the fit it resumed: the resume runs the run again and
-- removes the crashed fit's graphids.error, and a late `graphids track sync` of the crashed
-- fit's spool never moves the resumed run backwards (FAILED over FINISHED, an old resume time,
-- the crashed attempt's graphids.error, an earlier resume's removal of a later error), yet
-- delivers the crashed attempt's metrics as the history they are; a resume whose run was
-- deleted goes on in a new run instead of losing every event to refusals.  Each scenario runs
-- against a FileStore and against a REAL `mlflow server` (spec/track/mlflow_server.lua), read
-- back by MLflow's own client.
local core = require "graphids.core"
local filestore = require "graphids.track.filestore"
local fixture = require "track.support.fixture"
local rs = require "track.support.resume_stores"
local skip = require "skip"
local spool = require "graphids.track.spool"
local track = require "graphids.track"

local FAST = rs.FAST
local crashed_fit, online_failure, late_sync = rs.crashed_fit, rs.online_failure, rs.late_sync

-- ---------------------------------------------------------------- the scenarios

local function scenarios(name, make_store)
  describe("a late sync of a crashed fit's spool (" .. name .. ")", function()
    local store, dir
    before_each(function() track.reset_failures() end)
    make_store(function(st, d) store, dir = st, d end)

    it("leaves the resumed run FINISHED with its own end time and no error, keeping every epoch", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/late/" .. name
      -- the first fit logs epochs 0-2 and crashes in epoch 3; its last checkpoint is epoch 1
      local run, failed_at = crashed_fit(dir .. "/r1", store.down(), exp, { [0] = 1.0, 0.9, 0.8 },
        { params = { lr = 0.1 } })
      assert.matches("^key:", run:ref())
      -- the resumed fit (store up) goes on from epoch 2, logging it again, and finishes
      local again = track.start_fit_run(dir .. "/r2", { uri = store.uri, experiment = exp,
        resume = run:ref(), params = { lr = 0.1 }, store_opts = FAST })
      again:log_metrics({ loss = 0.75 }, 2)
      again:log_metrics({ loss = 0.7 }, 3)
      again:finish("FINISHED")
      local before = store.info(again.run_id)
      assert.same({ "FINISHED", { { 2, 0.75 }, { 3, 0.7 } } }, { before.status, before.loss })
      -- create_run, params, metrics x3 delivered; the error tag and FAILED skipped
      local res, said = late_sync(dir .. "/r1", store.uri)
      assert.same({ 5, 0, 0, 2 }, res)
      local after = store.info(again.run_id)
      assert.equal("FINISHED", after.status)
      assert.equal(before.end_time, after.end_time)
      assert.is_true(after.end_time > failed_at)
      assert.is_nil(after.tags["graphids.error"])
      assert.equal(2, #said, table.concat(said, "\n"))
      assert.matches("tags graphids.error of run " .. again.run_id .. " skipped: it is from the fit that " ..
        "created the run, and the run was resumed after it %(at %d+; it is FINISHED%)$", said[1])
      assert.matches("update_run FAILED of run " .. again.run_id .. " skipped: it is from the fit that " ..
        "created the run", said[2])
      -- the first fit's epochs are history at their steps, as a server up all along would hold
      -- them: 0 and 1 are logged nowhere else, and epoch 2 holds both attempts' points
      assert.same({ { 0, 1.0 }, { 1, 0.9 }, { 2, 0.75 }, { 2, 0.8 }, { 3, 0.7 } }, after.loss)
      if store.kind == "server" then assert.equal(0.7, after.latest_loss) end -- the value at its last step
    end)

    it("keeps the crashed fit's error out of the resumed run while it still runs", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/late-running/" .. name
      local run = crashed_fit(dir .. "/c1", store.down(), exp, { [0] = 1.0 }, { params = { lr = 0.1 } })
      local again = track.start_fit_run(dir .. "/c2", { uri = store.uri, experiment = exp,
        resume = run:ref(), store_opts = FAST })
      local res, said = late_sync(dir .. "/c1", store.uri)
      assert.same({ 3, 0, 0, 2 }, res)
      local now = store.info(again.run_id)
      assert.same({ "RUNNING", { { 0, 1.0 } } }, { now.status, now.loss })
      assert.is_nil(now.tags["graphids.error"])
      assert.matches("tags graphids.error of run %x+ skipped: it is from the fit that created the run, " ..
        "and the run was resumed after it %(at %d+; it is RUNNING%)$", said[1])
      -- and its own failure is its error
      again:set_tags({ ["graphids.error"] = "boom again" })
      again:finish("FAILED")
      assert.same({ "FAILED", "boom again" }, { store.info(again.run_id).status,
        store.info(again.run_id).tags["graphids.error"] })
    end)

    it("leaves a run resumed again and still running RUNNING, with its newer resume time", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/late2/" .. name
      local run = online_failure(dir .. "/a0", store.uri, exp, "boom first")
      -- resume #1 while the store is down, crashing: all of it spooled in a1
      local r1 = crashed_fit(dir .. "/a1", store.down(), exp, { [1] = 0.5 }, { resume = run:ref() })
      assert.equal(run.run_id, r1.run_id)
      local evs = assert(spool.read(dir .. "/a1"))
      assert.same({ "update_run", "log_batch", "delete_tag", "log_batch", "log_batch", "update_run" },
        { evs[1].op, evs[2].op, evs[3].op, evs[4].op, evs[5].op, evs[6].op })
      -- resume #2 with the store up, still running: the first fit's error is not its own
      local r2 = track.start_fit_run(dir .. "/a2", { uri = store.uri, experiment = exp,
        resume = run:ref(), store_opts = FAST })
      assert.equal(run.run_id, r2.run_id)
      local before = store.info(run.run_id)
      assert.same({ "RUNNING", nil }, { before.status, before.tags["graphids.error"] })
      assert.is_true(tonumber(before.tags["graphids.resumed_time"]) > tonumber(evs[2].tags[1].value))
      local res, said = late_sync(dir .. "/a1", store.uri)
      assert.same({ 1, 0, 0, 5 }, res) -- the metric; the rest is resume #1's view of the run
      local after = store.info(run.run_id)
      assert.equal("RUNNING", after.status)
      assert.equal(before.tags["graphids.resumed_time"], after.tags["graphids.resumed_time"])
      assert.is_nil(after.tags["graphids.error"])
      assert.equal(5, #said, table.concat(said, "\n"))
      local resume1 = "skipped: it is from the resume at " .. evs[1].attempt .. ", and the run was " ..
        "resumed after it %(at " .. before.tags["graphids.resumed_time"] .. "; it is RUNNING%)$"
      assert.matches("update_run RUNNING of run " .. run.run_id .. " " .. resume1, said[1])
      assert.matches("tags graphids.resumed_time of run " .. run.run_id .. " " .. resume1, said[2])
      assert.matches("delete_tag graphids.error of run " .. run.run_id .. " " .. resume1, said[3])
      assert.matches("tags graphids.error of run " .. run.run_id .. " " .. resume1, said[4])
      assert.matches("update_run FAILED of run " .. run.run_id .. " " .. resume1, said[5])
      assert.same({ { 1, 0.5 } }, after.loss) -- resume #1's metric is there
      r2:finish("FINISHED")
      assert.equal("FINISHED", store.info(run.run_id).status)
    end)

    it("keeps a later resume's error when an earlier resume's spool comes late", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/late3/" .. name
      local run = online_failure(dir .. "/b0", store.uri, exp, "boom first")
      crashed_fit(dir .. "/b1", store.down(), exp, { [1] = 0.5 }, { resume = run:ref() })
      -- resume #2 with the store up fails too, with its own error
      local r2 = track.start_fit_run(dir .. "/b2", { uri = store.uri, experiment = exp,
        resume = run:ref(), store_opts = FAST })
      r2:set_tags({ ["graphids.error"] = "boom in resume 2" })
      r2:finish("FAILED")
      local res, said = late_sync(dir .. "/b1", store.uri)
      assert.same({ 1, 0, 0, 5 }, res)
      assert.equal(5, #said, table.concat(said, "\n")) -- resume #1's clearing of the error included
      local got = store.info(run.run_id)
      assert.same({ "FAILED", "boom in resume 2", { { 1, 0.5 } } },
        { got.status, got.tags["graphids.error"], got.loss })
    end)

    it("runs a crashed fit's run again when a sync made it before the resume, clearing its error", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/synced-first/" .. name
      local run = crashed_fit(dir .. "/s1", store.down(), exp, { [0] = 1.0 })
      assert.same({ 4, 0, 0, 0 }, (late_sync(dir .. "/s1", store.uri)))
      local id = store.id_of(exp, run.key)
      local synced = store.info(id)
      assert.same({ "FAILED", "boom in epoch 2" }, { synced.status, synced.tags["graphids.error"] })
      local again = track.start_fit_run(dir .. "/s2", { uri = store.uri, experiment = exp,
        resume = run:ref(), store_opts = FAST })
      assert.equal(id, again.run_id)
      local now = store.info(id)
      assert.same({ "RUNNING", nil }, { now.status, now.tags["graphids.error"] })
      again:log_metrics({ loss = 0.5 }, 1)
      again:finish("FINISHED")
      now = store.info(id)
      assert.same({ "FINISHED", nil, { { 0, 1.0 }, { 1, 0.5 } } },
        { now.status, now.tags["graphids.error"], now.loss })
    end)

    it("delivers a crash and its resume spooled in one run dir as the resumed run, no error", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/one-spool/" .. name
      local down = store.down()
      local run = crashed_fit(dir .. "/o", down, exp, { [0] = 1.0 })
      fixture.stderr_of(function()
        local again = track.start_fit_run(dir .. "/o", { uri = down, experiment = exp, resume = run:ref(),
          store_opts = FAST })
        again:log_metrics({ loss = 0.5 }, 1)
        again:finish("FINISHED")
      end)
      local res, said = late_sync(dir .. "/o", store.uri)
      -- the crash: create, metric, error, FAILED; the resume: create (found), RUNNING, resume
      -- time, error cleared, metric, FINISHED
      assert.same({ { 10, 0, 0, 0 }, {} }, { res, said })
      local got = store.info(store.id_of(exp, run.key))
      assert.same({ "FINISHED", nil, { { 0, 1.0 }, { 1, 0.5 } } },
        { got.status, got.tags["graphids.error"], got.loss })
    end)

    it("delivers a crashed fit's error when nothing resumed it", function()
      if skip.unless(not store.missing, store.missing) then return end
      local run = crashed_fit(dir .. "/n1", store.down(), "graphids/late-alone/" .. name, { [0] = 1.0 },
        { params = { lr = 0.1 } })
      local res, said = late_sync(dir .. "/n1", store.uri)
      assert.same({ 5, 0, 0, 0 }, res)
      assert.same({}, said)
      local got = store.info(store.id_of("graphids/late-alone/" .. name, run.key))
      assert.same({ "FAILED", "boom in epoch 2", { { 0, 1.0 } } },
        { got.status, got.tags["graphids.error"], got.loss })
    end)

    it("resumes a deleted run into a new run, with one warning instead of a refusal per event", function()
      if skip.unless(not store.missing, store.missing) then return end
      local exp = "graphids/deleted/" .. name
      local run = track.start_fit_run(dir .. "/d", { uri = store.uri, experiment = exp, store_opts = FAST })
      run:finish("FAILED")
      store.delete(run.run_id)
      assert.equal("deleted", store.info(run.run_id).stage)
      local again
      local said = fixture.stderr_of(function()
        again = track.start_fit_run(dir .. "/d", { uri = store.uri, experiment = exp,
          resume = run:ref(), params = { lr = 0.2 }, store_opts = FAST })
        for epoch = 1, 100 do again:log_metrics({ loss = 1 / epoch }, epoch) end
        again:finish("FINISHED")
      end)
      local _, warnings = said:gsub("warning", "")
      assert.equal(1, warnings, said)
      assert.matches("the run " .. run.run_id .. " to resume %(" .. run.run_id .. "%) is deleted", said)
      assert.not_equal(run.run_id, again.run_id)
      local new = store.info(again.run_id)
      assert.same({ "FINISHED", "active", run.run_id, "0.2", 100 },
        { new.status, new.stage, new.tags["graphids.resumed_from_run"], new.params.lr, #new.loss })
      assert.is_nil(core.stat(dir .. "/d/tracking_spool.jsonl"))
      assert.is_nil(core.stat(dir .. "/d/tracking_spool.rejected.jsonl"))
    end)
  end)
end

rs.each_store(scenarios)

-- ---------------------------------------------------------------- FileStore only

describe("a FileStore run that cannot be reached or is deleted", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("spools the resume of a run whose root cannot be listed, for that same run", function()
    local st = rs.file_store(dir)
    local run = track.start_fit_run(dir .. "/r0", { uri = st.uri, experiment = "e" })
    run:finish("FAILED")
    -- the root is, for now, a file (ENOTDIR when listed): a store failure, not a run gone
    assert(os.rename(st.root, dir .. "/away"))
    assert(io.open(st.root, "w")):close()
    core.sleep(0.01)
    local r1
    local said = fixture.stderr_of(function()
      r1 = track.start_fit_run(dir .. "/r1", { uri = st.uri, experiment = "e", resume = run:ref() })
      r1:log_metrics({ loss = 0.5 }, 1)
      r1:finish("FINISHED")
    end)
    assert.equal(run.run_id, r1.run_id)
    assert.not_matches("new run", said)
    assert.matches("cannot list " .. st.root, said, 1, true)
    assert(os.remove(st.root))
    assert(os.rename(dir .. "/away", st.root))
    -- RUNNING, the resume time, the error cleared, a metric, FINISHED
    assert.same({ 5, 0, 0, 0 }, { spool.sync(dir .. "/r1") })
    local got = st.info(run.run_id)
    assert.same({ "FINISHED", { { 1, 0.5 } } }, { got.status, got.loss })
    local exp = assert(filestore.new(st.root):find_experiment("e"))
    local runs = 0
    for _, d in ipairs(core.list_dir(st.root .. "/" .. exp)) do
      if d:match("^%x+$") then runs = runs + 1 end
    end
    assert.equal(1, runs)
  end)

  it("refuses to write into a deleted run, as MLflow's FileStore does", function()
    local st = rs.file_store(dir)
    local run = track.start_fit_run(dir .. "/r1", { uri = st.uri, experiment = "e" })
    run:finish("FAILED")
    st.delete(run.run_id)
    local fs = assert(filestore.new(st.root))
    local ok, err, code, status = fs:log_batch(run.run_id,
      { metrics = { { key = "x", value = 1, timestamp = 1, step = 0 } } })
    assert.same({ nil, "INVALID_PARAMETER_VALUE", 400 }, { ok, code, status })
    assert.matches("must be in the 'active' state%. Current state is deleted", err)
    assert.is_nil(core.stat(st.run_dir(run.run_id) .. "/metrics/x"))
    assert.is_nil((fs:update_run(run.run_id, "FINISHED", core.wall_time() * 1000)))
    assert.equal("FAILED", st.info(run.run_id).status)
    assert.same({ "INVALID_PARAMETER_VALUE", 400 },
      { select(3, fs:delete_tag(run.run_id, "graphids.phase")) })
    assert.equal("fit", st.info(run.run_id).tags["graphids.phase"])
  end)

  it("removes a tag (a resume: the error of the fit it resumes), and only a tag", function()
    local st = rs.file_store(dir)
    local run = track.start_fit_run(dir .. "/r1", { uri = st.uri, experiment = "e" })
    local fs = assert(filestore.new(st.root))
    assert(fs:log_batch(run.run_id, { tags = { { key = "graphids.error", value = "boom" } } }))
    assert.is_true(fs:delete_tag(run.run_id, "graphids.error"))
    assert.is_nil(st.info(run.run_id).tags["graphids.error"])
    assert.is_true(fs:delete_tag(run.run_id, "graphids.error")) -- gone already: nothing to do
    -- a key written by hand into a spool cannot name a file outside the run's tags
    local ok, err, code = fs:delete_tag(run.run_id, "../meta.yaml")
    assert.same({ nil, "INVALID_PARAMETER_VALUE" }, { ok, code })
    assert.matches("not a plain relative path", err)
    assert.equal("RUNNING", st.info(run.run_id).status)
  end)
end)
