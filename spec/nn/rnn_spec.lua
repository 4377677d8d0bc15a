-- rnn_spec.lua -- nn.LSTM and nn.GRU: torch's parameter names, shapes and gate order, checked
-- against a scalar Lua implementation of the cells (multi-layer, bidirectional, initial
-- states), the layouts (batch_first, unbatched), dropout between layers, and gradcheck (f64).
local graphids = require "graphids"
local nn = require "graphids.nn"
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

local function sig(v) return 1 / (1 + math.exp(-v)) end

-- rows W (G*H x K) times vector v, plus the bias vectors given, for gate rows lo..hi.
local function affine(W, v, b, lo, hi)
  local out = {}
  for r = lo, hi do
    local s = b and b[r] or 0
    for k = 1, #v do
      s = s + W[r][k] * v[k]
    end
    out[#out + 1] = s
  end
  return out
end

-- One step of a cell for one batch row (torch's equations).
local function cell(mode, p, x, h, c, H)
  if mode == "LSTM" then
    local g1 = affine(p.w_ih, x, p.b_ih, 1, 4 * H)
    local g2 = affine(p.w_hh, h, p.b_hh, 1, 4 * H)
    local nh, nc = {}, {}
    for j = 1, H do
      local i = sig(g1[j] + g2[j])
      local f = sig(g1[H + j] + g2[H + j])
      local g = tanh(g1[2 * H + j] + g2[2 * H + j])
      local o = sig(g1[3 * H + j] + g2[3 * H + j])
      nc[j] = f * c[j] + i * g
      nh[j] = o * tanh(nc[j])
    end
    return nh, nc
  end
  local gi = affine(p.w_ih, x, p.b_ih, 1, 3 * H)
  local gh = affine(p.w_hh, h, p.b_hh, 1, 3 * H)
  local nh = {}
  for j = 1, H do
    local r = sig(gi[j] + gh[j])
    local z = sig(gi[H + j] + gh[H + j])
    local n = tanh(gi[2 * H + j] + r * gh[2 * H + j])
    nh[j] = (1 - z) * n + z * h[j]
  end
  return nh
end

local function zeros(n)
  local z = {}
  for i = 1, n do
    z[i] = 0
  end
  return z
end

-- The whole module on x[t][n][k] (time-major Lua tables), h0/c0[l][n][j] or nil.
-- Returns out[t][n][j], h_n, c_n.
local function ref(m, x, h0, c0)
  local mode, H = m.mode, m.hidden_size
  local D = m.bidirectional and 2 or 1
  local T, N = #x, #x[1]
  local hn, cn = {}, {}
  local seq = x
  for layer = 0, m.num_layers - 1 do
    local out = {}
    for t = 1, T do
      out[t] = {}
      for n = 1, N do
        out[t][n] = {}
      end
    end
    for dir = 0, D - 1 do
      local sfx = "_l" .. layer .. (dir == 1 and "_reverse" or "")
      local p = { w_ih = m["weight_ih" .. sfx]:totable(), w_hh = m["weight_hh" .. sfx]:totable(),
        b_ih = m.bias and m["bias_ih" .. sfx]:totable(), b_hh = m.bias and m["bias_hh" .. sfx]:totable() }
      local idx = layer * D + dir + 1
      hn[idx], cn[idx] = {}, {}
      for n = 1, N do
        local h = h0 and h0[idx][n] or zeros(H)
        local c = c0 and c0[idx][n] or zeros(H)
        local t0, t1, step = 1, T, 1
        if dir == 1 then
          t0, t1, step = T, 1, -1
        end
        for t = t0, t1, step do
          h, c = cell(mode, p, seq[t][n], h, c, H)
          for j = 1, H do
            out[t][n][dir * H + j] = h[j]
          end
        end
        hn[idx][n], cn[idx][n] = h, c
      end
    end
    seq = out
  end
  return seq, hn, cn
end

local function transpose12(t)
  local out = {}
  for i = 1, #t[1] do
    out[i] = {}
    for j = 1, #t do
      out[i][j] = t[j][i]
    end
  end
  return out
end

describe("nn.LSTM", function()
  it("has torch's parameter names, shapes and order", function()
    local m = nn.LSTM(3, 2, { num_layers = 2, bidirectional = true })
    local names, shapes = {}, {}
    for name, p in m:named_parameters() do
      names[#names + 1] = name
      shapes[#shapes + 1] = table.concat(p.shape, "x")
    end
    assert.same({ "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
      "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse" },
      names)
    assert.same({ "8x3", "8x2", "8", "8", "8x3", "8x2", "8", "8", "8x4", "8x2", "8", "8", "8x4",
      "8x2", "8", "8" }, shapes)
    assert.equal(240, m:num_parameters())
    assert.same({ "weight_ih_l0", "weight_hh_l0" }, nn.LSTM(3, 2, { bias = false }):state_dict():keys())
    assert.equal("LSTM(3, 2, num_layers=2, bidirectional=true)", tostring(m))
  end)

  it("starts every parameter U(-1/sqrt(hidden), 1/sqrt(hidden))", function()
    graphids.manual_seed(5)
    local m = nn.LSTM(50, 16)
    for name, p in m:named_parameters() do
      assert.is_true(p:abs():amax():item() <= 0.25, name)
      assert.is_true(p:abs():amax():item() > 0.2, name)
    end
  end)

  it("matches the cell equations, one layer with an initial state", function()
    local m = nn.LSTM(3, 2, F64)
    local x = graphids.randn(4, 2, 3, F64)
    local h0, c0 = graphids.randn(1, 2, 2, F64), graphids.randn(1, 2, 2, F64)
    local out, st = m(x, { h0, c0 })
    local want, hn, cn = ref(m, x:totable(), h0:totable(), c0:totable())
    near(out:totable(), want, 1e-12)
    near(st[1]:totable(), hn, 1e-12)
    near(st[2]:totable(), cn, 1e-12)
  end)

  it("matches them with two bidirectional layers, zero state, batch_first and unbatched", function()
    local m = nn.LSTM(3, 2, { num_layers = 2, bidirectional = true, dtype = "f64" })
    local x = graphids.randn(3, 2, 3, F64)
    local out, st = m(x)
    local want, hn, cn = ref(m, x:totable())
    assert.same({ 3, 2, 4 }, out.shape)
    near(out:totable(), want, 1e-12)
    near(st[1]:totable(), hn, 1e-12)
    near(st[2]:totable(), cn, 1e-12)

    local bf = nn.LSTM(3, 2, { num_layers = 2, bidirectional = true, batch_first = true,
      dtype = "f64" })
    bf:load_state_dict(m:state_dict())
    local out2, st2 = bf(x:transpose(1, 2):contiguous())
    near(out2:totable(), transpose12(want), 1e-12)
    near(st2[1]:totable(), hn, 1e-12)

    local x1 = x:select(2, 1)
    local out1, st1 = m(x1)
    assert.same({ 3, 4 }, out1.shape)
    assert.same({ 4, 2 }, st1[1].shape)
    near(out1:totable(), m(x:narrow(2, 1, 1)):squeeze(2):totable(), 1e-12)
  end)

  it("applies dropout between layers only in training", function()
    local m = nn.LSTM(3, 4, { num_layers = 2, dropout = 0.5, dtype = "f64" })
    local x = graphids.randn(3, 2, 3, F64)
    local a = m(x)
    local b = m(x)
    assert.is_false(graphids.equal(a, b))
    m:eval()
    near(m(x):totable(), ref(m, x:totable()), 1e-12)
  end)

  it("refuses a wrong input size or state shape", function()
    local m = nn.LSTM(3, 2)
    errors("LSTM: input size %(last dim of %[4, 2, 5%]%) must be input_size 3", m,
      graphids.zeros(4, 2, 5))
    errors("LSTM: h0 must have shape %[1, 2, 2%], got %[1, 3, 2%]", m, graphids.zeros(4, 2, 3),
      { graphids.zeros(1, 3, 2), graphids.zeros(1, 2, 2) })
    errors("LSTM: the initial state must be {h0, c0}", m, graphids.zeros(4, 2, 3),
      graphids.zeros(1, 2, 2))
    errors("LSTM: unknown option 'bidirectionl'", nn.LSTM, 3, 2, { bidirectionl = true })
    errors("LSTM: expected a sequence length larger than 0, got input %[0, 2, 3%] %(time is dim 1%)",
      m, graphids.zeros(0, 2, 3))
    errors("GRU: expected a sequence length larger than 0, got input %[2, 0, 3%] %(time is dim 2%)",
      nn.GRU(3, 2, { batch_first = true }), graphids.zeros(2, 0, 3))
    errors("LSTM: expected a sequence length larger than 0, got input %[0, 3%] %(time is dim 1%)",
      m, graphids.zeros(0, 3))
  end)

  -- the products would refuse the mix in their own terms ("addmm: arg 2 has dtype f32", the
  -- cell's "c_prev has dtype f64"); the layer says which of its inputs, at the caller's line
  it("refuses an input or state of another dtype than its parameters, in its own terms", function()
    local at = helpers.errors_at_caller
    local hint = " %(convert one: %w+:float%(%), or the layer: m:double%(%)%)$"
    for _, mode in ipairs({ "LSTM", "GRU" }) do
      at(": " .. mode .. ": input has dtype f64, but weight_ih_l0 has dtype f32" .. hint, nn[mode](3, 2),
        graphids.zeros({ 4, 2, 3 }, F64))
      at(": " .. mode .. ": input has dtype i64, but weight_ih_l0 has dtype f32 %(convert it: " ..
        "input:float%(%)%)$", nn[mode](3, 2), graphids.zeros({ 4, 3 }, { dtype = "i64" }))
    end
    local x, h, h64 = graphids.zeros(4, 2, 3), graphids.zeros(1, 2, 2), graphids.zeros({ 1, 2, 2 }, F64)
    at(": GRU: h0 has dtype f64, but weight_ih_l0 has dtype f32 %(convert one: h0:float%(%)", nn.GRU(3, 2),
      x, h64)
    at(": LSTM: h0 has dtype f64, but weight_ih_l0 has dtype f32 ", nn.LSTM(3, 2), x, { h64, h })
    at(": LSTM: c0 has dtype f64, but weight_ih_l0 has dtype f32 %(convert one: c0:float%(%)",
      nn.LSTM(3, 2), x, { h, h64 })
    at(": model%.0: GRU: input has dtype f64", nn.Sequential(nn.GRU(3, 2)), graphids.zeros({ 4, 2, 3 }, F64))
  end)

  it("passes gradcheck over input, initial state and parameters", function()
    local m = nn.LSTM(3, 2, { num_layers = 2, bidirectional = true, dtype = "f64" })
    local x = modcheck.input(3, 2, 3)
    local h0, c0 = modcheck.input(4, 2, 2), modcheck.input(4, 2, 2)
    assert.is_true(modcheck.gradcheck(m, { x }))
    local fn = function(xx, hh, cc)
      local out, st = m(xx, { hh, cc })
      return out, st[1], st[2]
    end
    assert.is_true(graphids.autograd.gradcheck(fn, { x, h0, c0 }))
    local bf = nn.LSTM(2, 3, { batch_first = true, bias = false, dtype = "f64" })
    assert.is_true(modcheck.gradcheck(bf, { modcheck.input(2, 4, 2) }))
  end)
end)

describe("nn.GRU", function()
  it("has torch's parameter names and shapes", function()
    local m = nn.GRU(3, 2, { bidirectional = true })
    local shapes = {}
    for name, p in m:named_parameters() do
      shapes[#shapes + 1] = name .. ":" .. table.concat(p.shape, "x")
    end
    assert.same({ "weight_ih_l0:6x3", "weight_hh_l0:6x2", "bias_ih_l0:6", "bias_hh_l0:6",
      "weight_ih_l0_reverse:6x3", "weight_hh_l0_reverse:6x2", "bias_ih_l0_reverse:6",
      "bias_hh_l0_reverse:6" }, shapes)
  end)

  it("matches the cell equations with and without an initial state and bias", function()
    local m = nn.GRU(3, 2, F64)
    local x = graphids.randn(4, 2, 3, F64)
    local h0 = graphids.randn(1, 2, 2, F64)
    local out, hn = m(x, h0)
    local want, whn = ref(m, x:totable(), h0:totable())
    near(out:totable(), want, 1e-12)
    near(hn:totable(), whn, 1e-12)
    local out0 = m(x)
    near(out0:totable(), ref(m, x:totable()), 1e-12)
    local nb = nn.GRU(3, 2, { bias = false, num_layers = 2, bidirectional = true, dtype = "f64" })
    local out2, hn2 = nb(x)
    local want2, whn2 = ref(nb, x:totable())
    near(out2:totable(), want2, 1e-12)
    near(hn2:totable(), whn2, 1e-12)
  end)

  it("passes gradcheck", function()
    local m = nn.GRU(3, 2, { num_layers = 2, bidirectional = true, batch_first = true,
      dtype = "f64" })
    assert.is_true(modcheck.gradcheck(m, { modcheck.input(2, 3, 3) }))
    assert.is_true(modcheck.gradcheck(m, { modcheck.input(2, 3, 3), modcheck.input(4, 2, 2) }))
  end)

  it("takes an empty batch, as LSTM and torch", function()
    local out, hn = nn.GRU(3, 4)(graphids.randn(5, 0, 3))
    assert.same({ 5, 0, 4 }, out.shape)
    assert.same({ 1, 0, 4 }, hn.shape)
    local out2, hn2 = nn.GRU(3, 4, { batch_first = true, num_layers = 2 })(graphids.randn(0, 5, 3),
      graphids.zeros(2, 0, 4))
    assert.same({ 0, 5, 4 }, out2.shape)
    assert.same({ 2, 0, 4 }, hn2.shape)
  end)
end)

describe("nn.LSTM and nn.GRU on a one-step sequence from the zero state", function()
  it("give every W_hh a zero gradient, as torch (an optimizer steps it), and the same output", function()
    for _, mode in ipairs({ "LSTM", "GRU" }) do
      local m = nn[mode](3, 2, { num_layers = 2, bidirectional = true, dtype = "f64" })
      local x = graphids.randn(1, 2, 3, F64)
      local out = m(x)
      out:sum():backward()
      local names = { "weight_hh_l0", "weight_hh_l0_reverse", "weight_hh_l1", "weight_hh_l1_reverse" }
      for _, name in ipairs(names) do
        local g = rawget(m, name).grad
        assert.is_not_nil(g, mode .. " " .. name)
        assert.same({ 2 * (mode == "LSTM" and 4 or 3), 2 }, g.shape)
        assert.equal(0, g:abs():sum():item(), mode .. " " .. name)
      end
      near(out:totable(), ref(m, x:totable()), 1e-12)
      -- without grad mode nothing is added
      local y = graphids.no_grad(function() return m(x) end)
      near(y:totable(), out:totable(), 1e-12)
    end
  end)
end)
