-- call_as_spec.lua -- core._call_as(fname, names, f, ...), the call-site form of graphids' one
-- way to raise an inner error as the public function's (lua/src/l_named.c; core._named, the
-- wrapper form, is specified in spec/ops/composed_errors_spec.lua): f's error is raised again
-- as "where: fname: message" at the line that called the Lua function calling _call_as, less
-- its own position and op name, the callee's argument words renamed as the caller knows them.
local graphids = require "graphids"
local core = require "graphids.core"

local SPEC = "spec/core/call_as_spec.lua"
local long = function(t) return graphids.tensor(t, { dtype = "i64" }) end

-- The error of f() (which must fail), f defined on the one line that makes the bad call (not
-- in a tail call: the level, as error()'s, counts the public function's frame).
local function error_of(f)
  local ok, err = pcall(f)
  assert(not ok, "the call did not fail")
  return err, debug.getinfo(f, "S").linedefined
end

local NAMES = { scores = "val_scores", labels = "val_labels", score = "element of val_scores" }

-- A public function as graphids.metrics writes one: the runtime checks its inputs.
local function pub(scores, labels, opts)
  local r = core._call_as("pub", NAMES, core.metrics_binary, scores, labels, opts)
  return r
end
-- The same in a tail call: a C function keeps its caller's frame, so the level still holds.
local function pub_tail(scores, labels, opts)
  return core._call_as("pub", nil, core.metrics_binary, scores, labels, opts)
end

describe("core._call_as", function()
  local s, y = graphids.tensor({ 0.1, 0.9, 0.4 }), long({ 0, 1, 0 })

  it("returns every result of f", function()
    local r = pub(s, y)
    assert.equal(3, r.n)
    assert.are.same({ n = 3, 1, nil, 3 }, table.pack(core._call_as("f", nil, function(a, b, c)
      return a, b, c
    end, 1, nil, 3)))
  end)

  it("raises the runtime's check at the caller's line, under fname, argument words renamed", function()
    local bad = graphids.tensor({ 0.1, 0 / 0, 0.3 })
    local err, line = error_of(function() local r = pub(bad, y) return r end)
    -- every whole word renamed, its second mention too
    assert.equal(SPEC .. ":" .. line .. ": pub: val_scores[1] is NaN; val_scores must be finite "
      .. "(0-based index)", err)
    err, line = error_of(function() local r = pub(s, long({ 0, 1 })) return r end)
    assert.equal(SPEC .. ":" .. line .. ": pub: val_labels has 2 elements, expected 3 (one per "
      .. "element of val_scores)", err)
    err, line = error_of(function() local r = pub_tail(s, long({ 0, 1 })) return r end)
    assert.equal(SPEC .. ":" .. line .. ": pub: labels has 2 elements, expected 3 (one per score)", err)
  end)

  it("drops the '?' a core function names itself by when called straight from C", function()
    local err, line = error_of(function() local r = pub_tail(s, y, { min_recall = "x" }) return r end)
    assert.equal(SPEC .. ":" .. line .. ": pub: option 'min_recall' must be a number, got 'x' (a string)",
      err)
  end)

  it("renames only whole words, and a Lua error's position and op name go", function()
    local function lua_pub()
      local r = core._call_as("pub", NAMES, function() error("op: labels_x scores2 val_scores labels") end)
      return r
    end
    local err, line = error_of(function() local r = lua_pub() return r end)
    assert.equal(SPEC .. ":" .. line .. ": pub: labels_x scores2 val_scores val_labels", err)
  end)

  it("leaves quoted text alone, keeps NUL bytes, and strips a dotted name and a spaced .lua path", function()
    local function raise(msg)
      return select(2, pcall(core._call_as, "pub", NAMES, function() error(msg, 0) end))
    end
    -- the caller's own words in quotes are not the runtime's argument names
    assert.truthy(raise("op: unknown option 'score' (allowed: labels)")
      :find("pub: unknown option 'score' (allowed: val_labels)", 1, true))
    assert.truthy(raise("op: the model's labels, got 'scores'")
      :find("pub: the model's val_labels, got 'scores'", 1, true))
    assert.truthy(raise("op: before\0after labels"):find("pub: before\0after val_labels", 1, true))
    assert.truthy(raise("metrics.classification: labels has 3"):find("pub: val_labels has 3", 1, true))
    assert.truthy(raise("/opt/my tools/x.lua:4: op: labels"):find("pub: val_labels$"))
    -- words before a colon-number are no position
    assert.truthy(raise("bad value:12: labels"):find("pub: bad value:12: val_labels", 1, true))
  end)

  it("passes an error that is no string through as it is", function()
    local e = {}
    local ok, err = pcall(core._call_as, "pub", nil, function() error(e) end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("checks its own arguments", function()
    assert.error_matches(function() core._call_as({}, nil, print) end, "bad argument #1")
    assert.error_matches(function() core._call_as("f", "x", print) end, "bad argument #2")
    assert.error_matches(function() core._call_as("f", nil, 3) end, "bad argument #3")
  end)
end)
