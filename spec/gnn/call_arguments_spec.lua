-- call_arguments_spec.lua -- what the graph layers and pools do with the arguments of a call:
-- a value past forward's (or a pool's) last parameter is an error.
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
end)
