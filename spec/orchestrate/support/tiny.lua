-- spec/orchestrate/support/tiny.lua -- a tiny synthetic dataset and tiny models for the
-- orchestration specs: --set overrides that make a stage recipe train in seconds.
--   local tiny = require "orchestrate.support.tiny"
--   local r = config.resolve("recipes/stages/gat.lua", {tla = {lake_root = lake}, set = tiny.set("gat")})
local M = {}

M.CATALOG = {
  synthetic = {
    train = { "train_01_attack_free", "train_02_with_attacks" },
    test = { "test_01_known_vehicle_known_attack", "test_03_known_vehicle_unknown_attack" },
    simulated = true, frames = 1500, seed = 11,
  },
}

local MODEL = {
  gat = { hidden = 8, heads = 2, proj_dim = 8, embedding_dim = 4, fc_layers = 2 },
  vgae = { hidden_dims = { 16, 8 }, latent_dim = 8, proj_dim = 8, embedding_dim = 4 },
}

-- The overrides of a stage (family "gat" or "vgae"); extra pairs are appended.
function M.set(family, extra)
  local s = {
    { "data.init_args.catalog", M.CATALOG },
    { "data.init_args.batch_size", 16 },
    { "trainer.max_epochs", 2 },
    { "trainer.progress", "off" },
  }
  for k, v in pairs(MODEL[family] or {}) do
    s[#s + 1] = { "model.init_args." .. k, v }
  end
  table.sort(s, function(a, b) return a[1] < b[1] end)
  for _, kv in ipairs(extra or {}) do s[#s + 1] = kv end
  return s
end

-- The overrides of M.set as command-line arguments: "--set", "key=<JSON value>", ...
function M.cli_sets(family, extra)
  local json = require "graphids.json"
  local args = {}
  for _, kv in ipairs(M.set(family, extra)) do
    args[#args + 1] = "--set"
    args[#args + 1] = kv[1] .. "=" .. json.encode(kv[2])
  end
  return args
end

-- The lists of arguments given, joined into one (a command line from its parts).
function M.join(...)
  local out = {}
  for _, t in ipairs({ ... }) do
    for _, v in ipairs(t) do out[#out + 1] = v end
  end
  return out
end

-- The data overrides of M.set as a fusion-states stage takes them (data.<key>).
function M.data_sets()
  local out = {}
  for _, kv in ipairs(M.set("gat")) do
    local k = kv[1]:match("^data%.init_args%.(.+)$")
    if k then out[#out + 1] = { "data." .. k, kv[2] } end
  end
  return out
end

-- "path type size mtime" of every entry under dir (the tree's state, to compare before/after).
-- files_only: regular files only, without traces.jsonl (which records even failed attempts).
function M.snapshot(dir, files_only)
  local filter = files_only and " -type f ! -name traces.jsonl" or ""
  local p = io.popen("find '" .. dir .. "'" .. filter .. " -printf '%p %y %s %T@\\n' | sort")
  local s = p:read("a")
  p:close()
  return s
end

-- Lua source of a plain value (sorted keys), to write pipeline files.
function M.lua_source(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = M.lua_source(x) end
  if #parts == 0 then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = "[" .. M.lua_source(k) .. "] = " .. M.lua_source(v[k]) end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- The source of a pipeline file named `name` that takes the TLA lake_root: each stage is
-- {name, recipe, tla = its own TLAs (merged over lake_root), inputs = {TLA = stage}, set = {...}}.
--   tiny.pipeline("p", {{name = "gat", recipe = "stages/gat.lua", set = tiny.set("gat")}, ...})
function M.pipeline(name, stages)
  local lines = {
    "return function(tla)",
    "  local a = arguments(tla, {lake_root = ''})",
    "  local common = {lake_root = a.lake_root}",
    "  return {name = " .. M.lua_source(name) .. ", stages = {",
  }
  for _, s in ipairs(stages) do
    local fields = { "name = " .. M.lua_source(s.name), "recipe = " .. M.lua_source(s.recipe),
      "tla = " .. (s.tla and ("merge(common, " .. M.lua_source(s.tla) .. ")") or "common") }
    if s.inputs then fields[#fields + 1] = "inputs = " .. M.lua_source(s.inputs) end
    if s.set then fields[#fields + 1] = "set = " .. M.lua_source(s.set) end
    lines[#lines + 1] = "    {" .. table.concat(fields, ", ") .. "},"
  end
  lines[#lines + 1] = "  }}"
  lines[#lines + 1] = "end"
  return table.concat(lines, "\n")
end

return M
