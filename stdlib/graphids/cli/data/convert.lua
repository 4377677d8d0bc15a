-- graphids.cli.data.convert -- `graphids data convert IN OUT [options]`: any supported CAN log
-- to the canonical CSV (timestamp,arbitration_id,data_field,attack).
local errors = require "graphids.errors"

local M = {}

-- What --format names (the reader's list; a misspelt one is a usage error, exit 2).
local FORMAT_LIST = "auto, csv, candump, candump-ta, hcrl-csv, hcrl-txt or columns"
local FORMATS = {}
for f in FORMAT_LIST:gmatch("[%w-]+") do
  if f ~= "or" then FORMATS[f] = true end
end

M.summary = "convert a CAN log (candump, HCRL, CSV, ...) to the canonical CSV"

local USAGE = [[
usage: graphids data convert IN OUT [options]

Reads the CAN log IN (format detected from its first line unless --format) and writes the
canonical CSV OUT (timestamp,arbitration_id,data_field,attack).

options:
  --format F             auto, csv, candump, candump-ta, hcrl-csv, hcrl-txt or columns
  --lenient              skip malformed rows (counted and reported) instead of failing
  --time-tolerance S     seconds a row may step back in time (default 0.001; inf: no check)
  --attack-frame ID#DATA label data frames with exactly this id and payload as attacks (repeatable;
                         ID# is the empty payload; ID#R, ID#R4: remote requests for 0, 4 bytes)
  --attack-id ID         label every frame with this id as an attack (repeatable)
  --columns SPEC         column-mapped CSV: ts=NAME,id=NAME,data=NAME,dlc=NAME,label=NAME
  --id-base 10|16        base of the id column of a column-mapped CSV
  -h, --help             this text
]]

local function usage_error(msg)
  io.stderr:write("graphids data convert: ", msg, "\n\n", USAGE)
  return 2
end

-- The keys of read_can's columns option (docs/data-formats.md): a misspelt one is a usage
-- error here, named by the flag, not the reader's failure (exit 1) naming its option table.
local COLUMN_KEYS = { "ts", "id", "data", "dlc", "label" }

-- "ts=time,id=can_id" -> {ts = "time", id = "can_id"}; nil, message when malformed, a key is
-- unknown, or given twice (which name was meant?).
local function parse_columns(spec)
  local cols, given, known = {}, {}, {}
  for _, k in ipairs(COLUMN_KEYS) do known[k] = true end
  for item in spec:gmatch("[^,]+") do
    local k, v = item:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if not k or v == "" then
      return nil, "--columns: '" .. item .. "' is not KEY=NAME"
    end
    if not known[k] then
      return nil, string.format("--columns: unknown key '%s'%s; the keys are %s", k,
        require("graphids.orchestrate.cliargs").suggest(k, COLUMN_KEYS), table.concat(COLUMN_KEYS, ", "))
    end
    if given[k] then
      return nil, string.format("--columns: %s is given twice (%s and %s); give it once", k, given[k],
        item:match("^%s*(.-)%s*$"))
    end
    cols[k], given[k] = v, item:match("^%s*(.-)%s*$")
  end
  -- (",": no mapping at all, which the reader would take as its default columns unseen)
  if next(cols) == nil then return nil, "--columns holds no KEY=NAME" end
  return cols
end

function M.main(args)
  -- (the parser of every other command: --format=csv, the did-you-mean hint, an empty value
  -- named; the attack rules repeat by design, the other options are given once)
  local o, rc = require("graphids.orchestrate.cliargs").parse_command("data convert", args,
    { value = { "--format", "--time-tolerance", "--columns", "--id-base" },
      multi = { "--attack-frame", "--attack-id" }, flag = { "--lenient" }, positional = 2, nonempty = true },
    USAGE)
  if o == nil then return rc end
  local pos, opts = o.positional, { lenient = o["--lenient"] }
  local frames_rules, id_rules = o["--attack-frame"] or {}, o["--attack-id"] or {}
  local v = o["--format"]
  if v ~= nil then
    if not FORMATS[v] then
      return usage_error("--format: '" .. v .. "' must be one of " .. FORMAT_LIST)
    end
    opts.format = v
  end
  v = o["--time-tolerance"]
  if v ~= nil then
    opts.time_tolerance = (v == "inf") and math.huge or tonumber(v)
    if opts.time_tolerance == nil or opts.time_tolerance < 0 then
      return usage_error("--time-tolerance: '" .. v .. "' is not a number >= 0")
    end
  end
  for _, f in ipairs(frames_rules) do
    if not f:find("#", 1, true) then
      return usage_error("--attack-frame: '" .. f .. "' must be ID#DATA")
    end
  end
  if o["--columns"] ~= nil then
    local cols, err = parse_columns(o["--columns"])
    if not cols then
      return usage_error(err)
    end
    opts.columns = cols
  end
  v = o["--id-base"]
  if v ~= nil then
    opts.id_base = math.tointeger(tonumber(v))
    if opts.id_base ~= 10 and opts.id_base ~= 16 then
      return usage_error("--id-base: '" .. v .. "' must be 10 or 16")
    end
  end
  if #pos ~= 2 then
    return usage_error("missing " .. (#pos == 0 and "IN and OUT" or "OUT"))
  end
  -- both would be ignored by a format of fixed columns and ids
  local fixed = opts.format ~= nil and opts.format ~= "columns" and opts.format ~= "auto"
  if opts.id_base ~= nil and fixed then
    return usage_error("--id-base applies to the columns format only, not " .. opts.format)
  end
  if opts.columns ~= nil and fixed then
    return usage_error("--columns applies to the columns format only, not " .. opts.format)
  end
  if #frames_rules > 0 then
    opts.attack_frames = frames_rules
  end
  if #id_rules > 0 then
    opts.attack_ids = id_rules
  end
  local data = require "graphids.data"
  local ok, report = pcall(data.convert, pos[1], pos[2], opts)
  if not ok then
    -- The reader's message names file, line and column; the Lua position adds nothing.
    io.stderr:write("graphids data convert: ", errors.strip_own_position(report), "\n")
    return 1
  end
  for _, msg in ipairs(report.errors) do
    io.stderr:write("skipped: ", msg, "\n")
  end
  if report.skipped > #report.errors then
    io.stderr:write(string.format("skipped: ... %d more\n", report.skipped - #report.errors))
  end
  io.stdout:write(string.format("%s: %d frames (%s), %d attack, %d skipped -> %s\n", pos[1],
    report.frames, report.format, report.labeled, report.skipped, pos[2]))
  return 0
end

return M
