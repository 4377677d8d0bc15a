-- graphids.nn Linear and Identity.
--   local fc = nn.Linear(35, 256)                        -- weight [256, 35], bias [256]
--   local head = nn.Linear(256, 2, { bias = false, dtype = "f64" })
--   y = fc(x)                                            -- x [..., 35] -> [..., 256]
-- Initialisation as torch: weight kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)),
-- and bias U(-1/sqrt(in), 1/sqrt(in)).
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local init = require "graphids.nn.initializers"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

local Identity = class("Identity", Module)

-- Identity(...) ignores its arguments, as torch's does.
function Identity:__init()
  Module.__init(self)
end

function Identity.forward(_, x)
  return x
end

M.Identity = Identity

local Linear = class("Linear", Module)

function Linear:__init(in_features, out_features, opts)
  Module.__init(self)
  local o = U.options("Linear", opts, { bias = true, dtype = U.NONE, device = U.NONE }, U.CTOR)
  U.check_size("Linear", "in_features", in_features)
  U.check_size("Linear", "out_features", out_features)
  self.in_features, self.out_features = in_features, out_features
  self:register_parameter("weight", U.empty({ out_features, in_features }, o))
  self:register_parameter("bias", o.bias and U.empty({ out_features }, o) or nil)
  self:reset_parameters()
end

function Linear:reset_parameters()
  init.kaiming_uniform_(self.weight, { a = math.sqrt(5) })
  if self.bias ~= nil then
    local fan_in = init._calculate_fan_in_and_fan_out(self.weight)
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(self.bias, -bound, bound)
  end
end

function Linear:forward(x)
  return F.linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=%s", self.in_features,
    self.out_features, tostring(self.bias ~= nil))
end

M.Linear = Linear

return M
