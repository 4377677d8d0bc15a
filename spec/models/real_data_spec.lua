-- real_data_spec.lua -- the models on real CAN windows (set_01 of the CAN data root, built by
-- graphids.data): every model trains a step, scores and extracts fusion features on a batch of
-- real graphs, and 15 Adam steps of the small GAT on attack and benign windows cut its loss by
-- more than 30%.
-- Skips with a reason when the real data is not there.
local graphids = require "graphids"
local skip = require "skip"
local models = require "graphids.models"

local ROOT = require("specenv").DATA
-- 30 000 frames around a DoS onset: benign windows before it, attack windows after
local FILES = { ROOT .. "/set_01/train_02_with_attacks/DoS-1.csv" }

local function readable(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end

local data = require "graphids.data"
local have = readable(FILES[1])

describe("graphids.models on real CAN windows", function()
  if skip.unless(have, "set_01 is not under " .. ROOT) then return end

  -- a failure of the data pipeline here is a failure, not a skip: it is tested code too
  local frames = {}
  for i, p in ipairs(FILES) do frames[i] = data.read_can(p) end
  local vocab = data.Vocabulary.from_frames(frames)
  local set = data.build_windows({ files = frames, vocab = vocab, window = 100, stride = 100 })
  local train_idx = data.split_train_val(set.num_graphs, { val_fraction = 0.2, seed = 42 })
  data.Scaler.fit(set, train_idx):apply(set)

  -- 32 graphs: the first attack windows and benign windows of the set
  local function mixed_batch()
    local y = set.y:totable()
    local pick, att, ben = {}, 0, 0
    for i, v in ipairs(y) do
      if v == 1 and att < 16 then att = att + 1; pick[#pick + 1] = i - 1 end
      if v == 0 and ben < 16 then ben = ben + 1; pick[#pick + 1] = i - 1 end
    end
    table.sort(pick)
    return data.collate(set, pick)
  end

  it("GAT, VGAE and DGI step, score and extract features", function()
    local b = mixed_batch()
    assert.is_true(b.num_graphs == 32 and b.y:sum():item() == 16)
    for _, family in ipairs({ "gat", "vgae", "dgi" }) do
      local cls = ({ gat = models.GATClassifier, vgae = models.VGAE, dgi = models.DGI })[family]
      local m = cls(models.presets[family].small({ num_ids = vocab.num_ids }))
      local loss = m:training_step(b, { generator = graphids.Generator(1) })
      assert.is_true(graphids.isfinite(loss):item(), family)
      loss:backward()
      m:eval()
      if family == "dgi" then m:calibrate_svdd({ b }) end
      local r = m:test_step(b)
      assert.same({ 32 }, r.scores.shape)
      assert.is_true(graphids.isfinite(r.scores):all():item(), family)
      local f = m:extract_features(b)
      assert.same({ 32, family == "gat" and 7 or 8 }, f.shape)
    end
  end)

  it("a GAT learns to separate DoS windows from benign ones in 15 steps", function()
    graphids.manual_seed(7)
    local b = mixed_batch()
    local m = models.GATClassifier(models.presets.gat.small({ num_ids = vocab.num_ids }))
    local opt = m:configure_optimizers()
    local first, logs
    for _ = 1, 15 do
      opt:zero_grad()
      local loss
      loss, logs = m:training_step(b, {})
      loss:backward()
      opt:step()
      first = first or logs.train_loss:item()
    end
    local last = logs.train_loss:item()
    assert.is_true(last < first * 0.7, first .. " -> " .. last)
  end)
end)
