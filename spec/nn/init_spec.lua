-- init_spec.lua -- graphids.nn.init: torch.nn.init's gains, fans and bounds, grad mode off, and
-- draws from graphids' generators.
local graphids = require "graphids"
local nn = require "graphids.nn"
local helpers = require "helpers"
local errors, near = helpers.errors, helpers.near

local init = nn.init

local function range(t)
  return t:amin():item(), t:amax():item()
end

describe("nn.init", function()
  it("calculate_gain follows torch", function()
    assert.equal(1, init.calculate_gain("linear"))
    assert.equal(1, init.calculate_gain("sigmoid"))
    assert.equal(5 / 3, init.calculate_gain("tanh"))
    assert.equal(math.sqrt(2), init.calculate_gain("relu"))
    near(init.calculate_gain("leaky_relu"), math.sqrt(2 / (1 + 0.01 ^ 2)), 1e-15)
    near(init.calculate_gain("leaky_relu", math.sqrt(5)), math.sqrt(1 / 3), 1e-15)
    assert.equal(0.75, init.calculate_gain("selu"))
    errors("calculate_gain: unsupported nonlinearity swish", init.calculate_gain, "swish")
  end)

  it("computes fan in and fan out with the receptive field", function()
    assert.same({ 3, 5 }, { init._calculate_fan_in_and_fan_out(graphids.empty(5, 3)) })
    assert.same({ 3 * 4 * 2, 5 * 4 * 2 }, { init._calculate_fan_in_and_fan_out(
      graphids.empty(5, 3, 4, 2)) })
    errors("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions",
      init._calculate_fan_in_and_fan_out, graphids.empty(3))
  end)

  it("fills uniform, normal, constant, zeros and ones in place", function()
    local t = graphids.empty(100, 100)
    assert.equal(t, init.uniform_(t, -2, 3))
    local lo, hi = range(t)
    assert.is_true(lo >= -2 and lo < -1.9 and hi < 3 and hi > 2.9)
    init.normal_(t, 1, 0.5)
    near(t:mean():item(), 1, 0.02)
    near(t:std():item(), 0.5, 0.02)
    assert.same({ 7, 7 }, { range(init.constant_(t, 7)) })
    assert.same({ 0, 0 }, { range(init.zeros_(t)) })
    assert.same({ 1, 1 }, { range(init.ones_(t)) })
  end)

  it("scales xavier and kaiming by the fans and the gain", function()
    local t = graphids.empty(200, 300)
    local a = math.sqrt(6 / 500)
    local lo, hi = range(init.xavier_uniform_(t))
    assert.is_true(lo >= -a and hi <= a and hi > 0.98 * a)
    lo, hi = range(init.xavier_uniform_(t, { gain = 2 }))
    assert.is_true(lo >= -2 * a and hi <= 2 * a and hi > 1.96 * a)
    near(init.xavier_normal_(t):std():item(), math.sqrt(2 / 500), 0.02)
    local b = math.sqrt(2) * math.sqrt(3 / 300)
    lo, hi = range(init.kaiming_uniform_(t, { nonlinearity = "relu" }))
    assert.is_true(lo >= -b and hi <= b and hi > 0.98 * b)
    lo, hi = range(init.kaiming_uniform_(t, { a = math.sqrt(5) }))
    assert.is_true(lo >= -1 / math.sqrt(300) and hi <= 1 / math.sqrt(300))
    assert.is_true(hi > 0.98 / math.sqrt(300))
    near(init.kaiming_normal_(t, { mode = "fan_out", nonlinearity = "relu" }):std():item(),
      math.sqrt(2 / 200), 0.02)
    errors("kaiming_uniform_: unknown option 'gain'", init.kaiming_uniform_, t, { gain = 1 })
    errors("mode fan_avg not supported", init.kaiming_normal_, t, { mode = "fan_avg" })
  end)

  it("raises every error as the called initialiser's, at the caller's line", function()
    local at = helpers.errors_at_caller
    local t = graphids.empty(4, 3)
    at("uniform_: low 3 must not exceed high 1", init.uniform_, t, 3, 1)
    at("normal_: std must be a finite number >= 0, got %-1", init.normal_, t, 0, -1)
    at("uniform_: unknown option 'bogus'", init.uniform_, t, 0, 1, { bogus = 1 })
    local fewer = "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
    for _, name in ipairs({ "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
      "_calculate_fan_in_and_fan_out" }) do
      at(name .. ": " .. fewer, init[name], graphids.empty(2))
    end
    at("kaiming_normal_: mode fan_avg not supported", init.kaiming_normal_, t, { mode = "fan_avg" })
    at("kaiming_uniform_: unsupported nonlinearity swish", init.kaiming_uniform_, t,
      { nonlinearity = "swish" })
    at("calculate_gain: unsupported nonlinearity swish", init.calculate_gain, "swish")
    for _, name in ipairs({ "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
      "kaiming_normal_" }) do
      at(name .. ": tensor must be a graphids.Tensor, got 5", init[name], 5)
    end
    at("constant_: val must be a number or a one%-element tensor, got 'x' %(a string%)", init.constant_, t,
      "x")
    at("constant_: val must be a number or a one%-element tensor, got nil", init.constant_, t)
    at("constant_: val must be a number or a one%-element tensor, got a tensor of 2 elements", init.constant_,
      t, graphids.zeros(2))
    assert.same({ 3, 3 }, { range(init.constant_(graphids.empty(2), graphids.tensor(3.0))) })
    -- what they return is unchanged by the wrapping
    assert.equal(t, init.zeros_(t))
    assert.same({ 3, 4 }, { init._calculate_fan_in_and_fan_out(t) })
  end)

  it("works on parameters (grad mode off) and records nothing", function()
    local w = graphids.empty(3, 3, { requires_grad = true })
    init.kaiming_uniform_(w)
    init.normal_(w)
    assert.is_true(w.is_leaf)
    assert.is_nil(w.grad_fn)
  end)

  it("draws from the default generator, or from the one given", function()
    local a, b = graphids.empty(4, 4), graphids.empty(4, 4)
    graphids.manual_seed(9)
    init.xavier_uniform_(a)
    graphids.manual_seed(9)
    init.xavier_uniform_(b)
    assert.is_true(graphids.equal(a, b))
    init.normal_(a, 0, 1, { generator = graphids.Generator(4) })
    init.normal_(b, 0, 1, { generator = graphids.Generator(4) })
    assert.is_true(graphids.equal(a, b))
    graphids.manual_seed(3)
    local m1 = nn.Linear(4, 4)
    graphids.manual_seed(3)
    local m2 = nn.Linear(4, 4)
    assert.is_true(graphids.equal(m1.weight, m2.weight))
    assert.is_true(graphids.equal(m1.bias, m2.bias))
  end)
end)
