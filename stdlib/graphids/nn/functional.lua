-- graphids.nn.functional -- stateless layers and losses, following torch.nn.functional.
--   local F = require("graphids.nn").functional
--   local y = F.linear(x, w, b)                       -- x @ w^T + b (addmm)
--   local loss = F.cross_entropy(logits, target, { label_smoothing = 0.1 })
--   local kd = F.kl_div(F.log_softmax(s / T, 2), F.softmax(t / T, 2), { reduction = "batchmean" })
-- Everything is composed of differentiable graphids ops, so autograd follows.  Options come in
-- a trailing table (unknown keys raise); reductions are "mean" (default), "sum" or "none".
-- Dims are 1-based as everywhere in graphids; class-index targets hold 0-based classes.
local graphids = require "graphids"
local core = require "graphids.core"
local U = require "graphids.nn._util"
local FC = require "graphids.nn.functional_checks"

local NONE = U.NONE
local F = {}
local check_tensor, check_float_input = FC.check_tensor, FC.check_float_input

-- A norm's tensor parameter or running statistic p (named what) against the input x's dtype
-- (U.norm_dtypes_match: the composed ops would have widened a mix to f64, or kept f32 updating
-- an f64 running statistic in place).  level: error()'s, seen from the function calling it.
local function check_param_dtype(fname, what, p, x, level)
  local pt, xt = p.dtype, x.dtype
  if not U.norm_dtypes_match(pt, xt) then
    error(string.format("%s: %s has dtype %s, but input has dtype %s (convert it: %s)", fname, what, pt,
      xt, U.conversion(what, xt)), level + 1)
  end
end

-- ---------------------------------------------------------------- layers

-- x @ weight^T + bias.  x is [..., in], weight [out, in], bias [out] or nil.
function F.linear(x, weight, bias)
  if not U.is_tensor(x) then
    error("linear: input must be a Tensor, got " .. U.describe(x), 2)
  end
  if not U.is_tensor(weight) then
    error("linear: weight must be a Tensor, got " .. U.describe(weight), 2)
  end
  if bias ~= nil and not U.is_tensor(bias) then
    error("linear: bias must be a Tensor or nil, got " .. U.describe(bias), 2)
  end
  local nd = x.ndim
  -- said here in the input's terms: the product's own refusal speaks of weight^T as "arg 2"
  if nd >= 1 and weight.ndim >= 1 and x.shape[nd] ~= weight.shape[weight.ndim] then
    error(string.format("linear: input of shape %s has last dim %d, but weight of shape %s takes %d",
      U.shape_str(x), x.shape[nd], U.shape_str(weight), weight.shape[weight.ndim]), 2)
  end
  if x.dtype ~= weight.dtype then
    U.dtype_mismatch("linear", "input", x, "weight", weight)
  end
  -- addmm's refusal counts its own arguments ("the dtype of arg 1"), and a 1-D input's sum
  -- would have promoted the result to the bias's dtype
  if bias ~= nil and bias.dtype ~= weight.dtype then
    error(string.format("linear: bias has dtype %s, but weight has dtype %s (convert it: %s)", bias.dtype,
      weight.dtype, U.conversion("bias", weight.dtype)), 2)
  end
  if nd == 2 then
    if bias ~= nil then
      return graphids.addmm(bias, x, weight:t())
    end
    return graphids.mm(x, weight:t())
  end
  if nd > 2 then
    local shape = x.shape
    local out_shape = table.move(shape, 1, nd - 1, 1, {})
    out_shape[nd] = weight.shape[1]
    local x2 = x:reshape(-1, shape[nd])
    local y = bias ~= nil and graphids.addmm(bias, x2, weight:t()) or graphids.mm(x2, weight:t())
    return y:reshape(out_shape)
  end
  local y = graphids.matmul(x, weight:t())
  if bias ~= nil then
    y = y + bias
  end
  return y
end

-- The activations check their input themselves: the core's refusal of a value that is no
-- tensor reads "bad argument #1 to 'fn'", naming whatever the caller called it (nn.ReLU's
-- forward calls it fn), and not saying what it got.
for _, name in ipairs({ "relu", "sigmoid", "tanh", "silu" }) do
  local op = graphids[name]
  F[name] = function(x)
    check_tensor(name, x, "input")
    return op(x)
  end
end

function F.leaky_relu(x, negative_slope)
  check_tensor("leaky_relu", x, "input")
  return graphids.leaky_relu(x, negative_slope or 0.01)
end

function F.elu(x, alpha)
  check_tensor("elu", x, "input")
  return graphids.elu(x, alpha or 1.0)
end

-- opts: approximate = "none" | "tanh".
function F.gelu(x, opts)
  local o = U.options("gelu", opts, { approximate = "none" })
  check_tensor("gelu", x, "input")
  return graphids.gelu(x, { approximate = o.approximate })
end

-- opts: beta = 1, threshold = 20.
function F.softplus(x, opts)
  local o = U.options("softplus", opts, { beta = 1, threshold = 20 })
  check_tensor("softplus", x, "input")
  return graphids.softplus(x, { beta = o.beta, threshold = o.threshold })
end

function F.softmax(x, dim)
  check_tensor("softmax", x, "input")
  if dim == nil then
    error("softmax: dim is required", 2)
  end
  return graphids.softmax(x, dim)
end

function F.log_softmax(x, dim)
  check_tensor("log_softmax", x, "input")
  if dim == nil then
    error("log_softmax: dim is required", 2)
  end
  return graphids.log_softmax(x, dim)
end

-- x / max(||x||_p, eps) along dim (torch's F.normalize; dim 2 is torch's default dim=1).
-- opts: p = 2, dim = 2, eps = 1e-12.
function F.normalize(x, opts)
  local o = U.options("normalize", opts, { p = 2, dim = 2, eps = 1e-12 })
  check_tensor("normalize", x, "input")
  return x / x:norm(o.p, o.dim, { keepdim = true }):clamp(o.eps, nil)
end

-- The cosine of x1 and x2 along dim: sum((x1 / max(||x1||, eps)) (x2 / max(||x2||, eps))),
-- as torch's F.cosine_similarity: the operands broadcast first, and each norm is clamped as a
-- value only (torch clamps it under no_grad), its gradient the norm's.  opts: dim = 2, eps = 1e-8.
function F.cosine_similarity(x1, x2, opts)
  local o = U.options("cosine_similarity", opts, { dim = 2, eps = 1e-8 })
  check_tensor("cosine_similarity", x1, "x1")
  check_tensor("cosine_similarity", x2, "x2")
  local shape = (x1 * x2).shape
  local a, b = x1:expand(shape), x2:expand(shape)
  local function clamped_norm(x)
    local n = x:norm(2, o.dim, { keepdim = true })
    local v = n:detach()
    return n + (v:clamp(o.eps, nil) - v)
  end
  return ((a / clamped_norm(a)) * (b / clamped_norm(b))):sum(o.dim)
end

-- Zeroes each element with probability p and scales the rest by 1/(1-p) when training.
-- F.dropout(x, p=0.5, training=true, {generator=}).
function F.dropout(x, p, training, opts)
  local o = U.options("dropout", opts, { generator = NONE })
  check_tensor("dropout", x, "input")
  p = p or 0.5
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then -- (NaN fails too)
    error("dropout: probability has to be between 0 and 1, but got " .. tostring(p), 2)
  end
  if training == false or p == 0 then
    return x
  end
  if p == 1 then
    return x * 0
  end
  local mask = graphids.empty(x.shape, { dtype = x.dtype, device = x.device })
  mask:bernoulli_(1 - p, o.generator and { generator = o.generator } or nil):div_(1 - p)
  return x * mask
end

-- Rows of weight picked by input (integer tensor of 0-based ids): shape input.shape..., dim.
-- opts: padding_idx (its row gets no gradient).
function F.embedding(input, weight, opts)
  local o = U.options("embedding", opts, { padding_idx = NONE })
  check_tensor("embedding", input, "input")
  if input.dtype ~= "i64" and input.dtype ~= "i32" then
    error("embedding: input must be an i64 or i32 tensor of ids, got " .. input.dtype, 2)
  end
  check_tensor("embedding", weight, "weight")
  if weight:dim() ~= 2 then
    error("embedding: weight must be 2-D (num_embeddings x dim), got shape " .. U.shape_str(weight), 2)
  end
  local shape = input.shape
  shape[#shape + 1] = weight.shape[2]
  -- an id out of range is the caller's error, named so at the caller's line (the flat position)
  local rows = core._call_as("embedding", { index = "id" }, weight.index_select, weight, 1, input:reshape(-1))
  local out = rows:reshape(shape)
  if o.padding_idx ~= nil then
    local pad = o.padding_idx
    if pad < 0 then
      pad = pad + weight.shape[1]
    end
    local is_pad = input:eq(pad):unsqueeze(-1)
    local frozen = out.detach and out:detach() or out
    out = graphids.where(is_pad, frozen, out)
  end
  return out
end

local function trailing_dims(k)
  local dims = {}
  for i = 1, k do
    dims[i] = i - k - 1
  end
  return dims
end

-- Whether a layer_norm weight or bias suits the fused CPU kernel: absent, or a CPU tensor of
-- x's dtype shaped as x's last k dims.
local function fusable_affine(p, x, k)
  if p == nil then return true end
  if not graphids.is_tensor(p) or p.device ~= "cpu" or p.dtype ~= x.dtype or p:dim() ~= k then
    return false
  end
  local ps, xs = p.shape, x.shape
  for i = 1, k do
    if ps[i] ~= xs[#xs - k + i] then return false end
  end
  return true
end

-- Normalises over the trailing dims given by normalized_shape (a number or a list).
-- opts: weight, bias (normalized_shape each), eps = 1e-5.
function F.layer_norm(x, normalized_shape, opts)
  local o = U.options("layer_norm", opts, { weight = NONE, bias = NONE, eps = 1e-5 })
  check_tensor("layer_norm", x, "input")
  if type(normalized_shape) == "number" then
    normalized_shape = { normalized_shape }
  end
  local k, shape = #normalized_shape, x.shape
  local ok = k >= 1 and #shape >= k
  for i = 1, k do
    ok = ok and shape[#shape - k + i] == normalized_shape[i]
  end
  if not ok then
    error(string.format("layer_norm: normalized_shape [%s] does not match the trailing dims of " ..
      "the input %s", table.concat(normalized_shape, ", "), U.shape_str(x)), 2)
  end
  check_float_input("layer_norm", x, 2)
  for _, what in ipairs({ "weight", "bias" }) do
    if graphids.is_tensor(o[what]) then
      check_param_dtype("layer_norm", what, o[what], x, 2)
    end
  end
  -- CPU tensors with weight and bias of their dtype and of normalized_shape take the fused
  -- kernel (one pass, its own backward); anything else (device tensors, numbers, broadcasting
  -- shapes, f32 beside a half input) composes it, as before the kernel
  if x.device == "cpu" and fusable_affine(o.weight, x, k) and fusable_affine(o.bias, x, k) then
    return graphids.layer_norm(x, k, o.weight, o.bias, o.eps)
  end
  local dims = trailing_dims(k)
  local mean = x:mean(dims, { keepdim = true })
  local var = x:var(dims, { correction = 0, keepdim = true })
  local y = (x - mean) * (var + o.eps):rsqrt()
  if o.weight ~= nil then
    y = y * o.weight
  end
  if o.bias ~= nil then
    y = y + o.bias
  end
  return y
end

-- batch_norm's per-channel tensors, in the order its errors name them.
local BN_ARGS = { "running_mean", "running_var", "weight", "bias" }

-- x is [N, C] or [N, C, L].  In training (or without running stats) the batch's statistics
-- normalise and, when running_mean/var are given, update them in place:
-- running = (1 - momentum) * running + momentum * batch (unbiased variance).
-- opts: weight, bias, training = false, momentum = 0.1, eps = 1e-5.
function F.batch_norm(x, running_mean, running_var, opts)
  local o = U.options("batch_norm", opts, { weight = NONE, bias = NONE, training = false,
    momentum = 0.1, eps = 1e-5 })
  check_tensor("batch_norm", x, "input")
  local shape = x.shape
  if #shape ~= 2 and #shape ~= 3 then
    error("batch_norm: expected a 2-D or 3-D input, got " .. U.shape_str(x), 2)
  end
  check_float_input("batch_norm", x, 2)
  -- (as torch: a running mean without a variance has nothing to normalise or update with)
  if (running_mean == nil) ~= (running_var == nil) then
    error(string.format("batch_norm: %s is nil, but %s is given; give both running statistics or "
      .. "neither", running_mean == nil and "running_mean" or "running_var",
      running_mean == nil and "running_var" or "running_mean"), 2)
  end
  local C = shape[2]
  local given = { running_mean = running_mean, running_var = running_var, weight = o.weight,
    bias = o.bias }
  for _, what in ipairs(BN_ARGS) do
    local p = given[what]
    if p ~= nil then
      check_tensor("batch_norm", p, what)
      -- one value per channel, as torch ("weight should contain 4 elements not 5"), said before
      -- view refuses it in its own terms ("shape [1,4] is invalid for a tensor of 5 elements"),
      -- and before a running statistic is updated
      if p:numel() ~= C then
        error(string.format("batch_norm: %s has shape %s, but the input %s has %d channels (dim 2); "
          .. "give one value per channel", what, U.shape_str(p), U.shape_str(x), C), 2)
      end
      check_param_dtype("batch_norm", what, p, x, 2)
    end
  end
  local dims = #shape == 2 and { 1 } or { 1, 3 }
  local stat_shape = #shape == 2 and { 1, C } or { 1, C, 1 }
  local affine = function(y)
    if o.weight ~= nil then
      y = y * o.weight:reshape(stat_shape)
    end
    if o.bias ~= nil then
      y = y + o.bias:reshape(stat_shape)
    end
    return y
  end
  if x:numel() == 0 then
    -- An empty batch normalises to an empty result and leaves the running statistics as they
    -- were (as torch); its mean would be 0 / 0.
    return affine(x:clone())
  end
  local mean, var
  if o.training or running_mean == nil then
    local n = x:numel() // C
    if n <= 1 and o.training then
      error("batch_norm: expected more than 1 value per channel when training, got input size " ..
        U.shape_str(x), 2)
    end
    mean = x:mean(dims, { keepdim = true })
    var = x:var(dims, { correction = 0, keepdim = true })
    if o.training and running_mean ~= nil then
      U.no_grad(function()
        local m = o.momentum
        local bm = mean.detach and mean:detach() or mean
        local bv = var.detach and var:detach() or var
        running_mean:mul_(1 - m):add_(bm:reshape(C), { alpha = m })
        running_var:mul_(1 - m):add_(bv:reshape(C), { alpha = m * n / (n - 1) })
      end)
    end
  else
    mean = running_mean:reshape(stat_shape)
    var = running_var:reshape(stat_shape)
  end
  return affine((x - mean) * (var + o.eps):rsqrt())
end

-- i64 tensor of shape t.shape..., num_classes with a 1 at each class id.
function F.one_hot(t, num_classes)
  check_tensor("one_hot", t, "input")
  if t.dtype ~= "i64" and t.dtype ~= "i32" then
    error("one_hot: input must be an i64 or i32 tensor, got " .. t.dtype, 2)
  end
  local lo, hi = t:int_range() -- 0, -1 when empty
  if lo < 0 then
    error("one_hot: class values must be non-negative, got " .. lo, 2)
  end
  num_classes = num_classes or -1
  if num_classes == -1 then
    num_classes = hi + 1
  elseif hi >= num_classes then
    error(string.format("one_hot: class value %d is out of range for %d classes", hi, num_classes),
      2)
  end
  local shape = t.shape
  shape[#shape + 1] = num_classes
  return graphids.zeros(shape, { dtype = "i64", device = t.device })
    :scatter_(-1, t:long():unsqueeze(-1), 1)
end

-- the losses (functional_losses.lua)
require("graphids.nn.functional_losses")(F)

-- (a value past a function's last parameter is an error, as for the core's functions)
U.refuse_extra_arguments(F, "")
-- Each function written here raises every error, an op's it is built of too ("softmax: dim 5
-- out of range", addmm's on a bias of the wrong shape), under its own name at the line that
-- called it, as the core's composed functions do (core._named, docs/development.md "Errors"):
-- not at a line of this file.  The core's own functions (F.relu) place theirs already.
for name, f in pairs(F) do
  if debug.getinfo(f, "S").what == "Lua" then
    F[name] = core._named(f, name)
  end
end

return F
