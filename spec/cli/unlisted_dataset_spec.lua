-- unlisted_dataset_spec.lua -- `graphids fit`, `test` and `pipeline --dry-run` of a recipe whose
-- dataset the catalog does not list (its cache built with a catalog no longer given): the cache
-- serves them, as it serves a Lua load; without one the recipe is refused naming the catalog and
-- the cache file looked for.
local data = require "graphids.data"
local gio = require "graphids.io"
local proc = require "trainer.support.proc"
local recipe = require "graphids.config.recipe"

local SIM = { synthetic = { train = { "train_01_attack_free", "train_02_with_attacks" },
  test = { "test_01_known_vehicle_known_attack" }, simulated = true, frames = 600, seed = 5 } }
local MINE = { mycar = SIM.synthetic }

describe("graphids fit|test|pipeline of a dataset the catalog does not list", function()
  local tmp, lake
  setup(function() tmp = proc.tmpdir() end)
  teardown(function()
    data.clear_cache_memo()
    proc.rmtree(tmp)
  end)

  local function has(s, text) assert.truthy(s:find(text, 1, true), s) end

  it("trains and tests from its cache, and plans a pipeline of it", function()
    lake = gio.join(tmp, "lake")
    local args = { "--config", "stages/gat.lua", "--tla", "dataset=mycar", "--lake-root", lake,
      "--set", "trainer.max_epochs=1", "--set", "trainer.progress=\"off\"" }
    local function host(cmd, extra)
      local a = { cmd }
      table.move(args, 1, #args, 2, a)
      table.move(extra or {}, 1, #(extra or {}), #a + 1, a)
      return proc.run(a)
    end
    local _, err, rc = host("fit")
    assert.equal(1, rc, err)
    has(err, "'data.init_args.dataset': unknown dataset 'mycar'; known datasets: ")
    has(err, "; nor is there a dataset cache of it to use instead (" .. lake .. "/cache/v1/mycar/")
    -- its cache, of the recipe's graph parameters, built with its catalog (a simulated entry: the
    -- simulator writes its captures into the lake)
    local a, o = recipe.render("recipes/stages/gat.lua", { dataset = "mycar", lake_root = lake })
      .data.init_args, { catalog = MINE }
    for _, k in ipairs({ "lake_root", "window_size", "stride", "val_fraction", "seed", "vocab_from",
      "node_by_id", "scaler", "calibration" }) do
      o[k] = a[k]
    end
    data.build_cache("mycar", o)
    local out
    out, err, rc = host("fit")
    assert.equal(0, rc, err)
    has(out .. err, "trained gat")
    out, err, rc = host("test")
    assert.equal(0, rc, err)
    has(out, "test/")
    out, err, rc = proc.run({ "pipeline", "pipelines/graphids.lua", "--tla", "dataset=mycar", "--lake-root",
      lake, "--dry-run" })
    assert.equal(0, rc, err)
    assert.falsy(err:find("unknown dataset", 1, true), err)
    has(out, "pipeline graphids")
    -- so does one of a listed dataset whose folder is not under the data root (not mounted): by the
    -- cheap fact only, its metadata there
    local gone = { "pipeline", "pipelines/graphids.lua", "--tla", "dataset=hcrl_sa", "--lake-root", lake,
      "--data-root", gio.join(tmp, "unmounted"), "--dry-run" }
    out, err, rc = proc.run(gone)
    assert.equal(1, rc, out .. err)
    has(err, "the dataset folder " .. gio.join(tmp, "unmounted", "hcrl_sa") .. " does not exist; nor is " ..
      "there a dataset cache of it to use instead")
    local meta = gio.join(data.cache_dir("hcrl_sa", o), "cache_metadata.json")
    assert(gio.mkdir_p(meta:match("^(.*)/")))
    proc.spit(meta, "{}")
    out, err, rc = proc.run(gone)
    assert.equal(0, rc, out .. err)
    has(out, "pipeline graphids")
  end)
end)
