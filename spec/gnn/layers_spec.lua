-- layers_spec.lua -- behaviour of the graph layers beyond the PyG fixtures: bad input, empty
-- graphs and graphs without edges, attention dropout, initialisation, state_dict round trips,
-- shared weights, attention weights and batched graphs.
local graphids = require "graphids"
local nn = require "graphids.nn"
local helpers = require "helpers"

local function hand_graph()
  return graphids.tensor({ { 0, 0, 1, 2, 3, 2, 4, 1, 3, 5, 4, 1 },
    { 1, 1, 2, 2, 2, 3, 3, 4, 1, 4, 5, 5 } }, { dtype = "i64" }), 7
end

local function max_abs_diff(a, b)
  return graphids.no_grad(function() return (a - b):abs():amax():item() end)
end

local function randomize(m, seed)
  local gen = graphids.Generator(seed or 1)
  graphids.no_grad(function()
    for _, p in ipairs(m:parameters()) do
      p:copy_(graphids.randn(p.shape, { dtype = p.dtype, generator = gen }) * 0.5)
    end
  end)
  return m
end

-- Every attention/convolution layer, built for in 5, out 4 with edge attributes of width 3
-- where it takes them.
local CONVS = {
  { "GATConv", function(o) return nn.GATConv(5, 4, o) end, { heads = 2, edge_dim = 3 } },
  { "GATv2Conv", function(o) return nn.GATv2Conv(5, 4, o) end, { heads = 2, edge_dim = 3 } },
  { "TransformerConv", function(o) return nn.TransformerConv(5, 4, o) end,
    { heads = 2, edge_dim = 3 } },
  { "GCNConv", function(o) return nn.GCNConv(5, 4, o) end, {} },
}

local function copy_opts(o)
  local c = {}
  for k, v in pairs(o) do c[k] = v end
  return c
end

-- The layer's third argument: edge attributes [E, 3], or GCN's edge weights [E].
local function edge_input(name, E, gen)
  if name == "GCNConv" then
    return graphids.rand({ E }, { generator = gen }) + 0.5
  end
  return graphids.randn({ E, 3 }, { generator = gen })
end

describe("graph layers: bad input", function()
  local ei, N = hand_graph()
  local x = graphids.randn(N, 5)
  for _, c in ipairs(CONVS) do
    local name, ctor, opts = c[1], c[2], c[3]
    local m = ctor(copy_opts(opts))
    local ea = edge_input(name, ei:size(2))
    it(name .. " refuses a float edge_index", function()
      assert.has_error(function() m(x, ei:double(), ea) end,
        name .. ": edge_index must be an i64 or i32 tensor, got f64")
    end)
    it(name .. " refuses an edge_index that is not [2, E]", function()
      local bad = graphids.cat({ ei, ei:narrow(1, 1, 1) }, 1)
      assert.has_error(function() m(x, bad, ea) end,
        name .. ": edge_index must have shape [2, E], got [3, 12]")
      assert.has_error(function() m(x, ei:view(-1), ea) end,
        name .. ": edge_index must have shape [2, E], got [24]")
    end)
    it(name .. " refuses node numbers outside [0, N)", function()
      local rows = ei:totable()
      rows[2][4] = 7
      local hi = graphids.tensor(rows, { dtype = "i64" })
      assert.has_error(function() m(x, hi, ea) end,
        name .. ": edge_index holds node 7, out of range [0, 7) for x with 7 nodes")
      rows = ei:totable()
      rows[1][1] = -1
      local lo = graphids.tensor(rows, { dtype = "i64" })
      assert.has_error(function() m(x, lo, ea) end,
        name .. ": edge_index holds node -1, out of range [0, 7) for x with 7 nodes")
    end)
    it(name .. " refuses node features of the wrong width or dtype", function()
      assert.has_error(function() m(graphids.randn(N, 6), ei, ea) end,
        name .. ": x has 6 channels (shape [7, 6]), expected in_channels = 5")
      assert.has_error(function() m(graphids.ones({ N, 5 }, { dtype = "i64" }), ei, ea) end,
        name .. ": x must be a float tensor, got i64")
    end)
    -- the projection would refuse the mix in its own terms ("addmm: arg 2 has dtype f32"), or
    -- named by the Linear inside ("model.lin: Linear: input has dtype f64")
    it(name .. " refuses node features or edge attributes of another dtype than its weights", function()
      local lin = ({ GATConv = "lin", GATv2Conv = "lin_l", TransformerConv = "lin_query",
        GCNConv = "lin" })[name]
      helpers.errors_at_caller(": " .. name .. ": x has dtype f64, but " .. lin .. ".weight has " ..
        "dtype f32 %(convert one: x:float%(%), or the layer: m:double%(%)%)$", m, x:double(), ei, ea)
      if name ~= "GCNConv" then -- (its edge weights only scale messages, in any float dtype)
        helpers.errors_at_caller(": " .. name .. ": edge_attr has dtype f64, but lin_edge.weight has " ..
          "dtype f32 %(convert one: edge_attr:float%(%), or the layer: m:double%(%)%)$", m, x, ei,
          ea:double())
      end
    end)
    it(name .. " refuses edge attributes of the wrong shape", function()
      if name == "GCNConv" then
        assert.has_error(function() m(x, ei, graphids.rand(11)) end,
          "GCNConv: edge_weight must have shape [12, 1] (num_edges, edge_dim), got [11]")
      else
        assert.has_error(function() m(x, ei, graphids.randn(12, 4)) end,
          name .. ": edge_attr must have shape [12, 3] (num_edges, edge_dim), got [12, 4]")
        assert.has_error(function() m(x, ei, graphids.randn(11, 3)) end,
          name .. ": edge_attr must have shape [12, 3] (num_edges, edge_dim), got [11, 3]")
      end
    end)
    it(name .. " refuses unknown options", function()
      local o = copy_opts(opts)
      o.head = 2
      local ok, err = pcall(ctor, o)
      assert.is_false(ok)
      assert.matches("unknown option 'head'", err)
    end)
  end

  it("SAGEConv and GINEConv name the dtype their projections need; GINConv's nn names its own", function()
    local x64, at = x:double(), helpers.errors_at_caller
    at(": SAGEConv: x has dtype f64, but lin_l%.weight has dtype f32 ", nn.SAGEConv(5, 4), x64, ei)
    at(": SAGEConv: x has dtype f64, but lin%.weight has dtype f32 ", nn.SAGEConv(5, 4, { project = true }),
      x64, ei)
    local gine = nn.GINEConv(nn.Sequential(nn.Linear(5, 4)), { edge_dim = 3 })
    at(": GINEConv: edge_attr has dtype f64, but lin%.weight has dtype f32 ", gine, x, ei,
      graphids.randn({ 12, 3 }, { dtype = "f64" }))
    at(": model%.nn%.0: Linear: input has dtype f64, but weight has dtype f32 ",
      nn.GINConv(nn.Sequential(nn.Linear(5, 4))), x64, ei)
  end)

  it("GATv2Conv refuses edge_attr without edge_dim and TransformerConv needs it with one", function()
    assert.has_error(function() nn.GATv2Conv(5, 4)(x, ei, graphids.randn(12, 3)) end,
      "GATv2Conv: edge_attr was given but the layer has no edge_dim (construct it with " ..
      "{edge_dim = 3})")
    assert.has_error(function() nn.TransformerConv(5, 4, { edge_dim = 3 })(x, ei) end,
      "TransformerConv: edge_attr [E, 3] is required (edge_dim = 3)")
    assert.has_error(function() nn.TransformerConv(5, 4)(x, ei, graphids.randn(12, 3)) end,
      "TransformerConv: edge_attr was given but the layer has no edge_dim")
  end)

  it("input errors of forward name the line that called it", function()
    local bad = graphids.tensor({ { 0, 1 }, { 1, 9 } }, { dtype = "i64" })
    for _, m in ipairs({ nn.GATConv(5, 4), nn.GATv2Conv(5, 4), nn.TransformerConv(5, 4),
      nn.GCNConv(5, 4) }) do
      local ok, err = pcall(function()
        local y = m:forward(x, bad)
        return y
      end)
      assert.is_false(ok)
      assert.matches("^spec/gnn/layers_spec.lua:%d+: %w+: edge_index holds node 9", err)
      ok, err = pcall(function()
        local y = m:forward(graphids.randn(N, 2), ei)
        return y
      end)
      assert.is_false(ok)
      assert.matches("^spec/gnn/layers_spec.lua:%d+: %w+: x has 2 channels", err)
    end
  end)

  it("GATConv and GATv2Conv take an i32 edge_index as the i64 one (the fused kernels refused it)",
    function()
      graphids.manual_seed(3)
      for _, L in ipairs({ "GATConv", "GATv2Conv" }) do
        local layer = nn[L](5, 4, { heads = 2, edge_dim = 3 })
        local feats, ea = graphids.randn(3, 5), graphids.randn(3, 3)
        local edges = graphids.tensor({ { 0, 1, 2 }, { 1, 0, 0 } })
        assert.is_true(graphids.equal(layer(feats, edges:int(), ea), layer(feats, edges, ea)), L)
      end
    end)

  it("GATConv ignores edge_attr without edge_dim, as PyG", function()
    local m = nn.GATConv(5, 4)
    assert.are.equal(0, max_abs_diff(m(x, ei), m(x, ei, graphids.randn(12, 9))))
  end)

  it("constructors check sizes and option values", function()
    assert.has_error(function() nn.GATv2Conv(0, 4) end,
      "GATv2Conv: in_channels must be a positive integer, got 0")
    assert.has_error(function() nn.GATConv(5, 4, { heads = 0 }) end,
      "GATConv: heads must be a positive integer, got 0")
    assert.has_error(function() nn.GATConv(5, 4, { dropout = 1.5 }) end,
      "GATConv: dropout must be in [0, 1], got 1.5")
    assert.has_error(function() nn.GATv2Conv(5, 4, { fill_value = "median" }) end,
      "GATv2Conv: fill_value must be a number or one of 'add', 'max', 'mean', 'min', 'sum', " ..
      "got median")
    assert.has_error(function() nn.TransformerConv(5, 4, { edge_dim = 0 }) end,
      "TransformerConv: edge_dim must be a positive integer, got 0")
    -- constructor errors name the line that called the constructor
    local ok, err = pcall(function()
      local m = nn.GATConv(5, 4, { heads = 0 })
      return m
    end)
    assert.is_false(ok)
    assert.matches("^spec/gnn/layers_spec.lua:%d+: GATConv: heads", err)
    assert.has_error(function() nn.GCNConv(5, 4, { normalize = false, add_self_loops = true }) end,
      "GCNConv: add_self_loops=true needs normalize=true (PyG adds self-loops only while " ..
      "normalising)")
    assert.has_error(function() nn.JumpingKnowledge("sum") end,
      "JumpingKnowledge: mode must be 'cat', 'max' or 'lstm', got sum")
    assert.has_error(function() nn.JumpingKnowledge("lstm", { channels = 4 }) end,
      "JumpingKnowledge: mode 'lstm' needs the options channels and num_layers")
    assert.has_error(function() nn.MultiAggregation({ "mean", "median" }) end,
      "MultiAggregation: aggrs[2] 'median' is not one of add, max, mean, min, std, sum, var")
    assert.has_error(function() nn.MultiAggregation({ "mean", "max" }, { mode = "proj" }) end,
      "MultiAggregation: mode 'proj' needs mode_kwargs in_channels and out_channels")
  end)

  it("MultiAggregation max/min share a tied extreme's gradient evenly, as PyG", function()
    -- PyG 2.8.1: MultiAggregation(["max", "min"]) of these rows, summed, backward
    local xt = graphids.tensor({ { 1, 0 }, { 1, 0 }, { 0.5, 0 } }, { dtype = "f64", requires_grad = true })
    local y = nn.MultiAggregation({ "max", "min" })(xt, graphids.tensor({ 0, 0, 0 }, { dtype = "i64" }), 1)
    assert.are.same({ { 1, 0, 0.5, 0 } }, y:totable())
    y:sum():backward()
    assert.are.same({ { 0.5, 0.5 }, { 0.5, 0.5 }, { 1, 0.5 } }, xt.grad:totable())
  end)

  it("MultiAggregation without an index gives one row, none for an empty x, as PyG", function()
    -- PyG 2.8.1: MultiAggregation(["mean", "max"])(torch.zeros(0, 3)) is [0, 6] (its zeros
    -- index has no max, so dim_size 0); with dim_size = 2 the groups past 0 are zeros
    local m = nn.MultiAggregation({ "mean", "max" })
    assert.are.same({ 0, 6 }, m(graphids.zeros({ 0, 3 })).shape)
    assert.are.same({ 1, 6 }, m(graphids.ones({ 2, 3 })).shape)
    assert.are.same({ { 1, 1, 1, 1, 1, 1 }, { 0, 0, 0, 0, 0, 0 } },
      m(graphids.ones({ 2, 3 }), nil, 2):totable())
    assert.are.same({ 2, 6 }, m(graphids.zeros({ 0, 3 }), nil, 2).shape)
    local combined = nn.MultiAggregation({ "std", "min" }, { mode = "max" })
    assert.are.same({ 0, 3 }, combined(graphids.zeros({ 0, 3 })).shape)
    local proj = nn.MultiAggregation({ "mean", "max" },
      { mode = "proj", mode_kwargs = { in_channels = 3, out_channels = 4 } })
    assert.are.same({ 0, 4 }, proj(graphids.zeros({ 0, 3 })).shape)
    assert.has_error(function() m(graphids.ones({ 2, 3 }), nil, 0) end,
      "MultiAggregation: dim_size must be an integer >= 1 (index nil puts every row in group 0), got 0")
  end)

  it("pools check a batch vector again after an in-place write to it", function()
    local b = graphids.tensor({ 0, 0, 1, 1, 1, 2, 2 }, { dtype = "i64" })
    assert.are.same({ 3, 5 }, nn.global_mean_pool(x, b).shape)
    assert.are.same({ 3, 5 }, nn.global_mean_pool(x, b).shape) -- the checked bounds reused
    b:narrow(1, 7, 1):fill_(5)
    assert.are.same({ 6, 5 }, nn.global_mean_pool(x, b).shape)
    b:narrow(1, 1, 1):fill_(-1)
    assert.has_error(function() nn.global_mean_pool(x, b) end,
      "global_mean_pool: batch holds -1, out of range [0, 6)")
  end)

  it("pools and GraphNorm check the batch vector", function()
    local b = graphids.tensor({ 0, 0, 1, 1, 1, 2, 2 }, { dtype = "i64" })
    assert.has_error(function() nn.global_mean_pool(x, b, 2) end,
      "global_mean_pool: batch holds 2, out of range [0, 2)")
    assert.has_error(function() nn.global_add_pool(x, b:narrow(1, 1, 6)) end,
      "global_add_pool: batch must have shape [7] (one entry per row of x), got [6]")
    assert.has_error(function() nn.global_max_pool(x, b:double()) end,
      "global_max_pool: batch must be an i64 or i32 tensor, got f64")
    assert.has_error(function() nn.GraphNorm(5)(x, b, 2) end,
      "GraphNorm: batch holds 2, out of range [0, 2)")
    assert.has_error(function() nn.global_max_pool(graphids.empty(0, 3)) end,
      "global_max_pool: x has no rows (the maximum of nothing is undefined)")
  end)

  it("JumpingKnowledge checks its list", function()
    local jk = nn.JumpingKnowledge("max")
    assert.has_error(function() jk(x) end,
      "JumpingKnowledge: expected a non-empty list of [N, channels] tensors, got a tensor")
    assert.has_error(function() jk({ x, graphids.randn(N, 4) }) end,
      "JumpingKnowledge: xs[2] has shape [7, 4], xs[1] has [7, 5]")
  end)
end)

describe("graph layers: empty graphs and graphs without edges", function()
  local none = graphids.empty({ 2, 0 }, { dtype = "i64" })
  for _, c in ipairs(CONVS) do
    local name, ctor, opts = c[1], c[2], c[3]
    it(name .. " maps a graph without nodes to an empty output", function()
      local m = ctor(copy_opts(opts))
      local y = m(graphids.empty(0, 5), none, edge_input(name, 0))
      assert.are.same({ 0, m.heads and 8 or 4 }, y.shape)
    end)
    it(name .. " without self-loops and without edges gives the bias (plus the root term)",
      function()
        local o = copy_opts(opts)
        if name ~= "TransformerConv" then o.add_self_loops = false end
        if name == "GCNConv" then o.normalize = false end
        local m = randomize(ctor(o))
        local x = graphids.randn(4, 5)
        local y = m(x, none, edge_input(name, 0))
        local want = m.bias and m.bias:expand(4, m.bias:size(1)) or nil
        if name == "TransformerConv" then want = m.lin_skip(x) end
        assert.is_true(max_abs_diff(y, want) < 1e-6)
      end)
  end
end)

describe("graph layers: attention dropout", function()
  local ei, N = hand_graph()
  local x = graphids.randn(N, 5)
  local ea = graphids.randn(ei:size(2), 3)
  for _, c in ipairs(CONVS) do
    local name, ctor, opts = c[1], c[2], c[3]
    if name ~= "GCNConv" then
      it(name .. ": eval mode has no dropout; training with p = 0 equals eval", function()
        local o = copy_opts(opts)
        o.dropout = 0.6
        local m = randomize(ctor(o), 3)
        local o0 = copy_opts(opts)
        local m0 = ctor(o0)
        m0:load_state_dict(m:state_dict())
        m:eval()
        assert.are.equal(0, max_abs_diff(m(x, ei, ea), m0:eval()(x, ei, ea)))
        m0:train()
        assert.are.equal(0, max_abs_diff(m0(x, ei, ea), m(x, ei, ea)))
      end)
      it(name .. ": training with p > 0 drops attention and keeps the expectation", function()
        local o = copy_opts(opts)
        o.dropout = 0.5
        local m = randomize(ctor(o), 4)
        local want = m:eval()(x, ei, ea)
        m:train()
        local a, b = m(x, ei, ea), m(x, ei, ea)
        assert.is_true(max_abs_diff(a, b) > 1e-3)  -- two draws differ
        -- the output is linear in the (rescaled) attention, so its mean over draws converges
        -- to the eval output
        local sum = graphids.zeros(want.shape)
        local draws = 2000
        graphids.no_grad(function()
          for _ = 1, draws do sum:add_(m(x, ei, ea)) end
        end)
        local scale = want:abs():amax():item()
        assert.is_true(max_abs_diff(sum / draws, want) < 0.08 * scale)
      end)
      it(name .. ": dropout 1 removes every message", function()
        local o = copy_opts(opts)
        o.dropout = 1.0
        local m = randomize(ctor(o), 5):train()
        local y = m(x, ei, ea)
        local want = name == "TransformerConv" and m.lin_skip(x) or m.bias:expand(N, 8)
        assert.is_true(max_abs_diff(y, want) < 1e-6)
      end)
    end
  end
end)

describe("graph layers: parameters and state dicts", function()
  it("GATv2Conv(35, 24, {heads=4, edge_dim=11}) has PyG's 8160 parameters and names", function()
    local m = nn.GATv2Conv(35, 24, { heads = 4, edge_dim = 11 })
    assert.are.equal(8160, m:num_parameters())
    assert.are.same({ "att", "bias", "lin_l.weight", "lin_l.bias", "lin_r.weight", "lin_r.bias",
      "lin_edge.weight" }, m:state_dict():keys())
  end)

  it("initialises as PyG: glorot weights and attention, zero bias, uniform Linear biases",
    function()
      graphids.manual_seed(11)
      local m = nn.GATv2Conv(35, 24, { heads = 4, edge_dim = 11 })
      local function inside(t, bound)
        return t:abs():amax():item() <= bound
      end
      local glorot_w = math.sqrt(6 / (96 + 35))
      assert.is_true(inside(m.lin_l.weight, glorot_w))
      -- a uniform draw fills its range: the largest of 3360 values is near the bound
      assert.is_true(m.lin_l.weight:abs():amax():item() > 0.95 * glorot_w)
      assert.is_true(inside(m.lin_l.bias, 1 / math.sqrt(35)))
      assert.is_true(inside(m.lin_edge.weight, math.sqrt(6 / (96 + 11))))
      assert.is_true(inside(m.att, math.sqrt(6 / (4 + 24))))
      assert.is_true(m.att:abs():amax():item() > 0.8 * math.sqrt(6 / (4 + 24)))
      assert.are.equal(0, m.bias:abs():amax():item())
      local g = nn.GraphNorm(6)
      assert.are.equal(6, g.weight:sum():item())
      assert.are.equal(6, g.mean_scale:sum():item())
      assert.are.equal(0, g.bias:abs():sum():item())
      local t = nn.TransformerConv(16, 8)
      assert.is_true(inside(t.lin_key.weight, 1 / math.sqrt(16)))
      assert.is_true(t.lin_key.weight:abs():amax():item() > 0.9 / math.sqrt(16))
    end)

  it("share_weights makes lin_r the same tensors as lin_l, listed once among parameters",
    function()
      local m = nn.GATv2Conv(5, 4, { heads = 2, share_weights = true })
      assert.is_true(rawequal(m.lin_l.weight, m.lin_r.weight))
      assert.are.equal(2 * 4 + 2 * 4 + 8 * 5 + 8, m:num_parameters())
      assert.are.same({ "att", "bias", "lin_l.weight", "lin_l.bias", "lin_r.weight",
        "lin_r.bias" }, m:state_dict():keys())
    end)

  for _, c in ipairs(CONVS) do
    local name, ctor, opts = c[1], c[2], c[3]
    it(name .. " round-trips its state_dict", function()
      local ei, N = hand_graph()
      local x, ea = graphids.randn(N, 5), edge_input(name, ei:size(2))
      local a = randomize(ctor(copy_opts(opts)), 8)
      local b = ctor(copy_opts(opts))
      assert.is_true(max_abs_diff(a(x, ei, ea), b(x, ei, ea)) > 1e-4)
      b:load_state_dict(a:state_dict())
      assert.are.equal(0, max_abs_diff(a(x, ei, ea), b(x, ei, ea)))
    end)
  end

  it("layers run in f64 after to('f64')", function()
    local ei, N = hand_graph()
    local m = nn.GATv2Conv(5, 4, { heads = 2, edge_dim = 3 }):to("f64")
    local y = m(graphids.randn(N, 5):double(), ei, graphids.randn(12, 3):double())
    assert.are.equal("f64", y.dtype)
  end)
end)

describe("graph layers: attention weights and batches", function()
  it("return_attention_weights gives the edges with self-loops and alpha summing to 1", function()
    local ei, N = hand_graph()
    for _, ctor in ipairs({ nn.GATConv, nn.GATv2Conv }) do
      local m = ctor(5, 4, { heads = 3 })
      local y, ei2, alpha = m:forward(graphids.randn(N, 5), ei, nil,
        { return_attention_weights = true })
      assert.are.same({ N, 12 }, y.shape)
      -- the self-loop 2 -> 2 is replaced by one loop per node
      assert.are.equal(12 - 1 + N, ei2:size(2))
      assert.are.same({ ei2:size(2), 3 }, alpha.shape)
      local per_node = graphids.segment_sum(alpha, ei2:select(1, 2), N)
      assert.is_true(max_abs_diff(per_node, graphids.ones(N, 3)) < 1e-6)
    end
  end)

  it("a batch of graphs gives each graph's own result (GATv2 + global_mean_pool)", function()
    local data = require "graphids.data"
    local gen = graphids.Generator(21)
    local ei1, n1 = hand_graph()
    local ei2 = graphids.tensor({ { 0, 1, 2, 2 }, { 1, 2, 0, 0 } }, { dtype = "i64" })
    local g1 = { x = graphids.randn({ n1, 5 }, { generator = gen }), edge_index = ei1,
      edge_attr = graphids.randn({ 12, 3 }, { generator = gen }) }
    local g2 = { x = graphids.randn({ 3, 5 }, { generator = gen }), edge_index = ei2,
      edge_attr = graphids.randn({ 4, 3 }, { generator = gen }) }
    local b = data.Batch.from_graphs({ g1, g2 })
    local m = randomize(nn.GATv2Conv(5, 4, { heads = 2, edge_dim = 3 }), 9)
    local pooled = nn.global_mean_pool(m(b.x, b.edge_index, b.edge_attr), b.batch, b.num_graphs)
    local p1 = nn.global_mean_pool(m(g1.x, g1.edge_index, g1.edge_attr))
    local p2 = nn.global_mean_pool(m(g2.x, g2.edge_index, g2.edge_attr))
    assert.is_true(max_abs_diff(pooled, graphids.cat({ p1, p2 }, 1)) < 1e-6)
  end)

  it("GraphNorm normalises each graph on its own", function()
    local x = graphids.randn(7, 3) * 3 + 2
    local b = graphids.tensor({ 0, 0, 0, 1, 1, 1, 1 }, { dtype = "i64" })
    local m = nn.GraphNorm(3)
    local y = m(x, b)
    local y0 = m(x:narrow(1, 1, 3))
    assert.is_true(max_abs_diff(y:narrow(1, 1, 3), y0) < 1e-5)
    -- default parameters: zero mean and unit variance per graph and channel
    local m1 = y:narrow(1, 4, 4)
    assert.is_true(m1:mean(1):abs():amax():item() < 1e-5)
    assert.is_true(math.abs((m1 * m1):mean(1):amax():item() - 1) < 1e-3)
  end)

  it("pools give 0 for graphs without nodes and PyG's shapes without a batch", function()
    local x = graphids.randn(5, 3)
    local b = graphids.tensor({ 0, 0, 2, 2, 2 }, { dtype = "i64" })
    for _, fn in ipairs({ nn.global_add_pool, nn.global_mean_pool, nn.global_max_pool }) do
      local y = fn(x, b, 4)
      assert.are.same({ 4, 3 }, y.shape)
      assert.are.equal(0, y:narrow(1, 2, 1):abs():sum():item())
      assert.are.equal(0, y:narrow(1, 4, 1):abs():sum():item())
      assert.are.same({ 1, 3 }, fn(x).shape)
      assert.are.same({ 1 }, fn(graphids.randn(4)).shape)
    end
    assert.are.same({ 0, 3 }, nn.global_mean_pool(graphids.empty(0, 3),
      graphids.empty({ 0 }, { dtype = "i64" })).shape)
    -- without batch an empty x is torch's reduction of nothing
    assert.are.equal(0, nn.global_add_pool(graphids.empty(0, 3)):abs():sum():item())
    assert.is_true(graphids.isnan(nn.global_mean_pool(graphids.empty(0, 3))):all():item())
  end)

  it("GCN normalisation keeps an existing loop's weight (the last of several)", function()
    local ei = graphids.tensor({ { 0, 2, 2 }, { 2, 2, 2 } }, { dtype = "i64" })
    local w = graphids.tensor({ 1.0, 3.0, 5.0 })
    local ei2, w2 = nn.GCNConv.gcn_norm(ei, w, 3, true, true, "f32")
    assert.are.same({ { 0, 0, 1, 2 }, { 2, 0, 1, 2 } }, ei2:totable())
    -- degrees: node 0 has its loop (2, improved), node 1 its loop (2), node 2: 1 + 5
    local want = graphids.tensor({ 1 / math.sqrt(2 * 6), 2 / 2, 2 / 2, 5 / 6 })
    assert.is_true(max_abs_diff(w2, want) < 1e-6)
  end)
end)
