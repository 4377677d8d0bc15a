-- dataset_cache_spec.lua -- a recipe's dataset: one the catalog lists (with its folder under the
-- data root when one is given), or one a load can serve from a complete cache alone (the cache
-- folder of the recipe's graph parameters holds its metadata).  Otherwise the error names the
-- catalog and the cache file looked for; a misspelt name still gets the catalog's names.
local config = require "graphids.config"
local recipe = require "graphids.config.recipe"
local cache = require "graphids.data.cache"
local catalog = require "graphids.data.catalog"
local gio = require "graphids.io"
local proc = require "trainer.support.proc"

local RECIPE = "recipes/stages/gat.lua"

local function resolve(tla)
  local ok, r = pcall(config.resolve, RECIPE, { tla = tla })
  return ok and r or nil, not ok and tostring(r) or nil
end

-- The cache_metadata.json a load of the recipe with these TLAs reads (its cache options only).
local function metadata_path(tla)
  local a, o = recipe.render(RECIPE, tla).data.init_args, {}
  for k in pairs(cache.OPTION_DEFAULTS) do
    if k ~= "log" and k ~= "build" and k ~= "force" then o[k] = a[k] end
  end
  return gio.join(cache.cache_dir(a.dataset, o), "cache_metadata.json")
end

local function has(s, text) assert.truthy(s:find(text, 1, true), s) end

describe("graphids.config dataset of a recipe", function()
  local tmp, lake
  before_each(function()
    tmp = proc.tmpdir()
    lake = gio.join(tmp, "lake")
  end)
  after_each(function() proc.rmtree(tmp) end)

  it("takes a dataset the catalog does not list when a complete cache of it is there", function()
    local tla = { dataset = "mycar", lake_root = lake }
    local meta = metadata_path(tla)
    local _, err = resolve(tla)
    has(err, "invalid configuration: 'data.init_args.dataset': unknown dataset 'mycar'; known datasets: " ..
      table.concat(catalog.dataset_names(), ", ") .. " (in the catalog " .. catalog.catalog_path() ..
      "); nor is there a dataset cache of it to use instead (" .. meta .. " is not there)")
    -- a cache folder without its metadata is no complete cache (a build writes that last)
    assert(gio.mkdir_p(meta:match("^(.*)/")))
    proc.spit(gio.join(meta:match("^(.*)/"), "train.safetensors"), "x")
    has(select(2, resolve(tla)), " is not there)")
    proc.spit(meta, "{}") -- (the cheap fact only: the load checks the rest)
    local r = assert(resolve(tla))
    assert.equal("mycar", r.validated.data.init_args.dataset)
    -- a cache of other graph parameters is not this one
    local _, other = resolve({ dataset = "mycar", lake_root = lake, seed = 7 })
    has(other, "unknown dataset 'mycar'")
    has(other, metadata_path({ dataset = "mycar", lake_root = lake, seed = 7 }) .. " is not there")
    -- a misspelt name, with no cache, is named with the catalog's names as before
    local _, typo = resolve({ dataset = "hcrl_xx", lake_root = lake })
    has(typo, "'data.init_args.dataset': unknown dataset 'hcrl_xx'; known datasets: hcrl_ch, hcrl_sa")
    -- and so is a name that is no folder name, cache or not
    local _, bad = resolve({ dataset = "my car", lake_root = lake })
    has(bad, "dataset must be one folder name")
  end)

  it("takes a dataset whose folder is not under the data root when a complete cache of it is there",
    function()
    local tla = { dataset = "hcrl_sa", lake_root = lake, data_root = gio.join(tmp, "unmounted") }
    local _, err = resolve(tla)
    has(err, "invalid configuration: 'data.init_args.data_root': the dataset folder " ..
      gio.join(tmp, "unmounted", "hcrl_sa") .. " does not exist; nor is there a dataset cache of it to " ..
      "use instead (" .. metadata_path(tla) .. " is not there)")
    assert(gio.mkdir_p(metadata_path(tla):match("^(.*)/")))
    proc.spit(metadata_path(tla), "{}")
    assert(resolve(tla))
  end)
end)
