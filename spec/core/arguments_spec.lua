-- arguments_spec.lua -- every function of graphids.core and every Tensor method refuses an
-- argument past its last accepted one, so a misplaced option or a stray value is never
-- silently dropped.  Each entry below is a call that uses every argument the function takes;
-- the same call with one more argument must fail naming the function and the position.
local core = require "graphids.core"
local graphids = require "graphids"
local helpers = require "helpers"
local errors, long = helpers.errors, helpers.long

local F64_GRAD = { dtype = "f64", requires_grad = true }

local function m22()
  return graphids.tensor({ { 1.0, 2 }, { 3, 4 } })
end
local function vec()
  return graphids.tensor({ 1.0, 2, 3 })
end
local function mask()
  return graphids.tensor({ { true, false }, { false, true } })
end

local unary = {
  "abs", "ceil", "cos", "exp", "expm1", "floor", "isfinite", "isinf", "isnan", "log", "log1p",
  "log2", "logical_not", "neg", "reciprocal", "relu", "round", "rsqrt", "sigmoid", "sign", "silu",
  "sin", "sqrt", "square", "tan", "tanh", "trunc",
}
local binary = {
  "atan2", "div", "eq", "fmod", "ge", "gt", "le", "logical_and", "logical_or", "logical_xor", "lt",
  "maximum", "minimum", "mul", "ne", "pow", "remainder", "floor_divide",
}
local reductions = { "sum", "mean", "prod", "amax", "amin", "logsumexp", "any", "all", "argmax",
  "argmin", "max", "min" }

-- name -> function returning the arguments of a call that fills every accepted position.
local full = {}
for _, name in ipairs(unary) do
  full[name] = function() return m22(), {} end
  full[name .. "_"] = full[name]
end
for _, name in ipairs(binary) do
  full[name] = function() return m22(), m22(), {} end
  full[name .. "_"] = full[name]
end
for _, name in ipairs(reductions) do
  full[name] = function() return m22(), 1, { keepdim = true } end
end
for _, name in ipairs({ "softmax", "log_softmax", "cumsum", "cumprod" }) do
  full[name] = function() return m22(), 1, {} end
end
for _, name in ipairs({ "segment_sum", "segment_mean", "segment_max", "segment_min",
  "segment_softmax" }) do
  full[name] = function() return vec(), long({ 0, 1, 0 }), 2 end
end
for _, name in ipairs({ "float", "double", "long", "int", "byte", "bool", "numel", "dim",
  "is_contiguous", "totable", "tobytes", "clone", "contiguous", "t", "zero_", "free", "nonzero" }) do
  full[name] = function() return m22() end
end
full.int_range = function() return long({ 3, 1 }) end
-- the Lua-composed methods (graphids.tensor_extras)
full.tolist = function() return m22() end
for _, name in ipairs({ "view_as", "reshape_as", "type_as" }) do
  full[name] = function() return m22(), m22() end
end
for _, name in ipairs({ "new_zeros", "new_ones", "new_empty" }) do
  full[name] = function() return m22(), { 2 }, {} end
end
full.new_full = function() return m22(), { 2 }, 1.5, {} end
full.clamp_min = function() return m22(), 1 end
full.clamp_max = full.clamp_min
full.unbind = function() return m22(), 2 end
full.flip = function() return m22(), { 1, 2 } end
full.repeat_interleave = function() return m22(), 2, 1 end
full.isin = function() return long({ 1, 2 }), long({ 2 }) end
full._getitem = function() return m22(), long({ 1 }) end
full._setitem = function() return m22(), long({ 1 }), 0 end
-- graphids.tensor_linalg, tensor_index, tensor_shape and tensor_math (Lua-composed too; einsum,
-- hstack and vstack are module functions only, the others Tensor methods as well)
local function m222() return graphids.ones(2, 2, 2) end
full.dot = function() return vec(), vec() end
full.outer = full.dot
full.mv = function() return m22(), graphids.tensor({ 1.0, 2 }) end
full.addmv = function()
  return graphids.tensor({ 1.0, 2 }), m22(), graphids.tensor({ 1.0, 2 }), { beta = 2 }
end
full.baddbmm = function() return m222(), m222(), m222(), { alpha = 2 } end
for _, name in ipairs({ "tril", "triu", "diag" }) do
  full[name] = function() return m22(), 1 end
end
full.trace = function() return m22() end
full.cdist = function() return m22(), m22(), 1 end
full.einsum = function() return "ij,jk->ik", m22(), m22() end
for _, name in ipairs({ "index_copy", "index_copy_" }) do
  full[name] = function() return m22(), 1, long({ 1 }), graphids.tensor({ { 5.0, 6 } }) end
end
for _, name in ipairs({ "index_fill", "index_fill_" }) do
  full[name] = function() return m22(), 1, long({ 0 }), 2 end
end
for _, name in ipairs({ "index_put", "index_put_" }) do
  full[name] = function() return m22(), { long({ 0 }) }, 1, true end
end
for _, name in ipairs({ "scatter_reduce", "scatter_reduce_" }) do
  full[name] = function() return m22(), 1, long({ { 1, 0 } }), m22(), "amax", { include_self = false } end
end
full.take_along_dim = function() return m22(), long({ { 0 }, { 1 } }), 2 end
full.argwhere = function() return m22() end
full.count_nonzero = function() return m22(), 1 end
for _, name in ipairs({ "searchsorted", "bucketize" }) do
  full[name] = function() return vec(), vec(), { right = true } end
end
for _, name in ipairs({ "roll", "movedim", "moveaxis", "swapaxes", "swapdims" }) do
  full[name] = function() return m22(), 1, 2 end
end
full.diff = function() return m22(), 1, 2, { append = m22() } end
full.unflatten = function() return vec(), 1, { 3, 1 } end
full.tile = function() return m22(), { 2 } end
full.hstack = function() return { vec(), vec() } end
full.vstack = full.hstack
full.tensor_split = function() return vec(), 2, 1 end
full.split_with_sizes = function() return vec(), { 1, 2 }, 1 end
for _, name in ipairs({ "nan_to_num", "nan_to_num_" }) do
  full[name] = function() return m22(), { nan = 0 } end
end
full.nansum = function() return m22(), 1, { keepdim = true } end
full.median = full.nansum
full.kthvalue = function() return m22(), 1, 1, { keepdim = true } end
full.lerp = function() return m22(), m22(), 0.5 end
for _, name in ipairs({ "hypot", "xlogy" }) do
  full[name] = function() return m22(), m22() end
end
full.logit = function() return m22(), 0.1 end
for _, name in ipairs({ "addcmul", "addcdiv", "addcmul_", "addcdiv_" }) do
  full[name] = function() return m22(), m22(), m22(), { value = 2 } end
end
for _, name in ipairs({ "clip", "clip_" }) do
  full[name] = function() return m22(), 0, 1 end
end
full.isclose = function() return m22(), m22(), { rtol = 1e-3 } end
for _, name in ipairs({ "sinh", "cosh" }) do
  full[name] = function() return m22() end
end
for _, name in ipairs({ "zeros_like", "ones_like", "empty_like", "rand_like", "randn_like" }) do
  full[name] = function() return m22(), {} end
end
for _, name in ipairs({ "zeros", "ones", "empty", "rand", "randn" }) do
  full[name] = function() return 2, 3, {} end
end
for _, name in ipairs({ "add", "sub", "add_", "sub_" }) do
  full[name] = function() return m22(), m22(), { alpha = 2 } end
end
for _, name in ipairs({ "gelu", "gelu_" }) do
  full[name] = function() return m22(), { approximate = "tanh" } end
end
for _, name in ipairs({ "leaky_relu", "leaky_relu_", "elu", "elu_" }) do
  full[name] = function() return m22(), 0.5 end
end
for _, name in ipairs({ "clamp", "clamp_" }) do
  full[name] = function() return m22(), 0, 1 end
end
for _, name in ipairs({ "var", "std" }) do
  full[name] = function() return m22(), 1, { correction = 0 } end
end
for _, name in ipairs({ "scatter", "scatter_", "scatter_add", "scatter_add_" }) do
  full[name] = function() return m22(), 1, long({ { 1, 0 } }), m22() end
end
for _, name in ipairs({ "index_add", "index_add_" }) do
  full[name] = function() return m22(), 1, long({ 1, 0 }), m22(), { alpha = 2 } end
end
for _, name in ipairs({ "masked_fill", "masked_fill_" }) do
  full[name] = function() return m22(), mask(), 0 end
end
for _, name in ipairs({ "sort", "argsort" }) do
  full[name] = function() return vec(), 1, { descending = true } end
end
for _, name in ipairs({ "view", "reshape" }) do
  full[name] = function() return m22(), { 4 } end
end
for _, name in ipairs({ "size", "stride", "squeeze", "unsqueeze" }) do
  full[name] = function() return m22(), 1 end
end
for _, name in ipairs({ "uniform_", "normal_" }) do
  full[name] = function() return m22(), 0, 1, {} end
end
for _, name in ipairs({ "matmul", "mm", "equal", "copy_" }) do
  full[name] = function() return m22(), m22() end
end

local state = graphids.get_rng_state()
local others = {
  masked_select = function() return m22(), mask() end,
  softplus = function() return m22(), { beta = 2 } end,
  layer_norm = function() return m22(), 1, graphids.ones(2), graphids.zeros(2), 1e-3 end,
  where = function() return mask(), m22(), m22() end,
  allclose = function() return m22(), m22(), { rtol = 1e-3 } end,
  result_type = function() return m22(), 2 end,
  norm = function() return m22(), 2, 1, { keepdim = true } end,
  bmm = function() return graphids.ones(2, 2, 2), graphids.ones(2, 2, 2) end,
  addmm = function() return m22(), m22(), m22(), { beta = 2 } end,
  index_select = function() return m22(), 1, long({ 1 }) end,
  gather = function() return m22(), 2, long({ { 0 }, { 1 } }) end,
  topk = function() return vec(), 2, 1, { largest = false } end,
  unique = function() return vec(), { return_counts = true } end,
  bincount = function() return long({ 0, 2 }), { minlength = 4 } end,
  _adam_step = function()
    return vec(), vec(), graphids.zeros(3), graphids.zeros(3), graphids.zeros(3),
      { lr = 0.1, step = 1, amsgrad = true }
  end,
  _adam_steps = function()
    return { vec() }, { vec() }, { graphids.zeros(3) }, { graphids.zeros(3) }, { graphids.zeros(3) },
      { 1 }, { lr = 0.1, amsgrad = true }
  end,
  clock = function() return end,
  count_nonfinite = function() return { vec(), m22() } end,
  _sgd_step = function() return vec(), vec(), graphids.zeros(3), { lr = 0.1, momentum = 0.9 } end,
  split = function() return vec(), { 1, 2 }, 1 end,
  chunk = function() return vec(), 2, 1 end,
  cat = function() return { vec(), vec() }, 1 end,
  stack = function() return { vec(), vec() }, 1 end,
  permute = function() return m22(), { 2, 1 } end,
  transpose = function() return m22(), 1, 2 end,
  narrow = function() return m22(), 1, 1, 1 end,
  select = function() return m22(), 1, 1 end,
  expand = function() return graphids.ones(1, 2), { 2, 2 } end,
  expand_as = function() return graphids.ones(1, 2), m22() end,
  flatten = function() return m22(), 1, 2 end,
  fill_ = function() return m22(), 1 end,
  to = function() return m22(), "f64" end,
  type = function() return m22(), "f64" end,
  item = function() return graphids.tensor(1.5) end,
  bernoulli_ = function() return m22(), 0.5, {} end,
  Generator = function() return 7 end,
  manual_seed = function() return graphids.initial_seed() end,
  initial_seed = function() end,
  get_rng_state = function() end,
  set_rng_state = function() return state end,
  randint = function() return 0, 5, { 2 }, {} end,
  randperm = function() return 3, {} end,
  tensor = function() return { 1, 2 }, {} end,
  frombytes = function() return string.rep("\0", 8), "f32", { 2 } end,
  full = function() return { 2 }, 1, {} end,
  full_like = function() return m22(), 1, {} end,
  arange = function() return 0, 3, 1, {} end,
  linspace = function() return 0, 1, 3, {} end,
  eye = function() return 2, 3, {} end,
  is_tensor = function() return m22() end,
  memory = function() end,
  reset_peak_memory = function() end,
  empty_cache = function() end,
  cache_limit = function() return graphids.cache_limit() end,
  version = function() end,
  blas = function() end,
  get_num_threads = function() end,
  set_num_threads = function() return graphids.get_num_threads() end,
  gc_soft_limit = function() return graphids.gc_soft_limit() end,
  _named = function() return print, "f" end,
  _at_caller = function() return print, print end,
  _error_parts = function() return "x.lua:3: f: bad" end,
  printoptions = function() return {} end,
  is_grad_enabled = function() end,
  is_autocast_enabled = function() end,
  autocast_dtype = function() end,
  is_autocast_cache_enabled = function() end,
  set_autocast_cache_enabled = function() return true end,
  clear_autocast_cache = function() end,
  autocast_cache_size = function() end,
  set_grad_enabled = function() return graphids.is_grad_enabled() end,
  requires_grad_ = function() return m22(), true end,
  detach = function() return m22() end,
  retain_grad = function() return graphids.ones(1, { requires_grad = true }) * 2 end,
  register_hook = function() return graphids.ones(1, { requires_grad = true }), function() end end,
  backward = function()
    return graphids.ones(1, { requires_grad = true }) * 2, graphids.ones(1), { retain_graph = true }
  end,
}
for name, fn in pairs(others) do
  full[name] = fn
end

-- The data, graph, file, digest, metric and network functions.
local scratch = os.tmpname()
os.remove(scratch)
assert(core.mkdir_p(scratch))
local function path(name) return scratch .. "/" .. name end
local function frames() return (core.can_simulate({ seed = 1, frames = 400 })) end
local function csv()
  local p = path("f.csv")
  local f = assert(io.open(p, "w"))
  f:write("timestamp,arbitration_id,data_field,attack\n1.0,316,0102,0\n1.1,317,,1\n")
  f:close()
  return p
end
local function set()
  return core.build_windows({ frames() }, { vocab = {}, window = 50, stride = 50 })
end
local function scored() return graphids.tensor({ 0.1, 0.9, 0.4 }), long({ 0, 1, 1 }) end
local function ei() return long({ { 0, 1 }, { 1, 0 } }) end
local data_calls = {
  append_file = function() return path("a.txt"), "x", { sync = true } end,
  atomic_write = function() return path("w.txt"), "x" end,
  resolve_links = function() return path("w.txt") end,
  replace_file = function()
    local src = path("r.txt")
    local f = assert(io.open(src, "w"))
    f:write("x")
    f:close()
    return src, path("w.txt")
  end,
  read_can = function() return csv(), { lenient = true } end,
  read_can_many = function() return { csv() }, { lenient = true } end,
  can_formats = function() end,
  can_simulate = function() return { seed = 1, frames = 100 } end,
  can_simulate_dataset = function() return path("sim"), { seed = 1, frames = 2000 } end,
  can_vocab_ids = function() return { frames() }, true end,
  build_windows = function() return { frames() }, { vocab = {}, window = 50, stride = 50 } end,
  scaler_fit = function()
    local s = set()
    return s.x, s.node_ptr, long({ 0 }), 1e-6
  end,
  scaler_apply_ = function()
    local s = set()
    return s.x, graphids.zeros(35), graphids.ones(35)
  end,
  graph_collate = function() return set(), { 0 } end,
  graph_set_validate = function() return set() end,
  graph_gatv2_attention = function()
    return graphids.ones(2, 1, 3), graphids.ones(2, 1, 3), nil, graphids.ones(1, 3), ei(), 2,
      0.2, nil
  end,
  graph_gat_attention = function()
    return graphids.ones(2, 1, 3), graphids.ones(2, 1), graphids.ones(2, 1), nil, ei(), 2, 0.2,
      nil
  end,
  save_safetensors = function() return path("t.safetensors"), { a = vec() }, { k = "v" } end,
  load_safetensors = function()
    core.save_safetensors(path("l.safetensors"), { a = vec() }, {})
    return path("l.safetensors"), { mmap = true }
  end,
  lock = function() return path(".lock"), { exclusive = true, timeout = 1 } end,
  mkdir_p = function() return path("d/e") end,
  list_dir = function() return scratch end,
  stat = function() return scratch end,
  disk_usage = function() return scratch end,
  getcwd = function() end,
  remove_tree = function()
    assert(core.mkdir_p(path("r/s")))
    return path("r")
  end,
  sha256 = function() return "abc" end,
  sha256_file = function() return csv() end,
  metrics_binary = function()
    local s, l = scored()
    return s, l, { num_classes = 2, positive = 1, min_recall = 0.9, min_precision = 0.9 }
  end,
  metrics_roc_curve = function()
    local s, l = scored()
    return s, l, { num_classes = 2, positive = 1 }
  end,
  metrics_pr_curve = function()
    local s, l = scored()
    return s, l, { num_classes = 2, positive = 1 }
  end,
  metrics_confusion = function() return long({ 0, 1 }), long({ 1, 1 }), 2 end,
  metrics_threshold_confusion = function()
    local s, l = scored()
    return s, l, 0.5
  end,
  metrics_ece = function() return graphids.tensor({ 0.9, 0.6 }), long({ 1, 0 }), { n_bins = 5 } end,
  http_request = function()
    -- Port 9 on the loopback: nothing listens, so the call fails fast without a network.
    return { method = "GET", url = "http://127.0.0.1:9/", headers = {}, body = "", timeout = 2 }
  end,
  wall_time = function() end,
  sleep = function() return 0 end,
  hostname = function() end,
  user_name = function() end,
  lstm_cell = function() return graphids.ones(2, 8), graphids.ones(2, 2) end,
  -- x [T=2, N=1, C=3], hidden 2: w_ih [8, 3], w_hh [8, 2], biases [8], per direction
  bilstm = function()
    local w_ih, w_hh, b = graphids.ones(8, 3), graphids.ones(8, 2), graphids.ones(8)
    return graphids.ones(2, 1, 3), w_ih, w_hh, b, b, w_ih, w_hh, b, b
  end,
  graph_replace_self_loops = function() return ei(), graphids.ones(2, 3), 2 end,
  jk_sum = function() return graphids.ones(2, 3, 4), graphids.ones(2, 3) end,
}
for name, fn in pairs(data_calls) do
  full[name] = fn
end

-- Calls fn with the full arguments, then with one more, which must fail.
local function check(label, fn, args_of)
  local args = table.pack(args_of())
  local ok, err = pcall(fn, table.unpack(args, 1, args.n))
  assert(ok, label .. " with its full arguments should succeed, got: " .. tostring(err))
  local extra = table.pack(args_of())
  extra[extra.n + 1] = 99
  errors(label .. ": unexpected argument #" .. extra.n + 1 .. " %(number%)", fn,
    table.unpack(extra, 1, extra.n + 1))
end

local function sorted_functions(t)
  local names = {}
  for k, v in pairs(t) do
    if type(v) == "function" then
      names[#names + 1] = k
    end
  end
  table.sort(names)
  return names
end

describe("argument counts", function()
  after_each(function()
    graphids.set_rng_state(state)
  end)
  teardown(function()
    core.remove_tree(scratch)
  end)

  -- no_grad(fn, ...), enable_grad(fn, ...), autocast(dtype, fn, ...) and
  -- _call_as(fname, names, fn, ...) pass every argument after fn on to fn.
  local forwarding = { no_grad = true, enable_grad = true, autocast = true, _call_as = true }

  it("every module function rejects an argument past its last", function()
    for _, name in ipairs(sorted_functions(core)) do
      if not forwarding[name] then
        assert(full[name], "no full call listed for graphids." .. name)
        check(name, core[name], full[name])
      end
    end
  end)

  it("no_grad, enable_grad, autocast and _call_as hand every extra argument to the function", function()
    local echo = function(...) return ... end
    for _, name in ipairs({ "no_grad", "enable_grad" }) do
      assert.are.same({ n = 3, 1, nil, 99 }, table.pack(core[name](echo, 1, nil, 99)))
    end
    assert.are.same({ n = 3, 1, nil, 99 }, table.pack(core.autocast("bf16", echo, 1, nil, 99)))
    assert.are.same({ n = 3, 1, nil, 99 }, table.pack(core._call_as("f", nil, echo, 1, nil, 99)))
  end)

  it("every graphids.autograd function rejects an argument past its last", function()
    local calls = {
      backward = function()
        local y = graphids.ones(1, { requires_grad = true }) * 2
        return { y }, { graphids.ones(1) }, { retain_graph = true }
      end,
      detect_anomaly = function() return false end,
      grad = function()
        local x = graphids.ones(1, F64_GRAD)
        return { x * 2 }, { x }, { graphids.ones(1, { dtype = "f64" }) }, { retain_graph = true }
      end,
      is_anomaly_enabled = function() end,
      gradcheck = function() return graphids.exp, { graphids.ones(1, F64_GRAD) }, { eps = 1e-6 } end,
      Function = function()
        return { forward = function() end, backward = function() end, name = "F" }
      end,
    }
    for _, name in ipairs(sorted_functions(core.autograd)) do
      assert(calls[name], "no full call listed for graphids.autograd." .. name)
      check(name, core.autograd[name], calls[name])
    end
  end)

  it("every Tensor method rejects an argument past its last", function()
    local has_gpu = graphids.gpu.is_available()
    full.cpu = function() return m22() end
    -- t:cuda() can only succeed where a GPU is: spec/gpu/gpu_check.lua covers it there.
    full.cuda = has_gpu and function() return m22(), 0 end or nil
    -- t:record_stream(s) needs a device stream: spec/core/gpu_stream_spec.lua covers it.
    full.record_stream = has_gpu and function()
      return m22():cuda(), graphids.gpu.current_stream()
    end or nil
    for _, name in ipairs(sorted_functions(core.Tensor)) do
      if (name ~= "cuda" and name ~= "record_stream") or has_gpu then
        assert(full[name], "no full call listed for Tensor:" .. name)
        check(name, core.Tensor[name], full[name])
      end
    end
  end)

  it("every graphids.gpu function rejects an argument past its last", function()
    local calls = {
      is_available = function() end,
      status = function() end,
      device_count = function() end,
      nvml = function() end, -- (nil and why without a driver: no raise either way)
    }
    if graphids.gpu.is_available() then
      calls.info = function() end
      calls.memory = function() return 0 end
      calls.reset = function() return 0 end
      calls.synchronize = function() return 0 end
      calls.waits = function() end
    else
      calls.reset = function() return 0 end -- a no-op returning false without a GPU
    end
    calls.gemm_tuning = function() end
    calls.set_gemm_tuning = function() return graphids.gpu.gemm_tuning() end
    calls.rnn_tf32 = function() end
    calls.set_rnn_tf32 = function() return graphids.gpu.rnn_tf32() end
    for _, name in ipairs(sorted_functions(core.gpu)) do
      if calls[name] then check("gpu." .. name, core.gpu[name], calls[name]) end
    end
    local ok, why = graphids.gpu.reset()
    if not graphids.gpu.is_available() then
      assert.is_false(ok)
      assert.matches("CUDA plugin", why)
    end
  end)

  it("every Generator method rejects an argument past its last", function()
    local gen = graphids.Generator(3)
    local calls = {
      manual_seed = function() return gen, 5 end,
      initial_seed = function() return gen end,
      get_state = function() return gen end,
      set_state = function() return gen, gen:get_state() end,
    }
    for _, name in ipairs({ "get_state", "initial_seed", "manual_seed", "set_state" }) do
      check(name, gen[name], calls[name])
    end
  end)

  it("names the function for the reported cases", function()
    local a, b, x = m22(), m22(), vec()
    errors("matmul: unexpected argument #3 %(table%)", graphids.matmul, a, b, { out = 1 })
    errors("cat: unexpected argument #3 %(table%)", graphids.cat, { x, x }, 1, { bogus = 1 })
    errors("segment_sum: unexpected argument #4 %(table%)", graphids.segment_sum, x,
      long({ 0, 1, 0 }), 3, { sorted = true })
    errors("sum: unexpected argument #4 %(number%)", a.sum, a, 1, { keepdim = true }, 5)
    errors("tensor: unexpected argument #3", graphids.tensor, { 1 }, { dtype = "f32" }, 5)
  end)

  it("leaves the metamethods their extra operands (#t, -t, <close>)", function()
    local t = vec()
    assert.equal(3, #t)
    assert.same({ -1, -2, -3 }, (-t):totable())
    do
      local c <close> = vec()
      assert.equal(3, c:numel())
    end
  end)
  it("names the op the caller called and the value at fault", function()
    local nn = require "graphids.nn"
    -- an in-place activation that cannot write its target names itself, not the copy it makes
    errors("^clamp_: the target of shape %[2,3%] is expanded", function()
      graphids.zeros(1, 3):expand(2, 3):clamp_(1, 2)
    end)
    errors("leaky_relu_: the target", function() graphids.zeros(1, 3):expand(2, 3):leaky_relu_(0.1) end)
    errors("max: cannot reduce over an empty dim", function() graphids.zeros(0):max() end)
    errors("expand: size %-5 in %[%-5,2,3%] is not allowed", function()
      graphids.zeros(2, 3):expand(-5, 2, 3)
    end)
    errors("does not fit in i64 %[%-9223372036854775808, 9223372036854775807%]", function()
      graphids.zeros(3, { dtype = "i64" }):fill_(1e30)
    end)
    errors("does not fit in u8 %[0, 255%]", function() graphids.zeros(3, { dtype = "u8" }):fill_(256) end)
    -- an integer to a negative integer power has no integer result
    errors("pow: an integer tensor %(i64%) to a negative integer power %(%-1%) is not an integer",
      function() return graphids.tensor({ 2 }) ^ -1 end)
    assert.equal(0.5, (graphids.tensor({ 2 }) ^ -1.0):item())
    assert.equal(4, (graphids.tensor({ 2 }) ^ 2):item())
    -- NaN is no probability and no mean
    errors("Dropout: probability has to be between 0 and 1", function() nn.Dropout(0 / 0) end)
    errors("dropout: probability has to be between 0 and 1", function()
      nn.functional.dropout(graphids.ones(4), 0 / 0, true)
    end)
    errors("normal_: mean must be finite", function() graphids.zeros(3):normal_(0 / 0, 1) end)
    errors("normal_: std must be a finite number >= 0", function()
      graphids.zeros(3):normal_(0, math.huge)
    end)
  end)
end)

describe("graphids.nn.functional and graphids.nn.graph", function()
  -- A function written in Lua, bare or as core._named's closure around it (functional.lua names
  -- its own so their errors land at the caller's line): not one of the core's C functions.
  local function lua_written(f)
    if debug.getinfo(f, "S").what == "Lua" then return true end
    local _, inner = debug.getupvalue(f, 1)
    return type(inner) == "function" and debug.getinfo(inner, "S").what == "Lua"
  end

  it("refuse a value past a Lua function's last parameter, before anything else", function()
    local F = require "graphids.nn.functional"
    local G = require "graphids.nn.graph"
    for _, mod in ipairs({ { F, "" }, { G, "" } }) do
      local count = 0
      for _, name in ipairs(sorted_functions(mod[1])) do
        local f = mod[1][name]
        -- (C functions taken over from the core are the core's: checked above)
        if type(f) == "function" and lua_written(f) then
          -- nils up to 12 are no arguments; the 13th is past every function's last
          local ok, err = pcall(f, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, 99)
          assert(not ok and tostring(err):find(name .. ": unexpected argument #13 %(number%)"),
            name .. ": " .. tostring(err))
          count = count + 1
        end
      end
      assert.is_true(count > 10)
    end
    errors("leaky_relu: unexpected argument #3 %(boolean%)", F.leaky_relu, graphids.ones(2), 0.2, true)
    errors("softmax: unexpected argument #4 %(number%)", G.softmax, graphids.ones(2), long({ 0, 0 }), nil, 5)
    assert.equal(2, F.leaky_relu(graphids.ones(2), 0.2, nil):sum():item()) -- a trailing nil is none
  end)
end)
