-- models_spec.lua -- the class-path registry, hyper-parameters and the step API of the graph
-- models (GATClassifier, VGAE, DGI) on a hand-made batch: shapes, determinism under a
-- generator, what training moves, the loss choice, and errors for bad input.
local graphids = require "graphids"
local h = require "helpers"
local graphs = require "models.graphs"
local models = require "graphids.models"

local P = models.presets
local NUM_IDS = 10

local function small(family, extra)
  local hp = P[family].small({ num_ids = NUM_IDS })
  for k, v in pairs(extra or {}) do hp[k] = v end
  return hp
end

describe("graphids.models registry", function()
  it("resolves every class path to a class carrying that path", function()
    local paths = models.class_paths()
    assert.is_true(#paths >= 15)
    for _, p in ipairs(paths) do
      local cls = models.resolve(p)
      assert.equal(p, cls.class_path, p)
    end
    assert.equal(models.resolve("graphids.models.GATClassifier"), models.GATClassifier)
  end)

  it("names the closest class paths for an unknown one", function()
    h.errors("unknown class path 'graphids.models.GATClasifier' %(closest: " ..
      "graphids.models.GATClassifier", models.resolve, "graphids.models.GATClasifier")
    h.errors("class_path must be a string", models.resolve, 3)
  end)

  it("rejects unknown and missing hyper-parameters, naming them", function()
    h.errors("GATClassifier: unknown hyper%-parameter 'hiden' %(did you mean 'hidden'%?%)",
      models.GATClassifier, { num_ids = 4, hiden = 3 })
    h.errors("VGAE: hyper%-parameter 'num_ids' is required", models.VGAE, {})
    h.errors("DGI: unknown hyper%-parameters 'alpha', 'beta' %(allowed: batch_norm, conv_type",
      models.DGI, { num_ids = 4, beta = 1, alpha = 2 })
    h.errors("hyper%-parameter 'conv_type' must be one of gat, gatv2, transformer, got gps",
      models.DGI, { num_ids = 4, conv_type = "gps" })
    h.errors("unknown hyper%-parameter 'bogus'", models.GATClassifier,
      P.gat.small({ num_ids = 4, bogus = 1 }))
    h.errors("hyper%-parameter 'dropout' must be in %[0, 1%]", models.VGAE,
      { num_ids = 4, dropout = 2 })
    -- loss settings read as the model's, whatever loss the model builds
    for _, loss_fn in ipairs({ "focal", "ce" }) do
      h.errors("^GATClassifier: hyper%-parameter 'focal_gamma' must be a finite number >= 0, got %-1$",
        models.GATClassifier, P.gat.small({ num_ids = 10, loss_fn = loss_fn, focal_gamma = -1 }))
    end
    h.errors("^VGAE: hyper%-parameter 'k_neg' must be a non%-negative integer, got %-1$", models.VGAE,
      P.vgae.small({ num_ids = 10, k_neg = -1 }))
    h.errors("^VGAE: hyper%-parameter 'kl_weight' must be a finite number >= 0, got %-0.5$", models.VGAE,
      P.vgae.small({ num_ids = 10, kl_weight = -0.5 }))
  end)

  it("rebuilds the same architecture from class_path and hparams()", function()
    for _, family in ipairs({ "gat", "vgae", "dgi" }) do
      local cls = ({ gat = models.GATClassifier, vgae = models.VGAE, dgi = models.DGI })[family]
      local m = cls(small(family, { id_encoder_class_path =
        "graphids.models.id_encoder.HashIdEncoder", id_encoder_kwargs = { k = 3 } }))
      local hp = m:hparams()
      assert.equal("graphids.models.id_encoder.HashIdEncoder", hp.id_encoder_class_path)
      assert.same({ k = 3 }, hp.id_encoder_kwargs)
      assert.equal(NUM_IDS, hp.num_ids)
      local again = models.instantiate(m.class_path, hp)
      assert.same(m:state_dict():keys(), again:state_dict():keys())
      again:load_state_dict(m:state_dict())
      hp.num_ids = 999          -- a copy: the model's own table is unchanged
      assert.equal(NUM_IDS, m:hparams().num_ids)
      -- through JSON (numbers come back as floats), as a checkpoint stores them
      local cjson = require "cjson"
      local decoded = cjson.decode(cjson.encode(m:hparams()))
      local rebuilt = models.instantiate(m.class_path, decoded)
      assert.equal(m:num_parameters(), rebuilt:num_parameters())
      assert.equal(math.type(m:hparams().num_ids), math.type(rebuilt:hparams().num_ids))
    end
  end)
end)

describe("presets", function()
  it("combine: the id-encoding arms merge into any model's preset", function()
    local m = models.VGAE(P.vgae.small(P.id_encoding.hash({ num_ids = 100 })))
    local enc = m.input_encoder.id_encoder
    assert.equal("HashIdEncoder", require("graphids.class").name_of(enc))
    assert.equal(512, enc.num_buckets)
    assert.equal(4, enc.out_dim)
    local g = models.GATClassifier(P.gat.large(P.id_encoding.learned_unk({ num_ids = 100 })))
    assert.equal(0.1, g.input_encoder.id_encoder.p_unk_drop)
    assert.equal(64, g:hparams().hidden)
    -- a preset call returns a fresh table each time
    local a = P.gat.small({ num_ids = 1 })
    a.hidden = 1
    assert.equal(24, P.gat.small({ num_ids = 1 }).hidden)
  end)
end)

describe("logged accuracy", function()
  it("is a 0-d f64 tensor holding the same number as the division on the host", function()
    local S = require "graphids.models._steps"
    local preds = graphids.tensor({ 1, 0, 1, 1, 0, 1, 1, 0, 1 }, { dtype = "i64" })
    local labels = graphids.tensor({ 1, 0, 1, 0, 0, 1, 1, 1, 1 }, { dtype = "i64" })
    local acc = S.hit_rate(preds, labels)
    assert.same({}, acc.shape)
    assert.equal("f64", acc.dtype)
    assert.equal(7 / 9, acc:item())
    local logits = graphids.tensor({ { 0.1, 0.9 }, { 0.8, 0.2 }, { 0.3, 0.7 } })
    assert.equal(2 / 3, S.accuracy(logits, graphids.tensor({ 1, 1, 1 }, { dtype = "i64" })):item())
    assert.equal(0, S.hit_rate(graphids.zeros({ 0 }, { dtype = "i64" }),
      graphids.zeros({ 0 }, { dtype = "i64" })):item())
  end)
end)

describe("GATClassifier steps", function()
  it("trains, validates, tests and extracts 7-D features", function()
    graphids.manual_seed(3)
    local m = models.GATClassifier(small("gat"))
    local b = graphs.batch({ num_ids = NUM_IDS })
    local loss, logs = m:training_step(b, { generator = graphids.Generator(1) })
    assert.same({}, loss.shape)
    -- logged values stay 0-d tensors (a read would wait for the device mid-step)
    assert.is_true(graphids.is_tensor(logs.train_loss) and graphids.is_tensor(logs.train_acc))
    h.near(logs.train_loss:item(), loss:item(), 1e-12)
    assert.is_true(logs.train_acc:item() >= 0 and logs.train_acc:item() <= 1)
    loss:backward()
    for name, p in m:named_parameters() do
      assert(p.grad ~= nil, name .. " got no gradient")
    end
    m:eval()
    local v = m:validation_step(b)
    assert.same({}, v.val_loss.shape)
    assert.is_number(v.val_loss:item())
    local t = m:test_step(b)
    assert.same({ 3 }, t.scores.shape)
    assert.same({ 3 }, t.preds.shape)
    assert.is_true(graphids.equal(t.labels, b.y))
    local f = m:extract_features(b)
    assert.same({ 3, 7 }, f.shape)
    -- p0 + p1 = 1; confidence in [0, 1]; scores = p1
    h.near((f:select(2, 1) + f:select(2, 2)):totable(), { 1, 1, 1 }, 1e-6)
    h.near(f:select(2, 2):totable(), t.scores:totable(), 1e-6)
    assert.is_true(f:select(2, 7):ge(0):all():item() and f:select(2, 7):le(1):all():item())
    -- an embedding of width 1 has no spread: 0, not the unbiased std's NaN
    local thin = models.GATClassifier(small("gat", { hidden = 1, heads = 1 }))
    thin:eval()
    local tf = thin:extract_features(b)
    assert.equal(tf:numel(), tf:isfinite():sum():item())
    assert.same({ 0, 0, 0 }, tf:select(2, 4):totable())
  end)

  it("names id_encoder_kwargs in an error of the id encoder it builds", function()
    local ok, err = pcall(models.GATClassifier, small("gat", { id_encoder_kwargs = { bogus = 1 } }))
    assert.is_false(ok)
    assert.truthy(tostring(err):find("id_encoder_kwargs: LookupIdEncoder.from_vocab_size: unknown " ..
      "option 'bogus'", 1, true), tostring(err))
  end)

  it("gives the same training step for the same generator", function()
    local m = models.GATClassifier(small("gat", { id_encoder_kwargs = { p_unk_drop = 0.3 } }))
    local b = graphs.batch({ num_ids = NUM_IDS })
    local a = m:training_step(b, { generator = graphids.Generator(5) }):item()
    local c = m:training_step(b, { generator = graphids.Generator(5) }):item()
    local d = m:training_step(b, { generator = graphids.Generator(6) }):item()
    assert.equal(a, c)
    assert.not_equal(a, d)
  end)

  it("trains with the configured loss (focal, weighted CE), not silently CE", function()
    local b = graphs.batch({ num_ids = NUM_IDS })
    local F = require "graphids.nn.functional"
    for _, kind in ipairs({ "ce", "focal", "weighted_ce" }) do
      local m = models.GATClassifier(small("gat", { loss_fn = kind }))
      m:eval()
      local logits = m(b)
      local want
      if kind == "ce" then
        want = F.cross_entropy(logits, b.y)
      elseif kind == "focal" then
        want = F.focal_loss(logits, b.y, { gamma = 2.0 })
      else
        want = F.cross_entropy(logits, b.y, { weight = graphids.tensor({ 1.0, 10.0 }) })
      end
      h.near(m:validation_step(b).val_loss:item(), want:item(), 1e-6)
    end
  end)

  it("a few Adam steps on one batch reduce the loss", function()
    graphids.manual_seed(11)
    local m = models.GATClassifier(small("gat", { dropout = 0.0 }))
    local b = graphs.batch({ num_ids = NUM_IDS })
    -- (the trainer's opts: the per-epoch cosine takes the fit's steps and has no use for them)
    local opt, sched = m:configure_optimizers({ max_epochs = 10, estimated_stepping_batches = 150 })
    assert.is_not_nil(sched)
    assert.equal(10, sched.T_max)
    local first, last
    for i = 1, 15 do
      opt:zero_grad()
      local loss = m:training_step(b, {})
      loss:backward()
      opt:step()
      first = first or loss:item()
      last = loss:item()
      assert.is_true(i < 15 or last < first, string.format("%g -> %g", first, last))
    end
  end)

  it("leaves no tensors behind after training steps", function()
    local m = models.GATClassifier(small("gat"))
    local b = graphs.batch({ num_ids = NUM_IDS })
    local opt = m:configure_optimizers()
    local function step()
      opt:zero_grad()
      m:training_step(b, {}):backward()
      opt:step()
    end
    step()                                    -- grads and optimizer state exist from here on
    collectgarbage(); collectgarbage()
    local base = graphids.memory().live_tensors
    for _ = 1, 4 do step() end
    m:eval()
    m:test_step(b)
    m:extract_features(b)
    collectgarbage(); collectgarbage()
    assert.equal(base, graphids.memory().live_tensors)
  end)

  it("reports bad batches and ids clearly", function()
    local m = models.GATClassifier(small("gat"))
    local b = graphs.batch({ num_ids = NUM_IDS })
    b.edge_attr = nil
    h.errors("GATClassifier: batch has no edge_attr", m, b)
    h.errors("batch has no field 'node_id'", m, { x = b.x, edge_index = b.edge_index })
    local bad = graphs.batch({ num_ids = NUM_IDS + 5, seed = 2 })
    h.errors("outside the vocabulary %(num_ids 10%)", m, bad)
    h.errors("unknown option 'generatr'", m.training_step, m, graphs.batch({ num_ids = NUM_IDS }),
      { generatr = 1 })
  end)
end)

describe("VGAE steps", function()
  it("logs the four loss parts, scores graphs and extracts 8-D features", function()
    local m = models.VGAE(small("vgae"))
    local b = graphs.batch({ num_ids = NUM_IDS })
    local loss, logs = m:training_step(b, { generator = graphids.Generator(1) })
    h.near(logs.train_recon:item() + 0.1 * logs.train_canid:item() + 0.05 * logs.train_nbr:item()
      + 0.01 * logs.train_kl:item(), loss:item(), 1e-5)
    loss:backward()
    m:eval()
    local s1 = m:test_step(b).scores
    local s2 = m:test_step(b).scores
    assert.same({ 3 }, s1.shape)
    assert.is_true(graphids.equal(s1, s2), "eval scores are deterministic")
    local f = m:extract_features(b)
    assert.same({ 3, 8 }, f.shape)
    h.near(f:select(2, 8):totable(), (1 / (f:select(2, 1) + 1)):totable(), 1e-6)
    assert.same({ 3 }, m:score_difficulty(b).shape)
    -- in eval mode whatever the model's: the same scores from training mode, which it keeps
    local d_eval = m:score_difficulty(b)
    m:train()
    assert.is_true(graphids.equal(d_eval, m:score_difficulty(b)), "score_difficulty in training mode")
    assert.is_true(m.training)
  end)

  it("draws every number of a step from the step's generator, the decoder's dropout included",
    function()
      local m = models.VGAE(small("vgae"))
      local b = graphs.batch({ num_ids = NUM_IDS })
      local losses = {}
      for i, seed in ipairs({ 1, 99 }) do
        graphids.manual_seed(seed) -- the default stream differs; the step must not read it
        losses[i] = m:training_step(b, { generator = graphids.Generator(7) }):item()
      end
      assert.equal(losses[1], losses[2])
    end)

  it("trains and scores ids past the vocabulary that its id encoder takes, as UNK in its heads",
    function()
      for _, kw in ipairs({ { id_encoder_kwargs = { oov = "unk" } },
        { id_encoder_class_path = "graphids.models.id_encoder.HashIdEncoder",
          id_encoder_kwargs = { k = 2, num_buckets_factor = 4 } } }) do
        local m = models.VGAE(small("vgae", kw))
        local b = graphs.batch({ num_ids = NUM_IDS })
        local unk = graphs.batch({ num_ids = NUM_IDS })
        b.node_id:narrow(1, 1, 1):fill_(NUM_IDS + 3) -- an id the vocabulary never saw
        unk.node_id:narrow(1, 1, 1):fill_(0)
        local loss = m:training_step(b, { generator = graphids.Generator(2) })
        if kw.id_encoder_class_path == nil then -- the lookup encoder reads it as UNK too
          assert.equal(m:training_step(unk, { generator = graphids.Generator(2) }):item(), loss:item())
        end
        m:eval()
        assert.same({ 3 }, m:test_step(b).scores.shape)
        assert.same({ 3, 8 }, m:extract_features(b).shape)
      end
    end)

  it("extracts finite features with a latent of one dimension (its spread column was NaN)", function()
    local m = models.VGAE(small("vgae", { latent_dim = 1 }))
    m:eval()
    local f = m:extract_features(graphs.batch({ num_ids = NUM_IDS }))
    assert.is_true(f:isfinite():all():item())
    assert.same({ 0, 0, 0 }, f:select(2, 5):totable())
  end)

  it("masks the features in training: the reconstruction loss reads masked entries only", function()
    local m = models.VGAE(small("vgae", { dropout = 0.0 }))
    local b = graphs.batch({ num_ids = NUM_IDS })
    local mask = graphids.zeros({ b.num_nodes, 35 }, { dtype = "bool" })
    mask:select(2, 1):fill_(true)
    local out = m(b, { mask = mask, eps = graphids.zeros({ b.num_nodes, 16 }) })
    local want = (out.cont:select(2, 1) - b.x:select(2, 1)):square():mean():item()
    local L = require "graphids.models.losses"
    h.near(L.masked_mse(out.cont, b.x, mask):item(), want, 1e-6)
    -- an empty mask: the MSE over every entry, with a finite gradient
    local cont = out.cont:detach():requires_grad_()
    local none = graphids.zeros({ b.num_nodes, 35 }, { dtype = "bool" })
    local l = L.masked_mse(cont, b.x, none)
    h.near(l:item(), (cont - b.x):square():mean():item(), 1e-6)
    l:backward()
    assert.is_true(cont.grad:isfinite():all():item())
    h.near(cont.grad:totable(), ((cont - b.x) * (2 / cont:numel())):detach():totable(), 1e-6)
  end)

  it("the negative-sampled neighbour loss excludes true neighbours", function()
    local L = require "graphids.models.losses"
    -- 2 nodes, 3 ids; edge 0 -> 1 where node 1 has id 2: positive (0, 2)
    local logits = graphids.tensor({ { 0.5, -1.0, 2.0 }, { 0.0, 1.0, -0.5 } })
    local node_id, ei = h.long({ 1, 2 }), h.long({ { 0 }, { 1 } })
    local neg = h.long({ { 2, 0 }, { 1, 1 } })          -- (0, 2) collides and is dropped
    local got = L.neighbour_loss(logits, node_id, ei, 3, neg):item()
    local sp = function(v) return math.log(1 + math.exp(v)) end
    local want = sp(-2.0) + (sp(0.5) + sp(1.0) + sp(1.0)) / 3
    h.near(got, want, 1e-6)
  end)
end)

describe("VGAE calibrated score", function()
  it("sums z-scores of the log max-node errors fitted on benign graphs, after calibration only", function()
    local G = require "graphids.nn.graph"
    local m = models.VGAE(small("vgae", { score = "calibrated" }))
    m:eval()
    local b = graphs.batch({ num_ids = NUM_IDS })
    h.errors("the calibrated score is not calibrated", m.test_step, m, b)
    local cal = m:calibrate({ b })
    assert.equal(b.num_graphs, cal.graphs)
    assert.same({ 3 }, cal.mean.shape)
    -- the score by hand from the node errors
    local mse, ce, bce = m:node_errors(b)
    local g, n = b.batch, b.num_graphs
    local want = 0
    for i, e in ipairs({ mse, ce, bce }) do
      local l = G.scatter(e, g, n, "max"):add(1e-6):log()
      want = want + (l - cal.mean:select(1, i)) / cal.std:select(1, i)
    end
    local got = m:test_step(b).scores
    assert.is_true(graphids.allclose(got, want, { rtol = 1e-5, atol = 1e-5 }))
    -- on the graphs it was fitted on, each z-score has mean 0, so their sum does too
    assert.is_true(math.abs(got:mean():item()) < 1e-4, tostring(got:mean():item()))
    -- an iterator of batches (as a loader gives) fits the same statistics
    local given = false
    local again = m:calibrate(function()
      if given then return nil end
      given = true
      return b
    end)
    assert.is_true(graphids.equal(cal.mean, again.mean) and graphids.equal(cal.std, again.std))
  end)

  it("keeps the reference score without calibration and rejects an unknown score", function()
    local m = models.VGAE(small("vgae"))
    m:eval()
    local b = graphs.batch({ num_ids = NUM_IDS })
    assert.is_nil(m:calibrate({ b }))
    local mse, ce, bce = m:node_errors(b)
    local G = require "graphids.nn.graph"
    local g, n = b.batch, b.num_graphs
    local want = G.scatter(mse, g, n, "max") + G.scatter(ce, g, n, "max") * 0.1
      + G.scatter(bce, g, n, "max") * 0.05
    assert.is_true(graphids.allclose(m:test_step(b).scores, want, { rtol = 1e-5, atol = 1e-6 }))
    h.errors("hyper%-parameter 'score' must be one of reference, calibrated, got zscore", models.VGAE,
      small("vgae", { score = "zscore" }))
    local c = models.VGAE(small("vgae", { score = "calibrated" }))
    h.errors("needs at least 2 benign graphs, got 0", c.calibrate, c, {})
  end)
end)

describe("DGI steps", function()
  it("refuses to score before calibration, then scores distances to the centre", function()
    local m = models.DGI(small("dgi"))
    local b = graphs.batch({ num_ids = NUM_IDS })
    local loss = m:training_step(b, { generator = graphids.Generator(2) })
    loss:backward()
    assert.is_not_nil(m.discriminator_weight.grad)
    m:eval()
    h.errors("the SVDD centre is not calibrated", m.test_step, m, b)
    m:calibrate({ b }) -- the shared hook; calibrate_svdd is its DGI name
    assert.is_true(m.svdd_calibrated:item())
    local s = m:test_step(b).scores
    assert.same({ 3 }, s.shape)
    assert.is_true(s:ge(0):all():item())
    assert.same({ 3, 8 }, m:extract_features(b).shape)
    h.errors("no graphs to calibrate on", m.calibrate_svdd, m, {})
  end)
end)
