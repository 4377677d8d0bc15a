-- graphids.models.GATClassifier -- the supervised window classifier (the reference's GATWithJK
-- network and GATModule training wrapper in one class).
--   local models = require "graphids.models"
--   local m = models.GATClassifier(models.presets.gat.small({ num_ids = 2047 }))
--   local logits = m(batch)                               -- [B, num_classes]
--   local loss, logs = m:training_step(batch, { generator = g })
--   local opt, sched = m:configure_optimizers({ max_epochs = 50 })
-- Network: InputEncoder -> num_layers x [conv -> ReLU -> dropout] (conv_type gatv2 | gat |
-- transformer; hidden channels per head, heads concatenated) -> JumpingKnowledge(jk_mode) ->
-- pooling (global mean, or MultiAggregation over pool_aggrs) -> (fc_layers - 1) x [Linear,
-- ReLU, Dropout] -> Linear(d, num_classes).  state_dict names are the reference's inner
-- network's (input_encoder.id_encoder.embedding.weight, convs.0.att, jk.lstm..., fc_layers.3...),
-- plus loss_fn.* for a loss with state.
local graphids = require "graphids"
local nn = require "graphids.nn"
local F = require "graphids.nn.functional"
local B = require "graphids.models._base"
local C = require "graphids.models._conv"
local S = require "graphids.models._steps"
local IE = require "graphids.models.input_encoder"
local L = require "graphids.models.losses"

local M = {}

local DEFAULTS = {
  num_ids = B.REQUIRED,
  in_channels = 35,
  num_classes = 2,
  conv_type = "gatv2",
  hidden = 24,
  num_layers = 2,
  heads = 4,
  embedding_dim = 8,
  proj_dim = 32,
  fc_layers = 2,
  dropout = 0.1,
  edge_dim = 11,
  jk_mode = "lstm",
  pool_aggrs = { "mean" },
  id_encoder_class_path = "graphids.models.id_encoder.LookupIdEncoder",
  id_encoder_kwargs = {},
  loss_fn = "ce",
  focal_gamma = 2.0,
  loss_weight = 10.0,
  lr = 1e-3,
  weight_decay = 0.0,
}

local function is_dropout(m)
  return getmetatable(m) == nn.Dropout
end

local GAT = B.model_class("GATClassifier", "graphids.models.GATClassifier", DEFAULTS)

function GAT:__init(hp)
  B.Model.__init(self, hp)
  hp = self.hp
  local name = "GATClassifier"
  for _, k in ipairs({ "num_ids", "in_channels", "num_classes", "hidden", "num_layers", "heads",
    "embedding_dim", "fc_layers", "edge_dim" }) do
    B.positive_int(name, k, hp[k])
  end
  B.probability(name, "dropout", hp.dropout)
  C.check_conv_type(name, hp.conv_type)
  B.one_of(name, "jk_mode", hp.jk_mode, { "lstm", "cat", "max" })
  B.one_of(name, "loss_fn", hp.loss_fn, { "ce", "focal", "weighted_ce" })
  -- (checked whatever the loss: a checkpoint keeps it, and a later loss_fn may read it)
  B.non_negative(name, "focal_gamma", hp.focal_gamma)
  -- (a weight of 0 or below makes the weighted loss NaN or negative mid-fit)
  B.positive(name, "loss_weight", hp.loss_weight)
  if #hp.pool_aggrs < 1 then
    error("GATClassifier: hyper-parameter 'pool_aggrs' must list at least one aggregation", 0)
  end
  local edge_dim = C.uses_edge_attr(hp.conv_type) and hp.edge_dim or nil
  self.uses_edge_attr = edge_dim ~= nil
  self.input_encoder = IE.InputEncoder(IE.build_id_encoder(hp), hp.in_channels,
    { proj_dim = hp.proj_dim })
  local width = hp.hidden * hp.heads
  local convs = {}
  for i = 1, hp.num_layers do
    local in_dim = i == 1 and self.input_encoder.out_dim or width
    convs[i] = C.make_conv(hp.conv_type, in_dim, hp.hidden, hp.heads, edge_dim)
  end
  self.convs = nn.ModuleList(convs)
  if hp.jk_mode == "lstm" then
    self.jk = nn.JumpingKnowledge("lstm", { channels = width, num_layers = hp.num_layers })
  else
    self.jk = nn.JumpingKnowledge(hp.jk_mode)
  end
  local jk_out = hp.jk_mode == "cat" and width * hp.num_layers or width
  local d = jk_out
  if #hp.pool_aggrs > 1 then
    self.pool = nn.MultiAggregation(hp.pool_aggrs)
    d = jk_out * #hp.pool_aggrs
  elseif hp.pool_aggrs[1] ~= "mean" then
    error("GATClassifier: a single pool aggregation must be 'mean' (list several for " ..
      "MultiAggregation), got " .. tostring(hp.pool_aggrs[1]), 0)
  end
  self.embedding_width = d
  local fc = {}
  for _ = 1, hp.fc_layers - 1 do
    fc[#fc + 1] = nn.Linear(d, d)
    fc[#fc + 1] = nn.ReLU()
    fc[#fc + 1] = nn.Dropout(hp.dropout)
  end
  fc[#fc + 1] = nn.Linear(d, hp.num_classes)
  self.fc_layers = nn.ModuleList(fc)
  local loss_kw
  if hp.loss_fn == "focal" then
    loss_kw = { gamma = hp.focal_gamma }
  elseif hp.loss_fn == "weighted_ce" then
    -- class 0 (benign) weight 1, every other class loss_weight
    local w = { 1.0 }
    for c = 2, hp.num_classes do
      w[c] = hp.loss_weight
    end
    loss_kw = { weights = w }
  end
  self.loss_fn = L.build_loss(hp.loss_fn, loss_kw)
end

-- logits [B, num_classes] and the pooled embedding [B, d] of a batch (fields x, edge_index,
-- edge_attr, node_id, batch, num_graphs).
function GAT:forward(batch)
  S.check_batch("GATClassifier", batch, self.uses_edge_attr)
  local hp = self.hp
  local gen = rawget(self, "generator")
  local x = self.input_encoder(batch.x, batch.node_id, batch.batch)
  local ea = self.uses_edge_attr and batch.edge_attr or nil
  local xs = {}
  for i, conv in ipairs(self.convs) do
    x = C.block(conv, x, batch.edge_index, { edge_attr = ea, dropout = hp.dropout,
      training = self.training, generator = gen })
    xs[i] = x
  end
  x = self.jk(xs)
  local emb
  if self.pool then
    emb = self.pool(x, batch.batch, batch.num_graphs)
  else
    emb = nn.global_mean_pool(x, batch.batch, batch.num_graphs)
  end
  x = emb
  for _, layer in ipairs(self.fc_layers) do
    if is_dropout(layer) then
      x = F.dropout(x, layer.p, self.training, { generator = gen })
    else
      x = layer(x)
    end
  end
  return x, emb
end

-- The pooled embedding [B, d] the head reads (what graphids.analysis compares).
function GAT:graph_embedding(batch)
  local _, emb = self(batch)
  return emb
end

-- The loss of a batch: total, and a table of named scalars (KD adds hard and soft parts).
function GAT:_loss(batch, logits)
  local loss, parts = self.loss_fn(logits, batch.y, batch)
  return loss, parts
end

function GAT:training_step(batch, ctx)
  S.enter_step(self, ctx)
  local logits = self(batch)
  local loss, parts = self:_loss(batch, logits)
  local logs = { train_loss = loss:detach(), train_acc = S.accuracy(logits, batch.y) }
  S.add_parts(logs, "train_", parts)
  return loss, logs
end

function GAT:validation_step(batch, ctx)
  S.enter_step(self, ctx)
  return graphids.no_grad(function()
    local logits = self(batch)
    local loss, parts = self:_loss(batch, logits)
    local logs = { val_loss = loss, val_acc = S.accuracy(logits, batch.y) }
    S.add_parts(logs, "val_", parts)
    return logs
  end)
end

-- scores: P(attack) (1 - P(class 0)), preds: argmax class, labels: batch.y, probs: the
-- softmax, logits: what it was taken of (the metrics rank by them: an f32 probability is
-- exactly 1 for every window past a logit gap of about 17).
function GAT:test_step(batch, ctx)
  S.enter_step(self, ctx)
  return graphids.no_grad(function()
    local logits = self(batch)
    local probs = logits:softmax(2)
    return { scores = 1 - probs:select(2, 1), preds = probs:argmax(2), labels = batch.y,
      probs = probs, logits = logits }
  end)
end

GAT.predict_step = GAT.test_step

-- [B, 7] fusion features: p0, p1, mean, std, max, min of the pooled embedding, confidence =
-- clamp(1 - entropy / ln 2, 0, 1) with entropy -sum p log(p + 1e-8) (the reference's).
function GAT:extract_features(batch, ctx)
  S.enter_step(self, ctx)
  if self.hp.num_classes ~= 2 then
    error(string.format("GATClassifier.extract_features: the 7-D fusion features need " ..
      "num_classes = 2, got %d", self.hp.num_classes), 2)
  end
  return graphids.no_grad(function()
    local logits, emb = self(batch)
    local p = logits:softmax(2)
    local ent = -(p * (p + 1e-8):log()):sum(2)
    local conf = (1 - ent / math.log(2)):clamp(0, 1)
    -- (an embedding of width 1 has no spread: 0, where the unbiased std would be NaN, as the
    -- VGAE's and DGI's features do)
    local spread = emb:size(2) > 1 and emb:std(2) or graphids.zeros({ emb:size(1) },
      { dtype = emb.dtype, device = emb.device })
    return graphids.stack({ p:select(2, 1), p:select(2, 2), emb:mean(2), spread,
      emb:amax(2), emb:amin(2), conf }, 2)
  end)
end

-- Adam(lr, weight_decay) over the parameters (the loss's too: a KD projection), and cosine
-- annealing over opts.max_epochs when given (stepped once per epoch).
GAT.configure_optimizers = S.adam_cosine

M.GATClassifier = GAT

return M
