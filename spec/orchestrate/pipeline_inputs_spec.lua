-- pipeline_inputs_spec.lua -- what a pipeline stage knows of the upstream outputs its fit read:
-- a fit outside the pipeline (graphids fit --tla teacher_ckpt=OTHER, states_dir=OTHER) leaves no
-- inputs.json vouching for the old ones, and the plan names the key it was trained with; the
-- states of a copied lake, extracted again, are the same states (no fusion retrained).
local gio = require "graphids.io"
local graphids = require "graphids"
local config = require "graphids.config"
local pipeline = require "graphids.orchestrate.pipeline"
local stage = require "graphids.orchestrate.stage"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"

local ONE = { { "trainer.max_epochs", 1 } }

-- teacher (gat) -> student (gat_kd); vgae, gat -> fs (fusion_states) -> fusion, on the tiny data
local PIPE = tiny.pipeline("inputs", {
  { name = "teacher", recipe = "stages/gat.lua", set = tiny.set("gat", ONE) },
  { name = "student", recipe = "stages/gat_kd.lua", inputs = { teacher_ckpt = "teacher" },
    set = tiny.set("gat", ONE) },
  { name = "vgae", recipe = "stages/vgae.lua", set = tiny.set("vgae", ONE) },
  { name = "fs", recipe = "stages/fusion_states.lua", inputs = { vgae_ckpt = "vgae", gat_ckpt = "teacher" } },
  { name = "fusion", recipe = "stages/fusion.lua", inputs = { states_dir = "fs" },
    set = { { "trainer.max_epochs", 1 }, { "trainer.progress", "off" } } },
})

describe("a pipeline stage's inputs", function()
  local tmp, path
  setup(function()
    tmp = proc.tmpdir()
    path = gio.join(tmp, "inputs.lua")
    proc.spit(path, PIPE)
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function stages(lake)
    local by = {}
    for _, n in ipairs(pipeline.load(path, { lake_root = lake }).stages) do by[n.name] = n end
    return by
  end

  -- a manifest as fusion_states.extract writes it, with the experts' checkpoint paths of fs's lake
  local function write_states(dir, fs, files)
    assert(gio.mkdir_p(dir))
    assert(gio.write_json(gio.join(dir, "manifest.json"), { test_names = { "t1" }, dataset = "synthetic",
      rows = { train = 3 }, vgae_ckpt = fs.spec.vgae_ckpt, gat_ckpt = fs.spec.gat_ckpt, state_dim = 15,
      vgae_ckpt_sha256 = string.rep("a", 64), gat_ckpt_sha256 = string.rep("b", 64),
      files = files or { ["train.safetensors"] = string.rep("c", 64) } }))
  end

  it("are the same states in a copied lake, extracted again there: the fusion is not retrained", function()
    local a, b = stages(gio.join(tmp, "lake_a")), stages(gio.join(tmp, "lake_b"))
    write_states(a.fs.run_dir, a.fs)
    local rec = pipeline.input_digests(a.fusion)
    assert.matches("^%x+$", rec.states_dir)
    -- lake_b: lake_a copied, its states extracted again from the same checkpoints, in their new place
    write_states(b.fs.run_dir, b.fs)
    assert.are_not.equal(proc.slurp(gio.join(a.fs.run_dir, "manifest.json")),
      proc.slurp(gio.join(b.fs.run_dir, "manifest.json")))
    assert(gio.mkdir_p(b.fusion.run_dir))
    assert(gio.write_json(gio.join(b.fusion.run_dir, "inputs.json"), rec))
    local action, why = pipeline.decide(b.fusion)
    assert.same({ "run", "no checkpoint" }, { action, why })
    -- a record from before (the manifest file's SHA-256) still vouches for the manifest it was
    assert(gio.write_json(gio.join(b.fusion.run_dir, "inputs.json"),
      { states_dir = graphids.sha256_file(gio.join(b.fs.run_dir, "manifest.json")) }))
    assert.same({ "run", "no checkpoint" }, { pipeline.decide(b.fusion) })
    -- other states are other states
    assert(gio.write_json(gio.join(b.fusion.run_dir, "inputs.json"), rec))
    write_states(b.fs.run_dir, b.fs, { ["train.safetensors"] = string.rep("d", 64) })
    action, why = pipeline.decide(b.fusion)
    assert.equal("run", action)
    assert.equal("its input states_dir (stage 'fs') changed since it was trained: trains again", why)
  end)

  it("of a fusion fitted outside the pipeline on other states are named from its record", function()
    local lake = gio.join(tmp, "lake_fusion")
    local by = stages(lake)
    write_states(by.fs.run_dir, by.fs)
    -- graphids fit --config stages/fusion.lua --tla states_dir=OTHER: its record, no inputs.json
    local other = gio.join(tmp, "other_states")
    write_states(other, by.fs, { ["train.safetensors"] = string.rep("e", 64) })
    local r = config.resolve("recipes/stages/fusion.lua", { tla = { lake_root = lake, states_dir = other },
      set = { { "trainer.max_epochs", 1 }, { "trainer.progress", "off" } } })
    assert.equal(by.fusion.run_dir, r.run_dir)
    config.write_run_files(r)
    local action, why = pipeline.decide(by.fusion)
    assert.equal("run", action)
    assert.equal("its input states_dir (stage 'fs'; it was trained with data.init_args.states_dir = " ..
      other .. ") changed since it was trained: trains again", why)
    -- a copy of the pipeline's own states (the same digests elsewhere) is the same input
    write_states(other, by.fs)
    assert.same({ "run", "no checkpoint" }, { pipeline.decide(by.fusion) })
  end)

  it("of a student fitted again with another teacher are not vouched for by the old inputs.json, nor by " ..
    "a record that cannot say which teacher it was", function()
    local lake = gio.join(tmp, "lake_kd")
    local p = pipeline.load(path, { lake_root = lake })
    p.stages = { p.stages[1], p.stages[2] }
    local res = pipeline.run(p, { log = function() end })
    assert.equal("ok", res[1].status, res[1].error)
    assert.equal("ok", res[2].status, res[2].error)
    local student = p.stages[2]
    local inputs = gio.join(student.run_dir, "inputs.json")
    assert.is_true(gio.exists(inputs))
    -- another GAT of the same vocabulary (another learning rate, in another lake)
    local o = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = gio.join(tmp, "lake_other") },
      set = tiny.set("gat", { { "trainer.max_epochs", 1 }, { "model.init_args.lr", 0.05 } }) })
    stage.train(stage.build(o), o, { write_run_files = true })
    -- graphids fit --config stages/gat_kd.lua --lake-root L --tla teacher_ckpt=OTHER
    local r = config.resolve("recipes/stages/gat_kd.lua",
      { tla = { lake_root = lake, teacher_ckpt = o.ckpt_file }, set = tiny.set("gat", ONE) })
    assert.equal(student.run_dir, r.run_dir)
    stage.train(stage.build(r), r, { write_run_files = true })
    assert.is_false(gio.exists(inputs))
    local by = stages(lake)
    local action, why = pipeline.decide(by.student)
    assert.equal("run", action)
    assert.equal("its input teacher_ckpt (stage 'teacher'; it was trained with " ..
      "model.distillation.teacher_ckpt = " .. o.ckpt_file .. ") changed since it was trained: trains again",
      why)
    -- that teacher moved away, nothing says what the student was trained on: it is not reused
    -- (it was: taken as a moved lake's, the same input)
    assert(os.rename(o.ckpt_file, o.ckpt_file .. ".moved"))
    action, why = pipeline.decide(by.student)
    assert.equal("run", action)
    assert.equal("its input teacher_ckpt (stage 'teacher') cannot be vouched for: it was trained with " ..
      "model.distillation.teacher_ckpt = " .. o.ckpt_file .. ", which no longer exists, and " ..
      student.run_dir .. " has no inputs.json: trains again", why)
    -- the pipeline trains it again on its own teacher and records that
    p = pipeline.load(path, { lake_root = lake })
    p.stages = { p.stages[1], p.stages[2] }
    res = pipeline.run(p, { log = function() end })
    assert.equal("run", res[2].action)
    assert.equal("ok", res[2].status, res[2].error)
    assert.is_true(gio.exists(inputs))
    assert.same({ "skip" }, { (pipeline.decide(stages(lake).student)) })
    -- without inputs.json, a record that does not say where the teacher was vouches for nothing
    os.remove(inputs)
    assert.same({ "skip" }, { (pipeline.decide(stages(lake).student)) }) -- (its own teacher's path)
    local rpath = gio.join(student.run_dir, "resolved.json")
    local rec = assert(gio.read_json(rpath))
    rec.model.distillation.teacher_ckpt = nil
    assert(gio.write_json(rpath, rec))
    assert.same({ "run", "its input teacher_ckpt (stage 'teacher') cannot be vouched for: its " ..
      "resolved.json has no model.distillation.teacher_ckpt, and " .. student.run_dir .. " has no " ..
      "inputs.json: trains again" }, { pipeline.decide(stages(lake).student) })
    -- nor does no record at all beside its checkpoints (a fit from Lua without its run files)
    os.remove(rpath)
    assert.same({ "run", "its inputs cannot be vouched for: " .. student.run_dir .. " has neither " ..
      "inputs.json nor resolved.json: trains again" }, { pipeline.decide(stages(lake).student) })
  end)
end)
