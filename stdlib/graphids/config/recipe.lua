-- graphids.config.recipe -- loading a recipe file into a plain table (the "render" step).
--   local recipe = require "graphids.config.recipe"
--   local rendered = recipe.render("recipes/stages/gat.lua", {dataset = "hcrl_sa", seed = 1})
--   recipe.find("stages/gat.lua")     -- a path as given, else under the recipes root
--
-- A recipe is a Lua file that returns a table, or a function of one table of top-level
-- arguments (TLAs) returning a table.  It runs in a small sandbox: the safe standard functions,
-- copies of the string, table, math and utf8 libraries (a recipe cannot patch the host's), and
--   import(path)          the value of another recipe file (relative to the importing file;
--                         loaded once per render);
--   arguments(tla, defs)  tla checked against defs (unknown names raise with a suggestion;
--                         a value of another type than its default raises) and completed;
--   merge(a, b, ...)      deep merge (tables merged key by key, the later wins, arrays replaced);
--   model_preset(family, scale, overrides)  graphids.models.presets' hyper-parameters.
-- A table recipe given TLAs is an error (it would silently ignore them).
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local paths = require "graphids.paths"
local json = require "graphids.json"

local M = {}

-- The recipes folder ($GRAPHIDS_RECIPES overrides; graphids.paths), or nil.
M.root = paths.recipes_root

-- The file a recipe name denotes: the path itself when it exists, else the same path under
-- the recipes root (with ".lua" added when missing).  A missing recipe raises naming both.
function M.find(path)
  if type(path) ~= "string" or path == "" then
    error("recipe path must be a non-empty string, got " .. (path == "" and "''" or U.describe(path)), 2)
  end
  local tried = { path }
  if gio.exists(path) and not gio.is_dir(path) then
    return path
  end
  local root = M.root()
  if root and path:sub(1, 1) ~= "/" then
    local rel = path:gsub("^recipes/", "")
    for _, p in ipairs(rel:match("%.lua$") and { rel } or { rel, rel .. ".lua" }) do
      local full = gio.join(root, p)
      tried[#tried + 1] = full
      if gio.exists(full) and not gio.is_dir(full) then
        return full
      end
    end
  end
  if gio.is_dir(path) then
    local files = {}
    for _, e in ipairs(gio.list_dir(path) or {}) do
      if e:match("%.lua$") then files[#files + 1] = e end
    end
    table.sort(files)
    error(string.format("recipe '%s' is a folder; name a recipe file (%s)", path,
      #files > 0 and "it holds " .. table.concat(files, ", ") or "it holds no .lua file"), 0)
  end
  error(string.format("recipe '%s' not found (looked for %s)", path, table.concat(tried, ", ")), 0)
end

local deep_copy = U.deep_copy
M.deep_copy = deep_copy

-- A copy of override data (a --set or --tla value) that keeps json.null as itself at any depth:
-- deep_copy would make the sentinel an empty table, a value where the user asked for none.
function M.copy_value(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.copy_value(x) end
  -- (a JSON list stays one: [] is no table of keys)
  return json.is_array(v) and json.array(out) or out
end

-- v without its nulls: a null member of a map is left out (unset: its default applies); a null
-- in a list is an error naming its path (a list is set whole, and a hole would shift or cut
-- it).  path names v in the message.  Returns nil for a null v itself.
function M.drop_null(v, path)
  if type(v) ~= "table" then return v end
  if v == json.null then return nil end
  local out = {}
  for k, x in pairs(v) do
    local here = path == "" and tostring(k) or path .. "." .. tostring(k)
    if x == json.null and math.type(k) == "integer" then
      error(string.format("'%s' holds null at index %d; a list cannot leave an item unset (give the " ..
        "list without it)", path, k), 0)
    end
    out[k] = M.drop_null(x, here)
  end
  return json.is_array(v) and json.array(out) or out
end

local function is_array(t)
  return type(t) == "table" and (next(t) == nil or t[1] ~= nil)
end

-- Deep merge: b's keys over a's, tables merged recursively, arrays (and empty tables)
-- replaced whole.  Returns a new table; the inputs are not changed.
function M.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if t ~= nil then
      if type(t) ~= "table" then
        error("merge: argument " .. i .. " must be a table, got " .. type(t), 2)
      end
      for k, v in pairs(t) do
        local cur = out[k]
        if type(v) == "table" and not is_array(v) and type(cur) == "table" and not is_array(cur) then
          out[k] = M.merge(cur, v)
        else
          out[k] = deep_copy(v)
        end
      end
    end
  end
  return out
end

-- tla completed with defs; unknown names and mistyped values raise (message names the recipe).
local function arguments(file, state)
  return function(tla, defs)
    -- a null argument is one not given, but its name must still be one the recipe takes
    local probe = {}
    for _, name in ipairs(state.null_args or {}) do
      if defs[name] == nil then probe[name] = true end
    end
    local ok, res = pcall(U.options, "recipe " .. file .. ": top-level argument",
      next(probe) ~= nil and probe or tla or {}, defs, -1)
    if not ok then
      error((tostring(res):gsub("unknown option", "unknown argument"):gsub("option '", "argument '")), 0)
    end
    -- an argument whose default is an integer takes integral numbers only (--tla seed=1e2 is 100)
    for k, v in pairs(res) do
      if math.type(defs[k]) == "integer" and math.type(v) == "float" then
        local i = math.tointeger(v)
        if i == nil then
          error(string.format("recipe %s: top-level argument '%s' must be an integer, got %s", file, k,
            tostring(v)), 0)
        end
        res[k] = i
      end
    end
    return res
  end
end

-- What a recipe raised, as words: error({}) or error(nil) carries no message to print.
local function raised(v)
  if type(v) == "string" or type(v) == "number" then return tostring(v) end
  return string.format("it raised %s, not an error message", U.describe(v))
end

local SAFE = { "assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring", "type" }
-- The libraries a recipe gets as copies: the host's own tables, patched by a recipe
-- (`math.type = ...`), would change every later stage's validation and the rest of the run.
local SAFE_LIBS = { "math", "string", "table", "utf8" }

-- path with "./" and "dir/../" folded away, for messages: an import's path is the importing
-- file's folder joined with the relative path (recipes/stages/../presets/models.lua).
local function tidy(path)
  local out = {}
  local abs = path:sub(1, 1) == "/"
  for part in path:gmatch("[^/]+") do
    if part == ".." and #out > 0 and out[#out] ~= ".." then
      out[#out] = nil
    elseif part ~= "." then
      out[#out + 1] = part
    end
  end
  local s = table.concat(out, "/")
  if abs then return "/" .. s end
  return s ~= "" and s or "."
end

local function load_file(path, state)
  if state.cache[path] ~= nil then
    return state.cache[path]
  end
  if state.loading[path] then
    error("recipe import cycle at " .. path, 0)
  end
  state.loading[path] = true
  local dir = path:match("^(.*)/[^/]+$") or "."
  local env = {}
  for _, name in ipairs(SAFE) do
    env[name] = _G[name]
  end
  for _, name in ipairs(SAFE_LIBS) do
    local copy = {}
    for k, v in pairs(_G[name]) do copy[k] = v end
    env[name] = copy
  end
  env.os = { getenv = os.getenv }
  env.merge = M.merge
  env.arguments = arguments(path, state)
  env.model_preset = function(family, scale, overrides)
    local P = require "graphids.models.presets"
    local fam = P[family]
    if fam == nil or fam[scale] == nil then
      local known = fam and table.concat(U.sorted_keys(fam), ", ") or table.concat(U.sorted_keys(P), ", ")
      -- (the scale is what a user gives: the stage recipes take it from --tla scale)
      error(string.format("recipe %s: no model preset %s.%s (%s: %s%s)", tidy(path), tostring(family),
        tostring(scale), fam and "scales" or "families", known,
        fam and "; the stage recipes take the scale from --tla scale=NAME" or ""), 0)
    end
    return fam[scale](overrides)
  end
  env.import = function(rel)
    if type(rel) ~= "string" or rel == "" then
      error(string.format("recipe %s: import takes the path of a recipe file, got %s", path,
        U.describe(rel)), 2)
    end
    local p = rel:sub(1, 1) == "/" and rel or gio.join(dir, rel)
    if not gio.exists(p) then
      error(string.format("recipe %s: import '%s' not found (%s)", path, rel, p), 2)
    end
    return load_file(p, state)
  end
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    error("recipe " .. err, 0)
  end
  local ok, v = pcall(chunk)
  if not ok then
    error(string.format("recipe %s failed: %s", path, raised(v)), 0)
  end
  state.loading[path] = nil
  state.cache[path] = v
  return v
end

-- The first table of t (keys in sorted order) that holds one of the tables around it, as its
-- path and the path of the table it holds again; nil when t is a tree.  open: the tables from
-- the root down to t, each with its path.
local function cycle(t, path, open)
  open[t] = path
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local x = t[k]
    if type(x) == "table" then
      local here = path == "" and tostring(k) or path .. "." .. tostring(k)
      if open[x] ~= nil then return here, open[x] end
      local at, back = cycle(x, here, open)
      if at ~= nil then return at, back end
    end
  end
  open[t] = nil
  return nil
end

-- What each caller of render takes, for the message refusing a JSON file.
local TAKES = {
  config = "--config takes a Lua recipe (recipes/stages/<stage>.lua)",
  pipeline = "graphids pipeline takes a Lua pipeline (recipes/pipelines/graphids.lua)",
  stage = "a pipeline stage's recipe is a Lua recipe (recipes/stages/<stage>.lua)",
}

-- Why a JSON file is no recipe, for the caller `role` (a TAKES key), with how to replay the run
-- it came from: its overrides.json is named only where there is one, and not when it is file.
local function json_message(file, role)
  local msg = string.format("recipe %s is JSON; %s", file, TAKES[role])
  local dir, base = file:match("^(.*)/([^/]+)$")
  dir, base = dir or ".", base or file
  if base:lower() == "overrides.json" then
    return msg .. ". It records a run's --tla and --set: replay the run from its recipe with them"
  end
  local over = gio.join(dir, "overrides.json")
  if gio.exists(over) then
    return string.format("%s. A run is replayed from its recipe with the --tla and --set its " ..
      "overrides.json records (%s)", msg, over)
  end
  return msg
end

-- Renders a recipe: its table, or its function applied to tla.  Returns a fresh plain table.
-- role (what the caller takes, for its messages): "config" (the default: fit's and test's
-- --config), "pipeline" (graphids pipeline's file) or "stage" (a pipeline stage's recipe).
function M.render(path, tla, role)
  role = role or "config"
  if TAKES[role] == nil then
    error(string.format("recipe.render: unknown role '%s' (config, pipeline, stage)", tostring(role)), 2)
  end
  local file = M.find(path)
  -- a run's resolved.json is its record, not a recipe: it has no top-level arguments, and taken
  -- as one it would train over the very run dir it names
  if file:lower():match("%.json$") then error(json_message(file, role), 0) end
  local state = { cache = {}, loading = {} }
  local v = load_file(file, state)
  -- a null TLA is one not given (its default applies), as a null --set unsets a key
  state.null_args = {}
  for _, k in ipairs(U.sorted_keys(tla or {})) do
    if tla[k] == json.null then state.null_args[#state.null_args + 1] = k end
  end
  local okn, args = pcall(M.drop_null, tla or {}, "")
  if not okn then
    error(string.format("recipe %s: top-level argument %s", file, tostring(args)), 0)
  end
  tla = args
  if type(v) == "function" then
    local ok, res = pcall(v, tla)
    if not ok then
      -- (a message raised with error("...") carries the recipe's file and line already)
      error(type(res) == "string" and res or string.format("recipe %s failed: %s", file, raised(res)), 0)
    end
    v = res
  elseif type(v) == "table" and next(tla) ~= nil then
    local names = U.sorted_keys(tla)
    error(string.format("recipe %s takes no top-level arguments (got %s)", file,
      table.concat(names, ", ")), 0)
  end
  if type(v) ~= "table" then
    error(string.format("recipe %s must return a table or a function returning one, got %s", file, type(v)),
      0)
  end
  local at, back = cycle(v, "", {})
  if at ~= nil then
    error(string.format("recipe %s returns a table that contains itself: '%s' is %s; a configuration is " ..
      "a tree of values", file, at, back == "" and "the returned table" or "'" .. back .. "' again"), 0)
  end
  return deep_copy(v), file
end

return M
