-- class.lua -- the small class helper of the stdlib.
--
--   local class = require "graphids.class"
--   local Linear = class("Linear", Module)       -- name, optional parent
--   function Linear:__init(in_f, out_f) Module.__init(self) ... end
--   local m = Linear(3, 1)                        -- calls __init on a new instance
--   class.isinstance(m, Module) --> true
--
-- Instances get a metatable with __index (methods, then the parent's), __name and
-- __tostring (the class's own __tostring method when it defines one).  Metamethods defined on
-- a class (__call, __len, __newindex, ...) are inherited by subclasses, as they stand when the
-- subclass is made.  A parent whose __index is a function (Sequential's integer indexing) is
-- kept behind the subclass's own methods: the subclass looks a key up in its class chain, then
-- asks the parent's function.
local M = {}

local METAMETHODS = { "__tostring", "__call", "__len", "__eq", "__lt", "__le", "__concat",
  "__close", "__newindex" }

local function new(cls, ...)
  local obj = setmetatable({}, cls)
  obj:__init(...)
  return obj
end

function M.class(name, parent)
  assert(type(name) == "string", "class: name must be a string")
  local cls = { __name = name, __parent = parent }
  cls.__index = cls
  if parent then
    setmetatable(cls, { __index = parent, __call = new })
    local parent_index = parent.__index
    if type(parent_index) == "function" then
      cls.__index = function(self, k)
        local v = cls[k]
        if v ~= nil then return v end
        return parent_index(self, k)
      end
    end
    for _, mm in ipairs(METAMETHODS) do
      if rawget(cls, mm) == nil and parent[mm] ~= nil then cls[mm] = parent[mm] end
    end
  else
    setmetatable(cls, { __call = new })
    cls.__init = function() end
  end
  return cls
end

-- True when obj is an instance of cls or of a class derived from it.
function M.isinstance(obj, cls)
  if type(obj) ~= "table" then return false end
  local c = getmetatable(obj)
  while c ~= nil do
    if c == cls then return true end
    c = rawget(c, "__parent")
  end
  return false
end

-- The class name of an instance ("Linear"), or Lua's type name for other values.
function M.name_of(obj)
  local mt = type(obj) == "table" and getmetatable(obj)
  return mt and rawget(mt, "__name") or type(obj)
end

return setmetatable(M, { __call = function(_, name, parent) return M.class(name, parent) end })
