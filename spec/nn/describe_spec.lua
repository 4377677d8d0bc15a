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
end)
