-- helpers.lua -- the assertions every spec shares, so each file states only what it tests.
--   local h = require "helpers"
--   h.errors("zeros: size %-1", graphids.zeros, 2, -1)   -- fn(...) raises a matching message
--   h.near(t:totable(), { 0.5, 1.5 }, 1e-6)              -- nested numbers, relative tolerance
--   h.long({ 2, 0, 1 })                                  -- an i64 index tensor
-- luassert is the `assert` busted gives the specs; requiring it here gets that same object.
local assert = require "luassert"

local M = {}

M.F32 = { dtype = "f32" }
M.F64 = { dtype = "f64" }

-- fn(...) must raise an error whose message (less its "file:line: " prefix) matches the Lua
-- pattern.  The arguments are packed so that trailing nils reach fn.
function M.errors(pattern, fn, ...)
  local args = table.pack(...)
  assert.error_matches(function()
    fn(table.unpack(args, 1, args.n))
  end, pattern)
end

-- As errors, and the message must point at the line that called fn, not inside the stdlib: a
-- composed function names itself and its caller.  (fn is called from here, so the position is
-- this file's.)
function M.errors_at_caller(pattern, fn, ...)
  local args = table.pack(...)
  local ok, err = pcall(function()
    local r = fn(table.unpack(args, 1, args.n)) -- not a tail call: this frame is the caller
    return r
  end)
  assert(not ok, "expected an error matching " .. pattern)
  assert(type(err) == "string" and err:find("^spec/support/helpers%.lua:%d+: ") ~= nil,
    "the error does not point at the caller's line: " .. tostring(err))
  assert(err:find(pattern) ~= nil, "error '" .. err .. "' does not match " .. pattern)
end

-- Nested tables of numbers equal within tol, relative to the expected magnitude (absolute
-- below 1); NaN matches NaN.  tol defaults to 0 (exact); path names the element that differs.
function M.near(got, want, tol, path)
  path = path or "value"
  if type(want) == "table" then
    assert(type(got) == "table", path .. ": expected a table, got " .. tostring(got))
    assert(#got == #want, path .. ": length " .. #got .. ", expected " .. #want)
    for i = 1, #want do
      M.near(got[i], want[i], tol, path .. "[" .. i .. "]")
    end
    return
  end
  if want ~= want then
    assert(got ~= got, path .. ": " .. tostring(got) .. ", expected nan")
    return
  end
  assert(type(got) == "number", path .. ": expected a number, got " .. tostring(got))
  local ok = got == want or math.abs(got - want) <= (tol or 0) * (1 + math.abs(want))
  assert(ok, string.format("%s: %.9g, expected %.9g", path, got, want))
end

-- A Lua list of integers as an i64 tensor (index data is 0-based).
function M.long(t)
  return require("graphids").tensor(t, { dtype = "i64" })
end

return M
