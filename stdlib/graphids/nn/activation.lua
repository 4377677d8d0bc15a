-- graphids.nn activation modules (no parameters).
--   nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU({ alpha = 1 }), nn.GELU({ approximate = "tanh" }),
--   nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.Softplus(1, 20) or
--   nn.Softplus({ beta = 1, threshold = 20 }),
--   nn.Softmax(2), nn.LogSoftmax({ dim = -1 })
-- A numeric hyper-parameter may be given positionally or in the options table.
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

local function fmt(x)
  if math.type(x) == "integer" then
    return tostring(x)
  end
  return string.format("%g", x)
end

-- A module applying fn(x) with no hyper-parameters.
local function simple(name, fn)
  local cls = class(name, Module)
  function cls:__init(opts)
    Module.__init(self)
    U.options(name, opts, {}, U.CTOR)
  end
  function cls.forward(_, x)
    return fn(x)
  end
  M[name] = cls
end

simple("ReLU", F.relu)
simple("SiLU", F.silu)
simple("Sigmoid", F.sigmoid)
simple("Tanh", F.tanh)

-- An argument after the options table would be dropped unseen.
local function no_extra(name, extra)
  if extra ~= nil then
    error(string.format("%s: unexpected argument after the options table (%s)", name,
      U.describe(extra)), U.CTOR + 1)
  end
end

-- A module with one numeric hyper-parameter `key`, positional or in opts.
local function one_param(name, key, default, fn, required)
  local cls = class(name, Module)
  function cls:__init(v, opts, extra)
    Module.__init(self)
    if type(v) == "table" then
      v, opts, extra = nil, v, opts
    end
    no_extra(name, extra)
    local defaults = { [key] = default == nil and U.NONE or default }
    local o = U.options(name, opts, defaults, U.CTOR)
    if v == nil then
      v = o[key]
    elseif type(opts) == "table" and opts[key] ~= nil then
      error(string.format("%s: %s given twice (positionally and in the options)", name, key), U.CTOR)
    end
    if v == nil and required then
      error(string.format("%s: %s is required", name, key), U.CTOR)
    end
    if math.type(v) == nil then
      error(string.format("%s: %s must be a number, got %s", name, key, tostring(v)), U.CTOR)
    end
    self[key] = v
  end
  function cls:forward(x)
    return fn(x, self[key])
  end
  function cls:extra_repr()
    return key .. "=" .. fmt(self[key])
  end
  M[name] = cls
end

one_param("LeakyReLU", "negative_slope", 0.01, F.leaky_relu)
one_param("ELU", "alpha", 1.0, F.elu)
one_param("Softmax", "dim", nil, F.softmax, true)
one_param("LogSoftmax", "dim", nil, F.log_softmax, true)

local GELU = class("GELU", Module)

function GELU:__init(opts)
  Module.__init(self)
  local o = U.options("GELU", opts, { approximate = "none" }, U.CTOR)
  if o.approximate ~= "none" and o.approximate ~= "tanh" then
    error("GELU: approximate must be 'none' or 'tanh', got '" .. o.approximate .. "'", U.CTOR)
  end
  self.approximate = o.approximate
end

function GELU:forward(x)
  return F.gelu(x, { approximate = self.approximate })
end

function GELU:extra_repr()
  return "approximate='" .. self.approximate .. "'"
end

M.GELU = GELU

local Softplus = class("Softplus", Module)

-- Softplus(beta, threshold), torch's order, either of them also in the options.
function Softplus:__init(beta, threshold, opts, extra)
  Module.__init(self)
  if type(beta) == "table" then
    beta, threshold, opts, extra = nil, nil, beta, threshold
  elseif type(threshold) == "table" then
    threshold, opts, extra = nil, threshold, opts
  end
  no_extra("Softplus", extra)
  local o = U.options("Softplus", opts, { beta = 1.0, threshold = 20.0 }, U.CTOR)
  for _, kv in ipairs({ { "beta", beta }, { "threshold", threshold } }) do
    if kv[2] ~= nil and type(opts) == "table" and opts[kv[1]] ~= nil then
      error(string.format("Softplus: %s given twice (positionally and in the options)", kv[1]),
        U.CTOR)
    end
  end
  if beta == nil then beta = o.beta end
  if threshold == nil then threshold = o.threshold end
  for _, kv in ipairs({ { "beta", beta }, { "threshold", threshold } }) do
    if math.type(kv[2]) == nil then
      error(string.format("Softplus: %s must be a number, got %s", kv[1], U.describe(kv[2])),
        U.CTOR)
    end
  end
  self.beta, self.threshold = beta, threshold
end

function Softplus:forward(x)
  return F.softplus(x, { beta = self.beta, threshold = self.threshold })
end

function Softplus:extra_repr()
  return "beta=" .. fmt(self.beta) .. ", threshold=" .. fmt(self.threshold)
end

M.Softplus = Softplus

return M
