-- graphids.cli.pipeline -- `graphids pipeline PIPELINE.lua [--tla k=v]... [--data-root D]
-- [--lake-root L] [--dry-run]`: run a DAG of stages with skip/resume, then print the results
-- table (accuracy, F1, AUROC, time per stage; per test set) and where the artifacts are.
-- Exit codes: 0 every stage ok or skipped, 1 a stage failed (or the pipeline is invalid, or a
-- dry run found a problem), 2 usage.
local A = require "graphids.orchestrate.cliargs"

local M = {}

M.summary = "run a pipeline of stages (skip what is complete, resume what was interrupted)"

local USAGE = [[
usage: graphids pipeline PIPELINE.lua [--tla KEY=VALUE]... [--data-root DIR] [--lake-root DIR]
                         [--dry-run] [--traceback]

Runs each stage of the pipeline in order, in this process.  A stage is skipped when its
.test_complete marker and best checkpoint exist, resumed from checkpoints/last when a fit was
interrupted, evaluated only when it was trained but not tested, and run otherwise.  A failed
stage blocks the stages that depend on it; the others run.

options:
  --tla KEY=VALUE     a top-level argument of the pipeline (dataset, seed, scale, data_root,
                      lake_root, graphs, device, fusion_method, loss, kd); VALUE is JSON,
                      else a string; repeatable
]] .. A.ROOT_HELP .. [[
  --dry-run           print the plan (what each stage would do, and why) and stop; exit 1
                      when a stage's dataset is missing, its run dir cannot be created,
                      read or written, or a checkpoint it would resume or evaluate is
                      unreadable or of another model
  --traceback         keep Lua tracebacks in stage errors
  -h, --help          this text

example:
  graphids pipeline recipes/pipelines/graphids.lua --tla dataset=hcrl_sa --data-root ../shared/data/can
]]

function M.main(args)
  local o, err = A.parse(args, { value = { "--data-root", "--lake-root" }, multi = { "--tla" },
    flag = { "--dry-run", "--traceback" }, positional = 1, nonempty = { "--data-root", "--lake-root" } })
  if not o then return A.usage_error("pipeline", err, USAGE) end
  if o.help then io.stdout:write(USAGE) return 0 end
  local path = o.positional[1]
  if path == nil then return A.usage_error("pipeline", "missing PIPELINE.lua", USAGE) end
  if path == "" then return A.usage_error("pipeline", "PIPELINE.lua needs a recipe path, got ''", USAGE) end
  local tla, terr = A.kv_table(o["--tla"])
  if not tla then return A.usage_error("pipeline", terr, USAGE) end
  local rerr
  tla, rerr = A.root_shorthands(o, tla)
  if not tla then return A.usage_error("pipeline", rerr, USAGE) end
  local pipeline = require "graphids.orchestrate.pipeline"
  local ok, p = pcall(pipeline.load, path, tla)
  if not ok then return A.fail("pipeline", p) end
  pipeline.print_plan(p)
  if o["--dry-run"] then
    local problems = pipeline.check(p)
    for _, q in ipairs(problems) do
      io.stderr:write(string.format("graphids pipeline: stage '%s': %s\n", q.stage, q.problem))
    end
    return #problems > 0 and 1 or 0
  end
  local t0 = require("graphids").clock()
  local ex = require("graphids.orchestrate.executor").local_executor { traceback = o["--traceback"] }
  local results = pipeline.run(p, { executor = ex })
  pipeline.print_results(results)
  io.stdout:write(string.format("\ntotal %.1f s\n", require("graphids").clock() - t0))
  if results.interrupted then return 130 end -- as a shell reports a run stopped by Ctrl-C
  for _, r in ipairs(results) do
    if r.status == "failed" or r.status == "blocked" then
      return 1
    end
  end
  return 0
end

return M
