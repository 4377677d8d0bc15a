-- graphids.data.collate / Batch: fields and offsets of collated batches, from_graphs, to(),
-- and bad input (indices, edges outside their graph, missing fields).
local graphids = require "graphids"
local data = require "graphids.data"

local function T(v, dtype)
  return graphids.tensor(v, { dtype = dtype or "f32" })
end

-- g0: 3 nodes, edges 0->1, 2->0; g1: 2 nodes, no edges; g2: 2 nodes, edges 1->1, 0->1.
local function make_set()
  return {
    num_graphs = 3,
    x = T({ { 0, 0 }, { 1, 10 }, { 2, 20 }, { 3, 30 }, { 4, 40 }, { 5, 50 }, { 6, 60 } }),
    edge_index = T({ { 0, 2, 1, 0 }, { 1, 0, 1, 1 } }, "i64"),
    edge_attr = T({ { 0.5 }, { 1.5 }, { 2.5 }, { 3.5 } }),
    node_id = T({ 1, 2, 3, 4, 5, 6, 7 }, "i64"),
    node_ptr = T({ 0, 3, 5, 7 }, "i64"),
    edge_ptr = T({ 0, 2, 2, 4 }, "i64"),
    y = T({ 0, 1, 1 }, "i64"),
  }
end

describe("data.collate", function()
  it("builds the disjoint union in the given order", function()
    local b = data.collate(make_set(), { 2, 0 })
    assert.are.equal(2, b.num_graphs)
    assert.are.equal(5, b.num_nodes)
    assert.are.equal(4, b.num_edges)
    assert.is_true(b.x == T({ { 5, 50 }, { 6, 60 }, { 0, 0 }, { 1, 10 }, { 2, 20 } }))
    assert.is_true(b.edge_index == T({ { 1, 0, 2, 4 }, { 1, 1, 3, 2 } }, "i64"))
    assert.is_true(b.edge_attr == T({ { 2.5 }, { 3.5 }, { 0.5 }, { 1.5 } }))
    assert.is_true(b.batch == T({ 0, 0, 1, 1, 1 }, "i64"))
    assert.is_true(b.ptr == T({ 0, 2, 5 }, "i64"))
    assert.is_true(b.edge_ptr == T({ 0, 2, 4 }, "i64"))
    assert.is_true(b.node_id == T({ 6, 7, 1, 2, 3 }, "i64"))
    assert.is_true(b.y == T({ 1, 0 }, "i64"))
    assert.is_nil(b.attack_type)
    assert.is_true(tostring(b):find("Batch(num_graphs=2, x=[5, 2]", 1, true) ~= nil)
  end)

  it("takes an i64 tensor of indices; a graph without edges keeps its nodes", function()
    local b = data.collate(make_set(), T({ 1 }, "i64"))
    assert.are.equal(2, b.num_nodes)
    assert.are.equal(0, b.num_edges)
    assert.are.same({ 2, 0 }, b.edge_index:size())
  end)

  it("to() returns the batch itself when nothing moves", function()
    local b = data.collate(make_set(), { 0 })
    assert.are.equal(b, b:to("cpu"))
  end)

  it("rejects bad indices and bad sets with the graph and value", function()
    assert.has_error(function() data.collate(make_set(), { 0, 3 }) end,
      "graph_batch_collate: graph index 3 at position 1 is out of range [0, 3)")
    assert.has_error(function() data.collate(make_set(), {}) end,
      "graph_batch_collate: a batch needs at least 1 graph, got 0")
    assert.has_error(function() data.collate(make_set(), { 0.5 }) end,
      "graph_collate: indices[1] must be an integer, got number")
    -- a length a __len makes up is refused before a buffer of that many entries is made
    assert.has_error(function()
      data.collate(make_set(), setmetatable({ 0 }, { __len = function() return 1 << 61 end }))
    end, "graph_collate: indices has length 2305843009213693952, expected 0 to 1073741824 entries")
    local s = make_set()
    s.edge_index = T({ { 0, 2, 1, 0 }, { 1, 3, 1, 1 } }, "i64")
    assert.has_error(function() data.collate(s, { 0 }) end,
      "graph_batch_collate: 'edge_index' target 3 of edge 1 (graph 0, local edge 1) is out of "
      .. "range [0, 3) of the graph's nodes")
    s = make_set()
    s.edge_index = T({ { 0, 2, 1, 0 }, { 1, 0, 1, 1 } })
    assert.has_error(function() data.collate(s, { 0 }) end,
      "graph_batch_collate: 'edge_index' must be i64, got f32")
    s = make_set()
    s.x = 5
    assert.has_error(function() data.collate(s, { 0 }) end,
      "graph_collate: set.x must be a tensor, got number")
  end)

  it("graph_set_validate checks every graph", function()
    local s = make_set()
    assert.is_true(graphids.graph_set_validate(s))
    s.node_ptr = T({ 0, 3, 5, 6 }, "i64")
    assert.has_error(function() graphids.graph_set_validate(s) end,
      "graph_set_validate: 'node_ptr'[3] must equal the node count 7, got 6")
  end)
end)

describe("extra fields declared in set.fields", function()
  local function with_extras()
    local s = make_set()
    s.node_y = T({ 10, 11, 12, 13, 14, 15, 16 }, "i64")
    s.w = T({ { 0.5, 1 }, { 1.5, 2 }, { 2.5, 3 }, { 3.5, 4 } })
    s.g = T({ 100, 101, 102 })
    s.fields = { node_y = "node", w = "edge", g = "graph" }
    return s
  end

  it("gathers each by its level's rows, in the batch's order", function()
    local b = data.collate(with_extras(), { 2, 0, 2 })
    assert.is_true(b.node_y == T({ 15, 16, 10, 11, 12, 15, 16 }, "i64"))
    assert.is_true(b.w == T({ { 2.5, 3 }, { 3.5, 4 }, { 0.5, 1 }, { 1.5, 2 }, { 2.5, 3 }, { 3.5, 4 } }))
    assert.is_true(b.g == T({ 102, 100, 102 }))
    assert.are.same({ node_y = "node", w = "edge", g = "graph" }, b.fields)
    assert.is_true(tostring(b):find("g=[3], node_y=[7], w=[6, 2])", 1, true) ~= nil)
    -- a graph without edges between graphs with edges, indices as a tensor
    b = data.collate(with_extras(), T({ 0, 1, 2 }, "i64"))
    assert.is_true(b.w == with_extras().w)
    assert.is_true(b.node_y == with_extras().node_y)
    assert.are.equal(b, b:to("cpu"))
  end)

  it("are refused when badly declared or shaped, naming the field", function()
    local s = with_extras()
    s.fields.w = "edges"
    assert.has_error(function() data.collate(s, { 0 }) end,
      'collate: set.fields.w must be "node", "edge" or "graph", got edges')
    s = with_extras()
    s.fields.y = "graph"
    assert.has_error(function() data.collate(s, { 0 }) end,
      "collate: set.fields: 'y' is a built-in field of a batch, not an extra one")
    s = with_extras()
    s.node_y = T({ 1, 2, 3 }, "i64")
    assert.has_error(function() data.collate(s, { 0 }) end,
      "collate: set.node_y has 3 rows, but the set has 7 nodes")
    local _, err = pcall(function()
      local b = data.collate(s, { 0 })
      return b
    end)
    assert.matches("batch_spec.lua:%d+: collate: set.node_y has 3 rows", err) -- the caller's line
    s = with_extras()
    s.g = nil
    assert.has_error(function() data.collate(s, { 0 }) end,
      "collate: set.g (declared graph-level in set.fields) must be a tensor with a row per graph, "
      .. "got nil")
    s = with_extras()
    s.fields = "node_y"
    assert.has_error(function() data.collate(s, { 0 }) end,
      'collate: set.fields must be a table of field name -> "node", "edge" or "graph", got string')
  end)
end)

describe("Batch.from_graphs", function()
  it("batches hand-made graphs, y from numbers", function()
    local b = data.Batch.from_graphs({
      { x = T({ { 1 }, { 2 } }), edge_index = T({ { 0 }, { 1 } }, "i64"), y = 1 },
      { x = T({ { 3 } }), edge_index = graphids.zeros({ 2, 0 }, { dtype = "i64" }), y = 0 },
      { x = T({ { 4 }, { 5 } }), edge_index = T({ { 1, 0 }, { 0, 0 } }, "i64"), y = 1 },
    })
    assert.are.equal(3, b.num_graphs)
    assert.is_true(b.x == T({ { 1 }, { 2 }, { 3 }, { 4 }, { 5 } }))
    assert.is_true(b.edge_index == T({ { 0, 4, 3 }, { 1, 3, 3 } }, "i64"))
    assert.is_true(b.batch == T({ 0, 0, 1, 2, 2 }, "i64"))
    assert.is_true(b.y == T({ 1, 0, 1 }, "i64"))
    assert.is_nil(b.edge_attr)
  end)

  it("rejects unknown fields, missing fields and edges outside a graph", function()
    assert.has_error(function() data.Batch.from_graphs({ { x = T({ { 1 } }),
      edge_index = T({ { 0 }, { 0 } }, "i64"), label = 1 } }) end,
      "Batch.from_graphs: graph 1 has an unknown field 'label' (allowed: x, edge_index, "
      .. "edge_attr, node_id, y, attack_type, window_start, source_file; declare others in the "
      .. "options' fields)")
    assert.has_error(function() data.Batch.from_graphs({
      { x = T({ { 1 } }), edge_index = T({ { 0 }, { 0 } }, "i64"), edge_attr = T({ { 1 } }) },
      { x = T({ { 1 } }), edge_index = T({ { 0 }, { 0 } }, "i64") } }) end,
      "Batch.from_graphs: graph 2 lacks edge_attr, which graph 1 has")
    assert.has_error(function() data.Batch.from_graphs({
      { x = T({ { 1 } }), edge_index = T({ { 0 }, { 1 } }, "i64") } }) end,
      "graph_batch_collate: 'edge_index' target 1 of edge 0 (graph 0, local edge 0) is out of "
      .. "range [0, 1) of the graph's nodes")
    assert.has_error(function() data.Batch.from_graphs({}) end,
      "Batch.from_graphs: expected a non-empty list of graphs")
  end)

  local function g2(extra1, extra2)
    local a = { x = T({ { 1 }, { 2 } }), edge_index = T({ { 0 }, { 1 } }, "i64") }
    local b = { x = T({ { 3 } }), edge_index = graphids.zeros({ 2, 0 }, { dtype = "i64" }) }
    for k, v in pairs(extra1) do a[k] = v end
    for k, v in pairs(extra2) do b[k] = v end
    return { a, b }
  end

  it("batches declared extra fields: rows concatenated, graph values stacked", function()
    local b = data.Batch.from_graphs(g2(
      { m = T({ 1, 0 }, "bool"), ew = T({ { 7, 8 } }), s = 0.5, v = T({ 1, 2 }), n = 3,
        z = graphids.tensor(7) },
      { m = T({ 1 }, "bool"), ew = graphids.zeros({ 0, 2 }), s = 2, v = T({ 3, 4 }), n = 4,
        z = graphids.tensor(8) }),
      { fields = { m = "node", ew = "edge", s = "graph", v = "graph", n = "graph", z = "graph" } })
    assert.is_true(b.m == T({ 1, 0, 1 }, "bool"))
    assert.is_true(b.ew == T({ { 7, 8 } }))
    assert.is_true(b.s == T({ 0.5, 2 }))
    assert.is_true(b.v == T({ { 1, 2 }, { 3, 4 } }))
    assert.is_true(b.n == T({ 3, 4 }, "i64"))
    assert.is_true(b.z == T({ 7, 8 }, "i64")) -- 0-d tensors stack to [G]
    assert.are.same({ "bool", "f32", "f32", "i64" }, { b.m.dtype, b.s.dtype, b.v.dtype, b.n.dtype })
  end)

  it("refuses extra fields missing, misshapen or mixed, and unknown options", function()
    local function fg(a, b, opts)
      return function() data.Batch.from_graphs(g2(a, b), opts) end
    end
    local F = { fields = { m = "node" } }
    assert.has_error(fg({ m = T({ 1, 0 }) }, {}, F),
      "Batch.from_graphs: graph 2 lacks m, declared in the options' fields")
    assert.has_error(fg({ m = T({ 1, 0 }) }, { m = T({ 1, 2 }) }, F),
      "Batch.from_graphs: graph 2 field m has 2 rows, the graph 1 nodes")
    assert.has_error(fg({ m = T({ 1, 0 }) }, { m = T({ 1 }, "i64") }, F),
      "Batch.from_graphs: graph 2 field m is i64 [1], graph 1's f32 [2]")
    assert.has_error(fg({ m = 1 }, { m = 2 }, F), "Batch.from_graphs: graph 1 field m "
      .. "(node-level) must be a tensor with a row per node, got number")
    local S = { fields = { s = "graph" } }
    assert.has_error(fg({ s = 1 }, { s = T({ 2 }) }, S),
      "Batch.from_graphs: field s mixes numbers and tensors")
    assert.has_error(fg({ s = "a" }, { s = "b" }, S),
      "Batch.from_graphs: graph 1 field s (graph-level) must be a number or a tensor, got string")
    assert.has_error(fg({}, {}, { field = {} }),
      "Batch.from_graphs: unknown option 'field' (allowed: fields)")
    assert.has_error(fg({}, {}, { fields = { x = "node" } }),
      "Batch.from_graphs: fields: 'x' is a built-in field of a batch, not an extra one")
  end)
end)
