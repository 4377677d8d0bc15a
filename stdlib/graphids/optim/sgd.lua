-- optim/sgd.lua -- stochastic gradient descent with momentum, as torch.optim.SGD; each
-- parameter's update is one call of the fused C kernel graphids._sgd_step.
--   local opt = graphids.optim.SGD(params, { lr = 0.1, momentum = 0.9, dampening = 0,
--                                            weight_decay = 0, nesterov = false, maximize = false })
-- The first step with momentum sets the buffer to the grad (no dampening), as torch does.
-- State per parameter (with momentum only): momentum_buffer.
local graphids = require "graphids"
local class = require "graphids.class"
local Optimizer = require "graphids.optim.optimizer"
local util = require "graphids.optim.util"

local SGD = class("SGD", Optimizer)

SGD.HYPER = { "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize" }
SGD.DEFAULTS = { lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false,
  maximize = false }
SGD.STATE_KEYS = { "momentum_buffer" }

local function nesterov_error(group, fname)
  util.raise(string.format("%s: nesterov needs momentum > 0 and dampening 0, got momentum %s " ..
    "and dampening %s", fname, tostring(group.momentum), tostring(group.dampening)))
end

function SGD._check_group(_, group, fname)
  util.number(fname, "lr", group.lr, nil, { min = 0 })
  util.number(fname, "momentum", group.momentum, nil, { min = 0 })
  util.number(fname, "dampening", group.dampening)
  util.number(fname, "weight_decay", group.weight_decay, nil, { min = 0 })
  util.boolean(fname, "nesterov", group.nesterov)
  util.boolean(fname, "maximize", group.maximize)
  -- (the kernel's formula with momentum: nesterov reads the buffer without dampening)
  if group.nesterov and group.momentum ~= 0 and group.dampening ~= 0 then nesterov_error(group, fname) end
end

-- Nesterov needs momentum, but only where the user asks for it (the options, a group given):
-- as torch's constructor.  A momentum that reaches 0 later (OneCycleLR's base_momentum = 0, a
-- checkpoint taken then) steps plainly, as torch's step: no buffer update, nesterov moot.
function SGD._check_new_group(_, group, fname)
  if group.nesterov and (group.momentum <= 0 or group.dampening ~= 0) then nesterov_error(group, fname) end
end

function SGD:_update(group)
  local sgd_step, empty_like = graphids._sgd_step, graphids.empty_like
  local cfg = { lr = group.lr, momentum = group.momentum, dampening = group.dampening,
    weight_decay = group.weight_decay, nesterov = group.nesterov and group.momentum ~= 0,
    maximize = group.maximize, first = false }
  local state = self.state
  for _, p in ipairs(group.params) do
    local g = self:_grad(p)
    if g ~= nil then
      if group.momentum ~= 0 then
        local st = state[p]
        local buf = st and st.momentum_buffer
        cfg.first = buf == nil
        -- the kernel writes every element of a new buffer (buf = grad) before reading it
        if buf == nil then buf = empty_like(p) end
        sgd_step(p, g, buf, cfg)
        if st == nil then state[p] = { momentum_buffer = buf } else st.momentum_buffer = buf end
      else
        sgd_step(p, g, nil, cfg)
      end
    end
  end
end

return SGD
