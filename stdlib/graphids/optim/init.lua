-- graphids.optim -- optimizers, learning-rate schedulers and gradient clipping, after
-- torch.optim.
--   local optim = require "graphids.optim"          -- also graphids.optim
--   local opt = optim.AdamW(model:parameters(), { lr = 1e-2 })
--   local sched = optim.lr_scheduler.CosineAnnealingLR(opt, 100)
--   for step = 1, 100 do
--     opt:zero_grad()
--     local loss = model:forward(x):sub(y):square():mean()
--     loss:backward()
--     optim.clip_grad_norm_(model:parameters(), 1.0)
--     opt:step()
--     sched:step()
--   end
-- Updates are fused C calls: Adam/AdamW one per device for all parameters (graphids._adam_steps),
-- SGD one per parameter (graphids._sgd_step); RMSprop and Adagrad compose tensor ops.
-- Optimizer is the base class for new optimizers (see optim/optimizer.lua).
local clip = require "graphids.optim.clip"

return {
  Optimizer = require "graphids.optim.optimizer",
  SGD = require "graphids.optim.sgd",
  Adam = require "graphids.optim.adam",
  AdamW = require "graphids.optim.adamw",
  RMSprop = require "graphids.optim.rmsprop",
  Adagrad = require "graphids.optim.adagrad",
  lr_scheduler = require "graphids.optim.lr_scheduler",
  clip_grad_norm_ = clip.clip_grad_norm_,
  clip_grad_value_ = clip.clip_grad_value_,
}
