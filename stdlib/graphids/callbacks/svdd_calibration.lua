-- graphids.callbacks.SVDDCalibration -- fits the SVDD centre of a model that has one
-- (model:calibrate_svdd(batches): the DGI) on the train loader's graphs, as the reference's
-- SVDDCalibrationCallback.
--   cb.SVDDCalibration()                      -- with a benign-only train loader (label_filter)
-- The reference calibrated once at fit end, after the checkpoints were written, so its best
-- checkpoint held an uncalibrated centre.  Here the centre is fitted at every epoch end by
-- default (every_epoch = true), before ModelCheckpoint runs (the trainer orders checkpoint
-- callbacks last): every best/last file holds the centre of its own weights.  Calibration is
-- forward-only in eval mode and draws no random numbers, so it does not change training or
-- exact resume.  With every_epoch = false it runs once at fit end (the reference's behaviour).
-- Any model with a calibrate(batches) method is calibrated the same way (the VGAE's calibrated
-- score); a model without one is left alone.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local Callback = require "graphids.callbacks.base"
local Device = require "graphids.trainer.device"

local SVDDCalibration = class("SVDDCalibration", Callback)

-- The centre is fitted on the weights being trained, while under weight averaging validation
-- and checkpoints hold the average: every saved centre would belong to other weights.
SVDDCalibration.CONFLICTS = {
  EMAWeightAveraging = "the centre would be fitted on the trained weights while validation and " ..
    "checkpoints hold their average",
}

function SVDDCalibration:__init(opts)
  local o = U.options("SVDDCalibration", opts, { every_epoch = true }, U.CTOR)
  self.every_epoch = o.every_epoch
  self.calibrations = 0
end

local function calibrate(self, trainer)
  local model, dm = trainer.model, trainer.datamodule
  if type(model.calibrate) ~= "function" then
    return
  end
  -- Epoch 0's order of the train loader: fixed, so the summation order is the same every time.
  model:calibrate(Device.batches(dm:train_loader():iter(0), trainer.device))
  self.calibrations = self.calibrations + 1
end

function SVDDCalibration:on_train_epoch_end(trainer)
  if self.every_epoch then
    calibrate(self, trainer)
  end
end

function SVDDCalibration:on_fit_end(trainer)
  if not self.every_epoch then
    calibrate(self, trainer)
  end
end

return SVDDCalibration
