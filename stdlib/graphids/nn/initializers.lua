-- graphids.nn.init -- in-place initialisers with torch.nn.init's names and formulas.
--   local init = require("graphids.nn").init
--   init.kaiming_uniform_(w, { a = math.sqrt(5) })      -- what Linear does
--   init.xavier_normal_(w, { gain = init.calculate_gain("tanh") })
--   init.normal_(w, 0, 0.02, { generator = g })
-- Each runs with grad mode off (so it works on parameters), draws from graphids' RNG (the
-- default generator, or opts.generator) and returns the tensor.  Values differ from torch's for
-- the same seed (a different generator); distributions and bounds are the same.
-- Every error is the called initialiser's, at its caller's line (core._named, below): the
-- tensor op it fills with ("uniform_: low 3 must not exceed high 1") and the fan or gain it
-- computes ("xavier_uniform_: Fan in and fan out can not be computed ...") included.
local core = require "graphids.core"
local graphids = require "graphids"
local U = require "graphids.nn._util"

local NONE = U.NONE
local init = {}

local function check_tensor(fname, t)
  if not graphids.is_tensor(t) then
    error(string.format("%s: tensor must be a graphids.Tensor, got %s", fname, U.describe(t)), 0)
  end
end

local function gen_opts(fname, opts, defaults)
  defaults = defaults or {}
  defaults.generator = NONE
  local o = U.options(fname, opts, defaults)
  return o, o.generator and { generator = o.generator } or nil
end

-- Gain for a nonlinearity: linear/conv*/sigmoid 1, tanh 5/3, relu sqrt(2),
-- leaky_relu sqrt(2 / (1 + slope^2)) (slope = param or 0.01), selu 3/4.
function init.calculate_gain(nonlinearity, param)
  local linear = { linear = true, conv1d = true, conv2d = true, conv3d = true,
    conv_transpose1d = true, conv_transpose2d = true, conv_transpose3d = true, sigmoid = true }
  if linear[nonlinearity] then
    return 1
  elseif nonlinearity == "tanh" then
    return 5.0 / 3
  elseif nonlinearity == "relu" then
    return math.sqrt(2.0)
  elseif nonlinearity == "leaky_relu" then
    local slope = 0.01
    if param ~= nil then
      if type(param) ~= "number" then
        error("calculate_gain: negative_slope " .. tostring(param) .. " is not a valid number", 2)
      end
      slope = param
    end
    return math.sqrt(2.0 / (1 + slope * slope))
  elseif nonlinearity == "selu" then
    return 3.0 / 4
  end
  error("calculate_gain: unsupported nonlinearity " .. tostring(nonlinearity), 2)
end

-- fan_in = size(2) * receptive field, fan_out = size(1) * receptive field (receptive field =
-- product of the sizes after the second).
function init._calculate_fan_in_and_fan_out(t)
  check_tensor("_calculate_fan_in_and_fan_out", t)
  local shape = t.shape
  if #shape < 2 then
    error("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions", 2)
  end
  local receptive = 1
  for i = 3, #shape do
    receptive = receptive * shape[i]
  end
  return shape[2] * receptive, shape[1] * receptive
end

local function fan(t, mode)
  local fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
  if mode == "fan_in" then
    return fan_in
  elseif mode == "fan_out" then
    return fan_out
  end
  error("kaiming: mode " .. tostring(mode) .. " not supported, use 'fan_in' or 'fan_out'", 3)
end

-- U(a, b).  init.uniform_(t, a=0, b=1, {generator=})
function init.uniform_(t, a, b, opts)
  check_tensor("uniform_", t)
  local _, g = gen_opts("uniform_", opts)
  return U.no_grad(function() return t:uniform_(a or 0.0, b or 1.0, g) end)
end

-- N(mean, std^2).  init.normal_(t, mean=0, std=1, {generator=})
function init.normal_(t, mean, std, opts)
  check_tensor("normal_", t)
  local _, g = gen_opts("normal_", opts)
  return U.no_grad(function() return t:normal_(mean or 0.0, std or 1.0, g) end)
end

function init.constant_(t, value)
  check_tensor("constant_", t)
  -- a one-element tensor stands for its value, as torch's 0-d tensor does here
  local what
  if graphids.is_tensor(value) then
    local ok, n = pcall(value.numel, value)
    if ok and n == 1 then
      value = value:item()
    else
      what = ok and string.format("a tensor of %d elements", n) or "a freed tensor"
    end
  end
  if type(value) ~= "number" and type(value) ~= "boolean" then
    -- (named here: fill_'s own message would name its argument, not this one's)
    error("constant_: val must be a number or a one-element tensor, got " .. (what or U.describe(value)), 0)
  end
  return U.no_grad(function() return t:fill_(value) end)
end

function init.zeros_(t)
  check_tensor("zeros_", t)
  return U.no_grad(function() return t:zero_() end)
end

function init.ones_(t)
  check_tensor("ones_", t)
  return U.no_grad(function() return t:fill_(1) end)
end

-- U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).  opts: gain = 1, generator.
function init.xavier_uniform_(t, opts)
  local o, g = gen_opts("xavier_uniform_", opts, { gain = 1.0 })
  local fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
  local a = math.sqrt(3.0) * o.gain * math.sqrt(2.0 / (fan_in + fan_out))
  return U.no_grad(function() return t:uniform_(-a, a, g) end)
end

-- N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).  opts: gain = 1, generator.
function init.xavier_normal_(t, opts)
  local o, g = gen_opts("xavier_normal_", opts, { gain = 1.0 })
  local fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
  local std = o.gain * math.sqrt(2.0 / (fan_in + fan_out))
  return U.no_grad(function() return t:normal_(0.0, std, g) end)
end

local KAIMING = { a = 0.0, mode = "fan_in", nonlinearity = "leaky_relu" }

local function kaiming_std(fname, t, opts)
  local defaults = {}
  for k, v in pairs(KAIMING) do
    defaults[k] = v
  end
  local o, g = gen_opts(fname, opts, defaults)
  local n = fan(t, o.mode)
  if n == 0 then
    return nil, g
  end
  return init.calculate_gain(o.nonlinearity, o.a) / math.sqrt(n), g
end

-- U(-bound, bound) with bound = gain * sqrt(3 / fan).  opts: a = 0 (the leaky_relu slope),
-- mode = "fan_in" | "fan_out", nonlinearity = "leaky_relu", generator.  A tensor with a zero
-- fan is left as it is.
function init.kaiming_uniform_(t, opts)
  local std, g = kaiming_std("kaiming_uniform_", t, opts)
  if std == nil then
    return t
  end
  local bound = math.sqrt(3.0) * std
  return U.no_grad(function() return t:uniform_(-bound, bound, g) end)
end

-- N(0, std^2) with std = gain / sqrt(fan).  Options as kaiming_uniform_.
function init.kaiming_normal_(t, opts)
  local std, g = kaiming_std("kaiming_normal_", t, opts)
  if std == nil then
    return t
  end
  return U.no_grad(function() return t:normal_(0.0, std, g) end)
end

for name, f in pairs(init) do
  init[name] = core._named(f, name)
end

return init
