-- lr_monitor_spec.lua -- LearningRateMonitor as Lightning 2.x's: logging_interval nil (each
-- schedule at its own interval), "step" and "epoch"; per-step values every log_every_n_steps-th
-- optimizer step with step = the global step before it (once per group of accumulated batches),
-- to the callbacks' on_step_metrics, a FileStore run's metric file and the progress lines, and
-- not into the epoch's metrics; Lightning's names with momentum and weight decay; exact
-- resume from a mid-epoch checkpoint, per step and per epoch.
local class = require "graphids.class"
local gio = require "graphids.io"
local optim = require "graphids.optim"
local cb = require "graphids.callbacks"
local ckpt = require "graphids.ckpt"
local track = require "graphids.track"
local filestore = require "graphids.track.filestore"
local Progress = require "graphids.trainer.progress"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local S = optim.lr_scheduler

-- 44 graphs in batches of 8: 6 training batches an epoch.
local function dm()
  return tiny.DataModule({ n = 44, batch_size = 8, seed = 2 })
end

-- The tiny MLP whose configure_optimizers returns make_opt(params) (Adam lr 0.05) and
-- make(opt) (no schedule when absent).
local function model(make, make_opt)
  local m = tiny.small_mlp()
  rawset(m, "configure_optimizers", function(self)
    local opt = make_opt and make_opt(self:parameters()) or optim.Adam(self:parameters(), { lr = 0.05 })
    if make then return opt, make(opt) end
    return opt
  end)
  return m
end

local function one_cycle(opt)
  return { scheduler = S.OneCycleLR(opt, { max_lr = 0.1, total_steps = 12 }), interval = "step" }
end

-- Records what trainer:log_step_metrics hands the callbacks: {step, metrics} each; and the lr
-- before each batch's step (after on_train_batch_start).
local Steps = class("RecordStepMetrics", cb.Callback)
function Steps:__init() self.got = {} end
function Steps:on_step_metrics(_, metrics, step)
  local copy = {}
  for k, v in pairs(metrics) do copy[k] = v end
  self.got[#self.got + 1] = { step = step, metrics = copy }
end

local function steps_of(rec)
  local out = {}
  for i, g in ipairs(rec.got) do out[i] = g.step end
  return out
end

local function fit(opts, m, fit_opts)
  local t = Trainer(opts)
  t:fit(m, dm(), fit_opts)
  return t
end

-- The lrs OneCycleLR(max_lr 0.1, total_steps 12) gives Adam(lr 0.05): [k] after k steps.
local function cycle_lrs()
  local opt = optim.Adam(tiny.small_mlp():parameters(), { lr = 0.05 })
  local s = S.OneCycleLR(opt, { max_lr = 0.1, total_steps = 12 })
  local lr, beta1 = { [0] = opt.param_groups[1].lr }, { [0] = opt.param_groups[1].betas[1] }
  for k = 1, 11 do
    s:step()
    lr[k], beta1[k] = opt.param_groups[1].lr, opt.param_groups[1].betas[1]
  end
  return lr, beta1
end

describe("LearningRateMonitor", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("logs each schedule at its own interval by default; 'step' and 'epoch' override it", function()
    local want_lr = cycle_lrs()
    -- a per-step schedule: before every optimizer step (log_every_n_steps = 1), with the lr that
    -- step uses and step = the steps taken before it; nothing in the epoch's metrics
    local rec, lrm = Steps(), cb.LearningRateMonitor()
    local t = fit({ max_epochs = 2, progress = "off", log_every_n_steps = 1, callbacks = { lrm, rec } },
      model(one_cycle))
    assert.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 }, steps_of(rec))
    for i, g in ipairs(rec.got) do
      assert.same({ ["lr-Adam"] = want_lr[i - 1] }, g.metrics)
      assert.same({ epoch = (i - 1) // 6, step = i - 1, name = "lr-Adam", lr = want_lr[i - 1] },
        lrm.history[i])
    end
    assert.equal(12, #lrm.history)
    for _, h in ipairs(t.history) do assert.is_nil(h["lr-Adam"]) end
    -- a per-epoch schedule, and none: at each epoch's start, into the epoch's metrics
    for _, make in ipairs({ function(opt) return S.StepLR(opt, 1, { gamma = 0.5 }) end, false }) do
      local rec2, lrm2 = Steps(), cb.LearningRateMonitor()
      local t2 = fit({ max_epochs = 3, progress = "off", log_every_n_steps = 1, callbacks = { lrm2, rec2 } },
        model(make or nil))
      assert.same({}, rec2.got)
      local want = make and { 0.05, 0.025, 0.0125 } or { 0.05, 0.05, 0.05 }
      for e = 1, 3 do
        assert.equal(want[e], t2.history[e]["lr-Adam"])
        assert.same({ epoch = e - 1, name = "lr-Adam", lr = want[e] }, lrm2.history[e])
      end
    end
    -- "step" logs a per-epoch schedule per step; "epoch" a per-step one at each epoch's start
    local rec3 = Steps()
    local t3 = fit({ max_epochs = 2, progress = "off", log_every_n_steps = 1,
      callbacks = { cb.LearningRateMonitor { logging_interval = "step" }, rec3 } },
      model(function(opt) return S.StepLR(opt, 1, { gamma = 0.5 }) end))
    assert.equal(12, #rec3.got)
    assert.equal(0.05, rec3.got[6].metrics["lr-Adam"])
    assert.equal(0.025, rec3.got[7].metrics["lr-Adam"])
    assert.is_nil(t3.history[1]["lr-Adam"])
    local rec4 = Steps()
    local t4 = fit({ max_epochs = 2, progress = "off", log_every_n_steps = 1,
      callbacks = { cb.LearningRateMonitor { logging_interval = "epoch" }, rec4 } }, model(one_cycle))
    assert.same({}, rec4.got)
    assert.same({ want_lr[0], want_lr[6] }, { t4.history[1]["lr-Adam"], t4.history[2]["lr-Adam"] })
  end)

  it("logs every log_every_n_steps-th step once, a group of accumulated batches once", function()
    local want_lr = cycle_lrs()
    -- 12 batches in groups of 2: 6 optimizer steps; every 2nd: before steps 2, 4, 6 (steps 1, 3, 5)
    local rec = Steps()
    fit({ max_epochs = 2, progress = "off", log_every_n_steps = 2, accumulate_grad_batches = 2,
      callbacks = { cb.LearningRateMonitor(), rec } }, model(one_cycle))
    assert.same({ 1, 3, 5 }, steps_of(rec))
    for _, g in ipairs(rec.got) do assert.equal(want_lr[g.step], g.metrics["lr-Adam"]) end
    -- log_every_n_steps counts the fit's steps, across epochs (5: steps 4 and 9)
    local rec5 = Steps()
    fit({ max_epochs = 2, progress = "off", log_every_n_steps = 5,
      callbacks = { cb.LearningRateMonitor(), rec5 } }, model(one_cycle))
    assert.same({ 4, 9 }, steps_of(rec5))
  end)

  it("names the values as Lightning: groups, the config's name, momentum and weight decay", function()
    local sgd = function(p)
      return optim.SGD({ { params = { p[1] } }, { params = { p[2] }, lr = 0.5, momentum = 0.5 } },
        { lr = 0.1, momentum = 0.9, weight_decay = 0.01 })
    end
    local t = fit({ max_epochs = 1, progress = "off",
      callbacks = { cb.LearningRateMonitor { log_momentum = true, log_weight_decay = true } } },
      model(nil, sgd))
    local got = {}
    for k, v in pairs(t.history[1]) do
      if k:match("^lr%-") then got[k] = v end
    end
    assert.same({ ["lr-SGD/pg1"] = 0.1, ["lr-SGD/pg2"] = 0.5, ["lr-SGD/pg1-momentum"] = 0.9,
      ["lr-SGD/pg2-momentum"] = 0.5, ["lr-SGD/pg1-weight_decay"] = 0.01,
      ["lr-SGD/pg2-weight_decay"] = 0.01 }, got)
    -- Adam's momentum is its beta1 (OneCycleLR cycles it), under the config's name, per step
    local want_lr, want_beta1 = cycle_lrs()
    local rec, lrm = Steps(), cb.LearningRateMonitor { log_momentum = true }
    fit({ max_epochs = 2, progress = "off", log_every_n_steps = 3, callbacks = { lrm, rec } },
      model(function(opt)
        local c = one_cycle(opt)
        c.name = "lr-cycle"
        return c
      end))
    assert.same({ 2, 5, 8, 11 }, steps_of(rec))
    for _, g in ipairs(rec.got) do
      assert.same({ ["lr-cycle"] = want_lr[g.step], ["lr-cycle-momentum"] = want_beta1[g.step] }, g.metrics)
    end
    assert.same({ ["lr-cycle-momentum"] = want_beta1[11] }, lrm.last_momentum_values)
    -- an optimizer without momentum logs 0 for it, with Lightning's warning
    local said = {}
    local t2 = fit({ max_epochs = 1, progress = "off", log = function(m) said[#said + 1] = m end,
      callbacks = { cb.LearningRateMonitor { log_momentum = true } } },
      model(nil, function(p) return optim.Adagrad(p, { lr = 0.05 }) end))
    assert.equal(0, t2.history[1]["lr-Adagrad-momentum"])
    assert.same({ "LearningRateMonitor: log_momentum = true, but Adagrad has no momentum; it logs 0 for it" },
      said)
  end)

  it("refuses bad options", function()
    assert.error_matches(function() cb.LearningRateMonitor { logging_interval = 1 } end,
      "logging_interval must be 'step', 'epoch' or nil %(each schedule's own interval%), got 1")
    assert.error_matches(function() cb.LearningRateMonitor { log_momentum = "yes" } end,
      "option 'log_momentum' must be a boolean, got 'yes'")
    assert.error_matches(function() cb.LearningRateMonitor { log_weight_decay = 1 } end,
      "option 'log_weight_decay' must be a boolean, got 1")
    assert.error_matches(function() cb.LearningRateMonitor { logging_intervals = "step" } end,
      "unknown option 'logging_intervals' %(did you mean 'logging_interval'%?%)")
  end)

  it("is one per Trainer: a second would log the same keys, naming the pair", function()
    -- (even of other settings: a per-epoch and a per-step monitor would draw lr-Adam on two axes)
    assert.error_matches(function()
      local per_step = cb.LearningRateMonitor { logging_interval = "step" }
      Trainer { callbacks = { cb.LearningRateMonitor(), per_step } }
    end, "Trainer: two callbacks share the state key 'LearningRateMonitor' (callbacks[2], a " ..
      "LearningRateMonitor, and an earlier one): a checkpoint could not tell their states apart; keep one",
      nil, true)
  end)

  it("Trainer:log_step_metrics names what is not a name -> number table", function()
    local t = Trainer { progress = "off" }
    assert.error_matches(function() t:log_step_metrics(0.1) end,
      "Trainer:log_step_metrics: metrics must be a table of name %-> number, got 0.1")
    assert.error_matches(function() t:log_step_metrics({ ["lr-Adam"] = "fast" }) end,
      "metrics must map names to numbers, got 'lr%-Adam' %(a string%) = 'fast' %(a string%)")
    assert.error_matches(function() t:log_step_metrics({ 0.1 }) end,
      "metrics must map names to numbers, got 1 = 0.1")
  end)

  -- killed after the 3rd batch of epoch 1 (a mid-epoch checkpoint), then resumed
  local Save = class("SaveMidEpoch", cb.Callback)
  function Save:__init(path) self.path = path end
  function Save:on_train_batch_end(t)
    if t.epoch == 1 and t.datamodule.position == 3 then
      t:save_checkpoint(self.path)
      error("killed", 0)
    end
  end

  it("resumes exactly from a mid-epoch checkpoint, per step and per epoch", function()
    local path = gio.join(dir, "mid.safetensors")
    for _, li in ipairs({ "step", "epoch" }) do
      local mk = function() return cb.LearningRateMonitor { logging_interval = li, log_momentum = true } end
      local opts = function(cbs)
        return { max_epochs = 3, progress = "off", log_every_n_steps = 2, callbacks = cbs }
      end
      local sched = function(opt)
        return { scheduler = S.OneCycleLR(opt, { max_lr = 0.1, total_steps = 18 }), interval = "step" }
      end
      local ref_rec, ref_lrm = Steps(), mk()
      local ref = fit(opts({ ref_lrm, ref_rec }), model(sched))
      local first_rec = Steps()
      local t1 = Trainer(opts({ mk(), first_rec, Save(path) }))
      assert.equal("killed", err_of(t1.fit, t1, model(sched), dm()))
      local rec, lrm = Steps(), mk()
      local t2 = fit(opts({ lrm, rec }), model(sched), { ckpt_path = path })
      -- the steps logged before the kill and after the resume are the reference's, once each
      local both = {}
      for _, g in ipairs(first_rec.got) do both[#both + 1] = g end
      for _, g in ipairs(rec.got) do both[#both + 1] = g end
      assert.same(ref_rec.got, both, li)
      -- the resumed epoch's start values (lr and beta1, which the schedule moved since) are the
      -- reference's
      for _, h in ipairs(t2.history) do
        local want = ref.history[h.epoch + 1]
        assert.equal(want["lr-Adam"], h["lr-Adam"], li .. ", epoch " .. h.epoch)
        assert.equal(want["lr-Adam-momentum"], h["lr-Adam-momentum"], li .. ", epoch " .. h.epoch)
      end
      assert.equal(li == "epoch", t2.history[1]["lr-Adam-momentum"] ~= nil, li)
    end
    -- a damaged state is named before anything is restored
    local c = ckpt.load(path)
    local saved = cb.LearningRateMonitor { logging_interval = "epoch", log_momentum = true }
    c.callbacks.LearningRateMonitor.momentum = { 0.9, 0.8 }
    local bad = gio.join(dir, "bad.safetensors")
    ckpt.save(bad, c)
    local t3 = Trainer { max_epochs = 3, progress = "off", callbacks = { saved } }
    assert.matches("callback state 'LearningRateMonitor'.*'momentum' must hold one number per " ..
      "group, as 'lrs' %(1%), got 2", err_of(t3.fit, t3, model(one_cycle), dm(), { ckpt_path = bad }))
  end)

  it("sends per-step values to a FileStore run with step = global step, not to its epoch points", function()
    local uri = "file:" .. dir .. "/mlruns"
    local tcb = track.Callback { run_dir = dir .. "/run", uri = uri, experiment = "lrm", run_name = "tiny",
      system_metrics_interval = false }
    local want_lr = cycle_lrs()
    fit({ max_epochs = 2, progress = "off", log_every_n_steps = 2,
      callbacks = { tcb, cb.LearningRateMonitor { log_momentum = true } } }, model(one_cycle))
    local fs = assert(filestore.new(dir .. "/mlruns"))
    local exp = assert(fs:find_experiment("lrm"))
    local run = dir .. "/mlruns/" .. exp .. "/" .. assert(fs:find_run(exp, "graphids.run_key", tcb.run.key))
    local function points(name)
      local out = {}
      for l in io.lines(run .. "/metrics/" .. name) do
        local v, step = l:match("^%d+ (%S+) (%d+)$")
        out[#out + 1] = { tonumber(step), tonumber(v) }
      end
      return out
    end
    local want = {}
    for _, s in ipairs({ 1, 3, 5, 7, 9, 11 }) do want[#want + 1] = { s, want_lr[s] } end
    assert.same(want, points("lr-Adam"))
    assert.equal(6, #points("lr-Adam-momentum"))
    -- the epoch's metrics still go with step = epoch
    assert.same({ 0, 1 }, { points("train_loss")[1][1], points("train_loss")[2][1] })
  end)

  it("shows the per-step values on the progress lines", function()
    local buf = {}
    local out = { write = function(_, ...) for _, s in ipairs({ ... }) do buf[#buf + 1] = s end end,
      flush = function() end }
    local p = Progress.new({ mode = "lines", every = 1, out = out })
    p:epoch_start(0, 1, 2)
    p:note({ ["lr-Adam"] = 0.05, ["lr-Adam-momentum"] = 0.9 })
    p:step(1, 0.5, 8, 1)
    assert.matches("step 1/2 loss 0.5000 lr%-Adam=0.05 lr%-Adam%-momentum=0.9 ", table.concat(buf))
  end)
end)
