-- graphids.config -- config resolution: recipe -> rendered table -> --set overrides ->
-- validated, read-only ResolvedConfig (DESIGN §5; docs/recipes.md).
--   local config = require "graphids.config"
--   local r = config.resolve("recipes/stages/gat.lua", {tla = {dataset = "hcrl_sa", seed = 1},
--                                                      set = {{"trainer.max_epochs", 5}}})
--   r.rendered, r.validated (read-only), r.stage_name, r.run_dir (nil = no run dir), r.ckpt_file
--   config.write_run_files(r)          -- resolved.json + overrides.json in r.run_dir
--   config.thaw(r.validated), config.as_json(r.validated)   -- plain copies ([] kept by as_json)
--   local k, v = config.parse_kv("model.init_args.lr=0.01")   -- the --set / --tla syntax
local json = require "graphids.json"
local gio = require "graphids.io"
local recipe = require "graphids.config.recipe"
local schema = require "graphids.config.schema"
local U = require "graphids.nn._util"

local M = {}

M.CKPT_SUBPATH = "checkpoints/best_model.safetensors"
M.LAST_SUBPATH = "checkpoints/last.safetensors"
M.merge = recipe.merge
M.render = recipe.render
M.find_recipe = recipe.find

-- "a.b.c=VALUE" -> "a.b.c", value: VALUE decoded as JSON, else kept as the string.  A VALUE
-- that starts like JSON (a quote, '[' or '{') and does not parse is an error quoting the JSON
-- problem: kept as a string, a typo in a list or an object would reach the run unnoticed.
function M.parse_kv(s)
  if type(s) ~= "string" then
    error("expected KEY=VALUE, got " .. type(s), 2)
  end
  local k, v = s:match("^([^=]+)=(.*)$")
  if k == nil or k:match("^%s*$") then
    error(string.format("expected KEY=VALUE, got '%s'", s), 2)
  end
  if k:match("^%.") or k:match("%.$") or k:match("%.%.") then
    error(string.format("bad key '%s' in '%s': dotted path with an empty part", k, s), 2)
  end
  local ok, val = pcall(json.decode, v)
  if ok then
    -- plain(): no json.array/object marks, so the value merges like recipe data; but [] keeps
    -- its mark, being otherwise {} (an empty table of keys: callbacks.ema=[] would turn it on)
    if json.is_array(val) and next(val) == nil then return k, json.array({}) end
    return k, require("graphids.ckpt").plain(val)
  end
  if v:match('^%s*["%[{]') then
    -- (the value and the problem shown cut and escaped: a list of 100 000 items, or a control
    -- character, would otherwise reach the terminal whole)
    error(string.format("bad value for '%s': %s is not valid JSON (%s)", json.printable(k, 60),
      json.printable(v, 60), json.printable((tostring(val):gsub("^json: ", "")), 200)), 0)
  end
  return k, v
end

-- Writes value at the dotted path of t, creating the missing (or null) intermediate tables.
-- A path through a value that is no table (`trainer.max_epochs.x`) or into a list
-- (`model.init_args.pool_aggrs.1`: a list is set whole) is an error naming the path; so is a
-- number segment under a key that is not there yet (it would make a map of "1", never a list).
-- Changes t in place and returns it.
function M.set_path(t, key, value)
  local parts = {}
  for p in key:gmatch("[^.]+") do
    parts[#parts + 1] = p
  end
  local function list_error(upto)
    local here = table.concat(parts, ".", 1, upto)
    error(string.format("cannot set '%s': '%s' is a list; set it whole (--set '%s=[...]')", key, here,
      here), 0)
  end
  local function new_list_error(upto)
    local here = table.concat(parts, ".", 1, upto)
    error(string.format("cannot set '%s': '%s' is not set, and a number key would make it a map of " ..
      "\"%s\", not a list; set the list whole (--set '%s=[...]')", key, here, parts[upto + 1], here), 0)
  end
  local cur, created = t, false
  for i = 1, #parts do
    local p = parts[i]
    if i > 1 and (cur[1] ~= nil or json.is_array(cur)) then list_error(i - 1) end
    if i > 1 and created and p:match("^%d+$") then new_list_error(i - 1) end
    if i == #parts then break end
    local v = cur[p]
    if v == nil or v == json.null then
      v, created = {}, true
      cur[p] = v
    elseif type(v) ~= "table" then
      error(string.format("cannot set '%s': '%s' is a %s, not a table", key,
        table.concat(parts, ".", 1, i), type(v)), 0)
    else
      created = false
    end
    cur = v
  end
  cur[parts[#parts]] = value
  return t
end

-- pairs: a list of {key, value} (applied in order) or a map key -> value (applied in sorted
-- key order, so the result never depends on pairs()).  A table that mixes the two is refused:
-- the entries of the other form would be dropped unseen.
local function override_list(set)
  if set == nil then return {} end
  if type(set) ~= "table" then
    error("config: set must be a list of {key, value} pairs or a map, got " .. U.describe(set), 0)
  end
  local list, keys, n = {}, {}, #set
  for k in pairs(set) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      if n > 0 or type(k) ~= "string" then
        error(string.format("config: set must be a list of {key, value} pairs or a map of keys, " ..
          "not both (found the key %s beside the list)", tostring(k)), 0)
      end
      keys[#keys + 1] = k
    end
  end
  if n > 0 then
    for i, kv in ipairs(set) do
      if type(kv) ~= "table" or type(kv[1]) ~= "string" then
        error(string.format("config: set[%d] must be {key, value}, got %s", i, U.describe(kv)), 0)
      end
      list[#list + 1] = { kv[1], kv[2] }
    end
  else
    table.sort(keys)
    for _, k in ipairs(keys) do list[#list + 1] = { k, set[k] } end
  end
  return list
end

-- The identity is who the run is (listings, tracking tags, the pipeline's decisions); recipes
-- derive it from the top-level arguments that also name the run dir and the seeds, so an
-- override of it alone would label one run as another.
local function check_not_identity(key)
  if key == "identity" or key:match("^identity%.") then
    error(string.format("cannot set '%s': the identity comes from the recipe's top-level " ..
      "arguments, which also name the run dir and the seed (--tla dataset=, seed=, scale=, ...)", key), 0)
  end
  -- (a recipe's list of derived keys, taken before the overrides: a --set of it would vanish)
  if key == "derived" or key:match("^derived%.") then
    error(string.format("invalid configuration: unknown key '%s' ('derived' is a recipe's list of the " ..
      "keys it derives from its top-level arguments, not a configuration key)", key), 0)
  end
end

-- The value at the dotted path of t, or nil.
local function get_path(t, key)
  local cur = t
  for p in key:gmatch("[^.]+") do
    if type(cur) ~= "table" or cur == json.null then return nil end
    cur = cur[p]
  end
  return cur
end

-- The run dir comes from the top-level arguments, like the identity: a --set of it alone would
-- train one run into another's folder.  "" or null (train without writing anything) stays allowed.
local RUN_DIR_KEY = "trainer.default_root_dir"

-- The override over (a key above key) replaced the table holding key by a value, not a table
-- of keys (--set trainer=5): that is what to name, rather than key.
local function check_replaced_table(rendered, key, over)
  local v = get_path(rendered, over)
  if over ~= key and (type(v) ~= "table" or v[1] ~= nil or json.is_array(v)) then
    error(string.format("invalid configuration: '%s' must be a table of keys, got %s (set its " ..
      "keys: --set %s.KEY=VALUE)", over, U.describe(v), over), 0)
  end
end

-- before: the recipe's run dir; prev: the run dir after the overrides before this one (each was
-- checked then).  Only an override that changes the run dir is checked: once "" or null has unset
-- it, a later --set trainer.max_epochs=1 (or trainer={...}) leaves it unset, dropping nothing.
local function check_run_dir(rendered, before, prev, over)
  local now = get_path(rendered, RUN_DIR_KEY)
  local function norm(v) if v == json.null or v == "" then return nil end return v end
  if norm(now) == norm(prev) then return now end
  -- (null unsets it, which is "": allowed on the key itself, not as a table replaced whole)
  local unset = now == "" or ((now == nil or now == json.null) and over == RUN_DIR_KEY)
  if now ~= before and not unset then
    check_replaced_table(rendered, RUN_DIR_KEY, over)
    local by = over == RUN_DIR_KEY and "" or string.format(" (by --set %s)", over)
    error(string.format("cannot set '%s'%s: the recipe names the run dir from its top-level arguments " ..
      "(lake_root, dataset, seed, scale, graphs and the stage's variant); use --tla lake_root=DIR to put " ..
      "runs elsewhere, or --set %s='\"\"' to train without writing anything", RUN_DIR_KEY, by,
      RUN_DIR_KEY), 0)
  end
  return now
end

-- A stage recipe lists under `derived` (config key -> top-level argument) the keys it derives
-- from the arguments that name its run dir and identity (the dataset, the seed, the variant's
-- loss or method).  Removes the list from rendered (it is no configuration key) and returns it,
-- as {key, tla} pairs sorted by key, keeping only the keys the recipe did set.
local function take_derived(rendered)
  local d = rendered.derived
  rendered.derived = nil
  if d == nil then return {} end
  if type(d) ~= "table" then
    error("recipe: 'derived' must map configuration keys to top-level arguments, got " .. U.describe(d), 0)
  end
  local out = {}
  for _, key in ipairs(U.sorted_keys(d)) do
    if type(key) ~= "string" or type(d[key]) ~= "string" then
      error(string.format("recipe: 'derived' must map configuration keys to top-level arguments, " ..
        "got %s = %s", U.describe(key), U.describe(d[key])), 0)
    end
    if get_path(rendered, key) ~= nil then out[#out + 1] = { key, d[key] } end
  end
  return out
end

-- Deep equality of plain values.
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, x in pairs(a) do
    if not same(x, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- An override that changed a derived key would train one thing into the run dir (and under the
-- identity) of another: `--set data.init_args.dataset=hcrl_sa` into .../synthetic/...; the
-- top-level argument changes the value, the run dir and the identity together.  over: the key of
-- the override just applied (a table set whole changes the keys below it).
local function check_derived(rendered, derived, before, over)
  for i, d in ipairs(derived) do
    if not same(get_path(rendered, d[1]), before[i]) then
      check_replaced_table(rendered, d[1], over)
      local by = over == d[1] and "" or string.format(" (by --set %s)", over)
      error(string.format("cannot set '%s'%s: the recipe derives it from its top-level argument " ..
        "'%s', which also names the run dir and the identity; use --tla %s=VALUE", d[1], by, d[2],
        d[2]), 0)
    end
  end
end

-- Applies the overrides in order to rendered (in place) and returns it.  Values are copied with
-- json.null kept as itself, at any depth: validation reads a null as "unset".
function M.apply_overrides(rendered, set)
  local derived = take_derived(rendered)
  local before = {}
  for i, d in ipairs(derived) do before[i] = recipe.copy_value(get_path(rendered, d[1])) end
  local run_dir = get_path(rendered, RUN_DIR_KEY)
  local run_dir_now = run_dir
  for _, kv in ipairs(override_list(set)) do
    check_not_identity(kv[1])
    M.set_path(rendered, kv[1], recipe.copy_value(kv[2]))
    check_derived(rendered, derived, before, kv[1])
    run_dir_now = check_run_dir(rendered, run_dir, run_dir_now, kv[1])
  end
  return rendered
end

-- ---------------------------------------------------------------- read-only views

-- A view is an empty table whose metatable reads store: indexing, pairs and # see the values,
-- assigning raises, and the metatable is hidden.  The raw functions bypass it, as they bypass any
-- metatable: next(view) and rawget give nil (test emptiness with pairs), and rawset writes beside
-- the values (pairs, thaw and the records keep reading store); a pure-Lua table cannot refuse it.
-- The read-only views of empty lists: a view has no json mark of its own, and thawed unmarked,
-- [] would be written {} to resolved.json, which reads back as another configuration (digest).
local EMPTY_LISTS = setmetatable({}, { __mode = "k" })

local function freeze(t, path)
  if type(t) ~= "table" then
    return t
  end
  local store = {}
  for k, v in pairs(t) do
    store[k] = freeze(v, path .. tostring(k) .. ".")
  end
  local view = setmetatable({}, {
    __index = store,
    __newindex = function(_, k)
      error(string.format("the validated configuration is read-only (tried to set '%s%s'); change the " ..
        "recipe or pass --set", path, tostring(k)), 2)
    end,
    -- (a closure over store: handing store out as pairs' state let a caller write through it,
    -- `local _, s = pairs(v.trainer); s.max_epochs = 999`, past the digest already taken)
    __pairs = function()
      local k
      return function()
        local v
        k, v = next(store, k)
        return k, v
      end
    end,
    __len = function() return #store end,
    __metatable = "read-only configuration",
  })
  if json.is_array(t) and next(t) == nil then EMPTY_LISTS[view] = true end
  return view
end
M.freeze = freeze

local function thaw(v, lists)
  if type(v) ~= "table" then
    return v
  end
  if lists and (EMPTY_LISTS[v] or (json.is_array(v) and next(v) == nil)) then return json.array({}) end
  local out = {}
  for k, x in pairs(v) do
    out[k] = thaw(x, lists)
  end
  return out
end

-- A plain, writable deep copy of a (possibly read-only) configuration value.  An empty list is
-- a plain {} there, as the models and data modules take it.
function M.thaw(v)
  return thaw(v, false)
end

-- The same copy as JSON has it, an empty list marked as one (json.array): resolved.json, and
-- what is compared with it, keep [] apart from {} as the configuration's digest does.
function M.as_json(v)
  return thaw(v, true)
end

-- ---------------------------------------------------------------- resolve

-- Builds a ResolvedConfig from an already rendered table (overrides applied).
function M.from_rendered(rendered, opts)
  opts = opts or {}
  take_derived(rendered) -- (apply_overrides took it already, unless it was not called)
  local validated = schema.validate(rendered)
  local root = validated.trainer.default_root_dir
  local run_dir = (root ~= nil and root ~= "") and root or nil
  local stage = opts.stage_name
  if stage == nil or stage == "" then
    stage = validated.identity.stage ~= "" and validated.identity.stage or "stage"
  end
  -- (a value JSON cannot hold, a table that mixes string and number keys, is named by its path)
  local okc, canonical = pcall(json.encode, validated)
  if not okc then
    error("invalid configuration: " .. tostring(canonical):gsub("^json%.encode: %$%.?", "'", 1)
      :gsub("^'([^:]*):", "'%1':", 1), 0)
  end
  return {
    rendered = rendered,
    validated = freeze(validated, ""),
    stage_name = stage,
    run_dir = run_dir,
    ckpt_file = run_dir and gio.join(run_dir, M.CKPT_SUBPATH) or nil,
    last_ckpt = run_dir and gio.join(run_dir, M.LAST_SUBPATH) or nil,
    recipe = opts.recipe,
    tla = opts.tla or {},
    set = override_list(opts.set),
    config_digest = require("graphids").sha256(canonical),
  }
end

-- A pipeline or extract-stage recipe given where a training stage is expected would fail on
-- its first key ("unknown key 'name'"); say what it is and what runs it.
local function check_stage_recipe(rendered, file)
  if rendered.stages ~= nil then
    error(string.format("recipe %s is a pipeline (it has 'stages'), not a stage: run it with " ..
      "graphids pipeline %s", file, file), 0)
  end
  if rendered.kind == "extract" then
    error(string.format("recipe %s is an extract stage (kind = \"extract\"), which trains nothing: " ..
      "it runs as a stage of a pipeline (graphids pipeline recipes/pipelines/graphids.lua)", file), 0)
  end
end

-- Renders the recipe at path with opts.tla, applies opts.set, validates.  Writes nothing.
function M.resolve(path, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "tla" and k ~= "set" and k ~= "stage_name" then
      error(string.format("config.resolve: unknown option '%s' (tla, set, stage_name)", tostring(k)), 2)
    end
  end
  local rendered, file = recipe.render(path, opts.tla)
  check_stage_recipe(rendered, file)
  M.apply_overrides(rendered, opts.set)
  local stem = opts.stage_name
  return M.from_rendered(rendered, { stage_name = stem, recipe = file, tla = opts.tla, set = opts.set })
end

-- ---------------------------------------------------------------- run files

-- Creates the run dir (a clear error when it cannot: read-only or not a folder).
function M.ensure_run_dir(run_dir)
  local st = gio.stat(run_dir)
  if st and st.type ~= "dir" then
    error(string.format("run dir %s exists and is not a folder", run_dir), 0)
  end
  local ok, err = gio.mkdir_p(run_dir)
  if not ok then
    error(string.format("cannot create the run dir %s: %s", run_dir, tostring(err)), 0)
  end
end

-- Writes resolved.json (the validated configuration) and overrides.json ({tla, set}) into the
-- run dir, atomically.  Nothing when the run has no run dir.  Returns the two paths.
function M.write_run_files(r)
  if r.run_dir == nil then
    return nil
  end
  M.ensure_run_dir(r.run_dir)
  local rpath, opath = gio.join(r.run_dir, "resolved.json"), gio.join(r.run_dir, "overrides.json")
  local set = {}
  for _, kv in ipairs(r.set or {}) do
    set[#set + 1] = json.array({ kv[1], kv[2] == nil and json.null or kv[2] })
  end
  local tla = next(r.tla or {}) and r.tla or json.object()
  local files = { { rpath, M.as_json(r.validated) }, { opath, { tla = tla, set = json.array(set) } } }
  for _, w in ipairs(files) do
    local ok, err = gio.write_json(w[1], w[2])
    if not ok then
      error(string.format("cannot write %s: %s", w[1], tostring(err)), 0)
    end
  end
  return rpath, opath
end

return M
