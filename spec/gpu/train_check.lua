-- train_check.lua -- CPU/GPU parity of the training path around the kernels: the optimizers over
-- several steps (Adam as the graph models configure it, amsgrad, maximize, AdamW in f64, SGD
-- with momentum, nesterov and weight decay), the losses the recipes train with (focal loss,
-- kl_div for distillation, the BCE pair, smooth L1), layer norm, var/std, rsqrt/reciprocal and
-- gradient clipping (forward and gradients), and a short training run of the real
-- GATClassifier (the GAT recipe's options) whose loss curve must follow the CPU's.  Run by
-- tools/gpu-check.sh on a machine with a GPU; prints one line per failure and ends with
-- "train: N passed, M failed".  Without a GPU it prints "skipped: <reason>" and exits 0.
--
-- Tolerances are relative to each result's own scale (T.rel_close: max |cpu|, not max(1, ...)),
-- so a small gradient or a small parameter displacement must match too: f32 2e-5 for ops and
-- losses (T.parity's default: a few roundings apart), 1e-4 for parameter displacements after
-- several optimizer steps (each step's update rounds on its own), f64 1e-10.  cuBLAS runs
-- strict f32 unless GRAPHIDS_ALLOW_TF32=1 (runtime/src/cuda/device.cu), which
-- tools/gpu-check.sh does not set for these checks.
local graphids = require "graphids"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("train")
if not T.available() then
  return
end
local check, D = T.check, T.dev
-- Each comparison its own check, so that one run on a GPU reports every failing case (the
-- enclosing check counts the setup around them).
local function parity(what, ...)
  local args = table.pack(...)
  check(what, function() T.parity(what, table.unpack(args, 1, args.n)) end)
end
local F = graphids.nn.functional
local optim = graphids.optim

graphids.manual_seed(23)

-- ---------------------------------------------------------------- optimizers over several steps

-- Parameters (f32 matrix, f32 vector, f64 matrix unless dts says otherwise) and a gradient
-- list for each of STEPS steps, made once on the CPU: the grads' scale swings from step to
-- step (so amsgrad's running max and the momentum buffers matter).
local STEPS = 8
local SWING = { 1, 3, 0.3, 0.1, 2, 0.05, 0.5, 0.02 }

local function opt_inputs(dts)
  dts = dts or { "f32", "f32", "f64" }
  local shapes = { { 37, 11 }, { 300 }, { 9, 5 } }
  local p0, grads = {}, {}
  for k, dt in ipairs(dts) do
    p0[k] = graphids.randn(shapes[k]):to(dt)
  end
  for s = 1, STEPS do
    grads[s] = {}
    for k, dt in ipairs(dts) do
      grads[s][k] = (graphids.randn(shapes[k]) * SWING[s]):to(dt)
    end
  end
  return p0, grads
end

-- STEPS optimizer steps on dev from p0 with loss sum(p * g_s) + 0.05 sum(p^2) (so the gradient
-- also follows the parameters); after_step(s) runs after each step (a scheduler).  Returns the
-- parameters and the optimizer.
local function opt_run(dev, p0, grads, make)
  local params = {}
  for k, p in ipairs(p0) do
    params[k] = (dev == "cpu" and p:clone() or p:to(dev)):requires_grad_()
  end
  local opt, after_step = make(params)
  for s = 1, STEPS do
    opt:zero_grad()
    local loss
    for k, p in ipairs(params) do
      local part = (p * grads[s][k]:to(dev)):sum() + (p * p):sum() * 0.05
      loss = loss and loss + part:to("f64") or part:to("f64")
    end
    loss:backward()
    opt:step()
    if after_step then after_step(s) end
  end
  return params, opt
end

-- The parameters' displacement from p0 and every state tensor (exp_avg, exp_avg_sq,
-- max_exp_avg_sq, momentum_buffer) within rtol of their own scale, and the same step counts.
local function opt_compare(what, make, dts)
  local p0, grads = opt_inputs(dts)
  local pc, oc = opt_run("cpu", p0, grads, make)
  local pg, og = opt_run(D, p0, grads, make)
  for k = 1, #p0 do
    local rtol = p0[k].dtype == "f32" and 1e-4 or 1e-10
    local name = string.format("%s, parameter %d (%s)", what, k, p0[k].dtype)
    local dc = pc[k]:detach() - p0[k]
    local dg = pg[k]:detach() - p0[k]:to(D)
    assert(dc:abs():amax():item() > 0, name .. ": the CPU did not move the parameter")
    T.rel_close(dg, dc, rtol, name .. " displacement after " .. STEPS .. " steps")
    local sc, sg = oc.state[pc[k]] or {}, og.state[pg[k]] or {}
    for _, key in ipairs({ "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer" }) do
      assert((sc[key] == nil) == (sg[key] == nil), name .. ": state " .. key .. " on one side only")
      if sc[key] ~= nil then
        T.rel_close(sg[key], sc[key], rtol, name .. " state " .. key)
      end
    end
    assert(sc.step == sg.step, name .. ": step count")
  end
end

-- Adam as the graph models configure it (models/_steps.lua S.adam_cosine: Adam(hp.lr,
-- hp.weight_decay) and CosineAnnealingLR over max_epochs, stepped once an epoch), with a weight
-- decay large enough to move the result.
check("Adam as the graph models configure it (weight decay, cosine schedule) follows the CPU " ..
  "over " .. STEPS .. " steps", function()
  local S = require "graphids.models._steps"
  opt_compare("adam_cosine", function(params)
    local model = { hp = { lr = 1e-2, weight_decay = 0.1 } }
    function model.parameters() return params end
    local opt, sched = S.adam_cosine(model, { max_epochs = 4 })
    assert(sched ~= nil, "a schedule")
    return opt, function(s) if s % 2 == 0 then sched:step() end end
  end)
end)

for _, v in ipairs({
  { "amsgrad", { lr = 1e-2, betas = { 0.8, 0.9 }, amsgrad = true } },
  { "maximize", { lr = 1e-2, maximize = true, weight_decay = 0.05 } },
  { "amsgrad and maximize", { lr = 1e-2, betas = { 0.8, 0.9 }, amsgrad = true, maximize = true,
    weight_decay = 0.05 } },
}) do
  check("Adam (" .. v[1] .. ") follows the CPU over " .. STEPS .. " steps", function()
    opt_compare("Adam " .. v[1], function(params) return optim.Adam(params, v[2]) end)
  end)
end

check("AdamW in f64 (and amsgrad in f32) follows the CPU over " .. STEPS .. " steps", function()
  opt_compare("AdamW f64", function(params)
    return optim.AdamW(params, { lr = 1e-2, weight_decay = 0.1 })
  end, { "f64", "f64", "f64" })
  opt_compare("AdamW amsgrad", function(params)
    return optim.AdamW(params, { lr = 1e-2, weight_decay = 0.1, amsgrad = true,
      betas = { 0.8, 0.9 } })
  end)
end)

for _, v in ipairs({
  { "plain", { lr = 0.05 } },
  { "momentum", { lr = 0.05, momentum = 0.9 } },
  { "nesterov", { lr = 0.05, momentum = 0.9, nesterov = true } },
  { "weight decay and dampening", { lr = 0.05, momentum = 0.5, dampening = 0.3,
    weight_decay = 0.1 } },
  { "nesterov, weight decay, maximize", { lr = 0.05, momentum = 0.9, nesterov = true,
    weight_decay = 0.1, maximize = true } },
}) do
  check("SGD (" .. v[1] .. ") follows the CPU over " .. STEPS .. " steps", function()
    opt_compare("SGD " .. v[1], function(params) return optim.SGD(params, v[2]) end)
  end)
end

-- ---------------------------------------------------------------- losses

local function targets(n, c, ignored)
  local t = graphids.randint(0, c, { n })
  if ignored then
    t:narrow(1, 3, 5):fill_(-100)
  end
  return t
end

for _, dt in ipairs({ "f32", "f64" }) do
  check("focal_loss (the GAT recipes' loss) forward and gradients match the CPU (" .. dt .. ")",
    function()
      for _, C in ipairs({ 2, 5 }) do
        local x = (graphids.randn(64, C) * 2):to(dt)
        local t, ti = targets(64, C), targets(64, C, true)
        local alpha, weight = (graphids.rand(C) + 0.5):to(dt), (graphids.rand(C) + 0.5):to(dt)
        local what = dt .. " C=" .. C
        -- the model's loss (models/losses.lua FocalLoss: gamma 2, mean)
        local L = require "graphids.models.losses"
        local focal = L.build_loss("focal", { gamma = 2.0 })
        parity("FocalLoss module " .. what, { x, t }, function(a, b) return focal(a, b) end)
        parity("gamma 0.5, sum " .. what, { x, t }, function(a, b)
          return F.focal_loss(a, b, { gamma = 0.5, reduction = "sum" })
        end)
        parity("gamma 0, alpha 0.25, none " .. what, { x, t }, function(a, b)
          return F.focal_loss(a, b, { gamma = 0, alpha = 0.25, reduction = "none" })
        end)
        parity("alpha and weight tensors, ignore_index " .. what, { x, ti, alpha, weight },
          function(a, b, al, w)
            return F.focal_loss(a, b, { gamma = 1.5, alpha = al, weight = w })
          end)
      end
    end)

  check("kl_div (distillation) forward and gradients match the CPU (" .. dt .. ")", function()
    local s, tl = (graphids.randn(32, 7) * 2):to(dt), (graphids.randn(32, 7) * 2):to(dt)
    local p = tl:softmax(2)
    p = graphids.where(p:lt(0.05), 0, p) -- zeros in the target: 0 * log 0 = 0
    for _, red in ipairs({ "batchmean", "mean", "sum", "none" }) do
      parity("kl_div " .. red .. " " .. dt, { s, p }, function(a, b)
        return F.kl_div(a:log_softmax(2), b, { reduction = red })
      end)
    end
    parity("kl_div log_target " .. dt, { s, tl }, function(a, b)
      return F.kl_div(a:log_softmax(2), b:log_softmax(2), { reduction = "batchmean",
        log_target = true })
    end)
    -- as models/distill.lua: softened by a temperature, batchmean times T^2
    parity("kl_div as the distillation loss " .. dt, { s, tl }, function(a, b)
      local temp = 4
      return F.kl_div((a / temp):log_softmax(2), (b / temp):softmax(2),
        { reduction = "batchmean" }) * (temp * temp)
    end, { nograd = { [2] = true } })
  end)

  check("binary_cross_entropy (with and without logits) and smooth_l1_loss match the CPU (" ..
    dt .. ")", function()
    local p = graphids.rand(50, 3):to(dt) * 0.98 + 0.01
    local t = graphids.rand(50, 3):to(dt)
    local w = graphids.rand(3):to(dt) + 0.5
    parity("bce " .. dt, { p, t }, function(a, b) return F.binary_cross_entropy(a, b) end)
    parity("bce weight, sum " .. dt, { p, t, w }, function(a, b, c)
      return F.binary_cross_entropy(a, b, { weight = c, reduction = "sum" })
    end)
    -- scores at exactly 0 and 1 with matching labels (a fused probability's): finite gradients
    local edge = graphids.tensor({ 0, 1, 0.3, 0, 1, 0.9 }):to(dt)
    local et = graphids.tensor({ 0, 1, 1, 0, 1, 0 }):to(dt)
    parity("bce at 0 and 1 " .. dt, { edge, et }, function(a, b)
      return F.binary_cross_entropy(a, b, { reduction = "none" })
    end)
    local z = (graphids.randn(50, 3) * 4):to(dt)
    z:narrow(1, 1, 2):mul_(30) -- past the softplus threshold 50
    local pw = graphids.rand(3):to(dt) * 3
    parity("bce_with_logits " .. dt, { z, t }, function(a, b)
      return F.binary_cross_entropy_with_logits(a, b)
    end)
    parity("bce_with_logits weight, pos_weight " .. dt, { z, t, w, pw }, function(a, b, c, d)
      return F.binary_cross_entropy_with_logits(a, b, { weight = c, pos_weight = d,
        reduction = "none" })
    end)
    local y = (graphids.randn(50, 3) * 2):to(dt)
    for _, beta in ipairs({ 1.0, 0.5, 0 }) do
      parity("smooth_l1 beta " .. beta .. " " .. dt, { z / 4, y }, function(a, b)
        return F.smooth_l1_loss(a, b, { beta = beta })
      end)
    end
    parity("huber " .. dt, { z / 4, y }, function(a, b)
      return F.huber_loss(a, b, { delta = 0.7, reduction = "sum" })
    end)
  end)

  check("layer_norm, var, std, rsqrt and reciprocal match the CPU, forward and gradients (" ..
    dt .. ")", function()
    local x = (graphids.randn(40, 3, 16) * 3 + 5):to(dt)
    local w, b = graphids.randn(16):to(dt), graphids.randn(16):to(dt)
    parity("layer_norm affine " .. dt, { x, w, b }, function(a, c, d)
      return F.layer_norm(a, 16, { weight = c, bias = d })
    end)
    parity("layer_norm over two dims " .. dt, { x }, function(a)
      return F.layer_norm(a, { 3, 16 }, { eps = 1e-3 })
    end)
    local y = (graphids.randn(50, 33) * 2 + 5):to(dt)
    parity("var dim 2 " .. dt, { y }, function(a) return a:var(2) end)
    parity("var dim 1 correction 0 keepdim " .. dt, { y }, function(a)
      return a:var(1, { correction = 0, keepdim = true })
    end)
    parity("var of all " .. dt, { y }, function(a) return a:var() end)
    parity("std dim 2 " .. dt, { y }, function(a) return a:std(2) end)
    parity("std dims {1, 2} " .. dt, { x }, function(a) return a:std({ 1, 3 }) end)
    parity("std of a transposed view " .. dt, { y }, function(a) return a:t():std(2) end)
    local pos = y:abs() + 0.1
    parity("rsqrt " .. dt, { pos }, function(a) return a:rsqrt() end)
    parity("reciprocal " .. dt, { y }, function(a) return a:reciprocal() end)
  end)
end

check("nn.LayerNorm on the device matches the CPU (output, input and parameter gradients)",
  function()
    for _, dt in ipairs({ "f32", "f64" }) do
      local lc = graphids.nn.LayerNorm(24)
      graphids.no_grad(function()
        for _, p in ipairs(lc:parameters()) do p:copy_(graphids.randn(p.shape)) end
      end)
      lc:to(dt)
      local ld = graphids.nn.LayerNorm(24)
      ld:to(dt)
      ld:load_state_dict(lc:state_dict())
      ld:to(D)
      local x = (graphids.randn(77, 24) * 2 - 1):to(dt)
      local wo = graphids.randn(77, 24):to(dt)
      local xc, xd = x:clone():requires_grad_(), x:to(D):requires_grad_()
      local yc, yd = lc(xc), ld(xd)
      ;(yc * wo):sum():backward()
      ;(yd * wo:to(D)):sum():backward()
      local rtol = dt == "f32" and 2e-5 or 1e-10
      T.rel_close(yd, yc, rtol, "output " .. dt)
      T.rel_close(xd.grad, xc.grad, rtol, "input gradient " .. dt)
      local pd = {}
      for name, p in ld:named_parameters() do pd[name] = p end
      for name, p in lc:named_parameters() do
        T.rel_close(pd[name].grad, p.grad, rtol, name .. " gradient " .. dt)
      end
    end
  end)

-- optim.clip_grad_norm_ (the trainer's gradient_clip_val) and clip_grad_value_: the total norm
-- and the scaled grads, clipping and not, for the norm types the trainer takes.
check("clip_grad_norm_ and clip_grad_value_ on device grads match the CPU", function()
  local shapes = { { 30, 20 }, { 20 }, { 7, 3, 2 } }
  local grads = {}
  for k, s in ipairs(shapes) do grads[k] = graphids.randn(s) * k end
  local function run(dev, fn)
    local params = {}
    for k, s in ipairs(shapes) do
      params[k] = graphids.zeros(s):to(dev):requires_grad_()
      ;(params[k] * grads[k]:to(dev)):sum():backward()
    end
    local total = fn(params)
    return total, params
  end
  for _, v in ipairs({ { 2, 1.0 }, { 2, 1e6 }, { math.huge, 0.5 }, { 1, 3.0 }, { 3, 2.0 } }) do
    local what = string.format("norm_type %s, max_norm %g", tostring(v[1]), v[2])
    local function fn(params)
      return optim.clip_grad_norm_(params, v[2], { norm_type = v[1] })
    end
    local tc, pc = run("cpu", fn)
    local tg, pg = run(D, fn)
    T.rel_close(tg, tc, 1e-5, what .. ": total norm")
    for k = 1, #shapes do
      T.rel_close(pg[k].grad, pc[k].grad, 1e-5, what .. ": grad " .. k)
    end
  end
  local function clamp(params) optim.clip_grad_value_(params, 0.7) end
  local _, pc = run("cpu", clamp)
  local _, pg = run(D, clamp)
  for k = 1, #shapes do
    T.close(pg[k].grad, pc[k].grad, 0, "clip_grad_value_ grad " .. k)
  end
end)

-- ---------------------------------------------------------------- a GATClassifier training run

-- The real GATClassifier as the GAT recipe builds it (recipes/stages/gat.lua: the small preset,
-- loss focal, conv gatv2, JumpingKnowledge lstm), its own configure_optimizers (Adam + cosine,
-- stepped once an "epoch" of two batches), trained over batches of window-shaped synthetic
-- graphs (bench/gnn/graphs.lua's shape: about 38 nodes and 98 edges each, 35 node and 11 edge
-- features), collated by graphids.data as the loaders do.  Dropout stays on (training mode):
-- the device draws the CPU's masks from the same generator (bernoulli_, fused_check.lua), so
-- both sides drop the same units.
local function gat_batches(count, graphs_each)
  local data = require "graphids.data"
  local gen = graphids.Generator(41)
  local batches = {}
  for bi = 1, count do
    local xs, eis, eas, ids, nptr, eptr, ys = {}, {}, {}, {}, { 0 }, { 0 }, {}
    for gi = 1, graphs_each do
      local n = 30 + (gi * 7 + bi) % 17 -- 30..46 nodes
      local e = 2 * n + (gi * 5) % 40
      eis[gi] = graphids.randint(0, n, { 2, e }, { generator = gen }) -- local node numbers
      xs[gi] = graphids.randn({ n, 35 }, { generator = gen })
      eas[gi] = graphids.randn({ e, 11 }, { generator = gen })
      ids[gi] = graphids.randint(1, 200, { n }, { generator = gen })
      nptr[gi + 1], eptr[gi + 1] = nptr[gi] + n, eptr[gi] + e
      ys[gi] = (gi + bi) % 3 == 0 and 1 or 0
    end
    local set = { num_graphs = graphs_each, x = graphids.cat(xs, 1),
      edge_index = graphids.cat(eis, 2), edge_attr = graphids.cat(eas, 1),
      node_id = graphids.cat(ids, 1), node_ptr = graphids.tensor(nptr, { dtype = "i64" }),
      edge_ptr = graphids.tensor(eptr, { dtype = "i64" }),
      y = graphids.tensor(ys, { dtype = "i64" }) }
    local all = {}
    for i = 1, graphs_each do all[i] = i - 1 end
    batches[bi] = data.collate(set, all)
  end
  return batches
end

local GAT_STEPS = 8

local function gat_recipe_curve(dev, batches)
  local models = require "graphids.models"
  graphids.manual_seed(9)
  local m = models.GATClassifier(models.presets.gat.small({ num_ids = 200, loss_fn = "focal",
    conv_type = "gatv2", jk_mode = "lstm" }))
  assert(m.hp.dropout > 0, "the preset's dropout")
  m:to(dev)
  m:train()
  local opt, sched = m:configure_optimizers({ max_epochs = GAT_STEPS // 2 })
  local ctx = { generator = graphids.Generator(1) }
  local on = {}
  for i, b in ipairs(batches) do on[i] = b:to(dev) end
  local curve = {}
  for step = 1, GAT_STEPS do
    opt:zero_grad()
    local loss = m:training_step(on[(step - 1) % #on + 1], ctx)
    loss:backward()
    opt:step()
    if step % 2 == 0 then sched:step() end
    curve[step] = loss:item()
  end
  local params = {}
  for name, p in m:named_parameters() do params[#params + 1] = { name, p:detach() } end
  return curve, params
end

check("a " .. GAT_STEPS .. "-step training run of the recipe's GATClassifier (focal loss, JK " ..
  "lstm, Adam + cosine, dropout) follows the CPU's loss curve", function()
  local batches = gat_batches(4, 12)
  local cpu, pc = gat_recipe_curve("cpu", batches)
  local gpu, pg = gat_recipe_curve(D, batches)
  local line = {}
  for i = 1, GAT_STEPS do line[i] = string.format("%.6f/%.6f", cpu[i], gpu[i]) end
  for i = 1, GAT_STEPS do
    local e = math.abs(cpu[i] - gpu[i]) / math.max(1e-6, math.abs(cpu[i]))
    assert(e < 1e-4, string.format("step %d: cpu %.7f gpu %.7f (cpu/gpu: %s)", i, cpu[i], gpu[i],
      table.concat(line, " ")))
  end
  assert(cpu[GAT_STEPS] < cpu[1], "the loss goes down: " .. table.concat(line, " "))
  -- and the weights it ends with (Adam moves each by about lr a step; 1e-3 of the largest
  -- weight of each tensor, the same bound for the ones whose gradient is rounding noise)
  assert(#pg == #pc, "parameter count")
  for i = 1, #pc do
    T.close(pg[i][2], pc[i][2], 1e-3, "final " .. pc[i][1])
  end
end)

T.finish()
