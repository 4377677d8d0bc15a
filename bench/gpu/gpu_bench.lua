-- gpu_bench.lua -- GPU figures for tools/gpu-check.sh: cuBLAS matmul (f32 or TF32, and bf16)
-- and device-to-device copy bandwidth, each the median of REPS timed runs after warm-up,
-- synchronised around each run.
-- Rows "name value unit" (the PyTorch peer prints the same names: bench/peer/torch_gpu.py).
local graphids = require "graphids"
local REPS = 10

if not graphids.gpu.is_available() then
  print("skipped: " .. graphids.gpu.status())
  return
end

-- graphids.clock is a monotonic wall clock (the GPU machine has no luasystem).
local function median_s(fn)
  fn()
  graphids.gpu.synchronize()
  local runs = {}
  for r = 1, REPS do
    local t0 = graphids.clock()
    fn()
    graphids.gpu.synchronize()
    runs[r] = graphids.clock() - t0
  end
  table.sort(runs)
  return runs[(REPS + 1) // 2]
end

local n = 8192
local a = graphids.randn(n, n, { device = "cuda" })
local b = graphids.randn(n, n, { device = "cuda" })
local t = median_s(function() local _ = graphids.mm(a, b) end)
print(string.format("gpu_matmul_8192_%s_tflops %.2f TFLOP/s",
  os.getenv("GRAPHIDS_ALLOW_TF32") == "1" and "tf32" or "f32", 2 * n ^ 3 / t * 1e-12))

-- bf16 operands (cublasGemmEx, f32 accumulation, bf16 result): the tensor-core rate autocast
-- uses (docs/amp.md).
local a16, b16 = a:to("bf16"), b:to("bf16")
t = median_s(function() local _ = graphids.mm(a16, b16) end)
print(string.format("gpu_matmul_8192_bf16_tflops %.2f TFLOP/s", 2 * n ^ 3 / t * 1e-12))
a16, b16 = nil, nil

local x = graphids.empty(256, 1024, 1024, { device = "cuda" }) -- 1 GiB
local y = graphids.empty(256, 1024, 1024, { device = "cuda" })
t = median_s(function() y:copy_(x) end)
print(string.format("gpu_copy_d2d_gbs %.1f GB/s", 2 * 2 ^ 30 / t * 1e-9))

t = median_s(function() local _ = x:sum() end)
print(string.format("gpu_sum_1gib_gbs %.1f GB/s", 2 ^ 30 / t * 1e-9))
-- Softmax and activations, bytes read plus written, on random data: the plain kernels cuDNN
-- would replace (docs/cuda.md: they are kept where they run as fast as PyTorch's own).
x, y = nil, nil
local r = graphids.randn(262144, 1024, { device = "cuda" }) -- 1 GiB, rows of 1024
t = median_s(function() local _ = r:softmax(2) end)
print(string.format("gpu_softmax_rows1024_gbs %.1f GB/s", 2 * 2 ^ 30 / t * 1e-9))
local r3 = r:view(-1, 4) -- rows of 4 (the JK scores' size class)
t = median_s(function() local _ = r3:softmax(2) end)
print(string.format("gpu_softmax_rows4_gbs %.1f GB/s", 2 * 2 ^ 30 / t * 1e-9))
for _, f in ipairs({ "relu", "sigmoid", "tanh", "elu" }) do
  t = median_s(function() local _ = r[f](r) end)
  print(string.format("gpu_%s_1gib_gbs %.1f GB/s", f, 2 * 2 ^ 30 / t * 1e-9))
end
r, r3 = nil, nil

local m = graphids.gpu.memory()
print(string.format("gpu_memory_before_reset allocated=%d reserved=%d peak=%d", m.allocated,
  m.reserved, m.peak))
a, b, x, y = nil, nil, nil, nil
graphids.gpu.reset()
m = graphids.gpu.memory()
print(string.format("gpu_memory_after_reset allocated=%d reserved=%d peak=%d", m.allocated,
  m.reserved, m.peak))
