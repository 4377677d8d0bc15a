-- recipe_safety_spec.lua -- what a recipe or a configuration cannot do to the host or the lake:
-- a recipe gets copies of the standard libraries (patching one changes nothing outside it), a
-- dataset name is one folder name (the run dir stays in the lake), catalog entries are checked
-- key by key, and bad values are shown as values.
local config = require "graphids.config"
local gio = require "graphids.io"
local proc = require "trainer.support.proc"

local function resolve_err(set, tla, path)
  local ok, err = pcall(config.resolve, path or "recipes/stages/gat.lua", { tla = tla, set = set })
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("graphids.config: recipes and configurations stay in their bounds", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  it("gives a recipe copies of string, table, math and utf8: it cannot patch the host's", function()
    -- (put back whatever a recipe patched, so a failure here does not spread to other specs)
    local saved = { math.type, string.rep, table.concat, utf8.char }
    finally(function()
      math.type, string.rep, table.concat, utf8.char = table.unpack(saved) -- luacheck: ignore 122
    end)
    local leak = gio.join(tmp, "leak.lua")
    local gat = gio.join(proc.cwd, "recipes/stages/gat.lua")
    proc.spit(leak, table.concat({
      "math.type = function(x) return type(x) == 'number' and 'integer' or nil end",
      "string.rep = function() return 'patched' end",
      "table.concat = function() return 'patched' end",
      "utf8.char = function() return 'patched' end",
      "local gat = import(" .. string.format("%q", gat) .. ")",
      "return function(tla)",
      "  local r = gat(tla)",
      "  r.trainer.max_epochs = 1.5",
      "  r.trainer.default_root_dir = ''",
      "  return r",
      "end",
    }, "\n"))
    local err = resolve_err(nil, nil, leak)
    -- validated with the host's math.type: 1.5 is no integer
    assert.truthy(err:find("'trainer.max_epochs' must be an integer >= 1, got 1.5", 1, true), err)
    assert.equal("float", math.type(1.5))
    assert.equal("aa", string.rep("a", 2))
    assert.equal("a,b", table.concat({ "a", "b" }, ","))
    assert.equal("A", utf8.char(65))
    -- and a later stage is validated as before
    err = resolve_err({ { "trainer.max_epochs", 1.5 } }, { lake_root = gio.join(tmp, "lake") })
    assert.truthy(err:find("'trainer.max_epochs' must be an integer >= 1, got 1.5", 1, true), err)
    -- a recipe still reads them (and the string methods) as before
    local ok = gio.join(tmp, "reads.lua")
    proc.spit(ok, "return {seed_everything = math.tointeger(2.0) + #string.rep('x', 3) + #('ab'):upper()}")
    local r = require("graphids.config.recipe").render(ok)
    assert.equal(7, r.seed_everything)
  end)

  it("keeps a dataset name to one folder name: the run dir stays inside the lake", function()
    local lake = gio.join(tmp, "lake_names")
    for _, name in ipairs({ "../escape", "a/b", "..", ".", "" }) do
      local cat = { synthetic = { train = { "t" }, simulated = true } }
      if name ~= "" then cat[name] = { train = { "t" }, simulated = true } end
      local err = resolve_err({ { "data.init_args.catalog", cat } }, { lake_root = lake, dataset = name })
      assert.truthy(err:find("dataset must be one folder name (letters, digits, '_', '-' and '.'; not '.' " ..
        "or '..') (--tla dataset), got '" .. name .. "'", 1, true), err)
    end
    -- a catalog that names such a dataset is refused where it is given
    local err = resolve_err({ { "data.init_args.catalog", { synthetic = { train = { "t" }, simulated = true },
      ["../escape"] = { train = { "t" }, simulated = true } } } }, { lake_root = lake })
    assert.truthy(err:find("invalid configuration: 'data.init_args.catalog': dataset name '../escape' is " ..
      "not one folder name", 1, true), err)
    assert.is_false(gio.exists(gio.join(tmp, "escape")))
    -- the catalog's own check, for every caller of the data module
    local catalog = require "graphids.data.catalog"
    local ok, cerr = pcall(catalog.resolve_dataset, "../x", { lake_root = lake,
      catalog = { ["../x"] = { train = { "t" }, simulated = true } } })
    assert.is_false(ok)
    assert.truthy(tostring(cerr):find("dataset name '../x' is not one folder name", 1, true), tostring(cerr))
    assert.is_false(gio.exists(lake))
    -- names of letters, digits, '_', '-' and '.' are fine
    local r = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = lake, dataset = "my-set_2.v1" },
      set = { { "data.init_args.catalog", { ["my-set_2.v1"] = { train = { "t" }, simulated = true } } } } })
    assert.equal(lake .. "/my-set_2.v1/gat/focal/seed_42", r.run_dir)
  end)

  it("takes only the known scale, graphs and loss: they name the run dir's variant", function()
    local lake = gio.join(tmp, "lake_variant")
    local states = { "recipes/stages/fusion.lua", { states_dir = gio.join(tmp, "states") } }
    local kd = { "recipes/stages/gat_kd.lua", { teacher_ckpt = gio.join(tmp, "t.safetensors") } }
    local ex = { "recipes/stages/fusion_states.lua", {} }
    local cases = {
      -- (the fusion's loss and the student's scale reach no model preset that would refuse them;
      -- every stage recipe checks them first, the vgae/gat/dgi ones below)
      { states, "loss", "../../../../../escaped", "focal, ce, weighted_ce" },
      { states, "loss", "ce_large", "focal, ce, weighted_ce" }, -- loss=ce scale=large's folder
      { states, "scale", "huge", "small, large" },
      { states, "graphs", "foo", "portable, reference" },
      { states, "graphs", "", "portable, reference" },
      { kd, "scale", "/../../../../../x", "small, large" },
      { kd, "scale", "huge", "small, large" },
      { ex, "loss", "../../z", "focal, ce, weighted_ce" },
      { { "recipes/stages/gat.lua", {} }, "scale", "huge", "small, large" },
      { { "recipes/stages/vgae.lua", {} }, "scale", "huge", "small, large" },
      { { "recipes/stages/dgi.lua", {} }, "graphs", "all", "portable, reference" },
      { { "recipes/stages/gat.lua", {} }, "graphs", "foo", "portable, reference" },
    }
    for _, c in ipairs(cases) do
      local tla = { lake_root = lake }
      for k, v in pairs(c[1][2]) do tla[k] = v end
      tla[c[2]] = c[3]
      local ok, err = pcall(require("graphids.config.recipe").render, c[1][1], tla)
      assert.is_false(ok, c[1][1] .. " " .. c[2] .. "=" .. c[3])
      local want = string.format("%s must be one of %s (--tla %s), got '%s'", c[2], c[4], c[2], c[3])
      assert.truthy(tostring(err):find(want, 1, true), tostring(err))
    end
    assert.is_false(gio.exists(lake))
    -- the known values still name their folders
    local r = config.resolve("recipes/stages/fusion.lua", { tla = { lake_root = lake, states_dir = "s",
      loss = "ce", scale = "large", graphs = "reference" } })
    assert.equal(lake .. "/synthetic/fusion/weighted_avg_ce_large_reference_graphs/seed_42", r.run_dir)
  end)

  it("checks catalog entries key by key, with the full key path and a suggestion", function()
    local lake = gio.join(tmp, "lake_cat")
    local function cat_err(cat)
      return resolve_err({ { "data.init_args.catalog", cat } }, { lake_root = lake })
    end
    local train = { "train_01_attack_free" }
    local K = "data.init_args.catalog.synthetic"
    local function list_of(key, extra)
      return string.format("'%s.%s' must be a list of sub-folder names%s", K, key, extra)
    end
    local function folder(key, got)
      return string.format("'%s.%s' must be one sub-folder name (no '/', not '.' or '..'), got %s", K, key,
        got)
    end
    local cases = {
      { { synthetic = 5 }, "'" .. K .. "' must be a table of keys (train, test, source, simulated, " ..
        "frames, seed), got 5" },
      { { synthetic = { train = train, simulated = true, frams = 1500 } },
        string.format("unknown key '%s.frams' (did you mean '%s.frames'?)", K, K) },
      { { synthetic = { train = train, simulated = true, sed = 3 } },
        string.format("unknown key '%s.sed' (did you mean '%s.seed'?)", K, K) },
      { { synthetic = { train = train, simulated = true, frames = 0 } },
        "'" .. K .. ".frames' must be an integer >= 1, got 0" },
      { { synthetic = { train = train, simulated = true, seed = 1.5 } },
        "'" .. K .. ".seed' must be an integer >= 0, got 1.5" },
      { { synthetic = { train = train, simulated = "yes" } },
        "'" .. K .. ".simulated' must be true or false, got 'yes' (a string)" },
      { { synthetic = { train = {}, simulated = true } },
        list_of("train", " (at least one), got an empty list") },
      { { synthetic = { train = "train_01", simulated = true } },
        list_of("train", " (at least one), got 'train_01' (a string)") },
      { { synthetic = { train = { "../../x" }, simulated = true } },
        folder("train[1]", "'../../x' (a string)") },
      { { synthetic = { train = train, test = { 3 }, simulated = true } }, folder("test[1]", "3") },
      { 5, "'data.init_args.catalog' must be a table of datasets or the path of a Lua file returning one, " ..
        "got 5" },
    }
    for _, c in ipairs(cases) do
      local err = cat_err(c[1])
      assert.truthy(err:find("invalid configuration: " .. c[2], 1, true),
        "expected '" .. c[2] .. "' in: " .. err)
    end
    -- a catalog file is checked the same way, naming the file
    local file = gio.join(tmp, "catalog.lua")
    proc.spit(file, "return {synthetic = {train = {'t'}, simulated = true, frams = 1}}")
    local err = cat_err(file)
    assert.truthy(err:find("invalid configuration: 'data.init_args.catalog': dataset catalog " .. file ..
      ": unknown key 'synthetic.frams' (did you mean 'synthetic.frames'?)", 1, true), err)
    -- one that fails as it runs keeps its own line: the user wrote that file
    local broken = gio.join(tmp, "broken_catalog.lua")
    proc.spit(broken, "local t = {}\nreturn t.synthetic.train\n")
    err = cat_err(broken)
    assert.truthy(err:find("invalid configuration: 'data.init_args.catalog': " .. broken ..
      ":2: attempt to index a nil value", 1, true), err)
    -- the shipped catalog passes
    assert.is_nil(require("graphids.data.catalog").catalog_problem(require("graphids.data.catalog")
      .dataset_catalog(), ""))
  end)

  it("puts runs of the lake root / under /<dataset>, and shows a bad value as a value", function()
    local r = config.resolve("recipes/stages/gat.lua", { tla = { lake_root = "/" } })
    assert.equal("/synthetic/gat/focal/seed_42", r.run_dir)
    local err = resolve_err({ { "trainer.max_time", { a = 1 } } }, { lake_root = gio.join(tmp, "l") })
    assert.truthy(err:find("'trainer.max_time' must be a number of seconds > 0, got a table {\"a\":1}", 1,
      true), err)
    err = resolve_err({ { "trainer.gradient_clip_val", { 1 } } }, { lake_root = gio.join(tmp, "l") })
    assert.truthy(err:find("'trainer.gradient_clip_val' must be a number > 0 (or absent), got a table [1]", 1,
      true), err)
  end)
end)
