-- graphids.models.fusion.MLPFusion and WeightedAvgFusion -- the supervised fusion baselines
-- (the reference's MLPFusionModule and WeightedAvgModule); the trainer optimizes them as usual.
--   local m = models.resolve("graphids.models.fusion.MLPFusion")(models.presets.fusion.mlp())
--   local loss, logs = m:training_step({ states = s, labels = y })
-- MLPFusion: 15 -> hidden[1] -> hidden[2] -> 1 (ReLU, dropout), BCE with logits on the label,
-- score = sigmoid(logit), Adam.
-- WeightedAvgFusion: one scalar w; alpha = sigmoid(w); score = (1 - alpha) anomaly + alpha
-- gat_prob, the two detectors' attack scores (FC.scores; the RL policies' fused score with one
-- alpha for every window); BCE on the score; Adam.  Departure: the reference averaged the two
-- confidence columns, which are high for a confident "normal" as for a confident "attack", so
-- its score was no attack score (on hcrl_sa it classified 15-26% of the windows right).
local graphids = require "graphids"
local nn = require "graphids.nn"
local F = require "graphids.nn.functional"
local optim = require "graphids.optim"
local B = require "graphids.models._base"
local FC = require "graphids.models.fusion.common"

local M = {}

local function steps(cls, name)
  function cls:training_step(batch, ctx)
    FC.check_batch(name, batch)
    FC.use_generator(self, ctx)
    local score, loss = self:_score_loss(batch)
    return loss, { train_loss = loss:detach(),
      train_acc = FC.accuracy(FC.decide(score), batch.labels:long()) }
  end

  function cls:validation_step(batch)
    FC.check_batch(name, batch)
    return graphids.no_grad(function()
      local score, loss = self:_score_loss(batch)
      return { val_loss = loss,
        val_acc = FC.accuracy(FC.decide(score), batch.labels:long()) }
    end)
  end

  function cls:test_step(batch)
    FC.check_batch(name, batch)
    return graphids.no_grad(function()
      return FC.result((self:_score_loss(batch)), batch.labels)
    end)
  end
  cls.predict_step = cls.test_step

  function cls:configure_optimizers()
    return optim.Adam(self:parameters(), { lr = self.hp.lr })
  end
end

-- ----------------------------------------------------------------------------- MLP
local MLP = B.model_class("MLPFusion", "graphids.models.fusion.MLPFusion",
  { hidden = { 64, 32 }, dropout = 0.2, lr = 1e-3 })

function MLP:__init(hp)
  B.Model.__init(self, hp)
  hp = self.hp
  B.probability("MLPFusion", "dropout", hp.dropout)
  local layers, d = {}, FC.STATE_DIM
  for i, h in ipairs(hp.hidden) do
    B.positive_int("MLPFusion", "hidden[" .. i .. "]", h)
    layers[#layers + 1] = nn.Linear(d, h)
    layers[#layers + 1] = nn.ReLU()
    layers[#layers + 1] = nn.Dropout(hp.dropout)
    d = h
  end
  layers[#layers + 1] = nn.Linear(d, 1)
  self.net = nn.Sequential(layers)
end

function MLP:forward(states)
  return self.net(states):squeeze(2)
end

function MLP:_score_loss(batch)
  local logits = self(FC.normalize(batch.states))
  local loss = F.binary_cross_entropy_with_logits(logits, batch.labels:to(logits.dtype))
  return logits:sigmoid(), loss
end

steps(MLP, "MLPFusion")
M.MLPFusion = MLP

-- ----------------------------------------------------------------------------- weighted average
local WAvg = B.model_class("WeightedAvgFusion", "graphids.models.fusion.WeightedAvgFusion",
  { lr = 0.01 })

function WAvg:__init(hp)
  B.Model.__init(self, hp)
  self:register_parameter("weight", graphids.zeros({}))
end

function WAvg:forward(states)
  -- (1 - alpha) + alpha rounds to just above 1 for some alpha: keep BCE's input in [0, 1]
  return FC.fused(states, self.weight:sigmoid()):clamp(0, 1)
end

function WAvg:_score_loss(batch)
  local score = self(FC.normalize(batch.states))
  return score, F.binary_cross_entropy(score, batch.labels:to(score.dtype))
end

steps(WAvg, "WeightedAvgFusion")
M.WeightedAvgFusion = WAvg

return M
