-- graphids.optim.Adam: the first step by hand, and later steps against torch.optim.Adam's
-- single-tensor update written out on Lua numbers (the loss is sum(p^2), so the grad is 2p).
local h = require "helpers"
local common = require "optim.common"
if common.skip_without_grads() then return end
local optim = require "graphids.optim"

local P0 = { 1.0, -2.0, 3.0 }

-- torch's Adam/AdamW on one number for `steps` steps of the grad 2p; cfg as the optimizer's.
local function reference(p, steps, cfg, decoupled)
  local lr, eps, wd = cfg.lr, cfg.eps or 1e-8, cfg.weight_decay or (decoupled and 1e-2 or 0)
  local b1, b2 = table.unpack(cfg.betas or { 0.9, 0.999 })
  local m, v, vmax = 0, 0, 0
  for t = 1, steps do
    local g = 2 * p
    if cfg.maximize then g = -g end
    if decoupled then p = p * (1 - lr * wd) else g = g + wd * p end
    -- torch's exp_avg.lerp_(g, 1 - b1): from the far end when the weight is >= 0.5
    m = (1 - b1) >= 0.5 and g - (g - m) * (1 - (1 - b1)) or m + (1 - b1) * (g - m)
    v = v * b2 + (1 - b2) * g * g
    vmax = math.max(vmax, v)
    local denom = math.sqrt(cfg.amsgrad and vmax or v) / math.sqrt(1 - b2 ^ t) + eps
    p = p - lr / (1 - b1 ^ t) * (m / denom)
  end
  return p
end

local function run(Opt, cfg, steps, opts)
  local p = common.param(P0, opts)
  local opt = Opt({ p }, cfg)
  for _ = 1, steps do
    opt:zero_grad()
    common.quadratic({ p }, { 0 })
    opt:step()
  end
  return p, opt
end

local function expect(Opt, cfg, steps, decoupled, tol)
  local p = run(Opt, cfg, steps)
  local want = {}
  for i, x in ipairs(P0) do want[i] = reference(x, steps, cfg, decoupled) end
  h.near(p:totable(), want, tol or 1e-13)
end

describe("graphids.optim.Adam", function()
  it("keeps the grad exactly as the first moment when beta1 = 0 (torch's lerp from the far end)", function()
    local graphids = require "graphids"
    for _, dtype in ipairs({ "f32", "f64" }) do
      local p = graphids.zeros(1, { dtype = dtype }):requires_grad_()
      local opt = optim.Adam({ p }, { lr = 0.1, betas = { 0, 0.999 } })
      for _, g in ipairs({ 1.0, 1e-3 }) do
        p.grad = graphids.tensor({ g }, { dtype = dtype })
        opt:step()
      end
      -- m + 1 * (g - m) would round: 0.0009999871 in f32
      assert.equal(graphids.tensor({ 1e-3 }, { dtype = dtype }):item(), opt.state[p].exp_avg:item())
    end
  end)

  it("moves each parameter by about lr against the sign of its grad on the first step", function()
    -- m = 0.1 g, v = 0.001 g^2; bias-corrected m / (sqrt(v) + eps) = g / (|g| + eps)
    local p, opt = run(optim.Adam, { lr = 0.1 }, 1)
    local want = {}
    for i, x in ipairs(P0) do
      local g = 2 * x
      want[i] = x - 0.1 * g / (math.abs(g) + 1e-8)
    end
    h.near(p:totable(), want, 1e-14)
    local st = opt.state[p]
    assert.equal(1, st.step)
    h.near(st.exp_avg:totable(), { 0.2, -0.4, 0.6 }, 1e-14)
    h.near(st.exp_avg_sq:totable(), { 0.004, 0.016, 0.036 }, 1e-14)
    assert.is_nil(st.max_exp_avg_sq)
  end)

  it("follows torch's update over several steps", function()
    expect(optim.Adam, { lr = 0.1 }, 5)
    expect(optim.Adam, { lr = 0.05, betas = { 0.8, 0.95 }, eps = 1e-3 }, 5)
  end)

  it("adds weight_decay * p to the grad (L2, not decoupled)", function()
    -- first step: g = 2 p0 + 0.1 p0 = 2.1 p0, so again p0 - lr * g / (|g| + eps)
    local p = run(optim.Adam, { lr = 0.1, weight_decay = 0.1 }, 1)
    local want = {}
    for i, x in ipairs(P0) do want[i] = x - 0.1 * 2.1 * x / (math.abs(2.1 * x) + 1e-8) end
    h.near(p:totable(), want, 1e-14)
    expect(optim.Adam, { lr = 0.1, weight_decay = 0.1 }, 5)
  end)

  it("keeps the running maximum of the second moment with amsgrad", function()
    local p, opt = run(optim.Adam, { lr = 0.1, amsgrad = true }, 3)
    assert.is_not_nil(opt.state[p].max_exp_avg_sq)
    expect(optim.Adam, { lr = 0.1, amsgrad = true }, 3)
    -- with lr 0.4 the grads shrink fast enough that the maximum differs from v
    expect(optim.Adam, { lr = 0.4, amsgrad = true, betas = { 0.5, 0.5 } }, 6)
  end)

  it("climbs the loss with maximize", function()
    local p = run(optim.Adam, { lr = 0.1, maximize = true }, 1)
    local want = {}
    for i, x in ipairs(P0) do want[i] = x + 0.1 * 2 * x / (math.abs(2 * x) + 1e-8) end
    h.near(p:totable(), want, 1e-14)
    expect(optim.Adam, { lr = 0.1, maximize = true }, 4)
  end)

  it("updates f32 parameters in f32", function()
    local p = run(optim.Adam, { lr = 0.1 }, 3, h.F32)
    assert.equal("f32", p.dtype)
    local want = {}
    for i, x in ipairs(P0) do want[i] = reference(x, 3, { lr = 0.1 }) end
    h.near(p:totable(), want, 1e-6)
  end)
end)
