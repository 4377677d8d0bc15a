-- semantics_spec.lua -- what a review of the trainer against its docs found (2026-11-27): two
-- checkpoint callbacks resume exactly, a resume into a folder of another fit is refused, an
-- empty epoch after the first is an error, a checkpoint saved after fit resumes at the next
-- epoch, progress lines count the fit's steps, the validation hooks pair, and a graph model fits
-- zero epochs.
local graphids = require "graphids"
local class = require "graphids.class"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local function model(hp)
  hp = hp or {}
  hp.in_dim, hp.hidden, hp.seed = hp.in_dim or 4, hp.hidden or 8, hp.seed or 3
  return tiny.MLP(hp)
end

local function dm()
  return tiny.DataModule({ n = 44, batch_size = 8, seed = 2 }) -- 6 batches an epoch
end

-- A model whose validation gives the scripted val_loss and val_acc of each epoch.
local function scripted(loss, acc)
  local m = model()
  rawset(m, "validation_step", function(_, _, ctx)
    return { val_loss = loss[ctx.epoch + 1], val_acc = acc and acc[ctx.epoch + 1] or 0 }
  end)
  return m
end

-- Raises after the fit's global step k.
local Stop = class("Stop", cb.Callback)
function Stop:__init(k) self.k = k end
function Stop:on_train_batch_end(t)
  if t.global_step == self.k then error("stop at step " .. self.k, 0) end
end

describe("trainer semantics", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("resumes two checkpoint callbacks exactly: each file holds the other's state of its epoch",
    function()
      local loss, acc = { 1.0, 0.8, 0.7, 0.6 }, { 0.1, 0.9, 0.5, 0.6 }
      local function cbs(root, extra)
        local list = { cb.ModelCheckpoint { dirpath = gio.join(root, "A") },
          cb.ModelCheckpoint { dirpath = gio.join(root, "B"), monitor = "val_acc", mode = "max" } }
        list[#list + 1] = extra
        return list
      end
      local ref = gio.join(dir, "ref")
      Trainer { max_epochs = 4, progress = "off", callbacks = cbs(ref) }:fit(scripted(loss, acc), dm())
      local run = gio.join(dir, "run")
      local t1 = Trainer { max_epochs = 4, progress = "off", callbacks = cbs(run, Stop(15)) }
      assert.matches("stop at step 15", err_of(t1.fit, t1, scripted(loss, acc), dm()))
      local t2 = Trainer { max_epochs = 4, progress = "off", callbacks = cbs(run) }
      t2:fit(scripted(loss, acc), dm(), { ckpt_path = gio.join(run, "A", "last.safetensors") })
      for _, f in ipairs({ "A/best_model.safetensors", "B/best_model.safetensors", "B/last.safetensors" }) do
        assert.equal(proc.slurp(gio.join(ref, f)), proc.slurp(gio.join(run, f)), f)
      end
    end)

  it("refuses to resume into a folder that holds another fit's checkpoints", function()
    local a, b = gio.join(dir, "a"), gio.join(dir, "b")
    Trainer { max_epochs = 2, default_root_dir = a, progress = "off" }:fit(model(), dm())
    Trainer { max_epochs = 1, default_root_dir = b, progress = "off" }:fit(model({ seed = 5 }), dm())
    local before = proc.slurp(gio.join(b, "checkpoints", "last.safetensors"))
    local t = Trainer { max_epochs = 3, default_root_dir = b, progress = "off" }
    assert.matches("whose checkpoints it is not among %(not, by content, its last or best file%)",
      err_of(t.fit, t, model(), dm(), { ckpt_path = gio.join(a, "checkpoints", "last.safetensors") }))
    assert.equal(before, proc.slurp(gio.join(b, "checkpoints", "last.safetensors")))
    -- its own folder, from its last file: the same fit goes on
    local t2 = Trainer { max_epochs = 3, default_root_dir = a, progress = "off" }
    t2:fit(model(), dm(), { ckpt_path = gio.join(a, "checkpoints", "last.safetensors") })
    assert.equal(3, t2.epoch)
  end)

  -- Lightning keeps best_model_path in its callback state: a run resumed with another filename
  -- names the file its best went to until a better epoch comes (a reviewer's repro named a
  -- best.safetensors that did not exist).
  it("names the resumed run's best file when the filename changed, until a better epoch", function()
    local loss = { 0.1, 0.5, 0.6, 0.05 }
    Trainer { max_epochs = 2, default_root_dir = dir, progress = "off" }:fit(scripted(loss), dm())
    local mc = cb.ModelCheckpoint { filename = "best" }
    local t = Trainer { max_epochs = 3, default_root_dir = dir, progress = "off", callbacks = { mc } }
    t:fit(scripted(loss), dm(), { ckpt_path = gio.join(dir, "checkpoints", "last.safetensors") })
    assert.equal(gio.join(dir, "checkpoints", "best_model.safetensors"), mc:best_model_path())
    assert.equal(0, mc.best_epoch)
    -- a better epoch goes to this callback's own name
    local mc2 = cb.ModelCheckpoint { filename = "best" }
    local t2 = Trainer { max_epochs = 4, default_root_dir = dir, progress = "off", callbacks = { mc2 } }
    t2:fit(scripted(loss), dm(), { ckpt_path = gio.join(dir, "checkpoints", "last.safetensors") })
    assert.equal(gio.join(dir, "checkpoints", "best.safetensors"), mc2:best_model_path())
    assert.equal(3, mc2.best_epoch)
    assert.is_true(gio.exists(mc2:best_model_path()))
  end)

  it("resumes a filename of any characters, and never writes over a best file it cannot name", function()
    local loss = { 0.1, 0.5, 0.6, 0.7 }
    local a = gio.join(dir, "a")
    Trainer { max_epochs = 2, default_root_dir = a, progress = "off",
      callbacks = { cb.ModelCheckpoint { filename = "best model (v2)" } } }:fit(scripted(loss), dm())
    local mc = cb.ModelCheckpoint { filename = "best model (v2)" }
    Trainer { max_epochs = 3, default_root_dir = a, progress = "off", callbacks = { mc } }:fit(scripted(loss),
      dm(), { ckpt_path = gio.join(a, "checkpoints", "last.safetensors") })
    assert.equal(0, mc.best_epoch)
    -- a checkpoint that kept no best file's name (written before best_file), resumed under
    -- another filename: the best is tracked afresh into a file of its own; the old one stays
    local b = gio.join(dir, "b")
    Trainer { max_epochs = 2, default_root_dir = b, progress = "off" }:fit(scripted(loss), dm())
    local last = gio.join(b, "checkpoints", "last.safetensors")
    local tensors, meta = gio.load_safetensors(last)
    local json = require "graphids.json"
    local cbs = json.decode(meta.callbacks)
    for _, st in pairs(cbs) do st.best_file = nil end
    meta.callbacks = json.encode(cbs)
    os.remove(ckpt.sidecar_path(last)) -- (rewritten by another writer: no sidecar)
    assert(gio.save_safetensors(last, tensors, meta))
    local kept = proc.slurp(gio.join(b, "checkpoints", "best_model.safetensors"))
    local said = {}
    local mc2 = cb.ModelCheckpoint { filename = "best" }
    Trainer { max_epochs = 3, default_root_dir = b, progress = "off", callbacks = { mc2 },
      log = function(m) said[#said + 1] = m end }:fit(scripted(loss), dm(), { ckpt_path = last })
    assert.matches("the resumed run's best file is not .*best%.safetensors", table.concat(said, "\n"))
    assert.equal(2, mc2.best_epoch)
    assert.is_true(gio.exists(gio.join(b, "checkpoints", "best.safetensors")))
    assert.equal(kept, proc.slurp(gio.join(b, "checkpoints", "best_model.safetensors")))
  end)

  it("refuses an epoch after the first that gives no training batch", function()
    local d = dm()
    local batches = d.train_batches
    rawset(d, "train_batches", function(self)
      if self.epoch >= 1 then return function() return nil end end
      return batches(self)
    end)
    local t = Trainer { max_epochs = 3, progress = "off" }
    assert.matches("epoch 1 gave no training batch", err_of(t.fit, t, model(), d))
  end)

  it("saves a checkpoint after fit that resumes at the next epoch", function()
    local t = Trainer { max_epochs = 2, progress = "off" }
    t:fit(model(), dm())
    local p = gio.join(dir, "after.safetensors")
    t:save_checkpoint(p)
    local c = ckpt.load(p)
    assert.same({ 1, 2, 2 }, { c.epoch, c.trainer.next_epoch, c.loader.epoch })
    local t2 = Trainer { max_epochs = 4, progress = "off" }
    t2:fit(model(), dm(), { ckpt_path = p })
    assert.same({ 4, 24 }, { t2.epoch, t2.global_step })
  end)

  it("a resume from a mid-epoch checkpoint reports the whole epoch's means", function()
    local ref = Trainer { max_epochs = 2, progress = "off" }
    ref:fit(model(), dm())
    local p = gio.join(dir, "mid.safetensors")
    local Mid = class("MidSave", cb.Callback)
    function Mid.on_train_batch_end(_, t)
      if t.global_step == 9 then -- the middle of epoch 1 (6 steps an epoch)
        t:save_checkpoint(p)
        error("killed", 0)
      end
    end
    local t = Trainer { max_epochs = 2, progress = "off", callbacks = { Mid() } }
    assert.matches("killed", err_of(t.fit, t, model(), dm()))
    assert.is_table(ckpt.load(p).trainer.epoch_sums)
    local t2 = Trainer { max_epochs = 2, progress = "off" }
    t2:fit(model(), dm(), { ckpt_path = p })
    assert.equal(ref.history[2].train_loss, t2.history[1].train_loss)
    assert.equal(ref.history[2].val_loss, t2.history[1].val_loss)
    -- a checkpoint after the fit holds none (no epoch is under way)
    local q = gio.join(dir, "after.safetensors")
    t2:save_checkpoint(q)
    assert.is_nil(ckpt.load(q).trainer.epoch_sums)
  end)

  it("resumes a checkpoint of an epoch's last batch with its schedule step; refuses one taken in validation",
    function()
      local function fit(cbs, ck)
        local t = Trainer { max_epochs = 4, progress = "off", callbacks = cbs }
        local ok, err = pcall(t.fit, t, model(), dm(), ck and { ckpt_path = ck } or nil)
        return t, ok, err
      end
      local ref = fit({})
      local p = gio.join(dir, "last_batch.safetensors")
      local Last = class("LastBatchSave", cb.Callback)
      function Last.on_train_batch_end(_, t)
        if t.global_step == 6 then -- the last batch of epoch 0: its schedule step is still to come
          t:save_checkpoint(p)
          error("killed", 0)
        end
      end
      fit({ Last() })
      local t2 = fit({}, p)
      assert.equal(ref.scheduler.last_epoch, t2.scheduler.last_epoch)
      assert.equal(ref.optimizer.param_groups[1].lr, t2.optimizer.param_groups[1].lr)
      assert.equal(ref.history[4].train_loss, t2.history[#t2.history].train_loss)
      -- between an epoch's batches and its end no checkpoint can resume it: refused by name
      local InVal = class("InValidationSave", cb.Callback)
      function InVal.on_validation_epoch_start(_, t) t:save_checkpoint(gio.join(dir, "inval.safetensors")) end
      local _, ok, err = fit({ InVal() })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("Trainer:save_checkpoint: an epoch's validation is running", 1, true),
        tostring(err))
    end)

  it("a restore that fails is the fit's failure: on_exception runs, the data module stays", function()
    local first = Trainer { max_epochs = 2, progress = "off", default_root_dir = gio.join(dir, "restore") }
    first:fit(model(), dm())
    local Bad = class("BadRestore", cb.Callback)
    function Bad.on_load_checkpoint() error("cannot load my extra state", 0) end
    function Bad:on_exception() self.seen = (self.seen or 0) + 1 end
    local bad = Bad()
    local t = Trainer { max_epochs = 3, progress = "off", callbacks = { bad } }
    local data = dm()
    local before = data:state_dict()
    assert.matches("cannot load my extra state", err_of(t.fit, t, model(), data,
      { ckpt_path = gio.join(dir, "restore", "checkpoints", "last.safetensors") }))
    assert.equal(1, bad.seen)
    assert.same(before, data:state_dict())
    assert.is_false(t.fitted)
  end)

  it("a fresh fit refuses a folder with an earlier fit's best file when no last is saved", function()
    local root = gio.join(dir, "nolast")
    local function fresh(epochs)
      local t = Trainer { max_epochs = epochs, progress = "off", default_root_dir = root,
        callbacks = { cb.ModelCheckpoint { save_last = false } } }
      return pcall(t.fit, t, model(), dm())
    end
    assert.is_true(fresh(2))
    local best = gio.join(root, "checkpoints", "best_model.safetensors")
    local bytes = assert(gio.read_file(best))
    local ok, err = fresh(1)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("holds the checkpoints of an earlier fit", 1, true), tostring(err))
    assert.equal(bytes, gio.read_file(best)) -- the earlier fit's best, untouched
  end)

  it("writes a progress line every log_every_n_steps steps of the fit, across epochs", function()
    local lines = {}
    local out = { write = function(_, ...) for _, s in ipairs({ ... }) do lines[#lines + 1] = s end end,
      flush = function() end }
    local Progress = require "graphids.trainer.progress"
    local new = Progress.new
    Progress.new = function(o) o.out = out return new(o) end
    local ok, err = pcall(function()
      Trainer { max_epochs = 3, progress = "lines", log_every_n_steps = 10 }:fit(model(), dm())
    end)
    Progress.new = new
    assert(ok, err)
    local steps = 0
    for _, l in ipairs(lines) do
      if l:match("^epoch %d+/3 step ") then steps = steps + 1 end
    end
    assert.equal(1, steps) -- 18 steps of 6 an epoch: the 10th
  end)

  it("calls on_validation_epoch_end only after its start, when there is a validation pass", function()
    local calls = {}
    local Rec = class("Rec", cb.Callback)
    function Rec.on_validation_epoch_start() calls[#calls + 1] = "start" end
    function Rec.on_validation_epoch_end() calls[#calls + 1] = "end" end
    local d = dm()
    rawset(d, "val_loader", function() return nil end)
    Trainer { max_epochs = 2, progress = "off", callbacks = { Rec() } }:fit(model(), d)
    assert.same({}, calls)
    Trainer { max_epochs = 1, progress = "off", callbacks = { Rec() } }:fit(model(), dm())
    assert.same({ "start", "end" }, calls)
  end)

  it("fits a graph model for zero epochs (a cosine schedule of period 1)", function()
    local models = require "graphids.models"
    local m = models.GATClassifier(models.presets.gat.small({ num_ids = 10 }))
    local t = Trainer { max_epochs = 0, progress = "off" }
    local d = { train_batches = function() return function() return nil end end, next_epoch = function() end }
    t:fit(m, d)
    assert.equal(0, t.global_step)
    assert.is_true(graphids.is_tensor(t.scheduler.optimizer.param_groups[1].params[1]))
  end)
  -- Lightning runs the callbacks that monitor nothing first, then EarlyStopping, then the
  -- checkpoints, whatever the list's order: a metric a callback puts into callback_metrics in
  -- its on_train_epoch_end can be monitored, and both monitors judge the same value.
  it("keeps a metric a callback adds at an epoch's end in the history and the epoch line", function()
    local F1 = class("F1", cb.Callback)
    function F1.on_train_epoch_end(_, t) t.callback_metrics.val_f1 = 0.5 + t.epoch / 10 end
    local written = {}
    local out = { write = function(_, ...) for _, s in ipairs({ ... }) do written[#written + 1] = s end end,
      flush = function() end }
    local Progress = require "graphids.trainer.progress"
    local new = Progress.new
    Progress.new = function(o) o.out = out return new(o) end
    local t = Trainer { max_epochs = 2, progress = "lines", log_every_n_steps = 1000,
      callbacks = { F1(), cb.ModelCheckpoint { monitor = "val_f1", mode = "max" } } }
    local ok, err = pcall(t.fit, t, model(), dm())
    Progress.new = new
    assert(ok, err)
    assert.equal(0.6, t.history[2].val_f1)
    assert.equal(1, t:checkpoint_callback().best_epoch)
    local text = table.concat(written)
    assert.truthy(text:find("val_f1=0.6", 1, true), text)
  end)

  it("runs the monitoring callbacks' epoch end after the others', as Lightning", function()
    local Score = class("Score", cb.Callback)
    function Score.on_train_epoch_end(_, t) t.callback_metrics.my_score = 10 - t.epoch end
    local es = cb.EarlyStopping { monitor = "my_score", mode = "max", patience = 2 }
    local mc = cb.ModelCheckpoint { monitor = "my_score", mode = "max" }
    local t = Trainer { max_epochs = 6, progress = "off", default_root_dir = dir,
      callbacks = { es, mc, Score() } } -- the monitors listed first
    t:fit(model(), dm())
    -- my_score falls from 10: the first epoch is the best, and patience 2 stops after epoch 2
    assert.equal(3, t.epoch)
    assert.equal(10, es.best_score)
    assert.equal(0, mc.best_epoch)
    assert.equal(10, mc.best_score)
  end)
end)
