-- graphids.nn._util -- helpers shared by the nn files: option tables, shapes, grad-mode scopes.
--   local U = require "graphids.nn._util"
--   local o = U.options("cross_entropy", opts, { weight = U.NONE, ignore_index = -100 })
--   U.no_grad(function() w:uniform_(-1, 1) end)
local graphids = require "graphids"

local U = {}

-- Default of an option that is absent (nil) unless given.
U.NONE = setmetatable({}, { __tostring = function() return "nil" end })

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end
U.sorted_keys = sorted_keys

-- A copy of plain data (nested tables of numbers, strings, booleans); metatables are not kept.
local function deep_copy(v)
  if type(v) ~= "table" then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = deep_copy(x)
  end
  return out
end
U.deep_copy = deep_copy

-- Edit distance for "did you mean" on a misspelt option or name: optimal string alignment, a
-- Levenshtein distance where swapping two neighbouring letters counts one ("lsit" is one from
-- "list", the commonest slip of typing).
local function distance(a, b)
  local d = { [0] = {} }
  for j = 0, #b do
    d[0][j] = j
  end
  for i = 1, #a do
    d[i] = { [0] = i }
    for j = 1, #b do
      local ca, cb = a:byte(i), b:byte(j)
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ca == cb and 0 or 1))
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end
U.edit_distance = distance

local function shown_number(v)
  if v ~= v then return "nan" end -- tostring gives "-nan" or "nan" by the sign bit
  return tostring(v)
end

-- How much of a value describe shows (characters), and how many keys of a table it reads to find
-- the first ones in sorted order: a message shows the start of a value, so a list of millions
-- or a nesting 100 000 deep costs what that start costs.
local SHOWN = 60
local MAX_SCAN = 100000

-- A string as JSON writes it, cut after SHOWN + 1 characters (enough for describe to cut it
-- itself), with C1 controls escaped; a string that is not UTF-8, which JSON cannot hold, quoted
-- with its bytes escaped.
local function shown_string(s, json)
  local n = utf8.len(s)
  if not n then return '"' .. json.printable(s, SHOWN + 1) .. '"' end
  if n > SHOWN + 1 then s = s:sub(1, utf8.offset(s, SHOWN + 2) - 1) end
  return json.printable(json.encode(s))
end

-- The up to `keep` smallest keys of t, sorted; false when a key is no string, nil when t has
-- more than MAX_SCAN keys (which would be read to find the first).
local function first_keys(t, keep)
  local best, count = {}, 0
  for k in pairs(t) do
    if type(k) ~= "string" then return false end
    count = count + 1
    if count > MAX_SCAN then return nil end
    if #best < keep or k < best[#best] then
      local i = math.min(#best, keep - 1)
      while i >= 1 and best[i] > k do
        best[i + 1] = best[i]
        i = i - 1
      end
      best[i + 1] = k
    end
  end
  return best
end

-- "list", "object" or nil (a table JSON cannot show: another class, keys neither 1..n nor all
-- strings), as json.encode decides it; an unmarked table's keys are read up to MAX_SCAN.
local function table_kind(t, json)
  if json.is_array(t) then return "list" end
  local mt = getmetatable(t)
  if mt ~= nil then
    return type(mt) == "table" and rawget(mt, "__name") == "json.object" and "object" or nil
  end
  local n, strings, count = #t, false, 0
  for k in pairs(t) do
    count = count + 1
    if count > MAX_SCAN then break end
    if type(k) == "string" then
      strings = true
    elseif math.type(k) ~= "integer" or k < 1 or k > n then
      return nil
    end
    if strings and n > 0 then return nil end
  end
  return n > 0 and "list" or "object"
end

-- Appends v's JSON text to out (out.chars counts its characters) until it holds more than SHOWN,
-- NaN and infinities bare; false when v is no JSON value (a function, a cycle, a table of another
-- class) within what is shown.
local render
local function put(out, text)
  out[#out + 1] = text
  out.chars = out.chars + (utf8.len(text) or #text)
end

local function render_table(t, json, out, seen)
  local kind = not seen[t] and table_kind(t, json)
  if not kind then return false end
  seen[t] = true
  if kind == "list" then
    put(out, "[")
    for i = 1, #t do
      if i > 1 then put(out, ",") end
      if not render(t[i], json, out, seen) then return false end
      if out.chars > SHOWN then break end
    end
    put(out, "]")
  else
    -- a member is at least 4 characters ("":0) and a comma: this many fill what is shown
    local keys = first_keys(t, SHOWN // 5 + 2)
    if keys == false then return false end
    put(out, "{")
    for i, k in ipairs(keys or {}) do
      if i > 1 then put(out, ",") end
      put(out, shown_string(k, json) .. ":")
      if not render(t[k], json, out, seen) then return false end
      if out.chars > SHOWN then break end
    end
    put(out, keys and "}" or "...}")
  end
  seen[t] = nil
  return true
end

render = function(v, json, out, seen)
  if out.chars > SHOWN then return true end -- not shown: whatever it is
  local tv = type(v)
  if v == json.null then
    put(out, "null")
  elseif tv == "boolean" then
    put(out, tostring(v))
  elseif tv == "number" then
    local finite = v == v and v ~= math.huge and v ~= -math.huge
    put(out, finite and json.encode(v) or shown_number(v))
  elseif tv == "string" then
    put(out, shown_string(v, json))
  elseif tv == "table" then
    return render_table(v, json, out, seen)
  else
    return false
  end
  return true
end

-- v as an error message shows a value a user gave or a file held, and never raises: a string
-- quoted and named (a JSON "64" is '64' (a string), not the number), its control characters
-- escaped and cut after 60 characters (json.printable); NaN and infinities as nan, inf, -inf;
-- an object by its class name, a plain table as JSON (cut at 60 characters: "a table [1,2]",
-- "a list [inf]"), null as null.  A JSON list ([] from --set x=[], which keeps its json.array
-- mark) is "a list", as the schema names one, not by the mark's name.  The text is valid UTF-8
-- (json.encode takes it) and only as much of a table is read as is shown.
function U.describe(v)
  local json = require "graphids.json"
  if type(v) == "string" then return "'" .. json.printable(v, SHOWN) .. "' (a string)" end
  if type(v) == "number" then return shown_number(v) end
  if type(v) == "userdata" then
    -- (a tensor, a generator, a CanFrames: by its class name)
    local umt = getmetatable(v)
    local uname = type(umt) == "table" and rawget(umt, "__name")
    return "a " .. (type(uname) == "string" and json.printable(uname, SHOWN) or "userdata")
  end
  if type(v) ~= "table" then
    return (type(v) == "boolean" or v == nil) and tostring(v) or "a " .. type(v)
  end
  if v == json.null then return "null" end
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  local list = json.is_array(v)
  if type(name) == "string" and not list and name ~= "json.object" then
    return "a " .. json.printable(name, SHOWN)
  end
  if list and next(v) == nil then return "a list" end
  local out = { chars = 0 }
  if not render_table(v, json, out, {}) then return list and "a list" or "a table" end
  local text = table.concat(out)
  if out.chars > SHOWN then
    text = text:sub(1, (utf8.offset(text, SHOWN - 2) or #text + 1) - 1) .. "..."
  end
  return (list and "a list " or "a table ") .. text
end

-- opts (nil or a table) checked against defaults: an unknown key raises naming the nearest
-- allowed key (or listing them); a value whose type differs from a non-NONE default's raises.
-- With several bad keys the first in sorted order is named, whatever pairs() gives.  level is
-- error()'s level as seen from the caller of U.options (default 2: the caller's caller).
-- Returns a new table with every default filled in (NONE becomes nil).
function U.options(fname, opts, defaults, level)
  level = (level or 2) + 1
  local out = {}
  for k, v in pairs(defaults) do
    if v ~= U.NONE then
      out[k] = v
    end
  end
  if opts == nil then
    return out
  end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", fname, type(opts)), level)
  end
  local bad
  for k, v in pairs(opts) do
    local d = defaults[k]
    if d == nil or (d ~= U.NONE and type(v) ~= type(d)) then
      bad = bad or {}
      bad[#bad + 1] = tostring(k)
    end
    out[k] = v
  end
  if bad == nil then
    return out
  end
  table.sort(bad)
  local key = bad[1]
  local d = defaults[key]
  if d ~= nil then
    error(string.format("%s: option '%s' must be a %s, got %s", fname, key, type(d),
      U.describe(opts[key])), level)
  end
  local allowed = sorted_keys(defaults)
  local best, bestd = nil, math.huge
  for _, name in ipairs(allowed) do
    -- a prefix of three letters or more ("ignore" for "ignore_index") counts as a near miss
    local short, long = #key < #name and key or name, #key < #name and name or key
    local dist = (#short > 2 and long:sub(1, #short) == short) and 1 or distance(key, name)
    if dist < bestd then
      best, bestd = name, dist
    end
  end
  -- the edits allowed grow with the key: two edits turn any two-letter key into another
  if best and bestd <= (#key <= 3 and 1 or (#key <= 8 and 2 or 3)) then
    error(string.format("%s: unknown option '%s' (did you mean '%s'?)", fname, key, best), level)
  end
  error(string.format("%s: unknown option '%s' (allowed: %s)", fname, key,
    table.concat(allowed, ", ")), level)
end

-- Error level for a check made in a class's __init: __init, then class.lua's constructor,
-- then the caller.
U.CTOR = 3

-- Every function of module table t refuses a value past its last parameter (graphids.arity).
U.refuse_extra_arguments = require("graphids.arity").strict_all

-- The forwards graphids.nn defines (weak keys): nn.Module's __call raises an error from inside
-- one at the line of the user's code that called the layer (module.lua, `raised`).
U.library_forwards = setmetatable({}, { __mode = "k" })

-- Every class of module table t with a forward (its own or inherited) refuses a value past
-- forward's last parameter, the message named by the class and counting positions without self:
-- "SAGEConv: unexpected argument #3 (graphids.Tensor) to forward(x, edge_index)".  Each forward
-- is then one of U.library_forwards: graphids.nn's layers all pass through here.
function U.refuse_extra_forward_arguments(t)
  local arity = require "graphids.arity"
  -- every forward read before any is wrapped, so a class inheriting its forward (LSTM and GRU
  -- from the unexported RNNBase) gets its own wrapper, named by it
  local names, forwards = sorted_keys(t), {}
  for _, name in ipairs(names) do
    local cls = t[name]
    if type(cls) == "table" and type(cls.forward) == "function" then forwards[name] = cls.forward end
  end
  for _, name in ipairs(names) do
    if forwards[name] then
      t[name].forward = arity.strict_method(forwards[name], name, "forward")
      U.library_forwards[t[name].forward] = true
    end
  end
  return t
end

function U.is_tensor(v)
  return graphids.is_tensor(v)
end

function U.shape_str(t)
  return "[" .. table.concat(t.shape, ", ") .. "]"
end

-- Runs fn(...) with grad mode off (graphids.no_grad once the binding has it).
function U.no_grad(fn, ...)
  if graphids.no_grad then
    return graphids.no_grad(fn, ...)
  end
  return fn(...)
end

-- Marks a leaf tensor as a parameter: requires_grad on.
function U.as_parameter(t, requires_grad)
  if requires_grad == nil then
    requires_grad = true
  end
  if t.requires_grad_ then
    t:requires_grad_(requires_grad)
  end
  return t
end

function U.requires_grad(t)
  return t.requires_grad == true
end

function U.is_float(t)
  local dt = t.dtype
  return dt == "f32" or dt == "f64" or dt == "f16" or dt == "bf16"
end

-- Whether a norm's parameter or running statistic of dtype pt goes with an input of dtype xt:
-- the same dtype, or f32 beside an f16 or bf16 input (torch's mixed-precision norms).  torch
-- 2.15 refuses any other mix ("mixed dtype (CPU): expect parameter to have scalar type of
-- Float"), where the ops a norm is made of would widen an f32 result to f64 without a word.
function U.norm_dtypes_match(pt, xt)
  return pt == xt or (pt == "f32" and (xt == "f16" or xt == "bf16"))
end

-- `var` converted to dtype, as code: "x:float()", "x:double()", else "x:to('f16')".
local function conversion(var, dtype)
  if dtype == "f32" then
    return var .. ":float()"
  elseif dtype == "f64" then
    return var .. ":double()"
  end
  return string.format("%s:to('%s')", var, dtype)
end
U.conversion = conversion

-- Raises the error of a layer's input t (named `what`) whose dtype is not that of the layer's
-- parameter w (named wname), at error() level `level` seen from the caller: the matrix products
-- refuse a mix, and their own message counts their arguments ("addmm: arg 2 has dtype f32"),
-- which the layer does not have.  Called only on a mismatch, so that a forward's check costs two
-- field reads (t.dtype ~= w.dtype).  The hint converts the input, or the layer (Module:to takes
-- f32 and f64 only).
function U.dtype_mismatch(fname, what, t, wname, w, level)
  local dt, wt = t.dtype, w.dtype
  local hint = (dt == "f32" or dt == "f64")
    and string.format("convert one: %s, or the layer: %s", conversion(what, wt), conversion("m", dt))
    or "convert it: " .. conversion(what, wt)
  error(string.format("%s: %s has dtype %s, but %s has dtype %s (%s)", fname, what, dt, wname, wt,
    hint), (level or 2) + 1)
end

-- level: error's level for the caller, as seen from the function calling this (default 2:
-- that function's caller; U.CTOR from an __init).
function U.check_reduction(fname, reduction, level)
  if reduction ~= "mean" and reduction ~= "sum" and reduction ~= "none" then
    error(string.format("%s: reduction must be 'none', 'mean' or 'sum', got '%s'", fname,
      tostring(reduction)), (level or 2) + 1)
  end
end

-- An uninitialised tensor for a parameter or buffer, with the factory options of a
-- module constructor ({dtype=, device=}).
function U.empty(shape, o)
  return graphids.empty(shape, { dtype = o.dtype or "f32", device = o.device or "cpu" })
end

-- Non-negative integer check for constructor sizes (called from an __init).
function U.check_size(fname, what, v, level)
  if math.type(v) ~= "integer" or v < 0 then
    error(string.format("%s: %s must be a non-negative integer, got %s", fname, what, tostring(v)),
      (level or U.CTOR) + 1)
  end
end

return U
