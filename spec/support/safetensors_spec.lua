-- safetensors_spec.lua -- the specs' minimal safetensors reader (spec/support/safetensors.lua).
local graphids = require "graphids"
local cjson = require "cjson"
local safetensors = require "safetensors"

-- A file from a header table (encoded as given) and the data bytes.
local function file(header, data)
  local json = type(header) == "string" and header or cjson.encode(header)
  return string.pack("<I8", #json) .. json .. (data or "")
end

local function fails(pattern, bytes)
  local r, msg, code = safetensors.decode(bytes, "t.safetensors")
  assert.is_nil(r)
  assert.are.equal("EINVAL", code)
  assert.matches(pattern, msg)
end

describe("the fixture safetensors reader", function()
  it("reads every supported dtype with its shape, in sorted name order", function()
    local data = string.pack("<ff", 1.5, -2) .. string.pack("<d", 0.25) .. string.pack("<i8i8", -3, 7)
      .. string.pack("<i4", 9) .. "\5\1\0"
    local f = assert(safetensors.decode(file({
      z = { dtype = "F32", shape = { 2, 1 }, data_offsets = { 0, 8 } },
      d = { dtype = "F64", shape = {}, data_offsets = { 8, 16 } },
      l = { dtype = "I64", shape = { 2 }, data_offsets = { 16, 32 } },
      i = { dtype = "I32", shape = { 1 }, data_offsets = { 32, 36 } },
      u = { dtype = "U8", shape = { 1 }, data_offsets = { 36, 37 } },
      b = { dtype = "BOOL", shape = { 2 }, data_offsets = { 37, 39 } },
      e = { dtype = "F32", shape = { 0, 3 }, data_offsets = { 39, 39 } },
      __metadata__ = { case = "x" },
    }, data)))
    assert.are.same({ "b", "d", "e", "i", "l", "u", "z" }, f.names)
    assert.are.same({ { 1.5 }, { -2.0 } }, f.tensors.z:totable())
    assert.are.equal("f32", f.tensors.z.dtype)
    assert.are.equal(0.25, f.tensors.d:item())
    assert.are.equal(0, f.tensors.d.ndim)
    assert.are.same({ -3, 7 }, f.tensors.l:totable())
    assert.are.equal("i64", f.tensors.l.dtype)
    assert.are.same({ 9 }, f.tensors.i:totable())
    assert.are.same({ 5 }, f.tensors.u:totable())
    assert.are.same({ true, false }, f.tensors.b:totable())
    assert.are.same({ 0, 3 }, f.tensors.e.shape)
    assert.are.same({ case = "x" }, f.metadata)
  end)

  it("reads a zero-size tensor placed where another tensor's bytes start", function()
    -- The Python writer gives an empty tensor the offset of the tensor after it.
    local f = assert(safetensors.decode(file({
      a = { dtype = "U8", shape = { 0 }, data_offsets = { 0, 0 } },
      z = { dtype = "U8", shape = { 2 }, data_offsets = { 0, 2 } },
      m = { dtype = "I64", shape = { 2, 0 }, data_offsets = { 1, 1 } },
    }, "\7\8")))
    assert.are.same({ 7, 8 }, f.tensors.z:totable())
    assert.are.same({ 2, 0 }, f.tensors.m.shape)
  end)

  it("reads a committed fixture written by PyTorch", function()
    local f = assert(safetensors.load("spec/fixtures/nn_linear.safetensors"))
    local case = cjson.decode(f.metadata.case)
    assert.are.equal("Linear", case.module)
    assert.are.same({ 3, 5 }, f.tensors["param.weight"].shape)
    assert.are.same({ 4, 3 }, f.tensors["output.y"].shape)
    local want = graphids.addmm(f.tensors["param.bias"], f.tensors["input.x"],
      f.tensors["param.weight"]:t())
    assert.is_true(graphids.allclose(want, f.tensors["output.y"], { rtol = 1e-5, atol = 1e-6 }))
  end)

  it("returns nil, message, EIO for a file that cannot be opened", function()
    local r, msg, code = safetensors.load("spec/fixtures/no_such.safetensors")
    assert.is_nil(r)
    assert.are.equal("EIO", code)
    assert.matches("^EIO: cannot open 'spec/fixtures/no_such.safetensors': No such file", msg)
  end)

  it("rejects malformed files with a message naming the problem", function()
    fails("t.safetensors: 3 bytes, too short", "abc")
    fails("header length 100 does not fit a file of 12 bytes", string.pack("<I8", 100) .. "{}  ")
    fails("header is not a JSON object", file("{nope"))
    fails("header is not a JSON object", file("[1]"))
    fails("tensor 'a' has dtype F16", file({ a = { dtype = "F16", shape = { 1 },
      data_offsets = { 0, 2 } } }, "xx"))
    fails("tensor 'a' has a bad size %-1", file({ a = { dtype = "U8", shape = { -1 },
      data_offsets = { 0, 1 } } }, "x"))
    fails("tensor 'a' has bad data_offsets", file({ a = { dtype = "U8", shape = { 1 },
      data_offsets = { 1, 0 } } }, "x"))
    fails("tensor 'a' data_offsets %[0, 8%] exceed the data %(4 bytes%)", file({ a = {
      dtype = "F32", shape = { 2 }, data_offsets = { 0, 8 } } }, "abcd"))
    fails("tensor 'a' has 4 bytes, but F32 of shape %[2%] needs 8", file({ a = {
      dtype = "F32", shape = { 2 }, data_offsets = { 0, 4 } } }, "abcd"))
    fails("tensors 'a' and 'b' overlap", file({
      a = { dtype = "U8", shape = { 2 }, data_offsets = { 0, 2 } },
      b = { dtype = "U8", shape = { 2 }, data_offsets = { 1, 3 } } }, "abc"))
    fails("__metadata__.k is not a string", file({ __metadata__ = { k = 1 } }))
  end)
end)
