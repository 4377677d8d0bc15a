-- call_arguments_spec.lua -- what the graph layers and pools do with the arguments of a call:
-- a value past forward's (or a pool's) last parameter is an error, an edge_attr that is not a
-- tensor is refused whatever edge_dim is (a table there named as the call options one place
-- early), and a shape error shows the shape given.
local graphids = require "graphids"
local nn = require "graphids.nn"

-- The message of the error fn(...) raises (fails when it raises none).
local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "no error")
  return tostring(err)
end

local function contains(text, part)
  assert(text:find(part, 1, true), string.format("%q not in %q", part, text))
end

describe("graph layers: call arguments", function()
  local ei = graphids.tensor({ { 0, 1, 2 }, { 1, 2, 0 } }, { dtype = "i64" })
  local x = graphids.randn({ 3, 4 })
  local w = graphids.tensor({ 0.1, 5.0, 2.0 })
  local batch = graphids.tensor({ 0, 0, 1 }, { dtype = "i64" })
  local OPTS = { return_attention_weights = true }

  it("a layer refuses a value past forward's last parameter, naming it and what forward takes",
    function()
      local cases = {
        { nn.SAGEConv(4, 2), table.pack(x, ei, w),
          "SAGEConv: unexpected argument #3 (graphids.Tensor) to forward(x, edge_index)" },
        { nn.GINConv(nn.Linear(4, 2)), table.pack(x, ei, w),
          "GINConv: unexpected argument #3 (graphids.Tensor) to forward(x, edge_index)" },
        { nn.GINEConv(nn.Linear(4, 2), { edge_dim = 1 }), table.pack(x, ei, w, OPTS),
          "GINEConv: unexpected argument #4 (table) to forward(x, edge_index, edge_attr)" },
        { nn.GCNConv(4, 2), table.pack(x, ei, w, { cached = true }),
          "GCNConv: unexpected argument #4 (table) to forward(x, edge_index, edge_weight)" },
        { nn.GATConv(4, 2), table.pack(x, ei, nil, OPTS, 1),
          "GATConv: unexpected argument #5 (number) to forward(x, edge_index, edge_attr, opts)" },
        { nn.GATv2Conv(4, 2), table.pack(x, ei, nil, OPTS, 1), "GATv2Conv: unexpected argument #5" },
        { nn.TransformerConv(4, 2), table.pack(x, ei, nil, OPTS, 1),
          "TransformerConv: unexpected argument #5" },
        { nn.GraphNorm(4), table.pack(x, batch, 2, 5),
          "GraphNorm: unexpected argument #4 (number) to forward(x, batch, batch_size)" },
        { nn.JumpingKnowledge("cat"), table.pack({ x, x }, 2),
          "JumpingKnowledge: unexpected argument #2 (number) to forward(xs)" },
        { nn.MultiAggregation({ "mean" }), table.pack(x, batch, 2, 5),
          "MultiAggregation: unexpected argument #4 (number) to forward(x, index, dim_size)" },
      }
      for _, c in ipairs(cases) do
        local m, args = c[1], c[2]
        local n = args.n
        contains(error_of(m, table.unpack(args, 1, n)), c[3])
        -- the same through forward, where the error names the calling line
        local err = error_of(function()
          local y = m:forward(table.unpack(args, 1, n)) -- not a tail call: the line stays
          return y
        end)
        contains(err, c[3])
        assert.matches("^spec/gnn/call_arguments_spec.lua:%d+: ", err)
      end
    end)

  it("a trailing nil is no argument", function()
    assert.are.same({ 3, 2 }, nn.SAGEConv(4, 2)(x, ei, nil).shape)
    assert.are.same({ 3, 2 }, nn.GCNConv(4, 2)(x, ei, w, nil).shape)
    assert.are.same({ 2, 4 }, nn.global_mean_pool(x, batch, nil, nil).shape)
  end)

  it("the pools refuse a value past size", function()
    for _, name in ipairs({ "global_add_pool", "global_mean_pool", "global_max_pool" }) do
      contains(error_of(nn[name], x, batch, 2, 5), name .. ": unexpected argument #4 (number)")
    end
  end)

  it("the attention layers refuse an edge_attr that is not a tensor, naming where options go",
    function()
      for _, L in ipairs({ "GATConv", "GATv2Conv", "TransformerConv" }) do
        for _, o in ipairs({ {}, { edge_dim = 2 } }) do
          local m = nn[L](4, 2, o)
          local err = error_of(function()
            local y = m:forward(x, ei, OPTS)
            return y
          end)
          assert.matches("^spec/gnn/call_arguments_spec.lua:%d+: ", err)
          contains(err, L .. ": edge_attr must be a tensor or nil, got a table " ..
            '{"return_attention_weights":true} (the call options go in position 4: ' ..
            "forward(x, edge_index, nil, options))")
          contains(error_of(m, x, ei, 5), L .. ": edge_attr must be a tensor or nil, got 5")
        end
      end
      -- in position 4 the options are taken: the attention weights come back
      local out, edges, alpha = nn.GATConv(4, 2):forward(x, ei, nil, OPTS)
      assert.are.same({ 3, 2 }, out.shape)
      assert.are.same({ 2, 6 }, edges.shape) -- the 3 edges and a self-loop per node
      assert.are.same({ 6, 1 }, alpha.shape)
    end)

  it("the attention layers' option errors name the layer once", function()
    for _, L in ipairs({ "GATConv", "GATv2Conv", "TransformerConv" }) do
      local function once(err) return select(2, err:gsub(L .. ":", "")) == 1 end
      local err = error_of(nn[L](4, 2), x, ei, nil, { return_attention_weight = true })
      contains(err, L .. ": unknown option 'return_attention_weight'")
      assert.is_true(once(err), err)
      err = error_of(nn[L](4, 2), x, ei, nil, 5)
      contains(err, L .. ": options must be a table")
      assert.is_true(once(err), err)
    end
  end)

  it("GCNConv and GINEConv refuse an edge_weight / edge_attr that is not a tensor", function()
    contains(error_of(nn.GCNConv(4, 2), x, ei, { 1, 2, 3 }),
      "GCNConv: edge_weight must be a tensor or nil, got a table [1,2,3]")
    contains(error_of(nn.GINEConv(nn.Linear(4, 2)), x, ei, "w"),
      "GINEConv: edge_attr must be a tensor or nil, got 'w' (a string)")
  end)

  it("a 1-D edge_attr of the wrong shape is reported with the shape given", function()
    local e1 = graphids.randn({ 3 })
    for _, L in ipairs({ "GATConv", "GATv2Conv", "TransformerConv" }) do
      contains(error_of(nn[L](4, 2, { edge_dim = 3 }), x, ei, e1),
        L .. ": edge_attr must have shape [3, 3] (num_edges, edge_dim), got [3]")
    end
    contains(error_of(nn.GINEConv(nn.Linear(4, 2), { edge_dim = 3 }), x, ei, e1),
      "GINEConv: edge_attr must have shape [3, 3] (num_edges, edge_dim), got [3]")
    contains(error_of(nn.GCNConv(4, 2), x, ei, graphids.randn({ 4 })),
      "GCNConv: edge_weight must have shape [3, 1] (num_edges, edge_dim), got [4]")
    contains(error_of(nn.GATv2Conv(4, 2, { edge_dim = 1 }), x, ei, graphids.randn({})),
      "GATv2Conv: edge_attr must have shape [3, 1] (num_edges, edge_dim), got []")
    -- [E] with edge_dim 1 is [E, 1], as PyG's view(-1, 1)
    local m = nn.GATv2Conv(4, 2, { edge_dim = 1 })
    assert.is_true(graphids.equal(m(x, ei, w), m(x, ei, w:view(-1, 1))))
  end)
end)
