-- graphids.data.cache -- the dataset cache: window graphs built once per dataset and parameters,
-- stored as safetensors and memory-mapped on load (merged into graphids.data).  This file keeps
-- the folders, metadata, locks and invariants; the graph sets themselves (read, build, scale,
-- summarise, save, load) are graphids.data.cache_sets.
--   local data = require "graphids.data"
--   local meta = data.build_cache("hcrl_sa", {data_root = "/data/can", lake_root = "lake"})
--   local c = data.load_cache("hcrl_sa", {data_root = "/data/can"})   -- builds when missing
--   c.train (graph set: train + val graphs), c.train_index, c.val_index (i64 graph numbers),
--   c.tests[name] (graph sets), c.test_names (sorted), c.num_ids, c.metadata
--
-- Layout (docs/data.md): <lake_root>/cache/v<PREPROCESSING_VERSION>/<dataset>/<variant>/
--   train.safetensors            every train-folder graph (scaled) + train_index, val_index
--   test_<sub-folder>.safetensors  one per present test sub-folder (scaled with the train scaler,
--                                  or per capture file with scaler = "per_file")
--   vocab.json, scaler.safetensors, cache_metadata.json (written last: its presence means
--   complete), .lock (flock: builds exclusive, loads shared)
-- Invariants (preprocessing version, window_size, stride, val_fraction, seed, vocab_from,
-- node_by_id, scaler, calibration, vocab digest) are checked on every load and build; a mismatch
-- is an error naming the rebuild command.
-- vocab_from = "all" (the reference) takes the vocabulary from every train frame; "benign" from
-- the frames labelled 0 only, so ids that only attacks inject stay unknown.  node_by_id = true
-- gives every distinct CAN id its own node (unknown ones too, with node_id UNK); false folds the
-- unknown ids of a window into one UNK node as the reference does (docs/windows.md).
-- scaler = "train" (the reference) z-scores every graph with the train split's statistics;
-- "per_file" z-scores each capture file with its own, taken from its first `calibration` share
-- of windows (docs/data.md, "Portable graphs").
local graphids = require "graphids"
local gio = require "graphids.io"
local json = require "graphids.json"
local catalog = require "graphids.data.catalog"
local U = require "graphids.nn._util"
local S = require "graphids.data.cache_sets"
local C = require "graphids.data.cache_check"
local build_set, make_vocab, split, fit_scaler, apply_scaling = S.build_set, S.make_vocab, S.split,
  S.fit_scaler, S.apply_scaling
local split_stats, save_set, free_set = S.split_stats, S.save_set, S.free_set
local free_frames, read_split, NO_GRAPH_HINT = S.free_frames, S.read_split, S.NO_GRAPH_HINT

local M = {}

-- Bump when the graphs a build produces change (features, windows, labels, scaling, layout).
M.PREPROCESSING_VERSION = "1"
local SCHEMA_VERSION = 1

local DEFAULTS = {
  data_root = U.NONE, lake_root = U.NONE, catalog = U.NONE,
  window_size = 100, stride = 100, val_fraction = 0.2, seed = 42, vocab_from = "all",
  node_by_id = false, scaler = "train", calibration = 1.0,
  lock_timeout = 600, log = U.NONE, build = true, force = false,
}

M.OPTION_DEFAULTS = DEFAULTS

-- Checks the options that make a cache (window_size, stride, val_fraction, seed, scaler,
-- calibration, vocab_from) as fname at error level `level`; also what GraphDataModule checks
-- when it is made, so a configuration names a bad value before any data is read.
-- Why v cannot be a cache's window size, or nil.  The cache's edges are the reference's (rows
-- t -> t+1 for t = 1..W-2, docs/windows.md), so a window of 2 frames or fewer has none and
-- every window would be dropped after every capture was read; the largest is the window
-- builder's.
function M.window_size_problem(v)
  local range = string.format("must be an integer in 3..%d", S.MAX_WINDOW)
  if math.type(v) ~= "integer" then return range end
  if v < 3 then return range .. " (a window of 2 frames or fewer has no edge)" end
  if v > S.MAX_WINDOW then return range .. " (the largest window the graph builder takes)" end
  return nil
end

function M.check_options(fname, o, level)
  local wbad = M.window_size_problem(o.window_size)
  if wbad then
    error(fname .. ": window_size " .. wbad .. ", got " .. tostring(o.window_size), level)
  end
  if math.type(o.stride) ~= "integer" or o.stride < 1 then
    error(fname .. ": stride must be an integer >= 1, got " .. tostring(o.stride), level)
  end
  if not (type(o.val_fraction) == "number" and o.val_fraction >= 0 and o.val_fraction < 1) then
    error(fname .. ": val_fraction must be in [0, 1), got " .. tostring(o.val_fraction), level)
  end
  if math.type(o.seed) ~= "integer" then
    error(fname .. ": seed must be an integer, got " .. tostring(o.seed), level)
  end
  if o.scaler ~= "train" and o.scaler ~= "per_file" then
    error(fname .. ": scaler must be 'train' or 'per_file', got '" .. tostring(o.scaler) .. "'", level)
  end
  if not (type(o.calibration) == "number" and o.calibration > 0 and o.calibration <= 1) then
    error(fname .. ": calibration must be in (0, 1], got " .. tostring(o.calibration), level)
  end
  if o.vocab_from ~= "all" and o.vocab_from ~= "benign" then
    error(fname .. ": vocab_from must be 'all' or 'benign', got '" .. tostring(o.vocab_from) .. "'", level)
  end
  if o.scaler == "train" and o.calibration ~= 1.0 then
    error(fname .. ": calibration applies to scaler = 'per_file' only (got " .. tostring(o.calibration) ..
      " with scaler = 'train')", level)
  end
  if type(o.node_by_id) ~= "boolean" then
    error(fname .. ": node_by_id must be true or false, got " .. tostring(o.node_by_id), level)
  end
end

local function options(fname, opts)
  local o = U.options(fname, opts, DEFAULTS, 3)
  M.check_options(fname, o, 4)
  if not (type(o.lock_timeout) == "number" and o.lock_timeout >= 0) then
    error(fname .. ": lock_timeout must be a number of seconds >= 0, got " .. tostring(o.lock_timeout), 3)
  end
  -- -0.0 names the same cache as 0 (its folder name would print "-0")
  o.val_fraction = o.val_fraction + 0.0
  o.lake_root = catalog.lake_root(o)
  return o
end

local function say(o, fmt, ...)
  if o.log then
    o.log(string.format(fmt, ...))
  end
end

-- The folder name of a cache's parameters: every invariant of the build (the preprocessing
-- version is the folder above), so caches of several seeds, strides or graph modes live side
-- by side in one lake (each seed's train/val split, and with scaler = "train" its scaling, are
-- its own).  w100-s100-val0.2-seed42-vocab_all-node_fold-scaler_train.
local function num(v)
  local s = string.format("%.6g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end -- 0.1 + 0.2 is not 0.3's folder
  return s
end

local function variant_of(o)
  return string.format("w%d-s%d-val%s-seed%d-vocab_%s-%s-%s", o.window_size, o.stride,
    num(o.val_fraction), o.seed, o.vocab_from, o.node_by_id and "node_by_id" or "node_fold",
    o.scaler == "per_file" and ("scaler_per_file_" .. num(o.calibration)) or "scaler_train")
end

function M.cache_variant(opts)
  return variant_of(options("cache_variant", opts))
end

-- (the name is one folder name, catalog.name_problem: "../v1/x" would name a folder outside
-- <lake_root>/cache/v<version>, "x/.." another dataset's)
local function dir_of(dataset, o)
  local bad = catalog.name_problem(dataset)
  if bad then error(bad, 0) end
  return gio.join(o.lake_root, "cache", "v" .. M.PREPROCESSING_VERSION, dataset, variant_of(o))
end

-- <lake_root>/cache/v<version>/<dataset>/<variant>
function M.cache_dir(dataset, opts)
  return dir_of(dataset, options("cache_dir", opts))
end

-- The cache options of opts (a data module's, a command's), any other key left out.
local function pick(opts)
  local o = {}
  for k in pairs(DEFAULTS) do o[k] = opts and opts[k] end
  return o
end

-- Whether a load of dataset with opts (the cache options; any other key is ignored, so a data
-- module's options do) finds a complete cache to serve it without its catalog entry or its
-- captures, by the cheap facts only: the cache folder of these parameters holds its metadata,
-- which a build writes last.  For checks made before any data is read (a recipe's validation, a
-- pipeline's dry run); the load itself checks the rest.  true, or false and the file looked for.
function M.cache_ready(dataset, opts)
  local path = gio.join(dir_of(dataset, options("cache_ready", pick(opts))), "cache_metadata.json")
  if gio.exists(path) then return true end
  return false, path
end

-- ---------------------------------------------------------------- invariants

local INVARIANTS = { "preprocessing_version", "window_size", "stride", "val_fraction", "seed",
  "vocab_from", "node_by_id", "scaler", "calibration" }

-- A cache written before these options existed was built as their defaults say.
local LEGACY = { vocab_from = "all", node_by_id = false, scaler = "train", calibration = 1.0 }

-- The command that builds (verb) the cache of these options, to be pasted into a shell: the
-- roots in the --opt=VALUE form and quoted (a root starting with '-' or holding a space).
local function cli_command(verb, dataset, o)
  local quote = require("graphids.shell").quote
  local parts = { "graphids data " .. verb, "--dataset " .. dataset, "--lake-root=" .. quote(o.lake_root) }
  local root = catalog.data_root(o)
  if root then
    parts[#parts + 1] = "--data-root=" .. quote(root)
  else
    -- a dataset of real captures needs its root (one the catalog does not list is taken to be
    -- one): a placeholder the user sees to fill in
    local ok, info = pcall(catalog.dataset_info, dataset, o)
    if not (ok and info.simulated) then parts[#parts + 1] = "--data-root=DIR" end
  end
  -- the catalog a command finds the dataset in: the file given, or a placeholder when the
  -- default catalog lacks the entry these options resolve (a table's, or none at all)
  local cat, write_one = catalog.catalog_arg(dataset, o)
  if cat or write_one then parts[#parts + 1] = "--catalog=" .. (cat and quote(cat) or "FILE") end
  parts[#parts + 1] = string.format("--window-size %d --stride %d --val-fraction %s --seed %d",
    o.window_size, o.stride, num(o.val_fraction), o.seed)
  if o.vocab_from ~= "all" then
    parts[#parts + 1] = "--vocab-from " .. o.vocab_from
  end
  if o.node_by_id then
    parts[#parts + 1] = "--node-by-id"
  end
  if o.scaler ~= "train" then
    parts[#parts + 1] = "--scaler " .. o.scaler
  end
  if o.calibration ~= 1.0 then
    parts[#parts + 1] = "--calibration " .. num(o.calibration)
  end
  return table.concat(parts, " ")
end

local function requested(o)
  return { preprocessing_version = M.PREPROCESSING_VERSION, window_size = o.window_size,
    stride = o.stride, val_fraction = o.val_fraction, seed = o.seed, vocab_from = o.vocab_from,
    node_by_id = o.node_by_id, scaler = o.scaler, calibration = o.calibration }
end

-- The invariants a cache's metadata records, those of a cache written before an option existed
-- taken as LEGACY says: {preprocessing_version, window_size, stride, ..., calibration}.
function M.parameters(meta)
  local p = {}
  for _, k in ipairs(INVARIANTS) do
    p[k] = meta[k]
    if p[k] == nil then p[k] = LEGACY[k] end
  end
  return p
end

-- Raises when the stored metadata does not match the request, naming every difference.
local function check_invariants(dir, meta, dataset, o)
  if meta.metadata_schema_version ~= SCHEMA_VERSION then
    error(string.format("dataset cache %s has metadata schema %s, this graphids reads %d; rebuild " ..
      "it: %s", dir, tostring(meta.metadata_schema_version), SCHEMA_VERSION,
      cli_command("rebuild", dataset, o)), 0)
  end
  if meta.dataset ~= dataset then
    -- the folder name says which dataset a cache holds only by where it sits: a copied or
    -- renamed folder would load the other dataset's graphs under this one's name
    error(string.format("dataset cache %s holds dataset '%s', not '%s' (a folder copied or renamed " ..
      "by hand?); remove it or build it: %s", dir, json.printable(tostring(meta.dataset), 60), dataset,
      cli_command("rebuild", dataset, o)), 0)
  end
  local want, have, diffs = requested(o), M.parameters(meta), {}
  for _, k in ipairs(INVARIANTS) do
    if have[k] ~= want[k] then
      diffs[#diffs + 1] = string.format("%s=%s (requested %s)", k, tostring(have[k]), tostring(want[k]))
    end
  end
  if #diffs > 0 then
    error(string.format("dataset cache %s was built with %s; rebuild it: %s", dir,
      table.concat(diffs, ", "), cli_command("rebuild", dataset, o)), 0)
  end
end

-- The fields every reader of cache_metadata.json relies on, checked once where it is read: a
-- damaged or hand-edited file is named with the key at fault, not met as a nil deep in a
-- summary or a load.  (A file of another schema version is left to check_invariants, which
-- names the versions.)
local STAT_KEYS = { "min", "max", "mean", "p95", "p99" }

-- What a metadata error tells the user to do when the caller does not know the cache's
-- parameters (a listing).
local LISTED_FIX = "delete its folder or rebuild it: graphids data rebuild with the parameters its " ..
  "folder name lists"

local function check_metadata(path, meta, fix)
  -- (key may hold the file's own names: source_bytes' files, test set names)
  local function bad(key, want, v)
    error(string.format("dataset cache metadata %s: '%s' must be %s, got %s (a damaged file; %s)", path,
      json.printable(key, 200), want, v == nil and "nothing" or U.describe(v), fix), 0)
  end
  if type(meta) ~= "table" or json.is_array(meta) then bad("(the document)", "an object", meta) end
  local version = meta.metadata_schema_version
  if math.type(version) ~= "integer" then bad("metadata_schema_version", "an integer", version) end
  if version ~= SCHEMA_VERSION then
    error(string.format("dataset cache metadata %s has metadata schema %d, this graphids reads %d; %s", path,
      version, SCHEMA_VERSION, fix), 0)
  end
  local function int(key, v, min)
    if math.type(v) ~= "integer" or v < min then bad(key, "an integer >= " .. min, v) end
  end
  for _, k in ipairs({ "window_size", "stride", "num_ids" }) do int(k, meta[k], 1) end
  int("seed", meta.seed, math.mininteger)
  if type(meta.val_fraction) ~= "number" then bad("val_fraction", "a number", meta.val_fraction) end
  for _, k in ipairs({ "dataset", "vocab_digest", "preprocessing_version" }) do
    if type(meta[k]) ~= "string" then bad(k, "a string", meta[k]) end
  end
  local tests = meta.test_sets
  if type(tests) ~= "table" or (next(tests) ~= nil and not json.is_array(tests)) then
    bad("test_sets", "a list of names", tests)
  end
  if type(meta.splits) ~= "table" or json.is_array(meta.splits) then
    bad("splits", "an object", meta.splits)
  end
  -- (absent from caches built before it was recorded: their captures are not checked)
  local sb = meta.source_bytes
  if sb ~= nil then
    if type(sb) ~= "table" or (next(sb) ~= nil and json.is_array(sb)) then
      bad("source_bytes", "an object of capture file -> bytes", sb)
    end
    for k, v in pairs(sb) do
      if type(k) ~= "string" then bad("source_bytes", "an object of capture file -> bytes", sb) end
      int("source_bytes." .. k, v, 0)
    end
  end
  local names = { "train", "val" }
  for i, t in ipairs(tests) do
    if type(t) ~= "string" then bad("test_sets[" .. i .. "]", "a name", t) end
    names[#names + 1] = t
  end
  for _, name in ipairs(names) do
    local sp, key = meta.splits[name], "splits." .. name
    if type(sp) ~= "table" then bad(key, "an object", sp) end
    int(key .. ".num_graphs", sp.num_graphs, 0)
    -- a file name in the cache folder (val's may be absent: no validation split); read, a list
    -- or a path stopped every reader with an io.join error naming neither the cache nor the key
    if (name ~= "val" or sp.file ~= nil) and
      (type(sp.file) ~= "string" or not sp.file:match("^[%w_%-][%w_%-%.]*$")) then
      bad(key .. ".file", "a file name in the cache folder", sp.file)
    end
    if type(sp.attack_balance) ~= "table" or json.is_array(sp.attack_balance) then
      bad(key .. ".attack_balance", "an object", sp.attack_balance)
    end
    for k, v in pairs(sp.attack_balance) do -- counts (the summary prints them)
      if type(k) ~= "string" then bad(key .. ".attack_balance", "an object of counts", sp.attack_balance) end
      int(key .. ".attack_balance." .. k, v, 0)
    end
    for _, c in ipairs({ "node_count", "edge_count" }) do
      local st = type(sp.graph_stats) == "table" and sp.graph_stats[c] or nil
      for _, k in ipairs(STAT_KEYS) do
        local v = type(st) == "table" and st[k] or nil
        local sk = key .. ".graph_stats." .. c .. "." .. k
        if k == "min" or k == "max" then
          int(sk, v, 0) -- counts
        elseif type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
          bad(sk, "a finite number >= 0", v)
        end
      end
    end
  end
end

-- fix: what the error tells the user to do (the rebuild command, when the caller knows the
-- cache's parameters).
local function read_metadata(dir, fix)
  fix = fix or LISTED_FIX
  local path = gio.join(dir, "cache_metadata.json")
  if not gio.exists(path) then
    return nil
  end
  local meta, err = json.read_file(path)
  if meta == nil then
    -- (a file cut short or overwritten: the same way out as a damaged field)
    error(string.format("dataset cache metadata %s (%s)", err, fix), 0)
  end
  check_metadata(path, meta, fix)
  return meta
end

-- The first file of a cache (those the metadata names, vocab.json, scaler.safetensors) that is
-- missing, or nil when every one exists.
local function missing_file(dir, meta)
  local names = {}
  for _, s in pairs(meta.splits or {}) do
    if s.file then names[#names + 1] = s.file end
  end
  table.sort(names)
  names[#names + 1], names[#names + 2] = "vocab.json", "scaler.safetensors"
  for _, n in ipairs(names) do
    if not gio.exists(gio.join(dir, n)) then return n end
  end
  return nil
end

local function complete(dir, meta)
  return missing_file(dir, meta) == nil
end

-- ---------------------------------------------------------------- build

-- "<sub-folder>/<file>" -> bytes of every capture of a resolved dataset (train and tests): what
-- the metadata records, so that a cache of captures since changed, added, removed or read from
-- another data root is found stale (catalog.stale_cache).
function M.source_bytes(ds)
  local out = {}
  for _, f in ipairs(ds.train) do out[f.name] = f.size end
  for _, t in ipairs(ds.tests) do
    for _, f in ipairs(t.files) do out[f.name] = f.size end
  end
  return json.object(out)
end

local function utc_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

local function resolve(dataset, o)
  return catalog.resolve_dataset(dataset, { data_root = o.data_root, lake_root = o.lake_root,
    catalog = o.catalog })
end

-- ds: the resolved captures, or nil to resolve them here.
local function build_locked(dataset, ds, dir, o)
  local t0, wall0 = os.clock(), graphids.clock()
  ds = ds or resolve(dataset, o)
  say(o, "building %s from %s (%d train files, %d test sets)", dataset, ds.dir, #ds.train, #ds.tests)
  local meta = {
    metadata_schema_version = SCHEMA_VERSION, format = "graphids-dataset-cache", dataset = dataset,
    source = ds.source, raw_dir = ds.dir, built_at = utc_now(), graphids_version = graphids.__version,
    preprocessing_version = M.PREPROCESSING_VERSION, window_size = o.window_size, stride = o.stride,
    val_fraction = o.val_fraction, seed = o.seed, vocab_from = o.vocab_from,
    node_by_id = o.node_by_id, scaler = o.scaler, calibration = o.calibration,
    node_features = 35, edge_features = 11,
    attack_types = {}, splits = {}, source_bytes = M.source_bytes(ds),
  }
  for code = 0, #catalog.ATTACK_TYPES do
    meta.attack_types[tostring(code)] = catalog.ATTACK_TYPES[code]
  end

  -- train + val: one set, split by index
  local frames, codes, names, rows = read_split(ds.train)
  local vocab = make_vocab(frames, o)
  local set = build_set(frames, codes, names, vocab, o)
  free_frames(frames)
  if set.num_graphs == 0 then
    error(string.format("dataset '%s': the train captures give no graph with window_size=%d, " ..
      "stride=%d %s", dataset, o.window_size, o.stride, NO_GRAPH_HINT), 0)
  end
  local train_index, val_index = split(set.num_graphs, o)
  local sc = fit_scaler(set, train_index)
  apply_scaling(set, sc, o)
  local bytes = save_set(gio.join(dir, "train.safetensors"), set,
    { train_index = train_index, val_index = val_index }, { source_files = json.encode(json.array(names)) })
  local tr = split_stats(set, train_index)
  tr.file, tr.index, tr.source_files, tr.raw_rows, tr.bytes_on_disk =
    "train.safetensors", "train_index", json.array(names), rows, bytes
  local va = split_stats(set, val_index)
  va.file, va.index, va.derived_from = "train.safetensors", "val_index", "train"
  meta.splits.train, meta.splits.val = tr, va
  free_set(set)
  say(o, "train: %d graphs (%d train, %d val)", tr.num_graphs + va.num_graphs, tr.num_graphs, va.num_graphs)

  -- vocabulary and scaler
  local vocab_doc = { entries = json.object(vocab:to_entries()), ids = json.array(vocab.ids),
    digest = vocab.digest, num_ids = vocab.num_ids, unk_index = 0 }
  assert(gio.write_json(gio.join(dir, "vocab.json"), vocab_doc))
  meta.vocab_digest = vocab.digest
  meta.num_ids = vocab.num_ids
  meta.num_arb_ids = vocab.num_ids
  assert(gio.save_safetensors(gio.join(dir, "scaler.safetensors"), sc:to_table(),
    { format = "graphids-scaler", fitted_on = "train_index" }))

  -- one set per present test sub-folder, same vocabulary and scaler
  for _, t in ipairs(ds.tests) do
    local tframes, tcodes, tnames, trows = read_split(t.files)
    local tset = build_set(tframes, tcodes, tnames, vocab, o)
    free_frames(tframes)
    if tset.num_graphs == 0 then
      -- a test set without graphs has no metrics: every later test of it would fail or mislead
      free_set(tset)
      error(string.format("dataset '%s': test set %s gives no graph with window_size=%d, stride=%d %s",
        dataset, t.name, o.window_size, o.stride, NO_GRAPH_HINT), 0)
    end
    apply_scaling(tset, sc, o)
    local file = "test_" .. t.name .. ".safetensors"
    local tb = save_set(gio.join(dir, file), tset, nil, { source_files = json.encode(json.array(tnames)) })
    local st = split_stats(tset)
    st.file, st.source_files, st.raw_rows, st.bytes_on_disk = file, json.array(tnames), trows, tb
    meta.splits[t.name] = st
    free_set(tset)
    say(o, "%s: %d graphs", t.name, st.num_graphs)
  end
  meta.test_sets = {}
  for i, t in ipairs(ds.tests) do
    meta.test_sets[i] = t.name
  end
  meta.test_sets = json.array(meta.test_sets)
  meta.build_cpu_seconds = os.clock() - t0
  meta.build_wall_seconds = graphids.clock() - wall0
  assert(gio.write_json(gio.join(dir, "cache_metadata.json"), meta))
  return meta
end

local function lock_dir(dir, exclusive, o)
  assert(gio.mkdir_p(dir))
  local lk, err, code = gio.lock(gio.join(dir, ".lock"), { exclusive = exclusive, timeout = o.lock_timeout })
  if lk == nil then
    -- only a lock that is held (ESTATE) means another build; anything else (a read-only folder)
    -- says why
    local hint = code == "ESTATE" and " (another build is running?)" or ""
    error(string.format("dataset cache %s: %s%s", dir, err, hint), 0)
  end
  return lk
end

-- The folders of path (deepest first, path included) that do not exist yet.
local function missing_dirs(path)
  local out = {}
  while path ~= "" and path ~= "." and path ~= "/" and not gio.is_dir(path) do
    out[#out + 1] = path
    path = path:match("^(.*)/[^/]*$") or ""
  end
  return out
end

local memo = {}

local function memo_key(dataset, o)
  return dir_of(dataset, o)
end


-- Moves a complete build from staging into dir, replacing what was there.  The metadata marks a
-- cache complete, so the old one's goes first and the new one's last: a crash in between leaves
-- an incomplete cache (rebuilt on next use), never a mix that looks usable.
local function install(dir, staging)
  local meta = "cache_metadata.json"
  assert(gio.remove_tree(gio.join(dir, meta)))
  for _, n in ipairs(assert(gio.list_dir(dir))) do
    if n ~= ".lock" and n ~= ".building" then assert(gio.remove_tree(gio.join(dir, n))) end
  end
  local names = assert(gio.list_dir(staging))
  table.sort(names, function(a, b) return (a == meta) == (b == meta) and a < b or b == meta end)
  for _, n in ipairs(names) do
    local ok, err = os.rename(gio.join(staging, n), gio.join(dir, n))
    if not ok then error(string.format("dataset cache %s: cannot move %s into place: %s", dir, n, err), 0) end
  end
  assert(gio.remove_tree(staging))
end

-- The error of a load or build that needs a build (what: why; verb: "build" or "rebuild") of a
-- dataset the catalog does not list: only a complete, unchanged cache serves it.
local function unlisted(dataset, o, what, verb)
  return string.format("%s; dataset '%s' is not in the dataset catalog (known datasets: %s), so no cache " ..
    "of it can be built: give the catalog that lists it (the catalog option, data.init_args.catalog or " ..
    "$GRAPHIDS_CATALOG), or %s it with that catalog: %s", what, dataset,
    table.concat(catalog.dataset_names(o), ", "), verb, cli_command(verb, dataset, o))
end

-- The error of a load or build of a dataset the catalog does not list that found at dir no
-- complete cache to serve it (okm, meta: read_metadata's pcall; o.force: a rebuild asked for).
local function unlisted_need(dataset, o, dir, okm, meta)
  local what
  if not okm then
    what = tostring(meta)
  elseif meta == nil then
    what = string.format("no dataset cache at %s (it holds no cache_metadata.json)", dir)
  elseif o.force then
    what = "a rebuild of the dataset cache " .. dir .. " was asked for"
  else
    what = string.format("the dataset cache %s is incomplete (its %s is missing)", dir,
      missing_file(dir, meta))
  end
  return unlisted(dataset, o, what, (okm and meta == nil) and "build" or "rebuild")
end

-- build_cache(dataset, opts) -> metadata.  Builds unless a complete cache with the same
-- invariants exists (opts.force = true rebuilds).  opts: data_root, lake_root, catalog,
-- window_size=100, stride=100, val_fraction=0.2, seed=42, vocab_from="all", node_by_id=false,
-- lock_timeout=600 (s), log (function).
function M.build_cache(dataset, opts)
  local o = options("build_cache", opts)
  -- A dataset the catalog does not list is served by its cache alone, as a load serves it
  -- (load_cache): one that is complete and of unchanged captures is up to date, anything else is
  -- refused as a load refuses it.  Without a cache, an unknown name is named with the known ones.
  local listed = catalog.dataset_catalog(o)[dataset] ~= nil
  if not listed and not M.cache_ready(dataset, o) then catalog.dataset_info(dataset, o) end
  local dir = dir_of(dataset, o)
  -- A first build finds the captures before it makes the cache folder, so a wrong data root or
  -- a missing train folder leaves no empty folder behind.  (An existing cache is checked first:
  -- one that is up to date needs no captures.)
  local ds = not gio.is_dir(dir) and resolve(dataset, o) or nil
  local made = missing_dirs(dir)
  local _ <close> = lock_dir(dir, true, o)
  -- (a rebuild replaces a cache whose metadata is damaged; a plain build names the damage)
  local okm, meta = pcall(read_metadata, dir, "rebuild it: " .. cli_command("rebuild", dataset, o))
  if not okm and not o.force then error(meta, 0) end
  if meta and okm and not o.force then
    check_invariants(dir, meta, dataset, o)
    if not listed then
      local _, refused = M.captures_check(dataset, o, meta)
      if refused then error(refused, 0) end
    end
    if complete(dir, meta) then
      -- what a load would refuse is no cache up to date: named, as damaged metadata is
      local opened, problems = C.open_files(dir, meta)
      C.close(opened)
      if #problems > 0 then
        error(string.format("dataset cache %s: %s; rebuild it: %s", dir, problems[1],
          cli_command("rebuild", dataset, o)), 0)
      end
      -- a rebuild killed mid-way left its staging folder: under this lock no build is running
      assert(gio.remove_tree(gio.join(dir, ".building")))
      say(o, "cache %s is up to date", dir)
      return meta
    end
  end
  if not listed then error(unlisted_need(dataset, o, dir, okm, meta), 0) end
  memo[memo_key(dataset, o)] = nil
  -- Built in <dir>/.building and moved in only when complete: a failed rebuild (a data root
  -- that is gone, a malformed capture) keeps the cache that was there, and no failure leaves a
  -- half-built cache that looks usable.
  local staging = gio.join(dir, ".building")
  assert(gio.remove_tree(staging))
  assert(gio.mkdir_p(staging))
  local ok, res = pcall(build_locked, dataset, ds, staging, o)
  if not ok then
    gio.remove_tree(staging)
    if #made > 0 then
      -- a failed first build leaves the lake as it found it: the folders it made go, the cache
      -- folder with its lock file.  (A second first build waiting on that lock gets it on the
      -- removed file and builds on; only a third arriving meanwhile could overlap it.)
      gio.remove_tree(dir)
      for i = 2, #made do os.remove(made[i]) end -- each only when empty
    end
    error(res, 0)
  end
  install(dir, staging)
  return res
end

-- rebuild_cache(dataset, opts): build_cache with force = true.
function M.rebuild_cache(dataset, opts)
  local o = {}
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  o.force = true
  return M.build_cache(dataset, o)
end

-- The metadata of an existing cache, or nil, message.
function M.inspect_cache(dataset, opts)
  local o = options("inspect_cache", opts)
  local dir = dir_of(dataset, o)
  local ok, meta = pcall(read_metadata, dir, "rebuild it: " .. cli_command("rebuild", dataset, o))
  if not ok then
    return nil, meta
  end
  if meta == nil then
    return nil, "no dataset cache at " .. dir .. "; build it: " .. cli_command("build", dataset, o)
  end
  -- (what a load would refuse, inspect names too)
  local okc, cerr = pcall(check_invariants, dir, meta, dataset, o)
  if not okc then return nil, tostring(cerr) end
  return meta, dir
end

-- What is wrong with a cache whose metadata reads, without loading its data: the folder's name
-- against the metadata, and every check of the files a load makes short of reading the graphs
-- (cache_check.open_files: vocabulary, files present and of the recorded size, their headers,
-- graph and index counts, captures).  A list of messages, empty when none.
function M.cache_problems(dir, meta)
  local out = {}
  -- the folder's names say which dataset and parameters it holds: metadata that says other
  -- ones is a folder copied or renamed by hand, which a load refuses
  local variant, dataset = dir:match("([^/]+)$"), dir:match("([^/]+)/[^/]+$")
  local okv, want = pcall(variant_of, M.parameters(meta))
  if okv and variant ~= want then
    out[#out + 1] = string.format("its folder is named %s but its metadata says %s (copied or renamed " ..
      "by hand?)", variant, want)
  end
  if meta.dataset ~= dataset then
    out[#out + 1] = string.format("it sits under dataset %s but its metadata says %s", tostring(dataset),
      tostring(meta.dataset))
  end
  local opened, problems = C.open_files(dir, meta)
  C.close(opened)
  table.move(problems, 1, #problems, #out + 1, out)
  return out
end

-- Every cache folder under the lake root holding metadata, of one dataset (opts.dataset) or
-- all: {dataset, variant, dir, metadata, problems} rows sorted by dataset, then variant
-- (metadata nil when it does not read; problems: cache_problems, or why it does not read).
-- opts: lake_root, dataset.
function M.list_caches(opts)
  opts = opts or {}
  local bad = opts.dataset ~= nil and catalog.name_problem(opts.dataset)
  if bad then error("list_caches: " .. bad, 2) end
  local root = gio.join(catalog.lake_root({ lake_root = opts.lake_root }), "cache",
    "v" .. M.PREPROCESSING_VERSION)
  local function sorted_dirs(dir)
    local names = {}
    for _, n in ipairs(gio.list_dir(dir) or {}) do
      if n:sub(1, 1) ~= "." and gio.is_dir(gio.join(dir, n)) then names[#names + 1] = n end
    end
    table.sort(names)
    return names
  end
  local rows = {}
  for _, ds in ipairs(opts.dataset and { opts.dataset } or sorted_dirs(root)) do
    if gio.exists(gio.join(root, ds, "cache_metadata.json")) then
      -- the layout before per-parameter folders: never read again, so say it takes disk
      rows[#rows + 1] = { dataset = ds, variant = "", dir = gio.join(root, ds), problems = {
        "a cache of the old layout (files straight in the dataset folder), unused since caches " ..
        "live in a folder per set of parameters: delete its files" } }
    end
    for _, v in ipairs(sorted_dirs(gio.join(root, ds))) do
      local dir = gio.join(root, ds, v)
      local ok, meta = pcall(read_metadata, dir)
      if not ok then
        rows[#rows + 1] = { dataset = ds, variant = v, dir = dir, problems = { tostring(meta) } }
      elseif meta ~= nil then
        rows[#rows + 1] = { dataset = ds, variant = v, dir = dir, metadata = meta,
          problems = M.cache_problems(dir, meta) }
      end
    end
  end
  return rows, root
end

-- The notes a load said, by cache folder and note: each is said once in a process (a pipeline
-- loads a cache for every stage).  clear_cache_memo forgets them.
local noted = {}

local function note_once(o, dir, msg)
  local key = dir .. "\0" .. msg
  if noted[key] then return end
  noted[key] = true
  if o.log then o.log(msg) else io.stderr:write("graphids: note: ", msg, "\n") end
end

-- The captures of the dataset cache that opts name against those it was built from
-- (catalog.stale_cache), in the words every reader of it says them (a load, `graphids data
-- build` and `inspect`): stale, why it was built from other captures (nil when it was not);
-- refused, the error for it when it cannot be rebuilt (a dataset the catalog does not list),
-- else nil; unchecked, the note that its captures could not be compared and why, else nil.
-- meta: the cache's metadata when the caller has read it already.
function M.captures_check(dataset, opts, meta)
  local o = options("captures_check", pick(opts))
  local stale, dir, skipped = catalog.stale_cache(dataset, o, meta)
  local refused = stale and catalog.dataset_catalog(o)[dataset] == nil and
    unlisted(dataset, o, stale, "rebuild") or nil
  local unchecked = skipped and string.format("dataset cache %s is used without checking that its " ..
    "captures are unchanged: %s", dir, skipped) or nil
  return stale, refused, unchecked
end

-- load_cache(dataset, opts) -> DatasetCache (memoised per lake root, dataset and parameters).
-- Builds first when there is no cache, and rebuilds a sound one built from other captures than
-- the catalog resolves now (catalog.stale_cache: captures changed since, memoised or not), with
-- a warning through opts.log (else on stderr); opts.build = false makes either an error.
-- A dataset the catalog does not list (a catalog no longer given, a folder of one's own) is
-- served by its cache alone: one that is complete, passes every check of a load, and whose
-- captures are those its metadata records (or are not there to compare); it cannot be built.
-- When the captures cannot be compared (no data root, a folder not mounted) the load says so
-- once, through opts.log (else on stderr), and goes on.
function M.load_cache(dataset, opts)
  local o = options("load_cache", opts)
  local key = memo_key(dataset, o)
  local dir = dir_of(dataset, o)
  local fix = "rebuild it: " .. cli_command("rebuild", dataset, o)
  local listed = catalog.dataset_catalog(o)[dataset] ~= nil
  -- (damaged metadata: force rebuilds it, anything else names it)
  local okm, meta = pcall(read_metadata, dir, fix)
  if not okm and not o.force then error(meta, 0) end
  -- The one place a load checks its captures (stage.build and training code both load through
  -- here), after what names a damaged or misplaced cache: that is refused, not rebuilt.
  if okm and meta ~= nil and not o.force then
    check_invariants(dir, meta, dataset, o)
    local stale, refused, unchecked = M.captures_check(dataset, o, meta)
    if unchecked then note_once(o, dir, unchecked) end
    if refused then error(refused, 0) end
    if stale and not o.build then error(stale .. "; " .. fix, 0) end
    if stale then
      catalog.say_rebuilding(stale, o.log)
      o.force = true
    end
  end
  if memo[key] and not o.force then
    return memo[key]
  end
  if not okm or meta == nil or o.force or not complete(dir, meta) then
    if not listed then error(unlisted_need(dataset, o, dir, okm, meta), 0) end
    if not o.build then
      error("no dataset cache at " .. dir .. "; build it: " .. cli_command("build", dataset, o), 0)
    end
    M.build_cache(dataset, o)
  end
  local _ <close> = lock_dir(dir, false, o)
  meta = read_metadata(dir, fix)
  if meta == nil then
    error("dataset cache " .. dir .. " vanished while loading; " .. cli_command("build", dataset, o), 0)
  end
  check_invariants(dir, meta, dataset, o)
  local function refuse(problem)
    error(string.format("dataset cache %s: %s; rebuild it: %s", dir, problem,
      cli_command("rebuild", dataset, o)), 0)
  end
  -- the files against the metadata (what inspect and build check too), then the values inside
  local opened, problems = C.open_files(dir, meta)
  if #problems > 0 then
    C.close(opened)
    refuse(problems[1])
  end
  local function values(set, file, extra)
    local p = C.check_values(set, file, meta.num_ids, extra)
    if p then
      C.close(opened)
      refuse(p)
    end
    return set
  end
  local extra = opened.extra
  local c = {
    dataset = dataset, dir = dir, metadata = meta, num_ids = meta.num_ids,
    train = values(opened.train, meta.splits.train.file, extra),
    train_index = extra.train_index, val_index = extra.val_index, tests = {}, test_names = {},
    vocab = opened.vocab,
  }
  for i, name in ipairs(meta.test_sets or {}) do
    c.test_names[i] = name
    c.tests[name] = values(opened.tests[name], meta.splits[name].file)
  end
  memo[key] = c
  return c
end

-- Forgets loaded caches (their tensors go when nothing else holds them).
function M.clear_cache_memo()
  memo, noted = {}, {}
end

return M
