-- optim/adagrad.lua -- Adagrad (Duchi et al.), as torch.optim.Adagrad: each step divides the
-- grad by the root of the sum of all squared grads so far.
--   local opt = graphids.optim.Adagrad(params, { lr = 1e-2, lr_decay = 0, weight_decay = 0,
--     initial_accumulator_value = 0, eps = 1e-10, maximize = false })
-- The update is composed from tensor ops in the order of torch's single-tensor Adagrad, so it
-- runs wherever those ops do (CPU or CUDA) and rounds as torch does.
-- State per parameter: step (a count), sum.  As in torch, the constructor makes the state of
-- every parameter it is given (step 0, sum filled with initial_accumulator_value), and the sum
-- always starts at the optimizer's initial_accumulator_value, not a group's.
local graphids = require "graphids"
local class = require "graphids.class"
local Optimizer = require "graphids.optim.optimizer"
local util = require "graphids.optim.util"

local Adagrad = class("Adagrad", Optimizer)

Adagrad.HYPER = { "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize" }
Adagrad.DEFAULTS = { lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0,
  eps = 1e-10, maximize = false }
Adagrad.STATE_KEYS = { "step", "sum" }
Adagrad.REQUIRED_STATE = { "step", "sum" }

function Adagrad:__init(params, opts)
  Optimizer.__init(self, params, opts)
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do self.state[p] = self:_new_state(p) end
  end
end

function Adagrad:_new_state(p)
  return { step = 0, sum = graphids.full_like(p, self.defaults.initial_accumulator_value) }
end

function Adagrad._check_group(_, group, fname)
  util.number(fname, "lr", group.lr, nil, { min = 0 })
  util.number(fname, "lr_decay", group.lr_decay, nil, { min = 0 })
  util.number(fname, "weight_decay", group.weight_decay, nil, { min = 0 })
  util.number(fname, "initial_accumulator_value", group.initial_accumulator_value, nil, { min = 0 })
  util.number(fname, "eps", group.eps, nil, { min = 0 })
  util.boolean(fname, "maximize", group.maximize)
end

function Adagrad:_update(group)
  local lr, lr_decay, eps, wd = group.lr, group.lr_decay, group.eps, group.weight_decay
  local state = self.state
  for _, p in ipairs(group.params) do
    local g = self:_grad(p)
    if g ~= nil then
      local st = state[p] or self:_new_state(p)
      local step = st.step + 1
      if group.maximize then g = -g end
      if wd ~= 0 then g = g + p * wd end
      local clr = lr / (1 + (step - 1) * lr_decay)
      -- state_sum.addcmul_(g, g, value=1); param.addcdiv_(g, sqrt(sum) + eps, value=-clr)
      st.sum:add_(g * g)
      local std = st.sum:sqrt():add_(eps)
      p:add_((g * -clr):div_(std))
      st.step = step
      state[p] = st
    end
  end
end

return Adagrad
