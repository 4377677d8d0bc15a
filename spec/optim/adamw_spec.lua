-- graphids.optim.AdamW: Adam with decoupled weight decay (default 1e-2): the first step by hand,
-- later steps against torch.optim.AdamW's update on Lua numbers (loss sum(p^2), grad 2p).
local h = require "helpers"
local common = require "optim.common"
if common.skip_without_grads() then return end
local optim = require "graphids.optim"

local P0 = { 1.0, -2.0, 3.0 }

-- torch's AdamW on one number for `steps` steps of the grad 2p.
local function reference(p, steps, cfg)
  local lr, eps, wd = cfg.lr, cfg.eps or 1e-8, cfg.weight_decay or 1e-2
  local b1, b2 = 0.9, 0.999
  local m, v, vmax = 0, 0, 0
  for t = 1, steps do
    local g = 2 * p
    p = p * (1 - lr * wd)
    m = m + (1 - b1) * (g - m)
    v = v * b2 + (1 - b2) * g * g
    vmax = math.max(vmax, v)
    local denom = math.sqrt(cfg.amsgrad and vmax or v) / math.sqrt(1 - b2 ^ t) + eps
    p = p - lr / (1 - b1 ^ t) * (m / denom)
  end
  return p
end

local function run(cfg, steps)
  local p = common.param(P0)
  local opt = optim.AdamW({ p }, cfg)
  for _ = 1, steps do
    opt:zero_grad()
    common.quadratic({ p }, { 0 })
    opt:step()
  end
  return p, opt
end

describe("graphids.optim.AdamW", function()
  it("defaults weight_decay to 1e-2 and the rest as Adam", function()
    local opt = optim.AdamW({ common.param({ 1.0 }) })
    local g = opt.param_groups[1]
    assert.same({ 1e-3, { 0.9, 0.999 }, 1e-8, 1e-2, false, false },
      { g.lr, g.betas, g.eps, g.weight_decay, g.amsgrad, g.maximize })
  end)

  it("shrinks the parameter by lr * weight_decay before the Adam step", function()
    -- first step: p0 (1 - 0.1 * 0.5) - 0.1 * g / (|g| + eps), with g = 2 p0 from before decay
    local p = run({ lr = 0.1, weight_decay = 0.5 }, 1)
    local want = {}
    for i, x in ipairs(P0) do want[i] = x * 0.95 - 0.1 * 2 * x / (math.abs(2 * x) + 1e-8) end
    h.near(p:totable(), want, 1e-14)
  end)

  it("follows torch's update over several steps", function()
    for _, cfg in ipairs({ { lr = 0.1 }, { lr = 0.1, weight_decay = 0.5 },
      { lr = 0.2, amsgrad = true, eps = 1e-4 } }) do
      local p = run(cfg, 5)
      local want = {}
      for i, x in ipairs(P0) do want[i] = reference(x, 5, cfg) end
      h.near(p:totable(), want, 1e-13)
    end
  end)
end)
