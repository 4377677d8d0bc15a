-- fusion_spec.lua -- the fusion policies over the 15-D state: layout, normalisation, scores and
-- the reward against hand-computed values, the replay buffer, Sherman-Morrison arms against the
-- explicit ridge matrix, and each policy learning a separable problem.
local graphids = require "graphids"
local h = require "helpers"
local models = require "graphids.models"
local FC = require "graphids.models.fusion.common"

-- A state row from the VGAE block (8) and the GAT block (7).
local function state(v, g)
  local row = {}
  for i = 1, 8 do row[i] = v[i] or 0 end
  for i = 1, 7 do row[8 + i] = g[i] or 0 end
  return row
end

-- Separable states: the GAT's p1 carries the label.
local function separable(n, seed)
  local g = graphids.Generator(seed)
  local labels = graphids.randint(2, { n }, { generator = g })
  local s = graphids.rand({ n, 15 }, { generator = g })
  local p1 = labels:float() * 0.8 + graphids.rand({ n }, { generator = g }) * 0.2
  s:select(2, 10):copy_(p1)
  s:select(2, 9):copy_(1 - p1)
  return { states = s, labels = labels }
end

describe("fusion state and reward", function()
  it("assembles states from the detectors' fusion features", function()
    local graphs = require "models.graphs"
    local b = graphs.batch({ num_ids = 10 })
    local vgae = models.VGAE(models.presets.vgae.small({ num_ids = 10 }))
    local gat = models.GATClassifier(models.presets.gat.small({ num_ids = 10 }))
    vgae:eval(); gat:eval()
    local s = FC.state(vgae:extract_features(b), gat:extract_features(b))
    assert.same({ 3, 15 }, s.shape)
    local _, p1 = FC.scores(s)
    h.near(p1:totable(), gat:test_step(b).scores:totable(), 1e-6)
    h.errors("expected VGAE features %[B, 8%] and GAT features %[B, 7%] for the same B, got " ..
      "%[3, 7%] and %[3, 7%]", FC.state, graphids.zeros(3, 7), graphids.zeros(3, 7))
  end)

  it("normalises the two confidence columns only", function()
    local s = graphids.tensor({ state({ 2, 0, 0, 0, 0, 0, 0, 1.5 }, { 0, 0, 0, 0, 0, 0, -0.5 }) })
    local n = FC.normalize(s):totable()[1]
    assert.equal(2, n[1])
    assert.equal(1, n[8])
    assert.equal(0, n[15])
    assert.equal(1.5, s:totable()[1][8], "the input is not modified")
  end)

  it("scores: clamped weighted VGAE errors, and p1 as it stands (no second softmax)", function()
    local s = graphids.tensor({ state({ 0.5, 1.0, 0.2 }, { 0.3, 0.7 }),
      state({ 2, 2, 2 }, { 0.9, 0.1 }) })
    local anomaly, p = FC.scores(s)
    h.near(anomaly:totable(), { 0.4 * 0.5 + 0.3 * 1.0 + 0.3 * 0.2, 1.0 }, 1e-6)
    h.near(p:totable(), { 0.7, 0.1 }, 1e-6)
    h.near(FC.fused(s, graphids.tensor({ 0.25, 1.0 })):totable(),
      { 0.75 * 0.56 + 0.25 * 0.7, 0.1 }, 1e-6)
    h.near(FC.alphas(h.long({ 0, 10, 20 })):totable(), { 0, 0.5, 1 }, 1e-7)
  end)

  it("rewards correct and wrong decisions with the reference's terms", function()
    -- anomaly 0.56, p1 0.7, confidences 0.9 (VGAE) and 0.6 (GAT)
    local s = graphids.tensor({ state({ 0.5, 1.0, 0.2, 0, 0, 0, 0, 0.9 }, { 0.3, 0.7, 0, 0, 0, 0,
      0.6 }) })
    local alpha = graphids.tensor({ 0.25 })
    local fused = 0.75 * 0.56 + 0.25 * 0.7
    local agreement = 1 - math.abs(0.56 - 0.7)
    local balance = 0.3 * (1 - 2 * math.abs(0.25 - 0.5))
    local r = FC.Reward()
    -- label 1, predicted 1: correct
    local got = r(s, h.long({ 1 }), h.long({ 1 }), alpha):item()
    h.near(got, 3 + agreement + 0.5 * 0.7 + 0.3 * 0.9 + balance, 1e-6)
    -- label 0, predicted 1: wrong
    got = r(s, h.long({ 1 }), h.long({ 0 }), alpha):item()
    h.near(got, -3 - 1.0 * (1 - agreement) - 1.5 * fused + balance, 1e-6)
    -- label 0, predicted 0: correct, confidence toward the label is 1 - max
    got = r(s, h.long({ 0 }), h.long({ 0 }), alpha):item()
    h.near(got, 3 + agreement + 0.5 * (1 - 0.7) + 0.3 * 0.9 + balance, 1e-6)
    h.errors("unknown option 'corect'", FC.Reward, { corect = 1 })
  end)

  it("keeps the newest rows of a circular replay buffer", function()
    local buf = FC.ReplayBuffer(4)
    local function push(a, b)
      local n = b - a + 1
      buf:push(graphids.arange(a, b + 1):float():unsqueeze(2):expand({ n, 15 }),
        graphids.arange(a, b + 1), graphids.arange(a, b + 1):float())
    end
    push(1, 3)
    assert.equal(3, #buf)
    push(4, 6)
    assert.equal(4, #buf)
    assert.same({ 5, 6, 3, 4 }, buf.actions:totable())
    push(7, 12)
    assert.same({ 11, 12, 9, 10 }, buf.actions:totable())
    local s, a, r = buf:sample(50, graphids.Generator(1))
    assert.is_true(graphids.equal(s:select(2, 3), r))
    assert.is_true(graphids.equal(a:float(), r))
    assert.is_true(a:ge(9):all():item())
    h.errors("the buffer is empty", FC.ReplayBuffer(2).sample, FC.ReplayBuffer(2), 1)
  end)

  it("keeps rows in the states' float dtype, so the DQN and the bandit train in f64", function()
    local buf = FC.ReplayBuffer(3)
    buf:push(graphids.ones({ 2, 15 }, { dtype = "f64" }), graphids.ones({ 2 }, { dtype = "i64" }),
      graphids.ones({ 2 }, { dtype = "f64" }))
    local s, a, r = buf:sample(4, graphids.Generator(1))
    assert.same({ "f64", "i64", "f64" }, { s.dtype, a.dtype, r.dtype })
    for _, name in ipairs({ "DQNFusion", "BanditFusion" }) do
      local opts = name == "BanditFusion" and { retrain_every = 1 } or {}
      local m = models.resolve("graphids.models.fusion." .. name)(opts)
      m:double()
      m:train()
      local g = graphids.Generator(5)
      local loss = m:training_step({ states = graphids.rand({ 30, 15 }, { dtype = "f64", generator = g }),
        labels = graphids.randint(2, { 30 }, { generator = g }) }, {})
      -- (the bandit fits its backbone itself and returns its last loss as a report only)
      if name == "DQNFusion" then assert.equal("f64", loss.dtype, name) end
    end
  end)
end)

describe("fusion policies", function()
  it("are registered, and the RL ones optimize themselves", function()
    for _, name in ipairs({ "DQNFusion", "BanditFusion", "MLPFusion", "WeightedAvgFusion" }) do
      local cls = models.resolve("graphids.models.fusion." .. name)
      assert.equal("graphids.models.fusion." .. name, cls.class_path)
    end
    assert.is_false(models.resolve("graphids.models.fusion.DQNFusion").automatic_optimization)
    assert.is_false(models.resolve("graphids.models.fusion.BanditFusion").automatic_optimization)
    assert.is_nil(models.resolve("graphids.models.fusion.MLPFusion").automatic_optimization)
    h.errors("states must be %[B, 15%]", models.resolve("graphids.models.fusion.MLPFusion")({})
      .training_step, models.resolve("graphids.models.fusion.MLPFusion")({}),
      { states = graphids.zeros(3, 14), labels = h.long({ 0, 1, 0 }) })
  end)

  it("refuse hyper-parameters outside their range, naming them", function()
    local function refused(name, hp)
      local ok, err = pcall(models.resolve("graphids.models.fusion." .. name), hp)
      assert.is_false(ok, name)
      return tostring(err)
    end
    for _, c in ipairs({
      { "DQNFusion", { min_epsilon = 2 }, "hyper-parameter 'min_epsilon' must be in [0, 1], got 2" },
      { "DQNFusion", { min_epsilon = 0.5 }, "hyper-parameter 'min_epsilon' (0.5) must be <= epsilon (0.2)" },
      { "DQNFusion", { epsilon_decay = 1.5 }, "hyper-parameter 'epsilon_decay' must be in (0, 1], got 1.5" },
      { "DQNFusion", { epsilon_decay = 0 }, "hyper-parameter 'epsilon_decay' must be in (0, 1], got 0" },
      { "DQNFusion", { max_grad_norm = -1 }, "hyper-parameter 'max_grad_norm' must be a finite number > 0" },
      { "BanditFusion", { ucb_alpha = -1 }, "hyper-parameter 'ucb_alpha' must be a finite number >= 0" },
      { "BanditFusion", { lambda = 0 }, "hyper-parameter 'lambda' must be a finite number > 0" },
    }) do
      local err = refused(c[1], c[2])
      assert.truthy(err:find(c[1] .. ": " .. c[3], 1, true), err)
    end
    -- the bounds themselves are taken
    models.resolve("graphids.models.fusion.DQNFusion")({ epsilon_decay = 1, min_epsilon = 0.2 })
    models.resolve("graphids.models.fusion.BanditFusion")({ ucb_alpha = 0 })
  end)

  it("draw every random number of a step, dropout masks too, from the step's generator", function()
    local data = separable(300, 3)
    for _, case in ipairs({ { "DQNFusion", models.presets.fusion.dqn() },
      { "BanditFusion", models.presets.fusion.bandit({ retrain_every = 1 }) },
      { "MLPFusion", models.presets.fusion.mlp() } }) do
      local losses = {}
      for run = 1, 2 do
        graphids.manual_seed(1)
        local m = models.resolve("graphids.models.fusion." .. case[1])(case[2])
        m:train()
        graphids.manual_seed(run * 1000) -- only the default stream differs between the runs
        local loss = m:training_step(data, { generator = graphids.Generator(42) })
        losses[run] = loss:item()
      end
      assert.equal(losses[1], losses[2], case[1])
    end
  end)

  it("DQN: epsilon decays per episode and the greedy policy learns a separable problem", function()
    graphids.manual_seed(2)
    local m = models.resolve("graphids.models.fusion.DQNFusion")(
      models.presets.fusion.dqn({ hidden = 32, batch_size = 64 }))
    local data = separable(256, 1)
    for ep = 1, 40 do
      m:training_step(data, { generator = graphids.Generator(ep) })
    end
    h.near(m.epsilon:item(), 0.2 * 0.995 ^ 40, 1e-9)
    local v = m:validation_step(data)
    local acc = v.val_acc:item()
    assert.is_true(acc > 0.9, "val_acc " .. acc)
    local t = m:test_step(data)
    assert.is_true(graphids.equal(t.preds, t.scores:gt(0.5):long()))
  end)

  it("bandit: Sherman-Morrison keeps A_a^-1 the inverse of lambda I + sum z z^T", function()
    graphids.manual_seed(4)
    local m = models.resolve("graphids.models.fusion.BanditFusion")(
      models.presets.fusion.bandit({ hidden = 6, num_layers = 1, retrain_every = 1000 }))
    -- two episodes; the arms each plays come from the statistics before it (the backbone does
    -- not change without a retrain), so A_a = I + sum over the rows that played a of z z^T
    local zs, acts = {}, {}
    for ep = 1, 2 do
      local data = separable(40, ep)
      zs[ep] = m:embed(FC.normalize(data.states))
      acts[ep] = m:ucb(zs[ep]):argmax(2)
      m:training_step(data, {})
    end
    local z, actions = graphids.cat(zs, 1), graphids.cat(acts, 1)
    local counts, used = 0, 0
    for a = 0, 20 do
      local rows = actions:eq(a):nonzero()
      local A = graphids.eye(6)
      if rows:size(1) > 0 then
        local za = z:index_select(1, rows:select(2, 1))
        A = A + za:t():matmul(za)
        used = used + 1
      end
      local prod = m.A_inv:select(1, a + 1):matmul(A)
      h.near(prod:reshape({ -1 }):totable(), graphids.eye(6):reshape({ -1 }):totable(), 1e-4)
      counts = counts + rows:size(1)
    end
    -- theta = A^-1 b for every arm
    local want = m.A_inv:bmm(m.b:unsqueeze(3)):squeeze(3)
    h.near(m.theta:reshape({ -1 }):totable(), want:reshape({ -1 }):totable(), 1e-5)
    assert.is_true(m.b:abs():sum():item() > 0)
    assert.equal(80, counts)
    assert.is_true(used >= 2, "the second episode explores other arms")
    assert.equal(2, m.episodes:item())
    -- the UCB score of a row for an arm, by hand: theta_a . z + ucb_alpha sqrt(z^T A_a^-1 z)
    local z1 = z:select(1, 1)
    local u = m:ucb(z1:unsqueeze(1)):select(1, 1):totable()
    for _, a in ipairs({ 0, 7, 20 }) do
      local Ainv, th = m.A_inv:select(1, a + 1), m.theta:select(1, a + 1)
      local score = (th * z1):sum():item() + math.sqrt((Ainv:matmul(z1) * z1):sum():item())
      h.near(u[a + 1], score, 1e-5)
    end
  end)

  -- steps full-batch steps of the model's own optimizer, as the trainer takes them
  local function train(m, data, steps)
    local opt = m:configure_optimizers()
    for _ = 1, steps do
      opt:zero_grad()
      m:training_step(data):backward()
      opt:step()
    end
  end

  it("MLP and weighted average train with the trainer's optimizer", function()
    graphids.manual_seed(5)
    local data = separable(512, 3)
    local mlp = models.resolve("graphids.models.fusion.MLPFusion")(models.presets.fusion.mlp())
    train(mlp, data, 60)
    mlp:eval()
    assert.is_true(mlp:validation_step(data).val_acc:item() > 0.95)
    -- the weighted average starts at alpha = 0.5 over the two attack scores and learns to
    -- lean on the GAT's p1, which carries the labels here (the anomaly columns are noise)
    local wa = models.resolve("graphids.models.fusion.WeightedAvgFusion")({})
    assert.equal(1, wa:num_parameters())
    local r = wa:test_step(data)
    local anomaly, p1 = FC.scores(FC.normalize(data.states))
    h.near(r.scores:totable(), ((anomaly + p1) * 0.5):totable(), 1e-6)
    local before = wa:validation_step(data).val_acc:item()
    train(wa, data, 200)
    assert.is_true(wa.weight:item() > 1, "alpha moved towards the GAT: w = " .. wa.weight:item())
    local after = wa:validation_step(data).val_acc:item()
    assert.is_true(after > 0.95 and after > before, string.format("val_acc %.3f -> %.3f", before, after))
  end)
end)
