-- composed_errors_spec.lua -- the tensor functions composed in Lua (graphids.tensor_extras,
-- tensor_shape, tensor_index, tensor_math, tensor_linalg) raise as docs/lua-api.md section 1
-- asks: "file:line: fname: message", at the line that called fname and naming fname, whether
-- the error comes from the function's own checks or from an op it is built of (cat inside
-- vstack, scatter_ inside index_copy_, sub inside allclose...).
local graphids = require "graphids"

local SPEC = "spec/ops/composed_errors_spec.lua"
local ones, zeros, tensor = graphids.ones, graphids.zeros, graphids.tensor

-- The error of f() (which must fail), f defined on the one line that makes the bad call.
local function error_of(f)
  local ok, err = pcall(f)
  assert(not ok, "the call did not fail")
  return err, debug.getinfo(f, "S").linedefined
end

local function expanded() return zeros(2):expand(2, 2) end
local I = zeros(1, 2):long()

-- { name the error must carry, the bad call (alone on its line; a tail call, which a wrapper
-- written in Lua would lose the caller's line in) }
local CASES = {
  { "index_put", function() return graphids.index_put(zeros(3), { tensor({ 3 }) }, ones(1)) end },
  { "index_put_", function() return zeros(3):index_put_({ tensor({ 3 }) }, ones(1)) end },
  { "index_copy", function() return zeros(2):index_copy(1, tensor({ 5 }), ones(1)) end },
  { "index_copy_", function() return expanded():index_copy_(1, tensor({ 0 }), ones(1, 2)) end },
  { "index_fill_", function() return expanded():index_fill_(1, tensor({ 0 }), 1) end },
  { "index_put_", function() return expanded():index_put_({ tensor({ 0 }) }, ones(1, 2), true) end },
  { "take_along_dim", function() return zeros(2):take_along_dim(tensor({ 5 }), 1) end },
  { "scatter_reduce", function() return zeros(2):scatter_reduce(1, tensor({ 5 }), ones(1), "sum") end },
  { "scatter_reduce_", function() return expanded():scatter_reduce_(1, I, ones(1, 2), "sum") end },
  { "median", function() return ones(2):median(3) end },
  { "flip", function() return graphids.flip(ones(3), 2) end },
  { "flip", function() return ones(3):flip({ 1, 1 }) end },
  { "unbind", function() return ones(3):unbind(2) end },
  { "repeat_interleave", function() return ones(3):repeat_interleave(-1) end },
  { "vstack", function() return graphids.vstack({ ones(2), ones(3) }) end },
  { "hstack", function() return graphids.hstack({ ones(2, 2), ones(3, 2) }) end },
  { "nan_to_num_", function() return expanded():nan_to_num_() end },
  { "addcmul_", function() return ones(2):addcmul_(ones(3), ones(3)) end },
  { "addcmul", function() return ones(2):addcmul(ones(3), ones(3)) end },
  { "clip_", function() return expanded():clip_(0, 1) end },
  { "clip", function() return ones(2):clip(ones(3), nil) end },
  { "allclose", function() return graphids.allclose(ones(2), ones(3)) end },
  { "new_zeros", function() return ones(2):new_zeros({ 2 }, { dtyp = "f32" }) end },
  { "isin", function() return graphids.isin("a", "b") end },
}

describe("composed tensor functions' errors", function()
  it("name the called function, at the caller's line", function()
    for _, case in ipairs(CASES) do
      local name, f = case[1], case[2]
      local err, line = error_of(f)
      local prefix = SPEC .. ":" .. line .. ": " .. name .. ": "
      assert.equal(prefix, err:sub(1, #prefix), "the error of " .. name .. " at line " .. line)
      assert.is_nil(err:find("stdlib/", 1, true), err)
    end
  end)

  it("keep text the caller quoted that looks like a position", function()
    -- only a "chunkname:line: " opening the message is a position: a value quoted later that
    -- holds ":12: " must not be taken for one (the message was cut to "isclose: key' ...")
    local a = ones(1)
    local err, line = error_of(function() return graphids.isclose(a, a, { ["bad:12: key"] = 1 }) end)
    assert.equal(SPEC .. ":" .. line .. ": isclose: unknown option 'bad:12: key' (allowed: atol, "
      .. "equal_nan, rtol)", err)
    -- a function wrapped by core._named: its inner error's position, a file's or a loaded
    -- chunk's, is dropped; the rest kept whole
    local core = require "graphids.core"
    local from_file = core._named(function() error("x:1: y") end, "f")
    err, line = error_of(function() return from_file() end)
    assert.equal(SPEC .. ":" .. line .. ": f: x:1: y", err)
    local chunk = load("local s = ... ; error('op: quoted \\'a:3: b\\'')", "=[string \"q\"]")
    local loaded = core._named(chunk, "g")
    err, line = error_of(function() return loaded() end)
    assert.equal(SPEC .. ":" .. line .. ": g: quoted 'a:3: b'", err)
    local chunk2 = load("error('op: v:7: w')", 'return "a: b"')
    err, line = error_of(function() return core._named(chunk2, "h")() end)
    assert.equal(SPEC .. ":" .. line .. ": h: v:7: w", err)
    local nopos = core._named(function() error("no position: v:7: w", 0) end, "k")
    err, line = error_of(function() return nopos() end)
    assert.equal(SPEC .. ":" .. line .. ": k: no position: v:7: w", err)
    -- the same rule in Lua, for the composed functions that re-raise an op's refusal
    local strip = require("graphids.tensor_checks").strip_position
    assert.equal("op: x", strip("stdlib/graphids/a.lua:12: op: x"))
    assert.equal("op: x", strip('[string "return f(\'a:1: b\')"]:3: op: x'))
    assert.equal("op: 'bad:12: key'", strip("op: 'bad:12: key'"))
    assert.equal("f.lua:1: op: 'bad:12: key'", strip("x.lua:9: f.lua:1: op: 'bad:12: key'"))
    assert.equal("a b:1: c", strip("a b:1: c"))
    assert.equal("op:\nx:1: y", strip("op:\nx:1: y"))
  end)

  it("hold for every installed function given a value it cannot use", function()
    -- Each module installed into a stand-in for the graphids table, so that its functions can be
    -- listed; called with a string where a tensor belongs, every one that fails must fail here.
    local seen = 0
    for _, mod in ipairs({ "tensor_extras", "tensor_shape", "tensor_index", "tensor_math",
                           "tensor_linalg" }) do
      local g = setmetatable({ Tensor = {} }, { __index = graphids })
      require("graphids." .. mod).install(g)
      for _, t in ipairs({ rawget(g, "Tensor"), g }) do
        for name, f in pairs(t) do
          if type(f) == "function" and name:sub(1, 1) ~= "_" then
            local line = debug.getinfo(1, "l").currentline + 1
            local ok, err = pcall(function() local r = f("not a tensor", "x") return r end)
            if not ok then
              seen = seen + 1
              local prefix = SPEC .. ":" .. line .. ": " .. name .. ": "
              assert.equal(prefix, tostring(err):sub(1, #prefix), mod .. "." .. name)
            end
          end
        end
      end
    end
    assert.is_true(seen > 50)
  end)
end)
