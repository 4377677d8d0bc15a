-- graphids.orchestrate.fusion_states -- the extract stage: the VGAE's and the GAT's
-- extract_features over the train, val and every test split, saved as the 15-D fusion states.
--   local fs = require "graphids.orchestrate.fusion_states"
--   local spec = fs.resolve("recipes/stages/fusion_states.lua", {vgae_ckpt = a, gat_ckpt = b})
--   fs.extract(spec)     -- <out_dir>/{train,val,test_<set>}.safetensors, manifest.json, marker
--                        -- (traced in <out_dir>/traces.jsonl, a pipeline's stage or not)
-- Each file: states [N,15] f32 (VGAE block then GAT block, docs/models.md), labels [N] i64,
-- window_start, source_file (every state maps back to its window's frames), id_view (below).  The train file
-- holds every train graph (benign or not) in stored order.  manifest.json lists the test sets,
-- the two checkpoints and the SHA-256 of each states file; `.extract_complete` is written last.
-- unknown_id_view = true (the recipes' portable graphs) adds to the train and val files a second
-- state per graph computed with every node_id replaced by UNK (column id_view = 1; 0 for the
-- graphs as captured).  On a vehicle outside the vocabulary every id is unknown: the VGAE's
-- id errors are then high for every window, attack or not, and a fusion policy trained only on
-- known-id states reads that as "attack".  With the unknown-id view it sees such states with
-- their true labels and learns when the VGAE's id errors carry no information.
-- calibration = share (> 0; the recipes' portable graphs: 0.1) maps the anomaly detector's
-- columns of every capture file onto the training files' scale, each file by its own first
-- share of windows (graphids.orchestrate.state_calibration); 0 leaves the states as extracted.
-- device ("cpu", "cuda", "cuda:N") runs both experts there; the states are saved from the CPU.
local graphids = require "graphids"
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local config = require "graphids.config"
local Device = require "graphids.trainer.device"
local tracking = require "graphids.orchestrate.tracking"

local M = {}

M.MARKER = ".extract_complete"

local SPEC = { kind = "extract", identity = {}, vgae_ckpt = "", gat_ckpt = "", out_dir = "", data = {},
  max_train = 0, unknown_id_view = false, calibration = 0, device = "cpu" }

-- The validated spec of an extract recipe (a table with run_dir = out_dir for the pipeline).
function M.resolve(path, tla)
  local rendered, file = config.render(path, tla)
  local ok, s = pcall(U.options, "fusion_states recipe " .. file, rendered, SPEC, -1)
  if not ok then
    error(tostring(s):gsub("option", "key"), 0)
  end
  -- (a path with a NUL byte would be cut there by the system, or refused deep in the runtime)
  local function no_nul(v, key)
    if type(v) == "table" then
      for k, x in pairs(v) do no_nul(x, key .. "." .. tostring(k)) end
    elseif type(v) == "string" and v:find("\0", 1, true) then
      error(string.format("fusion_states recipe %s: '%s' holds a NUL byte at %d: no path or name can", file,
        key, v:find("\0", 1, true)), 0)
    end
  end
  for _, k in ipairs(U.sorted_keys(s)) do no_nul(s[k], k) end
  for _, k in ipairs({ "vgae_ckpt", "gat_ckpt", "out_dir" }) do
    if s[k] == "" then
      error(string.format("fusion_states recipe %s: '%s' is required", file, k), 0)
    end
  end
  if type(s.calibration) ~= "number" or s.calibration < 0 or s.calibration > 1 then
    error(string.format("fusion_states recipe %s: 'calibration' must be a share in [0, 1] " ..
      "(0 = off), got %s", file, tostring(s.calibration)), 0)
  end
  if not Device.valid(s.device) then
    error(string.format("fusion_states recipe %s: 'device' must be 'cpu', 'cuda' or 'cuda:N', got %s",
      file, U.describe(s.device)), 0)
  end
  s.run_dir, s.recipe, s.tla = s.out_dir, file, tla or {}
  s.stage_name = "fusion_states"
  return s
end

-- What a checkpoint file holds, by content: the digest its .sha256 sidecar lists first, else
-- the file's own SHA-256 (a checkpoint whose sidecar was lost is still the same checkpoint: the
-- pipeline's input record and the states' manifest must agree on it, or the states are
-- extracted again on every run); nil when there is no file.
function M.ckpt_digest(path)
  if path == nil or not gio.exists(path) then return nil end
  local text = gio.read_file(ckpt.sidecar_path(path))
  return text and text:match("^(%x+)") or graphids.sha256_file(path)
end
local ckpt_digest = M.ckpt_digest

-- The model classes each expert checkpoint may hold: the state layout is 8 anomaly-detector
-- columns, then 7 GAT columns.
M.EXPERT_CLASSES = {
  vgae_ckpt = { "graphids.models.VGAE", "graphids.models.DGI" },
  gat_ckpt = { "graphids.models.GATClassifier" },
}

-- What the expert checkpoint `key` (vgae_ckpt, gat_ckpt) should hold when a model of class_path
-- is not one it may ("expected a graphids.models.VGAE (or DGI)"), or nil.  The extraction and
-- the pipeline's plan (--dry-run) ask it.
function M.class_problem(key, class_path)
  local allowed = M.EXPERT_CLASSES[key]
  for _, c in ipairs(allowed) do
    if c == class_path then return nil end
  end
  local others = {}
  for i = 2, #allowed do others[#others + 1] = allowed[i]:match("[^.]+$") end
  return "expected a " .. allowed[1] .. (#others > 0 and (" (or " .. table.concat(others, ", ") .. ")") or "")
end

-- Why a decoded manifest.json is not one extract writes, or nil: an object whose test_names is
-- a list of names and whose state_dim, when present, a positive integer.
function M.manifest_error(manifest)
  if type(manifest) ~= "table" or manifest[1] ~= nil or require("graphids.json").is_array(manifest) then
    return "must be a JSON object, got " .. U.describe(manifest)
  end
  local names = manifest.test_names
  if names ~= nil then
    if type(names) ~= "table" then
      return "'test_names' must be a list of test set names, got " .. U.describe(names)
    end
    for k, v in pairs(names) do
      if math.type(k) ~= "integer" or type(v) ~= "string" or v == "" then
        return "'test_names' must be a list of test set names, got " .. U.describe(v) .. " at " ..
          U.describe(k)
      end
    end
  end
  if manifest.dataset ~= nil and (type(manifest.dataset) ~= "string" or manifest.dataset == "") then
    return "'dataset' must be a dataset name, got " .. U.describe(manifest.dataset)
  end
  local dim = manifest.state_dim
  if dim ~= nil and (math.type(dim) ~= "integer" or dim < 1) then
    return "'state_dim' must be an integer >= 1, got " .. U.describe(dim)
  end
  return nil
end

-- How the val split's states are calibrated, as the manifest records it (calibration > 0): with
-- the mapping of their capture's train windows (state_calibration.apply).
local VAL_CALIBRATION = "train_mapping"

-- Where the experts' checkpoints were when the states were extracted: in the manifest (shown,
-- and told apart from the states' identity, which their SHA-256 carry).
local LOCATION_KEYS = { "vgae_ckpt", "gat_ckpt" }

-- What the states in out_dir are, by content, wherever the lake lives: the SHA-256 of the
-- manifest without the experts' checkpoint paths (it lists each states file's SHA-256 and the
-- checkpoints' own), so identical states in a copied or moved lake compare equal; nil without a
-- manifest.  A manifest that does not read as an object is taken by its bytes.
function M.states_digest(out_dir)
  local path = gio.join(out_dir, "manifest.json")
  if not gio.exists(path) then return nil end
  local manifest = gio.read_json(path)
  if type(manifest) ~= "table" or M.manifest_error(manifest) then return graphids.sha256_file(path) end
  for _, k in ipairs(LOCATION_KEYS) do manifest[k] = nil end
  return graphids.sha256(require("graphids.json").encode(manifest))
end

-- true when out_dir holds complete states extracted from the checkpoints of spec as they are
-- now; false and the reason otherwise (a re-trained expert makes the states stale).
function M.is_complete(out_dir, spec)
  local manifest = gio.read_json(gio.join(out_dir, "manifest.json"))
  if not gio.exists(gio.join(out_dir, M.MARKER)) or manifest == nil then
    return false, "no complete fusion states"
  end
  local merr = M.manifest_error(manifest)
  if merr then return false, "its manifest.json " .. merr end
  if manifest.vgae_ckpt_sha256 == nil or manifest.gat_ckpt_sha256 == nil then
    if spec and (ckpt_digest(spec.vgae_ckpt) or ckpt_digest(spec.gat_ckpt)) then
      return false, "its manifest.json names no checkpoint digests"
    end
  end
  for _, k in ipairs(spec and { "vgae_ckpt", "gat_ckpt" } or {}) do
    if manifest[k .. "_sha256"] ~= ckpt_digest(spec[k]) then
      return false, "the " .. k .. " checkpoint changed since the states were extracted"
    end
  end
  if spec and (manifest.unknown_id_view == true) ~= (spec.unknown_id_view == true) then
    return false, "the states were extracted with unknown_id_view = " ..
      tostring(manifest.unknown_id_view == true)
  end
  if spec and (manifest.calibration or 0) ~= (spec.calibration or 0) then
    return false, "the states were extracted with calibration = " .. tostring(manifest.calibration or 0)
  end
  -- states calibrated before the val windows took their capture's train mapping (each val group
  -- was calibrated on its own few windows) say nothing of it in their manifest
  if spec and (spec.calibration or 0) > 0 and manifest.val_calibration ~= VAL_CALIBRATION then
    return false, "its val states were calibrated on their own windows (an older graphids), not with " ..
      "their captures' train mapping"
  end
  -- the states files as extracted (manifests of earlier versions list no digests): a damaged or
  -- replaced one is extracted again, not met later by the fusion that reads it
  for _, file in ipairs(type(manifest.files) == "table" and U.sorted_keys(manifest.files) or {}) do
    if type(file) ~= "string" or not file:match("^[%w_%-%.]+%.safetensors$") then
      return false, "its manifest.json lists a states file " .. U.describe(file) .. " extract never writes"
    end
    local path = gio.join(out_dir, file)
    local digest = gio.exists(path) and graphids.sha256_file(path) or nil
    if digest ~= manifest.files[file] then
      return false, string.format("its %s %s", file,
        digest and "differs from the one extracted" or "is missing")
    end
  end
  return true, "fusion states complete"
end

-- A view of a batch whose node ids are all UNK (0); every other field is the batch's.
local function unknown_ids(batch)
  return setmetatable({ node_id = graphids.zeros_like(batch.node_id) }, { __index = batch })
end

-- The states of every graph of loader: the experts run on device (batch there, states back on the
-- CPU); labels, window starts and source files come from the CPU batch.
local function extract_split(loader, vgae, gat, gen, with_unknown_view, device)
  local parts = { states = {}, labels = {}, window_start = {}, source_file = {}, id_view = {} }
  local function add(batch, on_device, view)
    local ctx = { generator = gen }
    local fv = vgae:extract_features(on_device, ctx)
    local fg = gat:extract_features(on_device, ctx)
    parts.states[#parts.states + 1] = graphids.cat({ fv:float(), fg:float() }, 2):cpu()
    parts.labels[#parts.labels + 1] = batch.y
    parts.window_start[#parts.window_start + 1] = batch.window_start
    parts.source_file[#parts.source_file + 1] = batch.source_file
    parts.id_view[#parts.id_view + 1] = graphids.full({ batch.num_graphs }, view, { dtype = "i64" })
  end
  graphids.no_grad(function()
    for batch in loader:iter(0) do
      local on_device = Device.batch(batch, device)
      add(batch, on_device, 0)
      if with_unknown_view then
        add(batch, unknown_ids(on_device), 1)
      end
    end
  end)
  local out = {}
  for k, list in pairs(parts) do
    if #list == 0 then
      error("fusion_states: split '" .. loader.name .. "' has no graphs", 0)
    end
    out[k] = graphids.cat(list, 1):contiguous()
  end
  return out
end

-- The train loader: every train graph in stored order, or (max_train > 0) a seeded sample of
-- max_train of them, still in stored order (the reference capped the train states at 150 000).
local function train_loader(dm, max_train, seed)
  local graphs = dm.cache.train_index:totable()
  if max_train > 0 and max_train < #graphs then
    local loader = require "graphids.data.loader"
    local perm = loader.epoch_permutation(#graphs, seed, 0)
    local pick = {}
    for i = 1, max_train do pick[i] = graphs[perm[i] + 1] end
    table.sort(pick)
    return loader.Loader { set = dm.cache.train, plan = loader.fixed_batches(pick, dm.eval_batch_size),
      shuffle = false, name = "train (sample)" }
  end
  return dm:eval_loader("train")
end

-- The extraction (overwriting any partial output); the manifest.
local function extract(spec, opts)
  local inst = require "graphids.orchestrate.instantiate"
  local data = require "graphids.data"
  local d = config.thaw(spec.data)
  -- (a cache built from other captures than the catalog's now is rebuilt by the load itself,
  -- which says so to this log)
  if opts.log then d.log = opts.log end
  local dm = data.GraphDataModule(d)
  dm:setup()
  local digest = inst.vocab_digest(dm)
  local vgae = inst.load_model(spec.vgae_ckpt, { vocab_digest = digest, what = "fusion_states vgae_ckpt" })
  local gat = inst.load_model(spec.gat_ckpt, { vocab_digest = digest, what = "fusion_states gat_ckpt" })
  for _, e in ipairs({ { "vgae_ckpt", vgae }, { "gat_ckpt", gat } }) do
    local why = M.class_problem(e[1], e[2].class_path)
    if why then
      error(string.format("fusion_states: %s %s holds a %s; %s", e[1], spec[e[1]], tostring(e[2].class_path),
        why), 0)
    end
  end
  Device.model(vgae, spec.device)
  Device.model(gat, spec.device)
  config.ensure_run_dir(spec.out_dir)
  local marker = gio.join(spec.out_dir, M.MARKER)
  if gio.exists(marker) then
    os.remove(marker)
  end
  local gen = graphids.Generator(d.seed or 42)
  local rows, reference, train_maps, files = {}, nil, nil, {}
  local share = spec.calibration or 0
  local SC = require "graphids.orchestrate.state_calibration"
  local splits = { "train", "val" }
  for _, n in ipairs(dm.test_names) do splits[#splits + 1] = n end
  for i, split in ipairs(splits) do
    local loader = split == "train" and train_loader(dm, spec.max_train, d.seed or 42)
      or dm:eval_loader(split)
    local out = extract_split(loader, vgae, gat, gen, spec.unknown_id_view and i <= 2, spec.device)
    if share > 0 then
      if reference == nil then reference, train_maps = SC.reference(out, share) end -- train comes first
      -- (val holds windows of the training captures: each is mapped as its capture's train windows)
      out.states = SC.apply(out, reference, share, split == "val" and train_maps or nil)
    end
    local file = (i <= 2 and split or ("test_" .. split)) .. ".safetensors"
    local path = gio.join(spec.out_dir, file)
    local ok, err = gio.save_safetensors(path, out, { format = "pt" })
    if not ok then
      error("fusion_states: " .. tostring(err), 0)
    end
    files[file] = graphids.sha256_file(path)
    rows[split] = out.labels:numel()
    if opts.log then opts.log(string.format("fusion_states: %s: %d states", split, rows[split])) end
  end
  local manifest = { test_names = require("graphids.json").array(dm.test_names), rows = rows,
    dataset = d.dataset or "synthetic",
    vgae_ckpt = spec.vgae_ckpt, gat_ckpt = spec.gat_ckpt, vocab_digest = digest, state_dim = 15,
    unknown_id_view = spec.unknown_id_view, calibration = share, calibration_reference = reference,
    val_calibration = share > 0 and VAL_CALIBRATION or nil,
    vgae_ckpt_sha256 = ckpt_digest(spec.vgae_ckpt), gat_ckpt_sha256 = ckpt_digest(spec.gat_ckpt),
    files = files }
  local ok, err = gio.write_json(gio.join(spec.out_dir, "manifest.json"), manifest)
  if not ok then
    error("fusion_states: " .. tostring(err), 0)
  end
  ckpt.touch_marker(marker)
  return manifest
end

-- Runs the extraction (overwriting any partial output).  Returns the manifest.  Traced in
-- out_dir as a training stage is traced in its run dir, whoever calls it (a pipeline, a script):
-- a "stage" span (phase extract) holding a stage_extract event, then stage_complete, or a
-- stage_failed event with the error (tracking.stage).  spec.stage_name names the stage there (a
-- pipeline's stage name; "fusion_states" from resolve).
function M.extract(spec, opts)
  opts = U.options("fusion_states.extract", opts, { log = U.NONE })
  local dir, name = spec.out_dir, spec.stage_name or "fusion_states"
  return tracking.stage(dir, name, "extract", function()
    tracking.event(dir, "stage_extract", { stage = name, out_dir = dir })
    local manifest = extract(spec, opts)
    tracking.event(dir, "stage_complete", { stage = name })
    return manifest
  end)
end

return M
