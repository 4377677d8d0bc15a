-- spec/trainer/support/train_child.lua -- a training run the SIGKILL spec starts, kills and
-- resumes:  graphids run spec/trainer/support/train_child.lua RUN_DIR [MAX_EPOCHS] [PATIENCE]
-- Resumes from RUN_DIR/checkpoints/last.safetensors when it exists (as a pipeline does for a
-- checkpoint without .train_complete), else starts fresh.  At the end it writes
-- RUN_DIR/final.safetensors (the weights) and RUN_DIR/final_metrics.json, then .train_complete.
package.path = "spec/?.lua;" .. package.path
local graphids = require "graphids"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"

local args = { ... }
local run_dir = assert(args[1], "usage: train_child.lua RUN_DIR [MAX_EPOCHS] [PATIENCE]")
local max_epochs = math.tointeger(tonumber(args[2] or "14"))
local patience = math.tointeger(tonumber(args[3] or "3"))

local model = tiny.MLP { in_dim = 4, hidden = 16, seed = 7, lr = 0.5, noise = 0.3 }
local dm = tiny.DataModule { n = 96, batch_size = 8, seed = 5 }
local trainer = Trainer {
  max_epochs = max_epochs, gradient_clip_val = 1.0, default_root_dir = run_dir, seed = 11,
  progress = "off",
  callbacks = {
    cb.ModelCheckpoint { monitor = "val_loss", mode = "min" },
    cb.EarlyStopping { monitor = "val_loss", mode = "min", patience = patience },
    cb.LearningRateMonitor(),
  },
}
local last = gio.join(run_dir, "checkpoints", "last.safetensors")
trainer:fit(model, dm, { ckpt_path = gio.exists(last) and last or nil })
assert(graphids.save_safetensors(gio.join(run_dir, "final.safetensors"), (function()
  local t = {}
  for _, name in ipairs(model:state_dict():keys()) do
    t[name] = model:state_dict():get(name)
  end
  return t
end)(), { format = "pt" }))
assert(gio.write_json(gio.join(run_dir, "final_metrics.json"), {
  metrics = trainer.callback_metrics, epoch = trainer.epoch, global_step = trainer.global_step,
  should_stop = trainer.should_stop }))
ckpt.touch_marker(gio.join(run_dir, ".train_complete"))
