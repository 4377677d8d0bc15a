-- cli_spec.lua -- `graphids fit|test|pipeline|runs`: --help, usage errors (exit 2), bad
-- configurations (exit 1, message naming the key), a fit + test through the host with the
-- files of the run dir, the pipeline's --dry-run plan, and runs list/show/compare.
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local R = require "cli.support.runs_cli"
local tiny = require "orchestrate.support.tiny"
local specenv = require "specenv"

local sets, cat = tiny.cli_sets, tiny.join

describe("graphids fit|test|pipeline|runs", function()
  local tmp, lake
  setup(function()
    tmp = proc.tmpdir()
    lake = gio.join(tmp, "lake")
  end)
  teardown(function() proc.rmtree(tmp) end)

  it("prints --help and exits 2 on usage errors", function()
    for _, cmd in ipairs({ "fit", "test", "pipeline", "runs" }) do
      local out, err, rc = proc.run({ cmd, "--help" })
      assert.equal(0, rc, err)
      assert.truthy(out:find("usage: graphids " .. cmd), out)
    end
    -- runs --help names every last part that compare ranks lowest first (runs.best_end)
    local help = proc.run({ "runs", "--help" })
    local flat = help:gsub("%s+", " ")
    assert.truthy(flat:find("lowest for a loss, an error, a delay, ece, mse, mae, fpr or false_alarm_runs",
      1, true), help)
    for _, key in ipairs({ "val_loss", "test/error_rate", "test/detection_delay_windows", "test/ece",
      "test/mse", "test/mae", "test/fpr", "test/false_alarm_runs" }) do
      assert.equal("low", require("graphids.orchestrate.runs").best_end(key), key)
    end
    local _, err, rc
    _, err, rc = proc.run({ "fit", "--bogus" })
    assert.equal(2, rc)
    assert.truthy(err:find("unknown option '%-%-bogus'"), err)
    -- a top-level argument given as an option is named as one (not "did you mean '--set'")
    _, err, rc = proc.run({ "fit", "--seed", "5" })
    assert.equal(2, rc)
    assert.truthy(err:find("unknown option '%-%-seed' %('seed' is a top%-level argument of the recipe: " ..
      "%-%-tla seed=VALUE%)"), err)
    -- the command's own option spelled otherwise first; the --tla hint only where --tla is taken
    _, err, rc = proc.run({ "fit", "--data_root", "x" })
    assert.equal(2, rc)
    assert.equal("graphids fit: unknown option '--data_root' (did you mean '--data-root'?)",
      err:match("^[^\n]*"))
    _, err, rc = proc.run({ "runs", "list", "--lake_root", "x" })
    assert.equal(2, rc)
    assert.equal("graphids runs: unknown option '--lake_root' (did you mean '--lake-root'?)",
      err:match("^[^\n]*"))
    -- in the --opt=value form too: the option is named without its value
    for _, c in ipairs({ { { "fit", "--lake_root=/tmp/x" }, "'--lake_root' (did you mean '--lake-root'?)" },
      { { "fit", "--ckpt_path=last" }, "'--ckpt_path' (did you mean '--ckpt-path'?)" },
      { { "fit", "--bogus=1" }, "'--bogus'" } }) do
      _, err, rc = proc.run(c[1])
      assert.equal(2, rc, c[2])
      assert.equal("graphids fit: unknown option " .. c[2], err:match("^[^\n]*"))
    end
    _, err, rc = proc.run({ "runs", "list", "--seed", "1" })
    assert.equal(2, rc)
    assert.equal("graphids runs: unknown option '--seed'", err:match("^[^\n]*"))
    _, err, rc = proc.run({ "fit" })
    assert.equal(2, rc)
    assert.truthy(err:find("%-%-config is required"), err)
    -- an empty recipe path is a usage error that shows the value
    for _, args in ipairs({ { "fit", "--config", "" }, { "test", "--config=" } }) do
      _, err, rc = proc.run(args)
      assert.equal(2, rc, args[1])
      assert.equal("graphids " .. args[1] .. ": --config needs a recipe path, got ''", err:match("^[^\n]*"))
    end
    _, err, rc = proc.run({ "pipeline", "" })
    assert.equal(2, rc)
    assert.equal("graphids pipeline: PIPELINE.lua needs a recipe path, got ''", err:match("^[^\n]*"))
    -- so is an empty path of the other commands, named (not a failed stat of "", nor " is not a run dir")
    for _, c in ipairs({ { { "track", "sync", "" }, "graphids track sync: RUN_DIR is empty" },
      { { "track", "sync", "x", "" }, "graphids track sync: RUN_DIR 2 of 2 is empty" },
      { { "ckpt", "inspect", "" }, "graphids ckpt inspect: FILE is empty (name a checkpoint file)" },
      { { "runs", "show", "" }, "graphids runs show: RUN_DIR or RUN_ID is empty" } }) do
      _, err, rc = proc.run(c[1])
      assert.equal(2, rc, c[2])
      assert.equal(c[2], err:match("^[^\n]*"))
    end
    -- an empty path option is a usage error before anything reads it: not a failed stat of ""
    -- (--ckpt-path=), not a late mkdir (--output-dir=), not the default root (--data-root=)
    local gat = "--config=recipes/stages/gat.lua"
    for _, c in ipairs({ { { "fit", gat, "--ckpt-path=" }, "--ckpt-path is empty" },
      { { "fit", gat, "--ckpt-path", "" }, "--ckpt-path is empty" },
      { { "test", gat, "--ckpt-path=" }, "--ckpt-path is empty" },
      { { "analyze", gat, "--ckpt-path=" }, "--ckpt-path is empty" },
      { { "analyze", gat, "--output-dir=" }, "--output-dir is empty" },
      { { "fit", gat, "--data-root=" }, "--data-root is empty" },
      { { "test", gat, "--data-root=" }, "--data-root is empty" },
      { { "analyze", gat, "--data-root=" }, "--data-root is empty" },
      { { "pipeline", "recipes/pipelines/graphids.lua", "--data-root=" }, "--data-root is empty" },
      { { "pipeline", "recipes/pipelines/graphids.lua", "--lake-root=" }, "--lake-root is empty" },
      { { "fit", gat, "--lake-root=" }, "--lake-root is empty" } }) do
      _, err, rc = proc.run(c[1])
      assert.equal(2, rc, table.concat(c[1], " "))
      assert.equal("graphids " .. c[1][1] .. ": " .. c[2], err:match("^[^\n]*"))
    end
    -- -h or --help anywhere is the help, whatever else is wrong (as argparse)
    for _, args in ipairs({ { "fit", "--help", "--bogus" }, { "fit", "extra", "--help" },
      { "test", "--ckpt-path=", "-h" }, { "pipeline", "a", "b", "--help" },
      { "analyze", "--output-dir", "--help" }, { "runs", "list", "--help", "--bogus" },
      { "data", "build", "--window-size", "2", "--help" }, { "data", "inspect", "--stride=0", "-h" },
      { "data", "simulate", "--frames", "0", "--help" }, { "data", "convert", "--help", "--bogus" } }) do
      local out
      out, err, rc = proc.run(args)
      assert.equal(0, rc, table.concat(args, " ") .. ": " .. err)
      assert.truthy(out:find("^usage: graphids " .. args[1]), out)
    end
    -- --data-root and --lake-root are the TLAs' shorthands, as for pipeline
    _, err, rc = proc.run({ "test", "--config", "recipes/stages/gat.lua", "--data-root", "/a",
      "--tla", "data_root=/b" })
    assert.equal(2, rc)
    assert.truthy(err:find("--data-root /a and --tla data_root=/b disagree; give one", 1, true), err)
    -- the --tla value quoted as typed, and compared as typed: 3 is the option's "3"
    for _, v in ipairs({ "null", '["a"]' }) do
      _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--lake-root", "lake",
        "--tla", "lake_root=" .. v })
      assert.equal(2, rc)
      assert.truthy(err:find("--lake-root lake and --tla lake_root=" .. v .. " disagree; give one", 1, true),
        err)
    end
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--data-root", "3", "--tla",
      "data_root=3", "--set", "trainer.max_epochs=0" })
    assert.equal(1, rc)
    assert.truthy(err:find("'trainer.max_epochs' must be an integer", 1, true), err)
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--set", "novalue" })
    assert.equal(2, rc)
    assert.equal("graphids fit: --set: expected KEY=VALUE, got 'novalue'", err:match("^[^\n]*"))
    -- named by its option: --tla too, in fit and pipeline
    for _, args in ipairs({ { "fit", "--config", "recipes/stages/gat.lua", "--tla", "seed" },
      { "pipeline", "recipes/pipelines/graphids.lua", "--tla", "seed" } }) do
      _, err, rc = proc.run(args)
      assert.equal(2, rc)
      assert.equal("graphids " .. args[1] .. ": --tla: expected KEY=VALUE, got 'seed'", err:match("^[^\n]*"))
    end
    _, _, rc = proc.run({ "pipeline" })
    assert.equal(2, rc)
    _, err, rc = proc.run({ "runs", "frobnicate" })
    assert.equal(2, rc)
    assert.truthy(err:find("unknown subcommand 'frobnicate'"), err)
    -- every command with subcommands hints at the one meant, as runs and data do
    for _, c in ipairs({ { "track", "synk", "sync" }, { "ckpt", "inspcet", "inspect" } }) do
      _, err, rc = proc.run({ c[1], c[2] })
      assert.equal(2, rc)
      assert.equal(("graphids %s: unknown subcommand '%s' (did you mean '%s'?)"):format(c[1], c[2], c[3]),
        err:match("^[^\n]*"))
    end
    -- data takes --opt=value as the other commands do, and a flag given a value is named so
    for _, c in ipairs({ { { "--node-by-id=yes" }, "--node-by-id takes no value" },
      { { "-q", "--stride=0" }, "--stride: '0' must be an integer >= 1" },
      -- with the other commands' hint, and an empty value a usage error (not ./lake, not exit 1)
      { { "--data_root", "x" }, "unknown option '--data_root' (did you mean '--data-root'?)" },
      { { "--lake_root=x" }, "unknown option '--lake_root' (did you mean '--lake-root'?)" },
      { { "--lake-root=" }, "--lake-root is empty" }, { { "--vocab-from=" }, "--vocab-from is empty" },
      { { "--dataset=x" }, "--dataset is given twice; give it once" },
      -- a flag given twice too (-q and --quiet are one); an option where a value goes is not it
      { { "-q", "-q" }, "-q is given twice; give it once" },
      { { "--quiet", "-q" }, "-q and --quiet are one option; give it once" },
      { { "--window-size", "20", "--lake-root", "-q" }, "--lake-root needs a value (the next word '-q' " ..
        "reads as an option; a value starting with '-' is given as --lake-root=VALUE)" } }) do
      _, err, rc = proc.run(cat({ "data", "build", "--dataset=synthetic" }, c[1]))
      assert.equal(2, rc, c[2])
      assert.equal("graphids data build: " .. c[2], err:match("^[^\n]*"))
    end
    _, err, rc = proc.run({ "data", "build", "--dataset=" })
    assert.equal(2, rc)
    assert.equal("graphids data build: --dataset is empty", err:match("^[^\n]*"))
    -- only the listed subcommands: "init" is graphids.cli.data itself, ".build" a module path
    for _, c in ipairs({ { "", "''" }, { "init", "'init'" }, { ".build", "'.build' (did you mean 'build'?)" },
      { "convrt", "'convrt' (did you mean 'convert'?)" } }) do
      _, err, rc = proc.run({ "data", c[1] })
      assert.equal(2, rc, c[1])
      assert.equal("graphids data: unknown subcommand " .. c[2], err:match("^[^\n]*"))
    end
  end)

  it("exits 1 with the key path for a bad configuration or recipe", function()
    local _, err, rc
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--set",
      "trainer.max_epoch=3" })
    assert.equal(1, rc)
    assert.truthy(err:find("unknown key 'trainer.max_epoch' %(did you mean 'trainer.max_epochs'%?%)"), err)
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "seed=1", "--tla",
      "seed=2" })
    assert.equal(2, rc)
    assert.truthy(err:find("--tla seed is given twice (seed=1 and seed=2); give it once", 1, true), err)
    _, err, rc = proc.run({ "test", "--config", "recipes/stages/nope.lua" })
    assert.equal(1, rc)
    assert.truthy(err:find("recipe 'recipes/stages/nope.lua' not found"), err)
    _, err, rc = proc.run({ "fit", "--config", "stages/gat.lua", "--tla", "dataset=hcrl_sa",
      "--tla", "data_root=" .. gio.join(tmp, "none") })
    assert.equal(1, rc)
    assert.truthy(err:find("the dataset folder .* does not exist"), err)
    -- no data root at all (as catalog_spec, only where the environment names none): refused when
    -- the data module is built, after the run dir was made; the folders made for it go again
    if os.getenv("GRAPHIDS_DATA_ROOT") == nil then
      local noroot = gio.join(tmp, "lake_noroot")
      _, err, rc = proc.run({ "fit", "--config", "stages/gat.lua", "--tla", "dataset=hcrl_sa",
        "--lake-root", noroot })
      assert.equal(1, rc)
      assert.truthy(err:find("no data root", 1, true), err)
      assert.is_false(gio.exists(noroot))
    end
    -- an error raised inside the runtime's modules reaches the user without their source position
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. lake,
      "--set", 'model.init_args.pool_aggrs="mean"', "--set", "trainer.progress=off" })
    assert.equal(1, rc)
    assert.equal("graphids fit: invalid configuration: 'model.init_args.pool_aggrs': GATClassifier: " ..
      "hyper-parameter 'pool_aggrs' must be a table, got 'mean' (a string)\n", err)
    -- a value the model refuses names its key too; one the optimizer refuses, the model's args
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. lake,
      "--set", "model.init_args.focal_gamma=-2", "--set", "trainer.progress=off" })
    assert.equal(1, rc)
    assert.equal("graphids fit: invalid configuration: 'model.init_args.focal_gamma': GATClassifier: " ..
      "hyper-parameter 'focal_gamma' must be a finite number >= 0, got -2.0\n", err)
    -- a checkpoint that is not there is named before any data is read or folder made
    local nolake = gio.join(tmp, "lake_nockpt")
    _, err, rc = proc.run({ "test", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. nolake })
    assert.equal(1, rc)
    assert.truthy(err:find("checkpoint '" .. nolake .. "/synthetic/gat/focal/seed_42/checkpoints/" ..
      "best_model.safetensors' does not exist (train the stage first", 1, true), err)
    -- a device the data module makes batches on is checked before anything is read or replaced,
    -- as the trainer's is, and named by its key
    local devlake = gio.join(tmp, "lake_dev")
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. devlake,
      "--set", 'data.init_args.device="cuda:99"' })
    assert.equal(1, rc, err)
    assert.truthy(err:find("data.init_args.device", 1, true), err)
    assert.is_false(gio.exists(devlake))
    -- Lightning's words name the run dir's own files, which are what every check then reads
    for word, file in pairs({ best = "best_model", last = "last" }) do
      for _, verb in ipairs({ "test", "fit" }) do
        _, err, rc = proc.run({ verb, "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. nolake,
          "--ckpt-path", word })
        assert.equal(1, rc, err)
        assert.truthy(err:find("checkpoint '" .. nolake .. "/synthetic/gat/focal/seed_42/checkpoints/" ..
          file .. ".safetensors' does not exist", 1, true), err)
      end
    end
    for _, verb in ipairs({ "test", "fit" }) do
      _, err, rc = proc.run({ verb, "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. nolake,
        "--ckpt-path", gio.join(tmp, "absent.safetensors") })
      assert.equal(1, rc)
      assert.truthy(err:find("absent.safetensors' does not exist", 1, true), err)
    end
    -- a file that is no checkpoint is refused as such, with no note about whose checkpoint it is
    local notckpt = gio.join(tmp, "res.lua")
    proc.spit(notckpt, "return {}\n")
    _, err, rc = proc.run({ "test", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. nolake,
      "--ckpt-path", notckpt })
    assert.equal(1, rc)
    assert.truthy(err:find("^graphids test: checkpoint '" .. notckpt:gsub("%p", "%%%0") .. "': "), err)
    assert.falsy(err:find("is not a checkpoint of", 1, true), err)
    -- without a run dir there is no best checkpoint: freshly initialised weights are not tested
    for _, none in ipairs({ 'trainer.default_root_dir=""', "trainer.default_root_dir=null" }) do
      _, err, rc = proc.run({ "test", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. nolake,
        "--set", none })
      assert.equal(1, rc, none)
      assert.equal("graphids test: nothing to test: the configuration has no run dir " ..
        "(trainer.default_root_dir is empty), so there is no best checkpoint; give --ckpt-path\n", err)
    end
    -- a pipeline or an extract stage is not a stage fit or test can run
    _, err, rc = proc.run({ "fit", "--config", "recipes/pipelines/graphids.lua", "--tla",
      "lake_root=" .. nolake })
    assert.equal(1, rc)
    assert.truthy(err:find("is a pipeline (it has 'stages'), not a stage: run it with graphids pipeline", 1,
      true), err)
    _, err, rc = proc.run({ "test", "--config", "recipes/stages/fusion_states.lua", "--tla",
      "lake_root=" .. nolake })
    assert.equal(1, rc)
    assert.truthy(err:find("is an extract stage (kind = \"extract\"), which trains nothing", 1, true), err)
    -- and the other way round: a stage is no pipeline
    _, err, rc = proc.run({ "pipeline", "recipes/stages/gat.lua", "--dry-run" })
    assert.equal(1, rc)
    assert.equal("graphids pipeline: recipe recipes/stages/gat.lua is a stage, not a pipeline (it has no " ..
      "'stages'): run it with graphids fit --config recipes/stages/gat.lua\n", err)
    _, err, rc = proc.run({ "pipeline", "recipes/stages/fusion_states.lua", "--dry-run" })
    assert.equal(1, rc)
    assert.truthy(err:find("is an extract stage, not a pipeline", 1, true), err)
    -- [] is a list, not the empty table of keys that would turn weight averaging on
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. nolake,
      "--set", "callbacks.ema=[]" })
    assert.equal(1, rc)
    assert.truthy(err:find("'callbacks.ema' must be a table of keys, got a list", 1, true), err)
    -- a value that starts like JSON and does not parse is a usage error, not a string
    _, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. nolake,
      "--set", 'model.init_args.pool_aggrs=["mean",]' })
    assert.equal(2, rc)
    assert.truthy(err:find("bad value for 'model.init_args.pool_aggrs': [\"mean\",] is not valid JSON " ..
      "(line 1, column 9: trailing comma before ']')", 1, true), err)
    assert.is_false(gio.exists(nolake))
  end)

  it("refuses a tracking URI no store can take before the fit starts, and records why", function()
    local own = gio.join(tmp, "lake_uri")
    local args = cat({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. own },
      sets("gat"))
    local words = { "MLFLOW_TRACKING_URI=bogus://x", proc.q(proc.host) }
    for _, a in ipairs(args) do words[#words + 1] = proc.q(a) end
    local p = io.popen(table.concat(words, " ") .. " 2>&1; echo rc=$?")
    local out = p:read("a")
    p:close()
    assert.truthy(out:find("graphids fit: MLFLOW_TRACKING_URI: tracking URI 'bogus://x' is not supported", 1,
      true), out)
    assert.truthy(out:find("rc=1\n$"), out)
    local run_dir = gio.join(own, "synthetic/gat/focal/seed_42")
    assert.is_false(gio.exists(gio.join(run_dir, "checkpoints")))
    assert.truthy(proc.slurp(gio.join(run_dir, "traces.jsonl")):find('"event":"stage_failed"', 1, true))
  end)

  -- (which positions go: spec/core/errors_spec.lua)
  it("strips only the runtime's own source positions, and reports Ctrl-C as status 130", function()
    local A = require "graphids.orchestrate.cliargs"
    local dir = package.searchpath("graphids", package.path):match("^(.*/)init%.lua$")
    local real, said = io.stderr, {}
    io.stderr = { write = function(_, s) said[#said + 1] = s end } -- luacheck: ignore 122
    local interrupted = A.fail("fit", dir .. "trainer/init.lua:363: interrupted!")
    local failed = A.fail("fit", dir .. "trainer/init.lua:363: boom")
    local in_recipe = A.fail("fit", "recipes/stages/mine.lua:3: interrupted!")
    local in_module = A.fail("fit", "model.jk: " .. dir .. "nn/gnn/jumping_knowledge.lua:96: interrupted!")
    io.stderr = real -- luacheck: ignore 122
    assert.same({ 130, 1, 130, 130 }, { interrupted, failed, in_recipe, in_module })
    -- where the signal landed is not news to the user
    assert.same({ "graphids fit: interrupted\n", "graphids fit: boom\n", "graphids fit: interrupted\n",
      "graphids fit: interrupted\n" }, said)
  end)

  it("fits and tests a stage, then lists, shows and compares the run", function()
    local base = { "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. lake }
    local _
    local out, err, rc = proc.run(cat({ "fit" }, base, sets("gat")))
    assert.equal(0, rc, err)
    local run_dir = gio.join(lake, "synthetic/gat/focal/seed_42")
    assert.truthy(out:find("best checkpoint: " .. run_dir .. "/checkpoints/best_model.safetensors", 1,
      true), out)
    assert.is_true(gio.exists(gio.join(run_dir, ".train_complete")))
    out, err, rc = proc.run(cat({ "test", "--config", "recipes/stages/gat.lua", "--lake-root", lake },
      sets("gat"), { "--json" }))
    assert.equal(0, rc, err)
    local m = json.decode(out)
    assert.is_number(m["test/test_01_known_vehicle_known_attack/accuracy"])
    assert.is_true(gio.exists(gio.join(run_dir, ".test_complete")))
    -- a checkpoint that does not fit the configured model: exit 1, the run's files intact
    local before = tiny.snapshot(run_dir, true)
    _, err, rc = proc.run(cat({ "test" }, base, sets("gat", { { "model.init_args.hidden", 12 } }),
      { "--ckpt-path", gio.join(run_dir, "checkpoints/best_model.safetensors") }))
    assert.equal(1, rc)
    assert.truthy(err:find("Re-train or point at a compatible checkpoint", 1, true), err)
    -- another run's checkpoint: its metrics are printed, and the run dir of seed 5, which never
    -- trained, is not made (it would list as tested with seed 42's numbers)
    local best = gio.join(run_dir, "checkpoints/best_model.safetensors")
    out, err, rc = proc.run(cat({ "test", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. lake,
      "--tla", "seed=5", "--json", "--ckpt-path", best }, sets("gat")))
    assert.equal(0, rc, err)
    assert.is_number(json.decode(out)["test/accuracy"])
    local seed5 = gio.join(lake, "synthetic/gat/focal/seed_5")
    assert.truthy(err:find(best .. " is not a checkpoint of " .. seed5 .. ": its metrics are printed, not " ..
      "recorded there", 1, true), err)
    assert.is_false(gio.exists(gio.join(lake, "synthetic/gat/focal/seed_5")))
    -- other data than the fit's (another window size): printed, not recorded as the run's
    local recorded = proc.slurp(gio.join(run_dir, "test_metrics.json"))
    out, err, rc = proc.run(cat({ "test", "--config", "recipes/stages/gat.lua", "--lake-root", lake },
      sets("gat", { { "data.init_args.window_size", 50 }, { "data.init_args.stride", 50 } }), { "--json" }))
    assert.equal(0, rc, err)
    assert.is_number(json.decode(out)["test/accuracy"])
    assert.truthy(err:find(run_dir .. " was trained with other settings (data.init_args.stride, " ..
      "data.init_args.window_size): the metrics are printed, not recorded there", 1, true), err)
    assert.equal(recorded, proc.slurp(gio.join(run_dir, "test_metrics.json")))

    out, err, rc = proc.run({ "runs", "list", "--lake-root", lake })
    assert.equal(0, rc, err)
    assert.truthy(out:find("synthetic%s+gat%s+small%s+focal%s+42%s+tested%s+%d%.%d+"), out)
    out, err, rc = proc.run({ "runs", "show", run_dir })
    assert.equal(0, rc, err)
    assert.truthy(out:find("test/test_03_known_vehicle_unknown_attack/f1_macro", 1, true), out)
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", lake, "--json" })
    assert.equal(0, rc, err)
    local rows = json.decode(out)
    assert.equal(1, #rows)
    assert.equal("focal", rows[1].variant)
    assert.equal(m["test/f1_macro"], rows[1].mean)
    _, err, rc = proc.run({ "runs", "show", tmp })
    assert.equal(1, rc)
    assert.truthy(err:find("is not a run dir"), err)
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", lake, "--metric", "test/nope" })
    assert.equal(0, rc, err)
    assert.truthy(out:find("(no tested run has the metric test/nope)", 1, true), out)
    -- a metric named by its last part gets the key that has it
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", lake, "--metric", "f1_macro" })
    assert.equal(0, rc, err)
    assert.truthy(out:find("%(no tested run has the metric f1_macro; did you mean 'test/f1_macro' or " ..
      "another of the %d+ keys ending /f1_macro%?%)"), out)
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", lake, "--metric", "test/acuracy" })
    assert.equal(0, rc, err)
    assert.truthy(out:find("(no tested run has the metric test/acuracy; did you mean 'test/accuracy'?)", 1,
      true), out)
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", lake, "--metric", "test/ece" })
    assert.equal(0, rc, err)
    assert.truthy(out:find("leaderboard by test/ece, lowest first", 1, true), out)
    _, err, rc = proc.run({ "runs", "compare", "--lake-root", lake, "--best", "max" })
    assert.equal(2, rc)
    assert.truthy(err:find("--best must be high or low, got 'max'", 1, true), err)
    -- a source that is not there is an error, not an empty listing
    local missing = gio.join(tmp, "missing")
    _, err, rc = proc.run({ "runs", "list", "--lake-root", missing })
    assert.equal(1, rc)
    assert.truthy(err:find("the lake root " .. missing .. " does not exist: no run was written there", 1,
      true), err)
    _, err, rc = proc.run({ "runs", "list", "--lake-root", gio.join(run_dir, "resolved.json") })
    assert.equal(1, rc)
    assert.truthy(err:find("the lake root " .. run_dir .. "/resolved.json is not a folder", 1, true), err)
    _, err, rc = proc.run({ "track", "sync", missing })
    assert.equal(1, rc)
    assert.truthy(err:find(missing .. ": not a folder", 1, true), err)
    -- a positional source is refused, not ignored for ./lake
    _, err, rc = proc.run({ "runs", "list", lake })
    assert.equal(2, rc)
    assert.truthy(err:find("unexpected argument '" .. lake .. "' (name the source with --lake-root", 1, true),
      err)
    -- damaged run files: the run is listed as damaged and each file named, not hidden
    local copy = gio.join(lake, "synthetic", "gat", "broken", "seed_42")
    assert(os.execute("mkdir -p " .. specenv.quote(copy) .. " && cp " .. specenv.quote(run_dir) ..
      "/resolved.json " .. specenv.quote(copy) .. "/ && printf '[1,' > " .. specenv.quote(copy) ..
      "/test_metrics.json"))
    out, err, rc = proc.run({ "runs", "list", "--lake-root", lake })
    assert.equal(0, rc, err)
    assert.truthy(out:find("synthetic%s+gat%s+small%s+focal%s+42%s+damaged"), out)
    assert.truthy(err:find("damaged: " .. copy .. "/test_metrics.json", 1, true), err)
    out, err, rc = proc.run({ "runs", "show", copy })
    assert.equal(1, rc)
    assert.truthy(out:find("status    damaged", 1, true), out)
    assert.truthy(err:find(copy .. "/test_metrics.json", 1, true), err)
    assert(gio.write_json(gio.join(copy, "resolved.json"), { 1, 2 }))
    out, err, rc = proc.run({ "runs", "show", copy })
    assert.equal(1, rc)
    assert.truthy(err:find("resolved.json: not a JSON object", 1, true), err)
    -- what the record does not say is "-", as in runs list (the path says the rest)
    assert.truthy(out:find("identity  dataset=synthetic stage=gat variant=broken seed=42 scale=-\n", 1, true),
      out)
    assert.truthy(out:find("\nmodel     -\n", 1, true), out)
    -- a damaged run with readable, tested metrics has no identity: it is not ranked as "nil nil nil"
    assert(os.execute("cp " .. specenv.quote(run_dir) .. "/test_metrics.json " .. specenv.quote(run_dir) ..
      "/.test_complete " .. specenv.quote(copy) .. "/"))
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", lake, "--json" })
    assert.equal(0, rc, err)
    assert.same({ "focal" }, { json.decode(out)[1].variant, json.decode(out)[2] })
    assert(gio.remove_tree(gio.join(lake, "synthetic", "gat", "broken")))
    assert.equal(before, tiny.snapshot(run_dir, true))
    -- how the data is fed is no other data: a test with another eval batch size is recorded
    _, err, rc = proc.run(cat({ "test", "--config", "recipes/stages/gat.lua", "--lake-root", lake },
      sets("gat", { { "data.init_args.eval_batch_size", 7 } }), { "--json" }))
    assert.equal(0, rc, err)
    assert.is_nil(err:find("not recorded", 1, true), err)
    -- a fresh fit over the finished run says that it replaces it, and how to continue it instead
    _, err, rc = proc.run(cat({ "fit" }, base, sets("gat")))
    assert.equal(0, rc, err)
    assert.truthy(err:find("graphids fit: " .. run_dir .. " holds a finished fit; this fresh fit replaces " ..
      "its checkpoints and results once it starts (to continue it instead: --ckpt-path=" ..
      require("graphids.shell").quote(run_dir .. "/checkpoints/last.safetensors") .. ")", 1, true), err)
    -- over a record that does not read too: a fresh fit replaces it (it stopped with a traceback)
    assert(gio.atomic_write(gio.join(run_dir, "resolved.json"), '{"trunc'))
    _, err, rc = proc.run(cat({ "fit" }, base, sets("gat")))
    assert.equal(0, rc, err)
    assert.truthy(err:find("(its record resolved.json does not read)", 1, true), err)
    assert.is_table(gio.read_json(gio.join(run_dir, "resolved.json")))
  end)

  it("runs: a non-finite leaderboard value prints as null or nan, an unexpected error as one line", function()
    local rec = R.rec
    local records = { rec("nan", 1, math.huge), rec("nan", 2, -math.huge), rec("ok", 1, 0.5) }
    local function call(args) return R.call(args, records) end
    local rc, out, err = call({ "compare", "--lake-root", tmp, "--json" })
    assert.equal(0, rc, err)
    local rows = json.decode(out)
    assert.same({ "ok", "nan" }, { rows[1].variant, rows[2].variant })
    assert.same({ json.null, json.null, json.null }, { rows[2].mean, rows[2].std, rows[2].max })
    rc, out = call({ "compare", "--lake-root", tmp })
    assert.equal(0, rc)
    assert.truthy(out:find("2%s+d%s+gat%s+nan%s+2%s+nan%s+nan%s+%-inf%s+inf%s+%-%s+%-\n"), out)
    -- seeds enough for the statistics: each mean's interval, Cohen's d of the best over the other
    records = { rec("a", 1, 0.9), rec("a", 2, 0.92), rec("a", 3, 0.91), rec("b", 1, 0.8), rec("b", 2, 0.82),
      rec("b", 3, 0.81) }
    rc, out = call({ "compare", "--lake-root", tmp })
    assert.equal(0, rc)
    assert.truthy(out:find("95% CI of the mean", 1, true), out)
    assert.truthy(out:find("1%s+d%s+gat%s+a%s+3%s+0%.91000 .- %[0%.9%d+, 0%.9%d+%]%s+%-\n"), out)
    assert.truthy(out:find("2%s+d%s+gat%s+b%s+3%s+0%.81000 .- %[0%.8%d+, 0%.8%d+%]%s+" ..
      "10%.00 %[[%d.]+, [%d.inf]+%]\n"), out)
    rc, out = call({ "compare", "--lake-root", tmp, "--json" })
    assert.equal(0, rc)
    rows = json.decode(out)
    assert.equal(json.null, rows[1].d_vs_best)
    assert.equal(2, #rows[1].ci95)
    assert.near(10, rows[2].d_vs_best.d, 1e-9)
    assert.is_false(rows[2].d_vs_best.tied)
    rc, out, err = R.call({ "list", "--lake-root", tmp, "--json" },
      function() error(tmp .. "/x/resolved.json: something unforeseen", 0) end)
    assert.same({ 1, "", "graphids runs list: " .. tmp .. "/x/resolved.json: something unforeseen\n" },
      { rc, out, err })
  end)

  it("runs: a run file holding a bare infinity is damage naming the file, not the command's end", function()
    local root = gio.join(tmp, "inflake")
    local bad = R.run_dir(root, "d/gat/a/seed_1", "1e400")
    local out, err, rc = proc.run({ "runs", "list", "--lake-root", root })
    assert.equal(0, rc, err)
    assert.truthy(out:find("d%s+gat%s+%-%s+a%s+1%s+damaged"), out)
    assert.truthy(err:find("damaged: " .. bad .. "/resolved.json: not a JSON object (inf)", 1, true), err)
    R.run_dir(root, "d/gat/a/seed_1", '{"identity": {"dataset": "d", "seed": 1, "stage": "gat"}}', "-1e999")
    out, err, rc = proc.run({ "runs", "show", bad })
    assert.equal(1, rc, err)
    assert.truthy(out:find("status    damaged", 1, true), out)
    assert.truthy(err:find(bad .. "/test_metrics.json: not a JSON object (-inf)", 1, true), err)
  end)

  it("runs: an identity field that is null, a list or an object is damage, shown as '-', never ranked",
    function()
    local root = gio.join(tmp, "idlake")
    local function run(rel, identity, tested)
      return R.run_dir(root, rel, identity, tested and '{"test/f1_macro": 0.5}' or nil)
    end
    local bad = run("x/gat/a/seed_1", '{"identity": {"dataset": ["a"], "seed": null, "stage": "gat", ' ..
      '"variant": {"k": 1}, "scale": true}}', true)
    -- a field it lacks is no damage, and is "-" (null in --json) where compare groups by it
    local ok_dir = run("d/gat/b/seed_2", '{"identity": {"dataset": "d", "seed": 2, "stage": "gat"}}', true)
    local out, err, rc = proc.run({ "runs", "list", "--lake-root", root })
    assert.equal(0, rc, err)
    assert.truthy(out:find("\n%-%s+gat%s+%-%s+%-%s+%-%s+damaged"), out)
    assert.is_nil(out:find("json", 1, true), out)
    for _, p in ipairs({ "identity.dataset is a list, not a string", "identity.seed is null, not a number",
      "identity.variant is an object, not a string", "identity.scale is a boolean, not a string" }) do
      assert.truthy(err:find("graphids runs list: damaged: " .. bad .. "/resolved.json: " .. p, 1, true), err)
    end
    out, err, rc = proc.run({ "runs", "show", bad })
    assert.equal(1, rc, err)
    assert.truthy(out:find("identity  dataset=- stage=gat variant=- seed=- scale=-\n", 1, true), out)
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", root })
    assert.equal(0, rc, err)
    -- (one seed: no sample standard deviation, "-")
    assert.truthy(out:find("\n  1%s+d%s+gat%s+%-%s+1%s+0%.50000%s+%-%s+0%.50000"), out)
    assert.is_nil(out:find("  2 ", 1, true), out)
    out, err, rc = proc.run({ "runs", "compare", "--lake-root", root, "--json" })
    assert.equal(0, rc, err)
    assert.same({ { dataset = "d", stage = "gat", variant = json.null, n = 1, mean = 0.5, std = json.null,
      min = 0.5, max = 0.5, seeds = { 2 }, dirs = { ok_dir }, ci95 = json.null, d_vs_best = json.null } },
      json.decode(out))
  end)

  it("prints the pipeline plan with --dry-run and writes nothing", function()
    local dry = gio.join(tmp, "dry")
    local out, err, rc = proc.run({ "pipeline", "recipes/pipelines/graphids.lua", "--lake-root", dry,
      "--dry-run" })
    assert.equal(0, rc, err)
    for _, pat in ipairs({ "vgae%s+run%s+no checkpoint", "gat_kd%s+run%s+no checkpoint%s+after gat",
      "fusion_states%s+run%s+no complete fusion states%s+after gat, vgae",
      "fusion%s+run%s+no checkpoint%s+after fusion_states" }) do
      assert.truthy(out:find(pat), pat .. " in:\n" .. out)
    end
    assert.is_false(gio.exists(dry))
    -- $GRAPHIDS_LAKE_ROOT is the lake root unless --lake-root (or --tla lake_root=) names one, as
    -- for the data, runs and track commands
    local host = require("track.runs_support").host
    local envlake = gio.join(tmp, "env_lake")
    for _, case in ipairs({ { {}, envlake }, { { "--lake-root", dry }, dry },
      { { "--tla", "lake_root=" .. dry }, dry } }) do
      local args = { "pipeline", "recipes/pipelines/graphids.lua", "--dry-run", table.unpack(case[1]) }
      out, err, rc = host({ GRAPHIDS_LAKE_ROOT = envlake }, args)
      assert.equal(0, rc, err)
      assert.truthy(out:find(case[2] .. "/synthetic/vgae/vgae/seed_42", 1, true), out)
    end
    assert.is_false(gio.exists(envlake))
  end)

  it("--dry-run exits 1 naming a dataset without its train folders and a checkpoint it cannot resume",
    function()
    local root, dlake = gio.join(tmp, "dry_data"), gio.join(tmp, "dry_lake")
    assert(gio.mkdir_p(gio.join(root, "hcrl_sa")))
    local out, err, rc = proc.run({ "pipeline", "recipes/pipelines/graphids.lua", "--tla", "dataset=hcrl_sa",
      "--data-root", root, "--lake-root", dlake, "--dry-run" })
    assert.equal(1, rc, out .. err)
    assert.truthy(err:find("stage 'vgae': dataset 'hcrl_sa': train folder " .. gio.join(root, "hcrl_sa",
      "train_01_attack_free") .. " is missing", 1, true), err)
    assert.is_false(gio.exists(dlake))
    -- an interrupted fit whose last checkpoint is damaged: the plan says resume, the check why not
    local last = gio.join(dlake, "synthetic", "gat", "focal", "seed_42", "checkpoints", "last.safetensors")
    assert(gio.mkdir_p(last:match("^(.*)/")))
    assert(gio.write_json(last, { not_a = "checkpoint" }))
    -- (with its best checkpoint there: a last without a best is trained again, not resumed)
    local best = last:gsub("last%.safetensors$", "best_model.safetensors")
    assert(gio.write_json(best, { not_a = "checkpoint" }))
    out, err, rc = proc.run({ "pipeline", "recipes/pipelines/graphids.lua", "--lake-root", dlake,
      "--dry-run" })
    assert.equal(1, rc, out .. err)
    assert.truthy(out:find("gat%s+resume"), out)
    assert.truthy(err:find("stage 'gat': cannot resume: ", 1, true), err)
    assert.truthy(err:find(last, 1, true), err)
    assert.is_nil(err:find("stage 'vgae'", 1, true), err) -- the simulated data is generated at run time
    -- a bad argument value: the loss names run dirs, so the pipeline recipe refuses it before any
    -- stage is planned (a lake root under a file: named per stage, below)
    out, err, rc = proc.run({ "pipeline", "recipes/pipelines/graphids.lua", "--lake-root", dlake,
      "--tla", "loss=bogus", "--dry-run" })
    assert.equal(1, rc, out .. err)
    assert.equal("graphids pipeline: loss must be one of focal, ce, weighted_ce (--tla loss), got 'bogus'\n",
      err)
    local file = gio.join(tmp, "dry_file")
    assert(gio.write_json(file, {}))
    out, err, rc = proc.run({ "pipeline", "recipes/pipelines/graphids.lua", "--lake-root", file,
      "--dry-run" })
    assert.equal(1, rc, out .. err)
    assert.truthy(err:find("stage 'vgae': cannot create the run dir " .. file ..
      "/synthetic/vgae/vgae/seed_42: " .. file .. " is not a folder", 1, true), err)
    -- fit checks the hyper-parameters before it reads data or creates the run dir
    local flake = gio.join(tmp, "fit_bogus")
    out, err, rc = proc.run({ "fit", "--config", "recipes/stages/gat.lua", "--tla", "lake_root=" .. flake,
      "--tla", "conv_type=bogus" })
    assert.equal(1, rc, out)
    assert.truthy(err:find("hyper-parameter 'conv_type' must be one of", 1, true), err)
    assert.is_false(gio.exists(flake))
  end)

  it("refuses --lake-root and --tla lake_root that disagree, rather than drop one", function()
    local a, b = gio.join(tmp, "lake_a"), gio.join(tmp, "lake_b")
    local _, err, rc = proc.run({ "pipeline", "recipes/pipelines/graphids.lua", "--lake-root", a,
      "--tla", "lake_root=" .. b, "--dry-run" })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("--lake-root " .. a .. " and --tla lake_root=" .. b .. " disagree", 1, true), err)
    local out, err2, rc2 = proc.run({ "pipeline", "recipes/pipelines/graphids.lua", "--data-root", a,
      "--tla", "data_root=" .. a, "--lake-root", b, "--dry-run" })
    assert.equal(0, rc2, err2) -- the same value twice is no conflict
    assert.truthy(out:find(b .. "/", 1, true), out)
  end)

  it("refuses a NUL byte in a path value, naming the option, with no Lua traceback", function()
    local nul = 'lake_root="s/nul\\u0000z"'
    for _, args in ipairs({ { "fit", "--config", "recipes/stages/gat.lua", "--tla", nul },
      { "test", "--config", "recipes/stages/gat.lua", "--tla", nul },
      { "pipeline", "recipes/pipelines/graphids.lua", "--tla", nul, "--dry-run" },
      { "fit", "--config", "recipes/stages/gat.lua", "--set", 'trainer.default_root_dir="a\\u0000"' },
    }) do
      local _, err, rc = proc.run(args)
      assert.equal(2, rc, err)
      local opt = args[4] == "--set" and "set trainer.default_root_dir" or "tla lake_root"
      local want = "graphids " .. args[1] .. ": --" .. opt .. ": the value holds a NUL byte"
      assert.truthy(err:find(want, 1, true), err)
      assert.is_nil(err:find("stack traceback", 1, true), err)
    end
    -- from Lua (a recipe or pipeline file, config.resolve), the validation names the key
    local ok, err = pcall(require("graphids.config").resolve, "recipes/stages/gat.lua",
      { tla = { lake_root = "a\0b" } })
    assert.is_false(ok)
    err = tostring(err)
    assert.truthy(err:find("invalid configuration: 'data.init_args.lake_root' holds a NUL byte at 2", 1, true)
      or err:find("invalid configuration: 'trainer.default_root_dir' holds a NUL byte at 2", 1, true), err)
  end)
end)
