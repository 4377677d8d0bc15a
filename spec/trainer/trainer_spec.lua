-- trainer_spec.lua -- graphids.trainer on the spec-local tiny MLP and data module: the loop,
-- metrics, hooks, clipping, scheduling, resume after an in-process failure, bad input, test and
-- predict, progress output.
local graphids = require "graphids"
local class = require "graphids.class"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local T = require "graphids.trainer"
local Progress = require "graphids.trainer.progress"
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"

local Trainer = T.Trainer

local function model(hp)
  hp = hp or {}
  hp.in_dim, hp.hidden, hp.seed = hp.in_dim or 4, hp.hidden or 8, hp.seed or 3
  return tiny.MLP(hp)
end

local function dm(opts)
  return tiny.DataModule(opts or { n = 48, batch_size = 8, seed = 2 })
end

local weights, same_weights = tiny.weights, tiny.same_weights

-- Records every hook call in order (but the per-batch ones).
local Recorder = class("Recorder", cb.Callback)
function Recorder:__init()
  self.calls = {}
end
for _, h in ipairs(cb.Callback.HOOKS) do
  Recorder[h] = function(self, trainer)
    if h ~= "on_train_batch_end" and h ~= "on_train_batch_start" then
      self.calls[#self.calls + 1] = h .. ":" .. trainer.epoch
    end
  end
end

-- Fails at the start of a given epoch (a crash in the middle of a run).
local Crash = class("Crash", cb.Callback)
function Crash:__init(epoch)
  self.at = epoch
end
function Crash:on_train_epoch_start(trainer)
  if trainer.epoch == self.at then
    error("simulated crash at epoch " .. self.at, 0)
  end
end

describe("graphids.trainer", function()
  local dir
  before_each(function()
    dir = proc.tmpdir()
  end)
  after_each(function()
    proc.rmtree(dir)
  end)

  it("fits: epochs, train/val metrics, lr, best and last checkpoints", function()
    local m, d = model(), dm()
    local t = Trainer { max_epochs = 4, default_root_dir = dir, progress = "off",
      callbacks = { cb.LearningRateMonitor() } }
    t:fit(m, d)
    assert.equal(4, t.epoch)
    assert.equal(4 * 6, t.global_step)
    assert.equal(4, #t.history)
    for _, k in ipairs({ "train_loss", "train_acc", "val_loss", "val_acc", "lr-Adam" }) do
      assert.is_number(t.callback_metrics[k], k)
    end
    assert.is_true(t.history[4].train_loss < t.history[1].train_loss)
    -- lr of epoch 1 is the initial one; cosine annealing lowers it afterwards
    assert.equal(0.05, t.history[1]["lr-Adam"])
    assert.is_true(t.history[3]["lr-Adam"] < t.history[2]["lr-Adam"])
    local last = ckpt.load(gio.join(dir, "checkpoints/last.safetensors"))
    assert.equal(3, last.epoch)
    assert.equal(24, last.global_step)
    assert.equal(4, last.trainer.next_epoch)
    assert.equal(t.callback_metrics.val_loss, last.metrics.val_loss)
    assert.same({ seed = 2, epoch = 4, position = 0 }, last.loader)
    local mc = t:checkpoint_callback()
    local best = ckpt.load(mc:best_model_path())
    assert.equal(mc.best_epoch, best.epoch)
    assert.equal(mc.best_score, best.metrics.val_loss)
    assert.equal(string.rep("ab", 32), best.hyper_parameters.vocab_digest)
    assert.equal(mc.best_score, last.callbacks["ModelCheckpoint{monitor=val_loss,mode=min}"].best_score)
  end)

  it("calls the hooks in Lightning's order, checkpoint callbacks last", function()
    local rec = Recorder()
    local order = {}
    local Probe = class("Probe", cb.Callback)
    function Probe.on_train_epoch_end(_, _) order[#order + 1] = "probe" end
    local mc = cb.ModelCheckpoint()
    local mc_end = mc.on_train_epoch_end
    mc.on_train_epoch_end = function(self, trainer)
      order[#order + 1] = "checkpoint"
      return mc_end(self, trainer)
    end
    local t = Trainer { max_epochs = 2, progress = "off", default_root_dir = dir,
      callbacks = { mc, rec, Probe() } }
    t:fit(model(), dm())
    -- each epoch writes best (an improvement, or the first) and last: two on_save_checkpoint
    assert.same({ "on_fit_start:0", "on_train_epoch_start:0", "on_validation_epoch_start:0",
      "on_validation_epoch_end:0", "on_train_epoch_end:0", "on_save_checkpoint:0",
      "on_save_checkpoint:0", "on_train_epoch_start:1", "on_validation_epoch_start:1",
      "on_validation_epoch_end:1", "on_train_epoch_end:1", "on_save_checkpoint:1",
      "on_save_checkpoint:1", "on_fit_end:2" }, rec.calls)
    assert.same({ "probe", "checkpoint", "probe", "checkpoint" }, order)
  end)

  it("clips the global gradient norm before each step", function()
    local norms = {}
    local Grad = class("Grad", cb.Callback)
    function Grad.on_train_batch_end(_, trainer)
      local sq = 0
      for _, p in ipairs(trainer.model:parameters()) do
        sq = sq + (p.grad * p.grad):sum():item()
      end
      norms[#norms + 1] = math.sqrt(sq)
    end
    Trainer { max_epochs = 1, progress = "off", gradient_clip_val = 0.01, callbacks = { Grad() } }
      :fit(model({ lr = 1 }), dm())
    assert.equal(6, #norms)
    for _, n in ipairs(norms) do
      assert.is_true(n <= 0.01 * (1 + 1e-4), "grad norm " .. n)
    end
  end)

  it("steps the scheduler only where the optimizer stepped; an empty train split is an error", function()
    local d = dm({ n = 0, batch_size = 8, seed = 2 })
    local t = Trainer { max_epochs = 3, progress = "off" }
    local ok, err = pcall(t.fit, t, model(), d)
    assert.is_false(ok) -- a fit that trains nothing must not pass for one that did
    assert.truthy(tostring(err):find("epoch 0 gave no training batch", 1, true), err)
    assert.equal(0, t.scheduler.last_epoch)
    assert.equal(0, t.global_step)
    local t2 = Trainer { max_epochs = 3, progress = "off" }
    t2:fit(model(), dm())
    assert.equal(3, t2.scheduler.last_epoch)
  end)

  it("steps ReduceLROnPlateau with the monitored metric and resumes its infinite best", function()
    local ref = gio.join(dir, "ref")
    local m = model({ plateau = true, lr = 2 })
    local t = Trainer { max_epochs = 5, default_root_dir = ref, progress = "off" }
    t:fit(m, dm())
    assert.equal(5, t.scheduler.last_epoch)
    assert.is_true(t.optimizer.param_groups[1].lr < 2, "the lr was never reduced")
    -- a checkpoint of a fresh plateau scheduler holds best = inf
    local fresh = Trainer { max_epochs = 0, default_root_dir = gio.join(dir, "z"), progress = "off" }
    fresh:fit(model({ plateau = true }), dm())
    local zpath = gio.join(dir, "z/last.safetensors")
    fresh:save_checkpoint(zpath)
    assert.equal(math.huge, ckpt.load(zpath).scheduler.best)
    -- crash + resume gives the same weights and lr
    local run = gio.join(dir, "run")
    local t1 = Trainer { max_epochs = 5, default_root_dir = run, progress = "off", callbacks = { Crash(3) } }
    pcall(t1.fit, t1, model({ plateau = true, lr = 2 }), dm())
    local m2 = model({ plateau = true, lr = 2, seed = 9 })
    local t2 = Trainer { max_epochs = 5, default_root_dir = run, progress = "off" }
    t2:fit(m2, dm(), { ckpt_path = gio.join(run, "checkpoints/last.safetensors") })
    assert.is_true(same_weights(weights(m), weights(m2)))
    assert.equal(t.optimizer.param_groups[1].lr, t2.optimizer.param_groups[1].lr)
    local bad = Trainer { max_epochs = 1, progress = "off", scheduler_monitor = "val_f1" }
    assert.error_matches(function() bad:fit(model({ plateau = true }), dm()) end,
      "ReduceLROnPlateau monitors 'val_f1', which was not logged")
  end)

  it("lets a model with automatic_optimization = false step the trainer's optimizer", function()
    local m = model({ manual = true })
    local t = Trainer { max_epochs = 2, progress = "off" }
    t:fit(m, dm())
    assert.equal(t.optimizer, rawget(m, "optimizer"))
    -- one step per batch (the trainer did not step again); a gradient_clip_val, which the trainer
    -- would not apply to such a model, is refused (accumulate_spec.lua)
    assert.equal(12, t.optimizer.state[m.fc1.weight].step)
    local auto = model()
    Trainer { max_epochs = 2, progress = "off" }:fit(auto, dm())
    assert.is_true(same_weights(weights(auto), weights(m)))
  end)

  it("stops early with patience and min_delta, and stops at max_time", function()
    local t = Trainer { max_epochs = 50, progress = "off",
      callbacks = { cb.EarlyStopping { monitor = "val_acc", mode = "max", patience = 2, min_delta = 1 } } }
    t:fit(model(), dm())
    -- val_acc can never improve by more than 1: the first epoch sets the best, two more stop.
    assert.equal(3, t.epoch)
    assert.is_true(t.should_stop)
    local t2 = Trainer { max_epochs = 50, progress = "off", max_time = 1e-9 }
    t2:fit(model(), dm())
    assert.equal(1, t2.epoch)
    assert.is_true(t2.stopped_by_time)
  end)

  it("makes a NaN metric a hard error naming it, after on_exception", function()
    local rec = Recorder()
    local t = Trainer { max_epochs = 2, progress = "off", callbacks = { rec } }
    assert.error_matches(function() t:fit(model({ nan_at = 4 }), dm()) end,
      "metric 'train_loss' is NaN %(training_step, epoch 0, global step 3%)")
    assert.equal("on_exception:0", rec.calls[#rec.calls])
  end)

  it("stops before the optimizer step on an infinite loss, logged or not", function()
    for _, logged in ipairs({ true, false }) do
      local m = model()
      local orig = m.training_step
      rawset(m, "training_step", function(self, b, ctx)
        local loss, logs = orig(self, b, ctx)
        if self.calls == 3 then
          loss = loss * math.huge -- an overflowed loss: clipping its inf norm gives NaN gradients
          logs.train_loss = logged and loss:detach() or nil
        end
        return loss, logs
      end)
      local before
      local Snap = class("SnapInf", cb.Callback)
      function Snap.on_train_batch_end(_, trainer) before = weights(trainer.model) end
      local t = Trainer { max_epochs = 2, progress = "off", gradient_clip_val = 1.0, callbacks = { Snap() } }
      assert.error_matches(function() t:fit(m, dm()) end,
        "the loss is inf %(training_step, epoch 0, global step 2%); stopping before the optimizer step")
      assert.is_true(same_weights(before, weights(m)))
    end
  end)

  it("stops before the optimizer step when a finite loss has an inf or NaN gradient, naming it", function()
    for _, clip in ipairs({ false, 1.0 }) do
      local m = model()
      local orig = m.training_step
      rawset(m, "training_step", function(self, b, ctx)
        local loss, logs = orig(self, b, ctx)
        if self.calls == 3 then
          -- sqrt at 0: the value 0, the gradient inf * 0 = NaN for every element of fc2.bias
          loss = loss + (self.fc2.bias * 0):sqrt():sum()
        end
        return loss, logs
      end)
      local before
      local Snap = class("SnapNaNGrad", cb.Callback)
      function Snap.on_train_batch_end(_, trainer) before = weights(trainer.model) end
      local t = Trainer { max_epochs = 2, progress = "off", gradient_clip_val = clip or nil,
        callbacks = { Snap() } }
      assert.error_matches(function() t:fit(m, dm()) end,
        "^Trainer: 2 gradient values are inf or NaN while the loss is [%d.]+ %(training_step, epoch 0, " ..
        "global step 2%): fc2%.bias %(2 of 2%); stopping before the optimizer step, with the weights " ..
        "of the last good step$")
      assert.is_true(same_weights(before, weights(m)))
    end
  end)

  it("counts inf and NaN elements of a list of tensors, on their device, without a read", function()
    local a = graphids.tensor({ 1, 0 / 0, math.huge, -math.huge, 2 })
    local b = graphids.tensor({ { 1, 0 / 0 }, { 3, 4 } }, { dtype = "f64" }):t() -- strided
    local c = graphids.count_nonfinite({ a, b, graphids.tensor({ 1, 2 }, { dtype = "i64" }) })
    assert.equal("f64", c.dtype)
    assert.equal(0, c.ndim)
    assert.equal(4, c:item())
    assert.equal(0, graphids.count_nonfinite({}):item())
    assert.equal(0, graphids.count_nonfinite({ graphids.zeros({ 0 }) }):item())
    -- every inner row of a strided view, and none outside it
    local x = graphids.zeros({ 6, 5 }):index_fill(1, graphids.tensor({ 2 }, { dtype = "i64" }), 0 / 0)
    assert.equal(5, graphids.count_nonfinite({ x:t() }):item())
    assert.equal(2, graphids.count_nonfinite({ x:narrow(2, 2, 2) }):item())
    assert.equal(0, graphids.count_nonfinite({ x:narrow(1, 1, 2) }):item())
    assert.error_matches(function() graphids.count_nonfinite({ a, "x" }) end,
      "count_nonfinite: entry 2 of the list is not a live tensor %(string%)")
    assert.error_matches(function() graphids.count_nonfinite(a) end, "table expected")
  end)

  it("calls on_exception when a test fails, with trainer.stage 'test', and raises the error", function()
    local seen = {}
    local Exc = class("ExcProbe", cb.Callback)
    function Exc.on_exception(_, trainer, err) seen[#seen + 1] = trainer.stage .. ": " .. tostring(err) end
    local t = Trainer { max_epochs = 1, progress = "off", callbacks = { Exc() } }
    local m = model()
    t:fit(m, dm())
    rawset(m, "test_step", function() error("bad test step", 0) end)
    assert.error_matches(function() t:test(m, dm()) end, "^bad test step$")
    assert.same({ "test: bad test step" }, seen)
  end)

  it("a fit that fails in its setup leaves the Trainer usable", function()
    local m = model()
    local orig = m.configure_optimizers
    rawset(m, "configure_optimizers", function() error("transient", 0) end)
    local t = Trainer { max_epochs = 1, progress = "off" }
    assert.error_matches(function() t:fit(m, dm()) end, "transient")
    rawset(m, "configure_optimizers", orig)
    t:fit(m, dm())
    assert.equal(1, t.epoch)
  end)

  it("reads the logged values after the backward and before the optimizer step", function()
    -- the weights after the last good step, and whether each parameter had a gradient then
    local Snap = class("Snap", cb.Callback)
    function Snap.on_train_batch_end(s, trainer)
      s.w = weights(trainer.model)
    end
    local snap = Snap()
    local m = model({ nan_at = 4 })
    local t = Trainer { max_epochs = 2, progress = "off", callbacks = { snap } }
    assert.error_matches(function() t:fit(m, dm()) end, "metric 'train_loss' is NaN")
    -- the NaN step's backward ran (zero_grad had set every gradient to nil), its update did not
    for name, p in m:named_parameters() do
      assert(p.grad ~= nil, name .. ": the NaN step's backward did not run before the read")
    end
    assert.is_true(same_weights(snap.w, weights(m)))
  end)

  it("resumes from last after a crash to the uninterrupted run's weights and files", function()
    local ref = gio.join(dir, "ref")
    local function callbacks(extra)
      local list = { cb.ModelCheckpoint(), cb.EarlyStopping { patience = 2 } }
      if extra then list[#list + 1] = extra end
      return list
    end
    local mref = model({ noise = 0.5 })
    local tref = Trainer { max_epochs = 6, default_root_dir = ref, progress = "off", callbacks = callbacks() }
    tref:fit(mref, dm())
    local run = gio.join(dir, "run")
    local t1 = Trainer { max_epochs = 6, default_root_dir = run, progress = "off",
      callbacks = callbacks(Crash(3)) }
    assert.error_matches(function() t1:fit(model({ noise = 0.5 }), dm()) end, "simulated crash at epoch 3")
    assert.equal(2, ckpt.load(gio.join(run, "checkpoints/last.safetensors")).epoch)
    local m2 = model({ noise = 0.5, seed = 77 }) -- other initial weights: the checkpoint decides
    local t2 = Trainer { max_epochs = 6, default_root_dir = run, progress = "off", callbacks = callbacks() }
    t2:fit(m2, dm(), { ckpt_path = gio.join(run, "checkpoints/last.safetensors") })
    assert.equal(tref.epoch, t2.epoch)
    assert.equal(tref.global_step, t2.global_step)
    assert.same(tref.callback_metrics, t2.callback_metrics)
    assert.is_true(same_weights(weights(mref), weights(m2)))
    for _, f in ipairs({ "best_model.safetensors", "last.safetensors", "best_model.safetensors.sha256" }) do
      assert(proc.slurp(gio.join(ref, "checkpoints", f)) == proc.slurp(gio.join(run, "checkpoints", f)), f)
    end
    -- resumed with another monitor: the saved best and patience belong to no callback, and it says so
    local lines = {}
    local acc = { monitor = "val_acc", mode = "max" }
    local t3 = Trainer { max_epochs = 6, default_root_dir = gio.join(dir, "run3"), progress = "off",
      log = function(s) lines[#lines + 1] = s end,
      callbacks = { cb.ModelCheckpoint(acc),
        cb.EarlyStopping { monitor = "val_acc", mode = "max", patience = 2 } } }
    t3:fit(model({ noise = 0.5 }), dm(), { ckpt_path = gio.join(run, "checkpoints/last.safetensors") })
    local said = {}
    for _, l in ipairs(lines) do
      if l:find("^resume: ") then said[#said + 1] = l end
    end
    assert.same({
      "resume: the checkpoint's EarlyStopping{monitor=val_loss,mode=min} state matches no callback of " ..
        "this fit (a changed monitor or a removed callback?); it is not restored",
      "resume: the checkpoint's ModelCheckpoint{monitor=val_loss,mode=min} state matches no callback of " ..
        "this fit (a changed monitor or a removed callback?); it is not restored",
      -- (that run had ended: resuming it trains nothing, and it says so)
      "resume: the checkpoint is at its end (next epoch 6, max_epochs 6); nothing to train" }, said)
    -- without a log function (the CLI's case) it is a warning on stderr, even with progress off
    local err_lines, real = {}, io.stderr
    local function capture(_, ...) err_lines[#err_lines + 1] = table.concat({ ... }) end
    io.stderr = { write = capture } -- luacheck: ignore 122
    local t4 = Trainer { max_epochs = 6, default_root_dir = gio.join(dir, "run4"), progress = "off",
      callbacks = { cb.ModelCheckpoint(acc),
        cb.EarlyStopping { monitor = "val_acc", mode = "max", patience = 2 } } }
    local ok, err = pcall(t4.fit, t4, model({ noise = 0.5 }), dm(),
      { ckpt_path = gio.join(run, "checkpoints/last.safetensors") })
    io.stderr = real -- luacheck: ignore 122
    assert(ok, err)
    assert.equal(3, #err_lines) -- the two states and "nothing to train"
    assert.truthy(err_lines[1]:find("^graphids: warning: resume: the checkpoint's EarlyStopping"),
      err_lines[1])
    assert.truthy(err_lines[3]:find("nothing to train", 1, true), err_lines[3])
  end)

  it("refuses a missing, corrupt or incompatible ckpt_path before writing anything", function()
    local t = Trainer { max_epochs = 2, default_root_dir = dir, progress = "off" }
    local nope = gio.join(dir, "nope.safetensors")
    assert.error_matches(function() t:fit(model(), dm(), { ckpt_path = nope }) end,
      "checkpoint '.*nope.safetensors' does not exist")
    assert.same({}, gio.list_dir(dir))
    Trainer { max_epochs = 1, default_root_dir = dir, progress = "off" }:fit(model(), dm())
    local last = gio.join(dir, "checkpoints/last.safetensors")
    local before = proc.slurp(last)
    local t2 = Trainer { max_epochs = 3, default_root_dir = dir, progress = "off" }
    assert.error_matches(function() t2:fit(model({ hidden = 9 }), dm(), { ckpt_path = last }) end,
      "parameter fc1.weight: checkpoint %[8,4%], model %[9,4%]")
    assert.error_matches(function()
      t2:fit(model(), dm({ n = 48, batch_size = 8, seed = 2, vocab_digest = string.rep("cd", 32) }),
        { ckpt_path = last })
    end, "vocab_digest: checkpoint abab.*, model cdcd")
    assert.equal(before, proc.slurp(last))
    proc.spit(last, before:sub(1, -2) .. "x")
    assert.error_matches(function() t2:fit(model(), dm(), { ckpt_path = last }) end, "sha256 mismatch")
    -- a weights-only file (another writer's) tests fine but cannot resume a fit
    local wonly = gio.join(dir, "weights.safetensors")
    local w = {}
    for name, wt in pairs(weights(model())) do w["model." .. name] = wt end
    assert(graphids.save_safetensors(wonly, w, { format = "pt" }))
    assert.error_matches(function() t2:fit(model(), dm(), { ckpt_path = wonly }) end,
      "weights.safetensors' has no trainer state, which resuming needs %(a weights%-only file%?%)")
    -- (its vocabulary cannot be checked, and the test says so: it records no digest)
    local said = {}
    local tw = Trainer { progress = "off", log = function(s) said[#said + 1] = s end }
    assert.is_number(tw:test(model(), dm(), { ckpt_path = wonly, metrics = tiny.metrics })["test/accuracy"])
    assert.same({ "checkpoint '" .. wonly .. "' records no vocabulary digest; its vocabulary cannot be " ..
      "checked against the data's (" .. string.rep("ab", 32) .. "), only its class and shapes are" }, said)
    assert.error_matches(function() Trainer { max_epoch = 3 } end, "max_epoch")
    assert.error_matches(function() Trainer { callbacks = { {} } } end, "callbacks%[1%] is not")
    assert.error_matches(function() t2:fit(model(), dm(), { ckpt = last }) end, "ckpt")
  end)

  it("tests every set (pooled and test/<set>/ keys) with the best weights", function()
    local m = model()
    local t = Trainer { max_epochs = 3, default_root_dir = dir, progress = "off" }
    t:fit(m, dm())
    local best = t:checkpoint_callback():best_model_path()
    local fresh = model({ seed = 123 })
    local res = Trainer { progress = "off" }:test(fresh, dm(), { ckpt_path = best, metrics = tiny.metrics })
    assert.equal(24, res["test/set_a/n"])
    assert.equal(24, res["test/set_b/n"])
    assert.equal(48, res["test/n"])
    local pooled = (res["test/set_a/accuracy"] + res["test/set_b/accuracy"]) / 2
    assert.is_true(math.abs(res["test/accuracy"] - pooled) < 1e-12)
    -- The same weights as the fitted model: the same outputs.
    local again = Trainer { progress = "off" }:test(m, dm(), { metrics = tiny.metrics })
    assert.same(again, res)
    -- Default metrics (graphids.metrics): without probs the threshold set, fitted on validation.
    local def = Trainer { progress = "off" }:test(m, dm())
    for _, k in ipairs({ "test/auroc", "test/set_a/auroc", "test/set_b/f1", "test/threshold" }) do
      assert.is_number(def[k], k)
    end
    assert.equal(def["test/set_a/threshold"], def["test/set_b/threshold"])
    -- No validation graphs: only the threshold-free set, and a warning (once) saying why.
    local none = dm():setup()
    local empty = none:val_loader()
    function empty.iter() return function() return nil end end
    function none.val_loader() return empty end
    local said = {}
    local free = Trainer { progress = "off", log = function(msg) said[#said + 1] = msg end }:test(m, none)
    assert.is_number(free["test/auroc"])
    assert.is_nil(free["test/threshold"])
    assert.is_nil(free["test/set_b/f1"])
    assert.equal(1, #said)
    assert.matches("no validation scores to fit the anomaly threshold on", said[1])
  end)

  it("falls back to the threshold-free set when the validation labels hold a single class", function()
    -- Youden's J needs both classes: metrics.anomaly refuses such a set, and test() takes no
    -- threshold, so it warns once and reports the metrics that need none (as without val graphs)
    local d = dm():setup()
    d.vy = d.vy:mul(0)
    local said = {}
    local t = Trainer { progress = "off", log = function(msg) said[#said + 1] = msg end }
    local res = t:test(model(), d)
    for _, k in ipairs({ "test/auroc", "test/ap", "test/set_a/auroc", "test/set_b/precision@0.95recall" }) do
      assert.is_number(res[k], k)
    end
    assert.is_nil(res["test/threshold"])
    assert.is_nil(res["test/set_a/f1"])
    assert.equal(1, #said)
    assert.matches("the validation labels hold a single class %(24 negative, 0 positive%)", said[1])
    assert.matches("only the threshold%-free metrics", said[1])
    assert.is_nil(said[1]:find("opts.threshold", 1, true))
  end)

  it("refuses float validation labels, single-class or not, before the single-class fallback", function()
    -- all-zero float labels warned and fell back as a single class, where mixed ones raised
    for _, scale in ipairs({ 0, 1 }) do
      local d = dm():setup()
      d.vy = d.vy:mul(scale):double()
      local said = {}
      local t = Trainer { progress = "off", log = function(msg) said[#said + 1] = msg end }
      assert.error_matches(function() t:test(model(), d) end,
        "val_labels must be an integer or bool tensor", nil, "labels times " .. scale)
      assert.equal(0, #said)
    end
  end)

  it("predicts per-graph outputs with window_start and writes prediction files", function()
    local d = dm():setup()
    local t = Trainer { progress = "off" }
    local out = t:predict(model(), d:val_loader())
    assert.equal(24, out.scores:numel())
    assert.same(graphids.arange(0, 2400, 100, { dtype = "i64" }):totable(), out.window_start:totable())
    assert.equal("i64", out.preds.dtype)
    local path = gio.join(dir, "predictions/val.safetensors")
    t:save_predictions(path, model(), d:val_loader())
    local tensors = graphids.load_safetensors(path)
    assert.is_true(graphids.equal(out.labels, tensors.labels))
  end)

  it("leaves no tensor behind: fits, checkpoints, resume, test and predict", function()
    local d = dm():setup()
    collectgarbage()
    collectgarbage()
    local base = graphids.memory().live_tensors
    local base_storages = graphids.memory().live_storages
    do
      local t = Trainer { max_epochs = 2, default_root_dir = dir, progress = "off" }
      t:fit(model(), d)
      local t2 = Trainer { max_epochs = 3, default_root_dir = dir, progress = "off" }
      t2:fit(model(), d, { ckpt_path = gio.join(dir, "checkpoints/last.safetensors") })
      t2:test(model(), d, { ckpt_path = t2:checkpoint_callback():best_model_path(), metrics = tiny.metrics })
      t2:predict(model(), d:val_loader())
    end
    collectgarbage()
    collectgarbage()
    assert.equal(base, graphids.memory().live_tensors)
    assert.equal(base_storages, graphids.memory().live_storages)
  end)

  it("names what a model or data module lacks", function()
    local t = Trainer { progress = "off" }
    local m = model()
    rawset(m, "validation_step", false)
    assert.error_matches(function() t:fit(m, dm()) end, "model TinyMLP has no validation_step%(%)")
    assert.error_matches(function() t:fit(model(), {}) end, "datamodule must provide train_batches%(%)")
    assert.error_matches(function() t:predict(model(), {}) end, "loader must have iter%(%)")
    assert.error_matches(function() t:test(model(), {}) end, "datamodule must provide test_loaders%(%)")
  end)

  it("prints a progress bar on a terminal and plain lines otherwise", function()
    local buf = {}
    local sink = tiny.sink(buf)
    local p = Progress.new({ mode = "lines", every = 2, out = sink })
    p:epoch_start(0, 5, 4)
    for i = 1, 4 do p:step(i, 0.5, 8) end
    p:epoch_end({ val_loss = 0.25 })
    local text = table.concat(buf)
    assert.truthy(text:find("epoch 1/5 step 2/4 loss 0.5000 %d+ graphs/s eta %d+:%d%d\n"))
    assert.truthy(text:find("epoch 1/5 step 4/4"))
    assert.truthy(text:find("epoch 1/5 done in %d+:%d%d val_loss=0.25\n"))
    assert.falsy(text:find("\r", 1, true))
    buf = {}
    p = Progress.new({ mode = "bar", out = tiny.sink(buf) })
    p:epoch_start(0, 5, 4)
    p:step(2, 0.5, 8)
    assert.truthy(table.concat(buf):find("\repoch 1/5 [##########..........] step 2/4", 1, true))
    assert.error_matches(function() Trainer { progress = "fancy" } end, "progress must be")
  end)

  it("times the eta from the batches this run made, not those a resume found done", function()
    local p = Progress.new({ mode = "off" })
    p:epoch_start(0, 1, 40)
    p:step(31, 0.5, 8) -- a resume at batch 30: the first batch this run makes is the 31st
    local t0 = graphids.clock()
    while graphids.clock() - t0 < 0.3 do end
    p:step(32, 0.5, 8)
    -- 2 batches in 0.3 s, 8 to go: about 1.2 s (0:01); counting the 30 before, 0.08 s (0:00)
    assert.truthy(p:line(32):find("eta 0:01$"), p:line(32))
  end)
end)
