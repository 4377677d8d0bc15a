-- graphids.track.Callback in the real trainer (spec-local tiny MLP), into a FileStore: one
-- metric line per epoch with step = epoch, checkpoint hash, FINISHED; a fit that fails ends
-- its run FAILED with the error in a tag and in traces.jsonl, and the error still propagates.
local core = require "graphids.core"
local class = require "graphids.class"
local json = require "graphids.json"
local Callback = require "graphids.callbacks.base"
local T = require "graphids.trainer"
local tiny = require "trainer.support.tiny"
local fixture = require "track.support.fixture"
local track = require "graphids.track"
local filestore = require "graphids.track.filestore"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local Boom = class("Boom", Callback)
function Boom.on_validation_epoch_end(_, trainer)
  if trainer.epoch == 1 then error("boom in epoch 1", 0) end
end

local function fit(dir, extra)
  local run_dir = dir .. "/run"
  local cbs = { track.Callback({ run_dir = run_dir, uri = "file:" .. dir .. "/mlruns", experiment = "cb",
    run_name = "tiny", params = { hidden = 8 } }) }
  if extra then cbs[#cbs + 1] = extra end
  local trainer = T.Trainer({ max_epochs = 3, default_root_dir = run_dir, progress = "off", callbacks = cbs })
  local ok, err = pcall(trainer.fit, trainer, tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }),
    tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
  local fs = assert(filestore.new(dir .. "/mlruns"))
  local exp = assert(fs:find_experiment("cb"))
  local key = cbs[1].run.key
  local id = assert(fs:find_run(exp, "graphids.run_key", key) or nil)
  return ok, err, dir .. "/mlruns/" .. exp .. "/" .. id, run_dir, trainer
end

describe("graphids.track.Callback", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("tracks a fit: per-epoch metrics at step = epoch, peak memory, checkpoint hash, FINISHED", function()
    local ok, err, run, run_dir, trainer = fit(dir)
    assert(ok, err)
    local lines = {}
    for l in (read(run .. "/metrics/train_loss") or ""):gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(3, #lines)
    for e = 0, 2 do assert.matches("^%d+ [%d.e%-]+ " .. e .. "$", lines[e + 1]) end
    assert.matches(" 3.0 3\n$", read(run .. "/metrics/epochs_run"))
    assert.is_not_nil(read(run .. "/metrics/peak_cpu_mb"))
    local best = trainer:checkpoint_callback():best_model_path()
    assert.equal(core.sha256_file(best), read(run .. "/tags/graphids.ckpt_sha256"))
    assert.equal("8", read(run .. "/params/hidden"))
    assert.matches("\nstatus: 3\n", read(run .. "/meta.yaml"))
    local events = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do
      local r = json.decode(l)
      events[#events + 1] = r.event .. (r.span and (":" .. r.span .. ":" .. (r.status or "")) or "")
    end
    assert.same({ "span_start:fit:", "span_start:epoch:", "span_end:epoch:ok", "span_start:epoch:",
      "span_end:epoch:ok", "span_start:epoch:", "span_end:epoch:ok", "span_end:fit:ok" }, events)
    -- the epoch spans sit inside the fit span and carry the epoch's metrics
    local recs = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do recs[#recs + 1] = json.decode(l) end
    assert.equal(recs[1].span_id, recs[3].parent_id)
    assert.equal(0, recs[3].epoch)
    assert.equal("number", type(recs[3].train_loss))
  end)

  it("traces a resumed fit's checkpoint and next epoch inside its fit span", function()
    local ok, err, _, run_dir, trainer = fit(dir)
    assert(ok, err)
    local last = trainer:checkpoint_callback():last_model_path()
    local warned = {}
    local resumed = T.Trainer({ max_epochs = 4, default_root_dir = run_dir, progress = "off",
      log = function(line) warned[#warned + 1] = line end,
      callbacks = { track.Callback({ run_dir = run_dir, uri = "file:" .. dir .. "/mlruns", experiment = "cb",
        run_name = "tiny" }) } })
    local data = tiny.DataModule({ n = 32, batch_size = 8, seed = 2 })
    resumed:fit(tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }), data, { ckpt_path = last })
    local recs, fit_spans = {}, {}
    for l in io.lines(run_dir .. "/traces.jsonl") do
      local r = json.decode(l)
      recs[#recs + 1] = r
      if r.event == "span_start" and r.span == "fit" then fit_spans[#fit_spans + 1] = r end
    end
    local ev
    for _, r in ipairs(recs) do
      if r.event == "resumed_from_checkpoint" then
        assert.is_nil(ev, "one event")
        ev = r
      end
    end
    assert.is_not_nil(ev)
    assert.same({ last, 3, 12, fit_spans[2].span_id }, { ev.path, ev.epoch, ev.global_step, ev.parent_id })
    assert.matches("schedule was built for max_epochs = 3", table.concat(warned, "\n"))
  end)

  it("ends the run FAILED with the error when the fit fails, and the error propagates", function()
    local ok, err, run, run_dir = fit(dir, Boom())
    assert.is_false(ok)
    assert.equal("boom in epoch 1", err)
    assert.matches("\nstatus: 4\n", read(run .. "/meta.yaml"))
    assert.equal("boom in epoch 1", read(run .. "/tags/graphids.error"))
    local recs = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do recs[#recs + 1] = json.decode(l) end
    local last, before = recs[#recs], recs[#recs - 1]
    assert.same({ "span_end", "fit", "error", "boom in epoch 1" },
      { last.event, last.span, last.status, last.error })
    -- the epoch span the error interrupted is closed as an error first
    assert.same({ "span_end", "epoch", "error" }, { before.event, before.span, before.status })
  end)

  it("a test failing after the fit closes its test span as an error, the run staying FINISHED", function()
    local ok, err, run, run_dir, trainer = fit(dir)
    assert.is_true(ok, err)
    local m = tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 })
    rawset(m, "test_step", function() error("boom in test", 0) end)
    local tok, terr = pcall(trainer.test, trainer, m, tiny.DataModule({ n = 32, batch_size = 8, seed = 2 }))
    assert.is_false(tok)
    assert.equal("boom in test", terr)
    assert.matches("\nstatus: 3\n", read(run .. "/meta.yaml")) -- FINISHED, as the fit ended
    assert.is_nil(read(run .. "/tags/graphids.error"))
    local recs = {}
    for l in io.lines(run_dir .. "/traces.jsonl") do recs[#recs + 1] = json.decode(l) end
    local last = recs[#recs]
    assert.same({ "span_end", "test", "error", "boom in test" },
      { last.event, last.span, last.status, last.error })
  end)
end)
