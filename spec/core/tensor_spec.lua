-- tensor_spec.lua -- the Tensor handle: creation, views (with their strides), export to Lua,
-- printing, dtype conversion, release, and the error messages of bad calls.
local graphids = require "graphids"
local errors = require("helpers").errors

describe("graphids.tensor", function()
  it("infers i64 from integers, f32 from any float and bool from booleans", function()
    local a = graphids.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.equal("i64", a.dtype)
    assert.are.same({ 2, 3 }, a.shape)
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, a:totable())
    assert.are.equal(math.type(a:totable()[1][1]), "integer")
    local f = graphids.tensor({ 1, 2.5, true })
    assert.are.equal("f32", f.dtype)
    assert.are.same({ 1.0, 2.5, 1.0 }, f:totable())
    local b = graphids.tensor({ true, false })
    assert.are.equal("bool", b.dtype)
    assert.are.same({ true, false }, b:totable())
  end)

  it("makes 0-d tensors from numbers and empty ones from empty tables", function()
    local s = graphids.tensor(3.25)
    assert.are.equal(0, s:dim())
    assert.are.same({}, s.shape)
    assert.are.equal(3.25, s:item())
    assert.are.equal(7, graphids.tensor(7):item())
    assert.are.equal(true, graphids.tensor(true):item())
    local e = graphids.tensor({})
    assert.are.same({ 0 }, e.shape)
    assert.are.equal("f32", e.dtype)
    assert.are.same({ 2, 0 }, graphids.tensor({ {}, {} }).shape)
  end)

  it("honours an explicit dtype and keeps i64 values exact", function()
    local big = (1 << 62) + 1 -- not representable as a double
    local t = graphids.tensor({ big, -big }, { dtype = "i64" })
    assert.are.same({ big, -big }, t:totable())
    local d = graphids.tensor({ 1, 2 }, { dtype = "f64" })
    assert.are.equal("f64", d.dtype)
    assert.are.same({ 1, 2 }, graphids.tensor({ 1.9, 2.1 }, { dtype = "i32" }):totable())
    assert.are.same({ 255, 0 }, graphids.tensor({ 255, 0 }, { dtype = "u8" }):totable())
  end)

  it("copies a tensor, converting the dtype when asked", function()
    local a = graphids.tensor({ 1, 2 })
    local b = graphids.tensor(a, { dtype = "f64" })
    assert.are.equal("f64", b.dtype)
    b:fill_(9)
    assert.are.same({ 1, 2 }, a:totable())
  end)

  it("names the position of ragged nesting and of bad elements", function()
    errors("tensor: ragged nesting at %[2%]: expected 2 elements, got 1", graphids.tensor,
      { { 1, 2 }, { 3 } })
    errors("tensor: ragged nesting at %[2%]: expected a table of 2 elements, got a number",
      graphids.tensor, { { 1, 2 }, 3 })
    errors("tensor: ragged nesting at %[1%]%[2%]: expected a number, got a table",
      graphids.tensor, { { 1, { 2 } }, { 3, 4 } })
    errors("tensor: element at %[2%]%[1%] is a string", graphids.tensor, { { 1 }, { "x" } })
    errors("tensor: value 300 at %[2%] does not fit in u8", graphids.tensor, { 1, 300 },
      { dtype = "u8" })
    errors("tensor: value .* does not fit in i64", graphids.tensor, { 1e300 }, { dtype = "i64" })
    errors("table, number or boolean expected", graphids.tensor, "abc")
    -- keys other than 1..N would be dropped: named instead
    errors("tensor: the table at the top level has the key 3: a list of 1 elements takes the keys 1..1",
      graphids.tensor, { [1] = 1, [3] = 3 })
    errors("tensor: the table at the top level has the key x: a tensor is made from lists",
      graphids.tensor, { x = 1 })
    errors("tensor: the table at %[2%] has the key x", graphids.tensor, { { 1, 2 }, { 3, 4, x = 5 } })
  end)
end)

describe("t._version", function()
  it("counts the in-place writes to a tensor's memory, through any view, as torch's", function()
    local t = graphids.zeros(4)
    local v0 = t._version
    assert.are.equal("number", math.type(v0) and "number")
    local view = t:narrow(1, 2, 2)
    t:add_(1)
    assert.is_true(t._version > v0)
    local v1 = t._version
    view:fill_(3)
    assert.is_true(t._version > v1 and view._version == t._version)
    local _ = t + 1 -- out of place: no write
    assert.are.equal(view._version, t._version)
    assert.has_error(function() t._version = 0 end)
  end)
end)

describe("creation functions", function()
  it("zeros/ones/empty take varargs or a table shape and a dtype option", function()
    local z = graphids.zeros(2, 3)
    assert.are.same({ 2, 3 }, z.shape)
    assert.are.equal("f32", z.dtype)
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, z:totable())
    local o = graphids.ones({ 2, 2 }, { dtype = "i32" })
    assert.are.equal("i32", o.dtype)
    assert.are.same({ { 1, 1 }, { 1, 1 } }, o:totable())
    assert.are.same({ 4 }, graphids.empty(4, { dtype = "f64" }).shape)
    assert.are.same({}, graphids.zeros().shape)
    assert.are.equal(0, graphids.zeros({}):item())
  end)

  it("full infers the dtype from the value, as torch.full", function()
    local a = graphids.full({ 2, 2 }, 7)
    assert.are.equal("i64", a.dtype)
    assert.are.same({ { 7, 7 }, { 7, 7 } }, a:totable())
    assert.are.equal("f32", graphids.full({ 2 }, 1.5).dtype)
    assert.are.equal("bool", graphids.full({ 1 }, true).dtype)
    assert.are.same({ 2.5 }, graphids.full({ 1 }, 2.5, { dtype = "f64" }):totable())
    errors("full: shape %(argument #1%) must be a table", graphids.full, 2, 3)
  end)

  it("arange follows torch: integers give i64, any float gives f32", function()
    assert.are.same({ 0, 1, 2, 3, 4 }, graphids.arange(5):totable())
    assert.are.equal("i64", graphids.arange(5).dtype)
    assert.are.same({ 2, 3, 4 }, graphids.arange(2, 5):totable())
    assert.are.same({ 5, 3, 1 }, graphids.arange(5, 0, -2):totable())
    local f = graphids.arange(0, 1, 0.25)
    assert.are.equal("f32", f.dtype)
    assert.are.same({ 0, 0.25, 0.5, 0.75 }, f:totable())
    assert.are.equal("f64", graphids.arange(3, { dtype = "f64" }).dtype)
  end)

  it("arange with an integer dtype and a float argument truncates the float values", function()
    -- torch casts the step first ({0, 1, 2, 3}; {0, 0, 0, 0, 0, 0}); graphids keeps its own rule,
    -- documented in docs/lua-api.md (arange)
    local i64, u8 = { dtype = "i64" }, { dtype = "u8" }
    assert.are.same({ 0, 1, 3, 4 }, graphids.arange(0, 5, 1.5, i64):totable())
    assert.are.same({ 0, 0, 1, 1, 2, 2 }, graphids.arange(0, 3, 0.5, u8):totable())
    assert.are.same({ -3, -2, -1, 0, 0 }, graphids.arange(-3, 0, 0.7, i64):totable())
    assert.are.same({ 250, 251, 252, 253, 254, 255, 255, 255, 255, 255 },
      graphids.arange(250, 260, 1.0, u8):totable())
    assert.are.same({ 250, 251, 252, 253, 254, 255, 0, 1, 2, 3 }, graphids.arange(250, 260, 1, u8):totable())
  end)

  it("linspace and eye", function()
    assert.are.same({ 0, 0.25, 0.5, 0.75, 1 }, graphids.linspace(0, 1, 5):totable())
    assert.are.same({ { 1, 0, 0 }, { 0, 1, 0 } }, graphids.eye(2, 3):totable())
    local e = graphids.eye(2, { dtype = "i64" })
    assert.are.equal("i64", e.dtype)
    assert.are.same({ { 1, 0 }, { 0, 1 } }, e:totable())
  end)

  it("the _like forms copy shape and dtype unless told otherwise", function()
    local a = graphids.ones(2, 3, { dtype = "f64" })
    local z = graphids.zeros_like(a)
    assert.are.same({ 2, 3 }, z.shape)
    assert.are.equal("f64", z.dtype)
    assert.are.equal("i32", graphids.ones_like(a, { dtype = "i32" }).dtype)
    assert.are.same({ { 4, 4, 4 }, { 4, 4, 4 } }, graphids.full_like(a, 4):totable())
    assert.are.same({ 2, 3 }, graphids.empty_like(a).shape)
  end)

  it("frombytes and tobytes round-trip the raw bytes", function()
    local a = graphids.tensor({ { 1.5, -2 }, { 3, 4 } }, { dtype = "f64" })
    local bytes = a:t():tobytes()
    assert.are.equal(32, #bytes)
    local b = graphids.frombytes(bytes, "f64", { 2, 2 })
    assert.are.same({ { 1.5, 3 }, { -2, 4 } }, b:totable())
    assert.are.equal(string.pack("<i4<i4", 7, -1), graphids.tensor({ 7, -1 }, { dtype = "i32" }):tobytes())
    assert.are.same({ 4 }, graphids.frombytes(bytes, "f64").shape)
    errors("frombytes: 32 bytes do not make a f64 tensor of shape %[3%] %(expected 24 bytes%)",
      graphids.frombytes, bytes, "f64", { 3 })
    errors("frombytes: 3 bytes are not a whole number of i32 elements", graphids.frombytes, "abc", "i32")
    -- a bool byte other than 0 and 1 printed true, compared unequal to true and summed as 2
    assert.are.same({ false, true, true }, graphids.frombytes("\0\1\1", "bool"):totable())
    errors("frombytes: bool element 2 holds byte 2; bool bytes must be 0 or 1", graphids.frombytes,
      "\0\1\2", "bool")
  end)

  it("is_tensor tells tensors from other values", function()
    assert.is_true(graphids.is_tensor(graphids.zeros(1)))
    assert.is_false(graphids.is_tensor({}))
    assert.is_false(graphids.is_tensor(3))
  end)

  it("rejects unknown options with a suggestion, bad dtypes, bad shapes and cuda", function()
    errors("zeros: unknown option 'dtyp' %(did you mean 'dtype'%?%)", graphids.zeros, 2, { dtyp = "f32" })
    -- a swap of two neighbouring letters is one edit, as in the stdlib and the command line:
    -- two swaps are within the 2 edits a 6-letter key may be off, one swap within a 3-letter's 1
    errors("zeros: unknown option 'dveiec' %(did you mean 'device'%?%)", graphids.zeros, 2,
      { dveiec = "cpu" })
    errors("unique: unknown option 'dmi' %(did you mean 'dim'%?%)", graphids.unique, graphids.zeros(2),
      { dmi = 1 })
    errors("ones: unknown option 'colour' %(allowed: dtype, device, requires_grad%)", graphids.ones, 2,
      { colour = 1 })
    errors("zeros: option 'dtype': unknown dtype 'f33'", graphids.zeros, 2, { dtype = "f33" })
    errors("zeros: option 'dtype' must be a string, got 3", graphids.zeros, 2, { dtype = 3 })
    errors("zeros: size at position 2 must be an integer, got 2.5", graphids.zeros, 2, 2.5)
    errors("zeros: unexpected argument #3", graphids.zeros, 2, {}, 5)
    errors("zeros: shape has 9 dims, at most 8", graphids.zeros, { 1, 1, 1, 1, 1, 1, 1, 1, 1 })
    errors("zeros: size %-1 at position 2 must be >= 0", graphids.zeros, 2, -1)
    if not graphids.gpu.is_available() then -- with a GPU, spec/gpu/gpu_check.lua covers this
      errors("zeros: device 'cuda' is not available: " .. graphids.gpu.status():gsub("%p", "%%%0"),
        graphids.zeros, 2, { device = "cuda" })
      -- the same check on its own, prefixed with what names the device (a configuration key)
      errors("^trainer.device: device 'cuda:1' is not available: ", graphids.gpu.check_device, "cuda:1",
        "trainer.device")
    end
    assert.are.equal("cpu", graphids.gpu.check_device("cpu"))
    errors("^device: unknown device 'gpu'", graphids.gpu.check_device, "gpu")
    errors("zeros: unknown device 'gpu'", graphids.zeros, 2, { device = "gpu" })
  end)
end)

describe("tensor properties and queries", function()
  local a = graphids.arange(24):view(2, 3, 4)

  it("exposes shape, dtype, ndim and device", function()
    assert.are.same({ 2, 3, 4 }, a.shape)
    assert.are.equal("i64", a.dtype)
    assert.are.equal(3, a.ndim)
    assert.are.equal("cpu", a.device)
    assert.is_nil(a.no_such_field)
  end)

  it("size, stride, numel, dim, # and is_contiguous", function()
    assert.are.same({ 2, 3, 4 }, a:size())
    assert.are.equal(4, a:size(-1))
    assert.are.same({ 12, 4, 1 }, a:stride())
    assert.are.equal(12, a:stride(1))
    assert.are.equal(24, a:numel())
    assert.are.equal(3, a:dim())
    assert.are.equal(2, #a)
    assert.is_true(a:is_contiguous())
    assert.is_false(a:transpose(1, 3):is_contiguous())
    errors("len: a 0%-d tensor has no length", function()
      return #graphids.tensor(1)
    end)
    errors("size: dim 4 out of range for a tensor of 3 dims %(valid: 1..3 or %-3..%-1%)", a.size, a, 4)
  end)

  it("item needs exactly one element", function()
    assert.are.equal(5, graphids.tensor({ { 5 } }):item())
    errors("item: a tensor with 24 elements cannot be converted to a number", a.item, a)
  end)

  it("refuses t[i] and points to select and narrow", function()
    errors("Tensor cannot be indexed with a number %(t%[1%]%); use t:select%(1, i%)", function()
      return a[1]
    end)
    errors("t:narrow%(dim, start, length%)", function()
      return a[-2.5]
    end)
    -- a table key (Torch7's t[{1, 2}], PyTorch's x[1, 2]) or a boolean is an error, not nil
    errors("Tensor cannot be indexed with a table key; use t:select%(dim, i%)", function()
      return a[{ 1, 2 }]
    end)
    errors("Tensor cannot be indexed with a boolean key", function() return a[true] end)
    -- unknown names still read as nil, so code can probe for a method
    assert.is_nil(a.no_such_method)
    assert.is_function(a.sum)
  end)

  it("refuses to set fields, naming what to use instead", function()
    local t = graphids.zeros(2)
    local function set(k, v)
      return function()
        t[k] = v
      end
    end
    local hint = "Tensor fields are read%-only %(shape, dtype, ndim, device%); use t:fill_, t:copy_ "
      .. "or t:select%(...%)"
    errors("cannot set 'shape': " .. hint, set("shape", { 4 }))
    errors("cannot set 'dtype': " .. hint, set("dtype", "f64"))
    errors("cannot set 'grad_fn': " .. hint, set("grad_fn", "x")) -- grad itself can be set
    errors("cannot set 'is_leaf': " .. hint, set("is_leaf", false))
    errors("cannot set %[1%]: " .. hint, set(1, 5))
    assert.are.same({ 2 }, t.shape)
    assert.are.same({ 0, 0 }, t:totable())
  end)
end)

describe("views", function()
  it("view and reshape infer -1 and share storage", function()
    local a = graphids.arange(6)
    local v = a:view(2, -1)
    assert.are.same({ 2, 3 }, v.shape)
    assert.are.same({ 3, 1 }, v:stride())
    v:fill_(1)
    assert.are.same({ 1, 1, 1, 1, 1, 1 }, a:totable())
    assert.are.same({ 3, 2 }, a:reshape({ 3, 2 }).shape)
    errors("view: .*%[4%]", a.view, a, 4)
  end)

  it("view of a non-contiguous tensor fails where reshape copies", function()
    local t = graphids.arange(6):view(2, 3):t()
    errors("view", t.view, t, 6)
    local r = t:reshape(6)
    assert.are.same({ 0, 3, 1, 4, 2, 5 }, r:totable())
  end)

  it("view and reshape never merge dims across a size-1 dim whose stride only looks contiguous", function()
    -- [2,1,5] with strides {1,1,4}: dims 1 and 2 look contiguous pairwise, but the chunk
    -- [1,5] spans 5 * 4 elements, not 1 (torch's computeStride)
    local x = graphids.arange(40):view(10, 4, 1):narrow(1, 1, 5):narrow(2, 1, 2):permute(2, 3, 1)
    assert.are.same({ 0, 4, 8, 12, 16, 1, 5, 9, 13, 17 }, x:flatten():totable())
    assert.are.same({ { 0, 4, 8, 12, 16 }, { 1, 5, 9, 13, 17 } }, x:reshape(2, 5):totable())
    errors("view: shape %[10%] is not compatible", x.view, x, 10)
    assert.are.same({ 0, 4, 1, 5, 2, 6, 3, 7 },
      graphids.arange(8):view(2, 4, 1):permute(2, 3, 1):flatten():totable())
    -- and do merge a contiguous tensor whatever the strides of its size-1 dims
    local d = graphids.arange(12):view(3, 4, 1):permute(1, 3, 2) -- strides {4, 1, 1}
    assert.is_true(d:is_contiguous())
    assert.are.same(graphids.arange(12):totable(), d:view(12):totable())
  end)

  it("reshape of random strided layouts reads what a contiguous copy holds", function()
    local g = graphids.Generator(7)
    local function pick(n) return graphids.randint(n, { 1 }, { generator = g }):item() + 1 end
    for _ = 1, 300 do
      local nd = pick(4)
      local dims = {}
      for i = 1, nd do dims[i] = pick(3) end
      local t = graphids.arange(graphids.tensor(dims):prod():item() * 2):view(2, table.unpack(dims))
      t = t:narrow(1, pick(2), 1):squeeze(1)
      if pick(2) == 1 then t = t:unsqueeze(pick(t.ndim + 1)) end
      local perm = graphids.randperm(t.ndim, { generator = g }):totable()
      for i = 1, #perm do perm[i] = perm[i] + 1 end
      t = t:permute(table.unpack(perm))
      local want = t:contiguous():flatten():totable()
      assert.are.same(want, t:reshape(-1):totable())
      local ok, v = pcall(t.view, t, -1)
      if ok then assert.are.same(want, v:totable()) end
    end
  end)

  it("transpose, t and permute swap strides without copying", function()
    local a = graphids.arange(6):view(2, 3)
    local t = a:t()
    assert.are.same({ 3, 2 }, t.shape)
    assert.are.same({ 1, 3 }, t:stride())
    assert.are.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, t:totable())
    local b = graphids.arange(24):view(2, 3, 4)
    local p = b:permute(3, 1, 2)
    assert.are.same({ 4, 2, 3 }, p.shape)
    assert.are.same({ 1, 12, 4 }, p:stride())
    assert.are.equal(b:totable()[2][3][4], p:totable()[4][2][3])
    assert.are.same({ 4, 2, 3 }, b:permute({ -1, 1, 2 }).shape)
    assert.are.same({ 12, 1, 4 }, b:transpose(2, 3):stride())
    errors("permute: dim 1 appears twice", b.permute, b, 1, 1, 2)
    errors("permute: expected 3 dims for a tensor of 3 dims, got 2", b.permute, b, 1, 2)
    errors("t: expects a tensor with at most 2 dims, got 3", b.t, b)
  end)

  it("narrow takes a 1-based start (negative from the end)", function()
    local a = graphids.arange(12):view(3, 4)
    local n = a:narrow(2, 2, 2)
    assert.are.same({ { 1, 2 }, { 5, 6 }, { 9, 10 } }, n:totable())
    assert.are.same({ 4, 1 }, n:stride())
    assert.are.same({ { 8, 9, 10, 11 } }, a:narrow(1, -1, 1):totable())
    assert.are.same({ 3, 0 }, a:narrow(2, 5, 0).shape)
    errors("narrow: start 0 out of range for a dim of size 4", a.narrow, a, 2, 0, 1)
    errors("narrow: length 2 from start 4 does not fit dim 2 of size 4 %(at most 1%)", a.narrow, a, 2, 4, 2)
  end)

  it("select takes a 1-based index and removes the dim", function()
    local a = graphids.arange(12):view(3, 4)
    assert.are.same({ 4, 5, 6, 7 }, a:select(1, 2):totable())
    assert.are.same({ 3, 7, 11 }, a:select(2, -1):totable())
    assert.are.same({ 4 }, a:select(2, 1):stride())
    errors("select: index 4 out of range for a dim of size 3 %(valid: 1..3 or %-3..%-1%)", a.select, a, 1, 4)
    errors("select: dim 3 out of range", a.select, a, 3, 1)
  end)

  it("expand and expand_as broadcast with stride 0", function()
    local a = graphids.tensor({ { 1 }, { 2 } })
    local e = a:expand(2, 3)
    assert.are.same({ { 1, 1, 1 }, { 2, 2, 2 } }, e:totable())
    assert.are.same({ 1, 0 }, e:stride())
    assert.are.same({ 2, 2, 3 }, a:expand({ 2, -1, 3 }).shape)
    assert.are.same({ 2, 3 }, a:expand_as(graphids.zeros(2, 3)).shape)
    errors("expand", a.expand, a, 3, 3)
  end)

  it("squeeze, unsqueeze and flatten", function()
    local a = graphids.zeros(1, 3, 1)
    assert.are.same({ 3 }, a:squeeze().shape)
    assert.are.same({ 3, 1 }, a:squeeze(1).shape)
    assert.are.same({ 1, 3 }, a:squeeze(-1).shape)
    local b = graphids.arange(6):view(2, 3)
    assert.are.same({ 1, 2, 3 }, b:unsqueeze(1).shape)
    assert.are.same({ 2, 3, 1 }, b:unsqueeze(-1).shape)
    assert.are.same({ 2, 3, 1 }, b:unsqueeze(3).shape)
    errors("unsqueeze: dim 4 out of range for a tensor of 2 dims %(valid: 1..3 or %-3..%-1%)",
      b.unsqueeze, b, 4)
    local c = graphids.zeros(2, 3, 4)
    assert.are.same({ 24 }, c:flatten().shape)
    assert.are.same({ 2, 12 }, c:flatten(2).shape)
    assert.are.same({ 6, 4 }, c:flatten(1, 2).shape)
    assert.are.same({ 1 }, graphids.tensor(2.5):flatten().shape)
  end)

  it("module-level forms mirror the methods", function()
    local a = graphids.arange(6)
    assert.are.same({ 2, 3 }, graphids.reshape(a, 2, 3).shape)
    assert.are.same({ 3, 2 }, graphids.transpose(a:view(2, 3), 1, 2).shape)
    assert.are.equal(6, graphids.numel(a))
  end)
end)

describe("copies and conversions", function()
  it("clone and contiguous make independent dense copies", function()
    local a = graphids.arange(6):view(2, 3)
    local c = a:clone()
    c:fill_(0)
    assert.are.same({ 0, 1, 2 }, a:totable()[1])
    assert.are.equal(a, a:contiguous()) -- already contiguous: the same object
    local t = a:t():contiguous()
    assert.is_true(t:is_contiguous())
    assert.are.same({ 2, 1 }, t:stride())
    assert.are.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, t:totable())
  end)

  it("fill_, zero_ and copy_ work in place, on strided views too, and return self", function()
    local a = graphids.zeros(2, 3)
    assert.are.equal(a, a:fill_(2.5))
    assert.are.same({ 2.5, 2.5, 2.5 }, a:totable()[1])
    a:t():select(1, 2):fill_(7) -- column 2 through a transposed view
    assert.are.same({ { 2.5, 7, 2.5 }, { 2.5, 7, 2.5 } }, a:totable())
    a:zero_()
    assert.are.same({ 0, 0, 0 }, a:totable()[2])
    a:copy_(graphids.tensor({ 1, 2, 3 })) -- broadcast and i64 -> f32
    assert.are.same({ { 1, 2, 3 }, { 1, 2, 3 } }, a:totable())
    errors("copy_", a.copy_, a, graphids.zeros(4))
  end)

  it("to, float, double, long, int, byte, bool and type convert dtypes", function()
    local a = graphids.tensor({ -1.5, 0, 2.7 })
    assert.are.same({ -1, 0, 2 }, a:long():totable())
    assert.are.equal("i64", a:long().dtype)
    assert.are.equal("f64", a:double().dtype)
    assert.are.equal("i32", a:int().dtype)
    assert.are.same({ true, false, true }, a:bool():totable())
    assert.are.equal("u8", graphids.tensor({ 1, 2 }):byte().dtype)
    assert.are.equal(a, a:float()) -- no conversion needed: self
    assert.are.equal("f64", a:to("f64").dtype)
    assert.are.equal("f64", a:to("float64").dtype)
    assert.are.equal("i64", a:to({ dtype = "i64" }).dtype)
    assert.are.equal(a, a:to("cpu"))
    assert.are.equal("graphids.FloatTensor", a:type())
    assert.are.equal("f64", a:type("graphids.DoubleTensor").dtype)
    assert.are.equal("i64", a:type("i64").dtype)
    if not graphids.gpu.is_available() then
      errors("to: device 'cuda' is not available: " .. graphids.gpu.status():gsub("%p", "%%%0"),
        a.to, a, "cuda")
      errors("to: device 'cuda:1' is not available", a.to, a, { device = "cuda:1" })
      errors("cuda: device 'cuda:0' is not available", a.cuda, a)
    end
    assert.are.equal(a, a:cpu()) -- already there: the same tensor
    errors("to: 'banana' is neither a dtype", a.to, a, "banana")
  end)

  it("totable and item return integers for integer dtypes and floats for float dtypes", function()
    assert.are.equal("integer", math.type(graphids.tensor({ 3 }, { dtype = "u8" }):item()))
    assert.are.equal("float", math.type(graphids.tensor({ 3 }, { dtype = "f64" }):item()))
    assert.are.equal(5, graphids.tensor(5):totable())
  end)
end)

describe("tostring", function()
  it("prints aligned rows and a summary line", function()
    local s = tostring(graphids.tensor({ { 1, -20 }, { 300, 4 } }))
    assert.are.equal("[[  1, -20],\n [300,   4]]\n[graphids.Tensor i64 2x2]", s)
  end)

  it("uses one float format for every element", function()
    assert.are.equal("[1.5000, 2.0000]\n[graphids.Tensor f32 2]", tostring(graphids.tensor({ 1.5, 2 })))
    assert.are.equal("[1., 2.]\n[graphids.Tensor f64 2]", tostring(graphids.tensor({ 1, 2 },
      { dtype = "f64" })))
    assert.are.equal("[1.0000e-05, 1.0000e+03]\n[graphids.Tensor f32 2]",
      tostring(graphids.tensor({ 1e-5, 1000 })))
    assert.matches("nan.*inf.*%-inf", tostring(graphids.tensor({ 0 / 0, 1 / 0, -1 / 0, 1.5 })))
    assert.are.equal("[ true, false]\n[graphids.Tensor bool 2]", tostring(graphids.tensor({ true, false })))
  end)

  it("prints 0-d, empty and 3-d tensors", function()
    assert.are.equal("2.5000\n[graphids.Tensor f32 0-d]", tostring(graphids.tensor(2.5)))
    assert.are.equal("[]\n[graphids.Tensor f32 2x0]", tostring(graphids.zeros(2, 0)))
    assert.are.equal("[[[0, 1]],\n\n [[2, 3]]]\n[graphids.Tensor i64 2x1x2]",
      tostring(graphids.arange(4):view(2, 1, 2)))
  end)

  it("prints strided views by their logical order", function()
    assert.are.equal("[[0, 2],\n [1, 3]]\n[graphids.Tensor i64 2x2]", tostring(graphids.arange(4):view(2,
      2):t()))
  end)

  it("summarises big tensors with ... and wraps long rows", function()
    assert.are.equal("[   0,    1,    2,  ..., 9997, 9998, 9999]\n[graphids.Tensor i64 10000]",
      tostring(graphids.arange(10000)))
    local s = tostring(graphids.arange(2000):view(100, 20))
    assert.matches("^%[%[   0,    1,    2,  ...,   17,   18,   19%],\n %[  20,", s)
    assert.matches("\n ...,\n %[1940,", s)
    local wrapped = tostring(graphids.arange(40))
    for line in wrapped:gmatch("[^\n]+") do
      assert.is_true(#line <= 80)
    end
    assert.are.equal(3, select(2, wrapped:gsub("\n", "\n")))
  end)

  it("prints the values as PyTorch's repr does", function()
    -- Each string is torch 2.15's torch._tensor_str._tensor_str(t, 7) of the same values, its
    -- continuation lines less the 7 columns of "tensor(": the format (scientific past a 1000x
    -- span, 1e8 or under 1e-4, whole numbers or not), the width (zeros, NaN and infinities left
    -- out of it), " ..." for what is left out, and the elements per line.
    local function shown(t)
      return (tostring(t):gsub("\n%[graphids%.Tensor[^\n]*%]$", ""))
    end
    local f = function(v) return graphids.tensor(v, { dtype = "f32" }) end
    local inf, nan = math.huge, 0 / 0
    for _, c in ipairs({
      { graphids.arange(2000):float(),
        "[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n 1.9990e+03]" },
      { f({ 1, 1001 }), "[1.0000e+00, 1.0010e+03]" },
      { f({ 1, 1000 }), "[   1., 1000.]" },
      { f({ 1e8, 1 }), "[1.0000e+08, 1.0000e+00]" },
      { f({ 123456789 }), "[1.2346e+08]" },
      { f({ 1e-3, 1e3 }), "[1.0000e-03, 1.0000e+03]" },
      { f({ -1e-7, 3, 0 }), "[-1.0000e-07,  3.0000e+00,  0.0000e+00]" },
      { f({ -0.0, 1.0 }), "[-0., 1.]" },
      { f({ 0.0, -0.0 }), "[0., -0.]" },
      { f({ -0.0, 1.5 }), "[-0.0000, 1.5000]" },
      { f({ inf, 1.0 }), "[inf, 1.]" },
      { f({ -inf, nan, 2.0 }), "[-inf, nan, 2.]" },
      { f({ 18317.041015625, -5535.478515625, 10394.796875, -12600.93359375, 4155.6015625,
        -13031.125 }),
        "[ 18317.0410,  -5535.4785,  10394.7969, -12600.9336,   4155.6016,\n -13031.1250]" },
      { graphids.arange(40):float(),
        "[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
        .. " 14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
        .. " 28., 29., 30., 31., 32., 33., 34., 35., 36., 37., 38., 39.]" },
    }) do
      assert.are.equal(c[2], shown(c[1]))
    end
    local s = shown((graphids.arange(2000):float() * 0.5):view(100, 20))
    assert.are.equal(
      "[[0.0000e+00, 5.0000e-01, 1.0000e+00,  ..., 8.5000e+00, 9.0000e+00,\n  9.5000e+00],\n"
      .. " [1.0000e+01, 1.0500e+01, 1.1000e+01,  ..., 1.8500e+01, 1.9000e+01,\n  1.9500e+01],",
      s:match("^[^\n]*\n[^\n]*\n[^\n]*\n[^\n]*"))
    assert.are.equal(
      " ...,\n [9.7000e+02, 9.7050e+02, 9.7100e+02,  ..., 9.7850e+02, 9.7900e+02,\n  9.7950e+02],",
      s:match(" %.%.%.,\n [^\n]*\n[^\n]*"))
    local old = graphids.printoptions()
    graphids.printoptions({ threshold = 5, edgeitems = 2 })
    assert.are.equal("[0.0000, 0.1000,  ..., 0.8000, 0.9000]", shown(graphids.arange(10):float() * 0.1))
    graphids.printoptions(old)
  end)

  it("honours printoptions", function()
    local old = graphids.printoptions()
    graphids.printoptions({ precision = 2 })
    assert.are.equal("[1.50]\n[graphids.Tensor f32 1]", tostring(graphids.tensor({ 1.5 })))
    graphids.printoptions({ threshold = 5, edgeitems = 1 })
    assert.are.equal("[0,  ..., 9]\n[graphids.Tensor i64 10]", tostring(graphids.arange(10)))
    graphids.printoptions(old)
    assert.are.same(old, graphids.printoptions())
    errors("printoptions: unknown option 'precison' %(did you mean 'precision'%?%)",
      graphids.printoptions, { precison = 3 })
    errors("printoptions: option 'precision' must be in %[0, 30%], got 99", graphids.printoptions,
      { precision = 99 })
  end)
end)

describe("release", function()
  it("free releases at once, twice is harmless, and later use is an error", function()
    local before = graphids.memory().live_tensors
    local t = graphids.ones(3)
    assert.are.equal(before + 1, graphids.memory().live_tensors)
    t:free()
    t:free()
    assert.are.equal(before, graphids.memory().live_tensors)
    errors("calling 'numel' on bad self %(attempt to use a freed tensor%)", function()
      return t:numel()
    end)
    errors("attempt to use a freed tensor %(reading 'shape'%)", function()
      return t.shape
    end)
    errors("bad argument #1 to 'copy_' %(attempt to use a freed tensor%)", function()
      graphids.zeros(3):copy_(t)
    end)
    assert.are.equal("[graphids.Tensor (freed)]", tostring(t))
  end)

  it("a <close> variable releases at the end of its scope", function()
    local before = graphids.memory().live_tensors
    do
      local t <close> = graphids.zeros(1000)
      assert.are.equal(1000, t:numel())
      assert.are.equal(before + 1, graphids.memory().live_tensors)
    end
    assert.are.equal(before, graphids.memory().live_tensors)
  end)

  it("views keep the storage alive after the base is freed", function()
    local a = graphids.arange(4)
    local v = a:view(2, 2)
    a:free()
    assert.are.same({ { 0, 1 }, { 2, 3 } }, v:totable())
  end)
end)

describe("dims", function()
  it("are 1-based, negative from the end, and checked", function()
    local a = graphids.zeros(2, 3)
    assert.are.equal(2, a:size(1))
    assert.are.equal(3, a:size(-1))
    errors("transpose: dim 0 out of range for a tensor of 2 dims %(valid: 1..2 or %-2..%-1%)",
      a.transpose, a, 0, 1)
    errors("transpose: dim %-3 out of range", a.transpose, a, 1, -3)
    errors("transpose: dim %(argument #2%) must be an integer, got 1.5", a.transpose, a, 1.5, 1)
    errors("transpose: dim %(argument #3%) must be an integer, got 'x' %(a string%)", a.transpose, a, 1, "x")
  end)

  -- The runtime counts dims from 0; every message a Lua caller can get counts them from 1.
  it("are named 1-based in every message", function()
    local c = graphids.zeros(2, 3, 4)
    errors("flatten: start dim 2 comes after end dim 1", c.flatten, c, 2, 1)
    errors("flatten: start dim 3 comes after end dim 1", c.flatten, c, -1, 1)
    errors("flatten: dim 4 out of range for a tensor of 3 dims", c.flatten, c, 4)
    errors("transpose: dim 4 out of range for a tensor of 3 dims", c.transpose, c, 1, 4)
    errors("permute: dim 2 appears twice", c.permute, c, 2, -2, 1)
    errors("permute: dim 4 out of range for a tensor of 3 dims", c.permute, c, { 1, 2, 4 })
    errors("narrow: length 3 from start 3 does not fit dim 2 of size 3", c.narrow, c, 2, 3, 3)
    errors("narrow: start 6 out of range for a dim of size 4", c.narrow, c, 3, 6, 0)
    errors("select: index 3 out of range for a dim of size 2", c.select, c, 1, 3)
    errors("select: dim 0 out of range", c.select, c, 0, 1)
    errors("squeeze: dim 4 out of range for a tensor of 3 dims", c.squeeze, c, 4)
    errors("unsqueeze: dim 5 out of range for a tensor of 3 dims %(valid: 1..4", c.unsqueeze, c, 5)
    errors("size: dim 0 out of range", c.size, c, 0)
    errors("stride: dim %-4 out of range", c.stride, c, -4)
  end)
end)
