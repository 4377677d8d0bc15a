-- graphids.models.fusion.BanditFusion -- Neural-LinUCB over the 21 alphas (the reference's
-- BanditFusionModule).
--   local m = models.resolve("graphids.models.fusion.BanditFusion")(models.presets.fusion.bandit())
--   m:training_step({ states = s, labels = y }, { generator = g })      -- one episode
-- A backbone (num_layers x [Linear -> LayerNorm -> ReLU -> Dropout], hidden wide) embeds the
-- state as z; each arm a keeps a ridge regression (A_a^-1 = I / lambda, b_a, theta_a = A_a^-1
-- b_a); an arm's score is theta_a . z + ucb_alpha sqrt(z^T A_a^-1 z) and the best arm is
-- played.  Each sample's reward updates its arm by Sherman-Morrison (in sample order).  Every
-- retrain_every episodes the backbone is trained retrain_steps AdamW steps on the MSE of
-- theta_a . z against the reward over replayed triples, then A^-1, b and theta are reset (z
-- changed).  Evaluation plays the best mean estimate (no bonus).  The arm statistics and the
-- episode counter are buffers (kept in checkpoints).
-- The model optimizes itself (automatic_optimization = false).
local graphids = require "graphids"
local F = require "graphids.nn.functional"
local optim = require "graphids.optim"
local B = require "graphids.models._base"
local FC = require "graphids.models.fusion.common"

local M = {}

local DEFAULTS = {
  hidden = 128,
  num_layers = 3,
  dropout = 0.2,
  lambda = 1.0,
  ucb_alpha = 1.0,
  retrain_every = 50,
  retrain_steps = 5,
  batch_size = 128,
  lr = 1e-3,
  buffer_size = 100000,
  reward = {},
}

local Bandit = B.model_class("BanditFusion", "graphids.models.fusion.BanditFusion", DEFAULTS)
-- A policy has no validation loss (its training loss fits the rewards of the actions it chose,
-- not the labels): checkpoints and early stopping follow its validation accuracy.
Bandit.MONITOR = { "val_acc", "max" }
Bandit.automatic_optimization = false

function Bandit:__init(hp)
  B.Model.__init(self, hp)
  hp = self.hp
  for _, k in ipairs({ "hidden", "num_layers", "retrain_every", "retrain_steps", "batch_size",
    "buffer_size" }) do
    B.positive_int("BanditFusion", k, hp[k])
  end
  B.probability("BanditFusion", "dropout", hp.dropout)
  B.positive("BanditFusion", "lambda", hp.lambda)
  -- (a negative bonus would play the arms the model knows least about as the worst)
  B.non_negative("BanditFusion", "ucb_alpha", hp.ucb_alpha)
  self.backbone = FC.backbone(FC.STATE_DIM, hp.hidden, hp.num_layers, hp.dropout)
  local H, A = hp.hidden, FC.NUM_ACTIONS
  self:register_buffer("A_inv", graphids.zeros({ A, H, H }))
  self:register_buffer("b", graphids.zeros({ A, H }))
  self:register_buffer("theta", graphids.zeros({ A, H }))
  self:register_buffer("episodes", graphids.zeros({}, { dtype = "i64" }))
  self:reset_arms()
  rawset(self, "reward_fn", FC.Reward(hp.reward))
  -- (a child module: the replayed triples are checkpointed with the weights, so resume is exact)
  self.replay = FC.ReplayBuffer(hp.buffer_size)
end

-- A^-1 = I / lambda, b = theta = 0 for every arm.
function Bandit:reset_arms()
  graphids.no_grad(function()
    local eye = graphids.eye(self.hp.hidden):div(self.hp.lambda)
    self.A_inv:copy_(eye:unsqueeze(1):expand(self.A_inv.shape))
    self.b:zero_()
    self.theta:zero_()
  end)
end

function Bandit:embed(states)
  return FC.eval_no_grad(self, function() return self.backbone(states) end)
end

-- UCB scores [B, 21] of embeddings z [B, H]; explore = false leaves out the bonus.
function Bandit:ucb(z, explore)
  local mean = z:matmul(self.theta:t())                               -- [B, A]
  if explore == false then
    return mean
  end
  -- z^T A_a^-1 z arm by arm: one [B, H] product at a time rather than an [A, B, H] tensor
  -- (215 MB for an episode of 20 000 states)
  local quad = {}
  for a = 1, FC.NUM_ACTIONS do
    quad[a] = (z:matmul(self.A_inv:select(1, a)) * z):sum(2)
  end
  return mean + graphids.stack(quad, 2):clamp(0, nil):sqrt() * self.hp.ucb_alpha
end

-- Sherman-Morrison update of arm a's A^-1 with z, in place:
-- A^-1 <- A^-1 - (A^-1 z)(A^-1 z)^T / (1 + z^T A^-1 z)  (A^-1 is symmetric).
function Bandit:update_arm(a, z)
  local Ainv = self.A_inv:select(1, a + 1)
  local Az = Ainv:matmul(z)
  local denom = 1 + (z * Az):sum():item()
  Ainv:sub_(Az:unsqueeze(2):matmul(Az:unsqueeze(1)):div(denom))
end

-- Every arm's statistics after an episode's samples (z [B, H], actions [B], rewards [B]): A^-1
-- one sample at a time, b by one index_add, theta = A^-1 b once at the end (the episode's
-- actions were chosen before any update, so theta is not read in between).
function Bandit:update_arms(z, actions, rewards)
  graphids.no_grad(function()
    local acts = actions:totable()
    for i = 1, #acts do
      self:update_arm(acts[i], z:select(1, i))
    end
    self.b:index_add_(1, actions, z * rewards:unsqueeze(2))
    self.theta:copy_(self.A_inv:bmm(self.b:unsqueeze(3)):squeeze(3))
  end)
end

function Bandit:configure_optimizers()
  return optim.AdamW(self.backbone:parameters(), { lr = self.hp.lr })
end

function Bandit:retrain(gen)
  local opt = FC.optimizer(self)
  local last
  for _ = 1, self.hp.retrain_steps do
    local s, a, r = self.replay:sample(self.hp.batch_size, gen)
    opt:zero_grad()
    local z = self.backbone(s)
    local pred = (z * self.theta:index_select(1, a)):sum(2)
    local loss = F.mse_loss(pred, r)
    loss:backward()
    opt:step()
    last = loss:item()
  end
  self:reset_arms()
  return last
end

function Bandit:training_step(batch, ctx)
  FC.check_batch("BanditFusion", batch)
  local gen = FC.use_generator(self, ctx)
  local s = FC.normalize(batch.states)
  local labels = batch.labels:long()
  local z = self:embed(s)
  local actions = self:ucb(z):argmax(2)
  local alphas = FC.alphas(actions)
  local preds = FC.decide(FC.fused(s, alphas))
  local rewards = self.reward_fn(s, preds, labels, alphas)
  self:update_arms(z, actions, rewards)
  self.replay:push(s, actions, rewards)
  graphids.no_grad(function() self.episodes:add_(1) end)
  local logs = { train_reward = rewards:mean():item(), train_acc = FC.accuracy(preds, labels) }
  if self.episodes:item() % self.hp.retrain_every == 0 then
    logs.train_loss = self:retrain(gen)
  end
  local loss = graphids.tensor(logs.train_loss or 0.0)
  return loss, logs
end

function Bandit:test_step(batch)
  FC.check_batch("BanditFusion", batch)
  local s = FC.normalize(batch.states)
  -- evaluation exploits: the arms' mean estimates, no exploration bonus
  local alphas = FC.alphas(self:ucb(self:embed(s), false):argmax(2))
  return FC.result(FC.fused(s, alphas), batch.labels, alphas)
end

Bandit.predict_step = Bandit.test_step

function Bandit:validation_step(batch)
  local r = self:test_step(batch)
  return { val_acc = FC.accuracy(r.preds, batch.labels:long()) }
end

M.BanditFusion = Bandit

return M
