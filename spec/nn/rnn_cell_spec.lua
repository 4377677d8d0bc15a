-- rnn_cell_spec.lua -- the fused LSTM cell graphids.core.lstm_cell that nn.LSTM runs on the CPU:
-- values and gradients against the cell composed from plain ops (f32 and f64, with and without
-- c_prev, strided gates), gradcheck (f64), grad mode, and argument errors.
local graphids = require "graphids"
local core = require "graphids.core"
local helpers = require "helpers"
local errors, near = helpers.errors, helpers.near

-- The cell from plain ops, as nn.LSTM composed it before the fused op.
local function composed(gates, c)
  local gs = graphids.split(gates, gates:size(2) // 4, 2)
  local i, f, g, o = gs[1]:sigmoid(), gs[2]:sigmoid(), gs[3]:tanh(), gs[4]:sigmoid()
  c = c and f * c + i * g or i * g
  return o * c:tanh(), c
end

local function inputs(dtype, with_c)
  local gen = graphids.Generator(3)
  local gates = (graphids.randn({ 6, 20 }, { generator = gen, dtype = dtype }) * 2)
    :requires_grad_()
  local c = with_c and graphids.randn({ 6, 5 }, { generator = gen, dtype = dtype }):requires_grad_()
  return gates, c
end

-- h, c, and the gradients of gates and c of sum(h * w1) + sum(c * w2).
local function run(cell, gates, c)
  gates.grad = nil
  if c then c.grad = nil end
  local h, cn = cell(gates, c)
  local w1 = graphids.arange(0, h:numel(), 1, { dtype = h.dtype }):view(h.shape):sin()
  local w2 = graphids.arange(0, cn:numel(), 1, { dtype = h.dtype }):view(h.shape):cos()
  local loss = (h * w1):sum() + (cn * w2):sum()
  loss:backward()
  return h:totable(), cn:totable(), gates.grad:totable(), c and c.grad:totable()
end

describe("core.lstm_cell", function()
  for _, case in ipairs({ { "f64", 1e-12 }, { "f32", 1e-5 } }) do
    local dtype, tol = case[1], case[2]
    it("matches the composed cell and its gradients in " .. dtype, function()
      for _, with_c in ipairs({ true, false }) do
        local gates, c = inputs(dtype, with_c)
        local fused = table.pack(run(core.lstm_cell, gates, c or nil))
        local plain = table.pack(run(composed, gates, c or nil))
        for k = 1, with_c and 4 or 3 do
          near(fused[k], plain[k], tol, "result " .. k)
        end
      end
    end)
  end

  it("reads strided gates (a step of a batch-first projection)", function()
    local proj = graphids.randn({ 4, 3, 12 }, { dtype = "f64" })
    local step = graphids.split(proj, 1, 2)[2]:squeeze(2) -- [4, 12], row stride 36
    local c = graphids.randn({ 4, 3 }, { dtype = "f64" })
    local h1, c1 = core.lstm_cell(step, c)
    local h2, c2 = core.lstm_cell(step:contiguous(), c)
    assert.is_true(graphids.equal(h1, h2) and graphids.equal(c1, c2))
  end)

  it("passes gradcheck over gates and c_prev", function()
    local gates, c = inputs("f64", true)
    assert.is_true(graphids.autograd.gradcheck(function(g, cp)
      return core.lstm_cell(g, cp)
    end, { gates, c }))
    assert.is_true(graphids.autograd.gradcheck(function(g)
      return core.lstm_cell(g)
    end, { gates }))
  end)

  it("records nothing without grad", function()
    local gates = graphids.randn({ 2, 8 })
    local h, c = core.lstm_cell(gates)
    assert.is_false(h.requires_grad or c.requires_grad)
    graphids.no_grad(function()
      local g2 = graphids.randn({ 2, 8 }):requires_grad_()
      local h2 = core.lstm_cell(g2)
      assert.is_false(h2.requires_grad)
    end)
  end)

  it("rejects bad shapes, dtypes and arguments", function()
    errors("lstm_cell: gates must have shape %[N, 4 %* hidden%], got %[2,7%]", core.lstm_cell,
      graphids.zeros({ 2, 7 }))
    errors("lstm_cell: c_prev has shape %[2,3%], expected %[2,2%]", core.lstm_cell,
      graphids.zeros({ 2, 8 }), graphids.zeros({ 2, 3 }))
    errors("lstm_cell: c_prev has dtype f64, expected f32", core.lstm_cell,
      graphids.zeros({ 2, 8 }), graphids.zeros({ 2, 2 }, { dtype = "f64" }))
    errors("lstm_cell: gates must be f32 or f64, got i64", core.lstm_cell,
      graphids.zeros({ 2, 8 }, { dtype = "i64" }))
    errors("unexpected argument #3", core.lstm_cell, graphids.zeros({ 2, 8 }), nil, 1)
  end)
end)
