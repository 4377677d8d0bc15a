-- graphids.models.DGI -- Deep Graph Infomax on the VGAE encoder backbone, scored OCGIN-style
-- against an SVDD centre (the reference's GraphInfomaxModel and DGIModule in one class).
--   local m = models.DGI(models.presets.dgi.small({ num_ids = 2047 }))
--   local loss = m:training_step(batch, { generator = g })
--   m:calibrate_svdd(benign_train_batches)        -- at the end of fit (SVDDCalibrationCallback)
--   local r = m:test_step(batch)                  -- r.scores = ||mean_pool(z) - centre||^2
-- Encoder as VGAE's, then z_proj Linear(last, latent); summary s = sigmoid(mean_pool(z));
-- discriminator D(z, s) = sigmoid(z W . s) with W [latent, latent] (Xavier uniform); the
-- corruption permutes the node-feature rows (ids and edges stay); loss = -mean log(D(pos) +
-- 1e-6) - mean log(1 - D(neg) + 1e-6).  Buffers svdd_center [latent] and svdd_calibrated (0-d
-- bool) are in the state_dict; scoring before calibration raises.  ctx.perm replaces the
-- permutation draw.
local graphids = require "graphids"
local nn = require "graphids.nn"
local G = require "graphids.nn.graph"
local B = require "graphids.models._base"
local S = require "graphids.models._steps"
local V = require "graphids.models.vgae"

local M = {}

local DEFAULTS = V.encoder_defaults({ lr = 1e-3, weight_decay = 0.0 })

local DGI = B.model_class("DGI", "graphids.models.DGI", DEFAULTS)

local EPS = 1e-6

function DGI:__init(hp)
  B.Model.__init(self, hp)
  hp = self.hp
  local w = graphids.empty({ hp.latent_dim, hp.latent_dim })
  nn.init.xavier_uniform_(w)
  self:register_parameter("discriminator_weight", w)
  local last = V.build_encoder(self, "DGI")
  self.z_proj = nn.Linear(last, hp.latent_dim)
  self:register_buffer("svdd_center", graphids.zeros({ hp.latent_dim }))
  self:register_buffer("svdd_calibrated", graphids.zeros({}, { dtype = "bool" }))
end

function DGI:encode(x, batch)
  return self.z_proj(V.encode_layers(self, x, batch))
end

function DGI.summarize(_, z, batch)
  return nn.global_mean_pool(z, batch.batch, batch.num_graphs):sigmoid()
end

-- Per-node D(z, s) = sigmoid(sum((z W) * s[batch of the node])).
function DGI:discriminate(z, summary, batch)
  local s = summary:index_select(1, batch.batch)
  return (z:matmul(self.discriminator_weight) * s):sum(2):sigmoid()
end

-- {pos_z, neg_z, summary}
function DGI:forward(batch, ctx)
  S.check_batch("DGI", batch, self.uses_edge_attr)
  ctx = ctx or { generator = rawget(self, "generator") }
  local pos = self:encode(batch.x, batch)
  local n = batch.x:size(1)
  local perm = ctx.perm or graphids.randperm(n, { generator = ctx.generator }):to(batch.x.device)
  local neg = self:encode(batch.x:index_select(1, perm), batch)
  return { pos_z = pos, neg_z = neg, summary = self:summarize(pos, batch) }
end

function DGI:loss(out, batch)
  local p = self:discriminate(out.pos_z, out.summary, batch)
  local q = self:discriminate(out.neg_z, out.summary, batch)
  return -(p + EPS):log():mean() - (1 - q + EPS):log():mean()
end

function DGI:training_step(batch, ctx)
  local c = S.enter_step(self, ctx)
  local loss = self:loss(self(batch, c), batch)
  return loss, { train_loss = loss:detach() }
end

function DGI:validation_step(batch, ctx)
  local c = S.enter_step(self, ctx)
  return graphids.no_grad(function()
    return { val_loss = self:loss(self(batch, c), batch) }
  end)
end

-- Mean-pooled latent per graph [B, latent].
function DGI:graph_embedding(batch)
  return nn.global_mean_pool(self:encode(batch.x, batch), batch.batch, batch.num_graphs)
end

-- Fits svdd_center = mean pooled latent over every graph of the batches (a list or an
-- iterator function returning batches; the benign training windows), in eval mode.
function DGI:calibrate_svdd(batches)
  local was = self.training
  self:eval()
  local sum, count = nil, 0
  graphids.no_grad(function()
    for b in S.each_batch(batches) do
      local e = self:graph_embedding(b):sum(1)
      sum = sum and sum + e or e
      count = count + b.num_graphs
    end
  end)
  self:train(was)
  if count == 0 then
    error("DGI.calibrate_svdd: no graphs to calibrate on", 2)
  end
  graphids.no_grad(function()
    self.svdd_center:copy_(sum / count)
    self.svdd_calibrated:fill_(true)
  end)
  return self.svdd_center
end

-- The post-fit calibration hook every anomaly detector shares (graphids.orchestrate.stage and
-- the calibration callback call model:calibrate on the benign training graphs).
DGI.calibrate = DGI.calibrate_svdd

-- squared L2 distance of each graph's pooled latent to the SVDD centre.
function DGI:anomaly_scores(batch)
  if not self.svdd_calibrated:item() then
    error("DGI: the SVDD centre is not calibrated (call calibrate_svdd on the benign " ..
      "training batches first)", 2)
  end
  return (self:graph_embedding(batch) - self.svdd_center):square():sum(2)
end

DGI.test_step = S.anomaly_test_step
DGI.predict_step = S.anomaly_test_step

-- [B, 8]: anomaly = 1 - graph mean of D(pos), that mean, its spread (sqrt(E[D^2] - E[D]^2)),
-- graph means of z's per-node mean and std, max of per-node max, min of per-node min,
-- confidence 1 / (1 + anomaly).
function DGI:extract_features(batch, ctx)
  S.enter_step(self, ctx)
  return graphids.no_grad(function()
    local z = self:encode(batch.x, batch)
    local d = self:discriminate(z, self:summarize(z, batch), batch)
    local b, n = batch.batch, batch.num_graphs
    local mean = G.scatter(d, b, n, "mean")
    local spread = (G.scatter(d:square(), b, n, "mean") - mean:square()):clamp(0, nil):sqrt()
    local anomaly = 1 - mean
    return S.feature_rows({ anomaly, mean, spread }, z, batch, { 1 / (anomaly + 1) })
  end)
end

DGI.configure_optimizers = S.adam_cosine

M.DGI = DGI

return M
