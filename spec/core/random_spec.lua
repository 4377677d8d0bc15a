-- random_spec.lua -- seeding, generator state, the ranges and moments of every draw.
local graphids = require "graphids"
local errors = require("helpers").errors

local function moments(t)
  local v = t:double():totable()
  local n, s, ss = #v, 0, 0
  for i = 1, n do
    s = s + v[i]
  end
  local mean = s / n
  for i = 1, n do
    ss = ss + (v[i] - mean) ^ 2
  end
  return mean, math.sqrt(ss / (n - 1))
end

describe("seeding", function()
  it("the same seed gives the same numbers", function()
    graphids.manual_seed(123)
    local a = graphids.randn(64):tobytes()
    local b = graphids.rand(8, { dtype = "f64" }):tobytes()
    graphids.manual_seed(123)
    assert.are.equal(a, graphids.randn(64):tobytes())
    assert.are.equal(b, graphids.rand(8, { dtype = "f64" }):tobytes())
    graphids.manual_seed(124)
    assert.are_not.equal(a, graphids.randn(64):tobytes())
    assert.are.equal(124, graphids.initial_seed())
  end)

  it("successive draws differ", function()
    graphids.manual_seed(1)
    assert.are_not.equal(graphids.rand(16):tobytes(), graphids.rand(16):tobytes())
  end)

  it("does not depend on the number of threads", function()
    local old = graphids.get_num_threads()
    graphids.set_num_threads(1)
    graphids.manual_seed(9)
    local one = graphids.randn(100000):tobytes()
    graphids.set_num_threads(math.max(2, old))
    graphids.manual_seed(9)
    local many = graphids.randn(100000):tobytes()
    graphids.set_num_threads(old)
    assert.are.equal(one, many)
  end)

  it("get_rng_state / set_rng_state replay the default stream", function()
    graphids.manual_seed(5)
    graphids.rand(10)
    local state = graphids.get_rng_state()
    assert.are.equal(16, #state)
    local a = graphids.randn(10):tobytes()
    graphids.set_rng_state(state)
    assert.are.equal(a, graphids.randn(10):tobytes())
    errors("set_rng_state: a generator state is 16 bytes, got 3", function()
      graphids.set_rng_state("abc")
    end)
  end)
end)

describe("graphids.Generator", function()
  it("is a private stream that leaves the default one alone", function()
    graphids.manual_seed(7)
    local expect = graphids.rand(5):tobytes()
    graphids.manual_seed(7)
    local g = graphids.Generator(42)
    graphids.rand(100, { generator = g })
    assert.are.equal(expect, graphids.rand(5):tobytes())
    local g2 = graphids.Generator(42)
    local g3 = graphids.Generator(42)
    assert.are.equal(graphids.randn(7, { generator = g2 }):tobytes(),
      graphids.randn(7, { generator = g3 }):tobytes())
  end)

  it("saves and restores its state as 16 bytes or {seed, offset}", function()
    local g = graphids.Generator(3)
    graphids.rand(4, { generator = g })
    local s = g:get_state()
    assert.are.equal(16, #s)
    local seed, offset = string.unpack("<I8<I8", s)
    assert.are.equal(3, seed)
    assert.is_true(offset > 0)
    local a = graphids.randn(6, { generator = g }):tobytes()
    g:set_state(s)
    assert.are.equal(a, graphids.randn(6, { generator = g }):tobytes())
    g:set_state({ seed, offset })
    assert.are.equal(a, graphids.randn(6, { generator = g }):tobytes())
    assert.are.equal(g, g:manual_seed(3))
    assert.are.equal(3, g:initial_seed())
    assert.matches("graphids.Generator%(seed=3, offset=0%)", tostring(g))
    errors("set_state: a state table must be {seed, offset}", function()
      g:set_state({ "x" })
    end)
  end)

  it("rejects a generator option that is not one", function()
    errors("rand: option 'generator' must be a graphids.Generator, got 'x'", function()
      graphids.rand(2, { generator = "x" })
    end)
    errors("rand: unknown option 'gen' %(did you mean", function()
      graphids.rand(2, { gen = graphids.Generator(1) })
    end)
  end)
end)

describe("draws", function()
  it("rand is uniform in [0, 1) with mean 1/2 and std 1/sqrt(12)", function()
    graphids.manual_seed(11)
    local t = graphids.rand(100000)
    assert.are.equal("f32", t.dtype)
    local v = t:totable()
    for i = 1, #v do
      assert(v[i] >= 0 and v[i] < 1)
    end
    local mean, std = moments(t)
    assert.is_true(math.abs(mean - 0.5) < 0.005, "mean " .. mean)
    assert.is_true(math.abs(std - 1 / math.sqrt(12)) < 0.005, "std " .. std)
  end)

  it("randn of 1e5 has mean 0 and std 1 within tolerance", function()
    graphids.manual_seed(12)
    local t = graphids.randn(100000, { dtype = "f64" })
    assert.are.equal("f64", t.dtype)
    local mean, std = moments(t)
    -- standard error of the mean is 1/sqrt(1e5) = 0.0032
    assert.is_true(math.abs(mean) < 0.015, "mean " .. mean)
    assert.is_true(math.abs(std - 1) < 0.015, "std " .. std)
  end)

  it("randint draws integers in [low, high), torch's argument order", function()
    graphids.manual_seed(13)
    local t = graphids.randint(3, 7, { 1000 })
    assert.are.equal("i64", t.dtype)
    local seen = {}
    for _, x in ipairs(t:totable()) do
      assert(math.type(x) == "integer" and x >= 3 and x < 7)
      seen[x] = true
    end
    assert.is_true(seen[3] and seen[4] and seen[5] and seen[6])
    local h = graphids.randint(2, { 2, 50 }, { dtype = "i32" })
    assert.are.same({ 2, 50 }, h.shape)
    assert.are.equal("i32", h.dtype)
    for _, row in ipairs(h:totable()) do
      for _, x in ipairs(row) do
        assert(x == 0 or x == 1)
      end
    end
    errors("randint: shape %(argument #3%) must be a table such as {2, 3}, got 3$", function()
      graphids.randint(0, 5, 3)
    end)
    errors("randint: shape %(argument #3%) must be a table such as {2, 3}, got nothing$", function()
      graphids.randint(5, 3)
    end)
    errors("full: shape %(argument #1%) must be a table such as {2, 3}, got nil$", function()
      graphids.full(nil, 1)
    end)
  end)

  it("randint on a float dtype draws below high once rounded, PyTorch's random_ bounds", function()
    -- Above 2^24 an f32 holds every 2nd, 4th, ... integer: high - 1 may round up to high.
    local two25 = 2 ^ 25 // 1
    errors("randint: low %(33554432%) must stay less than high %(33554436%) once both are rounded "
      .. "to f32, got low 33554432 >= high 33554432", function()
      graphids.randint(two25, two25 + 4, { 10 }, { dtype = "f32" })
    end)
    errors("once both are rounded to f32, got low 33554436 >= high 33554436", function()
      graphids.randint(two25 + 1, two25 + 8, { 10 }, { dtype = "f32" })
    end)
    graphids.manual_seed(5)
    local seen = {}
    for _, x in ipairs(graphids.randint(two25, two25 + 8, { 2000 }, { dtype = "f32" }):totable()) do
      assert(x < two25 + 8, x)
      seen[x] = true
    end
    assert.is_true(seen[two25 + 0.0] and seen[two25 + 4.0])
    local two54 = 2 ^ 54 // 1
    errors("rounded to f64, got low 18014398509481984 >= high 18014398509481984", function()
      graphids.randint(two54, two54 + 4, { 10 }, { dtype = "f64" })
    end)
    assert.are.same({ 16777216.0, 16777216.0 }, graphids.randint(2 ^ 24 // 1, 2 ^ 24 // 1 + 2, { 2 },
      { dtype = "f32" }):totable())
  end)

  it("randperm is a permutation of 0..n-1", function()
    graphids.manual_seed(14)
    local p = graphids.randperm(1000)
    assert.are.equal("i64", p.dtype)
    local v = p:totable()
    local sorted = { table.unpack(v) }
    table.sort(sorted)
    for i = 1, 1000 do
      assert.are.equal(i - 1, sorted[i])
    end
    local moved = 0
    for i = 1, 1000 do
      if v[i] ~= i - 1 then
        moved = moved + 1
      end
    end
    assert.is_true(moved > 900)
    assert.are.equal("i32", graphids.randperm(5, { dtype = "i32" }).dtype)
    assert.are.same({}, graphids.randperm(0):totable())
  end)

  it("randperm refuses a dtype that cannot hold n distinct values, as PyTorch does", function()
    local p = graphids.randperm(256, { dtype = "u8" }):totable()
    table.sort(p)
    for i = 1, 256 do
      assert.are.equal(i - 1, p[i])
    end
    errors("randperm: n = 300 is too large for dtype u8: the values 0..n%-1 are distinct in u8 "
      .. "only for n <= 256", function()
      graphids.randperm(300, { dtype = "u8" })
    end)
    errors("randperm: n = 20000000 is too large for dtype f32: .* only for n <= 16777217", function()
      graphids.randperm(2e7, { dtype = "f32" })
    end)
    errors("randperm: dtype bool is not supported", function()
      graphids.randperm(5, { dtype = "bool" })
    end)
  end)

  it("rand_like and randn_like copy the shape and dtype", function()
    local a = graphids.zeros(3, 2, { dtype = "f64" })
    assert.are.same({ 3, 2 }, graphids.rand_like(a).shape)
    assert.are.equal("f64", graphids.randn_like(a).dtype)
  end)
end)

describe("in-place draws", function()
  it("uniform_ fills [lo, hi) and returns self, strided views included", function()
    graphids.manual_seed(15)
    local a = graphids.zeros(4, 500)
    assert.are.equal(a, a:uniform_(-2, 3))
    for _, row in ipairs(a:totable()) do
      for _, x in ipairs(row) do
        assert(x >= -2 and x < 3)
      end
    end
    local b = graphids.zeros(6, 4)
    b:t():narrow(2, 2, 2):uniform_(5, 6) -- rows 2..3 of b, through a transposed view
    local v = b:totable()
    for i = 1, 6 do
      for j = 1, 4 do
        local x = v[i][j]
        if i == 2 or i == 3 then
          assert(x >= 5 and x < 6)
        else
          assert.are.equal(0, x)
        end
      end
    end
  end)

  it("normal_ has the requested mean and std", function()
    graphids.manual_seed(16)
    local t = graphids.empty(100000, { dtype = "f64" }):normal_(3, 0.5)
    local mean, std = moments(t)
    assert.is_true(math.abs(mean - 3) < 0.01, "mean " .. mean)
    assert.is_true(math.abs(std - 0.5) < 0.01, "std " .. std)
  end)

  it("bernoulli_ gives ones with probability p", function()
    graphids.manual_seed(17)
    local t = graphids.empty(100000):bernoulli_(0.25)
    local ones = 0
    for _, x in ipairs(t:totable()) do
      assert(x == 0 or x == 1)
      ones = ones + x
    end
    assert.is_true(math.abs(ones / 100000 - 0.25) < 0.01)
  end)

  it("take a generator option", function()
    local a = graphids.empty(5):uniform_(0, 1, { generator = graphids.Generator(8) })
    local b = graphids.empty(5):uniform_(0, 1, { generator = graphids.Generator(8) })
    assert.are.equal(a:tobytes(), b:tobytes())
    local c = graphids.empty(5):normal_({ generator = graphids.Generator(8) })
    local d = graphids.empty(5):normal_(0, 1, { generator = graphids.Generator(8) })
    assert.are.equal(c:tobytes(), d:tobytes())
  end)
end)
