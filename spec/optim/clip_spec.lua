-- graphids.optim.clip_grad_norm_ / clip_grad_value_, as torch.nn.utils: the total norm is the
-- norm of every grad together; grads are scaled by max_norm / (total + 1e-6) when that is < 1.
local graphids = require "graphids"
local h = require "helpers"
local common = require "optim.common"
if common.skip_without_grads() then return end
local optim = require "graphids.optim"

-- Parameters holding the grads {3, 4} and {12} (total 2-norm 13, 1-norm 19, max 12) and one
-- parameter without a grad.
local function params_with_grads()
  local a, b, c = common.param({ 0.0, 0.0 }), common.param({ 0.0 }), common.param({ 7.0 })
  common.give_grad(a, graphids.tensor({ 3.0, 4.0 }, h.F64))
  common.give_grad(b, graphids.tensor({ 12.0 }, h.F64))
  return { a, b, c }
end

describe("graphids.optim.clip_grad_norm_", function()
  it("returns the total 2-norm and scales the grads down to max_norm", function()
    local ps = params_with_grads()
    local total = optim.clip_grad_norm_(ps, 6.5)
    assert.is_true(graphids.is_tensor(total))
    h.near(total:item(), 13, 1e-15)
    local coef = 6.5 / (13 + 1e-6)
    h.near(ps[1].grad:totable(), { 3 * coef, 4 * coef }, 1e-14)
    h.near(ps[2].grad:totable(), { 12 * coef }, 1e-14)
    assert.is_nil(ps[3].grad)
  end)

  it("leaves grads whose total norm is within max_norm exactly as they were", function()
    local ps = params_with_grads()
    h.near(optim.clip_grad_norm_(ps, 100):item(), 13, 1e-15)
    assert.same({ 3.0, 4.0 }, ps[1].grad:totable())
    assert.same({ 12.0 }, ps[2].grad:totable())
    -- at max_norm = total the coefficient 13 / (13 + 1e-6) is just below 1
    ps = params_with_grads()
    optim.clip_grad_norm_(ps, 13)
    h.near(ps[2].grad:totable(), { 12 * 13 / (13 + 1e-6) }, 1e-14)
  end)

  it("takes other norm types: 1, inf", function()
    local ps = params_with_grads()
    h.near(optim.clip_grad_norm_(ps, 9.5, { norm_type = 1 }):item(), 19, 1e-15)
    h.near(ps[1].grad:totable(), { 3 * 9.5 / (19 + 1e-6), 4 * 9.5 / (19 + 1e-6) }, 1e-14)
    ps = params_with_grads()
    h.near(optim.clip_grad_norm_(ps, 6, { norm_type = math.huge }):item(), 12, 1e-15)
    h.near(ps[2].grad:totable(), { 12 * 6 / (12 + 1e-6) }, 1e-14)
    ps = params_with_grads()
    h.near(optim.clip_grad_norm_(ps, 6, { norm_type = "inf" }):item(), 12, 1e-15)
  end)

  it("takes a single tensor, and gives 0 when no parameter has a grad", function()
    local a = common.param({ 0.0, 0.0 })
    assert.equal(0, optim.clip_grad_norm_({ a }, 1):item())
    common.give_grad(a, graphids.tensor({ 3.0, 4.0 }, h.F64))
    h.near(optim.clip_grad_norm_(a, 1):item(), 5, 1e-15)
    h.near(a.grad:totable(), { 3 / (5 + 1e-6), 4 / (5 + 1e-6) }, 1e-14)
  end)

  it("raises on a non-finite total norm with error_if_nonfinite, else scales by it", function()
    local a = common.param({ 0.0, 0.0 })
    common.give_grad(a, graphids.tensor({ 0 / 0, 1.0 }, h.F64))
    h.errors("clip_grad_norm_: the total norm of order 2 of the gradients is non%-finite",
      optim.clip_grad_norm_, { a }, 1, { error_if_nonfinite = true })
    local total = optim.clip_grad_norm_({ a }, 1)
    assert.is_true(total:item() ~= total:item())
  end)

  it("raises for the max norm of an empty grad (torch too) as itself, at the caller's line",
    function()
      local e = common.param({})
      common.give_grad(e, graphids.zeros(0, h.F64))
      h.errors_at_caller("^[^:]+:%d+: clip_grad_norm_: cannot reduce over an empty dim %(gradient " ..
        "shape %[0%]%)", optim.clip_grad_norm_, { e }, 1, { norm_type = math.huge })
      h.near(optim.clip_grad_norm_({ e }, 1):item(), 0, 0) -- the 2-norm of nothing is 0
    end)

  it("rejects unknown options and bad arguments", function()
    local ps = params_with_grads()
    h.errors("clip_grad_norm_: unknown option 'norm' %(did you mean 'norm_type'%?%)",
      optim.clip_grad_norm_, ps, 1, { norm = 2 })
    h.errors("clip_grad_norm_: max_norm must be a number >= 0, got nil", optim.clip_grad_norm_, ps)
    -- a negative bound would turn the step into gradient ascent; NaN would skip the clip
    h.errors("clip_grad_norm_: max_norm must be a number >= 0, got %-1", optim.clip_grad_norm_, ps, -1)
    h.errors("clip_grad_norm_: max_norm must be a number >= 0, got %-?nan", optim.clip_grad_norm_, ps, 0 / 0)
    h.errors("clip_grad_norm_: parameter 2 is 'x' %(a string%), expected a tensor",
      optim.clip_grad_norm_, { ps[1], "x" }, 1)
  end)
end)

describe("graphids.optim.clip_grad_value_", function()
  it("clamps every grad to [-clip_value, clip_value]", function()
    local a, b = common.param({ 0.0, 0.0, 0.0 }), common.param({ 0.0 })
    common.give_grad(a, graphids.tensor({ -3.0, 0.25, 2.0 }, h.F64))
    assert.is_nil(optim.clip_grad_value_({ a, b }, 0.5))
    assert.same({ -0.5, 0.25, 0.5 }, a.grad:totable())
    assert.is_nil(b.grad)
    h.errors("clip_grad_value_: clip_value must be a number", optim.clip_grad_value_, { a })
    h.errors("clip_grad_value_: clip_value must be a number >= 0, got %-1", optim.clip_grad_value_, { a }, -1)
  end)
end)
