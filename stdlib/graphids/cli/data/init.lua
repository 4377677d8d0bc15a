-- graphids.cli.data -- `graphids data SUBCOMMAND [args...]`: each subcommand is the module
-- graphids.cli.data.<name> with main(args) -> exit code (nil means 0) and a one-line `summary`.
local M = {}

-- In the order `graphids data help` lists them.
local SUBCOMMANDS = { "convert", "simulate", "build", "inspect", "rebuild" }

local function load(name)
  local ok, mod = pcall(require, "graphids.cli.data." .. name)
  if ok then
    return mod
  end
  if tostring(mod):find("module 'graphids.cli.data." .. name .. "' not found", 1, true) then
    return nil
  end
  error(mod, 0)
end

local function usage(out)
  out:write("usage: graphids data SUBCOMMAND [args...]\n\n")
  for _, name in ipairs(SUBCOMMANDS) do
    local mod = load(name)
    if mod then
      out:write(string.format("  %-10s %s\n", name, mod.summary or ""))
    end
  end
  out:write("\n`graphids data SUBCOMMAND --help` describes one subcommand.\n")
end

function M.main(args)
  local name = args[1]
  if name == nil or name == "help" or name == "--help" or name == "-h" then
    usage(name and io.stdout or io.stderr)
    return name and 0 or 2
  end
  -- only the listed names: any other would reach require ("" or ".build" names a file, "init"
  -- this module)
  local known = false
  for _, sub in ipairs(SUBCOMMANDS) do known = known or sub == name end
  local mod = known and load(name) or nil
  if mod == nil then
    local hint = require("graphids.orchestrate.cliargs").suggest(name, SUBCOMMANDS)
    io.stderr:write("graphids data: unknown subcommand '", name, "'", hint, "\n\n")
    usage(io.stderr)
    return 2
  end
  return mod.main(table.move(args, 2, #args, 1, {})) or 0
end

return M
