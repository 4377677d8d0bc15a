-- checkpoint_topk_spec.lua -- ModelCheckpoint's Lightning options: filename templates (names
-- checked against Lightning 2.6's format_checkpoint_name), save_top_k (k best, -1 all, 0 none,
-- the version counter), every_n_epochs, the commit order (a file that drops out goes after the
-- new file and `last`), its state (best_k_models, kth_best) and exact resume, including a run
-- stopped between its commit and its removals.  The default layout's behaviour: callbacks_spec.lua.
local gio = require "graphids.io"
local json = require "graphids.json"
local ckpt = require "graphids.ckpt"
local class = require "graphids.class"
local cb = require "graphids.callbacks"
local names = require "graphids.callbacks.checkpoint_name"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

-- The checkpoint files in dir (no sidecars, lock or hidden files), sorted.
local function listing(dir)
  local out = {}
  for _, e in ipairs(gio.list_dir(dir) or {}) do
    if e:match("%.safetensors$") and not e:match("^%.") then out[#out + 1] = e end
  end
  table.sort(out)
  return out
end

-- A stand-in trainer whose save_checkpoint writes a small file (so removals show) and records
-- each write with the files present when it came.
local function fake(dir)
  local t = { callback_metrics = {}, epoch = 0, global_step = 0, default_root_dir = dir, writes = {},
    should_stop = false, warned = {} }
  function t.save_checkpoint(self, path)
    proc.spit(path, "epoch " .. self.epoch)
    self.writes[#self.writes + 1] = { name = path:match("([^/]+)%.safetensors$"),
      present = listing(path:match("^(.*)/")) }
  end
  function t.warn(self, msg) self.warned[#self.warned + 1] = msg end
  return t
end

local function run_epochs(c, t, values, first)
  for i, v in ipairs(values) do
    t.epoch = (first or 0) + i - 1
    t.global_step = (t.epoch + 1) * 10
    t.callback_metrics = { val_loss = v, val_acc = 1 - v }
    c:on_train_epoch_end(t)
  end
end

local function written(t)
  local out = {}
  for i, w in ipairs(t.writes) do out[i] = w.name end
  return out
end

describe("ModelCheckpoint filename templates", function()
  -- (each name as Lightning 2.6.6's format_checkpoint_name gives it, without its .ckpt)
  local LIGHTNING = {
    { "{epoch}", true, { epoch = 3, step = 120 }, "epoch=3" },
    { "{epoch:02d}", true, { epoch = 3 }, "epoch=03" },
    { "{epoch}-{step}", true, { epoch = 3, step = 120 }, "epoch=3-step=120" },
    { "m-{epoch:03d}-{val_loss:.2f}", true, { epoch = 5, val_loss = 0.123456 }, "m-epoch=005-val_loss=0.12" },
    { "name={epoch:02d}", true, { epoch = 5 }, "name=epoch=05" },
    { "name={epoch:02d}", false, { epoch = 5 }, "name=05" },
    { "{val_loss}", true, { val_loss = 0.1 + 0.2 }, "val_loss=0.30000000000000004" },
    { "{val_loss}", true, { val_loss = 0.5 }, "val_loss=0.5" },
    { "{val_loss}", true, { val_loss = 1e-5 }, "val_loss=1e-05" },
    { "{val_loss:.3e}", true, { val_loss = 0.000123456 }, "val_loss=1.235e-04" },
    { "{val_loss:g}", true, { val_loss = 0.000123456 }, "val_loss=0.000123456" },
    { "{val_loss:G}", true, { val_loss = 1e-7 }, "val_loss=1E-07" },
    { "{val_acc:.1%}", true, { val_acc = 0.98765 }, "val_acc=98.8%" },
    { "{val_acc:08.3f}", true, { val_acc = 0.98765 }, "val_acc=0000.988" },
    { "{val_acc:+.2f}", true, { val_acc = 0.98765 }, "val_acc=+0.99" },
    { "{epoch}-{epoch_x}", true, { epoch = 1, epoch_x = 2 }, "epoch=1-epoch_x=2" },
    { "{lr-Adam:.1e}", true, { ["lr-Adam"] = 0.001 }, "lr-Adam=1.0e-03" },
    { "{val_loss:.2f}", true, { val_loss = math.huge }, "val_loss=inf" },
    { "{val_loss:.2f}", true, { val_loss = 0 / 0 }, "val_loss=nan" },
    { "{epoch:5d}", true, { epoch = 3 }, "epoch=    3" },
    { "{val_loss:10.4f}", true, { val_loss = 0.5 }, "val_loss=    0.5000" },
    -- (Python's format pads inf and nan with zeros as a number; its repr of a float is plain
    -- up to 1e16 and keeps the sign of -0.0; each checked with python3's format())
    { "{x:08.2f}", false, { x = math.huge }, "00000inf" },
    { "{x:08.2f}", false, { x = -math.huge }, "-0000inf" },
    { "{x:+08.2f}", false, { x = 0 / 0 }, "+0000nan" },
    { "{x:08}", false, { x = math.huge }, "00000inf" },
    { "{x:08.1%}", false, { x = math.huge }, "0000inf%" },
    { "{x:010.2E}", false, { x = -math.huge }, "-000000INF" },
    { "{x:8.2f}", false, { x = math.huge }, "     inf" },
    { "{x}", false, { x = 1e15 }, "1000000000000000.0" },
    { "{x}", false, { x = 1e16 }, "1e+16" },
    { "{x}", false, { x = 2.0 ^ 53 }, "9007199254740992.0" },
    { "{x}", false, { x = 1e-4 }, "0.0001" },
    { "{x}", false, { x = 5e-324 }, "5e-324" },
    { "{x}", false, { x = -0.0 }, "-0.0" },
    { "{x:08}", false, { x = -0.0 }, "-00000.0" },
    { "{x:+}", false, { x = -0.0 }, "-0.0" },
    { "{x:+}", false, { x = 1e-5 }, "+1e-05" },
  }

  it("names files as Lightning's format_checkpoint_name", function()
    for _, c in ipairs(LIGHTNING) do
      assert.equal(c[4], names.format(names.parse(c[1], c[2]), c[3]), c[1])
    end
    assert.is_nil(names.parse("best_model", true))
  end)

  it("refuses what it cannot write as Lightning would", function()
    for _, c in ipairs({
      { "{epoch", "a '{' or '}' at 1 that does not enclose a field" },
      { "a}b", "a '{' or '}' at 2" },
      { "{}", "an empty field at 1" },
      { "{x:>5}", "the format spec '>5' of 'x' is not supported" },
      { "{x:,}", "the format spec ',' of 'x' is not supported" },
      { "{x:.3}", "a precision needs a type" },
      { "{x:.2d}", "an integer takes no precision" },
      { "{val/loss:.2f}", "pass auto_insert_metric_name = false" },
    }) do
      assert.matches(c[2], err_of(cb.ModelCheckpoint, { filename = c[1] }), 1, true)
    end
    cb.ModelCheckpoint { filename = "{val/loss:.2f}", auto_insert_metric_name = false }
    local v, field, why = names.format(names.parse("{val_loss:d}", true), { val_loss = 0.5 })
    assert.same({ nil, "val_loss", "{val_loss:d} = 0.5 is not an integer, which 'd' needs" },
      { v, field, why })
  end)

  it("names a metric missing from the logged ones, and changes nothing", function()
    local dir = proc.tmpdir()
    local c = cb.ModelCheckpoint { filename = "{epoch}-{val_f1:.2f}", save_top_k = 2 }
    local t = fake(dir)
    c:on_fit_start(t)
    t.callback_metrics = { val_loss = 0.5, train_loss = 0.7 }
    assert.equal("ModelCheckpoint: filename template '{epoch}-{val_f1:.2f}': 'val_f1' was not logged this " ..
      "epoch (logged: train_loss, val_loss; and epoch, step)", err_of(c.on_train_epoch_end, c, t))
    assert.same({ {}, nil }, { c.kept.entries, c.best_score })
    c:on_fit_end(t)
    proc.rmtree(dir)
  end)
end)

describe("ModelCheckpoint save_top_k", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("keeps the k best, writes the new file and last before removing the one that dropped out", function()
    local c = cb.ModelCheckpoint { filename = "{epoch}-{val_loss:.2f}", save_top_k = 2 }
    local t = fake(dir)
    c:on_fit_start(t)
    run_epochs(c, t, { 0.5, 0.4, 0.6, 0.3, 0.35 })
    c:on_fit_end(t)
    assert.same({ "epoch=0-val_loss=0.50", "last", "epoch=1-val_loss=0.40", "last", "last",
      "epoch=3-val_loss=0.30", "last", "epoch=4-val_loss=0.35", "last" }, written(t))
    -- the file that drops out at epoch 3 is still there when that epoch's last is written
    assert.same({ "epoch=0-val_loss=0.50.safetensors", "epoch=1-val_loss=0.40.safetensors",
      "epoch=3-val_loss=0.30.safetensors", "last.safetensors" }, t.writes[7].present)
    local ckdir = gio.join(dir, "checkpoints")
    assert.same({ "epoch=3-val_loss=0.30.safetensors", "epoch=4-val_loss=0.35.safetensors",
      "last.safetensors" }, listing(ckdir))
    assert.equal(gio.join(ckdir, "epoch=3-val_loss=0.30.safetensors"), c:best_model_path())
    assert.same({ 0.3, 3 }, { c.best_score, c.best_epoch })
    local st = c:state_dict()
    assert.same({ ["epoch=3-val_loss=0.30.safetensors"] = 0.3, ["epoch=4-val_loss=0.35.safetensors"] = 0.35 },
      st.best_k_models)
    assert.same({ ["epoch=3-val_loss=0.30.safetensors"] = 3, ["epoch=4-val_loss=0.35.safetensors"] = 4 },
      st.best_k_epochs)
    assert.equal("epoch=4-val_loss=0.35.safetensors", st.kth_best)
    assert.equal("epoch=3-val_loss=0.30.safetensors", st.best_file)
    assert.same({}, st.to_remove)
  end)

  it("follows mode max; -1 keeps every judged epoch, 0 keeps none", function()
    local c = cb.ModelCheckpoint { monitor = "val_acc", mode = "max", filename = "{epoch}", save_top_k = 2 }
    local t = fake(dir)
    c:on_fit_start(t)
    run_epochs(c, t, { 0.5, 0.4, 0.6 }) -- (val_acc = 1 - val_loss: 0.5, 0.6, 0.4)
    c:on_fit_end(t)
    assert.same({ "epoch=0.safetensors", "epoch=1.safetensors", "last.safetensors" },
      listing(gio.join(dir, "checkpoints")))
    assert.equal(1, c.best_epoch)
    local all = cb.ModelCheckpoint { dirpath = gio.join(dir, "all"), filename = "{epoch}", save_top_k = -1 }
    local ta = fake(dir)
    all:on_fit_start(ta)
    run_epochs(all, ta, { 0.5, 0.6, 0.4 })
    all:on_fit_end(ta)
    assert.same({ "epoch=0.safetensors", "epoch=1.safetensors", "epoch=2.safetensors", "last.safetensors" },
      listing(gio.join(dir, "all")))
    assert.same({ 0.4, 2 }, { all.best_score, all.best_epoch })
    local none, tn = cb.ModelCheckpoint { dirpath = gio.join(dir, "none"), save_top_k = 0 }, fake(dir)
    none:on_fit_start(tn)
    run_epochs(none, tn, { 0.5, 0.4 })
    none:on_fit_end(tn)
    assert.same({ "last", "last" }, written(tn))
    assert.is_nil(none:best_model_path())
    assert.is_nil(none.best_score)
  end)

  it("gives a name a kept file holds a version, and reuses the name of the file it replaces", function()
    local c = cb.ModelCheckpoint { filename = "best", save_top_k = 2 }
    local t = fake(dir)
    c:on_fit_start(t)
    run_epochs(c, t, { 0.5, 0.4, 0.3, 0.2 })
    c:on_fit_end(t)
    -- (epoch 2 pushes out 'best' (0.5) and takes its name; epoch 3 pushes out 'best-v1' (0.4))
    assert.same({ "best", "last", "best-v1", "last", "best", "last", "best-v1", "last" }, written(t))
    assert.same({ "best-v1.safetensors", "best.safetensors", "last.safetensors" },
      listing(gio.join(dir, "checkpoints")))
    assert.equal(gio.join(dir, "checkpoints", "best-v1.safetensors"), c:best_model_path())
  end)

  it("judges every n-th epoch only (every_n_epochs: Lightning's (epoch + 1) % n); last every epoch",
    function()
    local c = cb.ModelCheckpoint { every_n_epochs = 2 }
    assert.equal("ModelCheckpoint{monitor=val_loss,mode=min,every_n_epochs=2}", c.state_key)
    local t = fake(dir)
    c:on_fit_start(t)
    run_epochs(c, t, { 0.1, 0.5, 0.2, 0.4, 0.05, 0.3 })
    c:on_fit_end(t)
    assert.same({ "last", "best_model", "last", "last", "best_model", "last", "last", "best_model", "last" },
      written(t))
    assert.same({ 0.3, 5 }, { c.best_score, c.best_epoch })
    local never, tn = cb.ModelCheckpoint { dirpath = gio.join(dir, "never"), every_n_epochs = 0 }, fake(dir)
    never:on_fit_start(tn)
    run_epochs(never, tn, { 0.5, 0.4 })
    never:on_fit_end(tn)
    assert.same({ "last", "last" }, written(tn))
    assert.equal("ModelCheckpoint{monitor=val_loss,mode=min}", cb.ModelCheckpoint().state_key)
  end)

  it("keeps the default layout's state as it was", function()
    local c = cb.ModelCheckpoint()
    local t = fake(dir)
    c:on_fit_start(t)
    run_epochs(c, t, { 0.5, 0.4 })
    c:on_fit_end(t)
    local keys = {}
    for k in pairs(c:state_dict()) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "best_epoch", "best_file", "best_score", "mode", "monitor" }, keys)
  end)

  it("breaks ties as Lightning (the first kept), the same after a resume", function()
    local values = { 0.5, 0.5, 0.4, 0.6, 0.4, 0.7 }
    local ref = cb.ModelCheckpoint { dirpath = gio.join(dir, "ref"), filename = "{epoch}", save_top_k = 2 }
    local tr = fake(dir)
    ref:on_fit_start(tr)
    run_epochs(ref, tr, values)
    ref:on_fit_end(tr)
    -- (epoch 2 pushes out epoch 0, the first of the two worst, and epoch 4 epoch 1; of the two
    -- best, 0.4, epoch 2's is the best file, the first kept)
    assert.same({ "epoch=2.safetensors", "epoch=4.safetensors", "last.safetensors" },
      listing(gio.join(dir, "ref")))
    assert.equal(gio.join(dir, "ref", "epoch=2.safetensors"), ref:best_model_path())
    for cut = 1, #values - 1 do
      local d = gio.join(dir, "cut" .. cut)
      local a, ta = cb.ModelCheckpoint { dirpath = d, filename = "{epoch}", save_top_k = 2 }, fake(dir)
      a:on_fit_start(ta)
      run_epochs(a, ta, { table.unpack(values, 1, cut) })
      a:on_fit_end(ta)
      -- the state as a checkpoint holds it (JSON: the map's order is lost)
      local st = ckpt.plain(json.decode(json.encode(a:state_dict())))
      local b, tb = cb.ModelCheckpoint { dirpath = d, filename = "{epoch}", save_top_k = 2 }, fake(dir)
      b:load_state_dict(st)
      tb.resumed_from = gio.join(d, "last.safetensors")
      b:on_fit_start(tb)
      run_epochs(b, tb, { table.unpack(values, cut + 1) }, cut)
      b:on_fit_end(tb)
      assert.same(listing(gio.join(dir, "ref")), listing(d), "cut after epoch " .. cut)
      assert.same(ref:state_dict(), b:state_dict(), "cut after epoch " .. cut)
    end
  end)

  it("checks the kept files of a state before restoring them", function()
    local c = cb.ModelCheckpoint { filename = "{epoch}", save_top_k = 2 }
    for _, case in ipairs({
      { { best_k_models = { ["a.safetensors"] = 1 }, best_k_epochs = {} },
        "'best_k_epochs' must give the epoch" },
      { { best_k_models = { ["a/b.safetensors"] = 1 }, best_k_epochs = { ["a/b.safetensors"] = 1 } },
        "'best_k_models' must hold file names ending in .safetensors" },
      { { best_k_models = { ["a.safetensors"] = "x" }, best_k_epochs = { ["a.safetensors"] = 1 } },
        "'best_k_models' must map file names to scores" },
      { { best_k_models = {}, best_k_epochs = {}, kth_best = "b.safetensors" },
        "'kth_best' must name a file" },
      { { to_remove = { "../x.safetensors" } }, "'to_remove' must hold file names" },
    }) do
      assert.matches(case[2], err_of(c.load_state_dict, c, case[1]), 1, true)
    end
  end)
end)

-- A model whose validation gives the scripted val_loss of each epoch.
local function scripted(loss)
  local m = tiny.small_mlp()
  rawset(m, "validation_step", function(_, _, ctx) return { val_loss = loss[ctx.epoch + 1] } end)
  return m
end

local function dm()
  return tiny.DataModule { n = 24, batch_size = 8, seed = 2 } -- 3 batches an epoch
end

-- Raises after the fit's global step k.
local Stop = class("TopkStop", cb.Callback)
function Stop:__init(k) self.k = k end
function Stop:on_train_batch_end(t)
  if t.global_step == self.k then error("stop at step " .. self.k, 0) end
end

-- name -> bytes of every file in dir (sidecars too, not the lock).
local function contents(dir)
  local out = {}
  for _, e in ipairs(gio.list_dir(dir)) do
    if e ~= ".lock" then out[e] = proc.slurp(gio.join(dir, e)) end
  end
  return out
end

describe("ModelCheckpoint save_top_k in a fit", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  local LOSS = { 0.9, 0.7, 0.8, 0.5, 0.6, 0.4 }
  local function mc()
    return cb.ModelCheckpoint { filename = "{epoch:02d}-{val_loss:.1f}", save_top_k = 2 }
  end

  local function reference()
    local ref = gio.join(dir, "ref")
    local c = mc()
    Trainer { max_epochs = 6, progress = "off", default_root_dir = ref, callbacks = { c } }
      :fit(scripted(LOSS), dm())
    return contents(gio.join(ref, "checkpoints")), c
  end

  it("resumes exactly from the last of an interrupted run", function()
    local want, c = reference()
    assert.same({ "epoch=03-val_loss=0.5.safetensors", "epoch=05-val_loss=0.4.safetensors",
      "last.safetensors" }, listing(gio.join(dir, "ref", "checkpoints")))
    assert.equal(gio.join(dir, "ref", "checkpoints", "epoch=05-val_loss=0.4.safetensors"),
      c:best_model_path())
    for _, step in ipairs({ 8, 11, 14 }) do
      local run = gio.join(dir, "run" .. step)
      local t1 = Trainer { max_epochs = 6, progress = "off", default_root_dir = run,
        callbacks = { mc(), Stop(step) } }
      assert.matches("stop at step " .. step, err_of(t1.fit, t1, scripted(LOSS), dm()))
      local c2 = mc()
      local t2 = Trainer { max_epochs = 6, progress = "off", default_root_dir = run, callbacks = { c2 } }
      t2:fit(scripted(LOSS), dm(), { ckpt_path = "last" })
      assert.same(want, contents(gio.join(run, "checkpoints")), "stopped at step " .. step)
      assert.equal(gio.join(run, "checkpoints", "epoch=05-val_loss=0.4.safetensors"), c2:best_model_path())
    end
  end)

  it("never removes a kept file before the epoch's commit; a resume finishes the removal", function()
    local want = reference()
    -- stopped after epoch 3's files and last are written, before the removal of epoch 2's file
    -- that epoch pushed out (as a kill there would)
    local run = gio.join(dir, "run")
    local c = mc()
    rawset(c, "remove_dropped", function(self, t)
      if t.epoch == 3 then error("killed before the removal", 0) end
      return cb.ModelCheckpoint.remove_dropped(self, t)
    end)
    local t1 = Trainer { max_epochs = 6, progress = "off", default_root_dir = run, callbacks = { c } }
    assert.matches("killed before the removal", err_of(t1.fit, t1, scripted(LOSS), dm()))
    local ckdir = gio.join(run, "checkpoints")
    assert.is_true(gio.exists(gio.join(ckdir, "epoch=02-val_loss=0.8.safetensors")))
    local last = ckpt.load(gio.join(ckdir, "last.safetensors"))
    assert.same({ "epoch=02-val_loss=0.8.safetensors" },
      last.callbacks["ModelCheckpoint{monitor=val_loss,mode=min}"].to_remove)
    local t2 = Trainer { max_epochs = 6, progress = "off", default_root_dir = run, callbacks = { mc() } }
    t2:fit(scripted(LOSS), dm(), { ckpt_path = "last" })
    assert.same(want, contents(ckdir))
    -- stopped between the removal of the file and that of its sidecar: the resume removes the
    -- sidecar left
    local run2 = gio.join(dir, "run2")
    local c2 = mc()
    rawset(c2, "remove_dropped", function(self, t)
      if t.epoch == 3 then
        os.remove(gio.join(self.dirpath, "epoch=02-val_loss=0.8.safetensors"))
        error("killed between the removals", 0)
      end
      return cb.ModelCheckpoint.remove_dropped(self, t)
    end)
    local t3 = Trainer { max_epochs = 6, progress = "off", default_root_dir = run2, callbacks = { c2 } }
    assert.matches("killed between the removals", err_of(t3.fit, t3, scripted(LOSS), dm()))
    assert.is_true(gio.exists(gio.join(run2, "checkpoints", "epoch=02-val_loss=0.8.safetensors.sha256")))
    local t4 = Trainer { max_epochs = 6, progress = "off", default_root_dir = run2, callbacks = { mc() } }
    t4:fit(scripted(LOSS), dm(), { ckpt_path = "last" })
    assert.same(want, contents(gio.join(run2, "checkpoints")))
  end)

  -- Two checkpoint callbacks, the second (val_acc, its own folder) interrupted in epoch k after
  -- the first wrote its `last` (as a kill there would).  A resume from `last` cannot make the
  -- second's folder an uninterrupted run's (docs/trainer.md, "Exact resume"); it must say so,
  -- naming the callback and the file, not diverge silently.
  describe("with a second checkpoint callback killed after the first's last", function()
    local ACC_KEY = "ModelCheckpoint{monitor=val_acc,mode=max}"
    local function scripted_acc()
      local m = tiny.small_mlp()
      rawset(m, "validation_step", function(_, _, ctx)
        return { val_loss = LOSS[ctx.epoch + 1], val_acc = 1 - LOSS[ctx.epoch + 1] }
      end)
      return m
    end
    local function acc_cb(run)
      return cb.ModelCheckpoint { dirpath = gio.join(run, "acc"), monitor = "val_acc", mode = "max",
        save_top_k = 3, filename = "{val_acc:.1f}" }
    end
    -- fits run up to max_epochs with `hook` as the second callback's on_train_epoch_end; returns
    -- the error and what the trainer said
    local function fit(run, max_epochs, hook, resume)
      local said, c2 = {}, acc_cb(run)
      if hook then rawset(c2, "on_train_epoch_end", hook) end
      local t = Trainer { max_epochs = max_epochs, progress = "off", default_root_dir = run,
        callbacks = { cb.ModelCheckpoint {}, c2 }, log = function(m) said[#said + 1] = m end }
      local ok, err = pcall(t.fit, t, scripted_acc(), dm(), resume and { ckpt_path = "last" } or nil)
      return not ok and err or nil, table.concat(said, "\n")
    end

    it("warns when the second's files of the resumed epoch were never written", function()
      local run = gio.join(dir, "b")
      assert.matches("killed", fit(run, 2, function(_, t)
        if t.epoch == 0 then error("killed", 0) end
      end))
      assert.same({}, listing(gio.join(run, "acc")))
      local err, said = fit(run, 2, nil, true)
      assert.is_nil(err)
      assert.matches("resume: " .. ACC_KEY:gsub("%p", "%%%0") ..
        ": .* its kept files val_acc=0%.1%.safetensors are not there and are dropped", said)
    end)

    it("warns when the second's last stays an epoch behind with nothing left to train", function()
      local run = gio.join(dir, "c")
      assert.is_nil(fit(run, 1))
      assert.matches("killed", fit(run, 2, function(self, t)
        self.save_last = false -- its kept file of epoch 1 is written, not its last
        cb.ModelCheckpoint.on_train_epoch_end(self, t)
        error("killed", 0)
      end, true))
      local err, said = fit(run, 2, nil, true)
      assert.is_nil(err)
      assert.matches("resume: " .. ACC_KEY:gsub("%p", "%%%0") ..
        ": [^\n]*/acc/last%.safetensors is not, by content, the checkpoint resumed from", said)
    end)
  end)

  it("forgets a kept file removed by hand, with a warning; 'best' names the best kept file", function()
    local ref = gio.join(dir, "ref")
    Trainer { max_epochs = 4, progress = "off", default_root_dir = ref, callbacks = { mc() } }
      :fit(scripted(LOSS), dm())
    local ckdir = gio.join(ref, "checkpoints")
    assert(ckpt.remove(gio.join(ckdir, "epoch=01-val_loss=0.7.safetensors")))
    local said = {}
    local c = mc()
    local t = Trainer { max_epochs = 6, progress = "off", default_root_dir = ref, callbacks = { c },
      log = function(m) said[#said + 1] = m end }
    t:fit(scripted(LOSS), dm(), { ckpt_path = "last" })
    assert.matches("the resumed run's kept checkpoints epoch=01%-val_loss=0%.7%.safetensors are not in",
      table.concat(said, "\n"))
    assert.same({ "epoch=03-val_loss=0.5.safetensors", "epoch=05-val_loss=0.4.safetensors",
      "last.safetensors" }, listing(ckdir))
    local t3 = Trainer { max_epochs = 6, progress = "off", default_root_dir = ref, callbacks = { mc() } }
    assert.matches('ckpt_path = "best": its ModelCheckpoint has kept no file yet',
      err_of(t3.test, t3, scripted(LOSS), dm(), { ckpt_path = "best", metrics = tiny.metrics }))
    assert.is_table(t:test(scripted(LOSS), dm(), { ckpt_path = "best", metrics = tiny.metrics }))
  end)

  it("refuses a fresh fit into a folder of an earlier fit's files when no last is saved", function()
    local function fresh()
      return cb.ModelCheckpoint { filename = "{epoch}", save_top_k = -1, save_last = false }
    end
    Trainer { max_epochs = 2, progress = "off", default_root_dir = dir, callbacks = { fresh() } }
      :fit(scripted(LOSS), dm())
    local t = Trainer { max_epochs = 2, progress = "off", default_root_dir = dir, callbacks = { fresh() } }
    assert.matches("holds the checkpoints of an earlier fit %(last%.safetensors, epoch=0%.safetensors, " ..
      "epoch=1%.safetensors%)", err_of(t.fit, t, scripted(LOSS), dm()))
  end)
end)
