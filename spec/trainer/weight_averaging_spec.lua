-- weight_averaging_spec.lua -- graphids.callbacks.EMAWeightAveraging with the real trainer on the
-- spec-local tiny MLP: the average's arithmetic, validation on the average, the fitted model,
-- checkpoint contents, exact resume, the update schedule, option errors.
local class = require "graphids.class"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local T = require "graphids.trainer"
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"

local Trainer = T.Trainer

local function model(seed)
  return tiny.MLP({ in_dim = 4, hidden = 8, seed = seed or 3, noise = 0.5 })
end

local function dm()
  return tiny.DataModule({ n = 48, batch_size = 8, seed = 2 })
end

local snapshot, same = tiny.weights, tiny.same_weights

-- Records the weights after every optimizer step, at each validation's end and at each epoch's
-- end.
local Probe = class("Probe", cb.Callback)
function Probe:__init()
  self.steps, self.after_val, self.val_end = {}, {}, {}
end
function Probe:on_validation_epoch_end(trainer)
  self.val_end[#self.val_end + 1] = snapshot(trainer.model)
end
function Probe:on_train_batch_end(trainer)
  self.steps[#self.steps + 1] = snapshot(trainer.model)
end
function Probe:on_train_epoch_end(trainer)
  self.after_val[#self.after_val + 1] = snapshot(trainer.model)
end

-- Records the weights validation runs with.
local ValProbe = class("ValProbe", cb.Callback)
function ValProbe:__init()
  self.validated = {}
end
function ValProbe:on_validation_epoch_start(trainer)
  self.validated[#self.validated + 1] = snapshot(trainer.model)
end

-- The average by hand: the first update copies, then a = a * d + (1 - d) * w (the callback's
-- own op order, so the results are bitwise equal).
local function ema_of(steps, d, first, last)
  local avg
  for s = first, last do
    local w = steps[s]
    if avg == nil then
      avg = {}
      for k, t in pairs(w) do avg[k] = t:clone() end
    else
      for k, t in pairs(w) do avg[k]:mul_(d):add_(t, { alpha = 1 - d }) end
    end
  end
  return avg
end

describe("graphids.callbacks.EMAWeightAveraging", function()
  local dir
  before_each(function()
    dir = proc.tmpdir()
  end)
  after_each(function()
    proc.rmtree(dir)
  end)

  it("validates, checkpoints and ends with the average; training steps the current weights", function()
    local probe, vprobe = Probe(), ValProbe()
    local m = model()
    local t = Trainer { max_epochs = 3, default_root_dir = dir, progress = "off",
      callbacks = { probe, cb.EMAWeightAveraging { decay = 0.9 }, vprobe } }
    t:fit(m, dm())
    assert.equal(18, #probe.steps) -- 6 batches a epoch
    -- validation of epoch e ran with the average of steps 1 .. 6e
    for e = 1, 3 do
      assert.is_true(same(ema_of(probe.steps, 0.9, 1, 6 * e), vprobe.validated[e]), "epoch " .. e)
      -- and every callback's on_validation_epoch_end sees it too, one listed before the
      -- averaging callback included (the average is swapped out after them)
      assert.is_true(same(vprobe.validated[e], probe.val_end[e]), "epoch " .. e)
    end
    -- after validation, training went on from the current weights
    for e = 1, 3 do
      assert.is_true(same(probe.steps[6 * e], probe.after_val[e]), "epoch " .. e)
    end
    local avg = ema_of(probe.steps, 0.9, 1, 18)
    assert.is_false(same(avg, probe.steps[18])) -- the average is not the last weights
    assert.is_true(same(avg, snapshot(m)))     -- the fitted model is the average
    local last = ckpt.load(gio.join(dir, "checkpoints/last.safetensors"))
    assert.is_true(same(avg, last.model))
    assert.is_true(same(probe.steps[18], last.current_model))
    assert.equal(18, last.callbacks.EMAWeightAveraging.n_averaged)
  end)

  it("updates from update_starting_at_step every update_every_n_steps steps", function()
    local probe = Probe()
    local m = model()
    local t = Trainer { max_epochs = 2, progress = "off",
      callbacks = { probe, cb.EMAWeightAveraging { decay = 0.5, update_every_n_steps = 3,
        update_starting_at_step = 5 } } }
    t:fit(m, dm())
    -- steps 6, 9 and 12 (global steps counted from 1)
    local avg = ema_of({ probe.steps[6], probe.steps[9], probe.steps[12] }, 0.5, 1, 3)
    assert.is_true(same(avg, snapshot(m)))
  end)

  it("changes nothing before its first update", function()
    local plain, averaged = model(), model()
    Trainer { max_epochs = 2, default_root_dir = gio.join(dir, "a"), progress = "off" }:fit(plain, dm())
    Trainer { max_epochs = 2, default_root_dir = gio.join(dir, "b"), progress = "off",
      callbacks = { cb.EMAWeightAveraging { update_starting_at_step = 1000 } } }:fit(averaged, dm())
    assert.is_true(same(snapshot(plain), snapshot(averaged)))
    local last = ckpt.load(gio.join(dir, "b", "checkpoints/last.safetensors"))
    assert.is_nil(last.current_model)
  end)

  it("resumes from last after a crash to the uninterrupted run's weights and files", function()
    local Crash = class("Crash", cb.Callback)
    function Crash.on_train_epoch_start(_, trainer)
      if trainer.epoch == 2 then error("simulated crash at epoch 2", 0) end
    end
    local function callbacks(extra)
      local list = { cb.ModelCheckpoint(), cb.EMAWeightAveraging { decay = 0.8 } }
      if extra then list[#list + 1] = extra end
      return list
    end
    local ref, run = gio.join(dir, "ref"), gio.join(dir, "run")
    local mref = model()
    Trainer { max_epochs = 4, default_root_dir = ref, progress = "off", callbacks = callbacks() }
      :fit(mref, dm())
    assert.error_matches(function()
      Trainer { max_epochs = 4, default_root_dir = run, progress = "off", callbacks = callbacks(Crash()) }
        :fit(model(), dm())
    end, "simulated crash at epoch 2")
    local m2 = model(77) -- other initial weights: the checkpoint decides
    Trainer { max_epochs = 4, default_root_dir = run, progress = "off", callbacks = callbacks() }
      :fit(m2, dm(), { ckpt_path = gio.join(run, "checkpoints/last.safetensors") })
    assert.is_true(same(snapshot(mref), snapshot(m2)))
    for _, f in ipairs({ "best_model.safetensors", "last.safetensors" }) do
      assert(proc.slurp(gio.join(ref, "checkpoints", f)) == proc.slurp(gio.join(run, "checkpoints", f)), f)
    end
  end)

  it("resumed without the callback, training goes on from the current weights", function()
    Trainer { max_epochs = 2, default_root_dir = dir, progress = "off",
      callbacks = { cb.EMAWeightAveraging { decay = 0.8 } } }:fit(model(), dm())
    local last = ckpt.load(gio.join(dir, "checkpoints/last.safetensors"))
    local probe = Probe()
    local m = model(77)
    local t = Trainer { max_epochs = 2, progress = "off", callbacks = { probe } }
    t:fit(m, dm(), { ckpt_path = last.path })
    assert.equal(0, #probe.steps) -- nothing left to train: the model is what was restored
    assert.is_true(same(last.current_model, snapshot(m)))
  end)

  it("a checkpoint saved after fit holds the training weights to resume from, not the average", function()
    local t = Trainer { max_epochs = 2, default_root_dir = dir, progress = "off",
      callbacks = { cb.EMAWeightAveraging { decay = 0.9 } } }
    local m = model()
    t:fit(m, dm())
    local after = gio.join(dir, "after.safetensors")
    t:save_checkpoint(after)
    local last = ckpt.load(gio.join(dir, "checkpoints/last.safetensors"))
    local c = ckpt.load(after)
    assert.is_true(same(last.current_model, c.current_model)) -- the weights training stopped at
    assert.is_true(same(last.model, c.model)) -- the average
    assert.is_false(same(c.model, c.current_model))
    assert.is_true(same(c.model, snapshot(m))) -- the fitted model is still the average
  end)

  it("rejects bad options, naming them", function()
    assert.error_matches(function() cb.EMAWeightAveraging { decay = 1 } end,
      "decay must be a number in %[0, 1%), got 1")
    assert.error_matches(function() cb.EMAWeightAveraging { decay = -0.1 } end, "decay must be")
    assert.error_matches(function() cb.EMAWeightAveraging { update_every_n_steps = 0 } end,
      "update_every_n_steps must be an integer >= 1, got 0")
    assert.error_matches(function() cb.EMAWeightAveraging { update_starting_at_step = 1.5 } end,
      "update_starting_at_step must be an integer >= 0")
    assert.error_matches(function() cb.EMAWeightAveraging { decya = 0.9 } end, "decya")
  end)
end)
