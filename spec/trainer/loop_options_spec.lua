-- loop_options_spec.lua -- the Trainer's Lightning loop options other than accumulation
-- (accumulate_spec.lua): their checks, limit_train_batches / limit_val_batches (a count or a
-- fraction of the epoch's batches; exact resume under a limit), check_val_every_n_epoch (which
-- epochs validate, and what the monitoring callbacks and ReduceLROnPlateau do on the others),
-- and fast_dev_run (n batches, one epoch, nothing written).
local class = require "graphids.class"
local gio = require "graphids.io"
local cb = require "graphids.callbacks"
local LO = require "graphids.trainer.loop_options"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local model = tiny.small_mlp

-- 44 graphs in batches of 8: 6 training batches an epoch; 22 validation graphs: 3 batches.
local function dm()
  return tiny.DataModule({ n = 44, batch_size = 8, seed = 2 })
end

-- A model counting its training and validation batches of each epoch.
local function counted(hp)
  local m = model(hp)
  local train, val = {}, {}
  local ts, vs = m.training_step, m.validation_step
  rawset(m, "training_step", function(self, b, ctx)
    train[ctx.epoch + 1] = (train[ctx.epoch + 1] or 0) + 1
    return ts(self, b, ctx)
  end)
  rawset(m, "validation_step", function(self, b, ctx)
    val[ctx.epoch + 1] = (val[ctx.epoch + 1] or 0) + 1
    return vs(self, b, ctx)
  end)
  return m, train, val
end

-- Records the epochs whose validation hooks ran.
local Hooks = class("ValidationHooks", cb.Callback)
function Hooks:__init() self.started = {} end
function Hooks:on_validation_epoch_start(t) self.started[#self.started + 1] = t.epoch end

describe("Trainer loop options", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("checks each option, naming it", function()
    local limit = "an integer >= 0 (a number of batches) or a number in [0, 1] (a fraction of the " ..
      "epoch's batches)"
    local fdr = "a boolean or an integer >= 0 (its number of batches)"
    local cases = {
      { { accumulate_grad_batches = 0 }, "accumulate_grad_batches must be an integer >= 1, got 0" },
      { { accumulate_grad_batches = 1.5 }, "accumulate_grad_batches must be an integer >= 1, got 1.5" },
      { { accumulate_grad_batches = "2" },
        "accumulate_grad_batches must be an integer >= 1, got '2' (a string)" },
      { { check_val_every_n_epoch = 0 }, "check_val_every_n_epoch must be an integer >= 1, got 0" },
      { { limit_train_batches = -1 }, "limit_train_batches must be " .. limit .. ", got -1" },
      { { limit_train_batches = 1.5 }, "limit_train_batches must be " .. limit .. ", got 1.5" },
      { { limit_val_batches = true }, "limit_val_batches must be " .. limit .. ", got true" },
      { { limit_val_batches = -0.5 }, "limit_val_batches must be " .. limit .. ", got -0.5" },
      { { fast_dev_run = -1 }, "fast_dev_run must be " .. fdr .. ", got -1" },
      { { fast_dev_run = "yes" }, "fast_dev_run must be " .. fdr .. ", got 'yes' (a string)" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(function() return Trainer(c[1]) end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("Trainer: " .. c[2], 1, true), tostring(err))
    end
    -- normalised: integral floats count, 1 is one batch and 1.0 the whole epoch, true is 1 batch
    local cases2 = {
      { {}, { 1, 1.0, 1.0, 1, false } },
      { { accumulate_grad_batches = 4.0, limit_train_batches = 3.0, limit_val_batches = 1, fast_dev_run = 0 },
        { 4, 3, 1, 1, false } },
      { { limit_train_batches = 0.25, limit_val_batches = 0, check_val_every_n_epoch = 2,
        fast_dev_run = true }, { 1, 0.25, 0, 2, 1 } },
      { { fast_dev_run = 3 }, { 1, 1.0, 1.0, 1, 3 } },
    }
    for _, c in ipairs(cases2) do
      local o = LO.normalize(c[1])
      local got = { o.accumulate_grad_batches, o.limit_train_batches, o.limit_val_batches,
        o.check_val_every_n_epoch, o.fast_dev_run }
      assert.same(c[2], got)
      for i = 2, 3 do assert.equal(math.type(c[2][i]), math.type(got[i])) end
    end
  end)

  it("resolves a limit against the epoch's batches as Lightning does", function()
    -- {limit, loader length, batches (or the error)}
    local cases = {
      { 3, 6, 3 }, { 10, 6, 6 }, { 0, 6, 0 }, { 1, 6, 1 }, { 1.0, 6, 6 }, { 0.5, 6, 3 }, { 0.25, 6, 1 },
      { 0.0, 6, 0 }, { 0.5, 0, 0 }, { 3, nil, 3 }, { 1.0, nil, nil },
      { 0.1, 6, "Trainer: limit_train_batches = 0.1 of 6 batches is less than one batch; give at least " ..
        "1/6 of them, or a number of batches" },
      { 0.5, nil, "Trainer: limit_train_batches = 0.5 is a fraction of the epoch's batches, and the " ..
        "loader has no length to take it of; give a number of batches" },
    }
    for _, c in ipairs(cases) do
      local ok, n = pcall(LO.batches, c[1], c[2], "limit_train_batches")
      if type(c[3]) == "string" then
        assert.same({ false, c[3] }, { ok, n })
      else
        assert.same({ true, c[3] }, { ok, n }, tostring(c[1]) .. " of " .. tostring(c[2]))
      end
    end
  end)

  it("runs limit_train_batches and limit_val_batches batches of each epoch", function()
    -- {limit_train_batches, limit_val_batches, training batches, validation batches an epoch}
    local cases = {
      { nil, nil, 6, 3 }, { 2, 1, 2, 1 }, { 0.5, 0.5, 3, 1 }, { 1.0, 2.0, 6, 2 }, { 10, 10, 6, 3 },
      { 0.25, 0, 1, nil },
    }
    for _, c in ipairs(cases) do
      local what = string.format("train %s, val %s", tostring(c[1]), tostring(c[2]))
      local m, train, val = counted()
      local t = Trainer { max_epochs = 2, progress = "off", limit_train_batches = c[1],
        limit_val_batches = c[2], log = function() end }
      t:fit(m, dm())
      assert.same({ c[3], c[3] }, train, what)
      assert.same(c[4] and { c[4], c[4] } or {}, val, what)
      assert.equal(2 * c[3], t.global_step, what)
      assert.equal(c[4] ~= nil, t.history[2].val_loss ~= nil, what)
    end
    -- a fraction that comes to no batch, and 0: nothing trains (Lightning skips the fit loop)
    local t = Trainer { max_epochs = 2, progress = "off", limit_train_batches = 0.1 }
    assert.equal("Trainer: limit_train_batches = 0.1 of 6 batches is less than one batch; give at " ..
      "least 1/6 of them, or a number of batches", err_of(t.fit, t, model(), dm()))
    -- a validation fraction that comes to no batch is named at the fit's start, before any epoch
    -- trains (Lightning's sanity check), not at the end of the first one that validates
    local mv, trained = counted()
    local tv = Trainer { max_epochs = 3, progress = "off", limit_val_batches = 0.2,
      check_val_every_n_epoch = 2 }
    assert.equal("Trainer: limit_val_batches = 0.2 of 3 batches is less than one batch; give at least 1/3 " ..
      "of them, or a number of batches", err_of(tv.fit, tv, mv, dm()))
    assert.same({}, trained)
    local said = {}
    local m, train = counted()
    local t0 = Trainer { max_epochs = 2, progress = "off", limit_train_batches = 0,
      log = function(s) said[#said + 1] = s end }
    t0:fit(m, dm())
    assert.same({}, train)
    assert.same({ 0, 0 }, { t0.epoch, t0.global_step })
    assert.same({ "limit_train_batches = 0: no training batch runs; the fit trains nothing" }, said)
  end)

  it("resumes exactly under a limit: a save mid-epoch, and at the limit's last batch", function()
    for _, at in ipairs({ { 1, 2 }, { 1, 4 }, { 2, 4 } }) do
      local what = string.format("epoch %d batch %d", at[1], at[2])
      local function trainer(cbs)
        return Trainer { max_epochs = 3, progress = "off", limit_train_batches = 4, limit_val_batches = 2,
          callbacks = cbs }
      end
      local ref_model = model()
      local ref = trainer({})
      ref:fit(ref_model, dm())
      local p = gio.join(dir, at[1] .. at[2] .. ".safetensors")
      local Kill = class("KillAt", cb.Callback)
      function Kill.on_train_batch_end(_, t, _, i)
        if t.epoch == at[1] and i == at[2] then
          t:save_checkpoint(p)
          error("killed", 0)
        end
      end
      local t1 = trainer({ Kill() })
      assert.equal("killed", err_of(t1.fit, t1, model(), dm()))
      local m, train = counted({ seed = 7 })
      local t2 = trainer({})
      t2:fit(m, dm(), { ckpt_path = p })
      assert.is_true(tiny.same_weights(tiny.weights(ref_model), tiny.weights(m)), what)
      assert.equal(ref.global_step, t2.global_step, what)
      -- the resumed epoch runs the rest of its limit, the next ones the limit
      assert.equal(4 - at[2], train[at[1] + 1] or 0, what)
      for k = 1, #ref.history do
        local r = ref.history[k]
        local h = t2.history[k - (#ref.history - #t2.history)]
        if h then
          assert.same({ r.train_loss, r.val_loss }, { h.train_loss, h.val_loss },
            what .. ", epoch " .. r.epoch)
        end
      end
    end
  end)

  it("validates every check_val_every_n_epoch-th epoch ((epoch + 1) % n == 0), the last one not forced",
    function()
      -- {n, max_epochs, the epochs that validate}
      local cases = { { 1, 3, { 0, 1, 2 } }, { 2, 5, { 1, 3 } }, { 3, 5, { 2 } }, { 2, 4, { 1, 3 } } }
      for _, c in ipairs(cases) do
        local what = string.format("n = %d, max_epochs %d", c[1], c[2])
        local hooks = Hooks()
        local mc = cb.ModelCheckpoint {}
        local es = cb.EarlyStopping { patience = 100 }
        local t = Trainer { max_epochs = c[2], progress = "off", check_val_every_n_epoch = c[1],
          default_root_dir = gio.join(dir, c[1] .. "_" .. c[2]), callbacks = { hooks, mc, es } }
        local m = model({ plateau = true })
        t:fit(m, dm())
        assert.same(c[3], hooks.started, what)
        local validated = {}
        for _, h in ipairs(t.history) do
          if h.val_loss ~= nil then validated[#validated + 1] = h.epoch end
        end
        assert.same(c[3], validated, what)
        -- the best is judged among the epochs that validated; `last` is written every epoch
        local is_val = {}
        for _, e in ipairs(c[3]) do is_val[e] = true end
        assert.is_true(is_val[mc.best_epoch], what .. ": best epoch " .. tostring(mc.best_epoch))
        local last = require("graphids.ckpt").load(mc:last_model_path())
        assert.equal(c[2] - 1, last.epoch, what)
        -- the plateau schedule stepped on the epochs that reported val_loss only
        assert.equal(#c[3], t.scheduler.last_epoch, what)
      end
    end)

  it("counts early-stopping patience in validations; a missing metric on a validating epoch still fails",
    function()
      -- val_loss rises from the first validation on: patience 2 stops at the third validation
      local m = model()
      rawset(m, "validation_step", function(_, _, ctx) return { val_loss = ctx.epoch, val_acc = 0 } end)
      local es = cb.EarlyStopping { patience = 2 }
      local t = Trainer { max_epochs = 20, progress = "off", check_val_every_n_epoch = 3, callbacks = { es } }
      t:fit(m, dm())
      -- validations at epochs 2, 5, 8: the best, then two without improvement
      assert.same({ 8, 9, 2 }, { es.stopped_epoch, t.epoch, es.wait_count })
      local m2 = model()
      rawset(m2, "validation_step", function() return { val_acc = 0 } end)
      local t2 = Trainer { max_epochs = 4, progress = "off", check_val_every_n_epoch = 2,
        callbacks = { cb.EarlyStopping {} } }
      assert.equal("EarlyStopping: monitored metric 'val_loss' was not logged this epoch (logged: " ..
        "train_acc, train_loss, val_acc)", err_of(t2.fit, t2, m2, dm()))
      -- no epoch validates while a callback monitors a val metric: said once, at the start
      local said = {}
      local t3 = Trainer { max_epochs = 2, progress = "off", check_val_every_n_epoch = 3,
        callbacks = { cb.EarlyStopping {} }, log = function(s) said[#said + 1] = s end }
      t3:fit(model(), dm())
      assert.same({ "EarlyStopping monitors 'val_loss', but no epoch of this fit validates " ..
        "(check_val_every_n_epoch = 3 > max_epochs = 2); it judges no epoch" }, said)
    end)

  it("refuses a ReduceLROnPlateau on a val metric when no epoch validates (Lightning raises too)", function()
    local cases = {
      { { limit_val_batches = 0 }, "limit_val_batches = 0" },
      { { check_val_every_n_epoch = 4 }, "check_val_every_n_epoch = 4 > max_epochs = 3" },
    }
    for _, c in ipairs(cases) do
      local o = { max_epochs = 3, progress = "off" }
      for k, v in pairs(c[1]) do o[k] = v end
      local m, train = counted({ plateau = true })
      local t = Trainer(o)
      assert.equal("Trainer:fit: ReduceLROnPlateau monitors 'val_loss', but no epoch of this fit " ..
        "validates (" .. c[2] .. "): the schedule would never step (Lightning refuses it too); let an " ..
        "epoch validate, or set the Trainer's scheduler_monitor to a metric the training logs",
        err_of(t.fit, t, m, dm()))
      assert.same({}, train, c[2])
      -- on a metric the training logs it steps every epoch
      o.scheduler_monitor = "train_loss"
      local t2 = Trainer(o)
      t2:fit(model({ plateau = true }), dm())
      assert.equal(3, t2.scheduler.last_epoch, c[2])
    end
    -- a fit that trains nothing steps no schedule: nothing to refuse
    local t3 = Trainer { max_epochs = 3, progress = "off", limit_val_batches = 0, limit_train_batches = 0,
      log = function() end }
    t3:fit(model({ plateau = true }), dm())
  end)

  it("fast_dev_run runs n batches of training, validation, test and predict in one epoch, writing nothing",
    function()
      for _, c in ipairs({ { true, 1 }, { 2, 2 } }) do
        local root = gio.join(dir, "fdr" .. c[2])
        local m, train, val = counted()
        local es = cb.EarlyStopping { patience = 1 }
        local said = {}
        local t = Trainer { max_epochs = 5, progress = "off", fast_dev_run = c[1], default_root_dir = root,
          limit_train_batches = 5, callbacks = { es }, log = function(s) said[#said + 1] = s end }
        t:fit(m, dm())
        assert.same({ { c[2] }, { c[2] } }, { train, val })
        assert.same({ 1, c[2] }, { t.epoch, t.global_step })
        assert.is_false(gio.exists(root), "fast_dev_run wrote " .. root)
        assert.same({ nil, 0 }, { es.best_score, es.wait_count }) -- early stopping stood aside
        assert.same({ string.format("fast_dev_run: %d batch(es) of training and of validation, one " ..
          "epoch; no checkpoint is written and early stopping stands aside", c[2]) }, said)
        local d = dm()
        local metrics = t:test(m, d, { metrics = tiny.metrics })
        assert.equal(2 * c[2] * 8, metrics["test/n"]) -- n batches of 8 of each of the two sets
        assert.equal(c[2] * 8, t:predict(m, d:val_loader()).labels:numel())
      end
      -- a folder holding an earlier fit's checkpoints is neither refused nor touched
      Trainer { max_epochs = 1, progress = "off", default_root_dir = dir }:fit(model(), dm())
      local last = gio.join(dir, "checkpoints", "last.safetensors")
      local before = proc.slurp(last)
      Trainer { progress = "off", fast_dev_run = true, default_root_dir = dir }:fit(model(), dm())
      assert.equal(before, proc.slurp(last))
    end)
end)
