-- metrics_spec.lua -- graphids.metrics beyond the scikit-learn values: input forms (logits,
-- 1-D binary scores, devices, autograd), option and input errors, the anomaly threshold's
-- provenance (validation only), key names and merge, sorted printing, the Accumulator, and the
-- speed of a million-score summary.
local graphids = require "graphids"
local metrics = require "graphids.metrics"
local helpers = require "helpers"
local errors = helpers.errors
local errors_at_caller = helpers.errors_at_caller

local function long(t)
  return graphids.tensor(t, { dtype = "i64" })
end

local PROBS = { { 0.1, 0.5, 0.4 }, { 0.7, 0.2, 0.1 }, { 0.2, 0.2, 0.6 }, { 0.3, 0.4, 0.3 } }
local LABELS = { 1, 0, 2, 0 }

describe("graphids.metrics", function()
  describe("classification", function()
    it("gives the same metrics for logits as for their softmax", function()
      local logits = graphids.tensor({ { 2.0, -1.0, 0.5 }, { -0.3, 1.2, 3.0 }, { 0.0, 0.1, -2.0 } })
      local y = long({ 0, 2, 2 })
      local a = metrics.classification(logits, y)
      local b = metrics.classification(logits:softmax(2), y, { input = "probs" })
      assert.same(metrics.sorted_keys(a), metrics.sorted_keys(b))
      for k, v in pairs(metrics.scalars(a)) do
        assert.is_true(math.abs(v - b[k]) < 1e-6, k)
      end
      assert.equal(2 / 3, a.accuracy) -- argmax 0, 2, 1
    end)

    it("reads 1-D scores as the positive-class probability of a binary classifier", function()
      local p = graphids.tensor({ 0.9, 0.2, 0.6, 0.4 })
      local y = long({ 1, 0, 0, 1 })
      local one = metrics.classification(p, y)
      local two = metrics.classification(graphids.stack({ p:neg():add(1), p }, 2), y)
      assert.same(two.confusion, one.confusion)
      assert.same({ { 1, 1 }, { 1, 1 } }, one.confusion)
      assert.equal(0.75, one.auroc) -- pairs: .9 > .2, .9 > .6, .4 > .2, .4 < .6
      assert.equal(0.5, one.accuracy)
      assert.is_not_nil(one["precision@0.95recall"])
    end)

    it("ranks the curves of logits by log-odds, so confident windows keep their order", function()
      -- f32 probabilities round to exactly 1 past a logit gap of about 17: the three attacks
      -- and the benign window at 18 would tie, AUROC 0.75 (4.5 of the 6 benign-attack pairs, the
      -- benign -3 below them all); by log-odds all are apart
      local gap = graphids.tensor({ 18, 20, 25, 30, -3 }, { dtype = "f32" })
      local y = long({ 0, 1, 1, 1, 0 })
      local logits = graphids.stack({ graphids.zeros({ 5 }), gap }, 2)
      for _, x in ipairs({ logits, gap }) do
        local m = metrics.classification(x, y, { input = "logits" })
        assert.equal(1, m.auroc)
        assert.equal(1, m.ap)
        assert.equal(1, m.auroc_class_0)
        assert.equal(0.8, m.accuracy) -- 18 is predicted an attack
      end
      -- three classes: class c's log-odds against the other two columns
      local z3 = graphids.tensor({ { 0, 40, 0 }, { 0, 45, 0 }, { 0, 41, 41 }, { 0, 0, 5 } },
        { dtype = "f32" })
      local m3 = metrics.classification(z3, long({ 0, 1, 2, 2 }))
      assert.equal(1, m3.auroc_class_1) -- 45 above 40 and the 41 beside an equal 41
      -- probabilities are ranked as given (scikit-learn's roc_auc_score of those values),
      -- while the operating points stay thresholds on the probability either way
      local p = metrics.classification(logits:softmax(2), y, { input = "probs" })
      assert.equal(0.75, p.auroc)
      local l = metrics.classification(logits, y)
      assert.equal(p["threshold@0.95recall"], l["threshold@0.95recall"])
      assert.equal(p["precision@0.95recall"], l["precision@0.95recall"])
    end)

    it("ties the log-odds of samples whose exact probabilities are equal, as sklearn's do", function()
      -- rows 1 and 2 differ by 2, one softmax: scikit-learn's roc_auc_score of the exact
      -- probabilities ties them (0.75 for class 0; untied the log-odds gave 1)
      local m = metrics.classification(graphids.tensor({ { 0, -3, -1 }, { 2, -1, 1 }, { -5, 0, 0 } },
        { dtype = "f32" }), long({ 0, 2, 1 }))
      assert.equal(0.75, m.auroc_class_0)
      assert.equal(1, m.auroc_class_1)
      assert.equal(0.25, m.auroc_class_2)
      -- a class's probability depends on the others as a set: the same three others in
      -- another column order, and a class tied for the row's max at either place, tie too
      -- (one positive and one negative sample: 0.5 when tied, 0 or 1 when split)
      local z4 = graphids.tensor({ { -6, -6, -1, 0 }, { -6, -1, -6, 0 } }, { dtype = "f64" })
      assert.equal(0.5, metrics.classification(z4, long({ 3, 0 })).auroc_class_3)
      local z3 = graphids.tensor({ { -3, 0, 0 }, { 4, 4, 1 } }, { dtype = "f64" })
      assert.equal(0.5, metrics.classification(z3, long({ 1, 0 })).auroc_class_1)
    end)

    it("keeps the order of log-odds past an f64 exponential's range", function()
      -- a gap of 1000 underflows e^-1000 to 0: the keys stay finite and apart
      local z = graphids.tensor({ { 1000, 0, 0 }, { 1200, 0, -5 }, { 0, 1, 0 }, { 900, 0, -math.huge } },
        { dtype = "f64" })
      local m = metrics.classification(z, long({ 0, 0, 1, 1 }))
      assert.equal(1, m.auroc_class_0) -- 1200 > 1000 > 900 > 0 (class 0's log-odds)
      assert.equal(1, m.auroc_class_1)
    end)

    it("takes 1 - p of a 1-D probability in f64, so class 0 keeps what class 1 has", function()
      local m = metrics.classification(graphids.tensor({ 1e-9, 2e-8, 0.9, 0.95 }), long({ 0, 1, 1, 1 }))
      assert.equal(1, m.auroc_class_1)
      assert.equal(1, m.auroc_class_0)
      assert.equal(1, m.ap_class_0)
    end)

    it("prefixes every key, the confusion matrix included", function()
      local m = metrics.classification(graphids.tensor(PROBS), long(LABELS),
        { prefix = metrics.prefix("test", "set_01") })
      for k in pairs(m) do assert.truthy(k:match("^test/set_01/")) end
      assert.same({ { 1, 1, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, m["test/set_01/confusion"])
      assert.equal(0.75, m["test/set_01/accuracy"])
      -- a prefix that is no string is refused (a number would slip into the keys as "5accuracy")
      errors_at_caller("^[^ ]+ metrics%.classification: prefix must be a string .*, got 5$",
        metrics.classification, graphids.tensor(PROBS), long(LABELS), { prefix = 5 })
      errors_at_caller("^[^ ]+ metrics%.classification: prefix must be a string .*, got a table {}$",
        metrics.classification, graphids.tensor(PROBS), long(LABELS), { prefix = {} })
      local s, y = graphids.tensor({ 0.1, 0.9 }), long({ 0, 1 })
      errors_at_caller("^[^ ]+ metrics%.anomaly: prefix must be a string .*, got true$",
        metrics.anomaly, s, y, s, y, { prefix = true })
    end)

    it("names per-class keys by class_names when given", function()
      local p, y = graphids.tensor(PROBS), long(LABELS)
      local m = metrics.classification(p, y, { class_names = { "benign", "dos", "fuzzy" } })
      local plain = metrics.classification(p, y)
      assert.equal(plain.f1_class_1, m.f1_class_dos)
      assert.equal(plain.auroc_class_2, m.auroc_class_fuzzy)
      assert.is_nil(m.f1_class_0)
      errors("class_names must be a list of num_classes = 3 names", metrics.classification, p, y,
        { class_names = { "a", "b" } })
      errors("class_names%[2%] must be a distinct", metrics.classification, p, y,
        { class_names = { "a", "a", "b" } })
    end)

    it("leaves out the curves of a class absent from the labels", function()
      local m = metrics.classification(graphids.tensor(PROBS), long({ 1, 0, 1, 0 }))
      assert.is_nil(m.auroc_class_2)
      assert.is_nil(m.ap_class_2)
      assert.is_not_nil(m.auroc_class_0)
      assert.equal(0, m.recall_class_2) -- scikit-learn's zero_division = 0
      assert.equal(0, m.f1_class_2)
    end)

    it("runs on tensors that require grad without recording anything", function()
      local p = graphids.tensor(PROBS, { requires_grad = true })
      local m = metrics.classification(p, long(LABELS))
      assert.equal(0.75, m.accuracy)
    end)

    it("rejects bad input with messages naming it", function()
      local p, y = graphids.tensor(PROBS), long(LABELS)
      errors("unknown option 'num_class'", metrics.classification, p, y, { num_class = 3 })
      errors("has 3 columns, expected num_classes = 4", metrics.classification, p, y,
        { num_classes = 4 })
      errors("labels%[1%] = 5 is outside %[0, 3%)", metrics.classification, p, long({ 1, 5, 0, 0 }))
      errors("^metrics.classification: labels has 3 elements, expected 4 %(one per row",
        metrics.classification, p, long({ 1, 0, 0 }))
      errors("input must be 'auto', 'probs' or 'logits'", metrics.classification, p, y,
        { input = "prob" })
      errors("input = 'probs' but the values span %[0.1%d*, 1.5%]", metrics.classification,
        graphids.tensor({ { 1.5, 0.2 }, { 0.1, 0.9 } }), long({ 0, 1 }), { input = "probs" })
      errors("must be f32 or f64, got i64", metrics.classification, long({ { 1, 0 } }), long({ 0 }))
      errors("labels must be a graphids.Tensor", metrics.classification, p, { 1, 0, 2, 0 })
      errors("no samples", metrics.classification, graphids.zeros({ 0, 3 }), long({}))
      errors("probs_or_logits holds NaN %(first at row 2, 0%-based%)", metrics.classification,
        graphids.tensor({ { 0.5, 0.5 }, { 0.1, 0.9 }, { 0.2, 0 / 0 } }), long({ 0, 1, 1 }))
      -- a row without a softmax (a +inf, or -inf throughout) is named, not reported as a NaN
      -- confidence later; a -inf beside finite logits, or a 1-D score at +-inf, is well defined
      errors("probs_or_logits row 1 has no softmax", metrics.classification,
        graphids.tensor({ { 0.5, 0.5 }, { math.huge, 0.9 }, { 0.2, 3 } }), long({ 0, 1, 1 }))
      errors("probs_or_logits row 2 has no softmax", metrics.classification,
        graphids.tensor({ { 0.5, 0.5 }, { 2, 0.9 }, { -math.huge, -math.huge } }), long({ 0, 1, 1 }))
      local ok = metrics.classification(graphids.tensor({ { 0.5, 0.5 }, { -math.huge, 0.9 }, { 0.2, 3 } }),
        long({ 0, 1, 1 }))
      assert.equal(1, ok.accuracy)
      ok = metrics.classification(graphids.tensor({ -math.huge, math.huge, 3 }), long({ 0, 1, 1 }),
        { input = "logits" })
      assert.equal(1, ok.accuracy)
    end)
  end)

  describe("anomaly", function()
    local vs = graphids.tensor({ 0.1, 0.3, 0.35, 0.8, 0.2, 0.9 })
    local vy = long({ 0, 0, 1, 1, 0, 1 })

    it("fits the threshold on the validation scores only", function()
      -- validation separates perfectly at 0.35 (J = 1); the test set alone would prefer 0.6
      local ts = graphids.tensor({ 0.3, 0.5, 0.6, 0.7 })
      local ty = long({ 0, 0, 1, 1 })
      local m = metrics.anomaly(vs, vy, ts, ty)
      assert.is_true(math.abs(m.threshold - 0.35) < 1e-7)
      assert.equal(0.75, m.accuracy) -- 0.5 >= 0.35 is a false positive
      assert.equal(2 / 3, m.precision)
      assert.equal(1, m.recall)
      assert.equal(0.5, m.specificity)
      assert.equal(1, m.auroc)
      local fixed = metrics.anomaly(vs, vy, ts, ty, { threshold = 0.55 })
      assert.equal(0.55, fixed.threshold)
      assert.equal(1, fixed.accuracy)
    end)

    it("omits ECE for scores that are not probabilities", function()
      local big = graphids.tensor({ 0.5, 2.0, 3.0, 0.1 })
      local m = metrics.anomaly(big, long({ 0, 1, 1, 0 }), big, long({ 0, 1, 1, 0 }))
      assert.is_nil(m.ece)
      assert.equal(1, m.f1)
    end)

    it("refuses a single-class validation set unless a threshold is given", function()
      local y0 = long({ 0, 0, 0, 0, 0, 0 })
      errors("validation labels hold a single class %(6 negative, 0 positive%)", metrics.anomaly,
        vs, y0, vs, vy)
      -- the hint names the functions that take the option (Trainer:test takes none: it falls back)
      errors_at_caller("%(metrics.anomaly and metrics.of_outputs take a known one as opts.threshold%)",
        metrics.anomaly, vs, y0, vs, vy)
      local m = metrics.anomaly(vs, y0, vs, vy, { threshold = 0.5 })
      assert.equal(0.5, m.threshold)
    end)

    it("names a NaN score by its index", function()
      local bad = graphids.tensor({ 0.1, 0 / 0, 0.3 })
      errors("scores%[1%] is NaN", metrics.anomaly, bad, long({ 0, 1, 0 }), vs, vy)
      errors("unknown option 'thresh'", metrics.anomaly, vs, vy, vs, vy, { thresh = 1 })
      errors("threshold must be a number, got '0.5' %(a string%)", metrics.anomaly, vs, vy, vs, vy,
        { threshold = "0.5" })
    end)

    it("names the argument a bad input came in, at the caller's line", function()
      -- the runtime checks the inputs; its messages name its own parameters ("scores",
      -- "labels"), which cannot tell the validation set from the test set
      local bad = graphids.tensor({ 0.1, 0 / 0, 0.3 })
      local y3 = long({ 0, 1, 0 })
      local A, C, O = metrics.anomaly, metrics.classification, metrics.of_outputs
      errors_at_caller("^[^ ]+ metrics%.anomaly: val_scores%[1%] is NaN", A, bad, y3, vs, vy)
      errors_at_caller("^[^ ]+ metrics%.anomaly: test_scores%[1%] is NaN", A, vs, vy, bad, y3)
      errors_at_caller("metrics%.anomaly: val_labels has 3 elements, expected 6 %(one per element of "
        .. "val_scores%)", A, vs, y3, vs, vy)
      errors_at_caller("metrics%.anomaly: test_labels has 3 elements, expected 6 %(one per element of "
        .. "test_scores%)", A, vs, vy, vs, y3)
      errors_at_caller("metrics%.anomaly: test_labels%[2%] = 2 is outside %[0, 2%)", A, vs, vy, vs,
        long({ 0, 0, 2, 1, 0, 1 }))
      errors_at_caller("metrics%.anomaly: test_scores must be f32 or f64, got i64", A, vs, vy, vy, vy)
      local none, none_y = graphids.tensor({}), long({})
      errors_at_caller("metrics%.anomaly: val_scores are empty", A, none, none_y, vs, vy)
      errors_at_caller("metrics%.anomaly: test_scores are empty", A, vs, vy, none, none_y,
        { threshold = 0.5 })
      local p2 = graphids.tensor({ { 0.1, 0.9 }, { 0.5, 0.5 } })
      errors_at_caller("metrics%.classification: labels%[1%] = 3 is outside %[0, 2%)", C, p2, long({ 0, 3 }))
      errors_at_caller("metrics%.classification: labels must be an integer or bool tensor of class ids, "
        .. "got f32", C, p2, graphids.tensor({ 0, 1 }, { dtype = "f32" }))
      errors_at_caller("metrics%.of_outputs: outputs%.scores%[1%] is NaN", O, { scores = bad, labels = y3 })
      errors_at_caller("metrics%.of_outputs: outputs%.labels%[0%] = 5 is outside %[0, 2%)", O,
        { scores = vs, labels = long({ 5, 0, 1, 1, 0, 1 }) })
      -- a classifier's outputs: classification's checks, in the names of the outputs' fields
      errors_at_caller("metrics%.of_outputs: outputs%.labels has 3 elements, expected 2 %(one per row of "
        .. "outputs%.probs%)", O, { probs = p2, labels = y3 })
      errors_at_caller("metrics%.of_outputs: outputs%.labels%[1%] = 3 is outside %[0, 2%)", O,
        { logits = p2, labels = long({ 0, 3 }) })
      -- the option's name, and the caller's own words in quotes, as the caller wrote them
      local B = metrics.binary
      errors_at_caller("metrics%.binary: positive 5 is outside %[0, 2%)", B, vs, vy, { positive = 5 })
      errors_at_caller("metrics%.binary: unknown option 'score' %(allowed:", B, vs, vy, { score = 1 })
    end)

    it("checks n_bins up front, whatever the scores (an ECE is computed only for [0, 1])", function()
      local raw = graphids.tensor({ -1.0, 2.0, 0.5, 3.0, -0.2, 0.1 }) -- not probabilities: no ECE
      local p2 = graphids.tensor({ { 0.1, 0.9 }, { 0.5, 0.5 } })
      local range = "n_bins must be an integer in %[1, 100000%], got "
      for _, c in ipairs({ { 0, "0" }, { 1.5, "1%.5" }, { 100001, "100001" }, { "x", '"x"' },
        { true, "true" } }) do
        errors_at_caller("^[^ ]+ metrics%.anomaly: " .. range .. c[2], metrics.anomaly, raw, vy, raw, vy,
          { n_bins = c[1] })
        errors_at_caller("^[^ ]+ metrics%.anomaly: " .. range .. c[2], metrics.anomaly, vs, vy, vs, vy,
          { n_bins = c[1] })
        errors_at_caller("^[^ ]+ metrics%.classification: " .. range .. c[2], metrics.classification, p2,
          long({ 0, 1 }), { n_bins = c[1] })
        errors_at_caller("^[^ ]+ metrics%.ece: " .. range .. c[2], metrics.ece, vs, vy, { n_bins = c[1] })
      end
      -- an integral float is an integer, as the runtime takes it
      assert.are.equal(metrics.anomaly(vs, vy, vs, vy, { n_bins = 10 }).ece,
        metrics.anomaly(vs, vy, vs, vy, { n_bins = 10.0 }).ece)
      assert.is_nil(metrics.anomaly(raw, vy, raw, vy, { n_bins = 10 }).ece)
    end)

    it("the low-level functions name themselves, at the caller's line", function()
      local y3 = long({ 0, 1, 0 })
      errors_at_caller("^[^ ]+ metrics%.binary: labels has 3 elements, expected 6 %(one per element of "
        .. "scores%)", metrics.binary, vs, y3)
      errors_at_caller("^[^ ]+ metrics%.binary: option 'min_recall' must be a number", metrics.binary, vs, vy,
        { min_recall = "x" })
      errors_at_caller("^[^ ]+ metrics%.roc_curve: labels has 3 elements", metrics.roc_curve, vs, y3)
      errors_at_caller("^[^ ]+ metrics%.pr_curve: labels has 3 elements", metrics.pr_curve, vs, y3)
      errors_at_caller("^[^ ]+ metrics%.confusion: num_classes must be >= 1, got 0", metrics.confusion,
        vy, vy, 0)
      errors_at_caller("^[^ ]+ metrics%.ece: correct must be an integer or bool tensor", metrics.ece, vs,
        vy:double())
      -- arguments that are no tensor are named, not "attempt to call a nil value (method 'to')"
      errors_at_caller("^[^ ]+ metrics%.binary: scores must be a graphids%.Tensor, got table",
        metrics.binary, { 0.1, 0.2 }, vy)
      errors_at_caller("^[^ ]+ metrics%.binary: labels must be a graphids%.Tensor, got string",
        metrics.binary, vs, "y")
      errors_at_caller("^[^ ]+ metrics%.roc_curve: scores must be a graphids%.Tensor, got nil",
        metrics.roc_curve, nil, vy)
      errors_at_caller("^[^ ]+ metrics%.pr_curve: labels must be a graphids%.Tensor, got table",
        metrics.pr_curve, vs, { 0, 1 })
      errors_at_caller("^[^ ]+ metrics%.confusion: preds must be a graphids%.Tensor, got table",
        metrics.confusion, { 0, 1 }, vy, 2)
      errors_at_caller("^[^ ]+ metrics%.ece: confidence must be a graphids%.Tensor, got number",
        metrics.ece, 0.5, vy)
      errors_at_caller("^[^ ]+ metrics%.ece: correct must be a graphids%.Tensor, got table",
        metrics.ece, vs, { 1 }, { n_bins = 3 })
      local fpr, tpr, thr = metrics.roc_curve(vs, vy)
      assert.are.equal(fpr:numel(), tpr:numel())
      assert.are.equal(fpr:numel(), thr:numel())
      local p, r, t = metrics.pr_curve(vs, vy)
      assert.are.equal(p:numel(), r:numel())
      assert.is_true(graphids.is_tensor(t))
    end)
  end)

  describe("of_outputs (metrics of test_step outputs)", function()
    local probs = graphids.tensor(PROBS)

    it("gives the classifier set, numbers only, for probs", function()
      local m = metrics.of_outputs({ probs = probs, labels = long(LABELS), scores = probs:select(2, 2) })
      local full = metrics.classification(probs, long(LABELS))
      full.confusion = nil
      assert.same(full, m)
    end)

    it("ranks by the logits when the outputs hold them beside the probabilities", function()
      local logits = graphids.tensor({ { 0, 18 }, { 0, 20 }, { 0, 25 }, { 0, -3 } }, { dtype = "f32" })
      local y = long({ 0, 1, 1, 0 })
      local m = metrics.of_outputs({ probs = logits:softmax(2), logits = logits, labels = y })
      assert.equal(1, m.auroc)
      assert.equal(0.75, m.accuracy)
      assert.is_true(metrics.of_outputs({ probs = logits:softmax(2), labels = y }).auroc < 1)
    end)

    it("never fits a threshold on the test labels", function()
      local s, y = graphids.tensor({ 0.1, 0.6, 0.7, 0.9 }), long({ 0, 0, 1, 1 })
      local m = metrics.of_outputs({ scores = s, labels = y })
      assert.same({ "ap", "auroc", "ece", "precision@0.95recall", "recall@0.99precision",
        "threshold@0.95recall", "threshold@0.99precision" }, metrics.sorted_keys(m))
      local vs, vy = graphids.tensor({ 0.1, 0.5, 0.55, 0.9 }), long({ 0, 0, 1, 1 })
      local fitted = metrics.of_outputs({ scores = s, labels = y }, { val = { scores = vs, labels = vy } })
      assert.is_true(math.abs(fitted.threshold - 0.55) < 1e-7)
      assert.equal(0.75, fitted.accuracy) -- 0.6 >= 0.55 is a false positive
      assert.equal(1, metrics.of_outputs({ scores = s, labels = y }, { threshold = 0.65 }).accuracy)
      errors("opts.val must be", metrics.of_outputs, { scores = s, labels = y }, { val = {} })
      errors("outputs hold neither probs", metrics.of_outputs, { labels = y })
    end)
  end)

  describe("keys", function()
    it("names pooled and per-set keys apart", function()
      assert.equal("val/acc", metrics.key("val", nil, "acc"))
      assert.equal("test/f1", metrics.key("test", nil, "f1"))
      assert.equal("test/set_01/f1", metrics.key("test", "set_01", "f1"))
      errors("set must be a non%-empty string without '/'", metrics.key, "test", "a/b", "f1")
      errors("name must be a non%-empty string", metrics.key, "test", nil, "")
    end)

    it("merges metric tables and refuses a key present twice", function()
      local pooled = metrics.anomaly(graphids.tensor({ 0.2, 0.8 }), long({ 0, 1 }),
        graphids.tensor({ 0.2, 0.8 }), long({ 0, 1 }), { prefix = metrics.prefix("test") })
      local set = metrics.anomaly(graphids.tensor({ 0.2, 0.8 }), long({ 0, 1 }),
        graphids.tensor({ 0.2, 0.8 }), long({ 0, 1 }), { prefix = metrics.prefix("test", "s1") })
      local all = metrics.merge(pooled, set)
      assert.equal(1, all["test/f1"])
      assert.equal(1, all["test/s1/f1"])
      errors("key 'test/accuracy' is in tables #1 and #2", metrics.merge, pooled, pooled)
    end)

    it("prints in sorted key order", function()
      local text = metrics.format({ b = 0.5, a = 2, c = { { 1, 2 }, { 3, 4 } } })
      assert.equal("a  2\nb  0.5\nc  [[1, 2], [3, 4]]", text)
      -- NaN as nan whatever its sign bit (x86's 0/0 is -nan to %g), as the JSON's null reads
      assert.equal("m  nan\nn  nan", metrics.format({ n = 0 / 0, m = -(0 / 0) }))
    end)
  end)

  describe("Accumulator", function()
    it("gives the metrics of the whole epoch from batches", function()
      local acc = metrics.Accumulator()
      local p, y = graphids.tensor(PROBS), long(LABELS)
      acc:add(p:narrow(1, 1, 3), y:narrow(1, 1, 3))
      acc:add(p:narrow(1, 4, 1), y:narrow(1, 4, 1))
      assert.equal(4, acc:count())
      assert.same(metrics.classification(p, y), acc:classification())
      acc:reset()
      assert.equal(0, acc:count())
      errors_at_caller("^[^ ]+ Accumulator: no batches were added", acc.tensors, acc)
      errors_at_caller("^[^ ]+ Accumulator: no batches were added", acc.classification, acc)
    end)

    it("keeps copies, so reused batch buffers do not change it", function()
      local acc = metrics.Accumulator()
      local s, y = graphids.tensor({ 0.1, 0.9 }), long({ 0, 1 })
      acc:add(s, y)
      s:fill_(0.5)
      local got = acc:tensors()
      helpers.near(got:totable(), { 0.1, 0.9 }, 1e-6)
    end)

    it("rejects a batch that does not match the earlier ones", function()
      local acc = metrics.Accumulator()
      acc:add(graphids.tensor({ { 0.5, 0.5 } }), long({ 0 }))
      errors("batch 2 has scores f32 1x3, earlier batches f32 1x2", acc.add, acc,
        graphids.tensor({ { 0.2, 0.3, 0.5 } }), long({ 0 }))
      errors("labels must be %[N%] with N = 1", acc.add, acc, graphids.tensor({ { 0.5, 0.5 } }),
        long({ 0, 1 }))
      errors("batch 2: scores must be %[N%] or %[N,K%], got 0 dims", acc.add, acc, graphids.tensor(0.5),
        long({ 0 }))
      errors("batch 2: labels must be integer class ids, got f32", acc.add, acc,
        graphids.tensor({ { 0.5, 0.5 } }), graphids.tensor({ 0.0 }))
      -- batches are counted as added, not as kept (tensors() merges them into one)
      acc:add(graphids.tensor({ { 0.4, 0.6 } }), long({ 1 }))
      acc:tensors()
      errors("batch 3 has scores f32 1x3", acc.add, acc, graphids.tensor({ { 0.2, 0.3, 0.5 } }), long({ 0 }))
    end)
  end)

  it("summarises a million scores in well under half a second", function()
    local n = 1000000
    local s = graphids.rand({ n })
    local y = graphids.rand({ n }):lt(0.3):long()
    local t0 = os.clock()
    local b = metrics.binary(s, y)
    local dt = os.clock() - t0
    assert.is_true(math.abs(b.auroc - 0.5) < 0.01 and b.n == n)
    assert.is_true(dt < 0.5, string.format("took %.3f s of CPU time", dt))
  end)
end)
