-- graphids.arity -- refuses a value past a Lua function's last parameter, as the core's
-- functions refuse one, so a stray positional value (F.leaky_relu(x, 0.2, true)) is never
-- dropped silently.  No dependencies: graphids' own start-up uses it.
--   t.f = arity.strict(t.f, "f")       -- f(a, b) called with a third non-nil value raises
--   arity.strict_all(F, "")            -- every function of a module table
-- A trailing nil is no argument.  Functions taking `...` (and C functions) are returned as
-- they are.  The wrapper tail-calls the function, so error levels inside it still point at
-- the caller.
local M = {}

function M.strict(f, label)
  local info = debug.getinfo(f, "u")
  if info.isvararg then return f end
  local n = info.nparams
  return function(...)
    for i = n + 1, select("#", ...) do
      if select(i, ...) ~= nil then
        error(string.format("%s: unexpected argument #%d (%s)", label, i, type((select(i, ...)))), 2)
      end
    end
    return f(...)
  end
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
