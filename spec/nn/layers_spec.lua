-- layers_spec.lua -- the graphids.nn layers on tiny inputs checked by hand (Lua arithmetic), and a
-- finite-difference gradcheck (f64) of each over its input and parameters.
local graphids = require "graphids"
local nn = require "graphids.nn"
local F = require "graphids.nn.functional"
local helpers = require "helpers"
local modcheck = require "modcheck"
local errors, near = helpers.errors, helpers.near

local F64 = helpers.F64

-- math.tanh is gone from Lua 5.4
local function tanh(v)
  local e = math.exp(-2 * math.abs(v))
  local r = (1 - e) / (1 + e)
  return v < 0 and -r or r
end

-- Sets the module's parameters (by name) to the given values.
local function set(m, values)
  graphids.no_grad(function()
    for name, v in pairs(values) do
      m[name]:copy_(graphids.tensor(v))
    end
  end)
  return m
end

local function map(t, fn)
  if type(t) == "table" then
    local out = {}
    for i, v in ipairs(t) do
      out[i] = map(v, fn)
    end
    return out
  end
  return fn(t)
end

local function erf(x)
  -- Abramowitz-Stegun 7.1.26 is too coarse; integrate the series instead (|x| <= 3 here).
  local sum, term, n = x, x, 0
  repeat
    n = n + 1
    term = -term * x * x / n
    sum = sum + term / (2 * n + 1)
  until math.abs(term) < 1e-17
  return 2 / math.sqrt(math.pi) * sum
end

describe("nn.Linear", function()
  it("computes x W^T + b for 1-D, 2-D and 3-D inputs", function()
    local m = set(nn.Linear(3, 2), { weight = { { 1, 0, -1 }, { 2, 1, 0 } }, bias = { 0.5, -1 } })
    assert.same({ { -1.5, 3 } }, m(graphids.tensor({ { 1.0, 2, 3 } })):totable())
    assert.same({ -1.5, 3 }, m(graphids.tensor({ 1.0, 2, 3 })):totable())
    local x3 = graphids.tensor({ { { 1.0, 2, 3 }, { 0, 0, 1 } }, { { 1, 1, 1 }, { -1, 0, 0 } } })
    assert.same({ { { -1.5, 3 }, { -0.5, -1 } }, { { 0.5, 2 }, { -0.5, -3 } } }, m(x3):totable())
    local nb = set(nn.Linear(3, 2, { bias = false }), { weight = { { 1, 0, -1 }, { 2, 1, 0 } } })
    assert.same({ { -2, 4 } }, nb(graphids.tensor({ { 1.0, 2, 3 } })):totable())
    assert.is_nil(nb.bias)
    assert.same({ "weight" }, nb:state_dict():keys())
    -- a refusal inside the layer is the layer's, at the line that called it
    local at = helpers.errors_at_caller
    at(": Linear: input must be a Tensor, got 'x' %(a string%)$", m, "x")
    at(": Linear: input of shape %[1, 4%] has last dim 4, but weight of shape %[2, 3%] takes 3$", m,
      graphids.ones(1, 4))
    at(": linear: input of shape %[4%] has last dim 4, but weight of shape %[2, 3%] takes 3$", F.linear,
      graphids.ones(4), m.weight)
  end)

  -- the product would refuse the mix too, counting its own arguments ("addmm: arg 2 has dtype
  -- f32"), which a Linear does not have
  it("refuses an input of another dtype than its weight in its own terms, at the caller's line", function()
    local at = helpers.errors_at_caller
    local m = nn.Linear(8, 4)
    local x64 = graphids.randn({ 3, 8 }, F64)
    local f64 = ": Linear: input has dtype f64, but weight has dtype f32 %(convert one: " ..
      "input:float%(%), or the layer: m:double%(%)%)$"
    at(f64, m, x64)
    at(f64, m, graphids.randn({ 8 }, F64))
    at(f64, m, graphids.randn({ 2, 3, 8 }, F64))
    at(f64, nn.Linear(8, 4, { bias = false }), x64)
    at(": Linear: input has dtype i64, but weight has dtype f32 %(convert it: input:float%(%)%)$", m,
      graphids.randn(3, 8):long())
    at(": model%.1: Linear: input has dtype f64, but weight has dtype f32 ", nn.Sequential(nn.ReLU(), m),
      x64)
    at(": Linear: input has dtype f32, but weight has dtype f64 %(convert one: input:double%(%), or " ..
      "the layer: m:float%(%)%)$", nn.Linear(8, 4, F64), graphids.randn(3, 8))
    at(": linear: input has dtype f64, but weight has dtype f32 ", F.linear, x64, m.weight)
    -- a bias of another dtype: addmm's refusal counted its own arguments ("the dtype of arg 1"),
    -- and a 1-D input's sum widened the result to the bias's dtype without a word
    local b = nn.Linear(8, 4)
    b.bias = graphids.zeros({ 4 }, F64)
    local bias64 = ": Linear: bias has dtype f64, but weight has dtype f32 %(convert it: bias:float%(%)%)$"
    at(bias64, b, graphids.randn(3, 8))
    at(bias64, b, graphids.randn(8))
    at(bias64, b, graphids.randn(2, 3, 8))
    at(": linear: bias has dtype f64, but weight has dtype f32 %(convert it: bias:float%(%)%)$", F.linear,
      graphids.randn(3, 8), m.weight, b.bias)
    at(": linear: bias has dtype f32, but weight has dtype f64 %(convert it: bias:double%(%)%)$", F.linear,
      graphids.randn(8, F64), graphids.randn({ 4, 8 }, F64), graphids.zeros(4))
    at(": linear: bias must be a Tensor or nil, got 'b' %(a string%)$", F.linear, graphids.randn(3, 8),
      m.weight, "b")
    at(": linear: weight must be a Tensor, got nil$", F.linear, graphids.randn(3, 8))
  end)

  it("starts U(-1/sqrt(in), 1/sqrt(in)) for weight and bias", function()
    graphids.manual_seed(1)
    local m = nn.Linear(400, 300)
    local bound = 1 / math.sqrt(400)
    assert.is_true(m.weight:abs():amax():item() <= bound)
    assert.is_true(m.weight:abs():amax():item() > 0.99 * bound)
    assert.is_true(m.bias:abs():amax():item() <= bound)
    near(m.weight:std():item(), bound / math.sqrt(3), 0.02)
    assert.equal("f64", nn.Linear(2, 2, { dtype = "f64" }).weight.dtype)
  end)

  it("passes gradcheck", function()
    local m = nn.Linear(3, 2, F64)
    assert.is_true(modcheck.gradcheck(m, { modcheck.input(4, 3) }))
    assert.is_true(modcheck.gradcheck(m, { modcheck.input(2, 2, 3) }))
    assert.is_true(modcheck.gradcheck(nn.Linear(3, 2, { bias = false, dtype = "f64" }),
      { modcheck.input(3) }))
  end)

  it("Identity returns its input", function()
    local x = graphids.randn(2, 2)
    assert.equal(x, nn.Identity(3, { any = 1 })(x))
  end)
end)

describe("nn.functional errors", function()
  -- an op a functional is built of refusing its argument: the functional's error, at the line
  -- that called it, not one of functional.lua's
  it("raises the errors of the ops nn.functional is built of at the caller's line", function()
    local at = helpers.errors_at_caller
    local x = graphids.randn(3, 4)
    at(": linear: bias has shape %[6%], which does not broadcast to %[3,5%]$", F.linear, x,
      graphids.randn(5, 4), graphids.zeros(6))
    at(": softmax: dim 5 out of range for a tensor of 2 dims", F.softmax, x, 5)
    at(": log_softmax: dim 5 out of range", F.log_softmax, x, 5)
    at(": normalize: dim 5 out of range", F.normalize, x, { dim = 5 })
    at(": cosine_similarity: shapes %[3,4%] and %[3,5%] do not broadcast", F.cosine_similarity, x,
      graphids.randn(3, 5))
    at(": layer_norm: shapes %[3,4%] and %[5%] do not broadcast", F.layer_norm, x, { 4 },
      { weight = graphids.ones(5) })
    at(": batch_norm: ", F.batch_norm, x, graphids.zeros(5), graphids.ones(4))
  end)

  it("name the function and what it got for an input that is no tensor", function()
    -- the core's refusal read "bad argument #1 to 'fn' (graphids.Tensor expected, got string)"
    -- from nn.ReLU, and named the function by how it was called
    local at = helpers.errors_at_caller
    for _, name in ipairs({ "relu", "sigmoid", "tanh", "silu", "leaky_relu", "elu", "gelu", "softplus",
      "softmax", "log_softmax", "dropout", "layer_norm", "batch_norm" }) do
      local second = (name == "softmax" or name == "log_softmax") and 1 or nil
      at("^spec/support/helpers%.lua:%d+: " .. name .. ": input must be a tensor, got 'x' %(a string%)$",
        F[name], "x", second)
    end
    at(": relu: input must be a tensor, got nil$", F.relu, nil)
    at(": layer_norm: input must be a tensor, got a table %[1,2%]$", F.layer_norm, { 1, 2 }, 2)
    for _, c in ipairs({ { nn.ReLU(), "ReLU" }, { nn.Sigmoid(), "Sigmoid" }, { nn.GELU(), "GELU" },
      { nn.LeakyReLU(), "LeakyReLU" }, { nn.Softmax(1), "Softmax" }, { nn.Dropout(), "Dropout" },
      { nn.LayerNorm(2), "LayerNorm" }, { nn.BatchNorm1d(2), "BatchNorm1d" } }) do
      at("^spec/support/helpers%.lua:%d+: " .. c[2] .. ": input must be a tensor, got 'x' %(a string%)$",
        c[1], "x")
    end
    at(": model%.0: ReLU: input must be a tensor, got 5$", nn.Sequential(nn.ReLU()), 5)
    assert.same({ 0, 2 }, F.relu(graphids.tensor({ -1.0, 2 })):totable())
  end)
end)

describe("nn.Embedding", function()
  it("picks rows by 0-based id, keeping the ids' shape", function()
    local e = set(nn.Embedding(3, 2), { weight = { { 1, 2 }, { 3, 4 }, { 5, 6 } } })
    local ids = helpers.long({ { 0, 2 }, { 1, 0 } })
    assert.same({ { { 1, 2 }, { 5, 6 } }, { { 3, 4 }, { 1, 2 } } }, e(ids):totable())
    assert.same({ { 5, 6 } }, e(helpers.long({ 2 })):totable())
    errors("Embedding: input must be an i64 or i32 tensor", e, graphids.zeros(2))
    -- F.embedding refuses a weight that is not 2-D (torch: "'weight' must be 2-D"), and an id
    -- out of range is embedding's error at the caller's line, not index_select's in the stdlib
    errors("embedding: weight must be 2%-D %(num_embeddings x dim%), got shape %[3%]", F.embedding,
      helpers.long({ { 0, 2 } }), graphids.tensor({ 10, 20, 30 }))
    helpers.errors_at_caller("embedding: id 7 out of range %[0, 3%) at position 1", F.embedding,
      helpers.long({ 0, 7 }), e.weight)
    assert.equal("Embedding(3, 2)", tostring(e))
  end)

  it("zeroes the padding row at start and gives it no gradient", function()
    local e = nn.Embedding(4, 3, { padding_idx = -1 })
    assert.equal(3, e.padding_idx)
    assert.same({ 0, 0, 0 }, e.weight:select(1, 4):totable())
    graphids.no_grad(function() e.weight:fill_(1) end)
    local out = e(helpers.long({ 3, 1, 3 }))
    assert.same({ { 1, 1, 1 }, { 1, 1, 1 }, { 1, 1, 1 } }, out:totable())
    out:sum():backward()
    assert.same({ { 0, 0, 0 }, { 1, 1, 1 }, { 0, 0, 0 }, { 0, 0, 0 } }, e.weight.grad:totable())
    errors("padding_idx must be an integer within num_embeddings %(4%)", nn.Embedding, 4, 3,
      { padding_idx = 4 })
  end)

  it("starts N(0, 1)", function()
    graphids.manual_seed(2)
    local e = nn.Embedding(200, 100)
    near(e.weight:mean():item(), 0, 0.02)
    near(e.weight:std():item(), 1, 0.02)
  end)

  it("from_pretrained shares the weight and freezes it by default", function()
    local w = graphids.tensor({ { 1.0, 2 }, { 3, 4 } })
    local e = nn.Embedding.from_pretrained(w)
    assert.is_false(e.weight.requires_grad)
    assert.same({ { 3, 4 } }, e(helpers.long({ 1 })):totable())
    assert.is_true(nn.Embedding.from_pretrained(w, { freeze = false }).weight.requires_grad)
  end)

  it("passes gradcheck over the weight", function()
    local e = nn.Embedding(5, 3, F64)
    assert.is_true(modcheck.gradcheck(e, { helpers.long({ { 0, 4, 4 }, { 1, 2, 0 } }) }))
    -- the padding row's gradient is zero on purpose (checked above), so only other ids here
    local p = nn.Embedding(5, 3, { padding_idx = 1, dtype = "f64" })
    assert.is_true(modcheck.gradcheck(p, { helpers.long({ 0, 3, 3 }) }))
  end)
end)

describe("nn.Dropout", function()
  it("zeroes with probability p and scales the rest by 1/(1-p) in training", function()
    graphids.manual_seed(3)
    local x = graphids.ones(20000)
    local y = nn.Dropout(0.25)(x)
    local kept = y:ne(0)
    near(kept:sum():item() / 20000, 0.75, 0.02)
    assert.is_true(graphids.allclose(y:masked_select(kept), graphids.full({ 1 }, 1 / 0.75)))
    assert.equal(x, nn.Dropout(0)(x))
    assert.equal(0, nn.Dropout(1)(x):abs():sum():item())
    assert.equal(0.5, nn.Dropout().p)
    assert.equal(0.2, nn.Dropout({ p = 0.2 }).p)
    errors("Dropout: probability has to be between 0 and 1, but got 1.5", nn.Dropout, 1.5)
  end)

  it("is the same mask for the same seed and passes gradcheck", function()
    local d = nn.Dropout(0.5)
    local x = graphids.randn(50)
    graphids.manual_seed(7)
    local a = d(x)
    graphids.manual_seed(7)
    assert.is_true(graphids.equal(a, d(x)))
    local fn = function(t)
      graphids.manual_seed(11)
      return d(t)
    end
    assert.is_true(graphids.autograd.gradcheck(fn, { modcheck.input(3, 4) }))
  end)
end)

describe("nn.LayerNorm", function()
  it("normalises over the trailing dims with the biased variance", function()
    local ln = nn.LayerNorm(4)
    local y = ln(graphids.tensor({ { 1.0, 2, 3, 4 }, { 2, 2, 2, 2 } }))
    local s = math.sqrt(1.25 + 1e-5)
    near(y:totable(), { { -1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s }, { 0, 0, 0, 0 } }, 1e-6)
    set(ln, { weight = { 1, 2, 3, 4 }, bias = { 0, 0, 0, 1 } })
    near(ln(graphids.tensor({ 1.0, 2, 3, 4 })):totable(), { -1.5 / s, -1 / s, 1.5 / s,
      6 / s + 1 }, 1e-6)
    local ln2 = nn.LayerNorm({ 2, 2 }, { eps = 0.5, elementwise_affine = false })
    assert.same({}, ln2:parameters())
    near(ln2(graphids.tensor({ { 1.0, 2 }, { 3, 4 } })):totable(),
      { { -1.5 / math.sqrt(1.75), -0.5 / math.sqrt(1.75) },
        { 0.5 / math.sqrt(1.75), 1.5 / math.sqrt(1.75) } }, 1e-6)
    assert.equal("LayerNorm({2, 2}, eps=0.5, elementwise_affine=false)", tostring(ln2))
    assert.same({ 1, 1, 1, 1 }, nn.LayerNorm(4).weight:totable())
    assert.same({ 0, 0, 0, 0 }, nn.LayerNorm(4).bias:totable())
    errors("LayerNorm: normalized_shape %[4%] does not match the trailing dims of the input %[2, 3%]",
      ln, graphids.zeros(2, 3))
  end)

  it("passes gradcheck", function()
    local ln = nn.LayerNorm(3, F64)
    set(ln, { weight = { 0.5, -1, 2 }, bias = { 0.1, 0.2, 0.3 } })
    assert.is_true(modcheck.gradcheck(ln, { modcheck.input(2, 3) }))
    assert.is_true(modcheck.gradcheck(nn.LayerNorm({ 2, 3 }, F64), { modcheck.input(2, 2, 3) }))
  end)
end)

describe("layer_norm's fused CPU kernel", function()
  -- the composition it replaces: the device path of F.layer_norm
  local function composed(x, k, w, b, eps)
    local dims = {}
    for i = 1, k do
      dims[i] = i - k - 1
    end
    local y = (x - x:mean(dims, { keepdim = true }))
      * (x:var(dims, { correction = 0, keepdim = true }) + eps):rsqrt()
    if w then y = y * w end
    if b then y = y + b end
    return y
  end

  local function leaves(dtype, shape, seed)
    graphids.manual_seed(seed)
    return graphids.randn(shape, { dtype = dtype }):requires_grad_()
  end

  it("gives the composed ops' values and gradients, with and without weight and bias", function()
    for _, case in ipairs({ { "f64", 1e-12 }, { "f32", 2e-5 } }) do
      local dtype, tol = case[1], case[2]
      for k = 1, 2 do
        local tail = k == 1 and { 9 } or { 7, 9 }
        for affine = 0, 3 do
          local x = leaves(dtype, { 5, 7, 9 }, 1)
          local w = affine % 2 == 1 and leaves(dtype, tail, 2) or nil
          local b = affine >= 2 and leaves(dtype, tail, 3) or nil
          local y = graphids.layer_norm(x, k, w, b, 1e-3)
          local xr, wr = x:detach():requires_grad_(), w and w:detach():requires_grad_()
          local br = b and b:detach():requires_grad_()
          local yr = composed(xr, k, wr, br, 1e-3)
          near(y:totable(), yr:totable(), tol)
          local g = graphids.randn(y.shape, { dtype = dtype })
          y:backward(g)
          yr:backward(g)
          near(x.grad:totable(), xr.grad:totable(), tol * 10)
          if w then near(w.grad:totable(), wr.grad:totable(), tol * 10) end
          if b then near(b.grad:totable(), br.grad:totable(), tol * 10) end
        end
      end
    end
  end)

  it("keeps constant rows finite and refuses bad arguments by name", function()
    local y = graphids.layer_norm(graphids.full({ 2, 4 }, 3.0), 1)
    assert.same({ { 0, 0, 0, 0 }, { 0, 0, 0, 0 } }, y:totable())
    local x = graphids.zeros(5, 7, 9)
    errors("layer_norm: weight has shape %[3%], expected the input's last 1 dims %(input %[5,7,9%]%)",
      graphids.layer_norm, x, 1, graphids.ones(3))
    errors("layer_norm: bias has dtype f64, the input f32", graphids.layer_norm, x, 2, nil,
      graphids.zeros({ 7, 9 }, { dtype = "f64" }))
    errors("layer_norm: expected a float input, got i64", graphids.layer_norm,
      graphids.zeros({ 2, 3 }, { dtype = "i64" }), 1)
    errors("layer_norm: normalises over the last 4 dims of a 3%-D input", graphids.layer_norm, x, 4)
  end)

  it("leaves numbers and broadcasting shapes to the composed ops, as before", function()
    local x = graphids.tensor({ { 1.0, 2, 3, 4 }, { 2, 2, 2, 6 } })
    local base = F.layer_norm(x, 4)
    near(F.layer_norm(x, 4, { weight = 2, bias = 1 }):totable(), (base * 2 + 1):totable(), 1e-6)
    near(F.layer_norm(x, 4, { weight = graphids.tensor({ 3.0 }) }):totable(), (base * 3):totable(),
      1e-6)
    local y = F.layer_norm(x:double(), 4, { weight = graphids.ones(4, F64), bias = 0 })
    assert.equal("f64", y.dtype)
    near(y:totable(), base:totable(), 1e-6)
    -- eps as torch takes it: inf gives zeros (then the bias)
    near(F.layer_norm(x, 4, { eps = math.huge, bias = graphids.ones(4) }):totable(),
      { { 1, 1, 1, 1 }, { 1, 1, 1, 1 } }, 0)
  end)
end)

describe("nn.BatchNorm1d", function()
  it("normalises [N, C, L] per channel and tracks running statistics as torch", function()
    local bn = nn.BatchNorm1d(2, { momentum = 0.5 })
    assert.same({ "weight", "bias", "running_mean", "running_var", "num_batches_tracked" },
      bn:state_dict():keys())
    -- channel 1: {1, 3, 5, 7}; channel 2: {0, 0, 2, 2}
    local x = graphids.tensor({ { { 1.0, 3 }, { 0, 0 } }, { { 5, 7 }, { 2, 2 } } })
    local y = bn(x):totable()
    local s1, s2 = math.sqrt(5 + 1e-5), math.sqrt(1 + 1e-5)
    near(y, { { { -3 / s1, -1 / s1 }, { -1 / s2, -1 / s2 } }, { { 1 / s1, 3 / s1 }, { 1 / s2, 1 / s2 } } },
      1e-6)
    near(bn.running_mean:totable(), { 0.5 * 4, 0.5 * 1 }, 1e-6)
    near(bn.running_var:totable(), { 0.5 + 0.5 * 20 / 3, 0.5 + 0.5 * 4 / 3 }, 1e-6)
    assert.equal(1, bn.num_batches_tracked:item())
    assert.equal("i64", bn.num_batches_tracked.dtype)
    bn:eval()
    local e = bn(x):totable()
    local rv1 = 0.5 + 0.5 * 20 / 3
    near(e[1][1][1], (1 - 2) / math.sqrt(rv1 + 1e-5), 1e-6)
    assert.equal(1, bn.num_batches_tracked:item())
  end)

  it("averages cumulatively with momentum=false and can skip running statistics", function()
    local bn = nn.BatchNorm1d(1, { momentum = false, affine = false })
    bn(graphids.tensor({ { 0.0 }, { 2 } }))
    bn(graphids.tensor({ { 4.0 }, { 6 } }))
    near(bn.running_mean:totable(), { (1 + 5) / 2 }, 1e-6)
    assert.equal(2, bn.num_batches_tracked:item())
    local free = nn.BatchNorm1d(1, { track_running_stats = false })
    assert.same({ "weight", "bias" }, free:state_dict():keys())
    free:eval()
    near(free(graphids.tensor({ { 0.0 }, { 2 } })):totable(), { { -1 / math.sqrt(1 + 1e-5) },
      { 1 / math.sqrt(1 + 1e-5) } }, 1e-6)
  end)

  it("refuses a wrong shape and a single value per channel in training", function()
    local bn = nn.BatchNorm1d(3)
    errors("BatchNorm1d: input has 2 channels", bn, graphids.zeros(4, 2))
    errors("expected 2D or 3D input %(got 1D input%)", bn, graphids.zeros(3))
    errors("expected more than 1 value per channel when training", bn, graphids.zeros(1, 3))
  end)

  it("gives an empty batch an empty result and keeps the running statistics, as torch", function()
    local bn = nn.BatchNorm1d(3, { momentum = 0.5 })
    bn(graphids.tensor({ { 1.0, 2, 3 }, { 3, 4, 5 } }))
    local mean, var = bn.running_mean:totable(), bn.running_var:totable()
    for _, x in ipairs({ graphids.zeros(0, 3), graphids.zeros(0, 3, 4), graphids.zeros(2, 3, 0) }) do
      local y = bn(x)
      assert.same(x.shape, y.shape)
      assert.same(mean, bn.running_mean:totable())
      assert.same(var, bn.running_var:totable())
    end
    assert.same({ 4, 0 }, nn.BatchNorm1d(0)(graphids.zeros(4, 0)).shape) -- no channel at all
  end)

  it("loads a state dict without num_batches_tracked and keeps its own count, as torch", function()
    local src = nn.BatchNorm1d(2)
    src(graphids.tensor({ { 1.0, 2 }, { 3, 6 } }))
    local sd = {}
    for _, k in ipairs({ "weight", "bias", "running_mean", "running_var" }) do
      sd[k] = src:state_dict():get(k)
    end
    local dst = nn.BatchNorm1d(2)
    dst(graphids.tensor({ { 0.0, 0 }, { 1, 1 } }))
    dst(graphids.tensor({ { 0.0, 0 }, { 1, 1 } }))
    local r = dst:load_state_dict(sd)
    assert.same({}, r.missing_keys)
    assert.same(src.running_mean:totable(), dst.running_mean:totable())
    assert.equal(2, dst.num_batches_tracked:item())
    sd.num_batches_tracked = graphids.tensor(7, { dtype = "i64" })
    dst:load_state_dict(sd)
    assert.equal(7, dst.num_batches_tracked:item())
    sd.running_var = nil -- other buffers stay required
    errors("Missing key%(s%) in state_dict: \"running_var\"", dst.load_state_dict, dst, sd)
  end)

  it("passes gradcheck in training and eval mode", function()
    local bn = nn.BatchNorm1d(3, F64)
    set(bn, { weight = { 0.5, -1, 2 }, bias = { 0.1, 0.2, 0.3 } })
    assert.is_true(modcheck.gradcheck(bn, { modcheck.input(4, 3) }))
    assert.is_true(modcheck.gradcheck(bn, { modcheck.input(2, 3, 2) }))
    bn:eval()
    assert.is_true(modcheck.gradcheck(bn, { modcheck.input(4, 3) }))
  end)
end)

describe("nn activations", function()
  local xs = { -2.5, -1, -0.25, 0.5, 1, 3 }
  local function sig(v) return 1 / (1 + math.exp(-v)) end
  local cases = {
    { nn.ReLU(), function(v) return math.max(v, 0) end, "ReLU()" },
    { nn.LeakyReLU(0.2), function(v) return v > 0 and v or 0.2 * v end,
      "LeakyReLU(negative_slope=0.2)" },
    { nn.LeakyReLU(), function(v) return v > 0 and v or 0.01 * v end,
      "LeakyReLU(negative_slope=0.01)" },
    { nn.ELU({ alpha = 0.5 }), function(v) return v > 0 and v or 0.5 * (math.exp(v) - 1) end,
      "ELU(alpha=0.5)" },
    { nn.GELU(), function(v) return 0.5 * v * (1 + erf(v / math.sqrt(2))) end,
      "GELU(approximate='none')" },
    { nn.GELU({ approximate = "tanh" }), function(v)
      return 0.5 * v * (1 + tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ^ 3)))
    end, "GELU(approximate='tanh')" },
    { nn.SiLU(), function(v) return v * sig(v) end, "SiLU()" },
    { nn.Sigmoid(), sig, "Sigmoid()" },
    { nn.Tanh(), tanh, "Tanh()" },
    { nn.Softplus({ beta = 2, threshold = 4 }), function(v)
      return 2 * v > 4 and v or math.log(1 + math.exp(2 * v)) / 2
    end, "Softplus(beta=2, threshold=4)" },
  }

  it("compute their functions elementwise", function()
    local x = graphids.tensor(xs, F64)
    for _, c in ipairs(cases) do
      near(c[1](x):totable(), map(xs, c[2]), 1e-12, c[3])
      assert.equal(c[3], tostring(c[1]))
    end
  end)

  it("Softmax and LogSoftmax normalise along their dim", function()
    local x = graphids.tensor({ { 1.0, 2, 3 }, { 0, 0, 0 } }, F64)
    local z = math.exp(1) + math.exp(2) + math.exp(3)
    local want = { { math.exp(1) / z, math.exp(2) / z, math.exp(3) / z }, { 1 / 3, 1 / 3, 1 / 3 } }
    near(nn.Softmax(2)(x):totable(), want, 1e-12)
    near(nn.LogSoftmax({ dim = -1 })(x):totable(), map(want, math.log), 1e-12)
    local col = nn.Softmax(1)(x):totable()
    near(col[1][1], math.exp(1) / (math.exp(1) + 1), 1e-12)
    assert.equal("Softmax(dim=2)", tostring(nn.Softmax(2)))
    errors("Softmax: dim is required", nn.Softmax)
  end)

  it("Softplus takes beta and threshold positionally (torch's order) or in the options", function()
    for _, m in ipairs({ nn.Softplus(2, 4), nn.Softplus(2, { threshold = 4 }),
      nn.Softplus({ beta = 2, threshold = 4 }) }) do
      assert.equal("Softplus(beta=2, threshold=4)", tostring(m))
    end
    assert.equal("Softplus(beta=3, threshold=20)", tostring(nn.Softplus(3)))
    errors("Softplus: threshold must be a number, got '4'", nn.Softplus, 2, "4")
    errors("Softplus: unknown option 'betta'", nn.Softplus, { betta = 2 })
    -- nothing dropped unseen: an argument after the options, a value given twice
    errors("Softplus: unexpected argument after the options table %(7%)", nn.Softplus, { beta = 3 }, 7)
    errors("Softplus: beta given twice", nn.Softplus, 2, { beta = 3 })
    errors("Softplus: threshold given twice", nn.Softplus, 2, 10, { threshold = 1 })
    errors("LeakyReLU: unexpected argument after the options table %(7%)", nn.LeakyReLU,
      { negative_slope = 0.3 }, 7)
    errors("LeakyReLU: negative_slope given twice", nn.LeakyReLU, 0.2, { negative_slope = 0.3 })
    assert.equal("ELU(alpha=0.5)", tostring(nn.ELU(0.5, {})))
  end)

  it("refuses a value past the last parameter of a layer's forward, as torch's TypeError", function()
    local x = graphids.randn({ 2, 2 })
    errors("Linear: unexpected argument #2 %(graphids.Tensor%) to forward%(x%)", nn.Linear(2, 3), x, x)
    errors("ReLU: unexpected argument #2 %(number%) to forward%(x%)", nn.ReLU(), x, 1)
    errors("Dropout: unexpected argument #2 %(boolean%) to forward%(x%)", nn.Dropout(0.1), x, true)
    errors("MSELoss: unexpected argument #3 %(graphids.Tensor%) to forward%(input, target%)",
      nn.MSELoss(), x, x, x)
    errors("LayerNorm: unexpected argument #2 %(table%) to forward%(x%)", nn.LayerNorm(2), x, {})
    errors("model.0: Linear: unexpected argument #2", nn.Sequential(nn.Linear(2, 2)), x, x)
    -- a trailing nil is no argument, and an optional parameter stays optional
    assert.same({ 2, 3 }, nn.Linear(2, 3)(x, nil).shape)
    assert.same({ 1, 2, 3 }, nn.LSTM(2, 3)(x:view(1, 2, 2), nil).shape)
    -- an inherited forward too (LSTM and GRU take RNNBase's), named by the class
    errors("GRU: unexpected argument #3 %(graphids.Tensor%) to forward%(input, hx%)", nn.GRU(2, 3),
      x:view(1, 2, 2), nil, x)
    errors("LSTM: unexpected argument #3 %(number%)", nn.LSTM(2, 3), x:view(1, 2, 2), nil, 1)
    -- a forward without even self is a stub that raises its own error
    errors("ModuleList: has no forward", nn.ModuleList({ nn.ReLU() }), x)
  end)

  it("pass gradcheck", function()
    for _, c in ipairs(cases) do
      assert.is_true(modcheck.gradcheck(c[1], { graphids.tensor(xs, F64):requires_grad_() }), c[3])
    end
    assert.is_true(modcheck.gradcheck(nn.Softmax(2), { modcheck.input(2, 3) }))
    assert.is_true(modcheck.gradcheck(nn.LogSoftmax(1), { modcheck.input(2, 3) }))
  end)
end)

describe("nn.Sequential MLP", function()
  it("passes gradcheck through every layer", function()
    local mlp = nn.Sequential(nn.Linear(4, 5, F64), nn.ReLU(), nn.Linear(5, 3, F64), nn.Tanh(),
      nn.LayerNorm(3, F64), nn.Linear(3, 2, F64))
    assert.is_true(modcheck.gradcheck(mlp, { modcheck.input(3, 4) }))
  end)
end)
