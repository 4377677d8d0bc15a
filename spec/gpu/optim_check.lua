-- optim_check.lua -- optimizers composed from tensor ops (RMSprop, Adagrad) on a device against
-- the same steps on the CPU, and a resume from a state dict on the device, run by
-- tools/gpu-check.sh on a GPU and by spec/gpu/loopback.sh on the loopback device (plain Lua).
-- Prints one line per failure and ends with "optim: N passed, N failed".
local graphids = require "graphids"
local optim = graphids.optim

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("optim")
if not T.available() then
  return
end

-- max |a - b| / max(1, max |b|) over two tensors of one shape (a on any device).
local function rel(a, b)
  local d = (a:to("cpu") - b):abs():max():item()
  return d / math.max(1, b:abs():max():item())
end

local function params(device)
  graphids.manual_seed(3)
  local ps = { graphids.randn(64, 33), graphids.randn(33), graphids.randn(5, 7, 3) }
  for i, p in ipairs(ps) do ps[i] = p:to(device):requires_grad_() end
  return ps
end

local function train(opt, ps, steps)
  for _ = 1, steps do
    opt:zero_grad()
    local loss
    for i, p in ipairs(ps) do
      local l = ((p - 0.25 * i) * (p - 0.25 * i)):sum()
      loss = loss and loss + l or l
    end
    loss:backward()
    opt:step()
  end
end

local CASES = {
  { "RMSprop", { lr = 1e-2 } },
  { "RMSprop", { lr = 1e-2, alpha = 0.9, eps = 1e-6, weight_decay = 0.1, momentum = 0.9, centered = true } },
  { "RMSprop", { lr = 5e-3, alpha = 0.3, centered = true, maximize = true } },
  { "Adagrad", { lr = 0.1 } },
  { "Adagrad", { lr = 0.1, lr_decay = 0.05, initial_accumulator_value = 0.1, weight_decay = 0.1 } },
}

for _, case in ipairs(CASES) do
  local name, cfg = case[1], case[2]
  local keys = {}
  for k in pairs(cfg) do keys[#keys + 1] = k end
  table.sort(keys)
  T.check(string.format("%s {%s}: 20 f32 steps on the device match the CPU's to 1e-5", name,
    table.concat(keys, ", ")), function()
    local cpu, dev = params("cpu"), params(T.dev)
    local oc, od = optim[name](cpu, cfg), optim[name](dev, cfg)
    train(oc, cpu, 20)
    train(od, dev, 20)
    for i = 1, #cpu do
      assert(T.dry or dev[i].device ~= "cpu", "the parameter left the device")
      local e = rel(dev[i], cpu[i])
      assert(e <= 1e-5, string.format("parameter %d: relative error %.3g", i, e))
      for k, v in pairs(od.state[dev[i]]) do
        if graphids.is_tensor(v) then
          local es = rel(v, oc.state[cpu[i]][k])
          assert(es <= 1e-5, string.format("state %s of parameter %d: relative error %.3g", k, i, es))
        else
          assert(v == oc.state[cpu[i]][k], k)
        end
      end
    end
  end)
end

T.check("RMSprop resumes on the device from a state dict with the same bits", function()
  local cfg = CASES[2][2]
  local a = params(T.dev)
  local oa = optim.RMSprop(a, cfg)
  train(oa, a, 5)
  local sd = oa:state_dict()
  local saved = {}
  for i, p in ipairs(a) do saved[i] = p:detach():clone() end
  train(oa, a, 5)
  local b = {}
  for i, t in ipairs(saved) do b[i] = t:clone():requires_grad_() end
  local ob = optim.RMSprop(b, { lr = 1 })
  ob:load_state_dict(sd)
  train(ob, b, 5)
  for i = 1, #a do
    assert(a[i]:to("cpu"):tobytes() == b[i]:to("cpu"):tobytes(), "parameter " .. i .. " differs")
  end
end)

T.finish()
