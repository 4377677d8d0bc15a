-- runs_spec.lua -- graphids.orchestrate.runs without the host: the leaderboard ranks only tested
-- runs (not a run re-fitted after its test, nor a damaged one), orders a NaN mean last, and a
-- run dir's non-finite metric reads as null, as a tracking record's does.
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local runs = require "graphids.orchestrate.runs"

local function rec(variant, seed, status, f1)
  return { identity = { dataset = "d", stage = "gat", variant = variant, seed = seed }, status = status,
    metrics = { ["test/f1_macro"] = f1 } }
end

describe("graphids.orchestrate.runs.leaderboard", function()
  it("ranks only tested runs: a re-fitted (trained) or damaged run's metrics are not its weights'", function()
    local rows = runs.leaderboard({ rec("a", 0, "tested", 0.75), rec("a", 1, "trained", 0.25),
      rec("a", 2, "incomplete", 0.25),
      { identity = {}, status = "damaged", metrics = { ["test/f1_macro"] = 0.5 } } })
    assert.equal(1, #rows)
    assert.same({ "d", "gat", "a", 1, 0.75, { 0 } }, { rows[1].dataset, rows[1].stage, rows[1].variant,
      rows[1].n, rows[1].mean, rows[1].seeds })
  end)

  it("orders a NaN mean (+inf and -inf in one group) last, the others best first", function()
    local list = { rec("nan", 0, "tested", math.huge), rec("nan", 1, "tested", -math.huge),
      rec("low", 0, "tested", 0.25), rec("inf", 0, "tested", math.huge), rec("high", 0, "tested", 0.75) }
    for _ = 1, 2 do
      local order = {}
      for i, g in ipairs(runs.leaderboard(list)) do order[i] = g.variant end
      assert.same({ "inf", "high", "low", "nan" }, order)
      list = { list[5], list[4], list[3], list[2], list[1] } -- the input order does not matter
    end
  end)
end)

describe("graphids.orchestrate.runs.leaderboard's seed statistics", function()
  local stats = require "graphids.stats"
  local function seeds(variant, values, stage)
    local out = {}
    for i, v in ipairs(values) do
      out[i] = rec(variant, i, "tested", v)
      out[i].identity.stage = stage or "gat"
    end
    return out
  end
  local function join(...)
    local all = {}
    for _, l in ipairs({ ... }) do
      for _, r in ipairs(l) do all[#all + 1] = r end
    end
    return all
  end

  it("gives each mean's bootstrap interval and Cohen's d of the best over each other variant", function()
    local best, far, near = { 0.9, 0.92, 0.91 }, { 0.8, 0.82, 0.81 }, { 0.905, 0.915, 0.89 }
    local rows = runs.leaderboard(join(seeds("far", far), seeds("best", best), seeds("near", near)))
    local by = {}
    for _, g in ipairs(rows) do by[g.variant] = g end
    assert.equal("best", rows[1].variant)
    assert.same({ stats.mean_ci(best) }, { by.best.ci_lo, by.best.ci_hi })
    assert.is_nil(by.best.d)
    assert.equal(stats.cohens_d(best, far), by.far.d)
    assert.same({ stats.cohens_d_ci(best, far) }, { by.far.d_lo, by.far.d_hi })
    assert.is_false(by.far.tied)
    assert.is_true(by.near.tied) -- its interval reaches 0: three seeds cannot tell the two apart
  end)

  it("ties a variant whose seeds equal or mostly equal the best's (d = 0 in [0, ...])", function()
    local rows = runs.leaderboard(join(seeds("gat", { 1, 1, 1 }), seeds("same", { 1, 1, 1 }),
      seeds("mlp", { 1, 0.99, 1 })))
    local by = {}
    for _, g in ipairs(rows) do by[g.variant] = g end
    assert.same({ "gat", "same", "mlp" }, { rows[1].variant, rows[2].variant, rows[3].variant })
    assert.is_nil(by.gat.d) -- the best row itself
    assert.same({ 0, 0, 0, true }, { by.same.d, by.same.d_lo, by.same.d_hi, by.same.tied })
    -- 8 in 27 resamples of mlp's seeds are {1, 1, 1}: no difference from the best's
    assert.same({ 0, math.huge, true }, { by.mlp.d_lo, by.mlp.d_hi, by.mlp.tied })
    assert.is_true(by.mlp.d > 0.8)
  end)

  it("counts one value a seed: of two tested runs of one seed, the one tested last", function()
    local function at(r, t, dir)
      r.tested_at, r.dir = t, dir
      return r
    end
    -- (a lake copied into a folder of the lake root: its runs come after the lake's in path order)
    local list = { at(rec("a", 0, "tested", 0.9), 10, "l/0"), at(rec("a", 1, "tested", 0.8), 30, "l/1"),
      at(rec("a", 2, "tested", 0.7), 10, "l/2"), at(rec("a", 0, "tested", 0.6), 5, "c/0"),
      at(rec("a", 1, "tested", 0.5), 40, "c/1"), at(rec("a", 2, "tested", 0.4), 10, "c/2"),
      at(rec("a", 1, "tested", 0.3), nil, "x/1"), -- (no time: the oldest)
      at(rec("a", nil, "tested", 0.2), 1, "n/1"), at(rec("a", nil, "tested", 0.1), 1, "n/2") }
    local rows = runs.leaderboard(list)
    assert.equal(1, #rows)
    local g = rows[1]
    -- seed 0: the lake's (newer); seed 1: the copy's; seed 2: a tie, the first in the list's
    -- order stays; a run without a seed cannot be told from another, and counts
    assert.same({ 5, { 0, 1, 2 }, { 0.9, 0.5, 0.7, 0.2, 0.1 } },
      { g.n, { g.seeds[1], g.seeds[2], g.seeds[3] }, g.values })
    assert.same({ "l/0", "c/1", "l/2", "n/1", "n/2" }, { g.runs[1].dir, g.runs[2].dir, g.runs[3].dir,
      g.runs[4].dir, g.runs[5].dir })
    assert.near(0.48, g.mean, 1e-12)
    local dups = {}
    for i, d in ipairs(g.duplicates) do
      local left = {}
      for j, r in ipairs(d.left_out) do left[j] = r.dir end
      dups[i] = { d.seed, d.kept.dir, left }
    end
    assert.same({ { 0, "l/0", { "c/0" } }, { 1, "c/1", { "l/1", "x/1" } }, { 2, "l/2", { "c/2" } } }, dups)
    -- without duplicates, none
    assert.same({}, runs.leaderboard({ rec("b", 0, "tested", 0.5) })[1].duplicates)
  end)

  it("compares within a dataset and stage only, lowest first for a loss, and needs two seeds", function()
    local rows = runs.leaderboard(join(seeds("a", { 0.5, 0.6 }), seeds("v", { 0.9, 0.8 }, "vgae"),
      seeds("one", { 0.1 })))
    local by = {}
    for _, g in ipairs(rows) do by[g.variant] = g end
    assert.is_nil(by.v.d) -- the best of its own stage
    assert.is_nil(by.one.ci_lo)
    assert.is_true(by.one.d > 0)
    local function loss(variant, vs)
      local out = {}
      for i, v in ipairs(vs) do
        out[i] = { identity = { dataset = "d", stage = "gat", variant = variant, seed = i },
          status = "tested", metrics = { ["test/loss"] = v } }
      end
      return out
    end
    local lrows = runs.leaderboard(join(loss("hi", { 3, 4, 3.5 }), loss("lo", { 1, 1.5, 1.2 })),
      { metric = "test/loss" })
    assert.equal("lo", lrows[1].variant)
    assert.is_true(lrows[2].d > 0) -- the best (lowest) over the other, in the better direction
  end)
end)

describe("graphids.orchestrate.runs.best_end", function()
  it("ranks a loss, an error or ece lowest first, every other metric highest first", function()
    for _, k in ipairs({ "test/ece", "val_loss", "test/set_01/recon_error", "test/mse", "Test/FPR",
      "test/detection_delay_windows", "test/set_01/detection_delay_windows_max", "test/false_alarm_runs" }) do
      assert.equal("low", runs.best_end(k), k)
    end
    for _, k in ipairs({ "test/f1_macro", "test/auroc", "test/accuracy", "test/precision@0.95recall",
      "test/interval_recall", "test/intervals_detected" }) do
      assert.equal("high", runs.best_end(k), k)
    end
    local function ece(variant, v)
      return { identity = { dataset = "d", stage = "gat", variant = variant, seed = 0 }, status = "tested",
        metrics = { ["test/ece"] = v } }
    end
    local list = { ece("bad", 0.35), ece("good", 0.015) }
    assert.equal("good", runs.leaderboard(list, { metric = "test/ece" })[1].variant)
    assert.equal("bad", runs.leaderboard(list, { metric = "test/ece", best = "high" })[1].variant)
  end)
end)

describe("graphids.orchestrate.runs.read", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  it("reads a non-finite metric of test_metrics.json (1e999) as null, as the tracking records do", function()
    local dir = gio.join(tmp, "d/gat/a/seed_0")
    assert(gio.mkdir_p(dir))
    assert(gio.write_json(gio.join(dir, "resolved.json"), { identity = { dataset = "d", stage = "gat",
      variant = "a", seed = 0 } }))
    local f = assert(io.open(gio.join(dir, "test_metrics.json"), "w"))
    f:write('{"test/f1_macro": 1e999, "test/auroc": -1e999, "test/accuracy": 0.5}')
    f:close()
    assert(io.open(gio.join(dir, ".test_complete"), "w")):close()
    local r = runs.read(dir)
    assert.equal("tested", r.status)
    assert.same({ ["test/f1_macro"] = json.null, ["test/auroc"] = json.null, ["test/accuracy"] = 0.5 },
      r.metrics)
    assert.same({}, runs.leaderboard({ r }))
    assert.equal(0.5, runs.leaderboard({ r }, { metric = "test/accuracy" })[1].mean)
  end)
  it("lists a run whose file holds a bare infinity (1e400, -1e999) as damaged, naming the file", function()
    local dir = gio.join(tmp, "d/gat/inf/seed_0")
    assert(gio.mkdir_p(dir))
    local function spit(name, text)
      local f = assert(io.open(gio.join(dir, name), "w"))
      f:write(text)
      f:close()
    end
    spit("resolved.json", "1e400")
    local r = runs.read(dir)
    assert.equal("damaged", r.status)
    assert.equal(gio.join(dir, "resolved.json") .. ": not a JSON object (inf)", r.problems[1])
    spit("resolved.json", '{"identity": {"dataset": "d", "stage": "gat", "variant": "inf", "seed": 0}}')
    spit("test_metrics.json", "[-1e999, 1]")
    r = runs.read(dir)
    assert.equal("damaged", r.status)
    assert.equal(gio.join(dir, "test_metrics.json") .. ": not a JSON object (a list [-inf,1])", r.problems[1])
  end)
  it("lists a run dir that lost its resolved.json as damaged, naming the file", function()
    local dir = gio.join(tmp, "d/gat/b/seed_0")
    assert(gio.mkdir_p(gio.join(dir, "checkpoints")))
    assert(io.open(gio.join(dir, ".test_complete"), "w")):close()
    local r = runs.read(dir)
    assert.equal("damaged", r.status)
    assert.truthy(r.problems[1]:find(gio.join(dir, "resolved.json") .. ": missing", 1, true), r.problems[1])
    -- which run it is comes from its path, so the listing can say
    assert.same({ dataset = "d", stage = "gat", variant = "b", seed = 0 }, r.identity)
    local found = false
    for _, x in ipairs(runs.scan(tmp)) do found = found or x.dir == dir end
    assert.is_true(found)
    -- a folder that is no run dir is not one
    assert(gio.mkdir_p(gio.join(tmp, "d/gat/empty")))
    assert.is_nil(runs.read(gio.join(tmp, "d/gat/empty")))
  end)
end)

describe("graphids.orchestrate.runs from a tracking store", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  local function run(id, dir, phase, start)
    return { run_id = id, experiment_id = "1", run_name = "n", status = "FINISHED", start_time = start,
      end_time = start + 1, params = {}, metrics = {},
      tags = { ["graphids.phase"] = phase, ["graphids.run_dir"] = dir, ["graphids.stage"] = "gat" } }
  end

  it("groups the runs of one run dir however its tag spells it (an older fit's tag as typed)", function()
    local abs = runs.same_dir_key("l/d/gat/a/seed_0")
    assert.equal(require("graphids.track.mlflow").absolute_path("l/d/gat/a/seed_0"), abs)
    for _, spelled in ipairs({ "./l/d/gat/a/seed_0", "l//d/gat/./a/seed_0/", abs }) do
      assert.equal(abs, runs.same_dir_key(spelled))
    end
    local list = { run(string.rep("a", 32), "l/d/gat/a/seed_0", "fit", 1),
      run(string.rep("b", 32), "./l/d/gat/a/seed_0", "test", 5),
      run(string.rep("c", 32), abs, "fit", 9) }
    local recs = runs.from_tracking(list, "mem")
    assert.equal(1, #recs)
    assert.equal(string.rep("c", 32), recs[1].run_id) -- the latest fit of the one run dir
    assert.equal(string.rep("b", 32), recs[1].test_run_id)
  end)

  it("dates each record by its test run's end, so that two lake roots' runs of a seed count once", function()
    local function tested(id, dir, start, f1)
      local r = run(id, dir, "test", start)
      r.metrics = { ["test/f1_macro"] = f1 }
      for k, v in pairs({ dataset = "d", variant = "a", seed = "0" }) do r.tags["graphids." .. k] = v end
      return r
    end
    local recs = runs.from_tracking({ tested(string.rep("a", 32), "/one/d/gat/a/seed_0", 1000, 0.5),
      tested(string.rep("b", 32), "/two/d/gat/a/seed_0", 7000, 0.25) }, "mem")
    assert.same({ 1.001, 7.001 }, { recs[1].tested_at, recs[2].tested_at })
    local g = runs.leaderboard(recs)[1]
    assert.same({ 1, { 0.25 }, string.rep("b", 32) }, { g.n, g.values, g.runs[1].test_run_id })
    assert.same({ string.rep("a", 32) }, { g.duplicates[1].left_out[1].test_run_id })
  end)

  it("tags a fit with its run dir's one key: a lake root typed two ways is one run", function()
    local config = require "graphids.config"
    local stage = require "graphids.orchestrate.stage"
    local tiny = require "orchestrate.support.tiny"
    local lake = gio.join(tmp, "lake")
    for _, spelled in ipairs({ lake, tmp .. "/./lake//" }) do
      local r = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = spelled },
        set = tiny.set("gat", { { "trainer.max_epochs", 1 } }) })
      local art = stage.build(r)
      stage.train(art, r, { write_run_files = true })
      stage.evaluate(art, r, { write_run_files = true })
    end
    local src = assert(require("graphids.track.query").open(gio.join(lake, "mlruns")))
    local recs = assert(runs.scan_tracking(src))
    assert.equal(1, #recs)
    assert.equal(runs.same_dir_key(gio.join(lake, "synthetic/gat/focal/seed_42")), recs[1].dir)
    assert.equal("tested", recs[1].status)
  end)
end)
