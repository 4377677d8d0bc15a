-- fusion_data_spec.lua -- FusionDataModule reads the files fusion_states writes, and refuses
-- ones that are not (rows that do not line up, the wrong state width, labels other than 0/1, a
-- manifest that is no object or whose test_names is no list), naming the file and the tensor:
-- such rows were dropped or misread silently.  fusion_states.is_complete says no to such a
-- manifest.
local graphids = require "graphids"
local gio = require "graphids.io"
local proc = require "trainer.support.proc"
local FusionDataModule = require("graphids.orchestrate.fusion_data").FusionDataModule
local fs = require "graphids.orchestrate.fusion_states"

local function split(n, over)
  local t = {
    states = graphids.rand(n, 15),
    labels = graphids.tensor({ 0, 1, 0, 1, 1, 0, 0, 1, 0, 1 }):narrow(1, 1, n),
    window_start = graphids.arange(n),
    source_file = graphids.zeros({ n }, { dtype = "i64" }),
  }
  for k, v in pairs(over or {}) do t[k] = v end
  return t
end

-- A states folder: train, val and one test set, manifest.json and the marker; `edit` changes
-- the train tensors or the manifest first.
local function folder(edit_train, manifest)
  local dir = proc.tmpdir()
  assert(gio.save_safetensors(gio.join(dir, "train.safetensors"), split(10, edit_train)))
  assert(gio.save_safetensors(gio.join(dir, "val.safetensors"), split(4)))
  assert(gio.save_safetensors(gio.join(dir, "test_a.safetensors"), split(6)))
  local json = require "graphids.json"
  local text = manifest or json.encode({ test_names = json.array({ "a" }), state_dim = 15 })
  local f = assert(io.open(gio.join(dir, "manifest.json"), "w"))
  f:write(text)
  f:close()
  local m = assert(io.open(gio.join(dir, fs.MARKER), "w"))
  m:close()
  return dir
end

local function refused(dir)
  local ok, err = pcall(function() return FusionDataModule { states_dir = dir, batch_size = 4 }:setup() end)
  assert.is_false(ok)
  return tostring(err)
end

describe("FusionDataModule", function()
  it("refuses an unfinished extraction, rows other than the manifest's, and non-finite states", function()
    local json = require "graphids.json"
    local dir = folder(nil, json.encode({ test_names = json.array({ "a" }), state_dim = 15,
      rows = { train = 10, val = 4, a = 6 } }))
    assert.same({ "a" }, FusionDataModule { states_dir = dir, batch_size = 4 }:setup().test_names)
    -- a test file of another extraction (other rows) put in place of this one's
    assert(gio.save_safetensors(gio.join(dir, "test_a.safetensors"), split(5)))
    assert.truthy(refused(dir):find("test_a.safetensors: tensor 'states' has 5 rows but the manifest says 6",
      1, true))
    assert(gio.save_safetensors(gio.join(dir, "test_a.safetensors"), split(6)))
    -- a NaN state names its file, not a loss or a metric later
    local st = graphids.rand(6, 15)
    st:narrow(1, 2, 1):fill_(0 / 0)
    assert(gio.save_safetensors(gio.join(dir, "test_a.safetensors"), split(6, { states = st })))
    assert.truthy(refused(dir):find("test_a.safetensors: tensor 'states' holds a NaN or infinite value", 1,
      true))
    assert(gio.save_safetensors(gio.join(dir, "test_a.safetensors"), split(6)))
    -- states of another dataset (the manifest names it) are not this fusion's
    local m = gio.read_json(gio.join(dir, "manifest.json"))
    m.dataset = "hcrl_sa"
    assert(gio.write_json(gio.join(dir, "manifest.json"), m))
    local ok, err = pcall(function()
      return FusionDataModule { states_dir = dir, batch_size = 4, dataset = "set_01" }:setup()
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("holds states of dataset 'hcrl_sa', not 'set_01'", 1, true),
      tostring(err))
    assert.same({ "a" }, FusionDataModule { states_dir = dir, batch_size = 4, dataset = "hcrl_sa" }:setup()
      .test_names)
    -- the marker is written last: without it the files may be a killed extraction's
    assert(os.remove(gio.join(dir, fs.MARKER)))
    assert.truthy(refused(dir):find("holds no .extract_complete: its extraction did not finish", 1, true))
    proc.rmtree(dir)
  end)

  it("reads a folder as fusion_states writes it", function()
    local dir = folder()
    local dm = FusionDataModule { states_dir = dir, batch_size = 4 }:setup()
    assert.same({ "a" }, dm.test_names)
    local rows = 0
    for batch in dm:train_batches() do rows = rows + batch.labels:numel() end
    assert.equal(10, rows)
    assert.is_true((fs.is_complete(dir)))
    proc.rmtree(dir)
  end)

  it("reads f64 states as f32, the fusion models' dtype, refusing values beyond f32's range", function()
    -- (f64 rows passed the checks and then failed in the first forward, after the fit had
    -- replaced the run dir's previous checkpoints and predictions)
    local st = graphids.rand({ 10, 15 }, { dtype = "f64" })
    local dir = folder({ states = st })
    local dm = FusionDataModule { states_dir = dir, batch_size = 4 }:setup()
    assert.equal("f32", dm.splits.train.states.dtype)
    assert.is_true(graphids.equal(st:float(), dm.splits.train.states))
    local batch = dm:train_batches()()
    assert.equal("f32", batch.states.dtype)
    local models = require "graphids.models"
    local m = models.resolve("graphids.models.fusion.MLPFusion")({})
    assert.equal("f32", (m:training_step(batch, {})).dtype)
    proc.rmtree(dir)
    st:narrow(1, 3, 1):fill_(1e300)
    dir = folder({ states = st })
    assert.truthy(refused(dir):find("train.safetensors: tensor 'states' holds a NaN or infinite value", 1,
      true))
    proc.rmtree(dir)
  end)

  it("refuses a train split without rows (the trainer found it after the fit had committed)", function()
    local z = graphids.zeros({ 0 }, { dtype = "i64" })
    local dir = folder({ states = graphids.zeros({ 0, 15 }), labels = z, window_start = z,
      source_file = z })
    assert.truthy(refused(dir):find("train.safetensors: the train split has no row", 1, true))
    proc.rmtree(dir)
  end)

  it("are complete for a checkpoint whose sidecar was lost: it is taken by its SHA-256", function()
    local ckpts = proc.tmpdir()
    local spec = { vgae_ckpt = gio.join(ckpts, "vgae.safetensors"),
      gat_ckpt = gio.join(ckpts, "gat.safetensors") }
    local manifest = { test_names = { "a" }, state_dim = 15 }
    for _, k in ipairs({ "vgae_ckpt", "gat_ckpt" }) do
      proc.spit(spec[k], "weights of " .. k)
      local digest = graphids.sha256_file(spec[k])
      proc.spit(spec[k] .. ".sha256", digest .. "  " .. k .. ".safetensors\n")
      manifest[k .. "_sha256"] = digest
    end
    local dir = folder(nil, require("graphids.json").encode(manifest))
    assert.same({ true, "fusion states complete" }, { fs.is_complete(dir, spec) })
    -- the pipeline's digest of an input is the same (its record and the manifest agree)
    assert.equal(manifest.gat_ckpt_sha256, fs.ckpt_digest(spec.gat_ckpt))
    -- without the sidecar the file is still the checkpoint the states were extracted from (it
    -- was "changed", and then, the manifest naming no digests, extracted again on every run)
    assert(os.remove(spec.gat_ckpt .. ".sha256"))
    assert.equal(manifest.gat_ckpt_sha256, fs.ckpt_digest(spec.gat_ckpt))
    assert.same({ true, "fusion states complete" }, { fs.is_complete(dir, spec) })
    -- another file is another checkpoint
    proc.spit(spec.gat_ckpt, "other weights")
    assert.same({ false, "the gat_ckpt checkpoint changed since the states were extracted" },
      { fs.is_complete(dir, spec) })
    proc.rmtree(dir)
    proc.rmtree(ckpts)
  end)

  it("refuses tensors that do not line up, naming the file and the tensor", function()
    for _, case in ipairs({
      { { states = graphids.rand(12, 15) },
        "tensor 'labels' must be i64 %[12%] %(one per state%), got i64 %[10%]" },
      { { labels = graphids.zeros({ 12 }, { dtype = "i64" }) }, "tensor 'labels' must be i64 %[10%]" },
      { { states = graphids.rand(10, 3) },
        "tensor 'states' must be f32 or f64 %[N, 15%], got f32 %[10, 3%]" },
      { { labels = graphids.full({ 10 }, 2.7) },
        "tensor 'labels' must be i64 %[10%] %(one per state%), got f32" },
      { { labels = graphids.full({ 10 }, 2, { dtype = "i64" }) },
        "tensor 'labels' must hold 0 %(benign%) or 1" },
      { { window_start = graphids.zeros(10, 2) }, "tensor 'window_start' must be i64 %[10%]" },
    }) do
      local dir = folder(case[1])
      local err = refused(dir)
      assert.matches("train%.safetensors: " .. case[2], err)
      proc.rmtree(dir)
    end
  end)

  it("refuses a manifest that is no object or lists no names, and is_complete says why", function()
    for _, case in ipairs({
      { "5", "must be a JSON object, got 5" },
      { "[]", "must be a JSON object" },
      { '{"test_names":"abc"}', "'test_names' must be a list of test set names, got 'abc'" },
      { '{"test_names":[1]}', "'test_names' must be a list of test set names, got 1" },
      { '{"state_dim":0}', "'state_dim' must be an integer >= 1, got 0" },
    }) do
      local dir = folder(nil, case[2] and case[1])
      assert.matches("manifest%.json: " .. case[2], refused(dir))
      local ok, why = fs.is_complete(dir)
      assert.is_false(ok)
      assert.matches("its manifest%.json " .. case[2], why)
      proc.rmtree(dir)
    end
  end)
end)
