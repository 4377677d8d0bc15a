-- index_spec.lua -- index_select, gather, scatter, scatter_add, index_add, masked_fill,
-- masked_select and nonzero: 1-based dims, 0-based index data, values checked by hand.
local graphids = require "graphids"
local helpers = require "helpers"
local errors, long, F32 = helpers.errors, helpers.long, helpers.F32

-- [[0,1,2,3],[4,5,6,7],[8,9,10,11]] as f32
local function grid()
  return graphids.arange(12, { dtype = "f32" }):view(3, 4)
end

describe("graphids.index_select", function()
  it("picks rows and columns with 0-based indices", function()
    local a = grid()
    assert.same({ { 8, 9, 10, 11 }, { 0, 1, 2, 3 }, { 8, 9, 10, 11 } },
      a:index_select(1, long({ 2, 0, 2 })):totable())
    local idx = graphids.tensor({ 3, 1 }, { dtype = "i32" })
    assert.same({ { 3, 1 }, { 7, 5 }, { 11, 9 } }, graphids.index_select(a, 2, idx):totable())
    assert.same({ { 3, 1 }, { 7, 5 }, { 11, 9 } }, a:index_select(-1, idx):totable())
    -- a transposed input: rows of a:t() are the columns of a
    assert.same({ { 3, 7, 11 }, { 1, 5, 9 } }, a:t():index_select(1, idx):totable())
  end)

  it("rejects out-of-range indices, bad dims and float indices", function()
    local a = grid()
    errors("index_select: index 7 out of range %[0, 3%) at position 1",
      a.index_select, a, 1, long({ 0, 7 }))
    errors("index_select: index %-1 out of range %[0, 4%) at position 0",
      a.index_select, a, 2, long({ -1 }))
    errors("index_select: dim %-3 out of range for a tensor of 2 dims",
      a.index_select, a, -3, long({ 0 }))
    errors("index_select: dim 3 out of range", a.index_select, a, 3, long({ 0 }))
    errors("index_select: .*index.*f32", a.index_select, a, 1, graphids.zeros(2))
  end)
end)

describe("graphids.gather", function()
  it("follows torch.gather along either dim", function()
    local a = graphids.tensor({ { 1, 2 }, { 3, 4 } }, F32)
    assert.same({ { 1, 1 }, { 4, 3 } }, a:gather(2, long({ { 0, 0 }, { 1, 0 } })):totable())
    assert.same({ { 3, 2 } }, graphids.gather(a, 1, long({ { 1, 0 } })):totable())
    assert.same({ { 2, 3 } }, a:t():gather(1, long({ { 1, 0 } })):totable())
  end)

  it("names the position of a bad index", function()
    local a = graphids.tensor({ { 1, 2 }, { 3, 4 } })
    errors("gather: index 2 out of range %[0, 2%) at position %[1,0%]",
      a.gather, a, 2, long({ { 0, 0 }, { 2, 0 } }))
    errors("gather: index has shape %[2%], expected 2 dims", a.gather, a, 1, long({ 0, 1 }))
  end)
end)

describe("graphids.scatter", function()
  it("writes src or a number at the indexed positions", function()
    local z = graphids.zeros(3, 4)
    local idx = long({ { 0, 1, 2, 0 } })
    local src = graphids.tensor({ { 1, 2, 3, 4 } }, F32)
    local r = z:scatter(1, idx, src)
    assert.same({ { 1, 0, 0, 4 }, { 0, 2, 0, 0 }, { 0, 0, 3, 0 } }, r:totable())
    assert.same({ 0, 0, 0, 0 }, z:totable()[1]) -- out of place leaves z alone
    r = graphids.scatter(z, 1, idx, -1.5)
    assert.same({ { -1.5, 0, 0, -1.5 }, { 0, -1.5, 0, 0 }, { 0, 0, -1.5, 0 } }, r:totable())
  end)

  it("scatter_ works in place and returns self", function()
    local z = graphids.zeros(2, 3)
    local back = z:scatter_(2, long({ { 2 }, { 0 } }), 7)
    assert.are.equal(z, back)
    assert.same({ { 0, 0, 7 }, { 7, 0, 0 } }, z:totable())
    z:scatter_(2, long({ { 1 }, { 1 } }), graphids.tensor({ { 5 }, { 6 } }, F32))
    assert.same({ { 0, 5, 7 }, { 7, 6, 0 } }, z:totable())
  end)

  it("scatter_add sums duplicates in index order", function()
    local z = graphids.zeros(4)
    local idx = long({ 1, 1, 0, 1, 3 })
    local src = graphids.tensor({ 1, 2, 3, 4, 5 }, F32)
    assert.same({ 3, 7, 0, 5 }, z:scatter_add(1, idx, src):totable())
    assert.same({ 3, 4, 0, 5 }, z:scatter(1, idx, src):totable()) -- the last write wins
    z:scatter_add_(1, idx, src)
    z:scatter_add_(1, idx, src)
    assert.same({ 6, 14, 0, 10 }, z:totable())
    local counts = graphids.zeros(4, { dtype = "i64" })
    graphids.scatter_add_(counts, 1, idx, graphids.ones(5, { dtype = "i64" }))
    assert.same({ 1, 3, 0, 1 }, counts:totable())
  end)

  it("checks every index before writing anything", function()
    local z = graphids.zeros(2, 3)
    errors("scatter_: index 5 out of range %[0, 2%) at position %[0,1%]",
      z.scatter_, z, 1, long({ { 0, 5, 1 } }), graphids.ones(1, 3))
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 } }, z:totable())
    errors("scatter_add: index %-1 out of range",
      z.scatter_add, z, 2, long({ { -1 } }), graphids.ones(1, 1))
    errors("scatter_: src has dtype f64, expected the dtype of self %(f32%)",
      z.scatter_, z, 1, long({ { 0 } }), graphids.ones(1, 1, { dtype = "f64" }))
    errors("scatter: value .* must be a number", z.scatter, z, 1, long({ { 0 } }), "x")
    -- the number form names the op the caller called, not the runtime's in-place scatter_
    errors("^scatter: index must be an i64 or i32 index tensor, got f32", graphids.scatter, z, 1,
      graphids.zeros(1, 3), 1.0)
    errors("^scatter: index 5 out of range", graphids.scatter, z, 1, long({ { 5 } }), 1.0)
    local freed = graphids.ones(1, 1)
    freed:free()
    errors("freed tensor", z.scatter, z, 1, long({ { 0 } }), freed)
  end)
end)

describe("graphids.index_add", function()
  it("adds alpha-scaled rows at the indexed positions", function()
    local z = graphids.zeros(3, 2)
    local src = graphids.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, F32)
    local r = z:index_add(1, long({ 0, 2, 0 }), src, { alpha = 2 })
    assert.same({ { 12, 16 }, { 0, 0 }, { 6, 8 } }, r:totable())
    assert.same({ { 0, 0 }, { 0, 0 }, { 0, 0 } }, z:totable())
    local back = z:index_add_(1, long({ 1, 1, 1 }), src)
    assert.are.equal(z, back)
    assert.same({ { 0, 0 }, { 9, 12 }, { 0, 0 } }, z:totable())
    -- along the last dim with a transposed source
    local w = graphids.zeros(2, 3)
    graphids.index_add_(w, -1, long({ 2, 2, 1 }), src:t())
    assert.same({ { 0, 5, 4 }, { 0, 6, 6 } }, w:totable())
  end)

  it("rejects unknown options, bad indices and mismatched shapes", function()
    local z = graphids.zeros(3, 2)
    local src = graphids.ones(2, 2)
    errors("index_add: unknown option 'alpah'", z.index_add, z, 1, long({ 0, 1 }), src, { alpah = 2 })
    errors("index_add_: index 3 out of range %[0, 3%) at position 1",
      z.index_add_, z, 1, long({ 0, 3 }), src)
    errors("index_add: src has shape %[2,2%], expected %[3,3%] %(self %[3,2%] with 3 indices%)",
      z.index_add, z, 2, long({ 0, 1, 1 }), src)
  end)

  it("refuses an alpha the integer dtype cannot hold, as torch (u8: -255..255)", function()
    local u8 = { dtype = "u8" }
    local z, src = graphids.zeros({ 3 }, u8), graphids.tensor({ 1, 2 }, u8)
    -- torch: zeros(3, uint8).index_add(0, [0, 1], [1, 2], alpha=-255) is [1, 2, 0]
    assert.same({ 1, 2, 0 }, z:index_add(1, long({ 0, 1 }), src, { alpha = -255 }):totable())
    errors("index_add: alpha = 256 does not fit in u8 %(valid: %-255..255%)",
      z.index_add, z, 1, long({ 0, 1 }), src, { alpha = 256 })
    errors("index_add_: alpha = %-256 does not fit in u8", z.index_add_, z, 1, long({ 0, 1 }), src,
      { alpha = -256 })
    assert.same({ 0, 0, 0 }, z:totable())
    local i = graphids.zeros({ 2 }, { dtype = "i32" })
    errors("index_add: alpha = 2147483648 does not fit in i32", i.index_add, i, 1, long({ 0 }),
      graphids.tensor({ 1 }, { dtype = "i32" }), { alpha = 1 << 31 })
    errors("index_add: alpha = 2.5 must be an integer for i32 tensors", i.index_add, i, 1, long({ 0 }),
      graphids.tensor({ 1 }, { dtype = "i32" }), { alpha = 2.5 })
    -- and a float alpha past f32's range on an f32 t (torch: cannot be converted to type float)
    errors("index_add: alpha = 1e%+40 does not fit in f32", graphids.index_add, graphids.zeros(2), 1,
      long({ 0 }), graphids.ones(1), { alpha = 1e40 })
  end)
end)

describe("graphids.masked_fill and masked_select", function()
  it("broadcasts the mask over the tensor", function()
    local a = graphids.arange(6, { dtype = "f32" }):view(2, 3)
    local m = graphids.tensor({ true, false, true })
    assert.same({ { -1, 1, -1 }, { -1, 4, -1 } }, a:masked_fill(m, -1):totable())
    assert.same({ { 0, 1, 2 }, { 3, 4, 5 } }, a:totable())
    assert.same({ 0, 2, 3, 5 }, a:masked_select(m):totable())
    assert.same({ 0, 3, 2, 5 }, graphids.masked_select(a:t(), m:view(3, 1)):totable())
    local back = a:masked_fill_(m, graphids.tensor(9, F32))
    assert.are.equal(a, back)
    assert.same({ { 9, 1, 9 }, { 9, 4, 9 } }, a:totable())
  end)

  it("keeps large integer fill values exact", function()
    local a = graphids.zeros(2, { dtype = "i64" })
    a:masked_fill_(graphids.tensor({ false, true }), 4611686018427387905)
    assert.same({ 0, 4611686018427387905 }, a:totable())
  end)

  it("rejects masks that are not bool or do not broadcast", function()
    local a = graphids.zeros(2, 3)
    errors("masked_fill: mask has dtype f32, expected bool", a.masked_fill, a, graphids.zeros(3), 1)
    errors("masked_fill_: mask of shape %[4%] does not broadcast to self %[2,3%]",
      a.masked_fill_, a, graphids.tensor({ true, true, false, false }), 1)
    errors("masked_select", a.masked_select, a, graphids.tensor({ true, false }))
  end)
end)

describe("graphids.nonzero", function()
  it("lists 0-based coordinates in row-major order", function()
    local a = graphids.tensor({ { 0, 1.5, 0 }, { 0 / 0, -2, 0 } })
    local nz = a:nonzero()
    assert.are.equal("i64", nz.dtype)
    assert.same({ { 0, 1 }, { 1, 0 }, { 1, 1 } }, nz:totable())
    assert.same({ { 0, 1 }, { 1, 0 }, { 1, 1 } }, graphids.nonzero(a:t()):totable())
    assert.same({ 0, 2 }, graphids.zeros(3, 1):nonzero().shape)
    assert.same({ 2, 1 }, graphids.tensor({ 0, 3, 0, 4 }):nonzero().shape)
  end)
end)
