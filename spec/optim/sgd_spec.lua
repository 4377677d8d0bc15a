-- graphids.optim.SGD: the first steps computed by hand for each option, against torch.optim.SGD's
-- update (the loss is sum(p^2), so the grad is 2p).
local graphids = require "graphids"
local h = require "helpers"
local common = require "optim.common"
if common.skip_without_grads() then return end
local optim = require "graphids.optim"

local P0 = { 1.0, -2.0, 3.0 }

-- p0 scaled by each factor.
local function scaled(f)
  return { P0[1] * f, P0[2] * f, P0[3] * f }
end

-- Runs `steps` steps of SGD(cfg) on loss sum(p^2) from P0; returns p and the optimizer.
local function run(cfg, steps, opts)
  local p = common.param(P0, opts)
  local opt = optim.SGD({ p }, cfg)
  for _ = 1, steps do
    opt:zero_grad()
    common.quadratic({ p }, { 0 })
    opt:step()
  end
  return p, opt
end

describe("graphids.optim.SGD", function()
  it("takes lr * grad off each parameter", function()
    local p = run({ lr = 0.1 }, 1)
    h.near(p:totable(), { 0.8, -1.6, 2.4 }, 1e-15)
    assert.is_nil(next(select(2, run({ lr = 0.1 }, 1)).state)) -- no momentum, no state
  end)

  it("defaults lr to 1e-3", function()
    local p = run(nil, 1)
    h.near(p:totable(), scaled(1 - 2e-3), 1e-15)
  end)

  it("starts the momentum buffer at the grad, then dampens later grads", function()
    -- step 1: buf = g1 = 2 p0, p1 = p0 - 0.1 buf = 0.8 p0
    -- step 2: g2 = 1.6 p0, buf = 0.9 * 2 p0 + (1 - 0.5) * 1.6 p0 = 2.6 p0, p2 = p1 - 0.26 p0
    local p, opt = run({ lr = 0.1, momentum = 0.9, dampening = 0.5 }, 2)
    h.near(p:totable(), scaled(0.54), 1e-14)
    h.near(opt.state[p].momentum_buffer:totable(), scaled(2.6), 1e-14)
  end)

  it("adds weight decay to the grad and looks ahead with Nesterov momentum", function()
    -- step 1: d = 2 p0 + 0.1 p0 = 2.1 p0; buf = d; d + 0.9 buf = 3.99 p0; p1 = 0.601 p0
    -- step 2: d = 2.1 p1 = 1.2621 p0; buf = 0.9 * 2.1 p0 + d = 3.1521 p0;
    --         d + 0.9 buf = 4.09899 p0; p2 = 0.601 p0 - 0.409899 p0 = 0.191101 p0
    local p1 = run({ lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.1 }, 1)
    h.near(p1:totable(), scaled(0.601), 1e-14)
    local p2, opt = run({ lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.1 }, 2)
    h.near(p2:totable(), scaled(0.191101), 1e-14)
    h.near(opt.state[p2].momentum_buffer:totable(), scaled(3.1521), 1e-14)
  end)

  it("climbs the loss with maximize", function()
    local p = run({ lr = 0.1, maximize = true }, 1)
    h.near(p:totable(), scaled(1.2), 1e-15)
  end)

  it("updates f32 parameters in f32", function()
    local p = run({ lr = 0.1, momentum = 0.9 }, 2, h.F32)
    assert.equal("f32", p.dtype)
    -- step 2: g2 = 1.6 p0, buf = 1.8 p0 + 1.6 p0 = 3.4 p0, p2 = 0.8 p0 - 0.34 p0 = 0.46 p0
    h.near(p:totable(), scaled(0.46), 1e-6)
  end)

  it("reads each group's lr at every step (as schedulers change it)", function()
    local p = common.param(P0)
    local opt = optim.SGD({ p }, { lr = 0.1 })
    common.quadratic({ p }, { 0 })
    opt.param_groups[1].lr = 0.25
    opt:step()
    h.near(p:totable(), scaled(0.5), 1e-15)
  end)

  it("leaves the parameters and state unchanged when the update raises", function()
    local p = common.param(P0)
    local opt = optim.SGD({ p }, { lr = 0.1, momentum = 0.9 })
    common.quadratic({ p }, { 0 })
    opt.param_groups[1].lr = -1 -- set behind the optimizer's back: step refuses it
    h.errors("SGD:step: option 'lr' must be >= 0, got %-1", opt.step, opt)
    assert.same(P0, p:totable())
    assert.is_nil(opt.state[p])
    -- the kernel's own check stays behind it (a caller of graphids._sgd_step)
    opt.param_groups[1].lr = 0.1
    h.errors("sgd_step_: need lr >= 0", graphids.no_grad, graphids._sgd_step, p, p.grad, nil,
      { lr = -1, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false,
        maximize = false, first = false })
    assert.same(P0, p:totable())
    assert.same(P0, p:totable())
    assert.is_nil(opt.state[p])
  end)

  it("checks nesterov's momentum where it is given, and steps plainly once a schedule takes the " ..
    "momentum to 0 (torch)", function()
    -- torch 2.15 (the peer venv), printed with %.17g:
    --   p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    --   o = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    --   s = OneCycleLR(o, 1.0, total_steps=10, base_momentum=0.0, max_momentum=0.9)
    --   10 times: p.grad = torch.ones(2, dtype=torch.float64); o.step(); s.step(); print(p[0])
    -- step 3 runs with momentum 0: no buffer update (it stays 1.45), p - lr * grad
    local want = { -0.076000000000000068, -0.93530000000000013, -1.9353000000000002,
      -2.9308790811078524, -3.9049664941658393, -4.8184063916481685, -5.5872477855338714,
      -6.0916272575420125, -6.2667962146288483, -6.2668134250732699 }
    local p = common.param({ 0.0, 0.0 })
    local opt = optim.SGD({ p }, { lr = 0.1, momentum = 0.9, nesterov = true })
    local s = optim.lr_scheduler.OneCycleLR(opt, 1.0, { total_steps = 10, base_momentum = 0.0,
      max_momentum = 0.9 })
    local got, saved = {}, nil
    for i = 1, 10 do
      p.grad = graphids.ones(2, common.F64)
      opt:step()
      s:step()
      got[i] = p:totable()[1]
      if i == 2 then saved = opt:state_dict() end -- momentum 0 in force: it loads back
      if i == 3 then h.near(opt.state[p].momentum_buffer:totable(), { 1.45, 1.45 }, 1e-15) end
    end
    h.near(got, want, 1e-14)
    assert.equal(0, saved.param_groups[1].momentum)
    opt:load_state_dict(saved)
    -- given by the user, the rule holds: the options, a group given, a group added
    h.errors("SGD: nesterov needs momentum > 0 and dampening 0, got momentum 0 and dampening 0",
      optim.SGD, { common.param({ 1.0 }) }, { nesterov = true })
    h.errors("SGD: param group 1: nesterov needs momentum > 0", optim.SGD,
      { { params = { common.param({ 1.0 }) }, nesterov = true } }, { momentum = 0 })
    h.errors("SGD: param group 2: nesterov needs momentum > 0", opt.add_param_group, opt,
      { params = { common.param({ 1.0 }) }, momentum = 0 })
    -- a dampening set by hand with momentum in force: the formula has none
    opt.param_groups[1].momentum, opt.param_groups[1].dampening = 0.9, 0.5
    h.errors("SGD:step: nesterov needs momentum > 0 and dampening 0, got momentum 0.9 and " ..
      "dampening 0.5", opt.step, opt)
  end)
end)
