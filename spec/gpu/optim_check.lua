-- optim_check.lua -- optimizers composed from tensor ops (RMSprop, Adagrad) on a device against
-- the same steps on the CPU, a resume from a state dict on the device, and the count of inf and
-- NaN gradients (graphids.count_nonfinite) against the CPU's, run by
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

-- 70 tensors (two launches of the list kernel, whose list holds 64), every float dtype, some
-- strided, empty or integer, holding infs and NaNs at seeded places; sizes across a block
-- (4 096 elements) so that several blocks add into the count.
T.check("count_nonfinite on the device equals the CPU's over 70 tensors of every dtype and layout", function()
  local gen = graphids.Generator(5)
  local dtypes = T.dry and { "f32", "f64" } or { "f32", "f64", "f16", "bf16" } -- (no half on the CPU)
  local dev_list, expected = {}, 0
  for i = 1, 70 do
    local n = ({ 1, 7, 300, 4097, 9000 })[i % 5 + 1]
    local x = graphids.rand({ n }, { generator = gen })
    local pick = graphids.rand({ n }, { generator = gen })
    x = graphids.where(pick:lt(0.05), 0 / 0, x)
    x = graphids.where(pick:gt(0.97), math.huge, x)
    x = graphids.where(pick:gt(0.99), -math.huge, x)
    expected = expected + n - x:isfinite():sum():item()
    local d = x:to(T.dev):to(dtypes[i % #dtypes + 1])
    if i % 7 == 0 then -- a strided view (stride 2): the kernel's copy to contiguous
      d = graphids.stack({ d, d }, 2):select(2, 1)
      assert(n == 1 or not d:is_contiguous(), "count_nonfinite check: the view should be strided")
    end
    dev_list[#dev_list + 1] = d
  end
  dev_list[#dev_list + 1] = graphids.zeros({ 0 }):to(T.dev)
  dev_list[#dev_list + 1] = graphids.tensor({ 1, 2 }, { dtype = "i64" }):to(T.dev)
  local w0 = not T.dry and graphids.gpu.waits()
  local c = graphids.count_nonfinite(dev_list)
  if not T.dry then
    assert(graphids.gpu.waits() == w0, "count_nonfinite waited for the device")
    assert(c.device ~= "cpu", "the count is on " .. c.device)
  end
  assert(c.dtype == "f64" and c.ndim == 0, "a 0-d f64")
  assert(expected > 100, "the case holds " .. expected .. " non-finite values")
  assert(c:item() == expected, string.format("%s counted, %d expected", tostring(c:item()), expected))
end)

T.finish()
