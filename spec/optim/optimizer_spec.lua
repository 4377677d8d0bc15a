-- The Optimizer base (through SGD, Adam and AdamW): parameter groups, zero_grad, skipped
-- parameters, argument errors, and state dicts that resume training bit-identically.
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

local param, quadratic = common.param, common.quadratic

-- A few f32 parameters of different shapes and their quadratic targets.
local function model(seed)
  graphids.manual_seed(seed or 7)
  local params = { graphids.randn(4, 3):requires_grad_(), graphids.randn(3):requires_grad_(),
    graphids.randn(2, 2, 2):requires_grad_() }
  local targets = { graphids.randn(4, 3), graphids.randn(3), graphids.randn(2, 2, 2) }
  return params, targets
end

local function train(opt, params, targets, steps)
  for _ = 1, steps do
    opt:zero_grad()
    quadratic(params, targets)
    opt:step()
  end
end

describe("graphids.optim.Optimizer", function()
  it("is graphids.optim, loaded on first use", function()
    if graphids.optim == nil then
      require("skip").skip("graphids.optim: stdlib/graphids/init.lua does not load it yet " ..
        "(require \"graphids.optim\" works)")
      return
    end
    assert.equal(optim, graphids.optim)
  end)

  it("makes one group with the defaults from a list of parameters", function()
    local p, q = param({ 1.0 }), param({ 2.0 })
    local opt = optim.AdamW({ p, q }, { lr = 1e-2 })
    assert.equal(1, #opt.param_groups)
    local g = opt.param_groups[1]
    assert.equal(2, #g.params)
    assert.is_true(rawequal(g.params[1], p) and rawequal(g.params[2], q))
    assert.same({ 1e-2, { 0.9, 0.999 }, 1e-8, 1e-2, false, false },
      { g.lr, g.betas, g.eps, g.weight_decay, g.amsgrad, g.maximize })
  end)

  it("lets param groups override the defaults, each group stepping with its own lr", function()
    local a, b = param({ 1.0, 2.0 }), param({ 3.0 })
    local opt = optim.SGD({ { params = { a }, lr = 0.5 }, { params = { b } } }, { lr = 0.1 })
    assert.equal(0.5, opt.param_groups[1].lr)
    assert.equal(0.1, opt.param_groups[2].lr)
    quadratic({ a, b }, { 0, 0 }) -- grads 2a, 2b
    opt:step()
    h.near(a:totable(), { 1 - 0.5 * 2, 2 - 0.5 * 4 }, 1e-15)
    h.near(b:totable(), { 3 - 0.1 * 6 }, 1e-15)
  end)

  it("adds a param group with add_param_group, filling the defaults", function()
    local a, b = param({ 1.0 }), param({ 1.0 })
    local opt = optim.Adam({ a }, { lr = 0.01, betas = { 0.8, 0.9 } })
    local g = opt:add_param_group({ params = { b }, eps = 1e-6 })
    assert.equal(2, #opt.param_groups)
    assert.is_true(rawequal(opt.param_groups[2], g))
    assert.same({ 0.01, { 0.8, 0.9 }, 1e-6 }, { g.lr, g.betas, g.eps })
    -- the defaults' betas table is not shared with the group
    g.betas[1] = 0.5
    assert.equal(0.8, opt.defaults.betas[1])
    h.errors("Adam: param group 3: parameter 1 appears more than once", opt.add_param_group, opt,
      { params = { a } })
    h.errors("Adam: param group 3: option 'lr' must be >= 0, got %-1", opt.add_param_group, opt,
      { params = { param({ 1.0 }) }, lr = -1 })
  end)

  it("zero_grad sets grads to nil, or to zeros with set_to_none=false", function()
    local a, b = param({ 1.0, 2.0 }), param({ 3.0 })
    local opt = optim.SGD({ a, b }, { lr = 0.1 })
    quadratic({ a, b }, { 0, 0 })
    opt:zero_grad({ set_to_none = false })
    assert.same({ 0, 0 }, a.grad:totable())
    assert.same({ 0 }, b.grad:totable())
    opt:zero_grad()
    assert.is_nil(a.grad)
    assert.is_nil(b.grad)
    h.errors("SGD:zero_grad: unknown option 'set_to_nil' %(did you mean 'set_to_none'%?%)",
      opt.zero_grad, opt, { set_to_nil = true })
  end)

  it("zero_grad with set_to_none=false detaches a grad assigned by hand that requires grad", function()
    local a = param({ 1.0, 2.0 })
    local w = graphids.ones(2, { dtype = "f64", requires_grad = true })
    a.grad = w * 3
    local opt = optim.SGD({ a }, { lr = 0.1 })
    opt:zero_grad({ set_to_none = false })
    assert.same({ 0, 0 }, a.grad:totable())
    assert.is_false(a.grad.requires_grad)
  end)

  it("skips parameters without a grad and keeps no state for them", function()
    local a, b = param({ 1.0 }), param({ 5.0 })
    local opt = optim.Adam({ a, b }, { lr = 0.1 })
    quadratic({ a }, { 0 })
    opt:step()
    assert.same({ 5.0 }, b:totable())
    assert.is_nil(opt.state[b])
    assert.equal(1, opt.state[a].step)
    local sd = opt:state_dict()
    assert.is_not_nil(sd.state[1])
    assert.is_nil(sd.state[2])
  end)

  it("step(closure) evaluates the closure with grad enabled and returns its loss", function()
    local a = param({ 2.0 })
    local opt = optim.SGD({ a }, { lr = 0.25 })
    local calls = 0
    local loss = opt:step(function()
      calls = calls + 1
      opt:zero_grad()
      quadratic({ a }, { 0 })
      return 4.0
    end)
    assert.equal(1, calls)
    assert.equal(4.0, loss)
    h.near(a:totable(), { 2 - 0.25 * 4 }, 1e-15)
    h.errors("SGD:step: closure must be a function, got 3", opt.step, opt, 3)
  end)

  it("rejects a parameter that does not require grad", function()
    h.errors("AdamW: parameter 2 does not require grad; create it with {requires_grad=true}",
      optim.AdamW, { param({ 1.0 }), graphids.zeros(2) })
    h.errors("SGD: param group 2: parameter 1 does not require grad",
      optim.SGD, { { params = { param({ 1.0 }) } }, { params = { graphids.zeros(1) } } })
  end)

  it("rejects a non-leaf parameter", function()
    local x = param({ 1.0, 2.0 })
    local y = x * 2
    if y.is_leaf then
      require("skip").skip("non-leaf parameter check: ops do not record a graph yet (x * 2 is a " ..
        "leaf)")
      return
    end
    h.errors("AdamW: parameter 1 is not a leaf tensor", optim.AdamW, { y })
  end)

  it("rejects unknown options with the nearest name, and bad values naming the option", function()
    local p = param({ 1.0 })
    h.errors("AdamW: unknown option 'lrr' %(did you mean 'lr'%?%)", optim.AdamW, { p }, { lrr = 1 })
    h.errors("AdamW: unknown option 'weight_dacay' %(did you mean 'weight_decay'%?%)", optim.AdamW,
      { p }, { weight_dacay = 1 })
    h.errors("SGD: unknown option 'foreach' %(allowed: lr, momentum, dampening, weight_decay, " ..
      "nesterov, maximize%)", optim.SGD, { p }, { foreach = true })
    h.errors("SGD: param group 1: unknown param group key 'moment' %(did you mean 'momentum'%?%)",
      optim.SGD, { { params = { p }, moment = 0.9 } })
    h.errors("AdamW: option 'lr' must be >= 0, got %-0.1", optim.AdamW, { p }, { lr = -0.1 })
    h.errors("SGD: params is a module; pass its parameters: SGD%(module:parameters%(%), ...%)", optim.SGD,
      require("graphids.nn").Linear(2, 2), { lr = 0.1 })
    -- an infinite rate or decay turns the weights to inf in one step
    h.errors("Adam: option 'lr' must be finite, got inf", optim.Adam, { p }, { lr = math.huge })
    h.errors("SGD: option 'weight_decay' must be finite, got inf", optim.SGD, { p },
      { lr = 0.1, weight_decay = math.huge })
    h.errors("SGD: param group 1: option 'lr' must be >= 0, got %-1", optim.SGD,
      { { params = { p }, lr = -1 } })
    h.errors("Adam: option 'lr' must be a number, got '0.1' %(a string%)", optim.Adam, { p },
      { lr = "0.1" })
    h.errors("Adam: option 'betas' must hold numbers in %[0, 1%), got beta2 = 1", optim.Adam,
      { p }, { betas = { 0.9, 1 } })
    h.errors("Adam: option 'eps' must be >= 0", optim.Adam, { p }, { eps = -1 })
    h.errors("SGD: option 'momentum' must be >= 0", optim.SGD, { p }, { momentum = -0.5 })
    h.errors("SGD: nesterov needs momentum > 0 and dampening 0", optim.SGD, { p },
      { nesterov = true, momentum = 0.9, dampening = 0.1 })
  end)

  it("every optimizer checks values set on its groups by hand at step, before any change", function()
    for _, name in ipairs({ "SGD", "Adam", "AdamW", "RMSprop", "Adagrad" }) do
      local p, q = param({ 1.0, 2.0 }), param({ 3.0 })
      local opt = optim[name]({ { params = { p } }, { params = { q } } }, { lr = 0.1 })
      p.grad, q.grad = graphids.ones(2, { dtype = p.dtype }), graphids.ones(1, { dtype = q.dtype })
      opt.param_groups[2].lr = -1
      -- the message names the option and the group, and points at this line, not the optimizer
      local ok, err = pcall(function() opt:step() end)
      assert.is_false(ok)
      assert.matches("^spec/optim/optimizer_spec%.lua:%d+: " .. name ..
        ":step: param group 2: option 'lr' must be >= 0, got %-1$", err)
      common.same({ param({ 1.0, 2.0 }), param({ 3.0 }) }, { p, q })
      opt.param_groups[2].lr = 0.1
      opt.param_groups[1].lr = "0.1"
      h.errors(name .. ":step: param group 1: option 'lr' must be a number", function() opt:step() end)
      common.same({ param({ 1.0, 2.0 }) }, { p })
    end
  end)

  it("rejects a single tensor, an empty list, a non-tensor and a repeated parameter", function()
    local p = param({ 1.0 })
    h.errors("SGD: params must be a list of tensors or of param groups.*wrap it in a list: {t}",
      optim.SGD, p)
    h.errors("SGD: optimizer got an empty parameter list", optim.SGD, {})
    h.errors("SGD: parameter 2 is 3, expected a tensor", optim.SGD, { p, 3 })
    h.errors("SGD: parameter 2 appears more than once", optim.SGD, { p, p })
    h.errors("SGD: param group 2: parameter 1 appears more than once", optim.SGD,
      { { params = { p } }, { params = { p } } })
    h.errors("SGD: params must be a list of tensors or of param groups, got nil", optim.SGD, nil)
    -- a transposed leaf would only fail at its first step, inside the fused update
    local t = require("graphids").randn({ 4, 3 }):t():requires_grad_()
    h.errors("Adam: parameter 1 %(shape %[3,4%]%) is not contiguous", optim.Adam, { t })
  end)

  it("keys state dicts by parameter position across groups, with each group's options", function()
    local a, b, c = param({ 1.0 }), param({ 2.0, 3.0 }), param({ 4.0 })
    local opt = optim.SGD({ { params = { a, b }, lr = 0.1 }, { params = { c }, lr = 0.2 } },
      { momentum = 0.9 })
    quadratic({ a, b, c }, { 0, 0, 0 })
    opt:step()
    local sd = opt:state_dict()
    assert.same({ 1, 2 }, sd.param_groups[1].params)
    assert.same({ 3 }, sd.param_groups[2].params)
    assert.equal(0.1, sd.param_groups[1].lr)
    assert.equal(0.2, sd.param_groups[2].lr)
    assert.equal(0.9, sd.param_groups[2].momentum)
    -- the first momentum buffer is the grad: 2 * the parameter before the step
    assert.same({ 4.0, 6.0 }, sd.state[2].momentum_buffer:totable())
    assert.same({ 8.0 }, sd.state[3].momentum_buffer:totable())
  end)

  for _, case in ipairs({
    { "AdamW with amsgrad", optim.AdamW, { lr = 0.05, amsgrad = true } },
    { "Adam with weight decay", optim.Adam, { lr = 0.05, weight_decay = 0.1, betas = { 0.8, 0.99 } } },
    { "SGD with Nesterov momentum", optim.SGD, { lr = 0.05, momentum = 0.9, nesterov = true,
      weight_decay = 0.01 } },
    { "SGD with dampened momentum", optim.SGD, { lr = 0.05, momentum = 0.5, dampening = 0.3 } },
  }) do
    local name, Opt, cfg = case[1], case[2], case[3]
    it("resumes " .. name .. " bit-identically from a state dict", function()
      -- straight through: 5 steps, save, 5 more
      local params, targets = model()
      local opt = Opt(params, cfg)
      train(opt, params, targets, 5)
      local sd = opt:state_dict()
      local saved = common.clones(params)
      local sd_copy = {}
      for pos, st in pairs(sd.state) do
        sd_copy[pos] = {}
        for k, v in pairs(st) do sd_copy[pos][k] = graphids.is_tensor(v) and v:clone() or v end
      end
      train(opt, params, targets, 5)
      local straight = common.clones(params)
      -- the saved dict is a snapshot: the 5 later steps did not change it
      for pos, st in pairs(sd.state) do
        for k, v in pairs(st) do
          if graphids.is_tensor(v) then common.same({ v }, { sd_copy[pos][k] }) else
            assert.equal(sd_copy[pos][k], v)
          end
        end
      end
      -- resumed: fresh parameters holding the saved values, a fresh optimizer, the dict
      local params2 = {}
      for i, t in ipairs(saved) do params2[i] = t:clone():requires_grad_() end -- saved: detached
      local opt2 = Opt(params2, { lr = 1 }) -- hyper-parameters come from the dict
      opt2:load_state_dict(sd)
      train(opt2, params2, targets, 5)
      common.same(straight, params2)
      -- and the two optimizers' states agree too
      local s1, s2 = opt:state_dict(), opt2:state_dict()
      for pos = 1, #params do
        for _, k in ipairs(Opt.STATE_KEYS) do
          local v1, v2 = s1.state[pos][k], s2.state[pos][k]
          if graphids.is_tensor(v1) then common.same({ v1 }, { v2 }) else assert.equal(v1, v2) end
        end
      end
      assert.same(s1.param_groups, s2.param_groups)
    end)
  end

  it("converts loaded state to the parameter's dtype", function()
    local a = param({ 1.0, 2.0 }, h.F64)
    local opt = optim.Adam({ a })
    opt:load_state_dict({
      state = { [1] = { step = 3, exp_avg = graphids.tensor({ 0.5, 0.25 }),
        exp_avg_sq = graphids.tensor({ 1.0, 2.0 }) } },
      param_groups = { { params = { 1 }, lr = 0.01, betas = { 0.9, 0.999 }, eps = 1e-8,
        weight_decay = 0, amsgrad = false, maximize = false } } })
    assert.equal("f64", opt.state[a].exp_avg.dtype)
    assert.same({ 0.5, 0.25 }, opt.state[a].exp_avg:totable())
    assert.equal(3, opt.state[a].step)
    assert.equal(0.01, opt.param_groups[1].lr)
  end)

  it("rejects a state dict that does not fit, changing nothing", function()
    local a, b = param({ 1.0, 2.0 }), param({ 3.0 })
    local opt = optim.Adam({ a, b }, { lr = 0.1 })
    quadratic({ a, b }, { 0, 0 })
    opt:step()
    local sd = opt:state_dict()
    local other = optim.Adam({ param({ 1.0, 2.0 }) })
    h.errors("Adam:load_state_dict: param group 1 has 2 parameters in the state dict, 1 in this " ..
      "optimizer", other.load_state_dict, other, sd)
    local two = optim.Adam({ { params = { param({ 1.0, 2.0 }) } }, { params = { param({ 3.0 }) } } })
    h.errors("Adam:load_state_dict: the state dict has 1 param groups, this optimizer has 2",
      two.load_state_dict, two, sd)
    local swapped = optim.Adam({ param({ 3.0 }), param({ 1.0, 2.0 }) }, { lr = 0.5 })
    h.errors("Adam:load_state_dict: state of " .. param_at(0) .. ": 'exp_avg' has shape %[2%], expected " ..
      "the parameter's %[1%]", swapped.load_state_dict, swapped, sd)
    assert.equal(0.5, swapped.param_groups[1].lr)
    assert.is_nil(next(swapped.state))
    -- a step count near 2^63 (a damaged checkpoint) overflowed at the next step, naming neither
    local saved_step = sd.state[1].step
    sd.state[1].step = math.maxinteger
    h.errors("Adam:load_state_dict: state of " .. param_at(0) .. ": option 'step' must be an integer <= " ..
      "9007199254740992, got 9223372036854775807", opt.load_state_dict, opt, sd)
    sd.state[1].step = saved_step
    local sgd = optim.SGD({ param({ 1.0, 2.0 }), param({ 3.0 }) })
    h.errors("SGD:load_state_dict: param group 1: unknown param group key 'amsgrad'",
      sgd.load_state_dict, sgd, sd)
    sd.param_groups[1].lr = -1
    h.errors("Adam:load_state_dict: param group 1: option 'lr' must be >= 0", opt.load_state_dict,
      opt, sd)
    h.errors("Adam:load_state_dict: unknown key 'groups'", opt.load_state_dict, opt,
      { groups = {}, state = {} })
    -- a parameter's state without what Adam's step reads is refused here, not at that step
    sd.param_groups[1].lr = 0.1
    local kept = opt.state[a].exp_avg:clone()
    for _, k in ipairs({ "exp_avg", "exp_avg_sq", "step" }) do
      local partial = opt:state_dict()
      partial.state[1][k] = nil
      h.errors("Adam:load_state_dict: state of " .. param_at(0) .. " misses '" .. k .. "' %(a state holds " ..
        "step, exp_avg, exp_avg_sq%)", opt.load_state_dict, opt, partial)
    end
    assert.is_true(graphids.equal(kept, opt.state[a].exp_avg))
    -- every message names a parameter by the position its checkpoint tensors carry
    local extra = opt:state_dict()
    extra.state[3] = extra.state[1]
    h.errors("Adam:load_state_dict: the state dict has state for " .. param_at(2) ..
      ", which no group lists", opt.load_state_dict, opt, extra)
    extra.state[3], extra.state[2] = nil, 5
    h.errors("Adam:load_state_dict: state of " .. param_at(1) .. " must be a table, got 5",
      opt.load_state_dict, opt, extra)
    extra.state[2] = { step = 1, exp_avg = 0, exp_avg_sq = 0 }
    h.errors("Adam:load_state_dict: state of " .. param_at(1) .. ": 'exp_avg' must be a tensor",
      opt.load_state_dict, opt, extra)
    -- a key that is no 1-based position (torch's state[0], a name) is named as given
    local torchy = opt:state_dict()
    torchy.state[0] = torchy.state[1]
    h.errors("Adam:load_state_dict: the state dict has state for the parameter at state%[0%] in the " ..
      "state dict, which no group lists", opt.load_state_dict, opt, torchy)
    torchy.state[0], torchy.state.w = nil, torchy.state[1]
    h.errors("Adam:load_state_dict: the state dict has state for the parameter at state%[\"w\"%] in the " ..
      "state dict, which no group lists", opt.load_state_dict, opt, torchy)
  end)

  it("a SequentialLR refusing its second scheduler's state leaves the first as it was", function()
    local p = param({ 1.0 })
    local opt = optim.SGD({ p }, { lr = 1 })
    local sched = optim.lr_scheduler
    local seq = sched.SequentialLR(opt, { sched.StepLR(opt, 2), sched.StepLR(opt, 3) }, { 2 })
    local sd = seq:state_dict()
    sd._schedulers[1].last_epoch = 7
    sd._schedulers[2].bogus = 1
    h.errors("StepLR:load_state_dict: unknown key 'bogus'", seq.load_state_dict, seq, sd)
    assert.equal(0, seq._schedulers[1].last_epoch)
    -- its own keys too: without them the first step() failed with a Lua error
    local fresh = seq:state_dict()
    fresh.last_epoch = nil
    h.errors("SequentialLR:load_state_dict: 'last_epoch' must be an integer, got nil", seq.load_state_dict,
      seq, fresh)
    fresh = seq:state_dict()
    fresh._milestones = { 1, 2 }
    h.errors("SequentialLR:load_state_dict: '_milestones' must list 1 milestones", seq.load_state_dict, seq,
      fresh)
  end)

  it("prints its class and groups", function()
    local opt = optim.SGD({ param({ 1.0 }) }, { lr = 0.5, momentum = 0.9 })
    local s = tostring(opt)
    assert.matches("^SGD %(\nparam group 1: 1 parameters\n    lr: 0.5\n    momentum: 0.9\n", s)
  end)
end)
