-- lua_overhead.lua -- the cost of one small op called from Lua (target <= 1 microsecond).
-- Times N calls of an op on 1-element tensors, median of several runs, and prints rows in the
-- same "name value unit ratio target" form as ops_bench.
local graphids = require "graphids"

local N, REPS = 200000, 7

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local function time_us(fn)
  fn(1000) -- warm-up
  local runs = {}
  for r = 1, REPS do
    local t0 = os.clock()
    fn(N)
    runs[r] = (os.clock() - t0) / N * 1e6
  end
  return median(runs)
end

local a, b = graphids.ones(1), graphids.ones(1)

local add = time_us(function(n)
  for _ = 1, n do local _ = a + b end
end)
local add_ = time_us(function(n)
  for _ = 1, n do a:add_(b) end
end)
local sum = time_us(function(n)
  for _ = 1, n do local _ = a:sum() end
end)

-- ratio = target / measured, so >= 1 meets the target like the other rows.
print(string.format("lua_small_add_us %.3f us %.3f 1.0 (a + b, 1 element, allocates the result)",
  add, 1.0 / add))
print(string.format("lua_small_add_inplace_us %.3f us %.3f 1.0 (a:add_(b))", add_, 1.0 / add_))
print(string.format("lua_small_sum_us %.3f us %.3f 1.0 (a:sum())", sum, 1.0 / sum))
