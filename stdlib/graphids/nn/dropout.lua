-- graphids.nn.Dropout -- zeroes elements with probability p in training mode, scaling the
-- rest by 1/(1-p); the identity in eval mode.
--   local drop = nn.Dropout(0.1)          -- or nn.Dropout({ p = 0.1 })
--   model:train(); drop(x)                -- random mask (graphids' default generator)
--   model:eval(); drop(x)                 -- x itself
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

local Dropout = class("Dropout", Module)

function Dropout:__init(p, opts)
  Module.__init(self)
  if type(p) == "table" then
    p, opts = nil, p
  end
  local o = U.options("Dropout", opts, { p = 0.5 }, U.CTOR)
  p = p or o.p
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then -- (NaN fails too)
    error("Dropout: probability has to be between 0 and 1, but got " .. tostring(p), U.CTOR)
  end
  self.p = p
end

-- self.generator (a plain field, nil by default: graphids' default stream) draws the masks: a
-- model's step sets it to the step's generator (graphids.models.fusion.common.use_generator).
function Dropout:forward(x)
  local gen = rawget(self, "generator")
  return F.dropout(x, self.p, self.training, gen and { generator = gen } or nil)
end

function Dropout:extra_repr()
  return "p=" .. self.p
end

M.Dropout = Dropout

return M
