-- graphids.cli.runs -- `graphids runs list|show|compare`: what the run dirs under a lake root,
-- or the runs of a tracking store (MLflow FileStore or server), hold (status, headline metrics)
-- and a leaderboard over seeds.  Both sources give the same records
-- (graphids.orchestrate.runs), so the tables and the --json output are the same.
-- Exit codes: 0 ok, 1 an error (a run dir that is not one or is damaged, a store that cannot be
-- read), 2 usage.
local A = require "graphids.orchestrate.cliargs"
local C = require "graphids.orchestrate.columns"

local M = {}

M.summary = "list, show and compare runs (leaderboard) from run dirs or the tracking store"

local USAGE = [==[
usage: graphids runs list    [--lake-root DIR | --tracking-uri URI [--experiment NAME]] [--dataset D]
                             [--stage S] [--json]
       graphids runs show    RUN_DIR | RUN_ID [--tracking-uri URI] [--json]
       graphids runs compare [--lake-root DIR | --tracking-uri URI [--experiment NAME]] [--dataset D]
                             [--stage S] [--metric KEY] [--best high|low] [--expected-max] [--json]

list      every run (<lake>/<dataset>/<stage>/<variant>/seed_<N>) with its status (tested,
          trained, incomplete, or damaged when its resolved.json or test_metrics.json does not
          read or an identity field is null, a list or an object: the reason goes to stderr)
          and pooled test accuracy, F1
          and AUROC (none for a run fitted again since its test: its old metrics, marked so,
          are in show and --json)
show      one run: identity, status, files (or its MLflow runs), every test metric (pooled and
          per test set); with a tracking URI, RUN_ID is the id of its fit or test run, and a
          RUN_DIR is looked up by the graphids.run_dir tag (then on disk)
compare   a leaderboard: tested runs grouped by dataset/stage/variant, mean +- std over seeds of
          KEY (default test/f1_macro, or test/f1 for anomaly detectors), best first: the
          lowest for a loss, an error, a delay, ece, mse, mae, fpr or false_alarm_runs (the
          key's last part), else the highest; with the 95% bootstrap interval of each mean and
          Cohen's d of the best variant of the dataset and stage over each other one (95%
          bootstrap interval; "tied" when it reaches 0); one run a seed (of two tested runs
          of one seed, the one tested last; stderr names both, and the damaged runs and the
          tested ones without a number for KEY, not ranked); with --expected-max also,
          per dataset and stage, each variant's expected best of n seeds for n = 1 .. its seeds
          (Dodge et al. 2019: the best of n draws from its seeds' values, with replacement;
          mean +- sd)

The source (run dirs unless a tracking URI is given or set):
  --lake-root DIR      the run dirs under DIR (default $GRAPHIDS_LAKE_ROOT or ./lake)
  --tracking-uri URI   the runs that graphids logged to an MLflow store: http(s)://host:port
                       (an mlflow server), file:/path or a plain path (a FileStore such as
                       <lake>/mlruns); default $MLFLOW_TRACKING_URI unless --lake-root is given
  --experiment NAME    with a tracking URI: only that experiment (e.g. graphids/hcrl_sa/gat)

options:
  --dataset D, --stage S   keep only these runs
  --metric KEY      the metric to rank by (a key of test_metrics.json, e.g. test/auroc)
  --best high|low   which end of the metric ranks first (default: from its name, above)
  --expected-max    compare only: the expected best of n seeds (the maximum, or the minimum
                    for a metric ranked lowest first) after the leaderboard
  --json            machine-readable output
  -h, --help        this text

A tracking run is the fit run and the test run logged for one run dir (status "tested" when the
test run finished after the fit); the metrics are the test run's.  A server that does not answer
is tried 3 times, 10 s each (MLFLOW_HTTP_REQUEST_MAX_RETRIES / _TIMEOUT change that).
]==]

-- A table cell; a non-finite value (one no source should hand over: they read as null) as
-- "nan", "inf" or "-inf" rather than printf's 309 digits of an infinity's stand-in.
local function fmt(v)
  if type(v) ~= "number" then return "   -   " end
  if v ~= v then return string.format("%7s", "nan") end
  if v == math.huge or v == -math.huge then return string.format("%7s", v > 0 and "inf" or "-inf") end
  return string.format("%7.4f", v)
end

-- A leaderboard cell: "nan" for a group holding +inf and -inf (printf would write "-nan").
local function cell(v)
  if v == nil then return string.format("%9s", "-") end
  if v ~= v then return string.format("%9s", "nan") end
  return string.format("%9.5f", v)
end

-- A number for --json: JSON has no NaN or infinity, so those are null (as test_metrics.json
-- writes them).
local function num(v, json)
  local finite = v ~= nil and v == v and v ~= math.huge and v ~= -math.huge
  return finite and v or json.null
end

-- A table or show field: "-" for a value a damaged run does not have (not "nil"); the records
-- hold strings and numbers only (runs.read leaves out an identity field of another kind).
local function field(v)
  if type(v) ~= "string" and type(v) ~= "number" then return "-" end
  return tostring(v)
end

-- "d [lo, hi]" of Cohen's d against the best row of the dataset and stage, "tied" when the seeds
-- cannot tell them apart (the interval reaches 0), "-" for the best row or too few seeds.
local function effect(g)
  if g.d == nil then return "-" end
  local d = g.d == math.huge and "inf" or string.format("%.2f", g.d)
  if g.d_lo == nil then return d end
  return string.format("%s [%.2f, %.2f]%s", d, g.d_lo, g.d_hi, g.tied and " tied" or "")
end

-- Says on stderr why a damaged run's record does not read, a line per problem: "graphids runs
-- <sub>: <what>: <problem>" (what: "damaged", or "damaged, not ranked" for compare).
local function note_damaged(sub, r, what)
  for _, p in ipairs(r.problems or {}) do
    io.stderr:write("graphids runs ", sub, ": ", what, ": ", p, "\n")
  end
end

local function lake_root(o)
  return require("graphids.data.catalog").lake_root({ lake_root = o["--lake-root"] })
end

-- The tracking URI in effect: --tracking-uri, else $MLFLOW_TRACKING_URI unless --lake-root
-- asks for run dirs; nil for run dirs.
local function tracking_uri(o)
  local uri = o["--tracking-uri"]
  if uri == nil and o["--lake-root"] == nil then uri = os.getenv("MLFLOW_TRACKING_URI") end
  if uri == "" then uri = nil end
  return uri
end

-- The records of the chosen source, and where they are; nil, message when the store fails.
local function collect(o)
  local runs = require "graphids.orchestrate.runs"
  local want = { dataset = o["--dataset"], stage = o["--stage"] }
  local uri = tracking_uri(o)
  if uri == nil then
    local root = lake_root(o)
    local gio = require "graphids.io"
    -- (an error, as a tracking store that is not there is: a misspelt root would list nothing)
    if not gio.exists(root) then
      return nil, string.format("the lake root %s does not exist: no run was written there (name the " ..
        "lake with --lake-root or $GRAPHIDS_LAKE_ROOT)", root)
    end
    if not gio.is_dir(root) then
      return nil, string.format("the lake root %s is not a folder (--lake-root, $GRAPHIDS_LAKE_ROOT)", root)
    end
    return runs.filter(runs.scan(root), want), "under " .. root
  end
  local src, err = require("graphids.track.query").open(uri)
  if src == nil then return nil, err end
  want.experiment = o["--experiment"]
  local rs, serr = runs.scan_tracking(src, want)
  if rs == nil then return nil, serr end
  return rs, "in " .. src.uri .. (want.experiment and (" experiment " .. want.experiment) or "")
end

local function list(o, json)
  local pipeline = require "graphids.orchestrate.pipeline"
  local rs, where = collect(o)
  if rs == nil then return A.fail("runs list", where) end
  if o["--json"] then
    local out = {}
    for i, r in ipairs(rs) do
      out[i] = { dir = r.dir or json.null, status = r.status, identity = r.identity,
        metrics = r.metrics or json.null, stale_metrics = r.stale_metrics }
    end
    -- (json.utf8_safe, here, in show and in compare: a run dir's name that is not UTF-8, which the
    -- file system allows, and what is read from it, as a message shows it, its bytes as \xNN, as
    -- ckpt inspect --json gives such a path; one such run would otherwise fail the whole output)
    io.stdout:write(json.encode(json.utf8_safe(json.array(out))), "\n")
    return 0
  end
  -- (the text columns as wide as their widest cell, in terminal columns: graphids.orchestrate.columns)
  local cells = {}
  for i, r in ipairs(rs) do
    local id, f = r.identity, field
    cells[i] = { f(id.dataset), f(id.stage), f(id.scale), f(id.variant), f(id.seed), r.status }
  end
  local w = C.widths({ 10, 8, 7, 14, 5, 10 }, cells)
  io.stdout:write(C.join({ "dataset", "stage", "scale", "variant", "seed", "status" }, w),
    string.format(" %7s %7s %7s\n", "acc", "F1", "AUROC"))
  for i, r in ipairs(rs) do
    -- (a run fitted again since its test: its old metrics are not this run's; runs show has them)
    local acc, f1, auroc = pipeline.headline(not r.stale_metrics and r.metrics or nil, "test/")
    io.stdout:write(C.join(cells[i], w), string.format(" %7s %7s %7s\n", fmt(acc), fmt(f1), fmt(auroc)))
  end
  io.stdout:write(string.format("%d run(s) %s\n", #rs, where))
  for _, r in ipairs(rs) do note_damaged("list", r, "damaged") end
  return 0
end

-- One record for show: from the tracking store when a URI is in effect (a run id, or a run dir
-- by its tag, then on disk), else from the run dir.
local function find(o, ref)
  local runs = require "graphids.orchestrate.runs"
  local uri = tracking_uri(o)
  if uri == nil then
    local r = runs.read(ref)
    if r == nil then return nil, ref .. " is not a run dir (no resolved.json)" end
    return r
  end
  local src, err = require("graphids.track.query").open(uri)
  if src == nil then return nil, err end
  local key = ref:gsub("(.)/+$", "%1")
  local r, rerr = runs.read_tracking(src, key)
  if r == nil then return nil, rerr end
  if r == false then
    r = runs.read(ref)
    if r == nil then
      return nil, string.format("%s has no run with the id or run dir '%s' (and it is not a run dir here)",
        src.uri, ref)
    end
    io.stderr:write(string.format("graphids runs show: %s has no run logged for %s; showing the run dir\n",
      src.uri, ref))
  end
  return r
end

local function show_json(r, json)
  local out = { dir = r.dir or json.null, status = r.status, identity = r.identity,
    metrics = r.metrics or json.null, stale_metrics = r.stale_metrics, config = r.config,
    problems = json.array(r.problems or {}) }
  if r.uri then
    for _, k in ipairs({ "uri", "experiment", "experiment_id", "run_id", "test_run_id", "tracking_status",
      "parent_run_id" }) do
      out[k] = r[k] or json.null
    end
  end
  io.stdout:write(json.encode(json.utf8_safe(out)), "\n")
end

local function show_tracking(r)
  local w = io.stdout
  w:write(string.format("tracking  %s, experiment %s (%s)\n", r.uri, tostring(r.experiment), r.experiment_id))
  local fit_status = r.tracking_status and (" (" .. r.tracking_status .. ")") or ""
  w:write(string.format("fit run   %s%s\n", r.run_id or "-", fit_status))
  w:write(string.format("test run  %s\n", r.test_run_id or "-"))
  if r.parent_run_id then w:write(string.format("parent    %s\n", r.parent_run_id)) end
  local ckpt = r.tags["graphids.best_ckpt_path"]
  if ckpt then
    w:write(string.format("best ckpt %s (sha256 %s)\n", ckpt, tostring(r.tags["graphids.ckpt_sha256"])))
  end
end

local function show(o, json)
  local ref = o.positional[2]
  if ref == nil then return A.usage_error("runs show", "missing RUN_DIR or RUN_ID", USAGE) end
  if ref == "" then return A.usage_error("runs show", "RUN_DIR or RUN_ID is empty", USAGE) end
  local r, err = find(o, ref)
  if r == nil then return A.fail("runs show", err) end
  if o["--json"] then
    show_json(r, json)
    return #(r.problems or {}) > 0 and 1 or 0
  end
  local id = r.identity
  io.stdout:write(string.format("run       %s\n", tostring(r.dir or "-")))
  if r.uri then show_tracking(r) end
  io.stdout:write(string.format("identity  dataset=%s stage=%s variant=%s seed=%s scale=%s\n",
    field(id.dataset), field(id.stage), field(id.variant), field(id.seed), field(id.scale)))
  io.stdout:write(string.format("status    %s\nmodel     %s\n", r.status,
    field(type(r.config.model) == "table" and r.config.model.class_path or nil)))
  if r.uri == nil then
    local gio = require "graphids.io"
    for _, f in ipairs({ "checkpoints/best_model.safetensors", "checkpoints/last.safetensors", "predictions",
      "traces.jsonl", "test_metrics.json" }) do
      local here = gio.exists(gio.join(r.dir, f)) and "present" or "absent"
      io.stdout:write(string.format("  %-38s %s\n", f, here))
    end
  end
  note_damaged("show", r, "damaged")
  if r.metrics then
    local STALE = "metrics   of a test before the last fit (graphids test again for this fit's)\n"
    io.stdout:write(r.stale_metrics and STALE or "metrics\n")
    local keys = {}
    for k in pairs(r.metrics) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = r.metrics[k]
      -- (a metric key holds a test set's name, which may be CJK text: padded by display width)
      io.stdout:write("  ", C.pad(k, 60), " ", type(v) == "number" and string.format("%.6g", v) or "null",
        "\n")
    end
  end
  return #(r.problems or {}) > 0 and 1 or 0
end

-- "; did you mean ..." naming a tested run's metric key near metric: the first of those with
-- its last part (f1_macro: test/f1_macro, the pooled key before the per-set ones), else the
-- nearest by spelling; "" when none is near.
local function near_keys(rs, metric)
  if metric == nil then return "" end
  local have, keys = {}, {}
  for _, r in ipairs(rs) do
    for k in pairs(r.status == "tested" and r.metrics or {}) do
      if not have[k] then have[k], keys[#keys + 1] = true, k end
    end
  end
  local last = metric:match("([^/]*)$")
  local near = {}
  for _, k in ipairs(keys) do
    if k:match("([^/]*)$") == last then near[#near + 1] = k end
  end
  local function parts(k) return select(2, k:gsub("/", "")) end
  table.sort(near, function(a, b)
    if parts(a) ~= parts(b) then return parts(a) < parts(b) end
    return a < b
  end)
  if #near == 0 then
    -- (the last part misspelt, beside the same folder: test/acuracy, not the whole key's
    -- spelling, which would offer test/ap for test/nope)
    local dir = metric:sub(1, #metric - #last)
    local lasts = {}
    for _, k in ipairs(keys) do
      local rest = k:sub(1, #dir) == dir and k:sub(#dir + 1) or nil
      if rest and not rest:find("/", 1, true) then lasts[#lasts + 1] = rest end
    end
    table.sort(lasts)
    local name = A.suggest(last, lasts):match("'(.*)'")
    return name and string.format("; did you mean '%s%s'?", dir, name) or ""
  end
  return string.format("; did you mean '%s'%s?", near[1],
    #near > 1 and string.format(" or another of the %d keys ending /%s", #near, last) or "")
end

-- The expected best of n seeds of each row (expected_max, expected_sd: lists over n = 1 .. g.n;
-- the minimum for a metric ranked lowest first), or nothing for a row holding a value that is
-- not finite (no source hands one over: they read as null, and are not ranked).
local function expected_best(rows, low)
  local stats = require "graphids.stats"
  local runs = require "graphids.orchestrate.runs"
  for _, g in ipairs(rows) do
    local finite = true
    for _, v in ipairs(g.values) do finite = finite and runs.finite(v) end
    if finite then
      g.expected_max, g.expected_sd = (low and stats.expected_min or stats.expected_max)(g.values)
    end
  end
end

local function expected_json(g, json)
  if g.expected_max == nil then return json.null end
  local out = {}
  for n, m in ipairs(g.expected_max) do out[n] = { n = n, mean = m, std = g.expected_sd[n] } end
  return json.array(out)
end

-- The expected best of n seeds as a table per dataset and stage (in the leaderboard's order of
-- their best rows), one column per n.
local function print_expected(rows, metric, low)
  local w = io.stdout
  w:write(string.format("\nexpected best of n seeds by %s, mean +- sd: the %s of n draws from a " ..
    "variant's seeds, with replacement (Dodge et al. 2019)\n", metric, low and "lowest" or "highest"))
  local order, groups = {}, {}
  for _, g in ipairs(rows) do
    local key = field(g.dataset) .. "/" .. field(g.stage)
    if groups[key] == nil then groups[key], order[#order + 1] = {}, key end
    table.insert(groups[key], g)
  end
  for _, key in ipairs(order) do
    local width, names = 0, {}
    for i, g in ipairs(groups[key]) do width, names[i] = math.max(width, g.n), { field(g.variant) } end
    local cw = C.widths({ 14 }, names)
    w:write("  ", key, "\n    ", C.join({ "variant" }, cw))
    for n = 1, width do w:write(string.format("  %16s", "n=" .. n)) end
    w:write("\n")
    for i, g in ipairs(groups[key]) do
      w:write("    ", C.join(names[i], cw))
      if g.expected_max == nil then
        w:write("  (a seed's value is not finite)")
      else
        for n, m in ipairs(g.expected_max) do
          w:write(string.format("  %16s", string.format("%.4f +- %.4f", m, g.expected_sd[n])))
        end
      end
      w:write("\n")
    end
  end
end

-- A run as a note names it: its run dir, and its test run's id when it comes from a tracking
-- store.
local function run_name(r)
  if r.test_run_id == nil then return field(r.dir) end
  if r.dir == nil then return "test run " .. r.test_run_id end
  return string.format("%s (test run %s)", r.dir, r.test_run_id)
end

-- Says on stderr which run counted for a seed that two or more tested runs hold (the one tested
-- last: runs.leaderboard) and which were left out.
local function note_duplicates(rows)
  for _, g in ipairs(rows) do
    for _, dup in ipairs(g.duplicates) do
      local left = {}
      for i, r in ipairs(dup.left_out) do left[i] = run_name(r) end
      io.stderr:write(string.format("graphids runs compare: seed %s of %s/%s/%s was tested in %d runs; " ..
        "counting %s, %s, and leaving out %s\n", field(dup.seed), field(g.dataset),
        field(g.stage), field(g.variant), #left + 1,
        dup.tie and "the first by run dir (tested at the same time, or when unknown)"
          or "the one tested last",
        run_name(dup.kept), table.concat(left, ", ")))
    end
  end
end

-- Says on stderr which runs the leaderboard left out (runs.leaderboard's second result): each
-- damaged run as list says it, and per variant the tested runs without a number for the metric.
local function note_unranked(unranked, metric)
  local order, by = {}, {}
  for _, u in ipairs(unranked) do
    if u.why == "damaged" then
      note_damaged("compare", u.run, "damaged, not ranked")
    else
      local id = u.run.identity
      local key = field(id.dataset) .. "/" .. field(id.stage) .. "/" .. field(id.variant)
      if by[key] == nil then by[key], order[#order + 1] = {}, key end
      table.insert(by[key], string.format("%s (%s)", run_name(u.run), u.why))
    end
  end
  for _, key in ipairs(order) do
    io.stderr:write(string.format("graphids runs compare: not ranked: %d tested run(s) of %s without a " ..
      "number for %s: %s\n", #by[key], key, metric, table.concat(by[key], ", ")))
  end
end

local function compare(o, json)
  local runs = require "graphids.orchestrate.runs"
  local rs, where = collect(o)
  if rs == nil then return A.fail("runs compare", where) end
  local best = o["--best"]
  if best ~= nil and best ~= "high" and best ~= "low" then
    return A.usage_error("runs", "--best must be high or low, got '" .. best .. "'", USAGE)
  end
  best = best or runs.best_end(o["--metric"])
  local rows, unranked = runs.leaderboard(rs, { metric = o["--metric"], best = best })
  note_unranked(unranked, o["--metric"] or "test/f1_macro or test/f1")
  note_duplicates(rows)
  if o["--expected-max"] then expected_best(rows, best == "low") end
  if o["--json"] then
    local out = {}
    for i, g in ipairs(rows) do
      -- (a field a run's identity lacks is null, not a key left out or a hole in seeds)
      -- (dirs: the run dir behind each value, the one tested last where a seed was tested twice;
      -- no run ids, so that a tracking store's output is the run dirs')
      local seeds, dirs = {}, {}
      for j = 1, g.n do
        seeds[j] = g.seeds[j] == nil and json.null or g.seeds[j]
        dirs[j] = g.runs[j].dir or json.null
      end
      out[i] = { dataset = g.dataset or json.null, stage = g.stage or json.null,
        variant = g.variant or json.null, n = g.n, mean = num(g.mean, json), std = num(g.std, json),
        min = num(g.min, json), max = num(g.max, json), seeds = json.array(seeds),
        dirs = json.array(dirs),
        ci95 = g.ci_lo and json.array({ num(g.ci_lo, json), num(g.ci_hi, json) }) or json.null,
        d_vs_best = g.d and { d = num(g.d, json),
          ci95 = g.d_lo and json.array({ num(g.d_lo, json), num(g.d_hi, json) }) or json.null,
          tied = g.tied == true } or json.null,
        expected_max = o["--expected-max"] and expected_json(g, json) or nil }
    end
    io.stdout:write(json.encode(json.utf8_safe(json.array(out))), "\n")
    return 0
  end
  local metric = o["--metric"] or "test/f1_macro (test/f1 for detectors)"
  io.stdout:write(string.format("leaderboard by %s, %s first\n", metric, best == "low" and "lowest" or
    "highest"))
  local names = {}
  for i, g in ipairs(rows) do names[i] = { field(g.dataset), field(g.stage), field(g.variant) } end
  local w = C.widths({ 10, 8, 14 }, names)
  io.stdout:write(string.format("  %-4s ", "rank"), C.join({ "dataset", "stage", "variant" }, w),
    string.format(" %3s %9s %9s %9s %9s  %-19s  %s\n", "n", "mean", "std", "min", "max", "95% CI of the mean",
      "d vs best [95% CI]"))
  for i, g in ipairs(rows) do
    io.stdout:write(string.format("  %-4d ", i), C.join(names[i], w),
      string.format(" %3d %s %s %s %s  %-19s  %s\n", g.n, cell(g.mean), cell(g.std), cell(g.min), cell(g.max),
        g.ci_lo and string.format("[%.4f, %.4f]", g.ci_lo, g.ci_hi) or "-", effect(g)))
  end
  if #rows == 0 then
    local tested, null = 0, 0
    -- (without --metric a run is ranked by the first of these it has)
    local keys = o["--metric"] and { o["--metric"] } or { "test/f1_macro", "test/f1" }
    local null_key
    for _, r in ipairs(rs) do
      tested = tested + (r.status == "tested" and 1 or 0)
      local m = r.status == "tested" and r.metrics or {}
      for _, k in ipairs(keys) do
        if m[k] ~= nil then
          null, null_key = null + 1, null_key or k
          break
        end
      end
    end
    if null > 0 then
      -- (a key that is there but holds no number: "did you mean" would offer the key itself)
      io.stdout:write(string.format("  (%s is null, not a finite number, in every tested run that has it " ..
        "(%d): nothing to rank)\n", o["--metric"] or null_key, null))
    else
      io.stdout:write(tested > 0 and string.format("  (no tested run has the metric %s%s)\n", o["--metric"]
        or "test/f1_macro or test/f1", near_keys(rs, o["--metric"])) or "  (no tested runs)\n")
    end
  elseif o["--expected-max"] then
    print_expected(rows, metric, best == "low")
  end
  return 0
end

local SUBCOMMANDS = { "list", "show", "compare" }

-- The options each subcommand takes (the others are refused rather than ignored: `show RUN_DIR
-- --metric K` prints no metric K, and its --lake-root names no run).
local APPLIES = {
  list = { "--lake-root", "--tracking-uri", "--experiment", "--dataset", "--stage", "--json" },
  show = { "--tracking-uri", "--json" },
  compare = { "--lake-root", "--tracking-uri", "--experiment", "--dataset", "--stage", "--metric", "--best",
    "--expected-max", "--json" },
}

local function main(args)
  local o, err = A.parse(args, { value = { "--lake-root", "--tracking-uri", "--experiment", "--dataset",
    "--stage", "--metric", "--best" }, flag = { "--json", "--expected-max" }, positional = 2 })
  if not o then return A.usage_error("runs", err, USAGE) end
  local sub = o.positional[1]
  if o.help or sub == "help" then io.stdout:write(USAGE) return 0 end
  if sub == nil then return A.usage_error("runs", "missing subcommand", USAGE) end
  if APPLIES[sub] == nil then
    return A.usage_error("runs", "unknown subcommand '" .. sub .. "'" .. A.suggest(sub, SUBCOMMANDS), USAGE)
  end
  for _, k in ipairs(APPLIES.compare) do
    local applies = false
    for _, a in ipairs(APPLIES[sub]) do applies = applies or a == k end
    if o[k] ~= nil and not applies then
      local why = k == "--lake-root" and " (it reads RUN_DIR itself; unset MLFLOW_TRACKING_URI to read " ..
        "a run dir rather than the store)" or ""
      return A.usage_error("runs " .. sub, k .. " does not apply to runs " .. sub .. why, USAGE)
    end
  end
  if o["--lake-root"] and o["--tracking-uri"] then
    return A.usage_error("runs", "--lake-root and --tracking-uri name two sources; give one", USAGE)
  end
  if o["--experiment"] and tracking_uri(o) == nil then
    return A.usage_error("runs", "--experiment needs a tracking URI (--tracking-uri or $MLFLOW_TRACKING_URI)",
      USAGE)
  end
  if (sub == "list" or sub == "compare") and o.positional[2] ~= nil then
    return A.usage_error("runs " .. sub, string.format("unexpected argument '%s' (name the source with " ..
      "--lake-root DIR or --tracking-uri URI)", o.positional[2]), USAGE)
  end
  for _, k in ipairs(APPLIES.compare) do
    if o[k] == "" then return A.usage_error("runs", k .. " is empty", USAGE) end
  end
  local json = require "graphids.json"
  if sub == "list" then return list(o, json) end
  if sub == "show" then return show(o, json) end
  return compare(o, json)
end

-- Any error that escapes (a run file the readers did not expect) is one line, as for fit and
-- test, never a traceback.
function M.main(args)
  local ok, code = pcall(main, args)
  if ok then return code end
  local sub = args[1]
  return A.fail(APPLIES[sub] and ("runs " .. sub) or "runs", code)
end

return M
