-- at_caller_spec.lua -- core._at_caller(f, handler) and core._error_parts(msg) (lua/src/l_named.c),
-- which nn.Module's __call is made of (spec/nn/module_spec.lua checks the layers' messages): f's
-- results pass through; on an error handler(first argument, error, where) words what is raised,
-- where being the line that called the closure, kept through a tail call, "" from C.
local core = require "graphids.core"

local SPEC = "spec/core/at_caller_spec.lua"

describe("core._at_caller", function()
  local seen
  local function handler(first, err, where)
    seen = { first = first, err = err, where = where }
    return type(err) == "string" and where .. "H: " .. err or err
  end
  local f = core._at_caller(function(a, b, c)
    if a == "fail" then error(b, 0) end
    return a, b, c
  end, handler)

  it("returns every result of f, nils included, and calls no handler", function()
    seen = nil
    assert.are.same({ n = 3, 1, nil, 3 }, table.pack(f(1, nil, 3)))
    assert.are.same({ n = 0 }, table.pack(core._at_caller(function() end, handler)()))
    assert.is_nil(seen)
  end)

  it("raises what the handler makes of the error, with the line that called it", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local r = f("fail", "boom") return r end)
    assert.is_false(ok)
    assert.equal(SPEC .. ":" .. line .. ": H: boom", err)
    assert.equal("fail", seen.first)
    -- a tail call keeps the line: the closure is a C function
    line = debug.getinfo(1, "l").currentline + 1
    ok, err = pcall(function() return f("fail", "again") end)
    assert.is_false(ok)
    assert.equal(SPEC .. ":" .. line .. ": H: again", err)
    -- called by C (pcall itself) there is no line
    ok, err = pcall(f, "fail", "bare")
    assert.is_false(ok)
    assert.equal("H: bare", err)
    assert.equal("", seen.where)
    -- an error object reaches the handler too, and is raised as it returns it
    local obj = { code = 7 }
    ok, err = pcall(f, "fail", obj)
    assert.is_false(ok)
    assert.equal(obj, err)
  end)
end)

describe("core._error_parts", function()
  it("splits the position and the op name off as core._named drops them", function()
    local function parts(msg) return { core._error_parts(msg) } end
    assert.are.same({ "x.lua:3: ", "addmm: ", "arg 2 ..." }, parts("x.lua:3: addmm: arg 2 ..."))
    assert.are.same({ '[string "a"]:1: ', "", "bad value: 5" }, parts('[string "a"]:1: bad value: 5'))
    assert.are.same({ "", "metrics.binary: ", "x" }, parts("metrics.binary: x"))
    assert.are.same({ "", "", "unknown option 'a:12: b'" }, parts("unknown option 'a:12: b'"))
    -- a method's name, as its option checks give it
    assert.are.same({ "t.lua:3: ", "GATConv:forward: ", "unknown option 'x'" },
      parts("t.lua:3: GATConv:forward: unknown option 'x'"))
    assert.are.same({ "", "", "a:: b" }, parts("a:: b"))
    -- a second position is no name: kept in the rest
    assert.are.same({ "train.lua:5: ", "", "model.lua:10: boom" }, parts("train.lua:5: model.lua:10: boom"))
    assert.are.same({ "", "", "ratio:0.5: bad" }, parts("ratio:0.5: bad"))
  end)
end)
