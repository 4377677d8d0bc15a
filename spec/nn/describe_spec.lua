-- describe_spec.lua -- graphids.nn._util.describe, the one way error messages show a value a user
-- gave or a file held: it never raises, whatever a decoded file holds (1e400 decodes to inf,
-- which json.encode refuses), cuts long strings and escapes bytes a terminal would act on.
local U = require "graphids.nn._util"
local json = require "graphids.json"

describe("graphids.nn._util.describe", function()
  it("shows NaN and infinities, bare or inside a decoded table, without raising", function()
    assert.equal("inf", U.describe(json.decode("1e400")))
    assert.equal("-inf", U.describe(json.decode("-1e999")))
    assert.equal("nan", U.describe(0 / 0))
    assert.equal("nan", U.describe(-(0 / 0)))
    assert.equal('a list [1,inf,{"a":-inf}]', U.describe(json.decode('[1, 1e400, {"a": -1e400}]')))
    assert.equal('a table {"x":nan}', U.describe({ x = 0 / 0 }))
    -- what no JSON can show stays named by its kind
    local cyc = {}
    cyc[1] = cyc
    assert.equal("a table", U.describe(cyc))
    assert.equal("a table", U.describe({ 1 / 0, f = 1 }))
  end)

  it("cuts a long string and escapes control characters and bytes that are not UTF-8", function()
    assert.equal("'" .. string.rep("a", 60) .. "...' (a string)", U.describe(string.rep("a", 300)))
    assert.equal("'" .. string.rep("é", 60) .. "...' (a string)", U.describe(string.rep("é", 61)))
    assert.equal("'a\\nb\\x00\\x0C\\x1B[31m' (a string)", U.describe("a\nb\0\f\27[31m"))
    assert.equal("'\\xFFx' (a string)", U.describe("\xFFx"))
    assert.equal("'64' (a string)", U.describe("64"))
  end)

  it("cuts a table's text on a character's boundary, with C1 controls escaped", function()
    -- counted in characters: 40 é fit (80 bytes, which were cut inside a character)
    local function list_of(n) return json.decode('["' .. ("é"):rep(n) .. '", 1e400]') end
    assert.equal('a list ["' .. ("é"):rep(40) .. '",inf]', U.describe(list_of(40)))
    assert.equal('a list ["' .. ("é"):rep(55) .. "...", U.describe(list_of(70)))
    assert.equal('a list ["a\\xC2\\x9B31m",1]', U.describe(json.decode('["a\\u009b31m", 1]')))
    -- a string that is no UTF-8 is shown with its bytes escaped, not given up on
    assert.equal('a table {"a":"\\xFFx"}', U.describe({ a = "\xFFx" }))
  end)

  it("reads only as much of a table as it shows", function()
    -- a list past what is shown is not read: a function there (no JSON) is never met
    local long = json.array({})
    for i = 1, 1000 do long[i] = i end
    long[1000] = print
    assert.equal("a list [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22...", U.describe(long))
    -- a nesting 100 000 deep is shown, not a stack overflow
    local deep = json.array({})
    local at = deep
    for _ = 1, 100000 do
      at[1] = json.array({})
      at = at[1]
    end
    assert.equal("a list " .. ("["):rep(57) .. "...", U.describe(deep))
    -- an object shows its first keys in sorted order, found without sorting them all
    local obj = json.object({})
    for i = 1, 5000 do obj[string.format("k%04d", i)] = i end
    assert.equal('a table {"k0001":1,"k0002":2,"k0003":3,"k0004":4,"k0005":5,"k0006...', U.describe(obj))
  end)
end)
