-- graphids.optim.Adagrad against torch.optim.Adagrad in f64: the parameters after 5 and 20 steps
-- for three option combinations, the state torch keeps (made for every parameter by the
-- constructor), a resume from a state dict, and the argument errors.  (The f32 MLP trajectories
-- are in fixtures_spec.lua.)
--
-- WANT was printed by torch 2.15 (the peer venv, ~/.cache/graphids-peer) with:
--   torch.set_default_dtype(torch.float64)
--   p1 = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
--   p2 = torch.tensor([[0.5, -0.5], [1.5, 2.0]], requires_grad=True)
--   o = torch.optim.Adagrad([p1, p2], foreach=False, **cfg)
--   for k in range(1, 21):
--       o.zero_grad(); (((p1 - 0.5) ** 2).sum() + ((p2 + 1.0) ** 2).sum()).backward(); o.step()
--       # at k = 5 and 20: p1.tolist() + p2.flatten().tolist(), printed with %.17g
local graphids = require "graphids"
local h = require "helpers"
local common = require "optim.common"
if common.skip_without_grads() then return end
local optim = require "graphids.optim"

-- load_state_dict's name (a pattern) for the parameter at 0-based position i
local function param_at(i)
  return string.format("parameter %d %%(optimizer%%.state%%.%d, state%%[%d%%] in the state dict%%)", i, i,
    i + 1)
end

local TOL = 1e-12

local WANT = {
  { name = "defaults (lr 0.01, eps 1e-10)", cfg = {},
    [5] = { 0.96806840469957489, -1.9677590539622682, 2.9677590539622685, 0.46780990946759782,
      -0.53193159530042511, 1.4677590539622682, 1.9677463837183551 },
    [20] = { 0.92637627158972524, -1.9244973324512955, 2.9244973324512955, 0.42480162583428671,
      -0.57362372841027476, 1.4244973324512955, 1.9244218069680308 } },
  { name = "lr_decay, initial_accumulator_value and weight decay",
    cfg = { lr = 0.1, lr_decay = 0.05, initial_accumulator_value = 0.1, weight_decay = 0.1, eps = 1e-6 },
    [5] = { 0.74185854996877598, -1.7064428601421497, 2.7062998143134762, 0.21207470790242663,
      -0.74972051580962307, 1.2065166241617942, 1.7052331474162923 },
    [20] = { 0.57979309313108873, -1.4416452226372924, 2.4410873559077237, -0.036294863268117525,
      -0.88964858679289305, 0.94193294374421621, 1.4369312413032371 } },
  { name = "maximize", cfg = { lr = 0.05, maximize = true },
    [5] = { 1.1700873552289566, -2.1634310495733526, 3.1634310495733526, 0.66462044852388646,
      -0.32991264477104376, 1.6634310495733522, 2.1631284590182731 },
    [20] = { 1.4246670701701234, -2.390433490723272, 3.390433490723272, 0.8970344943156161,
      -0.075332929829876799, 1.8904334907232723, 2.388720369380418 } },
}

-- torch's o.state_dict()["state"][0]["sum"] after the 20 steps of the second case.
local SUM_20 = { 5.590884087898683, 393.82419336820328, 411.62535155246513 }

local params, train, flat = common.small_params, common.train_small, common.flat_small

describe("graphids.optim.Adagrad", function()
  for _, case in ipairs(WANT) do
    it("follows torch over 20 steps: " .. case.name, function()
      local ps = params()
      local opt = optim.Adagrad(ps, case.cfg)
      train(opt, ps, 5)
      h.near(flat(ps), case[5], TOL)
      train(opt, ps, 15)
      h.near(flat(ps), case[20], TOL)
    end)
  end

  it("keeps torch's state under torch's names: step and sum", function()
    local ps = params()
    local opt = optim.Adagrad(ps, WANT[2].cfg)
    train(opt, ps, 20)
    local sd = opt:state_dict()
    assert.equal(20, sd.state[1].step)
    h.near(sd.state[1].sum:totable(), SUM_20, TOL)
  end)

  it("makes every parameter's state in the constructor, from the optimizer's initial value", function()
    -- torch: a group's own initial_accumulator_value is kept in the group but not used; a group
    -- added later gets its state at its first step, also from the optimizer's value
    local a, b, c = params()[1], params()[2], params()[1]
    local opt = optim.Adagrad({ { params = { a } }, { params = { b }, initial_accumulator_value = 0.5 } },
      { initial_accumulator_value = 0.1 })
    opt:add_param_group({ params = { c }, initial_accumulator_value = 0.7 })
    local sd = opt:state_dict()
    assert.equal(0, sd.state[1].step)
    assert.same({ 0.1, 0.1, 0.1 }, sd.state[1].sum:totable())
    assert.same({ { 0.1, 0.1 }, { 0.1, 0.1 } }, sd.state[2].sum:totable())
    assert.is_nil(sd.state[3])
    assert.equal(0.5, sd.param_groups[2].initial_accumulator_value)
    common.give_grad(c, graphids.ones(3, { dtype = "f64" }))
    opt:step()
    -- sum = 0.1 + 1; c = c0 - 0.01 * 1 / (sqrt(1.1) + 1e-10)
    assert.same({ 1.1, 1.1, 1.1 }, opt.state[c].sum:totable())
    h.near(c:totable(), { 1 - 0.01 / (math.sqrt(1.1) + 1e-10), -2 - 0.01 / (math.sqrt(1.1) + 1e-10),
      3 - 0.01 / (math.sqrt(1.1) + 1e-10) }, 1e-15)
    -- the parameters without a grad kept their initial state
    assert.equal(0, opt.state[a].step)
  end)

  it("resumes from a state dict taken mid-run with the same continuation", function()
    local cfg = WANT[2].cfg
    local ps = params()
    local opt = optim.Adagrad(ps, cfg)
    train(opt, ps, 10)
    local sd, saved = opt:state_dict(), common.clones(ps)
    train(opt, ps, 10)
    local ps2 = {}
    for i, t in ipairs(saved) do ps2[i] = t:clone():requires_grad_() end
    local opt2 = optim.Adagrad(ps2, { lr = 1 }) -- its fresh state and options are replaced
    opt2:load_state_dict(sd)
    assert.equal(10, opt2.state[ps2[1]].step)
    train(opt2, ps2, 10)
    common.same(ps, ps2)
    h.near(flat(ps2), WANT[2][20], TOL)
  end)

  it("decays the step size with the step count: lr / (1 + (step - 1) * lr_decay)", function()
    -- a grad of 1 each step on a zero accumulator: sum = k after k steps, so step k moves the
    -- parameter by 0.5 / (1 + (k - 1) * 0.25) / (sqrt(k) + 1e-10)
    local p = graphids.zeros(1, { dtype = "f64" }):requires_grad_()
    local opt = optim.Adagrad({ p }, { lr = 0.5, lr_decay = 0.25 })
    local want = 0
    for k = 1, 4 do
      p.grad = graphids.ones(1, { dtype = "f64" })
      opt:step()
      want = want - 0.5 / (1 + (k - 1) * 0.25) / (math.sqrt(k) + 1e-10)
      h.near(p:totable(), { want }, 1e-15)
    end
  end)

  it("updates f32 parameters in f32", function()
    local ps = params("f32")
    local opt = optim.Adagrad(ps, WANT[2].cfg)
    train(opt, ps, 20)
    assert.equal("f32", ps[1].dtype)
    assert.equal("f32", opt.state[ps[1]].sum.dtype)
    h.near(flat(ps), WANT[2][20], 1e-5)
  end)

  it("rejects unknown options with the nearest name, and bad values naming the option", function()
    local p = params()[1]
    h.errors("Adagrad: unknown option 'lr_decy' %(did you mean 'lr_decay'%?%)", optim.Adagrad, { p },
      { lr_decy = 0.1 })
    -- two neighbours swapped count one edit, as everywhere in the stdlib ('esp' is one from 'eps')
    h.errors("Adagrad: unknown option 'esp' %(did you mean 'eps'%?%)", optim.Adagrad, { p }, { esp = 1e-8 })
    h.errors("Adagrad: unknown option 'initial_accumulator' %(did you mean " ..
      "'initial_accumulator_value'%?%)", optim.Adagrad, { p }, { initial_accumulator = 0.1 })
    h.errors("Adagrad: unknown option 'momentum' %(allowed: lr, lr_decay, weight_decay, " ..
      "initial_accumulator_value, eps, maximize%)", optim.Adagrad, { p }, { momentum = 0.9 })
    h.errors("Adagrad: option 'lr' must be >= 0, got %-0.1", optim.Adagrad, { p }, { lr = -0.1 })
    h.errors("Adagrad: option 'lr_decay' must be >= 0, got %-1", optim.Adagrad, { p }, { lr_decay = -1 })
    h.errors("Adagrad: option 'initial_accumulator_value' must be >= 0, got %-0.5", optim.Adagrad, { p },
      { initial_accumulator_value = -0.5 })
    h.errors("Adagrad: option 'eps' must be a number %(not NaN%), got %-?nan", optim.Adagrad, { p },
      { eps = 0 / 0 })
    h.errors("Adagrad: option 'weight_decay' must be a number, got true", optim.Adagrad, { p },
      { weight_decay = true })
    h.errors("Adagrad: option 'maximize' must be a boolean, got 'yes' %(a string%)", optim.Adagrad, { p },
      { maximize = "yes" })
    h.errors("Adagrad: param group 1: unknown param group key 'lrdecay' %(did you mean 'lr_decay'%?%)",
      optim.Adagrad, { { params = { p }, lrdecay = 0.1 } })
    h.errors("Adagrad: optimizer got an empty parameter list", optim.Adagrad, {})
  end)

  it("refuses a bad value set on a group by hand before changing anything", function()
    local ps = params()
    local opt = optim.Adagrad(ps)
    train(opt, ps, 1)
    local before, sum = common.clones(ps), opt.state[ps[1]].sum:clone()
    common.quadratic(ps, { 0.5, -1.0 })
    opt.param_groups[1].lr_decay = -0.5
    h.errors("Adagrad:step: option 'lr_decay' must be >= 0, got %-0.5", opt.step, opt)
    common.same(before, common.clones(ps))
    common.same({ sum }, { opt.state[ps[1]].sum })
    assert.equal(1, opt.state[ps[1]].step)
  end)

  it("rejects a state dict that does not fit, changing nothing", function()
    local ps = params()
    local opt = optim.Adagrad(ps)
    train(opt, ps, 2)
    local sd = opt:state_dict()
    sd.state[1].sum = nil
    h.errors("Adagrad:load_state_dict: state of " .. param_at(0) ..
      " misses 'sum' %(a state holds step, sum%)",
      opt.load_state_dict, opt, sd)
    sd = opt:state_dict()
    sd.state[2].sum = graphids.zeros(4, { dtype = "f64" })
    h.errors("Adagrad:load_state_dict: state of " .. param_at(1) .. ": 'sum' has shape %[4%], " ..
      "expected the parameter's %[2,2%]", opt.load_state_dict, opt, sd)
    sd = opt:state_dict()
    sd.state[1].step = 1.5
    h.errors("Adagrad:load_state_dict: state of " .. param_at(0) ..
      ": option 'step' must be an integer, got 1.5",
      opt.load_state_dict, opt, sd)
    assert.equal(2, opt.state[ps[1]].step)
  end)
end)
