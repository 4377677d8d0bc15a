-- optim/rmsprop.lua -- RMSprop (Hinton), as torch.optim.RMSprop: each step divides the grad by
-- a running root mean square of the grads.
--   local opt = graphids.optim.RMSprop(params, { lr = 1e-2, alpha = 0.99, eps = 1e-8,
--     weight_decay = 0, momentum = 0, centered = false, maximize = false })
-- The update is composed from tensor ops in the order of torch's single-tensor RMSprop, so it
-- runs wherever those ops do (CPU or CUDA) and rounds as torch does.
-- State per parameter: step (a count), square_avg, momentum_buffer (momentum > 0), grad_avg
-- (centered).
local graphids = require "graphids"
local class = require "graphids.class"
local Optimizer = require "graphids.optim.optimizer"
local util = require "graphids.optim.util"

local RMSprop = class("RMSprop", Optimizer)

RMSprop.HYPER = { "lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize" }
RMSprop.DEFAULTS = { lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0,
  centered = false, maximize = false }
RMSprop.STATE_KEYS = { "step", "square_avg", "momentum_buffer", "grad_avg" }
-- (the momentum buffer and the mean grad start at zeros when the options that need them are
-- turned on for a state saved without them)
RMSprop.REQUIRED_STATE = { "step", "square_avg" }

function RMSprop._check_group(_, group, fname)
  util.number(fname, "lr", group.lr, nil, { min = 0 })
  -- torch checks alpha >= 0 only; above 1 the mean square goes negative and its root is NaN
  util.number(fname, "alpha", group.alpha, nil, { min = 0, max = 1 })
  util.number(fname, "eps", group.eps, nil, { min = 0 })
  util.number(fname, "weight_decay", group.weight_decay, nil, { min = 0 })
  util.number(fname, "momentum", group.momentum, nil, { min = 0 })
  util.boolean(fname, "centered", group.centered)
  util.boolean(fname, "maximize", group.maximize)
end

-- end_ - (end_ - t) * (1 - w) or t + w * (end_ - t), written into t: torch's lerp_, which
-- computes from the far end when w >= 0.5.
local function lerp_(t, end_, w)
  local d = end_ - t
  if w >= 0.5 then
    t:copy_(end_ - d:mul_(1 - w))
  else
    t:add_(d:mul_(w))
  end
end

function RMSprop:_update(group)
  local zeros_like = graphids.zeros_like
  local lr, alpha, eps, wd = group.lr, group.alpha, group.eps, group.weight_decay
  local momentum, centered = group.momentum, group.centered
  local state = self.state
  for _, p in ipairs(group.params) do
    local g = self:_grad(p)
    if g ~= nil then
      local st = state[p] or { step = 0, square_avg = zeros_like(p) }
      if momentum > 0 and st.momentum_buffer == nil then st.momentum_buffer = zeros_like(p) end
      if centered and st.grad_avg == nil then st.grad_avg = zeros_like(p) end
      if group.maximize then g = -g end
      if wd ~= 0 then g = g + p * wd end
      local sq = st.square_avg
      -- square_avg.mul_(alpha).addcmul_(g, g, value=1-alpha): (value * g) * g
      sq:mul_(alpha):add_((g * (1 - alpha)):mul_(g))
      local avg
      if centered then
        local ga = st.grad_avg
        lerp_(ga, g, 1 - alpha)
        avg = (sq - ga * ga):sqrt_()
      else
        avg = sq:sqrt()
      end
      avg:add_(eps)
      if momentum > 0 then
        local buf = st.momentum_buffer
        buf:mul_(momentum):add_(g / avg)
        p:add_(buf * -lr)
      else
        -- param.addcdiv_(g, avg, value=-lr): (value * g) / avg
        p:add_((g * -lr):div_(avg))
      end
      st.step = st.step + 1
      state[p] = st
    end
  end
end

return RMSprop
