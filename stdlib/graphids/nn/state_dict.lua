-- graphids.nn.StateDict -- an ordered map from names ("layers.0.weight") to tensors.
--   local sd = model:state_dict()
--   for _, name in ipairs(sd:keys()) do print(name, sd[name].shape) end
--   for name, t in sd:items() do ... end        -- same order
--   sd:set("extra.weight", t); sd:remove("fc.bias"); #sd
-- Order is the order of insertion (for Module:state_dict, torch's order: a module's parameters,
-- then its buffers, then each child's entries), so state dicts print, save and compare the same
-- on every run.  Names are looked up as fields (sd["fc.weight"]) or with sd:get(name); a name
-- equal to a method name ("keys") can only be read with get, but never hides the method: the
-- entries live apart from the instance's fields, so every method works for every name (a
-- module with a buffer named "keys" saves and loads).  sd[name] = t is sd:set(name, t).
-- pairs(sd) walks the entries in order, as items() does.  StateDict.from(t) makes one from a
-- plain table {name = tensor} (sorted names) or returns a StateDict as is.
local class = require "graphids.class"

local StateDict = class("StateDict")

-- The entries (name -> tensor) and their order live under private (non-string) keys of the
-- instance, so no name can collide with them or with a method.
local ENTRIES, ORDER = {}, {}

function StateDict:__init()
  rawset(self, ENTRIES, {})
  rawset(self, ORDER, {})
end

-- sd.name reads a method first, then an entry.
function StateDict.__index(self, k)
  local m = StateDict[k]
  if m ~= nil then
    return m
  end
  return rawget(self, ENTRIES)[k]
end

function StateDict.__newindex(self, k, v)
  if type(k) ~= "string" then
    error("StateDict: name must be a string, got " .. type(k), 2)
  end
  self:set(k, v)
end

function StateDict:get(name)
  return rawget(self, ENTRIES)[name]
end

function StateDict:set(name, t)
  if type(name) ~= "string" then
    error("StateDict:set: name must be a string, got " .. type(name), 2)
  end
  if t == nil then
    return self:remove(name)
  end
  local entries = rawget(self, ENTRIES)
  if entries[name] == nil then
    local order = rawget(self, ORDER)
    order[#order + 1] = name
  end
  entries[name] = t
  return self
end

function StateDict:remove(name)
  local entries = rawget(self, ENTRIES)
  if entries[name] ~= nil then
    entries[name] = nil
    local order = rawget(self, ORDER)
    for i = 1, #order do
      if order[i] == name then
        table.remove(order, i)
        break
      end
    end
  end
  return self
end

function StateDict:has(name)
  return rawget(self, ENTRIES)[name] ~= nil
end

-- A new list of the names, in order.
function StateDict:keys()
  local order = rawget(self, ORDER)
  return table.move(order, 1, #order, 1, {})
end

-- Iterator over name, tensor in order: for name, t in sd:items() do ... end
function StateDict:items()
  local order, entries, i = rawget(self, ORDER), rawget(self, ENTRIES), 0
  return function()
    i = i + 1
    local name = order[i]
    if name ~= nil then
      return name, entries[name]
    end
  end
end

-- pairs(sd) is sd:items(): the entries in order, not the private fields.
function StateDict:__pairs()
  return self:items()
end

function StateDict:__len()
  return #rawget(self, ORDER)
end

function StateDict:__tostring()
  local lines = { "StateDict(" }
  for name, t in self:items() do
    local shape = type(t) == "userdata" and ("[" .. table.concat(t.shape, ", ") .. "] " .. t.dtype)
      or tostring(t)
    lines[#lines + 1] = "  " .. name .. ": " .. shape
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

-- A StateDict from a plain table (names in sorted order) or the StateDict itself.
function StateDict.from(t)
  if getmetatable(t) == StateDict then
    return t
  end
  if type(t) ~= "table" then
    error("state dict must be a StateDict or a table of name = tensor, got " .. type(t), 3)
  end
  local names = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      error("state dict keys must be strings, got " .. type(k), 3)
    end
    names[#names + 1] = k
  end
  table.sort(names)
  local sd = StateDict()
  for _, k in ipairs(names) do
    sd:set(k, t[k])
  end
  return sd
end

return StateDict
