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

local SIM_OPTS = { out = true, seed = true, frames = true }

-- simulate{out = DIR, seed = 0, frames = 25000} -> {files=, frames=, attack_frames=}: writes a
-- dataset in the hcrl_sa layout (frames per file).
function M.simulate(opts)
  assert(type(opts) == "table", "simulate: options table expected")
  local keys = {}
  for k in pairs(opts) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not SIM_OPTS[k] then
      error("simulate: unknown option '" .. k .. "' (allowed: frames, out, seed)", 2)
    end
  end
  if type(opts.out) ~= "string" then
    error("simulate: option out (the dataset folder) must be a string", 2)
  end
  return core.can_simulate_dataset(opts.out, { seed = opts.seed, frames = opts.frames })
end

-- simulate_capture{attack=, seed=, frames=, vehicle=, capture=} -> CanFrames of one capture
-- (attack: normal, DoS, fuzzing, gear, rpm, replay, suspension).
M.simulate_capture = core.can_simulate

return M
