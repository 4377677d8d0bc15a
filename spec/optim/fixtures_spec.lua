-- fixtures_spec.lua -- graphids.optim against PyTorch trajectories (spec/fixtures/optim_*, written
-- by tools/make_fixtures.py): the same MLP (Linear 4->8, Tanh, Linear 8->3) from the same
-- weights trained 20 steps on the same data with MSE (zero_grad, forward, backward, step); the
-- loss before every step and every parameter after every step must be within relative error
-- 1e-5 of torch's.  Each case runs twice: straight through, and resumed after step 10 into a
-- fresh optimizer from a state dict (the model keeps its weights), which must give the same bits.
local graphids = require "graphids"
local fx = require "fixtures"
local skip = require "skip"

local ok_nn, nn = pcall(require, "graphids.nn")
local ok_optim, optim = pcall(require, "graphids.optim")
local has_autograd = graphids.Tensor.backward ~= nil

-- resume_at: after that step the optimizer is replaced by a fresh one (built with other
-- options) that loads the old one's state dict.  Returns the errors and the final parameters.
local function run(name, resume_at)
  local t, names, case = fx.load(name)
  local errs = {}
  local model = fx.build(nn, case.model)
  model:load_state_dict(fx.state_dict(t, names), { strict = true })
  local plist, params = fx.named_parameters(model)
  assert(table.concat(plist, " ") == table.concat(case.params, " "),
    "named_parameters differ from torch's: " .. table.concat(plist, ", "))
  local cls = optim[case.optimizer]
  assert(cls ~= nil, "graphids.optim has no " .. case.optimizer)
  local opt = cls(model:parameters(), case.kwargs)
  local x, y = t["input.x"], t["input.y"]
  local losses = t["output.loss"]
  -- The worst error of each tensor over the trajectory, and the step where it first went over.
  local worst, first_bad = {}, {}
  local function track(what, k, got, want)
    local e = {}
    local rel = fx.check(e, what, got, want)
    if rel > (worst[what] or -1) then worst[what] = rel end
    if #e > 0 and first_bad[what] == nil then first_bad[what] = { k, e[1] } end
  end
  for k = 1, case.steps do
    opt:zero_grad()
    local loss = nn.functional.mse_loss(model(x), y)
    track("loss", k, loss, losses:select(1, k))
    loss:backward()
    opt:step()
    for _, p in ipairs(case.params) do
      track(p, k, params[p], t[string.format("step.%d.%s", k, p)])
    end
    if k == resume_at then
      local sd = opt:state_dict()
      opt = cls(model:parameters(), { lr = 0.5 })
      opt:load_state_dict(sd)
    end
  end
  for _, what in ipairs({ "loss", table.unpack(case.params) }) do
    if first_bad[what] then
      errs[#errs + 1] = string.format("%s: worst relative error %.3g over %d steps; first over at "
        .. "step %d (%s)", what, worst[what], case.steps, first_bad[what][1], first_bad[what][2])
    end
  end
  local final = {}
  for i, p in ipairs(case.params) do final[i] = params[p]:detach():clone() end
  return errs, final
end

describe("graphids.optim against the PyTorch trajectories", function()
  if skip.unless(ok_nn, "graphids.nn is not available: " .. tostring(nn)) then return end
  if skip.unless(ok_optim, "graphids.optim is not available: " .. tostring(optim)) then return end
  if skip.unless(has_autograd, "the autograd Lua API (t:backward) is not bound") then return end

  for _, name in ipairs(fx.index().optim) do
    it("trajectory " .. name .. " matches over 20 steps, also resumed from a state dict", function()
      local errs, straight = fx.enable_grad(run, name)
      assert(#errs == 0, name .. ":\n  " .. table.concat(errs, "\n  "))
      local errs2, resumed = fx.enable_grad(run, name, 10)
      assert(#errs2 == 0, name .. " resumed at step 10:\n  " .. table.concat(errs2, "\n  "))
      for i = 1, #straight do
        assert(straight[i]:tobytes() == resumed[i]:tobytes(), name .. ": parameter " .. i ..
          " differs between the straight and the resumed run")
      end
    end)
  end
end)
