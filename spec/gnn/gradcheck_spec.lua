-- gradcheck_spec.lua -- every graph layer's gradients against central differences in f64, for
-- the node features, the edge attributes (or GCN's edge weights) and every parameter, on a
-- graph with parallel edges, a self-loop, a node without in-edges and an isolated node.
local graphids = require "graphids"
local nn = require "graphids.nn"

local gradcheck = graphids.autograd.gradcheck

local function graph()
  return graphids.tensor({ { 0, 0, 1, 2, 3, 2, 4, 1, 3, 5, 4, 1 },
    { 1, 1, 2, 2, 2, 3, 3, 4, 1, 4, 5, 5 } }, { dtype = "i64" }), 7
end

local function leaf(shape, gen, scale)
  return (graphids.randn(shape, { dtype = "f64", generator = gen }) * (scale or 1))
    :requires_grad_(true)
end

-- Parameters drawn N(0, 0.5^2) (PyG's zero biases would hide their terms); returns them as a
-- list for gradcheck (they are leaves, perturbed in place, so the module sees each change).
local function params_of(m, gen)
  local list = {}
  graphids.no_grad(function()
    for _, p in ipairs(m:parameters()) do
      p:copy_(graphids.randn(p.shape, { dtype = "f64", generator = gen }) * 0.5)
      list[#list + 1] = p
    end
  end)
  return list
end

-- gradcheck over {x, extra..., parameters...} where fn(x, extra...) runs the layer.
local function check(m, fn, inputs, gen)
  m:eval()
  local list = {}
  for i, v in ipairs(inputs) do list[i] = v end
  local nin = #list
  for _, p in ipairs(params_of(m, gen)) do list[#list + 1] = p end
  list.n = #list
  assert.is_true(gradcheck(function(...)
    local args = table.pack(...)
    return fn(table.unpack(args, 1, nin))
  end, list))
end

local function conv_case(name, ctor, opts, edge_dim)
  it(name, function()
    local gen = graphids.Generator(17)
    opts.dtype = "f64"
    local m = ctor(4, 3, opts)
    local ei, N = graph()
    local x = leaf({ N, 4 }, gen)
    if edge_dim then
      local ea = leaf({ ei:size(2), edge_dim }, gen)
      check(m, function(xx, e) return m(xx, ei, e) end, { x, ea }, gen)
    else
      check(m, function(xx) return m(xx, ei) end, { x }, gen)
    end
  end)
end

-- GINConv / GINEConv around an f64 MLP (tanh: no kink for the differences to straddle).
local function gin(cls)
  return function(i, o, opts)
    local f64 = { dtype = "f64" }
    return nn[cls](nn.Sequential(nn.Linear(i, 5, f64), nn.Tanh(), nn.Linear(5, o, f64)), opts)
  end
end

describe("graph layer gradients (f64 central differences)", function()
  conv_case("GATConv, 2 heads, edge_dim, self-loops with mean fill", nn.GATConv,
    { heads = 2, edge_dim = 2 }, 2)
  conv_case("GATConv, heads averaged, residual, no self-loops", nn.GATConv,
    { heads = 2, concat = false, residual = true, add_self_loops = false })
  conv_case("GATv2Conv, 2 heads, edge_dim", nn.GATv2Conv, { heads = 2, edge_dim = 2 }, 2)
  conv_case("GATv2Conv, shared weights, heads averaged", nn.GATv2Conv,
    { heads = 2, share_weights = true, concat = false })
  conv_case("TransformerConv, 2 heads, edge_dim, beta", nn.TransformerConv,
    { heads = 2, edge_dim = 2, beta = true }, 2)
  conv_case("TransformerConv, heads averaged", nn.TransformerConv, { heads = 2, concat = false })
  conv_case("GCNConv", nn.GCNConv, {})
  conv_case("SAGEConv, mean", nn.SAGEConv, {})
  conv_case("SAGEConv, max (parallel edges tie), project, normalize", nn.SAGEConv,
    { aggr = "max", project = true, normalize = true })
  conv_case("SAGEConv, min, no root weight", nn.SAGEConv, { aggr = "min", root_weight = false })
  conv_case("GINConv, trainable eps", gin("GINConv"), { eps = 0.2, train_eps = true })
  conv_case("GINEConv, edge_dim, trainable eps", gin("GINEConv"), { edge_dim = 2,
    train_eps = true }, 2)
  conv_case("GINEConv without edge_dim (edge_attr as wide as x)", gin("GINEConv"), {}, 4)

  it("GCNConv with edge weights (improved), including the weights' gradient", function()
    local gen = graphids.Generator(5)
    local m = nn.GCNConv(4, 3, { improved = true, dtype = "f64" })
    local ei, N = graph()
    local x = leaf({ N, 4 }, gen)
    local w = (graphids.rand({ ei:size(2) }, { dtype = "f64", generator = gen }) + 0.5)
      :requires_grad_(true)
    check(m, function(xx, ww) return m(xx, ei, ww) end, { x, w }, gen)
  end)

  it("GraphNorm with and without a batch vector", function()
    local gen = graphids.Generator(6)
    local m = nn.GraphNorm(3, { dtype = "f64" })
    local batch = graphids.tensor({ 0, 0, 0, 2, 2, 2, 2 }, { dtype = "i64" })
    check(m, function(xx) return m(xx, batch, 3) end, { leaf({ 7, 3 }, gen) }, gen)
    check(m, function(xx) return m(xx) end, { leaf({ 5, 3 }, gen) }, gen)
  end)

  for _, mode in ipairs({ "cat", "max", "lstm" }) do
    it("JumpingKnowledge " .. mode, function()
      local gen = graphids.Generator(7)
      local m = nn.JumpingKnowledge(mode, mode == "lstm"
        and { channels = 3, num_layers = 3, dtype = "f64" } or nil)
      local xs = { leaf({ 4, 3 }, gen), leaf({ 4, 3 }, gen), leaf({ 4, 3 }, gen) }
      check(m, function(a, b, c) return m({ a, b, c }) end, xs, gen)
    end)
  end

  it("global pools, with empty graphs in the batch", function()
    local gen = graphids.Generator(8)
    local batch = graphids.tensor({ 0, 0, 0, 2, 2, 2, 2 }, { dtype = "i64" })
    for _, fn in ipairs({ nn.global_add_pool, nn.global_mean_pool, nn.global_max_pool }) do
      assert.is_true(gradcheck(function(x) return fn(x, batch, 4) end, { leaf({ 7, 3 }, gen) }))
      assert.is_true(gradcheck(function(x) return fn(x) end, { leaf({ 5, 3 }, gen) }))
    end
  end)

  it("MultiAggregation (all aggregations, every mode)", function()
    local gen = graphids.Generator(9)
    local batch = graphids.tensor({ 0, 0, 0, 2, 2, 2, 2 }, { dtype = "i64" })
    local cat = nn.MultiAggregation({ "sum", "mean", "max", "min", "var", "std" })
    assert.is_true(gradcheck(function(x) return cat(x, batch, 3) end, { leaf({ 7, 3 }, gen) }))
    local proj = nn.MultiAggregation({ "mean", "max" }, { mode = "proj",
      mode_kwargs = { in_channels = 3, out_channels = 2 }, dtype = "f64" })
    check(proj, function(x) return proj(x, batch, 3) end, { leaf({ 7, 3 }, gen) }, gen)
    for _, mode in ipairs({ "sum", "mean", "max", "min" }) do
      local m = nn.MultiAggregation({ "mean", "sum", "std" }, { mode = mode })
      assert.is_true(gradcheck(function(x) return m(x, batch, 3) end, { leaf({ 7, 3 }, gen) }))
    end
  end)
end)
