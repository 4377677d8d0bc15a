-- graphids.cli.test -- `graphids test --config RECIPE [--tla k=v]... [--set a.b=v]... [--ckpt-path P]
-- [--json]`: resolve, build, evaluate with the run dir's best checkpoint (or P) on every test
-- set; prints the pooled and per-set metrics.
-- Exit codes: 0 tested, 1 an error, 2 usage.
local A = require "graphids.orchestrate.cliargs"
local fit = require "graphids.cli.fit"

local M = {}

M.summary = "test one stage's checkpoint on every test set"

local USAGE = [[
usage: graphids test --config RECIPE [--tla KEY=VALUE]... [--set A.B=VALUE]... [--data-root DIR]
                     [--lake-root DIR] [--ckpt-path P] [--json]

Tests the stage's best checkpoint (<run dir>/checkpoints/best_model.safetensors, or P) on every
test set after checking it against the configured model and the data's vocabulary.  Writes
predictions/test/<set>.safetensors, test_metrics.json and .test_complete into the run dir.

]] ..
  fit.OPTIONS:gsub("resume from this checkpoint %(checked against the model and vocabulary%)",
    "test this checkpoint instead of the run dir's best one") ..
  "  --json              print the metrics as one JSON object\n"

-- Whether the checkpoint at path is one of the run dir's own (its best or last, by content).
local function is_own_checkpoint(r, path)
  return require("graphids.ckpt").same_as_any(path, r.ckpt_file, r.last_ckpt)
end

-- r without its run dir: what stage.evaluate then writes is nothing at all.
local function without_run_dir(r)
  return require("graphids.orchestrate.record").unrecorded(r)
end

function M.main(args)
  local spec = { value = fit.SPEC.value, multi = fit.SPEC.multi, nonempty = fit.SPEC.nonempty,
    flag = { "--json" } }
  local o, err = A.parse(args, spec)
  if not o then return A.usage_error("test", err, USAGE) end
  if o.help then io.stdout:write(USAGE) return 0 end
  local r, code = fit.resolved_or_exit("test", o, USAGE)
  if not r then return code end
  local path
  path, code = fit.checkpoint_or_exit("test", o, r, "test")
  if not path then return code end
  -- Another run's checkpoint (--ckpt-path of seed 42 under --tla seed=5): its metrics are not this
  -- run dir's, and recorded there they would mark a run that never trained as tested.
  if o["--ckpt-path"] ~= nil and r.run_dir ~= nil and not is_own_checkpoint(r, path) then
    -- (a file that is no checkpoint fails here, before a note about whose checkpoint it is)
    local okl, lerr = pcall(require("graphids.ckpt").load, path)
    if not okl then return A.fail("test", lerr) end
    io.stderr:write(string.format("graphids test: %s is not a checkpoint of %s: its metrics are " ..
      "printed, not recorded there\n", path, r.run_dir))
    r = without_run_dir(r)
  end
  -- Other data or another model than the run dir's fit had (--set data.init_args.window_size=50):
  -- the metrics measure something its record does not say, so they are not recorded there.
  local record = require "graphids.orchestrate.record"
  local okc, changed = pcall(record.changes, r, record.TESTED)
  if not okc then return A.fail("test", changed) end -- a record that does not read
  if changed ~= nil then
    io.stderr:write(string.format("graphids test: %s was trained with other settings (%s): the " ..
      "metrics are printed, not recorded there\n", r.run_dir, changed))
    r = without_run_dir(r)
  end
  local ok, res = pcall(function()
    local stage = require "graphids.orchestrate.stage"
    -- (a test runs no distillation loss: a distilled GAT is built without its teacher)
    local art = stage.build(r, { teacher_use = false })
    return stage.evaluate(art, r, { ckpt_path = path, write_run_files = true })
  end)
  if not ok then return A.fail("test", res) end
  local metrics = require "graphids.metrics"
  if o["--json"] then
    local json = require "graphids.json"
    io.stdout:write(json.encode(require("graphids.orchestrate.stage").json_metrics(res)), "\n")
  else
    io.stdout:write(metrics.format(res), "\n")
  end
  return 0
end

return M
