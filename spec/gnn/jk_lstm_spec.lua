-- jk_lstm_spec.lua -- JumpingKnowledge's lstm mode runs the fused bidirectional LSTM
-- (core.bilstm, on the CPU and on a GPU: spec/gpu/fused_check.lua compares the two); it must
-- give what nn.LSTM's step-by-step path gives (the one the PyG fixtures pin), values and every
-- gradient, on enough nodes for the op's row blocks; and core.bilstm checks its arguments.
local graphids = require "graphids"
local core = require "graphids.core"
local nn = require "graphids.nn"

-- The lstm mode composed from nn.LSTM (batch_first), as JumpingKnowledge computes it elsewhere.
local function composed(jk, xs)
  local x = graphids.stack(xs, 2)
  local h = jk.lstm(x)
  local alpha = jk.att(h):squeeze(3):softmax(2)
  return (x * alpha:unsqueeze(3)):sum(2)
end

local function grads(jk, xs)
  local list = {}
  for _, x in ipairs(xs) do list[#list + 1] = x.grad end
  for _, p in ipairs(jk:parameters()) do list[#list + 1] = p.grad end
  return list
end

local function run(jk, xs, f, w)
  jk:zero_grad()
  for _, x in ipairs(xs) do x.grad = nil end
  local y = f()
  ;(y * w):sum():backward()
  return y, grads(jk, xs)
end

describe("JumpingKnowledge lstm", function()
  for _, case in ipairs({
    { dtype = "f64", n = 300, channels = 4, layers = 3, tol = 1e-12 },  -- row blocks
    { dtype = "f64", n = 150, channels = 48, layers = 3, tol = 1e-12 }, -- one block (H 72)
    { dtype = "f32", n = 200, channels = 8, layers = 2, tol = 1e-5 },
  }) do
    it(string.format("equals nn.LSTM's path (%s, %d nodes, %d channels, %d layers)", case.dtype,
      case.n, case.channels, case.layers), function()
      graphids.manual_seed(11)
      local jk = nn.JumpingKnowledge("lstm", { channels = case.channels,
        num_layers = case.layers, dtype = case.dtype })
      local xs = {}
      for i = 1, case.layers do
        xs[i] = graphids.randn({ case.n, case.channels }, { dtype = case.dtype })
          :requires_grad_(true)
      end
      local w = graphids.randn({ case.n, case.channels }, { dtype = case.dtype })
      local y1, g1 = run(jk, xs, function() return jk(xs) end, w)
      local y2, g2 = run(jk, xs, function() return composed(jk, xs) end, w)
      assert.is_true(graphids.allclose(y1, y2, { rtol = case.tol, atol = case.tol }))
      assert.are.equal(#g2, #g1)
      for i = 1, #g2 do
        assert.is_true(graphids.allclose(g1[i], g2[i], { rtol = case.tol, atol = case.tol }),
          "gradient " .. i)
      end
    end)
  end

  -- The backward writes the gate gradients over the saved gates ([2, layers, N, 4H]) when the
  -- graph is not retained: the same gradients, bit for bit, with that buffer's size less at peak.
  it("reuses the saved gates for their gradients unless the graph is retained", function()
    local n, channels, layers = 4000, 16, 3
    local hidden = layers * channels // 2
    local gate_bytes = 2 * layers * n * 4 * hidden * 4
    graphids.manual_seed(5)
    local jk = nn.JumpingKnowledge("lstm", { channels = channels, num_layers = layers })
    local xs = {}
    for i = 1, layers do xs[i] = graphids.randn({ n, channels }):requires_grad_(true) end
    local w = graphids.randn({ n, channels })
    local function backward_peak(retain)
      jk:zero_grad()
      for _, x in ipairs(xs) do x.grad = nil end
      local loss = (jk(xs) * w):sum()
      collectgarbage()
      graphids.reset_peak_memory()
      local before = graphids.memory().current_bytes
      loss:backward(nil, { retain_graph = retain })
      local peak = graphids.memory().peak_bytes - before
      local g = {}
      for i, t in ipairs(grads(jk, xs)) do g[i] = t:clone() end
      if retain then -- a retained graph still has its gates: a second backward gives the same
        jk:zero_grad()
        for _, x in ipairs(xs) do x.grad = nil end
        loss:backward(nil, { retain_graph = false })
        for i, t in ipairs(grads(jk, xs)) do
          assert.is_true(graphids.equal(t, g[i]), "second backward, gradient " .. i)
        end
      end
      return peak, g
    end
    local kept_peak, g_kept = backward_peak(true)
    local peak, g = backward_peak(false)
    assert.is_true(kept_peak - peak >= gate_bytes, string.format(
      "peak %d bytes with the graph retained, %d without; the gates take %d", kept_peak, peak, gate_bytes))
    assert.equal(#g_kept, #g)
    for i = 1, #g do
      assert.is_true(graphids.equal(g_kept[i], g[i]), "gradient " .. i)
    end
  end)

  it("takes a batch of no nodes: an empty output and zero gradients (it killed the process)",
    function()
      local jk = nn.JumpingKnowledge("lstm", { channels = 3, num_layers = 2 })
      local xs = { graphids.randn(0, 3):requires_grad_(), graphids.randn(0, 3):requires_grad_() }
      local y = jk(xs)
      assert.same({ 0, 3 }, y.shape)
      y:sum():backward()
      assert.same({ 0, 3 }, xs[1].grad.shape)
      for _, p in ipairs(jk:parameters()) do
        assert.equal(0, p.grad:abs():sum():item())
      end
    end)

  it("bilstm refuses a bad shape, a partial bias set and a stray argument", function()
    local x = graphids.randn({ 2, 3, 4 })
    local wi, wh, b = graphids.randn({ 8, 4 }), graphids.randn({ 8, 2 }), graphids.randn({ 8 })
    assert.has_error(function() core.bilstm(graphids.randn({ 3, 4 }), wi, wh, b, b, wi, wh, b, b) end,
      "bilstm: x must have shape [T >= 1, N, C], got [3,4]")
    assert.has_error(function() core.bilstm(x, wi, wh, b, nil, wi, wh, b, b) end,
      "bilstm: b_hh is NULL (the biases are all given or all NULL)")
    assert.has_error(function() core.bilstm(x, wi, wi, b, b, wi, wh, b, b) end,
      "bilstm: w_hh has shape [8,4], expected [8,2]")
    assert.has_error(function() core.bilstm(x, wi, wh, b, b, wi, wh, b, b, x) end)
    local out = core.bilstm(x, wi, wh, nil, nil, wi, wh, nil, nil)
    assert.are.same({ 2, 3, 4 }, out.shape)
  end)

  -- core.jk_sum is the weighted sum over the layers that ends the lstm mode.
  it("jk_sum is the composed broadcast multiply and sum, with central-difference gradients",
    function()
      local gen = graphids.Generator(3)
      for _, dt in ipairs({ "f32", "f64" }) do
        local x = graphids.randn({ 3, 40, 7 }, { dtype = dt, generator = gen })
        local a = graphids.randn({ 3, 40 }, { dtype = dt, generator = gen })
        local want = (x * a:unsqueeze(3)):sum(1)
        local tol = dt == "f32" and 1e-6 or 1e-14
        assert.is_true(graphids.allclose(core.jk_sum(x, a), want, { rtol = tol, atol = tol }))
        -- strided operands give the same
        local xs = x:transpose(1, 2):contiguous():transpose(1, 2)
        local as = a:t():contiguous():t()
        assert.is_true(graphids.equal(core.jk_sum(xs, as), core.jk_sum(x, a)))
      end
      local x = graphids.randn({ 3, 6, 5 }, { dtype = "f64", generator = gen }):requires_grad_(true)
      local a = graphids.randn({ 3, 6 }, { dtype = "f64", generator = gen }):requires_grad_(true)
      assert.is_true(graphids.autograd.gradcheck(core.jk_sum, { x, a, n = 2 }))
      -- only one input recording gradients
      local xd = x:detach()
      local y = core.jk_sum(xd, a)
      y:sum():backward()
      assert.is_true(graphids.allclose(a.grad, xd:sum(3), { rtol = 1e-12, atol = 1e-12 }))
      assert.is_nil(xd.grad)
    end)

  it("jk_sum refuses mismatched shapes and dtypes", function()
    local x, a = graphids.randn({ 3, 4, 5 }), graphids.randn({ 3, 4 })
    assert.has_error(function() core.jk_sum(graphids.randn({ 4, 5 }), a) end,
      "jk_sum: x must have shape [T, N, C], got [4,5]")
    assert.has_error(function() core.jk_sum(x, graphids.randn({ 4, 3 })) end,
      "jk_sum: alpha has shape [4,3], expected [3,4]")
    assert.has_error(function() core.jk_sum(x, a:to("f64")) end,
      "jk_sum: alpha has dtype f64, expected f32 (that of x)")
    assert.has_error(function() core.jk_sum(x:to("i64"), a) end,
      "jk_sum: x must be f32 or f64, got i64")
    assert.has_error(function() core.jk_sum(x, a, a) end)
  end)
end)
