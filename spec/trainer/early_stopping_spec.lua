-- early_stopping_spec.lua -- EarlyStopping's Lightning 2.x thresholds: stopping_threshold (stop
-- once the value is better), divergence_threshold (stop once it is worse), Lightning's order of
-- the checks, its stopping_reason / stopping_reason_message, their resume, and option errors.
-- (Patience, min_delta and check_finite: callbacks_spec.lua.)
local gio = require "graphids.io"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"

-- A stand-in trainer (the fields EarlyStopping reads).
local function fake()
  local t = { callback_metrics = {}, epoch = 0, should_stop = false, warned = {} }
  function t.warn(self, msg) self.warned[#self.warned + 1] = msg end
  return t
end

-- Judges values epoch by epoch until the callback stops the fit; returns the stand-in trainer.
local function judge(c, values)
  local t = fake()
  for e, v in ipairs(values) do
    t.epoch = e - 1
    t.callback_metrics = { val_loss = v }
    c:on_train_epoch_end(t)
    if t.should_stop then break end
  end
  return t
end

describe("EarlyStopping thresholds", function()
  it("stops once the value is better than stopping_threshold, strictly, with Lightning's reason", function()
    local c = cb.EarlyStopping { patience = 5, stopping_threshold = 0.5 }
    local t = judge(c, { 0.9, 0.5, 0.25, 0.1 })
    assert.is_true(t.should_stop)
    assert.equal(2, c.stopped_epoch)
    assert.equal("STOPPING_THRESHOLD", c.stopping_reason)
    assert.equal("Stopping threshold reached: val_loss = 0.25 < 0.5. Signaling Trainer to stop.",
      c.stopping_reason_message)
    -- (the goal is reached: Lightning leaves the best and the counter as they were)
    assert.same({ 0.5, 0 }, { c.best_score, c.wait_count })
    assert.same({}, t.warned)
    local m = cb.EarlyStopping { mode = "max", monitor = "val_loss", stopping_threshold = 0.9 }
    judge(m, { 0.5, 0.9, 0.95 })
    assert.same({ 2, "STOPPING_THRESHOLD" }, { m.stopped_epoch, m.stopping_reason })
    assert.equal("Stopping threshold reached: val_loss = 0.95 > 0.9. Signaling Trainer to stop.",
      m.stopping_reason_message)
  end)

  it("stops once the value is worse than divergence_threshold", function()
    local c = cb.EarlyStopping { patience = 5, divergence_threshold = 3 }
    local t = judge(c, { 1.0, 3, 4.0, 0.5 })
    assert.is_true(t.should_stop)
    assert.same({ 2, "DIVERGENCE_THRESHOLD" }, { c.stopped_epoch, c.stopping_reason })
    -- (Lightning writes "4.0 < 3" here, the mode's comparison; this one writes the one that holds)
    assert.equal("Divergence threshold reached: val_loss = 4.0 > 3. Signaling Trainer to stop.",
      c.stopping_reason_message)
    assert.same({ 1.0, 1 }, { c.best_score, c.wait_count })
    local m = cb.EarlyStopping { mode = "max", patience = 5, divergence_threshold = 0.1 }
    judge(m, { 0.5, 0.1, 0.05 })
    assert.same({ 2, "DIVERGENCE_THRESHOLD" }, { m.stopped_epoch, m.stopping_reason })
    assert.matches("val_loss = 0.05 < 0.1%.", m.stopping_reason_message)
  end)

  it("judges in Lightning's order: finiteness, the thresholds, then patience", function()
    -- an infinite value with check_finite stops as not finite, though past the divergence threshold
    local c = cb.EarlyStopping { divergence_threshold = 10 }
    local t = judge(c, { 1.0, math.huge })
    assert.same({ 1, "NON_FINITE_METRIC" }, { c.stopped_epoch, c.stopping_reason })
    assert.equal("Monitored metric val_loss = inf is not finite. Previous best value was 1.000. " ..
      "Signaling Trainer to stop.", c.stopping_reason_message)
    assert.matches("val_loss = inf is not finite at epoch 1; stopping", t.warned[1])
    -- without check_finite, inf is past the divergence threshold
    local lax = cb.EarlyStopping { divergence_threshold = 10, check_finite = false }
    judge(lax, { 1.0, math.huge })
    assert.same({ 1, "DIVERGENCE_THRESHOLD" }, { lax.stopped_epoch, lax.stopping_reason })
    -- a NaN is past no threshold (every comparison with it is false): patience counts it
    local nan = cb.EarlyStopping { patience = 2, stopping_threshold = 0.1, divergence_threshold = 10,
      check_finite = false }
    judge(nan, { 1.0, 0 / 0, 0 / 0 })
    assert.same({ 2, "PATIENCE_EXHAUSTED" }, { nan.stopped_epoch, nan.stopping_reason })
    assert.equal("Monitored metric val_loss did not improve in the last 2 records. Best score: 1.000. " ..
      "Signaling Trainer to stop.", nan.stopping_reason_message)
    -- between the thresholds, improvement and patience as without them
    local p = cb.EarlyStopping { patience = 2, stopping_threshold = 0.1, divergence_threshold = 10 }
    local tp = judge(p, { 1.0, 0.5, 0.6, 0.7 })
    assert.same({ 3, 0.5, "PATIENCE_EXHAUSTED" }, { p.stopped_epoch, p.best_score, p.stopping_reason })
    assert.is_true(tp.should_stop)
    local none = cb.EarlyStopping { stopping_threshold = 0.1 }
    judge(none, { 1.0, 0.5 })
    assert.same({ "NOT_STOPPED", nil }, { none.stopping_reason, none.stopping_reason_message })
  end)

  it("keeps its reason across a resume; a state without one is not stopped", function()
    local a = cb.EarlyStopping { stopping_threshold = 0.5 }
    judge(a, { 0.9, 0.4 })
    local b = cb.EarlyStopping { stopping_threshold = 0.5 }
    b:load_state_dict(a:state_dict())
    assert.same({ 1, "STOPPING_THRESHOLD", a.stopping_reason_message },
      { b.stopped_epoch, b.stopping_reason, b.stopping_reason_message })
    local old = a:state_dict()
    old.stopping_reason, old.stopping_reason_message = nil, nil
    b:load_state_dict(old)
    assert.same({ "NOT_STOPPED", nil }, { b.stopping_reason, b.stopping_reason_message })
    local bad = a:state_dict()
    bad.stopping_reason = "BORED"
    assert.error_matches(function() b:load_state_dict(bad) end,
      "'stopping_reason' must be one of NOT_STOPPED, .* or absent, got 'BORED'")
    bad.stopping_reason, bad.stopping_reason_message = "NOT_STOPPED", 3
    assert.error_matches(function() b:load_state_dict(bad) end,
      "'stopping_reason_message' must be a string or absent, got 3")
  end)

  it("refuses a threshold that is not a number, NaN, or a pair where every value stops", function()
    assert.error_matches(function() cb.EarlyStopping { stopping_threshold = "0.5" } end,
      "EarlyStopping: stopping_threshold must be a number %(not NaN%) or nil, got '0.5'")
    assert.error_matches(function() cb.EarlyStopping { divergence_threshold = 0 / 0 } end,
      "EarlyStopping: divergence_threshold must be a number %(not NaN%) or nil, got %S*nan")
    assert.error_matches(function() cb.EarlyStopping { stopping_threshold = 2, divergence_threshold = 1 } end,
      "EarlyStopping: stopping_threshold = 2 is past divergence_threshold = 1 in mode 'min'")
    assert.error_matches(function()
      cb.EarlyStopping { mode = "max", stopping_threshold = 0.1, divergence_threshold = 0.9 }
    end, "stopping_threshold = 0.1 is past divergence_threshold = 0.9 in mode 'max'")
    -- equal thresholds leave the value at them to patience
    cb.EarlyStopping { stopping_threshold = 1, divergence_threshold = 1 }
  end)

  it("stops a real fit at the threshold's epoch, and its last checkpoint resumes stopped", function()
    local dir = proc.tmpdir()
    local ok, err = pcall(function()
      local loss = { 0.9, 0.7, 0.45, 0.3, 0.2 }
      local function scripted()
        local m = tiny.small_mlp()
        rawset(m, "validation_step", function(_, _, ctx) return { val_loss = loss[ctx.epoch + 1] } end)
        return m
      end
      local function dm() return tiny.DataModule { n = 24, batch_size = 8, seed = 2 } end
      local es = cb.EarlyStopping { patience = 5, stopping_threshold = 0.5 }
      local t = Trainer { max_epochs = 5, progress = "off", default_root_dir = dir, callbacks = { es } }
      t:fit(scripted(), dm())
      assert.same({ 3, 2, "STOPPING_THRESHOLD" }, { t.epoch, es.stopped_epoch, es.stopping_reason })
      local es2 = cb.EarlyStopping { patience = 5, stopping_threshold = 0.5 }
      local t2 = Trainer { max_epochs = 5, progress = "off", default_root_dir = dir, callbacks = { es2 } }
      t2:fit(scripted(), dm(), { ckpt_path = gio.join(dir, "checkpoints", "last.safetensors") })
      assert.same({ 3, 2, "STOPPING_THRESHOLD", es.stopping_reason_message },
        { t2.epoch, es2.stopped_epoch, es2.stopping_reason, es2.stopping_reason_message })
    end)
    proc.rmtree(dir)
    assert(ok, err)
  end)
end)
