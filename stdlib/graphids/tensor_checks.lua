-- graphids.tensor_checks -- argument checks shared by the tensor functions composed in Lua
-- (graphids.tensor_linalg, tensor_index, tensor_shape, tensor_math), so that every error names
-- the function the caller called and lands on the caller's line.
--   local C = require "graphids.tensor_checks"
--   local d = C.dim("roll", t, dim, 0)          -- 1-based, negative from the end
--   C.fail("roll", "shifts and dims differ in length", 0)
--   local o = C.options("isclose", opts, { rtol = 1e-5, atol = 1e-8, equal_nan = false }, 0)
-- `depth` counts the Lua calls between the public function and the check: 0 when the public
-- function itself calls it, 1 from a helper the public function calls, and so on.  (The
-- graphids.arity wrapper tail-calls the function, so it adds no level; a public function that
-- returns a helper's result writes `return (helper(...))`, which is no tail call, so that the
-- helper stays one level below it.)  No dependency on the graphids table at load: graphids' own
-- start-up installs the modules that use this one.
local core = require "graphids.core"

local C = {}

-- The default of an option that is absent (nil) unless given: graphids.nn._util's NONE.
C.NONE = setmetatable({}, { __tostring = function() return "nil" end })

function C.fail(fname, msg, depth)
  error(fname .. ": " .. msg, 3 + depth)
end

function C.shape_str(shape)
  return "[" .. table.concat(shape, ",") .. "]"
end

function C.tensor(fname, what, v, depth)
  if not core.is_tensor(v) then
    C.fail(fname, string.format("%s must be a tensor, got %s", what, type(v)), depth + 1)
  end
  return v
end

-- An in-place target: refused, naming fname, when it requires grad while grad mode is on (the
-- core's in-place ops refuse it too, but would name themselves).
function C.writable(fname, t, depth)
  if t.requires_grad and core.is_grad_enabled() then
    C.fail(fname, "a tensor that requires grad cannot be modified in place while grad mode is on "
      .. "(use the out-of-place form, or graphids.no_grad for updates)", depth + 1)
  end
end

-- The most dims a tensor has (GIDS_MAX_DIMS, runtime/include/gids/tensor.h).
C.MAX_DIMS = 8

-- A result of nd dims that a composed function would build: past MAX_DIMS the function says so
-- itself, not a reshape inside it.
function C.max_dims(fname, nd, depth)
  if nd > C.MAX_DIMS then
    C.fail(fname, string.format("the result would have %d dims; tensors have at most %d", nd,
      C.MAX_DIMS), depth + 1)
  end
end

-- msg less a "chunkname:line: " position opening it (a path, or a [string "..."] source), as
-- core._named strips one (lua/src/l_named.c): a value quoted later in the message that holds
-- ":12: " is kept.  Used by t[key]'s errors (graphids.tensor_extras): they keep the inner op's
-- name, and cross a C metamethod on their way to the caller, past which core._named's position
-- (the line that called the wrapper) cannot reach.
function C.strip_position(msg)
  -- (a path with a space is taken only when it names a .lua file: "/opt/my tools/x.lua:3: ")
  local rest = msg:match('^%[string "[^\n]-"%]:%d+: (.*)$') or msg:match("^[^:%s'\"]+:%d+: (.*)$")
    or msg:match("^[^:%s'\"][^:\n'\"]-%.lua:%d+: (.*)$")
  return rest or msg
end

function C.is_float_dtype(dt)
  return dt == "f32" or dt == "f64" or dt == "f16" or dt == "bf16"
end

function C.is_float(t)
  return C.is_float_dtype(t.dtype)
end

function C.is_index(t)
  return t.dtype == "i64" or t.dtype == "i32"
end

-- An index argument: an i64 or i32 tensor.
function C.index(fname, what, v, depth)
  C.tensor(fname, what, v, depth + 1)
  if not C.is_index(v) then
    C.fail(fname, string.format("%s must be an i64 or i32 tensor, got %s", what, v.dtype), depth + 1)
  end
  return v
end

function C.integer(fname, what, v, min, depth)
  if math.type(v) ~= "integer" or (min ~= nil and v < min) then
    C.fail(fname, string.format("%s must be an integer%s, got %s", what,
      min ~= nil and " >= " .. min or "", tostring(v)), depth + 1)
  end
  return v
end

-- dim of t as a positive 1-based dim; a 0-d tensor takes 1 / -1, as the core's ops do.
function C.dim(fname, t, dim, depth)
  local nd = math.max(#t.shape, 1)
  -- (a float with an integer value is that integer, as the core's ops take it)
  local int = math.tointeger(dim)
  if int == nil then
    C.fail(fname, "dim must be an integer, got " .. require("graphids.nn._util").describe(dim), depth + 1)
  end
  dim = int
  if dim == 0 or dim > nd or dim < -nd then
    C.fail(fname, string.format("dim %s out of range for a tensor of %d dims (valid: 1..%d or -%d..-1)",
      tostring(dim), #t.shape, nd, nd), depth + 1)
  end
  return dim < 0 and nd + dim + 1 or dim
end

-- A dim or a list of dims as a list of distinct positive dims (in the order given).
function C.dims(fname, t, dims, depth)
  if type(dims) ~= "table" then dims = { dims } end
  local out, seen = {}, {}
  for i, d in ipairs(dims) do
    d = C.dim(fname, t, d, depth + 1)
    if seen[d] then C.fail(fname, "dim " .. dims[i] .. " is given twice", depth + 1) end
    seen[d] = true
    out[i] = d
  end
  return out
end

-- opts (nil or a table) checked against defaults by graphids.nn._util.options: an unknown key
-- raises with "did you mean", a value of another type than its default names the option.
-- Returns a new table with the defaults filled in.
function C.options(fname, opts, defaults, depth)
  local U = require "graphids.nn._util" -- (on first call: it requires graphids itself)
  local d = {}
  for k, v in pairs(defaults) do d[k] = v == C.NONE and U.NONE or v end
  return (U.options(fname, opts, d, 3 + depth)) -- (no tail call: this frame counts)
end

-- The broadcast of two shapes (NumPy's rule), or an error naming both.
function C.broadcast(fname, a, b, depth)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local x, y = a[#a - n + i] or 1, b[#b - n + i] or 1
    if x ~= y and x ~= 1 and y ~= 1 then
      C.fail(fname, string.format("shapes %s and %s do not broadcast", C.shape_str(a), C.shape_str(b)),
        depth + 1)
    end
    out[i] = x == 1 and y or x
  end
  return out
end

-- Every value of an index tensor within [-n, n) (negative allowed) or [0, n); raises naming
-- the first offending bound otherwise.  Returns the least and greatest values.
function C.in_range(fname, what, index, n, negative, depth)
  local lo, hi = index:int_range()
  if index:numel() > 0 and (hi >= n or lo < (negative and -n or 0)) then
    local bad = hi >= n and hi or lo
    C.fail(fname, string.format("%s holds %d, out of range for a dim of size %d (valid: %s)", what, bad, n,
      negative and string.format("-%d..%d", n, n - 1) or string.format("0..%d", n - 1)), depth + 1)
  end
  return lo, hi
end

function C.prod(list, from, to)
  local p = 1
  for i = from or 1, to or #list do p = p * list[i] end
  return p
end

-- f as the public function fname: any error raised inside it (by its own checks at whatever
-- level, or by an op it is built of, core or composed) is raised again as "fname: message" at
-- the line that called fname, as docs/lua-api.md section 1 asks (the message less its own
-- position and op name).  An error that is no string passes through as it is.  The wrapper is
-- a C closure (core._named, docs/development.md "Errors"): a Lua one called in a tail call
-- (`return graphids.flip(t, 2)`) would have lost its caller's frame, and with it the line.  So
-- a composed function calls the ops it is built of plainly: their errors are its own already.
function C.wrap(f, fname)
  return core._named(f, fname)
end

-- The functions of T each refusing a value past its last parameter (graphids.arity) and raising
-- every error under its own name at its caller's line (C.wrap); names starting with "_" (called
-- by the C metamethods, which place their own errors) only refuse the extra value.
function C.strict_wrap_all(T)
  local arity = require "graphids.arity"
  for name, f in pairs(T) do
    f = arity.strict(f, name)
    T[name] = name:sub(1, 1) == "_" and f or C.wrap(f, name)
  end
  return T
end

-- Installs the functions of T (named in sorted order) as Tensor methods and module functions,
-- except those listed in module_only (module functions alone), each wrapped by
-- C.strict_wrap_all.
function C.install(graphids, T, module_only)
  C.strict_wrap_all(T)
  local only = {}
  for _, name in ipairs(module_only or {}) do only[name] = true end
  local names = {}
  for name in pairs(T) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    graphids[name] = T[name]
    if not only[name] then graphids.Tensor[name] = T[name] end
  end
end

return C
