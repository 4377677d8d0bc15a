-- graphids.callbacks -- trainer callbacks with Lightning's hook names.
--   local cb = require "graphids.callbacks"
--   local trainer = require("graphids.trainer").Trainer{callbacks = {
--     cb.ModelCheckpoint{monitor = "val_loss", mode = "min"},
--     cb.EarlyStopping{monitor = "val_loss", mode = "min", patience = 10},
--     cb.LearningRateMonitor(), cb.GpuMemoryDrift{threshold = 2^30}, cb.SVDDCalibration(),
--     cb.EMAWeightAveraging{decay = 0.995}}}
-- Subclass cb.Callback for your own (see callbacks/base.lua for the hooks).
return {
  Callback = require "graphids.callbacks.base",
  ModelCheckpoint = require "graphids.callbacks.model_checkpoint",
  EarlyStopping = require "graphids.callbacks.early_stopping",
  LearningRateMonitor = require "graphids.callbacks.lr_monitor",
  GpuMemoryDrift = require "graphids.callbacks.memory_drift",
  SVDDCalibration = require "graphids.callbacks.svdd_calibration",
  EMAWeightAveraging = require "graphids.callbacks.weight_averaging",
}
