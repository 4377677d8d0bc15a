-- runs_resume_spec.lua -- a resumed fit (stage.train with resume_from into the same run dir) logs
-- into the fit's own tracking run, which keeps its start_time: the test run logged before the
-- resume tested the old weights, so the tracking store must call the run "trained" (with stale
-- metrics that do not rank), as its run dir does, not "tested".
local config = require "graphids.config"
local gio = require "graphids.io"
local proc = require "trainer.support.proc"
local query = require "graphids.track.query"
local runs = require "graphids.orchestrate.runs"
local stage = require "graphids.orchestrate.stage"
local tiny = require "orchestrate.support.tiny"
local track = require "graphids.track"

describe("graphids.orchestrate.runs from a tracking store after a resumed fit", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  local function resolve(lake, extra)
    return config.resolve("recipes/stages/gat.lua", { tla = { lake_root = lake },
      set = tiny.set("gat", extra) })
  end

  local function tracked(lake)
    local src = assert(query.open(gio.join(lake, "mlruns")))
    return assert(runs.scan_tracking(src))
  end

  it("calls a tested run fitted again by a resume 'trained', as its run dir does", function()
    local lake = gio.join(tmp, "lake")
    local r = resolve(lake)
    local run = stage.build(r)
    stage.train(run, r, { write_run_files = true })
    stage.evaluate(run, r, { write_run_files = true })
    local before = tracked(lake)
    assert.same({ "tested" }, { before[1].status })
    assert.equal(1, #runs.leaderboard(before))
    -- fit --ckpt-path <run dir>/checkpoints/last.safetensors, a longer fit into the same run dir
    local longer = resolve(lake, { { "trainer.max_epochs", 3 } })
    stage.train(stage.build(longer), longer, { resume_from = r.last_ckpt, write_run_files = true })
    local lake_rec = runs.scan(lake)
    local rs = tracked(lake)
    assert.equal(1, #rs)
    assert.same({ "trained", "trained" }, { lake_rec[1].status, rs[1].status })
    assert.is_true(rs[1].stale_metrics)
    assert.equal(before[1].run_id, rs[1].run_id) -- the same fit run, resumed
    assert.same({}, runs.leaderboard(rs))
    -- tested again: tested again from both sources
    stage.evaluate(stage.build(longer), longer, { write_run_files = true })
    assert.same({ "tested", "tested" }, { runs.scan(lake)[1].status, tracked(lake)[1].status })
  end)

  it("does not call a run tested while its resumed fit runs (the fit run keeps its old end time)", function()
    local lake = gio.join(tmp, "lake2")
    local uri = gio.join(lake, "mlruns")
    local dir = gio.join(lake, "d/gat/a/seed_0")
    local tags = { ["graphids.dataset"] = "d", ["graphids.stage"] = "gat", ["graphids.variant"] = "a",
      ["graphids.seed"] = 0 }
    local fit = track.start_fit_run(dir, { uri = uri, experiment = "e", run_name = "f", tags = tags })
    fit:finish("FINISHED")
    track.log_test_run(dir, { uri = uri, experiment = "e", run_name = "f", tags = tags,
      metrics = { test = { f1_macro = 0.5 } } })
    assert.equal("tested", tracked(lake)[1].status)
    require("graphids.core").sleep(0.01) -- (times are in ms)
    local again = track.start_fit_run(dir, { uri = uri, experiment = "e", run_name = "f", tags = tags,
      resume = fit:ref() })
    local rs = tracked(lake)
    assert.same({ "incomplete", true }, { rs[1].status, rs[1].stale_metrics })
    again:finish("FINISHED")
    rs = tracked(lake)
    assert.same({ "trained", true }, { rs[1].status, rs[1].stale_metrics })
  end)
end)
