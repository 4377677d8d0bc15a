-- can_read_spec.lua -- graphids.data CAN readers from Lua: the hand-made fixtures of each format,
-- CanFrames (column, slice, write_csv round trip), options and their errors, and every file of
-- the real traffic under the CAN data root (specenv.DATA; row counts and first/last rows checked against an
-- independent parse in Lua; skipped when the folder is absent).
local data = require "graphids.data"
local skip = require "skip"
local env = require "specenv"

local FIX = "spec/fixtures/can/"
local SHARED = env.DATA

local function lines_of(path)
  local out = {}
  for l in io.lines(path) do
    out[#out + 1] = l
  end
  return out
end

describe("read_can on the hand-made fixtures", function()
  it("reads the HCRL Car-Hacking CSV with R/T flags and short rows", function()
    local f, r = data.read_can(FIX .. "hcrl_car_hacking.csv")
    assert.are.equal("hcrl-csv", r.format)
    assert.are.equal(18, #f)
    assert.are.equal(3, r.labeled)
    local id, dlc, atk = f:column("id"), f:column("dlc"), f:column("attack")
    assert.are.equal(0x316, id:totable()[1])
    assert.are.equal(0x2B0, id:totable()[7])
    assert.are.equal(5, dlc:totable()[7])
    assert.are.equal(0, dlc:totable()[18])
    assert.are.equal(1, atk:totable()[8])
    local d = f:column("data")
    assert.are.same({ 0xFF, 0x7F, 0x00, 0x05, 0x49, 0, 0, 0 }, d:totable()[7])
  end)

  it("reads the HCRL text format", function()
    local f, r = data.read_can(FIX .. "hcrl_car_hacking.txt")
    assert.are.equal("hcrl-txt", r.format)
    assert.are.equal(11, #f)
    assert.are.equal(1479121434.850202, f:column("ts"):totable()[1])
    assert.are.equal(0x18, f:column("id"):totable()[11])
    assert.are.equal(5, f:column("dlc"):totable()[11])
  end)

  it("labels an unlabeled candump log by exact frame or by id", function()
    local f, r = data.read_can(FIX .. "candump.log", { attack_frames = { "115#4E0002000000FFFF" } })
    assert.are.equal("candump", r.format)
    assert.are.same({ 0, 1, 0, 0 }, f:column("attack"):totable())
    f = data.read_can(FIX .. "candump.log", { attack_ids = { "115" } })
    assert.are.same({ 0, 1, 0, 1 }, f:column("attack"):totable())
    assert.has_error(function()
      data.read_can(FIX .. "candump.log", { attack_frames = { "115" } })
    end, "read_can: attack_frames[1] '115' must be ID#DATA")
    -- a list's length is taken once, and a made-up one is refused: the rules' buffer is sized
    -- by it
    assert.has_error(function()
      local ids = setmetatable({}, { __len = function() return 1 << 61 end })
      data.read_can(FIX .. "candump.log", { attack_ids = ids })
    end, "read_can: attack_ids has length 2305843009213693952, expected 0 to 1073741824 entries")
    local calls = 0
    local moving = setmetatable({ "115" }, { __len = function()
      calls = calls + 1
      return calls == 1 and 1 or 3000
    end })
    f = data.read_can(FIX .. "candump.log", { attack_ids = moving })
    assert.are.same({ 0, 1, 0, 1 }, f:column("attack"):totable())
  end)

  -- A remote request keeps its RTR bit (flags 2) and the length it requests (dlc), through
  -- write_csv (R, R4) and back; "115#" rules match data frames with an empty payload only.
  it("keeps remote requests apart from empty data frames", function()
    local path = os.tmpname()
    local fh = assert(io.open(path, "w"))
    fh:write("(1.0) can0 115#\n(1.1) can0 115#R\n(1.2) can0 18FEDF00#R4\n")
    fh:close()
    local f, r = data.read_can(path, { attack_frames = { "115#" } })
    assert.are.same({ "candump", 1 }, { r.format, r.labeled })
    assert.are.same({ 0, 2, 3 }, f:column("flags"):totable())
    assert.are.same({ 0, 0, 4 }, f:column("dlc"):totable())
    assert.are.same({ 1, 0, 0 }, f:column("attack"):totable())
    assert.are.same({ 0, 1, 0 }, data.read_can(path, { attack_frames = { "115#R" } }):column("attack")
      :totable())
    local out = path .. ".csv"
    data.write_csv(f, out)
    assert.are.same({ "timestamp,arbitration_id,data_field,attack", "1.000000,115,,1", "1.100000,115,R,0",
      "1.200000,18FEDF00,R4,0" }, lines_of(out))
    local g = data.read_can(out)
    for _, c in ipairs({ "flags", "dlc", "attack", "id" }) do
      assert.are.same(f:column(c):totable(), g:column(c):totable(), c)
    end
    os.remove(path)
    os.remove(out)
  end)

  it("fails on the first malformed row with file, line and column", function()
    local ok, err = pcall(data.read_can, FIX .. "malformed.csv")
    assert.is_false(ok)
    assert.truthy(err:find("malformed.csv:3:11: bad hex digit 'G' in CAN id", 1, true))
  end)

  it("skips, counts and reports malformed rows when lenient", function()
    local f, r = data.read_can(FIX .. "malformed.csv", { lenient = true })
    assert.are.equal(3, #f)
    assert.are.equal(4, r.skipped)
    assert.are.equal(4, #r.errors)
    assert.truthy(r.errors[2]:find("malformed.csv:5:18: missing column 4 (attack)", 1, true))
    assert.truthy(r.errors[3]:find("malformed.csv:7:1: time steps back", 1, true))
    assert.truthy(r.errors[4]:find("malformed.csv:8:", 1, true))
    -- 0316 and 316 are the same id
    assert.are.equal(0x316, f:column("id"):totable()[3])
  end)

  it("refuses an empty file and unknown options clearly", function()
    local ok, err = pcall(data.read_can, FIX .. "empty.csv")
    assert.is_false(ok)
    local _
    assert.truthy(err:find("empty.csv: empty file", 1, true))
    _, err = pcall(data.read_can, FIX .. "candump.log", { lenient = true, speed = 1 })
    assert.truthy(err:find("unknown option 'speed'", 1, true))
    _, err = pcall(data.read_can, FIX .. "candump.log", { format = "pcap" })
    assert.truthy(err:find("unknown CAN log format 'pcap'", 1, true))
    _, err = pcall(data.read_can, FIX .. "candump.log", { columns = { stamp = "x" } })
    assert.truthy(err:find("unknown option 'stamp'", 1, true))
    -- column names with a format of fixed columns would be ignored
    _, err = pcall(data.read_can, FIX .. "candump.log", { format = "candump", columns = { id = "x" } })
    assert.truthy(err:find("candump.log: column names apply to the columns format, and this file reads as " ..
      "candump", 1, true), err)
  end)

  it("gives the formats it knows", function()
    assert.are.same({ "auto", "csv", "candump", "candump-ta", "hcrl-csv", "hcrl-txt", "columns" },
      data.can_formats)
  end)
end)

describe("CanFrames", function()
  it("slices, writes the canonical CSV and reads it back identically", function()
    local f = data.read_can(FIX .. "hcrl_car_hacking.csv")
    local s = f:slice(7, 9)
    assert.are.equal(3, #s)
    assert.are.equal(0x2B0, s:column("id"):totable()[1])
    local path = os.tmpname()
    data.write_csv(f, path)
    local lines = lines_of(path)
    assert.are.equal("timestamp,arbitration_id,data_field,attack", lines[1])
    assert.are.equal("1478198376.389427,316,052168092121006F,0", lines[2])
    assert.are.equal("1478198376.390793,2B0,FF7F000549,0", lines[8])
    assert.are.equal("1478198376.393390,440,,0", lines[19])
    local g = data.read_can(path)
    for _, col in ipairs({ "ts", "id", "dlc", "flags", "data", "attack" }) do
      assert.is_true(f:column(col) == g:column(col), col)
    end
    f:write_csv(path, 2, 3)
    assert.are.equal(3, #lines_of(path))
    -- no frames: the header-only file would not read back ("no CAN frames"), so none is written
    assert.has_error(function() data.write_csv(f:slice(3, 2), path) end,
      "write_csv: no frames to write (rows [0, 0) of 0): a CAN log holds at least one frame, and the " ..
      "readers refuse a header-only file")
    assert.are.equal(3, #lines_of(path))
    os.remove(path)
    assert.has_error(function()
      f:slice(5, 40)
    end, "slice: range [5, 40] out of bounds for 18 frames")
    assert.has_error(function()
      f:column("payload")
    end, "column: unknown column 'payload' (expected ts, id, dlc, flags, data or attack)")
    f:free()
    assert.has_error(function()
      return #f
    end, "attempt to use freed CanFrames")
  end)

  it("reads several files in parallel", function()
    local list, reports = data.read_can_many({ FIX .. "candump.log", FIX .. "hcrl_car_hacking.txt" })
    assert.are.equal(4, #list[1])
    assert.are.equal(11, #list[2])
    -- paths a list makes in its __index (held by nothing else) are kept alive while read: made
    -- garbage, their memory would hold other strings by the time the files are opened
    local junk = {}
    local lazy = setmetatable({}, { __len = function() return 3 end, __index = function()
      collectgarbage("collect")
      local path = FIX .. "candump.log"
      -- (strings of the path's length, to take the memory a collected path leaves)
      for k = 1, 200 do junk[#junk + 1] = ("Z"):rep(#path - 5) .. string.format("%05d", k) end
      return path
    end })
    local made = data.read_can_many(lazy)
    assert.same({ 4, 4, 4 }, { #made[1], #made[2], #made[3] })
    assert.are.equal("hcrl-txt", reports[2].format)
  end)
end)

-- ---------------------------------------------------------------- the real traffic

local function find_files(root)
  local p = io.popen("find '" .. root .. "' -type f \\( -name '*.csv' -o -name '*.log' \\) | sort")
  local out = {}
  for l in p:lines() do
    out[#out + 1] = l
  end
  p:close()
  return out
end

-- An independent parse of one line: ts, id, first data byte (nil when no payload).
local function parse_line(line)
  local ts, id, d = line:match("^%((%d+%.%d+)%) %w+ (%x+)#(%x*)")
  if ts then
    return tonumber(ts), tonumber(id, 16), tonumber(d:sub(1, 2), 16)
  end
  ts, id, d = line:match("^%s*%((%d+%.%d+)%)%s+%w+%s+(%x+)%s+%[%d%]%s+(%x%x)")
  if ts then
    return tonumber(ts), tonumber(id, 16), tonumber(d, 16)
  end
  ts, id, d = line:match("^([%d.]+),can0,(%d+),%d,(%x*)")
  if ts then
    return tonumber(ts), tonumber(id), tonumber(d:sub(1, 2), 16)
  end
  ts, id, d = line:match("^([%d.]+),(%x+),(%x*),[01]$")
  return tonumber(ts), tonumber(id, 16), tonumber(d:sub(1, 2), 16)
end

describe("every file under the CAN data root", function()
  local files = io.open(SHARED .. "/hcrl_sa") and find_files(SHARED) or {}
  if skip.unless(#files > 0, "no CAN data at " .. SHARED) then
    return
  end

  it("reads with one frame per line after the header, first and last rows as written", function()
    assert.is_true(#files >= 30)
    local list, reports = data.read_can_many(files)
    for i, path in ipairs(files) do
      local lines = lines_of(path)
      local header = lines[1]:match("^%a") and 1 or 0
      assert.are.equal(#lines - header, #list[i], path)
      assert.are.equal(0, reports[i].skipped, path)
      local ts_col, id_col = list[i]:column("ts"), list[i]:column("id")
      local data_col = list[i]:column("data")
      for _, k in ipairs({ 1 + header, #lines }) do
        local row = k - header
        local ts, id, b0 = parse_line(lines[k])
        assert.are.equal(ts, ts_col:select(1, row):item(), path .. ":" .. k)
        assert.are.equal(id, id_col:select(1, row):item(), path .. ":" .. k)
        if b0 then
          assert.are.equal(b0, data_col:select(1, row):select(1, 1):item(), path .. ":" .. k)
        end
      end
    end
  end)

  it("converts every file to the canonical CSV and reads it back identically", function()
    local out = os.tmpname()
    for _, path in ipairs(files) do
      local f = data.read_can(path)
      data.convert(path, out)
      local g, r = data.read_can(out)
      assert.are.equal("csv", r.format)
      for _, col in ipairs({ "ts", "id", "dlc", "flags", "data", "attack" }) do
        assert.is_true(f:column(col) == g:column(col), path .. " " .. col)
      end
    end
    os.remove(out)
  end)

  it("reads attack labels from the files and from rules", function()
    local _, f, r
    f, r = data.read_can(SHARED .. "/hcrl_sa/train_02_with_attacks/DoS-kia.csv")
    assert.are.equal(181901, #f)
    assert.are.equal(33141, r.labeled)
    _, r = data.read_can(SHARED .. "/raw_formats/j1939_truck/labeled_TSC1.csv")
    assert.are.equal("columns", r.format)
    assert.are.equal(923, r.labeled)
    f, r = data.read_can(SHARED .. "/raw_formats/j1939_truck/Application_Layer/dos_1ms.log",
      { attack_ids = { "00000000" } })
    assert.are.equal(7237, r.labeled)
    assert.are.equal(1, f:column("flags"):totable()[1])
    -- set_02's injected rows step back up to 0.107 ms: inside the default 1 ms tolerance; 112
    -- rows lie behind the latest time seen before them
    _, r = data.read_can(SHARED .. "/set_02/train_02_with_attacks/untargeted_payload_fuzzing-1.csv")
    assert.are.equal(112, r.backsteps)
    assert.is_true(r.max_backstep > 1e-4 and r.max_backstep < 1.1e-4)
  end)
end)
