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
-- file where a folder goes (or the reverse) fails with dst as it was.  What did not exist
-- before (files, folders) is appended to created, in the order made.
local function move_into(src, dst, created)
  local gio = require "graphids.io"
  walk(src, dst, function(_, to, dir)
    if gio.exists(to) and gio.is_dir(to) ~= dir then
      error(string.format("%s is in the way: it must be a %s", to, dir and "folder" or "file"), 0)
    end
  end)
  walk(src, dst, function(from, to, dir)
    if not gio.exists(to) then created[#created + 1] = to end
    if dir then assert(gio.mkdir_p(to)) else assert(os.rename(from, to)) end
  end)
end

-- Each run stages its files in a folder of its own inside out, .simulating-<random hex>, and
-- holds a lock on <that>.lock while it lives: a staging folder whose lock is free was left by a
-- killed run (the kernel drops a dead process's lock; nothing removed the folder) and is removed,
-- and one whose lock is held belongs to a live run writing into out, which this one leaves
-- alone.  (.simulating is the fixed name of earlier versions: a killed run's too.)
local STAGING = ".simulating"

-- This run's staging folder and its held lock, or nil, message.
local function own_staging(out)
  local gio = require "graphids.io"
  for _ = 1, 8 do -- (another name when a live run drew the same)
    local dir = gio.join(out, string.format("%s-%08x%08x", STAGING, math.random(0, 0xffffffff),
      math.random(0, 0xffffffff)))
    local lk, err, code = gio.lock(dir .. ".lock", { exclusive = true, timeout = 0 })
    if lk then
      local ok, rerr = gio.remove_tree(dir) -- a killed run's of the same name: nobody's now
      if ok then ok, rerr = gio.mkdir_p(dir) end
      if ok then return dir, lk end
      os.remove(dir .. ".lock")
      lk:unlock()
      return nil, string.format("cannot create %s: %s", dir, tostring(rerr))
    end
    if code ~= "ESTATE" then return nil, tostring(err) end
  end
  return nil, "no staging folder name was free in " .. out
end

-- Removes the staging folders of killed runs in out (not own); returns nil, or the staging
-- folder of a live run, or nil, message when one cannot be removed.
local function sweep(out, own)
  local gio = require "graphids.io"
  for _, n in ipairs(gio.list_dir(out) or {}) do
    local dir = gio.join(out, n)
    if dir ~= own and (n == STAGING or n:match("^%.simulating%-%x+$")) and gio.is_dir(dir) then
      local lk, err, code = gio.lock(dir .. ".lock", { exclusive = true, timeout = 0 })
      if code == "ESTATE" then return dir end
      if not lk then return nil, "cannot check the leftover " .. dir .. ": " .. tostring(err) end
      local ok, rerr = gio.remove_tree(dir)
      os.remove(dir .. ".lock")
      lk:unlock()
      if not ok then return nil, "cannot remove the leftover " .. dir .. ": " .. tostring(rerr) end
    end
  end
  return nil
end

-- Undoes what a failed run made: its staging folder and lock, what it moved into out (files,
-- then folders, each folder only when empty), and out itself when this run created it and it
-- is empty now.  Whatever another run created or wrote there stays: a folder is removed by
-- os.remove, which (rmdir) refuses one that is not empty.
local function undo(out, existed, staging, created)
  local gio = require "graphids.io"
  gio.remove_tree(staging)
  os.remove(staging .. ".lock")
  for i = #created, 1, -1 do
    os.remove(created[i])
  end
  if not existed then os.remove(out) end
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
  local function fail(msg)
    io.stderr:write("graphids data simulate: ", msg, "\n")
    return 1
  end
  if gio.exists(out) and not gio.is_dir(out) then return fail(out .. " is not a folder") end
  local existed = gio.is_dir(out)
  local made, merr = gio.mkdir_p(out) -- "created as needed", parents too
  if not made then return fail("cannot create " .. out .. ": " .. tostring(merr)) end
  -- Written into a staging folder inside out and moved into place when complete: a failure
  -- (disk full, a path that is a file) leaves out as it was, and removes it if it was made here
  -- and holds nothing another run put there.
  local staging, lk = own_staging(out)
  if not staging then
    if not existed then os.remove(out) end
    return fail(lk)
  end
  local created = {}
  local ok, report = pcall(function()
    local live, serr = sweep(out, staging)
    if serr then error(serr, 0) end
    if live then
      -- two runs into one folder would mix their captures (of two seeds, or frame counts)
      error(string.format("another `graphids data simulate` is writing into %s (its staging folder %s); " ..
        "wait for it to finish, or give another --out", out, live), 0)
    end
    local r = data.simulate { out = staging, seed = opts.seed, frames = opts.frames }
    move_into(staging, out, created)
    return r
  end)
  if ok then
    gio.remove_tree(staging)
    os.remove(staging .. ".lock")
  else
    undo(out, existed, staging, created)
  end
  lk:unlock()
  if not ok then
    return fail(errors.strip_own_position(report))
  end
  io.stdout:write(string.format("%s: %d files, %d frames (%d attack), %.2f s CPU\n", out,
    report.files, report.frames, report.attack_frames, os.clock() - t0))
  return 0
end

return M
