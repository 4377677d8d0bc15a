-- graphids.nn.functional_losses -- the losses of graphids.nn.functional (class losses, binary
-- cross-entropies, pointwise and divergence losses), installed into its table F by
-- functional.lua, which then checks their arguments and names them with its other functions
-- (so F.focal_loss calling F.cross_entropy calls the named one, as a user's call would).
--   require("graphids.nn.functional_losses")(F)
local graphids = require "graphids"
local core = require "graphids.core"
local U = require "graphids.nn._util"
local FC = require "graphids.nn.functional_checks"

local NONE = U.NONE
local check_tensor, check_float_input = FC.check_tensor, FC.check_float_input

return function(F)
  local function reduce(loss, reduction)
    if reduction == "mean" then
      return loss:mean()
    elseif reduction == "sum" then
      return loss:sum()
    end
    return loss
  end

  local function same_shape(a, b)
    local sa, sb = a.shape, b.shape
    if #sa ~= #sb then
      return false
    end
    for i = 1, #sa do
      if sa[i] ~= sb[i] then
        return false
      end
    end
    return true
  end

  local function check_same_shape(fname, input, target, level)
    if not same_shape(input, target) then
      error(string.format("%s: target shape %s must equal the input shape %s", fname,
        U.shape_str(target), U.shape_str(input)), (level or 2) + 1)
    end
  end

  -- ---------------------------------------------------------------- classification losses

  -- input [N, C, d...] (or [C]) -> [M, C] with the class dim last, and how to shape a per-element
  -- result back (target's shape).
  local function flatten_classes(input)
    local nd = input.ndim
    if nd == 1 then
      return input:unsqueeze(1)
    elseif nd == 2 then
      return input
    end
    local perm = { 1 }
    for d = 3, nd do
      perm[#perm + 1] = d
    end
    perm[#perm + 1] = 2
    return input:permute(perm):reshape(-1, input.shape[2])
  end

  -- Class ids: i64 or u8, as torch takes them, and i32, which torch refuses but the runtime's
  -- other index tensors (edge_index, batch, Embedding ids) may be.  A u8 one is read as i64 (the
  -- range check reads i64 or i32).  probs: whether a float target would be read as class
  -- probabilities (cross_entropy's).  level: error()'s, seen from the loss.  Returns the target
  -- and whether an entry may hold ignore_index.
  local function check_targets(fname, target, C, ignore_index, probs, level)
    local dt = target.dtype
    if dt ~= "i64" and dt ~= "i32" and dt ~= "u8" then
      error(string.format("%s: class targets must be i64, i32 or u8, got %s%s", fname, dt, probs
        and " (for class probabilities give a float target of the input's shape)" or ""), level + 1)
    end
    if dt == "u8" then
      target = target:long()
    end
    -- int_range: a batch's labels moved to a GPU are checked there without a wait (their range
    -- came along with the copy); only targets that hold ignore_index are read back whole.
    local lo, hi = target:int_range()
    -- whether an entry may hold ignore_index (when none can, the target itself is the index the
    -- loss gathers with: its range is known, a copy's would be read again on a GPU)
    local may_ignore = target:numel() > 0 and lo <= ignore_index and ignore_index <= hi
    if (lo < 0 or hi >= C) and (lo == ignore_index or hi == ignore_index) then
      local host = target.device == "cpu" and target or target:cpu()
      lo, hi = graphids.where(host:ne(ignore_index), host, 0):int_range()
    end
    if lo < 0 or hi >= C then
      error(string.format("%s: target %d is out of bounds for %d classes", fname,
        lo < 0 and lo or hi, C), level + 1)
    end
    return target, may_ignore
  end

  -- Shared by nll_loss and cross_entropy: logp [M, C] log-probabilities, target [M] class ids
  -- (may_ignore: some may be ignore_index, check_targets' answer).  Returns the per-element
  -- weighted loss [M], the per-element weights [M] (0 where ignored) and which are not ignored.
  local function nll_rows(logp, target, weight, ignore_index, may_ignore)
    local valid = target:ne(ignore_index)
    local safe = may_ignore and graphids.where(valid, target, 0):long() or target:long()
    local picked = logp:gather(2, safe:unsqueeze(2)):squeeze(2)
    local w
    if weight ~= nil then
      w = weight:index_select(1, safe) * valid
    else
      w = valid:to(logp.dtype)
    end
    return -(picked * w), w, valid
  end

  -- sum / total, where a total of exactly 0 (every target ignored) gives NaN (0 / 0, as torch)
  -- but a gradient of 0, not inf * 0 = NaN in every input: the division then reads 1, and the NaN
  -- is added on.  Any other total divides as it is (negative or tiny class weights sum to one).
  local function mean_over(sum, total)
    local zero = total:eq(0)
    local none = graphids.where(zero, 0 / 0, 0):to(sum.dtype)
    return sum / graphids.where(zero, 1, total):to(sum.dtype) + none
  end

  local function class_reduce(loss, w, reduction, out_shape)
    if reduction == "mean" then
      return mean_over(loss:sum(), w:sum())
    elseif reduction == "sum" then
      return loss:sum()
    end
    return loss:reshape(out_shape)
  end

  local function check_weight(fname, weight, C)
    if weight ~= nil then
      check_tensor(fname, weight, "weight")
      if weight.ndim ~= 1 or weight.shape[1] ~= C then
        error(string.format("%s: weight must have shape [%d] (one per class), got %s", fname, C,
          U.shape_str(weight)), 3)
      end
    end
  end

  -- With class-id targets torch takes a class weight of the input's dtype only ("expected scalar
  -- type Float but found Double"); with probabilities any dtype, promoted.  probs and level: as
  -- check_targets'.
  local function check_weight_dtype(fname, weight, input, probs, level)
    if weight ~= nil and weight.dtype ~= input.dtype then
      error(string.format("%s: weight of dtype %s does not match the input's dtype %s%s; convert it "
        .. "first (e.g. weight:to(input.dtype))", fname, weight.dtype, input.dtype,
        probs and " (with class-id targets)" or ""), level + 1)
    end
  end

  local function check_class_input(fname, input, target)
    check_tensor(fname, input, "input")
    check_tensor(fname, target, "target")
    check_float_input(fname, input, 3)
    local nd = input.ndim
    if nd == 0 then
      error(fname .. ": input must have at least 1 dim (classes), got a 0-d tensor", 3)
    end
    local want = {}
    if nd >= 2 then
      want[1] = input.shape[1]
      for d = 3, nd do
        want[#want + 1] = input.shape[d]
      end
    end
    local ts = target.shape
    local ok = #ts == #want
    for i = 1, #want do
      ok = ok and ts[i] == want[i]
    end
    if not ok then
      error(string.format("%s: target shape %s does not match input %s (expected %s)", fname,
        U.shape_str(target), U.shape_str(input), "[" .. table.concat(want, ", ") .. "]"), 3)
    end
  end

  -- input: log-probabilities [N, C] ([C], or [N, C, d...]); target: class ids [N] ([], [N, d...]).
  -- loss_n = -weight[t_n] * input[n, t_n], 0 where t_n == ignore_index; "mean" divides the sum by
  -- the sum of weight[t_n] over the non-ignored n (as torch).
  -- opts: weight, ignore_index = -100, reduction = "mean".
  function F.nll_loss(input, target, opts)
    local o = U.options("nll_loss", opts, { weight = NONE, ignore_index = -100, reduction = "mean" })
    U.check_reduction("nll_loss", o.reduction)
    check_class_input("nll_loss", input, target)
    local C = input.ndim == 1 and input.shape[1] or input.shape[2]
    check_weight("nll_loss", o.weight, C)
    check_weight_dtype("nll_loss", o.weight, input, false, 2)
    local may_ignore
    target, may_ignore = check_targets("nll_loss", target, C, o.ignore_index, false, 2)
    local loss, w = nll_rows(flatten_classes(input), target:reshape(-1), o.weight, o.ignore_index,
      may_ignore)
    return class_reduce(loss, w, o.reduction, target.shape)
  end

  -- torch.nn.functional.cross_entropy: log_softmax over the class dim (2, or 1 for a [C] input),
  -- then NLL.  target holds class ids (shape of input less its class dim), or class
  -- probabilities (a float tensor of input's shape).
  -- opts: weight (per class), ignore_index = -100 (class ids only), label_smoothing = 0,
  -- reduction = "mean".  With class ids and label smoothing e, the loss is
  -- (1 - e) * nll + e / C * (-sum_c weight_c * logp_c), both parts zero where ignored and, for
  -- "mean", both divided by the sum of weight[t_n] over the non-ignored elements.  With
  -- probabilities, the target becomes (1 - e) * p + e / C and "mean" divides by the number of
  -- elements (N * d...).
  function F.cross_entropy(input, target, opts)
    local o = U.options("cross_entropy", opts, { weight = NONE, ignore_index = -100,
      label_smoothing = 0.0, reduction = "mean" })
    local fname = "cross_entropy"
    U.check_reduction(fname, o.reduction)
    check_tensor(fname, input, "input")
    check_tensor(fname, target, "target")
    check_float_input(fname, input, 2)
    local eps = o.label_smoothing
    if eps < 0 or eps > 1 then
      error("cross_entropy: label_smoothing must be between 0.0 and 1.0, got " .. eps, 2)
    end
    if input.ndim == 0 then
      error("cross_entropy: input must have at least 1 dim (classes), got a 0-d tensor", 2)
    end
    local class_dim = input.ndim == 1 and 1 or 2
    local C = input.shape[class_dim]
    check_weight(fname, o.weight, C)
    local logp = flatten_classes(graphids.log_softmax(input, class_dim))

    if U.is_float(target) then
      -- class probabilities
      check_same_shape(fname, input, target)
      if o.ignore_index >= 0 then
        error("cross_entropy: ignore_index is not supported for class-probability targets", 2)
      end
      local p = flatten_classes(target)
      if eps > 0 then
        p = p * (1 - eps) + eps / C
      end
      local prod = logp * p
      if o.weight ~= nil then
        prod = prod * o.weight
      end
      local rows = -prod:sum(2)
      if o.reduction == "mean" then
        return rows:sum() / (input:numel() // C)
      elseif o.reduction == "sum" then
        return rows:sum()
      end
      local out_shape = input.shape
      table.remove(out_shape, class_dim)
      return rows:reshape(out_shape)
    end

    check_class_input(fname, input, target)
    check_weight_dtype(fname, o.weight, input, true, 2)
    local t, may_ignore = check_targets(fname, target, C, o.ignore_index, true, 2)
    t = t:reshape(-1)
    local loss, w, valid = nll_rows(logp, t, o.weight, o.ignore_index, may_ignore)
    if eps > 0 then
      local smooth
      if o.weight ~= nil then
        smooth = -(logp * o.weight):sum(2)
      else
        smooth = -logp:sum(2)
      end
      smooth = smooth * valid
      loss = loss * (1 - eps) + smooth * (eps / C)
    end
    return class_reduce(loss, w, o.reduction, target.shape)
  end

  -- Focal loss (Lin et al.) as the reference defines it: (1 - p_t)^gamma * CE, with
  -- CE = cross_entropy(input, target, reduction "none") and p_t = exp(-CE); "mean" averages
  -- over the non-ignored elements (all of them unless ignore_index is used).
  -- opts: gamma = 2, alpha (a number scaling the loss, or a [C] tensor of per-class factors
  -- alpha[t_n]), weight (passed to cross_entropy), ignore_index = -100, reduction = "mean".
  function F.focal_loss(input, target, opts)
    local o = U.options("focal_loss", opts, { gamma = 2.0, alpha = NONE, weight = NONE,
      ignore_index = -100, reduction = "mean" })
    U.check_reduction("focal_loss", o.reduction)
    if o.gamma < 0 then
      error("focal_loss: gamma must be >= 0, got " .. o.gamma, 2)
    end
    -- cross_entropy's checks are focal_loss's: its errors are raised again under this name, at
    -- the caller's line
    local ce = core._call_as("focal_loss", nil, F.cross_entropy, input, target, { weight = o.weight,
      ignore_index = o.ignore_index, reduction = "none" })
    local loss = ce
    if o.gamma ~= 0 then
      local pt = (-ce):exp()
      local base = 1 - pt
      -- Below gamma 1 the derivative of base^gamma is infinite at base 0 (a certain, right
      -- prediction), and inf * (CE = 0) made the whole row's gradient NaN (as in torch); the true
      -- gradient there is 0.  A floor far below any f32 or f64 base near 0 keeps it finite and
      -- leaves every value as it was.
      if o.gamma < 1 then base = base:clamp(1e-30, nil) end
      loss = base:pow(o.gamma) * ce
    end
    if o.alpha ~= nil then
      if type(o.alpha) == "number" then
        loss = loss * o.alpha
      else
        check_tensor("focal_loss", o.alpha, "alpha")
        if U.is_float(target) then
          error("focal_loss: a per-class alpha tensor needs class-id targets, got " ..
            target.dtype .. " (class-probability) targets; use a number alpha", 2)
        end
        -- one per class: index_select read only the classes the targets hold, so a list too long
        -- (or too short, while no target reached past it) went unseen
        local class_dim = input.ndim == 1 and 1 or 2
        local C = input.shape[class_dim]
        if o.alpha.ndim ~= 1 then
          error(string.format("focal_loss: alpha must be 1-D (one value per class), got shape %s",
            U.shape_str(o.alpha)), 2)
        elseif o.alpha.shape[1] ~= C then
          error(string.format("focal_loss: alpha has %d values, but the input has %d classes (dim %d of "
            .. "%s); give one per class", o.alpha.shape[1], C, class_dim, U.shape_str(input)), 2)
        end
        -- a per-class factor, as cross_entropy's class weight beside class ids: of the input's
        -- dtype (an f64 one beside f32 scores would have widened the loss to f64 unseen)
        if o.alpha.dtype ~= input.dtype then
          error(string.format("focal_loss: alpha has dtype %s, but input has dtype %s (convert it: %s)",
            o.alpha.dtype, input.dtype, U.conversion("alpha", input.dtype)), 2)
        end
        local valid = target:ne(o.ignore_index)
        local safe = graphids.where(valid, target, 0):long()
        loss = loss * o.alpha:index_select(1, safe:reshape(-1)):reshape(target.shape)
      end
    end
    if o.reduction == "mean" and not U.is_float(target) then
      return mean_over(loss:sum(), target:ne(o.ignore_index):sum())
    end
    return reduce(loss, o.reduction)
  end

  -- The elementwise loss -(t log x + (1 - t) log(1 - x)), each log clamped at -100 (torch's), with
  -- torch's gradient (x - t) / max(x (1 - x), 1e-12).  Composed from log and clamp, the gradient
  -- at x = 0 or 1 is 0 * inf = NaN (clamp passes nothing where log(0) = -inf, log's derivative
  -- is inf): a score that reaches 0 or 1 exactly, as a fused probability does, then turned every
  -- weight it reached into NaN.  The target's gradient is that of the clamped forward (torch's
  -- -logit(x) is infinite at 0 and 1).
  local BCE = graphids.autograd.Function {
    name = "BinaryCrossEntropy",
    forward = function(ctx, x, t)
      ctx:save_for_backward(x, t)
      local lx, l1x = graphids.clamp(x:log(), -100, nil), graphids.clamp((1 - x):log(), -100, nil)
      return -(t * lx + (1 - t) * l1x)
    end,
    backward = function(ctx, grad)
      local x, t = table.unpack(ctx.saved_tensors)
      local gx, gt
      if ctx.needs_input_grad[1] then
        gx = grad * (x - t) / graphids.clamp(x * (1 - x), 1e-12, nil)
      end
      if ctx.needs_input_grad[2] then
        gt = grad * (graphids.clamp((1 - x):log(), -100, nil) - graphids.clamp(x:log(), -100, nil))
      end
      return gx, gt
    end,
  }

  -- A weight of a pointwise loss must broadcast to the input's shape without growing it (torch:
  -- "output with shape [3] doesn't match the broadcast shape [2, 3]"): a larger one would change
  -- the loss's shape and its mean's count unseen.  level: error()'s, seen from the loss.
  local function check_loss_weight(fname, what, w, input, level)
    if w == nil then return end
    check_tensor(fname, w, what, level + 1)
    local ok = w.ndim <= input.ndim
    for i = 1, ok and w.ndim or 0 do
      local a, b = w.shape[w.ndim - i + 1], input.shape[input.ndim - i + 1]
      ok = ok and (a == 1 or a == b)
    end
    if not ok then
      error(string.format("%s: %s of shape [%s] does not broadcast to the input's shape [%s]", fname, what,
        table.concat(w.shape, ","), table.concat(input.shape, ",")), level + 1)
    end
  end

  -- A bool input or target of a pointwise loss.  torch's mse and smooth_l1 take one beside a float
  -- operand (true counts as 1; the result has the float's dtype) and refuse it otherwise; l1,
  -- kl_div and the BCEs refuse it always (huber_loss, which converts its target whatever its dtype,
  -- does not come here).  The runtime's sub refuses a bool operand, so a taken one is converted to
  -- the other operand's dtype here.  level: error()'s, seen from here.
  local function bool_operands(fname, input, target, takes_bool, level)
    local bi, bt = input.dtype == "bool", target.dtype == "bool"
    if not (bi or bt) then
      return input, target
    end
    if bi and bt then
      error(string.format("%s: input and target of dtype bool are not supported; convert them to a "
        .. "float dtype first", fname), level + 1)
    end
    local what, other = bt and "target" or "input", bt and input or target
    if not takes_bool then
      error(string.format("%s: %s of dtype bool is not supported; convert it to a float dtype first "
        .. "(e.g. %s:to(%s.dtype))", fname, what, what, bt and "input" or "target"), level + 1)
    end
    if not U.is_float(other) then
      error(string.format("%s: %s of dtype bool needs a float %s, got %s", fname, what,
        bt and "input" or "target", other.dtype), level + 1)
    end
    if bt then
      return input, target:to(input.dtype)
    end
    return input:to(target.dtype), target
  end

  -- t (the operand the caller calls what; the other is other_what) is not a float tensor and the
  -- loss needs one.  level: error()'s, seen from here.
  local function refuse_nonfloat(fname, what, t, other_what, other, level)
    error(string.format("%s: %s of dtype %s is not supported; convert it to a float dtype first (e.g. %s)",
      fname, what, t.dtype, U.is_float(other) and string.format("%s:to(%s.dtype)", what, other_what)
      or what .. ":float()"), level + 1)
  end

  -- An integer input or target of the BCEs or kl_div: torch refuses one (BCE "Found dtype Long
  -- but expected Float", the logits form "result type Float can't be cast to the desired output
  -- type Long", kl_div "Integral inputs not supported"), where the ops these losses are made of
  -- would promote it and return a loss.  Call after bool_operands (which names a bool one).
  -- level: error()'s, seen from here.
  local function float_operands(fname, input, target, level)
    if not U.is_float(target) then
      refuse_nonfloat(fname, "target", target, "input", input, level + 1)
    elseif not U.is_float(input) then
      refuse_nonfloat(fname, "input", input, "target", target, level + 1)
    end
  end

  -- -w * (t * log(x) + (1 - t) * log(1 - x)), each log clamped at -100 (as torch).
  -- input: probabilities in [0, 1]; target: same shape.  opts: weight (broadcasts), reduction.
  function F.binary_cross_entropy(input, target, opts)
    local o = U.options("binary_cross_entropy", opts, { weight = NONE, reduction = "mean" })
    local fname = "binary_cross_entropy"
    U.check_reduction(fname, o.reduction)
    check_tensor(fname, input, "input")
    check_tensor(fname, target, "target")
    check_same_shape(fname, input, target)
    bool_operands(fname, input, target, false, 2)
    float_operands(fname, input, target, 2)
    -- torch's kernel takes one float dtype ("Found dtype Double but expected Float")
    if target.dtype ~= input.dtype then
      error(string.format("%s: target of dtype %s does not match the input's dtype %s; convert it first "
        .. "(e.g. target:to(input.dtype))", fname, target.dtype, input.dtype), 2)
    end
    check_loss_weight(fname, "weight", o.weight, input, 2)
    if input:numel() > 0 then
      local lo, hi = input:amin():item(), input:amax():item()
      if not (lo >= 0 and hi <= 1) then
        error("binary_cross_entropy: all elements of input should be between 0 and 1", 2)
      end
    end
    local loss = BCE(input, target)
    if o.weight ~= nil then
      -- torch weighs in place: the loss keeps its dtype whatever the weight's
      loss = (loss * o.weight):to(loss.dtype)
    end
    return reduce(loss, o.reduction)
  end

  -- Sigmoid + BCE in one numerically stable expression:
  -- (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x).
  -- opts: weight (broadcasts), pos_weight (broadcasts along the last dim: one per class),
  -- reduction.  The loss has the target's dtype, as torch's (which builds it in place on 1 - t):
  -- f64 logits with an f32 target give an f32 loss, whatever the weights' dtypes.
  function F.binary_cross_entropy_with_logits(input, target, opts)
    local o = U.options("binary_cross_entropy_with_logits", opts, { weight = NONE,
      pos_weight = NONE, reduction = "mean" })
    local fname = "binary_cross_entropy_with_logits"
    U.check_reduction(fname, o.reduction)
    check_tensor(fname, input, "input")
    check_tensor(fname, target, "target")
    check_same_shape(fname, input, target)
    bool_operands(fname, input, target, false, 2)
    float_operands(fname, input, target, 2)
    check_loss_weight(fname, "weight", o.weight, input, 2)
    check_loss_weight(fname, "pos_weight", o.pos_weight, input, 2)
    if o.pos_weight ~= nil and o.pos_weight.dtype == "bool" then
      -- (torch's pos_weight - 1 refuses it; a bool one cannot mean a weight of 1 or 0 per class)
      error(fname .. ": pos_weight of dtype bool is not supported; convert it to a float dtype first "
        .. "(e.g. pos_weight:to(input.dtype))", 2)
    end
    -- threshold 50: softplus(z) = z beyond it to within e^-50, far below f64 rounding.
    local sp = graphids.softplus(-input, { beta = 1, threshold = 50 })
    if o.pos_weight ~= nil then
      sp = sp * ((o.pos_weight - 1) * target + 1)
    end
    local loss = (1 - target) * input + sp
    if o.weight ~= nil then
      loss = loss * o.weight
    end
    return reduce(loss:to(target.dtype), o.reduction)
  end

  -- The options of a pointwise loss, its input and target checked and converted as torch 2.15's
  -- kernels take them; returns the options, input and target.  rule:
  --   "either"  (mse, smooth_l1): one operand at least is float; a bool one beside it counts.
  --   "l1"      no bool; two integer ones only without a mean (torch subtracts and sums them
  --             as integers; its mean of an integer tensor fails).
  --   "input"   (huber): the input is float, the target anything; the loss has the input's dtype.
  -- Errors are raised at the loss's caller.
  local function pointwise_args(fname, input, target, opts, extra, rule)
    local defaults = { reduction = "mean" }
    for k, v in pairs(extra or {}) do
      defaults[k] = v
    end
    -- (the loss's caller is level 3 from here: pointwise_args, the loss, its caller)
    local o = U.options(fname, opts, defaults, 3)
    U.check_reduction(fname, o.reduction, 3)
    check_tensor(fname, input, "input", 3)
    check_tensor(fname, target, "target", 3)
    check_same_shape(fname, input, target, 3)
    if rule == "input" then
      if not U.is_float(input) then
        refuse_nonfloat(fname, "input", input, "target", target, 3)
      end
      return o, input, target:to(input.dtype)
    end
    input, target = bool_operands(fname, input, target, rule == "either", 3)
    if not (U.is_float(input) or U.is_float(target)) and (rule == "either" or o.reduction == "mean") then
      error(string.format("%s: input of dtype %s and target of dtype %s are not supported%s; convert "
        .. "one of them to a float dtype first (e.g. input:float())", fname, input.dtype, target.dtype,
        rule == "either" and "" or " with reduction 'mean'"), 3)
    end
    return o, input, target
  end

  -- (x - t)^2.  opts: reduction.
  function F.mse_loss(input, target, opts)
    local o
    o, input, target = pointwise_args("mse_loss", input, target, opts, nil, "either")
    return reduce((input - target):square(), o.reduction)
  end

  -- |x - t|.  opts: reduction.
  function F.l1_loss(input, target, opts)
    local o
    o, input, target = pointwise_args("l1_loss", input, target, opts, nil, "l1")
    return reduce((input - target):abs(), o.reduction)
  end

  -- 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - t); beta 0 is L1.
  -- opts: beta = 1, reduction.
  function F.smooth_l1_loss(input, target, opts)
    local o
    o, input, target = pointwise_args("smooth_l1_loss", input, target, opts, { beta = 1.0 }, "either")
    if o.beta < 0 then
      error("smooth_l1_loss: beta must be >= 0, got " .. o.beta, 2)
    end
    local d = (input - target):abs()
    if o.beta == 0 then
      return reduce(d, o.reduction)
    end
    local loss = graphids.where(d:lt(o.beta), d:square() * (0.5 / o.beta), d - 0.5 * o.beta)
    return reduce(loss, o.reduction)
  end

  -- 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta).  opts: delta = 1, reduction.
  function F.huber_loss(input, target, opts)
    local o
    o, input, target = pointwise_args("huber_loss", input, target, opts, { delta = 1.0 }, "input")
    if o.delta <= 0 then
      error("huber_loss: delta must be > 0, got " .. o.delta, 2)
    end
    local d = (input - target):abs()
    local loss = graphids.where(d:lt(o.delta), d:square() * 0.5, (d - 0.5 * o.delta) * o.delta)
    return reduce(loss, o.reduction)
  end

  -- Kullback-Leibler divergence with input = log q and target = p (or log p with log_target):
  -- p * (log p - input), 0 where p = 0.  opts: reduction = "mean" (over every element, as
  -- torch) | "batchmean" (sum / size of dim 1: the KL divergence per sample) | "sum" | "none",
  -- log_target = false.
  function F.kl_div(input, target, opts)
    local o = U.options("kl_div", opts, { reduction = "mean", log_target = false })
    local fname = "kl_div"
    if o.reduction ~= "batchmean" then
      U.check_reduction(fname, o.reduction)
    end
    check_tensor(fname, input, "input")
    check_tensor(fname, target, "target")
    check_same_shape(fname, input, target)
    bool_operands(fname, input, target, false, 2)
    float_operands(fname, input, target, 2)
    local loss
    if o.log_target then
      loss = target:exp() * (target - input)
    else
      local safe = graphids.where(target:eq(0), 1, target)
      loss = target * safe:log() - target * input
    end
    if o.reduction == "batchmean" then
      local n = input.ndim > 0 and input.shape[1] or 1
      return loss:sum() / n
    end
    return reduce(loss, o.reduction)
  end
end
