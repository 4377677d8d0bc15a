-- graphids.orchestrate.record -- a run dir's record of its fit (resolved.json, the configuration
-- the fit committed) against a stage's configuration now.
--   local record = require "graphids.orchestrate.record"
--   record.changes(resolved, record.TRAINED)   -- "model.init_args.lr, ..." or nil
-- The pipeline names the changed keys when it reuses a run dir configured otherwise; `graphids
-- test` does not record metrics of data or a model other than the fit's into its run dir.
local gio = require "graphids.io"
local json = require "graphids.json"
local config = require "graphids.config"

local M = {}

-- Keys of a configuration that change how a run is shown or where files are, not what is
-- trained: a change in them does not make a run dir stale.
-- The paths of upstream outputs (a teacher checkpoint, the fusion states) are there too: they
-- move with the lake (a relative lake root, a copied lake), and what they hold is compared by
-- content (the pipeline's inputs.json digests, a teacher's own checks).
local PRESENTATIONAL = {
  ["trainer.progress"] = true, ["trainer.log_every_n_steps"] = true, ["trainer.device"] = true,
  ["trainer.default_root_dir"] = true, ["data.init_args.lake_root"] = true,
  ["data.init_args.data_root"] = true, ["model.distillation.teacher_ckpt"] = true,
  ["data.init_args.states_dir"] = true,
}

-- Filters for changes(): what changes what is trained; what changes what a test measures (the
-- data and the model).
function M.TRAINED(key)
  return not PRESENTATIONAL[key]
end

-- How the data is fed, not which: a test with another batch size measures the same windows.
local LOADING = {
  ["data.init_args.batch_size"] = true, ["data.init_args.eval_batch_size"] = true,
  ["data.init_args.shuffle"] = true, ["data.init_args.batching"] = true,
  ["data.init_args.node_budget"] = true, ["data.init_args.edge_budget"] = true,
  ["data.init_args.device"] = true,
}

function M.TESTED(key)
  return not PRESENTATIONAL[key] and not LOADING[key] and
    (key:match("^data%.") ~= nil or key:match("^model%.") ~= nil)
end

-- dotted key -> JSON text of every leaf of t (lists are leaves).
local function flatten(t, prefix, out)
  for k, v in pairs(t) do
    local key = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(v) == "table" and v ~= json.null and v[1] == nil and not json.is_array(v) and next(v) ~= nil then
      flatten(v, key, out)
    else
      out[key] = json.encode(v)
    end
  end
  return out
end

-- The keys for which keep(key) holds (up to three, sorted, "and N more") whose values differ
-- between the run dir's resolved.json and the stage's configuration r; nil when they agree or
-- there is no record to compare.
function M.changes(r, keep)
  if r.run_dir == nil then return nil end
  local stored = gio.read_json(gio.join(r.run_dir, "resolved.json"))
  if type(stored) ~= "table" then return nil end
  local a, b = flatten(stored, nil, {}), flatten(config.thaw(r.validated), nil, {})
  local diff = {}
  for k in pairs(a) do
    if keep(k) and a[k] ~= b[k] then diff[#diff + 1] = k end
  end
  for k in pairs(b) do
    if keep(k) and a[k] == nil then diff[#diff + 1] = k end
  end
  if #diff == 0 then return nil end
  table.sort(diff)
  local shown = table.concat(diff, ", ", 1, math.min(3, #diff))
  return #diff > 3 and string.format("%s and %d more", shown, #diff - 3) or shown
end

return M
