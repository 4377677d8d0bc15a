-- graph_utils_spec.lua -- PyG's edge-list utilities (coalesce, to_undirected, is_undirected,
-- sort_edge_index, dropout_edge, to_dense_batch) against PyG 2.8's outputs on one small graph
-- (quoted), gradients through them, and the errors; negative_sampling by its properties (its
-- draws are not PyG's).
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

  it("names a bad batch or option under to_dense_batch, at the caller's line", function()
    local x = graphids.zeros({ 3, 2 })
    local at = helpers.errors_at_caller
    at("^[^ ]+ to_dense_batch: batch value %-1 out of range %[0, 2%) at position 1 %(0%-based%)$",
      G.to_dense_batch, x, long({ 0, -1, 1 }))
    at("^[^ ]+ to_dense_batch: batch must be an i64 or i32 tensor of graph numbers, got f32",
      G.to_dense_batch, x, graphids.tensor({ 0, 0, 1 }, { dtype = "f32" }))
    at("^[^ ]+ to_dense_batch: batch_size must be a non%-negative integer, got %-1", G.to_dense_batch,
      x, long({ 0, 0, 1 }), { batch_size = -1 })
    at("^[^ ]+ to_dense_batch: max_num_nodes must be a non%-negative integer, got 1.5",
      G.to_dense_batch, x, long({ 0, 0, 1 }), { max_num_nodes = 1.5 })
    at("^[^ ]+ to_dense_batch: batch names graph 1, batch_size is 1", G.to_dense_batch, x,
      long({ 0, 0, 1 }), { batch_size = 1 })
  end)

  it("refuses a batch that decreases, naming the first place, and takes an empty graph", function()
    -- (unsorted, graph 0's second row went into graph 1's slots and the mask lied)
    local x = graphids.arange(0, 10, 1, { dtype = "f32" }):view({ 5, 2 })
    helpers.errors_at_caller("^[^ ]+ to_dense_batch: batch must be nondecreasing %(each graph's rows "
      .. "together, graphs in order%), but batch%[3%] = 0 follows batch%[2%] = 1 %(0%-based%)$",
      G.to_dense_batch, x, long({ 0, 1, 1, 0, 2 }))
    errors("batch%[1%] = 0 follows batch%[0%] = 1", G.to_dense_batch, x, long({ 1, 0, 0, 2, 2 }))
    -- a graph without rows (1) is no decrease; neither are equal neighbours
    local dense, mask = G.to_dense_batch(x, long({ 0, 0, 2, 2, 2 }))
    assert.same({ 3, 3, 2 }, dense.shape)
    assert.same({ { true, true, false }, { false, false, false }, { true, true, true } }, mask:tolist())
    assert.same({ 1, 1, 2 }, G.to_dense_batch(x:narrow(1, 1, 1), long({ 0 })).shape)
    assert.same({ 0, 0, 2 }, G.to_dense_batch(graphids.zeros({ 0, 2 }), long({})).shape)
  end)

  it("refuses a negative node number, whose key would alias another edge", function()
    -- (edge (0, -1) was re-encoded as (-1, 1) and merged with the real (-1, 1))
    local bad = long({ { 0, 1, -1 }, { -1, 0, 1 } })
    helpers.errors_at_caller("coalesce: edge_index value %-1 out of range %[0, 2%) at position 2 " ..
      "%(0%-based%)", G.coalesce, bad, graphids.tensor({ 1.0, 2, 4 }))
    errors("to_undirected: edge_index value %-1 out of range", G.to_undirected, long({ { 0 }, { -1 } }))
    errors("sort_edge_index: edge_index value %-1", G.sort_edge_index, bad)
    errors("is_undirected: edge_index value %-1", G.is_undirected, bad)
    errors("negative_sampling: edge_index value %-1", G.negative_sampling, bad, 4, 1)
  end)
end)

describe("graph utilities: negative_sampling", function()
  -- a 6-node cycle, both directions of one edge, and a self-loop
  local ei = graphids.tensor({ { 0, 1, 2, 3, 4, 5, 1, 2 }, { 1, 2, 3, 4, 5, 0, 0, 2 } })

  local function pairs_of(t)
    local rows, out = t:totable(), {}
    for k = 1, #rows[1] do out[#out + 1] = rows[1][k] .. ">" .. rows[2][k] end
    return out
  end

  it("draws distinct non-edges without self-loops, as many as asked, from the generator", function()
    local existing = {}
    for _, p in ipairs(pairs_of(ei)) do existing[p] = true end
    local neg = G.negative_sampling(ei, 6, 10, { generator = graphids.Generator(5) })
    assert.same({ 2, 10 }, neg.shape)
    assert.equal("i64", neg.dtype)
    local seen = {}
    for _, p in ipairs(pairs_of(neg)) do
      local r, c = p:match("(%d+)>(%d+)")
      assert.is_true(r ~= c, "a self-loop " .. p)
      assert.is_nil(existing[p], "an existing edge " .. p)
      assert.is_nil(seen[p], "drawn twice " .. p)
      assert.is_true(tonumber(r) < 6 and tonumber(c) < 6)
      seen[p] = true
    end
    -- the same generator state gives the same sample; another one another
    local function draw(seed)
      return G.negative_sampling(ei, 6, 10, { generator = graphids.Generator(seed) })
    end
    assert.is_true(graphids.equal(neg, draw(5)))
    assert.is_false(graphids.equal(neg, draw(6)))
  end)

  it("defaults to one negative per edge over the nodes seen, and stops at the non-edges there are", function()
    -- 6 nodes: 30 non-loop pairs, 7 of them edges (the loop 2>2 is not one of the 30)
    assert.same({ 2, 8 }, G.negative_sampling(ei).shape)
    local all = G.negative_sampling(ei, 6, 100)
    assert.same({ 2, 23 }, all.shape)
    assert.same({ 2, 0 }, G.negative_sampling(ei, 6, 0).shape)
    assert.same({ 2, 0 }, G.negative_sampling(graphids.zeros({ 2, 0 }, { dtype = "i64" }), 1).shape)
  end)

  it("draws candidates on a graph of more than 2^22 candidate pairs", function()
    local n = 3000 -- a ring: 3000 edges among 8 997 000 candidate pairs
    local ring = graphids.stack({ graphids.arange(0, n), (graphids.arange(0, n) + 1) % n })
    local neg = G.negative_sampling(ring, n, 500, { generator = graphids.Generator(1) })
    assert.same({ 2, 500 }, neg.shape)
    local r, c = neg:select(1, 1), neg:select(1, 2)
    assert.is_false(r:eq(c):any():item(), "a self-loop")
    assert.is_false(c:eq((r + 1) % n):any():item(), "a ring edge")
    assert.equal(500, (r * n + c):unique().shape[1], "a pair drawn twice")
  end)

  it("force_undirected: num_neg_samples // 2 unordered non-edges, each both ways", function()
    local edge = {}
    for _, p in ipairs(pairs_of(ei)) do
      local r, c = p:match("(%d+)>(%d+)")
      edge[r .. ">" .. c], edge[c .. ">" .. r] = true, true
    end
    local function check(neg, half)
      local t = neg:totable()
      assert.equal(2 * half, #t[1])
      local seen = {}
      for j = 1, half do
        local r, c = t[1][j], t[2][j]
        assert.is_true(r < c, "not in (min, max) order: " .. r .. ">" .. c)
        assert.is_nil(edge[r .. ">" .. c], "an edge either way: " .. r .. ">" .. c)
        assert.is_nil(seen[r .. ">" .. c], "drawn twice: " .. r .. ">" .. c)
        seen[r .. ">" .. c] = true
        assert.same({ c, r }, { t[1][half + j], t[2][half + j] }) -- then each reversed
      end
    end
    local U = { generator = graphids.Generator(5), force_undirected = true }
    check(G.negative_sampling(ei, 6, 11, U), 5)
    -- 15 unordered pairs of 6 nodes, 6 of them edges (1>0 is 0>1; 2>2 a loop): 9 at most
    check(G.negative_sampling(ei, 6, 100, { force_undirected = true }), 9)
    local n = 3000 -- the drawn path: a ring among 4 498 500 unordered pairs
    local ring = graphids.stack({ graphids.arange(0, n), (graphids.arange(0, n) + 1) % n })
    local neg = G.negative_sampling(ring, n, 500,
      { generator = graphids.Generator(1), force_undirected = true })
    assert.same({ 2, 500 }, neg.shape)
    local r, c = neg:select(1, 1):narrow(1, 1, 250), neg:select(1, 2):narrow(1, 1, 250)
    assert.is_true(r:lt(c):all():item(), "not in (min, max) order")
    assert.is_false(c:eq((r + 1) % n):any():item() or r:eq((c + 1) % n):any():item(), "a ring edge")
    assert.equal(250, (r * n + c):unique().shape[1], "a pair drawn twice")
    assert.has_error(function() G.negative_sampling(ei, 6, 2, { force_undirected = 1 }) end,
      "negative_sampling: option 'force_undirected' must be a boolean, got 1")
  end)

  it("names what was wrong, and raises num_nodes to the largest node number + 1", function()
    assert.same({ 2, 23 }, G.negative_sampling(ei, 4, 100).shape) -- 6 nodes, as coalesce does
    assert.has_error(function() G.negative_sampling(ei, 6, -1) end,
      "negative_sampling: num_neg_samples must be a non-negative integer, got -1")
    local ok, err = pcall(G.negative_sampling, ei, 6, 2, { seed = 1 })
    assert.is_false(ok)
    assert.matches("negative_sampling: unknown option 'seed'", err)
  end)
end)
