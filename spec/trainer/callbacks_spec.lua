-- callbacks_spec.lua -- graphids.callbacks on a stand-in trainer (a table with the fields the
-- callbacks read): ModelCheckpoint's strict improvement and best-then-last order, EarlyStopping's
-- patience/min_delta and resumable counter, LearningRateMonitor's names, GpuMemoryDrift's
-- warning (on a stubbed graphids.gpu, and in a real GPU fit on the loopback device) and its CPU
-- no-op, option errors.
local graphids = require "graphids"
local optim = require "graphids.optim"
local cb = require "graphids.callbacks"
local gio = require "graphids.io"
local proc = require "trainer.support.proc"
local lb = require "loopback"
local skip = require "skip"

-- A real fit on "cuda:0" (the loopback device) with GpuMemoryDrift: graphids.gpu.memory itself,
-- not a stub, which takes the CUDA index and not the trainer's device name.
local DRIFT_FIT = [[
package.path = "spec/?.lua;" .. package.path
local tiny = require "trainer.support.tiny"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local msgs = {}
local c = cb.GpuMemoryDrift { threshold = 1, log = function(m) msgs[#msgs + 1] = m end }
local t = Trainer { max_epochs = 2, progress = "off", device = "cuda:0", callbacks = { c } }
t:fit(tiny.MLP {}, tiny.DataModule { n = 16, batch_size = 8 })
assert(c.active, "inactive on cuda:0")
assert(math.type(t.history[2].gpu_memory_drift) == "integer", "no drift logged")
print("drift: ok")
]]

-- A stand-in trainer recording checkpoint writes.
local function fake(dir)
  local t = { callback_metrics = {}, epoch = 0, default_root_dir = dir, saves = {}, should_stop = false }
  function t.save_checkpoint(self, path)
    self.saves[#self.saves + 1] = self.epoch .. ":" .. path:match("([^/]+)%.safetensors$")
  end
  return t
end

local function run_epochs(c, t, key, values)
  for e, v in ipairs(values) do
    t.epoch = e - 1
    t.callback_metrics = { [key] = v }
    c:on_train_epoch_end(t)
  end
end

describe("graphids.callbacks", function()
  local dir
  before_each(function()
    dir = proc.tmpdir()
  end)
  after_each(function()
    proc.rmtree(dir)
  end)

  describe("ModelCheckpoint", function()
    it("writes best on strict improvement only, before last, every epoch", function()
      local c = cb.ModelCheckpoint { monitor = "val_loss", mode = "min" }
      local t = fake(dir)
      c:on_fit_start(t)
      run_epochs(c, t, "val_loss", { 1.0, 0.5, 0.5, 0.7, 0.4 })
      assert.same({ "0:best_model", "0:last", "1:best_model", "1:last", "2:last", "3:last", "4:best_model",
        "4:last" }, t.saves)
      assert.equal(0.4, c.best_score)
      assert.equal(4, c.best_epoch)
      assert.equal(dir .. "/checkpoints/best_model.safetensors", c:best_model_path())
    end)

    it("follows mode max, save_last = false and a filename", function()
      local c = cb.ModelCheckpoint { monitor = "val_acc", mode = "max", save_last = false, filename = "top" }
      local t = fake(dir)
      c:on_fit_start(t)
      run_epochs(c, t, "val_acc", { 0.5, 0.7, 0.7, 0.6 })
      assert.same({ "0:top", "1:top" }, t.saves)
    end)

    it("takes a NaN for the worst value, never the best", function()
      for _, mode in ipairs({ "min", "max" }) do
        local c = cb.ModelCheckpoint { monitor = "score", mode = mode }
        local t = fake(dir)
        c:on_fit_start(t)
        local later = mode == "min" and { 0.5, 0.4, 0 / 0 } or { 0.4, 0.5, 0 / 0 }
        run_epochs(c, t, "score", { 0 / 0, table.unpack(later) })
        c:on_fit_end(t)
        assert.equal(0.5 - (mode == "min" and 0.1 or 0), c.best_score)
        assert.equal(2, c.best_epoch)
        assert.same({ "0:best_model", "0:last", "1:best_model", "1:last", "2:best_model", "2:last",
          "3:last" }, t.saves)
      end
    end)

    it("tracks the best without writing when there is no directory", function()
      local c = cb.ModelCheckpoint()
      local t = fake(nil)
      c:on_fit_start(t)
      run_epochs(c, t, "val_loss", { 2, 1 })
      assert.same({}, t.saves)
      assert.equal(1, c.best_score)
    end)

    it("restores its state so that a resumed run does not overwrite a better best", function()
      local c = cb.ModelCheckpoint()
      local t = fake(dir)
      c:on_fit_start(t)
      run_epochs(c, t, "val_loss", { 0.3 })
      c:on_fit_end(t)
      local c2 = cb.ModelCheckpoint()
      c2:load_state_dict(c:state_dict())
      local t2 = fake(dir)
      c2:on_fit_start(t2)
      run_epochs(c2, t2, "val_loss", { 0.5 })
      assert.same({ "0:last" }, t2.saves)
    end)

    it("names the metrics that were logged when the monitored one is missing", function()
      local c = cb.ModelCheckpoint { monitor = "val_los" }
      local t = fake(dir)
      c:on_fit_start(t)
      t.callback_metrics = { val_loss = 1, train_loss = 2 }
      assert.error_matches(function() c:on_train_epoch_end(t) end,
        "monitored metric 'val_los' was not logged this epoch %(logged: train_loss, val_loss%)")
    end)

    it("refuses a second run into the same directory until the first ends", function()
      local a, b = cb.ModelCheckpoint(), cb.ModelCheckpoint()
      local t = fake(dir)
      a:on_fit_start(t)
      assert.error_matches(function() b:on_fit_start(fake(dir)) end,
        "ModelCheckpoint: '.*/checkpoints' is in use by another run")
      a:on_fit_end(t)
      b:on_fit_start(fake(dir))
      b:on_exception(fake(dir), "boom")
      a:on_fit_start(t)
      a:on_fit_end(t)
      -- a lock that cannot be taken for another reason says that reason, not "another run"
      local odd = gio.join(dir, "odd")
      assert(gio.mkdir_p(gio.join(odd, "checkpoints", ".lock")))
      local ok, err = pcall(cb.ModelCheckpoint().on_fit_start, cb.ModelCheckpoint(), fake(odd))
      assert.is_false(ok)
      local want = "ModelCheckpoint: cannot lock '" .. odd .. "/checkpoints': EIO: lock: cannot open"
      assert.truthy(err:find(want, 1, true), err)
      assert.falsy(err:find("another run", 1, true), err)
    end)

    it("refuses bad options", function()
      assert.error_matches(function() cb.ModelCheckpoint { mode = "best" } end, "mode must be 'min' or 'max'")
      assert.error_matches(function() cb.ModelCheckpoint { monitr = "x" } end, "monitr")
      assert.error_matches(function() cb.ModelCheckpoint { filename = "m-{epoch:x}" } end,
        "filename template 'm%-{epoch:x}': the format spec 'x' of 'epoch' is not supported")
      assert.error_matches(function() cb.ModelCheckpoint { filename = "runs/best" } end,
        "filename must name a file in dirpath, without '/', got runs/best")
      assert.error_matches(function() cb.ModelCheckpoint { save_top_k = -2 } end,
        "save_top_k must be an integer >= %-1, got %-2")
      assert.error_matches(function() cb.ModelCheckpoint { every_n_epochs = 1.5 } end,
        "every_n_epochs must be an integer >= 0, got 1.5")
    end)
  end)

  describe("EarlyStopping", function()
    it("stops after patience epochs without an improvement larger than min_delta", function()
      local c = cb.EarlyStopping { patience = 2, min_delta = 0.1 }
      local t = fake(dir)
      run_epochs(c, t, "val_loss", { 1.0, 0.95, 0.85, 0.8 })
      assert.equal(1, c.wait_count)
      assert.is_false(t.should_stop)
      run_epochs(c, t, "val_loss", { 0.8 })
      assert.is_true(t.should_stop)
      assert.equal(0, c.stopped_epoch)
    end)

    it("stops at once on an infinite monitored value unless check_finite is false", function()
      local warned = {}
      local t = fake(dir)
      function t.warn(_, msg) warned[#warned + 1] = msg end
      local c = cb.EarlyStopping { patience = 5 }
      run_epochs(c, t, "val_loss", { 1.0, math.huge })
      assert.is_true(t.should_stop)
      assert.equal(1, c.stopped_epoch)
      assert.matches("val_loss = inf is not finite at epoch 1; stopping", warned[1])
      local lax, t2 = cb.EarlyStopping { patience = 5, check_finite = false }, fake(dir)
      run_epochs(lax, t2, "val_loss", { 1.0, math.huge })
      assert.is_false(t2.should_stop)
      assert.error_matches(function() cb.EarlyStopping { check_finite = 1 } end,
        "option 'check_finite' must be a boolean")
    end)

    it("starts from Lightning's best (inf, -inf): an infinite first value is no improvement", function()
      -- (check_finite = false: without a best yet, inf (min) or -inf (max) counted as one, and
      -- patience 1 never stopped on {inf, 5, 4}; Lightning stops at the first epoch)
      for _, mode in ipairs({ "min", "max" }) do
        local sign = mode == "min" and 1 or -1
        local c, t = cb.EarlyStopping { mode = mode, patience = 1, check_finite = false }, fake(dir)
        run_epochs(c, t, "val_loss", { sign * math.huge })
        assert.is_true(t.should_stop)
        assert.equal(0, c.stopped_epoch)
        assert.equal(1, c.wait_count)
        assert.is_nil(c.best_score)
        local c2, t2 = cb.EarlyStopping { mode = mode, patience = 2, check_finite = false }, fake(dir)
        run_epochs(c2, t2, "val_loss", { sign * math.huge, sign * 5, sign * 4 })
        assert.is_false(t2.should_stop)
        assert.equal(sign * 4, c2.best_score)
        assert.equal(0, c2.wait_count)
      end
      -- the opposite infinity is the best there can be: nothing beats it afterwards
      local c, t = cb.EarlyStopping { patience = 2, check_finite = false }, fake(dir)
      run_epochs(c, t, "val_loss", { -math.huge, 5, 4 })
      assert.is_true(t.should_stop)
      assert.equal(-math.huge, c.best_score)
      assert.equal(2, c.stopped_epoch)
    end)

    it("takes a NaN for no improvement, and stops on it at once with check_finite", function()
      -- (a callback can put a NaN into callback_metrics; the trainer refuses only logged ones)
      local warned = {}
      local t = fake(dir)
      function t.warn(_, msg) warned[#warned + 1] = msg end
      local c = cb.EarlyStopping { monitor = "score", patience = 2 }
      run_epochs(c, t, "score", { 0 / 0 })
      assert.is_true(t.should_stop)
      assert.equal(0, c.stopped_epoch)
      assert.matches("score = %S*nan is not finite at epoch 0; stopping", warned[1])
      local lax, t2 = cb.EarlyStopping { monitor = "score", patience = 2, check_finite = false }, fake(dir)
      run_epochs(lax, t2, "score", { 0 / 0, 0.5, 0.4, 0.3 })
      assert.is_false(t2.should_stop)
      assert.equal(0.3, lax.best_score)
      assert.equal(0, lax.wait_count)
    end)

    it("resumes its counter and best score", function()
      local a = cb.EarlyStopping { mode = "max", monitor = "val_acc", patience = 3 }
      local ta = fake(dir)
      run_epochs(a, ta, "val_acc", { 0.5, 0.4, 0.45 })
      local b = cb.EarlyStopping { mode = "max", monitor = "val_acc", patience = 3 }
      b:load_state_dict(a:state_dict())
      local tb = fake(dir)
      tb.epoch = 3
      tb.callback_metrics = { val_acc = 0.5 }
      b:on_train_epoch_end(tb)
      assert.is_true(tb.should_stop)
      assert.equal(3, b.stopped_epoch)
    end)

    it("refuses bad options", function()
      assert.error_matches(function() cb.EarlyStopping { patience = 0 } end,
        "patience must be an integer >= 1")
      assert.error_matches(function() cb.EarlyStopping { min_delta = -1 } end, "min_delta must be >= 0")
      assert.error_matches(function() cb.EarlyStopping { min_delta = 0 / 0 } end, "min_delta must be >= 0")
    end)
  end)

  it("LearningRateMonitor logs every param group's lr", function()
    local w, b = graphids.zeros(2, { requires_grad = true }), graphids.zeros(1, { requires_grad = true })
    local opt = optim.SGD({ { params = { w } }, { params = { b }, lr = 0.5 } }, { lr = 0.1 })
    local t = fake(dir)
    t.optimizer = opt
    local c = cb.LearningRateMonitor()
    c:on_train_epoch_start(t)
    assert.same({ ["lr-SGD/pg1"] = 0.1, ["lr-SGD/pg2"] = 0.5 }, t.callback_metrics)
    assert.error_matches(function() cb.LearningRateMonitor { logging_interval = "batch" } end,
      "logging_interval must be 'step', 'epoch' or nil %(each schedule's own interval%), got 'batch'")
  end)

  describe("GpuMemoryDrift", function()
    it("does nothing on the CPU", function()
      local c = cb.GpuMemoryDrift { threshold = 1 }
      local t = fake(dir)
      t.device = "cpu"
      c:on_fit_start(t)
      c:on_train_epoch_start(t)
      assert.is_false(c.active)
      assert.same({}, t.callback_metrics)
    end)

    it("warns once when free memory shrinks past the threshold", function()
      local gpu = graphids.gpu
      local saved = { gpu.is_available, gpu.memory }
      local free = { 1000, 990, 800, 700 }
      local i = 0
      gpu.is_available = function() return true end
      gpu.memory = function()
        i = i + 1
        return { free = free[i] }
      end
      local msgs = {}
      local ok, err = pcall(function()
        local c = cb.GpuMemoryDrift { threshold = 100, log = function(m) msgs[#msgs + 1] = m end }
        local t = fake(dir)
        t.device = "cuda:0"
        c:on_fit_start(t)
        for e = 0, 2 do
          t.epoch = e
          c:on_train_epoch_start(t)
        end
        assert.equal(300, t.callback_metrics.gpu_memory_drift)
      end)
      gpu.is_available, gpu.memory = saved[1], saved[2]
      assert(ok, err)
      assert.equal(1, #msgs)
      assert.truthy(msgs[1]:find("gpu memory drift on cuda:0", 1, true))
      assert.truthy(msgs[1]:find("epoch 1", 1, true))
    end)

    it("runs in a real fit on a CUDA device (the loopback plugin)", function()
      if skip.unless(lb.built(), "callbacks_spec: " .. lb.plugin .. " is not built") then return end
      local out, rc = lb.run(DRIFT_FIT)
      assert(rc == 0 and out:find("drift: ok", 1, true), out)
    end)
  end)
end)
