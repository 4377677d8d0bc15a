-- tensor_math_spec.lua -- graphids.tensor_math (nan_to_num, nansum, lerp, hypot, logit, xlogy,
-- addcmul, addcdiv, clip, isclose, median, kthvalue, sinh, cosh) against PyTorch's values and
-- gradients (torch 2.x, f64 unless said).  Dims are 1-based here, 0-based in torch.  seq(shape,
-- offset) = sin(arange(numel) + offset) on both sides; gradients are those of sum(out * w), w =
-- cos(arange(numel)) in out's shape.  TORCH holds the results of (L = torch.tensor, f64):
--   torch.nan_to_num(L(v)) in f32 and f64, v = [nan, inf, -inf, 1.5, -0.0];
--     torch.nan_to_num(L(v), nan=1.0, posinf=2.0, neginf=-3.0); its gradient
--   torch.nansum(m), (m, 1), (m, 0, keepdim=True), m = L([[1, nan, 2], [nan, nan, 3]]);
--     gradient of (m, 1)
--   torch.lerp(a, b, w) for w in (0.25, 0.75, 1.0), a, b = seq(4), seq(4, offset=10);
--     torch.lerp(a, b, L([0.25, 0.5, 1.0, -0.75])) and its gradients
--   torch.hypot(L([3., 0, 1e200, 1e-200, inf, nan, -5, 2.5]), L([4., 0, 1e200, 3e-200, nan, 1, 12, -0.5]))
--   torch.hypot(L([3e20, 1e-30, 3]), L([4e20, 0, 4])) in f32; gradients of
--     torch.hypot(L([3., -5, 2.5, 1e-3]), L([4., 12, -0.5, 0]))
--   torch.logit(x), torch.logit(x, 0.1), x = L([0.0, 0.05, 0.1, 0.3, 0.9, 0.95, 1.0]), gradient of the
--     latter; gradient of torch.logit(L([0.2, 0.3, 0.9]))
--   torch.xlogy(L([0., 0, 0, 0, 0, 2, -1.5, 3]), L([0., nan, inf, 3, -2, 0, 4, 0.5])); gradients of
--     torch.xlogy(L([2., -1.5, 3, 0]), L([5., 4, 0.5, 3])); torch.xlogy(2, L([3., 0.5]))
--   torch.addcmul(seq(2, 3), seq(2, 3, offset=5), seq(3, offset=9), value=-0.5)
--   torch.addcdiv(seq(2, 3), seq(2, 3, offset=5), seq(3, offset=9) + 2, value=2.0)
--   torch.isclose(ia, ib), (equal_nan=True), (rtol=1e-4, atol=1e-8),
--     ia = L([1.0, inf, nan, 1, 1e-9, 100, -inf, 0]),
--     ib = L([1 + 1e-6, inf, nan, inf, 0, 100.001, -inf, 1e-9]);
--     torch.isclose(torch.tensor([1, 2, 10]), torch.tensor([1, 3, 12]), rtol=0.1, atol=1)
--   torch.median(L([3., 1, 4, 1.5, 9, 2])), (L([3., 1, 4, 1.5, 9])), (md), (md, 1), (md, 0, keepdim=True),
--     md = L([[4., 1, 3, 2], [0.5, nan, -1, 7], [9, 8, 6, 5]]);
--     torch.median(torch.tensor([[5, 3, 8], [2, 9, 4]]), 1);
--     gradients of torch.median(L([[4., 1, 3, 2], [0.5, 6, -1, 7]]), 1) and torch.median(L([4., 1, 3, 2]))
--   torch.kthvalue(md, k, 1) for k in (1, 2, 4); torch.kthvalue(md, 2, 0, keepdim=True);
--     gradient of torch.kthvalue(L([[4., 1, 3, 2], [0.5, 6, -1, 7]]), 3)
--   torch.sinh(hx), torch.cosh(hx),
--     hx = L([0., 1e-10, -1e-10, 0.5, -1, 3, 19.5, 20, -20.5, 30, -300, 700, 710, 711, nan]);
--     the same of L([1e-10, -2, 21, 88.5, -89, 90]) in f32; gradients at L([0., 0.5, -1, 3, 20, -25, 50])
local graphids = require "graphids"
local helpers = require "helpers"
local errors, near, long = helpers.errors, helpers.near, helpers.long

local NAN, INF = 0 / 0, math.huge
local TOL = 1e-10 -- (the values below are rounded to 12 digits)

local ref = require "torch_ref"
local seq, backward = ref.seq, ref.backward
local function f64(t, grad)
  local x = graphids.tensor(t, { dtype = "f64" })
  return grad and x:requires_grad_() or x
end

local TORCH = {
  ntn_f32 = { 0.0, 3.4028234663852886e+38, -3.4028234663852886e+38, 1.5, -0.0 },
  ntn_f64 = { 0.0, 1.7976931348623157e+308, -1.7976931348623157e+308, 1.5, -0.0 },
  ntn_opts = { 1.0, 2.0, -3.0, 1.5, -0.0 },
  ntn_g = { 0.0, 0.0, -0.0, -0.98999249660044542, -0.65364362086361194 },
  nansum = 6.0,
  nansum_1 = { 3.0, 3.0 },
  nansum_0k = { { 1.0, 0.0, 5.0 } },
  nansum_g = { { 1.0, 0.0, 1.0 }, { 0.0, 0.0, 0.54030230586813977 } },
  lerp_25 = { -0.13600527772234244, 0.38110568696824654, 0.54782984061915252, 0.21088176525156063 },
  lerp_75 = { -0.40801583316702733, -0.53962490871105351, -0.17510533179390575, 0.3504052796349475 },
  lerp_100 = { -0.54402111088936977, -0.99999020655070348, -0.53657291800043494, 0.42016703682664092 },
  lerp_t = { -0.13600527772234244, -0.079259610871403541, -0.53657291800043494, -0.068165263515213015 },
  lerp_ga = { 0.75, 0.27015115293406988, -0.0, -1.7324868690507795 },
  lerp_gb = { 0.25, 0.27015115293406988, -0.41614683654714241, 0.74249437245033412 },
  lerp_gw = { -0.54402111088936977, -0.99494572785774327, 0.60169437005671444, -0.27625446467775461 },
  hypot = { 5.0, 0.0, 1.414213562373095e+200, 3.1622776601683794e-200, INF, NAN, 13.0, 2.5495097567963922
      },
  hypot_f32 = { 5.0000001002043867e+20, 1.0000000031710769e-30, 5.0 },
  hypot_ga = { 0.59999999999999998, -0.20780857918005374, -0.40806554616803581, -0.98999249660044553 },
  hypot_gb = { 0.80000000000000004, 0.49874059003212901, 0.081613109233607165, -0.0 },
  logit = { -INF, -2.9444389791664403, -2.1972245773362191, -0.84729786038720356, 2.1972245773362196,
      2.9444389791664394, INF },
  logit_eps = { -2.1972245773362191, -2.1972245773362191, -2.1972245773362191, -0.84729786038720356,
      2.1972245773362196, 2.1972245773362196, 2.1972245773362196 },
  logit_eps_g = { 0.0, 0.0, -4.6238537394126933, -4.7142499838116452, -7.2627068984845788, 0.0, 0.0 },
  logit_g = { 6.2499999999999991, 2.5728681231816179, -4.6238537394126942 },
  xlogy = { 0.0, NAN, 0.0, 0.0, 0.0, -INF, -2.0794415416798357, -2.0794415416798357 },
  xlogy_ga = { 1.6094379124341003, 0.74901803992507654, 0.28845100645159216, -1.0876179224544713 },
  xlogy_gb = { 0.40000000000000002, -0.20261336470055241, -2.4968810192828546, -0.0 },
  xlogy_num = { 2.1972245773362196, -1.3862943611198906 },
  addcmul = { { 0.19759520976786138, 0.7654670199429533, 1.2377875091026047 }, { -0.06274640292006696,
      -0.64470191722829584, -1.2309321661862405 } },
  addcmul_gt = { { 1.0, 0.54030230586813977, -0.41614683654714241 }, { -0.98999249660044542,
      -0.65364362086361194, 0.28366218546322625 } },
  addcmul_g1 = { { -0.2060592426208783, 0.14696793032723673, -0.20807138051709939 }, {
      0.20399710404984023, -0.17779796437398609, 0.14182970371599779 } },
  addcmul_g2 = { 0.96919075763502971, 0.21017372844521176, 0.21386055598185089 },
  addcdiv = { { -0.79508886526942679, 0.45765292221276649, 2.223257756059398 }, { 0.96144309971282349,
      -0.19069746682980937, -2.0469558408599013 } },
  addcdiv_gt = { { 1.0, 0.54030230586813977, -0.41614683654714241 }, { -0.98999249660044542,
      -0.65364362086361194, 0.28366218546322625 } },
  addcdiv_g1 = { { 0.82914666598541831, 0.74218425817722933, -0.83228552214822349 }, {
      -0.82084897790683986, -0.89787513507545902, 0.56731881491840375 } },
  addcdiv_g2 = { 0.66630332656849145, 0.39657767648693776, 0.85542546871344882 },
  isclose = { true, true, false, false, true, true, true, true },
  isclose_nan = { true, true, true, false, true, true, true, true },
  isclose_tol = { true, true, false, false, true, true, true, true },
  isclose_int = { true, true, true },
  median_all = 2.0,
  median_odd = 3.0,
  median_nan = NAN,
  median_1_v = { 2.0, NAN, 6.0 },
  median_1_i = { 3, 1, 2 },
  median_0k_v = { { 4.0, NAN, 3.0, 5.0 } },
  median_0k_i = { { 0, 1, 0, 2 } },
  median_int_v = { 5, 4 },
  median_int_i = { 0, 2 },
  median_g = { { 0.0, 0.0, 0.0, 1.0 }, { 0.54030230586813977, 0.0, 0.0, 0.0 } },
  median_all_g = { 0.0, 0.0, 0.0, 1.0 },
  kth_1_v = { 1.0, -1.0, 5.0 },
  kth_1_i = { 1, 2, 3 },
  kth_2_v = { 2.0, 0.5, 6.0 },
  kth_2_i = { 3, 0, 2 },
  kth_4_v = { 4.0, NAN, 9.0 },
  kth_4_i = { 0, 1, 0 },
  kth_0k_v = { { 4.0, 8.0, 3.0, 5.0 } },
  kth_0k_i = { { 0, 2, 0, 2 } },
  kth_g = { { 0.0, 0.0, 1.0, 0.0 }, { 0.0, 0.54030230586813977, 0.0, 0.0 } },
  sinh = { 0.0, 1e-10, -1e-10, 0.52109530549374738, -1.1752011936438014, 10.017874927409903,
      147133783.0207544, 242582597.70489514, -399951088.73775268, 5343237290762.2314,
      -9.7121319762062791e+129, 5.0711602736750225e+303, 1.1169973830808557e+308, INF, NAN },
  cosh = { 1.0, 1.0, 1.0, 1.1276259652063807, 1.5430806348152437, 10.067661995777765, 147133783.0207544,
      242582597.70489514, 399951088.73775268, 5343237290762.2314, 9.7121319762062791e+129,
      5.0711602736750225e+303, 1.1169973830808557e+308, INF, NAN },
  sinh32 = { 1.000000013351432e-10, -3.6268603801727295, 659407872.0, 1.3615439590064141e+38,
      -2.2448063889081578e+38, INF },
  cosh32 = { 1.0, 3.7621958255767822, 659407872.0, 1.3615439590064141e+38, 2.2448063889081578e+38, INF },
  sinh_g = { 1.0, 0.60925890915779424, -0.64214812471551996, -9.9669098341294529, -158562567.52232859,
      10212533555.051245, 2.489100096790593e+21 },
  cosh_g = { 0.0, 0.28154899513533443, 0.48905625904129368, -9.9176210100175357, -158562567.52232859,
      -10212533555.051245, 2.489100096790593e+21 },
}


describe("tensor_math", function()
  local V = { NAN, INF, -INF, 1.5, -0.0 }

  it("replaces NaN and infinities as nan_to_num, and sums without NaN as nansum", function()
    near(graphids.tensor(V):nan_to_num():totable(), TORCH.ntn_f32, 1e-7)
    near(f64(V):nan_to_num():totable(), TORCH.ntn_f64, 0)
    near(graphids.nan_to_num(f64(V), { nan = 1.0, posinf = 2.0, neginf = -3.0 }):totable(), TORCH.ntn_opts, 0)
    local x = f64(V, true)
    backward(x:nan_to_num())
    near(x.grad:totable(), TORCH.ntn_g, TOL)
    local t = f64(V)
    assert.equal(t, t:nan_to_num_({ posinf = 7 }))
    near(t:totable(), { 0, 7, -1.7976931348623157e308, 1.5, 0 }, 0)
    assert.same({ 1, 2 }, long({ 1, 2 }):nan_to_num():totable())
    local m = f64({ { 1, NAN, 2 }, { NAN, NAN, 3 } })
    near(m:nansum():item(), TORCH.nansum, 0)
    near(graphids.nansum(m, 2):totable(), TORCH.nansum_1, 0)
    near(m:nansum(1, { keepdim = true }):totable(), TORCH.nansum_0k, 0)
    assert.same({ 1, 1 }, m:nansum({ keepdim = true }).shape)
    local g = f64({ { 1, NAN, 2 }, { NAN, NAN, 3 } }, true)
    backward(g:nansum(2))
    near(g.grad:totable(), TORCH.nansum_g, TOL)
    assert.equal(6, long({ 1, 2, 3 }):nansum():item())
  end)

  it("interpolates as lerp, from end's side past the midpoint", function()
    local a, b = seq({ 4 }), seq({ 4 }, 10)
    near(a:lerp(b, 0.25):totable(), TORCH.lerp_25, TOL)
    near(a:lerp(b, 0.75):totable(), TORCH.lerp_75, TOL)
    near(graphids.lerp(a, b, 1.0):totable(), TORCH.lerp_100, 0) -- exactly end
    local w = f64({ 0.25, 0.5, 1.0, -0.75 }, true)
    local y = a:lerp(b, w)
    near(y:totable(), TORCH.lerp_t, TOL)
    backward(y)
    near(a.grad:totable(), TORCH.lerp_ga, TOL)
    near(b.grad:totable(), TORCH.lerp_gb, TOL)
    near(w.grad:totable(), TORCH.lerp_gw, TOL)
  end)

  it("takes hypot as libm does, without overflow, inf beating NaN", function()
    local ha = f64({ 3, 0, 1e200, 1e-200, INF, NAN, -5, 2.5 })
    local hb = f64({ 4, 0, 1e200, 3e-200, NAN, 1, 12, -0.5 })
    near(ha:hypot(hb):totable(), TORCH.hypot, 1e-15)
    near(graphids.hypot(graphids.tensor({ 3e20, 1e-30, 3 }), graphids.tensor({ 4e20, 0, 4 })):totable(),
      TORCH.hypot_f32, 1e-7)
    local a, b = f64({ 3, -5, 2.5, 1e-3 }, true), f64({ 4, 12, -0.5, 0 }, true)
    backward(graphids.hypot(a, b))
    near(a.grad:totable(), TORCH.hypot_ga, TOL)
    near(b.grad:totable(), TORCH.hypot_gb, TOL)
    near(graphids.hypot(f64({ 3 }), 4):totable(), { 5 }, 0)
    -- at 0, 0 the gradient is NaN, as torch's
    local z = f64({ 0 }, true)
    graphids.hypot(z, 0):sum():backward()
    assert.is_true(z.grad:isnan():item())
    -- a 0-d operand promotes only across kinds, as torch's (f64 0-d beside f32 gives f32)
    assert.equal("f32", graphids.hypot(f64(1.25), graphids.tensor({ 4.0, 2.0 })).dtype)
    assert.equal("f64", graphids.hypot(f64({ 1.25 }), graphids.tensor({ 4.0, 2.0 })).dtype)
  end)

  -- torch 2.15 computes hypot in torch.result_type of its operands, with no integer or bool
  -- kernel: torch.hypot(L([3, 5]), L([4., 12.])) is f32 [5, 13], (L(3., dtype=f64), L([4, 12])) f64
  -- [5, 12.36931687685298], (L([True, False]), L([3., 4.])) f32 [3.1622776985168457, 4]; the
  -- gradient of torch.hypot(L([3., 5.]), L([4, 12])) is [0.6, 0.38461539149284363] (f32) and of
  -- torch.hypot(L([4, 12]), L([3., 5.], dtype=f64)) [0.6, 0.38461538461538464]; two integer
  -- tensors are "hypot_cpu" not implemented for 'Long'.  torch takes no number: graphids' is a
  -- wrapped number, as for the binary ops (graphids.result_type).
  it("promotes an integer or bool operand of hypot to the other's float dtype, as torch", function()
    local i = long({ 3, 5 })
    local y = graphids.hypot(i, graphids.tensor({ 4.0, 12.0 }))
    assert.equal("f32", y.dtype)
    assert.same({ 5, 13 }, y:totable())
    y = graphids.hypot(graphids.tensor({ 4.0, 12.0 }), i)
    assert.equal("f32", y.dtype)
    assert.same({ 5, 13 }, y:totable())
    -- a 0-d f64 beside integers is of a higher kind: f64, as torch
    y = graphids.hypot(f64(3), long({ 4, 12 }))
    assert.equal("f64", y.dtype)
    near(y:totable(), { 5, 12.36931687685298 }, 1e-15)
    y = graphids.hypot(graphids.tensor({ true, false }), graphids.tensor({ 3.0, 4.0 }))
    assert.equal("f32", y.dtype)
    near(y:totable(), { 3.1622776985168457, 4 }, 1e-7)
    -- gradients reach the float operand
    local a = graphids.tensor({ 3.0, 5.0 }, { requires_grad = true })
    graphids.hypot(a, long({ 4, 12 })):sum():backward()
    near(a.grad:totable(), { 0.6, 0.38461539149284363 }, 1e-7)
    local b = f64({ 3, 5 }, true)
    graphids.hypot(long({ 4, 12 }), b):sum():backward()
    near(b.grad:totable(), { 0.6, 0.38461538461538464 }, 1e-15)
    -- a float number beside integers gives f32 (torch.hypot(L([3, 5]).float(), L(4.)) is [5,
    -- 6.4031243324279785]); an integer number keeps the integer dtype
    y = graphids.hypot(i, 4.0)
    assert.equal("f32", y.dtype)
    near(y:totable(), { 5, 6.4031243324279785 }, 1e-7)
    assert.equal("f32", graphids.hypot(2.5, graphids.tensor({ true })).dtype)
    errors("hypot: needs a float operand: i64 and the number 4 promote to i64", graphids.hypot, i, 4)
    errors("hypot: needs a float operand: bool and bool promote to bool",
      graphids.hypot, graphids.tensor({ true }), graphids.tensor({ false }))
  end)

  it("takes logit and xlogy as torch, with their gradients", function()
    local lx = { 0.0, 0.05, 0.1, 0.3, 0.9, 0.95, 1.0 }
    near(f64(lx):logit():totable(), TORCH.logit, TOL)
    local x = f64(lx, true)
    local y = x:logit(0.1)
    near(y:totable(), TORCH.logit_eps, TOL)
    backward(y)
    near(x.grad:totable(), TORCH.logit_eps_g, TOL)
    x = f64({ 0.2, 0.3, 0.9 }, true)
    backward(graphids.logit(x))
    near(x.grad:totable(), TORCH.logit_g, TOL)
    assert.same({ -INF, INF }, long({ 0, 1 }):logit():totable())
    -- torch's gradient 1 / (x (1 - x)) is inf at 0 and 1 (a composed quotient's was NaN)
    x = f64({ 0, 0.5, 1, -0.5, 1.5 }, true)
    graphids.logit(x):sum():backward()
    local gx = x.grad:totable()
    assert.same({ INF, 4, INF }, { gx[1], gx[2], gx[3] })
    assert.is_true(gx[4] ~= gx[4] and gx[5] ~= gx[5], "NaN outside [0, 1], as the value")
    near(graphids.xlogy(f64({ 0, 0, 0, 0, 0, 2, -1.5, 3 }), f64({ 0, NAN, INF, 3, -2, 0, 4, 0.5 })):totable(),
      TORCH.xlogy, TOL)
    local a, b = f64({ 2, -1.5, 3, 0 }, true), f64({ 5, 4, 0.5, 3 }, true)
    backward(a:xlogy(b))
    near(a.grad:totable(), TORCH.xlogy_ga, TOL)
    near(b.grad:totable(), TORCH.xlogy_gb, TOL)
    near(graphids.xlogy(2, f64({ 3, 0.5 })):totable(), TORCH.xlogy_num, TOL)
    -- where x = 0 and y = 0, y's gradient is 0 (torch's x / y is NaN there)
    local zy = f64({ 0 }, true)
    graphids.xlogy(f64({ 0 }), zy):sum():backward()
    assert.same({ 0 }, zy.grad:totable())
    -- log(y) in the result's dtype (torch: 1.3732653608351373), and the 0-d promotion rule
    local i32 = graphids.tensor({ 3 }, { dtype = "i32" })
    assert.equal(1.3732653608351373, graphids.xlogy(f64({ 1.25 }), i32):item())
    -- 0 * log(y) for 0 < y < 1 is +0, not -0, as torch's (a float or an integer x)
    assert.equal(math.huge, 1 / graphids.xlogy(f64({ 0 }), 0.5):item())
    assert.equal(math.huge, 1 / graphids.xlogy(graphids.tensor({ 0 }, { dtype = "u8" }), f64({ 0.5 })):item())
    assert.equal("f64", graphids.xlogy(f64(1.25), graphids.tensor({ 4, 2 }, { dtype = "u8" })).dtype)
    assert.equal("f32", graphids.xlogy(graphids.tensor({ 4.0, 2.0 }), f64(1.25)).dtype)
  end)

  it("adds products and quotients as addcmul and addcdiv", function()
    local t, t1, t2 = seq({ 2, 3 }), seq({ 2, 3 }, 5), seq({ 3 }, 9)
    local y = t:addcmul(t1, t2, { value = -0.5 })
    near(y:totable(), TORCH.addcmul, TOL)
    backward(y)
    near(t.grad:totable(), TORCH.addcmul_gt, TOL)
    near(t1.grad:totable(), TORCH.addcmul_g1, TOL)
    near(t2.grad:totable(), TORCH.addcmul_g2, TOL)
    t, t1 = seq({ 2, 3 }), seq({ 2, 3 }, 5)
    t2 = (seq({ 3 }, 9) + 2):detach():requires_grad_()
    y = graphids.addcdiv(t, t1, t2, { value = 2.0 })
    near(y:totable(), TORCH.addcdiv, TOL)
    backward(y)
    near(t.grad:totable(), TORCH.addcdiv_gt, TOL)
    near(t1.grad:totable(), TORCH.addcdiv_g1, TOL)
    near(t2.grad:totable(), TORCH.addcdiv_g2, TOL)
    local acc = seq({ 2, 3 }):detach()
    assert.equal(acc, acc:addcmul_(seq({ 2, 3 }, 5):detach(), seq({ 3 }, 9):detach(), { value = -0.5 }))
    near(acc:totable(), TORCH.addcmul, TOL)
    acc = seq({ 2, 3 }):detach()
    acc:addcdiv_(seq({ 2, 3 }, 5):detach(), (seq({ 3 }, 9) + 2):detach(), { value = 2.0 })
    near(acc:totable(), TORCH.addcdiv, TOL)
    assert.same({ 0, 3, 2 }, long({ -1, 5, 2 }):clip(0, 3):totable())
    assert.same({ 0, 5, 2 }, graphids.clip(long({ -1, 5, 2 }), 0, nil):totable())
  end)

  it("compares as isclose, infinities and NaN included", function()
    local ia = f64({ 1.0, INF, NAN, 1, 1e-9, 100, -INF, 0 })
    local ib = f64({ 1 + 1e-6, INF, NAN, INF, 0, 100.001, -INF, 1e-9 })
    assert.same(TORCH.isclose, ia:isclose(ib):totable())
    assert.same(TORCH.isclose_nan, graphids.isclose(ia, ib, { equal_nan = true }):totable())
    assert.same(TORCH.isclose_tol, ia:isclose(ib, { rtol = 1e-4, atol = 1e-8 }):totable())
    assert.same(TORCH.isclose_int, long({ 1, 2, 10 }):isclose(long({ 1, 3, 12 }), { rtol = 0.1,
      atol = 1 }):totable())
    assert.same({ true, false }, graphids.isclose(f64({ 1, 2 }), 1):totable())
    assert.same({ true, false }, graphids.isclose(graphids.tensor({ true, true }), graphids.tensor({ true,
      false }))
      :totable())
  end)

  it("takes the lower median and the k-th smallest value as torch, with 0-based indices", function()
    near(graphids.median(f64({ 3, 1, 4, 1.5, 9, 2 })):item(), TORCH.median_all, 0)
    near(f64({ 3, 1, 4, 1.5, 9 }):median():item(), TORCH.median_odd, 0)
    local md = f64({ { 4, 1, 3, 2 }, { 0.5, NAN, -1, 7 }, { 9, 8, 6, 5 } })
    near(md:median():item(), TORCH.median_nan, 0)
    local v, i = md:median(2)
    near(v:totable(), TORCH.median_1_v, 0)
    assert.same(TORCH.median_1_i, i:totable())
    v, i = md:median(1, { keepdim = true })
    near(v:totable(), TORCH.median_0k_v, 0)
    assert.same(TORCH.median_0k_i, i:totable())
    v, i = long({ { 5, 3, 8 }, { 2, 9, 4 } }):median(-1)
    assert.same({ TORCH.median_int_v, TORCH.median_int_i }, { v:totable(), i:totable() })
    local x = f64({ { 4, 1, 3, 2 }, { 0.5, 6, -1, 7 } }, true)
    backward((x:median(2)))
    near(x.grad:totable(), TORCH.median_g, TOL)
    x = f64({ 4, 1, 3, 2 }, true)
    x:median():backward()
    assert.same(TORCH.median_all_g, x.grad:totable())
    assert.is_true(graphids.zeros(0):median():isnan():item())
    v, i = graphids.tensor(2.5):median(1)
    assert.same({ 2.5, 0 }, { v:item(), i:item() })
    for _, k in ipairs({ 1, 2, 4 }) do
      v, i = md:kthvalue(k, 2)
      near(v:totable(), TORCH["kth_" .. k .. "_v"], 0)
      assert.same(TORCH["kth_" .. k .. "_i"], i:totable())
    end
    v, i = graphids.kthvalue(md, 2, 1, { keepdim = true })
    near(v:totable(), TORCH.kth_0k_v, 0)
    assert.same(TORCH.kth_0k_i, i:totable())
    v = md:kthvalue(1, { keepdim = true }) -- the options in dim's place: dim -1
    assert.same({ 3, 1 }, v.shape)
    x = f64({ { 4, 1, 3, 2 }, { 0.5, 6, -1, 7 } }, true)
    backward((x:kthvalue(3)))
    near(x.grad:totable(), TORCH.kth_g, TOL)
  end)

  it("takes sinh and cosh as libm does, from 1e-10 to overflow", function()
    local hx = f64({ 0, 1e-10, -1e-10, 0.5, -1, 3, 19.5, 20, -20.5, 30, -300, 700, 710, 711, NAN })
    near(hx:sinh():totable(), TORCH.sinh, 1e-13)
    near(graphids.cosh(hx):totable(), TORCH.cosh, 1e-13)
    local h32 = graphids.tensor({ 1e-10, -2, 21, 88.5, -89, 90 })
    near(h32:sinh():totable(), TORCH.sinh32, 1e-6)
    near(h32:cosh():totable(), TORCH.cosh32, 1e-6)
    for _, fn in ipairs({ "sinh", "cosh" }) do
      local x = f64({ 0, 0.5, -1, 3, 20, -25, 50 }, true)
      backward(x[fn](x))
      near(x.grad:totable(), TORCH[fn .. "_g"], 1e-12)
    end
    assert.equal("f32", long({ 1 }):sinh().dtype)
    local big = f64({ 800 }, true) -- the result overflows; its gradient is inf, never NaN
    big:cosh():sum():backward()
    assert.same({ INF }, big.grad:totable())
  end)

  it("refuses bad arguments, naming the function", function()
    local x = graphids.ones(2, 3)
    errors("nan_to_num: unknown option 'posin' %(did you mean 'posinf'%?%)", x.nan_to_num, x, { posin = 1 })
    errors("nan_to_num: option 'nan' must be a number, got true", x.nan_to_num, x, { nan = true })
    errors("nan_to_num_: a tensor that requires grad", function()
      graphids.ones(2, { requires_grad = true }):nan_to_num_()
    end)
    errors("nansum: dim 3 out of range for a tensor of 2 dims", x.nansum, x, 3)
    errors("lerp: start and end must share a float dtype, got f32 and f64", x.lerp, x, x:double(), 0.5)
    errors("lerp: shapes %[2,3%] and %[2%] do not broadcast", x.lerp, x, graphids.ones(2), 0.5)
    errors("hypot: needs a float operand: i64 and i64 promote to i64 %(torch's hypot refuses integer "
      .. "and bool too%); convert one to a float dtype first", graphids.hypot, long({ 1 }), long({ 1 }))
    errors("hypot: at least one operand must be a tensor", graphids.hypot, 1, 2)
    errors("logit: eps must be a number, got string", x.logit, x, "a")
    errors("xlogy: arg 2 must be a tensor or a number, got string", graphids.xlogy, x, "a")
    errors("addcdiv: integer division is not supported", graphids.addcdiv, x, long({ 1 }), long({ 1 }))
    errors("addcmul: unknown option 'alpha' %(allowed: value%)", x.addcmul, x, x, x, { alpha = 1 })
    errors("addcmul_: a tensor that requires grad", function()
      local w = graphids.ones(2, { requires_grad = true })
      w:addcmul_(graphids.ones(2), graphids.ones(2))
    end)
    errors("isclose: rtol and atol must be >= 0, got %-1 and 1e%-08", x.isclose, x, x, { rtol = -1 })
    errors("isclose: option 'equal_nan' must be a boolean, got 1", x.isclose, x, x, { equal_nan = 1 })
    errors("median: dim 2 of shape %[3,0%] is empty", graphids.median, graphids.zeros(3, 0), 2)
    errors("median: keepdim needs a dim", x.median, x, { keepdim = true })
    errors("median: an empty integer tensor has no median", graphids.median, graphids.zeros(0,
      { dtype = "i64" }))
    errors("kthvalue: k must be an integer in 1..3 %(the size of dim 2%), got 4", x.kthvalue, x, 4)
    errors("kthvalue: k must be an integer in 1..2 %(the size of dim 1%), got 0", x.kthvalue, x, 0, 1)
    errors("clip: unexpected argument #4 %(number%)", x.clip, x, 0, 1, 2)
    errors("sinh: arg 1 must be a tensor, got number", graphids.sinh, 1)
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local r = x:kthvalue(9) return r end)
    assert.is_false(ok)
    assert.equal("spec/ops/tensor_math_spec.lua:" .. line .. ": kthvalue: k must be an integer in 1..3 (the "
      .. "size of dim 2), got 9", err)
  end)
end)
