-- fusion_resume_spec.lua -- a DQN or bandit fit resumed from a checkpoint ends with the
-- weights, optimizer state, arm statistics and replay buffer of the uninterrupted fit, bit for
-- bit: the replayed triples are part of the checkpoint (a resume started with an empty buffer
-- and sampled other triples).  The checkpoint holds only the buffer's filled rows; one of the
-- whole buffer (written before) resumes as exactly, and one written before the buffer was saved
-- still passes the compatibility guard and loads, with an empty buffer.
local graphids = require "graphids"
local class = require "graphids.class"
local gio = require "graphids.io"
local json = require "graphids.json"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local models = require "graphids.models"
local Trainer = require("graphids.trainer").Trainer
local FusionDataModule = require("graphids.orchestrate.fusion_data").FusionDataModule
local fs = require "graphids.orchestrate.fusion_states"
local proc = require "trainer.support.proc"

-- A states folder of n training rows (GAT's p1 carries the label), 12 validation rows.
local function states_dir(n)
  local dir = proc.tmpdir()
  local g = graphids.Generator(3)
  local function split(rows)
    local labels = graphids.randint(2, { rows }, { generator = g })
    local st = graphids.rand({ rows, 15 }, { generator = g })
    st:select(2, 10):copy_(labels:float() * 0.6 + st:select(2, 10) * 0.4)
    return { states = st, labels = labels, window_start = graphids.arange(rows),
      source_file = graphids.zeros({ rows }, { dtype = "i64" }) }
  end
  assert(gio.save_safetensors(gio.join(dir, "train.safetensors"), split(n)))
  assert(gio.save_safetensors(gio.join(dir, "val.safetensors"), split(12)))
  assert(gio.write_json(gio.join(dir, "manifest.json"), { test_names = json.array({}), state_dim = 15 }))
  proc.spit(gio.join(dir, fs.MARKER), "")
  return dir
end

-- Saves a checkpoint at (epoch, batch) of the fit, then stops it.
local Killer = class("FusionKiller", cb.Callback)
function Killer:__init(path, epoch, batch) self.path, self.epoch, self.batch = path, epoch, batch end
function Killer:on_train_batch_end(t, _, i)
  if t.epoch == self.epoch and i == self.batch then
    t:save_checkpoint(self.path)
    error("killed", 0)
  end
end

local Filled = require "graphids.nn.filled_state"

local function same_state(a, b, what)
  local sa, sb = a:state_dict(), b:state_dict()
  assert.same(sa:keys(), sb:keys(), what)
  for _, k in ipairs(sa:keys()) do
    assert.is_true(graphids.equal(sa:get(k), sb:get(k)), what .. ": " .. k .. " differs")
  end
end

local CASES = {
  -- a buffer of 16 rows, smaller than an epoch's 40: it wraps, so its position matters too
  { "DQNFusion", { hidden = 8, num_layers = 1, buffer_size = 16, batch_size = 8 } },
  { "BanditFusion", { hidden = 6, num_layers = 1, buffer_size = 16, batch_size = 8, retrain_every = 3,
    retrain_steps = 2 } },
}

describe("a resumed fusion policy fit", function()
  it("is exact: the replay buffer, arms, epsilon and counters are in the checkpoint", function()
    local dir = states_dir(40)
    local function dm() return FusionDataModule { states_dir = dir, batch_size = 10, seed = 4 } end
    for _, c in ipairs(CASES) do
      local name, hp = c[1], c[2]
      local function model()
        graphids.manual_seed(11)
        return models.resolve("graphids.models.fusion." .. name)(hp)
      end
      local function trainer(cbs)
        return Trainer { max_epochs = 3, progress = "off", seed = 5, callbacks = cbs }
      end
      local ref = model()
      trainer({}):fit(ref, dm())
      assert.equal(math.min(16, 3 * 40), #ref.replay, name)
      -- killed mid-epoch (epoch 1, batch 2 of 4) and at an epoch's end (epoch 0, batch 4)
      for _, at in ipairs({ { 1, 2 }, { 0, 4 } }) do
        local what = string.format("%s killed at epoch %d batch %d", name, at[1], at[2])
        local p = gio.join(dir, "kill.safetensors")
        local t1 = trainer({ Killer(p, at[1], at[2]) })
        local ok, err = pcall(t1.fit, t1, model(), dm())
        assert.is_false(ok, what)
        assert.equal("killed", err, what)
        local resumed = model()
        trainer({}):fit(resumed, dm(), { ckpt_path = p })
        same_state(ref, resumed, what)
        -- the checkpoint's bytes are a function of the state alone
        local q = gio.join(dir, "again.safetensors")
        local t3 = trainer({ Killer(q, at[1], at[2]) })
        pcall(t3.fit, t3, model(), dm())
        assert.equal(proc.slurp(p), proc.slurp(q), what .. ": checkpoint bytes")
      end
    end
    proc.rmtree(dir)
  end)

  it("keeps only the filled rows of a partly filled buffer, and resumes exactly from them or the whole",
    function()
    local dir = states_dir(40)
    local function dm() return FusionDataModule { states_dir = dir, batch_size = 10, seed = 4 } end
    -- a buffer of 64 rows: 20 or 60 filled when killed, wrapped (120 pushed) by the fit's end
    for _, c in ipairs(CASES) do
      local name, hp = c[1], {}
      for k, v in pairs(c[2]) do hp[k] = v end
      hp.buffer_size = 64
      local function model()
        graphids.manual_seed(11)
        return models.resolve("graphids.models.fusion." .. name)(hp)
      end
      local function trainer(cbs)
        return Trainer { max_epochs = 3, progress = "off", seed = 5, callbacks = cbs }
      end
      local ref = model()
      trainer({}):fit(ref, dm())
      assert.equal(120, ref.replay.pushed:item(), name)
      for _, at in ipairs({ { 0, 2, 20 }, { 1, 2, 60 } }) do
        local what = string.format("%s killed at epoch %d batch %d", name, at[1], at[2])
        -- whole: the checkpoint as written before only the filled rows were kept
        for _, whole in ipairs({ false, true }) do
          local p = gio.join(dir, "kill.safetensors")
          local cut = Filled.cut_alike
          if whole then Filled.cut_alike = function(_, ...) return ... end end
          local t1 = trainer({ Killer(p, at[1], at[2]) })
          local ok, err = pcall(t1.fit, t1, model(), dm())
          Filled.cut_alike = cut
          assert.is_false(ok, what)
          assert.equal("killed", err, what)
          local saved = ckpt.load(p).model
          local rows = whole and 64 or at[3]
          assert.same({ rows, 15 }, saved["replay.states"].shape, what)
          assert.same({ { rows }, { rows } },
            { saved["replay.actions"].shape, saved["replay.rewards"].shape }, what)
          assert.equal(at[3], saved["replay.pushed"]:item(), what)
          local resumed = model()
          trainer({}):fit(resumed, dm(), { ckpt_path = p })
          same_state(ref, resumed, what .. (whole and " (whole buffer)" or ""))
        end
      end
    end
    proc.rmtree(dir)
  end)

  it("refuses a buffer with fewer rows than it filled, or more than it holds, naming both", function()
    local make = models.resolve("graphids.models.fusion.DQNFusion")
    local m = make(CASES[1][2])
    m.replay:push(graphids.rand({ 5, 15 }), graphids.ones({ 5 }, { dtype = "i64" }), graphids.rand({ 5 }))
    local sd = m:state_dict()
    local rows = Filled.rows(m, sd)
    assert.equal(5, rows["replay.states"])
    local cut = Filled.cut(sd, rows)
    local fresh = make(CASES[1][2])
    fresh:load_state_dict(cut)
    assert.equal(5, #fresh.replay)
    same_state(m, fresh, "loaded from the filled rows")
    -- 4 rows where pushed says 5 are filled
    local short = Filled.cut(sd, { ["replay.states"] = 4 })
    local ok, err = pcall(fresh.load_state_dict, fresh, short)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("size mismatch for replay.states: copying a param with shape " ..
      "[4, 15] from checkpoint, the shape in current model is [16, 15] (a buffer filled row by row: the " ..
      "checkpoint gives from its 5 filled rows up to all 16)", 1, true), tostring(err))
    -- a buffer of 32 rows, filled, into one of 16: the guard names it
    local function push(model, n)
      local actions = graphids.ones({ n }, { dtype = "i64" })
      model.replay:push(graphids.rand({ n, 15 }), actions, graphids.rand({ n }))
    end
    local big = make({ hidden = 8, num_layers = 1, buffer_size = 32, batch_size = 8 })
    push(big, 32)
    local dir = proc.tmpdir()
    local p = gio.join(dir, "big.safetensors")
    ckpt.save(p, { model = big:state_dict(), class_path = big.class_path })
    ok, err = pcall(ckpt.check_compat, p, fresh)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("parameter replay.states: checkpoint [32,15], model [16,15] (a " ..
      "buffer filled row by row: up to 16 rows)", 1, true), tostring(err))
    -- 12 of its 32 rows filled: they fit
    big = make({ hidden = 8, num_layers = 1, buffer_size = 32, batch_size = 8 })
    push(big, 12)
    ckpt.save(p, { model = Filled.cut(big:state_dict(), Filled.rows(big)), class_path = big.class_path })
    ckpt.check_compat(p, fresh)
    fresh:load_state_dict(ckpt.load(p).model)
    assert.equal(12, #fresh.replay)
    assert.is_true(graphids.equal(fresh.replay.states:narrow(1, 1, 12), big.replay.states:narrow(1, 1, 12)))
    assert.is_true(graphids.equal(fresh.replay.states:narrow(1, 13, 4), graphids.zeros({ 4, 15 })))
    proc.rmtree(dir)
  end)

  it("resumes a policy fit with weight averaging exactly, the buffer cut in both sets of weights",
    function()
    local dir = states_dir(40)
    local function dm() return FusionDataModule { states_dir = dir, batch_size = 10, seed = 4 } end
    local hp = { hidden = 8, num_layers = 1, buffer_size = 64, batch_size = 8 }
    local function model()
      graphids.manual_seed(11)
      return models.resolve("graphids.models.fusion.DQNFusion")(hp)
    end
    local function trainer(extra)
      local cbs = { cb.EMAWeightAveraging { decay = 0.5, update_every_n_steps = 4 } }
      if extra then cbs[2] = extra end
      return Trainer { max_epochs = 3, progress = "off", seed = 5, callbacks = cbs }
    end
    local ref = model()
    trainer():fit(ref, dm())
    local p = gio.join(dir, "kill.safetensors")
    local t1 = trainer(Killer(p, 1, 2))
    assert.is_false(pcall(t1.fit, t1, model(), dm()))
    local c = ckpt.load(p)
    -- 60 rows filled at step 6; the average last took the buffer at step 4, with 40: both keep
    -- 60 (the same shapes, which ckpt.load wants)
    assert.same({ 60, 40 }, { c.current_model["replay.pushed"]:item(), c.model["replay.pushed"]:item() })
    assert.same({ 60, 15 }, c.current_model["replay.states"].shape)
    assert.same({ 60, 15 }, c.model["replay.states"].shape)
    local resumed = model()
    trainer():fit(resumed, dm(), { ckpt_path = p })
    same_state(ref, resumed, "DQN with EMA")
    proc.rmtree(dir)
  end)

  it("loads a checkpoint written before the buffer was saved, with an empty buffer", function()
    local m = models.resolve("graphids.models.fusion.DQNFusion")(CASES[1][2])
    m.replay:push(graphids.ones({ 3, 15 }), graphids.ones({ 3 }, { dtype = "i64" }), graphids.ones({ 3 }))
    local sd = m:state_dict()
    local old = {}
    for _, k in ipairs(sd:keys()) do
      if not k:match("^replay%.") then old[k] = sd:get(k):clone() end
    end
    local dir = proc.tmpdir()
    local p = gio.join(dir, "old.safetensors")
    ckpt.save(p, { model = old, class_path = m.class_path })
    local fresh = models.resolve("graphids.models.fusion.DQNFusion")(CASES[1][2])
    ckpt.check_compat(p, fresh)
    fresh:load_state_dict(ckpt.load(p).model)
    assert.equal(0, #fresh.replay)
    assert.is_true(graphids.equal(fresh.head.weight, m.head.weight))
    -- another missing key is still named
    old["head.bias"] = nil
    ckpt.save(p, { model = old, class_path = m.class_path })
    local ok, err = pcall(ckpt.check_compat, p, fresh)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("parameter head.bias: missing from the checkpoint", 1, true),
      tostring(err))
    proc.rmtree(dir)
  end)
end)
