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
  local mod = load(name)
  if mod == nil then
    io.stderr:write("graphids data: unknown subcommand '", name, "'\n\n")
    usage(io.stderr)
    return 2
  end
  return mod.main(table.move(args, 2, #args, 1, {})) or 0
end

return M
