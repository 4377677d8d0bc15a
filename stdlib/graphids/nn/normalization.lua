-- graphids.nn LayerNorm and BatchNorm1d.
--   local ln = nn.LayerNorm(64)                       -- or nn.LayerNorm({4, 64}); weight 1, bias 0
--   local bn = nn.BatchNorm1d(64, { momentum = 0.1 }) -- input [N, 64] or [N, 64, L]
--   bn:train(); bn(x)      -- batch statistics; running_mean/var and num_batches_tracked update
--   bn:eval(); bn(x)       -- running statistics
-- Options as torch: LayerNorm {eps=1e-5, elementwise_affine=true, bias=true};
-- BatchNorm1d {eps=1e-5, momentum=0.1 (false: cumulative average, torch's None), affine=true,
-- track_running_stats=true}; both take dtype and device.  The running variance is updated with
-- the unbiased batch variance, normalisation uses the biased one (as torch).
local graphids = require "graphids"
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

local function fmt_num(x)
  return string.format("%g", x)
end

-- ---------------------------------------------------------------- LayerNorm

local LayerNorm = class("LayerNorm", Module)

function LayerNorm:__init(normalized_shape, opts)
  Module.__init(self)
  local o = U.options("LayerNorm", opts, { eps = 1e-5, elementwise_affine = true, bias = true,
    dtype = U.NONE, device = U.NONE }, U.CTOR)
  if type(normalized_shape) == "number" then
    normalized_shape = { normalized_shape }
  end
  if type(normalized_shape) ~= "table" or #normalized_shape == 0 then
    error("LayerNorm: normalized_shape must be a size or a non-empty list of sizes", U.CTOR)
  end
  local shape = {}
  for i, s in ipairs(normalized_shape) do
    U.check_size("LayerNorm", "normalized_shape[" .. i .. "]", s)
    shape[i] = s
  end
  self.normalized_shape, self.eps = shape, o.eps
  self.elementwise_affine = o.elementwise_affine
  if o.elementwise_affine then
    self:register_parameter("weight", U.empty(shape, o))
    self:register_parameter("bias", o.bias and U.empty(shape, o) or nil)
  else
    self:register_parameter("weight", nil)
    self:register_parameter("bias", nil)
  end
  self:reset_parameters()
end

function LayerNorm:reset_parameters()
  U.no_grad(function()
    if self.weight ~= nil then
      self.weight:fill_(1)
    end
    if self.bias ~= nil then
      self.bias:zero_()
    end
  end)
end

-- The input's dtype against the layer's tensors (U.norm_dtypes_match), said in the layer's terms
-- before F's check of each tensor alone: the hint converts the input or the layer (m:to
-- converts them all).  ref: the layer's weight, or (without one) the tensor standing for it;
-- nil: a layer without tensors takes any float input.
local function check_input_dtype(name, x, ref, ref_name)
  if ref ~= nil and U.is_tensor(x) and not U.norm_dtypes_match(ref.dtype, x.dtype) then
    U.dtype_mismatch(name, "input", x, ref_name, ref, 3)
  end
end

function LayerNorm:forward(x)
  check_input_dtype("LayerNorm", x, self.weight, "weight")
  return F.layer_norm(x, self.normalized_shape, { weight = self.weight, bias = self.bias,
    eps = self.eps })
end

function LayerNorm:extra_repr()
  return string.format("{%s}, eps=%s, elementwise_affine=%s", table.concat(self.normalized_shape,
    ", "), fmt_num(self.eps), tostring(self.elementwise_affine))
end

M.LayerNorm = LayerNorm

-- ---------------------------------------------------------------- BatchNorm1d

local BatchNorm1d = class("BatchNorm1d", Module)

function BatchNorm1d:__init(num_features, opts)
  Module.__init(self)
  local o = U.options("BatchNorm1d", opts, { eps = 1e-5, momentum = U.NONE, affine = true,
    track_running_stats = true, dtype = U.NONE, device = U.NONE }, U.CTOR)
  U.check_size("BatchNorm1d", "num_features", num_features)
  local momentum = o.momentum
  if momentum == nil then
    momentum = 0.1
  elseif momentum ~= false and type(momentum) ~= "number" then
    error("BatchNorm1d: option 'momentum' must be a number or false, got " .. tostring(momentum),
      U.CTOR)
  end
  self.num_features, self.eps, self.momentum = num_features, o.eps, momentum
  self.affine, self.track_running_stats = o.affine, o.track_running_stats
  if o.affine then
    self:register_parameter("weight", U.empty({ num_features }, o))
    self:register_parameter("bias", U.empty({ num_features }, o))
  else
    self:register_parameter("weight", nil)
    self:register_parameter("bias", nil)
  end
  if o.track_running_stats then
    self:register_buffer("running_mean", U.empty({ num_features }, o))
    self:register_buffer("running_var", U.empty({ num_features }, o))
    self:register_buffer("num_batches_tracked", graphids.zeros({}, { dtype = "i64" }))
  else
    self:register_buffer("running_mean", nil)
    self:register_buffer("running_var", nil)
    self:register_buffer("num_batches_tracked", nil)
  end
  self:reset_parameters()
end

-- torch loads a state dict without num_batches_tracked (one saved before the buffer existed,
-- or written by hand) and keeps the module's count; so does load_state_dict here.
BatchNorm1d._optional_state = { num_batches_tracked = true }

function BatchNorm1d:reset_running_stats()
  if self.track_running_stats then
    U.no_grad(function()
      self.running_mean:zero_()
      self.running_var:fill_(1)
      self.num_batches_tracked:zero_()
    end)
  end
end

function BatchNorm1d:reset_parameters()
  self:reset_running_stats()
  if self.affine then
    U.no_grad(function()
      self.weight:fill_(1)
      self.bias:zero_()
    end)
  end
end

function BatchNorm1d:forward(x)
  if not U.is_tensor(x) then
    error("BatchNorm1d: input must be a tensor, got " .. U.describe(x), 2)
  end
  if x.ndim ~= 2 and x.ndim ~= 3 then
    error(string.format("BatchNorm1d: expected 2D or 3D input (got %dD input)", x.ndim), 2)
  end
  if x.shape[2] ~= self.num_features then
    error(string.format("BatchNorm1d: input has %d channels (dim 2 of %s), expected %d",
      x.shape[2], U.shape_str(x), self.num_features), 2)
  end
  if self.weight ~= nil then
    check_input_dtype("BatchNorm1d", x, self.weight, "weight")
  else
    check_input_dtype("BatchNorm1d", x, self.running_mean, "running_mean")
  end
  local counts = self.training and self.track_running_stats
  local factor = self.momentum or 0.0
  if counts and self.momentum == false then
    factor = 1.0 / (self.num_batches_tracked:item() + 1)
  end
  local use_batch = self.training or self.running_mean == nil
  local track = not self.training or self.track_running_stats
  local y = F.batch_norm(x, track and self.running_mean or nil, track and self.running_var or nil, {
    weight = self.weight, bias = self.bias, training = use_batch, momentum = factor,
    eps = self.eps })
  -- counted once the batch is taken: a refused one leaves the count as the statistics
  if counts then
    U.no_grad(function() self.num_batches_tracked:add_(1) end)
  end
  return y
end

function BatchNorm1d:extra_repr()
  return string.format("%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s",
    self.num_features, fmt_num(self.eps), self.momentum and fmt_num(self.momentum) or "nil",
    tostring(self.affine), tostring(self.track_running_stats))
end

M.BatchNorm1d = BatchNorm1d

return M
