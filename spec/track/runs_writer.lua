-- spec/track/runs_writer.lua -- the fixture of the `graphids runs --tracking-uri` specs: run dirs
-- and their tracking runs written by the runtime's own code (graphids.config's run files,
-- graphids.orchestrate.tracking's fit and test runs, stage.json_metrics, the markers), as the
-- stage verbs write them, without training.  Run by the host so that MLFLOW_TRACKING_URI and
-- MLFLOW_PARENT_RUN_ID in its environment choose the store and the parent:
--   MLFLOW_TRACKING_URI=URI graphids run spec/track/runs_writer.lua LAKE parent   -- prints its run id
--   MLFLOW_TRACKING_URI=URI graphids run spec/track/runs_writer.lua LAKE runs
--   MLFLOW_TRACKING_URI=URI graphids run spec/track/runs_writer.lua LAKE real   -- a real fit + test
-- "runs" writes (recipe, seed -> what happens):
--   gat 0, gat 1, vgae 0   fit FINISHED, tested (metrics below; gat 0 has a NaN and an "@" key)
--   gat 2                  fit FINISHED, not tested -> trained
--   dgi 0                  fit FAILED               -> incomplete
--   gat 3                  tested, then fitted again (markers cleared) -> trained, stale metrics
-- "real" fits and tests a tiny GAT (loss ce, seed 5) with the stage verbs, in a few seconds.
local config = require "graphids.config"
local core = require "graphids.core"
local ckpt = require "graphids.ckpt"
local gio = require "graphids.io"
local stage = require "graphids.orchestrate.stage"
local track = require "graphids.track"
local tracking = require "graphids.orchestrate.tracking"

local lake, mode = ...
assert(lake and (mode == "runs" or mode == "parent" or mode == "real"),
  "usage: runs_writer.lua LAKE runs|parent|real")

if mode == "parent" then
  local parent = track.parent_run({ experiment = "graphids/synthetic/group", run_name = "gat_group",
    lake_root = lake })
  io.stdout:write(assert(parent.run_id), "\n")
  return
end

if mode == "real" then
  package.path = "spec/?.lua;" .. package.path
  local tiny = require "orchestrate.support.tiny"
  local r = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = lake, seed = 5, loss = "ce" },
    set = tiny.set("gat") })
  config.write_run_files(r)
  local run = stage.build(r)
  stage.train(run, r)
  stage.evaluate(run, r)
  return
end

local function classifier(acc, f1)
  return { ["test/accuracy"] = acc, ["test/f1_macro"] = f1, ["test/auroc"] = (acc + 1) / 2,
    ["test/precision@0.95recall"] = f1 - 0.01, ["test/test_01_known_vehicle_known_attack/accuracy"] = acc,
    ["test/test_01_known_vehicle_known_attack/f1_macro"] = f1 }
end

local PLAN = {
  { "gat", 0, metrics = classifier(0.9, 0.875) },
  { "gat", 1, metrics = classifier(0.95, 0.9375) },
  { "vgae", 0, metrics = { ["test/f1"] = 0.75, ["test/auroc"] = 0.8125, ["test/threshold"] = 3.5 } },
  { "gat", 2 },
  { "dgi", 0, failed = true },
  { "gat", 3, metrics = classifier(0.5, 0.5), refit = true },
}
PLAN[1].metrics["test/ece"] = 0 / 0

local function marker(r, phase)
  ckpt.touch_marker(gio.join(r.run_dir, stage.MARKERS[phase]))
end

local function fit(r, ok)
  local h = tracking.start_fit(r)
  -- the commit's call (stage.lua): the run opens there
  h.open({ max_epochs = 1, epoch = 0 })
  tracking.end_fit(h, ok)
  if ok then marker(r, "train") end
end

for _, e in ipairs(PLAN) do
  local r = config.resolve("recipes/stages/" .. e[1] .. ".lua", { tla = { lake_root = lake, seed = e[2] } })
  config.write_run_files(r)
  fit(r, not e.failed)
  if e.metrics then
    assert(gio.write_json(gio.join(r.run_dir, "test_metrics.json"), stage.json_metrics(e.metrics)))
    marker(r, "test")
    tracking.log_test(r, e.metrics)
  end
  if e.refit then
    core.sleep(0.01) -- the new fit run starts after the test run (times are in ms)
    for _, m in pairs(stage.MARKERS) do os.remove(gio.join(r.run_dir, m)) end
    fit(r, true)
  end
end
