-- analysis_more_spec.lua -- graphids.analysis beyond representations: attention capture (against
-- the layer called directly), attention entropy by hand, the loss landscape against a hand
-- evaluation of the same filter-normalised directions, and a fusion policy's choices.
local graphids = require "graphids"
local nn = require "graphids.nn"
local models = require "graphids.models"
local P = require "graphids.models.presets"
local analysis = require "graphids.analysis"
local graphs = require "models.graphs"
local h = require "helpers"

local loader_of = require("graphids.analysis._common").list_loader

describe("graphids.analysis.attention", function()
  it("gives each GATv2 layer's weights as the layer itself computes them, output unchanged", function()
    local batch = graphs.batch({ num_ids = 10, seed = 1 })
    graphids.manual_seed(3)
    local m = models.GATClassifier(P.gat.small({ num_ids = 10 }))
    m:train()
    local layers, logits = analysis.attention(m, batch)
    assert.is_true(m.training, "the training mode is restored")
    assert.equal(2, #layers)
    assert.same({ "convs.0", "convs.1" }, { layers[1].name, layers[2].name })
    assert.equal("GATv2Conv", layers[1].kind)
    assert.is_nil(rawget(m.convs[1], "forward"), "the layer's own forward is back")
    m:eval()
    local want_logits = m(batch)
    assert.same(want_logits:totable(), logits:totable())
    -- the first layer called directly on the encoded input
    local x0 = graphids.no_grad(function()
      return m.input_encoder(batch.x, batch.node_id, batch.batch)
    end)
    local _, ei, alpha = graphids.no_grad(function()
      return m.convs[1](x0, batch.edge_index, batch.edge_attr, { return_attention_weights = true })
    end)
    assert.same(ei:totable(), layers[1].edge_index:totable())
    assert.same(alpha:totable(), layers[1].alpha:totable())
    -- 10 nodes, 10 edges of which 3 self-loops: 7 + 10 attended edges, 4 heads
    assert.same({ 17, 4 }, layers[2].alpha.shape)
    -- each node's incoming weights sum to 1 per head
    local G = require "graphids.nn.graph"
    local sums = G.scatter(layers[2].alpha, layers[2].edge_index:select(1, 2), 10, "sum")
    h.near(sums:totable(), graphids.ones(10, 4):totable(), 1e-6)
  end)

  it("passes the weights on to a caller that asked the layer for them", function()
    local conv = nn.GATConv(4, 3, { heads = 2 })
    local x, ei = graphids.randn(3, 4), graphids.tensor({ { 0, 1 }, { 1, 2 } }, { dtype = "i64" })
    local layers, res = analysis.attention(conv, nil, { forward = function(c)
      local out, e, a = c(x, ei, nil, { return_attention_weights = true })
      return { out = out, e = e, a = a }
    end })
    assert.equal("", layers[1].name)
    assert.same(layers[1].alpha:totable(), res.a:totable())
    assert.same({ 3, 6 }, res.out.shape)
  end)

  it("leaves each module's own mode, and a forward set on the instance, as they were", function()
    local conv = nn.GATConv(4, 3, { heads = 1 })
    local calls = 0
    local own = function(self, ...)
      calls = calls + 1
      return nn.GATConv.forward(self, ...)
    end
    conv.forward = own
    local model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    model.conv = conv
    model:train()
    model[2]:eval() -- a frozen part of a training model
    local x, ei = graphids.randn(3, 4), graphids.tensor({ { 0, 1 }, { 1, 2 } }, { dtype = "i64" })
    analysis.attention(model, nil, { forward = function(m) return m.conv(x, ei) end })
    assert.equal(1, calls, "the instance's forward ran")
    assert.equal(own, rawget(conv, "forward"))
    assert.is_true(model.training and model[1].training and conv.training)
    assert.is_false(model[2].training)
  end)

  it("names a second call of one layer, and refuses models without attention", function()
    local conv = nn.GATConv(4, 4, { heads = 1 })
    local x, ei = graphids.randn(3, 4), graphids.tensor({ { 0, 1 }, { 1, 2 } }, { dtype = "i64" })
    local layers = analysis.attention(conv, nil, { forward = function(c) return c(c(x, ei), ei) end })
    assert.same({ "", "#2" }, { layers[1].name, layers[2].name })
    h.errors("analysis.attention: the model has no attention layer", analysis.attention, nn.Linear(2, 2), {})
    h.errors("the forward ran none of the model's attention layers", analysis.attention, conv, nil,
      { forward = function() return 1 end })
    h.errors("analysis.attention: unknown option 'fn' %(allowed: forward%)", analysis.attention, conv, nil,
      { fn = 1 })
    h.errors("boom", analysis.attention, conv, nil, { forward = function() error("boom", 0) end })
    assert.is_nil(rawget(conv, "forward"), "restored after an error")
  end)
end)

describe("graphids.analysis.attention_entropy", function()
  it("is the per-node entropy of the incoming weights, averaged over heads", function()
    local layer = { edge_index = graphids.tensor({ { 0, 1, 2, 2 }, { 1, 1, 0, 2 } }, { dtype = "i64" }),
      alpha = graphids.tensor({ { 0.5, 0.25 }, { 0.5, 0.75 }, { 1, 1 }, { 1, 1 } }) }
    local e = analysis.attention_entropy(layer, 4):totable()
    local h2 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    h.near(e, { 0, (math.log(2) + h2) / 2, 0, 0 }, 1e-6)
    h.errors("num_nodes must be a positive integer, got 0", analysis.attention_entropy, layer, 0)
    h.errors("layer must be an entry of analysis.attention's result", analysis.attention_entropy, {}, 2)
    h.errors_at_caller("analysis%.attention_entropy: num_nodes 2 is smaller than the layer's edge_index " ..
      "needs %(3: it names node 2%)", analysis.attention_entropy, layer, 2)
  end)
end)

-- A regression whose loss can be evaluated by hand: y = w x + b, mean squared error.
local function regression()
  local lin = nn.Linear(2, 1)
  graphids.no_grad(function()
    lin.weight:copy_(graphids.tensor({ { 0.5, -1.5 } }))
    lin.bias:copy_(graphids.tensor({ 0.25 }))
  end)
  local x = graphids.tensor({ { 1, 2 }, { -1, 0.5 }, { 3, 1 } })
  local y = graphids.tensor({ { 1 }, { 0 }, { 2 } })
  local batch = { num_graphs = 3 }
  local loss = function(model, _, _) return ((model(x) - y):pow(2)):mean() end
  local function at(w1, w2, b) -- the loss at weights {w1, w2} and bias b, in Lua
    local s = 0
    for i, row in ipairs(x:totable()) do
      s = s + (w1 * row[1] + w2 * row[2] + b - y:totable()[i][1]) ^ 2
    end
    return s / 3
  end
  return lin, batch, loss, at
end

describe("graphids.analysis.loss_landscape", function()
  it("evaluates the grid along filter-normalised directions, bias fixed, weights restored", function()
    local lin, batch, loss, at = regression()
    local ls = analysis.loss_landscape(lin, loader_of({ batch }),
      { steps = 3, span = 0.5, seed = 7, loss = loss })
    assert.same({ -0.5, 0, 0.5 }, ls.coords:totable())
    assert.same({ 3, 3 }, ls.loss.shape)
    assert.equal("f64", ls.loss.dtype)
    assert.equal(3, ls.graphs)
    -- the directions as the function draws them: the weight's first, then its second
    local g = graphids.Generator(7)
    local norm_w = math.sqrt(0.5 ^ 2 + 1.5 ^ 2)
    local function dir()
      local d = graphids.randn({ 1, 2 }, { dtype = "f64", generator = g }):totable()[1]
      local n = math.sqrt(d[1] ^ 2 + d[2] ^ 2)
      return { d[1] * norm_w / n, d[2] * norm_w / n }
    end
    local d1, d2 = dir(), dir()
    local grid = ls.loss:totable()
    for i, a in ipairs({ -0.5, 0, 0.5 }) do
      for j, b in ipairs({ -0.5, 0, 0.5 }) do
        h.near(grid[i][j], at(0.5 + a * d1[1] + b * d2[1], -1.5 + a * d1[2] + b * d2[2], 0.25), 1e-5)
      end
    end
    h.near(ls.center, at(0.5, -1.5, 0.25), 1e-6)
    assert.same({ { 0.5, -1.5 } }, lin.weight:totable())
    assert.same({ 0.25 }, lin.bias:totable())
  end)

  it("takes a GAT's validation loss by default and puts the weights back after an error", function()
    local batch = graphs.batch({ num_ids = 10, seed = 2 })
    graphids.manual_seed(5)
    local m = models.GATClassifier(P.gat.small({ num_ids = 10 }))
    local before = m.convs[1].att:clone()
    local ls = analysis.loss_landscape(m, loader_of({ batch, batch }), { steps = 3, max_graphs = 3 })
    assert.equal(3, ls.graphs, "max_graphs keeps the first batch only")
    m:eval()
    local want = m:validation_step(batch).val_loss:item()
    h.near(ls.center, want, 1e-6)
    h.near(ls.loss:totable()[2][2], want, 1e-6)
    assert.is_true(ls.loss:totable()[1][1] ~= want)
    local calls = 0
    h.errors("analysis.loss_landscape: batch 1: the loss must be a scalar tensor or a number, got table",
      analysis.loss_landscape, m, loader_of({ batch }), { steps = 2, loss = function()
        calls = calls + 1
        return calls > 1 and {} or 1
      end })
    assert.same(before:totable(), m.convs[1].att:totable())
  end)

  it("gives a VGAE the same negative samples at every grid point", function()
    local batch = graphs.batch({ num_ids = 10, seed = 3 })
    graphids.manual_seed(6)
    local m = models.VGAE(P.vgae.small({ num_ids = 10 }))
    local a = analysis.loss_landscape(m, loader_of({ batch }), { steps = 3, seed = 4 })
    local b = analysis.loss_landscape(m, loader_of({ batch }), { steps = 3, seed = 4 })
    assert.same(a.loss:totable(), b.loss:totable())
    h.near(a.loss:totable()[2][2], a.center, 1e-6)
  end)

  it("refuses bad options and policies without a loss", function()
    local lin, batch, loss = regression()
    local L = loader_of({ batch })
    local ls = analysis.loss_landscape
    h.errors("opts.steps must be an integer >= 2, got 1", ls, lin, L, { steps = 1, loss = loss })
    h.errors("opts.span must be a finite number > 0, got 0", ls, lin, L, { span = 0, loss = loss })
    h.errors("opts.seed must be an integer >= 0, got %-1", ls, lin, L, { seed = -1, loss = loss })
    h.errors("opts.max_graphs must be a positive integer, got 0", analysis.loss_landscape, lin, L,
      { max_graphs = 0, loss = loss })
    h.errors("unknown option 'grid'", analysis.loss_landscape, lin, L, { grid = 3 })
    h.errors("the loader gave no batches", analysis.loss_landscape, lin, loader_of({}), { loss = loss })
    h.errors("the model has no trainable parameter of two or more dimensions", ls, nn.LayerNorm(3), L,
      { loss = loss })
    local bandit = models.resolve("graphids.models.fusion.BanditFusion")(P.fusion.bandit())
    local s = { states = graphids.rand(4, 15), labels = graphids.tensor({ 0, 1, 0, 1 }, { dtype = "i64" }) }
    h.errors("validation_step gives no val_loss", ls, bandit, loader_of({ s }), { steps = 2 })
  end)
end)

describe("graphids.analysis.fusion_policy", function()
  it("collects a DQN's greedy alphas with the experts' scores and counts per action", function()
    graphids.manual_seed(8)
    local dqn = models.resolve("graphids.models.fusion.DQNFusion")(P.fusion.dqn())
    local g = graphids.Generator(2)
    local b1 = { states = graphids.rand({ 6, 15 }, { generator = g }),
      labels = graphids.tensor({ 0, 1, 0, 1, 1, 0 }, { dtype = "i64" }) }
    local b2 = { states = graphids.rand({ 3, 15 }, { generator = g }),
      labels = graphids.tensor({ 0, 0, 1 }, { dtype = "i64" }) }
    local p = analysis.fusion_policy(dqn, loader_of({ b1, b2 }))
    dqn:eval()
    local want = graphids.cat({ dqn:test_step(b1).alphas, dqn:test_step(b2).alphas }, 1)
    assert.same(want:totable(), p.alphas:totable())
    assert.same({ 0, 1, 0, 1, 1, 0, 0, 0, 1 }, p.labels:totable())
    local counts, mean, ma, na = {}, 0, 0, 0
    for i = 1, 21 do counts[i] = 0 end
    for i, a in ipairs(want:totable()) do
      local k = math.floor(a * 20 + 0.5) + 1
      counts[k] = counts[k] + 1
      mean = mean + a / 9
      if p.labels:totable()[i] == 1 then ma, na = ma + a, na + 1 end
    end
    assert.same(counts, p.counts:totable())
    h.near(p.mean_alpha.all, mean, 1e-6)
    h.near(p.mean_alpha.attack, ma / na, 1e-6)
    local FC = require "graphids.models.fusion.common"
    local anomaly = FC.scores(FC.normalize(b1.states))
    h.near(p.anomaly:narrow(1, 1, 6):totable(), anomaly:totable(), 1e-7)
  end)

  it("refuses a fusion model without a policy, and bad states", function()
    local mlp = models.resolve("graphids.models.fusion.MLPFusion")(P.fusion.mlp())
    local s = { states = graphids.rand(4, 15), labels = graphids.tensor({ 0, 1, 0, 1 }, { dtype = "i64" }) }
    h.errors("chooses no alpha per window", analysis.fusion_policy, mlp, loader_of({ s }))
    local dqn = models.resolve("graphids.models.fusion.DQNFusion")(P.fusion.dqn())
    h.errors("analysis.fusion_policy: states must be %[B, 15%], got %[4, 3%]", analysis.fusion_policy, dqn,
      loader_of({ { states = graphids.rand(4, 3), labels = s.labels } }))
  end)
end)

describe("graphids.analysis._common.spread", function()
  -- n batches of 2 graphs that record which ones were collated
  local function counting_loader(n)
    local made = {}
    local L = setmetatable({}, { __len = function() return n end })
    function L.iter(_, _, start)
      local i = (start or 1) - 1
      return function()
        i = i + 1
        if i > n then return nil end
        made[#made + 1] = i
        return { num_graphs = 2, i = i }
      end
    end
    return L, made
  end

  it("takes whole batches spread over the loader, collating only those", function()
    local A = require "graphids.analysis._common"
    local L, made = counting_loader(10)
    local list, n = A.spread(L, 6)
    assert.equal(6, n)
    assert.same({ 1, 4, 7 }, { list[1].i, list[2].i, list[3].i })
    assert.same({ 1, 4, 7 }, made)
    local all, m = A.spread(counting_loader(10), 100)
    assert.equal(20, m)
    assert.equal(10, #all)
    local one = A.spread(counting_loader(10), 1)
    assert.equal(1, #one, "a batch larger than the limit still gives one")
  end)
end)
