-- scheduler_config_spec.lua -- configure_optimizers' scheduler config, Lightning 2.x's
-- lr_scheduler dict (trainer/scheduler_config.lua): a OneCycleLR stepped per optimizer step
-- follows torch's trajectory, accumulation and a GradScaler's skipped steps, frequency, the
-- plateau schedule's monitor and strict, LearningRateMonitor's name, exact resume of a per-step
-- schedule (mid-epoch, inside a group, from `last`), and the errors for a bad config.
local class = require "graphids.class"
local gio = require "graphids.io"
local amp = require "graphids.amp"
local optim = require "graphids.optim"
local cb = require "graphids.callbacks"
local ckpt = require "graphids.ckpt"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local S = optim.lr_scheduler
local EPOCH = { logging_interval = "epoch" }

-- 44 graphs in batches of 8: 6 training batches an epoch.
local function dm()
  return tiny.DataModule({ n = 44, batch_size = 8, seed = 2 })
end

-- The tiny MLP whose configure_optimizers returns Adam(lr 0.05) and make(opt, opts).
local function model(make, hp)
  local m = tiny.small_mlp(hp)
  rawset(m, "configure_optimizers", function(self, opts)
    local opt = optim.Adam(self:parameters(), { lr = 0.05 })
    return opt, make(opt, opts)
  end)
  return m
end

-- Records the lr (and Adam's beta1) after each training batch, with the global step.
local Rates = class("RecordRates", cb.Callback)
function Rates:__init() self.lr, self.beta1, self.step = {}, {}, {} end
function Rates:on_train_batch_end(t)
  local g = t.optimizer.param_groups[1]
  local n = #self.lr + 1
  self.lr[n], self.beta1[n], self.step[n] = g.lr, g.betas[1], t.global_step
end

-- The lrs of a OneCycleLR(args) stepped by hand k = 1..n times (its closed form; [0]: the initial
-- one): what a trainer stepping it once per optimizer step must give.
local function one_cycle_lrs(args, n)
  local p = tiny.small_mlp():parameters()
  local opt = optim.Adam(p, { lr = 0.05 })
  local s = S.OneCycleLR(opt, args)
  local out = { [0] = opt.param_groups[1].lr }
  for k = 1, n do
    s:step()
    out[k] = opt.param_groups[1].lr
  end
  return out
end

local function near(want, got, what)
  assert.equal(#want, #got, what)
  for i = 1, #want do
    assert.is_true(math.abs(want[i] - got[i]) <= 1e-15, string.format("%s %d: want %.17g, got %.17g", what,
      i, want[i], got[i]))
  end
end

local function fit(t, m, opts)
  t:fit(m, dm(), opts)
  return t
end

describe("Trainer scheduler config", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("steps a OneCycleLR with interval = 'step' after every optimizer step, as torch's", function()
    -- torch 2.x, the peer venv: p = torch.nn.Parameter(torch.zeros(2)); opt = torch.optim.Adam([p], lr=0.05);
    -- s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=12); then 12 times
    -- opt.step(); s.step(), reading param_groups[0]["lr"] and ["betas"][0] after each
    local torch_lr = { 0.0349789654219583, 0.08792851591221287, 0.09944154354509119, 0.09330129698414118,
      0.0811745653949763, 0.06473789976951033, 0.046263710266697504, 0.028306099820869922,
      0.01334775301888306, 0.0034566987425395223, 4e-07, 0.0034566987425395167 }
    local torch_beta1 = { 0.9177302443521267, 0.8625744625914449, 0.8505584586887436, 0.856698729810778,
      0.8688255099070633, 0.8852622412794547, 0.9037365046793212, 0.9216941869558779, 0.9366525935914912,
      0.9465436874322102, 0.95, 0.9465436874322102 }
    local rec = Rates()
    local t = Trainer { max_epochs = 2, progress = "off", callbacks = { rec } }
    fit(t, model(function(opt)
      return { scheduler = S.OneCycleLR(opt, { max_lr = 0.1, total_steps = 12 }), interval = "step" }
    end))
    near(torch_lr, rec.lr, "lr after step")
    near(torch_beta1, rec.beta1, "beta1 after step")
    assert.equal(12, t.scheduler.last_epoch)
    assert.equal("step", t.scheduler_config.interval)
    -- a bare scheduler steps once per epoch, as before
    local t2 = fit(Trainer { max_epochs = 2, progress = "off" }, model(function(opt)
      return S.OneCycleLR(opt, { max_lr = 0.1, total_steps = 12 })
    end))
    assert.equal(2, t2.scheduler.last_epoch)
  end)

  it("steps once per group of accumulated batches, and every frequency-th step or epoch", function()
    local rec = Rates()
    local t = Trainer { max_epochs = 2, progress = "off", accumulate_grad_batches = 2, callbacks = { rec } }
    local args = { max_lr = 0.1, total_steps = 6 }
    fit(t, model(function(opt) return { scheduler = S.OneCycleLR(opt, args), interval = "step" } end))
    local after = one_cycle_lrs(args, 6)
    local want = {}
    for i = 1, 12 do
      -- an odd batch starts a group and steps nothing: the lr is the last step's (or the initial one)
      want[i] = after[i // 2]
    end
    near(want, rec.lr, "lr after batch")
    assert.equal(6, t.scheduler.last_epoch)
    -- frequency = 4 steps: at global steps 4, 8 and 12 only
    local rec4 = Rates()
    local t4 = fit(Trainer { max_epochs = 2, progress = "off", callbacks = { rec4 } }, model(function(opt)
      return { scheduler = S.StepLR(opt, 1, { gamma = 0.5 }), interval = "step", frequency = 4 }
    end))
    assert.equal(3, t4.scheduler.last_epoch)
    for i, lr in ipairs(rec4.lr) do
      assert.equal(0.05 * 0.5 ^ (rec4.step[i] // 4), lr, "step " .. rec4.step[i])
    end
    -- frequency = 2 epochs: at the ends of epochs 1 and 3 ((epoch + 1) % 2 == 0)
    local lrm = cb.LearningRateMonitor()
    local te = fit(Trainer { max_epochs = 5, progress = "off", callbacks = { lrm } }, model(function(opt)
      return { scheduler = S.StepLR(opt, 1, { gamma = 0.5 }), frequency = 2 }
    end))
    assert.equal(2, te.scheduler.last_epoch)
    local at_start = {}
    for _, h in ipairs(lrm.history) do at_start[#at_start + 1] = h.lr end
    assert.same({ 0.05, 0.05, 0.025, 0.025, 0.0125 }, at_start)
  end)

  it("steps on an optimizer step a GradScaler skipped too (Lightning 2.x's rule)", function()
    -- a GradScaler on the CPU (the trainer makes one for "16-mixed", which needs CUDA), and a
    -- loss made infinite at the third batch: its gradients are inf/NaN, the scaler skips the step.
    -- Lightning 2.6 (Linear, Adam lr 0.05, StepLR(o, 1, gamma=0.5) per step, MixedPrecision
    -- "16-mixed" on the CPU with GradScaler("cpu"), loss * inf at batch 3 of 6): Adam steps 5
    -- times, the schedule 6, the lr after each batch [0.025, 0.0125, 0.00625, 0.003125,
    -- 0.0015625, 0.00078125]
    local Scaled = class("InstallScaler", cb.Callback)
    function Scaled.on_fit_start(_, t) t.scaler = amp.GradScaler() end
    local rec = Rates()
    local m = model(function(opt)
      return { scheduler = S.StepLR(opt, 1, { gamma = 0.5 }), interval = "step" }
    end)
    local ts = m.training_step
    rawset(m, "training_step", function(self, b, ctx)
      local loss, logs = ts(self, b, ctx)
      if self.calls == 3 then loss = loss * math.huge end
      return loss, logs
    end)
    local t = fit(Trainer { max_epochs = 1, progress = "off", callbacks = { Scaled(), rec } }, m)
    assert.equal(6, t.global_step) -- (Lightning counts the skipped step too)
    assert.equal(6, t.scheduler.last_epoch)
    assert.same({ 0.025, 0.0125, 0.00625, 0.003125, 0.0015625, 0.00078125 }, rec.lr)
    -- the step was skipped: Adam stepped 5 times
    assert.equal(5, t.optimizer.state[t.optimizer.param_groups[1].params[1]].step)
  end)

  it("steps a ReduceLROnPlateau per step with the step's logged value; monitor and strict", function()
    local function plateau(cfg)
      return function(opt)
        cfg.scheduler = S.ReduceLROnPlateau(opt, { patience = 0, factor = 0.5 })
        return cfg
      end
    end
    local t = fit(Trainer { max_epochs = 2, progress = "off" },
      model(plateau({ interval = "step", monitor = "train_loss" })))
    assert.equal(12, t.scheduler.last_epoch)
    assert.is_true(t.optimizer.param_groups[1].lr < 0.05, "never reduced")
    -- the Trainer's scheduler_monitor (val_loss) is not logged by a training step: named, with
    -- what was, and why
    local t2 = Trainer { max_epochs = 1, progress = "off" }
    assert.equal("Trainer: ReduceLROnPlateau monitors 'val_loss', which the training step did not log " ..
      "(an 'interval' = 'step' schedule reads the step's logged values; validation metrics come at the " ..
      "epoch's end: monitor them with 'interval' = 'epoch') (logged: train_acc, train_loss); set the " ..
      "Trainer's " ..
      "scheduler_monitor, or the scheduler config's 'strict' = false to skip such steps",
      err_of(t2.fit, t2, model(plateau({ interval = "step" })), dm()))
    -- strict = false: said once, and the schedule skips those steps
    local said = {}
    local t3 = fit(Trainer { max_epochs = 2, progress = "off", log = function(s) said[#said + 1] = s end },
      model(plateau({ interval = "step", monitor = "val_f1", strict = false })))
    assert.equal(0, t3.scheduler.last_epoch)
    assert.equal(1, #said)
    assert.matches("monitors 'val_f1', which the training step did not log", said[1])
    -- per epoch: a metric missing on an epoch that validated is an error unless strict = false
    local t4 = Trainer { max_epochs = 1, progress = "off" }
    assert.matches("ReduceLROnPlateau monitors 'val_f1', which was not logged this epoch %(logged: " ..
      "train_acc, train_loss, val_acc, val_loss%); set the scheduler config's 'monitor'",
      err_of(t4.fit, t4, model(plateau({ monitor = "val_f1" })), dm()))
    said = {}
    local t5 = fit(Trainer { max_epochs = 2, progress = "off", log = function(s) said[#said + 1] = s end },
      model(plateau({ monitor = "val_f1", strict = false })))
    assert.equal(0, t5.scheduler.last_epoch)
    assert.matches("'strict' = false: the schedule skips such steps", said[1])
    -- a fit in which no epoch validates: refused when strict, said when not
    local t6 = Trainer { max_epochs = 2, progress = "off", limit_val_batches = 0 }
    assert.matches("no epoch of this fit validates %(limit_val_batches = 0%).*set the scheduler config's " ..
      "'monitor' to a metric the training logs",
      err_of(t6.fit, t6, model(plateau({ monitor = "val_acc" })), dm()))
    said = {}
    local function say(s) said[#said + 1] = s end
    fit(Trainer { max_epochs = 2, progress = "off", limit_val_batches = 0, log = say },
      model(plateau({ monitor = "val_acc", strict = false })))
    assert.matches("no epoch of this fit validates", said[1])
    -- the monitor given in the config wins over the Trainer's
    local t7 = fit(Trainer { max_epochs = 3, progress = "off", scheduler_monitor = "val_f1" },
      model(plateau({ monitor = "train_loss" })))
    assert.equal(3, t7.scheduler.last_epoch)
  end)

  -- a per-epoch plateau on a val metric steps on the epochs where its frequency meets
  -- check_val_every_n_epoch (Lightning raises at a stepping epoch without the metric)
  it("refuses a per-epoch plateau whose frequency never meets validation; says one it thins out", function()
    local function plateau(extra)
      return model(function(opt)
        local cfg = { scheduler = S.ReduceLROnPlateau(opt, { patience = 0 }) }
        for k, v in pairs(extra) do cfg[k] = v end
        return cfg
      end)
    end
    -- steps at epochs 1 and 3, validates at 2 only: it would never step
    local t = Trainer { max_epochs = 5, progress = "off", check_val_every_n_epoch = 3 }
    local m = plateau({ frequency = 2 })
    assert.equal("Trainer:fit: ReduceLROnPlateau monitors 'val_loss' and steps every 2nd epoch (the " ..
      "scheduler config's 'frequency' = 2), but the fit validates every 3rd " ..
      "(check_val_every_n_epoch = 3): the two first meet at the 6th epoch, past max_epochs = 5, so the " ..
      "schedule would never step; make 'frequency' a multiple of 3, or set the Trainer's " ..
      "scheduler_monitor to a metric the training logs",
      err_of(t.fit, t, m, dm()))
    assert.equal(0, m.calls) -- refused before any batch
    assert.falsy(t.fitted)
    -- strict = false: said, and the fit runs (stepping nothing)
    local said = {}
    local function say(s) said[#said + 1] = s end
    local t2 = fit(Trainer { max_epochs = 5, progress = "off", check_val_every_n_epoch = 3, log = say },
      plateau({ frequency = 2, strict = false }))
    assert.equal(1, #said)
    assert.matches("first meet at the 6th epoch, past max_epochs = 5, so the schedule would never step$",
      said[1])
    assert.equal(0, t2.scheduler.last_epoch)
    -- every 3rd epoch against every 2nd validation: it steps every 6th epoch, and says so once
    said = {}
    local t3 = fit(Trainer { max_epochs = 12, progress = "off", check_val_every_n_epoch = 2, log = say },
      plateau({ frequency = 3 }))
    assert.equal(2, t3.scheduler.last_epoch)
    assert.same({ "ReduceLROnPlateau monitors 'val_loss' and steps every 3rd epoch (the scheduler " ..
      "config's 'frequency' = 3), but the fit validates every 2nd (check_val_every_n_epoch = 2): it " ..
      "steps only on the epochs that validate, every 6th; make 'frequency' a multiple of 2" }, said)
    -- frequency 1 steps at every validation, as documented: nothing said; nor of one that matches
    said = {}
    local t4 = fit(Trainer { max_epochs = 4, progress = "off", check_val_every_n_epoch = 2, log = say },
      plateau({}))
    local t5 = fit(Trainer { max_epochs = 4, progress = "off", check_val_every_n_epoch = 2, log = say },
      plateau({ frequency = 4 }))
    assert.same({}, said)
    assert.equal(2, t4.scheduler.last_epoch)
    assert.equal(1, t5.scheduler.last_epoch)
    -- a frequency past max_epochs steps at no epoch at all: said, not refused
    fit(Trainer { max_epochs = 2, progress = "off", log = say }, plateau({ frequency = 3 }))
    assert.same({ "ReduceLROnPlateau steps every 3rd epoch (the scheduler config's 'frequency' = 3), past " ..
      "max_epochs = 2: it never steps in this fit" }, said)
  end)

  it("names LearningRateMonitor's metric after the config's name; warns of a OneCycleLR per epoch", function()
    local said = {}
    local lrm = cb.LearningRateMonitor()
    local t = fit(Trainer { max_epochs = 1, progress = "off", callbacks = { lrm },
      log = function(s) said[#said + 1] = s end }, model(function(opt)
        return { scheduler = S.OneCycleLR(opt, { max_lr = 0.1, total_steps = 1 }), name = "lr-cycle" }
      end))
    assert.equal(one_cycle_lrs({ max_lr = 0.1, total_steps = 1 }, 0)[0], t.history[1]["lr-cycle"])
    assert.is_nil(t.history[1]["lr-Adam"])
    assert.matches("did you mean 'interval' = 'step'", said[1])
  end)

  -- A per-step schedule resumed from a checkpoint taken inside an epoch (after a step, and inside
  -- a group of accumulated batches) or from `last` continues as the uninterrupted run: the same
  -- lrs at every later batch, the same weights and schedule state at the end, bit for bit.
  it("resumes a per-step schedule exactly: mid-epoch, inside a group, from last", function()
    -- (total: the fit's optimizer steps)
    local schedules = {
      one_cycle = function(total)
        return function(opt)
          return { scheduler = S.OneCycleLR(opt, { max_lr = 0.1, total_steps = total }), interval = "step" }
        end
      end,
      plateau = function()
        return function(opt)
          return { scheduler = S.ReduceLROnPlateau(opt, { patience = 1, factor = 0.7 }), interval = "step",
            monitor = "train_loss", frequency = 2 }
        end
      end,
    }
    local Save = class("SaveAt", cb.Callback)
    function Save:__init(path, when) self.path, self.when = path, when end
    function Save:on_train_batch_end(t)
      if self.when(t) then
        t:save_checkpoint(self.path)
        error("killed", 0)
      end
    end
    local Crash = class("CrashAtEpoch", cb.Callback)
    function Crash:__init(e) self.e = e end
    function Crash:on_train_epoch_start(t) if t.epoch == self.e then error("killed", 0) end end
    for _, name in ipairs({ "one_cycle", "plateau" }) do
      for _, acc in ipairs({ 1, 2 }) do
        local mk = schedules[name](acc == 1 and 18 or 9)
        local function trainer(extra, root)
          local cbs = { Rates() }
          for _, c in ipairs(extra) do cbs[#cbs + 1] = c end
          return Trainer { max_epochs = 3, progress = "off", accumulate_grad_batches = acc, callbacks = cbs,
            default_root_dir = root, enable_checkpointing = root ~= nil }
        end
        local ref_m = model(mk)
        local ref = fit(trainer({}), ref_m)
        local ref_lr = ref.callbacks[1].lr
        local mid = gio.join(dir, name .. acc .. ".safetensors")
        local cases = {
          -- after the step of global step 8 (acc 1: epoch 1's batch 2; acc 2: epoch 2's batch 4)
          { "mid-epoch", { Save(mid, function(t) return t.global_step == 8 and not t.accumulating end) },
            mid },
          -- epoch 1's fifth batch: inside a group with acc 2, after a step with acc 1
          { "in a group", { Save(mid .. ".g", function(t)
            return t.epoch == 1 and t.datamodule.position == 5
          end) }, mid .. ".g" },
          { "from last", { Crash(2) }, gio.join(dir, name .. acc, "checkpoints", "last.safetensors"),
            gio.join(dir, name .. acc) },
        }
        for _, c in ipairs(cases) do
          local what = string.format("%s, accumulate %d, %s", name, acc, c[1])
          local t1 = trainer(c[2], c[4])
          assert.equal("killed", err_of(t1.fit, t1, model(mk), dm()), what)
          if c[1] == "in a group" and acc == 2 then
            assert.is_table(ckpt.load(c[3]).trainer.accumulating, what)
          end
          local m2 = model(mk, { seed = 9 })
          local t2 = trainer({}, c[4])
          t2:fit(m2, dm(), { ckpt_path = c[3] })
          -- the batches the resumed fit ran are the reference's last ones, with the same lrs
          local got = t2.callbacks[1].lr
          assert.is_true(#got > 0, what)
          for i = 1, #got do
            assert.equal(ref_lr[#ref_lr - #got + i], got[i], what .. ", batch " .. (#ref_lr - #got + i))
          end
          assert.is_true(tiny.same_weights(tiny.weights(ref_m), tiny.weights(m2)), what)
          assert.same(ref.scheduler:state_dict(), t2.scheduler:state_dict(), what)
        end
      end
    end
  end)

  -- LearningRateMonitor{logging_interval = "epoch"} logs an epoch's starting lr; a fit resumed
  -- inside that epoch logs the same, not the rate the per-step schedule reached by the resumed
  -- batch (the default logs this schedule per step: lr_monitor_spec.lua)
  it("LearningRateMonitor logs the epoch's starting lr after a mid-epoch resume", function()
    local mk = function(opt)
      return { scheduler = S.OneCycleLR(opt, { max_lr = 0.1, total_steps = 18 }), interval = "step" }
    end
    local ref = fit(Trainer { max_epochs = 3, progress = "off",
      callbacks = { cb.LearningRateMonitor(EPOCH) } }, model(mk))
    local Save = class("SaveMidEpoch", cb.Callback)
    function Save:__init(path) self.path = path end
    function Save:on_train_batch_end(t)
      if t.epoch == 1 and t.datamodule.position == 3 then
        t:save_checkpoint(self.path)
        error("killed", 0)
      end
    end
    local path = gio.join(dir, "mid.safetensors")
    local t1 = Trainer { max_epochs = 3, progress = "off",
      callbacks = { cb.LearningRateMonitor(EPOCH), Save(path) } }
    assert.equal("killed", err_of(t1.fit, t1, model(mk), dm()))
    local lrm = cb.LearningRateMonitor(EPOCH)
    local t2 = fit(Trainer { max_epochs = 3, progress = "off", callbacks = { lrm } }, model(mk),
      { ckpt_path = path })
    assert.equal(2, #t2.history)
    for i, h in ipairs(t2.history) do
      local want = ref.history[h.epoch + 1]["lr-Adam"]
      assert.equal(want, h["lr-Adam"], "epoch " .. h.epoch)
      assert.equal(want, lrm.history[i].lr, "epoch " .. h.epoch)
    end
    -- a bad state is named before anything is restored
    local c = ckpt.load(path)
    c.callbacks.LearningRateMonitor.lrs = { "fast" }
    local bad = gio.join(dir, "bad.safetensors")
    ckpt.save(bad, c)
    local t3 = Trainer { max_epochs = 3, progress = "off", callbacks = { cb.LearningRateMonitor(EPOCH) } }
    assert.matches("callback state 'LearningRateMonitor'.*'lrs'%[1%] must be a number, got 'fast'",
      err_of(t3.fit, t3, model(mk), dm(), { ckpt_path = bad }))
  end)

  it("names a bad config: configure_optimizers, the key and what it must be", function()
    local base = "Trainer:fit: configure_optimizers()'s scheduler config"
    local cases = {
      { function(o) return { scheduler = S.StepLR(o, 1), intreval = "step" } end,
        base .. ": unknown option 'intreval' (did you mean 'interval'?)" },
      { function(o) return { scheduler = S.StepLR(o, 1), interval = "batch" } end,
        base .. ": 'interval' must be 'epoch' or 'step', got 'batch' (a string)" },
      { function(o) return { scheduler = S.StepLR(o, 1), frequency = 0 } end,
        base .. ": 'frequency' must be an integer >= 1, got 0" },
      { function(o) return { scheduler = S.StepLR(o, 1), frequency = 1.5 } end,
        base .. ": 'frequency' must be an integer >= 1, got 1.5" },
      { function(o) return { scheduler = S.StepLR(o, 1), frequency = "2" } end,
        base .. ": option 'frequency' must be a number, got '2' (a string)" },
      { function(o) return { scheduler = S.StepLR(o, 1), strict = "no" } end,
        base .. ": option 'strict' must be a boolean, got 'no' (a string)" },
      { function(o) return { scheduler = S.StepLR(o, 1), monitor = 3 } end,
        base .. ": 'monitor' must be a metric name, got 3" },
      { function(o) return { scheduler = S.StepLR(o, 1), name = true } end,
        base .. ": 'name' must be a string, got true" },
      { function(o) return { scheduler = S.ReduceLROnPlateau(o), reduce_on_plateau = false } end,
        base .. ": 'reduce_on_plateau' = false, but the scheduler is a ReduceLROnPlateau, which steps " ..
        "with the monitored metric; drop the key" },
      { function(o)
        return { scheduler = S.StepLR(o, 1), reduce_on_plateau = true, monitor = "train_loss" }
      end,
        base .. ": 'reduce_on_plateau' = true, but the scheduler is a StepLR, which steps without a " ..
        "metric; drop the key, or use a ReduceLROnPlateau" },
      { function() return { interval = "step" } end,
        base .. " has no 'scheduler' (the scheduler it configures: {scheduler = S, ...})" },
      { function() return { scheduler = "cosine" } end,
        base .. ": 'scheduler' must be a scheduler (with step), got 'cosine' (a string)" },
      { function() return "cosine" end, "Trainer:fit: configure_optimizers()'s second result must be a " ..
        "scheduler (with step) or a scheduler config ({scheduler = S, interval = 'step', ...}), got string" },
    }
    for _, c in ipairs(cases) do
      local t = Trainer { max_epochs = 1, progress = "off" }
      local m = model(c[1])
      assert.equal(c[2], err_of(t.fit, t, m, dm()))
      assert.equal(0, m.calls) -- refused before any batch
      assert.falsy(t.fitted)
    end
    -- a model that steps its own optimizer: the trainer cannot follow its steps
    local m = model(function(o) return { scheduler = S.StepLR(o, 1), interval = "step" } end,
      { manual = true })
    local t = Trainer { max_epochs = 1, progress = "off" }
    assert.equal(base .. ": 'interval' = 'step' needs automatic optimization; TinyMLP optimizes itself " ..
      "(automatic_optimization = false): step the schedule in its training_step, or use 'epoch'",
      err_of(t.fit, t, m, dm()))
    -- a scheduler whose step fails (a OneCycleLR past its total_steps: 8 of the fit's 12) is
    -- named with the config, the epoch and the global step, without the runtime's position
    local t2 = Trainer { max_epochs = 2, progress = "off" }
    assert.equal("Trainer: the learning-rate schedule (OneCycleLR, 'interval' = 'step') failed to step at " ..
      "epoch 1, global step 9: OneCycleLR:step: tried to step 9 times. The specified number of total " ..
      "steps is 8", err_of(t2.fit, t2, model(function(o)
        return { scheduler = S.OneCycleLR(o, { max_lr = 0.1, total_steps = 8 }), interval = "step" }
      end), dm()))
    -- a scheduler of the user's own keeps the line of theirs that failed
    local Mine = class("MySchedule")
    function Mine.step() error("diverged") end
    local line = debug.getinfo(Mine.step, "S").linedefined
    local t3 = Trainer { max_epochs = 1, progress = "off" }
    assert.equal("Trainer: the learning-rate schedule (MySchedule, 'interval' = 'epoch') failed to step " ..
      "at epoch 0, global step 6: spec/trainer/scheduler_config_spec.lua:" .. line .. ": diverged",
      err_of(t3.fit, t3, model(function() return { scheduler = Mine() } end), dm()))
  end)
end)
