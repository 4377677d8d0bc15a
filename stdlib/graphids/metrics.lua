-- graphids.metrics -- classification and anomaly metrics (the hot loops are C: graphids.core
-- metrics_*), their key names and an accumulator for the trainer.  docs/metrics.md has the
-- definitions; every value is checked against scikit-learn (spec/metrics/).
--
--   local metrics = require "graphids.metrics"
--   local m = metrics.classification(probs, labels, { prefix = metrics.prefix("test", "set_01") })
--   print(m["test/set_01/f1_macro"], m["test/set_01/confusion"][1][2])
--   local a = metrics.anomaly(val_scores, val_labels, test_scores, test_labels)
--   print(a.threshold, a.f1, a["precision@0.95recall"])
--   print(metrics.format(metrics.merge(pooled, per_set)))      -- sorted, collisions refused
--   local e = metrics.attack_intervals(preds, labels, window_start, source_file)  -- per interval
--
-- Labels are 0-based class ids (i64 or another integer dtype).  A metric that the inputs leave
-- undefined (AUROC with a single class, AP without positives, ECE of scores outside [0, 1]) is
-- absent from the result rather than NaN, as the reference drops NaN values.
local core = require "graphids.core"
local class = require "graphids.class"
local U = require "graphids.nn._util"

local M = {}

M.ECE_BINS = 15
M.MIN_RECALL = 0.95
M.MIN_PRECISION = 0.99

local DBL_MAX = 1.7976931348623157e308

-- ---------------------------------------------------------------- helpers

-- opts checked against the option names of `allowed` (name -> U.NONE: every option is
-- optional and defaulted where it is read); unknown names raise at the caller's caller with
-- nn._util's did-you-mean message.
local function check_opts(fname, opts, allowed)
  local o = U.options(fname, opts, allowed, 3) -- not a tail call: the level counts this frame
  return o
end

local is_tensor = U.is_tensor

-- Raises at the caller of fname (called from fname's body; depth: helper frames between).
local function check_tensor(fname, what, v, depth)
  if not is_tensor(v) then
    error(string.format("%s: %s must be a graphids.Tensor, got %s", fname, what, type(v)),
      3 + (depth or 0))
  end
end

-- The runtime checks fname's inputs (shape, dtype, finite scores, class ids in range):
-- core._call_as(fname, names, core.metrics_*, ...) raises its error ("metrics_binary: labels has
-- 3 elements, ... (one per score)") at fname's caller as "fname: val_labels has 3 elements, ...
-- (one per element of val_scores)", the runtime's words for its arguments replaced by the
-- caller's (names).  Called straight from fname, not from a helper: the level counts fname's
-- frame.
local call_as = core._call_as

-- names for a runtime metric whose scores and labels came in as the caller's `scores` and
-- `labels` arguments
local function arg_names(scores, labels)
  return { scores = scores, labels = labels, score = "element of " .. scores, positive_class = "positive" }
end

-- opts.n_bins of fname (the ECE's bins): M.ECE_BINS when absent, else an integer in
-- [1, ECE_MAX_BINS] (the runtime's limit), checked up front: an ECE is computed only for
-- scores in [0, 1], and a bad n_bins beside others must not pass unseen.  Raises at fname's
-- caller; call it as `local n = n_bins(...)`, not in a tail call.
local ECE_MAX_BINS = 100000
local function n_bins(fname, v)
  if v == nil then return M.ECE_BINS end
  local i = math.type(v) == "float" and math.tointeger(v) or v
  if math.type(i) ~= "integer" or i < 1 or i > ECE_MAX_BINS then
    error(string.format("%s: n_bins must be an integer in [1, %d], got %s", fname, ECE_MAX_BINS,
      type(v) == "string" and string.format("%q", v) or U.describe(v)), 3)
  end
  return i
end

-- opts.prefix of fname: "" when absent, else the string put before every key ("val/",
-- metrics.prefix's); checked, as a number would pass into the keys unseen ("5accuracy").
-- Raises at fname's caller; call it as `local p = key_prefix(...)`, not in a tail call.
local function key_prefix(fname, v)
  if v == nil then return "" end
  if type(v) ~= "string" then
    error(string.format("%s: prefix must be a string (such as metrics.prefix(\"val\")), got %s",
      fname, U.describe(v)), 3)
  end
  return v
end

-- A detached CPU view of t (metrics never record autograd nodes and run on the CPU).
local function cpu(t)
  if t.detach then t = t:detach() end
  if t.device ~= "cpu" then t = t:to("cpu") end
  return t
end

-- cpu(v) of fname's argument `what`, checked to be a tensor first (raised at fname's caller;
-- call it from fname's body, not in a tail call).
local function cpu_arg(fname, what, v)
  check_tensor(fname, what, v, 1)
  return cpu(v)
end

local function ratio(a, b)
  if b == 0 then return 0.0 end -- scikit-learn's zero_division=0
  return a / b
end

-- Sets key = v unless v is NaN (undefined).
local function put(out, prefix, key, v)
  if v == v then out[prefix .. key] = v end
end

local function op_keys(min_recall, min_precision)
  return string.format("precision@%grecall", min_recall),
    string.format("threshold@%grecall", min_recall),
    string.format("recall@%gprecision", min_precision),
    string.format("threshold@%gprecision", min_precision)
end

local function put_operating_points(out, prefix, s)
  local pr, tr, rp, tp = op_keys(s.min_recall, s.min_precision)
  put(out, prefix, pr, s.precision_at_recall)
  put(out, prefix, tr, s.threshold_at_recall)
  put(out, prefix, rp, s.recall_at_precision)
  put(out, prefix, tp, s.threshold_at_precision)
end

-- MCC from a confusion matrix (Lua table, rows = true class), scikit-learn's multiclass form
-- (which is the usual binary formula for K = 2); 0 when a denominator term is 0.
local function mcc(cm)
  local k, n, c = #cm, 0, 0
  local t, p = {}, {}
  for i = 1, k do t[i], p[i] = 0, 0 end
  for i = 1, k do
    for j = 1, k do
      local v = cm[i][j]
      t[i], p[j], n = t[i] + v, p[j] + v, n + v
    end
    c = c + cm[i][i]
  end
  local tp, pp, tt = 0.0, 0.0, 0.0
  for i = 1, k do
    tp = tp + t[i] * p[i]
    pp = pp + p[i] * p[i]
    tt = tt + t[i] * t[i]
  end
  local n2 = n * 1.0 * n
  local cov_yp, cov_pp, cov_yy = c * 1.0 * n - tp, n2 - pp, n2 - tt
  if cov_pp * cov_yy == 0 then return 0.0 end
  return cov_yp / math.sqrt(cov_yy * cov_pp)
end

-- Per-class precision, recall, F1, specificity and support from a confusion matrix.
local function per_class(cm)
  local k, n = #cm, 0
  local row, col = {}, {}
  for i = 1, k do row[i], col[i] = 0, 0 end
  for i = 1, k do
    for j = 1, k do
      row[i], col[j], n = row[i] + cm[i][j], col[j] + cm[i][j], n + cm[i][j]
    end
  end
  local out = {}
  for i = 1, k do
    local tp = cm[i][i]
    local fp, fn = col[i] - tp, row[i] - tp
    local tn = n - tp - fp - fn
    out[i] = {
      precision = ratio(tp, tp + fp),
      recall = ratio(tp, tp + fn),
      f1 = ratio(2 * tp, 2 * tp + fp + fn),
      specificity = ratio(tn, tn + fp),
      support = row[i],
    }
  end
  return out, n
end

-- ---------------------------------------------------------------- classifier flavour

local CLS_OPTS = { num_classes = U.NONE, prefix = U.NONE, input = U.NONE, n_bins = U.NONE,
  min_recall = U.NONE, min_precision = U.NONE, class_names = U.NONE }

-- The per-class key suffixes: "0", "1", ... or opts.class_names (K distinct names).
local function class_suffixes(fname, names, k)
  local out = {}
  if names == nil then
    for c = 1, k do out[c] = tostring(c - 1) end
    return out
  end
  if type(names) ~= "table" or #names ~= k then
    error(string.format("%s: class_names must be a list of num_classes = %d names", fname, k), 3)
  end
  local seen = {}
  for c = 1, k do
    local v = names[c]
    if type(v) ~= "string" or v == "" or v:find("/", 1, true) or seen[v] then
      error(string.format("%s: class_names[%d] must be a distinct non-empty string without '/', "
        .. "got %s", fname, c, tostring(v)), 3)
    end
    seen[v], out[c] = true, v
  end
  return out
end

-- The ranking score of class c for its one-vs-rest AUROC and AP: the class's log-odds in f64
-- when x holds logits (z_c - logsumexp of the other columns; z for a 1-D score), else the
-- probability as given (-p for class 0 of a 1-D probability, its exact reverse).  Probabilities
-- computed in f32 round to exactly 1 once a logit gap passes about 17, so every confident
-- window would tie at 1.0 and lose its order; the log-odds keep it (a monotone map of the
-- exact probability, so the AUROC is roc_auc_score's on the exact softmax).
--
-- Samples whose exact probabilities of class c are equal must tie exactly, or the area moves
-- (rows {0,-3,-1} and {2,-1,1} differ by 2 and have one softmax; z_c - logsumexp of the raw
-- logits rounds differently at each magnitude and splits them).  p_c depends only on the
-- multiset of differences z_j - z_c, so the key is computed from that alone: each row minus its
-- max (one real number per entry for rows that differ by a constant, which f64 rounds alike),
-- sorted in descending order, and each sorted position's log-odds summing the others'
-- exponentials left to right in that order (another order rounds differently: {0,-1,-3,-5} and
-- {0,-3,-1,-5} share class 4's probability from K = 4 up), then put back in its column.
-- With v sorted and v1 = 0, position i >= 2 has log-odds vi - log1p(sum_{j>=2, j~=i} e^vj) and
-- position 1 (the max) -v2 - log1p(sum_{j>=3} e^(vj-v2)), scaled by v2 so that a gap past 745
-- does not underflow to an infinite key: where v2 = 0 (a tie for the max) the two positions
-- compute the same numbers, as a class may sit at either.
local function logit_rank_scores(d, k)
  local v, idx = d:sort(2, { descending = true })
  -- [K,N]: row i is sorted position i.  A -inf (probability 0) stays -inf: the max is finite.
  v = v:sub(v:narrow(2, 1, 1)):t():contiguous()
  local keys = {}
  -- (v2 = -inf: every other entry is -inf, and the key the largest, DBL_MAX)
  local v2 = v:select(1, 2):clamp(-DBL_MAX, 0)
  keys[1] = v:select(1, 1):sub(v2) -- 0 - v2: +0 where v2 = 0, as position 2's key there
  if k > 2 then
    local w = v:narrow(1, 3, k - 2):sub(v2):exp()
    local s = w:select(1, 1)
    for j = 2, k - 2 do s = s:add(w:select(1, j)) end
    keys[1] = keys[1]:sub(s:log1p())
  end
  local e = v:exp()
  for i = 2, k do
    local t
    for j = 2, k do
      if j ~= i then t = t and t:add(e:select(1, j)) or e:select(1, j) end
    end
    keys[i] = t and v:select(1, i):sub(t:log1p()) or v:select(1, i)
  end
  local by_class = d:new_empty(d.shape)
  by_class:scatter_(2, idx, core.stack(keys, 2):clamp(-DBL_MAX, DBL_MAX))
  local out = {}
  for c = 1, k do out[c] = by_class:select(2, c) end
  return out
end

local function rank_scores(x, k, logits)
  -- the curves take finite scores: +-inf (a 1-D logit, or a -inf logit beside finite ones)
  -- ranks first or last, level with the largest finite score on ties
  local d = x:double()
  if #x.shape == 1 then
    d = d:clamp(-DBL_MAX, DBL_MAX)
    return { d:neg(), d }
  end
  if logits then return logit_rank_scores(d, k) end
  local out = {}
  for c = 1, k do out[c] = d:select(2, c) end
  return out
end

-- probs [N,K] (or [N] positive-class values for K = 2) -> [N,K] probabilities, the per-class
-- ranking scores of rank_scores, and whether x held logits.
local function as_probs(fname, x, k, input)
  if input ~= "auto" and input ~= "probs" and input ~= "logits" then
    error(string.format("%s: input must be 'auto', 'probs' or 'logits', got %s", fname,
      tostring(input)), 3)
  end
  local lo, hi = x:min():item(), x:max():item()
  if lo ~= lo or hi ~= hi then
    local first = core.isnan(x):view(-1):long():argmax():item()
    error(string.format("%s: probs_or_logits holds NaN (first at row %d, 0-based)", fname,
      #x.shape == 1 and first or first // x.shape[2]), 3)
  end
  if #x.shape == 2 and (hi == math.huge or lo == -math.huge) then
    -- a row's softmax is undefined with a +inf (inf - inf) or when every entry is -inf; a -inf
    -- beside finite ones is a probability of 0, and a 1-D score's sigmoid is 0 or 1 at +-inf
    local bad = x:eq(math.huge):long():sum(2):gt(0):logical_or(x:eq(-math.huge):long():sum(2):eq(x.shape[2]))
    if bad:any():item() then
      error(string.format("%s: probs_or_logits row %d has no softmax (a +inf, or -inf in every column)",
        fname, bad:long():argmax():item()), 3)
    end
  end
  if input == "auto" then
    -- torchmetrics' rule: values outside [0, 1] mean logits.
    input = (lo < 0 or hi > 1) and "logits" or "probs"
  elseif input == "probs" and (lo < 0 or hi > 1) then
    error(string.format("%s: input = 'probs' but the values span [%.9g, %.9g], outside [0, 1] "
      .. "(logits need input = 'logits' or 'auto')", fname, lo, hi), 3)
  end
  if #x.shape == 1 then
    if k ~= 2 then
      error(string.format("%s: 1-D scores need num_classes = 2, got %d", fname, k), 3)
    end
    -- in f64: 1 - p of an f32 p is exact there, and an f32 sigmoid saturates at 1
    local p = input == "logits" and x:double():sigmoid() or x:double()
    return core.stack({ p:neg():add(1), p }, 2), rank_scores(x, k, input == "logits"), input == "logits"
  end
  return input == "logits" and x:softmax(2) or x, rank_scores(x, k, input == "logits"), input == "logits"
end

-- the runtime's words for its arguments -> metrics.classification's
local CLASS_NAMES = arg_names("probs_or_logits", "labels")

function M.classification(x, labels, opts)
  local fname = "metrics.classification"
  opts = check_opts(fname, opts, CLS_OPTS)
  local bins = n_bins(fname, opts.n_bins)
  local prefix = key_prefix(fname, opts.prefix)
  check_tensor(fname, "probs_or_logits", x)
  check_tensor(fname, "labels", labels)
  x, labels = cpu(x), cpu(labels)
  local nd = #x.shape
  if nd ~= 1 and nd ~= 2 then
    error(string.format("%s: probs_or_logits must be [N,K] or [N], got %d dims", fname, nd), 2)
  end
  if x.dtype ~= "f32" and x.dtype ~= "f64" then
    error(string.format("%s: probs_or_logits must be f32 or f64, got %s", fname, x.dtype), 2)
  end
  if x.shape[1] == 0 then error(fname .. ": no samples (probs_or_logits has 0 rows)", 2) end
  if #labels.shape ~= 1 or labels.shape[1] ~= x.shape[1] then
    error(string.format("%s: labels has %d elements%s, expected %d (one per row of probs_or_logits)",
      fname, labels:numel(), #labels.shape == 1 and "" or " in " .. #labels.shape .. " dims", x.shape[1]), 2)
  end
  local k = opts.num_classes or (nd == 2 and x.shape[2] or 2)
  if math.type(k) ~= "integer" or k < 2 then
    error(string.format("%s: num_classes must be an integer >= 2, got %s", fname, tostring(k)), 2)
  end
  if nd == 2 and x.shape[2] ~= k then
    error(string.format("%s: probs_or_logits has %d columns, expected num_classes = %d", fname,
      x.shape[2], k), 2)
  end
  local min_recall = opts.min_recall or M.MIN_RECALL
  local min_precision = opts.min_precision or M.MIN_PRECISION
  local probs, rank, from_logits = as_probs(fname, x, k, opts.input or "auto")
  local suffix = class_suffixes(fname, opts.class_names, k)

  local preds = probs:argmax(2)
  local cm = call_as(fname, nil, core.metrics_confusion, preds, labels, k):totable()
  local out = {}
  local stats, n = per_class(cm)
  local trace = 0
  for i = 1, k do trace = trace + cm[i][i] end
  out[prefix .. "accuracy"] = trace / n
  out[prefix .. "mcc"] = mcc(cm)
  local conf = probs:max(2)
  out[prefix .. "ece"] = call_as(fname, nil, core.metrics_ece, conf, preds:eq(labels), { n_bins = bins })
  for _, name in ipairs({ "precision", "recall", "f1", "specificity" }) do
    local macro, weighted = 0.0, 0.0
    for i = 1, k do
      local v = stats[i][name]
      macro = macro + v
      weighted = weighted + v * stats[i].support
      out[string.format("%s%s_class_%s", prefix, name, suffix[i])] = v
    end
    out[prefix .. name .. "_macro"] = macro / k
    out[prefix .. name .. "_weighted"] = weighted / n
  end
  -- One-vs-rest curves per class; averages over the classes where the value is defined.
  local sums = { auroc = { 0.0, 0.0, 0 }, ap = { 0.0, 0.0, 0 } } -- macro sum, weighted sum, support
  local count = { auroc = 0, ap = 0 }
  local binary
  for c = 0, k - 1 do
    local bopts = { num_classes = k, positive = c, min_recall = min_recall, min_precision = min_precision }
    local s = call_as(fname, CLASS_NAMES, core.metrics_binary, rank[c + 1], labels, bopts)
    if c == 1 then
      -- the operating points are thresholds on the probability a caller sees, whatever ranked
      binary = s
      if from_logits then
        local p = call_as(fname, CLASS_NAMES, core.metrics_binary, probs:select(2, 2), labels,
          bopts)
        for _, key in ipairs({ "precision_at_recall", "threshold_at_recall", "recall_at_precision",
          "threshold_at_precision" }) do
          binary[key] = p[key]
        end
      end
    end
    for _, name in ipairs({ "auroc", "ap" }) do
      local v = s[name]
      put(out, prefix, string.format("%s_class_%s", name, suffix[c + 1]), v)
      if v == v then
        local acc = sums[name]
        acc[1], acc[2], acc[3] = acc[1] + v, acc[2] + v * s.positives, acc[3] + s.positives
        count[name] = count[name] + 1
      end
    end
  end
  if k == 2 then
    put(out, prefix, "auroc", binary.auroc)
    put(out, prefix, "ap", binary.ap)
    put_operating_points(out, prefix, binary)
  else
    for _, name in ipairs({ "auroc", "ap" }) do
      local acc = sums[name]
      if count[name] > 0 then
        out[prefix .. name] = acc[1] / count[name]
        out[prefix .. name .. "_weighted"] = acc[2] / acc[3]
      end
    end
  end
  out[prefix .. "confusion"] = cm
  return out
end

-- ---------------------------------------------------------------- threshold flavour

local ANOMALY_OPTS = { prefix = U.NONE, threshold = U.NONE, n_bins = U.NONE,
  min_recall = U.NONE, min_precision = U.NONE }

-- the runtime's words for its arguments -> metrics.anomaly's
local VAL_NAMES = arg_names("val_scores", "val_labels")
local TEST_NAMES = arg_names("test_scores", "test_labels")

local function check_scores(fname, what, s)
  check_tensor(fname, what, s)
  s = cpu(s)
  if #s.shape ~= 1 then
    error(string.format("%s: %s must be 1-D, got %d dims", fname, what, #s.shape), 3)
  end
  return s
end

function M.anomaly(val_scores, val_labels, test_scores, test_labels, opts)
  local fname = "metrics.anomaly"
  opts = check_opts(fname, opts, ANOMALY_OPTS)
  local bins = n_bins(fname, opts.n_bins)
  local prefix = key_prefix(fname, opts.prefix)
  val_scores = check_scores(fname, "val_scores", val_scores)
  test_scores = check_scores(fname, "test_scores", test_scores)
  check_tensor(fname, "val_labels", val_labels)
  check_tensor(fname, "test_labels", test_labels)
  val_labels, test_labels = cpu(val_labels), cpu(test_labels)
  local bopts = { min_recall = opts.min_recall or M.MIN_RECALL,
    min_precision = opts.min_precision or M.MIN_PRECISION }
  local thr = opts.threshold
  if thr == nil then
    -- Fitted on the VALIDATION scores only (the reference fitted it on the test labels).
    local v = call_as(fname, VAL_NAMES, core.metrics_binary, val_scores, val_labels, bopts)
    thr = v.youden_threshold
    if thr ~= thr then
      error(string.format("%s: validation labels hold a single class (%d negative, %d positive); "
        .. "Youden's J needs both to fit the threshold (metrics.anomaly and metrics.of_outputs take a "
        .. "known one as opts.threshold)", fname,
        v.negatives, v.positives), 2)
    end
  elseif type(thr) ~= "number" or thr ~= thr then
    error(string.format("%s: threshold must be a number, got %s", fname, U.describe(thr)), 2)
  end
  local cm = call_as(fname, TEST_NAMES, core.metrics_threshold_confusion, test_scores, test_labels, thr)
    :totable()
  local tn, fp, fn, tp = cm[1][1], cm[1][2], cm[2][1], cm[2][2]
  local out = {}
  out[prefix .. "threshold"] = thr
  out[prefix .. "accuracy"] = (tp + tn) / (tp + tn + fp + fn)
  out[prefix .. "precision"] = ratio(tp, tp + fp)
  out[prefix .. "recall"] = ratio(tp, tp + fn)
  out[prefix .. "f1"] = ratio(2 * tp, 2 * tp + fp + fn)
  out[prefix .. "specificity"] = ratio(tn, tn + fp)
  out[prefix .. "mcc"] = mcc(cm)
  local s = call_as(fname, TEST_NAMES, core.metrics_binary, test_scores, test_labels, bopts)
  put(out, prefix, "auroc", s.auroc)
  put(out, prefix, "ap", s.ap)
  put_operating_points(out, prefix, s)
  -- ECE only for scores that are probabilities; the reference's sigmoid of raw anomaly scores
  -- gives a number with no calibration meaning.
  if test_scores:min():item() >= 0 and test_scores:max():item() <= 1 then
    out[prefix .. "ece"] = call_as(fname, { confidence = "test_scores", correct = "test_labels" },
      core.metrics_ece, test_scores, test_labels, { n_bins = bins })
  end
  return out
end

-- ---------------------------------------------------------------- test_step outputs

local OUTPUTS_NAMES = arg_names("outputs.scores", "outputs.labels")
local OUTPUTS_OPTS = { threshold = U.NONE, val = U.NONE, num_classes = U.NONE,
  class_names = U.NONE }

-- Metrics of one set of test_step outputs, name -> number: graphids.trainer's default metric
-- function (used when the model has no test_metrics).  outputs.probs ([N,K]) selects the
-- classifier set (outputs.logits [N,K], when present, instead: the same set with the curves
-- ranked by log-odds); otherwise outputs.scores are anomaly scores: with opts.val = {scores =,
-- labels =} (validation outputs) the threshold set is fitted on them, with opts.threshold it is
-- used as given, and with neither only the threshold-free metrics (auroc, ap, operating points,
-- ece) are returned -- never a threshold fitted on the test labels.
function M.of_outputs(outputs, opts)
  local fname = "metrics.of_outputs"
  opts = check_opts(fname, opts, OUTPUTS_OPTS)
  if type(outputs) ~= "table" or not is_tensor(outputs.labels) then
    error(fname .. ": outputs must be a table with a labels tensor (a test_step's result)", 2)
  end
  -- logits rank the AUROC and AP curves finer than f32 probabilities (rank_scores)
  for _, input in ipairs({ "logits", "probs" }) do
    local x = outputs[input]
    if is_tensor(x) and #x.shape == 2 then
      -- (classification's errors are this function's, in the names of outputs' fields)
      local c = call_as(fname, { labels = "outputs.labels", probs_or_logits = "outputs." .. input },
        M.classification, x, outputs.labels,
        { input = input, num_classes = opts.num_classes, class_names = opts.class_names })
      return M.scalars(c)
    end
  end
  if not is_tensor(outputs.scores) then
    error(fname .. ": outputs hold neither probs [N,K] nor scores [N]", 2)
  end
  if opts.val ~= nil then
    local v = opts.val
    if type(v) ~= "table" or not is_tensor(v.scores) or not is_tensor(v.labels) then
      error(fname .. ": opts.val must be {scores = Tensor, labels = Tensor}", 2)
    end
    return M.anomaly(v.scores, v.labels, outputs.scores, outputs.labels,
      { threshold = opts.threshold })
  end
  if opts.threshold ~= nil then
    return M.anomaly(outputs.scores, outputs.labels, outputs.scores, outputs.labels,
      { threshold = opts.threshold })
  end
  local scores, labels = cpu(outputs.scores), cpu(outputs.labels)
  local out = {}
  local s = call_as(fname, OUTPUTS_NAMES, core.metrics_binary, scores, labels,
    { min_recall = M.MIN_RECALL, min_precision = M.MIN_PRECISION })
  put(out, "", "auroc", s.auroc)
  put(out, "", "ap", s.ap)
  put_operating_points(out, "", s)
  if scores:min():item() >= 0 and scores:max():item() <= 1 then
    out.ece = call_as(fname, { confidence = "outputs.scores", correct = "outputs.labels" },
      core.metrics_ece, scores, labels, { n_bins = M.ECE_BINS })
  end
  return out
end

-- ---------------------------------------------------------------- low-level

-- The binary summary of graphids.core.metrics_binary: n, positives, negatives, distinct,
-- auroc, ap, youden_threshold, youden_j, precision_at_recall, threshold_at_recall,
-- recall_at_precision, threshold_at_precision (NaN where undefined).  opts: num_classes (2),
-- positive (1), min_recall (0.95), min_precision (0.99).
local LOW_NAMES = arg_names("scores", "labels")

-- (The low-level functions check their arguments in the runtime, whose errors are raised at
-- the caller's line under the function's name.)
function M.binary(scores, labels, opts)
  local fname = "metrics.binary"
  local r = call_as(fname, LOW_NAMES, core.metrics_binary, cpu_arg(fname, "scores", scores),
    cpu_arg(fname, "labels", labels), opts)
  return r
end

-- [K,K] i64 confusion matrix, rows = true class, columns = predicted.
function M.confusion(preds, labels, num_classes)
  local fname = "metrics.confusion"
  local r = call_as(fname, nil, core.metrics_confusion, cpu_arg(fname, "preds", preds),
    cpu_arg(fname, "labels", labels), num_classes)
  return r
end

-- L1 expected calibration error of confidences in [0, 1] against 0/1 outcomes.
function M.ece(confidence, correct, opts)
  local fname = "metrics.ece"
  confidence = cpu_arg(fname, "confidence", confidence)
  correct = cpu_arg(fname, "correct", correct)
  if type(opts) == "table" then
    local _ = n_bins(fname, opts.n_bins)
  end
  local r = call_as(fname, nil, core.metrics_ece, confidence, correct,
    opts or { n_bins = M.ECE_BINS })
  return r
end

-- fpr, tpr, thresholds as sklearn.metrics.roc_curve(drop_intermediate=False) (f64 tensors).
function M.roc_curve(scores, labels, opts)
  local fname = "metrics.roc_curve"
  local fpr, tpr, thr = call_as(fname, LOW_NAMES, core.metrics_roc_curve,
    cpu_arg(fname, "scores", scores), cpu_arg(fname, "labels", labels), opts)
  return fpr, tpr, thr
end

-- precision, recall, thresholds as sklearn.metrics.precision_recall_curve.
function M.pr_curve(scores, labels, opts)
  local fname = "metrics.pr_curve"
  local p, r, thr = call_as(fname, LOW_NAMES, core.metrics_pr_curve,
    cpu_arg(fname, "scores", scores), cpu_arg(fname, "labels", labels), opts)
  return p, r, thr
end

-- ---------------------------------------------------------------- attack intervals

-- Event-level counts of binary predictions per attack interval (graphids.metrics.intervals).
local intervals = require "graphids.metrics.intervals"
M.attack_intervals = intervals.attack_intervals
M.pool_attack_intervals = intervals.pool_attack_intervals

-- ---------------------------------------------------------------- keys

local function check_part(fname, what, v)
  if type(v) ~= "string" or v == "" or v:find("/", 1, true) then
    error(string.format("%s: %s must be a non-empty string without '/', got %s", fname, what,
      type(v) == "string" and string.format("%q", v) or tostring(v)), 3)
  end
end

-- "val/" or "test/<set>/": the prefix of a stage's keys (set nil = pooled over every set).
function M.prefix(stage, set)
  check_part("metrics.prefix", "stage", stage)
  if set == nil then return stage .. "/" end
  check_part("metrics.prefix", "set", set)
  return stage .. "/" .. set .. "/"
end

-- key("val", nil, "acc") == "val/acc"; key("test", "set_01", "f1") == "test/set_01/f1".
-- Pooled keys have one '/', per-set keys two, so they can never collide.
function M.key(stage, set, name)
  check_part("metrics.key", "name", name)
  return M.prefix(stage, set) .. name
end

M.sorted_keys = U.sorted_keys

-- The union of flat metric tables; a key present in two of them is an error naming both.
function M.merge(...)
  local out, from = {}, {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if type(t) ~= "table" then
      error(string.format("metrics.merge: argument #%d must be a table, got %s", i, type(t)), 2)
    end
    for _, k in ipairs(M.sorted_keys(t)) do
      if from[k] then
        error(string.format("metrics.merge: key '%s' is in tables #%d and #%d", k, from[k], i), 2)
      end
      out[k], from[k] = t[k], i
    end
  end
  return out
end

-- Only the number-valued entries (what a tracker logs; drops the confusion matrices).
function M.scalars(t)
  local out = {}
  for k, v in pairs(t) do
    if type(v) == "number" then out[k] = v end
  end
  return out
end

-- "key  value" lines in sorted key order; confusion matrices as rows.
function M.format(t)
  local lines = {}
  for _, k in ipairs(M.sorted_keys(t)) do
    local v = t[k]
    if type(v) == "table" then
      local rows = {}
      for i, row in ipairs(v) do rows[i] = "[" .. table.concat(row, ", ") .. "]" end
      lines[#lines + 1] = string.format("%s  [%s]", k, table.concat(rows, ", "))
    elseif math.type(v) == "integer" then
      lines[#lines + 1] = string.format("%s  %d", k, v)
    elseif v ~= v then
      lines[#lines + 1] = k .. "  nan" -- (%g prints x86's 0/0 as -nan; null in the JSON)
    else
      lines[#lines + 1] = string.format("%s  %.6g", k, v)
    end
  end
  return table.concat(lines, "\n")
end

-- ---------------------------------------------------------------- accumulator

-- Collects per-batch scores and labels on the CPU during an epoch:
--   local acc = metrics.Accumulator()
--   acc:add(probs, batch.y)            -- each batch (detached copies; any device)
--   local m = acc:classification({ prefix = "val/" }); acc:reset()
local Accumulator = class.class("Accumulator")
M.Accumulator = Accumulator

function Accumulator:__init()
  self:reset()
end

function Accumulator:reset()
  self._scores, self._labels, self._n, self._batches = {}, {}, 0, 0
  self._cat = nil
end

function Accumulator:add(scores, labels)
  local fname = "Accumulator:add"
  check_tensor(fname, "scores", scores)
  check_tensor(fname, "labels", labels)
  local b = self._batches + 1 -- not #self._scores: tensors() merges the batches into one
  if #scores.shape ~= 1 and #scores.shape ~= 2 then
    error(string.format("%s: batch %d: scores must be [N] or [N,K], got %d dims", fname, b,
      #scores.shape), 2)
  end
  if #labels.shape ~= 1 or scores.shape[1] ~= labels.shape[1] then
    error(string.format("%s: batch %d: labels must be [N] with N = %d rows of scores", fname, b,
      scores.shape[1]), 2)
  end
  if labels.dtype:match("^f") or labels.dtype == "bf16" then
    error(string.format("%s: batch %d: labels must be integer class ids, got %s", fname, b,
      labels.dtype), 2)
  end
  local first = self._scores[1]
  if first then
    local same = #first.shape == #scores.shape and first.dtype == scores.dtype
      and (#scores.shape == 1 or first.shape[2] == scores.shape[2])
    if not same then
      error(string.format("%s: batch %d has scores %s %s, earlier batches %s %s", fname, b,
        scores.dtype, table.concat(scores.shape, "x"), first.dtype,
        table.concat(first.shape, "x")), 2)
    end
  end
  -- Copies: the caller may reuse its batch buffers.
  self._scores[b] = cpu(scores):clone()
  self._labels[b] = cpu(labels):clone()
  self._n, self._batches = self._n + scores.shape[1], b
  self._cat = nil
end

function Accumulator:count()
  return self._n
end

-- Raises at the caller of the method that calls it (from the method's body, not a tail call).
local function check_batches(self)
  if #self._scores == 0 then error("Accumulator: no batches were added", 3) end
end

-- The concatenated scores and labels (kept until the next add or reset).
function Accumulator:tensors()
  check_batches(self)
  if not self._cat then
    self._cat = { core.cat(self._scores, 1), core.cat(self._labels, 1) }
    self._scores, self._labels = { self._cat[1] }, { self._cat[2] }
  end
  return self._cat[1], self._cat[2]
end

function Accumulator:classification(opts)
  check_batches(self)
  local s, y = self:tensors()
  return M.classification(s, y, opts)
end

return M
