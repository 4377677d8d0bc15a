-- The fused attention ops against the composed reference (G.reference.*) on random batches in
-- f32: outputs and every gradient within 1e-6, the same dropout mask from the same generator
-- state, and bit-identical results whatever the thread count.
local graphids = require "graphids"
local G = require "graphids.nn.graph"

local N, E, H, C = 300, 1500, 4, 8

local function random_case(seed, with_edge)
  local g = graphids.Generator(seed)
  local ei = graphids.randint(0, N, { 2, E }, { generator = g })
  -- make sure some nodes have no incoming edge and some edges are self-loops
  ei:select(1, 2):narrow(1, 1, 100):fill_(0)
  ei:select(1, 1):narrow(1, 101, 20):copy_(ei:select(1, 2):narrow(1, 101, 20))
  local function r(...) return graphids.randn({ ... }, { generator = g, requires_grad = true }) end
  return ei, r(N, H, C), r(N, H, C), with_edge and r(E, H, C) or nil, r(H, C),
    graphids.randn({ N, H, C }, { generator = g }), graphids.randn({ E, H }, { generator = g })
end

-- Within 1e-6 of the tensor's scale: both sides round f32 sums of up to ~100 terms in a
-- different order, so elements that cancel to near 0 differ by rounding of the large terms.
local function close(a, b)
  local scale = math.max(1, b:abs():max():item())
  return (a - b):abs():max():item() <= 1e-6 * scale
end

local function grads(ts)
  local out = {}
  for i = 1, 4 do
    local t = ts[i]
    if t then
      out[i] = t.grad
      t.grad = nil
    end
  end
  return out
end

local function run(fn, ins, ei, gout, galpha, opts)
  local out, alpha = fn(ins[1], ins[2], ins[3], ins[4], ei, N, opts)
  local loss = (out * gout):sum() + (alpha * galpha):sum()
  loss:backward()
  return out, alpha, grads(ins)
end

describe("fused attention vs the reference", function()
  for _, with_edge in ipairs({ true, false }) do
    it("gatv2 (edge_proj " .. tostring(with_edge) .. "): outputs and gradients", function()
      local ei, xl, xr, ep, att, gout, galpha = random_case(11, with_edge)
      local ins = { xl, xr, ep, att }
      if not with_edge then ins = { xl, xr, nil, att } end
      local o1, a1, g1 = run(G.gatv2_attention, ins, ei, gout, galpha)
      local o2, a2, g2 = run(G.reference.gatv2_attention, ins, ei, gout, galpha)
      assert.are.equal("GATv2AttentionBackward", o1.grad_fn)
      assert.is_true(close(o1, o2) and close(a1, a2))
      for i = 1, 4 do
        if ins[i] then assert.is_true(close(g1[i], g2[i]), "gradient " .. i) end
      end
    end)
  end

  it("gat: outputs and gradients, with a_edge", function()
    local ei, x, _, _, _, gout, galpha = random_case(12, false)
    local g = graphids.Generator(3)
    local function r(...) return graphids.randn({ ... }, { generator = g, requires_grad = true }) end
    local ins = { x, r(N, H), r(N, H), r(E, H) }
    local o1, a1, g1 = run(G.gat_attention, ins, ei, gout, galpha)
    local o2, a2, g2 = run(G.reference.gat_attention, ins, ei, gout, galpha)
    assert.are.equal("GATAttentionBackward", o1.grad_fn)
    assert.is_true(close(o1, o2) and close(a1, a2))
    for i = 1, 4 do assert.is_true(close(g1[i], g2[i]), "gradient " .. i) end
  end)

  it("dropout draws the reference's mask from the same generator state", function()
    local ei, xl, xr, ep, att, gout, galpha = random_case(13, true)
    local ins = { xl, xr, ep, att }
    local opts = function() return { dropout = 0.3, training = true, generator = graphids.Generator(5) } end
    local o1, a1, g1 = run(G.gatv2_attention, ins, ei, gout, galpha, opts())
    local o2, a2, g2 = run(G.reference.gatv2_attention, ins, ei, gout, galpha, opts())
    assert.is_true(close(o1, o2) and close(a1, a2))
    for i = 1, 4 do assert.is_true(close(g1[i], g2[i]), "gradient " .. i) end
    -- not training: no dropout at all
    local o3 = G.gatv2_attention(xl, xr, ep, att, ei, N, { dropout = 0.3, training = false })
    local o4 = G.reference.gatv2_attention(xl, xr, ep, att, ei, N)
    assert.is_true(close(o3, o4))
    assert.has_error(function() G.gatv2_attention(xl, xr, ep, att, ei, N, { dropout = 1.5 }) end,
      "gatv2_attention: dropout must be a probability in [0, 1], got 1.5")
    assert.has_error(function() G.gatv2_attention(xl, xr, ep, att, ei, N, { slope = 0.1 }) end)
  end)

  it("gives the same bits with 1 and 2 threads", function()
    local ei, xl, xr, ep, att, gout, galpha = random_case(14, true)
    local ins = { xl, xr, ep, att }
    local before = graphids.get_num_threads()
    graphids.set_num_threads(1)
    local o1, a1, g1 = run(G.gatv2_attention, ins, ei, gout, galpha)
    graphids.set_num_threads(2)
    local o2, a2, g2 = run(G.gatv2_attention, ins, ei, gout, galpha)
    graphids.set_num_threads(before)
    assert.is_true(o1 == o2 and a1 == a2)
    for i = 1, 4 do assert.is_true(g1[i] == g2[i]) end
  end)

  it("a graph without edges gives zeros and an empty alpha; gradients are zeros", function()
    local function r(...) return graphids.randn({ ... }, { requires_grad = true }) end
    local xl, xr, att = r(3, 2, 4), r(3, 2, 4), r(2, 4)
    local ei = graphids.zeros({ 2, 0 }, { dtype = "i64" })
    local out, alpha = G.gatv2_attention(xl, xr, nil, att, ei, 3)
    assert.is_true(out == graphids.zeros(3, 2, 4))
    assert.are.same({ 0, 2 }, alpha:size())
    out:sum():backward()
    assert.is_true(xl.grad == graphids.zeros(3, 2, 4) and att.grad == graphids.zeros(2, 4))
    local x, as, ad = r(3, 2, 4), r(3, 2), r(3, 2)
    local o2 = G.gat_attention(x, as, ad, nil, ei, 3)
    o2:sum():backward()
    assert.is_true(o2 == graphids.zeros(3, 2, 4) and as.grad == graphids.zeros(3, 2))
  end)

  it("rejects an edge_index beyond num_nodes", function()
    local ei, xl, xr, ep, att = random_case(15, true)
    ei:select(1, 2):narrow(1, 7, 1):fill_(N)
    assert.has_error(function() G.gatv2_attention(xl, xr, ep, att, ei, N) end,
      "gatv2_attention: edge_index target 300 of edge 6 is out of range [0, 300) (num_nodes)")
  end)
end)
