-- join_spec.lua -- graphids.cat, stack, split and chunk (1-based dims).
local graphids = require "graphids"
local helpers = require "helpers"
local errors, F32 = helpers.errors, helpers.F32

local function shapes(list)
  local out = {}
  for i, t in ipairs(list) do
    out[i] = t.shape
  end
  return out
end

describe("graphids.cat", function()
  it("joins along the first dim by default and along any other", function()
    local a = graphids.tensor({ { 1, 2 }, { 3, 4 } }, F32)
    local b = graphids.tensor({ { 5, 6 } }, F32)
    assert.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, graphids.cat({ a, b }):totable())
    assert.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, graphids.cat({ a, b }, 1):totable())
    local c = graphids.tensor({ { 7 }, { 8 } }, F32)
    assert.same({ { 1, 2, 7 }, { 3, 4, 8 } }, graphids.cat({ a, c }, 2):totable())
    assert.same({ { 1, 2, 7 }, { 3, 4, 8 } }, graphids.cat({ a, c }, -1):totable())
  end)

  it("reads transposed and expanded inputs through their strides", function()
    local a = graphids.tensor({ { 1, 2 }, { 3, 4 } })
    local e = graphids.tensor({ { 9 } }):expand(2, 3)
    assert.same({ { 1, 3, 9, 9, 9 }, { 2, 4, 9, 9, 9 } }, graphids.cat({ a:t(), e }, 2):totable())
  end)

  it("promotes dtypes and skips empty 1-D tensors", function()
    local i = graphids.tensor({ 1, 2 }, { dtype = "i64" })
    local f = graphids.tensor({ 0.5 }, F32)
    local r = graphids.cat({ i, graphids.zeros(0), f })
    assert.are.equal("f32", r.dtype)
    assert.same({ 1, 2, 0.5 }, r:totable())
    local m = graphids.cat({ graphids.zeros(0), graphids.ones(1, 2) })
    assert.same({ { 1, 1 } }, m:totable())
  end)

  it("raises errors naming the shapes, the dim and the bad element", function()
    local a = graphids.zeros(2, 3)
    local b = graphids.zeros(2, 4)
    errors("cat: shapes %[2,3%] and %[2,4%] differ outside the cat dim", graphids.cat, { a, b })
    assert.same({ 2, 7 }, graphids.cat({ a, b }, 2).shape)
    errors("cat: dim 3 out of range for a tensor of 2 dims", graphids.cat, { a, b }, 3)
    errors("cat: dim %-3 out of range", graphids.cat, { a, b }, -3)
    errors("cat: element 2 of the list must be a graphids.Tensor, got number", graphids.cat, { a, 5 })
    errors("cat: expected a non%-empty list", graphids.cat, {})
  end)
end)

describe("graphids.stack", function()
  it("adds a new dim at the given place", function()
    local a = graphids.tensor({ 1, 2 })
    local b = graphids.tensor({ 3, 4 })
    assert.same({ { 1, 2 }, { 3, 4 } }, graphids.stack({ a, b }):totable())
    assert.same({ { 1, 3 }, { 2, 4 } }, graphids.stack({ a, b }, 2):totable())
    assert.same({ { 1, 3 }, { 2, 4 } }, graphids.stack({ a, b }, -1):totable())
    assert.same({ 3, 2 }, graphids.stack({ a, b, a }).shape)
  end)

  it("rejects different shapes and dims past the new one", function()
    local a = graphids.zeros(2)
    errors("stack: shapes %[2%] and %[3%] differ", graphids.stack, { a, graphids.zeros(3) })
    errors("stack: dim 3 out of range", graphids.stack, { a, a }, 3)
  end)
end)

describe("graphids.split", function()
  it("cuts pieces of one size, the last smaller, as views", function()
    local t = graphids.arange(10):view(5, 2)
    local parts = graphids.split(t, 2)
    assert.same({ { 2, 2 }, { 2, 2 }, { 1, 2 } }, shapes(parts))
    assert.same({ { 8, 9 } }, parts[3]:totable())
    parts[1]:fill_(-1)
    assert.same({ -1, -1 }, t:totable()[2]) -- a view writes through to t
    assert.same({ { 5, 1 }, { 5, 1 } }, shapes(t:split(1, 2)))
    assert.same({ { -1 }, { -1 }, { 5 }, { 7 }, { 9 } }, t:split(1, -1)[2]:totable())
  end)

  it("takes a table of sizes that must add up to the dim", function()
    local t = graphids.arange(6)
    local parts = t:split({ 1, 0, 5 })
    assert.same({ { 1 }, { 0 }, { 5 } }, shapes(parts))
    assert.same({ 1, 2, 3, 4, 5 }, parts[3]:totable())
    errors("split: sizes add up to 5, expected 6", t.split, t, { 2, 3 })
    errors("split: split size must be positive, got 0", t.split, t, 0)
    errors("split: dim 2 out of range", t.split, t, 2, 2)
  end)

  -- (total + size - 1) / size overflowed for a size near math.maxinteger: UBSan's signed
  -- overflow, though the wrapped count happened to give one piece
  it("takes a split size up to math.maxinteger: one piece", function()
    for _, size in ipairs({ math.maxinteger, math.maxinteger - 2, 1 << 62 }) do
      assert.same({ { 4 } }, shapes(graphids.zeros(4):split(size)))
    end
    assert.same({ { 0 } }, shapes(graphids.zeros(0):split(math.maxinteger)))
    assert.same({ { 3, 2 } }, shapes(graphids.zeros(3, 2):split(math.maxinteger)))
    assert.same({ { 4 } }, shapes(graphids.zeros(4):chunk(1)))
  end)

  it("names sizes by their 1-based position and the dim 1-based", function()
    local m = graphids.zeros(3, 4)
    errors("split: size %-1 at position 2 must be >= 0", m.split, m, { 2, -1, 3 }, 2)
    errors("split: sizes add up to 3, expected 4 %(the size of dim 2%)", m.split, m, { 1, 2 }, 2)
    errors("split: sizes add up to more than 4 %(the size of dim %-?2%)", m.split, m, { 3, 3 }, -1)
    errors("chunk: dim 3 out of range for a tensor of 2 dims", m.chunk, m, 2, 3)
    errors("stack: dim %-4 out of range for a tensor of 2 dims %(valid: 1..3 or %-3..%-1%)",
      graphids.stack, { m, m }, -4)
  end)
end)

describe("graphids.chunk", function()
  it("cuts n pieces of ceil(size / n), fewer when the size does not allow n", function()
    local t = graphids.arange(5)
    assert.same({ { 2 }, { 2 }, { 1 } }, shapes(t:chunk(3)))
    assert.same({ { 2 }, { 2 }, { 2 } }, shapes(graphids.chunk(graphids.arange(6), 4)))
    local m = graphids.arange(8):view(2, 4)
    local cols = m:chunk(2, 2)
    assert.same({ { 0, 1 }, { 4, 5 } }, cols[1]:totable())
    assert.same({ { 2, 3 }, { 6, 7 } }, cols[2]:totable())
    assert.same({ { 0 }, { 0 } }, shapes(graphids.zeros(0):chunk(2)))
    errors("chunk: number of chunks must be positive, got 0", t.chunk, t, 0)
  end)

  it("gives at most size pieces of a non-empty dim for any n, as torch (ones(5):chunk(2^62): 5)", function()
    local five = { { 1 }, { 1 }, { 1 }, { 1 }, { 1 } }
    assert.same(five, shapes(graphids.ones(5):chunk(math.maxinteger)))
    assert.same(five, shapes(graphids.ones(5):chunk(1 << 62)))
    assert.same(five, shapes(graphids.ones(5):chunk(6)))
    assert.same({ { 2, 1 }, { 2, 1 } }, shapes(graphids.ones(2, 2):chunk(1 << 40, 2)))
    -- an empty dim gives n empty pieces: a count that large is still refused
    assert.same({ { 0 }, { 0 }, { 0 } }, shapes(graphids.zeros(0):chunk(3)))
    errors("chunk: %d+ chunks are too many", function() return graphids.zeros(0):chunk(math.maxinteger) end)
  end)
end)

describe("joining, indexing and matmul", function()
  it("leave no live tensors behind, failed calls included", function()
    collectgarbage()
    collectgarbage()
    local before = graphids.memory().live_tensors
    do
      local a = graphids.randn(4, 3)
      local idx = graphids.tensor({ 0, 2 }, { dtype = "i64" })
      local _ = graphids.cat({ a, a }, 2):split(2)
      _ = a:chunk(3, 2)
      _ = a:index_select(1, idx):matmul(a:t())
      _ = a:masked_select(graphids.tensor({ true, false, true }))
      pcall(graphids.cat, { a, graphids.zeros(2) })
      pcall(a.split, a, { 1, 1 })
      pcall(a.index_add_, a, 1, graphids.tensor({ 9 }, { dtype = "i64" }), graphids.ones(1, 3))
      pcall(graphids.addmm, graphids.ones(5), a, a:t())
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, graphids.memory().live_tensors)
  end)
end)
