-- graph_utils_spec.lua -- PyG's edge-list utilities (coalesce, to_undirected, is_undirected,
-- sort_edge_index, dropout_edge, to_dense_batch) against PyG 2.8's outputs on one small graph
-- (quoted), gradients through them, and the errors.
local graphids = require "graphids"
local G = require "graphids.nn.graph"
local helpers = require "helpers"
local errors = helpers.errors

local function long(t) return graphids.tensor(t, { dtype = "i64" }) end
local EI = { { 2, 0, 1, 0, 2 }, { 1, 1, 0, 1, 0 } }
local EA = { { 1 }, { 2 }, { 3 }, { 4 }, { 5 } }

describe("graph utilities (PyG's)", function()
  it("coalesces, sorting by (row, col) and summing duplicates' attributes", function()
    local ei, ea = G.coalesce(long(EI), graphids.tensor(EA, { dtype = "f32" }), 3)
    assert.same({ { 0, 1, 2, 2 }, { 1, 0, 0, 1 } }, ei:tolist())
    assert.same({ { 6 }, { 3 }, { 5 }, { 1 } }, ea:tolist())
    local _, mean = G.coalesce(long(EI), graphids.tensor(EA, { dtype = "f32" }), 3, "mean")
    assert.same({ { 3 }, { 3 }, { 5 }, { 1 } }, mean:tolist())
    local e0 = graphids.zeros({ 2, 0 }, { dtype = "i64" })
    assert.same({ 2, 0 }, G.coalesce(e0, nil, 4).shape)
    -- a num_nodes below the largest index never maps two edges to one (PyG's would)
    assert.same({ { 0, 1 }, { 5, 2 } }, G.coalesce(long({ { 0, 0, 1 }, { 5, 5, 2 } }), nil, 3):tolist())
    -- a transposed (non-contiguous) edge_index
    local t = long({ { 0, 1 }, { 1, 2 }, { 1, 0 } }):t()
    assert.same({ { 0, 1, 1 }, { 1, 0, 2 } }, G.coalesce(t):tolist())
  end)

  it("makes a graph undirected and tells whether one is", function()
    local ei, ea = G.to_undirected(long(EI), graphids.tensor(EA, { dtype = "f32" }), 3)
    assert.same({ { 0, 0, 1, 1, 2, 2 }, { 1, 2, 0, 2, 0, 1 } }, ei:tolist())
    assert.same({ { 9 }, { 5 }, { 9 }, { 1 }, { 5 }, { 1 } }, ea:tolist())
    assert.is_false(G.is_undirected(long(EI)))
    assert.is_true(G.is_undirected(long({ { 0, 1 }, { 1, 0 } })))
    assert.is_false(G.is_undirected(long({ { 0, 0, 1 }, { 1, 1, 0 } }))) -- a duplicate counts (PyG)
    assert.is_true(G.is_undirected(ei, ea))
    -- gradients reach the attributes through the merge
    local a = graphids.tensor(EA, { dtype = "f32", requires_grad = true })
    local _, merged = G.to_undirected(long(EI), a, 3)
    merged:sum():backward()
    assert.same({ { 2 }, { 2 }, { 2 }, { 2 }, { 2 } }, a.grad:tolist())
  end)

  it("sorts edges stably, keeping duplicates", function()
    local ei, ea = G.sort_edge_index(long(EI), graphids.tensor(EA, { dtype = "f32" }), 3)
    assert.same({ { 0, 0, 1, 2, 2 }, { 1, 1, 0, 0, 1 } }, ei:tolist())
    assert.same({ { 2 }, { 4 }, { 3 }, { 5 }, { 1 } }, ea:tolist())
    local by_col = G.sort_edge_index(long(EI), nil, 3, false)
    assert.same({ { 1, 2, 0, 0, 2 }, { 0, 0, 1, 1, 1 } }, by_col:tolist()) -- by (col, row)
  end)

  it("drops edges with a generator's draws, keeping all when not training", function()
    local ei = long({ { 0, 1, 2, 3, 4, 5, 6, 7 }, { 1, 2, 3, 4, 5, 6, 7, 0 } })
    local a, ma = G.dropout_edge(ei, { p = 0.5, generator = graphids.Generator(3) })
    local b, mb = G.dropout_edge(ei, { p = 0.5, generator = graphids.Generator(3) })
    assert.is_true(graphids.equal(a, b) and graphids.equal(ma, mb))
    assert.equal(ma:long():sum():item(), a.shape[2])
    local all, mall = G.dropout_edge(ei, { training = false })
    assert.is_true(graphids.equal(all, ei) and mall:all():item())
    assert.same({ 2, 0 }, G.dropout_edge(ei, { p = 1 }).shape)
    errors("dropout_edge: p must be a probability in %[0, 1%], got 1.5", G.dropout_edge, ei, { p = 1.5 })
  end)

  it("makes a dense batch with a mask, as PyG's to_dense_batch", function()
    local x = graphids.arange(0, 10, 1, { dtype = "f32" }):view({ 5, 2 })
    local dense, mask = G.to_dense_batch(x, long({ 0, 0, 1, 2, 2 }), { fill_value = -1 })
    assert.same({ { { 0, 1 }, { 2, 3 } }, { { 4, 5 }, { -1, -1 } }, { { 6, 7 }, { 8, 9 } } }, dense:tolist())
    assert.same({ { true, true }, { true, false }, { true, true } }, mask:tolist())
    local padded = G.to_dense_batch(x, long({ 0, 0, 1, 2, 2 }), { batch_size = 4, max_num_nodes = 3 })
    assert.same({ 4, 3, 2 }, padded.shape)
    local xr = graphids.randn({ 5, 2 }, { requires_grad = true })
    G.to_dense_batch(xr, long({ 0, 0, 1, 2, 2 })):sum():backward()
    assert.equal(10, xr.grad:sum():item())
    errors("to_dense_batch: x must be %[N, ...%]", G.to_dense_batch, x, long({ 0, 1 }))
  end)
end)
