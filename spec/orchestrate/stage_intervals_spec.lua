-- stage_intervals_spec.lua -- stage.evaluate's attack-interval metrics on the tiny synthetic
-- dataset: per test set and pooled in what evaluate returns, in test_metrics.json and in the
-- test's tracking run, and consistent with the prediction sidecars: the GAT's argmax decisions
-- and the VGAE's decisions at its validation threshold (made after the trainer's test).
local graphids = require "graphids"
local gio = require "graphids.io"
local config = require "graphids.config"
local json = require "graphids.json"
local metrics = require "graphids.metrics"
local stage = require "graphids.orchestrate.stage"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"

local KEYS = { intervals = "attack_intervals", intervals_detected = "intervals_detected",
  interval_recall = "interval_recall", detection_delay_windows = "detection_delay_windows",
  detection_delay_windows_max = "detection_delay_windows_max", false_alarm_runs = "false_alarm_runs" }

-- a metric as test_metrics.json holds it (NaN as null)
local function as_saved(v)
  if v ~= v then return json.null end
  return v
end

describe("graphids.orchestrate.stage attack-interval metrics", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  -- trains and tests `recipe`; checks the keys against the sidecars; returns the pooled result
  local function check(recipe, family)
    local lake = gio.join(tmp, recipe) -- its own: the tracking store holds this run only
    local r = config.resolve("recipes/stages/" .. recipe .. ".lua", { tla = { lake_root = lake },
      set = tiny.set(family, { { "trainer.max_epochs", 1 } }) })
    local run = stage.build(r)
    stage.train(run, r)
    local m = stage.evaluate(run, r)
    local saved = assert(gio.read_json(gio.join(r.run_dir, "test_metrics.json")))
    local per_set = {}
    for _, set in ipairs(run.datamodule.test_names) do
      local file = gio.join(r.run_dir, "predictions", "test", set .. ".safetensors")
      local t = assert(gio.load_safetensors(file))
      assert.is_not_nil(t.preds, set)
      local want = metrics.attack_intervals(t.preds, t.labels, t.window_start, t.source_file)
      assert.equal(100, want.stride) -- the recipes' windows: 100 frames, stride 100
      per_set[#per_set + 1] = want
      for field, key in pairs(KEYS) do
        local k = "test/" .. set .. "/" .. key
        assert.equal(as_saved(want[field]), saved[k], k)
        assert.equal(as_saved(want[field]), as_saved(m[k]), k)
      end
    end
    local pooled = metrics.pool_attack_intervals(per_set)
    for field, key in pairs(KEYS) do
      assert.equal(as_saved(pooled[field]), saved["test/" .. key], key)
    end
    -- the synthetic test captures hold attacks: the pooled counts are not vacuous
    assert.is_true(pooled.intervals > 0)
    assert.equal(pooled.intervals_detected / pooled.intervals, saved["test/interval_recall"])
    -- and the test's tracking run logged them (an MLflow FileStore: one file per metric key)
    local f = io.popen("find '" .. lake .. "/mlruns' -path '*/metrics/test/interval_recall'")
    local logged = f:read("a")
    f:close()
    assert.truthy(logged:find("interval_recall", 1, true), "no logged test/interval_recall")
    return saved
  end

  it("adds them for the GAT's decisions", function()
    local saved = check("gat", "gat")
    assert.is_number(saved["test/f1_macro"]) -- beside the per-window metrics
  end)

  it("adds them for the VGAE's decisions at the validation threshold", function()
    local saved = check("vgae", "vgae")
    assert.is_number(saved["test/threshold"])
  end)

  it("leaves out, with a warning naming it, a set whose outputs cannot give them", function()
    local function set(preds, labels, starts)
      return { preds = graphids.is_tensor(preds) and preds or graphids.tensor(preds),
        labels = graphids.tensor(labels), window_start = graphids.tensor(starts or { 0, 100, 200 }),
        source_file = graphids.tensor({ 0, 0, 0 }) }
    end
    local warned = {}
    local m = stage.interval_metrics({ a = set({ 0, 1, 1 }, { 0, 1, 1 }), b = set({ 0, 2, 1 }, { 0, 1, 1 }),
      c = set({ 0, 1, 1 }, { 0, 1, 2 }), d = set(graphids.tensor({ 0.0, 1.0, 1.0 }), { 0, 1, 1 }),
      e = set({ 0, 1, 1 }, { 0, 1, 1 }, { 0, 0, 100 }),
      f = set(graphids.tensor({ false, true, false }), { 0, 1, 1 }) }, { "a", "b", "c", "d", "e", "f" },
      function(s, why) warned[#warned + 1] = s .. ": " .. why end)
    assert.equal(1.0, m["test/a/attack_intervals"])
    assert.equal(1.0, m["test/f/intervals_detected"]) -- bool decisions count as 0/1
    assert.equal(2.0, m["test/attack_intervals"]) -- pooled over a and f alone
    for _, s in ipairs({ "b", "c", "d", "e" }) do assert.is_nil(m["test/" .. s .. "/attack_intervals"], s) end
    assert.same({
      "b: metrics.attack_intervals: preds[1] (0-based) = 2 is not 0 or 1 (benign or attack)",
      "c: metrics.attack_intervals: labels[2] (0-based) = 2 is not 0 or 1 (benign or attack)",
      "d: metrics.attack_intervals: preds must have an integer dtype, got f32",
      "e: metrics.attack_intervals: windows 0 and 1 (0-based) are both source_file 0, window_start 0",
    }, warned)
  end)

  it("keeps the test's metrics when a set cannot give them, and says why in the trace", function()
    local lake = gio.join(tmp, "floats")
    local r = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = lake },
      set = tiny.set("gat", { { "trainer.max_epochs", 1 } }) })
    local run = stage.build(r)
    local step = run.model.test_step
    run.model.test_step = function(self, b, c)
      local o = step(self, b, c)
      o.preds = o.preds:float() -- a custom model's float decisions
      return o
    end
    stage.train(run, r)
    local m = stage.evaluate(run, r)
    assert.is_number(m["test/accuracy"])
    assert.is_nil(m["test/attack_intervals"])
    assert.is_true(gio.exists(gio.join(r.run_dir, "test_metrics.json")))
    local trace = assert(gio.read_file(gio.join(r.run_dir, "traces.jsonl")))
    assert.truthy(trace:find('"interval_metrics_skipped"', 1, true))
    assert.truthy(trace:find("preds must have an integer dtype, got f32", 1, true))
  end)
end)
