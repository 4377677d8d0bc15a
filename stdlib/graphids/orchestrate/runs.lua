-- graphids.orchestrate.runs -- the run dirs under a lake root, their status and metrics, and a
-- leaderboard over seeds.
--   local runs = require "graphids.orchestrate.runs"
--   for _, r in ipairs(runs.scan("lake")) do print(r.dir, r.status, r.identity.stage) end
--   local rows = runs.leaderboard(runs.scan("lake"), {metric = "test/f1_macro"})
--   local src = assert(require("graphids.track.query").open("http://127.0.0.1:5000"))
--   local rs = assert(runs.scan_tracking(src, {dataset = "hcrl_sa"}))   -- the same records
-- A run dir is a folder holding resolved.json, at most 5 levels below the root
-- (<lake_root>/<dataset>/<stage>/<variant>/seed_<N>).  Status: "tested" (.test_complete),
-- "trained" (.train_complete), "incomplete" (neither).  stale_metrics: the record holds test
-- metrics but is not "tested" (fitted again since), so they describe earlier weights.
-- tested_at: when the test metrics were written, in seconds since the epoch (test_metrics.json's
-- modification time; from a tracking store, the test run's end), nil without them.
-- From a tracking store, one record stands for the runs that graphids.orchestrate.tracking
-- logged for one run dir (tag graphids.run_dir): the latest fit run and the latest test run.
-- Status: "tested" when that test run FINISHED and started after the fit run ended (a re-fit
-- clears the markers, and so does a resumed fit, which logs into the same fit run), "trained"
-- when the fit run FINISHED, else "incomplete".
local gio = require "graphids.io"
local json = require "graphids.json"
local describe = require("graphids.nn._util").describe

local M = {}

M.MAX_DEPTH = 5

-- Whether a record's test metrics are those of weights it no longer holds: a run fitted again
-- after its test keeps the old test_metrics.json (and test run) until it is tested again.
function M.stale(status, metrics)
  return metrics ~= nil and (status == "trained" or status == "incomplete")
end

local function status_of(dir)
  if gio.exists(gio.join(dir, ".test_complete")) then return "tested" end
  if gio.exists(gio.join(dir, ".train_complete")) then return "trained" end
  return "incomplete"
end

-- A JSON object file: the table; nil when absent; false, message when it does not read as one.
local function read_object(path)
  if not gio.exists(path) then return nil end
  local v, err = gio.read_json(path)
  if v == nil then return false, tostring(err) end
  if type(v) ~= "table" or json.is_array(v) then
    return false, path .. ": not a JSON object (" .. describe(v) .. ")"
  end
  return v
end

-- One run dir: {dir, identity, status, metrics (test_metrics.json or nil), config, problems};
-- nil when dir holds no resolved.json.  A run file that exists but does not read (truncated,
-- not an object, a folder) makes the status "damaged" and is named in problems, rather than
-- hiding the run or showing it without its record.
-- What marks a folder as a run dir besides its resolved.json.
local RUN_FILES = { ".train_complete", ".test_complete", "test_metrics.json", "checkpoints" }

-- What a run dir's path says of its identity (<dataset>/<stage>/<variant>/seed_<N>), for a
-- damaged run whose record does not: shown so the listing says which run it is.
local function path_identity(dir)
  local dataset, stage, variant, seed = dir:match("([^/]+)/([^/]+)/([^/]+)/seed_(%-?%d+)/*$")
  if dataset == nil then return {} end
  return { dataset = dataset, stage = stage, variant = variant, seed = math.tointeger(tonumber(seed)) }
end

-- The identity fields that listings show and compare groups by.
M.IDENTITY = { "dataset", "stage", "variant", "seed", "scale" }

-- id with its fields checked: the runtime writes each as a string (the seed a number); a field
-- of another kind (null, a list, an object, a boolean) is named in problems and left out, so
-- that no listing prints json.null or a table's address, and no leaderboard groups by one.
local function checked_identity(id, file, problems)
  local out = {}
  for k, v in pairs(id) do out[k] = v end
  for _, k in ipairs(M.IDENTITY) do
    local v = id[k]
    if v ~= nil and type(v) ~= "string" and type(v) ~= "number" then
      local what = type(v) ~= "table" and "a " .. type(v) or v == json.null and "null"
        or (json.is_array(v) or v[1] ~= nil) and "a list" or "an object"
      problems[#problems + 1] = string.format("%s: identity.%s is %s, not a %s", file, k, what,
        k == "seed" and "number" or "string")
      out[k] = nil
    end
  end
  return out
end

function M.read(dir)
  -- a folder this process may not read could be a run dir: named as damaged, not hidden (nor,
  -- for runs show, called "not a run dir")
  local _, serr = gio.stat(gio.join(dir, "resolved.json"))
  local listed, lerr = gio.list_dir(dir)
  if serr ~= nil or (listed == nil and gio.is_dir(dir)) then
    return { dir = dir, identity = path_identity(dir), status = "damaged", config = {},
      problems = { string.format("%s cannot be read (%s)", dir, tostring(serr or lerr):gsub("^.*: ", "")) } }
  end
  local cfg, err = read_object(gio.join(dir, "resolved.json"))
  if cfg == nil then
    -- a run dir that lost its record is named, not hidden
    for _, f in ipairs(RUN_FILES) do
      if gio.exists(gio.join(dir, f)) then
        cfg, err = false, gio.join(dir, "resolved.json") .. ": missing (the run's record; its " .. f ..
          " is there)"
        break
      end
    end
    if cfg == nil then return nil end
  end
  local problems = {}
  local identity = nil
  if cfg == false then
    problems[#problems + 1], cfg = err, {}
  elseif type(cfg.identity) ~= "table" or cfg.identity == json.null or json.is_array(cfg.identity) then
    problems[#problems + 1] = gio.join(dir, "resolved.json") .. ": no identity object"
  else
    identity = checked_identity(cfg.identity, gio.join(dir, "resolved.json"), problems)
  end
  local metrics, merr = read_object(gio.join(dir, "test_metrics.json"))
  if metrics == false then
    problems[#problems + 1], metrics = merr, nil
  elseif metrics then
    -- the runtime writes a non-finite value as null; a file that holds one anyway (1e999 reads
    -- as inf) gets null too, as a tracking record does, so it neither ranks nor breaks --json
    for k, v in pairs(metrics) do
      if type(v) == "number" and not M.finite(v) then metrics[k] = json.null end
    end
  end
  local status = #problems > 0 and "damaged" or status_of(dir)
  local mst = metrics and gio.stat(gio.join(dir, "test_metrics.json"))
  return { dir = dir, identity = identity or path_identity(dir),
    status = status, config = cfg, metrics = metrics, stale_metrics = M.stale(status, metrics),
    tested_at = mst and mst.mtime or nil, problems = problems }
end

-- Every run dir under root, sorted by path (the cache and raw folders are not descended).
function M.scan(root)
  local out = {}
  local function walk(dir, depth)
    local r = M.read(dir)
    if r then
      out[#out + 1] = r
      return
    end
    if depth >= M.MAX_DEPTH then return end
    for _, name in ipairs(gio.list_dir(dir) or {}) do
      local p = gio.join(dir, name)
      if name:sub(1, 1) ~= "." and not (depth == 0 and (name == "cache" or name == "raw"))
        and gio.is_dir(p) then
        walk(p, depth + 1)
      end
    end
  end
  if gio.is_dir(root) then
    walk(root, 0)
  end
  return out
end

-- Keeps the runs matching every given identity field (dataset, stage, variant, seed).
function M.filter(list, want)
  local out = {}
  for _, r in ipairs(list) do
    local keep = true
    for k, v in pairs(want or {}) do
      if v ~= nil and tostring(r.identity[k]) ~= tostring(v) then keep = false end
    end
    if keep then out[#out + 1] = r end
  end
  return out
end

function M.finite(v)
  return v == v and v ~= math.huge and v ~= -math.huge
end

-- The default headline metric of a run: macro F1 for classifiers, F1 for anomaly detectors.
function M.metric_of(r, metric)
  local m = r.metrics
  if type(m) ~= "table" then return nil end
  if metric then
    local v = m[metric]
    return type(v) == "number" and v or nil
  end
  local v = m["test/f1_macro"]
  if type(v) ~= "number" then v = m["test/f1"] end
  return type(v) == "number" and v or nil
end

-- Which end of a metric is best: "low" for losses, errors, calibration error, detection
-- delays and false alarms (the last part of the key: *loss*, *error*, *delay*, ece, mse, mae,
-- fpr, false_alarm*), "high" for every other (accuracy, F1, AUROC, interval_recall, ...).  A
-- threshold has no better end; it ranks high first like the rest.
function M.best_end(metric)
  local name = tostring(metric or ""):match("([^/]*)$"):lower()
  for _, pat in ipairs({ "loss", "error", "delay", "^ece", "^mse", "^mae", "^fpr", "^false_alarm" }) do
    if name:find(pat) then return "low" end
  end
  return "high"
end

-- The seed statistics of the leaderboard's rows (graphids.stats, as the reference's comparison:
-- Cohen's d with bootstrap intervals, no p-values): each row's 95 % bootstrap interval of its mean
-- (ci_lo, ci_hi; two seeds or more), and, against the best row of its dataset and stage, Cohen's d
-- of the best over it in the metric's better direction with its 95 % bootstrap interval (d, d_lo,
-- d_hi) and `tied` when that interval reaches 0 or below: the seeds cannot tell the two apart
-- (a variant whose seeds equal the best's, each one value, has d = 0 and [0, 0]: tied).
local function seed_statistics(rows, low)
  local stats = require "graphids.stats"
  local best = {}
  for _, g in ipairs(rows) do
    if g.n >= 2 and g.mean == g.mean then g.ci_lo, g.ci_hi = stats.mean_ci(g.values) end
    local key = tostring(g.dataset) .. "/" .. tostring(g.stage)
    local b = best[key]
    if b == nil then
      best[key] = g
    elseif g.mean == g.mean and b.mean == b.mean then
      local hi, lo = b.values, g.values
      if low then hi, lo = lo, hi end
      g.d = stats.cohens_d(hi, lo)
      if g.d ~= nil then
        g.d_lo, g.d_hi = stats.cohens_d_ci(hi, lo)
        g.tied = g.d_lo ~= nil and g.d_lo <= 0
      end
    end
  end
end

-- Why a tested run has no value of the metric (opts.metric, else test/f1_macro or test/f1):
-- "null" (a value that was not finite), "not a number", or "missing".
local function no_value(r, metric)
  local m = type(r.metrics) == "table" and r.metrics or {}
  local v = m[metric or "test/f1_macro"]
  if v == nil and metric == nil then v = m["test/f1"] end
  if v == nil then return "missing" end
  return v == json.null and "null" or "not a number"
end

-- Whether run r was tested after run k (an unknown time counts as the oldest; on a tie, k, the
-- first in the list's order, stays).
local function tested_later(r, k)
  return (r.tested_at or -math.huge) > (k.tested_at or -math.huge)
end

-- Rows {dataset, stage, variant, n, mean, std (nil for one seed), min, max, seeds, values, runs,
-- duplicates, ci_lo, ci_hi, d, d_lo, d_hi, tied} over the tested runs, grouped by (dataset,
-- stage, variant), best mean first (opts.best = "high" or "low", default
-- M.best_end(opts.metric); ties by name; a NaN mean last); the seed statistics as
-- seed_statistics above says.  Only status "tested" counts: a run re-fitted after its test
-- ("trained") still holds the old weights' metrics (test_metrics.json, or its tracking store's
-- test run), and a "damaged" run has no identity.
-- One value a seed: two tested runs of one seed (a lake copied into a folder of the lake root, a
-- tracking store that two lake roots logged to) would count it twice, narrowing the intervals
-- with no new evidence.  The run tested last (tested_at) counts; runs[i] is the run behind
-- values[i], and duplicates lists {seed, kept, left_out = {runs}, tie} per seed held twice (tie:
-- a run left out was tested no earlier, as far as tested_at says, so the order chose).  A run
-- whose identity has no seed cannot be told apart, and counts.
-- Second result: the runs left unranked, {run, why}: why "damaged", or, for a tested run without
-- a value, as no_value says.
function M.leaderboard(list, opts)
  opts = opts or {}
  local groups, keys, unranked = {}, {}, {}
  for _, r in ipairs(list) do
    local v = r.status == "tested" and M.metric_of(r, opts.metric) or nil
    if r.status == "damaged" then
      unranked[#unranked + 1] = { run = r, why = "damaged" }
    elseif r.status == "tested" and v == nil then
      unranked[#unranked + 1] = { run = r, why = no_value(r, opts.metric) }
    end
    if v ~= nil then
      local id = r.identity
      local key = table.concat({ tostring(id.dataset), tostring(id.stage), tostring(id.variant) }, "/")
      if groups[key] == nil then
        groups[key] = { dataset = id.dataset, stage = id.stage, variant = id.variant, values = {},
          seeds = {}, runs = {}, duplicates = {}, n = 0, slot = {}, dup_at = {} }
        keys[#keys + 1] = key
      end
      local g = groups[key]
      local at = id.seed ~= nil and g.slot[tostring(id.seed)] or nil
      if at == nil then
        g.n = g.n + 1
        g.values[g.n], g.seeds[g.n], g.runs[g.n] = v, id.seed, r
        if id.seed ~= nil then g.slot[tostring(id.seed)] = g.n end
      else
        local dup = g.dup_at[at]
        if dup == nil then
          dup = { seed = id.seed, at = at, all = { g.runs[at] } }
          g.dup_at[at], g.duplicates[#g.duplicates + 1] = dup, dup
        end
        dup.all[#dup.all + 1] = r
        if tested_later(r, g.runs[at]) then g.values[at], g.runs[at] = v, r end
      end
    end
  end
  local stats = require "graphids.stats"
  local rows = {}
  for _, key in ipairs(keys) do
    local g = groups[key]
    for _, dup in ipairs(g.duplicates) do
      dup.kept, dup.left_out = g.runs[dup.at], {}
      for _, r in ipairs(dup.all) do
        if r ~= dup.kept then
          dup.left_out[#dup.left_out + 1] = r
          -- kept by the order alone: no run was tested later than another that it says
          if not tested_later(dup.kept, r) then dup.tie = true end
        end
      end
      dup.at, dup.all = nil, nil
    end
    g.slot, g.dup_at = nil, nil
    -- (std nil for one seed: a sample standard deviation is undefined there, not 0)
    g.mean, g.std = stats.mean(g.values), stats.sd(g.values)
    g.min, g.max = math.min(table.unpack(g.values)), math.max(table.unpack(g.values))
    g.key = key
    rows[#rows + 1] = g
  end
  local low = (opts.best or M.best_end(opts.metric)) == "low"
  -- a NaN mean (+inf and -inf in one group) compares false both ways: an invalid order for
  -- table.sort, and it would land anywhere
  table.sort(rows, function(a, b)
    local na, nb = a.mean ~= a.mean, b.mean ~= b.mean
    if na ~= nb then return nb end
    if not na and a.mean ~= b.mean then
      if low then return a.mean < b.mean end
      return a.mean > b.mean
    end
    return a.key < b.key
  end)
  seed_statistics(rows, low)
  return rows, unranked
end

-- ------------------------------------------------------------------ from a tracking store

-- MLflow keys hold no "@" (graphids.track.mlflow.sanitize_key writes "_at_"): the operating
-- point metrics (precision@0.95recall) get their name back, so both sources use the same keys.
local function metric_name(key)
  return (key:gsub("_at_(%d[^/]*)$", "@%1"))
end

-- Test metrics as test_metrics.json holds them: non-finite values are null.
local function test_metrics(run)
  local out = {}
  for k, v in pairs(run.metrics) do
    out[metric_name(k)] = M.finite(v) and v or json.null
  end
  return out
end

-- A param value as the config held it: JSON numbers, booleans, arrays and objects are decoded
-- (graphids.track.mlflow.value_text wrote them so), anything else stays a string.  A string
-- config value that reads as a number comes back as one: the params do not keep the type.
local function param_value(s)
  if s == "true" or s == "false" then return s == "true" end
  if s:match("^[%[{]") or s:match("^%-?%d") then
    local ok, v = pcall(json.decode, s)
    if ok then return v end
  end
  return s
end

-- The flattened params ("model.hidden" = "64") as a nested config.
function M.unflatten(params)
  local cfg = {}
  for _, key in ipairs(require("graphids.track.mlflow").sorted_keys(params)) do
    local node, parts = cfg, {}
    for p in key:gmatch("[^.]+") do parts[#parts + 1] = p end
    for i = 1, #parts - 1 do
      if type(node[parts[i]]) ~= "table" then node[parts[i]] = {} end
      node = node[parts[i]]
    end
    node[parts[#parts]] = param_value(params[key])
  end
  return cfg
end

local function identity_of(tags)
  local id = {}
  for _, k in ipairs(M.IDENTITY) do
    local v = tags["graphids." .. k]
    if k == "seed" and v then v = math.tointeger(tonumber(v)) or v end
    id[k] = v
  end
  return id
end

-- Run dirs compare part by part, as scan walks them (sorted names at each level).
local function path_less(a, b)
  local pa, pb = {}, {}
  for p in a:gmatch("[^/]+") do pa[#pa + 1] = p end
  for p in b:gmatch("[^/]+") do pb[#pb + 1] = p end
  for i = 1, math.min(#pa, #pb) do
    if pa[i] ~= pb[i] then return pa[i] < pb[i] end
  end
  return #pa < #pb
end

-- The last time the fit run's weights changed: its start, its end (a resumed fit, fit
-- --ckpt-path into the same run dir, logs into the same run, which keeps its start_time but
-- gets a new end_time), and when it was resumed (graphids.track's graphids.resumed_time tag,
-- while the resumed fit runs).  A test run that started before it tested older weights.
local function fit_changed(fit)
  local t = math.max(fit.start_time or 0, fit.end_time or 0)
  local resumed = math.tointeger(tonumber(fit.tags["graphids.resumed_time"] or ""))
  return resumed and math.max(t, resumed) or t
end

local function record_of(g, uri)
  local fit, test = g.fit, g.test
  local main = fit or test
  local status = "incomplete"
  local fresh = test and (fit == nil or (test.start_time or 0) >= fit_changed(fit))
  if fresh and test.status == "FINISHED" then
    status = "tested"
  elseif fit and fit.status == "FINISHED" then
    status = "trained"
  end
  local metrics = test and test_metrics(test) or nil
  local tested_ms = test and (test.end_time or test.start_time)
  return {
    dir = main.tags["graphids.run_dir"], identity = identity_of(main.tags), status = status,
    metrics = metrics, stale_metrics = M.stale(status, metrics), config = M.unflatten(main.params),
    tested_at = tested_ms and tested_ms / 1000 or nil,
    -- where the record came from (runs show prints these)
    uri = uri, experiment = main.experiment, experiment_id = main.experiment_id,
    run_id = fit and fit.run_id or nil, test_run_id = test and test.run_id or nil,
    tracking_status = fit and fit.status or nil, parent_run_id = main.tags["mlflow.parentRunId"],
    tags = main.tags,
  }
end

-- Records from a list of tracking runs (graphids.track.query's shape, sorted by start time):
-- the fit and test runs grouped by run dir (by experiment and run name when a run has no
-- graphids.run_dir tag); parent runs and runs graphids did not log are left out.  Sorted by run
-- dir as scan sorts, then by run id.
function M.from_tracking(list, uri)
  local groups, keys = {}, {}
  for _, r in ipairs(list) do
    local phase = r.tags["graphids.phase"]
    if phase == "fit" or phase == "test" then
      -- (a record from before the tag was one folder's key holds the run dir as typed: lake/x
      -- and ./lake/x are one run dir)
      local dir = r.tags["graphids.run_dir"]
      local key = dir and M.same_dir_key(dir)
        or ("\0" .. tostring(r.experiment_id) .. "\0" .. tostring(r.run_name))
      if groups[key] == nil then
        groups[key] = {}
        keys[#keys + 1] = key
      end
      groups[key][phase] = r -- the list is in start order: the latest run of a phase wins
    end
  end
  local out = {}
  for _, key in ipairs(keys) do out[#out + 1] = record_of(groups[key], uri) end
  table.sort(out, function(a, b)
    local da, db = a.dir or "", b.dir or ""
    if da ~= db then return path_less(da, db) end
    return (a.run_id or a.test_run_id) < (b.run_id or b.test_run_id)
  end)
  return out
end

-- want: {dataset=, stage=, variant=, seed=} (identity filters, sent to the store as tag
-- filters) and experiment (a name).
local function search_opts(src, want)
  local tags = {}
  for _, k in ipairs(M.IDENTITY) do
    if want and want[k] ~= nil then tags["graphids." .. k] = tostring(want[k]) end
  end
  local opts = { tags = tags }
  if want and want.experiment then
    local id, err = src:experiment_id(want.experiment)
    if id == nil then return nil, err end
    opts.experiment_ids = { id }
  end
  return opts
end

-- The records of a tracking store (a graphids.track.query source); nil, message on failure.
function M.scan_tracking(src, want)
  local opts, err = search_opts(src, want)
  if opts == nil then return nil, err end
  local list, serr = src:search(opts)
  if list == nil then return nil, serr end
  want = want or {}
  return M.filter(M.from_tracking(list, src.uri), { dataset = want.dataset, stage = want.stage,
    variant = want.variant, seed = want.seed })
end

-- One record by a run id (its fit or its test run) or by its run dir (the graphids.run_dir tag).
-- Returns the record, false when the store has none, or nil, message.
function M.read_tracking(src, ref)
  local tags
  if #ref == 32 and ref:match("^%x+$") then
    local run, err = src:get_run(ref)
    if not run then return run, err end
    local phase = run.tags["graphids.phase"]
    if phase ~= "fit" and phase ~= "test" then
      return nil, string.format("run %s is %s, not a fit or test run of graphids", ref,
        phase == "parent" and "the parent run of a multi-seed group" or "a run graphids did not log")
    end
    if run.tags["graphids.run_dir"] == nil then return M.from_tracking({ run }, src.uri)[1] end
    tags = { ["graphids.run_dir"] = run.tags["graphids.run_dir"] }
  else
    tags = { ["graphids.run_dir"] = ref }
  end
  -- the tag holds the run dir as one folder's absolute key (or, from an older fit, as the fit
  -- spelled it: lake/x or /abs/lake/x): every run whose tag names the same folder counts
  local all, err = src:search({})
  if all == nil then return nil, err end
  local want = M.same_dir_key(tags["graphids.run_dir"])
  local list = {}
  for _, r in ipairs(all) do
    local dir = r.tags["graphids.run_dir"]
    if dir ~= nil and M.same_dir_key(dir) == want then list[#list + 1] = r end
  end
  return M.from_tracking(list, src.uri)[1] or false
end

-- (graphids.orchestrate.run_dir's, here for the callers that find it here)
M.same_dir_key = require("graphids.orchestrate.run_dir").same_dir_key

return M
