-- graphids.cli.data.simulate -- `graphids data simulate --out DIR [--seed N] [--frames N]`: the
-- built-in traffic simulator writes a dataset in the hcrl_sa layout.
local M = {}

M.summary = "write a simulated CAN dataset (hcrl_sa layout, deterministic by seed)"

local USAGE = [[
usage: graphids data simulate --out DIR [--seed N] [--frames N]

Writes DIR/train_01_attack_free, train_02_with_attacks and test_01..test_04 folders of
canonical CSVs (16 captures: attack-free, DoS, fuzzing, gear, rpm, replay, suspension).

options:
  --out DIR      the dataset folder (created as needed)
  --seed N       random seed (default 0); the same seed gives the same bytes
  --frames N     frames per capture (default 25000)
  -h, --help     this text
]]

local function usage_error(msg)
  io.stderr:write("graphids data simulate: ", msg, "\n\n", USAGE)
  return 2
end

function M.main(args)
  local opts = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then
      io.stdout:write(USAGE)
      return 0
    elseif a == "--out" or a == "--seed" or a == "--frames" then
      local v = args[i + 1]
      if v == nil then
        return usage_error(a .. " needs a value")
      end
      i = i + 1
      if a == "--out" then
        opts.out = v
      else
        local n = math.tointeger(tonumber(v))
        if n == nil or n < (a == "--seed" and 0 or 1) then
          return usage_error(a .. ": '" .. v .. "' must be an integer >= " .. (a == "--seed" and 0 or 1))
        end
        opts[a:sub(3)] = n
      end
    else
      return usage_error("unknown argument '" .. a .. "'")
    end
    i = i + 1
  end
  if opts.out == nil then
    return usage_error("missing --out DIR")
  end
  if opts.out == "" then
    return usage_error("--out is empty")
  end
  local data = require "graphids.data"
  local t0 = os.clock()
  local made, merr = require("graphids.io").mkdir_p(opts.out) -- "created as needed", parents too
  if not made then
    io.stderr:write("graphids data simulate: cannot create ", opts.out, ": ", tostring(merr), "\n")
    return 1
  end
  local ok, report = pcall(data.simulate, opts)
  if not ok then
    io.stderr:write("graphids data simulate: ", (tostring(report):gsub("^[^\n]-%.lua:%d+: ", "")), "\n")
    return 1
  end
  io.stdout:write(string.format("%s: %d files, %d frames (%d attack), %.2f s CPU\n", opts.out,
    report.files, report.frames, report.attack_frames, os.clock() - t0))
  return 0
end

return M
