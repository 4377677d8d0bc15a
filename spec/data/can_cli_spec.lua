-- can_cli_spec.lua -- `graphids data convert` and `graphids data simulate`: exit codes (0 done,
-- 1 bad input, 2 usage), outputs, the simulator's layout and byte-for-byte determinism by seed.
local data = require "graphids.data"

local build = os.getenv("GRAPHIDS_BUILD") or "build"
local cwd = io.popen("pwd"):read("l")
local host = build .. "/bin/graphids"
if host:sub(1, 1) ~= "/" then
  host = cwd .. "/" .. host
end
local FIX = "spec/fixtures/can/"

local env = require "specenv"
local q, tmpdir = env.quote, env.tmpdir

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs graphids with the words of args; returns stdout, stderr, exit code.
local function run(args)
  local words = {}
  for i, a in ipairs(args) do
    words[i] = q(a)
  end
  local err = os.tmpname()
  local p = io.popen(("%s %s 2>%s; echo \"rc=$?\""):format(q(host), table.concat(words, " "), q(err)))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  local e = slurp(err)
  os.remove(err)
  return out:gsub("rc=%d+\n$", ""), e, rc
end

describe("graphids data convert", function()
  it("converts a candump log, labelling by an exact frame", function()
    local out = os.tmpname()
    local so, se, rc = run({ "data", "convert", FIX .. "candump.log", out,
      "--attack-frame", "115#4E0002000000FFFF" })
    assert.are.equal(0, rc, se)
    assert.truthy(so:find("4 frames (candump), 1 attack, 0 skipped", 1, true))
    assert.are.equal("timestamp,arbitration_id,data_field,attack\n"
      .. "1522028021.322357,350,002403DA42BFE39C,0\n"
      .. "1522028021.322599,115,4E0002000000FFFF,1\n"
      .. "1522028021.322878,405,2100000000000000,0\n"
      .. "1522028021.327065,115,4E0002000000FFFE,0\n", slurp(out))
    os.remove(out)
  end)

  it("labels by id and reads an explicit format", function()
    local out = os.tmpname()
    local _, se, rc = run({ "data", "convert", "--format", "hcrl-csv", "--attack-id", "0000",
      FIX .. "hcrl_car_hacking.csv", out })
    assert.are.equal(0, rc, se)
    local f = data.read_can(out)
    assert.are.equal(18, #f)
    assert.are.equal(3, f:column("attack"):sum():item())
    os.remove(out)
  end)

  it("fails on a malformed row naming file, line and column, and skips when lenient", function()
    local out = os.tmpname()
    os.remove(out)
    local _, se, rc = run({ "data", "convert", FIX .. "malformed.csv", out })
    assert.are.equal(1, rc)
    assert.truthy(se:find("malformed.csv:3:11: bad hex digit 'G' in CAN id", 1, true), se)
    assert.is_nil(slurp(out))
    local so
    so, se, rc = run({ "data", "convert", "--lenient", FIX .. "malformed.csv", out })
    assert.are.equal(0, rc, se)
    assert.truthy(so:find("3 frames (csv), 1 attack, 4 skipped", 1, true), so)
    local n = select(2, se:gsub("skipped: ", ""))
    assert.are.equal(4, n)
    os.remove(out)
  end)

  it("reports an empty file and usage errors", function()
    local _, se, rc = run({ "data", "convert", FIX .. "empty.csv", os.tmpname() })
    assert.are.equal(1, rc)
    assert.truthy(se:find("empty.csv: empty file", 1, true))
    for _, case in ipairs({
      { {}, "missing IN and OUT" },
      { { "a.log" }, "missing OUT" },
      { { "a", "b", "c" }, "unexpected argument 'c'" },
      { { "--speed", "a", "b" }, "unknown option '--speed'" },
      { { "--id-base", "7", "a", "b" }, "--id-base: '7' must be 10 or 16" },
      { { "--format", "csv", "--format", "csv", "a", "b" }, "--format is given twice" },
      { { "--format", "csv", "--id-base", "10", "a", "b" }, "--id-base applies to the columns format only" },
      { { "--format", "csv", "--columns", "id=can_id", "a", "b" },
        "--columns applies to the columns format only" },
      { { "--attack-frame", "115", "a", "b" }, "--attack-frame: '115' must be ID#DATA" },
      -- a --columns key the reader has not, or one given twice, is named by the flag
      { { "--columns", "ts=ts,idd=id", "a", "b" },
        "--columns: unknown key 'idd' (did you mean 'id'?); the keys are ts, id, data, dlc, label" },
      { { "--columns", "ts=nosuch, ts=ts", "a", "b" },
        "--columns: ts is given twice (ts=nosuch and ts=ts); give it once" },
      { { "a", "b", "--format" }, "--format needs a value" },
      { { "--format", "candump2", "a", "b" }, "--format: 'candump2' must be one of auto, csv, candump," },
      -- parsed as every command's options: --opt=value, a hint, an empty value named
      { { "a", "b", "--format=csv2" }, "--format: 'csv2' must be one of" },
      { { "a", "b", "--formt=csv" }, "unknown option '--formt' (did you mean '--format'?)" },
      { { "a", "b", "--lenient=1" }, "--lenient takes no value" },
      { { "a", "b", "--attack-id=" }, "--attack-id is empty" },
      -- a list of no mapping is refused, not the reader's default columns
      { { "--columns", ",", "a", "b" }, "--columns holds no KEY=NAME" },
      -- a flag given twice is refused as a value option given twice is
      { { "--lenient", "a", "--lenient", "b" }, "--lenient is given twice; give it once" },
    }) do
      local args = { "data", "convert" }
      table.move(case[1], 1, #case[1], 3, args)
      _, se, rc = run(args)
      assert.are.equal(2, rc, table.concat(args, " "))
      assert.truthy(se:find(case[2], 1, true), se)
    end
    local so
    so, _, rc = run({ "data", "convert", "--help" })
    assert.are.equal(0, rc)
    assert.truthy(so:find("usage: graphids data convert IN OUT", 1, true))
  end)
end)

describe("graphids data simulate", function()
  local LAYOUT = {
    "test_01_known_vehicle_known_attack/DoS-v2.csv",
    "test_01_known_vehicle_known_attack/fuzzing-v1.csv",
    "test_01_known_vehicle_known_attack/gear-v2.csv",
    "test_01_known_vehicle_known_attack/rpm-v1.csv",
    "test_02_unknown_vehicle_known_attack/DoS-v3.csv",
    "test_02_unknown_vehicle_known_attack/fuzzing-v3.csv",
    "test_03_known_vehicle_unknown_attack/replay-v1.csv",
    "test_03_known_vehicle_unknown_attack/suspension-v2.csv",
    "test_04_unknown_vehicle_unknown_attack/replay-v3.csv",
    "test_04_unknown_vehicle_unknown_attack/suspension-v3.csv",
    "train_01_attack_free/attack-free-v1.csv",
    "train_01_attack_free/attack-free-v2.csv",
    "train_02_with_attacks/DoS-v1.csv",
    "train_02_with_attacks/fuzzing-v2.csv",
    "train_02_with_attacks/gear-v1.csv",
    "train_02_with_attacks/rpm-v2.csv",
  }

  it("writes the hcrl_sa layout, the same bytes for the same seed", function()
    local a, b, c = tmpdir(), tmpdir(), tmpdir()
    local _, so, se, rc
    so, se, rc = run({ "data", "simulate", "--out", a, "--seed", "5", "--frames", "3000" })
    assert.are.equal(0, rc, se)
    assert.truthy(so:find("16 files, 48000 frames", 1, true), so)
    b = b .. "/nested/dir" -- the folder and its parents are created as needed
    _, se, rc = run({ "data", "simulate", "--out", b, "--seed", "5", "--frames", "3000" })
    assert.are.equal(0, rc, se)
    _, se, rc = run({ "data", "simulate", "--out", c, "--seed", "6", "--frames", "3000" })
    assert.are.equal(0, rc, se)
    local p = io.popen("cd " .. q(a) .. " && find . -type f | sort")
    local found = {}
    for l in p:lines() do
      found[#found + 1] = l:sub(3)
    end
    p:close()
    assert.are.same(LAYOUT, found)
    local differ = 0
    for _, rel in ipairs(LAYOUT) do
      local x = slurp(a .. "/" .. rel)
      assert.are.equal(x, slurp(b .. "/" .. rel), rel)
      differ = differ + (x ~= slurp(c .. "/" .. rel) and 1 or 0)
      local f, r = data.read_can(a .. "/" .. rel)
      assert.are.equal(3000, #f)
      assert.are.equal("csv", r.format)
      if rel:find("attack%-free") then
        assert.are.equal(0, r.labeled, rel)
      else
        assert.is_true(r.labeled > 0 and r.labeled < 3000, rel)
      end
    end
    assert.are.equal(#LAYOUT, differ)
    os.execute("rm -rf " .. q(a) .. " " .. q(b) .. " " .. q(c))
  end)

  it("replaces its own files in an existing folder, keeps the others, and leaves it as it was " ..
    "when it fails", function()
    local d = tmpdir()
    assert(io.open(d .. "/mine.csv", "w")):close()
    local _, se, rc = run({ "data", "simulate", "--out", d, "--frames", "500" })
    assert.are.equal(0, rc, se)
    local first = slurp(d .. "/train_01_attack_free/attack-free-v1.csv")
    _, se, rc = run({ "data", "simulate", "--out", d, "--frames", "400", "--seed", "3" })
    assert.are.equal(0, rc, se)
    assert.are_not.equal(first, slurp(d .. "/train_01_attack_free/attack-free-v1.csv"))
    assert.are.equal("", slurp(d .. "/mine.csv"))
    -- a staging folder a killed run left (SIGTERM mid-way) is removed first, not moved into d
    assert(os.execute("mkdir -p " .. q(d .. "/.simulating/train_01_attack_free")))
    assert(io.open(d .. "/.simulating/train_01_attack_free/stale.csv", "w")):close()
    assert(io.open(d .. "/.simulating/stale-top.csv", "w")):close()
    _, se, rc = run({ "data", "simulate", "--out", d, "--frames", "300" })
    assert.are.equal(0, rc, se)
    assert.is_nil(slurp(d .. "/train_01_attack_free/stale.csv"))
    assert.is_nil(slurp(d .. "/stale-top.csv"))
    assert.is_nil(slurp(d .. "/.simulating/stale-top.csv"))
    -- a file where a capture folder goes: nothing moves, the message names it, and no staging
    -- folder is left behind
    local e = tmpdir()
    assert(io.open(e .. "/train_02_with_attacks", "w")):close()
    _, se, rc = run({ "data", "simulate", "--out", e, "--frames", "400" })
    assert.are.equal(1, rc, se)
    assert.truthy(se:find("train_02_with_attacks is in the way: it must be a folder", 1, true), se)
    local p = io.popen("ls -A " .. q(e))
    local left = p:read("a")
    p:close()
    assert.are.equal("train_02_with_attacks\n", left)
    assert.are.equal("", slurp(e .. "/train_02_with_attacks"))
    os.execute("rm -rf " .. q(d) .. " " .. q(e))
  end)

  it("leaves a live run's staging folder and output alone; removes a killed run's", function()
    local gio = require "graphids.io"
    local d = tmpdir()
    -- a live run: its staging folder's lock is held (here, by this process)
    local live = d .. "/.simulating-00c0ffee"
    assert(gio.mkdir_p(live .. "/train_01_attack_free"))
    local lk = assert(gio.lock(live .. ".lock", { exclusive = true, timeout = 0 }))
    local _, se, rc = run({ "data", "simulate", "--out", d, "--frames", "300" })
    assert.are.equal(1, rc, se)
    assert.truthy(se:find("another `graphids data simulate` is writing into " .. d ..
      " (its staging folder " .. live .. "); wait for it to finish, or give another --out", 1, true), se)
    assert.is_true(gio.is_dir(live .. "/train_01_attack_free"))
    local p = io.popen("ls -A " .. q(d))
    assert.are.equal(".simulating-00c0ffee\n.simulating-00c0ffee.lock\n", p:read("a"))
    p:close()
    -- once that run is dead (its lock free), its folder is a leftover: removed, not moved into d
    lk:unlock()
    assert(io.open(live .. "/train_01_attack_free/stale.csv", "w")):close()
    _, se, rc = run({ "data", "simulate", "--out", d, "--frames", "300" })
    assert.are.equal(0, rc, se)
    assert.is_false(gio.exists(live))
    assert.is_false(gio.exists(live .. ".lock"))
    assert.is_nil(slurp(d .. "/train_01_attack_free/stale.csv"))
    -- a failed run that created out removes what it made, never what another run put there
    local e = tmpdir() .. "/new"
    local data_mod = package.loaded["graphids.data"]
    package.loaded["graphids.data"] = { simulate = function()
      assert(io.open(e .. "/other-run.csv", "w")):close()
      error("disk full", 0)
    end }
    local stderr, said = io.stderr, {}
    local function write(_, ...) said[#said + 1] = table.concat({ ... }) end
    io.stderr = { write = write } -- luacheck: ignore 122
    local okm, code = pcall(require("graphids.cli.data.simulate").main, { "--out", e })
    io.stderr, package.loaded["graphids.data"] = stderr, data_mod -- luacheck: ignore 122
    assert.are.equal("graphids data simulate: disk full\n", table.concat(said))
    assert(okm, code)
    assert.are.equal(1, code)
    p = io.popen("ls -A " .. q(e))
    assert.are.equal("other-run.csv\n", p:read("a"))
    p:close()
    -- out that is a file is named so, before any staging folder is made in it
    _, se, rc = run({ "data", "simulate", "--out", e .. "/other-run.csv", "--frames", "300" })
    assert.are.equal(1, rc, se)
    assert.are.equal("graphids data simulate: " .. e .. "/other-run.csv is not a folder\n", se)
    os.execute("rm -rf " .. q(d) .. " " .. q(e:match("^(.*)/new$")))
  end)

  it("gives usage errors exit code 2", function()
    for _, case in ipairs({
      { {}, "missing --out DIR" },
      { { "--out", "x", "--frames", "0" }, "--frames: '0' must be an integer >= 1" },
      { { "--out", "x", "--seed", "-1" }, "--seed: '-1' must be an integer >= 0" },
      { { "--out" }, "--out needs a value" },
      { { "--out", "" }, "--out is empty" },
      { { "--out", "x", "extra" }, "unexpected argument 'extra'" },
      -- parsed as every command's options: --opt=value, a hint, an empty value named
      { { "--out=" }, "--out is empty" },
      { { "--out=x", "--frames=0" }, "--frames: '0' must be an integer >= 1" },
      { { "--out=x", "--frame=1" }, "unknown option '--frame' (did you mean '--frames'?)" },
      { { "--out=x", "--out=y" }, "--out is given twice; give it once" },
      -- an option where the value goes is not taken as the value (a folder named "--seed");
      -- a negative number still is, and --out=-x gives a value starting with "-"
      { { "--frames", "10", "--out", "--seed" }, "--out needs a value (the next word '--seed' reads as " ..
        "an option; a value starting with '-' is given as --out=VALUE)" },
      { { "--out", "-q", "--frames", "10" }, "--out needs a value (the next word '-q'" },
      { { "--out", "x", "--frames", "-5" }, "--frames: '-5' must be an integer >= 1" },
      { { "--out=-x", "--frames", "0" }, "--frames: '0' must be an integer >= 1" },
    }) do
      local args = { "data", "simulate" }
      table.move(case[1], 1, #case[1], 3, args)
      local _, se, rc = run(args)
      assert.are.equal(2, rc, table.concat(args, " "))
      assert.truthy(se:find(case[2], 1, true), se)
    end
  end)

  it("creates the dataset folder and its parents from Lua too", function()
    local d = tmpdir() .. "/a/b"
    local r = data.simulate({ out = d, frames = 300 })
    assert.are.equal(16, r.files)
    assert.truthy(slurp(d .. "/train_01_attack_free/attack-free-v1.csv"))
    os.execute("rm -rf " .. q(d:match("^(.*)/a/b$")))
  end)

  it("simulates one capture from Lua", function()
    local f = data.simulate_capture({ attack = "gear", seed = 2, frames = 2000 })
    assert.are.equal(2000, #f)
    assert.has_error(function()
      data.simulate_capture({ attack = "teleport" })
    end, "can_simulate: unknown attack 'teleport' (expected normal, DoS, fuzzing, gear, rpm, " ..
      "replay or suspension)")
    assert.has_error(function()
      data.simulate({ out = "x", speed = 1 })
    end, "simulate: unknown option 'speed' (did you mean 'seed'?)")
    assert.has_error(function()
      data.simulate({ out = "x", vehicles = 1 })
    end, "simulate: unknown option 'vehicles' (allowed: frames, out, seed)")
    assert.has_error(function()
      data.simulate({ seed = 1 })
    end, "simulate: option out (the dataset folder) must be a string")
  end)
end)
