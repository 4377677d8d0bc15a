-- config_spec.lua -- graphids.config: recipes with top-level arguments, --set overrides, the
-- validation errors (full key paths, suggestions, types, ranges, enums, cross-field rules),
-- the read-only validated view and the run files.
local config = require "graphids.config"
local json = require "graphids.json"
local gio = require "graphids.io"
local proc = require "trainer.support.proc"

local function resolve_err(set, tla, path)
  local ok, err = pcall(config.resolve, path or "recipes/stages/gat.lua", { tla = tla, set = set })
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("graphids.config", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  it("resolves a stage recipe: defaults, run dir and checkpoint path from the TLAs", function()
    local r = config.resolve("recipes/stages/gat.lua")
    assert.equal("lake/synthetic/gat/focal/seed_42", r.run_dir)
    assert.equal("lake/synthetic/gat/focal/seed_42/checkpoints/best_model.safetensors", r.ckpt_file)
    assert.equal("gat", r.stage_name)
    local v = r.validated
    assert.equal(42, v.seed_everything)
    assert.equal("graphids.models.GATClassifier", v.model.class_path)
    assert.equal("focal", v.model.init_args.loss_fn)
    assert.equal(24, v.model.init_args.hidden) -- the small preset
    assert.equal("val_loss", v.callbacks.checkpoint.monitor)

    local r2 = config.resolve("stages/gat.lua", { tla = { dataset = "hcrl_ch", seed = 7, scale = "large",
      lake_root = "/x/lake", loss = "ce" } })
    -- a scale or graph mode other than the default names its own variant
    assert.equal("/x/lake/hcrl_ch/gat/ce_large/seed_7", r2.run_dir)
    assert.equal("ce_large", r2.validated.identity.variant)
    local r3 = config.resolve("stages/gat.lua", { tla = { graphs = "reference", lake_root = "/x/lake" } })
    assert.equal("/x/lake/synthetic/gat/focal_reference_graphs/seed_42", r3.run_dir)
    local r4 = require("graphids.config.recipe").render("stages/fusion_states.lua", { scale = "large",
      lake_root = "/x/lake", vgae_ckpt = "v", gat_ckpt = "g" })
    assert.equal("vgae_gat_large", r4.identity.variant)
    assert.equal("/x/lake/synthetic/fusion_states/vgae_gat_large/seed_42", r4.out_dir)
    -- the fusion stages carry the GAT's loss when it is not the default
    local r5 = require("graphids.config.recipe").render("stages/fusion_states.lua", { loss = "ce",
      lake_root = "/x/lake", vgae_ckpt = "v", gat_ckpt = "g" })
    assert.equal("/x/lake/synthetic/fusion_states/vgae_gat_ce/seed_42", r5.out_dir)
    local r6 = config.resolve("stages/fusion.lua",
      { tla = { loss = "ce", lake_root = "/x/lake", states_dir = "s" } })
    assert.equal("/x/lake/synthetic/fusion/weighted_avg_ce/seed_42", r6.run_dir)
    assert.equal(64, r2.validated.model.init_args.hidden) -- the large preset
    assert.equal("ce", r2.validated.model.init_args.loss_fn)
    assert.equal(7, r2.validated.data.init_args.seed)
    assert.are_not.equal(r.config_digest, r2.config_digest)
  end)

  it("serves every stage recipe with the same TLAs", function()
    local dirs = {}
    for _, s in ipairs({ { "vgae", {} }, { "dgi", {} }, { "gat", {} }, { "gat_kd",
      { teacher_ckpt = "t.safetensors" } },
      { "fusion", { states_dir = "s", method = "dqn" } }, { "fusion", { states_dir = "s",
        method = "weighted_avg" } } }) do
      local tla = { dataset = "synthetic", seed = 3, lake_root = "L" }
      for k, v in pairs(s[2]) do tla[k] = v end
      local r = config.resolve("recipes/stages/" .. s[1] .. ".lua", { tla = tla })
      dirs[#dirs + 1] = r.run_dir
    end
    assert.same({ "L/synthetic/vgae/vgae/seed_3", "L/synthetic/dgi/dgi/seed_3",
      "L/synthetic/gat/focal/seed_3",
      "L/synthetic/gat_kd/student_focal/seed_3", "L/synthetic/fusion/dqn/seed_3",
      "L/synthetic/fusion/weighted_avg/seed_3" }, dirs)
    -- the default fusion is the weighted average, in the stage recipe and in the pipeline
    assert.equal("graphids.models.fusion.WeightedAvgFusion",
      config.resolve("recipes/stages/fusion.lua", { tla = { states_dir = "s" } }).validated.model.class_path)
    local pipeline = require "graphids.orchestrate.pipeline"
    local pipe = pipeline.load("recipes/pipelines/graphids.lua", { lake_root = "L" })
    assert.equal("L/synthetic/fusion/weighted_avg/seed_42", pipe.stages[#pipe.stages].run_dir)
    -- the RL policies follow val_acc, the supervised fusions their loss
    for method, want in pairs({ mlp = "val_loss/min", weighted_avg = "val_loss/min", dqn = "val_acc/max",
      bandit = "val_acc/max" }) do
      local f = config.resolve("recipes/stages/fusion.lua", { tla = { states_dir = "s", method = method } })
        .validated
      assert.equal(want, f.callbacks.checkpoint.monitor .. "/" .. f.callbacks.checkpoint.mode, method)
      assert.equal(want, f.callbacks.early_stopping.monitor .. "/" .. f.callbacks.early_stopping.mode, method)
      assert.is_nil(f.trainer.gradient_clip_val)
    end
    local kd = config.resolve("recipes/stages/gat_kd.lua", { tla = { teacher_ckpt = "t" } }).validated
    assert.equal("t", kd.model.distillation.teacher_ckpt)
    assert.equal(4.0, kd.model.distillation.T)
    assert.equal("benign", config.resolve("recipes/stages/vgae.lua").validated.data.init_args.label_filter)
  end)

  it("gives the GAT stages weight averaging, which build_run turns into the callback", function()
    local inst = require "graphids.orchestrate.instantiate"
    local function ema_of(run)
      for _, c in ipairs(run.trainer.callbacks) do
        if c.state_key == "EMAWeightAveraging" then return c end
      end
    end
    -- build_run builds the stage's data: into the spec's own lake, not ./lake
    local tla = { lake_root = gio.join(tmp, "lake") }
    local r = config.resolve("recipes/stages/gat.lua", { tla = tla })
    assert.same({ decay = 0.99, update_every_n_steps = 1, update_starting_at_step = 0 },
      config.thaw(r.validated.callbacks.ema))
    local c = ema_of(inst.build_run(r))
    assert.equal(0.99, c.decay)
    local kd = config.resolve("recipes/stages/gat_kd.lua", { tla = { teacher_ckpt = "t" } })
    assert.equal(0.99, kd.validated.callbacks.ema.decay)
    -- the other stages have none; --set adds one, with defaults for what it leaves out
    local v = config.resolve("recipes/stages/vgae.lua", { tla = tla })
    assert.is_nil(v.validated.callbacks.ema)
    assert.is_nil(ema_of(inst.build_run(v)))
    v = config.resolve("recipes/stages/vgae.lua", { tla = tla, set = { { "callbacks.ema.decay", 0.5 } } })
    c = ema_of(inst.build_run(v))
    assert.equal(0.5, c.decay)
    assert.equal(1, c.every)
  end)

  it("parses --set / --tla values as JSON, else as strings", function()
    local k, v = config.parse_kv("a.b.c=5")
    assert.equal("a.b.c", k)
    assert.equal(5, v)
    assert.equal("integer", math.type(v))
    assert.same({ 1, 2 }, select(2, config.parse_kv("x=[1,2]")))
    assert.same({ y = true }, select(2, config.parse_kv("x={\"y\":true}")))
    assert.equal("hcrl_sa", select(2, config.parse_kv("dataset=hcrl_sa")))
    assert.equal("a=b", select(2, config.parse_kv("k=a=b")))
    assert.equal(json.null, select(2, config.parse_kv("k=null")))
    assert.has_error(function() config.parse_kv("novalue") end)
    assert.has_error(function() config.parse_kv("a..b=1") end)
  end)

  it("refuses a --set value that starts like JSON but does not parse, quoting the problem", function()
    for text, want in pairs({
      ['k="gat'] = "bad value for 'k': \"gat is not valid JSON (line 1, column 1: unterminated string)",
      ['k={"a":1,"a":2}'] = "bad value for 'k': {\"a\":1,\"a\":2} is not valid JSON (line 1, column 8: " ..
        "duplicate key \"a\")",
      ['k=["mean",]'] = "bad value for 'k': [\"mean\",] is not valid JSON (line 1, column 9: trailing " ..
        "comma before ']')",
    }) do
      local ok, err = pcall(config.parse_kv, text)
      assert.is_false(ok, text)
      assert.equal(want, err)
    end
    -- a long value is cut and a control character escaped (the message reaches a terminal)
    local ok, err = pcall(config.parse_kv, "x=[" .. ("1,"):rep(1e5) .. "]")
    assert.is_false(ok)
    assert.equal("bad value for 'x': [" .. ("1,"):rep(29) .. "1... is not valid JSON (line 1, " ..
      "column 200002: trailing comma before ']')", err)
    ok, err = pcall(config.parse_kv, 'x=["a\27[31m",]')
    assert.is_false(ok)
    assert.equal("bad value for 'x': [\"a\\x1B[31m\",] is not valid JSON (line 1, column 4: control " ..
      "character 0x1b inside a string (escape it))", err)
    -- plain words (and words that only contain a bracket or quote) stay strings
    assert.equal("gatv2", select(2, config.parse_kv("k=gatv2")))
    assert.equal('a"b', select(2, config.parse_kv('k=a"b')))
    assert.equal("", select(2, config.parse_kv("k=")))
  end)

  it("names a recipe value JSON cannot hold as an invalid configuration, with its key", function()
    local function err_of(path, key, value)
      local rendered = require("graphids.config.recipe").render(path)
      rendered.model.init_args[key] = value
      local ok, err = pcall(function()
        config.apply_overrides(rendered)
        return config.from_rendered(rendered)
      end)
      assert.is_false(ok)
      return tostring(err)
    end
    assert.equal("invalid configuration: 'model.init_args.pool_aggrs': table mixes string keys with " ..
      "other keys",
      err_of("recipes/stages/gat.lua", "pool_aggrs", { "mean", x = 1 }))
    assert.equal("invalid configuration: 'model.init_args.id_encoder_kwargs': table has keys that are " ..
      "neither 1..n nor strings", err_of("recipes/stages/vgae.lua", "id_encoder_kwargs", { [0] = 1 }))
    assert.equal("invalid configuration: 'model.init_args.hidden_dims[1]': cannot encode a function",
      err_of("recipes/stages/vgae.lua", "hidden_dims", { print }))
  end)

  it("keeps a null inside a --set or --tla value as unset, and refuses one inside a list", function()
    local _, v = config.parse_kv('callbacks.ema={"decay":null,"update_every_n_steps":2}')
    local r = config.resolve("recipes/stages/gat.lua", { set = { { "callbacks.ema", v } } })
    assert.equal(0.999, r.validated.callbacks.ema.decay) -- the default, not a table
    assert.equal(2, r.validated.callbacks.ema.update_every_n_steps)
    -- a null TLA is one not given
    r = config.resolve("recipes/stages/gat.lua", { tla = { dataset = json.null, loss = json.null } })
    assert.equal("lake/synthetic/gat/focal/seed_42", r.run_dir)
    local aggrs = select(2, config.parse_kv('x=["mean",null]'))
    local err = resolve_err({ { "model.init_args.pool_aggrs", aggrs } })
    assert.equal("invalid configuration: 'model.init_args.pool_aggrs' holds null at index 2; a list " ..
      "cannot leave an item unset (give the list without it)", err)
    err = resolve_err(nil, { graphs = { "portable", json.null } })
    assert.equal("recipe recipes/stages/gat.lua: top-level argument 'graphs' holds null at index 2; " ..
      "a list cannot leave an item unset (give the list without it)", err)
  end)

  it("refuses --set of the keys a recipe derives from the TLAs that name its run", function()
    local cases = {
      { "recipes/stages/gat.lua", {}, { "data.init_args.dataset", "hcrl_sa" }, "dataset" },
      { "recipes/stages/gat.lua", {}, { "data.init_args.seed", 7 }, "seed" },
      { "recipes/stages/gat.lua", {}, { "model.init_args.loss_fn", "ce" }, "loss" },
      { "recipes/stages/gat_kd.lua", { teacher_ckpt = "t" }, { "model.init_args.loss_fn", "ce" }, "loss" },
      { "recipes/stages/fusion.lua", { states_dir = "s" },
        { "model.class_path", "graphids.models.fusion.MLPFusion" }, "method" },
    }
    for _, c in ipairs(cases) do
      local err = resolve_err({ c[3] }, c[2], c[1])
      assert.equal(string.format("cannot set '%s': the recipe derives it from its top-level argument " ..
        "'%s', which also names the run dir and the identity; use --tla %s=VALUE", c[3][1], c[4], c[4]), err)
    end
    -- a whole table that drops or changes one is the same override
    local err = resolve_err({ { "data.init_args", { dataset = "hcrl_sa", batch_size = 8 } } })
    assert.truthy(err:find("cannot set 'data.init_args.dataset' (by --set data.init_args): the recipe " ..
      "derives it from its top-level argument 'dataset'", 1, true), err)
    err = resolve_err({ { "model", { class_path = "graphids.models.GATClassifier", init_args = {} } } })
    assert.truthy(err:find("cannot set 'model.init_args.loss_fn' (by --set model)", 1, true), err)
    -- a value where the table of keys holding one was: that is what is named
    err = resolve_err({ { "model.init_args", 5 } })
    assert.equal("invalid configuration: 'model.init_args' must be a table of keys, got 5 (set its keys: " ..
      "--set model.init_args.KEY=VALUE)", err)
    -- the TLA changes them with the run dir; the same value, and every other key, can be set
    local r = config.resolve("recipes/stages/gat.lua", { tla = { loss = "ce", seed = 7 },
      set = { { "model.init_args.loss_fn", "ce" }, { "data.init_args.batch_size", 8 },
        { "seed_everything", 1042 } } })
    assert.equal("lake/synthetic/gat/ce/seed_7", r.run_dir)
    assert.equal(1042, r.validated.seed_everything)
    assert.is_nil(r.rendered.derived) -- no configuration key
    -- the run dir itself: only "" (write nothing) may replace it
    err = resolve_err({ { "trainer.default_root_dir", "lake/synthetic/gat/ce/seed_7" } })
    assert.truthy(err:find("cannot set 'trainer.default_root_dir': the recipe names the run dir from its " ..
      "top-level arguments", 1, true), err)
    err = resolve_err({ { "trainer", { max_epochs = 1 } } })
    assert.truthy(err:find("cannot set 'trainer.default_root_dir' (by --set trainer)", 1, true), err)
    -- the table holding it replaced by a value is named as for a derived key
    for _, c in ipairs({ { 5, "5" }, { { 1 }, "a table [1]" }, { json.array({}), "a list" } }) do
      local want = string.format("invalid configuration: 'trainer' must be a table of keys, got %s (set " ..
        "its keys: --set trainer.KEY=VALUE)", c[2])
      assert.equal(want, resolve_err({ { "trainer", c[1] } }))
    end
    -- [] (kept a list by --set) is named "a list" wherever it is refused, as the schema names it
    assert.equal("invalid configuration: 'trainer.max_epochs' must be a number, got a list",
      resolve_err({ { "trainer.max_epochs", json.array({}) } }))
    r = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.default_root_dir", "" } } })
    assert.is_nil(r.run_dir)
    -- null unsets it as "" does, and the overrides after it (which leave it unset) still apply
    for _, v in ipairs({ json.null, "" }) do
      r = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.default_root_dir", v },
        { "trainer.max_epochs", 1 }, { "trainer", { max_epochs = 2 } } } })
      assert.is_nil(r.run_dir)
      assert.equal(2, r.validated.trainer.max_epochs)
    end
    -- 'derived' is no configuration key: a --set of it is named, not dropped
    for _, kv in ipairs({ { "derived", {} }, { "derived.x", 1 } }) do
      assert.equal(string.format("invalid configuration: unknown key '%s' ('derived' is a recipe's list " ..
        "of the keys it derives from its top-level arguments, not a configuration key)", kv[1]),
        resolve_err({ kv }))
    end
  end)

  it("takes a float setting written without its point as the float: one value, one digest", function()
    local a = config.resolve("recipes/stages/gat.lua", { set = { { "model.init_args.focal_gamma", 2 },
      { "data.init_args.val_fraction", 0 }, { "callbacks.early_stopping.min_delta", 0 } } })
    local b = config.resolve("recipes/stages/gat.lua", { set = { { "model.init_args.focal_gamma", 2.0 },
      { "data.init_args.val_fraction", 0.0 }, { "callbacks.early_stopping.min_delta", 0.0 } } })
    assert.equal("float", math.type(a.validated.model.init_args.focal_gamma))
    assert.equal("float", math.type(a.validated.data.init_args.val_fraction))
    assert.equal("float", math.type(a.validated.callbacks.early_stopping.min_delta))
    assert.equal(b.config_digest, a.config_digest)
    -- and an integer setting written with its point is the integer
    local c = config.resolve("recipes/stages/gat.lua", { set = { { "model.init_args.hidden", 24.0 } } })
    assert.equal("integer", math.type(c.validated.model.init_args.hidden))
  end)

  it("applies overrides at dotted paths, creating tables, in order; never through a value or list", function()
    local t = { a = { b = 1 }, s = "x", n = json.null, l = { "p", "q" } }
    config.apply_overrides(t, { { "a.c.d", 2 }, { "n.t", 3 }, { "a.b", 4 }, { "a.b", 5 } })
    assert.same({ a = { b = 5, c = { d = 2 } }, s = "x", n = { t = 3 }, l = { "p", "q" } }, t)
    for key, want in pairs({
      ["s.t"] = "cannot set 's.t': 's' is a string, not a table",
      ["l.x"] = "cannot set 'l.x': 'l' is a list; set it whole (--set 'l=[...]')",
      ["l.1"] = "cannot set 'l.1': 'l' is a list; set it whole (--set 'l=[...]')",
      ["s.1"] = "cannot set 's.1': 's' is a string, not a table",
      -- a number under a key not there yet would make a map of "1": the list was meant
      ["m.1"] = "cannot set 'm.1': 'm' is not set, and a number key would make it a map of \"1\", " ..
        "not a list; set the list whole (--set 'm=[...]')",
      -- also below a table the same path just created
      ["a.e.x.1"] = "cannot set 'a.e.x.1': 'a.e.x' is not set, and a number key would make it a map " ..
        "of \"1\", not a list; set the list whole (--set 'a.e.x=[...]')",
      -- the identity would label the run as another than its run dir and seed say
      ["identity.seed"] = "cannot set 'identity.seed': the identity comes from the recipe's " ..
        "top-level arguments, which also name the run dir and the seed (--tla dataset=, seed=, scale=, ...)",
      ["identity"] = "cannot set 'identity': the identity comes from the recipe's top-level " ..
        "arguments, which also name the run dir and the seed (--tla dataset=, seed=, scale=, ...)" }) do
      local ok, err = pcall(config.apply_overrides, t, { { key, 1 } })
      assert.is_false(ok)
      assert.equal(want, err)
    end
    assert.equal("x", t.s)
    -- a digit key of an existing map is just a key
    config.apply_overrides(t, { { "a.c.2", 7 } })
    assert.equal(7, t.a.c["2"])
    local r = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.max_epochs", 3 },
      { "model.init_args.hidden", 16 }, { "trainer.gradient_clip_val", json.null } } })
    assert.equal(3, r.validated.trainer.max_epochs)
    assert.equal(16, r.validated.model.init_args.hidden)
    assert.is_nil(r.validated.trainer.gradient_clip_val) -- null unsets
  end)

  it("rejects bad configurations with the full key path and a suggestion", function()
    local cases = {
      { { { "trainer.max_epoch", 3 } },
        "unknown key 'trainer.max_epoch' %(did you mean 'trainer.max_epochs'%?%)" },
      { { { "model.init_args.hiden", 3 } },
        "unknown key 'model.init_args.hiden' %(did you mean 'model.init_args.hidden'" },
      { { { "data.init_args.batch_sise", 3 } }, "unknown key 'data.init_args.batch_sise' %(did you mean " ..
        "'data.init_args.batch_size'" },
      { { { "callbakcs", {} } }, "unknown key 'callbakcs' %(did you mean 'callbacks'" },
      { { { "trainer.max_epochs", "ten" } }, "'trainer.max_epochs' must be a number" },
      { { { "trainer.max_epochs", 0 } }, "'trainer.max_epochs' must be an integer >= 1, got 0" },
      { { { "trainer.max_epochs", "1" } }, "'trainer.max_epochs' must be a number, got '1' %(a string%)" },
      { { { "trainer.progress", { 1, 2 } } }, "'trainer.progress' must be a string, got a table %[1,2%]" },
      { { { "trainer.max_epochs", 2.5 } }, "'trainer.max_epochs' must be an integer >= 1, got 2.5" },
      { { { "callbacks.early_stopping.patience", 0 } }, "patience' must be an integer >= 1" },
      { { { "callbacks.ema.decay", 1 } },
        "'callbacks.ema.decay' must be a number in %[0, 1%), got 1" },
      { { { "callbacks.ema.decya", 0.9 } },
        "unknown key 'callbacks.ema.decya' %(did you mean 'callbacks.ema.decay'" },
      { { { "callbacks.ema.update_every_n_steps", 0 } },
        "'callbacks.ema.update_every_n_steps' must be an integer >= 1, got 0" },
      { { { "callbacks.ema.update_starting_at_step", 2.5 } },
        "'callbacks.ema.update_starting_at_step' must be an integer >= 0, got 2.5" },
      { { { "callbacks.ema", 0.99 } }, "'callbacks.ema' must be a table" },
      { { { "trainer.gradient_clip_val", -1 } }, "'trainer.gradient_clip_val' must be a number > 0" },
      { { { "trainer.progress", "loud" } },
        "'trainer.progress' must be one of auto, bar, lines, off, got 'loud'" },
      { { { "trainer.device", "gpu" } }, "'trainer.device' must be 'cpu' or 'cuda%[:N%]', got 'gpu'" },
      { { { "trainer.device", "cuda:" } }, "'trainer.device' must be 'cpu' or 'cuda%[:N%]', got 'cuda:'" },
      { { { "callbacks.checkpoint.mode", "maximum" } },
        "'callbacks.checkpoint.mode' must be one of min, max" },
      { { { "callbacks.checkpoint.monitor", "val_acc" } },
        "monitors val_acc/min but callbacks.early_stopping " ..
        "monitors val_loss/min" },
      { { { "callbacks.checkpoint.monitor", "val_acc" }, { "callbacks.early_stopping.monitor", "val_acc" } },
        "graphids.models.GATClassifier must monitor val_loss/min" },
      { { { "model.class_path", "graphids.models.losses.FocalLoss" },
        { "model.init_args", { loss_fn = "focal" } } },
        "'model.class_path': graphids.models.losses.FocalLoss is not a model class %(one of " ..
        "graphids.models.DGI, graphids.models.GATClassifier," },
      { { { "model.class_path", "graphids.models.GATClasifier" } }, "unknown class path " ..
        "'graphids.models.GATClasifier' %(closest: graphids.models.GATClassifier" },
      { { { "data.class_path", "graphids.data.GraphDataModul" } },
        "did you mean 'graphids.data.GraphDataModule'" },
      { { { "data.init_args.batching", "none" } }, "'data.init_args.batching' must be 'fixed' or 'budget'" },
      -- the dataset cache's own options, named before any data is read
      { { { "data.init_args.window_size", 0 } },
        "'data.init_args.window_size' must be an integer in 3%.%.1048576" },
      -- a size no window graph comes of (2 frames make no edge), refused before any data is read
      { { { "data.init_args.window_size", 2 } }, "'data.init_args.window_size' must be an integer " ..
        "in 3%.%.1048576 %(a window of 2 frames or fewer has no edge%), got 2$" },
      { { { "data.init_args.val_fraction", 1.5 } }, "'data.init_args.val_fraction' must be in %[0, 1%)" },
      { { { "data.init_args.scaler", "global" } }, "'data.init_args.scaler' must be 'train' or 'per_file'" },
      { { { "data.init_args.node_by_id", "yes" } }, "'data.init_args.node_by_id' must be a boolean" },
      { { { "data.init_args.batching", "budget" } },
        "'data.init_args.batching' = 'budget' needs node_budget and edge_budget" },
      { { { "callbacks.lr_monitor", true }, { "callbacks", 5 } }, "'callbacks' must be a table" },
      -- a short key is not two edits from anything: the keys are listed, less the Lua-only ones
      { { { "data.init_args.lr", 1 } }, "unknown key 'data.init_args.lr' %(allowed: batch_size, batching, " ..
        "calibration, catalog, data_root, dataset, device, edge_budget, eval_batch_size, label_filter, " ..
        "lake_root, node_budget, node_by_id, scaler, seed, shuffle, stride, val_fraction, vocab_from, " ..
        "window_size%)$" },
      { { { "model.init_args.bs", 1 } }, "unknown key 'model.init_args.bs' %(allowed: conv_type," },
      { { { "seed", 1 } }, "unknown key 'seed' %('seed' is a top%-level argument of the recipe: %-%-tla " ..
        "seed=VALUE%)$" },
      { { { "dataset", "hcrl_sa" } }, "'dataset' is a top%-level argument of the recipe" },
      { { { "model.class_path", "graphids.models.GAT" } }, "unknown class path 'graphids.models.GAT' " ..
        "%(closest: graphids.models.GATClassifier, graphids.models.VGAE, graphids.models.DGI%)$" },
    }
    for _, c in ipairs(cases) do
      local err = resolve_err(c[1])
      assert.truthy(err:find(c[2]), "expected /" .. c[2] .. "/ in: " .. err)
      assert.truthy(err:find("^invalid configuration: "), err)
    end
    -- the same, compared whole: each was a raw Lua error, a late failure or a silent change
    local whole = {
      -- a fit without checkpoints would empty a run dir and still mark it trained
      { { { "trainer.enable_checkpointing", false } }, "'trainer.enable_checkpointing' = false needs no " ..
        "run dir: a run dir's tests, resumes and the pipeline's decisions read its checkpoints (set " ..
        "trainer.default_root_dir=\"\" to train without writing anything)" },
      { { { "trainer.precision", { 1 } } },
        "'trainer.precision' must be one of 32, bf16-mixed, 16-mixed, got a table [1]" },
      { { { "trainer.precision", true } },
        "'trainer.precision' must be one of 32, bf16-mixed, 16-mixed, got true" },
      { { { "model.class_path", "graphids." } },
        "'model.class_path' must be dotted names under graphids with no empty part, " ..
        "got 'graphids.'" },
      { { { "data.class_path", "graphids.data." } },
        "'data.class_path' must be dotted names under graphids with no empty part, " ..
        "got 'graphids.data.'" },
      { { { "model.init_args.id_encoder_class_path", "graphids." } },
        "'model.init_args.id_encoder_class_path' must be dotted names under graphids " ..
        "with no empty part, got 'graphids.'" },
      { { { "model.init_args.id_encoder_class_path", "graphids.models.id_encoder.Lookup" } },
        "'model.init_args.id_encoder_class_path': unknown class path 'graphids.models.id_encoder.Lookup' " ..
        "(closest: " },
      -- JSON has no infinity: resolved.json could not be written
      { { { "trainer.max_time", math.huge } }, "'trainer.max_time' must be a finite number, got inf" },
      { { { "trainer.gradient_clip_val", math.huge } },
        "'trainer.gradient_clip_val' must be a finite number, got inf" },
      { { { "callbacks.early_stopping.min_delta", math.huge } },
        "'callbacks.early_stopping.min_delta' must be a finite number, got inf" },
      { { { "model.init_args.lr", -math.huge } }, "'model.init_args.lr' must be a finite number, got -inf" },
      { { { "model.init_args.lr", 0 / 0 } }, "'model.init_args.lr' must be a finite number, got nan" },
      -- options for Lua callers only
      { { { "data.init_args.cache", {} } },
        "'data.init_args.cache' cannot be configured: cache is an option for Lua callers (a loaded " ..
        "dataset cache)" },
      { { { "data.init_args.log", 1 } }, "'data.init_args.log' cannot be configured: log is an option for " ..
        "Lua callers (a function of one message)" },
      -- paths read before the data module checks them (io.join named no key)
      { { { "data.init_args.data_root", 5 } }, "'data.init_args.data_root' must be a string, got 5" },
      { { { "data.init_args.lake_root", true } }, "'data.init_args.lake_root' must be a string, got true" },
    }
    for _, c in ipairs(whole) do
      assert.equal("invalid configuration: " .. c[2], resolve_err(c[1]):sub(1, #c[2] + 23))
    end
    assert.equal("invalid configuration: 'model.distillation.T' must be a finite number, got inf",
      resolve_err(nil, { teacher_ckpt = "t", T = math.huge }, "recipes/stages/gat_kd.lua"))
    -- each model class names its monitor: the RL policies val_acc/max, the others val_loss/min
    local to_loss = { { "callbacks.checkpoint.monitor", "val_loss" }, { "callbacks.checkpoint.mode", "min" },
      { "callbacks.early_stopping.monitor", "val_loss" }, { "callbacks.early_stopping.mode", "min" } }
    local err = resolve_err(to_loss, { states_dir = "s", method = "bandit" }, "recipes/stages/fusion.lua")
    assert.truthy(err:find("graphids.models.fusion.BanditFusion must monitor val_acc/max, " ..
      "callbacks.checkpoint has val_loss/min", 1, true), err)
    local to_acc = { { "callbacks.checkpoint.monitor", "val_acc" }, { "callbacks.checkpoint.mode", "max" },
      { "callbacks.early_stopping.monitor", "val_acc" }, { "callbacks.early_stopping.mode", "max" } }
    err = resolve_err(to_acc, { states_dir = "s", method = "weighted_avg" }, "recipes/stages/fusion.lua")
    assert.truthy(err:find("graphids.models.fusion.WeightedAvgFusion must monitor val_loss/min", 1, true),
      err)
    -- a fusion model on graph data (the VGAE's recipe: the GAT's derives its loss from a TLA)
    err = resolve_err({ { "model.class_path", "graphids.models.fusion.MLPFusion" }, { "model.init_args",
      {} } }, nil, "recipes/stages/vgae.lua")
    assert.truthy(err:find("needs the fusion data module"), err)
  end)

  it("rejects bad TLAs, missing recipes and dataset folders that do not exist", function()
    local err = resolve_err(nil, { datset = "x" })
    assert.truthy(err:find("unknown argument 'datset' %(did you mean 'dataset'%?%)"), err)
    -- a null is an argument not given, but a misspelt name is still named
    err = resolve_err(nil, { datset = json.null })
    assert.truthy(err:find("unknown argument 'datset' %(did you mean 'dataset'%?%)"), err)
    assert.equal("lake/synthetic/gat/focal/seed_42",
      config.resolve("recipes/stages/gat.lua", { tla = { dataset = json.null } }).run_dir)
    err = resolve_err(nil, { seed = "forty" })
    assert.truthy(err:find("argument 'seed' must be a number"), err)
    err = resolve_err(nil, { seed = 1.5 })
    assert.truthy(err:find("recipe recipes/stages/gat.lua: top-level argument 'seed' must be an integer, " ..
      "got 1.5", 1, true), err)
    assert.equal("L/synthetic/gat/focal/seed_100",
      config.resolve("recipes/stages/gat.lua", { tla = { seed = 1e2, lake_root = "L//" } }).run_dir)
    err = resolve_err(nil, { dataset = "hcrl_xx" })
    assert.truthy(err:find("invalid configuration: 'data.init_args.dataset': unknown dataset 'hcrl_xx'", 1,
      true), err)
    -- a negative seed is named by the argument given, not by the keys it sets
    err = resolve_err(nil, { seed = -1 })
    assert.equal("seed must be an integer >= 0 (--tla seed), got -1", err)
    err = resolve_err(nil, { lake_root = "" })
    assert.equal("lake_root is empty: name the folder that holds the runs (default 'lake')", err)
    err = resolve_err(nil, { scale = "huge" })
    -- (checked by the stage recipe before its model preset is looked up)
    assert.equal("scale must be one of small, large (--tla scale), got 'huge'", err)
    err = resolve_err(nil, nil, "")
    assert.truthy(err:find("recipe path must be a non%-empty string, got ''$"), err)
    err = resolve_err(nil, nil, "recipes/stages/nope.lua")
    assert.truthy(err:find("recipe 'recipes/stages/nope.lua' not found"), err)
    err = resolve_err(nil, nil, "recipes/pipelines")
    assert.equal("recipe 'recipes/pipelines' is a folder; name a recipe file (it holds graphids.lua)", err)
    err = resolve_err(nil, { dataset = "hcrl_sa", data_root = gio.join(tmp, "nowhere") })
    assert.truthy(err:find("the dataset folder " .. gio.join(tmp, "nowhere/hcrl_sa"):gsub("%p", "%%%0") ..
      " does not exist"), err)
    err = resolve_err(nil, {}, "recipes/stages/gat_kd.lua")
    assert.truthy(err:find("gat_kd needs %-%-tla teacher_ckpt"), err)
    -- a table recipe takes no TLAs
    local p = gio.join(tmp, "plain.lua")
    proc.spit(p, "return {seed_everything = 1}")
    err = resolve_err(nil, { seed = 1 }, p)
    assert.truthy(err:find("takes no top%-level arguments %(got seed%)"), err)
    -- a recipe that is not Lua
    proc.spit(p, "return {")
    err = resolve_err(nil, nil, p)
    assert.truthy(err:find("^recipe " .. p:gsub("%p", "%%%0")), err)
    -- a run's resolved.json is no recipe: named so, with how to replay the run
    local rj = gio.join(tmp, "run", "resolved.json")
    local oj = gio.join(tmp, "run", "overrides.json")
    assert(gio.mkdir_p(gio.join(tmp, "run")))
    proc.spit(rj, '{"seed_everything": 1}')
    local not_lua = "recipe %s is JSON; --config takes a Lua recipe (recipes/stages/<stage>.lua)"
    -- an overrides.json is named only where there is one
    assert.equal(not_lua:format(rj), resolve_err(nil, nil, rj))
    proc.spit(oj, '{"tla": {}, "set": []}')
    assert.equal(not_lua:format(rj) .. ". A run is replayed from its recipe with the --tla and --set its " ..
      "overrides.json records (" .. oj .. ")", resolve_err(nil, nil, rj))
    -- and never as the replay of itself
    assert.equal(not_lua:format(oj) .. ". It records a run's --tla and --set: replay the run from its " ..
      "recipe with them", resolve_err(nil, nil, oj))
  end)

  it("names the recipe and the cause when a recipe fails: a cycle, a bad import, an error value", function()
    local function err_of(name, text)
      local p = gio.join(tmp, name .. ".lua")
      proc.spit(p, text)
      return resolve_err(nil, nil, p), p
    end
    local err, p = err_of("cycle", "local t = {} t.x = t return t")
    assert.equal("recipe " .. p .. " returns a table that contains itself: 'x' is the returned table; " ..
      "a configuration is a tree of values", err)
    err, p = err_of("cycle2", "return function() local t = {a = {}} t.a.b = {c = t.a} return t end")
    assert.equal("recipe " .. p .. " returns a table that contains itself: 'a.b.c' is 'a' again; " ..
      "a configuration is a tree of values", err)
    -- (a table held twice is no cycle)
    err = err_of("shared", "local s = {} return {seed_everything = 1, trainer = {x = s, y = s}}")
    assert.falsy(err:find("contains itself", 1, true), err)
    err, p = err_of("import5", "return import(5)")
    assert.truthy(err:find("recipe " .. p .. ": import takes the path of a recipe file, got 5", 1, true), err)
    err, p = err_of("errtable", "error({})")
    assert.equal("recipe " .. p .. " failed: it raised a table {}, not an error message", err)
    err, p = err_of("errfn", "return function() error(nil) end")
    assert.equal("recipe " .. p .. " failed: it raised nil, not an error message", err)
  end)

  it("passes the device TLA to the trainer and the extract stage, outside the run dir", function()
    local cpu = config.resolve("recipes/stages/gat.lua")
    local gpu = config.resolve("recipes/stages/gat.lua", { tla = { device = "cuda:1" } })
    assert.equal("cpu", cpu.validated.trainer.device)
    assert.equal("cuda:1", gpu.validated.trainer.device)
    assert.equal(cpu.run_dir, gpu.run_dir)
    local err = resolve_err(nil, { device = "gpu" })
    assert.truthy(err:find("'trainer.device' must be 'cpu' or 'cuda[:N]', got 'gpu'", 1, true), err)
    local fs = require "graphids.orchestrate.fusion_states"
    local tla = { vgae_ckpt = "v.ckpt", gat_ckpt = "g.ckpt", device = "cuda" }
    assert.equal("cuda", fs.resolve("recipes/stages/fusion_states.lua", tla).device)
    tla.device = "cuda:x"
    local ok, e = pcall(fs.resolve, "recipes/stages/fusion_states.lua", tla)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("'device' must be 'cpu', 'cuda' or 'cuda:N', got 'cuda:x' (a string)",
      1, true), tostring(e))
  end)

  -- (met only in the fit, such a value failed after the fit had replaced the run dir's checkpoints)
  it("checks every data module option when it validates, before any fit", function()
    local fusion = { "recipes/stages/fusion.lua", { states_dir = "s" } }
    local cases = {
      { fusion, "data.init_args.eval_batch_size", 0, "must be an integer >= 1, got 0$" },
      { fusion, "data.init_args.eval_batch_size", 1.5, "must be an integer >= 1, got 1.5$" },
      { fusion, "data.init_args.eval_batch_size", "x", "must be an integer >= 1, got 'x' %(a string%)$" },
      { fusion, "data.init_args.eval_batch_size", -5, "must be an integer >= 1, got %-5$" },
      { { "recipes/stages/gat.lua" }, "data.init_args.device", "gpu",
        "must be 'cpu' or 'cuda%[:N%]', got 'gpu' %(a string%)$" },
      { { "recipes/stages/gat.lua" }, "data.init_args.eval_batch_size", 0,
        "must be an integer >= 1, got 0$" },
    }
    for _, c in ipairs(cases) do
      local err = resolve_err({ { c[2], c[3] } }, c[1][2], c[1][1])
      local want = "invalid configuration: '" .. c[2]:gsub("%.", "%%.") .. "' " .. c[4]
      assert.truthy(err:find(want), err)
    end
    -- (the seed and the dataset come from the TLAs; a Lua caller gives them to the module itself)
    local FDM = require("graphids.orchestrate.fusion_data").FusionDataModule
    for _, c in ipairs({ { { seed = 1.5 }, "seed must be an integer >= 0, got 1.5" },
      { { dataset = 5 }, "dataset must be a string, got 5" } }) do
      c[1].states_dir = "s"
      local ok, err = pcall(FDM, c[1])
      assert.is_false(ok)
      assert.truthy(tostring(err):find("FusionDataModule: " .. c[2], 1, true), tostring(err))
    end
    local r = config.resolve("recipes/stages/gat.lua", { set = { { "data.init_args.device", "cuda:1" } } })
    assert.equal("cuda:1", r.validated.data.init_args.device)
  end)

  it("checks the distillation weights and refuses a key the student's family does not use", function()
    local kd = { "recipes/stages/gat_kd.lua", { teacher_ckpt = "t" } }
    local vgae = { "recipes/stages/vgae.lua", {}, { { "model.distillation", { teacher_ckpt = "t" } } } }
    local cases = {
      { kd, "latent_weight", -1, "'model.distillation.latent_weight' must be >= 0, got -1.0" },
      { kd, "recon_weight", -5, "'model.distillation.recon_weight' must be >= 0, got -5.0" },
      { vgae, "latent_weight", -1, "'model.distillation.latent_weight' must be >= 0, got -1.0" },
      { kd, "recon_weight", 2, "'model.distillation.recon_weight' does not apply to a GATClassifier " ..
        "student (it distils with T and alpha), got 2.0" },
      { vgae, "T", 2, "'model.distillation.T' does not apply to a VGAE student (it distils with alpha, " ..
        "latent_weight and recon_weight), got 2.0" },
    }
    for _, c in ipairs(cases) do
      local set = { table.unpack(c[1][3] or {}) }
      set[#set + 1] = { "model.distillation." .. c[2], c[3] }
      assert.equal("invalid configuration: " .. c[4], resolve_err(set, c[1][2], c[1][1]))
    end
    -- the defaults of the other family's keys stay in the section (records hold them, and read back)
    local r = config.resolve(kd[1], { tla = kd[2], set = { { "model.distillation.latent_weight", 1 } } })
    assert.equal(1.0, r.validated.model.distillation.latent_weight)
    local v = config.resolve(vgae[1], { set = { vgae[3][1], { "model.distillation.recon_weight", 0 } } })
    assert.equal(0.0, v.validated.model.distillation.recon_weight)
  end)

  it("encodes a number one way however it is written, for keys without a default too", function()
    local cases = {
      { "recipes/stages/gat.lua", { { "trainer.gradient_clip_val", 1 } } }, -- the recipe's 1.0
      { "recipes/stages/gat.lua", { { "trainer.max_time", 60 } }, { { "trainer.max_time", 60.0 } } },
      { "recipes/stages/gat.lua", { { "model.init_args.num_ids", 32.0 } },
        { { "model.init_args.num_ids", 32 } } },
      { "recipes/stages/vgae.lua", { { "model.init_args.hidden_dims", { 80.0, 40, 16.0 } } },
        { { "model.init_args.hidden_dims", { 80, 40, 16 } } } },
      { "recipes/stages/gat.lua", { { "model.init_args.id_encoder_kwargs", { p_unk_graph = 1.0 } } },
        { { "model.init_args.id_encoder_kwargs", { p_unk_graph = 1 } } } },
    }
    for i, c in ipairs(cases) do
      local lake = gio.join(tmp, "kinds" .. i)
      local a = config.resolve(c[1], { tla = { lake_root = lake }, set = c[3] })
      local b = config.resolve(c[1], { tla = { lake_root = lake }, set = c[2] })
      assert.equal(a.config_digest, b.config_digest, c[2][1][1])
      -- and a resume under the other spelling is the same fit
      config.write_run_files(a)
      assert.is_nil(require("graphids.orchestrate.record").resume_problem(b))
    end
    local r = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.max_time", 60 } } })
    assert.equal("float", math.type(r.validated.trainer.max_time))
  end)

  it("takes JSON numbers for the precision \"32\" and integral floats for integer data options", function()
    local r = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.precision", 32 },
      { "data.init_args.batch_size", 32.0 }, { "data.init_args.eval_batch_size", 64.0 },
      { "data.init_args.calibration", 1.0 } } })
    assert.equal("32", r.validated.trainer.precision)
    assert.equal("integer", math.type(r.validated.data.init_args.batch_size))
    assert.equal(64, r.validated.data.init_args.eval_batch_size)
    assert.equal("integer", math.type(r.validated.data.init_args.eval_batch_size))
    assert.equal("float", math.type(r.validated.data.init_args.calibration)) -- a float option stays one
    local f = config.resolve("recipes/stages/fusion.lua", { tla = { states_dir = "s" },
      set = { { "data.init_args.batch_size", 16.0 } } })
    assert.equal("integer", math.type(f.validated.data.init_args.batch_size))
    local err = resolve_err({ { "data.init_args.batch_size", 32.5 } })
    assert.truthy(err:find("'data.init_args.batch_size' must be an integer >= 1, got 32.5", 1, true), err)
  end)

  it("takes the Trainer's loop options, checked by its rules and named by key", function()
    local r = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.accumulate_grad_batches", 4.0 },
      { "trainer.limit_train_batches", 0.5 }, { "trainer.limit_val_batches", 3.0 },
      { "trainer.check_val_every_n_epoch", 2 } } })
    local t = r.validated.trainer
    assert.same({ 4, 0.5, 3, 2 }, { t.accumulate_grad_batches, t.limit_train_batches, t.limit_val_batches,
      t.check_val_every_n_epoch })
    assert.same({ "integer", "float", "integer" }, { math.type(t.accumulate_grad_batches),
      math.type(t.limit_train_batches), math.type(t.limit_val_batches) })
    -- 1 is one batch, 1.0 the whole epoch: the kind is kept, and so is the digest's difference
    local one = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.limit_train_batches", 1 } } })
    local all = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.limit_train_batches", 1.0 } } })
    assert.same({ "integer", "float" }, { math.type(one.validated.trainer.limit_train_batches),
      math.type(all.validated.trainer.limit_train_batches) })
    assert.are_not.equal(one.config_digest, all.config_digest)
    -- absent, they leave the configuration (and its digest) as it was
    local plain = config.resolve("recipes/stages/gat.lua")
    assert.is_nil(plain.validated.trainer.accumulate_grad_batches)
    local smoke = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.fast_dev_run", 2.0 },
      { "trainer.default_root_dir", "" } } })
    assert.equal(2, smoke.validated.trainer.fast_dev_run)
    local limit = "an integer >= 0 (a number of batches) or a number in [0, 1] (a fraction of the " ..
      "epoch's batches)"
    local no_best = ", and callbacks.checkpoint monitors val_loss: the run would have no best checkpoint"
    -- {key (under trainer.), value, the error after "invalid configuration: 'trainer.<key>'"}
    local cases = {
      { "accumulate_grad_batches", 0, " must be an integer >= 1, got 0" },
      { "check_val_every_n_epoch", 1.5, " must be an integer >= 1, got 1.5" },
      { "limit_train_batches", 1.5, " must be " .. limit .. ", got 1.5" },
      { "limit_val_batches", "all", " must be " .. limit .. ", got 'all' (a string)" },
      { "fast_dev_run", -2, " must be a boolean or an integer >= 0 (its number of batches), got -2" },
      { "limit_train_batches", 0, " = 0 trains nothing (a count >= 1, or a fraction in (0, 1])" },
      -- a smoke test writes no checkpoint, which a run dir's tests, resumes and pipeline read
      { "fast_dev_run", true, " writes no checkpoint, and a run dir's tests, resumes and the pipeline's " ..
        "decisions read them (set trainer.default_root_dir=\"\" for a smoke test)" },
      -- the val metric the callbacks monitor needs an epoch that validates
      { "limit_val_batches", 0.0, " = 0 runs no validation" .. no_best },
      { "check_val_every_n_epoch", 16, " = 16 > max_epochs = 15 validates no epoch" .. no_best },
    }
    for _, c in ipairs(cases) do
      assert.equal("invalid configuration: 'trainer." .. c[1] .. "'" .. c[3],
        resolve_err({ { "trainer." .. c[1], c[2] } }))
    end
    -- fast_dev_run = 0 (or false) is off, though 0 is true in Lua: the val refusals stand
    for _, c in ipairs({ cases[#cases - 1], cases[#cases] }) do
      for _, off in ipairs({ 0, 0.0, false }) do
        assert.equal("invalid configuration: 'trainer." .. c[1] .. "'" .. c[3],
          resolve_err({ { "trainer." .. c[1], c[2] }, { "trainer.fast_dev_run", off } }))
      end
    end
    -- a policy that steps its own optimizer on every batch accumulates nothing
    local err = resolve_err({ { "trainer.accumulate_grad_batches", 2 } },
      { states_dir = "s", method = "dqn" }, "recipes/stages/fusion.lua")
    assert.equal("invalid configuration: 'trainer.accumulate_grad_batches' = 2 needs automatic " ..
      "optimization; graphids.models.fusion.DQNFusion optimizes itself and steps on every batch", err)
  end)

  it("names a pipeline or extract recipe given where a training stage is expected", function()
    local err = resolve_err(nil, nil, "recipes/pipelines/graphids.lua")
    assert.equal("recipe recipes/pipelines/graphids.lua is a pipeline (it has 'stages'), not a stage: " ..
      "run it with graphids pipeline recipes/pipelines/graphids.lua", err)
    err = resolve_err(nil, { vgae_ckpt = "v", gat_ckpt = "g" }, "recipes/stages/fusion_states.lua")
    assert.equal("recipe recipes/stages/fusion_states.lua is an extract stage (kind = \"extract\"), which " ..
      "trains nothing: it runs as a stage of a pipeline (graphids pipeline " ..
      "recipes/pipelines/graphids.lua)", err)
  end)

  it("gives a read-only validated view; thaw() copies it", function()
    local r = config.resolve("recipes/stages/gat.lua")
    assert.has_error(function() r.validated.trainer.max_epochs = 1 end,
      "the validated configuration is read-only (tried to set 'trainer.max_epochs'); change the recipe " ..
      "or pass --set")
    assert.has_error(function() r.validated.new = 1 end)
    local keys = {}
    for k in pairs(r.validated) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "callbacks", "data", "identity", "model", "seed_everything", "trainer" }, keys)
    local t = config.thaw(r.validated)
    t.trainer.max_epochs = 1
    assert.equal(1, t.trainer.max_epochs)
    assert.are_not.equal(1, r.validated.trainer.max_epochs)
    -- pairs hands out no writable table: its state and control values are no way in
    local f, state, ctrl = pairs(r.validated.trainer)
    assert.equal("function", type(f))
    assert.is_nil(state)
    assert.is_nil(ctrl)
    local seen = 0
    for k, v in f, state, ctrl do
      seen = seen + 1
      assert.equal(v, r.validated.trainer[k])
    end
    assert.truthy(seen > 5)
    assert.equal(r.validated.trainer.max_epochs, config.thaw(r.validated).trainer.max_epochs)
  end)

  it("writes resolved.json and overrides.json into the run dir, and names a run dir it cannot create",
    function()
    local lake = gio.join(tmp, "lake")
    local r = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = lake, seed = 5 },
      set = { { "trainer.max_epochs", 2 } } })
    local rp, op = config.write_run_files(r)
    local resolved = gio.read_json(rp)
    assert.equal(2, resolved.trainer.max_epochs)
    assert.equal(5, resolved.identity.seed)
    local ov = gio.read_json(op)
    assert.equal(5, ov.tla.seed)
    assert.same({ "trainer.max_epochs", 2 }, { ov.set[1][1], ov.set[1][2] })
    -- no run dir: nothing written
    local r0 = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.default_root_dir", "" } } })
    assert.is_nil(r0.run_dir)
    assert.is_nil(r0.ckpt_file)
    assert.is_nil(config.write_run_files(r0))
    -- a run dir below a regular file cannot be created: a clear error, the file is intact
    local f = gio.join(tmp, "afile")
    proc.spit(f, "keep")
    local bad = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = f } })
    local ok, err = pcall(config.write_run_files, bad)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot create the run dir " .. f:gsub("%p", "%%%0")), err)
    assert.equal("keep", proc.slurp(f))
  end)

  it("writes an empty list to resolved.json as [], so the run reads back with its digest", function()
    local lake = gio.join(tmp, "lake_empty_list")
    local k, v = config.parse_kv("model.init_args.id_encoder_kwargs=[]")
    local r = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = lake }, set = { { k, v } } })
    local rp, op = config.write_run_files(r)
    assert.truthy(proc.slurp(op):find('"model.init_args.id_encoder_kwargs",%s*%[%]'), proc.slurp(op))
    assert.truthy(proc.slurp(rp):find('"id_encoder_kwargs":%s*%[%]'), proc.slurp(rp))
    assert.is_true(json.is_array(config.as_json(r.validated).model.init_args.id_encoder_kwargs))
    local again = config.from_rendered(gio.read_json(rp))
    assert.equal(r.config_digest, again.config_digest)
    -- and a resume or test finds the record it wrote unchanged
    local record = require "graphids.orchestrate.record"
    assert.is_nil(record.changes(r, function() return true end))
    -- as it does a record written before [] was kept ({} there): the same empty configuration
    local old = proc.slurp(rp):gsub('("id_encoder_kwargs":%s*)%[%]', "%1{}")
    assert.truthy(old:find('"id_encoder_kwargs":%s*{}'))
    local fh = assert(io.open(rp, "w"))
    fh:write(old)
    fh:close()
    assert.is_nil(record.changes(r, function() return true end))
    -- a value no configuration holds (1e400 reads as inf) is a changed key, not json.encode's error
    fh = assert(io.open(rp, "w"))
    fh:write((old:gsub('("max_epochs":%s*)[^,}]+', "%11e400")))
    fh:close()
    assert.equal("trainer.max_epochs", record.changes(r, function() return true end))
    -- nor is a list holding one: its description is cut on a character's boundary (40 é are
    -- more than it shows), which json.encode takes
    fh = assert(io.open(rp, "w"))
    fh:write((old:gsub('("max_epochs":%s*)[^,}]+', '%1["' .. ("é"):rep(40) .. '", 1e400]')))
    fh:close()
    assert.equal("trainer.max_epochs", record.changes(r, function() return true end))
    assert.is_nil(record.resume_problem(r)) -- a resume may change the budget
    -- a key of the damaged record is named escaped, never with its raw ESC byte
    fh = assert(io.open(rp, "w"))
    fh:write((old:gsub("^{", '{"x\\u001b[31m\\u009b": 1,')))
    fh:close()
    assert.equal("x\\x1B[31m\\xC2\\x9B", record.changes(r, function() return true end))
  end)
end)
