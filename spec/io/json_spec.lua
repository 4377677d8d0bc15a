local json = require "graphids.json"

local err_of = require("specenv").err_of

describe("graphids.json", function()
  it("encodes objects with sorted keys, integers as integers and floats that round-trip", function()
    assert.equal('{"a":[1,2.5,-3.0],"b":true,"c":null,"z":"x"}',
      json.encode({ z = "x", b = true, a = { 1, 2.5, -3.0 }, c = json.null }))
    for _, v in ipairs({ 0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, -2.5e-7, 123456789.125 }) do
      local s = json.encode(v)
      assert.equal(v, json.decode(s))
      assert.equal("float", math.type(json.decode(s)))
    end
    assert.equal("0.1", json.encode(0.1))
    assert.equal("1e+100", json.encode(1e100))
    assert.equal("9223372036854775807", json.encode(math.maxinteger))
    assert.equal(math.mininteger, json.decode(json.encode(math.mininteger)))
  end)

  it("marks arrays and objects explicitly and keeps empty arrays through a round trip", function()
    assert.equal("{}", json.encode({}))
    assert.equal("[]", json.encode(json.array()))
    assert.equal("{}", json.encode(json.object()))
    local v = json.decode('{"a":[],"b":{},"c":[{}]}')
    assert.is_true(json.is_array(v.a))
    assert.is_false(json.is_array(v.b))
    assert.equal('{"a":[],"b":{},"c":[{}]}', json.encode(v))
  end)

  it("escapes strings as JSON requires and decodes escapes and surrogate pairs", function()
    local s = 'q"b\\n\n\t\1é€𝄞'
    assert.equal('"q\\"b\\\\n\\n\\t\\u0001é€𝄞"', json.encode(s))
    assert.equal(s, json.decode(json.encode(s)))
    assert.equal("𝄞é/", json.decode('"\\ud834\\udd1e\\u00e9\\/"'))
  end)

  it("pretty-prints with an indent, still sorted", function()
    assert.equal('{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}',
      json.encode({ b = {}, a = { 1, 2 } }, { indent = 2 }))
  end)

  it("refuses values JSON cannot hold, naming the path", function()
    assert.matches("%$%.a%[2%]: NaN is not valid JSON", err_of(json.encode, { a = { 1, 0 / 0 } }))
    assert.matches("infinity", err_of(json.encode, math.huge))
    assert.matches("mixes string keys", err_of(json.encode, { 1, x = 2 }))
    assert.matches("neither 1..n nor strings", err_of(json.encode, { [2] = 1 }))
    assert.matches("cannot encode a function", err_of(json.encode, { f = print }))
    local t = {}
    t.self = t
    assert.matches("cycle", err_of(json.encode, t))
    assert.matches("not valid UTF%-8", err_of(json.encode, "\255"))
    assert.matches("unknown option 'pretty'", err_of(json.encode, {}, { pretty = true }))
  end)

  it("shows an object key in an error's path escaped, never raw", function()
    -- an ESC, a newline and a byte that is not UTF-8 as \xNN (json.printable), a long key cut
    assert.equal("json.encode: $.a\\x1B[2J.x\\n.\\xFF: string is not valid UTF-8",
      err_of(json.encode, { ["a\27[2J"] = { ["x\n"] = { ["\255"] = 1 } } }))
    assert.equal("json.encode: $.k\\xC2\\x9B: NaN is not valid JSON",
      err_of(json.encode, { ["k\xC2\x9B"] = 0 / 0 }))
    assert.equal("json.encode: $." .. string.rep("k", 60) .. "...: NaN is not valid JSON",
      err_of(json.encode, { [string.rep("k", 70)] = 0 / 0 }))
    assert.equal("json.encode: $.caf\xC3\xA9: NaN is not valid JSON",
      err_of(json.encode, { ["caf\xC3\xA9"] = 0 / 0 }))
  end)

  it("decodes integers as integers and the rest as floats", function()
    local v = json.decode('[0, -0, 12, 1.0, 1e2, 9223372036854775807, 9223372036854775808, -1.5E-3]')
    assert.equal("integer", math.type(v[1]))
    assert.equal("integer", math.type(v[3]))
    assert.equal("float", math.type(v[4]))
    assert.equal(100.0, v[5])
    assert.equal(math.maxinteger, v[6])
    assert.equal("float", math.type(v[7]))
    assert.equal(-1.5e-3, v[8])
    -- a negative zero stays one (the encoder writes it, so a re-saved state keeps its bytes)
    local z = json.decode('[-0.0, -0e3, -0]')
    assert.equal(-math.huge, 1 / z[1])
    assert.equal(-math.huge, 1 / z[2])
    assert.equal("integer", math.type(z[3]))
    assert.equal("[-0.0]", json.encode(json.array({ json.decode("-0.0") })))
  end)

  it("reports malformed text with line and column", function()
    local cases = {
      { '{"a": 1,}', "line 1, column 9: trailing comma before '}'" },
      { '[1, 2', "line 1, column 6: expected ',' or ']'" },
      { '{\n  "a": 1\n  "b": 2}',
        "line 3, column 3: expected ',' or '}' after an object member, found '\"'" },
      { '{"a": 1, "a": 2}', 'line 1, column 10: duplicate key "a"' },
      { "[01]", "leading zero" },
      { "[1.]", "digits after the decimal point" },
      { "[1e]", "digits in the exponent" },
      { "NaN", "expected a value, found 'NaN'" },
      { "[tru]", "expected a value, found 'tru'" },
      { '"a\tb"', "control character 0x09" },
      { '"a\0b"', "control character 0x00" },
      { '"a\31b"', "control character 0x1f" },
      { '"\\x"', "unknown escape" },
      { '"\\ud834"', "unpaired surrogate" },
      { '"abc', "unterminated string" },
      { "1 2", "line 1, column 3: unexpected text after the value" },
      { "", "line 1, column 1: expected a value, found the end of the text" },
      { "// c\n1", "expected a value" },
      { "{'a': 1}", "expected a string key" },
      { '"\255"', "not valid UTF%-8" },
    }
    for _, c in ipairs(cases) do
      local e = err_of(json.decode, c[1])
      assert(e:find(c[2], 1, true) or e:find(c[2]), string.format("%q: %s lacks %s", c[1], e, c[2]))
      assert.matches("^json: line %d+, column %d+: ", e)
    end
    -- what stands at the error is shown escaped, never as raw bytes: a byte-order mark named,
    -- a control character or a byte that is no UTF-8 as \xNN, a non-ASCII character with its code
    for _, c in ipairs({
      { "\xEF\xBB\xBF{}", "column 1: expected a value, found a UTF-8 byte-order mark (U+FEFF); " ..
        "save the file without it" },
      { "[1,\xEF\xBB\xBF2]", "column 4: expected a value, found a UTF-8 byte-order mark (U+FEFF)" },
      { "[1\f]", "column 3: expected ',' or ']' after an array element, found '\\x0C'" },
      { "[1]\0", "column 4: unexpected text after the value: '\\x00'" },
      { "[\xFF]", "column 2: expected a value, found '\\xFF'" },
      { "[\xC2\xA0]", "column 2: expected a value, found '\xC2\xA0' (U+00A0)" },
      { '{"a\\nb": 1, "a\\nb": 2}', 'column 13: duplicate key "a\\nb"' },
      { '"\\\1"', "column 2: unknown escape '\\' followed by '\\x01'" },
      -- an unknown escape shows the whole character after the backslash, not its first byte
      { '{"a":"\\\xC3\xA9"}', "column 7: unknown escape '\\\xC3\xA9' (U+00E9)" },
      { '"\\q"', "column 2: unknown escape '\\q'" },
      { '"\\\xC2\x85"', "column 2: unknown escape '\\' followed by '\\xC2\\x85' (U+0085)" },
      -- C1 controls (U+0080..U+009F; U+009B acts as ESC [ on some terminals) are escaped as
      -- Python's repr escapes them
      { "[\xC2\x9B]", "column 2: expected a value, found '\\xC2\\x9B' (U+009B)" },
      { '{"a\\u0085":1,"a\\u0085":2}', 'column 14: duplicate key "a\\xC2\\x85"' },
    }) do
      assert.equal("json: line 1, " .. c[2], err_of(json.decode, c[1]))
    end
    assert.equal("a\\n\\x00\\xFF" .. ("x"):rep(2) .. "...", json.printable("a\n\0\255xxxxxx", 6))
    assert.equal("é\\x1B[0m", json.printable("é\27[0m"))
    assert.equal("a\\xC2\\x9B31m\xC2\xA0", json.printable("a\xC2\x9B31m\xC2\xA0"))
    -- utf8_safe: strings that are not UTF-8, keys too, at any depth, as printable gives them;
    -- UTF-8 text (controls included: encode escapes them) and marks as they were
    local safe = json.utf8_safe({ ["k\xE9"] = json.array({ "a\xFF\n", "é\n" }), n = json.null,
      o = json.object() })
    assert.equal('{"k\\\\xE9":["a\\\\xFF\\\\n","é\\n"],"n":null,"o":{}}', json.encode(safe))
    assert.equal("b\\xFF", json.utf8_safe("b\xFF"))
    assert.equal(3, json.utf8_safe(3))
    -- DEL (0x7f) is no control character to JSON (RFC 8259): it may stand unescaped, as
    -- Python's json.dumps(ensure_ascii=False) writes it
    assert.equal("a\127b", json.decode('"a\127b"'))
    assert.matches("nesting deeper", err_of(json.decode, string.rep("[", 600)))
    -- 512 levels, empty or holding a value, and not one more
    for _, inner in ipairs({ "", "1", "{}" }) do
      local levels = inner == "{}" and 511 or 512
      assert.equal("table", type(json.decode(("["):rep(levels) .. inner .. ("]"):rep(levels))))
      assert.matches("line 1, column 513: nesting deeper than 512 levels",
        err_of(json.decode, ("["):rep(levels + 1) .. inner .. ("]"):rep(levels + 1)))
    end
  end)

  it("round-trips random documents byte for byte", function()
    local seed = 12345
    local function rnd(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    end
    local function value(depth)
      local k = rnd(depth > 3 and 6 or 8)
      if k == 0 then
        return rnd(2) == 0 and math.mininteger + rnd(1000) or rnd(1 << 30) - (1 << 29)
      elseif k == 1 then
        return (rnd(1 << 30) - (1 << 29)) / (rnd(1000) + 1) * 10.0 ^ (rnd(40) - 20)
      elseif k == 2 then
        local parts = {}
        for i = 1, rnd(6) do
          parts[i] = utf8.char(({ 0x22, 0x5C, 0x0A, 0x01, 0x41, 0xE9, 0x20AC, 0x1D11E })[rnd(8) + 1])
        end
        return table.concat(parts)
      elseif k == 3 then
        return rnd(2) == 0
      elseif k == 4 then
        return json.null
      elseif k == 5 then
        return rnd(1 << 20) + 0.0
      elseif k == 6 then
        local a = json.array()
        for i = 1, rnd(4) do
          a[i] = value(depth + 1)
        end
        return a
      end
      local o = json.object()
      for i = 1, rnd(4) do
        o["k" .. i .. string.char(65 + rnd(26))] = value(depth + 1)
      end
      return o
    end
    for _ = 1, 300 do
      local v = value(0)
      local text = json.encode(v)
      assert.equal(text, json.encode(json.decode(text)))
      assert.equal(text, json.encode(json.decode(json.encode(v, { indent = 1 }))))
    end
  end)

  it("reads files, returning nil and a message for missing or malformed ones", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"k": [1, 2]}')
    f:close()
    assert.same({ 1, 2 }, json.read_file(path).k)
    f = assert(io.open(path, "w"))
    f:write("{")
    f:close()
    local v, e = json.read_file(path)
    assert.is_nil(v)
    assert.matches("line 1, column 2", e)
    os.remove(path)
    v, e = json.read_file(path)
    assert.is_nil(v)
    assert.matches("No such file", e, 1, true)
    -- io.open succeeds on a directory, and on a FIFO waits for a writer: both are refused first
    v, e = json.read_file("/")
    assert.is_nil(v)
    assert.equal("/: not a regular file (a folder)", e)
    assert(os.execute("mkfifo " .. path))
    v, e = json.read_file(path)
    os.remove(path)
    assert.is_nil(v)
    assert.equal(path .. ": not a regular file (a FIFO, socket or device)", e)
    -- an empty path and one with a NUL byte name no file: nil and why, not an error
    v, e = json.read_file("")
    assert.is_nil(v)
    assert.equal("read_file: the path is empty", e)
    v, e = require("graphids.io").read_file("a\0b")
    assert.is_nil(v)
    assert.equal("a\\x00b: the path holds a NUL byte at byte 2; no file has such a name", e)
    -- nor are they there: exists and is_dir answer false (stat raises on both)
    local gio = require "graphids.io"
    for _, p in ipairs({ "", "a\0b", "/\0" }) do
      assert.is_false(gio.exists(p), p)
      assert.is_false(gio.is_dir(p), p)
    end
  end)

  it("names the first unknown encode option in sorted order, whatever pairs() gives", function()
    assert.error_matches(function() json.encode({}, { zz = 1, aa = 2, mm = 3 }) end,
      "unknown option 'aa'", 1, true)
  end)
end)
