-- graphids.models.fusion.common -- what the fusion policies share (the reference's
-- core/models/fusion/base.py and reward.py): the 15-D state layout, normalisation, the two
-- detector scores, the fused score, the 21 actions, the reward and the replay buffer.
--   local FC = require "graphids.models.fusion.common"
--   local states = FC.state(vgae:extract_features(b), gat:extract_features(b))   -- [B, 15]
--   local s = FC.normalize(states)
--   local anomaly, gat_prob = FC.scores(s)           -- [B] each
--   local fused = FC.fused(s, alphas)                -- (1 - alpha) anomaly + alpha gat_prob
--   local r = FC.Reward()(s, preds, labels, alphas)  -- [B], and the per-term parts
-- State layout: VGAE block at columns 1..8 (recon, nbr, canid errors, z mean, z std, z max,
-- z min, confidence at 8), GAT block at 9..15 (p0, p1, embedding mean, std, max, min,
-- confidence at 15).  (1-based Lua columns; the reference's offsets 0 and 8, confidences 7, 14.)
--
-- Departure: the reference took GAT's attack probability as softmax(state[8:10])[1], a second
-- softmax over values that are already probabilities (upstream §3.6, observed; later
-- reference code reads p1 directly).  Here gat_prob is column 10 (p1) as it stands.
local graphids = require "graphids"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local S = require "graphids.models._steps"

local M = {}

-- Gives every Dropout of model the step's generator (ctx.generator), so a step's masks come
-- from it as every other draw of the step does (docs/models.md, "Step API"), not from the
-- default stream.  Returns ctx's generator.
function M.use_generator(model, ctx)
  local gen = type(ctx) == "table" and ctx.generator or nil
  local Dropout = require("graphids.nn.dropout").Dropout
  for _, m in ipairs(model:modules()) do
    if class.isinstance(m, Dropout) then rawset(m, "generator", gen) end
  end
  return gen
end

M.STATE_DIM = 15
M.VGAE_OFFSET, M.GAT_OFFSET = 1, 9
M.VGAE_CONF, M.GAT_CONF = 8, 15
M.NUM_ACTIONS = 21
-- weights of the VGAE error columns 1..3 in the anomaly score
M.VGAE_WEIGHTS = { 0.4, 0.3, 0.3 }

-- The action values: 21 alphas evenly spaced over [0, 1] (action a (0-based) -> a / 20).
function M.alphas(actions)
  return actions:double():div(M.NUM_ACTIONS - 1):float()
end

function M.check_states(name, states, labels)
  if not U.is_tensor(states) or states.ndim ~= 2 or states:size(2) ~= M.STATE_DIM then
    error(string.format("%s: states must be [B, %d], got %s", name, M.STATE_DIM,
      U.is_tensor(states) and U.shape_str(states) or type(states)), 0)
  end
  if labels ~= nil and (not U.is_tensor(labels) or labels:numel() ~= states:size(1)) then
    error(string.format("%s: labels must be [%d], got %s", name, states:size(1),
      U.is_tensor(labels) and U.shape_str(labels) or type(labels)), 0)
  end
end

-- The state rows of a batch of windows: cat(VGAE (or DGI) features [B, 8], GAT features [B, 7]).
function M.state(vgae_features, gat_features)
  local ok = U.is_tensor(vgae_features) and U.is_tensor(gat_features) and
    vgae_features.ndim == 2 and gat_features.ndim == 2 and vgae_features:size(2) == 8 and
    gat_features:size(2) == 7 and vgae_features:size(1) == gat_features:size(1)
  if not ok then
    error(string.format("fusion.state: expected VGAE features [B, 8] and GAT features [B, 7] " ..
      "for the same B, got %s and %s",
      U.is_tensor(vgae_features) and U.shape_str(vgae_features) or type(vgae_features),
      U.is_tensor(gat_features) and U.shape_str(gat_features) or type(gat_features)), 2)
  end
  return graphids.cat({ vgae_features, gat_features }, 2)
end

-- A copy with both confidence columns clamped to [0, 1].
function M.normalize(states)
  local s = states:clone()
  for _, c in ipairs({ M.VGAE_CONF, M.GAT_CONF }) do
    local col = s:select(2, c)
    col:copy_(col:clamp(0, 1))
  end
  return s
end

-- anomaly = clamp(0.4 e_recon + 0.3 e_nbr + 0.3 e_canid, 0, 1); gat_prob = p1.
function M.scores(states)
  local w = graphids.tensor(M.VGAE_WEIGHTS, { dtype = states.dtype, device = states.device })
  local anomaly = (states:narrow(2, M.VGAE_OFFSET, 3) * w):sum(2):clamp(0, 1)
  return anomaly, states:select(2, M.GAT_OFFSET + 1)
end

function M.fused(states, alphas)
  local anomaly, gat_prob = M.scores(states)
  return anomaly * (1 - alphas) + gat_prob * alphas
end

-- 0/1 predictions of scores: attack when the score exceeds 0.5 (every fusion model's rule).
function M.decide(scores)
  return scores:gt(0.5):long()
end

-- What a fusion model's test_step returns: scores, their predictions, the labels, and the
-- alphas when a policy chose them.
function M.result(scores, labels, alphas)
  return { scores = scores, preds = M.decide(scores), labels = labels, alphas = alphas }
end

-- fn() run with model in eval mode and without grad, the model's mode restored after (the
-- policies' greedy passes: no dropout, no graph).
function M.eval_no_grad(model, fn)
  local was = model.training
  model:eval()
  local r = graphids.no_grad(fn)
  model:train(was)
  return r
end

-- The optimizer of a self-optimizing policy (automatic_optimization = false): model.optimizer
-- when the trainer set it (so checkpoints hold its state), else one made by
-- configure_optimizers and kept there.
function M.optimizer(model)
  local opt = rawget(model, "optimizer")
  if opt == nil then
    opt = model:configure_optimizers()
    rawset(model, "optimizer", opt)
  end
  return opt
end

-- ----------------------------------------------------------------------------- reward
local Reward = class("FusionReward")
M.Reward = Reward

-- The reference's constants (configs/models/fusion/reward.libsonnet).
M.REWARD_DEFAULTS = { correct = 3.0, incorrect = -3.0, confidence_weight = 0.5,
  combined_conf_weight = 0.3, disagreement_penalty = -1.0, overconf_penalty = -1.5,
  balance_weight = 0.3 }

function Reward:__init(opts)
  local o = U.options("FusionReward", opts, M.REWARD_DEFAULTS, U.CTOR)
  for k, v in pairs(o) do
    self[k] = v
  end
end

-- Per state: base (correct / incorrect); when correct + agreement + confidence_weight x
-- (max score toward the label) + combined_conf_weight x max(conf_vgae, conf_gat); when wrong
-- + disagreement_penalty (1 - agreement) + overconf_penalty x (the fused score toward the
-- predicted class); always + balance_weight (1 - 2 |alpha - 0.5|).  agreement = 1 - |anomaly
-- - gat_prob|.  Returns the total [B] and the parts (name -> [B]).
function Reward:__call(states, preds, labels, alphas)
  local anomaly, gat_prob = M.scores(states)
  local combined = graphids.maximum(states:select(2, M.VGAE_CONF), states:select(2, M.GAT_CONF))
  local correct = preds:eq(labels)
  local zero = graphids.zeros_like(anomaly)
  local base = graphids.where(correct, self.correct, self.incorrect):to(anomaly.dtype)
  local agreement = 1 - (anomaly - gat_prob):abs()
  local max_score = graphids.maximum(anomaly, gat_prob)
  local confidence = graphids.where(labels:eq(1), max_score, 1 - max_score)
  local bonus = confidence * self.confidence_weight + combined * self.combined_conf_weight
  local fused = gat_prob * alphas + anomaly * (1 - alphas)
  local overconf = graphids.where(preds:eq(1), fused, 1 - fused) * self.overconf_penalty
  local parts = {
    r_classification = base,
    r_agreement = graphids.where(correct, agreement, zero),
    r_confidence = graphids.where(correct, bonus, zero),
    r_disagreement_penalty = graphids.where(correct, zero, (1 - agreement) *
      self.disagreement_penalty),
    r_overconfidence_penalty = graphids.where(correct, zero, overconf),
    r_balance = (1 - (alphas - 0.5):abs() * 2) * self.balance_weight,
  }
  local total = zero
  for _, k in ipairs(U.sorted_keys(parts)) do
    total = total + parts[k]
  end
  return total, parts
end

-- ----------------------------------------------------------------------------- replay buffer
local Module = require "graphids.nn.module"
local Replay = class("ReplayBuffer", Module)
M.ReplayBuffer = Replay

-- Circular storage of (state [15], action, reward) triples.  A module whose rows and count are
-- buffers: a policy registers it as a child, so its checkpoints hold the replayed triples and a
-- resumed fit samples what the uninterrupted one would (with an empty buffer it did not).
-- `pushed` counts every row ever pushed: the rows held are min(pushed, capacity), and the
-- next one goes at pushed mod capacity.  A checkpoint written before the buffer was saved has
-- none of these keys: it loads (and passes the compatibility guard) with an empty buffer.
-- The ring fills from its first row, so the rows held are the storage's first ones: a
-- checkpoint keeps only those, and `pushed`, which places the next row (graphids.nn.filled_state;
-- one of the whole storage, as checkpoints were written before, loads too).
function Replay:__init(capacity)
  Module.__init(self)
  U.check_size("ReplayBuffer", "capacity", capacity)
  self.capacity = capacity
  self:register_buffer("states", graphids.zeros({ capacity, M.STATE_DIM }))
  self:register_buffer("actions", graphids.zeros({ capacity }, { dtype = "i64" }))
  self:register_buffer("rewards", graphids.zeros({ capacity }))
  self:register_buffer("pushed", graphids.zeros({}, { dtype = "i64" }))
end

Replay._optional_state = { states = true, actions = true, rewards = true, pushed = true }
Replay._filled_state = { states = true, actions = true, rewards = true }

-- The rows held, by the `pushed` that get (graphids.nn.filled_state's reader) gives.
function Replay:_filled_rows(get)
  return math.min(get("pushed"):item(), self.capacity)
end

-- The number of rows held.
function Replay:__len()
  return self:_filled_rows(function(name) return self[name] end)
end

function Replay:extra_repr()
  return string.format("capacity=%d, held=%d", self.capacity, #self)
end

-- Appends rows (states [B, 15], actions [B], rewards [B]); the oldest rows are overwritten.
-- The storage follows the states' device and float dtype (converted on the first push from
-- another one: a policy trained in f64 samples f64 rows for its f64 weights).
function Replay:push(states, actions, rewards)
  if self.states.device ~= states.device or self.states.dtype ~= states.dtype then
    local as = { device = states.device, dtype = states.dtype }
    self.states, self.rewards = self.states:to(as), self.rewards:to(as)
    self.actions = self.actions:to(states.device)
  end
  local n = states:size(1)
  local pushed = self.pushed:item()
  if n > self.capacity then
    -- only the newest capacity rows survive
    local skip = n - self.capacity
    states, actions, rewards = states:narrow(1, skip + 1, self.capacity),
      actions:narrow(1, skip + 1, self.capacity), rewards:narrow(1, skip + 1, self.capacity)
    n = self.capacity
  end
  local pos = pushed % self.capacity
  -- at most two contiguous pieces: up to the end of the storage, then from its start
  local first = math.min(n, self.capacity - pos)
  local function put(dst_at, src_at, len)
    self.states:narrow(1, dst_at + 1, len):copy_(states:narrow(1, src_at + 1, len))
    self.actions:narrow(1, dst_at + 1, len):copy_(actions:narrow(1, src_at + 1, len))
    self.rewards:narrow(1, dst_at + 1, len):copy_(rewards:narrow(1, src_at + 1, len))
  end
  graphids.no_grad(function()
    put(pos, 0, first)
    if n > first then
      put(0, first, n - first)
    end
    self.pushed:fill_(pushed + n)
  end)
end

-- n rows drawn uniformly with replacement: states, actions, rewards.
function Replay:sample(n, generator)
  local size = #self
  if size == 0 then
    error("ReplayBuffer.sample: the buffer is empty", 2)
  end
  local idx = graphids.randint(size, { n }, { generator = generator }):to(self.states.device)
  return self.states:index_select(1, idx), self.actions:index_select(1, idx),
    self.rewards:index_select(1, idx)
end

-- ----------------------------------------------------------------------------- backbone
local nn_mod

-- n x [Linear -> LayerNorm -> ReLU -> Dropout(p)] of width `hidden` from in_dim.
function M.backbone(in_dim, hidden, n, p)
  nn_mod = nn_mod or require "graphids.nn"
  local layers = {}
  for i = 1, n do
    layers[#layers + 1] = nn_mod.Linear(i == 1 and in_dim or hidden, hidden)
    layers[#layers + 1] = nn_mod.LayerNorm(hidden)
    layers[#layers + 1] = nn_mod.ReLU()
    layers[#layers + 1] = nn_mod.Dropout(p)
  end
  return nn_mod.Sequential(layers)
end

-- A states batch: {states = [B, 15], labels = [B]} (the fusion data module's).
function M.check_batch(name, batch)
  if type(batch) ~= "table" then
    error(string.format("%s: batch must be a table {states=, labels=}, got %s", name,
      type(batch)), 0)
  end
  M.check_states(name, batch.states, batch.labels)
end

-- Accuracy of 0/1 predictions against labels: a 0-d f64 tensor (S.hit_rate).
function M.accuracy(preds, labels)
  return S.hit_rate(preds, labels)
end

return M
