-- sort_spec.lua -- sort, argsort, topk, unique and bincount: 1-based dims, 0-based indices,
-- values checked by hand, strided inputs, ties, NaN placement and error messages.
local graphids = require "graphids"
local helpers = require "helpers"
local errors, F32 = helpers.errors, helpers.F32

local nan = 0 / 0
local inf = math.huge

local function is_nan(x)
  return x ~= x
end

describe("graphids.sort", function()
  it("sorts the last dim by default and returns 0-based i64 indices", function()
    local v, i = graphids.tensor({ 3, 1, 2 }, F32):sort()
    assert.same({ 1, 2, 3 }, v:totable())
    assert.same({ 1, 2, 0 }, i:totable())
    assert.equal("f32", v.dtype)
    assert.equal("i64", i.dtype)
  end)

  it("keeps ties in input order, ascending and descending", function()
    local a = graphids.tensor({ 3, 1, 2, 1, 3 }, F32)
    local v, i = a:sort(1, { stable = true })
    assert.same({ 1, 1, 2, 3, 3 }, v:totable())
    assert.same({ 1, 3, 2, 0, 4 }, i:totable())
    v, i = graphids.sort(a, { descending = true })
    assert.same({ 3, 3, 2, 1, 1 }, v:totable())
    assert.same({ 0, 4, 2, 1, 3 }, i:totable())
  end)

  it("puts NaN last ascending and first descending", function()
    local a = graphids.tensor({ nan, 1, -inf, nan, 0 }, F32)
    local v, i = a:sort()
    local t = v:totable()
    assert.same({ -inf, 0, 1 }, { t[1], t[2], t[3] })
    assert.is_true(is_nan(t[4]) and is_nan(t[5]))
    assert.same({ 2, 4, 1, 0, 3 }, i:totable())
    v, i = a:sort(-1, { descending = true })
    t = v:totable()
    assert.is_true(is_nan(t[1]) and is_nan(t[2]))
    assert.same({ 1, 0, -inf }, { t[3], t[4], t[5] })
    assert.same({ 0, 3, 1, 4, 2 }, i:totable())
  end)

  it("sorts a transposed tensor along each dim", function()
    -- a:t() is {{3,0},{1,5},{2,4}} with strides (1, 3)
    local at = graphids.tensor({ { 3, 1, 2 }, { 0, 5, 4 } }, F32):t()
    local v, i = at:sort(1)
    assert.same({ { 1, 0 }, { 2, 4 }, { 3, 5 } }, v:totable())
    assert.same({ { 1, 0 }, { 2, 2 }, { 0, 1 } }, i:totable())
    v, i = at:sort(2, { descending = true })
    assert.same({ { 3, 0 }, { 5, 1 }, { 4, 2 } }, v:totable())
    assert.same({ { 0, 1 }, { 1, 0 }, { 1, 0 } }, i:totable())
    v = at:sort(-2)
    assert.same({ { 1, 0 }, { 2, 4 }, { 3, 5 } }, v:totable())
  end)

  it("sorts a narrowed view and integer dtypes", function()
    local a = graphids.tensor({ { 9, 4, -7, 2 }, { 1, 8, 3, -5 } })
    local v, i = a:narrow(2, 2, 3):sort(2)
    assert.same({ { -7, 2, 4 }, { -5, 3, 8 } }, v:totable())
    assert.same({ { 1, 2, 0 }, { 2, 1, 0 } }, i:totable())
    assert.equal("i64", v.dtype)
  end)

  it("sorts a long lane the same as table.sort", function()
    local n, vals = 500, {}
    for k = 1, n do
      vals[k] = (k * 7919) % 1009 - 500
    end
    local v, i = graphids.tensor(vals):sort()
    local want = { table.unpack(vals) }
    table.sort(want)
    assert.same(want, v:totable())
    local it = i:totable()
    for k = 1, n do
      assert.equal(want[k], vals[it[k] + 1])
    end
  end)

  it("rejects bad dims and unknown options", function()
    local a = graphids.zeros(2, 3)
    errors("sort: dim 3 out of range for a tensor of 2 dims", a.sort, a, 3)
    errors("sort: unknown option 'descend' %(did you mean 'descending'%?%)", a.sort, a, 1,
      { descend = true })
    -- (option type errors name the function as the caller spelled it)
    assert.error_matches(function()
      a:sort({ descending = 1 })
    end, "sort: option 'descending' must be a boolean, got 1")
  end)
end)

describe("graphids.argsort", function()
  it("gives the indices sort gives", function()
    local a = graphids.tensor({ 0.5, -2, 7, 0.5, 1 }, F32)
    assert.same({ 2, 4, 0, 3, 1 }, a:argsort(1, { descending = true }):totable())
    assert.same({ 1, 0, 3, 4, 2 }, graphids.argsort(a):totable())
    local m = graphids.tensor({ { 2, 1 }, { 0, 3 } })
    assert.same({ { 1, 0 }, { 0, 1 } }, m:argsort(1):totable())
  end)
end)

describe("graphids.topk", function()
  it("takes the largest k with the lower index first on ties", function()
    local a = graphids.tensor({ 1, 3, 3, 2, 5, 1 }, F32)
    local v, i = a:topk(3)
    assert.same({ 5, 3, 3 }, v:totable())
    assert.same({ 4, 1, 2 }, i:totable())
  end)

  it("takes the smallest k with largest = false", function()
    local a = graphids.tensor({ 1, 3, 3, 2, 5, 1 }, F32)
    local v, i = graphids.topk(a, 3, 1, { largest = false })
    assert.same({ 1, 1, 2 }, v:totable())
    assert.same({ 0, 5, 3 }, i:totable())
  end)

  it("works along dim 1 of a matrix and its transpose", function()
    local m = graphids.tensor({ { 1, 9 }, { 4, 2 }, { 4, 0 } }, F32)
    local v, i = m:topk(2, 1)
    assert.same({ { 4, 9 }, { 4, 2 } }, v:totable())
    assert.same({ { 1, 0 }, { 2, 1 } }, i:totable())
    v, i = m:t():topk(1, { sorted = true })
    assert.same({ { 4 }, { 9 } }, v:totable())
    assert.same({ { 1 }, { 0 } }, i:totable())
    v = m:topk(0)
    assert.same({ 3, 0 }, v.shape)
  end)

  it("rejects k out of range naming k and the size", function()
    local a = graphids.zeros(6)
    errors("topk: k 7 out of range for dim 1 of size 6 %(valid: 0..6%)", a.topk, a, 7)
    errors("topk: k %-1 out of range", a.topk, a, -1)
    errors("topk: k %(argument #2%) must be an integer", a.topk, a, 1.5)
    errors("topk: unknown option 'smallest'", a.topk, a, 1, { smallest = true })
    local m = graphids.zeros(4, 2)
    errors("topk: k 3 out of range for dim 2 of size 2 %(valid: 0..2%)", m.topk, m, 3)
    errors("topk: k 5 out of range for dim 1 of size 4", m.topk, m, 5, -2)
    errors("topk: dim 3 out of range for a tensor of 2 dims", m.topk, m, 1, 3)
    errors("argsort: dim 0 out of range", m.argsort, m, 0)
  end)
end)

describe("graphids.unique", function()
  it("returns sorted values, then inverse and counts when asked, as torch", function()
    local a = graphids.tensor({ { 3, 1, 3 }, { 2, 1, 1 } })
    assert.same({ 1, 2, 3 }, a:unique():totable())
    local v, inv, cnt = graphids.unique(a, { return_inverse = true, return_counts = true })
    assert.same({ 1, 2, 3 }, v:totable())
    assert.same({ { 2, 0, 2 }, { 1, 0, 0 } }, inv:totable())
    assert.same({ 3, 1, 2 }, cnt:totable())
    local v2, cnt2 = a:unique({ return_counts = true })
    assert.same({ 1, 2, 3 }, v2:totable())
    assert.same({ 3, 1, 2 }, cnt2:totable())
    assert.equal("i64", cnt2.dtype)
  end)

  it("flattens a transposed tensor in its own row-major order", function()
    local a = graphids.tensor({ { 3, 1, 3 }, { 2, 1, 1 } }):t() -- {{3,2},{1,1},{3,1}}
    local _, inv = a:unique({ return_inverse = true })
    assert.same({ { 2, 1 }, { 0, 0 }, { 2, 0 } }, inv:totable())
  end)

  it("keeps every NaN apart and keeps the dtype", function()
    local v, cnt = graphids.tensor({ nan, 1, nan }, F32):unique({ return_counts = true })
    local t = v:totable()
    assert.equal(1, t[1])
    assert.is_true(is_nan(t[2]) and is_nan(t[3]))
    assert.same({ 1, 1, 1 }, cnt:totable())
    assert.equal("f32", v.dtype)
  end)

  it("rejects unknown options", function()
    local a = graphids.zeros(2)
    errors("unique: unknown option 'return_index'", a.unique, a, { return_index = true })
    errors("unique: a 0%-d tensor has no dim to take slices along %(got dim 1%)", graphids.unique,
      graphids.tensor(3.0), { dim = 1 })
  end)

  it("takes the distinct slices along a dim in lexicographic order, as torch.unique(x, dim=)", function()
    -- torch 2.15: x = [[1, 2, 1, 0], [3, 4, 3, 5]]; unique(x, dim=1) -> [[0, 1, 2], [5, 3, 4]],
    -- inverse [1, 2, 1, 0], counts [1, 2, 1]; dim=0 -> x, [0, 1], [1, 1]
    local x = graphids.tensor({ { 1, 2, 1, 0 }, { 3, 4, 3, 5 } })
    local v, inv, cnt = graphids.unique(x, { dim = 2, return_inverse = true, return_counts = true })
    assert.same({ { 0, 1, 2 }, { 5, 3, 4 } }, v:totable())
    assert.same({ 1, 2, 1, 0 }, inv:totable())
    assert.same({ 1, 2, 1 }, cnt:totable())
    local v0, inv0 = x:unique({ dim = 1, return_inverse = true })
    assert.same(x:totable(), v0:totable())
    assert.same({ 0, 1 }, inv0:totable())
    assert.same({ { 0, 1, 2 }, { 5, 3, 4 } }, x:unique({ dim = -1 }):totable())
    local _, c2 = x:unique({ dim = 2, return_counts = true }) -- counts without the inverse
    assert.same({ 1, 2, 1 }, c2:totable())
    -- a 3-d input along its last dim: [[[1, 2], [1, 2]], [[0, 0], [1, 2]]] -> itself, [0, 1]
    local y = graphids.tensor({ { { 1, 2 }, { 1, 2 } }, { { 0, 0 }, { 1, 2 } } })
    local vy, iy = y:unique({ dim = 3, return_inverse = true })
    assert.same(y:totable(), vy:totable())
    assert.same({ 0, 1 }, iy:totable())
    -- NaN rows are each their own and sort last; -0.0 equals 0.0:
    -- [[nan, 1], [nan, 1], [0, -0]] -> [[0, -0], [nan, 1], [nan, 1]], [1, 2, 0], [1, 1, 1]
    local f = graphids.tensor({ { nan, 1 }, { nan, 1 }, { 0, -0.0 } })
    local vf, fi, fc = f:unique({ dim = 1, return_inverse = true, return_counts = true })
    local rows = vf:totable()
    assert.same({ 0, 0 }, rows[1])
    assert.is_true(is_nan(rows[2][1]) and is_nan(rows[3][1]))
    assert.same({ 1, 2, 0 }, fi:totable())
    assert.same({ 1, 1, 1 }, fc:totable())
    -- an empty dim gives empty results; a 0-sized other dim is refused, as torch's
    local e, ei, ec = graphids.zeros(0, 3):unique({ dim = 1, return_inverse = true, return_counts = true })
    assert.same({ 0, 3 }, e.shape)
    assert.same({ 0 }, ei.shape)
    assert.same({ 0 }, ec.shape)
    errors("unique: dim 2 has size 0 and is not the one selected %(1%)", graphids.unique,
      graphids.zeros(3, 0), { dim = 1 })
    errors("unique: dim 3 out of range", x.unique, x, { dim = 3 })
    errors("unique: option 'dim' must be an integer, got 'a'", x.unique, x, { dim = "a" })
  end)
end)

describe("graphids.bincount", function()
  local x = graphids.tensor({ 1, 1, 3, 0, 1 })

  it("counts each value", function()
    assert.same({ 1, 3, 0, 1 }, x:bincount():totable())
    assert.equal("i64", x:bincount().dtype)
    assert.same({ 1, 3, 0, 1, 0, 0 }, graphids.bincount(x, { minlength = 6 }):totable())
  end)

  it("sums weights in their float dtype", function()
    local w = graphids.tensor({ 0.5, 1, 2, 0.25, -4 }, F32)
    local r = x:bincount({ weights = w })
    assert.same({ 0.25, -2.5, 0, 2 }, r:totable())
    assert.equal("f32", r.dtype)
    r = x:bincount({ weights = w:double(), minlength = 5 })
    assert.same({ 0.25, -2.5, 0, 2, 0 }, r:totable())
    assert.equal("f64", r.dtype)
  end)

  it("rejects negative values, bad dtypes and bad options", function()
    local neg = graphids.tensor({ 1, -2, 0 })
    errors("bincount: value %-2 at position 1 %(0%-based%) is negative", neg.bincount, neg)
    local f = graphids.zeros(3)
    errors("bincount: input must be an integer tensor", f.bincount, f)
    errors("bincount: unknown option 'weight' %(did you mean 'weights'%?%)", x.bincount, x,
      { weight = f })
    errors("bincount: option 'weights' must be a live graphids.Tensor", x.bincount, x,
      { weights = { 1, 2 } })
    errors("bincount: weights has shape %[3%], expected %[5%]", x.bincount, x, { weights = f })
    errors("bincount: minlength must be >= 0, got %-1", x.bincount, x, { minlength = -1 })
  end)
end)
