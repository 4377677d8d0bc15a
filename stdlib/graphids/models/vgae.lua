-- graphids.models.VGAE -- the unsupervised graph autoencoder (the reference's
-- GraphAutoencoderNeighborhood network and VGAEModule wrapper in one class).
--   local m = models.VGAE(models.presets.vgae.small({ num_ids = 2047 }))
--   local out = m(batch, ctx)          -- {cont, canid_logits, nbr_logits, z, mu, logvar, kl, mask}
--   local loss, logs = m:training_step(batch, { generator = g })
--   local r = m:test_step(batch)       -- r.scores: per-graph anomaly scores
-- Encoder: InputEncoder -> convs to the widths of hidden_dims (less its last entry when it equals
-- latent_dim; the first conv with `heads` heads when the width divides, later ones 1 head), each
-- conv -> GraphNorm -> ReLU -> dropout; z_mean / z_logvar Linear heads (logvar clamped to
-- +-10), z = mu + eps exp(logvar / 2) in training mode.  Decoder: the mirrored widths with the
-- last replaced by in_channels (first layer decoder_heads heads), GraphNorm on all but the last
-- layer, sigmoid output.  Heads on z: canid_classifier Linear(latent, num_ids) and the
-- neighbourhood MLP latent -> mlp_hidden -> mlp_hidden -> num_ids.
-- Training masks each feature entry with probability mask_ratio (zeroed; reconstruction MSE on
-- the masked entries).  ctx.mask, ctx.eps and ctx.neg_ids replace the draws (fixtures, tests).
--
-- Anomaly score (hyper-parameter score): "reference" is max-over-nodes MSE + canid_weight max CE
-- + nbr_weight max BCE.  Those weights are the loss weights, and the three errors live on scales
-- that differ by orders of magnitude (on hcrl_sa the CE of an id the model never saw is what
-- flags a fuzzing window, yet it weighs a tenth of the MSE).  "calibrated" sums the three
-- max-over-node errors as z-scores of their logarithms, with mean and std fitted on benign
-- graphs by calibrate(batches) -- the benign training graphs, after fit and after every load,
-- as DGI's SVDD centre (docs/models.md).  Scoring before calibration raises.
local graphids = require "graphids"
local nn = require "graphids.nn"
local F = require "graphids.nn.functional"
local G = require "graphids.nn.graph"
local B = require "graphids.models._base"
local C = require "graphids.models._conv"
local S = require "graphids.models._steps"
local IE = require "graphids.models.input_encoder"
local L = require "graphids.models.losses"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

-- Added to each error before its logarithm in the calibrated score (errors can be exactly 0).
local LOG_EPS = 1e-6

-- The hyper-parameters M.build_encoder reads and their defaults (VGAE's and DGI's), with the
-- model's own added: a new table on every call.
function M.encoder_defaults(own)
  local d = {
    num_ids = B.REQUIRED,
    in_channels = 35,
    conv_type = "gatv2",
    hidden_dims = { 80, 40, 16 },
    latent_dim = 16,
    heads = 1,
    embedding_dim = 4,
    proj_dim = 32,
    dropout = 0.1,
    edge_dim = 11,
    batch_norm = true,
    id_encoder_class_path = "graphids.models.id_encoder.LookupIdEncoder",
    id_encoder_kwargs = {},
  }
  for _, k in ipairs(U.sorted_keys(own)) do
    d[k] = own[k]
  end
  return d
end

local DEFAULTS = M.encoder_defaults({
  decoder_heads = 4,
  mlp_hidden = 0,
  variational = true,
  mask_ratio = 0.3,
  k_neg = 32,
  canid_weight = 0.1,
  nbr_weight = 0.05,
  kl_weight = 0.01,
  lr = 0.002,
  weight_decay = 1e-4,
  score = "reference",
})

local VGAE = B.model_class("VGAE", "graphids.models.VGAE", DEFAULTS)

-- The encoder part shared with DGI: input encoder, conv stack, norms.  Returns the last width.
function M.build_encoder(self, name)
  local hp = self.hp
  for _, k in ipairs({ "num_ids", "in_channels", "latent_dim", "heads", "embedding_dim",
    "edge_dim" }) do
    B.positive_int(name, k, hp[k])
  end
  B.probability(name, "dropout", hp.dropout)
  C.check_conv_type(name, hp.conv_type)
  if #hp.hidden_dims < 1 then
    error(name .. ": hyper-parameter 'hidden_dims' must list at least one width", 0)
  end
  for i, d in ipairs(hp.hidden_dims) do
    B.positive_int(name, "hidden_dims[" .. i .. "]", d)
  end
  local edge_dim = C.uses_edge_attr(hp.conv_type) and hp.edge_dim or nil
  self.uses_edge_attr, self.edge_dim = edge_dim ~= nil, edge_dim
  self.input_encoder = IE.InputEncoder(IE.build_id_encoder(hp), hp.in_channels,
    { proj_dim = hp.proj_dim })
  local targets = C.encoder_targets(hp.hidden_dims, hp.latent_dim)
  local convs, norms, last = C.build_stack(hp.conv_type, self.input_encoder.out_dim, targets,
    edge_dim, hp.heads, hp.batch_norm)
  self.encoder_layers = convs
  self.encoder_bns = norms
  return last, targets
end

-- A hidden block of the encoder or decoder: conv -> GraphNorm (with batch_norm) -> ReLU ->
-- dropout.
local function hidden_block(self, conv, norm, h, batch)
  return C.block(conv, h, batch.edge_index, {
    edge_attr = self.uses_edge_attr and batch.edge_attr or nil, batch = batch.batch,
    num_graphs = batch.num_graphs, norm = self.hp.batch_norm and norm or nil,
    dropout = self.hp.dropout, training = self.training, generator = rawget(self, "generator") })
end

-- Encoder blocks over a batch (x given separately: DGI encodes permuted rows).
function M.encode_layers(self, x, batch)
  local h = self.input_encoder(x, batch.node_id, batch.batch)
  for i, conv in ipairs(self.encoder_layers) do
    h = hidden_block(self, conv, self.encoder_bns[i], h, batch)
  end
  return h
end

function VGAE:__init(hp)
  B.Model.__init(self, hp)
  hp = self.hp
  local name = "VGAE"
  B.positive_int(name, "decoder_heads", hp.decoder_heads)
  B.probability(name, "mask_ratio", hp.mask_ratio)
  B.one_of(name, "score", hp.score, { "reference", "calibrated" })
  for _, k in ipairs({ "canid_weight", "nbr_weight", "kl_weight" }) do
    B.non_negative(name, k, hp[k])
  end
  B.non_negative_int(name, "k_neg", hp.k_neg)
  if math.type(hp.mlp_hidden) ~= "integer" or hp.mlp_hidden < 0 then
    error("VGAE: hyper-parameter 'mlp_hidden' must be a non-negative integer (0: latent_dim)", 0)
  end
  local last, targets = M.build_encoder(self, name)
  self.z_mean = nn.Linear(last, hp.latent_dim)
  if hp.variational then
    self.z_logvar = nn.Linear(last, hp.latent_dim)
  end
  local dec = {}
  for i = #targets, 1, -1 do
    dec[#dec + 1] = targets[i]
  end
  dec[#dec] = hp.in_channels
  local convs, norms = C.build_stack(hp.conv_type, hp.latent_dim, dec, self.edge_dim,
    hp.decoder_heads, hp.batch_norm)
  self.decoder_layers = convs
  if hp.batch_norm then
    -- the last decoder layer (sigmoid output) has no norm
    local kept = {}
    for i = 1, #norms - 1 do
      kept[i] = norms[i]
    end
    norms = nn.ModuleList(kept)
  end
  self.decoder_bns = norms
  self.canid_classifier = nn.Linear(hp.latent_dim, hp.num_ids)
  local mlp = hp.mlp_hidden > 0 and hp.mlp_hidden or hp.latent_dim
  self.neighborhood_decoder = nn.Sequential(nn.Linear(hp.latent_dim, mlp), nn.ReLU(),
    nn.Dropout(hp.dropout), nn.Linear(mlp, mlp), nn.ReLU(), nn.Dropout(hp.dropout),
    nn.Linear(mlp, hp.num_ids))
  self.loss_fn = L.VGAETaskLoss({ canid_weight = hp.canid_weight, nbr_weight = hp.nbr_weight,
    kl_weight = hp.kl_weight, k_neg = hp.k_neg, num_ids = hp.num_ids })
end

-- z, mu, logvar and KL of the (possibly masked) features.  Training mode samples z; eval mode
-- returns z = mu (the reference samples in eval too, which made test scores random).
function VGAE:encode(x, batch, ctx)
  local h = M.encode_layers(self, x, batch)
  local mu = self.z_mean(h)
  if not self.hp.variational then
    return mu, mu, nil, S.scalar(0, mu)
  end
  local logvar = self.z_logvar(h):clamp(-10, 10)
  local kl = (1 + logvar - mu:square() - logvar:exp()):mean() * -0.5
  local z = mu
  if self.training then
    local eps = ctx.eps or graphids.randn(mu.shape, { dtype = mu.dtype,
      generator = ctx.generator }):to(mu.device)
    z = mu + eps * (logvar * 0.5):exp()
  end
  return z, mu, logvar, kl
end

function VGAE:decode(z, batch)
  local x = z
  local n = #self.decoder_layers
  for i, conv in ipairs(self.decoder_layers) do
    if i < n then
      x = hidden_block(self, conv, self.decoder_bns[i], x, batch)
    else
      x = C.block(conv, x, batch.edge_index, {
        edge_attr = self.uses_edge_attr and batch.edge_attr or nil, activation = false }):sigmoid()
    end
  end
  return x
end

-- The ids the CAN-id and neighbour heads are trained and scored on: an id past the vocabulary,
-- which the id encoder took (oov = "unk", or a hash encoder), is UNK (0) there too; those heads
-- have num_ids classes.  (An encoder with oov = "error" has refused such an id already.)
local function head_ids(self, node_id)
  local _, hi = node_id:int_range()
  if hi < self.hp.num_ids then return node_id end
  return graphids.where(node_id:ge(self.hp.num_ids), 0, node_id)
end

-- The neighbourhood decoder module by module, its dropouts drawing from the step's generator as
-- every other draw of the step does (nn.Dropout would take the default stream); the Sequential
-- stays, so the parameter names are the reference's.
local function decode_neighbours(self, z, ctx)
  local seq = self.neighborhood_decoder
  for _, name in ipairs(seq._children) do
    local m = rawget(seq, name)
    if class.isinstance(m, nn.Dropout) then
      z = F.dropout(z, m.p, self.training, { generator = ctx.generator })
    else
      z = m(z)
    end
  end
  return z
end

function VGAE:forward(batch, ctx)
  S.check_batch("VGAE", batch, self.uses_edge_attr)
  ctx = ctx or { generator = rawget(self, "generator") }
  local x, mask = batch.x, nil
  if self.training and self.hp.mask_ratio > 0 then
    mask = ctx.mask or graphids.rand(x.shape, { generator = ctx.generator }):to(x.device)
      :lt(self.hp.mask_ratio)
    x = x:masked_fill(mask, 0)
  end
  local z, mu, logvar, kl = self:encode(x, batch, ctx)
  return { cont = self:decode(z, batch), canid_logits = self.canid_classifier(z),
    nbr_logits = decode_neighbours(self, z, ctx), ids = head_ids(self, batch.node_id), z = z,
    mu = mu, logvar = logvar, kl = kl, mask = mask }
end

-- The mean-pooled latent mean per graph [B, latent] (what graphids.analysis compares; z = mu
-- outside training).
function VGAE:graph_embedding(batch)
  S.check_batch("VGAE", batch, self.uses_edge_attr)
  local _, mu = self:encode(batch.x, batch, {})
  return nn.global_mean_pool(mu, batch.batch, batch.num_graphs)
end

function VGAE:training_step(batch, ctx)
  local c = S.enter_step(self, ctx)
  local loss, parts = self.loss_fn(self(batch, c), batch, c)
  local logs = { train_loss = loss:detach() }
  S.add_parts(logs, "train_", parts)
  return loss, logs
end

function VGAE:validation_step(batch, ctx)
  local c = S.enter_step(self, ctx)
  return graphids.no_grad(function()
    local loss, parts = self.loss_fn(self(batch, c), batch, c)
    local logs = { val_loss = loss }
    S.add_parts(logs, "val_", parts)
    return logs
  end)
end

-- [N, num_ids] 0/1 targets: 1 at (source node, vocabulary id of the target) of every edge.
function M.neighbour_targets(node_id, edge_index, num_ids, dtype)
  local N = node_id:numel()
  local t = graphids.zeros({ N * num_ids }, { dtype = dtype, device = node_id.device })
  if edge_index:size(2) > 0 then
    local src, dst = edge_index:select(1, 1), edge_index:select(1, 2)
    t:scatter_(1, src * num_ids + node_id:index_select(1, dst), 1)
  end
  return t:view({ N, num_ids })
end

-- Per-node errors of an unmasked forward: reconstruction MSE, CAN-id CE, neighbour BCE (mean
-- over the vocabulary, dense targets), and z.
function VGAE:node_errors(batch)
  local out = self(batch, {})
  local mse = (out.cont - batch.x):square():mean(2)
  local ce = F.cross_entropy(out.canid_logits, out.ids, { reduction = "none" })
  local targets = M.neighbour_targets(out.ids, batch.edge_index, self.hp.num_ids,
    out.nbr_logits.dtype)
  local bce = F.binary_cross_entropy_with_logits(out.nbr_logits, targets, { reduction = "none" })
    :mean(2)
  return mse, ce, bce, out.z
end

-- Per graph: the max over its nodes of each of the three errors ([B] each).
local function max_errors(self, batch)
  local mse, ce, bce = self:node_errors(batch)
  local b, n = batch.batch, batch.num_graphs
  return G.scatter(mse, b, n, "max"), G.scatter(ce, b, n, "max"), G.scatter(bce, b, n, "max")
end

-- [B, 3]: the logarithms the calibrated score standardises.
local function log_max_errors(self, batch)
  return graphids.stack({ max_errors(self, batch) }, 2):add(LOG_EPS):log()
end

-- Per-graph anomaly score (hyper-parameter score, see the top of this file).
function VGAE:anomaly_scores(batch)
  if self.hp.score == "reference" then
    local mse_max, ce_max, bce_max = max_errors(self, batch)
    return mse_max + ce_max * self.hp.canid_weight + bce_max * self.hp.nbr_weight
  end
  local cal = rawget(self, "score_calibration")
  if cal == nil then
    error("VGAE: the calibrated score is not calibrated (call calibrate on benign graphs " ..
      "first; graphids.orchestrate.stage does after fit and after every load)", 0)
  end
  return ((log_max_errors(self, batch) - cal.mean) / cal.std):sum(2)
end

-- Fits the calibrated score's per-error log mean and std over every graph of the batches (a
-- list or an iterator of benign batches); a no-op returning nil with score = "reference".
-- Forward-only in eval mode, no random draws; accumulated in f64 in batch order.
function VGAE:calibrate(batches)
  if self.hp.score == "reference" then
    return nil
  end
  local was = self.training
  self:eval()
  local sum, sq, count = nil, nil, 0
  graphids.no_grad(function()
    for batch in S.each_batch(batches) do
      local l = log_max_errors(self, batch):double()
      sum = sum and sum + l:sum(1) or l:sum(1)
      sq = sq and sq + l:square():sum(1) or l:square():sum(1)
      count = count + batch.num_graphs
    end
  end)
  self:train(was)
  if count < 2 then
    error("VGAE.calibrate: needs at least 2 benign graphs, got " .. count, 2)
  end
  local mean = sum / count
  local var = (sq - mean:square() * count) / (count - 1)
  local std = var:clamp(1e-12, math.huge):sqrt():clamp(1e-6, math.huge)
  local dt = self.z_mean.weight.dtype
  self.score_calibration = { mean = mean:to(dt), std = std:to(dt), graphs = count }
  return self.score_calibration
end

VGAE.test_step = S.anomaly_test_step
VGAE.predict_step = S.anomaly_test_step

-- [B, 8]: graph means of node MSE, neighbour BCE, CAN-id CE, of z's per-node mean and std;
-- graph max of z's per-node max, min of per-node min; confidence 1 / (1 + recon error).
function VGAE:extract_features(batch, ctx)
  S.enter_step(self, ctx)
  return graphids.no_grad(function()
    local mse, ce, bce, z = self:node_errors(batch)
    local b, n = batch.batch, batch.num_graphs
    local recon = G.scatter(mse, b, n, "mean")
    return S.feature_rows({ recon, G.scatter(bce, b, n, "mean"), G.scatter(ce, b, n, "mean") },
      z, batch, { 1 / (recon + 1) })
  end)
end

-- Curriculum difficulty per graph: mean node MSE + canid_weight mean CE, in eval mode whatever
-- the model's mode (as the reference: in training mode the feature mask, dropout and a sampled
-- z made it random, and drew from the default stream).
function VGAE:score_difficulty(batch)
  local was = self.training
  self:eval()
  local ok, r = pcall(graphids.no_grad, function()
    local mse, ce = self:node_errors(batch)
    local b, n = batch.batch, batch.num_graphs
    return G.scatter(mse, b, n, "mean") + G.scatter(ce, b, n, "mean") * self.hp.canid_weight
  end)
  self:train(was)
  if not ok then error(r, 0) end
  return r
end

VGAE.configure_optimizers = S.adam_cosine

M.VGAE = VGAE

return M
