-- loss_spec.lua -- graphids.nn.functional losses and the loss modules against loops written
-- here from torch's definitions (weights, ignore_index and label smoothing included), their
-- reductions and errors, and a finite-difference gradcheck (f64) of every loss.
local graphids = require "graphids"
local nn = require "graphids.nn"
local helpers = require "helpers"
local errors, near, long = helpers.errors, helpers.near, helpers.long

local F = nn.functional
local F64 = helpers.F64
local gradcheck = graphids.autograd.gradcheck

local LOGITS = { { 1.0, 2.0, 0.5 }, { -1.0, 0.0, 3.0 }, { 0.3, 0.3, 0.3 }, { 2.0, -2.0, 1.0 } }
local TARGET = { 1, 2, 0, 2 }

local function logsoftmax_rows(x)
  local out = {}
  for i, row in ipairs(x) do
    local m, s = -math.huge, 0
    for _, v in ipairs(row) do
      m = math.max(m, v)
    end
    for _, v in ipairs(row) do
      s = s + math.exp(v - m)
    end
    out[i] = {}
    for j, v in ipairs(row) do
      out[i][j] = v - m - math.log(s)
    end
  end
  return out
end

-- torch's cross_entropy with class ids: per-element losses and the "mean" denominator.
local function ref_ce(x, t, o)
  o = o or {}
  local lp, C = logsoftmax_rows(x), #x[1]
  local eps, ign = o.label_smoothing or 0, o.ignore_index or -100
  local losses, denom = {}, 0
  for i, row in ipairs(lp) do
    if t[i] == ign then
      losses[i] = 0
    else
      local w = o.weight and o.weight[t[i] + 1] or 1
      local smooth = 0
      for c = 1, C do
        smooth = smooth - (o.weight and o.weight[c] or 1) * row[c]
      end
      losses[i] = (1 - eps) * (-w * row[t[i] + 1]) + eps / C * smooth
      denom = denom + w
    end
  end
  return losses, denom
end

local function sum(t)
  local s = 0
  for _, v in ipairs(t) do
    s = s + v
  end
  return s
end

local function logits(dt)
  return graphids.tensor(LOGITS, { dtype = dt or "f64" })
end

local function check_ce(o)
  local losses, denom = ref_ce(LOGITS, TARGET, o)
  local opts = {}
  for k, v in pairs(o or {}) do
    opts[k] = k == "weight" and graphids.tensor(v, F64) or v
  end
  local t = long(TARGET)
  opts.reduction = "none"
  near(F.cross_entropy(logits(), t, opts):totable(), losses, 1e-12)
  opts.reduction = "sum"
  near(F.cross_entropy(logits(), t, opts):item(), sum(losses), 1e-12)
  opts.reduction = "mean"
  near(F.cross_entropy(logits(), t, opts):item(), sum(losses) / denom, 1e-12)
end

describe("nn.functional.cross_entropy", function()
  it("is -log softmax at the target, averaged", function()
    check_ce()
    local lp = logsoftmax_rows(LOGITS)
    near(F.cross_entropy(logits(), long(TARGET)):item(),
      -(lp[1][2] + lp[2][3] + lp[3][1] + lp[4][3]) / 4, 1e-12)
  end)

  it("divides by the summed weights of the targets with class weights", function()
    check_ce({ weight = { 0.2, 1.0, 3.0 } })
  end)

  it("skips ignore_index targets in the sum and the mean's denominator", function()
    local saved = TARGET
    TARGET = { 1, -100, 0, 2 }
    check_ce()
    check_ce({ weight = { 0.2, 1.0, 3.0 } })
    TARGET = { 1, 1, 0, 1 }
    check_ce({ ignore_index = 1, weight = { 0.2, 1.0, 3.0 } })
    TARGET = saved
  end)

  it("mixes in the uniform distribution with label smoothing, weights and ignored targets", function()
    check_ce({ label_smoothing = 0.1 })
    check_ce({ label_smoothing = 0.3, weight = { 0.2, 1.0, 3.0 } })
    local saved = TARGET
    TARGET = { 1, 2, -100, 2 }
    check_ce({ label_smoothing = 0.2, weight = { 0.5, 1.0, 2.0 } })
    TARGET = saved
  end)

  it("gives NaN for a mean over only ignored targets, as torch, with zero gradients", function()
    local l = F.cross_entropy(logits(), long({ -100, -100, -100, -100 }))
    assert.is_true(l:item() ~= l:item())
    for _, loss in ipairs({ "cross_entropy", "focal_loss" }) do
      local x = logits():requires_grad_()
      F[loss](x, long({ -100, -100, -100, -100 })):backward()
      for _, row in ipairs(x.grad:totable()) do near(row, { 0, 0, 0 }, 0) end
    end
  end)

  it("divides the mean by any non-zero weight total, negative or tiny, as torch", function()
    -- sum_n w[t_n] * CE_n / sum_n w[t_n]: a common factor of the weights cancels
    local plain = F.cross_entropy(logits(), long(TARGET)):item()
    for _, k in ipairs({ -1, 1e-31, -3e-40 }) do
      local w = graphids.tensor({ k, k, k }, F64)
      near(F.cross_entropy(logits(), long(TARGET), { weight = w }):item(), plain, 1e-12)
      near(F.nll_loss(graphids.log_softmax(logits(), 2), long(TARGET), { weight = w }):item(), plain,
        1e-12)
    end
    local lp = logsoftmax_rows(LOGITS)
    local w = { 1, -3, 2 }
    local num, den = 0, 0
    for i = 1, 4 do
      num = num - w[TARGET[i] + 1] * lp[i][TARGET[i] + 1]
      den = den + w[TARGET[i] + 1]
    end
    near(F.cross_entropy(logits(), long(TARGET), { weight = graphids.tensor(w, F64) }):item(),
      num / den, 1e-12)
  end)

  it("accepts class probabilities, with label smoothing and weights", function()
    local p = { { 0.2, 0.5, 0.3 }, { 0, 0, 1 }, { 1 / 3, 1 / 3, 1 / 3 }, { 0.5, 0.5, 0 } }
    local w = { 0.5, 1, 2 }
    local lp = logsoftmax_rows(LOGITS)
    local eps = 0.1
    local rows = {}
    for i = 1, 4 do
      rows[i] = 0
      for c = 1, 3 do
        rows[i] = rows[i] - w[c] * ((1 - eps) * p[i][c] + eps / 3) * lp[i][c]
      end
    end
    local pt, wt = graphids.tensor(p, F64), graphids.tensor(w, F64)
    near(F.cross_entropy(logits(), pt, { weight = wt, label_smoothing = eps, reduction = "none" })
      :totable(), rows, 1e-12)
    near(F.cross_entropy(logits(), pt, { weight = wt, label_smoothing = eps }):item(),
      sum(rows) / 4, 1e-12)
    errors("ignore_index is not supported for class%-probability targets", F.cross_entropy,
      logits(), pt, { ignore_index = 0 })
  end)

  it("takes [C] and [N, C, d] inputs with the class dim second", function()
    local lp = logsoftmax_rows(LOGITS)
    near(F.cross_entropy(logits():select(1, 1), graphids.tensor(1)):item(), -lp[1][2], 1e-12)
    -- [2, 3, 2]: sample n, position d holds LOGITS row 2 * (n - 1) + d
    local x = logits():view(2, 2, 3):permute(1, 3, 2)
    local t = long({ { 1, 2 }, { 0, 2 } })
    near(F.cross_entropy(x, t, { reduction = "none" }):totable(),
      { { -lp[1][2], -lp[2][3] }, { -lp[3][1], -lp[4][3] } }, 1e-12)
    near(F.cross_entropy(x, t, { label_smoothing = 0.1 }):item(),
      sum(ref_ce(LOGITS, TARGET, { label_smoothing = 0.1 })) / 4, 1e-12)
  end)

  it("refuses bad targets, shapes and options clearly", function()
    errors("cross_entropy: target 3 is out of bounds for 3 classes", F.cross_entropy, logits(),
      long({ 0, 3, 1, 1 }))
    errors("cross_entropy: target %-1 is out of bounds", F.cross_entropy, logits(),
      long({ 0, -1, 1, 1 }))
    errors("cross_entropy: target shape %[3%] does not match input %[4, 3%]", F.cross_entropy,
      logits(), long({ 0, 1, 1 }))
    errors("cross_entropy: weight must have shape %[3%]", F.cross_entropy, logits(), long(TARGET),
      { weight = graphids.ones(2, F64) })
    errors("cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'", F.cross_entropy,
      logits(), long(TARGET), { reduction = "avg" })
    errors("cross_entropy: unknown option 'ignore' %(did you mean 'ignore_index'%?%)",
      F.cross_entropy, logits(), long(TARGET), { ignore = 1 })
  end)

  it("passes gradcheck with every option", function()
    local t = long({ 1, -100, 0, 2 })
    local w = graphids.tensor({ 0.2, 1.0, 3.0 }, F64)
    for _, red in ipairs({ "mean", "sum", "none" }) do
      local fn = function(x)
        return F.cross_entropy(x, t, { weight = w, label_smoothing = 0.2, reduction = red })
      end
      assert.is_true(gradcheck(fn, { logits():requires_grad_() }), red)
    end
    local p = graphids.softmax(graphids.randn(4, 3, F64), 2):requires_grad_()
    assert.is_true(gradcheck(function(x, q) return F.cross_entropy(x, q) end,
      { logits():requires_grad_(), p }))
  end)
end)

describe("nn.functional.nll_loss", function()
  it("picks -input at the target, weighted and ignoring as cross_entropy", function()
    local lp = logsoftmax_rows(LOGITS)
    local x = graphids.tensor(lp, F64)
    near(F.nll_loss(x, long(TARGET)):item(), -(lp[1][2] + lp[2][3] + lp[3][1] + lp[4][3]) / 4,
      1e-12)
    local w = graphids.tensor({ 0.2, 1.0, 3.0 }, F64)
    local got = F.nll_loss(x, long({ 1, 2, -100, 0 }), { weight = w })
    near(got:item(), -(lp[1][2] * 1 + lp[2][3] * 3 + lp[4][1] * 0.2) / 4.2, 1e-12)
    near(F.nll_loss(x, long({ 1, 2, 1, 0 }), { ignore_index = 1, reduction = "none" }):totable(),
      { 0, -lp[2][3], 0, -lp[4][1] }, 1e-12)
    assert.is_true(gradcheck(function(v) return F.nll_loss(v, long({ 1, 2, -100, 0 }),
      { weight = w }) end, { x:clone():requires_grad_() }))
  end)
end)

describe("nn.functional.focal_loss", function()
  local function ref(gamma, alpha)
    local lp = logsoftmax_rows(LOGITS)
    local out = {}
    for i = 1, 4 do
      local ce = -lp[i][TARGET[i] + 1]
      local pt = math.exp(-ce)
      out[i] = (1 - pt) ^ gamma * ce * (alpha and alpha[TARGET[i] + 1] or 1)
    end
    return out
  end

  it("is mean((1 - p_t)^gamma * CE), the reference's definition", function()
    near(F.focal_loss(logits(), long(TARGET)):item(), sum(ref(2)) / 4, 1e-12)
    near(F.focal_loss(logits(), long(TARGET), { gamma = 0 }):item(),
      F.cross_entropy(logits(), long(TARGET)):item(), 1e-12)
    near(F.focal_loss(logits(), long(TARGET), { gamma = 1.5, reduction = "none" }):totable(),
      ref(1.5), 1e-12)
    local a = { 0.25, 0.5, 0.75 }
    near(F.focal_loss(logits(), long(TARGET), { alpha = graphids.tensor(a, F64),
      reduction = "sum" }):item(), sum(ref(2, a)), 1e-12)
    near(F.focal_loss(logits(), long(TARGET), { alpha = 0.25 }):item(), 0.25 * sum(ref(2)) / 4,
      1e-12)
  end)

  it("gives a certain, right prediction a zero gradient below gamma 1 (it was NaN, as in torch)",
    function()
      for _, dt in ipairs({ "f32", "f64" }) do
        local x = graphids.tensor({ { 30, -30 }, { 0.3, 0.1 } }, { dtype = dt }):requires_grad_()
        local loss = F.focal_loss(x, long({ 0, 1 }), { gamma = 0.5 })
        loss:backward()
        local g = x.grad:totable()
        for _, row in ipairs(g) do
          for _, v in ipairs(row) do assert.is_true(v == v, dt .. ": a NaN gradient") end
        end
        near(g[1], { 0, 0 }, 1e-30)
        assert.is_true(math.abs(g[2][1]) > 0.1)
      end
    end)

  it("raises cross_entropy's checks as its own, at the caller's line", function()
    helpers.errors_at_caller("focal_loss: class targets must be i64, i32 or u8, got bool", F.focal_loss,
      logits(), graphids.tensor({ true, false, true, false }))
    helpers.errors_at_caller("focal_loss: target 5 is out of bounds for 3 classes", F.focal_loss, logits(),
      long({ 0, 1, 5, 2 }))
    -- an op's refusal inside cross_entropy too (it read 'functional.lua:470: log_softmax: ...')
    helpers.errors_at_caller("focal_loss: input must be a float tensor %(f32 or f64%), got i64", F.focal_loss,
      logits():long(), long({ 0, 1, 2, 0 }))
  end)

  it("refuses a per-class alpha tensor with class-probability targets", function()
    local p = graphids.tensor({ { 0.2, 0.3, 0.5 }, { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, F64)
    errors("focal_loss: a per%-class alpha tensor needs class%-id targets, got f64", F.focal_loss,
      logits(), p, { alpha = graphids.tensor({ 0.25, 0.5, 0.25 }, F64) })
    assert.is_true(F.focal_loss(logits(), p, { alpha = 0.5 }):item() > 0)
  end)

  it("refuses an alpha tensor without one value per class, naming its length and the classes",
    function()
      -- index_select read only the classes the targets held: 4 values for these 3 classes, or 2
      -- while no target was class 2, gave a loss
      local at = helpers.errors_at_caller
      at("^spec/support/helpers%.lua:%d+: focal_loss: alpha has 4 values, but the input has 3 classes "
        .. "%(dim 2 of %[4, 3%]%); give one per class$", F.focal_loss, logits(), long(TARGET),
        { alpha = graphids.tensor({ 0.25, 0.5, 0.75, 1 }, F64) })
      at("focal_loss: alpha has 2 values, but the input has 3 classes", F.focal_loss, logits(),
        long({ 0, 1, 1, 0 }), { alpha = graphids.tensor({ 0.25, 0.5 }, F64) })
      at("focal_loss: alpha has 2 values, but the input has 3 classes %(dim 1 of %[3%]%)", F.focal_loss,
        logits():select(1, 1), long(1), { alpha = graphids.tensor({ 0.25, 0.5 }, F64) })
      at("^spec/support/helpers%.lua:%d+: focal_loss: alpha must be 1%-D %(one value per class%), got "
        .. "shape %[1, 3%]$", F.focal_loss, logits(), long(TARGET),
        { alpha = graphids.tensor({ { 0.25, 0.5, 0.75 } }, F64) })
      at("^spec/support/helpers%.lua:%d+: FocalLoss: alpha has 4 values, but the input has 3 classes",
        nn.FocalLoss({ alpha = graphids.tensor({ 0.25, 0.5, 0.75, 1 }, F64) }), logits(), long(TARGET))
    end)

  it("passes gradcheck", function()
    for _, g in ipairs({ 0, 0.5, 1, 2 }) do
      assert.is_true(gradcheck(function(x) return F.focal_loss(x, long(TARGET), { gamma = g }) end,
        { logits():requires_grad_() }), "gamma " .. g)
    end
  end)
end)

local function pointwise(x, y, fn)
  local out = {}
  for i = 1, #x do
    out[i] = {}
    for j = 1, #x[i] do
      out[i][j] = fn(x[i][j], y[i][j], i, j)
    end
  end
  return out
end

local function flat_sum(t)
  local s = 0
  for _, row in ipairs(t) do
    s = s + sum(row)
  end
  return s
end

local X = { { 0.5, -1.5, 2.0 }, { 0.1, 0.0, -0.3 } }
local Y = { { 0.0, 1.0, 2.5 }, { 0.4, -2.0, -0.3 } }

local function check_pointwise(fn, ref, opts)
  local x, y = graphids.tensor(X, F64), graphids.tensor(Y, F64)
  local want = pointwise(X, Y, ref)
  local o = {}
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  o.reduction = "none"
  near(fn(x, y, o):totable(), want, 1e-12)
  o.reduction = "sum"
  near(fn(x, y, o):item(), flat_sum(want), 1e-12)
  o.reduction = nil
  near(fn(x, y, o):item(), flat_sum(want) / 6, 1e-12)
  for _, red in ipairs({ "mean", "none" }) do
    o.reduction = red
    assert.is_true(gradcheck(function(a, b) return fn(a, b, o) end,
      { x:clone():requires_grad_(), y:clone():requires_grad_() }))
  end
  errors("target shape %[3%] must equal the input shape %[2, 3%]", fn, x, graphids.zeros(3, F64))
end

describe("nn.functional regression losses", function()
  it("mse_loss", function()
    check_pointwise(F.mse_loss, function(a, b) return (a - b) ^ 2 end)
  end)

  it("l1_loss", function()
    -- X and Y differ everywhere except at [2][3], where |d| has no derivative; avoid it there
    X[2][3] = -0.25
    check_pointwise(F.l1_loss, function(a, b) return math.abs(a - b) end)
    X[2][3] = -0.3
  end)

  it("smooth_l1_loss with beta", function()
    for _, beta in ipairs({ 1.0, 0.5 }) do
      check_pointwise(F.smooth_l1_loss, function(a, b)
        local d = math.abs(a - b)
        return d < beta and 0.5 * d * d / beta or d - 0.5 * beta
      end, { beta = beta })
    end
    local x, y = graphids.tensor(X, F64), graphids.tensor(Y, F64)
    near(F.smooth_l1_loss(x, y, { beta = 0 }):item(), F.l1_loss(x, y):item(), 1e-12)
  end)

  it("huber_loss with delta", function()
    for _, delta in ipairs({ 1.0, 0.4 }) do
      check_pointwise(F.huber_loss, function(a, b)
        local d = math.abs(a - b)
        return d < delta and 0.5 * d * d or delta * (d - 0.5 * delta)
      end, { delta = delta })
    end
  end)

  it("raise their option, operand and shape checks at the caller's line", function()
    local a, b, c = graphids.zeros(3), graphids.zeros(4), graphids.zeros(3)
    for _, name in ipairs({ "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss" }) do
      helpers.errors_at_caller(name .. ": target shape %[4%] must equal the input shape %[3%]", F[name], a, b)
      helpers.errors_at_caller(name .. ": reduction must be 'none', 'mean' or 'sum', got 'x'", F[name], a, c,
        { reduction = "x" })
      helpers.errors_at_caller(name .. ": unknown option 'bogus'", F[name], a, c, { bogus = 1 })
      helpers.errors_at_caller(name .. ": target must be a tensor, got 5$", F[name], a, 5)
    end
  end)
end)

describe("nn.functional binary cross-entropy", function()
  local P = { { 0.1, 0.5, 0.9 }, { 0.99, 0.3, 0.02 } }
  local T = { { 0.0, 1.0, 1.0 }, { 1.0, 0.25, 0.0 } }

  it("binary_cross_entropy with weights, clamping log at -100", function()
    local w = { 1, 2, 0.5 }
    local want = pointwise(P, T, function(p, t, _, j)
      return -w[j] * (t * math.log(p) + (1 - t) * math.log(1 - p))
    end)
    local p, t = graphids.tensor(P, F64), graphids.tensor(T, F64)
    near(F.binary_cross_entropy(p, t, { weight = graphids.tensor(w, F64), reduction = "none" })
      :totable(), want, 1e-12)
    near(F.binary_cross_entropy(p, t, { weight = graphids.tensor(w, F64) }):item(),
      flat_sum(want) / 6, 1e-12)
    near(F.binary_cross_entropy(graphids.tensor({ 0.0, 1.0 }, F64),
      graphids.tensor({ 1.0, 0.0 }, F64), { reduction = "none" }):totable(), { 100, 100 }, 0)
    errors("binary_cross_entropy: all elements of input should be between 0 and 1",
      F.binary_cross_entropy, graphids.tensor({ 1.5 }), graphids.tensor({ 1.0 }))
    assert.is_true(gradcheck(function(a, b) return F.binary_cross_entropy(a, b) end,
      { p:clone():requires_grad_(), t:clone():requires_grad_() }))
    -- torch's gradient where an input is exactly 0 or 1: (x - t) / max(x (1 - x), 1e-12), not
    -- the NaN of the composed log and clamp
    local x = graphids.tensor({ 0.0, 1.0, 0.5, 1.0 }, F64):requires_grad_()
    F.binary_cross_entropy(x, graphids.tensor({ 1.0, 0.0, 1.0, 1.0 }, F64), { reduction = "sum" })
      :backward()
    assert.same({ -1e12, 1e12, -2, 0 }, x.grad:totable())
  end)

  it("binary_cross_entropy_with_logits is stable and weights positives", function()
    local X2 = { { -3.0, 0.0, 2.0 }, { 40.0, -40.0, 0.5 } }
    local pw, w = { 1.0, 3.0, 0.5 }, { 2.0, 1.0, 1.0 }
    local want = pointwise(X2, T, function(x, t, _, j)
      local lsig = -math.log(1 + math.exp(-x))     -- log sigmoid(x)
      local lnot = -math.log(1 + math.exp(x))      -- log (1 - sigmoid(x))
      return -w[j] * (pw[j] * t * lsig + (1 - t) * lnot)
    end)
    local x, t = graphids.tensor(X2, F64), graphids.tensor(T, F64)
    local o = { pos_weight = graphids.tensor(pw, F64), weight = graphids.tensor(w, F64) }
    o.reduction = "none"
    near(F.binary_cross_entropy_with_logits(x, t, o):totable(), want, 1e-12)
    o.reduction = "sum"
    near(F.binary_cross_entropy_with_logits(x, t, o):item(), flat_sum(want), 1e-12)
    -- a weight that would grow the input's shape (and the mean's count) is refused, as torch
    local x1, t1, w23 = graphids.rand(3), graphids.rand(3), graphids.rand(2, 3)
    errors("binary_cross_entropy: weight of shape %[2,3%] does not broadcast to the input's shape %[3%]",
      F.binary_cross_entropy, x1, t1, { weight = w23 })
    errors("binary_cross_entropy_with_logits: pos_weight of shape %[2,3%] does not broadcast",
      F.binary_cross_entropy_with_logits, x1, t1, { pos_weight = w23 })
    errors("binary_cross_entropy_with_logits: weight of shape %[2,3%]",
      F.binary_cross_entropy_with_logits, x1, t1, { weight = w23 })
    helpers.errors_at_caller("binary_cross_entropy: weight must be a tensor, got 2%.0$",
      F.binary_cross_entropy, x1, t1, { weight = 2.0 })
    helpers.errors_at_caller("binary_cross_entropy_with_logits: pos_weight must be a tensor, got 2%.0$",
      F.binary_cross_entropy_with_logits, x1, t1, { pos_weight = 2.0 })
    -- f32 logits far beyond exp's range stay finite
    local big = F.binary_cross_entropy_with_logits(graphids.tensor({ 200.0, -200.0 }),
      graphids.tensor({ 0.0, 1.0 }), { reduction = "none" })
    near(big:totable(), { 200, 200 }, 1e-6)
    -- with no options it is binary_cross_entropy of the sigmoid
    near(F.binary_cross_entropy_with_logits(x, t):item(),
      F.binary_cross_entropy(x:sigmoid(), t):item(), 1e-9)
    o.reduction = "mean"
    assert.is_true(gradcheck(function(a, b) return F.binary_cross_entropy_with_logits(a, b, o) end,
      { x:clone():requires_grad_(), t:clone():requires_grad_() }))
  end)
end)

describe("nn.functional.kl_div", function()
  local LQ = logsoftmax_rows({ { 1.0, 0.0, -1.0 }, { 0.5, 0.5, 2.0 } })
  local P = { { 0.7, 0.3, 0.0 }, { 0.2, 0.2, 0.6 } }

  it("is p (log p - input), zero where p is 0, with batchmean", function()
    local want = pointwise(LQ, P, function(lq, p)
      return p > 0 and p * (math.log(p) - lq) or 0
    end)
    local lq, p = graphids.tensor(LQ, F64), graphids.tensor(P, F64)
    near(F.kl_div(lq, p, { reduction = "none" }):totable(), want, 1e-12)
    near(F.kl_div(lq, p, { reduction = "batchmean" }):item(), flat_sum(want) / 2, 1e-12)
    near(F.kl_div(lq, p):item(), flat_sum(want) / 6, 1e-12)
    near(F.kl_div(lq, p, { reduction = "sum" }):item(), flat_sum(want), 1e-12)
    errors("kl_div: reduction must be", F.kl_div, lq, p, { reduction = "batch" })
    assert.is_true(gradcheck(function(a) return F.kl_div(a, p, { reduction = "batchmean" }) end,
      { lq:clone():requires_grad_() }))
  end)

  it("takes log-probability targets with log_target", function()
    local LP = logsoftmax_rows({ { 0.0, 1.0, 2.0 }, { 1.0, 1.0, 1.0 } })
    local want = pointwise(LQ, LP, function(lq, lp) return math.exp(lp) * (lp - lq) end)
    local lq, lp = graphids.tensor(LQ, F64), graphids.tensor(LP, F64)
    near(F.kl_div(lq, lp, { reduction = "batchmean", log_target = true }):item(),
      flat_sum(want) / 2, 1e-12)
    assert.is_true(gradcheck(function(a, b)
      return F.kl_div(a, b, { reduction = "sum", log_target = true })
    end, { lq:clone():requires_grad_(), lp:clone():requires_grad_() }))
  end)
end)

describe("nn loss modules", function()
  it("call their functional with the options they were built with", function()
    local w = graphids.tensor({ 0.2, 1.0, 3.0 }, F64)
    local crit = nn.CrossEntropyLoss({ weight = w, label_smoothing = 0.1, reduction = "sum" })
    near(crit(logits(), long(TARGET)):item(), F.cross_entropy(logits(), long(TARGET),
      { weight = w, label_smoothing = 0.1, reduction = "sum" }):item(), 1e-12)
    -- tensor options are buffers, named as torch names them
    assert.same({ "weight" }, crit:state_dict():keys())
    assert.same({}, nn.CrossEntropyLoss():state_dict():keys())
    assert.equal("CrossEntropyLoss(ignore_index=-100, label_smoothing=0.1, reduction='sum')",
      tostring(crit))
    local x, y = graphids.tensor(X, F64), graphids.tensor(Y, F64)
    local checks = {
      { nn.MSELoss(), F.mse_loss(x, y) },
      { nn.L1Loss({ reduction = "sum" }), F.l1_loss(x, y, { reduction = "sum" }) },
      { nn.SmoothL1Loss({ beta = 0.5 }), F.smooth_l1_loss(x, y, { beta = 0.5 }) },
      { nn.HuberLoss({ delta = 0.5 }), F.huber_loss(x, y, { delta = 0.5 }) },
    }
    for i, c in ipairs(checks) do
      near(c[1](x, y):item(), c[2]:item(), 1e-12, "case " .. i)
    end
    near(nn.NLLLoss()(graphids.log_softmax(logits(), 2), long(TARGET)):item(),
      F.cross_entropy(logits(), long(TARGET)):item(), 1e-12)
    near(nn.FocalLoss({ gamma = 2 })(logits(), long(TARGET)):item(),
      F.focal_loss(logits(), long(TARGET)):item(), 1e-12)
    local pw = graphids.tensor({ 2.0, 1.0, 0.5 }, F64)
    local p = graphids.sigmoid(y)
    near(nn.BCEWithLogitsLoss({ pos_weight = pw })(x, p):item(),
      F.binary_cross_entropy_with_logits(x, p, { pos_weight = pw }):item(), 1e-12)
    assert.same({ "pos_weight" }, nn.BCEWithLogitsLoss({ pos_weight = pw }):state_dict():keys())
    near(nn.BCELoss()(graphids.sigmoid(x), p):item(),
      F.binary_cross_entropy(graphids.sigmoid(x), p):item(), 1e-12)
    local lq = graphids.log_softmax(x, 2)
    near(nn.KLDivLoss({ reduction = "batchmean" })(lq, graphids.softmax(y, 2)):item(),
      F.kl_div(lq, graphids.softmax(y, 2), { reduction = "batchmean" }):item(), 1e-12)
    errors("MSELoss: unknown option 'reduce'", nn.MSELoss, { reduce = "sum" })
    errors("MSELoss: reduction must be", nn.MSELoss, { reduction = "batchmean" })
  end)

  it("refuse a bad reduction at the constructor's caller's line", function()
    for _, name in ipairs({ "CrossEntropyLoss", "NLLLoss", "FocalLoss", "BCELoss", "BCEWithLogitsLoss",
      "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss" }) do
      helpers.errors_at_caller(name .. ": reduction must be 'none', 'mean' or 'sum', got 'avg'", nn[name],
        { reduction = "avg" })
    end
  end)
end)

describe("nn.functional.one_hot", function()
  it("puts a 1 at each class id", function()
    assert.same({ { 0, 1, 0 }, { 1, 0, 0 }, { 0, 0, 1 } }, F.one_hot(long({ 1, 0, 2 })):totable())
    assert.same({ { { 0, 0, 0, 1 } } }, F.one_hot(long({ { 3 } }), 4):totable())
    assert.equal("i64", F.one_hot(long({ 0 })).dtype)
    errors("one_hot: class value 3 is out of range for 3 classes", F.one_hot, long({ 3 }), 3)
    errors("one_hot: class values must be non%-negative", F.one_hot, long({ -1 }))
  end)
end)
