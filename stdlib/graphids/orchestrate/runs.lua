-- graphids.orchestrate.runs -- the run dirs under a lake root, their status and metrics, and a
-- leaderboard over seeds.
--   local runs = require "graphids.orchestrate.runs"
--   for _, r in ipairs(runs.scan("lake")) do print(r.dir, r.status, r.identity.stage) end
--   local rows = runs.leaderboard(runs.scan("lake"), {metric = "test/f1_macro"})
-- A run dir is a folder holding resolved.json, at most 5 levels below the root
-- (<lake_root>/<dataset>/<stage>/<variant>/seed_<N>).  Status: "tested" (.test_complete),
-- "trained" (.train_complete), "incomplete" (neither).
local gio = require "graphids.io"

local M = {}

M.MAX_DEPTH = 5

local function status_of(dir)
  if gio.exists(gio.join(dir, ".test_complete")) then return "tested" end
  if gio.exists(gio.join(dir, ".train_complete")) then return "trained" end
  return "incomplete"
end

-- One run dir: {dir, identity, status, metrics (test_metrics.json or nil), config}; nil when dir
-- holds no resolved.json.
function M.read(dir)
  local cfg = gio.read_json(gio.join(dir, "resolved.json"))
  if cfg == nil then
    return nil
  end
  local id = type(cfg.identity) == "table" and cfg.identity or {}
  return { dir = dir, identity = id, status = status_of(dir), config = cfg,
    metrics = gio.read_json(gio.join(dir, "test_metrics.json")) }
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

-- Rows {dataset, stage, variant, n, mean, std, min, max, seeds} over the tested runs, grouped by
-- (dataset, stage, variant), best mean first (ties by name).
function M.leaderboard(list, opts)
  opts = opts or {}
  local groups, keys = {}, {}
  for _, r in ipairs(list) do
    local v = M.metric_of(r, opts.metric)
    if v ~= nil then
      local id = r.identity
      local key = table.concat({ tostring(id.dataset), tostring(id.stage), tostring(id.variant) }, "/")
      if groups[key] == nil then
        groups[key] = { dataset = id.dataset, stage = id.stage, variant = id.variant, values = {},
          seeds = {} }
        keys[#keys + 1] = key
      end
      local g = groups[key]
      g.values[#g.values + 1] = v
      g.seeds[#g.seeds + 1] = id.seed
    end
  end
  local rows = {}
  for _, key in ipairs(keys) do
    local g = groups[key]
    local n, sum = #g.values, 0
    for _, v in ipairs(g.values) do sum = sum + v end
    local mean, ss = sum / n, 0
    for _, v in ipairs(g.values) do ss = ss + (v - mean) ^ 2 end
    g.n, g.mean, g.std = n, mean, n > 1 and math.sqrt(ss / (n - 1)) or 0
    g.min, g.max = math.min(table.unpack(g.values)), math.max(table.unpack(g.values))
    g.key = key
    rows[#rows + 1] = g
  end
  table.sort(rows, function(a, b)
    if a.mean ~= b.mean then return a.mean > b.mean end
    return a.key < b.key
  end)
  return rows
end

return M
