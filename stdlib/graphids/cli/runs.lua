-- graphids.cli.runs -- `graphids runs list|show|compare`: what the run dirs under a lake root
-- hold (status, headline metrics) and a leaderboard over seeds.
-- Exit codes: 0 ok, 1 an error (a run dir that is not one), 2 usage.
local A = require "graphids.orchestrate.cliargs"

local M = {}

M.summary = "list, show and compare runs (leaderboard) from the run dirs of a lake root"

local USAGE = [[
usage: graphids runs list    [--lake-root DIR] [--dataset D] [--stage S] [--json]
       graphids runs show    RUN_DIR [--json]
       graphids runs compare [--lake-root DIR] [--dataset D] [--stage S] [--metric KEY] [--json]

list      every run dir (<lake>/<dataset>/<stage>/<variant>/seed_<N>) with its status (tested,
          trained, incomplete) and pooled test accuracy, F1 and AUROC
show      one run: identity, status, files, and every test metric (pooled and per test set)
compare   a leaderboard: tested runs grouped by dataset/stage/variant, mean +- std over seeds of
          KEY (default test/f1_macro, or test/f1 for anomaly detectors), best first

options:
  --lake-root DIR   where the run dirs are (default $GRAPHIDS_LAKE_ROOT or ./lake)
  --dataset D, --stage S   keep only these runs
  --metric KEY      the metric to rank by (a key of test_metrics.json, e.g. test/auroc)
  --json            machine-readable output
  -h, --help        this text
]]

local function fmt(v)
  if type(v) ~= "number" then return "   -   " end
  return string.format("%7.4f", v)
end

local function lake_root(o)
  return require("graphids.data.catalog").lake_root({ lake_root = o["--lake-root"] })
end

local function list(o, json)
  local runs = require "graphids.orchestrate.runs"
  local pipeline = require "graphids.orchestrate.pipeline"
  local rs = runs.filter(runs.scan(lake_root(o)), { dataset = o["--dataset"], stage = o["--stage"] })
  if o["--json"] then
    local out = {}
    for i, r in ipairs(rs) do
      out[i] = { dir = r.dir, status = r.status, identity = r.identity, metrics = r.metrics or json.null }
    end
    io.stdout:write(json.encode(json.array(out)), "\n")
    return 0
  end
  io.stdout:write(string.format("%-10s %-8s %-7s %-14s %-5s %-10s %7s %7s %7s\n", "dataset", "stage", "scale",
    "variant", "seed", "status", "acc", "F1", "AUROC"))
  for _, r in ipairs(rs) do
    local id = r.identity
    local acc, f1, auroc = pipeline.headline(r.metrics, "test/")
    io.stdout:write(string.format("%-10s %-8s %-7s %-14s %-5s %-10s %7s %7s %7s\n", tostring(id.dataset),
      tostring(id.stage), tostring(id.scale), tostring(id.variant), tostring(id.seed), r.status, fmt(acc),
        fmt(f1),
      fmt(auroc)))
  end
  io.stdout:write(string.format("%d run(s) under %s\n", #rs, lake_root(o)))
  return 0
end

local function show(o, json)
  local runs = require "graphids.orchestrate.runs"
  local dir = o.positional[2]
  if dir == nil then return A.usage_error("runs show", "missing RUN_DIR", USAGE) end
  local r = runs.read(dir)
  if r == nil then return A.fail("runs show", dir .. " is not a run dir (no resolved.json)") end
  if o["--json"] then
    io.stdout:write(json.encode({ dir = r.dir, status = r.status, identity = r.identity,
      metrics = r.metrics or json.null, config = r.config }), "\n")
    return 0
  end
  local id = r.identity
  io.stdout:write(string.format("run       %s\nidentity  dataset=%s stage=%s variant=%s seed=%s scale=%s\n",
    r.dir,
    tostring(id.dataset), tostring(id.stage), tostring(id.variant), tostring(id.seed), tostring(id.scale)))
  io.stdout:write(string.format("status    %s\nmodel     %s\n", r.status, tostring(r.config.model and
    r.config.model.class_path)))
  local gio = require "graphids.io"
  for _, f in ipairs({ "checkpoints/best_model.safetensors", "checkpoints/last.safetensors", "predictions",
    "traces.jsonl", "test_metrics.json" }) do
    io.stdout:write(string.format("  %-38s %s\n", f, gio.exists(gio.join(dir, f)) and "present" or "absent"))
  end
  if r.metrics then
    io.stdout:write("metrics\n")
    local keys = {}
    for k in pairs(r.metrics) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = r.metrics[k]
      io.stdout:write(string.format("  %-60s %s\n", k, type(v) == "number" and string.format("%.6g", v)
        or "null"))
    end
  end
  return 0
end

local function compare(o, json)
  local runs = require "graphids.orchestrate.runs"
  local rs = runs.filter(runs.scan(lake_root(o)), { dataset = o["--dataset"], stage = o["--stage"] })
  local rows = runs.leaderboard(rs, { metric = o["--metric"] })
  if o["--json"] then
    local out = {}
    for i, g in ipairs(rows) do
      out[i] = { dataset = g.dataset, stage = g.stage, variant = g.variant, n = g.n, mean = g.mean,
        std = g.std,
        min = g.min, max = g.max, seeds = json.array(g.seeds) }
    end
    io.stdout:write(json.encode(json.array(out)), "\n")
    return 0
  end
  io.stdout:write(string.format("leaderboard by %s\n", o["--metric"]
    or "test/f1_macro (test/f1 for detectors)"))
  io.stdout:write(string.format("  %-4s %-10s %-8s %-14s %3s %9s %9s %9s %9s\n", "rank", "dataset", "stage",
    "variant",
    "n", "mean", "std", "min", "max"))
  for i, g in ipairs(rows) do
    io.stdout:write(string.format("  %-4d %-10s %-8s %-14s %3d %9.5f %9.5f %9.5f %9.5f\n", i,
      tostring(g.dataset),
      tostring(g.stage), tostring(g.variant), g.n, g.mean, g.std, g.min, g.max))
  end
  if #rows == 0 then io.stdout:write("  (no tested runs)\n") end
  return 0
end

function M.main(args)
  local o, err = A.parse(args, { value = { "--lake-root", "--dataset", "--stage", "--metric" },
    flag = { "--json" }, positional = 2 })
  if not o then return A.usage_error("runs", err, USAGE) end
  local sub = o.positional[1]
  if o.help or sub == "help" then io.stdout:write(USAGE) return 0 end
  local json = require "graphids.json"
  if sub == "list" then return list(o, json) end
  if sub == "show" then return show(o, json) end
  if sub == "compare" then return compare(o, json) end
  return A.usage_error("runs", sub and ("unknown subcommand '" .. sub .. "'") or "missing subcommand", USAGE)
end

return M
