-- columns_spec.lua -- graphids.orchestrate.columns: a cell's width in UTF-8 code points (bytes for
-- text that is not UTF-8), padding to a width, and each column as wide as its widest cell.
local C = require "graphids.orchestrate.columns"

describe("graphids.orchestrate.columns", function()
  it("counts characters, and the bytes of text that is not UTF-8", function()
    assert.same({ 3, 3, 0, 4 }, { C.width("gat"), C.width("gät"), C.width(""), C.width("g\xFFt\xC3") })
    assert.equal("gät  ", C.pad("gät", 5))
    assert.equal("a\xFF  ", C.pad("a\xFF", 4))
    assert.equal("longer", C.pad("longer", 3)) -- (a cell wider than its column is not cut)
  end)

  it("sizes each column to its widest cell, at least its minimum", function()
    local w = C.widths({ 4, 2 }, { { "ab", "ünïcödé" }, { "abcdef", "x" } })
    assert.same({ 6, 7 }, w)
    assert.same({ 4, 2 }, C.widths({ 4, 2 }, {}))
    assert.equal("ab     ünïcödé", C.join({ "ab", "ünïcödé" }, w))
    assert.equal("abcdef x      ", C.join({ "abcdef", "x" }, w))
  end)
end)
