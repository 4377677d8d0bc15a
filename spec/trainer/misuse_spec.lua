-- misuse_spec.lua -- the Trainer refuses what an API audit found it took silently: a callback
-- list shared by two trainers, a second fresh fit of one trainer, a fresh fit over an earlier
-- fit's checkpoints, a lone callback or a map where the list belongs, options of the wrong kind,
-- two callbacks that cannot run together, a callback hook the trainer never calls (Lightning's
-- on_train_end, a misspelt name); a refused resume (the data module's split, a bad
-- trainer, callback, optimizer or scheduler state) leaves the model as it was; resuming into
-- another folder tracks its own best.
local graphids = require "graphids"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of
local class = require "graphids.class"

-- load_state_dict's name (a pattern) for the parameter at 0-based position i
local function param_at(i)
  return string.format("parameter %d %%(optimizer%%.state%%.%d, state%%[%d%%] in the state dict%%)", i, i,
    i + 1)
end

local function model(seed)
  return tiny.MLP({ in_dim = 4, hidden = 8, seed = seed or 3 })
end

local function dm(seed)
  return tiny.DataModule({ n = 48, batch_size = 8, seed = seed or 2 })
end


describe("Trainer misuse", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("refuses options of the wrong kind at construction", function()
    for _, case in ipairs({
      { { callbacks = cb.EarlyStopping {} }, "callbacks must be a list of callbacks" },
      { { callbacks = { es = cb.EarlyStopping {} } }, "callbacks must be a list of callbacks" },
      { { device = "gpu" }, "device must be 'cpu', 'cuda' or 'cuda:N', got gpu" },
      { { log_every_n_steps = 0 }, "log_every_n_steps must be an integer >= 1, got 0" },
      { { progress = "verbose" }, "progress must be 'auto', 'bar', 'lines' or 'off', got 'verbose'" },
      { { log = "x" }, "log must be a function of a line, got string" },
      { { default_root_dir = 5 }, "default_root_dir must be a string, got number" },
      { { config_digest = { a = 1 } }, "config_digest must be a string, got table" },
    }) do
      assert.matches("Trainer: " .. case[2]:gsub("[%(%)%.%-%[%]']", "%%%0"), err_of(Trainer, case[1]))
    end
    assert.matches("filename must be a file name other than 'last'",
      err_of(cb.ModelCheckpoint, { filename = "last" }))
    assert.matches("two checkpoint callbacks write into one folder %(r/checkpoints%)",
      err_of(Trainer, { default_root_dir = "r", callbacks = { cb.ModelCheckpoint {},
        cb.ModelCheckpoint { monitor = "val_acc", mode = "max" } } }))
    -- (without a folder they only track their best scores: fine)
    Trainer { callbacks = { cb.ModelCheckpoint {}, cb.ModelCheckpoint { monitor = "val_acc",
      mode = "max" } } }
  end)

  it("refuses a callback hook it never calls, naming the nearest one it does", function()
    local function with(name, parent)
      local C = class("With_" .. name, parent or cb.Callback)
      C[name] = function() end
      return C()
    end
    local function refusal(c) return err_of(Trainer, { callbacks = { c } }) end
    assert.matches("Trainer: callbacks%[1%] %(With_on_train_end%) defines on_train_end, which this " ..
      "trainer never calls %(did you mean 'on_fit_end'%?%); the hooks it calls: on_fit_start, ",
      refusal(with("on_train_end")))
    assert.matches("defines teardown, which this trainer never calls %(did you mean 'on_fit_end' and " ..
      "'on_exception'%?%)", refusal(with("teardown")))
    assert.matches("defines on_train_epcoh_end, .*did you mean 'on_train_epoch_end'",
      refusal(with("on_train_epcoh_end")))
    assert.matches("defines on_validation_batch_end, .*%(no hook of this trainer stands at its place%)",
      refusal(with("on_validation_batch_end")))
    -- Lightning 1.x's names point at the hooks that run in their place
    for old, now in pairs({ on_epoch_end = "on_train_epoch_end", on_epoch_start = "on_train_epoch_start",
      on_batch_end = "on_train_batch_end", on_batch_start = "on_train_batch_start" }) do
      assert.matches("defines " .. old .. ", .*did you mean '" .. now .. "'%?", refusal(with(old)))
    end
    -- on a subclass of a library callback, and on the instance itself
    assert.matches("%(With_on_train_start%) defines on_train_start",
      refusal(with("on_train_start", cb.EarlyStopping)))
    local es = cb.EarlyStopping {}
    es.on_trian_batch_end = function() end
    assert.matches("%(EarlyStopping%) defines on_trian_batch_end", refusal(es))
    -- the hooks it calls pass, on the class or the instance
    local ok = cb.EarlyStopping { monitor = "val_acc", mode = "max" }
    ok.on_fit_end = function() end
    Trainer { callbacks = { with("on_fit_start", cb.EarlyStopping), ok } }
  end)

  it("names a class passed where its instance belongs", function()
    local t = Trainer { max_epochs = 1, progress = "off" }
    assert.matches("model is the class TinyMLP, not an instance: build one",
      err_of(t.fit, t, tiny.MLP, dm()))
    assert.matches("datamodule is the class TinyDataModule, not an instance",
      err_of(t.fit, t, model(), tiny.DataModule))
  end)

  it("names a metric function that is not one, or returns no table", function()
    local root = gio.join(dir, "m")
    Trainer { max_epochs = 1, default_root_dir = root, progress = "off" }:fit(model(), dm())
    local t = Trainer { progress = "off" }
    assert.matches("opts.metrics must be a function of the outputs, got number",
      err_of(t.test, t, model(), dm(), { metrics = 5 }))
    assert.matches("the metric function returned nil, not a table of metrics",
      err_of(t.test, t, model(), dm(), { metrics = function() end }))
  end)

  it("names a logged value that is not a scalar", function()
    local m = model()
    local step = m.training_step
    rawset(m, "training_step", function(self, batch, ctx)
      local loss, logs = step(self, batch, ctx)
      logs.margins = require("graphids").ones(3)
      return loss, logs
    end)
    local t = Trainer { max_epochs = 1, progress = "off" }
    assert.matches("training_step logged 'margins' as a tensor of 3 elements; logged values must be scalars",
      err_of(t.fit, t, m, dm()))
  end)

  it("names a save before any fit and a compatibility check without a checkpoint", function()
    local t = Trainer { progress = "off" }
    assert.matches("nothing to save before a fit",
      err_of(t.save_checkpoint, t, gio.join(dir, "x.safetensors")))
    assert.matches("expected a checkpoint path or a ckpt.load%(%) result, got nil",
      err_of(ckpt.check_compat, nil, model()))
  end)

  it("names configure_optimizers results that are not an optimizer and a scheduler", function()
    local m = model()
    rawset(m, "configure_optimizers", function() return "adam", "cosine" end)
    local t = Trainer { max_epochs = 1, progress = "off" }
    assert.matches("configure_optimizers%(%) must return an optimizer %(with step and zero_grad%), " ..
      "got string", err_of(t.fit, t, m, dm()))
  end)

  it("refuses callbacks that already belong to another trainer", function()
    local cbs = { cb.EarlyStopping { patience = 1 } }
    Trainer { max_epochs = 1, progress = "off", callbacks = cbs }
    assert.matches("callbacks%[1%] %(EarlyStopping%) already belongs to another Trainer",
      err_of(Trainer, { max_epochs = 1, progress = "off", callbacks = cbs }))
  end)

  it("refuses callbacks that cannot run together, naming both and why", function()
    assert.matches("callbacks%[2%] %(SVDDCalibration%) cannot run beside callbacks%[1%] " ..
      "%(EMAWeightAveraging%): the centre would be fitted on the trained weights",
      err_of(Trainer, { max_epochs = 1, progress = "off",
        callbacks = { cb.EMAWeightAveraging {}, cb.SVDDCalibration {} } }))
    -- each alone is fine
    Trainer { max_epochs = 1, progress = "off", callbacks = { cb.SVDDCalibration {} } }
    Trainer { max_epochs = 1, progress = "off", callbacks = { cb.EMAWeightAveraging {} } }
  end)

  it("refuses a second fresh fit of one trainer, and a fresh fit over an earlier fit's files", function()
    local root = gio.join(dir, "run")
    local t = Trainer { max_epochs = 2, default_root_dir = root, progress = "off" }
    t:fit(model(), dm())
    local best = gio.join(root, "checkpoints", "best_model.safetensors")
    local before = proc.slurp(best)
    assert.matches("this Trainer has fitted before", err_of(t.fit, t, model(9), dm()))
    -- a new trainer into the same folder: the earlier best model is not replaced
    local t2 = Trainer { max_epochs = 1, default_root_dir = root, progress = "off" }
    assert.matches("holds the checkpoints of an earlier fit %(last.safetensors, best_model.safetensors%)",
      err_of(t2.fit, t2, model(9), dm()))
    assert.equal(before, proc.slurp(best))
    -- resuming it is fine, and so is asking to overwrite
    local t3 = Trainer { max_epochs = 3, default_root_dir = root, progress = "off", log = function() end }
    t3:fit(model(), dm(), { ckpt_path = gio.join(root, "checkpoints", "last.safetensors") })
    assert.equal(3, t3.epoch)
    local t4 = Trainer { max_epochs = 1, default_root_dir = root, progress = "off",
      callbacks = { cb.ModelCheckpoint { overwrite = true } } }
    t4:fit(model(9), dm())
    assert.equal(0, ckpt.load(best).epoch)
  end)

  it("leaves the model as it was when a resume is refused by the data module", function()
    local root = gio.join(dir, "a")
    Trainer { max_epochs = 1, default_root_dir = root, progress = "off" }:fit(model(), dm())
    local m = model(5)
    local w = tiny.weights(m)
    local t = Trainer { max_epochs = 2, progress = "off" }
    assert.matches("seed mismatch", err_of(t.fit, t, m, dm(7),
      { ckpt_path = gio.join(root, "checkpoints", "last.safetensors") }))
    assert.is_true(tiny.same_weights(w, tiny.weights(m)))
  end)

  it("names a checkpoint's bad trainer or callback state before restoring anything", function()
    local json = require "graphids.json"
    local root = gio.join(dir, "a")
    Trainer { max_epochs = 1, default_root_dir = root, progress = "off",
      callbacks = { cb.EarlyStopping { patience = 2 } } }:fit(model(), dm())
    local tensors, meta = gio.load_safetensors(gio.join(root, "checkpoints", "last.safetensors"))
    local es = "EarlyStopping{monitor=val_loss,mode=min}"
    local function edited(key, edit)
      local m2 = {}
      for k, v in pairs(meta) do m2[k] = v end
      local doc = json.decode(meta[key])
      edit(doc)
      m2[key] = json.encode(doc)
      local p = gio.join(dir, "edited.safetensors")
      assert(gio.save_safetensors(p, tensors, m2)) -- another writer: no sidecar
      return p
    end
    for _, case in ipairs({
      { "trainer", function(d) d.next_epoch = nil end, "trainer state: 'next_epoch' must be an " ..
        "integer >= 0, got nil" },
      { "trainer", function(d) d.next_epoch = -5 end, "'next_epoch' must be an integer >= 0, got %-5" },
      { "trainer", function(d) d.next_epoch = "abc" end, "got 'abc' %(a string%)" },
      { "trainer", function(d) d.should_stop = 1 end, "'should_stop' must be a boolean, got 1" },
      { "trainer", function(d) d.epoch_sums = { sum = { train_loss = "x" }, weight = {} } end,
        "'epoch_sums' must be {sum = {name = number}, weight = {name = number}}" },
      { "callbacks", function(d) d[es].wait_count = "x" end, "callback state 'EarlyStopping{monitor=" ..
        "val_loss,mode=min}': 'wait_count' must be an integer >= 0, got 'x' %(a string%)" },
      { "callbacks", function(d) d[es].best_score = true end, "'best_score' must be a number or " ..
        "absent, got true" },
    }) do
      local m = model(5)
      local w = tiny.weights(m)
      local t = Trainer { max_epochs = 3, progress = "off",
        callbacks = { cb.EarlyStopping { patience = 2 } } }
      local err = err_of(t.fit, t, m, dm(), { ckpt_path = edited(case[1], case[2]) })
      assert.matches("checkpoint '.*edited.safetensors': .*" .. case[3], err)
      assert.is_true(tiny.same_weights(w, tiny.weights(m)))
    end
  end)

  -- The optimizer's and the scheduler's states are checked with the rest: the model (restored
  -- before them) must not change when they are refused, and a state missing what the first
  -- step needs is refused at the resume, not with a Lua error at that step.
  it("names a checkpoint's bad optimizer or scheduler state before restoring anything", function()
    local json = require "graphids.json"
    local root = gio.join(dir, "a")
    Trainer { max_epochs = 1, default_root_dir = root, progress = "off" }:fit(model(), dm())
    local tensors, meta = gio.load_safetensors(gio.join(root, "checkpoints", "last.safetensors"))
    local function edited(edit_tensors, key, edit)
      local t2, m2 = {}, {}
      for k, v in pairs(tensors) do t2[k] = v end
      for k, v in pairs(meta) do m2[k] = v end
      if edit_tensors then edit_tensors(t2) end
      if key then
        local doc = json.decode(meta[key])
        edit(doc)
        m2[key] = json.encode(doc)
      end
      local p = gio.join(dir, "edited.safetensors")
      assert(gio.save_safetensors(p, t2, m2)) -- another writer: no sidecar
      return p
    end
    for _, case in ipairs({
      { function(t) t["optimizer.state.0.exp_avg"] = graphids.zeros(3, 3) end, nil, nil,
        "optimizer state: Adam:load_state_dict: state of " .. param_at(0) ..
        ": 'exp_avg' has shape %[3,3%]" },
      { function(t) t["optimizer.state.0.exp_avg"] = nil end, nil, nil,
        "optimizer state: Adam:load_state_dict: state of " .. param_at(0) .. " misses 'exp_avg'" },
      { nil, "optimizer", function(d) d.state["0"].step = nil end,
        "state of " .. param_at(0) .. " misses 'step'" },
      { nil, "optimizer", function(d) d.param_groups[1].lr = "x" end, "optimizer state: .*lr" },
      { nil, "scheduler", function(d) d.bogus = 1 end,
        "scheduler state: CosineAnnealingLR:load_state_dict: unknown key 'bogus'" },
    }) do
      local m = model(5)
      local w = tiny.weights(m)
      local t = Trainer { max_epochs = 3, progress = "off" }
      local err = err_of(t.fit, t, m, dm(), { ckpt_path = edited(case[1], case[2], case[3]) })
      assert.matches("checkpoint '.*edited.safetensors': .*" .. case[4], err)
      assert.is_true(tiny.same_weights(w, tiny.weights(m)))
    end
  end)

  -- What the checks before a restore must not take away: a scheduler subclass's own
  -- load_state_dict is still called, and on_load_checkpoint's edits of the optimizer state count.
  it("a resume still calls a subclass's load_state_dict and takes on_load_checkpoint's edits", function()
    local optim = require "graphids.optim"
    local S = optim.lr_scheduler
    local Mine = class("MineCosine", S.CosineAnnealingLR)
    local called = 0
    function Mine:load_state_dict(sd)
      called = called + 1
      S.CosineAnnealingLR.load_state_dict(self, sd)
    end
    local Sub = class("SubMLP", tiny.MLP)
    Sub.class_path = tiny.MLP.class_path
    function Sub:configure_optimizers(opts)
      local opt = optim.Adam(self:parameters(), { lr = 0.05 })
      return opt, Mine(opt, opts.max_epochs)
    end
    local root = gio.join(dir, "sub")
    Trainer { max_epochs = 1, default_root_dir = root, progress = "off" }:fit(Sub { in_dim = 4, hidden = 8,
      seed = 3 }, dm())
    local Edit = class("EditLr", cb.Callback)
    local seen
    function Edit.on_load_checkpoint(_, _, c) c.optimizer.param_groups[1].lr = 0.123 end
    function Edit.on_fit_start(_, t) seen = t.optimizer.param_groups[1].lr end
    local t = Trainer { max_epochs = 2, progress = "off", callbacks = { Edit() } }
    t:fit(Sub { in_dim = 4, hidden = 8, seed = 3 }, dm(),
      { ckpt_path = gio.join(root, "checkpoints", "last.safetensors") })
    assert.equal(1, called)
    assert.equal(0.123, seen)
  end)

  it("tracks the best afresh when resumed into a folder without the best file", function()
    local src = gio.join(dir, "src")
    Trainer { max_epochs = 2, default_root_dir = src, progress = "off" }:fit(model(), dm())
    local said = {}
    local t = Trainer { max_epochs = 3, default_root_dir = gio.join(dir, "new"), progress = "off",
      log = function(line) said[#said + 1] = line end }
    t:fit(model(), dm(), { ckpt_path = gio.join(src, "checkpoints", "last.safetensors") })
    assert.is_true(gio.exists(t:checkpoint_callback():best_model_path()))
    assert.matches("are not there and are dropped; the best is tracked from this fit's epochs",
      table.concat(said, "\n"))
    -- and that the restored learning-rate schedule was built for another length
    assert.matches("schedule was built for max_epochs = 2, this fit has 3", table.concat(said, "\n"))
    -- a plateau schedule has no length to have been built for
    local optim = require "graphids.optim"
    local Plateau = class("PlateauMLP", tiny.MLP)
    Plateau.class_path = tiny.MLP.class_path
    function Plateau:configure_optimizers()
      local opt = optim.Adam(self:parameters(), { lr = 0.05 })
      return opt, optim.lr_scheduler.ReduceLROnPlateau(opt)
    end
    local psrc = gio.join(dir, "plateau")
    Trainer { max_epochs = 2, default_root_dir = psrc, progress = "off", scheduler_monitor = "val_loss" }:fit(
      Plateau { in_dim = 4, hidden = 8, seed = 3 }, dm())
    said = {}
    local t2 = Trainer { max_epochs = 3, progress = "off", scheduler_monitor = "val_loss",
      log = function(line) said[#said + 1] = line end }
    t2:fit(Plateau { in_dim = 4, hidden = 8, seed = 3 }, dm(),
      { ckpt_path = gio.join(psrc, "checkpoints", "last.safetensors") })
    assert.is_nil(table.concat(said, "\n"):find("schedule was built for", 1, true))
  end)
end)
