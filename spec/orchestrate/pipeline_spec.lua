-- pipeline_spec.lua -- pipelines as data: upstream checkpoints passed downstream, the plan and
-- its reasons, skip / evaluate / resume / run decisions from what is on disk, a failed stage
-- blocking only its dependants, and bad pipelines refused at load.
local gio = require "graphids.io"
local pipeline = require "graphids.orchestrate.pipeline"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"

-- A pipeline file: gat -> gat_kd (teacher), a stage that fails at build (wrong num_ids), its
-- dependant (blocked), all on the tiny dataset.
local function write_pipeline(dir, teacher_extra, name)
  local p = gio.join(dir, name or "pipe.lua")
  proc.spit(p, tiny.pipeline("spec", {
    { name = "teacher", recipe = "stages/gat.lua", set = tiny.set("gat", teacher_extra) },
    { name = "student", recipe = "stages/gat_kd.lua", inputs = { teacher_ckpt = "teacher" },
      set = tiny.set("gat") },
    { name = "broken", recipe = "stages/gat.lua", tla = { loss = "ce" },
      set = tiny.set("gat", { { "model.init_args.num_ids", 3 } }) },
    { name = "after_broken", recipe = "stages/gat_kd.lua", tla = { loss = "ce" },
      inputs = { teacher_ckpt = "broken" }, set = tiny.set("gat") },
  }))
  return p
end

describe("graphids.orchestrate.pipeline", function()
  local tmp, lake, path
  setup(function()
    tmp = proc.tmpdir()
    lake = gio.join(tmp, "lake")
    path = write_pipeline(tmp)
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function quiet_run(p)
    local lines = {}
    local res = pipeline.run(p, { log = function(s) lines[#lines + 1] = s end })
    local by = {}
    for _, r in ipairs(res) do by[r.name] = r end
    return by, table.concat(lines, "\n")
  end

  it("plans, runs, passes checkpoints downstream and blocks only the failed stage's dependants", function()
    local p = pipeline.load(path, { lake_root = lake })
    local student = p.stages[2]
    assert.equal(p.stages[1].resolved.ckpt_file, student.resolved.validated.model.distillation.teacher_ckpt)
    assert.same({ "teacher" }, { student.deps[1] })
    for _, row in ipairs(pipeline.plan(p)) do
      assert.equal("run", row.action)
      assert.equal("no checkpoint", row.reason)
    end
    local buf = {}
    pipeline.print_plan(p, { write = function(_, ...) for _,
      s in ipairs({ ... }) do buf[#buf + 1] = s end end })
    assert.truthy(table.concat(buf):find("student%s+run%s+no checkpoint%s+after teacher"))

    local by, log = quiet_run(p)
    assert.equal("ok", by.teacher.status)
    assert.equal("ok", by.student.status)
    assert.is_number(by.student.metrics["test/accuracy"])
    assert.equal("failed", by.broken.status)
    assert.truthy(by.broken.error:find("num_ids is 3 but the dataset's vocabulary has", 1, true),
      by.broken.error)
    assert.equal("blocked", by.after_broken.status)
    assert.truthy(log:find("after_broken: blocked %(upstream stage 'broken' did not complete%)"), log)
    assert.is_true(gio.exists(gio.join(by.student.run_dir, ".test_complete")))
    local out = {}
    pipeline.print_results({ by.teacher, by.student, by.broken, by.after_broken },
      { write = function(_, ...) for _, s in ipairs({ ... }) do out[#out + 1] = s end end })
    local table_text = table.concat(out)
    assert.truthy(table_text:find("teacher%s+ok%s+%d%.%d%d%d%d%s+%d%.%d%d%d%d"), table_text)
    assert.truthy(table_text:find("test_03_known_vehicle_unknown_attack"), table_text)
    assert.truthy(table_text:find("broken%s+failed"), table_text)
  end)

  it("lists every test set of the results, also one with only threshold-free metrics", function()
    -- an anomaly detector tested without a validation threshold has auroc but no accuracy
    local out = {}
    pipeline.print_results({ { name = "vgae", status = "ok", seconds = 1, metrics = {
      ["test/auroc"] = 0.75, ["test/set_01/auroc"] = 0.5, ["test/set_01/ap"] = 0.25,
      ["test/set_02/auroc"] = 1 } } },
      { write = function(_, ...) for _, s in ipairs({ ... }) do out[#out + 1] = s end end })
    local text = table.concat(out)
    assert.truthy(text:find("vgae%s+ok%s+%-%s+%-%s+0%.7500"), text)
    assert.truthy(text:find("vgae%s+set_01%s+%-%s+%-%s+0%.5000\n"), text)
    assert.truthy(text:find("vgae%s+set_02%s+%-%s+%-%s+1%.0000\n"), text)
    local _, rows = text:gsub("set_01", "")
    assert.equal(1, rows)
  end)

  it("widens the stage column of the results to the longest stage name", function()
    local out = {}
    local long = string.rep("x", 120) -- past string.format's widest field (99)
    pipeline.print_results({ { name = "vgae", status = "ok", seconds = 1 },
      { name = long, status = "skipped" } },
      { write = function(_, ...) for _, s in ipairs({ ... }) do out[#out + 1] = s end end })
    local text = table.concat(out)
    local a = text:match("\n(  vgae +)ok ")
    local b = text:match("\n(  " .. long .. " +)skipped ")
    assert.truthy(a and b, text)
    assert.equal(#a, #b)
    local h = text:match("\n(  stage +)status ")
    assert.equal(#a, #h)
    -- a name that is not ASCII takes one column a character, not a byte
    out = {}
    pipeline.print_results({ { name = "vgae", status = "ok", seconds = 1 },
      { name = "étape_ü", status = "skipped" } },
      { write = function(_, ...) for _, x in ipairs({ ... }) do out[#out + 1] = x end end })
    text = table.concat(out)
    a, b = text:match("\n(  vgae +)ok "), text:match("\n(  étape_ü +)skipped ")
    assert.truthy(a and b, text)
    assert.equal(utf8.len(a), utf8.len(b))
  end)

  it("skips completed stages, evaluates trained ones and resumes interrupted fits", function()
    local p = pipeline.load(path, { lake_root = lake })
    local actions = {}
    for _, row in ipairs(pipeline.plan(p)) do actions[row.name] = row.action end
    assert.same({ teacher = "skip", student = "skip", broken = "run", after_broken = "run" }, actions)
    local teacher_dir, student_dir = p.stages[1].run_dir, p.stages[2].run_dir
    local best = gio.join(teacher_dir, "checkpoints/best_model.safetensors")
    local best_bytes = proc.slurp(best)
    -- a run trained under another configuration is still reused, and the reason names the keys;
    -- how a run is shown or where its files are does not count
    local function load_with(extra)
      return pipeline.load(write_pipeline(tmp, extra, "changed.lua"), { lake_root = lake }).stages[1]
    end
    local action, why = pipeline.decide(load_with({ { "trainer.progress", "bar" },
      { "trainer.log_every_n_steps", 7 } }))
    assert.same({ "skip", ".test_complete and best checkpoint exist" }, { action, why })
    action, why = pipeline.decide(load_with({ { "model.init_args.lr", 0.5 } }))
    assert.equal("skip", action)
    assert.equal(".test_complete and best checkpoint exist; it was trained with another configuration " ..
      "(model.init_args.lr): delete " .. teacher_dir .. " to run it again", why)

    -- trained but not tested: evaluate only (the checkpoint is not rewritten)
    os.remove(gio.join(teacher_dir, ".test_complete"))
    assert.same({ "evaluate", "trained (.train_complete) but not tested" }, { pipeline.decide(p.stages[1]) })
    -- an interrupted fit: resume from last
    os.remove(gio.join(student_dir, ".test_complete"))
    os.remove(gio.join(student_dir, ".train_complete"))
    assert.same({ "resume", "checkpoints/last exists without .train_complete" },
      { pipeline.decide(p.stages[2]) })

    local by = quiet_run(p)
    assert.equal("evaluate", by.teacher.action)
    assert.equal("ok", by.teacher.status)
    assert.equal(best_bytes, proc.slurp(best))
    assert.equal("resume", by.student.action)
    assert.equal("ok", by.student.status)
    assert.is_true(gio.exists(gio.join(student_dir, ".train_complete")))
    local traces = proc.slurp(gio.join(student_dir, "traces.jsonl"))
    assert.truthy(traces:find('"resume_from":"' .. gio.join(student_dir, "checkpoints/last.safetensors"), 1,
      true))
    -- a finished stage whose best checkpoint vanished is run again, even with its last one there
    -- (a resume from the final epoch would end at once without a best checkpoint)
    local p2 = pipeline.load(path, { lake_root = lake })
    os.remove(gio.join(teacher_dir, "checkpoints/best_model.safetensors"))
    assert.same({ "run", "its best checkpoint is missing (.train_complete without it): trains again" },
      { pipeline.decide(p2.stages[1]) })
    os.remove(gio.join(teacher_dir, "checkpoints/last.safetensors"))
    assert.equal("run", (pipeline.decide(p2.stages[1])))
  end)

  it("trains a stage again when an input changed since it was trained, not when it came back the same",
    function()
    -- (the previous test left the teacher without checkpoints and the student trained on it)
    local p = pipeline.load(path, { lake_root = lake })
    local teacher, student = p.stages[1], p.stages[2]
    local rec = gio.read_json(gio.join(student.run_dir, "inputs.json"))
    assert.matches("^%x+$", rec.teacher_ckpt)
    assert.same({ "run", "its input teacher_ckpt (stage 'teacher') changed since it was trained: trains " ..
      "again" }, { pipeline.decide(student) })
    local rows = {}
    for _, row in ipairs(pipeline.plan(p)) do rows[row.name] = row end
    assert.equal("run", rows.teacher.action)
    assert.equal("run", rows.student.action)
    -- the teacher trains first and, deterministic, gives back the very checkpoint the student
    -- was trained on: the student is kept
    local by = quiet_run(p)
    assert.equal("ok", by.teacher.status)
    assert.equal(rec.teacher_ckpt, proc.slurp(gio.join(teacher.run_dir,
      "checkpoints/best_model.safetensors.sha256")):match("^%x+"))
    assert.equal("skip", by.student.action)
    -- a teacher trained otherwise (another learning rate, in another lake) put in its place:
    -- the student trains again and records its new input
    local other = pipeline.load(write_pipeline(tmp, { { "model.init_args.lr", 0.05 } }, "other.lua"),
      { lake_root = gio.join(tmp, "lake2") })
    quiet_run(other)
    for _, f in ipairs({ "best_model.safetensors", "best_model.safetensors.sha256" }) do
      proc.spit(gio.join(teacher.run_dir, "checkpoints", f),
        proc.slurp(gio.join(other.stages[1].run_dir, "checkpoints", f)))
    end
    assert.equal("run", (pipeline.decide(student)))
    by = quiet_run(p)
    assert.equal("skip", by.teacher.action)
    assert.equal("run", by.student.action)
    assert.equal("ok", by.student.status)
    assert.equal("skip", (pipeline.decide(student)))
  end)

  it("refuses bad pipelines at load, naming the stage", function()
    local function load_err(text)
      local p = gio.join(tmp, "bad.lua")
      proc.spit(p, text)
      local ok, err = pcall(pipeline.load, p)
      assert.is_false(ok)
      return tostring(err)
    end
    local err = load_err("return {stages = {{name = 'a', recipe = 'stages/gat.lua', " ..
      "inputs = {teacher_ckpt = 'b'}}}}")
    assert.truthy(err:find("stage 'a' depends on unknown stage 'b'"), err)
    for _, dep in ipairs({ "needs = {'a'}", "inputs = {teacher_ckpt = 'a'}" }) do
      err = load_err("return {stages = {{name = 'a', recipe = 'stages/gat.lua', " .. dep .. "}}}")
      assert.truthy(err:find("stage 'a' depends on itself (its inputs or needs name it)", 1, true), err)
    end
    err = load_err("return {stages = {{name = 'a', recipe = 'stages/gat.lua'}, " ..
      "{name = 'a', recipe = 'stages/gat.lua'}}}")
    assert.truthy(err:find("two stages are named 'a'"), err)
    err = load_err("return {stages = {{name = 'a', recipe = 'stages/gat.lua', recipes = 1}}}")
    assert.truthy(err:find("stage 'a' has an unknown key 'recipes'"), err)
    -- a JSON file is no pipeline, nor a stage's recipe: each named for what it is given as
    local rj = gio.join(tmp, "jsonrun", "resolved.json")
    assert(gio.mkdir_p(gio.join(tmp, "jsonrun")))
    proc.spit(rj, "{}")
    local ok, perr = pcall(pipeline.load, rj)
    assert.is_false(ok)
    assert.equal("recipe " .. rj .. " is JSON; graphids pipeline takes a Lua pipeline " ..
      "(recipes/pipelines/graphids.lua)", tostring(perr))
    err = load_err("return {stages = {{name = 'a', recipe = '" .. rj .. "'}}}")
    assert.truthy(err:find("stage 'a': recipe " .. rj .. " is JSON; a pipeline stage's recipe is a Lua " ..
      "recipe (recipes/stages/<stage>.lua)", 1, true), err)
    err = load_err("return {stages = {{name = 'a', recipe = 'stages/nope.lua'}}}")
    assert.truthy(err:find("stage 'a': recipe 'stages/nope.lua' not found"), err)
    err = load_err("return {stages = {{name = 'a', recipe = 'stages/gat.lua', " ..
      "set = {{'trainer.max_epoch', 1}}}}}")
    assert.truthy(err:find("stage 'a': invalid configuration: unknown key 'trainer.max_epoch'"), err)
  end)

  it("refuses stage members of the wrong shape and a set on an extract stage, rather than drop them",
    function()
    local function load_err(stages)
      local p = gio.join(tmp, "shape.lua")
      proc.spit(p, "return {stages = {{name = 'gat', recipe = 'stages/gat.lua'}, " .. stages .. "}}")
      local ok, err = pcall(pipeline.load, p)
      assert.is_false(ok, "expected an error for " .. stages)
      return tostring(err)
    end
    local cases = {
      -- a single name is not a list: the ordering it asked for would be lost
      { "{name = 'v', recipe = 'stages/vgae.lua', needs = 'gat'}",
        "stage 'v': 'needs' must be a list of stage names ({\"gat\"}), got 'gat' (a string)" },
      { "{name = 'v', recipe = 'stages/vgae.lua', needs = {'gat', 3}}",
        "stage 'v': 'needs' must be a list of stage names ({\"gat\"}), got a table [\"gat\",3]" },
      { "{name = 'kd', recipe = 'stages/gat_kd.lua', inputs = {'gat'}}",
        "stage 'kd': 'inputs' must be a table of TLA name = upstream stage, got a table [\"gat\"]" },
      -- named as the stage's member, without a position inside the runtime
      { "{name = 'v', recipe = ''}", "stage 'v': 'recipe' must be a recipe path (stages/gat.lua), got ''" },
      { "{name = 'v', recipe = 5}", "stages[2]: 'recipe' must be a string, got 5" },
      { "{recipe = 'stages/vgae.lua'}", "stages[2]: 'name' must be a string, got nil" },
      { "'stages/vgae.lua'",
        "stages[2] must be a table {name =, recipe =, ...}, got 'stages/vgae.lua' (a string)" },
      { "{name = 'v', recipe = 'stages/vgae.lua', tla = 'seed=1'}",
        "stage 'v': 'tla' must be a table of top-level arguments, got 'seed=1' (a string)" },
      { "{name = 'v', recipe = 'stages/vgae.lua', set = 'trainer.max_epochs=1'}",
        "stage 'v': 'set' must be a list of {key, value} or a map, got 'trainer.max_epochs=1' (a string)" },
      -- a map entry beside the list would be dropped unseen
      { "{name = 'v', recipe = 'stages/vgae.lua', set = {['trainer.max_epochs'] = 1, " ..
        "{'trainer.max_epochs', 2}}}", "stage 'v': config: set must be a list of {key, value} pairs or a " ..
        "map of keys, not both (found the key trainer.max_epochs beside the list)" },
      -- an extract stage has no configuration for a set to reach: its options are TLAs
      { "{name = 'v', recipe = 'stages/vgae.lua'}, {name = 'fs', recipe = 'stages/fusion_states.lua', " ..
        "inputs = {vgae_ckpt = 'v', gat_ckpt = 'gat'}, set = {batch_size = 7}}",
        "stage 'fs': 'set' applies to training stages; an extract stage takes its options as TLAs" },
    }
    for _, c in ipairs(cases) do
      local err = load_err(c[1])
      assert.truthy(err:find(c[2], 1, true), "expected '" .. c[2] .. "' in: " .. err)
    end
  end)
  it("refuses a stage another process runs, and a rewrite of an output a stage reads", function()
    local l = gio.join(tmp, "lake_locks")
    local p = pipeline.load(path, { lake_root = l })
    local teacher, student = p.stages[1], p.stages[2]
    -- another pipeline holds the teacher's run dir: the teacher fails naming it, the student
    -- (its dependant) is blocked, the independent stages still run
    assert(gio.mkdir_p(teacher.run_dir))
    local lk = assert(gio.lock(gio.join(teacher.run_dir, ".stage.lock"), { exclusive = true }))
    local by = quiet_run(p)
    lk:unlock()
    assert.equal("failed", by.teacher.status)
    assert.truthy(by.teacher.error:find("stage 'teacher': its run dir " .. teacher.run_dir ..
      " is in use by another process (a fit, test or pipeline of this stage)", 1, true), by.teacher.error)
    assert.equal("blocked", by.student.status)
    assert.is_false(gio.exists(gio.join(teacher.run_dir, ".train_complete")))
    -- a process rewriting the teacher's output (an exclusive holder) while the student would
    -- read it fails the student, not the teacher
    by = quiet_run(p)
    assert.equal("ok", by.teacher.status)
    assert(gio.remove_tree(student.run_dir))
    lk = assert(gio.lock(gio.join(teacher.run_dir, ".stage.lock"), { exclusive = true }))
    by = quiet_run(p)
    lk:unlock()
    assert.equal("skipped", by.teacher.status)
    assert.equal("failed", by.student.status)
    assert.truthy(by.student.error:find("its input teacher_ckpt's run dir " .. teacher.run_dir ..
      " is in use by another process", 1, true), by.student.error)
    -- the locks are the job's only: afterwards the student runs
    by = quiet_run(p)
    assert.equal("ok", by.student.status)
  end)

  it("stops at a Ctrl-C: the stages after the interrupted one are not started", function()
    local p = pipeline.load(path, { lake_root = gio.join(tmp, "lake_interrupt") })
    local started = {}
    local ex = { name = "test" }
    function ex.run(_, job)
      started[#started + 1] = job.name
      return false, "stdlib/graphids/trainer/init.lua:12: interrupted!" -- the host's Ctrl-C
    end
    local res = pipeline.run(p, { executor = ex, log = function() end })
    assert.same({ p.stages[1].name }, started)
    assert.is_true(res.interrupted)
    assert.equal(#p.stages, #res)
    for _, r in ipairs(res) do assert.equal("interrupted", r.status, r.name) end
    assert.equal("not started: the pipeline was interrupted", res[2].error)
    -- where the signal landed (a runtime module's line) is not shown
    assert.equal("interrupted (Ctrl-C)", res[1].error)
    local text = {}
    pipeline.print_results(res, { write = function(_, ...) for _, x in ipairs({ ... }) do
      text[#text + 1] = x end end })
    text = table.concat(text)
    assert.truthy(text:find("interrupted: interrupted (Ctrl-C)", 1, true), text)
    assert.is_nil(text:find("init.lua", 1, true), text)
  end)

  it("fails a stage whose checkpoint is damaged instead of skipping it, as the plan's check does", function()
    local l = gio.join(tmp, "lake_damaged")
    local p = pipeline.load(path, { lake_root = l })
    quiet_run(p)
    local teacher = p.stages[1]
    local best = teacher.resolved.ckpt_file
    local bytes = proc.slurp(best)
    local last = #bytes - 10
    local flipped = string.char((bytes:byte(last) + 1) % 256)
    proc.spit(best, bytes:sub(1, last - 1) .. flipped .. bytes:sub(last + 1))
    local problems = pipeline.check(p)
    assert.equal("teacher", problems[1].stage)
    assert.truthy(problems[1].problem:find("cannot skip", 1, true), problems[1].problem)
    local by, log = quiet_run(p)
    assert.equal("failed", by.teacher.status)
    assert.truthy(by.teacher.error:find("cannot skip: .*sha256"), by.teacher.error)
    assert.truthy(log:find("== teacher: FAILED: cannot skip", 1, true), log)
    assert.equal("blocked", by.student.status)
    local traces = proc.slurp(gio.join(teacher.run_dir, "traces.jsonl"))
    assert.truthy(traces:find('"event":"stage_failed"', 1, true))
  end)

  it("records a fit's inputs when it commits; a record that does not read counts as changed", function()
    local l = gio.join(tmp, "lake_inputs")
    local p = pipeline.load(path, { lake_root = l })
    quiet_run(p)
    local student = p.stages[2]
    local rec_path = gio.join(student.run_dir, "inputs.json")
    local rec = proc.slurp(rec_path)
    -- a damaged record cannot vouch for the teacher: the student trains again
    proc.spit(rec_path, rec:sub(1, 10))
    local action, why = pipeline.decide(student)
    assert.equal("run", action)
    assert.truthy(why:find("its record " .. rec_path .. " does not read", 1, true), why)
    -- a fit killed after it committed left the record of the inputs it was training on: the
    -- record is written by the commit (stage.train's on_commit), not after the fit
    local stage = require "graphids.orchestrate.stage"
    local train = stage.train
    proc.spit(rec_path, '{"teacher_ckpt":"0000"}')
    stage.train = function(_, _, opts)
      opts.on_commit()
      error("killed", 0)
    end
    local ok, by = pcall(quiet_run, p)
    stage.train = train
    assert(ok, by)
    assert.equal("failed", by.student.status)
    assert.equal(rec, proc.slurp(rec_path))
  end)

  it("names a stage that fails while it is built in its traces", function()
    local l = gio.join(tmp, "lake_build")
    local p = pipeline.load(path, { lake_root = l })
    local by = quiet_run(p)
    assert.equal("failed", by.broken.status)
    local traces = proc.slurp(gio.join(p.stages[3].run_dir, "traces.jsonl"))
    assert.truthy(traces:find('"phase":"build"', 1, true), traces)
  end)
  it("traces the extract stage in its folder: its start and end, or its failure; the plan checks its " ..
    "experts' classes", function()
    local config = require "graphids.config"
    local one = { { "trainer.max_epochs", 1 } }
    local file = gio.join(tmp, "extract.lua")
    proc.spit(file, tiny.pipeline("extract", {
      { name = "gat", recipe = "stages/gat.lua", set = tiny.set("gat", one) },
      { name = "vgae", recipe = "stages/vgae.lua", set = tiny.set("vgae", one) },
      -- the GAT given as the VGAE: refused by the extraction
      { name = "wrong", recipe = "stages/fusion_states.lua", tla = { loss = "ce" },
        inputs = { vgae_ckpt = "gat", gat_ckpt = "gat" } },
      { name = "fs", recipe = "stages/fusion_states.lua", inputs = { vgae_ckpt = "vgae", gat_ckpt = "gat" } },
    }))
    local p = pipeline.load(file, { lake_root = gio.join(tmp, "lake_extract") })
    for i = 3, 4 do config.apply_overrides(p.stages[i].spec, tiny.data_sets()) end
    -- the plan's check names the input of the wrong model before anything is trained
    local problems = pipeline.check(p)
    assert.equal(1, #problems, require("graphids.json").encode(problems))
    assert.same({ stage = "wrong", problem = "its input vgae_ckpt (stage 'gat') trains a " ..
      "graphids.models.GATClassifier; expected a graphids.models.VGAE (or DGI)" }, problems[1])
    local by = quiet_run(p)
    assert.equal("failed", by.wrong.status)
    assert.truthy(by.wrong.error:find("expected a graphids.models.VGAE", 1, true), by.wrong.error)
    local function events(dir)
      local out = {}
      for line in proc.slurp(gio.join(dir, "traces.jsonl")):gmatch("[^\n]+") do
        local e = require("graphids.json").decode(line)
        out[#out + 1] = e
      end
      return out
    end
    local function find(list, name, phase)
      for _, e in ipairs(list) do
        if (e.event == name or e.name == name) and (phase == nil or e.phase == phase) then return e end
      end
    end
    local wrong = events(by.wrong.run_dir)
    assert.is_table(find(wrong, "stage_extract"))
    local failed = find(wrong, "stage_failed", "extract")
    assert.equal("wrong", failed and failed.stage) -- (the pipeline's name of the stage)
    assert.truthy(failed and failed.error:find("expected a graphids.models.VGAE", 1, true),
      proc.slurp(gio.join(by.wrong.run_dir, "traces.jsonl")))
    assert.equal("ok", by.fs.status, by.fs.error)
    local fs = events(by.fs.run_dir)
    assert.is_table(find(fs, "stage_extract"))
    assert.is_table(find(fs, "stage_complete"))
    assert.is_nil(find(fs, "stage_failed"))
    -- the GAT's checkpoint without its sidecar is the one the states were extracted from
    assert(os.remove(require("graphids.ckpt").sidecar_path(p.stages[1].resolved.ckpt_file)))
    local again = quiet_run(p)
    assert.same({ "skipped", "skipped" }, { again.gat.status, again.fs.status })
    -- experts given as paths: the checkpoint there is read, a missing one named
    local gat_ckpt = p.stages[1].resolved.ckpt_file
    local missing = gio.join(tmp, "no_such.safetensors")
    local paths = gio.join(tmp, "extract_paths.lua")
    proc.spit(paths, tiny.pipeline("paths", {
      { name = "fs", recipe = "stages/fusion_states.lua",
        tla = { vgae_ckpt = gat_ckpt, gat_ckpt = missing } },
    }))
    problems = pipeline.check(pipeline.load(paths, { lake_root = gio.join(tmp, "lake_paths") }))
    local said = {}
    for _, q in ipairs(problems) do said[#said + 1] = q.problem end
    said = table.concat(said, "\n")
    assert.truthy(said:find("its vgae_ckpt " .. gat_ckpt .. " holds a graphids.models.GATClassifier; " ..
      "expected a graphids.models.VGAE (or DGI)", 1, true), said)
    assert.truthy(said:find("its gat_ckpt: checkpoint '" .. missing .. "' does not exist", 1, true), said)
  end)

  it("checks in the plan the device every stage would run on", function()
    local p = pipeline.load("recipes/pipelines/graphids.lua", { lake_root = gio.join(tmp, "lake_dev"),
      device = "cuda:7" })
    local problems = pipeline.check(p)
    local named = {}
    for _, pr in ipairs(problems) do
      if pr.problem:find("device 'cuda:7'", 1, true) then named[#named + 1] = pr.stage end
    end
    assert.same({ "vgae", "gat", "gat_kd", "fusion_states", "fusion" }, named)
    assert.is_false(gio.exists(gio.join(tmp, "lake_dev")))
  end)
end)
