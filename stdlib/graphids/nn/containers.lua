-- graphids.nn containers: Sequential, ModuleList, ModuleDict.
--   local seq = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
--   seq(x); seq[1] --> the first Linear; #seq --> 3; for i, m in ipairs(seq) do ... end
--   local list = nn.ModuleList({ nn.Linear(4, 4), nn.Linear(4, 4) }); list:append(nn.ReLU())
--   local dict = nn.ModuleDict({ { "enc", enc }, { "dec", dec } }); dict.enc; dict:keys()
-- Sequential and ModuleList name their children "0", "1", ... as torch does, so state dict
-- keys read "layers.0.weight"; from Lua they are indexed 1-based (seq[1] is child "0").
-- A ModuleDict keeps insertion order; a plain table {name = module} is added in sorted order.
local class = require "graphids.class"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"

local M = {}

-- Errors are raised at the line that called the public method or constructor: `level` is
-- error's level for it as seen from the function calling the helper (2 from a method, U.CTOR
-- from an __init).
local function check_module(fname, m, i, level)
  if not class.isinstance(m, Module) then
    error(string.format("%s: argument %d must be a Module, got %s", fname, i, class.name_of(m)),
      level + 1)
  end
end

-- Integer keys index the children 1-based (negative from the end); other keys are methods.
-- Index 0 and one before the first child are errors (a torch user's seq[0] would otherwise be
-- a nil failing far away); past the end is nil, as a Lua list, which ipairs needs.
-- Assigning to an index (seq[1] = m) replaces that child, as torch's seq[0] = m; an index
-- that names no child is an error (torch's IndexError: append adds one), and so is a value
-- that is not a Module (nil included: a child is not removed by assignment).  Without this the
-- integer key would become a plain field that forward, parameters() and state_dict() ignore.
local function index_key(k)
  if math.type(k) == "float" and math.tointeger(k) then
    return math.tointeger(k)
  end
  return k
end

local function out_of_range(self, k, n, hint)
  error(string.format("%s: index %d is out of range (%d children, indexed 1..%d or -%d..-1; " ..
    "child '0' is [1])%s", class.name_of(self), k, n, n, n, hint or ""), 3)
end

local function indexed(cls)
  cls.__index = function(self, k)
    k = index_key(k)
    if math.type(k) == "integer" then
      local names = rawget(self, "_children")
      local n = #names
      if k == 0 or k < -n then
        out_of_range(self, k, n)
      end
      if k < 0 then
        k = n + k + 1
      end
      local name = names[k]
      return name and rawget(self, name)
    end
    return cls[k]
  end
  cls.__newindex = function(self, k, v)
    k = index_key(k)
    if type(k) ~= "number" then
      return Module.__newindex(self, k, v)
    end
    if math.type(k) ~= "integer" then
      error(string.format("%s: index must be an integer, got %s", class.name_of(self), tostring(k)), 2)
    end
    local names = rawget(self, "_children")
    local n = #names
    if k == 0 or k > n or k < -n then
      out_of_range(self, k, n, "; append adds a child")
    end
    if not class.isinstance(v, Module) then
      error(string.format("%s: [%d] must be a Module, got %s (a child is replaced, not removed)",
        class.name_of(self), k, class.name_of(v)), 2)
    end
    rawset(self, names[k < 0 and n + k + 1 or k], v)
  end
  cls.__len = function(self)
    return #rawget(self, "_children")
  end
end

-- ---------------------------------------------------------------- Sequential

local Sequential = class("Sequential", Module)
indexed(Sequential)

-- Sequential(m1, m2, ...) or Sequential({m1, m2, ...}).
function Sequential:__init(...)
  Module.__init(self)
  local mods = table.pack(...)
  if mods.n == 1 and type(mods[1]) == "table" and not class.isinstance(mods[1], Module) then
    mods = mods[1]
    mods.n = #mods
  end
  for i = 1, mods.n do
    check_module("Sequential", mods[i], i, U.CTOR)
    self:add_module(tostring(i - 1), mods[i])
  end
end

function Sequential:append(m)
  check_module("Sequential:append", m, 1, 2)
  self:add_module(tostring(#self._children), m)
  return self
end

function Sequential:forward(x, ...)
  local names = self._children
  for i = 1, #names do
    local m = rawget(self, names[i])
    if i == 1 then
      x = m(x, ...)
    else
      x = m(x)
    end
  end
  return x
end

M.Sequential = Sequential

-- ---------------------------------------------------------------- ModuleList

local ModuleList = class("ModuleList", Module)
indexed(ModuleList)

-- ModuleList:extend, for the constructor too (fname and level as check_module's).
local function extend(self, mods, fname, level)
  if type(mods) ~= "table" or class.isinstance(mods, Module) and not mods.__len then
    error(fname .. ": expected a list of modules, got " .. class.name_of(mods), level + 1)
  end
  for i = 1, #mods do
    check_module(fname, mods[i], i, level + 1)
    self:add_module(tostring(#self._children), mods[i])
  end
  return self
end

function ModuleList:__init(mods)
  Module.__init(self)
  if mods ~= nil then
    extend(self, mods, "ModuleList", U.CTOR)
  end
end

function ModuleList:append(m)
  check_module("ModuleList:append", m, 1, 2)
  self:add_module(tostring(#self._children), m)
  return self
end

function ModuleList:extend(mods)
  local r = extend(self, mods, "ModuleList:extend", 2) -- not a tail call: levels count
  return r
end

function ModuleList.forward()
  error("ModuleList: has no forward; call its modules (for i, m in ipairs(list) do ... end)", 2)
end

M.ModuleList = ModuleList

-- ---------------------------------------------------------------- ModuleDict

local ModuleDict = class("ModuleDict", Module)

-- ModuleDict() / ModuleDict({{"name", m}, ...}) (that order) / ModuleDict({name = m, ...})
-- (sorted names).
-- ModuleDict:update, for the constructor too (fname and level as check_module's).
local function update(self, mods, fname, level)
  level = level + 1
  if type(mods) ~= "table" or class.isinstance(mods, Module) then
    error(fname .. ": expected a table of modules, got " .. class.name_of(mods), level)
  end
  local function add(name, m)
    if not class.isinstance(m, Module) then
      error(string.format("%s: entry '%s' must be a Module, got %s", fname, name, class.name_of(m)),
        level + 1)
    end
    Module._add_child(self, fname, name, m, level + 1)
  end
  local n = #mods
  if n > 0 then
    -- a named entry beside the pairs has no place in their order: refused, not dropped
    for k in pairs(mods) do
      if math.type(k) ~= "integer" or k < 1 or k > n then
        error(string.format("%s: entry %s is named in a list of {name, module} pairs (a mixed table " ..
          "has no order); give every entry as a pair", fname,
          type(k) == "string" and "'" .. k .. "'" or tostring(k)), level)
      end
    end
    for i, pair in ipairs(mods) do
      if type(pair) ~= "table" or type(pair[1]) ~= "string" then
        error(string.format("%s: entry %d must be a {name, module} pair", fname, i), level)
      end
      add(pair[1], pair[2])
    end
  else
    local names = {}
    for k in pairs(mods) do
      if type(k) ~= "string" then
        error(string.format("%s: keys must be strings, got %s", fname, type(k)), level)
      end
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do
      add(k, mods[k])
    end
  end
  return self
end

function ModuleDict:__init(mods)
  Module.__init(self)
  if mods ~= nil then
    update(self, mods, "ModuleDict", U.CTOR)
  end
end

function ModuleDict:update(mods)
  local r = update(self, mods, "ModuleDict:update", 2) -- not a tail call: levels count
  return r
end

-- d:set(name, m) adds or replaces; d:get(name) (or d.name when it is not a method's name).
function ModuleDict:set(name, m)
  Module._add_child(self, "ModuleDict:set", name, m, 2)
  return self
end

function ModuleDict:get(name)
  return self._kind[name] == "module" and rawget(self, name) or nil
end

function ModuleDict:keys()
  local keys = {}
  for name in self:named_children() do
    keys[#keys + 1] = name
  end
  return keys
end

function ModuleDict:values()
  return self:children()
end

-- for name, m in d:items() do ... end, in insertion order.
function ModuleDict:items()
  return self:named_children()
end

function ModuleDict:__len()
  return #self:keys()
end

function ModuleDict.forward()
  error("ModuleDict: has no forward; call its modules (d:get(name)(x))", 2)
end

M.ModuleDict = ModuleDict

return M
