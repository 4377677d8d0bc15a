-- graphids.orchestrate.record -- a run dir's record of its fit (resolved.json, the configuration
-- the fit committed) against a stage's configuration now.
--   local record = require "graphids.orchestrate.record"
--   record.changes(resolved, record.TRAINED)   -- "model.init_args.lr, ..." or nil (raises when
--                                              -- resolved.json is there but does not read)
--   record.read_problem(resolved)              -- that failure as a message, or nil
--   record.unrecorded(resolved)                -- resolved without its run dir (writes nothing)
-- The pipeline names the changed keys when it reuses a run dir configured otherwise; neither
-- `graphids test` nor the pipeline records metrics of data or a model other than the fit's into
-- its run dir (TESTED), and a resume refuses any change but the fit's budget (RESUMED).
local gio = require "graphids.io"
local json = require "graphids.json"
local describe = require("graphids.nn._util").describe
local config = require "graphids.config"

local M = {}

-- Keys of a configuration that change how a run is shown or where files are, not what is
-- trained: a change in them does not make a run dir stale.
-- The paths of upstream outputs (a teacher checkpoint, the fusion states) are there too: they
-- move with the lake (a relative lake root, a copied lake), and what they hold is compared by
-- content (the pipeline's inputs.json digests, or without them the recorded path's content:
-- pipeline.changed_inputs, which names the key).
local PRESENTATIONAL = {
  ["trainer.progress"] = true, ["trainer.log_every_n_steps"] = true, ["trainer.device"] = true,
  ["trainer.default_root_dir"] = true, ["data.init_args.lake_root"] = true,
  ["data.init_args.data_root"] = true, ["model.distillation.teacher_ckpt"] = true,
  ["data.init_args.states_dir"] = true,
}

-- A pipeline fit's record of its inputs (graphids.orchestrate.pipeline): set aside by every fit
-- as it commits (stage.train), rewritten by the pipeline's, so a fit outside the pipeline (another
-- teacher_ckpt or states_dir) leaves none that vouches for inputs it did not train on.
M.INPUTS_FILE = "inputs.json"

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

-- How long a fit runs, which a resume may change (`graphids fit --ckpt-path last --set
-- trainer.max_epochs=N` continues a fit for more epochs; the record then says the new budget).
local BUDGET = { ["trainer.max_epochs"] = true, ["trainer.max_time"] = true }

-- What a resume of a run dir's own fit cannot change: the weights in `last` were trained with the
-- recorded configuration, and the rest of the fit with another would make a model that neither
-- record describes (resolved.json kept would hide the new settings, rewritten the old ones).
function M.RESUMED(key)
  return M.TRAINED(key) and not BUDGET[key]
end

-- A copy of the resolved configuration r without its run dir: the stage verbs then write nothing
-- (no marker, metrics, sidecar, trace or tracking row), as for a test whose metrics do not
-- measure the run dir's fit.
function M.unrecorded(r)
  local out = {}
  for k, v in pairs(r) do out[k] = v end
  out.run_dir, out.ckpt_file, out.last_ckpt = nil, nil, nil
  return out
end

-- Why a resume of r's own fit (checkpoints/last) cannot go on under r's configuration: nil, or
-- what differs from the record its fit committed, in words.
function M.resume_problem(r)
  local changed = M.changes(r, M.RESUMED)
  if changed == nil then return nil end
  return string.format("its fit was started with another configuration (%s), and a resume continues " ..
    "that fit with the configuration its resolved.json records (only trainer.max_epochs and " ..
    "trainer.max_time may change)", changed)
end

-- A leaf's JSON text.  For a value JSON cannot hold (a record's 1e400 reads as inf), an object
-- naming it, which equals no configuration's text (the key shows as changed) and still decodes
-- for the readers of these texts.  (printable: what encode takes whatever describe said.)
local function leaf_text(v)
  local ok, text = pcall(json.encode, v)
  return ok and text or json.encode({ ["not JSON"] = json.printable(describe(v)) })
end

-- dotted key -> JSON text of every leaf of t (lists are leaves).
local function flatten(t, prefix, out)
  for k, v in pairs(t) do
    local key = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(v) == "table" and v ~= json.null and v[1] == nil and not json.is_array(v) and next(v) ~= nil then
      flatten(v, key, out)
    elseif type(v) == "table" and v ~= json.null and next(v) == nil then
      -- empty: [] and {} alike (a record written before resolved.json kept [] has {} where the
      -- configuration has []; both configure the same nothing)
      out[key] = "{}"
    else
      out[key] = leaf_text(v)
    end
  end
  return out
end

-- The run dir's record, or nil when it has none.  One that is there but does not read is an
-- error: taken for "no record", it let a test or resume under any settings through.
local function stored_record(r)
  local path = gio.join(r.run_dir, "resolved.json")
  if not gio.exists(path) then return nil end
  local stored, err = gio.read_json(path)
  if type(stored) ~= "table" then
    error(string.format("%s: its record resolved.json does not read (%s); it says how the run dir's " ..
      "fit was configured, so nothing can be checked against it: restore it, or delete the run dir " ..
      "to train anew", r.run_dir, tostring(err or "not a JSON object")), 0)
  end
  return stored
end

-- The run dir's resolved.json as dotted key -> JSON text of each leaf (nil without a record;
-- raises when it does not read), and r's configuration in the same form.
function M.flat_record(r)
  local stored = stored_record(r)
  return stored and flatten(stored, nil, {}), flatten(config.as_json(r.validated), nil, {})
end

-- Why r's run dir record cannot be read (a message), or nil when it reads or there is none.
function M.read_problem(r)
  if r.run_dir == nil then return nil end
  local ok, err = pcall(stored_record, r)
  return not ok and tostring(err) or nil
end

-- Whether the run dir's checkpoints were trained under r's very configuration, by the digest
-- they carry (of the whole configuration, presentation included): true, false, or nil when no
-- checkpoint says.  Without a record it is all there is to go by; a mismatch cannot name the
-- keys (a changed progress bar differs too), so it refuses nothing, but the record is not
-- written from a configuration the fit may not have had (stage.evaluate).
function M.digest_matches(r)
  for _, path in ipairs({ r.ckpt_file, r.last_ckpt }) do
    if path ~= nil and gio.exists(path) then
      local ok, _, meta = pcall(gio.load_safetensors, path)
      local digest = ok and type(meta) == "table" and meta.config_digest or nil
      if digest ~= nil and digest ~= "" then return digest == r.config_digest end
    end
  end
  return nil
end

-- The keys for which keep(key) holds (up to three, sorted, "and N more") whose values differ
-- between the run dir's resolved.json and the stage's configuration r; nil when they agree or
-- there is no record to compare (a fit run from Lua without write_run_files).  A record that
-- is there but does not read is an error.
function M.changes(r, keep)
  if r.run_dir == nil then return nil end
  local stored = stored_record(r)
  if stored == nil then return nil end
  local a, b = flatten(stored, nil, {}), flatten(config.as_json(r.validated), nil, {})
  local diff = {}
  for k in pairs(a) do
    if keep(k) and a[k] ~= b[k] then diff[#diff + 1] = k end
  end
  for k in pairs(b) do
    if keep(k) and a[k] == nil then diff[#diff + 1] = k end
  end
  if #diff == 0 then return nil end
  table.sort(diff)
  -- a damaged record's own keys are shown escaped (no raw ESC reaches the terminal) and cut
  for i = 1, math.min(3, #diff) do diff[i] = json.printable(diff[i], 100) end
  local shown = table.concat(diff, ", ", 1, math.min(3, #diff))
  return #diff > 3 and string.format("%s and %d more", shown, #diff - 3) or shown
end

return M
