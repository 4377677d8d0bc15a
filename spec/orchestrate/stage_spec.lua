-- stage_spec.lua -- the stage verbs on a tiny synthetic dataset: build/train/evaluate with a run
-- dir (markers, checkpoints, train/val and per-test-set prediction sidecars with window start
-- rows, test_metrics.json with pooled and per-set keys, traces), without one (the directory
-- tree is untouched), the anomaly threshold fitted on validation, and the compatibility guard.
local graphids = require "graphids"
local gio = require "graphids.io"
local config = require "graphids.config"
local stage = require "graphids.orchestrate.stage"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"
local json = require "graphids.json"

local function sorted_keys(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- The records of dir/traces.jsonl, decoded (none when there is no file).
local function trace_events(dir)
  local out = {}
  for line in (gio.read_file(gio.join(dir, "traces.jsonl")) or ""):gmatch("[^\n]+") do
    out[#out + 1] = json.decode(line)
  end
  return out
end

-- The records of events whose event (and span, for span_start/span_end) is one of names, as
-- "event[:span][:phase][:status]" strings in order.
local function trace_outline(dir, names)
  local want, out = {}, {}
  for _, n in ipairs(names) do want[n] = true end
  for _, e in ipairs(trace_events(dir)) do
    if want[e.event] or (e.span and want[e.span]) then
      out[#out + 1] = table.concat({ e.event, e.span or "", e.phase or "", e.status or "" }, ":")
    end
  end
  return out
end

describe("graphids.orchestrate.stage", function()
  local tmp, lake
  setup(function()
    tmp = proc.tmpdir()
    lake = gio.join(tmp, "lake")
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function resolve(recipe, family, extra, tla)
    tla = tla or {}
    tla.lake_root = tla.lake_root or lake
    return config.resolve("recipes/stages/" .. recipe .. ".lua", { tla = tla, set = tiny.set(family, extra) })
  end

  it("with no run dir leaves the filesystem untouched", function()
    -- the dataset cache is built first (the data module's own business)
    stage.build(resolve("gat", "gat"))
    local r = resolve("gat", "gat", { { "trainer.default_root_dir", "" } })
    assert.is_nil(r.run_dir)
    local before = tiny.snapshot(tmp)
    config.write_run_files(r)
    local run = stage.build(r)
    assert.is_nil(stage.train(run, r))
    local m = stage.evaluate(run, r)
    assert.is_number(m["test/accuracy"])
    assert.is_number(m["test/test_01_known_vehicle_known_attack/accuracy"])
    -- the attack-interval metrics need no run dir either
    assert.is_number(m["test/attack_intervals"])
    assert.equal(before, tiny.snapshot(tmp))
    -- nor does a build that fails (the failure has no trace to go to)
    local bad = resolve("gat", "gat", { { "trainer.default_root_dir", "" },
      { "model.init_args.num_ids", 3 } })
    local ok, err = pcall(stage.build, bad)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("num_ids is 3", 1, true), err)
    assert.equal(before, tiny.snapshot(tmp))
  end)

  it("hands the Trainer its loop options: a fast_dev_run smoke test writes nothing", function()
    stage.build(resolve("gat", "gat")) -- (the dataset cache first, as above)
    local r = resolve("gat", "gat", { { "trainer.default_root_dir", "" }, { "trainer.fast_dev_run", 2 },
      { "trainer.accumulate_grad_batches", 2 }, { "trainer.check_val_every_n_epoch", 1 } })
    local before = tiny.snapshot(tmp)
    local run = stage.build(r)
    local t = run.trainer
    assert.same({ 2, 2, 2, 1, 1 }, { t.fast_dev_run, t.limit_train_batches, t.accumulate_grad_batches,
      t.check_val_every_n_epoch, t.max_epochs })
    stage.train(run, r)
    assert.same({ 1, 1 }, { t.epoch, t.global_step }) -- 2 batches, one group of 2
    assert.is_number(stage.evaluate(run, r)["test/accuracy"])
    assert.equal(before, tiny.snapshot(tmp))
    local r2 = resolve("gat", "gat", { { "trainer.default_root_dir", "" },
      { "trainer.limit_train_batches", 0.5 }, { "trainer.limit_val_batches", 1 } })
    local t2 = stage.build(r2).trainer
    assert.same({ 0.5, 1, 1, false }, { t2.limit_train_batches, t2.limit_val_batches,
      t2.accumulate_grad_batches, t2.fast_dev_run })
  end)

  it("names a run dir it cannot create before the data is read", function()
    local file = gio.join(tmp, "a_file")
    assert(gio.write_json(file, {}))
    local r = resolve("gat", "gat", nil, { lake_root = gio.join(file, "lake") })
    local ok, err = pcall(stage.build, r)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot create the run dir " .. r.run_dir, 1, true), err)
  end)

  it("records a build that fails in its run dir's trace, called directly as from a pipeline", function()
    local l = gio.join(tmp, "lake_build")
    local r = resolve("gat", "gat", nil, { lake_root = l })
    stage.build(r)
    local bad = resolve("gat", "gat", { { "model.init_args.num_ids", 3 } }, { lake_root = l })
    local ok, err = pcall(stage.build, bad)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("num_ids is 3 but the dataset's vocabulary has", 1, true), err)
    local events = trace_events(bad.run_dir)
    assert.equal(1, #events)
    assert.same({ "stage_failed", "error", "gat", "build", err }, { events[1].event, events[1].level,
      events[1].stage, events[1].phase, events[1].error })
    -- a run dir another process holds (a fit running) gets no line of it
    local lk = assert(gio.lock(gio.join(bad.run_dir, stage.STAGE_LOCK), { exclusive = true }))
    assert.is_false((pcall(stage.build, bad)))
    lk:unlock()
    assert.equal(1, #trace_events(bad.run_dir))
    -- a build refused in a new run dir takes its folders away again, and leaves no trace there:
    -- a data root whose dataset folder lacks the train folders, read after the run dir is made
    local root = gio.join(tmp, "root_without_train")
    assert(gio.mkdir_p(gio.join(root, "synthetic")))
    local fresh = resolve("gat", "gat", { { "data.init_args.data_root", root } },
      { lake_root = gio.join(tmp, "lake_fresh") })
    ok, err = pcall(stage.build, fresh)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("train folder", 1, true), err)
    assert.is_false(gio.exists(gio.join(tmp, "lake_fresh")))
  end)

  it("does not call a run tested when its dataset has no test set", function()
    local cat = { synthetic = { train = tiny.CATALOG.synthetic.train, test = {}, simulated = true,
      frames = 1500, seed = 11 } }
    local r = resolve("gat", "gat", { { "data.init_args.catalog", cat } },
      { lake_root = gio.join(tmp, "notest") })
    local run = stage.build(r)
    stage.train(run, r)
    local ok, err = pcall(stage.evaluate, run, r)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("nothing to test: the data module gave no test window", 1, true), err)
    assert.is_false(gio.exists(gio.join(r.run_dir, ".test_complete")))
    assert.is_false(gio.exists(gio.join(r.run_dir, "test_metrics.json")))
  end)

  it("trains and evaluates a GAT with every file of a run dir", function()
    local r = resolve("gat", "gat")
    config.write_run_files(r)
    local run = stage.build(r)
    assert.equal(run.datamodule.num_ids, run.model.hp.num_ids)
    assert.equal("focal", run.model.hp.loss_fn)
    local callbacks = { table.unpack(run.trainer.callbacks) }
    local best = stage.train(run, r)
    -- the fit's own callbacks (tracking, commit) leave with it
    assert.same(callbacks, run.trainer.callbacks)
    assert.equal(r.ckpt_file, best)
    assert.is_true(gio.exists(best))
    assert.is_true(gio.exists(gio.join(r.run_dir, ".train_complete")))
    assert.is_false(gio.exists(gio.join(r.run_dir, ".test_complete")))
    local dm = run.datamodule
    for split, n in pairs({ train = dm.cache.train_index:numel(), val = dm.cache.val_index:numel() }) do
      local t = assert(gio.load_safetensors(gio.join(r.run_dir, "predictions", split .. ".safetensors")))
      for _, k in ipairs({ "scores", "labels", "preds", "window_start", "source_file" }) do
        assert.is_not_nil(t[k], split .. " sidecar lacks " .. k)
        assert.equal(n, t[k]:size(1), split .. "." .. k)
      end
    end
    local m = stage.evaluate(run, r)
    assert.is_true(gio.exists(gio.join(r.run_dir, ".test_complete")))
    local saved = assert(gio.read_json(gio.join(r.run_dir, "test_metrics.json")))
    for _, set in ipairs(dm.test_names) do
      local key = "test/" .. set .. "/accuracy"
      assert.is_number(m[key], key)
      assert.equal(m[key], saved[key])
      local t = assert(gio.load_safetensors(gio.join(r.run_dir, "predictions", "test", set ..
        ".safetensors")))
      assert.equal(dm.cache.tests[set].num_graphs, t.window_start:numel())
      assert.is_true(graphids.equal(dm.cache.tests[set].window_start, t.window_start))
    end
    assert.equal(m["test/f1_macro"], saved["test/f1_macro"])
    -- pooled and per-set keys are distinct: the per-set values are not averaged into the pooled
    local p = m["test/accuracy"]
    assert.is_true(p >= math.min(m["test/test_01_known_vehicle_known_attack/accuracy"],
      m["test/test_03_known_vehicle_unknown_attack/accuracy"]) - 1e-12)
    local traces = proc.slurp(gio.join(r.run_dir, "traces.jsonl"))
    for _, ev in ipairs({ "stage_train", "save_predictions", "stage_train_complete", "stage_test",
      "stage_complete" }) do
      assert.truthy(traces:find('"event":"' .. ev .. '"', 1, true), ev)
    end
    -- the spans nest: stage(fit) > fit > epoch, stage(fit) > save_predictions(train, val),
    -- stage(test) > test, save_predictions(test); each closed "ok"
    local spans, by_id = {}, {}
    for line in traces:gmatch("[^\n]+") do
      local rec = json.decode(line)
      if rec.event == "span_start" then
        by_id[rec.span_id] = rec
      elseif rec.event == "span_end" then
        assert.equal("ok", rec.status, line)
        local start = by_id[rec.span_id]
        spans[#spans + 1] = { name = rec.span, parent = rec.parent_id and by_id[rec.parent_id],
          fields = start }
      end
    end
    local function path(sp)
      local parts = { sp.name .. (sp.fields.phase and ("(" .. sp.fields.phase .. ")") or "")
        .. (sp.fields.split and ("(" .. sp.fields.split .. ")") or "") }
      local up = sp.parent
      while up do
        table.insert(parts, 1, up.span .. (up.phase and ("(" .. up.phase .. ")") or ""))
        up = up.parent_id and by_id[up.parent_id]
      end
      return table.concat(parts, " > ")
    end
    local seen = {}
    for _, sp in ipairs(spans) do seen[path(sp)] = true end
    for _, want in ipairs({ "stage(fit)", "stage(fit) > fit", "stage(fit) > fit > epoch",
      "stage(fit) > save_predictions(train)", "stage(fit) > save_predictions(val)", "stage(test)",
      "stage(test) > test", "stage(test) > save_predictions(test)" }) do
      assert.is_true(seen[want], want .. " in " .. table.concat(sorted_keys(seen), ", "))
    end
    assert.is_true(gio.exists(gio.join(r.run_dir, "resolved.json")))
    -- a fit run and a test run in the lake's MLflow store, tagged with the run dir
    local phases = {}
    local f = io.popen("grep -rlx --include=graphids.run_dir -- '" .. r.run_dir .. "' '" .. lake ..
      "/mlruns'")
    for tagfile in f:lines() do
      phases[#phases + 1] = proc.slurp(tagfile:gsub("graphids%.run_dir$", "graphids.phase"))
    end
    f:close()
    table.sort(phases)
    assert.same({ "fit", "test" }, phases)
  end)

  it("fits the VGAE threshold on validation and writes its test decisions", function()
    local r = resolve("vgae", "vgae", { { "trainer.max_epochs", 1 } })
    local run = stage.build(r)
    stage.train(run, r)
    local m = stage.evaluate(run, r)
    local th = m["test/threshold"]
    assert.is_number(th)
    for _, set in ipairs(run.datamodule.test_names) do
      assert.equal(th, m["test/" .. set .. "/threshold"]) -- one threshold, from validation
      local t = assert(gio.load_safetensors(gio.join(r.run_dir, "predictions", "test", set ..
        ".safetensors")))
      assert.is_true(graphids.equal(t.scores:ge(th):long(), t.preds))
    end
  end)

  it("evaluates a VGAE whose validation windows are all benign with the threshold-free metrics", function()
    -- Youden's J needs both classes: the test reports what needs no threshold, and the stage
    -- still writes test_metrics.json, the sidecars (scores, no decisions) and its marker
    local r = resolve("vgae", "vgae", { { "trainer.max_epochs", 1 } },
      { lake_root = gio.join(tmp, "oneclass") })
    local run = stage.build(r)
    stage.train(run, r)
    local dm, val_loader = run.datamodule, run.datamodule.val_loader
    function dm.val_loader(self)
      local l = val_loader(self)
      return { iter = function(_, epoch)
        local f, st, c = l:iter(epoch)
        return function()
          local b = f(st, c)
          c = b
          if b then b.y = b.y:mul(0) end
          return b
        end
      end }
    end
    local said = {}
    run.trainer.log = function(msg) said[#said + 1] = msg end
    local m = stage.evaluate(run, r)
    assert.truthy(table.concat(said, "\n"):find("validation labels hold a single class", 1, true),
      table.concat(said, "\n"))
    assert.is_nil(m["test/threshold"])
    local saved = assert(gio.read_json(gio.join(r.run_dir, "test_metrics.json")))
    assert.is_number(saved["test/auroc"])
    assert.is_nil(saved["test/f1"])
    assert.is_nil(saved["test/attack_intervals"]) -- no decisions, so no attack-interval metrics
    for _, set in ipairs(run.datamodule.test_names) do
      assert.is_number(saved["test/" .. set .. "/auroc"], set)
      local t = assert(gio.load_safetensors(gio.join(r.run_dir, "predictions", "test", set ..
        ".safetensors")))
      assert.is_not_nil(t.scores)
      assert.is_nil(t.preds)
    end
    assert.is_true(gio.exists(gio.join(r.run_dir, ".test_complete")))
  end)

  it("extracts fusion states from the VGAE and GAT runs and fuses them on the real test sets", function()
    local fs = require "graphids.orchestrate.fusion_states"
    local gat, vgae = resolve("gat", "gat"), resolve("vgae", "vgae")
    local data_set = tiny.data_sets()
    local spec = fs.resolve("recipes/stages/fusion_states.lua", { lake_root = lake,
      vgae_ckpt = vgae.ckpt_file,
      gat_ckpt = gat.ckpt_file })
    config.apply_overrides(spec, data_set)
    local manifest = fs.extract(spec)
    assert.is_true(fs.is_complete(spec.out_dir, spec))
    -- traced in its folder called directly, as a pipeline's extract stage is
    local outline = { "stage", "stage_extract", "stage_complete", "stage_failed" }
    assert.same({ "span_start:stage:extract:", "stage_extract:::", "stage_complete:::",
      "span_end:stage::ok" }, trace_outline(spec.out_dir, outline))
    local dm = stage.build(gat).datamodule
    -- portable graphs (the recipes' default): each train and val graph as captured, then with
    -- every id unknown, with the same label; test sets as captured only
    local n_train = dm.cache.train_index:numel()
    assert.is_true(manifest.unknown_id_view)
    -- and each capture's VGAE columns calibrated by its first tenth of windows
    assert.equal(0.1, manifest.calibration)
    assert.equal(7, #manifest.calibration_reference.median)
    local first = assert(gio.load_safetensors(gio.join(spec.out_dir, "test_" .. dm.test_names[1] ..
      ".safetensors")))
    local rows, starts, files = first.states:totable(), first.window_start:totable(),
      first.source_file:totable()
    local idx = {}
    for i = 1, #rows do
      if files[i] == 0 then idx[#idx + 1] = i end
    end
    table.sort(idx, function(a, b) return starts[a] < starts[b] or (starts[a] == starts[b] and a < b) end)
    local errs = {}
    for k = 1, math.ceil(0.1 * #idx) do errs[k] = rows[idx[k]][1] end
    table.sort(errs)
    local pos = 1 + (#errs - 1) * 0.5
    local median = errs[math.floor(pos)] + (errs[math.ceil(pos)] - errs[math.floor(pos)]) * (pos % 1)
    local want = manifest.calibration_reference.median[1]
    assert.near(want, median, 1e-4 * (1 + math.abs(want)))
    assert.equal(2 * n_train, manifest.rows.train)
    assert.equal(dm.cache.tests[dm.test_names[1]].num_graphs, manifest.rows[dm.test_names[1]])
    local tr = assert(gio.load_safetensors(gio.join(spec.out_dir, "train.safetensors")))
    local view = tr.id_view:totable()
    local seen = { [0] = 0, [1] = 0 }
    for _, v in ipairs(view) do seen[v] = seen[v] + 1 end
    assert.same({ [0] = n_train, [1] = n_train }, seen)
    local known = tr.id_view:eq(0):nonzero():select(2, 1)
    local unknown = tr.id_view:eq(1):nonzero():select(2, 1)
    assert.is_true(graphids.equal(tr.labels:index_select(1, known), tr.labels:index_select(1, unknown)))
    assert.is_false(graphids.equal(tr.states:index_select(1, known), tr.states:index_select(1, unknown)))
    local r = config.resolve("recipes/stages/fusion.lua", {
      tla = { lake_root = lake, states_dir = spec.out_dir },
      set = { { "trainer.max_epochs", 2 }, { "trainer.progress", "off" } } })
    local run = stage.build(r)
    stage.train(run, r)
    local m = stage.evaluate(run, r)
    for _, set in ipairs(dm.test_names) do
      assert.is_number(m["test/" .. set .. "/accuracy"])
      local t = assert(gio.load_safetensors(gio.join(r.run_dir, "predictions/test", set .. ".safetensors")))
      -- the test set's own states, not the validation states
      assert.equal(dm.cache.tests[set].num_graphs, t.preds:numel())
      assert.is_true(graphids.equal(dm.cache.tests[set].window_start, t.window_start))
    end
    -- states without a validation row: the monitor is named when the stage is built, before a
    -- fit would commit (and remove a finished fusion's results)
    local novalid = gio.join(tmp, "states_novalid")
    assert(os.execute("cp -r '" .. spec.out_dir .. "' '" .. novalid .. "'"))
    local val = assert(gio.load_safetensors(gio.join(novalid, "val.safetensors")))
    for k, v in pairs(val) do val[k] = v:narrow(1, 1, 0):clone() end
    assert(gio.save_safetensors(gio.join(novalid, "val.safetensors"), val))
    local man = gio.read_json(gio.join(novalid, "manifest.json"))
    man.rows.val = 0
    assert(gio.write_json(gio.join(novalid, "manifest.json"), man))
    local r0 = config.resolve("recipes/stages/fusion.lua", {
      tla = { lake_root = gio.join(tmp, "lake_novalid"), states_dir = novalid },
      set = { { "trainer.max_epochs", 2 }, { "trainer.progress", "off" } } })
    local okb, berr = pcall(stage.build, r0)
    assert.is_false(okb)
    assert.truthy(tostring(berr):find("callbacks.checkpoint.monitor is 'val_loss', but the data module " ..
      "has no validation states (" .. novalid .. "/val.safetensors has no row)", 1, true), tostring(berr))
    -- a seeded sample of the train graphs
    local sample = config.thaw(spec)
    sample.max_train, sample.out_dir = 10, gio.join(tmp, "states_sample")
    fs.extract(sample)
    local st = assert(gio.load_safetensors(gio.join(sample.out_dir, "train.safetensors")))
    assert.equal(20, st.labels:numel()) -- 10 graphs, two views each
    -- states extracted without the unknown-id view are stale for a spec that wants it
    local plain = config.thaw(spec)
    plain.unknown_id_view = false
    assert.same({ false, "the states were extracted with unknown_id_view = true" },
      { fs.is_complete(spec.out_dir, plain) })
    local uncalibrated = config.thaw(spec)
    uncalibrated.calibration = 0
    assert.same({ false, "the states were extracted with calibration = 0.1" },
      { fs.is_complete(spec.out_dir, uncalibrated) })
    -- states of a graphids that calibrated the val windows on their own are extracted again
    local manifest_path = gio.join(spec.out_dir, "manifest.json")
    local manifest_bytes = proc.slurp(manifest_path)
    local old_manifest = gio.read_json(manifest_path)
    assert.equal("train_mapping", old_manifest.val_calibration)
    old_manifest.val_calibration = nil
    assert(gio.write_json(manifest_path, old_manifest))
    assert.same({ false, "its val states were calibrated on their own windows (an older graphids), not " ..
      "with their captures' train mapping" }, { fs.is_complete(spec.out_dir, spec) })
    assert(gio.atomic_write(manifest_path, manifest_bytes))
    assert.is_true((fs.is_complete(spec.out_dir, spec)))
    -- states of another checkpoint are stale
    local other = config.thaw(spec)
    other.gat_ckpt = vgae.ckpt_file
    assert.same({ false, "the gat_ckpt checkpoint changed since the states were extracted" },
      { fs.is_complete(spec.out_dir, other) })
    -- a damaged or missing states file makes them incomplete (extracted again, not skipped)
    local val_file = gio.join(sample.out_dir, "val.safetensors")
    local bytes = proc.slurp(val_file)
    assert(gio.atomic_write(val_file, bytes:sub(1, #bytes - 7)))
    assert.same({ false, "its val.safetensors differs from the one extracted" },
      { fs.is_complete(sample.out_dir) })
    assert(gio.remove_tree(val_file))
    assert.same({ false, "its val.safetensors is missing" }, { fs.is_complete(sample.out_dir) })
    -- a GAT checkpoint given as the VGAE is refused, naming the argument
    spec.vgae_ckpt = gat.ckpt_file
    local ok, err = pcall(fs.extract, spec)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("holds a graphids.models.GATClassifier; expected a graphids.models.VGAE",
      1, true), err)
    -- and the refusal is in its trace: a stage_failed event with the message, the span's error
    local events = trace_events(spec.out_dir)
    assert.same({ "stage_failed", "extract", err }, { events[#events - 1].event, events[#events - 1].phase,
      events[#events - 1].error })
    assert.same({ "span_end", "error", err }, { events[#events].event, events[#events].status,
      events[#events].error })
  end)

  it("calibrates the DGI's SVDD centre on the benign train graphs after loading its weights", function()
    local r = resolve("dgi", "vgae", { { "trainer.max_epochs", 1 } })
    local run = stage.build(r)
    stage.train(run, r)
    assert.is_true(gio.exists(gio.join(r.run_dir, "predictions", "val.safetensors")))
    local m = stage.evaluate(stage.build(r), r) -- a fresh model: weights and centre from the run
    assert.is_number(m["test/auroc"])
    assert.is_number(m["test/threshold"])
  end)

  -- A fitted and tested GAT run in a lake of its own under tmp.
  local function tested_run(lake_name)
    local r = resolve("gat", "gat", nil, { lake_root = gio.join(tmp, lake_name) })
    local run = stage.build(r)
    stage.train(run, r, { write_run_files = true })
    stage.evaluate(run, r, { write_run_files = true })
    return r
  end

  it("changes a finished run's record and results only once a new fit starts", function()
    local refit_lake = gio.join(tmp, "lake_refit")
    local r = tested_run("lake_refit")
    local resolved_json = gio.join(r.run_dir, "resolved.json")
    local record = proc.slurp(resolved_json)
    -- a test under other overrides keeps the record of how the weights were trained
    local other = resolve("gat", "gat", { { "trainer.log_every_n_steps", 7 } }, { lake_root = refit_lake })
    stage.evaluate(stage.build(other), other, { write_run_files = true })
    assert.equal(record, proc.slurp(resolved_json))
    -- a fit refused when the trainer builds its optimizer: the finished run is as it was
    local before = tiny.snapshot(r.run_dir, true)
    local store = gio.join(refit_lake, "mlruns")
    local store_before = tiny.snapshot(store)
    -- (a bad learning rate is a configuration error when the stage is built, optimizer and all)
    local bad = resolve("gat", "gat", { { "model.init_args.lr", -1 } }, { lake_root = refit_lake })
    local ok, err = pcall(stage.build, bad)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("invalid configuration: 'model.init_args.lr': Adam: option 'lr' must " ..
      "be >= 0", 1, true), err)
    assert.equal(before, tiny.snapshot(r.run_dir, true))
    -- a fit refused inside fit, before its commit (the checkpoint folder locked by another run):
    -- the run dir and the tracking store too are as they were (no FAILED fit run beside the
    -- finished one: it opens at the commit)
    local lk = assert(gio.lock(gio.join(r.run_dir, "checkpoints", ".lock"), { exclusive = true }))
    local gamma1 = resolve("gat", "gat", { { "model.init_args.focal_gamma", 1 } }, { lake_root = refit_lake })
    ok, err = pcall(stage.train, stage.build(gamma1), gamma1, { write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("checkpoints", 1, true), err)
    assert.equal(before, tiny.snapshot(r.run_dir, true))
    assert.equal(store_before, tiny.snapshot(store))
    -- a resume refused there does not reopen the finished fit run to close it FAILED
    ok = pcall(stage.train, stage.build(r), r, { resume_from = r.last_ckpt })
    assert.is_false(ok)
    lk:unlock()
    assert.equal(store_before, tiny.snapshot(store))
    -- settings that would fail only in the first forward or at the first epoch's end, after the
    -- commit, are refused when the stage is built
    for _, case in ipairs({
      { "model.init_args.edge_dim", 3, "model.init_args.edge_dim is 3 but the dataset's graphs have 11" },
      { "model.init_args.in_channels", 3, "model.init_args.in_channels is 3 but the dataset's graphs " ..
        "have 35 node features" },
      { "data.init_args.val_fraction", 0, "callbacks.checkpoint.monitor is 'val_loss', but the data " ..
        "module has no validation graphs" },
      { "model.init_args.num_classes", 1, "model.init_args.num_classes is 1 but the dataset's labels need " ..
        "2 classes" },
    }) do
      local wrong = resolve("gat", "gat", { { case[1], case[2] } }, { lake_root = refit_lake })
      ok, err = pcall(function()
        return stage.train(stage.build(wrong), wrong, { write_run_files = true })
      end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(case[3], 1, true), err)
      assert.equal(before, tiny.snapshot(r.run_dir, true))
    end
    -- a convolution that reads no edge features ignores edge_dim: not refused
    local plain = resolve("gat", "gat", { { "model.init_args.conv_type", "gat" },
      { "model.init_args.edge_dim", 5 } }, { lake_root = gio.join(tmp, "lake_plain_gat") })
    assert.is_table(stage.build(plain).model)
    -- a fit that starts takes the run over at once: failing after its first epoch (whose end
    -- wrote its checkpoints), it leaves no marker or metrics of the previous model, and the
    -- record is its own
    local again = resolve("gat", "gat", { { "trainer.max_epochs", 3 } }, { lake_root = refit_lake })
    local run3 = stage.build(again)
    local crash = require("graphids.callbacks").Callback()
    function crash.on_train_epoch_start(_, t)
      if t.epoch == 1 then error("simulated crash", 0) end
    end
    table.insert(run3.trainer.callbacks, crash)
    ok, err = pcall(stage.train, run3, again, { write_run_files = true })
    assert.is_false(ok)
    assert.equal("simulated crash", err)
    for _, f in ipairs({ ".train_complete", ".test_complete", "test_metrics.json", "predictions" }) do
      assert.is_false(gio.exists(gio.join(r.run_dir, f)), f)
    end
    assert.equal(3, assert(gio.read_json(resolved_json)).trainer.max_epochs)
    -- the checkpoints there are the new fit's (the old finished `last` would have been resumed)
    local ckpt = require "graphids.ckpt"
    local last = ckpt.load(gio.join(r.run_dir, "checkpoints/last.safetensors"))
    assert.equal(again.config_digest, last.config_digest)
    -- that interrupted fit cannot be tested into the run dir: it would be called tested (its
    -- intermediate best's metrics) and the pipeline would skip it
    ok, err = pcall(stage.evaluate, stage.build(again), again, { write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("has no finished fit (no .train_complete", 1, true), err)
    assert.is_false(gio.exists(gio.join(r.run_dir, ".test_complete")))
    assert.is_false(gio.exists(gio.join(r.run_dir, "test_metrics.json")))
  end)

  it("refuses a fit or a test while another process holds the run dir, writing nothing", function()
    local r = tested_run("lake_busy")
    local before = tiny.snapshot(r.run_dir, true)
    local lk = assert(gio.lock(gio.join(r.run_dir, stage.STAGE_LOCK), { exclusive = true }))
    local art = stage.build(r)
    local ok, err = pcall(stage.evaluate, art, r, { write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("the run dir " .. r.run_dir .. " is in use by another process", 1, true),
      tostring(err))
    ok, err = pcall(stage.train, art, r, { write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("is in use by another process", 1, true), tostring(err))
    lk:unlock()
    assert.equal(before, tiny.snapshot(r.run_dir, true))
    -- the lock is the call's only: once it is free, the test runs (and holds it while it does)
    assert.is_table(stage.evaluate(art, r, { write_run_files = true }))
    -- a verb called inside another of the same run dir (from a fit's callback) is named as this
    -- process's doing, not another's
    local inner
    local cb = require("graphids.callbacks").Callback()
    function cb.on_train_epoch_end() inner = select(2, pcall(stage.evaluate, art, r)) end
    table.insert(art.trainer.callbacks, cb)
    stage.train(art, r, { write_run_files = true })
    assert.truthy(tostring(inner):find("is in use by this process (a stage verb called inside another", 1,
      true), tostring(inner))
  end)

  it("commits all or nothing: a result that cannot be moved leaves the finished run as it was", function()
    local l = gio.join(tmp, "lake_stuck")
    local r = tested_run("lake_stuck")
    local before = tiny.snapshot(r.run_dir, true)
    local rename = os.rename
    rawset(os, "rename", function(a, b) -- predictions/test of another user, or a mount point
      if a:find("predictions/test$") then return nil, a .. ": Permission denied" end
      return rename(a, b)
    end)
    local other = resolve("gat", "gat", { { "model.init_args.focal_gamma", 1 } }, { lake_root = l })
    local ok, err = pcall(stage.train, stage.build(other), other, { write_run_files = true })
    rawset(os, "rename", rename)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot move " .. r.run_dir .. "/predictions/test, a result of the " ..
      "previous run, aside", 1, true), tostring(err))
    -- the record, both markers, the metrics and the old checkpoints are all where they were
    assert.equal(before, tiny.snapshot(r.run_dir, true))
    assert.equal(2, assert(gio.read_json(gio.join(r.run_dir, "resolved.json"))).model.init_args.focal_gamma)
    for _, e in ipairs(gio.list_dir(r.run_dir)) do assert.is_nil(e:find("^%.stale"), e) end
    -- a record that cannot be written whole (the disk full after resolved.json) puts the old
    -- record and results back too
    local config_mod = require "graphids.config"
    local write = config_mod.write_run_files
    config_mod.write_run_files = function(res)
      assert(gio.write_json(gio.join(res.run_dir, "resolved.json"), config_mod.thaw(res.validated)))
      error("cannot write overrides.json: No space left on device", 0)
    end
    ok, err = pcall(stage.train, stage.build(other), other, { write_run_files = true })
    config_mod.write_run_files = write
    assert.is_false(ok)
    assert.equal("cannot write overrides.json: No space left on device", err)
    assert.equal(before, tiny.snapshot(r.run_dir, true))
    assert.equal(2, assert(gio.read_json(gio.join(r.run_dir, "resolved.json"))).model.init_args.focal_gamma)
    for _, sub in ipairs({ "", "checkpoints", "predictions" }) do
      for _, e in ipairs(gio.list_dir(gio.join(r.run_dir, sub))) do assert.is_nil(e:find("^%.stale"), e) end
    end
  end)

  it("refuses to test or resume against a record that does not read; without one, writes none unvouched",
    function()
    local l = gio.join(tmp, "lake_record")
    local r = tested_run("lake_record")
    local path = gio.join(r.run_dir, "resolved.json")
    local saved = proc.slurp(path)
    assert(gio.atomic_write(path, '{"trunc'))
    local ok, err = pcall(stage.evaluate, stage.build(r), r, { write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find(r.run_dir .. ": its record resolved.json does not read", 1, true),
      tostring(err))
    ok, err = pcall(stage.train, stage.build(r), r, { resume_from = r.last_ckpt, write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("its record resolved.json does not read", 1, true), tostring(err))
    assert.equal('{"trunc', proc.slurp(path))
    -- no record at all (a fit run from Lua without write_run_files): nothing to compare, so
    -- nothing is refused, but a record is written only from the configuration the checkpoint's
    -- digest says it was trained under
    assert(gio.remove_tree(path))
    local other = resolve("gat", "gat", { { "trainer.log_every_n_steps", 3 } }, { lake_root = l })
    assert.is_table(stage.evaluate(stage.build(other), other, { write_run_files = true }))
    assert.is_false(gio.exists(path))
    local same = resolve("gat", "gat", nil, { lake_root = l })
    assert.is_table(stage.evaluate(stage.build(same), same, { write_run_files = true }))
    assert.equal(saved, proc.slurp(path))
    -- and a resume under a new budget goes on, as it does with a record
    assert(gio.remove_tree(path))
    local longer = resolve("gat", "gat", { { "trainer.max_epochs", 3 } }, { lake_root = l })
    stage.train(stage.build(longer), longer, { resume_from = r.last_ckpt })
  end)

  it("a resume from another run's checkpoint removes this run dir's old checkpoints", function()
    local lake_a, lake_r = gio.join(tmp, "lake_foreign_a"), gio.join(tmp, "lake_foreign_r")
    local a = resolve("gat", "gat", nil, { lake_root = lake_a })
    stage.train(stage.build(a), a, { write_run_files = true })
    local r = resolve("gat", "gat", { { "trainer.max_epochs", 1 } }, { lake_root = lake_r })
    stage.train(stage.build(r), r, { write_run_files = true })
    assert.is_true(gio.exists(r.last_ckpt))
    -- a's checkpoint is at its end: nothing trains, and r's 1-epoch files must not pass for
    -- this fit's best and last; with no best checkpoint of its own the run is not marked trained
    local again = resolve("gat", "gat", nil, { lake_root = lake_r })
    local ok, err = pcall(stage.train, stage.build(again), again, { resume_from = a.last_ckpt,
      write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("the fit ended without its best checkpoint", 1, true), tostring(err))
    assert.is_false(gio.exists(r.last_ckpt))
    assert.is_false(gio.exists(r.ckpt_file))
    assert.is_false(gio.exists(gio.join(r.run_dir, ".train_complete")))
  end)

  it("a resume removes the old model's test results with its metrics", function()
    local rlake = gio.join(tmp, "lake_resume")
    local r = tested_run("lake_resume")
    assert.is_true(gio.exists(gio.join(r.run_dir, "predictions", "test")))
    local longer = resolve("gat", "gat", { { "trainer.max_epochs", 3 } }, { lake_root = rlake })
    stage.train(stage.build(longer), longer, { resume_from = r.last_ckpt, write_run_files = true })
    assert.is_true(gio.exists(gio.join(r.run_dir, ".train_complete")))
    for _, f in ipairs({ ".test_complete", "test_metrics.json", "predictions/test" }) do
      assert.is_false(gio.exists(gio.join(r.run_dir, f)), f)
    end
    assert.is_true(gio.exists(gio.join(r.run_dir, "predictions", "val.safetensors")))
    -- the resume logged into the fit's own tracking run, which the run dir names: one run
    -- (a killed fit would otherwise leave a RUNNING run beside a new one)
    local ref = gio.read_json(gio.join(r.run_dir, "tracking_run.json")).fit
    assert.is_string(ref)
    local runs, loss = {}, nil
    local store = gio.join(rlake, "mlruns")
    for _, e in ipairs(gio.list_dir(store)) do
      if e:match("^%d+$") then
        for _, id in ipairs(gio.list_dir(gio.join(store, e))) do
          local path = gio.join(store, e, id, "metrics", "train_loss")
          if gio.exists(path) then runs[#runs + 1], loss = id, path end
        end
      end
    end
    assert.same({ ref }, runs)
    local steps = {}
    for line in gio.read_file(loss):gmatch("[^\n]+") do
      steps[#steps + 1] = line
    end
    assert.equal(3, #steps) -- epochs 1 and 2 from the fit, 3 from the resume
  end)

  it("a resume whose tracking_run.json names no run logs its epochs into a new run", function()
    local l = gio.join(tmp, "lake_badref")
    local r = tested_run("lake_badref")
    assert(gio.write_json(gio.join(r.run_dir, "tracking_run.json"), { fit = "../../etc" }))
    local longer = resolve("gat", "gat", { { "trainer.max_epochs", 3 } }, { lake_root = l })
    stage.train(stage.build(longer), longer, { resume_from = r.last_ckpt, write_run_files = true })
    local ref = assert(gio.read_json(gio.join(r.run_dir, "tracking_run.json"))).fit
    assert.is_string(ref)
    local found
    local store = gio.join(l, "mlruns")
    for _, e in ipairs(gio.list_dir(store)) do
      if gio.exists(gio.join(store, e, ref, "metrics", "train_loss")) then
        found = gio.read_file(gio.join(store, e, ref, "metrics", "train_loss"))
      end
    end
    assert.is_string(found, "the new run holds the resumed epoch's metrics")
    assert.matches("^%d+ [%d.e-]+ 2\n$", found) -- one line: step 2, the third epoch, the resume's
  end)

  it("logs an epoch's metrics before another callback fails it; moves linked checkpoints aside", function()
    local l = gio.join(tmp, "lake_epoch_fail")
    local r = resolve("gat", "gat", { { "trainer.max_epochs", 3 } }, { lake_root = l })
    local art = stage.build(r)
    local boom = require("graphids.callbacks").Callback()
    function boom.on_train_epoch_end(_, trainer)
      if trainer.epoch == 1 then error("a callback failed", 0) end
    end
    table.insert(art.trainer.callbacks, boom)
    local ok, err = pcall(stage.train, art, r, { write_run_files = true })
    assert.is_false(ok)
    assert.equal("a callback failed", err)
    local ref = assert(gio.read_json(gio.join(r.run_dir, "tracking_run.json"))).fit
    local store, rows = gio.join(l, "mlruns"), nil
    for _, e in ipairs(gio.list_dir(store)) do
      local m = gio.join(store, e, ref, "metrics", "train_loss")
      if gio.exists(m) then rows = select(2, gio.read_file(m):gsub("\n", "")) end
    end
    assert.equal(2, rows) -- epochs 0 and 1: the failing epoch's too
    -- a checkpoints folder linked to another disk (/dev/shm, a tmpfs, where there is one): its
    -- files are set aside in that folder (renamed into the run dir, they failed with EXDEV)
    local shm = "/dev/shm/graphids_spec_" .. tostring(os.time()) .. "_" .. tostring(math.random(1 << 30))
    local real = (gio.is_dir("/dev/shm") and gio.mkdir_p(shm)) and shm or gio.join(tmp, "ckpt_elsewhere")
    assert(gio.mkdir_p(real))
    local ck = gio.join(r.run_dir, "checkpoints")
    assert(os.execute("mv " .. ck .. "/* " .. real .. "/ && rm -rf " .. ck .. " && ln -s " .. real .. " " ..
      ck))
    local again = resolve("gat", "gat", { { "trainer.max_epochs", 2 } }, { lake_root = l })
    stage.train(stage.build(again), again, { write_run_files = true })
    assert.is_true(gio.exists(gio.join(real, "best_model.safetensors")))
    for _, e in ipairs(gio.list_dir(real)) do assert.is_nil(e:find("^%.stale"), e) end
    proc.rmtree(real)
  end)

  it("refuses a distillation teacher of another class count when the student is built", function()
    local l = gio.join(tmp, "lake_kd_classes")
    local teacher = resolve("gat", "gat", { { "model.init_args.num_classes", 3 } }, { lake_root = l })
    stage.train(stage.build(teacher), teacher)
    local student = resolve("gat_kd", "gat", nil, { lake_root = l, teacher_ckpt = teacher.ckpt_file })
    local ok, err = pcall(stage.build, student)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("distillation teacher " .. teacher.ckpt_file .. " gives 3 classes, " ..
      "the student (model.init_args.num_classes) 2", 1, true), tostring(err))
    -- a teacher of another seed's split is named: it has seen the student's validation graphs
    local t2 = resolve("gat", "gat", nil, { lake_root = l })
    stage.train(stage.build(t2), t2)
    local s7 = resolve("gat_kd", "gat", nil, { lake_root = l, teacher_ckpt = t2.ckpt_file, seed = 7 })
    local said = {}
    local stderr = io.stderr
    local sink = { write = function(_, ...) for _, x in ipairs({ ... }) do said[#said + 1] = x end end }
    io.stderr = sink -- luacheck: ignore
    local okb, berr = pcall(stage.build, s7)
    io.stderr = stderr -- luacheck: ignore
    assert(okb, berr)
    assert.truthy(table.concat(said):find("was trained on seed 42's train/val split, the student uses " ..
      "seed 7's", 1, true), table.concat(said))
  end)

  it("refuses a checkpoint of another model before testing or resuming, writing nothing", function()
    local r = resolve("gat", "gat")
    local vgae_ckpt = resolve("vgae", "vgae").ckpt_file
    assert.is_true(gio.exists(vgae_ckpt))
    local marker = gio.join(r.run_dir, ".test_complete")
    os.remove(marker)
    local before = tiny.snapshot(r.run_dir, true)
    local run = stage.build(r)
    local ok, err = pcall(stage.train, run, r, { resume = vgae_ckpt })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("stage.train: unknown option 'resume' (did you mean 'resume_from'?)",
      1, true), err)
    ok, err = pcall(stage.evaluate, run, r, { ckpt_path = vgae_ckpt })
    assert.is_false(ok)
    assert.truthy(tostring(err):find(
      "class_path: checkpoint graphids.models.VGAE, model graphids.models.GATClassifier",
      1, true), err)
    assert.truthy(tostring(err):find("Re-train or point at a compatible checkpoint", 1, true))
    ok, err = pcall(stage.train, run, r, { resume_from = vgae_ckpt })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("not compatible", 1, true), err)
    -- a GAT of another width
    local wide = resolve("gat", "gat", { { "model.init_args.hidden", 12 } })
    ok, err = pcall(stage.evaluate, stage.build(wide), wide, { ckpt_path = r.ckpt_file })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("parameter convs.0.", 1, true), err)
    -- the same weights without the hyper-parameters (another writer's file): the stage verbs
    -- always record the vocabulary digest, and one that records none cannot be shown to match
    local bare = gio.join(tmp, "weights_only.safetensors")
    local weights = {}
    for k, v in pairs((gio.load_safetensors(r.ckpt_file))) do
      if k:match("^model%.") then weights[k] = v end
    end
    assert(gio.save_safetensors(bare, weights, { format = "pt" }))
    ok, err = pcall(stage.evaluate, run, r, { ckpt_path = bare })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("vocab_digest: the checkpoint records none, the caller expects " ..
      run.datamodule.cache.metadata.vocab_digest, 1, true), err)
    assert.is_false(gio.exists(marker))
    assert.equal(before, tiny.snapshot(r.run_dir, true))
    -- the refusals are recorded in the run's trace
    local traces = proc.slurp(gio.join(r.run_dir, "traces.jsonl"))
    assert.truthy(traces:find('"event":"stage_failed"', 1, true))
    -- and on the stage span's end line, with the message
    local failed = 0
    for line in traces:gmatch("[^\n]+") do
      local rec = json.decode(line)
      if rec.event == "span_end" and rec.span == "stage" and rec.status == "error" then
        assert.truthy(rec.error:find("not compatible", 1, true), line)
        failed = failed + 1
      end
    end
    assert.is_true(failed >= 3, failed .. " failed stage spans")
  end)

  it("records every failure of a verb as a stage_failed event, a failed write of its files too", function()
    local r = tested_run("lake_writes")
    -- the stage_failed events of the trace since `from` lines, as {phase, error}
    local function failures(from)
      local out, i = {}, 0
      for line in proc.slurp(gio.join(r.run_dir, "traces.jsonl")):gmatch("[^\n]+") do
        i = i + 1
        local rec = json.decode(line)
        if i > from and rec.event == "stage_failed" then out[#out + 1] = { rec.phase, rec.error } end
      end
      return out, i
    end
    local _, lines = failures(0)
    -- test_metrics.json cannot be written (a folder stands in its place)
    assert(gio.remove_tree(gio.join(r.run_dir, "test_metrics.json")))
    assert(gio.mkdir_p(gio.join(r.run_dir, "test_metrics.json", "x")))
    local ok, err = pcall(stage.evaluate, stage.build(r), r, { write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot write " .. r.run_dir .. "/test_metrics.json", 1, true), err)
    local got
    got, lines = failures(lines)
    assert.same({ { "test", err } }, got)
    assert(gio.remove_tree(gio.join(r.run_dir, "test_metrics.json")))
    -- a fit whose train predictions cannot be written (a folder in the sidecar's place, made as
    -- the fit commits)
    local run = stage.build(r)
    ok, err = pcall(stage.train, run, r, { write_run_files = true, on_commit = function()
      assert(gio.mkdir_p(gio.join(r.run_dir, "predictions", "train.safetensors", "x")))
    end })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot write predictions " .. r.run_dir .. "/predictions/train", 1,
      true), err)
    got, lines = failures(lines)
    assert.same({ { "fit", err } }, got)
    -- a failure recorded where it happened is recorded once
    ok, err = pcall(stage.evaluate, run, r, { write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("has no finished fit", 1, true), err)
    got, lines = failures(lines)
    assert.same({ { "test", err } }, got)
    ok = pcall(stage.train, run, r, { resume_from = gio.join(tmp, "none.safetensors") })
    assert.is_false(ok)
    got = failures(lines)
    assert.equal(1, #got, json.encode(got))
    assert.equal("resume", got[1][1])
  end)
end)
