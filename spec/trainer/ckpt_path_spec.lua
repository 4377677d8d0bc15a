-- ckpt_path_spec.lua -- Trainer:fit / Trainer:test {ckpt_path = "last" | "best"}, resolved as
-- Lightning resolves them: "last" the checkpoint callbacks' last file (none: a warning, nothing
-- loaded), "best" the checkpoint callback's best file (none: an error saying what to pass).
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local function model(seed)
  return tiny.MLP({ in_dim = 4, hidden = 8, seed = seed or 3 })
end

local function dm()
  return tiny.DataModule({ n = 48, batch_size = 8, seed = 2 })
end

describe("Trainer ckpt_path = 'last' | 'best'", function()
  local dir, root, said
  before_each(function()
    dir = proc.tmpdir()
    root = gio.join(dir, "run")
    said = {}
  end)
  after_each(function() proc.rmtree(dir) end)

  local function trainer(max_epochs, opts)
    local o = { max_epochs = max_epochs, default_root_dir = root, progress = "off",
      log = function(msg) said[#said + 1] = msg end }
    for k, v in pairs(opts or {}) do o[k] = v end
    return Trainer(o)
  end

  it("'last' resumes from the last checkpoint of the trainer's folder, and starts afresh without one",
    function()
      local t = trainer(2)
      t:fit(model(), dm(), { ckpt_path = "last" }) -- (set before the first fit: no error)
      assert.equal(2, t.epoch)
      assert.is_nil(t.resumed_from)
      assert.truthy(table.concat(said, "\n"):find('Trainer:fit: ckpt_path = "last", but there is no last ' ..
        "checkpoint (looked for " .. gio.join(root, "checkpoints", "last.safetensors") ..
        "); no checkpoint is loaded", 1, true), table.concat(said, "\n"))
      local t2 = trainer(3)
      t2:fit(model(), dm(), { ckpt_path = "last" })
      assert.equal(gio.join(root, "checkpoints", "last.safetensors"), t2.resumed_from)
      assert.equal(3, t2.epoch)
      assert.equal(2, ckpt.load(gio.join(root, "checkpoints", "last.safetensors")).epoch)
    end)

  it("'best' tests the checkpoint callback's best file, as its path does", function()
    local t = trainer(2)
    t:fit(model(), dm())
    local best = t:checkpoint_callback():best_model_path()
    local by_path = trainer(1):test(model(7), dm(), { ckpt_path = best })
    assert.same(by_path, t:test(model(7), dm(), { ckpt_path = "best" }))
    -- a new trainer of that folder (its callback's dirpath not set by a fit yet) finds it too
    assert.same(by_path, trainer(1):test(model(7), dm(), { ckpt_path = "best" }))
    -- and "last" tests the last file
    local by_last = trainer(1):test(model(7), dm(), { ckpt_path = gio.join(root, "checkpoints",
      "last.safetensors") })
    assert.same(by_last, trainer(1):test(model(7), dm(), { ckpt_path = "last" }))
  end)

  it("says what to pass when there is no best file, and tests the weights in memory without a last",
    function()
      assert.equal('Trainer:test: ckpt_path = "best" needs a ModelCheckpoint that writes files (it has no ' ..
        "dirpath and the Trainer no default_root_dir); pass the checkpoint's path",
        err_of(function()
          Trainer { progress = "off", callbacks = { cb.ModelCheckpoint {} } }:test(model(), dm(),
            { ckpt_path = "best" })
        end))
      assert.equal('Trainer:test: ckpt_path = "best" needs a ModelCheckpoint that writes files (the ' ..
        "Trainer has none); pass the checkpoint's path",
        err_of(function()
          Trainer { progress = "off" }:test(model(), dm(), { ckpt_path = "best" })
        end))
      local want = 'Trainer:fit: ckpt_path = "best": there is no best checkpoint ' ..
        gio.join(root, "checkpoints", "best_model.safetensors") .. " yet"
      local err = err_of(function() trainer(1):fit(model(), dm(), { ckpt_path = "best" }) end)
      assert.equal(want, err:sub(1, #want))
      assert.is_false(gio.exists(root)) -- refused before anything was written
      local t = trainer(1)
      local in_memory = Trainer { progress = "off" }:test(model(5), dm())
      assert.same(in_memory, t:test(model(5), dm(), { ckpt_path = "last" }))
      assert.truthy(said[1]:find('Trainer:test: ckpt_path = "last", but there is no last checkpoint', 1,
        true))
      -- with checkpointing off, the warning says so (the Trainer's default_root_dir is there)
      trainer(1, { enable_checkpointing = false }):test(model(5), dm(), { ckpt_path = "last" })
      assert.truthy(said[2]:find("the Trainer has no checkpoint callback (enable_checkpointing is " ..
        "false and none is listed)", 1, true), said[2])
    end)
end)
