-- spec/trainer/support/train_child.lua -- a training run the SIGKILL spec starts, kills and
-- resumes:
--   graphids run spec/trainer/support/train_child.lua RUN_DIR [MAX_EPOCHS] [PATIENCE] [KIND] [LAKE]
-- KIND "tiny" (default): the spec-local MLP and in-memory data; "topk": the same, its
-- ModelCheckpoint keeping the 2 best under a Lightning filename template; "gat": the GAT
-- classifier on simulated CAN windows (GraphDataModule, cache under LAKE).  Resumes from
-- RUN_DIR/checkpoints/last.safetensors when it exists (as a pipeline does for a checkpoint
-- without .train_complete), else starts fresh.  At the end it writes RUN_DIR/final.safetensors
-- (the weights) and RUN_DIR/final_metrics.json, then .train_complete.
package.path = "spec/?.lua;" .. package.path
local graphids = require "graphids"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer

local args = { ... }
local run_dir = assert(args[1], "usage: train_child.lua RUN_DIR [MAX_EPOCHS] [PATIENCE] [KIND] [LAKE]")
local max_epochs = math.tointeger(tonumber(args[2] or "14"))
local patience = math.tointeger(tonumber(args[3] or "3"))
local kind = args[4] or "tiny"

local model, dm
if kind == "tiny" or kind == "topk" then
  local tiny = require "trainer.support.tiny"
  model = tiny.MLP { in_dim = 4, hidden = 16, seed = 7, lr = 0.5, noise = 0.3 }
  dm = tiny.DataModule { n = 96, batch_size = 8, seed = 5 }
elseif kind == "gat" then
  local data = require "graphids.data"
  local models = require "graphids.models"
  dm = data.GraphDataModule { dataset = "synthetic", lake_root = assert(args[5], "gat needs LAKE"),
    batch_size = 8, seed = 3, catalog = { synthetic = {
      train = { "train_01_attack_free", "train_02_with_attacks" },
      test = { "test_01_known_vehicle_known_attack" }, simulated = true, frames = 1500, seed = 11 } } }
  dm:setup()
  graphids.manual_seed(1)
  model = models.GATClassifier { num_ids = dm.num_ids, hidden = 8, heads = 2, num_layers = 2,
    jk_mode = "lstm", fc_layers = 2, embedding_dim = 4, proj_dim = 8, lr = 5e-3, dropout = 0.2 }
else
  error("train_child: KIND must be tiny, topk or gat, got " .. kind)
end

local trainer = Trainer {
  max_epochs = max_epochs, gradient_clip_val = 1.0, default_root_dir = run_dir, seed = 11,
  progress = "off",
  callbacks = {
    kind == "topk" and cb.ModelCheckpoint { monitor = "val_loss", mode = "min", save_top_k = 2,
      filename = "{epoch:02d}-{val_loss:.4f}" } or cb.ModelCheckpoint { monitor = "val_loss", mode = "min" },
    cb.EarlyStopping { monitor = "val_loss", mode = "min", patience = patience },
    cb.LearningRateMonitor(),
  },
}
local last = gio.join(run_dir, "checkpoints", "last.safetensors")
trainer:fit(model, dm, { ckpt_path = gio.exists(last) and last or nil })
local sd = model:state_dict()
local final = {}
for _, name in ipairs(sd:keys()) do
  final[name] = sd:get(name)
end
assert(graphids.save_safetensors(gio.join(run_dir, "final.safetensors"), final, { format = "pt" }))
assert(gio.write_json(gio.join(run_dir, "final_metrics.json"), {
  metrics = trainer.callback_metrics, epoch = trainer.epoch, global_step = trainer.global_step,
  should_stop = trainer.should_stop }))
ckpt.touch_marker(gio.join(run_dir, ".train_complete"))
