local data = require "graphids.data"
local gio = require "graphids.io"
local skip = require "skip"
local env = require "specenv"

local REAL = env.DATA
local tmpdir, err_of = env.tmpdir, env.err_of

describe("graphids.data catalog", function()
  it("lists the catalog's datasets", function()
    assert.same({ "hcrl_ch", "hcrl_sa", "set_01", "set_02", "set_03", "set_04", "synthetic" },
      data.dataset_names())
    assert.same({ "train_01_attack_free", "train_02_with_attacks" }, data.dataset_info("set_02").train)
    assert.equal("test_06_masquerade", data.dataset_info("set_04").test[6])
  end)

  it("gives every capture name of the real datasets its attack type by an explicit rule", function()
    local cases = {
      ["train_01_attack_free/attack-free-kia.csv"] = 0,
      ["train_02_with_attacks/DoS-kia.csv"] = 1,
      ["train_02_with_attacks/fuzzing-sonata.csv"] = 2,
      ["test_02_unknown_vehicle_known_attack/fuzzing-Spark.csv"] = 2,
      ["test_03_known_vehicle_unknown_attack/malfunction-kia.csv"] = 6,
      ["train_01_attack_free/accessory-1.csv"] = 0, -- a driving state, not an attack
      ["train_02_with_attacks/targeted_payload_fuzzing-2.csv"] = 7,
      ["train_02_with_attacks/untargeted_payload_fuzzing-1.csv"] = 8,
      ["test_04_unknown_vehicle_unknown_attack/systematic-4.csv"] = 9,
      ["test_04_unknown_vehicle_unknown_attack/standstill-1.csv"] = 10,
      ["test_03_known_vehicle_unknown_attack/rpm-accessory-1.csv"] = 4,
      ["x/speed-3.csv"] = 11, ["x/masquerade_2.csv"] = 12, ["x/suppress-1.csv"] = 13,
      ["test_01_DoS/capture.csv"] = 1, -- the folder decides when the file name says nothing
      ["test_03_gear_spoofing/x.csv"] = 3, ["test_04_rpm_spoofing/x.csv"] = 4,
      ["x/Fuzzy_dataset.csv"] = 2, ["x/flooding.log"] = 5, ["x/gear-v1.csv"] = 3,
      ["x/replay-v3.csv"] = 14, ["x/suspension-v2.csv"] = 15,
      ["x/normal_run.csv"] = 0, ["train_02_with_attacks/unknown.csv"] = 0,
      ["x/dosage.csv"] = 0, -- tokens, not substrings
      ["Application_Layer/fuzz_1ms_ID_and_Data.log"] = 2, -- the J1939 attack data's name
    }
    local paths = {}
    for p in pairs(cases) do
      paths[#paths + 1] = p
    end
    table.sort(paths)
    for _, p in ipairs(paths) do
      local code, name = data.attack_type_of(p)
      assert.equal(cases[p], code, p)
      assert.equal(data.ATTACK_TYPES[code], name)
    end
    -- normal by a rule (a capture without labels may be taken as normal traffic), or by default
    local catalog = require "graphids.data.catalog"
    assert.same({ true, true, true, true, false, false, false },
      { catalog.named_normal("train_01_attack_free/x.log"), catalog.named_normal("t/normal-drive.log"),
        catalog.named_normal("test_01_DoS/benign/x.log"), catalog.named_normal("x/accessory-1.log"),
        catalog.named_normal("train_02_with_attacks/capture.log"),
        catalog.named_normal("test_01_known_vehicle_known_attack/capture.log"),
        catalog.named_normal("train_01_attack_free/DoS-1.log") })
    assert.equal(7, data.attack_type_code("targeted_payload_fuzzing"))
    assert.is_nil(data.attack_type_code("nope"))
    -- codes are stable: the reference's 0..6 unchanged
    assert.same({ "dos", "fuzzing", "gear", "rpm", "flooding", "malfunction" },
      { table.unpack(data.ATTACK_TYPES, 1, 6) })
  end)

  it("refuses unknown names, missing roots, folders and catalogs, empty files and dangling links", function()
    assert.matches("unknown dataset 'hcrl'; known datasets: hcrl_ch, hcrl_sa, set_01",
      err_of(data.resolve_dataset, "hcrl", { data_root = "/nonexistent" }))
    local old = os.getenv("GRAPHIDS_DATA_ROOT")
    if old == nil then
      assert.matches("no data root; pass %-%-data%-root DIR", err_of(data.resolve_dataset, "hcrl_sa"))
    end
    local root = tmpdir()
    assert.matches("folder " .. root .. "/hcrl_sa not found",
      err_of(data.resolve_dataset, "hcrl_sa", { data_root = root }))
    assert(gio.mkdir_p(gio.join(root, "hcrl_sa/train_01_attack_free")))
    assert.matches("train folder .*train_01_attack_free holds no capture files",
      err_of(data.resolve_dataset, "hcrl_sa", { data_root = root }))
    -- one train folder with captures is not enough: the other's traffic would be missing
    assert(gio.atomic_write(gio.join(root, "hcrl_sa/train_01_attack_free/normal.csv"), "1.0,316,AA,0\n"))
    assert.matches("train folder .*train_02_with_attacks is missing",
      err_of(data.resolve_dataset, "hcrl_sa", { data_root = root }))
    assert(gio.mkdir_p(gio.join(root, "hcrl_sa/train_02_with_attacks")))
    assert.matches("train folder .*train_02_with_attacks holds no capture files",
      err_of(data.resolve_dataset, "hcrl_sa", { data_root = root }))
    -- a folder named like a capture is named, not skipped
    assert(gio.mkdir_p(gio.join(root, "hcrl_sa/train_02_with_attacks/DoS-dir.csv")))
    assert.matches("capture file .*DoS%-dir.csv is a folder, not a regular file",
      err_of(data.resolve_dataset, "hcrl_sa", { data_root = root }))
    assert(gio.remove_tree(gio.join(root, "hcrl_sa/train_02_with_attacks/DoS-dir.csv")))
    assert(gio.atomic_write(gio.join(root, "hcrl_sa/train_02_with_attacks/DoS-x.csv"), ""))
    assert.matches("DoS%-x.csv is empty %(0 bytes%)",
      err_of(data.resolve_dataset, "hcrl_sa", { data_root = root }))
    assert(gio.atomic_write(gio.join(root, "hcrl_sa/train_02_with_attacks/DoS-x.csv"), "1.0,316,AA,1\n"))
    -- a link to a capture that is gone is named, not left out
    assert(os.execute("ln -s /nonexistent/x.csv " .. gio.join(root, "hcrl_sa/train_02_with_attacks/zzz.csv")))
    assert.matches("capture file .*zzz.csv cannot be read %(EIO: stat: .*zzz.csv' is a symbolic link to " ..
      "nothing",
      err_of(data.resolve_dataset, "hcrl_sa", { data_root = root }))
    assert.matches("unknown option 'root'", err_of(data.resolve_dataset, "hcrl_sa", { root = root }))
    -- a catalog option that names nothing says so (not "set GRAPHIDS_CATALOG")
    assert.matches("dataset catalog " .. root .. "/x.lua %(the catalog option%) does not exist",
      err_of(data.resolve_dataset, "synthetic", { lake_root = root, catalog = root .. "/x.lua" }))
    assert.matches("catalog must be a table or the path of a Lua file returning one, got number",
      err_of(data.resolve_dataset, "synthetic", { lake_root = root, catalog = 3 }))
    gio.remove_tree(root)
  end)

  it("resolves the real hcrl_sa and set_02 folders with their present test sets", function()
    if skip.unless(gio.is_dir(REAL), "real CAN data not found at " .. REAL) then
      return
    end
    local ds = data.resolve_dataset("hcrl_sa", { data_root = REAL })
    assert.equal(4, #ds.train)
    assert.same({ "train_01_attack_free/attack-free-kia.csv", "train_01_attack_free/attack-free-sonata.csv",
      "train_02_with_attacks/DoS-kia.csv", "train_02_with_attacks/fuzzing-sonata.csv" },
      { ds.train[1].name, ds.train[2].name, ds.train[3].name, ds.train[4].name })
    assert.same({ 0, 0, 1, 2 }, { ds.train[1].attack_type, ds.train[2].attack_type,
      ds.train[3].attack_type, ds.train[4].attack_type })
    assert.equal(4, #ds.tests)
    assert.equal("test_04_unknown_vehicle_unknown_attack", ds.tests[4].name)
    assert.is_true(ds.raw_bytes > 60e6)
    local s2 = data.resolve_dataset("set_02", { data_root = REAL })
    assert.equal(1, #s2.tests) -- only test_04 is shipped
    assert.same({ 1, 10 }, { s2.tests[1].files[1].attack_type, s2.tests[1].files[2].attack_type })
  end)

  it("generates the synthetic dataset under the lake root, deterministically", function()
    local lake = tmpdir()
    local cat = { synthetic = { train = { "train_01_attack_free", "train_02_with_attacks" },
      test = { "test_01_known_vehicle_known_attack" }, simulated = true, frames = 300, seed = 5 } }
    local ds = data.resolve_dataset("synthetic", { lake_root = lake, catalog = cat })
    assert.equal(gio.join(lake, "raw/synthetic-frames300-seed5"), ds.dir)
    assert.is_true(#ds.train >= 2)
    assert.equal(1, #ds.tests)
    local first = gio.read_file(ds.train[1].path)
    gio.remove_tree(gio.join(lake, "raw"))
    local again = data.resolve_dataset("synthetic", { lake_root = lake, catalog = cat })
    assert.equal(first, gio.read_file(again.train[1].path))
    assert.same({ ".synthetic-frames300-seed5.lock", "synthetic-frames300-seed5" },
      gio.list_dir(gio.join(lake, "raw")))
    gio.remove_tree(lake)
  end)

  it("keeps the captures of each simulation apart, and names a cache built from another's", function()
    local lake = tmpdir()
    local function cat(frames, seed)
      return { synthetic = { train = { "train_01_attack_free", "train_02_with_attacks" },
        test = { "test_01_known_vehicle_known_attack" }, simulated = true, frames = frames, seed = seed } }
    end
    local small = data.resolve_dataset("synthetic", { lake_root = lake, catalog = cat(600, 5) })
    -- another frame count or seed is another folder, generated for it: never the first one's
    local longer = data.resolve_dataset("synthetic", { lake_root = lake, catalog = cat(700, 5) })
    local reseeded = data.resolve_dataset("synthetic", { lake_root = lake, catalog = cat(600, 6) })
    assert.equal(gio.join(lake, "raw/synthetic-frames700-seed5"), longer.dir)
    assert.equal(gio.join(lake, "raw/synthetic-frames600-seed6"), reseeded.dir)
    assert.are_not.equal(gio.read_file(small.train[1].path), gio.read_file(longer.train[1].path))
    assert.are_not.equal(gio.read_file(small.train[1].path), gio.read_file(reseeded.train[1].path))
    -- the cache folder names the graph parameters only: one built from the 600-frame captures
    -- is named for a catalog of 700 frames, and rebuilt from the 700-frame captures before a
    -- data module reads it (every load_cache: stages, the extraction, graphids data build)
    local copts = { lake_root = lake, catalog = cat(600, 5), window_size = 100, stride = 100,
      val_fraction = 0.2, seed = 42, vocab_from = "benign", node_by_id = true, scaler = "per_file",
      calibration = 0.1 }
    data.build_cache("synthetic", copts)
    local catalog = require "graphids.data.catalog"
    assert.is_nil(catalog.stale_cache("synthetic", copts))
    assert.is_nil(catalog.rebuild_stale_cache("synthetic", copts))
    copts.catalog = cat(700, 5)
    local dir = data.cache_dir("synthetic", copts)
    local msg, at = catalog.stale_cache("synthetic", copts)
    assert.equal(string.format("the dataset cache %s was built from the captures in %s, not from those " ..
      "the catalog describes now (simulated with frames=700, seed=5: %s)", dir, small.dir, longer.dir), msg)
    assert.equal(dir, at)
    local said = {}
    assert.equal(msg, catalog.rebuild_stale_cache("synthetic", copts, function(s) said[#said + 1] = s end))
    assert.same({ msg .. ": rebuilding it from those" }, said)
    local meta = assert(gio.read_json(gio.join(dir, "cache_metadata.json")))
    assert.equal(longer.dir, meta.raw_dir)
    assert.is_nil(catalog.stale_cache("synthetic", copts))
    -- a cache of the single raw folder of earlier versions is another simulation's too
    meta.raw_dir = gio.join(lake, "raw", "synthetic")
    assert(gio.write_json(gio.join(dir, "cache_metadata.json"), meta))
    assert.truthy((catalog.stale_cache("synthetic", copts)))
    gio.remove_tree(lake)
  end)

  -- The cache folder names the graph parameters only: captures changed since (or read from
  -- another data root) would be served as the cache's.  The metadata records each capture's
  -- size, and a difference makes the cache stale (a reviewer's repro: a cache of a data root's
  -- full captures stayed 'up to date' for another root's slices, and for a deleted test set).
  it("names a cache whose captures were changed, added, removed or read from another root", function()
    local lake, root = tmpdir(), tmpdir()
    local cat = { synthetic = { train = { "train_01_attack_free", "train_02_with_attacks" },
      test = { "test_01_known_vehicle_known_attack" }, simulated = true, frames = 600, seed = 5 } }
    local sim = data.resolve_dataset("synthetic", { lake_root = lake, catalog = cat })
    -- the same captures under a data root of their own: <root>/synthetic
    local mine = gio.join(root, "synthetic")
    assert(os.execute(string.format("cp -r '%s' '%s'", sim.dir, mine)))
    local copts = { lake_root = lake, data_root = root, catalog = cat, window_size = 100, stride = 100,
      val_fraction = 0.2, seed = 42, vocab_from = "benign", node_by_id = true, scaler = "per_file",
      calibration = 0.1 }
    data.build_cache("synthetic", copts)
    local catalog = require "graphids.data.catalog"
    local dir = data.cache_dir("synthetic", copts)
    local meta = assert(gio.read_json(gio.join(dir, "cache_metadata.json")))
    local first = sim.train[1]
    assert.equal(first.size, meta.source_bytes[first.name])
    assert.is_nil(catalog.stale_cache("synthetic", copts))
    -- rewritten with another length
    local path = gio.join(mine, first.name)
    local text = assert(gio.read_file(path))
    local cut = text:sub(1, #text - #text:match("[^\n]*\n$"))
    local fh = assert(io.open(path, "w"))
    fh:write(cut)
    fh:close()
    local msg = catalog.stale_cache("synthetic", copts)
    assert.equal(string.format("the dataset cache %s was built from other captures than those in %s now " ..
      "(%s has %d bytes, %d when it was built)", dir, mine, first.name, #cut, first.size), msg)
    -- rebuilt from them, with the warning
    local said = {}
    assert.equal(msg, catalog.rebuild_stale_cache("synthetic", copts, function(m) said[#said + 1] = m end))
    assert.equal(1, #said)
    assert.is_nil(catalog.stale_cache("synthetic", copts))
    -- a capture emptied: no longer a capture the build can read, so changed too
    local f2 = gio.join(mine, sim.train[2].name)
    local keep = assert(gio.read_file(f2))
    assert(io.open(f2, "w")):close()
    assert.truthy(catalog.stale_cache("synthetic", copts):find("is empty", 1, true))
    fh = assert(io.open(f2, "w"))
    fh:write(keep)
    fh:close()
    assert.is_nil(catalog.stale_cache("synthetic", copts))
    -- a test set's folder gone
    local t1 = sim.tests[1]
    gio.remove_tree(gio.join(mine, t1.name))
    assert.truthy(catalog.stale_cache("synthetic", copts):find(t1.files[1].name .. " is gone", 1, true))
    -- a cache without the record (built before it was kept) is not checked
    meta = assert(gio.read_json(gio.join(dir, "cache_metadata.json")))
    meta.source_bytes = nil
    assert(gio.write_json(gio.join(dir, "cache_metadata.json"), meta))
    assert.is_nil(catalog.stale_cache("synthetic", copts))
    -- nor one whose captures cannot be resolved now (a lake moved without its data root)
    gio.remove_tree(root)
    meta.source_bytes = { ["train_01_attack_free/x.csv"] = 1 }
    assert(gio.write_json(gio.join(dir, "cache_metadata.json"), meta))
    copts.data_root = gio.join(root, "gone")
    local stale, at, skipped = catalog.changed_captures("synthetic", { data_root = copts.data_root,
      lake_root = lake, catalog = { synthetic = { train = { "train_01_attack_free" } } } }, dir, meta)
    assert.is_nil(stale)
    -- (and says why: the load says it once)
    assert.same({ dir, "the folder of its captures, " .. gio.join(copts.data_root, "synthetic") ..
      ", is not there" }, { at, skipped })
    gio.remove_tree(lake)
  end)
end)
