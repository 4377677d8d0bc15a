-- recipe_spec.lua -- `trainer.precision` from a recipe to the Trainer: build_run passes it on
-- (absent gives "32"), `graphids fit --set trainer.precision=bf16-mixed` on the CPU stops with
-- the configuration error before anything is written, and "32" fits.
local config = require "graphids.config"
local gio = require "graphids.io"
local inst = require "graphids.orchestrate.instantiate"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"

local RECIPE = "recipes/stages/gat.lua"

-- The host's fit of the tiny GAT stage into lake with extra --set pairs: out, err, rc.
local function fit(lake, extra)
  local args = { "fit", "--config", RECIPE, "--tla", "lake_root=" .. lake }
  for _, a in ipairs(tiny.cli_sets("gat", extra)) do args[#args + 1] = a end
  return proc.run(args)
end

describe("trainer.precision in a recipe", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  it("reaches the Trainer that build_run makes; absent is 32", function()
    -- build_run builds the stage's data: into the spec's own lake, not ./lake
    local tla = { lake_root = gio.join(tmp, "built") }
    local run = inst.build_run(config.resolve(RECIPE, { tla = tla }))
    assert.equal("32", run.trainer.precision)
    assert.is_nil(run.trainer.autocast_dtype)
    -- nothing touches the device until fit, so a CUDA trainer can be built without a GPU
    for _, pd in ipairs({ { "bf16-mixed", "bf16" }, { "16-mixed", "f16" } }) do
      local r = config.resolve(RECIPE, { tla = tla, set = { { "trainer.precision", pd[1] },
        { "trainer.device", "cuda" } } })
      run = inst.build_run(r)
      assert.equal(pd[1], run.trainer.precision)
      assert.equal(pd[2], run.trainer.autocast_dtype)
    end
  end)

  it("bf16-mixed on the CPU is a configuration error and writes nothing; 32 fits", function()
    local lake = gio.join(tmp, "lake")
    local _, err, rc = fit(lake, { { "trainer.precision", "bf16-mixed" } })
    assert.equal(1, rc, err)
    assert.truthy(err:find("'trainer.precision' 'bf16-mixed' needs a CUDA device (device is 'cpu'): the " ..
      "CPU has no half storage and autocast does nothing there; use precision '32'", 1, true), err)
    assert.is_false(gio.exists(lake))
    local out
    out, err, rc = fit(lake, { { "trainer.precision", "32" }, { "trainer.max_epochs", 1 } })
    assert.equal(0, rc, err)
    assert.truthy(out:find("best checkpoint: ", 1, true), out)
    assert.is_true(gio.exists(gio.join(lake, "synthetic/gat/focal/seed_42/.train_complete")))
  end)
end)
