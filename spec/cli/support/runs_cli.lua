-- spec/cli/support/runs_cli.lua -- for the `graphids runs` specs: tested-run records, the runs CLI
-- called in-process over such records (what it writes captured), and run dirs on disk.
--   local R = require "cli.support.runs_cli"
--   local rc, out, err = R.call({"compare", "--lake-root", tmp}, {R.rec("a", 1, 0.9), ...})
--   R.run_dir(root, "d/gat/a/seed_1", '{"identity": {...}}', '{"test/f1_macro": 0.5}')
local gio = require "graphids.io"
local proc = require "trainer.support.proc"

local M = {}

-- A tested run of dataset "d" (stage "gat" unless given) as graphids.orchestrate.runs reads one,
-- with metrics = {[key or "test/f1_macro"] = value}.
function M.rec(variant, seed, value, key, stage)
  return { dir = variant .. seed, status = "tested", metrics = { [key or "test/f1_macro"] = value },
    problems = {}, identity = { dataset = "d", stage = stage or "gat", variant = variant, seed = seed } }
end

local function sink(t)
  return { write = function(_, ...) table.move({ ... }, 1, select("#", ...), #t + 1, t) end }
end

-- rc, stdout, stderr of graphids.cli.runs.main(args) with runs.scan handing over `records` (or
-- records() itself when it is a function: one that raises, say); the lake root need only exist.
function M.call(args, records)
  local cli = require "graphids.cli.runs"
  local runs = require "graphids.orchestrate.runs"
  local out, err = {}, {}
  local scan, real_out, real_err = runs.scan, io.stdout, io.stderr
  runs.scan = type(records) == "function" and records or function() return records end
  io.stdout, io.stderr = sink(out), sink(err) -- luacheck: ignore 122
  local ok, rc = pcall(cli.main, args)
  io.stdout, io.stderr = real_out, real_err -- luacheck: ignore 122
  runs.scan = scan
  assert(ok, rc)
  return rc, table.concat(out), table.concat(err)
end

-- Writes <root>/<rel>/resolved.json (the text given) and, with metrics (JSON text),
-- test_metrics.json and the .test_complete marker: a tested run.  Returns the run dir.
function M.run_dir(root, rel, resolved, metrics)
  local dir = gio.join(root, rel)
  assert(gio.mkdir_p(dir))
  proc.spit(gio.join(dir, "resolved.json"), resolved)
  if metrics then
    proc.spit(gio.join(dir, "test_metrics.json"), metrics)
    proc.spit(gio.join(dir, ".test_complete"), "")
  end
  return dir
end

return M
