-- segment_spec.lua -- segment_sum/mean/max/min/softmax: rows of src grouped by a 0-based,
-- unsorted segment index; empty segments, 3-D and strided src, defaults and error messages.
local graphids = require "graphids"
local helpers = require "helpers"
local errors, near, long = helpers.errors, helpers.near, helpers.long
local F32, F64 = helpers.F32, helpers.F64

describe("graphids.segment_sum and segment_mean", function()
  local src = graphids.tensor({ 1, 2, 3, 4, 5 }, F32)
  local index = long({ 2, 0, 2, 1, 0 })

  it("add the rows of each segment with an unsorted index; empty segments give 0", function()
    assert.same({ 7, 4, 4, 0 }, graphids.segment_sum(src, index, 4):totable())
    assert.same({ 3.5, 4, 2, 0 }, src:segment_mean(index, 4):totable())
    assert.equal("f32", src:segment_sum(index, 4).dtype)
  end)

  it("default num_segments to max(index) + 1", function()
    assert.same({ 7, 4, 4 }, src:segment_sum(index):totable())
    assert.same({ 3.5, 4, 2 }, graphids.segment_mean(src, index):totable())
    local empty = graphids.zeros(0, 3)
    assert.same({ 0, 3 }, empty:segment_sum(long({})).shape)
  end)

  it("reduce 2-D rows and accept an i32 index", function()
    local m = graphids.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, F64)
    local i32 = graphids.tensor({ 1, 1, 0 }, { dtype = "i32" })
    assert.same({ { 5, 6 }, { 4, 6 } }, m:segment_sum(i32, 2):totable())
    assert.same({ { 5, 6 }, { 2, 3 } }, m:segment_mean(i32):totable())
  end)

  it("read a transposed src row by row", function()
    -- rows of base:t() are {1,4}, {2,5}, {3,6}
    local base = graphids.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, F32)
    assert.same({ { 4, 10 }, { 2, 5 } }, base:t():segment_sum(long({ 0, 1, 0 })):totable())
  end)

  it("reduce a 3-D src [N, H, C] like a loop over rows", function()
    local N, H, C, S = 7, 2, 3, 4
    local vals, idx = {}, { 3, 0, 3, 1, 0, 3, 1 }
    for r = 1, N do
      vals[r] = {}
      for h = 1, H do
        vals[r][h] = {}
        for c = 1, C do
          vals[r][h][c] = (r * 13 + h * 5 + c * 3) % 11 - 5
        end
      end
    end
    local want_sum, want_max = {}, {}
    for s = 1, S do
      want_sum[s], want_max[s] = {}, {}
      for h = 1, H do
        want_sum[s][h], want_max[s][h] = {}, {}
        for c = 1, C do
          local sum, mx = 0, nil
          for r = 1, N do
            if idx[r] == s - 1 then
              sum = sum + vals[r][h][c]
              if mx == nil or vals[r][h][c] > mx then mx = vals[r][h][c] end
            end
          end
          want_sum[s][h][c], want_max[s][h][c] = sum, mx or 0
        end
      end
    end
    local src3 = graphids.tensor(vals, F32)
    local out = src3:segment_sum(long(idx), S)
    assert.same({ S, H, C }, out.shape)
    assert.same(want_sum, out:totable())
    assert.same(want_max, (src3:segment_max(long(idx), S)):totable())
  end)

  it("keep an integer src in its dtype and refuse its mean", function()
    local ints = graphids.tensor({ 5, -3, 7, 2 }, { dtype = "i32" })
    local r = ints:segment_sum(long({ 1, 1, 0, 1 }), 3)
    assert.same({ 7, 4, 0 }, r:totable())
    assert.equal("i32", r.dtype)
    errors("segment_mean: src must be a float tensor %(f32 or f64%), got i32",
      ints.segment_mean, ints, long({ 0, 0, 0, 0 }))
  end)
end)

describe("graphids.segment_max and segment_min", function()
  -- rows: {1,9} {4,2} {4,7} {0,-1} {3,3} {4,9}
  local src = graphids.tensor({ { 1, 9 }, { 4, 2 }, { 4, 7 }, { 0, -1 }, { 3, 3 }, { 4, 9 } }, F32)
  local index = long({ 1, 0, 1, 3, 1, 1 })

  it("return the extreme and the 0-based row of its first occurrence", function()
    local v, arg = src:segment_max(index, 4)
    assert.same({ { 4, 2 }, { 4, 9 }, { 0, 0 }, { 0, -1 } }, v:totable())
    assert.same({ { 1, 1 }, { 2, 0 }, { -1, -1 }, { 3, 3 } }, arg:totable())
    assert.equal("i64", arg.dtype)
    v, arg = graphids.segment_min(src, index, 4)
    assert.same({ { 4, 2 }, { 1, 3 }, { 0, 0 }, { 0, -1 } }, v:totable())
    assert.same({ { 1, 1 }, { 0, 4 }, { -1, -1 }, { 3, 3 } }, arg:totable())
  end)
end)

describe("graphids.segment_softmax", function()
  it("normalises each segment per column", function()
    local src = graphids.tensor({ { 1, 2 }, { 3, 4 }, { 0, -math.huge }, { 5, -math.huge } }, F64)
    local out = src:segment_softmax(long({ 0, 1, 0, 1 }), 3)
    local a, b = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-2))
    near(out:totable(), { { a, 1 }, { 1 - b, 1 }, { 1 - a, 0 }, { b, 0 } }, 1e-12)
    assert.same({ 4, 2 }, out.shape)
  end)

  it("sums to one in every non-empty segment and is stable for large values", function()
    local src = graphids.tensor({ 1000, 1001, 999, -3, 2 }, F32)
    local index = long({ 2, 2, 2, 0, 0 })
    local out = graphids.segment_softmax(src, index)
    local sums = out:segment_sum(index, 3):totable()
    near(sums, { 1, 0, 1 }, 1e-6)
    local z = math.exp(-1) + 1 + math.exp(-2)
    near({ out:totable()[1], out:totable()[2] }, { math.exp(-1) / z, 1 / z }, 1e-6)
  end)

  it("gives 0 where a column has no finite entry", function()
    local src = graphids.tensor({ -math.huge, -math.huge }, F32)
    assert.same({ 0, 0 }, src:segment_softmax(long({ 0, 0 })):totable())
  end)

  it("needs a float src", function()
    local ints = graphids.tensor({ 1, 2 })
    errors("segment_softmax: src must be a float tensor", ints.segment_softmax, ints, long({ 0, 0 }))
  end)
end)

describe("segment ops on bad input", function()
  local src = graphids.tensor({ 1, 2, 3, 4 }, F32)

  it("name the bad index value, the range and the position", function()
    errors("segment_sum: index 5 out of range %[0, 3%) at position 2", src.segment_sum, src,
      long({ 0, 1, 5, 2 }), 3)
    errors("segment_max: index %-1 out of range %[0, 2%) at position 1", src.segment_max, src,
      long({ 0, -1, 0, 0 }), 2)
    errors("segment_softmax: index 3 out of range %[0, 3%) at position 3", src.segment_softmax,
      src, long({ 0, 1, 2, 3 }), 3)
  end)

  it("check the index's shape and dtype and num_segments", function()
    errors("segment_sum: index has shape %[3%], expected %[4%]", src.segment_sum, src,
      long({ 0, 1, 0 }), 2)
    errors("segment_mean: index", src.segment_mean, src, graphids.zeros(4), 2)
    errors("segment_sum: num_segments %(argument #3%) must be an integer", src.segment_sum, src,
      long({ 0, 0, 0, 0 }), 1.5)
    errors("segment_sum: num_segments must be >= 0, got %-2", src.segment_sum, src,
      long({ 0, 0, 0, 0 }), -2)
    errors("graphids.Tensor expected", src.segment_sum, src, { 0, 0, 0, 0 })
  end)
end)
