-- pipeline_reuse_spec.lua -- what a pipeline does with a run dir whose fit was configured
-- otherwise, or whose files are partly gone: a test of other data or another model is printed,
-- not recorded as the fit's; a resume under another configuration (but the budget) is refused
-- with the fit's record kept; `last` without the best checkpoint trains again, and no fit is
-- marked trained without its best checkpoint; two stages never share a run dir.
local gio = require "graphids.io"
local pipeline = require "graphids.orchestrate.pipeline"
local stage = require "graphids.orchestrate.stage"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"

local lua = tiny.lua_source

-- A pipeline of one GAT stage 'gat' on the tiny dataset; TLAs ws (window size), lr, epochs and
-- frames (of the simulated captures) change its configuration (0: the tiny default).
local PIPE = table.concat({
  "return function(tla)",
  "  local a = arguments(tla, {lake_root = '', ws = 0, lr = 0.0, epochs = 0, frames = 0})",
  "  local set = " .. lua(tiny.set("gat")),
  "  if a.frames > 0 then",
  "    local cat = " .. lua(tiny.CATALOG),
  "    cat.synthetic.frames = a.frames",
  "    set[#set + 1] = {'data.init_args.catalog', cat}",
  "  end",
  "  if a.ws > 0 then set[#set + 1] = {'data.init_args.window_size', a.ws} end",
  "  if a.lr > 0 then set[#set + 1] = {'model.init_args.lr', a.lr} end",
  "  if a.epochs > 0 then set[#set + 1] = {'trainer.max_epochs', a.epochs} end",
  "  return {name = 'reuse', stages = {",
  "    {name = 'gat', recipe = 'stages/gat.lua', tla = {lake_root = a.lake_root}, set = set},",
  "  }}",
  "end",
}, "\n")

describe("a pipeline reusing a run dir", function()
  local tmp, path
  setup(function()
    tmp = proc.tmpdir()
    path = gio.join(tmp, "reuse.lua")
    proc.spit(path, PIPE)
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function quiet_run(p)
    local lines = {}
    local res = pipeline.run(p, { log = function(s) lines[#lines + 1] = s end })
    return res[1], table.concat(lines, "\n")
  end

  -- what print(x, out) writes, as one string
  local function printed(print, x)
    local out = {}
    print(x, { write = function(_, ...) for _, s in ipairs({ ... }) do out[#out + 1] = s end end })
    return table.concat(out)
  end
  local function results_text(rows) return printed(pipeline.print_results, rows) end
  local function plan_text(p) return printed(pipeline.print_plan, p) end

  -- a lake of its own with the stage trained and tested; returns the stage's run dir
  local function trained(name)
    local lake = gio.join(tmp, name)
    local res = quiet_run(pipeline.load(path, { lake_root = lake }))
    assert.equal("ok", res.status, res.error)
    return lake, res.run_dir
  end

  it("tests other data than the fit's without recording it in the run dir, as graphids test does", function()
    local lake, dir = trained("lake_eval")
    os.remove(gio.join(dir, ".test_complete"))
    local before = tiny.snapshot(dir, true)
    local p = pipeline.load(path, { lake_root = lake, ws = 50 })
    local action, why = pipeline.decide(p.stages[1])
    assert.equal("evaluate", action)
    assert.truthy(why:find("it was trained with other settings (data.init_args.window_size): tested with " ..
      "these, its metrics are printed, not recorded there", 1, true), why)
    assert.truthy(plan_text(p):find("not recorded there", 1, true))
    local res, log = quiet_run(p)
    assert.equal("ok", res.status, res.error)
    assert.equal("data.init_args.window_size", res.unrecorded)
    assert.is_number(res.metrics["test/accuracy"])
    assert.truthy(log:find("metrics not recorded in " .. dir, 1, true), log)
    -- nothing of the run dir changed: no marker, metrics, sidecars or record of 50-frame windows
    assert.is_false(gio.exists(gio.join(dir, ".test_complete")))
    assert.equal(before, tiny.snapshot(dir, true))
    local text = results_text({ res })
    assert.truthy(text:find("gat%s+ok%s+[%d.]+%s+[%d.]+%s+[%d.]+%s+[%d.]+%s+not recorded"), text)
    assert.truthy(text:find("not recorded: it was trained with other settings (data.init_args.window_size)",
      1, true), text)
    -- stage.evaluate refuses to record such a test into the run dir, for any caller
    local r = p.stages[1].resolved
    local ok, err = pcall(stage.evaluate, stage.build(r), r, { write_run_files = true })
    assert.is_false(ok)
    err = tostring(err)
    assert.truthy(err:find(dir .. " was trained with other settings (data.init_args.window_size): a test " ..
      "with these would be recorded as its fit's", 1, true), err)
    assert.equal(before, tiny.snapshot(dir, true))
    -- the fit's own configuration is tested and recorded as before
    res = quiet_run(pipeline.load(path, { lake_root = lake }))
    assert.equal("evaluate", res.action)
    assert.is_nil(res.unrecorded)
    assert.is_true(gio.exists(gio.join(dir, ".test_complete")))
  end)

  it("refuses to resume a fit under another configuration, keeping its record; the budget may change",
    function()
    local lake, dir = trained("lake_resume")
    local resolved_json = gio.join(dir, "resolved.json")
    local record = proc.slurp(resolved_json)
    os.remove(gio.join(dir, ".test_complete"))
    os.remove(gio.join(dir, ".train_complete"))
    local p = pipeline.load(path, { lake_root = lake, lr = 0.5 })
    local action, why = pipeline.decide(p.stages[1])
    assert.equal("resume", action)
    assert.truthy(why:find("its fit was started with another configuration (model.init_args.lr), and a " ..
      "resume continues that fit", 1, true), why)
    -- the plan's check names it, and the run fails the stage without touching the run dir
    local problems = pipeline.check(p)
    assert.equal(1, #problems)
    assert.truthy(problems[1].problem:find("cannot resume " .. dir, 1, true), problems[1].problem)
    local before = tiny.snapshot(dir, true)
    local res = quiet_run(p)
    assert.equal("failed", res.status)
    assert.truthy(res.error:find("cannot resume " .. dir .. ": its fit was started with another " ..
      "configuration (model.init_args.lr)", 1, true), res.error)
    assert.equal(before, tiny.snapshot(dir, true))
    assert.equal(record, proc.slurp(resolved_json))
    -- stage.train (graphids fit --ckpt-path last) refuses it too, before the fit commits
    local r = p.stages[1].resolved
    local ok, err = pcall(stage.train, stage.build(r), r,
      { resume_from = r.last_ckpt, write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot resume " .. dir .. ": its fit was started with another " ..
      "configuration (model.init_args.lr)", 1, true), tostring(err))
    assert.equal(before, tiny.snapshot(dir, true))
    -- with the fit's own configuration it resumes, and the record is still the fit's
    res = quiet_run(pipeline.load(path, { lake_root = lake }))
    assert.equal("resume", res.action)
    assert.equal("ok", res.status, res.error)
    assert.equal(record, proc.slurp(resolved_json))
    assert.same({ "skip", ".test_complete and best checkpoint exist" },
      { pipeline.decide(pipeline.load(path, { lake_root = lake }).stages[1]) })
    -- a longer budget continues the fit, and the record says the budget it ran to
    os.remove(gio.join(dir, ".test_complete"))
    os.remove(gio.join(dir, ".train_complete"))
    p = pipeline.load(path, { lake_root = lake, epochs = 3 })
    action, why = pipeline.decide(p.stages[1])
    assert.same({ "resume", "checkpoints/last exists without .train_complete; it goes on with the new " ..
      "budget (trainer.max_epochs)" }, { action, why })
    res = quiet_run(p)
    assert.equal("ok", res.status, res.error)
    assert.equal(3, gio.read_json(resolved_json).trainer.max_epochs)
  end)

  it("trains again when last exists without the best checkpoint, and never marks a fit without it",
    function()
    local lake, dir = trained("lake_nobest")
    for _, f in ipairs({ ".train_complete", ".test_complete", "checkpoints/best_model.safetensors",
      "checkpoints/best_model.safetensors.sha256" }) do
      os.remove(gio.join(dir, f))
    end
    assert.is_true(gio.exists(gio.join(dir, "checkpoints/last.safetensors")))
    local p = pipeline.load(path, { lake_root = lake })
    assert.same({ "run", "checkpoints/last exists without the best checkpoint: trains again" },
      { pipeline.decide(p.stages[1]) })
    local res = quiet_run(p)
    assert.equal("ok", res.status, res.error)
    for _, f in ipairs({ ".train_complete", ".test_complete", "checkpoints/best_model.safetensors" }) do
      assert.is_true(gio.exists(gio.join(dir, f)), f)
    end
    -- a resume that trains no epoch (its checkpoint at its end) saves no best checkpoint: the
    -- fit fails rather than leave .train_complete without one
    for _, f in ipairs({ ".train_complete", ".test_complete", "checkpoints/best_model.safetensors",
      "checkpoints/best_model.safetensors.sha256" }) do
      os.remove(gio.join(dir, f))
    end
    local r = p.stages[1].resolved
    local ok, err = pcall(stage.train, stage.build(r), r,
      { resume_from = r.last_ckpt, write_run_files = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("the fit ended without its best checkpoint " .. r.ckpt_file, 1, true),
      tostring(err))
    assert.is_false(gio.exists(gio.join(dir, ".train_complete")))
  end)

  it("rebuilds a simulated dataset's cache made from another simulation's captures before a stage reads it",
    function()
    local lake = trained("lake_sim")
    local function raw_of_cache()
      local root = gio.join(lake, "cache", "v1", "synthetic")
      local variants = gio.list_dir(root)
      assert.equal(1, #variants)
      return gio.read_json(gio.join(root, variants[1], "cache_metadata.json")).raw_dir
    end
    assert.equal(gio.join(lake, "raw", "synthetic-frames1500-seed11"), raw_of_cache())
    local r = pipeline.load(path, { lake_root = lake, frames = 1600 }).stages[1].resolved
    local dm = stage.build(r).datamodule
    assert.equal(gio.join(lake, "raw", "synthetic-frames1600-seed11"), raw_of_cache())
    assert.equal(gio.join(lake, "raw", "synthetic-frames1600-seed11"), dm.cache.metadata.raw_dir)
  end)

  it("refuses at load two stages that share a run dir, naming both and the folder", function()
    local lake = gio.join(tmp, "lake_dup")
    local text = table.concat({
      "return {name = 'dup', stages = {",
      "  {name = 'small', recipe = 'stages/gat.lua', tla = {lake_root = " .. lua(lake) .. "},",
      "    set = " .. lua(tiny.set("gat", { { "model.init_args.hidden", 8 } })) .. "},",
      -- (the same folder written another way)
      "  {name = 'wide', recipe = 'stages/gat.lua', tla = {lake_root = " .. lua(lake .. "/.") .. "},",
      "    set = " .. lua(tiny.set("gat", { { "model.init_args.hidden", 32 } })) .. "},",
      "}}",
    }, "\n")
    local dup = gio.join(tmp, "dup.lua")
    proc.spit(dup, text)
    local ok, err = pcall(pipeline.load, dup)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("pipeline " .. dup .. ": stages 'small' and 'wide' share the run dir " ..
      lake .. "/./synthetic/gat/focal/seed_42", 1, true), tostring(err))
    assert.is_false(gio.exists(lake))
  end)
end)
