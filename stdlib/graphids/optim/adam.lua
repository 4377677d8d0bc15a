-- optim/adam.lua -- Adam (Kingma & Ba), as torch.optim.Adam; the parameters' updates are one call
-- of the fused C kernel graphids._adam_steps per device.
--   local opt = graphids.optim.Adam(params, { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8,
--                                             weight_decay = 0, amsgrad = false, maximize = false })
-- weight_decay adds weight_decay * param to the grad (L2); AdamW decouples it.
-- State per parameter: step (a count), exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad.
local graphids = require "graphids"
local class = require "graphids.class"
local Optimizer = require "graphids.optim.optimizer"
local util = require "graphids.optim.util"

local Adam = class("Adam", Optimizer)

Adam.HYPER = { "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize" }
Adam.DEFAULTS = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0,
  amsgrad = false, maximize = false }
Adam.STATE_KEYS = { "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }
-- what a parameter's saved state must hold (max_exp_avg_sq starts at zeros when amsgrad is
-- turned on for a state saved without it)
Adam.REQUIRED_STATE = { "step", "exp_avg", "exp_avg_sq" }
Adam.DECOUPLED = false

function Adam._check_group(_, group, fname)
  util.number(fname, "lr", group.lr, nil, { min = 0 })
  local betas = group.betas
  if type(betas) ~= "table" or #betas ~= 2 or type(betas[1]) ~= "number" or
      type(betas[2]) ~= "number" then
    util.fail(fname, "betas", "a list of two numbers {beta1, beta2}", betas)
  end
  for i = 1, 2 do
    if not (betas[i] >= 0 and betas[i] < 1) then
      util.raise(string.format("%s: option 'betas' must hold numbers in [0, 1), got beta%d = %s",
        fname, i, tostring(betas[i])))
    end
  end
  util.number(fname, "eps", group.eps, nil, { min = 0 })
  util.number(fname, "weight_decay", group.weight_decay, nil, { min = 0 })
  util.boolean(fname, "amsgrad", group.amsgrad)
  util.boolean(fname, "maximize", group.maximize)
end

-- One C call per device updates every parameter of the group that has a grad
-- (graphids._adam_steps: on a GPU a launch for up to 48 parameters, where one call per
-- parameter launched a kernel each).
function Adam:_update(group)
  local zeros_like = graphids.zeros_like
  local amsgrad = group.amsgrad
  local cfg = { lr = group.lr, beta1 = group.betas[1], beta2 = group.betas[2], eps = group.eps,
    weight_decay = group.weight_decay, decoupled = self.DECOUPLED, amsgrad = amsgrad,
    maximize = group.maximize }
  local state = self.state
  local lists, devices = {}, {}
  for _, p in ipairs(group.params) do
    local g = self:_grad(p)
    if g ~= nil then
      local st = state[p] or { step = 0, exp_avg = zeros_like(p), exp_avg_sq = zeros_like(p) }
      if amsgrad and st.max_exp_avg_sq == nil then st.max_exp_avg_sq = zeros_like(p) end
      local l = lists[p.device]
      if l == nil then
        l = { p = {}, g = {}, m = {}, v = {}, vmax = {}, steps = {}, st = {} }
        lists[p.device] = l
        devices[#devices + 1] = p.device
      end
      local i = #l.p + 1
      l.p[i], l.g[i], l.m[i], l.v[i], l.vmax[i] = p, g, st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq
      l.steps[i], l.st[i] = st.step + 1, st
    end
  end
  for _, device in ipairs(devices) do
    local l = lists[device]
    graphids._adam_steps(l.p, l.g, l.m, l.v, amsgrad and l.vmax or nil, l.steps, cfg)
    -- only after the kernels succeeded, so that a failing step leaves the state as it was
    for i, st in ipairs(l.st) do
      st.step = l.steps[i]
      state[l.p[i]] = st
    end
  end
end

return Adam
