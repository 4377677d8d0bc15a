-- graphids.json -- strict JSON (RFC 8259) for metadata, checkpoints and tracking files.
--   local json = require "graphids.json"
--   json.encode({b = 1, a = {1.5, 2}})           --> {"a":[1.5,2],"b":1}
--   json.encode(t, {indent = 2})                 -- pretty, still sorted and stable
--   local v = json.decode('{"x": [1, 2.0, null]}') -- v.x[3] == json.null
--
-- Encoding is deterministic: object keys are sorted (bytewise), integers print as integers and
-- floats with the fewest digits (15, 16 or 17) that read back to the same double, keeping a
-- ".0" on integral floats so the integer/float subtype survives a round trip.  NaN and
-- infinities, non-string keys, mixed tables, cycles and unknown value types are errors naming the
-- path ("json.encode: $.a[2]: NaN is not valid JSON").
--
-- Arrays vs objects: Lua has one table type, so the choice is explicit where it is ambiguous.
--   * a table marked with json.array(t) is an array, one marked with json.object(t) an object;
--   * an unmarked table with keys exactly 1..n (n >= 1) is an array, one with string keys an
--     object, an unmarked EMPTY table is an object `{}` (mark it with json.array to get `[]`);
--   * decoding marks every array and object it returns, so decode -> encode preserves `[]`.
-- json.null stands for null in both directions (a Lua nil cannot sit in a table).
--
-- Decoding is strict: no comments, trailing commas, single quotes, leading zeros, NaN or bare
-- control characters; duplicate keys and text after the value are errors; invalid UTF-8 and
-- unpaired surrogates are refused.  Errors name line and column: "json: line 3, column 14:
-- expected ',' or '}' after an object member, found ']'".  Numbers without fraction or exponent
-- that fit in 64 bits decode to Lua integers, all others to floats.
local M = {}

local ARRAY_MT = { __name = "json.array" }
local OBJECT_MT = { __name = "json.object" }

M.null = setmetatable({}, {
  __name = "json.null",
  __tostring = function()
    return "json.null"
  end,
  __newindex = function()
    error("json.null is read-only", 2)
  end,
})

-- t (a new table when nil) marked with mt; a table with another metatable is refused (the mark
-- would replace it).
local function mark(t, mt, fname)
  t = t or {}
  local old = getmetatable(t)
  assert(old == nil or old == ARRAY_MT or old == OBJECT_MT, fname .. ": table already has a metatable")
  return setmetatable(t, mt)
end

-- Marks t (a new table when nil) as a JSON array and returns it.
function M.array(t)
  return mark(t, ARRAY_MT, "json.array")
end

-- Marks t (a new table when nil) as a JSON object and returns it.
function M.object(t)
  return mark(t, OBJECT_MT, "json.object")
end

function M.is_array(t)
  return getmetatable(t) == ARRAY_MT
end

-- ---------------------------------------------------------------- encoder

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function encode_string(s, path)
  if not utf8.len(s) then
    error(string.format("json.encode: %s: string is not valid UTF-8", path), 0)
  end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(v, path)
  if math.type(v) == "integer" then
    return string.format("%d", v)
  end
  if v ~= v or v == math.huge or v == -math.huge then
    error(string.format("json.encode: %s: %s is not valid JSON", path, v ~= v and "NaN" or "infinity"), 0)
  end
  for _, fmt in ipairs({ "%.15g", "%.16g", "%.17g" }) do
    local s = string.format(fmt, v)
    if tonumber(s) == v then
      if not s:find("[%.eEn]") then
        s = s .. ".0"
      end
      return s
    end
  end
  error("unreachable: %.17g always round-trips")
end

-- "array" | "object" for table t.
local function table_kind(t, path)
  local mt = getmetatable(t)
  if mt == ARRAY_MT then
    return "array"
  elseif mt == OBJECT_MT then
    return "object"
  elseif mt ~= nil then
    error(string.format("json.encode: %s: cannot encode a table with a metatable (%s)", path,
      tostring(mt.__name or "unnamed")), 0)
  end
  local n, strings, others = #t, 0, 0
  for k in pairs(t) do
    if type(k) == "string" then
      strings = strings + 1
    elseif math.type(k) ~= "integer" or k < 1 or k > n then
      others = others + 1
    end
  end
  if strings > 0 and (n > 0 or others > 0) then
    error(string.format("json.encode: %s: table mixes string keys with other keys", path), 0)
  end
  if others > 0 then
    error(string.format("json.encode: %s: table has keys that are neither 1..n nor strings", path), 0)
  end
  return n > 0 and "array" or "object"
end

local encode_value

-- An object key as a path in a message shows it (printable, cut at 60 characters, as the decoder
-- quotes a key): the key is the caller's data, and may hold an ESC or a byte that is not UTF-8.
local function path_key(k)
  if #k <= 60 and not k:find("[%c\128-\255]") then
    return k
  end
  return M.printable(k, 60)
end

local function encode_table(t, path, indent, depth, seen)
  if seen[t] then
    error(string.format("json.encode: %s: table refers to itself (cycle)", path), 0)
  end
  seen[t] = true
  local kind = table_kind(t, path)
  local nl, pad, pad_in, colon = "", "", "", ":"
  if indent then
    nl = "\n"
    pad = string.rep(" ", indent * depth)
    pad_in = string.rep(" ", indent * (depth + 1))
    colon = ": "
  end
  local parts = {}
  if kind == "array" then
    local n = #t
    for k in pairs(t) do
      if math.type(k) ~= "integer" or k < 1 or k > n then
        error(string.format("json.encode: %s: array has key %s outside 1..%d", path, tostring(k), n), 0)
      end
    end
    for i = 1, n do
      parts[i] = pad_in .. encode_value(t[i], path .. "[" .. i .. "]", indent, depth + 1, seen)
    end
    seen[t] = nil
    if n == 0 then
      return "[]"
    end
    return "[" .. nl .. table.concat(parts, "," .. nl) .. nl .. pad .. "]"
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      error(string.format("json.encode: %s: object key %s is not a string", path, tostring(k)), 0)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local sub = path .. "." .. path_key(k)
    parts[i] = pad_in .. encode_string(k, sub) .. colon .. encode_value(t[k], sub, indent, depth + 1, seen)
  end
  seen[t] = nil
  if #keys == 0 then
    return "{}"
  end
  return "{" .. nl .. table.concat(parts, "," .. nl) .. nl .. pad .. "}"
end

encode_value = function(v, path, indent, depth, seen)
  local tv = type(v)
  if v == M.null then
    return "null"
  elseif tv == "string" then
    return encode_string(v, path)
  elseif tv == "number" then
    return encode_number(v, path)
  elseif tv == "boolean" then
    return v and "true" or "false"
  elseif tv == "table" then
    return encode_table(v, path, indent, depth, seen)
  end
  error(string.format("json.encode: %s: cannot encode a %s", path, tv), 0)
end

-- opts: {indent = N} for pretty output (N spaces per level).
function M.encode(v, opts)
  local indent
  if opts ~= nil then
    local bad = {}
    for k in pairs(opts) do
      if k ~= "indent" then
        bad[#bad + 1] = tostring(k)
      end
    end
    if #bad > 0 then
      table.sort(bad) -- the same key named whatever pairs() order gives
      error("json.encode: unknown option '" .. bad[1] .. "' (allowed: indent)", 2)
    end
    indent = opts.indent
    assert(indent == nil or (math.type(indent) == "integer" and indent >= 0),
      "json.encode: indent must be a non-negative integer")
  end
  return encode_value(v, "$", indent, 0, {})
end

-- ---------------------------------------------------------------- decoder

local function position(s, i)
  local line, pos = 1, 1
  while true do
    local nl = s:find("\n", pos, true)
    if not nl or nl >= i then
      break
    end
    line = line + 1
    pos = nl + 1
  end
  return line, i - pos + 1
end

-- s as a message may show it: control characters as \n, \r, \t or \xNN, the C1 controls
-- U+0080..U+009F as their two bytes (\xC2\x9B: a terminal may take U+009B for ESC [, as
-- Python's repr escapes them too), and, in text that is not UTF-8, every byte >= 0x80 as \xNN,
-- so that no byte of a damaged file reaches a terminal raw; cut after max characters with "..."
-- when max is given.
local SHOWN_ESC = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape_byte(c)
  return SHOWN_ESC[c] or string.format("\\x%02X", c:byte())
end

local function escape_c1(c)
  return string.format("\\xC2\\x%02X", c:byte(2))
end

function M.printable(s, max)
  local n, cut = utf8.len(s), false
  if max and (n or #s) > max then
    s, cut = s:sub(1, n and utf8.offset(s, max + 1) - 1 or max), true
  end
  if n then
    s = s:gsub("%c", escape_byte):gsub("\xC2[\x80-\x9F]", escape_c1)
  else
    s = s:gsub("[%c\128-\255]", escape_byte)
  end
  return cut and s .. "..." or s
end

-- v as encode takes it whatever bytes its strings hold: a string that is not UTF-8 (a path the
-- file system allows, a message quoting a file's bytes) as printable shows it, its bytes >= 0x80
-- as \xNN; a table copied with this done to every string in it, keys included, at any depth
-- (marks kept); anything else as it is.  For records that must keep such a value rather than
-- fail whole (a trace line, runs --json); not for files read back to compare (the text differs).
function M.utf8_safe(v)
  if type(v) == "string" then return utf8.len(v) and v or M.printable(v) end
  if type(v) ~= "table" or v == M.null then return v end
  local out = {}
  for k, x in pairs(v) do out[M.utf8_safe(k)] = M.utf8_safe(x) end
  return setmetatable(out, getmetatable(v))
end

local BOM = "\xEF\xBB\xBF"

-- The UTF-8 character of two to four bytes at i, or nil (an ASCII byte, a byte that starts no
-- valid sequence, the end of the text).
local UTF8_BYTES = { [0xC] = 2, [0xD] = 2, [0xE] = 3, [0xF] = 4 }
local function char_at(s, i)
  local b = s:byte(i)
  local len = b and b >= 0xC2 and UTF8_BYTES[b >> 4]
  local ch = len and s:sub(i, i + len - 1)
  return ch and utf8.len(ch) == 1 and ch or nil
end

-- A non-ASCII character as a message shows it: itself when it prints, escaped when it is a C1
-- control, with its code point (U+00A0 and U+FEFF look like nothing).
local function shown_char(ch, prefix)
  return string.format("'%s%s' (U+%04X)", prefix or "", M.printable(ch), utf8.codepoint(ch))
end

-- What stands at i, for "found ...": a word or number whole, a printable character quoted, any
-- other byte escaped ('\x0C'), a non-ASCII character with its code point, a byte-order mark
-- named.
local function describe(s, i)
  if i > #s then
    return "the end of the text"
  end
  if s:sub(i, i + 2) == BOM then
    return "a UTF-8 byte-order mark (U+FEFF)" .. (i == 1 and "; save the file without it" or "")
  end
  local c = s:sub(i, i)
  if c:match("[%w_]") then
    return "'" .. (s:match("^[%w_%.%+%-]+", i) or c) .. "'"
  end
  local ch = char_at(s, i)
  if ch then
    return shown_char(ch)
  end
  return "'" .. M.printable(c) .. "'"
end

-- What follows a backslash that starts no JSON escape: '\q', '\é' (U+00E9) (the whole
-- character, not its first byte), or a byte that does not print named apart from the backslash.
local function unknown_escape(s, i)
  local ch, c = char_at(s, i), s:sub(i, i)
  if ch then
    return M.printable(ch) == ch and shown_char(ch, "\\") or "'\\' followed by " .. shown_char(ch)
  elseif c == "" then
    return "'\\' at the end of the text"
  elseif c:match("^[\32-\126]$") then
    return "'\\" .. c .. "'"
  end
  return "'\\' followed by '" .. M.printable(c) .. "'"
end

local function fail(s, i, fmt, ...)
  local line, col = position(s, i)
  error(string.format("json: line %d, column %d: " .. fmt, line, col, ...), 0)
end

local function skip_ws(s, i)
  local _, e = s:find("^[ \t\r\n]*", i)
  return e + 1
end

local decode_value

-- After an array element or object member at i: the closing bracket (returns true and the
-- index past it) or a comma and the next item (returns false and the item's index).  what names
-- the item in the error ("an array element").
local function next_item(s, i, close, what)
  i = skip_ws(s, i)
  local c = s:sub(i, i)
  if c == close then
    return true, i + 1
  elseif c ~= "," then
    fail(s, i, "expected ',' or '%s' after %s, found %s", close, what, describe(s, i))
  end
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == close then
    fail(s, i, "trailing comma before '%s'", close)
  end
  return false, i
end

local UNESCAPES = {
  ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
}

local function decode_string(s, i)
  -- s:sub(i, i) == '"'
  local out, j = {}, i + 1
  while true do
    local run_end = s:find('["\\\0-\31]', j) -- DEL (0x7f, in %c) may stand unescaped (RFC 8259)
    if not run_end then
      fail(s, i, "unterminated string")
    end
    if run_end > j then
      out[#out + 1] = s:sub(j, run_end - 1)
    end
    local c = s:sub(run_end, run_end)
    if c == '"' then
      local str = table.concat(out)
      if not utf8.len(str) then
        fail(s, i, "string is not valid UTF-8")
      end
      return str, run_end + 1
    elseif c == "\\" then
      local e = s:sub(run_end + 1, run_end + 1)
      local simple = UNESCAPES[e]
      if simple then
        out[#out + 1] = simple
        j = run_end + 2
      elseif e == "u" then
        local hex = s:match("^%x%x%x%x", run_end + 2)
        if not hex then
          fail(s, run_end, "bad \\u escape (4 hex digits expected)")
        end
        local cp = tonumber(hex, 16)
        j = run_end + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = s:match("^\\u(%x%x%x%x)", j)
          lo = lo and tonumber(lo, 16)
          if not lo or lo < 0xDC00 or lo > 0xDFFF then
            fail(s, run_end, "unpaired surrogate \\u%s", hex)
          end
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
          j = j + 6
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          fail(s, run_end, "unpaired surrogate \\u%s", hex)
        end
        out[#out + 1] = utf8.char(cp)
      else
        fail(s, run_end, "unknown escape %s", unknown_escape(s, run_end + 1))
      end
    else
      fail(s, run_end, "control character 0x%02x inside a string (escape it)", c:byte())
    end
  end
end

local function decode_number(s, i)
  local int_part = s:match("^-?(%d+)", i)
  if not int_part then
    fail(s, i, "expected a value, found %s", describe(s, i))
  end
  if #int_part > 1 and int_part:sub(1, 1) == "0" then
    fail(s, i, "number with a leading zero")
  end
  -- The exact grammar: int frac? exp?
  local exact = s:match("^-?%d+", i)
  local j = i + #exact
  local is_float = false
  if s:sub(j, j) == "." then
    local frac = s:match("^%.%d+", j)
    if not frac then
      fail(s, j, "expected digits after the decimal point")
    end
    j = j + #frac
    is_float = true
  end
  if s:find("^[eE]", j) then
    local ex = s:match("^[eE][-+]?%d+", j)
    if not ex then
      fail(s, j, "expected digits in the exponent")
    end
    j = j + #ex
    is_float = true
  end
  local text = s:sub(i, j - 1)
  if not is_float then
    local v = math.tointeger(tonumber(text))
    -- tonumber wraps or turns too-large integers into floats; keep exactness or go float.
    if v ~= nil and string.format("%d", v) == text:gsub("^%-0$", "0") then
      return v, j
    end
  end
  -- math.tointeger's refusal above leaves a float; `+ 0.0` would turn -0.0 into 0.0
  local v = tonumber(text)
  return math.type(v) == "float" and v or v + 0.0, j
end

local function decode_array(s, i, depth)
  local arr, n = M.array(), 0
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "]" then
    return arr, i + 1
  end
  while true do
    local v, done
    v, i = decode_value(s, i, depth + 1)
    n = n + 1
    arr[n] = v
    done, i = next_item(s, i, "]", "an array element")
    if done then
      return arr, i
    end
  end
end

local function decode_object(s, i, depth)
  local obj = M.object()
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "}" then
    return obj, i + 1
  end
  while true do
    if s:sub(i, i) ~= '"' then
      fail(s, i, "expected a string key, found %s", describe(s, i))
    end
    local key_at = i
    local key
    key, i = decode_string(s, i)
    if rawget(obj, key) ~= nil then
      fail(s, key_at, "duplicate key \"%s\"", M.printable(key, 60))
    end
    i = skip_ws(s, i)
    if s:sub(i, i) ~= ":" then
      fail(s, i, "expected ':' after a key, found %s", describe(s, i))
    end
    local v, done
    v, i = decode_value(s, skip_ws(s, i + 1), depth + 1)
    obj[key] = v
    done, i = next_item(s, i, "}", "an object member")
    if done then
      return obj, i
    end
  end
end

local MAX_DEPTH = 512

-- depth: the arrays and objects around the value (0 at the top).  An array or object at depth
-- 512 would be the 513th level, empty or not.
decode_value = function(s, i, depth)
  i = skip_ws(s, i)
  local c = s:sub(i, i)
  if (c == "{" or c == "[") and depth >= MAX_DEPTH then
    fail(s, i, "nesting deeper than %d levels", MAX_DEPTH)
  end
  if c == "{" then
    return decode_object(s, i, depth)
  elseif c == "[" then
    return decode_array(s, i, depth)
  elseif c == '"' then
    return decode_string(s, i)
  elseif s:find("^true", i) then
    return true, i + 4
  elseif s:find("^false", i) then
    return false, i + 5
  elseif s:find("^null", i) then
    return M.null, i + 4
  elseif c:match("[-%d]") then
    return decode_number(s, i)
  end
  fail(s, i, "expected a value, found %s", describe(s, i))
end

-- The value of JSON text s; raises "json: line L, column C: ..." on malformed text.
function M.decode(s)
  if type(s) ~= "string" then
    error("json.decode: expected a string, got " .. type(s), 2)
  end
  local v, i = decode_value(s, 1, 0)
  i = skip_ws(s, i)
  if i <= #s then
    fail(s, i, "unexpected text after the value: %s", describe(s, i))
  end
  return v
end

-- Reads and decodes a file: value, or nil, message on a missing/unreadable/malformed file.
-- The reading is graphids.io's (required here, not at load: graphids.io requires this module).
function M.read_file(path)
  local text, err = require("graphids.io").read_file(path)
  if not text then
    return nil, err
  end
  local ok, v = pcall(M.decode, text)
  if not ok then
    return nil, path .. ": " .. v
  end
  return v
end

return M
