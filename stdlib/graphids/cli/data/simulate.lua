-- graphids.cli.data.simulate -- `graphids data simulate --out DIR [--seed N] [--frames N]`: the
-- built-in traffic simulator writes a dataset in the hcrl_sa layout.
local errors = require "graphids.errors"

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

-- Calls f(from, to, is_dir) for every entry under src (sorted, folders before their contents)
-- with its place under dst.
local function walk(src, dst, f)
  local gio = require "graphids.io"
  local names = assert(gio.list_dir(src))
  table.sort(names)
  for _, n in ipairs(names) do
    local from, to = gio.join(src, n), gio.join(dst, n)
    local dir = gio.is_dir(from)
    f(from, to, dir)
    if dir then walk(from, to, f) end
  end
end

-- Moves every file under src to the same place under dst, replacing files of those names and
-- leaving any other file in dst alone.  Every place is checked before anything moves, so a
-- file where a folder goes (or the reverse) fails with dst as it was.
local function move_into(src, dst)
  local gio = require "graphids.io"
  walk(src, dst, function(_, to, dir)
    if gio.exists(to) and gio.is_dir(to) ~= dir then
      error(string.format("%s is in the way: it must be a %s", to, dir and "folder" or "file"), 0)
    end
  end)
  walk(src, dst, function(from, to, dir)
    if dir then assert(gio.mkdir_p(to)) else assert(os.rename(from, to)) end
  end)
end

function M.main(args)
  -- (the parser of every other command: --out=DIR, the did-you-mean hint, "--out is empty")
  local o, rc = require("graphids.orchestrate.cliargs").parse_command("data simulate", args,
    { value = { "--out", "--seed", "--frames" }, nonempty = true }, USAGE)
  if o == nil then return rc end
  local opts = { out = o["--out"] }
  for _, a in ipairs({ "--seed", "--frames" }) do
    local v = o[a]
    if v ~= nil then
      local n, least = math.tointeger(tonumber(v)), a == "--seed" and 0 or 1
      if n == nil or n < least then
        return usage_error(a .. ": '" .. v .. "' must be an integer >= " .. least)
      end
      opts[a:sub(3)] = n
    end
  end
  if opts.out == nil then
    return usage_error("missing --out DIR")
  end
  local data = require "graphids.data"
  local gio = require "graphids.io"
  local t0 = os.clock()
  local out = opts.out
  local existed = gio.is_dir(out)
  -- Written into a staging folder inside out and moved into place when complete: a failure
  -- (disk full, a path that is a file) leaves out as it was, and removes it if it was made here.
  local staging = gio.join(out, ".simulating")
  -- one left by a run that was killed (SIGTERM, SIGKILL: nothing removed it) holds files of its
  -- own seed and frames, which would be moved into out with these; links are removed, not followed
  local cleared, cerr = gio.remove_tree(staging)
  if not cleared then
    io.stderr:write("graphids data simulate: cannot remove the leftover ", staging, ": ", tostring(cerr),
      "\n")
    return 1
  end
  local made, merr = gio.mkdir_p(staging) -- "created as needed", parents too
  if not made then
    io.stderr:write("graphids data simulate: cannot create ", out, ": ", tostring(merr), "\n")
    return 1
  end
  local ok, report = pcall(function()
    local r = data.simulate { out = staging, seed = opts.seed, frames = opts.frames }
    move_into(staging, out)
    return r
  end)
  gio.remove_tree(staging)
  if not ok then
    if not existed then gio.remove_tree(out) end
    io.stderr:write("graphids data simulate: ", errors.strip_own_position(report), "\n")
    return 1
  end
  io.stdout:write(string.format("%s: %d files, %d frames (%d attack), %.2f s CPU\n", out,
    report.files, report.frames, report.attack_frames, os.clock() - t0))
  return 0
end

return M
