-- graphids.models.fusion.DQNFusion -- a Q-network picks, per window, the weight alpha of the
-- GAT probability against the VGAE anomaly score (the reference's DQNFusionModule).
--   local m = models.resolve("graphids.models.fusion.DQNFusion")(models.presets.fusion.dqn())
--   local loss, logs = m:training_step({ states = s, labels = y }, { generator = g })  -- one episode
--   local r = m:test_step({ states = s, labels = y })     -- fused scores, preds, alphas
-- Q-net: num_layers x [Linear -> LayerNorm -> ReLU -> Dropout] (hidden wide) -> Linear(21).
-- An episode (one training_step): epsilon-greedy actions on the batch's states, rewards from
-- the fusion reward, the triples pushed to a replay buffer, one gradient step on a minibatch:
-- SmoothL1(Q(s)[a], r) (gamma = 0: the target is the reward itself, no target network), AdamW,
-- gradient norm clipped to 1; then epsilon *= epsilon_decay (floor min_epsilon).
-- The model optimizes itself (automatic_optimization = false): the trainer must not call
-- backward or step on what training_step returns.
-- Departure: the reference's training predictions used alpha > 0.5 instead of the fused score
-- (upstream §3.6, observed); here every prediction is fused > 0.5.
local graphids = require "graphids"
local nn = require "graphids.nn"
local F = require "graphids.nn.functional"
local optim = require "graphids.optim"
local B = require "graphids.models._base"
local FC = require "graphids.models.fusion.common"

local M = {}

local DEFAULTS = {
  hidden = 128,
  num_layers = 3,
  dropout = 0.2,
  epsilon = 0.2,
  epsilon_decay = 0.995,
  min_epsilon = 0.01,
  lr = 1e-3,
  weight_decay = 1e-5,
  buffer_size = 50000,
  batch_size = 128,
  max_grad_norm = 1.0,
  reward = {},
}

local DQN = B.model_class("DQNFusion", "graphids.models.fusion.DQNFusion", DEFAULTS)
-- A policy has no validation loss (its training loss fits the rewards of the actions it chose,
-- not the labels): checkpoints and early stopping follow its validation accuracy.
DQN.MONITOR = { "val_acc", "max" }
DQN.automatic_optimization = false

function DQN:__init(hp)
  B.Model.__init(self, hp)
  hp = self.hp
  for _, k in ipairs({ "hidden", "num_layers", "buffer_size", "batch_size" }) do
    B.positive_int("DQNFusion", k, hp[k])
  end
  B.probability("DQNFusion", "dropout", hp.dropout)
  B.probability("DQNFusion", "epsilon", hp.epsilon)
  -- (a rate above 1 grew epsilon, and a floor above the start raised it after one episode, where
  -- the schedule decays it; 0 would stop exploring after the first episode)
  local d = hp.epsilon_decay
  if type(d) ~= "number" or not (d > 0 and d <= 1) then
    error("DQNFusion: hyper-parameter 'epsilon_decay' must be in (0, 1], got " .. tostring(d), 0)
  end
  B.probability("DQNFusion", "min_epsilon", hp.min_epsilon)
  if hp.min_epsilon > hp.epsilon then
    error(string.format("DQNFusion: hyper-parameter 'min_epsilon' (%s) must be <= epsilon (%s): it is " ..
      "the floor epsilon decays to", tostring(hp.min_epsilon), tostring(hp.epsilon)), 0)
  end
  -- (refused by the clipping itself too, but only in the first step, after the fit committed)
  B.positive("DQNFusion", "max_grad_norm", hp.max_grad_norm)
  self.backbone = FC.backbone(FC.STATE_DIM, hp.hidden, hp.num_layers, hp.dropout)
  self.head = nn.Linear(hp.hidden, FC.NUM_ACTIONS)
  -- the exploration rate is training state: a buffer, so checkpoints resume it
  self:register_buffer("epsilon", graphids.tensor(hp.epsilon, { dtype = "f64" }))
  rawset(self, "reward_fn", FC.Reward(hp.reward))
  -- (a child module: the replayed triples are checkpointed with the weights, so resume is exact)
  self.replay = FC.ReplayBuffer(hp.buffer_size)
end

function DQN:forward(states)
  return self.head(self.backbone(states))
end

-- Greedy alphas and actions of the Q-network (eval mode, no grad).
function DQN:greedy(states)
  local a = FC.eval_no_grad(self, function() return self(states) end):argmax(2)
  return FC.alphas(a), a
end

function DQN:configure_optimizers()
  return optim.AdamW(self:parameters(), { lr = self.hp.lr, weight_decay = self.hp.weight_decay })
end

function DQN:training_step(batch, ctx)
  FC.check_batch("DQNFusion", batch)
  local gen = FC.use_generator(self, ctx)
  local opt = FC.optimizer(self)
  local s = FC.normalize(batch.states)
  local labels = batch.labels:long()
  local n = s:size(1)
  local eps = self.epsilon:item()
  local _, greedy = self:greedy(s)
  -- drawn on the CPU (the generator's stream) and moved to the states' device
  local explore = graphids.rand({ n }, { generator = gen }):lt(eps):to(s.device)
  local random = graphids.randint(FC.NUM_ACTIONS, { n }, { generator = gen }):to(s.device)
  local actions = graphids.where(explore, random, greedy)
  local alphas = FC.alphas(actions)
  local preds = FC.decide(FC.fused(s, alphas))
  local rewards = self.reward_fn(s, preds, labels, alphas)
  self.replay:push(s, actions, rewards)
  local bs, ba, br = self.replay:sample(self.hp.batch_size, gen)
  opt:zero_grad()
  local q = self(bs):gather(2, ba:unsqueeze(2)):squeeze(2)
  local loss = F.smooth_l1_loss(q, br)
  loss:backward()
  optim.clip_grad_norm_(self:parameters(), self.hp.max_grad_norm)
  opt:step()
  graphids.no_grad(function()
    self.epsilon:fill_(math.max(self.hp.min_epsilon, eps * self.hp.epsilon_decay))
  end)
  local logs = { train_loss = loss:item(), train_reward = rewards:mean():item(),
    train_acc = FC.accuracy(preds, labels), epsilon = self.epsilon:item() }
  return loss:detach(), logs
end

-- Greedy policy: fused scores, 0/1 predictions, alphas and labels.
function DQN:test_step(batch)
  FC.check_batch("DQNFusion", batch)
  local s = FC.normalize(batch.states)
  local alphas = self:greedy(s)
  return FC.result(FC.fused(s, alphas), batch.labels, alphas)
end

DQN.predict_step = DQN.test_step

function DQN:validation_step(batch)
  local r = self:test_step(batch)
  local rewards = self.reward_fn(FC.normalize(batch.states), r.preds, batch.labels:long(),
    r.alphas)
  return { val_acc = FC.accuracy(r.preds, batch.labels:long()),
    val_reward = rewards:mean():item() }
end

M.DQNFusion = DQN

return M
