-- save_points_spec.lua -- where in a fit a save_checkpoint resumes exactly, and where it is
-- refused (a review of 2026-11-28): a retried fit after a failure inside an epoch's end or its
-- validation, on_train_batch_start, a callback's on_train_epoch_end before the monitors judged
-- the epoch, and a save listed before EMAWeightAveraging.
local class = require "graphids.class"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local function model()
  return tiny.MLP { in_dim = 4, hidden = 8, seed = 3 }
end

local function dm()
  return tiny.DataModule { n = 32, batch_size = 8, seed = 2 } -- 4 batches an epoch
end

-- A callback that runs fn(trainer, ...) in the hook named.
local function hook(name, fn)
  local C = class("Hook_" .. name, cb.Callback)
  C[name] = function(_, t, ...) return fn(t, ...) end
  return C()
end

describe("where save_checkpoint resumes exactly", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("a retried fit after a failure inside an epoch's end or validation saves as a fresh one", function()
    local ref = Trainer { max_epochs = 3, progress = "off" }
    ref:fit(model(), dm())
    local root = gio.join(dir, "run")
    for _, where in ipairs({ "on_train_epoch_end", "on_validation_epoch_start" }) do
      proc.rmtree(root)
      local failed = false
      local fail = hook(where, function(t)
        if t.epoch == 1 and not failed then
          failed = true
          error("fails once in " .. where, 0)
        end
      end)
      local mid = gio.join(dir, "mid.safetensors")
      local save = hook("on_train_batch_end", function(t)
        -- epoch 1 (the one the retry runs again), its second batch: before its end or
        -- validation, where the failure left the flags
        if t.global_step == 6 then t:save_checkpoint(mid) end
      end)
      local t = Trainer { max_epochs = 3, progress = "off", default_root_dir = root,
        callbacks = { fail, save } }
      local m, d = model(), dm()
      assert.matches("fails once", err_of(t.fit, t, m, d))
      -- the same trainer retried from its last epoch's file
      t:fit(m, d, { ckpt_path = gio.join(root, "checkpoints", "last.safetensors") })
      local c = ckpt.load(mid)
      assert.same({ 1, 6 }, { c.trainer.next_epoch, c.global_step })
      assert.is_table(c.trainer.epoch_sums)
      local t2 = Trainer { max_epochs = 3, progress = "off", log = function() end }
      local m2 = model()
      t2:fit(m2, dm(), { ckpt_path = mid })
      assert.equal(ref.global_step, t2.global_step)
      assert.is_true(tiny.same_weights(tiny.weights(ref.model), tiny.weights(m2)))
    end
  end)

  it("refuses a save in on_train_batch_start, whose batch the data position has passed", function()
    local p = gio.join(dir, "start.safetensors")
    local save = hook("on_train_batch_start", function(t)
      if t.global_step == 5 then t:save_checkpoint(p) end
    end)
    local t = Trainer { max_epochs = 3, progress = "off", callbacks = { save } }
    local err = err_of(t.fit, t, model(), dm())
    assert.truthy(err:find("Trainer:save_checkpoint: called in on_train_batch_start", 1, true), err)
    assert.is_false(gio.exists(p))
    -- (the flag does not outlive the hook: on_train_batch_end saves)
    local q = gio.join(dir, "end.safetensors")
    local at_end = hook("on_train_batch_end", function(tr)
      if tr.global_step == 2 then tr:save_checkpoint(q) end
    end)
    local t2 = Trainer { max_epochs = 1, progress = "off", callbacks = { at_end } }
    t2:fit(model(), dm())
    assert.is_true(gio.exists(q))
  end)

  it("a save listed before EMAWeightAveraging holds the step's average and resumes exactly", function()
    local function ema() return cb.EMAWeightAveraging { decay = 0.5 } end
    local ref = Trainer { max_epochs = 3, progress = "off", callbacks = { ema() } }
    ref:fit(model(), dm())
    local p = gio.join(dir, "preempt.safetensors")
    local save = hook("on_train_batch_end", function(t)
      if t.global_step == 6 then
        t:save_checkpoint(p)
        error("preempted", 0)
      end
    end)
    local t = Trainer { max_epochs = 3, progress = "off", callbacks = { save, ema() } }
    assert.matches("preempted", err_of(t.fit, t, model(), dm()))
    local t2 = Trainer { max_epochs = 3, progress = "off", callbacks = { ema() } }
    local m2 = model()
    t2:fit(m2, dm(), { ckpt_path = p })
    local same, name = tiny.same_weights(tiny.weights(ref.model), tiny.weights(m2))
    assert(same, "the resumed average differs at " .. tostring(name))
  end)

  it("refuses a save in a callback's on_train_epoch_end, before the monitors judged the epoch", function()
    local p = gio.join(dir, "epoch_end.safetensors")
    local save = hook("on_train_epoch_end", function(t)
      if t.epoch == 1 then t:save_checkpoint(p) end
    end)
    local t = Trainer { max_epochs = 10, progress = "off",
      callbacks = { save, cb.EarlyStopping { patience = 2, min_delta = 10 } } }
    local err = err_of(t.fit, t, model(), dm())
    assert.truthy(err:find("Trainer:save_checkpoint: called in an epoch's end before the checkpoint " ..
      "callbacks' turn", 1, true), err)
    assert.truthy(err:find("save in on_train_batch_end", 1, true), err)
    assert.is_false(gio.exists(p))
    -- what the refusal recommends, a save at the epoch's last batch, resumes into its end: the
    -- early stop comes at the uninterrupted fit's epoch
    local function stopper() return cb.EarlyStopping { patience = 2, min_delta = 10 } end
    local ref = Trainer { max_epochs = 10, progress = "off", callbacks = { stopper() } }
    ref:fit(model(), dm())
    assert.same({ 3, 12 }, { ref.epoch, ref.global_step }) -- stopped early
    local last_batch = hook("on_train_batch_end", function(tr)
      if tr.global_step == 8 then -- epoch 1's last batch
        tr:save_checkpoint(p)
        error("preempted", 0)
      end
    end)
    local t1 = Trainer { max_epochs = 10, progress = "off", callbacks = { last_batch, stopper() } }
    assert.matches("preempted", err_of(t1.fit, t1, model(), dm()))
    local t2 = Trainer { max_epochs = 10, progress = "off", callbacks = { stopper() } }
    local m2 = model()
    t2:fit(m2, dm(), { ckpt_path = p })
    assert.same({ ref.epoch, ref.global_step }, { t2.epoch, t2.global_step })
    assert.is_true(tiny.same_weights(tiny.weights(ref.model), tiny.weights(m2)))
  end)
end)
