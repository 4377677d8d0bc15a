-- self_loops_spec.lua -- the attention layers' self-loop replacement: the fused CPU call
-- (core.graph_replace_self_loops, fill "mean") gives the very edges and bits of the composed
-- remove_self_loops + add_self_loops, and edge attributes that need a gradient still get one
-- (they take the composed, differentiable path).
local graphids = require "graphids"
local core = require "graphids.core"
local G = require "graphids.nn.graph"
local C = require "graphids.nn.gnn._common"
local nn = require "graphids.nn"

local function composed(ei, ea, n)
  local e, a = G.remove_self_loops(ei, ea)
  return G.add_self_loops(e, a, n, "mean")
end

describe("replace_self_loops", function()
  local gen = graphids.Generator(5)
  -- 60 edges among 25 nodes (some loops, parallel edges, nodes without in-edges)
  local ei = graphids.randint(0, 20, { 2, 60 }, { generator = gen })
  ei:select(1, 2):narrow(1, 1, 6):copy_(ei:select(1, 1):narrow(1, 1, 6))

  for _, dtype in ipairs({ "f32", "f64" }) do
    it("fused equals composed, bit for bit (" .. dtype .. ")", function()
      local ea = graphids.randn({ 60, 3 }, { dtype = dtype, generator = gen })
      local e1, a1 = core.graph_replace_self_loops(ei, ea, 25)
      local e0, a0 = composed(ei, ea, 25)
      assert.is_true(graphids.equal(e1, e0))
      assert.is_true(graphids.equal(a1, a0))
      local e2, a2 = core.graph_replace_self_loops(ei, nil, 25)
      assert.is_true(graphids.equal(e2, e0))
      assert.is_nil(a2)
    end)
  end

  it("C.replace_self_loops takes the fused call only where it is the same", function()
    local ea = graphids.randn({ 60, 3 }, { generator = gen })
    for _, fill in ipairs({ "max", 0.5 }) do
      local e1, a1 = C.replace_self_loops(ei, ea, 25, fill)
      local e0, a0 = G.add_self_loops(G.remove_self_loops(ei, ea), nil, 25, fill)
      assert.is_true(graphids.equal(e1, e0))
      assert.are.same({ e0:size(2), 3 }, a1.shape)
      assert.is_nil(a0)
    end
    local e32, a32 = C.replace_self_loops(ei:to("i32"), ea, 25)
    local e0, a0 = composed(ei, ea, 25)
    assert.is_true(graphids.equal(e32:to("i64"), e0))
    assert.is_true(graphids.equal(a32, a0))
  end)

  it("edge attributes that require grad get their gradient through a GATv2 layer", function()
    local conv = nn.GATv2Conv(4, 3, { heads = 2, edge_dim = 3 })
    local x = graphids.randn({ 25, 4 }, { generator = gen })
    local ea = graphids.randn({ 60, 3 }, { generator = gen }):requires_grad_(true)
    conv(x, ei, ea):sum():backward()
    assert.is_not_nil(ea.grad)
    assert.is_true(ea.grad:abs():sum():item() > 0)
  end)

  it("refuses a node out of range", function()
    assert.has_error(function() core.graph_replace_self_loops(ei, nil, 10) end)
  end)
end)
