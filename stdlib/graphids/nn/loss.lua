-- graphids.nn loss modules: each holds its options and calls graphids.nn.functional.
--   local crit = nn.CrossEntropyLoss({ weight = w, label_smoothing = 0.1 })
--   local loss = crit(logits, target)
--   nn.FocalLoss({ gamma = 2 }), nn.BCEWithLogitsLoss({ pos_weight = pw }),
--   nn.KLDivLoss({ reduction = "batchmean" }), nn.SmoothL1Loss({ beta = 0.5 }), ...
-- Tensor options (weight, pos_weight, a tensor alpha) are buffers, so they move with to() and
-- appear in state_dict under the same names as torch's.
local graphids = require "graphids"
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

-- name: class name; fn: functional; defaults: options (reduction added); buffers: the tensor
-- options, in registration order.
local function loss_class(name, fn, defaults, buffers)
  local cls = class(name, Module)
  defaults.reduction = defaults.reduction or "mean"
  local scalars = {}
  for k in pairs(defaults) do
    scalars[#scalars + 1] = k
  end
  table.sort(scalars)
  for _, b in ipairs(buffers or {}) do
    defaults[b] = U.NONE
  end
  function cls:__init(opts)
    Module.__init(self)
    local o = U.options(name, opts, defaults, U.CTOR)
    if o.reduction ~= "batchmean" or name ~= "KLDivLoss" then
      U.check_reduction(name, o.reduction, U.CTOR)
    end
    local keys = {}
    for _, k in ipairs(scalars) do
      self[k] = o[k]
      keys[#keys + 1] = k
    end
    for _, b in ipairs(buffers or {}) do
      local v = o[b]
      if graphids.is_tensor(v) then
        self:register_buffer(b, v)
      else
        self[b] = v
      end
      keys[#keys + 1] = b
    end
    self._opt_keys = keys
  end
  function cls:forward(input, target)
    local o = {}
    for _, k in ipairs(self._opt_keys) do
      o[k] = self[k]
    end
    return fn(input, target, o)
  end
  function cls:extra_repr()
    local parts = {}
    for _, k in ipairs(scalars) do
      local v = self[k]
      if type(v) == "string" then
        v = "'" .. v .. "'"
      end
      parts[#parts + 1] = k .. "=" .. tostring(v)
    end
    return table.concat(parts, ", ")
  end
  M[name] = cls
  return cls
end

loss_class("L1Loss", F.l1_loss, {})
loss_class("MSELoss", F.mse_loss, {})
loss_class("CrossEntropyLoss", F.cross_entropy, { ignore_index = -100, label_smoothing = 0.0 },
  { "weight" })
loss_class("NLLLoss", F.nll_loss, { ignore_index = -100 }, { "weight" })
loss_class("FocalLoss", F.focal_loss, { gamma = 2.0, ignore_index = -100 }, { "weight", "alpha" })
loss_class("BCELoss", F.binary_cross_entropy, {}, { "weight" })
loss_class("BCEWithLogitsLoss", F.binary_cross_entropy_with_logits, {}, { "weight", "pos_weight" })
loss_class("SmoothL1Loss", F.smooth_l1_loss, { beta = 1.0 })
loss_class("HuberLoss", F.huber_loss, { delta = 1.0 })
loss_class("KLDivLoss", F.kl_div, { log_target = false })

return M
