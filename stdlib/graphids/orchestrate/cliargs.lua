-- graphids.orchestrate.cliargs -- the argument parser shared by `graphids fit|test|pipeline|runs|
-- track|ckpt|data`.
--   local A = require "graphids.orchestrate.cliargs"
--   local o, err = A.parse(args, {value = {"--config", "--ckpt-path"}, multi = {"--tla", "--set"},
--                                flag = {"--dry-run"}, positional = 1})
--   (nonempty = true: an empty value of any option is a usage error, "--out is empty"; a list of
--   names: of those options only)
--   o["--config"], o["--tla"] (list), o["--dry-run"] (true/nil), o[1] (positionals), o.help
-- -h or --help anywhere asks for the help, whatever else is wrong (as argparse): {help = true}.
--   local tla = A.kv_table(o["--tla"])   -- {k = decoded value}; set = A.kv_list(o["--set"])
-- Usage errors return nil, message (the commands exit with 2).  `--opt=value` is accepted too.
local config = require "graphids.config"
local errors = require "graphids.errors"
local edit_distance = require("graphids.nn._util").edit_distance

local M = {}

-- " (did you mean 'x'?)" naming the candidate nearest to word, case aside (an abbreviation, or
-- an edit distance that grows with the word's length), else "".  The host's own commands are
-- suggested alike (lua/host/main.c, nearest).
function M.suggest(word, candidates)
  local best, best_d = nil, math.huge
  local w = word:lower()
  for _, name in ipairs(candidates) do
    local n = name:lower()
    local d = (#w > 2 and n:sub(1, #w) == w) and 1 or edit_distance(w, n)
    if d < best_d then best, best_d = name, d end
  end
  local limit = #word <= 4 and 1 or (#word <= 8 and 2 or 3)
  if best ~= nil and best_d <= limit then return " (did you mean '" .. best .. "'?)" end
  return ""
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

-- The hint for an unknown option name: the command's own option it spells differently
-- (--data_root for --data-root) first; then, where the command takes --tla, that a top-level
-- argument is one (--seed is --tla seed=, not "did you mean '--set'"); then the nearest option.
local function unknown_hint(name, known, takes_tla)
  local norm = name:lower():gsub("_", "-")
  for _, k in ipairs(known) do
    if k == norm then return " (did you mean '" .. k .. "'?)" end
  end
  local tla = norm:gsub("^%-%-", ""):gsub("-", "_")
  local hint = takes_tla and require("graphids.config.schema").top_level_hint(tla)
  return hint or M.suggest(name, known)
end

-- Whether the word after a value option reads as an option (--seed, -q), not as its value: as
-- argparse does, `--out --seed 3` is "--out needs a value", not a folder named "--seed".  A
-- negative number (--x -1) and "-" alone stay values; any other value starting with "-" is
-- given as --out=-x.
local function reads_as_option(word)
  return word:sub(1, 1) == "-" and word ~= "-" and tonumber(word) == nil
end

local function parse(args, spec)
  local value, multi, flag = set_of(spec.value), set_of(spec.multi), set_of(spec.flag)
  local nonempty = type(spec.nonempty) == "table" and set_of(spec.nonempty) or nil
  local o = { positional = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    -- (the name is all before the first "=": --lake_root=x is named without its value)
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    if a == "-h" or a == "--help" then
      o.help = true
    elseif name == "--help" or flag[name] then
      if inline then return nil, name .. " takes no value" end
      if o[name] then return nil, name .. " is given twice; give it once" end
      o[name] = true
    elseif value[name] or multi[name] then
      local v = inline
      if v == nil then
        v = args[i + 1]
        if v == nil then return nil, name .. " needs a value" end
        if reads_as_option(v) then
          return nil, string.format("%s needs a value (the next word '%s' reads as an option; a value " ..
            "starting with '-' is given as %s=VALUE)", name, v, name)
        end
        i = i + 1
      end
      if v == "" and (spec.nonempty == true or (nonempty and nonempty[name])) then
        return nil, name .. " is empty"
      end
      if multi[name] then
        o[name] = o[name] or {}
        o[name][#o[name] + 1] = v
      else
        if o[name] ~= nil then return nil, name .. " is given twice; give it once" end
        o[name] = v
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      local known = { "--help" }
      for _, field in ipairs({ "value", "multi", "flag" }) do
        table.move(spec[field] or {}, 1, #(spec[field] or {}), #known + 1, known)
      end
      return nil, "unknown option '" .. name .. "'" .. unknown_hint(name, known, multi["--tla"])
    else
      o.positional[#o.positional + 1] = a
    end
    i = i + 1
  end
  if #o.positional > (spec.positional or 0) then
    return nil, "unexpected argument '" .. o.positional[(spec.positional or 0) + 1] .. "'"
  end
  return o
end

-- Whether args ask for the help: "-h" and "--help" are never an option's value (they read as
-- options), so wherever they stand they are the request.
local function asks_help(args)
  for _, a in ipairs(args) do
    if a == "-h" or a == "--help" then return true end
  end
  return false
end

function M.parse(args, spec)
  local o, err = parse(args, spec)
  if o == nil and asks_help(args) then return { help = true, positional = {} } end
  return o, err
end

-- "k=v" strings -> {k = value} (JSON-decoded, else the string), or nil, message.  A top-level
-- argument is one value: the same key twice is refused (which one was meant?), unlike --set,
-- whose overrides apply in order.
-- The first string in a decoded value that holds a NUL byte (the value itself, or one inside a
-- list or object), and where: nil when none does.
local function nul_string(v)
  if type(v) == "string" then
    local at = v:find("\0", 1, true)
    return at and v, at
  end
  if type(v) == "table" then
    for _, x in pairs(v) do
      local s, at = nul_string(x)
      if s then return s, at end
    end
  end
  return nil
end

-- Refuses a --tla or --set value that holds a NUL byte, naming the option: no path or name can
-- hold one, and the system would cut a path there (or the runtime refuse it far from here).
local function nul_problem(flag, k, v)
  local s, at = nul_string(v)
  if s == nil then return nil end
  return string.format("%s %s: the value holds a NUL byte at %d (%q before it); no path or name can",
    flag, k, at, s:sub(1, at - 1))
end

function M.kv_table(list)
  local t, given = {}, {}
  for _, s in ipairs(list or {}) do
    local ok, k, v = pcall(config.parse_kv, s)
    if not ok then return nil, "--tla: " .. errors.strip_own_position(k) end
    if given[k] then
      return nil, string.format("--tla %s is given twice (%s and %s); give it once", k, given[k], s)
    end
    local nul = nul_problem("--tla", k, v)
    if nul then return nil, nul end
    t[k], given[k] = v, s
  end
  return t
end

-- --data-root and --lake-root (parsed options o) are shorthands of the TLAs data_root and
-- lake_root, merged into tla; both given with different values would leave one silently
-- ignored.  Returns tla, or nil, message.
M.ROOT_OPTIONS = { "--data-root", "--lake-root" }
M.ROOT_HELP = [[
  --data-root DIR     the same as --tla data_root=DIR (the folder holding <dataset>/)
  --lake-root DIR     the same as --tla lake_root=DIR (run dirs, caches; default
                      $GRAPHIDS_LAKE_ROOT, else ./lake)
]]
-- The two are compared as typed: the option's value is a string, and the --tla text (VALUE
-- of k=VALUE) is quoted as given, not as the JSON value it decodes to (3, null, a list).
function M.root_shorthands(o, tla)
  for _, k in ipairs({ "data_root", "lake_root" }) do
    local flag = "--" .. k:gsub("_", "-")
    if o[flag] then
      local typed
      for _, s in ipairs(o["--tla"] or {}) do
        local key, text = s:match("^([^=]+)=(.*)$")
        if key == k then typed = text end
      end
      if tla[k] ~= nil and tla[k] ~= o[flag] and typed ~= o[flag] then
        return nil, string.format("%s %s and --tla %s=%s disagree; give one", flag, o[flag], k,
          typed or tostring(tla[k]))
      end
      tla[k] = o[flag]
    end
  end
  return tla
end

-- "a.b=v" strings -> {{"a.b", value}...} in order.
function M.kv_list(list)
  local out = {}
  for _, s in ipairs(list or {}) do
    local ok, k, v = pcall(config.parse_kv, s)
    if not ok then return nil, "--set: " .. errors.strip_own_position(k) end
    local nul = nul_problem("--set", k, v)
    if nul then return nil, nul end
    out[#out + 1] = { k, v }
  end
  return out
end

-- Prints a usage error and returns the exit code 2.
function M.usage_error(cmd, msg, usage)
  io.stderr:write(string.format("graphids %s: %s\n\n%s", cmd, msg, usage))
  return 2
end

-- A command's arguments parsed (M.parse): the options, or nil and the exit code once the usage
-- error (2) or the help asked for (0) is printed.
function M.parse_command(cmd, args, spec, usage)
  local o, err = M.parse(args, spec)
  if o == nil then return nil, M.usage_error(cmd, err, usage) end
  if o.help then
    io.stdout:write(usage)
    return nil, 0
  end
  return o
end

-- Reports a failed command on stderr (no traceback: these are user-facing); the exit status:
-- 130 for a Ctrl-C (the host raises "interrupted!" wherever the code was; a shell reports
-- SIGINT so), else 1.
function M.fail(cmd, err)
  local msg = errors.strip_own_position(err)
  if msg:match("interrupted!$") then
    -- where the signal landed (a module's name, a source line) says nothing to the user
    io.stderr:write(string.format("graphids %s: interrupted\n", cmd))
    return 130
  end
  io.stderr:write(string.format("graphids %s: %s\n", cmd, msg))
  return 1
end

return M
