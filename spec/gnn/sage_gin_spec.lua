-- sage_gin_spec.lua -- SAGEConv, GINConv and GINEConv beyond the PyG fixtures: bad input and
-- constructor options, eps as a buffer or a parameter, empty graphs and graphs without edges,
-- the max/min aggregations' gradient on ties, state_dict round trips, and the same results on
-- the loopback device (the device paths run on the CPU) as on the CPU.
local graphids = require "graphids"
local nn = require "graphids.nn"
local C = require "graphids.nn.gnn._common"
local skip = require "skip"
local lb = require "loopback"

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

local function mlp(i, o)
  return nn.Sequential(nn.Linear(i, 8), nn.ReLU(), nn.Linear(8, o))
end

local function err_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  return tostring(err)
end

describe("SAGEConv, GINConv, GINEConv: bad input", function()
  local ei, N = hand_graph()
  local x = graphids.randn(N, 5)

  it("SAGEConv checks its options and sizes", function()
    assert.matches("SAGEConv: unknown option 'agr' %(did you mean 'aggr'%?%)",
      err_of(function() return nn.SAGEConv(5, 4, { agr = "max" }) end))
    assert.has_error(function() nn.SAGEConv(5, 4, { aggr = "lstm" }) end,
      "SAGEConv: aggr must be 'mean', 'sum', 'add', 'max' or 'min', got 'lstm' (a string)")
    assert.matches("SAGEConv: option 'aggr' must be a string",
      err_of(function() return nn.SAGEConv(5, 4, { aggr = { "mean", "max" } }) end))
    assert.has_error(function() nn.SAGEConv({ 5, 3 }, 4) end,
      "SAGEConv: in_channels must be a positive integer (bipartite (x_src, x_dst) pairs are " ..
      "not supported)")
    assert.has_error(function() nn.SAGEConv(5, 0) end,
      "SAGEConv: out_channels must be a positive integer, got 0")
    assert.matches("^spec/gnn/sage_gin_spec.lua:%d+: SAGEConv: out_channels",
      err_of(function()
        local m = nn.SAGEConv(5, 0)
        return m
      end))
  end)

  it("SAGEConv checks x and edge_index", function()
    local m = nn.SAGEConv(5, 4)
    assert.has_error(function() m(graphids.randn(N, 6), ei) end,
      "SAGEConv: x has 6 channels (shape [7, 6]), expected in_channels = 5")
    assert.has_error(function() m(x, ei:double()) end,
      "SAGEConv: edge_index must be an i64 or i32 tensor, got f64")
    local rows = ei:totable()
    rows[2][3] = 7
    assert.has_error(function() m(x, graphids.tensor(rows, { dtype = "i64" })) end,
      "SAGEConv: edge_index holds node 7, out of range [0, 7) for x with 7 nodes")
  end)

  it("GINConv and GINEConv refuse an nn that is not a module", function()
    for _, cls in ipairs({ "GINConv", "GINEConv" }) do
      assert.has_error(function() nn[cls](5) end,
        cls .. ": nn must be a Module (e.g. nn.Sequential(nn.Linear(...), ...)), got 5")
      assert.has_error(function() nn[cls](function(t) return t end) end,
        cls .. ": nn must be a Module (e.g. nn.Sequential(nn.Linear(...), ...)), got a function")
      assert.has_error(function() nn[cls]({ nn.Linear(5, 4) }) end,
        cls .. ": nn must be a Module (e.g. nn.Sequential(nn.Linear(...), ...)), got a table")
      assert.has_error(function() nn[cls](nil) end,
        cls .. ": nn must be a Module (e.g. nn.Sequential(nn.Linear(...), ...)), got nil")
      assert.matches("^spec/gnn/sage_gin_spec.lua:%d+: " .. cls .. ": nn must be",
        err_of(function()
          local m = nn[cls](3)
          return m
        end))
    end
  end)

  it("GINConv and GINEConv check their options", function()
    assert.matches("GINConv: unknown option 'train_esp' %(did you mean 'train_eps'%?%)",
      err_of(function() return nn.GINConv(mlp(5, 4), { train_esp = true }) end))
    assert.matches("GINConv: unknown option 'edge_dim'",
      err_of(function() return nn.GINConv(mlp(5, 4), { edge_dim = 3 }) end))
    assert.matches("GINEConv: option 'eps' must be a number, got 'x' %(a string%)",
      err_of(function() return nn.GINEConv(mlp(5, 4), { eps = "x" }) end))
    assert.has_error(function() nn.GINEConv(mlp(5, 4), { edge_dim = 0 }) end,
      "GINEConv: edge_dim must be a positive integer, got 0")
  end)

  it("GINEConv with edge_dim needs nn (or its first module) to name its input width", function()
    local want = "GINEConv: cannot infer the input channels from nn for edge_dim (nn, or the " ..
      "first module of an nn.Sequential, must have in_features or in_channels), got "
    assert.has_error(function()
      nn.GINEConv(nn.Sequential(nn.ReLU(), nn.Linear(5, 4)), { edge_dim = 3 })
    end, want .. "a ReLU")
    assert.has_error(function() nn.GINEConv(nn.Sequential(), { edge_dim = 3 }) end,
      want .. "an empty Sequential")
    -- a graph layer names in_channels; a Linear in_features (PyG's rule)
    assert.are.equal(5, nn.GINEConv(nn.SAGEConv(5, 4), { edge_dim = 3 }).lin.out_features)
    assert.are.equal(5, nn.GINEConv(nn.Linear(5, 4), { edge_dim = 3 }).lin.out_features)
    -- without edge_dim nothing is inferred: any nn will do
    assert.is_nil(nn.GINEConv(nn.ReLU()).lin)
  end)

  it("GINConv and GINEConv check x, edge_index and edge_attr", function()
    local gin, gine = nn.GINConv(mlp(5, 4)), nn.GINEConv(mlp(5, 4))
    local gine3 = nn.GINEConv(mlp(5, 4), { edge_dim = 3 })
    assert.has_error(function() gin(graphids.randn(N), ei) end,
      "GINConv: x must have shape [num_nodes, channels], got [7]")
    assert.has_error(function() gin(graphids.ones({ N, 5 }, { dtype = "i64" }), ei) end,
      "GINConv: x must be a float tensor, got i64")
    assert.has_error(function() gin(x, ei:view(-1)) end,
      "GINConv: edge_index must have shape [2, E], got [24]")
    assert.has_error(function() gine(x, ei) end, "GINEConv: edge_attr [E, 5] is required")
    assert.has_error(function() gine3(x, ei) end, "GINEConv: edge_attr [E, 3] is required")
    assert.has_error(function() gine(x, ei, graphids.randn(12, 3)) end,
      "GINEConv: edge_attr has 3 channels and x 5: without edge_dim they must be equal " ..
      "(construct with {edge_dim = 3} to project edge_attr)")
    assert.has_error(function() gine3(x, ei, graphids.randn(11, 3)) end,
      "GINEConv: edge_attr must have shape [12, 3] (num_edges, edge_dim), got [11, 3]")
    assert.has_error(function() gine3(graphids.randn(N, 6), ei, graphids.randn(12, 3)) end,
      "GINEConv: x has 6 channels (shape [7, 6]), expected in_channels = 5")
    local rows = ei:totable()
    rows[1][1] = -1
    assert.has_error(function() gine3(x, graphids.tensor(rows, { dtype = "i64" }),
      graphids.randn(12, 3)) end,
      "GINEConv: edge_index holds node -1, out of range [0, 7) for x with 7 nodes")
    -- a width the nn does not take fails in the nn, named from the layer
    assert.matches("nn%.0", err_of(function() return gin(graphids.randn(N, 6), ei) end))
  end)

  it("input errors of forward name the line that called it", function()
    local bad = graphids.tensor({ { 0, 1 }, { 1, 9 } }, { dtype = "i64" })
    for _, c in ipairs({ { nn.SAGEConv(5, 4) }, { nn.GINConv(mlp(5, 4)) },
      { nn.GINEConv(mlp(5, 4), { edge_dim = 2 }), graphids.randn(2, 2) } }) do
      local m, ea = c[1], c[2] -- (edge_attr only where forward takes one)
      local ok, err = pcall(function()
        local y = m:forward(x, bad, ea)
        return y
      end)
      assert.is_false(ok)
      assert.matches("^spec/gnn/sage_gin_spec.lua:%d+: %w+: edge_index holds node 9", err)
    end
  end)
end)

describe("SAGEConv, GINConv, GINEConv: behaviour", function()
  local ei, N = hand_graph()

  it("eps is a buffer, or with train_eps a parameter that learns", function()
    local fixed = nn.GINConv(mlp(5, 4), { eps = 0.25 })
    assert.are.same({ "eps", "nn.0.weight", "nn.0.bias", "nn.2.weight", "nn.2.bias" },
      fixed:state_dict():keys())
    assert.are.equal(5 * 8 + 8 + 8 * 4 + 4, fixed:num_parameters())
    assert.are.equal(0.25, fixed.eps:item())
    assert.is_false(fixed.eps.requires_grad)
    local trained = nn.GINEConv(mlp(5, 4), { eps = 0.25, train_eps = true, edge_dim = 3 })
    assert.are.same({ "eps", "nn.0.weight", "nn.0.bias", "nn.2.weight", "nn.2.bias",
      "lin.weight", "lin.bias" }, trained:state_dict():keys())
    assert.are.equal(5 * 8 + 8 + 8 * 4 + 4 + 1 + 3 * 5 + 5, trained:num_parameters())
    assert.is_true(rawequal(trained:parameters()[1], trained.eps))
    trained(graphids.randn(N, 5), ei, graphids.randn(12, 3)):sum():backward()
    assert.are.same({ 1 }, trained.eps.grad.shape)
    assert.is_true(trained.eps.grad:abs():item() > 0)
  end)

  it("eps and lin take the nn's dtype unless dtype is given; to() moves eps", function()
    local f64 = nn.Sequential(nn.Linear(5, 4, { dtype = "f64" }))
    local m = nn.GINEConv(f64, { edge_dim = 3 })
    assert.are.equal("f64", m.eps.dtype)
    assert.are.equal("f64", m.lin.weight.dtype)
    assert.are.equal("f32", nn.GINConv(f64, { dtype = "f32" }).eps.dtype)
    assert.are.equal("f32", nn.GINConv(nn.ReLU()).eps.dtype)
    local g = nn.GINConv(mlp(5, 4)):to("f64")
    assert.are.equal("f64", g.eps.dtype)
    local y = g(graphids.randn(N, 5):double(), ei)
    assert.are.equal("f64", y.dtype)
  end)

  it("GINConv is nn((1 + eps) x + the sum of the in-neighbours)", function()
    local m = randomize(nn.GINConv(nn.Identity(), { eps = 0.5 }), 2)
    local x = graphids.randn(N, 3)
    local src, dst = ei:totable()[1], ei:totable()[2]
    local rows = x:totable()
    for i = 1, N do
      local want = {}
      for c = 1, 3 do want[c] = 1.5 * rows[i][c] end
      for k = 1, #src do
        if dst[k] == i - 1 then
          for c = 1, 3 do want[c] = want[c] + rows[src[k] + 1][c] end
        end
      end
      local got = m(x, ei):totable()[i]
      for c = 1, 3 do assert.is_true(math.abs(got[c] - want[c]) < 1e-5) end
    end
  end)

  it("graphs without nodes give an empty output", function()
    local none = graphids.empty({ 2, 0 }, { dtype = "i64" })
    local x0 = graphids.empty(0, 5)
    for _, aggr in ipairs({ "mean", "max" }) do
      assert.are.same({ 0, 4 }, nn.SAGEConv(5, 4, { aggr = aggr, normalize = true })(x0, none)
        .shape)
    end
    assert.are.same({ 0, 4 }, nn.GINConv(mlp(5, 4))(x0, none).shape)
    assert.are.same({ 0, 4 }, nn.GINEConv(mlp(5, 4), { edge_dim = 3 })(x0, none,
      graphids.empty(0, 3)).shape)
  end)

  it("graphs without edges: SAGE gives lin_l's bias plus the root term, GIN nn((1 + eps) x)",
    function()
      local none = graphids.empty({ 2, 0 }, { dtype = "i64" })
      local x = graphids.randn(4, 5)
      for _, aggr in ipairs({ "mean", "sum", "max", "min" }) do
        local m = randomize(nn.SAGEConv(5, 4, { aggr = aggr }), 3)
        assert.is_true(max_abs_diff(m(x, none), m.lin_l.bias + m.lin_r(x)) < 1e-6)
      end
      local g = randomize(nn.GINEConv(mlp(5, 4), { edge_dim = 3, train_eps = true }), 4)
      assert.is_true(max_abs_diff(g(x, none, graphids.empty(0, 3)),
        g.nn(x * (1 + g.eps:item()))) < 1e-6)
    end)

  it("max/min split a target's gradient evenly among tied messages, counting the zero the " ..
    "reduction starts from where the extreme is 0 (torch's scatter_reduce)", function()
    local msg = graphids.tensor({ { 1.0, 0.0 }, { 1.0, 0.0 }, { 0.5, -1.0 }, { 2.0, 0.0 } })
      :requires_grad_(true)
    local index = graphids.tensor({ 0, 0, 0, 1 }, { dtype = "i64" })
    local out = C.aggregate(msg, index, 3, "max")
    assert.are.same({ { 1, 0 }, { 2, 0 }, { 0, 0 } }, out:totable())
    out:sum():backward()
    local want = graphids.tensor({ { 0.5, 1 / 3 }, { 0.5, 1 / 3 }, { 0, 0 }, { 1, 0.5 } })
    assert.is_true(max_abs_diff(msg.grad, want) < 1e-7)
    local neg = (-msg:detach()):requires_grad_(true)
    C.aggregate(neg, index, 3, "min"):sum():backward()
    assert.is_true(max_abs_diff(neg.grad, want) < 1e-7)
  end)

  it("normalize gives unit rows (a zero row stays zero)", function()
    local m = randomize(nn.SAGEConv(5, 4, { normalize = true, root_weight = false,
      bias = false }), 5)
    local y = m(graphids.randn(N, 5), ei)
    local norms = (y * y):sum(2):sqrt():totable()
    for i = 2, 6 do assert.is_true(math.abs(norms[i] - 1) < 1e-5) end
    assert.are.equal(0, norms[1]) -- node 0 has no in-edges
    assert.are.equal(0, norms[7]) -- node 6 is isolated
  end)

  local CTORS = {
    { "SAGEConv max, project", function() return nn.SAGEConv(5, 4, { aggr = "max",
      project = true }) end },
    { "GINConv", function() return nn.GINConv(mlp(5, 4), { train_eps = true }) end },
    { "GINEConv", function() return nn.GINEConv(mlp(5, 4), { edge_dim = 3 }) end, true },
  }
  for _, c in ipairs(CTORS) do
    it(c[1] .. " round-trips its state_dict", function()
      -- (edge_attr only where forward takes one: a value past its parameters is an error)
      local x, ea = graphids.randn(N, 5), c[3] and graphids.randn(12, 3) or nil
      local a, b = randomize(c[2](), 8), c[2]()
      assert.is_true(max_abs_diff(a(x, ei, ea), b(x, ei, ea)) > 1e-4)
      b:load_state_dict(a:state_dict())
      assert.are.equal(0, max_abs_diff(a(x, ei, ea), b(x, ei, ea)))
    end)
  end
end)

-- On the loopback device: outputs and every gradient equal to the CPU's (the device paths of
-- the gather, scatter and max/min backward, the Linear layers and normalize).
local DEVICE = [[
local graphids = require "graphids"
local nn = graphids.nn
local ei = graphids.tensor({ { 0, 0, 1, 2, 3, 2, 4, 1, 3, 5, 4, 1 },
  { 1, 1, 2, 2, 2, 3, 3, 4, 1, 4, 5, 5 } }, { dtype = "i64" })
local function mlp() return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 4)) end
local cases = {
  { "sage", function() return nn.SAGEConv(5, 4, { aggr = "max", project = true,
    normalize = true }) end },
  { "sage_min", function() return nn.SAGEConv(5, 4, { aggr = "min" }) end },
  { "gin", function() return nn.GINConv(mlp(), { train_eps = true }) end },
  { "gine", function() return nn.GINEConv(mlp(), { edge_dim = 3, train_eps = true }) end, true },
}
local worst = 0
local function cmp(a, b)
  local d = (a:to("cpu") - b):abs():amax():item() / math.max(b:abs():amax():item(), 1e-30)
  worst = math.max(worst, d)
end
for _, c in ipairs(cases) do
  graphids.manual_seed(5)
  local m = c[2]()
  local x = graphids.randint(-1, 2, { 7, 5 }):float()
  local ea = c[3] and graphids.randn(12, 3) or nil -- only GINE takes edge_attr
  local xc = x:clone():requires_grad_(true)
  local yc = m(xc, ei, ea)
  yc:sum():backward()
  local grads = {}
  for _, p in ipairs(m:parameters()) do grads[#grads + 1] = p.grad:clone() end
  m:zero_grad()
  m:to("cuda")
  local xd = x:to("cuda"):requires_grad_(true)
  local yd = m(xd, ei:to("cuda"), ea and ea:to("cuda"))
  assert(yd.device ~= "cpu", c[1] .. ": output on " .. yd.device)
  yd:sum():backward()
  cmp(yd, yc)
  cmp(xd.grad, xc.grad)
  for i, p in ipairs(m:parameters()) do cmp(p.grad, grads[i]) end
end
print(string.format("device: worst %.3g", worst))
assert(worst < 1e-5, "device differs from the CPU")
print("device: ok")
]]

describe("SAGEConv, GINConv, GINEConv on the loopback device", function()
  if skip.unless(lb.built(), "sage_gin_spec: " .. lb.plugin .. " is not built") then
    return
  end
  it("give the CPU's outputs and gradients", function()
    local out, rc = lb.run(DEVICE)
    assert(rc == 0 and out:find("device: ok", 1, true), out)
  end)
end)
