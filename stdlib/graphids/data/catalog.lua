-- graphids.data.catalog -- the dataset catalog (recipes/datasets.lua), the attack-type rule and
-- the data/lake roots (merged into graphids.data).
--   local data = require "graphids.data"
--   data.dataset_names()                                   --> {"hcrl_ch", "hcrl_sa", ...}
--   local ds = data.resolve_dataset("hcrl_sa", {data_root = "/data/can"})
--   ds.train[1].path, ds.train[1].attack_type, ds.tests[1].name, ds.tests[1].files
--   data.attack_type_of("set_01/test_04/systematic-4.csv")  --> 9, "systematic"
--
-- Attack types: a capture's type comes from its file name, else its folders' names (innermost
-- first).  The name is lower-cased and cut into tokens at '-', '_', '.', ' ' (so
-- "untargeted_payload_fuzzing" never matches "targeted_payload_fuzzing"); the first rule of
-- ATTACK_RULES whose token sequence occurs in it wins; no match is 0 (normal).  Multi-token
-- rules come first, attacks before driving states, so "rpm-accessory-1" is rpm (4): accessory
-- is a driving state, not an attack.
local gio = require "graphids.io"
local json = require "graphids.json"
local paths = require "graphids.paths"
local U = require "graphids.nn._util"
local errors = require "graphids.errors"

local M = {}

-- code -> name; codes 0..6 are the reference's (can_bus.py ATTACK_TYPE_CODES), 7.. ours.
M.ATTACK_TYPES = {
  [0] = "normal", "dos", "fuzzing", "gear", "rpm", "flooding", "malfunction",
  "targeted_payload_fuzzing", "untargeted_payload_fuzzing", "systematic", "standstill", "speed",
  "masquerade", "suppress", "replay", "suspension",
}

-- { token sequence, code } in priority order.
local ATTACK_RULES = {
  { { "untargeted", "payload", "fuzzing" }, 8 },
  { { "targeted", "payload", "fuzzing" }, 7 },
  { { "attack", "free" }, 0 },
  { { "dos" }, 1 },
  { { "fuzzy" }, 2 },
  { { "fuzzing" }, 2 },
  { { "fuzz" }, 2 }, -- the J1939 attack data's fuzz_1ms_ID_and_Data.log
  { { "gear" }, 3 },
  { { "rpm" }, 4 },
  { { "flooding" }, 5 },
  { { "malfunction" }, 6 },
  { { "systematic" }, 9 },
  { { "standstill" }, 10 },
  { { "speed" }, 11 },
  { { "masquerade" }, 12 },
  { { "suppress" }, 13 },
  { { "replay" }, 14 },
  { { "suspension" }, 15 },
  { { "normal" }, 0 },
  { { "benign" }, 0 },
  { { "accessory" }, 0 },
}
M.ATTACK_RULES = ATTACK_RULES

local function tokens(name)
  local t = {}
  for tok in name:lower():gmatch("[^%-_%. ]+") do
    t[#t + 1] = tok
  end
  return t
end

local function has_sequence(toks, seq)
  for i = 1, #toks - #seq + 1 do
    local ok = true
    for j = 1, #seq do
      if toks[i + j - 1] ~= seq[j] then
        ok = false
        break
      end
    end
    if ok then
      return true
    end
  end
  return false
end

-- code, rule name for one name (a file stem or a folder name), or nil when no rule matches.
local function match_name(name)
  local toks = tokens(name)
  for _, rule in ipairs(ATTACK_RULES) do
    if has_sequence(toks, rule[1]) then
      return rule[2], table.concat(rule[1], "_")
    end
  end
  return nil
end

-- code, type name of a capture at path: its file name first, then its folders, the innermost
-- first (a capture a test folder holds in a folder of its own, test_01_DoS/kia/capture.csv,
-- is its test folder's type).  The catalog passes the capture's name, its path under the
-- dataset's folder, so folders above the dataset never decide.
local function type_of(path)
  local parts = {}
  for p in path:gmatch("[^/]+") do parts[#parts + 1] = p end
  local code = match_name(((parts[#parts] or ""):gsub("%.[^.]*$", "")))
  for i = #parts - 1, 1, -1 do
    if code ~= nil then break end
    code = match_name(parts[i])
  end
  return code
end

function M.attack_type_of(path)
  assert(type(path) == "string", "attack_type_of: path must be a string")
  local code = type_of(path) or 0
  return code, M.ATTACK_TYPES[code]
end

-- True when a rule names the capture at path normal traffic (attack-free, normal, benign, a
-- driving state), by its file name or a folder's; false when a rule names an attack or none
-- matches (code 0 by default only).  A capture without labels is all normal traffic only when
-- its name says so (cache_sets.read_split).
function M.named_normal(path)
  assert(type(path) == "string", "named_normal: path must be a string")
  return type_of(path) == 0
end

-- The code of a type name ("dos" -> 1); nil when unknown.
function M.attack_type_code(name)
  for code = 0, #M.ATTACK_TYPES do
    if M.ATTACK_TYPES[code] == name then
      return code
    end
  end
  return nil
end

-- ---------------------------------------------------------------- names and entries

-- Why name cannot be a dataset name, or nil.  A dataset name is one folder name: it names
-- <data_root>/<name>, the runs' <lake_root>/<name>/..., the cache's and the raw captures'
-- folders, and "../x" or "a/b" would put them outside the lake.
function M.name_problem(name)
  if type(name) ~= "string" then
    return "a dataset name must be a string, got " .. U.describe(name)
  end
  if name == "" or name == "." or name == ".." or not name:match("^[A-Za-z0-9_.%-]+$") then
    return string.format("dataset name '%s' is not one folder name (letters, digits, '_', '-' and '.'; " ..
      "not '.' or '..')", name)
  end
  return nil
end

-- The keys of a catalog entry and what each must be (check_entry).
local ENTRY_KEYS = { source = U.NONE, train = U.NONE, test = U.NONE, simulated = U.NONE, frames = U.NONE,
  seed = U.NONE }

-- Why sub-folder list v (an entry's train or test) is not one, or nil: non-empty strings, each
-- one folder name of the dataset's folder.
local function folders_problem(v, key, non_empty)
  local want = "a list of sub-folder names" .. (non_empty and " (at least one)" or "")
  if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then
    return string.format("'%s' must be %s, got %s", key, want, U.describe(v))
  end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      return string.format("'%s' must be %s, got %s", key, want, U.describe(v))
    end
  end
  if non_empty and n == 0 then
    return string.format("'%s' must be %s, got an empty list", key, want)
  end
  for i, f in ipairs(v) do
    if type(f) ~= "string" or f == "" or f == "." or f == ".." or f:find("/", 1, true) then
      return string.format("'%s[%d]' must be one sub-folder name (no '/', not '.' or '..'), got %s", key, i,
        U.describe(f))
    end
  end
  return nil
end

-- Why catalog entry e (at dotted path key) is not one, or nil: known keys only (a misspelt
-- "frams" would silently leave the simulator's default), each of its type.
local function entry_problem(e, key)
  if type(e) ~= "table" or e[1] ~= nil then
    return string.format("'%s' must be a table of keys (train, test, source, simulated, frames, seed), " ..
      "got %s", key, U.describe(e))
  end
  local ok, err = pcall(U.options, "entry", e, ENTRY_KEYS)
  if not ok then
    local bad, rest = tostring(err):match("unknown option '([^']*)'(.*)$")
    rest = (rest or ""):gsub("did you mean '([^']*)'", "did you mean '" .. key .. ".%1'")
    return string.format("unknown key '%s.%s'%s", key, tostring(bad), rest)
  end
  local p = folders_problem(e.train, key .. ".train", true)
  if p then return p end
  if e.test ~= nil then
    p = folders_problem(e.test, key .. ".test", false)
    if p then return p end
  end
  -- a folder named twice would be read twice, or be both a train and a test folder
  local named = {}
  for _, k in ipairs({ "train", "test" }) do
    for i, f in ipairs(e[k] or {}) do
      local at = string.format("%s.%s[%d]", key, k, i)
      if named[f] then
        return string.format("'%s' names the sub-folder '%s', which '%s' names already", at, f, named[f])
      end
      named[f] = at
    end
  end
  if e.source ~= nil and type(e.source) ~= "string" then
    return string.format("'%s.source' must be a string, got %s", key, U.describe(e.source))
  end
  if e.simulated ~= nil and type(e.simulated) ~= "boolean" then
    return string.format("'%s.simulated' must be true or false, got %s", key, U.describe(e.simulated))
  end
  -- (integral floats are integers: a catalog read back from JSON writes 1500 as 1500.0)
  for _, k in ipairs({ "frames", "seed" }) do
    local v, lo = e[k], k == "frames" and 1 or 0
    if v ~= nil and not (type(v) == "number" and v == math.floor(v) and v >= lo and v < 2 ^ 53) then
      return string.format("'%s.%s' must be an integer >= %d, got %s", key, k, lo, U.describe(v))
    end
  end
  return nil
end

-- Why cat is not a dataset catalog, or nil: a table of dataset name -> entry, every name one
-- folder name (name_problem), every entry of known keys and types.  prefix: the dotted path
-- that names the catalog in the message ("data.init_args.catalog"), "" for none.
function M.catalog_problem(cat, prefix)
  prefix = prefix or ""
  local function at(name) return prefix == "" and name or (prefix .. "." .. name) end
  local where = prefix == "" and "the catalog" or ("'" .. prefix .. "'")
  if type(cat) ~= "table" or cat[1] ~= nil then
    return string.format("%s must be a table of dataset name -> entry, got %s", where, U.describe(cat))
  end
  local names = {}
  for name in pairs(cat) do
    if type(name) ~= "string" then
      return string.format("%s holds the key %s: dataset names are strings", where, tostring(name))
    end
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = M.name_problem(name)
    if p then return string.format("%s: %s", where, p) end
    p = entry_problem(cat[name], at(name))
    if p then return p end
  end
  return nil
end

-- ---------------------------------------------------------------- the catalog file

local function default_catalog_path()
  local env = os.getenv("GRAPHIDS_CATALOG")
  if env and env ~= "" then
    return env
  end
  local root = paths.recipes_root()
  return root and (root .. "/datasets.lua") or package.searchpath("recipes.datasets", "./?.lua")
end

-- The file dataset_catalog reads for opts: opts.catalog when it is a path, the default
-- ($GRAPHIDS_CATALOG, else recipes/datasets.lua) when none is given; nil for a table.
function M.catalog_path(opts)
  local c = opts and opts.catalog
  if type(c) == "table" then return nil end
  return c or default_catalog_path()
end

local cached_catalog

-- The catalog table (name -> entry).  opts.catalog: a table, or a path to a Lua file returning
-- one (default recipes/datasets.lua of this source tree, or $GRAPHIDS_CATALOG).
function M.dataset_catalog(opts)
  local c = opts and opts.catalog
  if type(c) == "table" then
    local problem = M.catalog_problem(c, "")
    if problem then error("dataset catalog (the catalog option): " .. problem, 2) end
    return c
  end
  if c == nil and cached_catalog then
    return cached_catalog
  end
  if c ~= nil and type(c) ~= "string" then
    error("catalog must be a table or the path of a Lua file returning one, got " .. type(c), 2)
  end
  local path = c or default_catalog_path()
  if c ~= nil and not gio.exists(c) then
    error("dataset catalog " .. c .. " (the catalog option) does not exist", 2)
  end
  if path == nil or not gio.exists(path) then
    error("dataset catalog not found (looked for " .. tostring(path) ..
      "); set GRAPHIDS_CATALOG to recipes/datasets.lua", 2)
  end
  local chunk, err = loadfile(path, "t", {})
  if not chunk then
    error("dataset catalog " .. path .. ": " .. err, 2)
  end
  local cat = chunk()
  local problem = M.catalog_problem(cat, "")
  if problem then error("dataset catalog " .. path .. ": " .. problem, 2) end
  if c == nil then
    cached_catalog = cat
  end
  return cat
end

function M.dataset_names(opts)
  local names = {}
  for name in pairs(M.dataset_catalog(opts)) do
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

-- The catalog entry of name; an unknown name is an error listing the known ones.
function M.dataset_info(name, opts)
  local bad = M.name_problem(name)
  if bad then error(bad, 2) end
  local cat = M.dataset_catalog(opts)
  local entry = cat[name]
  if entry == nil then
    error(string.format("unknown dataset '%s'; known datasets: %s", name,
      table.concat(M.dataset_names(opts), ", ")), 2)
  end
  return entry
end

-- What a `graphids data` command needs as --catalog to find name's entry as opts do: opts.catalog
-- when it is a file that lists name; nil when the default catalog ($GRAPHIDS_CATALOG, else
-- recipes/datasets.lua) holds the entry opts resolve; else nil, true: a file the user must write
-- (a table's entry, or a dataset no catalog at hand lists), for the command to show as a
-- placeholder.
function M.catalog_arg(name, opts)
  local c = opts and opts.catalog
  local okw, given = pcall(M.dataset_catalog, opts)
  local want = okw and given[name] or nil
  if want == nil then return nil, true end
  if type(c) == "string" then return c end
  local okd, default = pcall(M.dataset_catalog, nil)
  local have = okd and default[name] or nil
  if have ~= nil and (want == have or json.encode(want) == json.encode(have)) then return nil end
  return nil, true
end

-- ---------------------------------------------------------------- roots

-- v, else $var, else default ("" counts as not given in both).
local function root_or_env(v, var, default)
  if v == nil or v == "" then
    v = os.getenv(var)
  end
  if v == nil or v == "" then
    v = default
  end
  return v
end

-- opts.data_root (--data-root or a config key), else $GRAPHIDS_DATA_ROOT; nil when neither.
function M.data_root(opts)
  return root_or_env(opts and opts.data_root, "GRAPHIDS_DATA_ROOT", nil)
end

-- opts.lake_root, else $GRAPHIDS_LAKE_ROOT, else "./lake".
function M.lake_root(opts)
  return root_or_env(opts and opts.lake_root, "GRAPHIDS_LAKE_ROOT", "lake")
end

-- ---------------------------------------------------------------- resolving a dataset

local CAPTURE_EXT = { csv = true, log = true }

-- Why the folder at path cannot be read (a permission refused on it or above it), or nil when
-- it can, or is simply not there: a folder this process may not read is named so, not reported
-- missing.
local function unreadable(path)
  local st, err = gio.stat(path)
  if st == nil and err ~= nil then return (tostring(err):gsub("^.*: ", "")) end
  if st ~= nil and st.type == "dir" then
    local ok, lerr = gio.list_dir(path)
    if ok == nil then return (tostring(lerr):gsub("^.*: ", "")) end
  end
  return nil
end

-- True when the entry at path is itself a symbolic link (resolve_links gives path back for
-- one that is not; a link above it, in the data root say, does not count).
local function is_link(path)
  local to = gio.resolve_links(path)
  return to ~= nil and to ~= path
end

-- The message for a folder or capture file (kind) reached by two paths, a and b ({path, role},
-- role "train" or "test", nil when unknown): which one is the symbolic link when one is (the
-- walk is sorted, so a link may be found before the folder it leads to); both named otherwise.
local function reached_twice(kind, a, b)
  local reason
  if kind == "folder" and b.path:sub(1, #a.path + 1) == a.path .. "/" then
    reason = "a loop: its captures would be read forever"
  elseif a.role and b.role and a.role ~= b.role then
    -- test leakage: a model trained on a capture scores well on it
    reason = kind == "folder" and "its captures would be both training and test captures" or
      "it would be both a training and a test capture"
  else
    reason = kind == "folder" and "its captures would be read twice" or "its frames would be read twice"
  end
  local la, lb = is_link(a.path), is_link(b.path)
  if la ~= lb then
    local link, real = la and a or b, la and b or a
    return string.format("%s %s is the %s %s again, through a symbolic link (%s): remove the link", kind,
      link.path, kind, real.path, reason)
  end
  if la then
    return string.format("%ss %s and %s are one %s, through symbolic links (%s): remove one of the links",
      kind, a.path, b.path, kind, reason)
  end
  if kind == "folder" then -- (no link: a bind mount; removing either would remove the captures)
    return string.format("folders %s and %s are one folder (%s)", a.path, b.path, reason)
  end
  return string.format("capture files %s and %s are one file, hard links (%s): remove one of the names",
    a.path, b.path, reason)
end

-- The capture files under folder dir, in its folders at any depth as the reference reads
-- <sub-folder>/**/*.csv, sorted by their path (bytewise); each {path, name, attack_type, size},
-- name being rel/<the path under dir>.  Entries whose name starts with '.' are skipped.  Every
-- other entry must resolve: a dangling link or one in a loop may be a folder of captures, so it
-- is named, not skipped; so is a folder or pipe named like a capture, an empty capture, and a
-- folder or capture file reached a second time (a symbolic link, a hard link: its captures would
-- be read twice, or forever, or be both training and test captures).  seen: device:inode -> {path,
-- role} of what was reached already, one table for all the sub-folders of a dataset (a link in a
-- test folder to a train folder is found); role: "train" or "test" (nil: not known).
local function list_captures(dir, rel, seen, role)
  local files = {}
  local function reach(kind, path, st)
    local id = string.format("%d:%d", st.device, st.inode)
    local here = { path = path, role = role }
    if seen[id] then error(reached_twice(kind, seen[id], here), 0) end
    seen[id] = here
  end
  local function walk(d, r, st)
    reach("folder", d, st)
    local names, lerr = gio.list_dir(d)
    if names == nil then
      error(string.format("folder %s cannot be read (%s)", d, tostring(lerr):gsub("^.*: ", "")), 0)
    end
    for _, n in ipairs(names) do
      local path, name = gio.join(d, n), gio.join(r, n)
      local est, serr
      if n:sub(1, 1) ~= "." then est, serr = gio.stat(path) end
      local ext = n:match("%.([^.]+)$")
      local capture = ext and CAPTURE_EXT[ext:lower()]
      if n:sub(1, 1) == "." then -- luacheck: ignore 542
        -- (hidden: skipped)
      elseif est == nil then
        -- listed but not there: a link to a file or folder that is gone would leave its
        -- captures out unseen
        error(string.format("%s %s cannot be read (%s)", capture and "capture file" or "entry", path,
          serr or "it is listed but does not resolve"), 0)
      elseif capture and est.type ~= "file" then
        -- a folder or pipe named like a capture would otherwise drop out of the split unseen
        error(string.format("capture file %s is %s, not a regular file: rename or remove it", path,
          est.type == "dir" and "a folder" or "a pipe, socket or device"), 0)
      elseif capture then
        if est.size == 0 then
          error(string.format("capture file %s is empty (0 bytes): remove it or replace it", path), 0)
        end
        if not utf8.len(path) then
          -- the cache records its captures' folder and names, and a run its test sets', as JSON
          -- text: a path that is not UTF-8 failed a build at its end
          error(string.format("capture file %s: its path is not UTF-8 text, which the dataset cache's " ..
            "records (JSON) hold: rename the folder or file whose name shows \\xNN bytes",
            json.printable(path)), 0)
        end
        reach("capture file", path, est)
        files[#files + 1] = { path = path, name = name, attack_type = M.attack_type_of(name),
          size = est.size }
      elseif est.type == "dir" then
        walk(path, name, est)
      end
    end
  end
  local st, serr = gio.stat(dir)
  if st == nil then
    error(string.format("folder %s cannot be read (%s)", dir, serr or "it is not there"), 0)
  end
  walk(dir, rel, st)
  table.sort(files, function(a, b) return a.name < b.name end)
  return files
end

local RESOLVE_OPTS = { data_root = U.NONE, lake_root = U.NONE, catalog = U.NONE, generate = true }

-- The simulator's parameters of a simulated entry: its frames per capture and seed (the
-- simulator's defaults, 25000 and 0, when the catalog leaves them out).
function M.simulation(entry)
  return { frames = math.tointeger(entry.frames or 25000), seed = math.tointeger(entry.seed or 0) }
end

-- The folder of a simulated dataset's captures in the lake: one per set of simulation
-- parameters, <lake_root>/raw/<name>-frames<F>-seed<S>, so a catalog of other frames or another
-- seed never reads captures generated for another (nor a cache built from them: stale_cache).
function M.simulated_dir(name, entry, opts)
  local sim = M.simulation(entry)
  return gio.join(M.lake_root(opts), "raw", string.format("%s-frames%d-seed%d", name, sim.frames, sim.seed))
end

-- The folder of a dataset's raw captures.  synthetic: <data_root>/synthetic when that exists,
-- else simulated_dir's, generated by the simulator (deterministic by the catalog's seed) when
-- missing and opts.generate ~= false.
local function dataset_dir(name, entry, opts)
  local root = M.data_root(opts)
  if entry.simulated then
    if root and gio.is_dir(gio.join(root, name)) then
      return gio.join(root, name)
    end
    local dir = M.simulated_dir(name, entry, opts)
    local raw, base = dir:match("^(.*)/([^/]+)$")
    if not gio.is_dir(dir) and opts.generate then
      -- Under a lock (two processes may ask at once), generated beside and renamed: a crash
      -- mid-way never leaves a partial raw folder.
      assert(gio.mkdir_p(raw))
      local lk <close> = assert(gio.lock(gio.join(raw, "." .. base .. ".lock"), { timeout = 600 }))
      if not gio.is_dir(dir) then
        local tmp = dir .. ".partial"
        gio.remove_tree(tmp)
        assert(gio.mkdir_p(tmp))
        local sim = M.simulation(entry)
        require("graphids.data.can").simulate { out = tmp, seed = sim.seed, frames = sim.frames }
        assert(os.rename(tmp, dir))
      end
      lk:unlock()
    end
    return dir
  end
  if root == nil then
    error(string.format("dataset '%s': no data root; pass --data-root DIR, set data_root in the " ..
      "config, or set GRAPHIDS_DATA_ROOT", name), 0)
  end
  return gio.join(root, name)
end

-- The first difference between the captures a cache's metadata recorded (was: "<sub-folder>/
-- <file>" -> bytes) and those there now, in words, or nil.
local function capture_difference(was, now)
  for _, f in ipairs(U.sorted_keys(now)) do
    if was[f] == nil then return string.format("%s is new", f) end
    if was[f] ~= now[f] then
      return string.format("%s has %d bytes, %d when it was built", f, now[f], was[f])
    end
  end
  for _, f in ipairs(U.sorted_keys(was)) do
    if now[f] == nil then return string.format("%s is gone", f) end
  end
  return nil
end

local function changed(dir, folder, why)
  return string.format("the dataset cache %s was built from other captures than those in %s now (%s)", dir,
    folder, why), dir
end

-- The captures of a cache of a dataset the catalog does not list (a catalog no longer given, a
-- folder of one's own) against those its metadata records, in the folder it records (raw_dir):
-- each recorded sub-folder listed again.  Returns as changed_captures.
local function changed_recorded_captures(name, dir, meta)
  local was, raw = meta.source_bytes, meta.raw_dir
  if type(was) ~= "table" then return nil end
  if not gio.is_dir(raw) then
    return nil, dir, string.format("'%s' is not in the dataset catalog, and the folder its captures were " ..
      "read from (%s) is not there", name, raw)
  end
  local subs, now = {}, {}
  for f in pairs(was) do
    -- (the sub-folder is the name's first part: list_captures reads the folders inside it)
    local sub = f:match("^([^/]+)/")
    if sub then subs[sub] = true end
  end
  local ok, err = pcall(function()
    local seen = {}
    for _, sub in ipairs(U.sorted_keys(subs)) do
      -- (a sub-folder that is gone: its captures are)
      if gio.is_dir(gio.join(raw, sub)) then
        for _, f in ipairs(list_captures(gio.join(raw, sub), sub, seen)) do now[f.name] = f.size end
      end
    end
  end)
  if not ok then return changed(dir, raw, errors.strip_own_position(err)) end
  local why = capture_difference(was, now)
  if why == nil then return nil end
  return changed(dir, raw, why)
end

-- Why the dataset cache of name that opts (graphids.data.cache's options) name was not built
-- from the captures the catalog gives it now, and that cache's folder; nil when none is built
-- yet, or it was.  The cache folder names the graph parameters only, so a cache of other
-- captures would be read as this one's: a simulated dataset taken from the lake is checked by
-- its simulation's folder (another catalog's frames or seed, or the single raw folder of
-- earlier versions), and every dataset by its captures' names and sizes when the metadata
-- records them (changed_captures: another data root, a capture added, removed or rewritten).
-- A dataset the catalog does not list is checked against the captures its metadata records
-- (their folder, raw_dir, listed again).  When the captures are not there to compare (no data
-- root, a folder not mounted), nil, the folder, and why the check was skipped.
-- The builds and every load rebuild such a cache (rebuild_stale_cache, cache.load_cache).  meta:
-- the cache's metadata when the caller has read it already.
function M.stale_cache(name, opts, meta)
  local entry = M.dataset_catalog(opts)[name]
  local root = M.data_root(opts)
  local cache = require "graphids.data.cache"
  local copts = {}
  for k in pairs(cache.OPTION_DEFAULTS) do
    if k ~= "log" and k ~= "build" and k ~= "force" then copts[k] = opts[k] end
  end
  local dir = cache.cache_dir(name, copts)
  meta = meta or gio.read_json(gio.join(dir, "cache_metadata.json"))
  -- (none, or one that does not read: the cache names that itself)
  if type(meta) ~= "table" or type(meta.raw_dir) ~= "string" then return nil end
  if entry == nil then return changed_recorded_captures(name, dir, meta) end
  local simulated_here = entry.simulated and not (root and gio.is_dir(gio.join(root, name)))
  if simulated_here then
    local want = M.simulated_dir(name, entry, opts)
    if meta.raw_dir:match("[^/]+$") ~= want:match("[^/]+$") then
      local sim = M.simulation(entry)
      return string.format("the dataset cache %s was built from the captures in %s, not from those the " ..
        "catalog describes now (simulated with frames=%d, seed=%d: %s)", dir, meta.raw_dir, sim.frames,
        sim.seed, want), dir
    end
  end
  return M.changed_captures(name, opts, dir, meta)
end

-- The captures the catalog resolves now against the sizes a cache's metadata recorded
-- (source_bytes; a cache built before it was recorded is not checked): a message naming the
-- first difference and the cache folder, or nil.  Same-sized edits go unseen.  Captures that no
-- longer read (an emptied file) are a difference; only a dataset folder that cannot be found (no
-- data root) or is gone (a data root not mounted, a lake moved without it) leaves the cache as
-- it is: then nil, dir, and why the captures were not compared.
function M.changed_captures(name, opts, dir, meta)
  local was = meta.source_bytes
  if type(was) ~= "table" then return nil end
  local ropts = { data_root = opts.data_root, lake_root = opts.lake_root, catalog = opts.catalog,
    generate = false }
  local ok, ds = pcall(M.resolve_dataset, name, ropts)
  if not ok then
    -- captures there that no longer read (a file emptied, a train folder removed) changed too;
    -- only a folder that is not there at all leaves the cache as it is
    local okd, folder = pcall(dataset_dir, name, M.dataset_info(name, ropts), ropts)
    if not okd then
      return nil, dir, "its captures cannot be found: " .. errors.strip_own_position(folder)
    end
    if not gio.is_dir(folder) then
      return nil, dir, string.format("the folder of its captures, %s, is not there", folder)
    end
    return changed(dir, folder, errors.strip_own_position(ds))
  end
  local why = capture_difference(was, require("graphids.data.cache").source_bytes(ds))
  if why == nil then return nil end
  return changed(dir, ds.dir, why)
end

-- Says, through log (default: a warning on stderr), that the cache stale_cache found stale
-- (stale: its message) is being rebuilt.
function M.say_rebuilding(stale, log)
  log = log or function(msg) io.stderr:write("graphids: warning: ", msg, "\n") end
  log(stale .. ": rebuilding it from those")
end

-- Rebuilds the dataset cache of name that opts name when stale_cache finds it built from other
-- captures, saying so (say_rebuilding); the captures are generated first when missing.  Returns
-- what was stale, or nil when nothing was; and, when the captures could not be compared, the
-- note a load says of it (cache.captures_check's unchecked), for the caller to say in its own
-- words.  A stale cache of a dataset the catalog does not list cannot be rebuilt: an error says
-- so (cache.captures_check), as a load's does.  `graphids data build` calls it before it builds;
-- a load (cache.load_cache, so GraphDataModule:setup()) checks on its own.
function M.rebuild_stale_cache(name, opts, log)
  local cache = require "graphids.data.cache"
  local stale, refused, unchecked = cache.captures_check(name, opts)
  if refused then error(refused, 0) end
  if stale == nil then return nil, unchecked end
  M.say_rebuilding(stale, log)
  local copts = {}
  for k in pairs(cache.OPTION_DEFAULTS) do
    if k ~= "build" and k ~= "force" then copts[k] = opts[k] end
  end
  cache.rebuild_cache(name, copts)
  return stale
end

-- resolve_dataset(name, {data_root=, lake_root=, catalog=, generate=}) ->
--   {name, dir, source, train = {file...}, train_dirs = {...},
--    tests = {{name = sub-folder, dir, files = {file...}}...}, raw_bytes}
-- file = {path, name ("<sub-folder>/<path under it>"), attack_type (code), size}; a sub-folder's
-- captures are those at any depth in it (list_captures), sorted by name.
-- Errors: unknown name, missing dataset or train folder, a train or present test folder without
-- captures, an empty capture file, an entry that does not resolve, a folder or capture file
-- reached twice in any of its sub-folders (through a link: a test capture that is a training
-- capture too, one read twice).
function M.resolve_dataset(name, opts)
  opts = U.options("resolve_dataset", opts, RESOLVE_OPTS)
  local entry = M.dataset_info(name, opts)
  local dir = dataset_dir(name, entry, opts)
  local why = unreadable(dir)
  if why then
    error(string.format("dataset '%s': folder %s cannot be read (%s)", name, dir, why), 0)
  end
  if not gio.is_dir(dir) then
    error(string.format("dataset '%s': folder %s not found (expected sub-folders %s)", name, dir,
      table.concat(entry.train, ", ")), 0)
  end
  local ds = { name = name, dir = dir, source = entry.source, train = {}, train_dirs = {}, tests = {},
    raw_bytes = 0 }
  -- (one for every sub-folder: a link in a test folder to a train folder's captures is found)
  local seen = {}
  for _, sub in ipairs(entry.train) do
    local sd = gio.join(dir, sub)
    local swhy = unreadable(sd)
    if swhy then
      error(string.format("dataset '%s': train folder %s cannot be read (%s)", name, sd, swhy), 0)
    end
    if not gio.is_dir(sd) then
      error(string.format("dataset '%s': train folder %s is missing", name, sd), 0)
    end
    ds.train_dirs[#ds.train_dirs + 1] = sub
    local files = list_captures(sd, sub, seen, "train")
    -- each train folder holds its own traffic (a vehicle, an attack): an empty one would train
    -- a model that never saw it
    if #files == 0 then
      error(string.format("dataset '%s': train folder %s holds no capture files (*.csv, *.log, at any " ..
        "depth)", name, sd), 0)
    end
    for _, f in ipairs(files) do
      ds.train[#ds.train + 1] = f
      ds.raw_bytes = ds.raw_bytes + f.size
    end
  end
  for _, sub in ipairs(entry.test or {}) do
    local sd = gio.join(dir, sub)
    -- (a test set that is not there is left out; one that cannot be read is named)
    local twhy = unreadable(sd)
    if twhy then
      error(string.format("dataset '%s': test folder %s cannot be read (%s)", name, sd, twhy), 0)
    end
    if gio.is_dir(sd) then
      local files = list_captures(sd, sub, seen, "test")
      -- a test folder that is there but holds nothing would drop out of the evaluation unseen
      if #files == 0 then
        error(string.format("dataset '%s': test folder %s holds no capture files (*.csv, *.log, at any " ..
          "depth); remove the folder to leave the test set out", name, sd), 0)
      end
      ds.tests[#ds.tests + 1] = { name = sub, dir = sd, files = files }
      for _, f in ipairs(files) do
        ds.raw_bytes = ds.raw_bytes + f.size
      end
    end
  end
  return ds
end

return M
