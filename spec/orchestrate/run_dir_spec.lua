-- run_dir_spec.lua -- graphids.orchestrate.run_dir on its own: the set-aside of a previous run's
-- results while a fit commits removes the `.stale-*` folders a killed commit left, even when
-- that commit set everything aside and nothing is left to move.
local gio = require "graphids.io"
local rd = require "graphids.orchestrate.run_dir"
local proc = require "trainer.support.proc"

describe("graphids.orchestrate.run_dir", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  it("removes the .stale-* folders a killed commit left, though nothing is left to move", function()
    -- a commit killed after it moved every result aside: the old predictions in the run dir's
    -- .stale-1, the old checkpoints in checkpoints/.stale-1, nothing else
    local dir = gio.join(tmp, "killed")
    assert(gio.mkdir_p(gio.join(dir, ".stale-1/7")))
    proc.spit(gio.join(dir, ".stale-1/7/train.safetensors"), "old predictions")
    assert(gio.mkdir_p(gio.join(dir, "checkpoints/.stale-1")))
    proc.spit(gio.join(dir, "checkpoints/.stale-1/1"), "old best")
    assert(gio.mkdir_p(gio.join(dir, "checkpoints/.stale-2")))
    local aside = rd.set_aside({ gio.join(dir, ".train_complete"), gio.join(dir, "predictions"),
      gio.join(dir, "checkpoints/best_model.safetensors"), gio.join(dir, "checkpoints/last.safetensors") })
    assert.same({}, aside:discard())
    assert.same({ "checkpoints" }, gio.list_dir(dir))
    assert.same({}, gio.list_dir(gio.join(dir, "checkpoints")))
    -- beside a result that is moved, as before
    assert(gio.mkdir_p(gio.join(dir, ".stale-3")))
    proc.spit(gio.join(dir, ".train_complete"), "")
    aside = rd.set_aside({ gio.join(dir, ".train_complete") })
    assert.same({ ".stale-1", "checkpoints" }, (function()
      local l = gio.list_dir(dir)
      table.sort(l)
      return l
    end)())
    aside:discard()
    assert.same({ "checkpoints" }, gio.list_dir(dir))
  end)
end)
