-- spec/trainer/support/tiny.lua -- a tiny model and data module implementing the trainer's
-- protocols on plain tensors, so the trainer specs run fast and depend on no other engineer's
-- timing.  Not a product: spec helpers only.
--   local tiny = require "trainer.support.tiny"
--   local model = tiny.MLP{in_dim = 4, hidden = 8, seed = 1}
--   local dm = tiny.DataModule{n = 64, batch_size = 8, seed = 3}
local graphids = require "graphids"
local nn = require "graphids.nn"
local F = require "graphids.nn.functional"
local optim = require "graphids.optim"
local class = require "graphids.class"
local Module = require "graphids.nn.module"

local M = {}

-- ---------------------------------------------------------------- model

local MLP = class("TinyMLP", Module)
M.MLP = MLP
MLP.class_path = "spec.trainer.TinyMLP"

-- hp: in_dim, hidden, num_ids (carried like a real model's), id_encoder_class_path,
-- id_encoder_kwargs, lr, seed (weights), noise (training-time dropout from ctx.generator), nan_at
-- (global step whose loss is NaN, to test the NaN error), plateau (ReduceLROnPlateau instead of
-- cosine annealing), manual (automatic_optimization = false: the model steps model.optimizer).
function MLP:__init(hp)
  Module.__init(self)
  hp = hp or {}
  self.hp = {
    in_dim = hp.in_dim or 4, hidden = hp.hidden or 8, num_ids = hp.num_ids or 10,
    id_encoder_class_path = hp.id_encoder_class_path or "graphids.models.id_encoder.LookupIdEncoder",
    id_encoder_kwargs = hp.id_encoder_kwargs or {}, lr = hp.lr or 0.05, noise = hp.noise or 0.2,
  }
  rawset(self, "nan_at", hp.nan_at)
  rawset(self, "plateau", hp.plateau)
  if hp.manual then
    rawset(self, "automatic_optimization", false)
  end
  rawset(self, "calls", 0)
  graphids.manual_seed(hp.seed or 1)
  self.fc1 = nn.Linear(self.hp.in_dim, self.hp.hidden)
  self.fc2 = nn.Linear(self.hp.hidden, 2)
end

function MLP:hparams()
  local out = {}
  for k, v in pairs(self.hp) do
    out[k] = v
  end
  return out
end

function MLP:forward(x, ctx)
  local h = F.relu(self.fc1(x))
  if self.training and self.hp.noise > 0 then
    h = F.dropout(h, self.hp.noise, true, { generator = ctx and ctx.generator })
  end
  return self.fc2(h)
end

function MLP:training_step(batch, ctx)
  rawset(self, "calls", self.calls + 1)
  local logits = self:forward(batch.x, ctx)
  local loss = F.cross_entropy(logits, batch.y)
  local logged = loss:detach() -- a 0-d tensor, as the real models log (the trainer reads it)
  if self.nan_at and self.calls == self.nan_at then
    logged = graphids.tensor(0 / 0)
  end
  -- a 0-d f64 tensor, as the real models log (count / n in f64: the host's number)
  local acc = logits:argmax(2):eq(batch.y):sum():to("f64"):div(batch.num_graphs)
  if rawget(self, "automatic_optimization") == false then
    local opt = rawget(self, "optimizer")
    opt:zero_grad()
    loss:backward()
    opt:step()
    loss = loss:detach()
  end
  return loss, { train_loss = logged, train_acc = acc }
end

function MLP:validation_step(batch, ctx)
  local logits = self:forward(batch.x, ctx)
  return { val_loss = F.cross_entropy(logits, batch.y):item(),
    val_acc = logits:argmax(2):eq(batch.y):sum():item() / batch.num_graphs }
end

function MLP:test_step(batch, ctx)
  local probs = self:forward(batch.x, ctx):softmax(2)
  return { scores = probs:select(2, 2), preds = probs:argmax(2), labels = batch.y }
end
MLP.predict_step = MLP.test_step

function MLP:configure_optimizers(opts)
  local opt = optim.Adam(self:parameters(), { lr = self.hp.lr })
  if rawget(self, "plateau") then
    return opt, optim.lr_scheduler.ReduceLROnPlateau(opt, { patience = 0, factor = 0.5 })
  end
  return opt, optim.lr_scheduler.CosineAnnealingLR(opt, opts.max_epochs)
end

-- Accuracy-style metrics of test outputs (the trainer's metric function in specs).
function M.metrics(out)
  local n = out.labels:numel()
  return { accuracy = out.preds:eq(out.labels):sum():item() / n, n = n,
    mean_score = out.scores:to("f64"):sum():item() / n }
end

-- ---------------------------------------------------------------- state comparisons

-- name -> clone of every state entry of module m (a snapshot that later steps do not change).
function M.weights(m)
  local sd, out = m:state_dict(), {}
  for _, k in ipairs(sd:keys()) do
    out[k] = sd:get(k):clone()
  end
  return out
end

-- Whether two name -> tensor tables hold the same names and bitwise equal tensors (and are not
-- empty); false and the first differing name otherwise.
function M.same_weights(a, b)
  local n = 0
  for k, t in pairs(a) do
    n = n + 1
    if b[k] == nil or not graphids.equal(t, b[k]) then
      return false, k
    end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, k end
  end
  return n > 0
end

-- ---------------------------------------------------------------- data

local Loader = class("TinyLoader")

function Loader:__init(x, y, plan_fn, ws)
  self.x, self.y, self.plan_fn, self.ws = x, y, plan_fn, ws
end

function Loader:__len()
  return #self.plan_fn(0)
end

function Loader:iter(epoch, start)
  local plan = self.plan_fn(epoch or 0)
  local i = (start or 1) - 1
  return function()
    i = i + 1
    local idx = plan[i]
    if idx == nil then
      return nil
    end
    local t = graphids.tensor(idx, { dtype = "i64" })
    return { x = self.x:index_select(1, t), y = self.y:index_select(1, t), num_graphs = #idx,
      window_start = self.ws:index_select(1, t), source_file = graphids.zeros(#idx, { dtype = "i64" }) }, i
  end
end

local function chunks(list, size)
  local plan = {}
  for i, g in ipairs(list) do
    local b = (i - 1) // size + 1
    plan[b] = plan[b] or {}
    plan[b][#plan[b] + 1] = g
  end
  return plan
end

-- A separable two-class problem: y = (x1 + x2 > 0), features from a seeded generator.
local function make_set(n, dim, seed)
  local g = graphids.Generator(seed)
  local x = graphids.randn({ n, dim }, { generator = g })
  local y = (x:select(2, 1) + x:select(2, 2)):gt(0):to("i64")
  local ws = graphids.arange(0, n * 100, 100, { dtype = "i64" })
  return x, y, ws
end

local DataModule = class("TinyDataModule")
M.DataModule = DataModule

function DataModule:__init(opts)
  opts = opts or {}
  self.n, self.batch_size, self.seed = opts.n or 64, opts.batch_size or 8, opts.seed or 3
  self.dim = opts.in_dim or 4
  self.vocab_digest = opts.vocab_digest or string.rep("ab", 32)
  self.epoch, self.position = 0, 0
  self.setups = 0
end

function DataModule:setup()
  self.setups = self.setups + 1
  if self.x then
    return self
  end
  self.x, self.y, self.ws = make_set(self.n, self.dim, self.seed)
  self.vx, self.vy, self.vws = make_set(self.n // 2, self.dim, self.seed + 1)
  self.tests = {}
  self.test_names = { "set_a", "set_b" }
  for i, name in ipairs(self.test_names) do
    local x, y, ws = make_set(self.n // 2, self.dim, self.seed + 1 + i)
    self.tests[name] = Loader(x, y, function() return chunks(self:_all(self.n // 2), self.batch_size) end, ws)
  end
  return self
end

function DataModule._all(_, n)
  local all = {}
  for i = 1, n do
    all[i] = i - 1
  end
  return all
end

function DataModule:train_loader()
  self._train = self._train or Loader(self.x, self.y, function(epoch)
    local g = graphids.Generator(self.seed * 1000 + epoch)
    local perm = graphids.randperm(self.n, { generator = g }):totable()
    return chunks(perm, self.batch_size)
  end, self.ws)
  return self._train
end

function DataModule:val_loader()
  self._val = self._val or Loader(self.vx, self.vy, function()
    return chunks(self:_all(self.n // 2), self.batch_size)
  end, self.vws)
  return self._val
end

function DataModule:test_loaders()
  local i = 0
  return function()
    i = i + 1
    local name = self.test_names[i]
    if name then
      return name, self.tests[name]
    end
  end
end

function DataModule:train_batches()
  local it = self:train_loader():iter(self.epoch, self.position + 1)
  return function()
    local b, i = it()
    if b ~= nil then
      self.position = i
    end
    return b, i
  end
end

function DataModule:next_epoch()
  self.epoch, self.position = self.epoch + 1, 0
end

function DataModule:state_dict()
  return { seed = self.seed, epoch = self.epoch, position = self.position }
end

function DataModule:load_state_dict(st)
  assert(st.seed == self.seed, "TinyDataModule: seed mismatch")
  self.epoch, self.position = st.epoch, st.position
end

-- ---------------------------------------------------------------- shared set-ups

-- The loop-option specs' model: an MLP 4 -> 8 (seed 3 unless hp.seed), hp's other keys kept.
function M.small_mlp(hp)
  hp = hp or {}
  hp.in_dim, hp.hidden, hp.seed = 4, 8, hp.seed or 3
  return M.MLP(hp)
end

-- An output stream that keeps what is written to it, in buf (a list of strings).
function M.sink(buf)
  local sink = { flush = function() end }
  function sink.write(self, ...)
    for _, s in ipairs({ ... }) do buf[#buf + 1] = s end
    return self
  end
  return sink
end

return M
