-- errors_spec.lua -- graphids.errors.strip_own_position: an error caught from graphids' own code
-- loses the positions inside graphids' modules that open it, and keeps every other position (a
-- recipe's, a catalog file's, a script's: lines the user wrote).
local errors = require "graphids.errors"
local strip = errors.strip_own_position

-- The folder of the graphids modules as their error positions spell it.
local DIR = package.searchpath("graphids", package.path):match("^(.*/)init%.lua$")

describe("graphids.errors.strip_own_position", function()
  it("drops a position inside graphids' own modules", function()
    -- a real one: io.join raises at its own line
    local ok, err = pcall(require("graphids.io").join, nil)
    assert.is_false(ok)
    assert.matches("^" .. DIR:gsub("%p", "%%%0") .. "io%.lua:%d+: ", err)
    assert.equal("io.join: parts must be strings", strip(err))
    assert.equal("boom", strip(DIR .. "trainer/init.lua:363: boom"))
  end)

  it("drops every own position opening the message, and stops at the first that is not", function()
    assert.equal("boom", strip(DIR .. "a.lua:1: " .. DIR .. "trainer/init.lua:2: boom"))
    assert.equal("mine.lua:3: boom", strip(DIR .. "config/init.lua:1: mine.lua:3: boom"))
    assert.equal("mine.lua:3: " .. DIR .. "io.lua:1: boom", strip("mine.lua:3: " .. DIR .. "io.lua:1: boom"))
  end)

  it("keeps a position in the user's files", function()
    assert.equal("recipes/stages/mine.lua:3: boom", strip("recipes/stages/mine.lua:3: boom"))
    local catalog_file = "/home/u/catalog.lua:7: unexpected symbol"
    assert.equal(catalog_file, strip(catalog_file))
    local ok, err = pcall(function() error("boom") end)
    assert.is_false(ok)
    assert.matches("^spec/core/errors_spec%.lua:%d+: boom$", strip(err))
    assert.equal('[string "x = "]:1: unexpected symbol', strip('[string "x = "]:1: unexpected symbol'))
    assert.equal("stdin:1: boom", strip("stdin:1: boom"))
    -- a file whose path only begins like graphids' folder is not in it
    local sibling = DIR:gsub("/$", "") .. "_extra/x.lua:3: boom"
    assert.equal(sibling, strip(sibling))
  end)

  it("takes a source name Lua cut to '...' and its tail as graphids' when a module ends so", function()
    local full = DIR .. "trainer/init.lua"
    assert.equal("boom", strip("..." .. full:sub(-40) .. ":9: boom"))
    local other = ".../elsewhere/trainer/init.lua:9: boom"
    assert.equal(other, strip(other))
    local missing = "..." .. (DIR .. "trainer/no_such_module.lua"):sub(-40) .. ":9: boom"
    assert.equal(missing, strip(missing))
  end)

  it("looks only at the start of a multi-line message", function()
    assert.equal("failed:\n  mine.lua:3: boom", strip(DIR .. "io.lua:5: failed:\n  mine.lua:3: boom"))
    local later = "bad thing\n" .. DIR .. "io.lua:3: boom"
    assert.equal(later, strip(later))
    assert.equal("line one\nline two", strip(DIR .. "io.lua:5: line one\nline two"))
  end)

  it("leaves a message without a position as it is", function()
    for _, msg in ipairs({ "boom", "", "step:12: diverged", "unknown option 'a.lua:3: b'",
      "GraphDataModule: batch_size must be an integer >= 1, got 0" }) do
      assert.equal(msg, strip(msg))
    end
  end)

  it("returns tostring of an error that is no string", function()
    assert.equal("nil", strip(nil))
    assert.equal("42", strip(42))
    local e = setmetatable({}, { __tostring = function() return DIR .. "io.lua:1: boom" end })
    assert.equal("boom", strip(e))
  end)
end)
