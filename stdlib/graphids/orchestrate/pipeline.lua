-- graphids.orchestrate.pipeline -- a DAG of stages as data, planned and run with skip/resume.
--   local pipeline = require "graphids.orchestrate.pipeline"
--   local p = pipeline.load("recipes/pipelines/graphids.lua", {dataset = "hcrl_sa"})
--   pipeline.print_plan(p)                 -- what each stage would do and why (--dry-run)
--   local results = pipeline.run(p)        -- {stage results}, in order
--   pipeline.print_results(results)
-- A pipeline recipe returns {name, stages = {{name, recipe, tla, inputs = {TLA = upstream}}}}.
-- An input passes the upstream stage's output as a TLA: its best checkpoint, or for an extract
-- stage (recipe rendering kind = "extract") its output folder.  Decisions per stage:
--   skip      .test_complete and the best checkpoint exist (extract: its marker, and the
--             experts' checkpoints are those the states were extracted from)
--   evaluate  .train_complete and the checkpoint exist, the test phase did not finish; with
--             data or model settings other than the fit's (record.TESTED) tested as `graphids
--             test` does, without its run dir: printed, not recorded there
--   resume    checkpoints/last and the best checkpoint exist without .train_complete (a fit was
--             interrupted); under another configuration than the fit's (but the budget) the
--             stage fails: a resume finishes the fit its resolved.json records
--   run       nothing usable exists, last without the best checkpoint, or an input changed
--             since the stage was trained: a fit records its inputs' digests in
--             <run_dir>/inputs.json (an upstream checkpoint's sha256, an extract stage's
--             states', wherever the lake is), so a fusion trained on the states of another GAT is
--             trained again; without it (a fit outside the pipeline sets it aside) the record's
--             path of each input (teacher_ckpt, states_dir) is compared by content, and what
--             cannot vouch for an input (a path that is gone, no record) trains it again too
-- Two stages with one run dir are refused at load.  A run dir the run cannot read (or, but for
-- a skip, write) fails its stage before it starts, as --dry-run names it.  A failed stage stops
-- its dependants (blocked) and leaves every other stage's results as they are.
local graphids = require "graphids"
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local config = require "graphids.config"
local errors = require "graphids.errors"
local fstates = require "graphids.orchestrate.fusion_states"
local record = require "graphids.orchestrate.record"
local tracking = require "graphids.orchestrate.tracking"
local rd = require "graphids.orchestrate.run_dir"
local columns = require "graphids.orchestrate.columns"
local pad = columns.pad

local M = {}

local NODE_KEYS = { name = true, recipe = true, tla = true, inputs = true, needs = true, set = true }

-- The optional members of a stage have a shape each; one of another shape (`needs = "gat"`,
-- `inputs = {"gat"}`) would otherwise be read as empty, its dependency silently lost.
local function check_node_types(file, n)
  local function bad(key, want, v)
    error(string.format("pipeline %s: stage '%s': '%s' must be %s, got %s", file, n.name, key, want,
      U.describe(v)), 0)
  end
  local function is_map(v)
    return type(v) == "table" and v[1] == nil
  end
  -- (config.render would refuse "" as a Lua API misuse, naming no stage member)
  if n.recipe == "" then bad("recipe", "a recipe path (stages/gat.lua)", n.recipe) end
  if n.tla ~= nil and not is_map(n.tla) then bad("tla", "a table of top-level arguments", n.tla) end
  if n.set ~= nil and type(n.set) ~= "table" then bad("set", "a list of {key, value} or a map", n.set) end
  if n.inputs ~= nil then
    if not is_map(n.inputs) then bad("inputs", "a table of TLA name = upstream stage", n.inputs) end
    for k, v in pairs(n.inputs) do
      if type(k) ~= "string" or type(v) ~= "string" then
        bad("inputs", "a table of TLA name = upstream stage", n.inputs)
      end
    end
  end
  if n.needs ~= nil then
    local ok = type(n.needs) == "table"
    for k, v in pairs(ok and n.needs or {}) do
      if math.type(k) ~= "integer" or k < 1 or k > #n.needs or type(v) ~= "string" then ok = false end
    end
    if not ok then bad("needs", "a list of stage names ({\"gat\"})", n.needs) end
  end
end

local function check_nodes(file, stages)
  if type(stages) ~= "table" or stages[1] == nil then
    error(string.format("pipeline %s: 'stages' must be a non-empty list", file), 0)
  end
  local seen = {}
  for i, n in ipairs(stages) do
    if type(n) ~= "table" then
      error(string.format("pipeline %s: stages[%d] must be a table {name =, recipe =, ...}, got %s", file,
        i, U.describe(n)), 0)
    end
    for _, key in ipairs({ "name", "recipe" }) do
      if type(n[key]) ~= "string" then
        error(string.format("pipeline %s: stages[%d]: '%s' must be a string, got %s", file, i, key,
          U.describe(n[key])), 0)
      end
    end
    for _, k in ipairs(U.sorted_keys(n)) do
      if not NODE_KEYS[k] then
        error(string.format("pipeline %s: stage '%s' has an unknown key '%s' " ..
          "(name, recipe, tla, inputs, needs, set)", file, n.name, tostring(k)), 0)
      end
    end
    check_node_types(file, n)
    if seen[n.name] then
      error(string.format("pipeline %s: two stages are named '%s'", file, n.name), 0)
    end
    seen[n.name] = i
  end
  -- Dependencies (inputs and needs) must name stages declared before: the declaration order is
  -- then a topological order and no cycle is possible.
  for i, n in ipairs(stages) do
    n.deps = {}
    local deps = {}
    for _, up in pairs(n.inputs or {}) do deps[#deps + 1] = up end
    for _, up in ipairs(n.needs or {}) do deps[#deps + 1] = up end
    table.sort(deps)
    for _, up in ipairs(deps) do
      if seen[up] == nil then
        error(string.format("pipeline %s: stage '%s' depends on unknown stage '%s'", file, n.name, up), 0)
      end
      if up == n.name then
        error(string.format("pipeline %s: stage '%s' depends on itself (its inputs or needs name it)",
          file, n.name), 0)
      end
      if seen[up] >= i then
        error(string.format("pipeline %s: stage '%s' depends on '%s', which must be declared before it",
          file, n.name, up), 0)
      end
      if not n.deps[up] then
        n.deps[up] = true
        n.deps[#n.deps + 1] = up
      end
    end
  end
end

-- Resolves one stage with its upstream outputs as TLAs.
local function resolve_node(n, outputs)
  local tla = config.thaw(n.tla or {})
  for _, k in ipairs(U.sorted_keys(n.inputs or {})) do
    tla[k] = outputs[n.inputs[k]]
  end
  local rendered, file = config.render(n.recipe, tla, "stage")
  if rendered.kind == "extract" then
    -- its options are TLAs: it has no validated configuration for a --set to reach
    if n.set ~= nil and next(n.set) ~= nil then
      error("'set' applies to training stages; an extract stage takes its options as TLAs (tla = {...})", 0)
    end
    n.kind = "extract"
    n.spec = fstates.resolve(file, tla)
    n.spec.stage_name = n.name -- (its traces name the pipeline's stage, as a training stage's do)
    n.run_dir = n.spec.out_dir
    return n.spec.out_dir
  end
  n.kind = "train"
  config.apply_overrides(rendered, n.set)
  n.resolved = config.from_rendered(rendered, { stage_name = n.name, recipe = file, tla = tla, set = n.set })
  n.run_dir = n.resolved.run_dir
  return n.resolved.ckpt_file
end

-- record.changes, with a record that does not read taken as no change: the stage is then refused
-- where it would reuse the run dir (reuse_problem names the file), not while it is planned.
local function changes(r, keep)
  local ok, changed = pcall(record.changes, r, keep)
  return ok and changed or nil
end

-- A stage's action keeps what it reuses; when the run dir's fit was configured otherwise (a
-- changed recipe default, TLA or --set), the reason names the keys and how to redo it.
local function note_config(r, action, why)
  local changed = changes(r, record.TRAINED)
  if changed == nil then return action, why end
  return action, string.format("%s; it was trained with another configuration (%s): delete %s " ..
    "to run it again", why, changed, r.run_dir)
end

-- The data or model settings (record.TESTED) in which a training stage differs from its run
-- dir's fit, or nil: a test with them measures something the fit's record does not say, so it
-- is run as `graphids test` runs it, printed and not recorded in the run dir.
local function test_changes(n)
  if n.kind ~= "train" then return nil end
  return changes(n.resolved, record.TESTED)
end

-- ---------------------------------------------------------------- the inputs a fit used

M.INPUTS_FILE = record.INPUTS_FILE

-- What the file or folder at path holds, by content: a checkpoint's digest (the one its sidecar
-- lists, else its SHA-256), or a folder of fusion states' (fusion_states.states_digest: the
-- manifest, which lists the states files' and the experts' checkpoints' digests, without where
-- the checkpoints were, so a copied lake's states are the same states); nil when there is none.
local function path_digest(path)
  if path == nil or not gio.exists(path) then return nil end
  if gio.is_dir(path) then return fstates.states_digest(path) end
  return fstates.ckpt_digest(path)
end

-- What an upstream stage's output is now, by content (nil when there is none yet): its best
-- checkpoint's digest, or an extract stage's states'.
local function output_digest(up)
  return path_digest(up.kind == "extract" and up.run_dir or up.resolved.ckpt_file)
end

-- The digest an older record holds for an extract stage's output: its manifest file's SHA-256
-- (taken as the same states while the manifest is the one it was).
local function legacy_digest(up)
  if up.kind ~= "extract" then return nil end
  local path = gio.join(up.run_dir, "manifest.json")
  return gio.exists(path) and graphids.sha256_file(path) or nil
end

-- input TLA -> digest of the upstream output it names, now (what inputs.json records).
local function input_digests(n)
  local out = {}
  for _, k in ipairs(U.sorted_keys(n.upstream or {})) do out[k] = output_digest(n.upstream[k]) end
  return out
end
M.input_digests = input_digests

-- Without inputs.json (a fit outside the pipeline sets it aside, and run dirs from before the
-- record have none), the run dir's resolved.json says which upstream outputs its fit read: the
-- configuration keys that hold an input's path now (model.distillation.teacher_ckpt,
-- data.init_args.states_dir) against the record's.  The same folder however spelled, or a path
-- whose content is the upstream's output now (a copied lake), is the same input; a path with
-- other content is another.  Anything else vouches for nothing, and the stage trains again
-- rather than reuse a fit on unknown inputs: a recorded path that no longer exists (a teacher
-- since deleted; a moved lake's run dirs from before inputs.json train again too), a record
-- without the key, or no record at all beside a checkpoint.  Returns the reason, or nil.
local function changed_by_record(n)
  if n.upstream == nil or next(n.upstream) == nil then return nil end
  local ok, stored, now = pcall(record.flat_record, n.resolved)
  if not ok then return nil end -- (reuse_problem names a record that does not read)
  local r = n.resolved
  if stored == nil then
    if not gio.exists(r.ckpt_file) and not gio.exists(r.last_ckpt) then return nil end -- (nothing to reuse)
    return string.format("its inputs cannot be vouched for: %s has neither %s nor resolved.json: " ..
      "trains again", r.run_dir, M.INPUTS_FILE)
  end
  local json = require "graphids.json"
  local same_dir_key = rd.same_dir_key
  -- why the record's value `old` of key does not vouch for input k, or nil when it does
  local function unvouched(k, key, old)
    local up = n.upstream[k]
    local input = string.format("its input %s (stage '%s'", k, n.inputs[k])
    local none = string.format("and %s has no %s", r.run_dir, M.INPUTS_FILE)
    if type(old) ~= "string" or old == "" then
      return string.format("%s) cannot be vouched for: its resolved.json has no %s, %s", input, key, none)
    elseif same_dir_key(old) == same_dir_key(up.output) then
      return nil
    elseif not gio.exists(old) then
      return string.format("%s) cannot be vouched for: it was trained with %s = %s, which no longer " ..
        "exists, %s", input, key, old, none)
    elseif path_digest(old) ~= output_digest(up) then
      return string.format("%s; it was trained with %s = %s) changed since it was trained", input, key, old)
    end
    return nil
  end
  local reasons = {}
  for _, k in ipairs(U.sorted_keys(n.upstream)) do
    local value = json.encode(n.upstream[k].output)
    for _, key in ipairs(U.sorted_keys(now)) do
      if now[key] == value then
        reasons[#reasons + 1] = unvouched(k, key, stored[key] and json.decode(stored[key]))
      end
    end
  end
  return #reasons > 0 and (table.concat(reasons, "; ") .. ": trains again") or nil
end

-- Why the run dir's fit cannot be taken to have trained on the inputs it has now: the inputs (as
-- "TLA (stage 'x')") whose upstream output differs from what it recorded in inputs.json, a record
-- that does not read, or without it what its resolved.json says (changed_by_record); nil when
-- every input is vouched for, or the stage has none.
local function changed_inputs(n)
  local path = gio.join(n.run_dir, M.INPUTS_FILE)
  if not gio.exists(path) then return changed_by_record(n) end
  local rec, err = gio.read_json(path)
  if type(rec) ~= "table" then
    -- a damaged record cannot vouch for the inputs: as if they changed
    return string.format("its inputs cannot be vouched for: its record %s does not read (%s): trains again",
      path, tostring(err or "not an object"))
  end
  local now, changed = input_digests(n), {}
  for _, k in ipairs(U.sorted_keys(n.upstream or {})) do
    if rec[k] ~= now[k] and (rec[k] == nil or rec[k] ~= legacy_digest(n.upstream[k])) then
      changed[#changed + 1] = string.format("%s (stage '%s')", k, n.inputs[k])
    end
  end
  return #changed > 0 and ("its input " .. table.concat(changed, ", ") .. " changed since it was trained: " ..
    "trains again") or nil
end

-- Records the inputs a fit of n used (after it trained, before its test).
local function record_inputs(n)
  if n.upstream == nil or next(n.upstream) == nil or n.run_dir == nil then return end
  local ok, err = gio.write_json(gio.join(n.run_dir, M.INPUTS_FILE), input_digests(n))
  if not ok then
    error(string.format("cannot write %s/%s: %s", n.run_dir, M.INPUTS_FILE, tostring(err)), 0)
  end
end

-- The action of a stage and why, from what is on disk.
function M.decide(n)
  if n.kind == "extract" then
    local done, why = fstates.is_complete(n.run_dir, n.spec)
    return done and "skip" or "run", why
  end
  local r = n.resolved
  if r.run_dir == nil then
    return "run", "no run dir (nothing can be reused)"
  end
  local has = function(p) return gio.exists(gio.join(r.run_dir, p)) end
  local changed = changed_inputs(n)
  if changed then return "run", changed end
  local best = gio.exists(r.ckpt_file)
  if best and has(".test_complete") then
    return note_config(r, "skip", ".test_complete and best checkpoint exist")
  end
  if best and has(".train_complete") then
    local tested = test_changes(n)
    if tested then
      return "evaluate", string.format("trained (.train_complete) but not tested; it was trained with " ..
        "other settings (%s): tested with these, its metrics are printed, not recorded there (delete %s " ..
        "to run it again)", tested, r.run_dir)
    end
    return note_config(r, "evaluate", "trained (.train_complete) but not tested")
  end
  if has(".train_complete") then
    -- a finished fit whose best checkpoint is gone: its last one is at the final epoch, so a
    -- resume would end at once with no best checkpoint to test
    return "run", "its best checkpoint is missing (.train_complete without it): trains again"
  end
  if gio.exists(r.last_ckpt) then
    if not best then
      -- a resume saves a best checkpoint only when an epoch beats the one last recorded: it
      -- could end without one (at once, when last is at its final epoch)
      return "run", "checkpoints/last exists without the best checkpoint: trains again"
    end
    local why = "checkpoints/last exists without .train_complete"
    local okr, refused = pcall(record.resume_problem, r)
    if okr and refused then
      return "resume", string.format("%s; %s: delete %s to run it again", why, refused, r.run_dir)
    end
    local budget = changes(r, record.TRAINED)
    if budget then
      return "resume", string.format("%s; it goes on with the new budget (%s)", why, budget)
    end
    return "resume", why
  end
  return "run", "no checkpoint"
end

-- Loads and resolves a pipeline recipe (nothing is written).  Returns {name, file, stages}.
function M.load(path, tla)
  local p, file = config.render(path, tla, "pipeline")
  -- (the reverse of fit's "is a pipeline, not a stage")
  if p.stages == nil and p.kind == "extract" then
    error(string.format("recipe %s is an extract stage, not a pipeline (it has no 'stages'): it runs " ..
      "as a stage of a pipeline (recipes/pipelines/graphids.lua)", file), 0)
  elseif p.stages == nil and (p.trainer ~= nil or p.model ~= nil) then
    error(string.format("recipe %s is a stage, not a pipeline (it has no 'stages'): run it with " ..
      "graphids fit --config %s", file, file), 0)
  end
  check_nodes(file, p.stages)
  local outputs, by_name, by_dir = {}, {}, {}
  for _, n in ipairs(p.stages) do
    local ok, out = pcall(resolve_node, n, outputs)
    if not ok then
      -- (a position inside the runtime's modules is no help to the pipeline's author)
      error(string.format("pipeline %s: stage '%s': %s", file, n.name,
        errors.strip_own_position(out)), 0)
    end
    -- Each stage owns its run dir: a second stage there would be planned against the first's
    -- files (skipped as "trained with another configuration", reporting the first's metrics) or
    -- replace them.
    local dir = n.run_dir and rd.same_dir_key(n.run_dir)
    if dir and by_dir[dir] then
      error(string.format("pipeline %s: stages '%s' and '%s' share the run dir %s; each stage needs its " ..
        "own (another lake_root, seed, scale or variant TLA, e.g. loss)", file, by_dir[dir].name, n.name,
        n.run_dir), 0)
    end
    if dir then by_dir[dir] = n end
    outputs[n.name] = out
    n.output = out
    n.upstream = {}
    for k, up in pairs(n.inputs or {}) do n.upstream[k] = by_name[up] end
    by_name[n.name] = n
  end
  return { name = p.name or file, file = file, stages = p.stages }
end

-- A catalog option (data.init_args.catalog) as a memo key: its path, its contents (a table; two stages'
-- copies of one catalog are one), or "" for the default one.
local function catalog_key(c)
  if type(c) ~= "table" then return c == nil and "" or "file:" .. tostring(c) end
  local ok, text = pcall(require("graphids.json").encode, c)
  return ok and "table:" .. text or tostring(c)
end

-- What a run would trip over, found without running (--dry-run): each stage's model
-- hyper-parameters (instantiate.check_model), its run dir (extract stages' too: creatable, or
-- readable and writable when it exists), the dataset of each
-- graph stage (its folder, train sub-folders and captures; a simulated dataset still to be
-- generated is fine), the checkpoint each stage would resume or evaluate (readable, and of
-- the stage's model: class, id encoder, parameter names and shapes) and the class of each
-- extract stage's expert checkpoints (expert_problems).  Returns {stage = name,
-- problem = message} rows in stage order, empty when none.
-- A dataset the catalog does not list, or whose captures are not there (no data root, its folder
-- not under it), is no problem when a complete cache of the stage's parameters is there: the
-- load serves it from that alone, as the recipe's validation accepts (docs/data.md).
local function dataset_problem(d, seen)
  local catalog = require "graphids.data.catalog"
  -- (the catalog too: another one may list the name as another dataset, or not at all)
  local key = table.concat({ tostring(d.dataset), tostring(d.data_root), tostring(d.lake_root),
    catalog_key(d.catalog) }, "\0")
  if seen[key] == nil then
    local cached_will_do = false
    local ok, err = pcall(function()
      local opts = { data_root = d.data_root, lake_root = d.lake_root, catalog = d.catalog }
      local okc, entry = pcall(catalog.dataset_info, d.dataset, opts)
      if not okc then
        cached_will_do = catalog.name_problem(d.dataset) == nil
        error(entry, 0)
      end
      if entry.simulated then return end -- found or generated at build
      local root = catalog.data_root(opts)
      cached_will_do = root == nil or not gio.is_dir(gio.join(root, d.dataset))
      catalog.resolve_dataset(d.dataset, opts)
    end)
    seen[key] = false
    if not ok then seen[key] = { msg = errors.strip_own_position(err), cached_will_do = cached_will_do } end
  end
  local p = seen[key]
  if not p then return nil end
  -- (not remembered: the stages of one dataset may use caches of other parameters)
  if p.cached_will_do and require("graphids.data.cache").cache_ready(d.dataset, d) then return nil end
  return p.msg
end

local os_reason = rd.os_reason
local write_problem = rd.write_problem

-- The folder's stat, or nil when it is missing; raises a message when it cannot be looked at
-- (a folder above it that this process may not search).
local function stat_of(path)
  local st, err = gio.stat(path)
  if st == nil and err ~= nil then
    error(string.format("cannot look at %s: %s", path, os_reason(err)), 0)
  end
  return st
end

-- The folders of a run dir an action writes into besides the run dir itself, where they exist
-- (one that does not is made in a run dir the run can write): a fit moves the old checkpoints
-- and predictions aside and writes new ones, a test writes predictions/test.  A skip writes
-- nothing; a stage whose action is not known yet is taken to fit.
local WRITES = {
  run = { "checkpoints", "predictions", "predictions/test" },
  resume = { "checkpoints", "predictions", "predictions/test" },
  evaluate = { "predictions", "predictions/test" },
  skip = {},
}

-- Why the run dir (and its checkpoints folder) cannot be used by the run for action, or nil:
-- one that exists must be a folder the run can read (its markers and checkpoints: unreadable,
-- it would be taken for an empty one) and, but for a skip, write, with the folders in it that
-- the action writes into (WRITES: a read-only checkpoints/ failed a fit after its first epoch);
-- one that does not must be creatable, from the nearest part of the path that exists (a folder,
-- writable).  Nothing is left behind.
local function run_dir_problem(run_dir, action)
  local reads_only = action == "skip"
  local ok, msg = pcall(function()
    local st = stat_of(run_dir)
    if st and st.type ~= "dir" then return run_dir .. " exists and is not a folder" end
    if st then
      local ckpts = gio.join(run_dir, "checkpoints")
      for _, p in ipairs({ run_dir, ckpts }) do
        if p == run_dir or stat_of(p) then
          if p == ckpts and stat_of(p).type ~= "dir" then return p .. " exists and is not a folder" end
          local listed, err = gio.list_dir(p)
          if listed == nil then
            return string.format("cannot read the run dir %s: %s: %s", run_dir, p, os_reason(err))
          end
        end
      end
      if reads_only then return nil end
      local werr = write_problem(run_dir)
      if werr then return string.format("cannot write into the run dir %s: %s", run_dir, werr) end
      for _, sub in ipairs(WRITES[action] or WRITES.run) do
        local p = gio.join(run_dir, sub)
        local sst = stat_of(p)
        werr = sst and sst.type == "dir" and write_problem(p)
        if werr then return string.format("cannot write into the run dir %s: %s: %s", run_dir, p, werr) end
      end
      return nil
    end
    if reads_only then return nil end
    local up = run_dir
    while true do
      up = up:match("^(.*)/[^/]+$")
      if up == "" then up = "/" end
      if up == nil then up = "." end
      local ust = stat_of(up)
      if ust then
        if ust.type ~= "dir" then
          return string.format("cannot create the run dir %s: %s is not a folder", run_dir, up)
        end
        local werr = write_problem(up)
        if werr then
          return string.format("cannot create the run dir %s: cannot write into %s: %s", run_dir, up, werr)
        end
        return nil
      end
      if up == "/" or up == "." then return nil end
    end
  end)
  if not ok then return string.format("cannot use the run dir %s: %s", run_dir, tostring(msg)) end
  return msg
end

-- Why the checkpoint that action reuses (resume: last, evaluate and skip: best) cannot be
-- reused (damaged: its sha256 sidecar disagrees; another model or vocabulary), or nil.  The
-- plan (check) and the run ask the same question, so they agree.
local function reuse_problem(n, action)
  local r = n.resolved
  local path = (action == "resume" and r.last_ckpt) or ((action == "evaluate" or action == "skip")
    and r.ckpt_file) or nil
  if path == nil then return nil end
  local unreadable = record.read_problem(r)
  if unreadable then return string.format("cannot %s: %s", action, unreadable) end
  local ok, err = pcall(ckpt.check_compat, path, r)
  if not ok then return string.format("cannot %s: %s", action, tostring(err)) end
  -- a resume finishes the fit its record describes (stage.train refuses it too)
  local refused = action == "resume" and record.resume_problem(r)
  if refused then
    return string.format("cannot resume %s: %s; delete it to train the stage with this configuration",
      r.run_dir, refused)
  end
  return nil
end

-- Why the extract stage n's expert checkpoints would be refused by the extraction, by their
-- model class (fusion_states.class_problem): an input from a training stage by the model that
-- stage trains (its checkpoint may not exist yet), a path given as a TLA by the checkpoint there
-- (one that is missing or does not load, named too).  Returns a list of messages.
local function expert_problems(n)
  local out = {}
  for _, k in ipairs(U.sorted_keys(fstates.EXPERT_CLASSES)) do
    local up, path = n.upstream and n.upstream[k], n.spec[k]
    if up and up.kind == "train" then
      local cls = up.resolved.validated.model.class_path
      local why = fstates.class_problem(k, cls)
      if why then
        out[#out + 1] = string.format("its input %s (stage '%s') trains a %s; %s", k, n.inputs[k], cls, why)
      end
    elseif up == nil then
      local ok, c = pcall(ckpt.load, path)
      if not ok then
        out[#out + 1] = string.format("its %s: %s", k, errors.strip_own_position(c))
      else
        local why = fstates.class_problem(k, c.class_path)
        if why then
          out[#out + 1] = string.format("its %s %s holds a %s; %s", k, path, tostring(c.class_path), why)
        end
      end
    end
  end
  return out
end

function M.check(p)
  local problems, seen = {}, {}
  local function add(n, msg) problems[#problems + 1] = { stage = n.name, problem = msg } end
  for _, n in ipairs(p.stages) do
    -- the device each stage runs on (--tla device=cuda on a machine without one), as build checks it
    local devices
    if n.kind == "extract" then
      local dev = n.spec.device
      devices = dev ~= nil and dev ~= "cpu" and { { key = "device", device = dev } } or {}
    else
      devices = require("graphids.orchestrate.stage").devices(n.resolved.validated)
    end
    for _, d in ipairs(devices) do
      local okd, derr = pcall(graphids.gpu.check_device, d.device, d.key)
      if not okd then add(n, errors.strip_own_position(derr)) end
    end
    -- an extract stage's folder is read (is it complete?) and written as a training stage's is;
    -- a stage the plan skips only reads its folder, as the run does (a read-only lake of
    -- finished results runs)
    local okd, action = pcall(M.decide, n)
    local rmsg = n.run_dir and run_dir_problem(n.run_dir, okd and action or nil)
    if rmsg then add(n, rmsg) end
    if n.kind == "extract" then
      for _, msg in ipairs(expert_problems(n)) do add(n, msg) end
    end
    if n.kind == "extract" and type(n.spec.data) == "table" and n.spec.data.dataset ~= nil then
      local msg = dataset_problem(n.spec.data, seen)
      if msg then add(n, msg) end
    end
    if n.kind ~= "extract" then
      local r = n.resolved
      local okm, merr = pcall(require("graphids.orchestrate.instantiate").check_model, r.validated)
      if not okm then add(n, errors.strip_own_position(merr)) end
      local data = r.validated.data
      if data.class_path:find("fusion", 1, true) == nil then
        local msg = dataset_problem(data.init_args, seen)
        if msg then add(n, msg) end
      end
      local why = reuse_problem(n, M.decide(n))
      if why then add(n, why) end
    end
  end
  return problems
end

-- The plan: per stage {name, kind, action, reason, run_dir, deps}.  A stage whose input comes
-- from a stage that trains (or extracts) first will see a new input, unless that stage gives
-- back the same bytes: it is planned to run.
function M.plan(p)
  local rows, trains = {}, {}
  for _, n in ipairs(p.stages) do
    local action, reason = M.decide(n)
    local first
    for _, k in ipairs(U.sorted_keys(n.inputs or {})) do
      if trains[n.inputs[k]] then first = first or n.inputs[k] end
    end
    if first and action ~= "run" then
      action, reason = "run", string.format("its input stage '%s' runs first, so it runs again " ..
        "(skipped after all if that stage gives back the same output)", first)
    end
    trains[n.name] = action == "run" or action == "resume"
    rows[#rows + 1] = { name = n.name, kind = n.kind, action = action, reason = reason, run_dir = n.run_dir,
      deps = n.deps }
  end
  return rows
end

function M.print_plan(p, out)
  out = out or io.stdout
  out:write(string.format("pipeline %s (%d stages, executor local)\n", p.name, #p.stages))
  local rows, width = M.plan(p), 14
  for _, r in ipairs(rows) do width = math.max(width, columns.width(r.name)) end
  for _, r in ipairs(rows) do
    local deps = #r.deps > 0 and ("  after " .. table.concat(r.deps, ", ")) or ""
    out:write(string.format("  %s %-9s %s%s\n      %s\n", pad(r.name, width), r.action, r.reason,
      deps, tostring(r.run_dir)))
  end
end

-- The run dir's test metrics; nil, message when the file does not read.
local function read_metrics(run_dir)
  if run_dir == nil then return nil end
  local v, err = gio.read_json(gio.join(run_dir, "test_metrics.json"))
  if type(v) ~= "table" then return nil, tostring(err or "not a JSON object") end
  return v
end

-- Two pipelines on one lake (another loss, another method) share stages: a stage's run dir is
-- written by one job at a time, and the outputs it reads are not rewritten while it reads them
-- (an extract rewriting the fusion states under a fusion that trains and tests on them).  An
-- exclusive lock on its own run dir, shared ones on its inputs'; held ones come back as a list.
-- A lock held elsewhere (another pipeline, a graphids fit or test) fails the stage at once,
-- naming it.
local function take_stage_locks(n)
  local held = {}
  local function take(dir, exclusive, what)
    if dir == nil then return end -- (no run dir: nothing is written or read back)
    local ok, lk = pcall(rd.lock, dir, exclusive, string.format("stage '%s': %s", n.name, what))
    if not ok then
      for _, h in ipairs(held) do h:unlock() end
      error(lk, 0)
    end
    held[#held + 1] = lk
  end
  take(n.run_dir, true, "its run dir")
  for _, k in ipairs(U.sorted_keys(n.upstream or {})) do
    take(n.upstream[k].run_dir, false, string.format("its input %s's run dir", k))
  end
  return held
end

local function with_stage_locks(n, fn)
  return function()
    local held = take_stage_locks(n)
    local res = table.pack(pcall(fn))
    for _, h in ipairs(held) do h:unlock() end
    if not res[1] then error(res[2], 0) end
    return table.unpack(res, 2, res.n)
  end
end

-- The job of one stage: resolve is done; this writes the run files, builds, trains (or
-- resumes) and evaluates.  Returns the metrics.
local function job_fn(n, action, opts)
  local stage = require "graphids.orchestrate.stage"
  if n.kind == "extract" then
    return with_stage_locks(n, function()
      -- (traced in its folder by the extraction itself, as a training stage is by its verbs)
      fstates.extract(n.spec, { log = opts.log })
      return nil
    end)
  end
  return with_stage_locks(n, function()
    local r = n.resolved
    if action == "evaluate" and opts.unrecorded then
      -- other data or another model than the fit's: tested as `graphids test` tests it, with the
      -- run dir's best checkpoint, and nothing is written there
      local u = record.unrecorded(r)
      return stage.evaluate(stage.build(u, { teacher_use = false }), u, { ckpt_path = r.ckpt_file })
    end
    -- (a fit removes the previous run's markers when it commits: stage.train; a stage that
    -- fails while it is built is traced by stage.build; a test alone runs no distillation
    -- loss: a distilled GAT is built without its teacher)
    local build_opts = { locked = true }
    if action == "evaluate" then build_opts.teacher_use = false end
    local art = stage.build(r, build_opts)
    if action == "run" or action == "resume" then
      -- the inputs are recorded as the fit commits: a killed fit resumes on the same inputs
      stage.train(art, r, { resume_from = action == "resume" and r.last_ckpt or nil, write_run_files = true,
        on_commit = function() record_inputs(n) end, locked = true })
    end
    return stage.evaluate(art, r, { write_run_files = true, locked = true })
  end)
end

-- Runs the pipeline.  opts: executor (default local), log (function of a line; default
-- stdout).
-- Whether a job's error is the host's Ctrl-C ("interrupted!", graphids' own and lua.c's).
local function is_interrupt(err)
  return type(err) == "string" and err:find("interrupted!", 1, true) ~= nil
end
M.is_interrupt = is_interrupt

-- Returns a list of {name, kind, action, reason, status = "ok" | "skipped" | "failed" |
-- "blocked" | "interrupted", seconds, metrics, error, run_dir}; list.interrupted is true when
-- Ctrl-C stopped a stage: the stages after it are not started (they are listed as
-- "interrupted", not run), since a commit or a short stage would otherwise go ahead after the
-- user asked to stop.
function M.run(p, opts)
  opts = U.options("pipeline.run", opts, { executor = U.NONE, log = U.NONE })
  local ex = opts.executor or require("graphids.orchestrate.executor").local_executor()
  local log = opts.log or function(s) io.stdout:write(s, "\n") io.stdout:flush() end
  local status, results = {}, {}
  for _, n in ipairs(p.stages) do
    local action, reason = M.decide(n)
    local res = { name = n.name, kind = n.kind, action = action, reason = reason, run_dir = n.run_dir }
    local blocked
    for _, up in ipairs(n.deps) do
      if status[up] == "failed" or status[up] == "blocked" then blocked = up break end
    end
    -- The plan's check (--dry-run) asked first: a run dir that cannot be read was planned as an
    -- empty one, and would have failed at its lock, naming the lock file rather than the folder.
    local dir_problem = not blocked and n.run_dir and run_dir_problem(n.run_dir, action)
    local unusable = dir_problem or (not blocked and n.kind == "train" and reuse_problem(n, action))
    if blocked then
      res.status, res.error = "blocked", "upstream stage '" .. blocked .. "' did not complete"
      log(string.format("== %s: blocked (%s)", n.name, res.error))
    elseif unusable then
      -- (a damaged checkpoint is named here, not skipped and met later in a dependant)
      res.status, res.error = "failed", unusable
      log(string.format("== %s: FAILED: %s", n.name, unusable))
      if not dir_problem then -- (its traces are in the folder that cannot be used)
        tracking.failed(n.run_dir, n.name, action, unusable)
      end
    elseif action == "skip" then
      local merr
      res.status, res.metrics, merr = "skipped", read_metrics(n.kind == "train" and n.run_dir or nil)
      log(string.format("== %s: skip (%s)", n.name, reason))
      if merr then log(string.format("== %s: warning: its metrics do not read: %s", n.name, merr)) end
    else
      log(string.format("== %s: %s (%s) -> %s", n.name, action, reason, tostring(n.run_dir)))
      res.unrecorded = action == "evaluate" and test_changes(n) or nil
      local t0 = require("graphids").clock()
      local ok, out = ex:run({ name = n.name, action = action,
        fn = job_fn(n, action, { log = log, unrecorded = res.unrecorded }) })
      res.seconds = require("graphids").clock() - t0
      if ok then
        res.status, res.metrics = "ok", out
        local note = res.unrecorded and string.format(" (metrics not recorded in %s: it was trained with " ..
          "other settings)", n.run_dir) or ""
        log(string.format("== %s: done in %.1f s%s", n.name, res.seconds, note))
      elseif is_interrupt(out) then
        -- (where the signal landed, a runtime module's line, says nothing to the user)
        res.status, res.error = "interrupted", "interrupted (Ctrl-C)"
        log(string.format("== %s: interrupted after %.1f s", n.name, res.seconds))
      else
        -- (a position inside the runtime's modules is no help either; the user's recipe's is kept)
        res.status, res.error = "failed", errors.strip_own_position(out)
        log(string.format("== %s: FAILED after %.1f s: %s", n.name, res.seconds, res.error))
      end
    end
    status[n.name] = res.status
    results[#results + 1] = res
    if res.status == "interrupted" then
      results.interrupted = true
      break
    end
  end
  if results.interrupted then
    for i = #results + 1, #p.stages do
      local n = p.stages[i]
      results[i] = { name = n.name, kind = n.kind, action = "none", status = "interrupted",
        error = "not started: the pipeline was interrupted", run_dir = n.run_dir }
    end
  end
  return results
end

-- ---------------------------------------------------------------- results table

local function num(v)
  if type(v) ~= "number" or v ~= v then return "   -   " end
  return string.format("%7.4f", v)
end

-- (accuracy, F1, AUROC) of a metrics table under prefix ("test/" pooled, "test/<set>/").
function M.headline(m, prefix)
  if type(m) ~= "table" then return nil end
  local f1 = m[prefix .. "f1_macro"]
  if f1 == nil then f1 = m[prefix .. "f1"] end
  return m[prefix .. "accuracy"], f1, m[prefix .. "auroc"]
end

-- The test sets of a metrics table: every <set> of a "test/<set>/<metric>" key (not only those
-- with an accuracy: an anomaly detector tested without a validation threshold has none).
local function test_sets(m)
  local sets, seen = {}, {}
  for k in pairs(m or {}) do
    local s = k:match("^test/([^/]+)/[^/]+$")
    if s and not seen[s] then sets[#sets + 1], seen[s] = s, true end
  end
  table.sort(sets)
  return sets
end

function M.print_results(results, out)
  out = out or io.stdout
  local width = 14 -- the stage column fits the longest name
  for _, r in ipairs(results) do width = math.max(width, columns.width(r.name)) end
  local function col(name) return "  " .. pad(name, width) .. " " end
  out:write("\nresults (pooled over the test sets; F1 = macro F1 for classifiers, F1 at the validation " ..
    "threshold for anomaly detectors)\n")
  out:write(col("stage") .. string.format("%-8s %7s %7s %7s %9s\n", "status", "acc", "F1", "AUROC",
    "time(s)"))
  for _, r in ipairs(results) do
    local acc, f1, auroc = M.headline(r.metrics, "test/")
    local secs = r.seconds and string.format("%.1f", r.seconds) or "-"
    out:write(col(r.name) .. string.format("%-8s %7s %7s %7s %9s%s\n", r.status, num(acc), num(f1),
      num(auroc), secs, r.unrecorded and "  not recorded" or ""))
  end
  out:write("\nper test set\n")
  for _, r in ipairs(results) do
    for _, s in ipairs(test_sets(r.metrics)) do
      local acc, f1, auroc = M.headline(r.metrics, "test/" .. s .. "/")
      out:write(col(r.name) .. string.format("%-40s %7s %7s %7s\n", s, num(acc), num(f1), num(auroc)))
    end
  end
  out:write("\nartifacts\n")
  for _, r in ipairs(results) do
    out:write(col(r.name) .. tostring(r.run_dir) .. "\n")
    if r.status == "failed" or r.status == "blocked" or r.status == "interrupted" then
      out:write(col("") .. string.format("%s: %s\n", r.status, tostring(r.error)))
    end
    if r.unrecorded then
      out:write(col("") .. string.format("not recorded: it was trained with other settings (%s); the " ..
        "metrics above are this configuration's, its run dir keeps its fit's\n", r.unrecorded))
    end
  end
end


return M
