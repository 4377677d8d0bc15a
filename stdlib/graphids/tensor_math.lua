-- graphids.tensor_math -- PyTorch's elementwise and order-statistic helpers composed from the
-- core's ops (autograd follows the ops they are made of), installed on graphids.Tensor and as
-- module functions by `require "graphids"`:
--   nan_to_num(t, {nan=0, posinf, neginf}) (and nan_to_num_)  nansum(t, dims?, {keepdim})
--   lerp(start, end_, weight)  hypot(a, b)  logit(t, eps?)  xlogy(x, y)
--   addcmul(t, t1, t2, {value=1})  addcdiv(t, t1, t2, {value=1}) (and addcmul_, addcdiv_)
--   clip(t, min, max) (and clip_: clamp's torch alias)  isclose(a, b, {rtol, atol, equal_nan})
--   median(t, dim?, {keepdim})  kthvalue(t, k, dim=-1, {keepdim})  sinh(t)  cosh(t)
-- Dims are 1-based; the indices returned are 0-based, as in torch.
local C = require "graphids.tensor_checks"

local M = {}

local fail = C.fail

local LARGEST = { f32 = 3.4028234663852886e38, f64 = 1.7976931348623157e308 }
-- Beyond this |x|, e^-|x| is below the rounding of e^|x| in f64 and f32: sinh and cosh are
-- e^|x| / 2 (signed), computed as (e^(|x|/2) / 2) * e^(|x|/2) so that they overflow only where
-- the result does.
local BIG = 20

-- log(z / (1 - z)) with torch's gradient g / (z (1 - z)): inf at 0 and 1, where the composed
-- division's gradient is inf * 0 = NaN, and NaN outside [0, 1], where the value is NaN too.
local logit_of = require("graphids.core").autograd.Function {
  name = "Logit",
  forward = function(ctx, z)
    ctx:save_for_backward(z)
    return (z / (1 - z)):log()
  end,
  backward = function(ctx, grad)
    local z = ctx.saved_tensors[1]
    local d = z * (1 - z) -- below 0 exactly outside [0, 1]
    return (grad / d):masked_fill(d:lt(0), 0 / 0)
  end,
}

local function install(graphids)
  local T = {}

  -- A number operand as a 0-d tensor of the other operand's float dtype (f32 beside integers).
  local function as_tensor(x, other)
    if graphids.is_tensor(x) then return x end
    local dt = C.is_float(other) and other.dtype or "f32"
    return graphids.tensor(x, { dtype = dt, device = other.device })
  end

  -- x as the caller wrote it, for a message: a tensor's dtype, else the number.
  local function operand_str(x)
    return graphids.is_tensor(x) and x.dtype or string.format("the number %s", tostring(x))
  end

  -- The operands as tensors (a number as a 0-d tensor), broadcast-checked, and torch's result
  -- type of the operands as given (graphids.result_type: a 0-d tensor promotes only across
  -- kinds, a number as torch's wrapped number), the dtype the core's binary ops would take.
  local function two_operands(fname, a, b, depth)
    local ta, tb = graphids.is_tensor(a), graphids.is_tensor(b)
    if not ta and not tb then fail(fname, "at least one operand must be a tensor", depth + 1) end
    for i, x in ipairs({ a, b }) do
      if not graphids.is_tensor(x) and type(x) ~= "number" then
        fail(fname, string.format("arg %d must be a tensor or a number, got %s", i, type(x)), depth + 1)
      end
    end
    local dt = graphids.result_type(a, b)
    if not ta then a = as_tensor(a, b) end
    if not tb then b = as_tensor(b, a) end
    C.broadcast(fname, a.shape, b.shape, depth + 1)
    return a, b, dt
  end

  local function replaced(fname, t, opts, depth)
    local o = C.options(fname, opts, { nan = 0, posinf = C.NONE, neginf = C.NONE }, depth + 1)
    local big = LARGEST[t.dtype] or LARGEST.f64
    return t:isnan(), t:eq(math.huge), t:eq(-math.huge), o.nan, o.posinf or big, o.neginf or -big
  end

  -- NaN, +inf and -inf replaced by nan (0), posinf and neginf (the dtype's largest and least
  -- finite values); integer tensors have none (a copy).  The replaced elements get no gradient.
  function T.nan_to_num(t, opts)
    C.tensor("nan_to_num", "arg 1", t, 0)
    local nan, pos, neg, a, b, c = replaced("nan_to_num", t, opts, 0)
    if not C.is_float(t) then return t:clone() end
    return t:masked_fill(nan, a):masked_fill(pos, b):masked_fill(neg, c)
  end
  function T.nan_to_num_(t, opts)
    C.tensor("nan_to_num_", "arg 1", t, 0)
    local nan, pos, neg, a, b, c = replaced("nan_to_num_", t, opts, 0)
    C.writable("nan_to_num_", t, 0)
    if not C.is_float(t) then return t end
    return t:masked_fill_(nan, a):masked_fill_(pos, b):masked_fill_(neg, c)
  end

  -- sum over dims (nil: all; one; a list) with NaN counted as 0; {keepdim=} as sum's.  The
  -- options may come second when there are no dims.
  function T.nansum(t, dims, opts)
    C.tensor("nansum", "arg 1", t, 0)
    if type(dims) == "table" and dims[1] == nil then
      if opts ~= nil then fail("nansum", "options given twice", 0) end
      dims, opts = nil, dims
    end
    local o = C.options("nansum", opts, { keepdim = false }, 0)
    if dims ~= nil then dims = C.dims("nansum", t, dims, 0) end
    local x = C.is_float(t) and t:masked_fill(t:isnan(), 0) or t
    if dims == nil then
      return o.keepdim and x:sum({ keepdim = true }) or x:sum()
    end
    return x:sum(dims, { keepdim = o.keepdim })
  end

  -- start + weight * (end_ - start), computed as torch does (from end_'s side when |weight| >=
  -- 0.5, so that weight 1 gives end_ exactly); float tensors of one dtype; weight a number or a
  -- tensor, all broadcast.
  function T.lerp(start, end_, weight)
    C.tensor("lerp", "start", start, 0)
    C.tensor("lerp", "end", end_, 0)
    if not C.is_float(start) or end_.dtype ~= start.dtype then
      fail("lerp", string.format("start and end must share a float dtype, got %s and %s", start.dtype,
        end_.dtype), 0)
    end
    local shape = C.broadcast("lerp", start.shape, end_.shape, 0)
    local diff = end_ - start
    if type(weight) == "number" then
      if math.abs(weight) < 0.5 then return start + diff * weight end
      return end_ - diff * (1 - weight)
    end
    C.tensor("lerp", "weight", weight, 0)
    if weight.dtype ~= start.dtype then
      fail("lerp", string.format("weight has dtype %s, expected start's (%s)", weight.dtype, start.dtype), 0)
    end
    C.broadcast("lerp", shape, weight.shape, 0)
    return graphids.where(weight:abs():lt(0.5), start + weight * diff, end_ - diff * (1 - weight))
  end

  -- sqrt(a^2 + b^2) without overflow or underflow on the way (both scaled by the larger
  -- magnitude), inf where either is infinite (NaN or not), as libm's hypot.  It computes in the
  -- operands' result type, as torch's: an integer or bool operand beside a float one takes its
  -- dtype, but two of them (or one with an integer number) promote to no float dtype, which
  -- torch's hypot refuses too (it has no integer kernel, unlike atan2, which gives f32).  One
  -- operand may be a number (torch takes none).  Its gradient (a / hypot, b / hypot) is NaN at
  -- a = b = 0, as torch's.
  function T.hypot(a, b)
    local x0, y0, dt = two_operands("hypot", a, b, 0)
    if not C.is_float_dtype(dt) then
      fail("hypot", string.format("needs a float operand: %s and %s promote to %s (torch's hypot "
        .. "refuses integer and bool too); convert one to a float dtype first", operand_str(a),
        operand_str(b), dt), 0)
    end
    a, b = x0:to(dt), y0:to(dt)
    local inf = a:isinf():logical_or(b:isinf())
    local x, y = a:masked_fill(inf, 0), b:masked_fill(inf, 0)
    local scale = graphids.no_grad(function()
      local m = graphids.maximum(x:abs(), y:abs())
      return m:masked_fill(m:eq(0):logical_or(m:isnan()), 1)
    end)
    local xs, ys = x / scale, y / scale
    local h = (xs * xs + ys * ys):sqrt() * scale
    return h:masked_fill(inf, math.huge)
  end

  -- log(z / (1 - z)), z = t clamped to [eps, 1 - eps] when eps is given (the clamped elements
  -- get no gradient, as torch's); integers give f32.
  function T.logit(t, eps)
    C.tensor("logit", "arg 1", t, 0)
    if eps ~= nil and type(eps) ~= "number" then
      fail("logit", "eps must be a number, got " .. type(eps), 0)
    end
    local z = C.is_float(t) and t or t:float()
    if eps ~= nil then
      z = graphids.where(z:lt(eps), eps, graphids.where(z:gt(1 - eps), 1 - eps, z))
    end
    return logit_of(z)
  end

  -- x * log(y), 0 where x is 0 and y is not NaN (torch.xlogy); a number may stand for either.
  -- Gradients as torch's, log(y) and x / y, except where x is 0 and log(y) is not finite (y <= 0
  -- or inf): both are 0 there (torch's are NaN or infinite).
  function T.xlogy(x, y)
    local dt
    x, y, dt = two_operands("xlogy", x, y, 0)
    -- log(y) in the result's float dtype (integers and bool: f32), not an integer y's f32
    if not C.is_float_dtype(dt) then dt = "f32" end
    x, y = x:to(dt), y:to(dt)
    local off = x:eq(0):logical_and(y:le(0):logical_or(y:eq(math.huge)))
    -- (+ 0: 0 times a negative log(y), 0 < y < 1, is -0, where torch gives +0; -0 + 0 is +0
    -- and every other value, NaN included, is left as it is, gradients too)
    return x * graphids.where(off, 1, y):log() + 0.0
  end

  local function addc(fname, t, t1, t2, opts, div, depth)
    C.tensor(fname, "self", t, depth + 1)
    C.tensor(fname, "tensor1", t1, depth + 1)
    C.tensor(fname, "tensor2", t2, depth + 1)
    local o = C.options(fname, opts, { value = 1 }, depth + 1)
    if div and not C.is_float(t1) and not C.is_float(t2) then
      fail(fname, "integer division is not supported (torch's addcdiv refuses it too): convert first",
        depth + 1)
    end
    local s = C.broadcast(fname, t1.shape, t2.shape, depth + 1)
    C.broadcast(fname, t.shape, s, depth + 1)
    local scaled = o.value == 1 and t1 or t1 * o.value -- (value * t1) first, as torch
    return div and scaled / t2 or scaled * t2
  end

  -- t + value * t1 * t2 and t + value * t1 / t2 (torch.addcmul / addcdiv); the _ forms add
  -- into t.
  function T.addcmul(t, t1, t2, opts) return t + addc("addcmul", t, t1, t2, opts, false, 0) end
  function T.addcdiv(t, t1, t2, opts) return t + addc("addcdiv", t, t1, t2, opts, true, 0) end
  function T.addcmul_(t, t1, t2, opts)
    local p = addc("addcmul_", t, t1, t2, opts, false, 0)
    C.writable("addcmul_", t, 0)
    return t:add_(p)
  end
  function T.addcdiv_(t, t1, t2, opts)
    local p = addc("addcdiv_", t, t1, t2, opts, true, 0)
    C.writable("addcdiv_", t, 0)
    return t:add_(p)
  end

  -- torch's other name for clamp (nil bound: none).
  function T.clip(t, min, max) return graphids.clamp(t, min, max) end
  function T.clip_(t, min, max) return t:clamp_(min, max) end

  -- Elementwise |a - b| <= atol + rtol * |b| (a finite difference), or a == b (so equal
  -- infinities), or both NaN when equal_nan: a bool tensor (torch.isclose; allclose is its
  -- all()).  A number may stand for either operand.
  function T.isclose(a, b, opts)
    a, b = two_operands("isclose", a, b, 0)
    local o = C.options("isclose", opts, { rtol = 1e-5, atol = 1e-8, equal_nan = false }, 0)
    if o.rtol < 0 or o.atol < 0 then
      fail("isclose", string.format("rtol and atol must be >= 0, got %s and %s", o.rtol, o.atol), 0)
    end
    local close = a:eq(b)
    if a.dtype == "bool" and b.dtype == "bool" then return close end
    if o.equal_nan then close = close:logical_or(a:isnan():logical_and(b:isnan())) end
    local x = C.is_float(a) and a or a:double()
    local y = C.is_float(b) and b or b:double()
    local err = (x - y):abs()
    return close:logical_or(err:isfinite():logical_and(err:le(y:abs() * o.rtol + o.atol)))
  end

  -- The sorted values and indices of t along dim (t 0-d: as one element) and that dim.
  local function sorted(t, dim)
    local x = t.ndim == 0 and t:reshape({ 1 }) or t
    local v, i = x:sort(dim)
    return x, v, i
  end

  local function reduce_opts(fname, dim, opts, depth)
    if type(dim) == "table" then
      if opts ~= nil then fail(fname, "options given twice", depth + 1) end
      dim, opts = nil, dim
    end
    return dim, C.options(fname, opts, { keepdim = false }, depth + 1)
  end

  -- The values at 0-based sorted place `at` along dim (a tensor of dim size 1, or a number).
  local function pick(v, i, dim, at, keepdim, ndim0)
    local val, idx
    if type(at) == "number" then
      val, idx = v:narrow(dim, at + 1, 1), i:narrow(dim, at + 1, 1)
    else
      val, idx = v:gather(dim, at), i:gather(dim, at)
    end
    if ndim0 then return val:reshape({}), idx:reshape({}) end
    if not keepdim then return val:squeeze(dim), idx:squeeze(dim) end
    return val, idx
  end

  -- The lower median (of an even count, the smaller middle value), torch's: of every element
  -- (0-d; NaN when there is a NaN or no element), or along dim: values and 0-based indices
  -- (a row with a NaN gives NaN and the NaN's index).  Among equal values the index is that of
  -- a stable sort; torch's may be another of them.  The gradient goes to the chosen element.
  function T.median(t, dim, opts)
    C.tensor("median", "arg 1", t, 0)
    local o
    dim, o = reduce_opts("median", dim, opts, 0)
    local float = C.is_float(t)
    if dim == nil then
      if t.dtype == "bool" then fail("median", "bool tensors are not supported", 0) end
      if o.keepdim then fail("median", "keepdim needs a dim", 0) end
      local n = t:numel()
      if n == 0 then
        if not float then fail("median", "an empty integer tensor has no median", 0) end
        return graphids.full({}, 0 / 0, { dtype = t.dtype, device = t.device })
      end
      local flat = t:reshape({ -1 })
      local _, v = sorted(flat, 1)
      local at = (n - 1) // 2
      if float then
        local nans = flat:isnan():sum():item()
        if nans > 0 then at = n - nans end
      end
      return v:select(1, at + 1)
    end
    dim = C.dim("median", t, dim, 0)
    local n = t.ndim == 0 and 1 or t.shape[dim]
    if n == 0 then
      fail("median", string.format("dim %d of shape %s is empty", dim, C.shape_str(t.shape)), 0)
    end
    local x, v, i = sorted(t, dim)
    local at = (n - 1) // 2
    if float then
      local nans = x:isnan():sum(dim, { keepdim = true })
      at = graphids.where(nans:gt(0), n - nans, at)
    end
    return pick(v, i, dim, at, o.keepdim, t.ndim == 0)
  end

  -- The k-th smallest value along dim (k from 1, as torch's k is a count; NaN sorts last):
  -- values and 0-based indices.  dim defaults to -1; the options may take its place.
  function T.kthvalue(t, k, dim, opts)
    C.tensor("kthvalue", "arg 1", t, 0)
    local o
    dim, o = reduce_opts("kthvalue", dim, opts, 0)
    dim = C.dim("kthvalue", t, dim or -1, 0)
    local n = t.ndim == 0 and 1 or t.shape[dim]
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail("kthvalue", string.format("k must be an integer in 1..%d (the size of dim %d), got %s", n, dim,
        tostring(k)), 0)
    end
    local _, v, i = sorted(t, dim)
    return pick(v, i, dim, k - 1, o.keepdim, t.ndim == 0)
  end

  -- sinh and cosh from expm1 and exp: (expm1(x) - expm1(-x)) / 2 keeps sinh's relative accuracy
  -- near 0 (no cancellation: both terms have x's sign), and beyond |x| = BIG the result is
  -- e^|x| / 2 made from two halves, so it overflows only where the true value does.  Each
  -- branch sees its inputs clamped to its own range, so the branch not taken never computes
  -- an overflow whose gradient would be NaN.  Integers give f32.
  local function hyperbolic(fname, t, odd)
    C.tensor(fname, "arg 1", t, 1)
    local x = C.is_float(t) and t or t:float()
    local small = x:clamp(-2 * BIG, 2 * BIG) -- (wider than BIG: clamp's gradient is 0 at a bound)
    local near = odd and (small:expm1() - (-small):expm1()) * 0.5 or (small:exp() + (-small):exp()) * 0.5
    local a = x:abs()
    local half = (a:clamp(BIG, nil) * 0.5):exp()
    local far = (half * 0.5) * half
    if odd then far = far * x:sign() end
    return graphids.where(a:le(BIG), near, far)
  end
  function T.sinh(t) return (hyperbolic("sinh", t, true)) end
  function T.cosh(t) return (hyperbolic("cosh", t, false)) end

  return T
end

function M.install(graphids)
  C.install(graphids, install(graphids))
end

return M
