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

  -- Every attention layer of a model gets the same edge_index and edge_attr: the last self-loop
  -- form is handed out again, but never after an in-place write to any of its tensors, for
  -- another node count or fill, or for an edge_attr that records gradients.
  it("C.replace_self_loops hands out its last result again only for the same, unchanged inputs",
    function()
      local e = ei:clone()
      local ea = graphids.randn({ 60, 3 }, { generator = gen })
      local e1, a1 = C.replace_self_loops(e, ea, 25)
      local e2, a2 = C.replace_self_loops(e, ea, 25)
      assert.is_true(rawequal(e1, e2) and rawequal(a1, a2))
      assert.is_false(rawequal(e1, (C.replace_self_loops(e, ea, 26))))
      assert.is_false(rawequal(e1, (C.replace_self_loops(e, ea, 25, "max"))))
      C.replace_self_loops(e, ea, 25)
      ea:mul_(2)
      local e3, a3 = C.replace_self_loops(e, ea, 25)
      local e0, a0 = composed(e, ea, 25)
      assert.is_false(rawequal(a3, a1))
      assert.is_true(graphids.equal(e3, e0) and graphids.equal(a3, a0))
      e:narrow(2, 1, 1):fill_(24)
      local e4, a4 = C.replace_self_loops(e, ea, 25)
      e0, a0 = composed(e, ea, 25)
      assert.is_true(graphids.equal(e4, e0) and graphids.equal(a4, a0))
      a4:zero_() -- a write to the handed-out result: made again
      local _, a5 = C.replace_self_loops(e, ea, 25)
      assert.is_true(graphids.equal(a5, a0))
      local eg = ea:clone():requires_grad_(true)
      local _, g1 = C.replace_self_loops(e, eg, 25)
      local _, g2 = C.replace_self_loops(e, eg, 25)
      assert.is_false(rawequal(g1, g2))
    end)

  -- For an edge_attr that records gradients the edges are kept (loop_edges) and only the
  -- loops' attributes are made anew: the composed form's values and gradients, bit for bit.
  it("an edge_attr that records gradients: the same edges handed out, the attributes anew",
    function()
      local e = ei:clone()
      local w = graphids.randn({ 60, 3 }, { generator = gen })
      for _, fill in ipairs({ "mean", "max", 0.5 }) do
        local eg = w:clone():requires_grad_(true)
        local e1, a1 = C.replace_self_loops(e, eg, 25, fill)
        local e2, a2 = C.replace_self_loops(e, eg, 25, fill)
        assert.is_true(rawequal(e1, e2))
        assert.is_false(rawequal(a1, a2))
        local ref = w:clone():requires_grad_(true)
        local e0, a0 = G.add_self_loops(G.remove_self_loops(e, ref), nil, 25, fill)
        assert.is_true(graphids.equal(e1, e0))
        assert.is_nil(a0)
        local kept, attr = G.remove_self_loops(e, ref)
        local _, want = G.add_self_loops(kept, attr, 25, fill)
        assert.is_true(graphids.equal(a1, want))
        local up = graphids.randn(a1.shape, { generator = gen })
        ;(a1 * up):sum():backward()
        ;(want * up):sum():backward()
        assert.is_true(graphids.equal(eg.grad, ref.grad))
      end
      -- without any loop to drop: the kept edges are all of them
      local noloop = graphids.tensor({ { 0, 1, 2 }, { 1, 2, 0 } })
      local eg = graphids.randn({ 3, 2 }, { generator = gen }):requires_grad_(true)
      local e5, a5 = C.replace_self_loops(noloop, eg, 3)
      local e6, a6 = G.add_self_loops(noloop, eg, 3, "mean")
      assert.is_true(graphids.equal(e5, e6) and graphids.equal(a5, a6))
      -- an in-place write to the edge_index or to the handed-out edges: made again
      local first = C.replace_self_loops(e, w:clone():requires_grad_(true), 25)
      e:narrow(2, 1, 1):fill_(24)
      local after = C.replace_self_loops(e, w:clone():requires_grad_(true), 25)
      assert.is_false(rawequal(first, after))
      assert.is_true(graphids.equal(after, (G.add_self_loops(G.remove_self_loops(e), nil, 25))))
      after:narrow(2, 1, 1):fill_(3)
      local again = C.replace_self_loops(e, w:clone():requires_grad_(true), 25)
      assert.is_false(rawequal(again, after))
      assert.is_true(graphids.equal(again, (G.add_self_loops(G.remove_self_loops(e), nil, 25))))
    end)

  -- The forms are held for as long as their edge_index lives, through collections (weak values
  -- had lost them to the GC in the middle of a step on a GPU), and no longer.
  it("keeps the last forms through a collection, and drops them with their edge_index", function()
    local e = ei:clone()
    local ea = graphids.randn({ 60, 3 }, { generator = gen })
    local eg = ea:clone():requires_grad_(true)
    local held = setmetatable({ (C.replace_self_loops(e, ea, 25)), (C.replace_self_loops(e, eg, 25)) },
      { __mode = "v" })
    collectgarbage("collect")
    collectgarbage("collect")
    assert.is_true(rawequal(held[1], (C.replace_self_loops(e, ea, 25))))
    assert.is_true(rawequal(held[2], (C.replace_self_loops(e, eg, 25))))
    local gone = setmetatable({}, { __mode = "v" })
    do
      local e2 = ei:clone()
      gone[1] = C.replace_self_loops(e2, ea, 25)
      gone[2] = C.replace_self_loops(e2, eg, 25)
    end
    collectgarbage("collect")
    collectgarbage("collect")
    assert.is_nil(gone[1])
    assert.is_nil(gone[2])
  end)

  it("a layer checks an edge_index again after an in-place write to it", function()
    local conv = nn.GATv2Conv(4, 3, { heads = 2 })
    local x = graphids.randn({ 25, 4 }, { generator = gen })
    local e = ei:clone()
    conv(x, e)
    conv(x, e)
    e:narrow(2, 1, 1):fill_(30)
    assert.has_error(function() conv(x, e) end,
      "GATv2Conv: edge_index holds node 30, out of range [0, 25) for x with 25 nodes")
  end)

  it("refuses a node out of range", function()
    assert.has_error(function() core.graph_replace_self_loops(ei, nil, 10) end)
  end)
end)
