-- runs_tracking_spec.lua -- `graphids runs list|show|compare` from a tracking store: a lake whose
-- runs the runtime's own tracking code wrote into its FileStore (spec/track/runs_writer.lua, with
-- one real tiny fit and test) reads
-- back from `--tracking-uri` (or $MLFLOW_TRACKING_URI) as the same tables and --json as from the
-- run dirs; show by run id and by run dir; a path that is not a FileStore, an empty store, an
-- unknown experiment and a server that does not answer are clear errors or empty tables.
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local support = require "track.runs_support"

local run = support.host

describe("graphids runs --tracking-uri (FileStore)", function()
  local tmp, lake, store, parent
  local NO_ENV = { MLFLOW_TRACKING_URI = "" }
  setup(function()
    tmp = proc.tmpdir()
    lake = gio.join(tmp, "lake")
    store = gio.join(lake, "mlruns")
    parent = support.write_runs(lake, store, { real = true })
  end)
  teardown(function() proc.rmtree(tmp) end)

  -- stdout of a successful command
  local function ok(env, args)
    local out, err, rc = run(env, args)
    assert.equal(0, rc, err)
    return out
  end

  it("lists and compares the same runs as the run dirs, as tables and as JSON", function()
    local dirs = ok(NO_ENV, { "runs", "list", "--lake-root", lake, "--json" })
    assert.equal(7, #json.decode(dirs)) -- the parent run of the group is no run of its own
    for _, uri in ipairs({ store, "file:" .. store, "file://" .. store }) do
      assert.equal(dirs, ok(NO_ENV, { "runs", "list", "--tracking-uri", uri, "--json" }))
    end
    local text = ok(NO_ENV, { "runs", "list", "--lake-root", lake })
    local tracked = ok(NO_ENV, { "runs", "list", "--tracking-uri", store })
    assert.equal(support.without_footer(text), support.without_footer(tracked))
    assert.truthy(tracked:find("7 run(s) in file://" .. store, 1, true), tracked)
    for _, pat in ipairs({ "gat%s+small%s+focal%s+0%s+tested%s+0%.9000%s+0%.8750%s+0%.9500",
      "gat%s+small%s+focal%s+2%s+trained", "gat%s+small%s+focal%s+3%s+trained%s+%-%s+%-%s+%-%s*\n",
      "dgi%s+small%s+dgi%s+0%s+incomplete", "vgae%s+small%s+vgae%s+0%s+tested%s+%-%s+0%.7500",
      "gat%s+small%s+ce%s+5%s+tested%s+%d%.%d+%s+%d%.%d+%s+%d%.%d+" }) do
      assert.truthy(tracked:find(pat), pat .. " in:\n" .. tracked)
    end
    for _, extra in ipairs({ {}, { "--metric", "test/auroc" }, { "--metric", "test/precision@0.95recall" },
      { "--dataset", "synthetic", "--stage", "gat" }, { "--expected-max" } }) do
      local a = ok(NO_ENV, { "runs", "compare", "--lake-root", lake, "--json", table.unpack(extra) })
      local b = ok(NO_ENV, { "runs", "compare", "--tracking-uri", store, "--json", table.unpack(extra) })
      assert.equal(a, b)
      assert.is_true(#json.decode(b) >= 1, b)
    end
    local a = ok(NO_ENV, { "runs", "compare", "--lake-root", lake })
    assert.equal(a, ok(NO_ENV, { "runs", "compare", "--tracking-uri", store }))
    -- the expected best of n seeds over the store's test runs: focal's seeds 0 and 1 (0.875, 0.9375)
    local em = ok(NO_ENV, { "runs", "compare", "--tracking-uri", store, "--expected-max" })
    assert.equal(ok(NO_ENV, { "runs", "compare", "--lake-root", lake, "--expected-max" }), em)
    assert.truthy(em:find("\n    focal           0.9062 +- 0.0312  0.9219 +- 0.0271\n", 1, true), em)
    local focal
    for _, g in ipairs(json.decode(ok(NO_ENV, { "runs", "compare", "--tracking-uri", store, "--expected-max",
      "--json" }))) do
      if g.variant == "focal" then focal = g end
    end
    assert.equal(0.875 / 4 + 0.9375 * 3 / 4, focal.expected_max[2].mean) -- 0.9375 unless both draws are 0.875
    -- seed 3 was fitted again after its test: "trained", so its old metrics do not rank (either source)
    assert.truthy(a:find("%d%s+synthetic%s+gat%s+focal%s+2%s+0%.90625"), a) -- (0.875+0.9375)/2
    local gat = json.decode(ok(NO_ENV, { "runs", "list", "--tracking-uri", store, "--stage", "gat",
      "--json" }))
    assert.equal(5, #gat)
  end)

  it("reads $MLFLOW_TRACKING_URI unless --lake-root asks for the run dirs", function()
    local env = { MLFLOW_TRACKING_URI = store }
    assert.truthy(ok(env, { "runs", "list" }):find("7 run(s) in file://" .. store, 1, true))
    assert.truthy(ok(env, { "runs", "list", "--lake-root", lake }):find("7 run(s) under " .. lake, 1, true))
    local vgae = json.decode(ok(env, { "runs", "list", "--experiment", "graphids/synthetic/vgae", "--json" }))
    assert.equal(1, #vgae)
    assert.equal("vgae", vgae[1].identity.stage)
  end)

  it("shows a run by its fit or test run id and by its run dir", function()
    local dir = gio.join(lake, "synthetic/gat/focal/seed_0")
    local from_dir = json.decode(ok(NO_ENV, { "runs", "show", dir, "--json" }))
    local rec = json.decode(ok(NO_ENV, { "runs", "show", dir, "--tracking-uri", store, "--json" }))
    assert.matches("^%x+$", rec.run_id)
    assert.matches("^%x+$", rec.test_run_id)
    assert.equal(parent, rec.parent_run_id)
    assert.same({ "FINISHED", "graphids/synthetic/gat", "file://" .. store },
      { rec.tracking_status, rec.experiment, rec.uri })
    for _, k in ipairs({ "dir", "status", "identity", "metrics", "config" }) do
      assert.same(from_dir[k], rec[k], k)
    end
    assert.equal(json.null, rec.metrics["test/ece"]) -- NaN, as test_metrics.json holds it
    for _, id in ipairs({ rec.run_id, rec.test_run_id }) do
      assert.same(rec, json.decode(ok(NO_ENV, { "runs", "show", id, "--tracking-uri", store, "--json" })))
    end
    local text = ok({ MLFLOW_TRACKING_URI = store }, { "runs", "show", rec.test_run_id })
    for _, line in ipairs({ "run       " .. dir, "fit run   " .. rec.run_id .. " (FINISHED)",
      "test run  " .. rec.test_run_id, "parent    " .. parent, "status    tested",
      "model     graphids.models.GATClassifier" }) do
      assert.truthy(text:find(line, 1, true), line .. " in:\n" .. text)
    end
    -- the run dir spelled otherwise than the fit spelled it (the tag) finds the same runs
    local up = ("../"):rep(select(2, (os.getenv("PWD") or "."):gsub("/[^/]+", "")))
    for _, spelled in ipairs({ dir:gsub("/synthetic/", "//synthetic/./"), up .. dir:sub(2) .. "/" }) do
      local out, err, rc = run(NO_ENV, { "runs", "show", spelled, "--tracking-uri", store, "--json" })
      assert.same({ 0, "" }, { rc, err }, spelled)
      assert.same(rec, json.decode(out), spelled)
    end
    -- a run dir the store has no run for: said on stderr, then the run dir's own record
    local elsewhere = gio.join(tmp, "elsewhere")
    os.execute("cp -r " .. dir .. " " .. elsewhere)
    local alone, note, code = run(NO_ENV, { "runs", "show", elsewhere, "--tracking-uri", store, "--json" })
    assert.equal(0, code)
    local want = "graphids runs show: file://%s has no run logged for %s; showing the run dir\n"
    assert.equal(string.format(want, store, elsewhere), note)
    assert.equal(elsewhere, json.decode(alone).dir)
    local disk = ok(NO_ENV, { "runs", "show", dir })
    assert.equal(disk:match("\nmetrics\n.*$"), text:match("\nmetrics\n.*$"))
    local trained = json.decode(ok(NO_ENV, { "runs", "show", gio.join(lake, "synthetic/gat/focal/seed_2"),
      "--tracking-uri", store, "--json" }))
    assert.same({ "trained", json.null }, { trained.status, trained.test_run_id })
    -- seed 3, fitted again after its test: its old metrics are shown as such, from either source
    local refit = gio.join(lake, "synthetic/gat/focal/seed_3")
    local function args(list, extra)
      local out = { table.unpack(list) }
      table.move(extra, 1, #extra, #out + 1, out)
      return out
    end
    for _, src in ipairs({ { show = {}, list = { "--lake-root", lake } },
      { show = { "--tracking-uri", store }, list = { "--tracking-uri", store } } }) do
      local r = json.decode(ok(NO_ENV, args({ "runs", "show", refit, "--json" }, src.show)))
      assert.same({ "trained", true, 0.5 }, { r.status, r.stale_metrics, r.metrics["test/accuracy"] })
      local shown = ok(NO_ENV, args({ "runs", "show", refit }, src.show))
      local heading = "\nmetrics   of a test before the last fit (graphids test again for this fit's)\n"
      assert.truthy(shown:find(heading, 1, true), shown)
      local stale = {}
      local listed = json.decode(ok(NO_ENV, args({ "runs", "list", "--json", "--stage", "gat" }, src.list)))
      for _, l in ipairs(listed) do
        stale[l.identity.seed] = l.stale_metrics
      end
      assert.same({ [0] = false, [1] = false, [2] = false, [3] = true, [5] = false }, stale)
    end
    assert.is_false(json.decode(ok(NO_ENV, { "runs", "show", dir, "--json" })).stale_metrics)
  end)

  it("shows a real fit and test with the same metrics as its test_metrics.json", function()
    local dir = gio.join(lake, "synthetic/gat/ce/seed_5")
    local from_dir = json.decode(ok(NO_ENV, { "runs", "show", dir, "--json" }))
    local rec = json.decode(ok(NO_ENV, { "runs", "show", dir, "--tracking-uri", store, "--json" }))
    for _, k in ipairs({ "dir", "status", "identity", "metrics", "config" }) do
      assert.same(from_dir[k], rec[k], k)
    end
    assert.is_number(rec.metrics["test/test_01_known_vehicle_known_attack/precision@0.95recall"])
    local text = ok(NO_ENV, { "runs", "show", rec.run_id, "--tracking-uri", store })
    local best = gio.join(dir, "checkpoints/best_model.safetensors")
    local sha = require("graphids.core").sha256_file(best)
    assert.truthy(text:find("best ckpt " .. best .. " (sha256 " .. sha .. ")", 1, true), text)
  end)

  it("refuses run ids it does not know and the parent run of a group", function()
    local _, err, rc = run(NO_ENV, { "runs", "show", parent, "--tracking-uri", store })
    assert.equal(1, rc)
    assert.truthy(err:find("is the parent run of a multi-seed group, not a fit or test run", 1, true), err)
    _, err, rc = run(NO_ENV, { "runs", "show", string.rep("ab", 16), "--tracking-uri", store })
    assert.equal(1, rc)
    local want = "file://" .. store .. " has no run with the id or run dir '" .. string.rep("ab", 16)
    assert.truthy(err:find(want, 1, true), err)
  end)

  it("names a path that is not a FileStore, and prints an empty table for a store without runs", function()
    local _, err, rc = run(NO_ENV, { "runs", "list", "--tracking-uri", lake })
    assert.equal(1, rc)
    assert.truthy(err:find(lake .. " is not an MLflow FileStore", 1, true), err)
    assert.truthy(err:find("did you mean " .. store .. "?", 1, true), err)
    _, err, rc = run(NO_ENV, { "runs", "compare", "--tracking-uri", gio.join(tmp, "nowhere") })
    assert.equal(1, rc)
    assert.truthy(err:find("FileStore " .. gio.join(tmp, "nowhere") .. " does not exist", 1, true), err)
    _, err, rc = run(NO_ENV, { "runs", "list", "--tracking-uri", "sqlite:///x.db" })
    assert.equal(1, rc)
    assert.truthy(err:find("tracking URI 'sqlite:///x.db' is not supported", 1, true), err)
    _, err, rc = run(NO_ENV, { "runs", "list", "--tracking-uri", store, "--experiment", "nope" })
    assert.equal(1, rc)
    assert.truthy(err:find("has no active experiment named 'nope'", 1, true), err)

    local empty = gio.join(tmp, "empty")
    assert(require("graphids.track.filestore").new(empty):init_root())
    assert.equal("[]\n", ok(NO_ENV, { "runs", "list", "--tracking-uri", empty, "--json" }))
    local text = ok(NO_ENV, { "runs", "list", "--tracking-uri", empty })
    assert.truthy(text:find("\n0 run(s) in file://", 1, true), text)
    text = ok(NO_ENV, { "runs", "compare", "--tracking-uri", empty })
    assert.truthy(text:find("(no tested runs)", 1, true), text)
    assert.equal("[]\n", ok(NO_ENV, { "runs", "list", "--tracking-uri", store, "--experiment", "Default",
      "--json" }))
  end)

  it("fails fast with the URI when no server answers", function()
    local t0 = os.time()
    local _, err, rc = run(NO_ENV, { "runs", "list", "--tracking-uri", "http://127.0.0.1:9" })
    assert.equal(1, rc)
    assert.truthy(err:find("graphids runs list: tracking server http://127.0.0.1:9: ", 1, true), err)
    assert.truthy(err:find("(after 2 retries)", 1, true), err)
    assert.is_true(os.time() - t0 < 10)
  end)

  it("prints a non-finite metric of a run dir as null (as the store's), in --json and in tables", function()
    local own = gio.join(tmp, "inf_lake")
    for seed, v in pairs({ [1] = "1e999", [2] = "-1e999" }) do
      local dir = gio.join(own, "synthetic/gat/inf/seed_" .. seed)
      assert(gio.mkdir_p(dir))
      assert(gio.write_json(gio.join(dir, "resolved.json"), { identity = { dataset = "synthetic",
        stage = "gat", variant = "inf", seed = seed } }))
      assert(io.open(gio.join(dir, ".test_complete"), "w")):close()
      local f = assert(io.open(gio.join(dir, "test_metrics.json"), "w"))
      f:write('{"test/f1_macro": ' .. v .. ', "test/accuracy": 0.5}')
      f:close()
    end
    local listed = json.decode(ok(NO_ENV, { "runs", "list", "--lake-root", own, "--json" }))
    assert.same({ json.null, json.null },
      { listed[1].metrics["test/f1_macro"], listed[2].metrics["test/f1_macro"] })
    local seed1 = gio.join(own, "synthetic/gat/inf/seed_1")
    local shown = json.decode(ok(NO_ENV, { "runs", "show", seed1, "--json" }))
    assert.same({ ["test/f1_macro"] = json.null, ["test/accuracy"] = 0.5 }, shown.metrics)
    assert.equal("[]\n", ok(NO_ENV, { "runs", "compare", "--lake-root", own, "--json" }))
    local text = ok(NO_ENV, { "runs", "compare", "--lake-root", own })
    -- (the default metric is there, null: named as such, not as missing)
    assert.truthy(text:find("(test/f1_macro is null, not a finite number, in every tested run that has " ..
      "it (2): nothing to rank)", 1, true), text)
  end)

  it("exits 2 on two sources or an experiment without a tracking URI", function()
    local _, err, rc = run(NO_ENV, { "runs", "list", "--lake-root", lake, "--tracking-uri", store })
    assert.equal(2, rc)
    assert.truthy(err:find("give one", 1, true), err)
    _, err, rc = run(NO_ENV, { "runs", "list", "--experiment", "x" })
    assert.equal(2, rc)
    assert.truthy(err:find("--experiment needs a tracking URI", 1, true), err)
    local out = ok(NO_ENV, { "runs", "--help" })
    assert.truthy(out:find("--tracking-uri URI", 1, true), out)
    -- an empty value, or an option the subcommand does not use, is refused rather than ignored
    for _, c in ipairs({
      { { "runs", "compare", "--lake-root", lake, "--metric", "" }, "graphids runs: --metric is empty" },
      { { "runs", "show", lake, "--lake-root", lake }, "graphids runs show: --lake-root does not apply" },
      { { "runs", "show", lake, "--metric", "test/f1" }, "graphids runs show: --metric does not apply" },
      { { "runs", "show", lake, "--dataset", "x" }, "graphids runs show: --dataset does not apply" },
      { { "runs", "list", "--metric", "test/f1" }, "graphids runs list: --metric does not apply" },
      { { "runs", "lst" }, "graphids runs: unknown subcommand 'lst' (did you mean 'list'?)" },
      -- swapped letters count one edit, and case none (as the host's own commands)
      { { "runs", "LSIT" }, "graphids runs: unknown subcommand 'LSIT' (did you mean 'list'?)" },
      { { "runs", "list", "--jsn" }, "graphids runs: unknown option '--jsn' (did you mean '--json'?)" },
    }) do
      _, err, rc = run(NO_ENV, c[1])
      assert.equal(2, rc, table.concat(c[1], " "))
      assert.equal(c[2], err:match("^[^\n]*"):sub(1, #c[2]))
    end
  end)
end)
