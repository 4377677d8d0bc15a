-- graphids.optim.lr_scheduler: each scheduler's lr over 10+ steps against torch's closed forms
-- (tables computed by hand from the formulas in the comments; torch steps by its recursive
-- forms, so they agree to rounding), last_epoch semantics, and state dicts.
local h = require "helpers"
local common = require "optim.common"
if common.skip_without_grads() then return end
local optim = require "graphids.optim"
local sched = optim.lr_scheduler

local TOL = 1e-12

local function sgd(lr, lr2)
  local groups = { { params = { common.param({ 1.0 }) } } }
  if lr2 then groups[2] = { params = { common.param({ 1.0 }) }, lr = lr2 } end
  return optim.SGD(groups, { lr = lr })
end

-- The lr of group `g` after construction (epoch 0) and after each of `steps` steps.
local function lrs(s, steps, g)
  local out = { s:get_last_lr()[g or 1] }
  for _ = 1, steps do
    s:step()
    out[#out + 1] = s:get_last_lr()[g or 1]
  end
  return out
end

describe("graphids.optim.lr_scheduler", function()
  it("StepLR: lr0 * gamma ^ (epoch // step_size)", function()
    local opt = sgd(0.1, 1.0)
    local s = sched.StepLR(opt, 3, { gamma = 0.5 })
    local got1 = lrs(s, 12)
    h.near(got1, { 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125,
      0.00625 }, TOL)
    h.near(s:get_last_lr(), { 0.00625, 0.0625 }, TOL)
    assert.equal(0.00625, opt.param_groups[1].lr)
    assert.equal(12, s.last_epoch)
    -- every argument by name gives the same
    local s2 = sched.StepLR(sgd(0.1), { step_size = 3, gamma = 0.5 })
    h.near(lrs(s2, 12), got1, 0)
  end)

  it("MultiStepLR: lr0 * gamma ^ (milestones <= epoch), a repeated milestone counting twice",
    function()
      local s = sched.MultiStepLR(sgd(0.1), { 9, 2, 5, 5 }, { gamma = 0.1 })
      h.near(lrs(s, 12), { 0.1, 0.1, 0.01, 0.01, 0.01, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5, 1e-5, 1e-5,
        1e-5 }, TOL)
    end)

  it("ExponentialLR: lr0 * gamma ^ epoch", function()
    local s = sched.ExponentialLR(sgd(0.1), 0.9)
    h.near(lrs(s, 12), { 0.1, 0.09, 0.081, 0.0729, 0.06561, 0.059049, 0.0531441, 0.04782969,
      0.043046721, 0.0387420489, 0.03486784401, 0.031381059609, 0.0282429536481 }, TOL)
  end)

  it("CosineAnnealingLR: eta_min + (lr0 - eta_min)(1 + cos(pi epoch / T_max)) / 2, rising past T_max",
    function()
      local s = sched.CosineAnnealingLR(sgd(0.1), 10, { eta_min = 0.001 })
      h.near(lrs(s, 15), { 0.1, 0.0975772975566101, 0.0905463412215599, 0.0795953699884774,
        0.0657963412215599, 0.0505, 0.0352036587784401, 0.0214046300115226, 0.0104536587784401,
        0.0034227024433899, 0.001, 0.0034227024433899, 0.0104536587784401, 0.0214046300115226,
        0.0352036587784401, 0.0505 }, TOL)
    end)

  it("LinearLR: lr0 * (start + (end - start) min(epoch, total_iters) / total_iters)", function()
    local s = sched.LinearLR(sgd(0.1), { start_factor = 0.25, total_iters = 4 })
    h.near(lrs(s, 10), { 0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1 }, TOL)
    -- torch's defaults: start 1/3, end 1, 5 iterations
    h.near(lrs(sched.LinearLR(sgd(0.3)), 6), { 0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3 }, TOL)
    -- decaying: end_factor below start_factor
    h.near(lrs(sched.LinearLR(sgd(1.0), { start_factor = 1, end_factor = 0.5, total_iters = 2 }), 3),
      { 1, 0.75, 0.5, 0.5 }, TOL)
  end)

  it("SequentialLR: a linear warm-up, then cosine annealing from the full lr", function()
    local opt = sgd(0.1)
    local warm = sched.LinearLR(opt, { start_factor = 0.1, total_iters = 3 })
    local cos = sched.CosineAnnealingLR(opt, 8)
    local s = sched.SequentialLR(opt, { warm, cos }, { 3 })
    -- epochs 0..2: 0.1 (0.1 + 0.9 e / 3); from epoch 3: 0.1 (1 + cos(pi (e - 3) / 8)) / 2
    h.near(lrs(s, 13), { 0.01, 0.04, 0.07, 0.1, 0.0961939766255643, 0.0853553390593274,
      0.0691341716182545, 0.05, 0.0308658283817455, 0.0146446609406726, 0.00380602337443566, 0,
      0.00380602337443566, 0.0146446609406726 }, TOL)
  end)

  it("ReduceLROnPlateau (min, rel): cuts the lr after patience bad steps, then cools down",
    function()
      local opt = sgd(0.1)
      local s = sched.ReduceLROnPlateau(opt, { factor = 0.5, patience = 1, threshold = 0.1,
        cooldown = 1, min_lr = 0.02 })
      -- an improvement must beat best * 0.9; bad steps in cooldown do not count; the lr stops at
      -- min_lr (the last cut, 0.02 -> 0.02, is no change)
      local metrics = { 1.0, 0.95, 0.92, 0.91, 0.93, 0.94, 0.5, 0.46, 0.47, 0.48, 0.49, 0.5 }
      local want = { 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02 }
      local got = {}
      for i, m in ipairs(metrics) do
        s:step(m)
        got[i] = s:get_last_lr()[1]
      end
      h.near(got, want, TOL)
      assert.equal(0.5, s.best)
      assert.equal(12, s.last_epoch)
    end)

  it("SequentialLR: a milestone of 0 starts the second scheduler at once (torch)", function()
    local opt = sgd(0.1)
    local e = sched.ExponentialLR(opt, 0.8)
    local lin = sched.LinearLR(opt, { start_factor = 0.5, total_iters = 3 })
    local s = sched.SequentialLR(opt, { e, lin }, { 0 })
    h.near(lrs(s, 4), { 0.05, 0.1 * (0.5 + 0.5 / 3), 0.1 * (0.5 + 1 / 3), 0.1, 0.1 }, TOL)
  end)

  it("ReduceLROnPlateau floors a param group added later with a single min_lr, and refuses a " ..
    "list that names no floor for it", function()
    local opt = sgd(0.05)
    local s = sched.ReduceLROnPlateau(opt, { patience = 0, factor = 0.1, min_lr = 0.01 })
    s:step(1.0)
    s:step(1.0)
    opt:add_param_group({ params = { common.param({ 2.0 }) }, lr = 0.05 })
    s:step(1.0)
    s:step(1.0)
    h.near(s:get_last_lr(), { 0.01, 0.01 }, TOL)
    local opt2 = sgd(0.05)
    local s2 = sched.ReduceLROnPlateau(opt2, { patience = 0, min_lr = { 0.01 } })
    s2:step(1.0)
    opt2:add_param_group({ params = { common.param({ 2.0 }) }, lr = 0.05 })
    h.errors("ReduceLROnPlateau: min_lr lists 1 values but the optimizer now has 2 param groups",
      s2.step, s2, 1.0)
  end)

  it("ReduceLROnPlateau refuses a negative min_lr, which its state dict could not load", function()
    h.errors("ReduceLROnPlateau: option 'min_lr' must be >= 0, got %-1",
      sched.ReduceLROnPlateau, sgd(0.05), { min_lr = -1 })
    h.errors("ReduceLROnPlateau: option 'min_lr' must be >= 0, got %-0.5",
      sched.ReduceLROnPlateau, sgd(0.05), { min_lr = { -0.5 } })
  end)

  it("ReduceLROnPlateau (max, abs) takes one-element tensors as metrics", function()
    local opt = sgd(0.1)
    local s = sched.ReduceLROnPlateau(opt, { mode = "max", threshold_mode = "abs", threshold = 0.5,
      patience = 0 })
    local got = {}
    for i, m in ipairs({ 1.0, 1.4, 2.0, 2.6, 2.6 }) do
      s:step(common.param({ m }):detach())
      got[i] = opt.param_groups[1].lr
    end
    h.near(got, { 0.1, 0.01, 0.01, 0.01, 0.001 }, TOL)
  end)

  it("records initial_lr and needs it to resume from a given last_epoch", function()
    local opt = sgd(0.1)
    h.errors("StepLR: param group 1 has no 'initial_lr', which resuming with last_epoch=4 needs",
      sched.StepLR, opt, 2, { last_epoch = 4 })
    sched.StepLR(opt, 2)
    assert.equal(0.1, opt.param_groups[1].initial_lr)
    -- resuming at epoch 4 steps to epoch 5 from the lr in force (5 % 2 ~= 0: unchanged)
    opt.param_groups[1].lr = 0.025
    local s = sched.StepLR(opt, 2, { gamma = 0.5, last_epoch = 4 })
    assert.equal(5, s.last_epoch)
    h.near(lrs(s, 3), { 0.025, 0.0125, 0.0125, 0.00625 }, TOL)
  end)

  it("jumps to an epoch with step(epoch), by the closed form", function()
    local s = sched.ExponentialLR(sgd(0.1), 0.9)
    s:step(3)
    h.near(s:get_last_lr(), { 0.1 * 0.9 ^ 3 }, TOL)
    local c = sched.CosineAnnealingLR(sgd(0.1), 10)
    c:step(5)
    h.near(c:get_last_lr(), { 0.05 }, TOL)
  end)

  it("resumes from state dicts with the same lrs and parameters, bit for bit", function()
    local function setup()
      local p = common.param({ 1.0, -2.0 })
      local opt = optim.AdamW({ p }, { lr = 0.1 })
      local warm = sched.LinearLR(opt, { start_factor = 0.2, total_iters = 3 })
      local cos = sched.CosineAnnealingLR(opt, 10, { eta_min = 0.01 })
      return p, opt, sched.SequentialLR(opt, { warm, cos }, { 3 })
    end
    local function train(p, opt, s, steps, out)
      for _ = 1, steps do
        opt:zero_grad()
        common.quadratic({ p }, { 0 })
        opt:step()
        s:step()
        out[#out + 1] = s:get_last_lr()[1]
      end
    end
    local p, opt, s = setup()
    local lr1, lr2 = {}, {}
    train(p, opt, s, 4, lr1)
    local osd, ssd, saved = opt:state_dict(), s:state_dict(), p:detach():clone()
    train(p, opt, s, 8, lr1)
    local p2, opt2, s2 = setup()
    p2:detach():copy_(saved)
    opt2:load_state_dict(osd)
    s2:load_state_dict(ssd)
    train(p2, opt2, s2, 8, lr2)
    assert.same({ table.unpack(lr1, 5) }, lr2)
    common.same({ p }, { p2 })
  end)

  it("saves and restores each scheduler's state", function()
    for _, make in ipairs({
      function(o) return sched.StepLR(o, 2) end,
      function(o) return sched.MultiStepLR(o, { 2, 4 }) end,
      function(o) return sched.ExponentialLR(o, 0.5) end,
      function(o) return sched.CosineAnnealingLR(o, 5) end,
      function(o) return sched.LinearLR(o) end,
    }) do
      local opt = sgd(0.1)
      local s = make(opt)
      lrs(s, 3)
      local osd, ssd = opt:state_dict(), s:state_dict()
      local want = lrs(s, 4)
      local opt2 = sgd(0.1)
      local s2 = make(opt2)
      opt2:load_state_dict(osd)
      s2:load_state_dict(ssd)
      assert.same(want, lrs(s2, 4))
    end
    local p = sched.ReduceLROnPlateau(sgd(0.1), { patience = 0 })
    p:step(1.0)
    p:step(2.0)
    local sd = p:state_dict()
    assert.same({ 1.0, 2, 0 }, { sd.best, sd.last_epoch, sd.num_bad_epochs })
    h.near(sd._last_lr, { 0.01 }, TOL)
    local p2 = sched.ReduceLROnPlateau(sgd(0.1))
    p2:load_state_dict(sd)
    assert.equal(0, p2.patience)
    assert.equal(1.0, p2.best)
  end)

  it("rejects bad arguments with clear messages", function()
    local opt = sgd(0.1)
    h.errors("StepLR: missing argument 'step_size'", sched.StepLR, opt)
    h.errors("StepLR: unknown option 'gama' %(did you mean 'gamma'%?%)", sched.StepLR, opt, 3,
      { gama = 0.5 })
    h.errors("StepLR: 'step_size' given both as an argument and as an option", sched.StepLR, opt,
      3, { step_size = 4 })
    h.errors("StepLR: option 'step_size' must be an integer >= 1, got 0", sched.StepLR, opt, 0)
    h.errors("StepLR: expected an optimizer %(graphids.optim.%*%), got a table", sched.StepLR, {}, 3)
    h.errors("CosineAnnealingLR: option 'T_max' must be an integer, got 2.5",
      sched.CosineAnnealingLR, opt, 2.5)
    h.errors("LinearLR: option 'start_factor' must be > 0, got 0", sched.LinearLR, opt,
      { start_factor = 0 })
    h.errors("ReduceLROnPlateau: option 'mode' must be one of 'min', 'max', got 'mean'",
      sched.ReduceLROnPlateau, opt, { mode = "mean" })
    h.errors("ReduceLROnPlateau: option 'factor' must be < 1, got 1", sched.ReduceLROnPlateau, opt,
      { factor = 1 })
    h.errors("ReduceLROnPlateau: expected 1 min_lrs %(one per param group%), got 2",
      sched.ReduceLROnPlateau, opt, { min_lr = { 0, 0 } })
    local a, b = sched.StepLR(opt, 2), sched.StepLR(opt, 3)
    h.errors("SequentialLR: expects one milestone fewer than schedulers: 2 schedulers, 2 milestones",
      sched.SequentialLR, opt, { a, b }, { 1, 2 })
    h.errors("SequentialLR: schedulers%[2%] drives another optimizer", sched.SequentialLR, opt,
      { a, sched.StepLR(sgd(0.1), 2) }, { 2 })
    h.errors("StepLR:load_state_dict: unknown key 'T_max'", a.load_state_dict, a,
      sched.CosineAnnealingLR(sgd(0.1), 3):state_dict())
  end)

  it("takes a trailing nil as no options table, as the optimizers do", function()
    local opt = sgd(0.1)
    h.near(lrs(sched.StepLR(opt, 2, nil), 2), { 0.1, 0.1, 0.01 }, TOL)
    assert.equal(10, sched.ReduceLROnPlateau(sgd(0.1), nil).patience)
    assert.equal(10, sched.ReduceLROnPlateau(sgd(0.1), nil, nil).patience)
    assert.equal(3, sched.CosineAnnealingLR(sgd(0.1), 3, nil).T_max)
    h.errors("StepLR: missing argument 'step_size'", sched.StepLR, sgd(0.1), nil)
    h.errors("StepLR: too many positional arguments", sched.StepLR, sgd(0.1), 2, nil, {})
  end)

  it("refuses a state dict value of the wrong type or range before installing anything", function()
    local makers = {
      function(o) return sched.StepLR(o, 2) end,
      function(o) return sched.MultiStepLR(o, { 2, 4 }) end,
      function(o) return sched.ExponentialLR(o, 0.5) end,
      function(o) return sched.CosineAnnealingLR(o, 5) end,
      function(o) return sched.LinearLR(o) end,
      function(o) return sched.ReduceLROnPlateau(o, { patience = 1 }) end,
    }
    for _, make in ipairs(makers) do
      local good = make(sgd(0.1)):state_dict()
      -- every key: a string where its value belongs is named (a damaged checkpoint)
      for k in pairs(good) do
        local s = make(sgd(0.1))
        local before = s:state_dict()
        local bad = s:state_dict()
        bad[k] = "x"
        h.errors(s.__name .. ":load_state_dict: .*'" .. k .. "'", s.load_state_dict, s, bad)
        assert.same(before, s:state_dict(), k)
      end
    end
    local s = sched.CosineAnnealingLR(sgd(0.1), 5)
    for k, v in pairs({ T_max = -3, last_epoch = 1.5, _step_count = -7, base_lrs = { 0 / 0 } }) do
      local bad = s:state_dict()
      bad[k] = v
      h.errors("CosineAnnealingLR:load_state_dict: the state dict's '" .. k .. "' must be", s.load_state_dict,
        s, bad)
    end
    local o = sgd(0.1)
    local q = sched.SequentialLR(o, { sched.LinearLR(o), sched.StepLR(o, 2) }, { 2 })
    local bad = q:state_dict()
    bad._milestones = { "2" }
    h.errors("SequentialLR:load_state_dict: the state dict's '_milestones' must be a list of integers",
      q.load_state_dict, q, bad)
  end)
end)
