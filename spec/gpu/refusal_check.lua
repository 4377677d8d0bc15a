-- refusal_check.lua -- what the CUDA plugin refuses inside the entries it has (the dtypes and
-- reductions its kernels lack: grep -n EUNSUPPORTED runtime/src/cuda/*.cu), pinned by message:
-- each refused call must fail with exactly the CUDA plugin's text, and the dtypes next to it
-- that have a kernel must still run.  On a GPU these check the real plugin's messages; on the
-- loopback device (spec/gpu/loopback.sh) they check that graphids_loopback.so refuses the same
-- calls with the same text (runtime/src/loopback/refusals.c), so a device path a GPU run would
-- stop on stops there too.  GIDS_LOOPBACK_ALL=1 lifts the loopback's refusals: on the loopback
-- device the refusal checks are then not run (the last check, of what still runs, is).  Every
-- check needs a device: a dry run (GRAPHIDS_GPU_DRYRUN=1) runs none.
-- Prints one line per failure and ends with "refusal: N passed, M failed".  Without a GPU it
-- prints "skipped: <reason>" and exits 0.
local graphids = require "graphids"

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "spec/gpu"
local T = dofile(dir .. "/harness.lua")("refusal")
if not T.available() then
  return
end
local D = T.dev
-- the loopback device (graphids_loopback.so) with its refusals lifted
local lifted = not T.dry and os.getenv("GIDS_LOOPBACK_ALL") == "1"
  and tostring(graphids.gpu.info()):match("loopback") ~= nil

-- A check of refusals: T.device_check, not run where GIDS_LOOPBACK_ALL=1 lifted them.
local function dcheck(what, fn)
  if lifted then
    print("not run (GIDS_LOOPBACK_ALL=1 lifts the loopback's refusals): " .. what)
    return
  end
  T.device_check(what, fn)
end

graphids.manual_seed(29)

-- The message of a dtype refusal: "<op>: dtype <dt> is not supported on CUDA yet<tail>".
local function dtype_msg(op, dt, tail)
  return op .. ": dtype " .. dt .. " is not supported on CUDA yet" .. (tail or "")
end
local FLOAT_ONLY = " (f32 and f64 only)"
local SIX = " (f32, f64, i64, i32, u8 and bool)"
local PRODUCT = " (f32, f64, f16 and bf16 only)"
local REDUCE = " (f32 and f64; amax and amin also i64 and i32; sum also i64, i32, u8 and bool)"

-- fn() fails on the device with exactly want (the position Lua puts in front taken off).
local function refuses(what, want, fn)
  local ok, err = pcall(fn)
  assert(not ok, string.format("%s: ran on the device; expected the refusal '%s'", what, want))
  err = tostring(err)
  local msg = err:match("^.-:%d+: (.*)$") or err
  assert(msg == want, string.format("%s: error '%s', expected '%s'", what, msg, want))
end

-- A [r, c] tensor of dtype dt on the device (small non-negative values, so every dtype holds
-- them), converted there (the CPU holds no f16 or bf16).
local function dev(dt, r, c)
  return graphids.randint(0, 3, { r or 4, c or 3 }):to(D):to(dt)
end

-- ---------------------------------------------------------------- reduce.cu
dcheck("prod and logsumexp have no CUDA kernel", function()
  local x = dev("f32")
  local want = function(op)
    return op .. ": has no CUDA kernel in this build (sum, mean, amax, amin do)"
  end
  refuses("prod", want("prod"), function() return x:prod() end)
  refuses("prod along a dim", want("prod"), function() return x:prod(2) end)
  refuses("prod of i64", want("prod"), function() return dev("i64"):prod() end)
  refuses("logsumexp", want("logsumexp"), function() return x:logsumexp(2) end)
end)

dcheck("reductions refuse the dtypes without a kernel", function()
  refuses("sum of f16", dtype_msg("sum", "f16", REDUCE), function() return dev("f16"):sum() end)
  refuses("mean of bf16", dtype_msg("mean", "bf16", REDUCE), function()
    return dev("bf16"):mean()
  end)
  refuses("amax of u8", dtype_msg("amax", "u8", REDUCE), function() return dev("u8"):amax() end)
  refuses("amin of bool", dtype_msg("amin", "bool", REDUCE), function()
    return dev("bool"):amin()
  end)
end)

dcheck("max and min along a dim refuse u8, bool, f16", function()
  local tail = " (f32, f64, i64 and i32)"
  refuses("max of u8", dtype_msg("max", "u8", tail), function() return dev("u8"):max(2) end)
  refuses("min of bool", dtype_msg("min", "bool", tail), function() return dev("bool"):min(1) end)
  refuses("max of f16", dtype_msg("max", "f16", tail), function() return dev("f16"):max(2) end)
end)

-- ---------------------------------------------------------------- activation.cu, softmax.cu
dcheck("activations, clamp and softmax refuse f16 and bf16", function()
  local h, b = dev("f16"), dev("bf16")
  refuses("leaky_relu", dtype_msg("leaky_relu", "f16", FLOAT_ONLY), function()
    return h:leaky_relu(0.1)
  end)
  refuses("elu", dtype_msg("elu", "bf16", FLOAT_ONLY), function() return b:elu() end)
  refuses("softplus", dtype_msg("softplus", "f16", FLOAT_ONLY), function() return h:softplus() end)
  refuses("clamp", dtype_msg("clamp", "bf16", " (f32, f64, i64, i32 and u8 only)"), function()
    return b:clamp(0, 1)
  end)
  refuses("softmax", dtype_msg("softmax", "f16", FLOAT_ONLY), function() return h:softmax(2) end)
  refuses("log_softmax", dtype_msg("log_softmax", "bf16", FLOAT_ONLY), function()
    return b:log_softmax(2)
  end)
end)

-- ---------------------------------------------------------------- blas.cu, matmul.cu
dcheck("products refuse integer dtypes", function()
  local a, b = dev("i64", 4, 3), dev("i64", 3, 2)
  refuses("mm of i64", dtype_msg("mm", "i64", PRODUCT), function() return a:mm(b) end)
  refuses("addmm of i32", dtype_msg("addmm", "i32", PRODUCT), function()
    return graphids.addmm(dev("i32", 4, 2), dev("i32", 4, 3), dev("i32", 3, 2))
  end)
  refuses("matmul of u8", dtype_msg("matmul", "u8", PRODUCT), function()
    return graphids.matmul(dev("u8", 4, 3), dev("u8", 3, 2))
  end)
  refuses("bmm of i64 (the matmul entry)", dtype_msg("matmul", "i64", PRODUCT), function()
    return graphids.bmm(a:reshape(1, 4, 3), b:reshape(1, 3, 2))
  end)
end)

-- ---------------------------------------------------------------- index.cu, segment.cu
dcheck("scatter_add_ and index_add_ refuse u8, bool and f16", function()
  local tail = " (f32, f64, i64 and i32 only)"
  local idx = graphids.tensor({ 0, 2, 0, 1 }):long():to(D)
  refuses("index_add_ u8", dtype_msg("index_add_", "u8", tail), function()
    return dev("u8", 3, 3):index_add_(1, idx, dev("u8", 4, 3))
  end)
  refuses("scatter_add_ bool", dtype_msg("scatter_add_", "bool", tail), function()
    local sidx = graphids.tensor({ { 0, 1, 2 }, { 2, 0, 1 } }):long():to(D)
    return dev("bool", 3, 3):scatter_add_(1, sidx, dev("bool", 2, 3))
  end)
  refuses("index_add_ f16", dtype_msg("index_add_", "f16", tail), function()
    return dev("f16", 3, 3):index_add_(1, idx, dev("f16", 4, 3))
  end)
end)

dcheck("segment ops refuse integer and half src", function()
  local idx = graphids.tensor({ 0, 1, 1, 2 }):long():to(D)
  for _, case in ipairs({ { "segment_sum", "i64" }, { "segment_max", "i32" }, { "segment_min", "u8" },
    { "segment_mean", "f16" }, { "segment_softmax", "bf16" } }) do
    local op, dt = case[1], case[2]
    refuses(op .. " " .. dt, dtype_msg(op, dt, FLOAT_ONLY), function()
      return graphids[op](dev(dt), idx, 3)
    end)
  end
end)

-- ---------------------------------------------------------------- rng.cu, select.cu, sort.cu,
-- scan.cu
dcheck("bernoulli_ refuses all but f32 and f64", function()
  for _, dt in ipairs({ "i64", "i32", "u8", "bool", "f16" }) do
    refuses("bernoulli_ " .. dt, dtype_msg("bernoulli_", dt, FLOAT_ONLY), function()
      return dev(dt):bernoulli_(0.5)
    end)
  end
end)

dcheck("nonzero, sort, argsort, topk, cumsum and cumprod refuse f16 and bf16", function()
  local h, b = dev("f16"), dev("bf16")
  refuses("nonzero", dtype_msg("nonzero", "f16"), function() return h:nonzero() end)
  refuses("sort", dtype_msg("sort", "bf16", SIX), function() return b:sort(2) end)
  refuses("argsort", dtype_msg("argsort", "f16", SIX), function() return h:argsort(2) end)
  refuses("topk", dtype_msg("topk", "f16", SIX), function() return h:topk(2, 2) end)
  refuses("cumsum", dtype_msg("cumsum", "bf16", SIX), function() return b:cumsum(1) end)
  refuses("cumprod", dtype_msg("cumprod", "f16", SIX), function() return h:cumprod(2) end)
end)

-- ---------------------------------------------------------------- elementwise.cu
-- Its own compute-dtype refusal cannot be reached: gids_binop_result_dtype and
-- gids_unop_result_dtype (the CPU's dtype rules, which it runs first) refuse f16 and bf16 with
-- EDTYPE, in these words.
dcheck("binary and unary ops of f16 and bf16 fail with the CPU's dtype rule", function()
  local h, b = dev("f16"), dev("bf16")
  local want = function(op, dt)
    return op .. ": dtype " .. dt .. " is a storage-only dtype (copies, conversions and matrix products " ..
      "take it); convert to f32 first"
  end
  refuses("add", want("add", "f16"), function() return h + h end)
  refuses("mul by a number", want("mul", "bf16"), function() return b * 2 end)
  refuses("gt", want("gt", "f16"), function() return h:gt(0) end)
  refuses("exp", want("exp", "bf16"), function() return b:exp() end)
end)

-- ---------------------------------------------------------------- what is not refused
T.device_check("the dtypes next to each refusal still run on the device", function()
  local function runs(what, fn)
    local ok, err = pcall(fn)
    assert(ok, string.format("%s: %s", what, tostring(err)))
  end
  runs("sum of i64, u8 and bool", function()
    assert(dev("i64"):sum().device:match("^cuda"))
    dev("u8"):sum()
    dev("bool"):sum()
  end)
  runs("amax of i32 and amin of i64", function()
    dev("i32"):amax()
    dev("i64"):amin()
  end)
  runs("mean of f64", function() return dev("f64"):mean() end)
  runs("max along a dim of i64", function() return dev("i64"):max(2) end)
  runs("leaky_relu of i64 (computed in f32)", function() return dev("i64"):leaky_relu(0.1) end)
  runs("clamp of u8 and bool", function()
    dev("u8"):clamp(0, 1)
    dev("bool"):clamp(0, 1)
  end)
  runs("mm of f64 and f16", function()
    dev("f64", 4, 3):mm(dev("f64", 3, 2))
    dev("f16", 4, 3):mm(dev("f16", 3, 2))
  end)
  runs("index_add_ of i32", function()
    local idx = graphids.tensor({ 0, 2, 0, 1 }):long():to(D)
    dev("i32", 3, 3):index_add_(1, idx, dev("i32", 4, 3))
  end)
  runs("segment_sum of f64", function()
    graphids.segment_sum(dev("f64"), graphids.tensor({ 0, 1, 1, 2 }):long():to(D), 3)
  end)
  runs("bernoulli_ of f64", function() return dev("f64"):bernoulli_(0.5) end)
  runs("nonzero, sort and cumsum of bool and u8", function()
    dev("bool"):nonzero()
    dev("u8"):sort(2)
    dev("bool"):cumsum(1)
  end)
  runs("unique of i32 and of f32 (the runtime's route for floats)", function()
    dev("i32"):unique()
    dev("f32"):unique()
  end)
end)

T.finish()
