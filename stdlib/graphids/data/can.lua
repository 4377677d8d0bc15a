-- graphids.data.can -- CAN logs: readers, the canonical CSV writer, conversion and the built-in
-- traffic simulator (merged into graphids.data).
--   local data = require "graphids.data"
--   local frames, report = data.read_can("capture.log", {attack_frames = {"115#4E0002000000FFFF"}})
--   data.write_csv(frames, "capture.csv")
--   data.convert("capture.log", "capture.csv", {lenient = true})
--   data.simulate{out = "data/sim", seed = 1}          -- hcrl_sa-style dataset
--   local cap = data.simulate_capture{attack = "DoS", seed = 1, frames = 5000}
-- Formats, options and the simulator's model: docs/data-formats.md.
local core = require "graphids.core"
local U = require "graphids.nn._util"

local M = {}

-- The reader's format names ("auto" first).
M.can_formats = core.can_formats()

-- read_can(path, opts) -> CanFrames, report.  opts: format, lenient, time_tolerance, columns
-- ({ts=, id=, data=, dlc=, label=}), id_base, attack_frames ({"ID#DATA"...}), attack_ids ({"ID"...}).
M.read_can = core.read_can

-- read_can_many(paths, opts) -> {CanFrames...}, {report...}: files read in parallel.
M.read_can_many = core.read_can_many

-- write_csv(frames, path [, i, j]): the canonical CSV of frames i..j (1-based, inclusive).
function M.write_csv(frames, path, i, j)
  frames:write_csv(path, i, j)
end

-- convert(input, output, opts) -> report: reads any supported log (read_can's options) and
-- writes the canonical CSV.
function M.convert(input, output, opts)
  assert(type(input) == "string", "convert: input must be a path")
  assert(type(output) == "string", "convert: output must be a path")
  local frames, report = core.read_can(input, opts)
  local ok, err = pcall(frames.write_csv, frames, output)
  frames:free() -- at once: a capture can be large
  if not ok then
    error(err, 0)
  end
  return report
end

-- seed and frames default in the C simulator (0 and 25000).
local SIM_OPTS = { out = U.NONE, seed = U.NONE, frames = U.NONE }

-- simulate{out = DIR, seed = 0, frames = 25000} -> {files=, frames=, attack_frames=}: writes a
-- dataset in the hcrl_sa layout (frames per file); DIR and its parents are created as needed,
-- as `graphids data simulate` does.
function M.simulate(opts)
  if type(opts) ~= "table" then
    error("simulate: expected an options table {out = DIR, seed =, frames =}, got " .. type(opts), 2)
  end
  local o = U.options("simulate", opts, SIM_OPTS)
  if type(o.out) ~= "string" then
    error("simulate: option out (the dataset folder) must be a string", 2)
  end
  local made, err = require("graphids.io").mkdir_p(o.out)
  if not made then error("simulate: cannot create " .. o.out .. ": " .. tostring(err), 2) end
  return core.can_simulate_dataset(o.out, { seed = o.seed, frames = o.frames })
end

-- simulate_capture{attack=, seed=, frames=, vehicle=, capture=} -> CanFrames of one capture
-- (attack: normal, DoS, fuzzing, gear, rpm, replay, suspension).
M.simulate_capture = core.can_simulate

return M
