-- sklearn_spec.lua -- graphids.metrics against scikit-learn on the fixtures of
-- spec/fixtures/metrics/ (tools/make_metric_fixtures.py): random, tie-heavy, perfect, inverted,
-- imbalanced and single-class binary scores; 2- to 7-class probabilities with absent classes
-- and argmax ties; tie-heavy integer logits, ranked by their exact probabilities; anomaly
-- scores with the threshold fitted on validation.  Every value agrees
-- to 1e-6, every key of the reference set is present, and the undefined ones are absent.
local cjson = require "cjson"
local metrics = require "graphids.metrics"
local safetensors = require "safetensors"

local DIR = "spec/fixtures/metrics/"
local TOL = 1e-6

local function index()
  local f = assert(io.open(DIR .. "index.json", "rb"))
  local names = cjson.decode(f:read("a"))
  f:close()
  return names
end

local function load(name)
  local f = assert(safetensors.load(DIR .. name .. ".safetensors"))
  local case = cjson.decode(f.metadata.case)
  for k, v in pairs(case.expected) do
    if v == "inf" then
      case.expected[k] = math.huge
    elseif v == "-inf" then
      case.expected[k] = -math.huge
    end
  end
  case.num_classes = math.tointeger(case.num_classes)
  return f.tensors, case
end

local function close(got, want)
  if want == math.huge or want == -math.huge then return got == want end
  return type(got) == "number" and math.abs(got - want) <= TOL
end

-- Compares a flat metric table with the expected values: same numeric keys, values to TOL.
local function check_table(name, got, case)
  local expected = case.expected
  for _, k in ipairs(metrics.sorted_keys(expected)) do
    assert(close(got[k], expected[k]), string.format("%s: %s = %s, sklearn %s", name, k,
      tostring(got[k]), tostring(expected[k])))
  end
  for _, k in ipairs(metrics.sorted_keys(metrics.scalars(got))) do
    assert(expected[k] ~= nil, string.format("%s: unexpected key %s = %s", name, k,
      tostring(got[k])))
  end
  for _, k in ipairs(case.absent) do
    assert(got[k] == nil, string.format("%s: %s should be absent (undefined)", name, k))
  end
end

local function check_curve(name, what, got, want)
  assert(got:numel() == want:numel(), string.format("%s: %s has %d points, sklearn %d", name,
    what, got:numel(), want:numel()))
  local g, w = got:totable(), want:totable()
  for i = 1, #w do
    local ok = (w[i] ~= w[i] and g[i] ~= g[i]) or g[i] == w[i] or math.abs(g[i] - w[i]) <= TOL
    assert(ok, string.format("%s: %s[%d] = %s, sklearn %s", name, what, i, g[i], w[i]))
  end
end

-- The summary fields of graphids.core.metrics_binary under the fixture's key names.
local SUMMARY = {
  auroc = "auroc", ap = "ap", youden_threshold = "youden_threshold", youden_j = "youden_j",
  ["precision@0.95recall"] = "precision_at_recall", ["threshold@0.95recall"] = "threshold_at_recall",
  ["recall@0.99precision"] = "recall_at_precision",
  ["threshold@0.99precision"] = "threshold_at_precision",
}

describe("graphids.metrics against scikit-learn", function()
  local names = index()

  it("has fixtures of every kind", function()
    local kinds = {}
    for _, n in ipairs(names) do kinds[n:match("^(%a+)_")] = true end
    assert.is_true(kinds.binary and kinds.classification and kinds.anomaly)
    assert.is_true(#names >= 18)
  end)

  for _, name in ipairs(names) do
    local t, case = load(name)
    if case.kind == "binary" then
      it("summarises binary scores: " .. name, function()
        local s = metrics.binary(t["input.scores"], t["input.labels"])
        local got = {}
        for key, field in pairs(SUMMARY) do
          if s[field] == s[field] then got[key] = s[field] end
        end
        if case.expected.ece then
          got.ece = metrics.ece(t["input.scores"], t["input.labels"])
        end
        check_table(name, got, case)
        local fpr, tpr, thr = metrics.roc_curve(t["input.scores"], t["input.labels"])
        check_curve(name, "roc fpr", fpr, t["expected.roc_fpr"])
        check_curve(name, "roc tpr", tpr, t["expected.roc_tpr"])
        check_curve(name, "roc thresholds", thr, t["expected.roc_thresholds"])
        local p, r, pthr = metrics.pr_curve(t["input.scores"], t["input.labels"])
        check_curve(name, "pr precision", p, t["expected.pr_precision"])
        check_curve(name, "pr recall", r, t["expected.pr_recall"])
        check_curve(name, "pr thresholds", pthr, t["expected.pr_thresholds"])
      end)
    elseif case.kind == "classification" then
      it("computes the classifier set: " .. name, function()
        -- (logits: the curves ranked by the exact probabilities, ties included)
        local input = t["input.logits"] and "logits" or "probs"
        local m = metrics.classification(t["input." .. input], t["input.labels"],
          { num_classes = case.num_classes, input = input })
        check_table(name, m, case)
        assert.same(t["expected.confusion"]:totable(), m.confusion)
      end)
    else
      it("computes the threshold set, fitted on validation: " .. name, function()
        local m = metrics.anomaly(t["input.val_scores"], t["input.val_labels"],
          t["input.test_scores"], t["input.test_labels"])
        check_table(name, m, case)
      end)
    end
  end
end)
