-- load_model_spec.lua -- instantiate.load_model, what the KD teacher and the fusion experts are
-- rebuilt with: it runs the checkpoint guard (ckpt.check_compat) with the data's vocabulary
-- digest, so a checkpoint of another vocabulary, or one that records none while one is asked
-- for, is refused the way every other checkpoint load refuses it.
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local models = require "graphids.models"
local D = require "graphids.models.distill"
local inst = require "graphids.orchestrate.instantiate"

describe("instantiate.load_model", function()
  local dir
  before_each(function()
    dir = os.tmpname() .. ".d"
    assert(gio.mkdir_p(dir))
  end)
  after_each(function()
    os.execute("rm -rf " .. dir)
  end)

  local function gat()
    return models.GATClassifier(models.presets.gat.small({ num_ids = 6 }))
  end

  -- A checkpoint of m with hyper-parameters carrying digest (none when nil).
  local function save(name, m, digest)
    local hp = m:hparams()
    hp.vocab_digest = digest
    local path = gio.join(dir, name)
    ckpt.save(path, { model = m:state_dict(), class_path = m.class_path, hyper_parameters = hp })
    return path
  end

  local function err_of(...)
    local ok, err = pcall(...)
    assert.is_false(ok, "expected an error")
    return tostring(err)
  end

  it("loads a checkpoint of the vocabulary asked for, and any when none is asked for", function()
    local path = save("a.safetensors", gat(), "aaa")
    local m, c = inst.load_model(path, { vocab_digest = "aaa" })
    assert.equal("graphids.models.GATClassifier", m.class_path)
    assert.equal(path, c.path)
    assert.is_false(m.training)
    inst.load_model(path)
  end)

  it("refuses another vocabulary through the checkpoint guard, naming what it loads", function()
    local path = save("a.safetensors", gat(), "aaa")
    local err = err_of(inst.load_model, path, { vocab_digest = "bbb", what = "distillation teacher" })
    assert.equal(string.format("distillation teacher: checkpoint '%s' is not compatible with the model " ..
      "graphids.models.GATClassifier (1 mismatch):\n  vocab_digest: checkpoint aaa, model bbb\n" ..
      "Re-train or point at a compatible checkpoint.", path), err)
  end)

  it("refuses a checkpoint that records no digest when one is asked for", function()
    -- (it passed silently before: nothing showed it was trained on the data's vocabulary)
    local path = save("none.safetensors", gat(), nil)
    local err = err_of(inst.load_model, path, { vocab_digest = "aaa", what = "fusion_states gat_ckpt" })
    assert.truthy(err:find("^fusion_states gat_ckpt: checkpoint '" .. path:gsub("%p", "%%%0") ..
      "' is not compatible"), err)
    assert.truthy(err:find("vocab_digest: the checkpoint records none, the caller expects aaa", 1, true), err)
    -- asked for none, it loads
    inst.load_model(path)
  end)

  it("checks a distilled student's checkpoint by its own state, the loss's left out", function()
    local s = D.attach(gat(), models.GATClassifier(models.presets.gat.large({ num_ids = 6 })))
    local path = save("s.safetensors", s, "aaa")
    local m = inst.load_model(path, { vocab_digest = "aaa" })
    assert.equal(s.class_path, m.class_path)
  end)
end)
