-- graphids.optim.RMSprop against torch.optim.RMSprop in f64: the parameters after 5 and 20 steps
-- for four option combinations, the state torch keeps, a resume from a state dict, and the
-- argument errors.  (The f32 MLP trajectories are in fixtures_spec.lua.)
--
-- WANT was printed by torch 2.15 (the peer venv, ~/.cache/graphids-peer) with:
--   torch.set_default_dtype(torch.float64)
--   p1 = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
--   p2 = torch.tensor([[0.5, -0.5], [1.5, 2.0]], requires_grad=True)
--   o = torch.optim.RMSprop([p1, p2], foreach=False, **cfg)
--   for k in range(1, 21):
--       o.zero_grad(); (((p1 - 0.5) ** 2).sum() + ((p2 + 1.0) ** 2).sum()).backward(); o.step()
--       # at k = 5 and 20: p1.tolist() + p2.flatten().tolist(), printed with %.17g
-- torch's kernels contract some a * b + c into one rounding (FMA) where ours round twice, so
-- the values agree to about 1e-15 here, not bit for bit; a wrong formula is off by far more.
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
  { name = "defaults (lr 0.01, alpha 0.99, eps 1e-8)", cfg = {},
    [5] = { 0.72157100005208941, -1.683411106793733, 2.683411106793733, 0.18902541598869518,
      -0.77842899994791059, 1.183411106793733, 1.6820538418746585 },
    [20] = { 0.53590145970372138, -1.2764189913793298, 2.2764189913793298, -0.18570977970022085,
      -0.96409854029627862, 0.77641899137932979, 1.2675535191946725 } },
  { name = "centered, momentum and weight decay",
    cfg = { lr = 0.01, alpha = 0.9, eps = 1e-6, weight_decay = 0.1, momentum = 0.9, centered = true },
    [5] = { 0.67742147666314223, -1.658746053050637, 2.6586635743012104, 0.16191049082196457,
      -0.81824382300709364, 1.1587885380608265, 1.6580446630123835 },
    [20] = { 0.40584719085415144, 0.22113757707811782, 0.7656735578284557, -1.251506806502152,
      -0.95664848229626986, -0.71435099748895226, -0.33347056556670857 } },
  { name = "momentum with maximize", cfg = { lr = 0.005, momentum = 0.5, maximize = true },
    [5] = { 1.2923153684785686, -2.2784828032166105, 3.2784828032166105, 0.78102515709490417,
      -0.20768463152143143, 1.7784828032166107, 2.2778310720566068 },
    [20] = { 1.8929634332339407, -2.7879067234895016, 3.7879067234895016, 1.3104122937063973,
      0.39296343323394006, 2.2879067234895016, 2.7818794064562478 } },
  -- 1 - alpha = 0.7: the mean grad's lerp runs from the far end, as torch's
  { name = "centered with alpha 0.3", cfg = { lr = 0.01, centered = true, alpha = 0.3 },
    [5] = { 0.74716977708172849, -1.597776199934704, 2.5977761999346991, 0.13291108384517561,
      -0.75283022291827151, 1.097776199934704, 1.5897247782359196 },
    [20] = { 0.50451654641510646, 0.12256989068382634, 0.87743010931617604, -0.93866076926539732,
      -0.9954834535848931, -0.62256989068382473, -0.40583921072610818 } },
}

-- torch's o.state_dict()["state"][0] after the 20 steps of the second case.
local STATE_20 = {
  square_avg = { 0.18679063484430813, 6.7332775880189892, 7.1452896862839665 },
  momentum_buffer = { -4.1685650448096512, -11.314994632668729, 11.54091734733418 },
  grad_avg = { -0.18670334094506363, -2.1287703091306276, 2.2087912098659053 },
}

local params, train, flat = common.small_params, common.train_small, common.flat_small

describe("graphids.optim.RMSprop", function()
  for _, case in ipairs(WANT) do
    it("follows torch over 20 steps: " .. case.name, function()
      local ps = params()
      local opt = optim.RMSprop(ps, case.cfg)
      train(opt, ps, 5)
      h.near(flat(ps), case[5], TOL)
      train(opt, ps, 15)
      h.near(flat(ps), case[20], TOL)
      assert.equal(20, opt.state[ps[1]].step)
    end)
  end

  it("keeps torch's state under torch's names", function()
    local ps = params()
    local opt = optim.RMSprop(ps, WANT[2].cfg)
    train(opt, ps, 20)
    local sd = opt:state_dict()
    assert.equal(20, sd.state[1].step)
    for k, want in pairs(STATE_20) do h.near(sd.state[1][k]:totable(), want, TOL, k) end
    -- without momentum or centering there is only the mean square
    local ps2 = params()
    local plain = optim.RMSprop(ps2)
    train(plain, ps2, 1)
    local keys = {}
    for k in pairs(plain:state_dict().state[1]) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "square_avg", "step" }, keys)
  end)

  it("defaults to torch's hyper-parameters", function()
    local opt = optim.RMSprop(params())
    local g = opt.param_groups[1]
    assert.same({ 0.01, 0.99, 1e-8, 0, 0, false, false },
      { g.lr, g.alpha, g.eps, g.weight_decay, g.momentum, g.centered, g.maximize })
  end)

  it("resumes from a state dict taken mid-run with the same continuation", function()
    local cfg = WANT[2].cfg
    local ps = params()
    local opt = optim.RMSprop(ps, cfg)
    train(opt, ps, 10)
    local sd, saved = opt:state_dict(), common.clones(ps)
    train(opt, ps, 10)
    local ps2 = {}
    for i, t in ipairs(saved) do ps2[i] = t:clone():requires_grad_() end
    local opt2 = optim.RMSprop(ps2, { lr = 1, alpha = 0.5 }) -- the dict's hyper-parameters win
    opt2:load_state_dict(sd)
    assert.equal(0.9, opt2.param_groups[1].alpha)
    train(opt2, ps2, 10)
    common.same(ps, ps2)
    h.near(flat(ps2), WANT[2][20], TOL)
  end)

  it("starts the momentum buffer and the mean grad at zero for a state saved without them", function()
    local ps = params()
    local opt = optim.RMSprop(ps, { lr = 0.01 })
    train(opt, ps, 3)
    local sd = opt:state_dict()
    assert.is_nil(sd.state[1].momentum_buffer)
    sd.param_groups[1].momentum, sd.param_groups[1].centered = 0.9, true
    opt:load_state_dict(sd)
    local before = ps[1]:detach():clone()
    train(opt, ps, 1)
    local st = opt.state[ps[1]]
    assert.equal(4, st.step)
    -- from zeros: grad_avg = 0.01 * g (a lerp of weight 1 - alpha), buf = g / avg, p -= lr * buf
    h.near(st.grad_avg:totable(), ((before - 0.5) * 2 * 0.01):totable(), 1e-15)
    h.near(st.momentum_buffer:totable(), ((before - ps[1]:detach()) / 0.01):totable(), 1e-9)
  end)

  it("updates f32 parameters in f32", function()
    local ps = params("f32")
    local opt = optim.RMSprop(ps, WANT[1].cfg)
    train(opt, ps, 20)
    assert.equal("f32", ps[1].dtype)
    assert.equal("f32", opt.state[ps[1]].square_avg.dtype)
    h.near(flat(ps), WANT[1][20], 1e-5)
  end)

  it("rejects unknown options with the nearest name, and bad values naming the option", function()
    local p = params()[1]
    h.errors("RMSprop: unknown option 'momentun' %(did you mean 'momentum'%?%)", optim.RMSprop, { p },
      { momentun = 0.9 })
    h.errors("RMSprop: unknown option 'centred' %(did you mean 'centered'%?%)", optim.RMSprop, { p },
      { centred = true })
    h.errors("RMSprop: unknown option 'betas' %(allowed: lr, alpha, eps, weight_decay, momentum, " ..
      "centered, maximize%)", optim.RMSprop, { p }, { betas = { 0.9, 0.99 } })
    h.errors("RMSprop: option 'lr' must be >= 0, got %-0.1", optim.RMSprop, { p }, { lr = -0.1 })
    h.errors("RMSprop: option 'momentum' must be >= 0, got %-0.5", optim.RMSprop, { p },
      { momentum = -0.5 })
    h.errors("RMSprop: option 'alpha' must be <= 1, got 1.5", optim.RMSprop, { p }, { alpha = 1.5 })
    h.errors("RMSprop: option 'eps' must be >= 0", optim.RMSprop, { p }, { eps = -1e-8 })
    h.errors("RMSprop: option 'weight_decay' must be finite, got inf", optim.RMSprop, { p },
      { weight_decay = math.huge })
    h.errors("RMSprop: option 'alpha' must be a number, got '0.9' %(a string%)", optim.RMSprop, { p },
      { alpha = "0.9" })
    h.errors("RMSprop: option 'centered' must be a boolean, got 1", optim.RMSprop, { p },
      { centered = 1 })
    h.errors("RMSprop: param group 2: option 'lr' must be >= 0, got %-1", optim.RMSprop,
      { { params = { p } }, { params = { params()[1] }, lr = -1 } })
    h.errors("RMSprop: params must be a list of tensors or of param groups.*wrap it in a list",
      optim.RMSprop, p)
  end)

  it("refuses a bad value set on a group by hand before changing anything", function()
    local ps = params()
    local opt = optim.RMSprop(ps, { momentum = 0.9 })
    train(opt, ps, 1)
    local before, buf = common.clones(ps), opt.state[ps[1]].momentum_buffer:clone()
    common.quadratic(ps, { 0.5, -1.0 })
    opt.param_groups[1].lr = -1
    h.errors("RMSprop:step: option 'lr' must be >= 0, got %-1", opt.step, opt)
    common.same(before, common.clones(ps))
    common.same({ buf }, { opt.state[ps[1]].momentum_buffer })
    assert.equal(1, opt.state[ps[1]].step)
  end)

  it("rejects a state dict that does not fit, changing nothing", function()
    local ps = params()
    local opt = optim.RMSprop(ps, { momentum = 0.9 })
    train(opt, ps, 2)
    local sd = opt:state_dict()
    sd.state[1].square_avg = nil
    h.errors("RMSprop:load_state_dict: state of " .. param_at(0) .. " misses 'square_avg' %(a state holds " ..
      "step, square_avg%)", opt.load_state_dict, opt, sd)
    sd = opt:state_dict()
    sd.state[2].momentum_buffer = graphids.zeros(3, { dtype = "f64" })
    h.errors("RMSprop:load_state_dict: state of " .. param_at(1) .. ": 'momentum_buffer' has shape %[3%], " ..
      "expected the parameter's %[2,2%]", opt.load_state_dict, opt, sd)
    sd = opt:state_dict()
    sd.state[1].exp_avg = sd.state[1].square_avg
    h.errors("RMSprop:load_state_dict: state of " .. param_at(0) .. ": unknown state key 'exp_avg'",
      opt.load_state_dict, opt, sd)
    sd = opt:state_dict()
    sd.param_groups[1].alpha = -0.5
    h.errors("RMSprop:load_state_dict: param group 1: option 'alpha' must be >= 0", opt.load_state_dict,
      opt, sd)
    assert.equal(2, opt.state[ps[1]].step)
    assert.equal(0.99, opt.param_groups[1].alpha)
  end)
end)
