-- graphids.cli.pipeline -- `graphids pipeline PIPELINE.lua [--tla k=v]... [--data-root D]
-- [--lake-root L] [--dry-run]`: run a DAG of stages with skip/resume, then print the results
-- table (accuracy, F1, AUROC, time per stage; per test set) and where the artifacts are.
-- Exit codes: 0 every stage ok or skipped, 1 a stage failed (or the pipeline is invalid), 2 usage.
local A = require "graphids.orchestrate.cliargs"

local M = {}

M.summary = "run a pipeline of stages (skip what is complete, resume what was interrupted)"

local USAGE = [[
usage: graphids pipeline PIPELINE.lua [--tla KEY=VALUE]... [--data-root DIR] [--lake-root DIR] [--dry-run]

Runs each stage of the pipeline in order, in this process.  A stage is skipped when its
.test_complete marker and best checkpoint exist, resumed from checkpoints/last when a fit was
interrupted, evaluated only when it was trained but not tested, and run otherwise.  A failed
stage blocks the stages that depend on it; the others run.

options:
  --tla KEY=VALUE     a top-level argument of the pipeline (dataset, seed, scale, data_root,
                      lake_root, fusion_method, loss); VALUE is JSON, else a string; repeatable
  --data-root DIR     the same as --tla data_root=DIR
  --lake-root DIR     the same as --tla lake_root=DIR (run dirs, caches; default ./lake)
  --dry-run           print the plan (what each stage would do, and why) and stop
  --traceback         keep Lua tracebacks in stage errors
  -h, --help          this text

example:
  graphids pipeline recipes/pipelines/graphids.lua --tla dataset=hcrl_sa --data-root ../shared/data/can
]]

function M.main(args)
  local o, err = A.parse(args, { value = { "--data-root", "--lake-root" }, multi = { "--tla" },
    flag = { "--dry-run", "--traceback" }, positional = 1 })
  if not o then return A.usage_error("pipeline", err, USAGE) end
  if o.help then io.stdout:write(USAGE) return 0 end
  local path = o.positional[1]
  if path == nil then return A.usage_error("pipeline", "missing PIPELINE.lua", USAGE) end
  local tla, terr = A.kv_table(o["--tla"])
  if not tla then return A.usage_error("pipeline", terr, USAGE) end
  if o["--data-root"] then tla.data_root = o["--data-root"] end
  if o["--lake-root"] then tla.lake_root = o["--lake-root"] end
  local pipeline = require "graphids.orchestrate.pipeline"
  local ok, p = pcall(pipeline.load, path, tla)
  if not ok then return A.fail("pipeline", p) end
  pipeline.print_plan(p)
  if o["--dry-run"] then
    return 0
  end
  local t0 = require("graphids").clock()
  local ex = require("graphids.orchestrate.executor").local_executor { traceback = o["--traceback"] }
  local results = pipeline.run(p, { executor = ex })
  pipeline.print_results(results)
  io.stdout:write(string.format("\ntotal %.1f s\n", require("graphids").clock() - t0))
  for _, r in ipairs(results) do
    if r.status == "failed" or r.status == "blocked" then
      return 1
    end
  end
  return 0
end

return M
