-- graphids.arity -- refuses a value past a Lua function's last parameter, as the core's
-- functions refuse one, so a stray positional value (F.leaky_relu(x, 0.2, true)) is never
-- dropped silently.  No dependencies: graphids' own start-up uses it.
--   t.f = arity.strict(t.f, "f")       -- f(a, b) called with a third non-nil value raises
--   arity.strict_all(F, "")            -- every function of a module table
--   C.forward = arity.strict_method(C.forward, "SAGEConv", "forward")   -- a method; no self
-- A trailing nil is no argument.  Functions taking `...` (and C functions) are returned as
-- they are.  The wrapper tail-calls the function, so error levels inside it still point at
-- the caller.
local M = {}

-- f wrapped to raise, at its caller's level, on a non-nil value past its n parameters;
-- message(i, v) words the error for the value v at position i.
local function refuse_past(f, n, message)
  return function(...)
    for i = n + 1, select("#", ...) do
      local v = select(i, ...)
      if v ~= nil then
        error(message(i, v), 2)
      end
    end
    return f(...)
  end
end

function M.strict(f, label)
  local info = debug.getinfo(f, "u")
  if info.isvararg then return f end
  return refuse_past(f, info.nparams, function(i, v)
    return string.format("%s: unexpected argument #%d (%s)", label, i, type(v))
  end)
end

-- v's kind for a message: the __name of its metatable (a tensor is "graphids.Tensor", not
-- "userdata"), else its type.
local function kind(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

-- A method f(self, ...) refusing a value past its last parameter, as M.strict, for a caller
-- who does not write self (a layer called as layer(x, edge_index)): positions count from the
-- first argument after self, as Lua's own messages for a method, and the message lists what
-- the method takes.  label names the owner; method the method:
--   SAGEConv: unexpected argument #3 (graphids.Tensor) to forward(x, edge_index)
function M.strict_method(f, label, method)
  local info = debug.getinfo(f, "u")
  -- (a function without even self, such as ModuleList.forward, which only raises its own message,
  -- is left as it is)
  if info.isvararg or info.nparams == 0 then return f end
  local names = {}
  for i = 2, info.nparams do names[#names + 1] = debug.getlocal(f, i) end
  local takes = string.format("%s(%s)", method, table.concat(names, ", "))
  return refuse_past(f, info.nparams, function(i, v)
    return string.format("%s: unexpected argument #%d (%s) to %s", label, i - 1, kind(v), takes)
  end)
end

-- Every function value of t, in sorted key order, named prefix .. key.
function M.strict_all(t, prefix)
  local names = {}
  for k, v in pairs(t) do
    if type(v) == "function" then names[#names + 1] = k end
  end
  table.sort(names)
  for _, name in ipairs(names) do t[name] = M.strict(t[name], prefix .. name) end
  return t
end

return M
