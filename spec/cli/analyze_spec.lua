-- analyze_spec.lua -- `graphids analyze`: usage errors, the artifacts of a fitted tiny GAT stage
-- (their contents against the checkpoint, the run's other files untouched), CKA of a distilled
-- student against its teacher, a DQN's and a bandit's policy, and the refusals (no checkpoint,
-- an analysis that does not apply, another run's checkpoint without --output-dir).
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"

local cat = tiny.join

describe("graphids analyze", function()
  local tmp, lake, base, run_dir, best
  setup(function()
    tmp = proc.tmpdir()
    lake = gio.join(tmp, "lake")
    base = cat({ "--config", "recipes/stages/gat.lua", "--lake-root", lake }, tiny.cli_sets("gat"))
    run_dir = gio.join(lake, "synthetic/gat/focal/seed_42")
    best = gio.join(run_dir, "checkpoints/best_model.safetensors")
  end)
  teardown(function() proc.rmtree(tmp) end)

  it("prints --help and exits 2 on bad options", function()
    local out, err, rc = proc.run({ "analyze", "--help" })
    assert.equal(0, rc, err)
    assert.truthy(out:find("usage: graphids analyze", 1, true), out)
    for _, case in ipairs({
      { { "--only", "atention" }, "--only: unknown analysis 'atention' (one of embeddings, attention, " ..
        "cka, landscape, policy) (did you mean 'attention'?)" },
      { { "--landscape-steps", "1" }, "--landscape-steps must be an integer >= 2, got '1'" },
      { { "--max-graphs", "2.5" }, "--max-graphs must be an integer >= 1, got '2.5'" },
      { { "--landscape-span", "inf" }, "--landscape-span must be a finite number > 0, got 'inf'" },
      { { "--seed", "-1" }, "--seed must be an integer >= 0, got '-1'" },
    }) do
      local _, e, code = proc.run(cat({ "analyze", "--config", "recipes/stages/gat.lua" }, case[1]))
      assert.equal(2, code, e)
      assert.equal("graphids analyze: " .. case[2] .. "\n", e:match("^[^\n]*\n"))
    end
  end)

  it("refuses a stage that was never trained, creating nothing", function()
    local _, err, rc = proc.run(cat({ "analyze" }, base))
    assert.equal(1, rc)
    assert.truthy(err:find("checkpoint '" .. best .. "' does not exist (train the stage first", 1, true), err)
    assert.is_false(gio.exists(lake))
  end)

  it("writes a fitted GAT's embeddings, attention and loss landscape, touching nothing else", function()
    local _, err, rc = proc.run(cat({ "fit" }, base))
    assert.equal(0, rc, err)
    local before = tiny.snapshot(run_dir, true)
    local out
    out, err, rc = proc.run(cat({ "analyze" }, base,
      { "--landscape-steps", "3", "--landscape-graphs", "20" }))
    assert.equal(0, rc, err)
    local art = gio.join(run_dir, "artifacts")
    for _, f in ipairs({ "embeddings.safetensors", "attention.safetensors", "landscape.safetensors",
      "analysis.json" }) do
      assert.truthy(out:find(gio.join(art, f), 1, true), out)
    end
    local after = tiny.snapshot(run_dir, true):gsub("[^\n]*/artifacts/[^\n]*\n", "")
    assert.equal(before, after)
    local summary = json.read_file(gio.join(art, "analysis.json"))
    assert.equal("graphids.models.GATClassifier", summary.model)
    assert.equal("val", summary.split)
    assert.equal(best, summary.checkpoint)
    assert.is_nil(summary.cka, "a teacher-less GAT has no CKA")
    assert.is_nil(summary.policy)
    -- the embeddings: the checkpoint's pooled embedding of every validation graph
    local emb = assert(gio.load_safetensors(gio.join(art, "embeddings.safetensors")))
    local n = emb.embeddings:size(1)
    assert.equal(summary.embeddings.graphs, n)
    assert.same({ n }, emb.labels.shape)
    assert.equal(16, emb.embeddings:size(2)) -- hidden 8 x heads 2
    local att = assert(gio.load_safetensors(gio.join(art, "attention.safetensors")))
    local rows = summary.attention.layers
    assert.same({ "convs.0", "convs.1" }, { rows[1].layer, rows[2].layer })
    assert.equal(att["convs.0.alpha"]:size(1), att["convs.0.edge_index"]:size(2))
    assert.equal(2, att["convs.1.alpha"]:size(2))
    assert.equal(att.node_id:numel(), att.batch:numel())
    -- every sampled graph, numbered across the batches: each node's self-loop reaches the last one
    assert.equal(summary.embeddings.graphs, summary.attention.graphs)
    assert.equal(summary.attention.graphs - 1, att.batch:max():item())
    assert.equal(att.node_id:numel() - 1, att["convs.1.edge_index"]:max():item())
    assert.same({ summary.attention.graphs }, att.labels.shape)
    assert.is_true(summary.attention.layers[1].mean_entropy > 0)
    local ls = assert(gio.load_safetensors(gio.join(art, "landscape.safetensors")))
    assert.same({ 3, 3 }, ls.loss.shape)
    assert.same({ -1, 0, 1 }, ls.coords:totable())
    assert.near(summary.landscape.center, ls.loss:totable()[2][2], 1e-9)
    assert.equal(summary.landscape.graphs <= 20 + 16, true)
    -- the centre is the checkpoint's validation loss over those graphs
    assert.is_true(summary.landscape.min <= summary.landscape.center)

    -- the checkpoint's digest; a narrower analysis replaces the folder's files
    assert.equal(require("graphids").sha256_file(best), summary.checkpoint_sha256)
    _, err, rc = proc.run(cat({ "analyze" }, base, { "--only", "embeddings" }))
    assert.equal(0, rc, err)
    assert.is_false(gio.exists(gio.join(art, "landscape.safetensors")))
    assert.is_false(gio.exists(gio.join(art, "attention.safetensors")))
    assert.same({ gio.join(art, "embeddings.safetensors") },
      json.read_file(gio.join(art, "analysis.json")).files)
    -- a split the data does not have
    _, err, rc = proc.run(cat({ "analyze" }, base, { "--split", "test_01_known_vehicle_known_atack" }))
    assert.equal(1, rc)
    assert.truthy(err:find("graphids analyze: --split: no split 'test_01_known_vehicle_known_atack' in " ..
      "this data (train, val, test_01_known_vehicle_known_attack, test_03_known_vehicle_unknown_attack) " ..
      "(did you mean 'test_01_known_vehicle_known_attack'?)", 1, true), err)
    -- an analysis that does not apply, asked for: refused before anything is written
    _, err, rc = proc.run(cat({ "analyze" }, base,
      { "--only", "policy", "--output-dir", gio.join(tmp, "o1") }))
    assert.equal(1, rc)
    assert.truthy(err:find("graphids analyze: --only policy: graphids.models.GATClassifier is not a " ..
      "fusion policy", 1, true), err)
    assert.is_false(gio.exists(gio.join(tmp, "o1")))
    -- another run's checkpoint: its results are not seed 5's run dir's
    local seed5 = cat({ "analyze" }, base, { "--tla", "seed=5", "--ckpt-path", best, "--only", "embeddings" })
    _, err, rc = proc.run(seed5)
    assert.equal(1, rc)
    assert.truthy(err:find("is not a checkpoint of " .. gio.join(lake, "synthetic/gat/focal/seed_5") ..
      "; give --output-dir", 1, true), err)
    _, err, rc = proc.run(cat(seed5, { "--output-dir", gio.join(tmp, "o2") }))
    assert.equal(0, rc, err)
    assert.is_true(gio.exists(gio.join(tmp, "o2", "embeddings.safetensors")))
    assert.is_false(gio.exists(gio.join(lake, "synthetic/gat/focal/seed_5")), "no run dir made for seed 5")
    -- a NaN figure is null in analysis.json, with what it was; the new files replace the old ones
    local o6 = gio.join(tmp, "o6")
    _, err, rc = proc.run(cat({ "analyze" }, base, { "--only", "embeddings", "--output-dir", o6 }))
    assert.equal(0, rc, err)
    _, err, rc = proc.run(cat({ "analyze" }, base, { "--only", "landscape", "--landscape-steps", "3",
      "--landscape-span", "1e30", "--output-dir", o6 }))
    assert.equal(0, rc, err)
    local nan = json.read_file(gio.join(o6, "analysis.json"))
    assert.equal(json.null, nan.landscape.max)
    assert.equal("nan", nan.nonfinite["landscape.max"])
    assert.is_true(nan.landscape.nonfinite_points > 0)
    assert.same({ gio.join(o6, "landscape.safetensors") }, nan.files)
    assert.is_false(gio.exists(gio.join(o6, "embeddings.safetensors")))
    -- a new fit sets the old weights' analysis aside
    _, err, rc = proc.run(cat({ "fit" }, base))
    assert.equal(0, rc, err)
    assert.is_false(gio.exists(art))
  end)

  it("analyses a DQN's or bandit's policy by default and refuses its landscape, keeping the files", function()
    -- a fusion_states folder of random states (what FusionDataModule reads)
    local graphids = require "graphids"
    local states = gio.join(tmp, "states")
    assert(gio.mkdir_p(states))
    local function split(n)
      local labels = {}
      for i = 1, n do labels[i] = i % 2 end
      return { states = graphids.rand(n, 15), labels = graphids.tensor(labels),
        window_start = graphids.arange(n), source_file = graphids.zeros({ n }, { dtype = "i64" }) }
    end
    for name, n in pairs({ train = 40, val = 20, test_a = 20 }) do
      assert(gio.save_safetensors(gio.join(states, name .. ".safetensors"), split(n)))
    end
    assert(gio.write_json(gio.join(states, "manifest.json"),
      { test_names = json.array({ "a" }), state_dim = 15 }))
    proc.spit(gio.join(states, require("graphids.orchestrate.fusion_states").MARKER), "")
    for _, method in ipairs({ "dqn", "bandit" }) do
      local f = { "--config", "recipes/stages/fusion.lua", "--tla", "method=" .. method, "--tla",
        "states_dir=" .. states, "--lake-root", lake, "--set", "trainer.max_epochs=1",
        "--set", 'trainer.progress="off"' }
      local _, err, rc = proc.run(cat({ "fit" }, f))
      assert.equal(0, rc, err)
      _, err, rc = proc.run(cat({ "analyze" }, f))
      assert.equal(0, rc, err)
      local art = gio.join(lake, "synthetic/fusion", method, "seed_42/artifacts")
      local summary = json.read_file(gio.join(art, "analysis.json"))
      assert.same({ gio.join(art, "policy.safetensors") }, summary.files)
      assert.is_nil(summary.landscape)
      assert.equal(20, summary.policy.windows)
      -- asked for, the landscape is refused before the folder's files are touched
      local before = tiny.snapshot(art, true)
      _, err, rc = proc.run(cat({ "analyze" }, f, { "--only", "landscape" }))
      assert.equal(1, rc)
      assert.truthy(err:find("graphids analyze: --only landscape: graphids.models.fusion." ..
        (method == "dqn" and "DQNFusion" or "BanditFusion") .. " is a policy scored by reward", 1, true), err)
      assert.equal(before, tiny.snapshot(art, true))
    end
  end)

  it("gives a distilled student's CKA against its teacher", function()
    local _, err, rc = proc.run(cat({ "fit" }, base))
    assert.equal(0, rc, err)
    local kd = cat({ "--config", "recipes/stages/gat_kd.lua", "--lake-root", lake,
      "--tla", "teacher_ckpt=" .. best }, tiny.cli_sets("gat"))
    _, err, rc = proc.run(cat({ "fit" }, kd))
    assert.equal(0, rc, err)
    _, err, rc = proc.run(cat({ "analyze" }, kd, { "--only", "cka" }))
    assert.equal(0, rc, err)
    local summary = json.read_file(gio.join(lake,
      "synthetic/gat_kd/student_focal/seed_42/artifacts/analysis.json"))
    assert.equal(16, summary.cka.teacher_embedding_width)
    assert.is_true(summary.cka.value > 0 and summary.cka.value <= 1 + 1e-9, tostring(summary.cka.value))
    assert.is_nil(summary.embeddings, "--only cka writes no embeddings")
    assert.equal(best, summary.cka.teacher)
    assert.equal(require("graphids").sha256_file(best), summary.cka.teacher_sha256)
    -- the same teacher at another path is the same teacher; another teacher's CKA is not the run's
    local copy = gio.join(tmp, "teacher_copy.safetensors")
    proc.spit(copy, proc.slurp(best))
    local function kd_with(teacher, extra)
      return cat({ "analyze", "--config", "recipes/stages/gat_kd.lua", "--lake-root", lake,
        "--tla", "teacher_ckpt=" .. teacher, "--only", "cka" }, tiny.cli_sets("gat"), extra or {})
    end
    _, err, rc = proc.run(kd_with(copy))
    assert.equal(0, rc, err)
    _, err, rc = proc.run(cat({ "fit" }, base, { "--tla", "seed=5" }))
    assert.equal(0, rc, err)
    local other = gio.join(lake, "synthetic/gat/focal/seed_5/checkpoints/best_model.safetensors")
    _, err, rc = proc.run(kd_with(other))
    assert.equal(1, rc)
    assert.truthy(err:find("was trained with other settings (model.distillation.teacher_ckpt); give " ..
      "--output-dir", 1, true), err)
    _, err, rc = proc.run(kd_with(other, { "--output-dir", gio.join(tmp, "o4") }))
    assert.equal(0, rc, err)
    assert.equal(other, json.read_file(gio.join(tmp, "o4", "analysis.json")).cka.teacher)
    -- a student whose embedding is constant (its convolutions zeroed): its CKA is undefined, null
    local tensors, meta = gio.load_safetensors(gio.join(lake,
      "synthetic/gat_kd/student_focal/seed_42/checkpoints/best_model.safetensors"))
    local zeroed = {}
    for k, v in pairs(tensors) do
      zeroed[k] = (k:match("^model%.convs%.") and v.dtype:match("^f")) and require("graphids").zeros_like(v)
        or v:clone()
    end
    local zero = gio.join(tmp, "zero.safetensors")
    assert(gio.save_safetensors(zero, zeroed, meta))
    local o5 = gio.join(tmp, "o5")
    _, err, rc = proc.run(cat({ "analyze" }, kd, { "--ckpt-path", zero, "--only", "embeddings,cka",
      "--output-dir", o5 }))
    assert.equal(0, rc, err)
    local undefined = json.read_file(gio.join(o5, "analysis.json"))
    assert.equal(json.null, undefined.cka.value)
    assert.equal("nan", undefined.nonfinite["cka.value"])
    assert.truthy(undefined.cka.undefined:find("constant", 1, true))
    assert.same({ gio.join(o5, "embeddings.safetensors") }, undefined.files)
    _, err, rc = proc.run(cat({ "analyze" }, base, { "--only", "cka", "--output-dir", gio.join(tmp, "o3") }))
    assert.equal(1, rc)
    assert.truthy(err:find("has no distillation teacher", 1, true), err)
  end)

  it("tests a distilled GAT and analyses its embeddings without its teacher", function()
    local _, err, rc
    if not gio.exists(best) then
      _, err, rc = proc.run(cat({ "fit" }, base))
      assert.equal(0, rc, err)
    end
    local kd = cat({ "--config", "recipes/stages/gat_kd.lua", "--lake-root", lake,
      "--tla", "teacher_ckpt=" .. best }, tiny.cli_sets("gat"))
    local student = gio.join(lake, "synthetic/gat_kd/student_focal/seed_42")
    if not gio.exists(gio.join(student, ".train_complete")) then
      _, err, rc = proc.run(cat({ "fit" }, kd))
      assert.equal(0, rc, err)
    end
    local with_teacher
    with_teacher, err, rc = proc.run(cat({ "test" }, kd, { "--json" }))
    assert.equal(0, rc, err)
    -- the teacher gone: the student's checkpoint holds all of its own state
    local aside = gio.join(tmp, "teacher_aside")
    assert(os.rename(best, aside))
    assert(os.rename(best .. ".sha256", aside .. ".sha256"))
    local without
    without, err, rc = proc.run(cat({ "test" }, kd, { "--json" }))
    assert.equal(0, rc, err)
    assert.equal(with_teacher, without)
    _, err, rc = proc.run(cat({ "analyze" }, kd, { "--only", "embeddings,attention", "--output-dir",
      gio.join(tmp, "o6") }))
    assert.equal(0, rc, err)
    -- what runs the teacher says so
    _, err, rc = proc.run(cat({ "analyze" }, kd, { "--only", "cka", "--output-dir", gio.join(tmp, "o7") }))
    assert.equal(1, rc)
    assert.truthy(err:find("distillation teacher: checkpoint " .. best .. " does not exist (CKA and the " ..
      "loss landscape run it; --only embeddings,attention analyses the student without it)", 1, true), err)
    _, err, rc = proc.run(cat({ "fit" }, kd))
    assert.equal(1, rc)
    assert.truthy(err:find("does not exist (the student trains against it: train the teacher's stage " ..
      "first)", 1, true), err)
    assert(os.rename(aside, best))
    assert(os.rename(aside .. ".sha256", best .. ".sha256"))
  end)
end)
