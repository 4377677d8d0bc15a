-- graphids.callbacks.checkpoint_name -- ModelCheckpoint's filename templates, as Lightning's:
-- '{epoch}', '{step}', '{val_loss:.2f}', 'm-{epoch:02d}-{val_acc:.3f}'.
--   local name = require "graphids.callbacks.checkpoint_name"
--   local tpl = name.parse("m-{epoch:02d}-{val_loss:.2f}", true)  -- nil for a plain name
--   name.format(tpl, {epoch = 5, val_loss = 0.1234})              -- "m-epoch=05-val_loss=0.12"
-- With auto_insert_metric_name (Lightning's default) each field is preceded by its name and '='.
-- A field's format spec is Python's, the part C's printf shares: a sign (+, - or a space), 0,
-- a width, .precision and a type d, f, F, e, E, g, G or % (no spec: an integer as is, a float as
-- Python prints it).  Anything else (fill and align, grouping, other types) is refused when the
-- template is parsed, not written as something Lightning would not write.  Lightning fills a
-- field whose metric was not logged with 0; here format returns the missing name (the caller's
-- error names it).
local M = {}

local SPEC = "^([+ %-]?)(0?)(%d*)(%.?%d*)([dfFeEgG%%]?)$"

-- The spec's parts, or nil and why it is refused.
local function parse_spec(spec)
  local sign, zero, width, prec, kind = spec:match(SPEC)
  if sign == nil or prec == "." then
    return nil, "supported: a sign (+, - or a space), 0, a width, .precision and a type d, f, F, e, E, " ..
      "g, G or %"
  end
  if #width > 2 or #prec > 3 then return nil, "width and precision are at most 99" end
  if prec ~= "" and (kind == "" or kind == "d") then
    return nil, kind == "d" and "an integer takes no precision" or
      "a precision needs a type ('.3f', '.3g'): without one Python's rule differs from C's"
  end
  return { sign = sign == "-" and "" or sign, zero = zero, width = width, prec = prec, kind = kind }
end

-- Parses filename (without its extension).  Returns nil for a plain name (no '{'), else the
-- template: a list of literal strings and fields {name =, spec =}.  Raises (a plain message)
-- on a malformed template.
function M.parse(filename, auto_insert)
  if not filename:find("[{}]") then return nil end
  local tpl, i = {}, 1
  while i <= #filename do
    local open = filename:find("[{}]", i)
    if open == nil then
      tpl[#tpl + 1] = filename:sub(i)
      break
    end
    if open > i then tpl[#tpl + 1] = filename:sub(i, open - 1) end
    local close = filename:find("}", open + 1, true)
    local body = close and filename:sub(open + 1, close - 1)
    if filename:sub(open, open) == "}" or body == nil or body:find("{", 1, true) then
      error(string.format("filename template '%s': a '{' or '}' at %d that does not enclose a field " ..
        "('{name}' or '{name:spec}')", filename, open), 0)
    end
    local name, spec = body:match("^([^:]+):?(.*)$")
    if name == nil then
      error(string.format("filename template '%s': an empty field at %d", filename, open), 0)
    end
    if auto_insert and name:find("/", 1, true) then
      error(string.format("filename template '%s': the field '%s' would put its name, and a '/', in the " ..
        "file name; pass auto_insert_metric_name = false and write the name you want", filename, name), 0)
    end
    local parsed, why = parse_spec(spec)
    if parsed == nil then
      error(string.format("filename template '%s': the format spec '%s' of '%s' is not supported (%s)",
        filename, spec, name, why), 0)
    end
    if auto_insert then tpl[#tpl + 1] = name .. "=" end
    tpl[#tpl + 1] = { name = name, spec = parsed, text = "{" .. body .. "}" }
    i = close + 1
  end
  return tpl
end

-- Pads s to the spec's width, as Python pads a number: zeros after the sign, else spaces before.
local function pad(s, f)
  local w = tonumber(f.width) or 0
  if #s >= w then return s end
  if f.zero == "0" then
    local sign, rest = s:match("^([+ %-]?)(.*)$")
    return sign .. string.rep("0", w - #s) .. rest
  end
  return string.rep(" ", w - #s) .. s
end

-- inf and nan as Python's format writes them: lower case but for F, E, G (nan without a sign,
-- as Python drops it), padded as a number is (zeros after the sign with 0: '00000inf').
local function nonfinite(v, f)
  local s = v ~= v and "nan" or "inf"
  if f.kind:match("%u") then s = s:upper() end
  s = (v == -math.huge and "-" or f.sign) .. s
  if f.kind == "%" then s = s .. "%" end
  return pad(s, f)
end

-- Python's repr of a finite float: the fewest significant digits that read back to it, written
-- plainly while its decimal exponent is in [-4, 16) ('1000000000000000.0', '0.0001', '-0.0'),
-- else in exponent form with at least two exponent digits ('1e+16', '1e-05', '5e-324').
local function float_repr(v)
  local e
  for p = 1, 17 do
    e = string.format("%." .. (p - 1) .. "e", v)
    if tonumber(e) == v then break end
  end
  local sign, d1, rest, exp = e:match("^(%-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits, x = (d1 .. rest):gsub("0+$", ""), tonumber(exp)
  if digits == "" then digits = "0" end
  if x < -4 or x >= 16 then
    local m = #digits > 1 and digits:sub(1, 1) .. "." .. digits:sub(2) or digits
    return string.format("%s%se%s%02d", sign, m, x < 0 and "-" or "+", math.abs(x))
  end
  local point = x + 1 -- digits before the decimal point
  if point <= 0 then return sign .. "0." .. string.rep("0", -point) .. digits end
  if point >= #digits then return sign .. digits .. string.rep("0", point - #digits) .. ".0" end
  return sign .. digits:sub(1, point) .. "." .. digits:sub(point + 1)
end

-- A value as the spec writes it, or nil and why (a non-integer for 'd').
local function field(v, f)
  if f.kind == "d" or (f.kind == "" and math.type(v) == "integer") then
    local n = math.tointeger(v)
    if n == nil then return nil, "is not an integer, which 'd' needs" end
    return string.format("%" .. f.sign .. f.zero .. f.width .. "d", n)
  end
  if v ~= v or v == math.huge or v == -math.huge then return nonfinite(v, f) end
  if f.kind == "" then
    local s = float_repr(v * 1.0) -- (not v + 0.0, which makes -0.0 0.0)
    if s:sub(1, 1) ~= "-" then s = f.sign .. s end
    return pad(s, f)
  end
  if f.kind == "%" then
    return pad(string.format("%" .. f.sign .. (f.prec ~= "" and f.prec or ".6") .. "f", v * 100) .. "%", f)
  end
  return string.format("%" .. f.sign .. f.zero .. f.width .. f.prec .. f.kind, v)
end

-- The name tpl gives for values (name -> number).  Returns the name, or nil and the field that
-- has no value (its name), or nil, the field and why its value cannot be written.
function M.format(tpl, values)
  local out = {}
  for _, part in ipairs(tpl) do
    if type(part) == "string" then
      out[#out + 1] = part
    else
      local v = values[part.name]
      if v == nil then return nil, part.name end
      if type(v) ~= "number" then
        return nil, part.name, string.format("%s is %s, not a number", part.text, type(v))
      end
      local s, why = field(v, part.spec)
      if s == nil then return nil, part.name, string.format("%s = %s %s", part.text, tostring(v), why) end
      out[#out + 1] = s
    end
  end
  return table.concat(out)
end

return M
