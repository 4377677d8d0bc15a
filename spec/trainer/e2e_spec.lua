-- e2e_spec.lua -- the trainer with the real GAT classifier and GraphDataModule on a small
-- synthetic dataset (simulated CAN captures, built into a temp lake): fit with checkpoints,
-- resume after a crash to identical weights, test with the best checkpoint (classifier metrics
-- pooled and per set), predictions that map back to frames, and the compatibility guard
-- against a model of another vocabulary size.
local graphids = require "graphids"
local class = require "graphids.class"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local data = require "graphids.data"
local models = require "graphids.models"
local Trainer = require("graphids.trainer").Trainer
local proc = require "trainer.support.proc"

local CAT = {
  synthetic = {
    train = { "train_01_attack_free", "train_02_with_attacks" },
    test = { "test_01_known_vehicle_known_attack", "test_03_known_vehicle_unknown_attack" },
    simulated = true, frames = 1500, seed = 11,
  },
}

local Crash = class("Crash", cb.Callback)
function Crash.on_train_epoch_start(_, trainer)
  if trainer.epoch == 2 then error("crash at epoch 2", 0) end
end

describe("trainer end to end (GAT on synthetic CAN windows)", function()
  local lake, run
  setup(function()
    lake = proc.tmpdir()
    run = proc.tmpdir()
  end)
  teardown(function()
    proc.rmtree(lake)
    proc.rmtree(run)
  end)

  local function dm()
    return data.GraphDataModule { dataset = "synthetic", lake_root = lake, catalog = CAT, batch_size = 8,
      seed = 3 }
  end
  local function gat(num_ids, seed)
    graphids.manual_seed(seed or 1)
    return models.GATClassifier { num_ids = num_ids, hidden = 8, heads = 2, num_layers = 2,
      jk_mode = "cat", fc_layers = 2, embedding_dim = 4, proj_dim = 8, lr = 5e-3 }
  end
  local function trainer(dir, extra)
    local cbs = { cb.ModelCheckpoint(), cb.EarlyStopping { patience = 5 }, cb.LearningRateMonitor() }
    if extra then cbs[#cbs + 1] = extra end
    return Trainer { max_epochs = 4, default_root_dir = dir, progress = "off", gradient_clip_val = 1.0,
      seed = 5, callbacks = cbs }
  end

  it("fits, resumes exactly, tests and predicts", function()
    local d = dm():setup()
    local ref = gio.join(run, "ref")
    local m = gat(d.num_ids)
    local t = trainer(ref)
    t:fit(m, d)
    assert.equal(4, t.epoch)
    assert.is_true(t.history[4].train_loss < t.history[1].train_loss)
    local best = t:checkpoint_callback():best_model_path()
    local c = ckpt.load(best)
    assert.equal("graphids.models.GATClassifier", c.class_path)
    assert.equal(d.num_ids, c.hyper_parameters.num_ids)
    assert.equal(d.cache.metadata.vocab_digest, c.hyper_parameters.vocab_digest)

    -- crash in epoch 2, resume from last with a differently initialised model
    local crashed = gio.join(run, "crashed")
    assert.error_matches(function() trainer(crashed, Crash()):fit(gat(d.num_ids), dm()) end,
      "crash at epoch 2")
    local m2 = gat(d.num_ids, 99)
    local t2 = trainer(crashed)
    t2:fit(m2, dm(), { ckpt_path = gio.join(crashed, "checkpoints/last.safetensors") })
    for _, k in ipairs(m:state_dict():keys()) do
      assert.is_true(graphids.equal(m:state_dict():get(k), m2:state_dict():get(k)), k)
    end
    for _, f in ipairs({ "best_model.safetensors", "last.safetensors" }) do
      local a, b = gio.join(ref, "checkpoints", f), gio.join(crashed, "checkpoints", f)
      assert(proc.slurp(a) == proc.slurp(b), f)
    end

    -- test with the best weights: classifier metrics pooled and per set
    local res = Trainer { progress = "off" }:test(gat(d.num_ids, 7), d, { ckpt_path = best })
    for _, k in ipairs({ "test/accuracy", "test/f1_macro", "test/test_01_known_vehicle_known_attack/accuracy",
      "test/test_03_known_vehicle_unknown_attack/mcc" }) do
      assert.is_number(res[k], k)
    end

    -- predictions map back to frames
    local out = Trainer { progress = "off" }:predict(m, d:val_loader())
    local n = out.scores:numel()
    assert.is_true(n > 0)
    assert.equal(n, out.window_start:numel())
    assert.equal(n, out.source_file:numel())
    assert.equal(n, out.labels:numel())

    -- a checkpoint of another vocabulary size is refused, naming num_ids and the shapes
    assert.error_matches(function()
      Trainer { progress = "off" }:test(gat(d.num_ids + 3), d, { ckpt_path = best })
    end, "num_ids: checkpoint " .. d.num_ids .. ", model " .. (d.num_ids + 3))
  end)

  it("fits a DGI with its SVDD centre calibrated into every checkpoint, then tests it", function()
    local d = data.GraphDataModule { dataset = "synthetic", lake_root = lake, catalog = CAT, batch_size = 8,
      seed = 3, label_filter = "benign" }:setup()
    local dir = gio.join(run, "dgi")
    graphids.manual_seed(2)
    local m = models.DGI { num_ids = d.num_ids, hidden_dims = { 16, 8 }, latent_dim = 8, embedding_dim = 4,
      proj_dim = 8 }
    local svdd = cb.SVDDCalibration()
    local t = Trainer { max_epochs = 2, default_root_dir = dir, progress = "off", callbacks = { svdd } }
    t:fit(m, d)
    assert.equal(2, svdd.calibrations)
    local best = ckpt.load(t:checkpoint_callback():best_model_path())
    assert.is_true(best.model.svdd_calibrated:item())
    local res = Trainer { progress = "off" }:test(models.DGI(m:hparams()), d,
      { ckpt_path = t:checkpoint_callback():best_model_path() })
    for _, k in ipairs({ "test/auroc", "test/threshold", "test/test_01_known_vehicle_known_attack/f1" }) do
      assert.is_number(res[k], k)
    end
  end)
end)
