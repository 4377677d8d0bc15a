-- optim/adamw.lua -- AdamW (Loshchilov & Hutter), as torch.optim.AdamW: Adam with the weight
-- decay decoupled from the gradient (param *= 1 - lr * weight_decay before the Adam step).
--   local opt = graphids.optim.AdamW(model:parameters(), { lr = 1e-2 })   -- weight_decay 1e-2
local class = require "graphids.class"
local Adam = require "graphids.optim.adam"

local AdamW = class("AdamW", Adam)

AdamW.DEFAULTS = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2,
  amsgrad = false, maximize = false }
AdamW.DECOUPLED = true

return AdamW
