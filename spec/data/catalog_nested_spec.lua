-- catalog_nested_spec.lua -- captures in folders inside a dataset's sub-folders: read at any
-- depth, as the reference reads <sub-folder>/**/*.csv, in the order of their paths, named by
-- their path under the dataset's folder, typed by their file name else their folders; a test
-- folder without a capture, a link that does not resolve and a folder or capture reached twice
-- (in one sub-folder or across them: a test capture that is a training capture) are named.
-- (A reviewer's repro: captures in train_02/sub and test_01/kia were left out silently, and a
-- cache built without them stayed up to date.)
local data = require "graphids.data"
local catalog = require "graphids.data.catalog"
local gio = require "graphids.io"
local env = require "specenv"

local tmpdir, err_of, quote = env.tmpdir, env.err_of, env.quote

local CAT = { mine = { train = { "train_01_attack_free", "train_02_with_attacks" },
  test = { "test_01_DoS", "test_02_fuzzing" } } }

-- A labelled 4-column capture of n frames (attack frames labelled 1 when attack).
local function capture(path, n, attack, id)
  assert(gio.mkdir_p(path:match("^(.*)/[^/]+$")))
  local rows = {}
  for i = 1, n do
    rows[i] = string.format("%.3f,%03X,%02X%02X,%d", i * 0.01, (id or 0x100) + i % 4, i % 256, (i * 7) % 256,
      attack and i % 2 or 0)
  end
  assert(gio.atomic_write(path, table.concat(rows, "\n") .. "\n"))
end

local function names(files)
  local out = {}
  for i, f in ipairs(files) do out[i] = f.name end
  return out
end

describe("graphids.data catalog: captures in nested folders", function()
  local root, ds_dir
  before_each(function()
    root = tmpdir()
    ds_dir = gio.join(root, "mine")
    capture(gio.join(ds_dir, "train_01_attack_free/a.csv"), 30)
    capture(gio.join(ds_dir, "train_01_attack_free/a/x.csv"), 30)
    capture(gio.join(ds_dir, "train_02_with_attacks/DoS-1.csv"), 30, true)
    capture(gio.join(ds_dir, "train_02_with_attacks/sub/deeper/targeted_payload_fuzzing-2.csv"), 30, true)
    -- hidden folders are not read (a .git, a sync tool's)
    capture(gio.join(ds_dir, "train_02_with_attacks/.hidden/DoS-9.csv"), 30, true)
    capture(gio.join(ds_dir, "test_01_DoS/kia/capture.csv"), 30, true)
    capture(gio.join(ds_dir, "test_02_fuzzing/spark/fuzzy-1.csv"), 30, true)
  end)
  after_each(function() gio.remove_tree(root) end)

  it("reads every sub-folder's captures at any depth, sorted by path, typed by file then folders", function()
    local ds = data.resolve_dataset("mine", { data_root = root, catalog = CAT })
    -- (sorted by path: a.csv before a/x.csv, as '.' sorts before '/')
    assert.same({ "train_01_attack_free/a.csv", "train_01_attack_free/a/x.csv",
      "train_02_with_attacks/DoS-1.csv", "train_02_with_attacks/sub/deeper/targeted_payload_fuzzing-2.csv" },
      names(ds.train))
    assert.same({ 0, 0, 1, 7 }, { ds.train[1].attack_type, ds.train[2].attack_type, ds.train[3].attack_type,
      ds.train[4].attack_type })
    assert.equal(gio.join(ds_dir, "train_02_with_attacks/sub/deeper/targeted_payload_fuzzing-2.csv"),
      ds.train[4].path)
    -- a test folder whose captures lie in a folder of their own is a test set, typed by the
    -- test folder's name when neither the file nor its own folder says
    assert.same({ "test_01_DoS", "test_02_fuzzing" }, { ds.tests[1].name, ds.tests[2].name })
    assert.same({ "test_01_DoS/kia/capture.csv" }, names(ds.tests[1].files))
    assert.same({ 1, 2 }, { ds.tests[1].files[1].attack_type, ds.tests[2].files[1].attack_type })
    assert.same({ 1, "dos" }, { data.attack_type_of("test_01_DoS/kia/capture.csv") })
    assert.same({ 2, "fuzzing" }, { data.attack_type_of("test_01_DoS/fuzzing_runs/capture.csv") })
    assert.same({ 0, "normal" }, { data.attack_type_of("train_02_with_attacks/sub/capture.csv") })
  end)

  it("names a present test folder without a capture, a link that does not resolve, and a folder read " ..
    "twice", function()
    gio.remove_tree(gio.join(ds_dir, "test_02_fuzzing/spark"))
    assert.matches("dataset 'mine': test folder " .. ds_dir .. "/test_02_fuzzing holds no capture files " ..
      "%(%*.csv, %*.log, at any depth%); remove the folder to leave the test set out",
      err_of(data.resolve_dataset, "mine", { data_root = root, catalog = CAT }))
    gio.remove_tree(gio.join(ds_dir, "test_02_fuzzing"))
    assert.equal(1, #data.resolve_dataset("mine", { data_root = root, catalog = CAT }).tests)
    -- a link to a folder that is gone may have been a folder of captures
    local sub = gio.join(ds_dir, "train_02_with_attacks/sub")
    assert(os.execute("ln -s /nonexistent/dir " .. quote(gio.join(sub, "gone"))))
    assert.matches("entry " .. sub .. "/gone cannot be read %(EIO: stat: .* is a symbolic link to nothing%)",
      err_of(data.resolve_dataset, "mine", { data_root = root, catalog = CAT }))
    os.remove(gio.join(sub, "gone"))
    -- a link back up: read forever
    assert(os.execute("ln -s .. " .. quote(gio.join(sub, "deeper/up"))))
    assert.matches("folder " .. sub .. "/deeper/up is the folder " .. sub .. " again, through a symbolic " ..
      "link %(a loop: its captures would be read forever%): remove the link",
      err_of(data.resolve_dataset, "mine", { data_root = root, catalog = CAT }))
    os.remove(gio.join(sub, "deeper/up"))
    -- a second link to a folder read already: its captures twice.  The link sorts before the
    -- folder it leads to, so the folder is found second; the message names the link as the link
    assert(os.execute("ln -s sub/deeper " .. quote(gio.join(ds_dir, "train_02_with_attacks/again"))))
    assert.equal("folder " .. ds_dir .. "/train_02_with_attacks/again is the folder " .. ds_dir ..
      "/train_02_with_attacks/sub/deeper again, through a symbolic link (its captures would be read " ..
      "twice): remove the link", err_of(data.resolve_dataset, "mine", { data_root = root, catalog = CAT }))
    os.remove(gio.join(ds_dir, "train_02_with_attacks/again"))
    -- a link to a folder elsewhere is read as the folder it leads to
    capture(gio.join(root, "elsewhere/gear-1.csv"), 30, true)
    assert(os.execute("ln -s " .. quote(gio.join(root, "elsewhere")) .. " " ..
      quote(gio.join(ds_dir, "train_02_with_attacks/linked"))))
    local ds = data.resolve_dataset("mine", { data_root = root, catalog = CAT })
    assert.equal("train_02_with_attacks/linked/gear-1.csv", ds.train[4].name)
    assert.equal(3, ds.train[4].attack_type)
  end)

  it("names a folder or capture reached twice across sub-folders: a link in a test folder to a train " ..
    "folder, a train folder inside another, one file by two names; a capture path that is not " ..
    "UTF-8", function()
    local opts = { data_root = root, catalog = CAT }
    local train2, test1 = gio.join(ds_dir, "train_02_with_attacks"), gio.join(ds_dir, "test_01_DoS")
    -- (a reviewer's repro: test_01_DoS/more/DoS-1.csv, a training capture, was a test capture)
    assert(os.execute("ln -s ../train_02_with_attacks " .. quote(gio.join(test1, "more"))))
    assert.equal("folder " .. test1 .. "/more is the folder " .. train2 .. " again, through a symbolic " ..
      "link (its captures would be both training and test captures): remove the link",
      err_of(data.resolve_dataset, "mine", opts))
    os.remove(gio.join(test1, "more"))
    -- a train folder read again inside another
    assert(os.execute("ln -s ../train_01_attack_free " .. quote(gio.join(train2, "x"))))
    assert.equal("folder " .. train2 .. "/x is the folder " .. ds_dir .. "/train_01_attack_free again, " ..
      "through a symbolic link (its captures would be read twice): remove the link",
      err_of(data.resolve_dataset, "mine", opts))
    os.remove(gio.join(train2, "x"))
    -- a capture linked into a test folder, or a second name of it (a hard link)
    local linked = gio.join(test1, "DoS-3.csv")
    assert(os.execute("ln -s ../train_02_with_attacks/DoS-1.csv " .. quote(linked)))
    assert.equal("capture file " .. linked .. " is the capture file " .. train2 .. "/DoS-1.csv " ..
      "again, through a symbolic link (it would be both a training and a test capture): remove the link",
      err_of(data.resolve_dataset, "mine", opts))
    os.remove(linked)
    assert(os.execute("ln " .. quote(gio.join(train2, "DoS-1.csv")) .. " " .. quote(linked)))
    assert.equal("capture files " .. train2 .. "/DoS-1.csv and " .. linked .. " are one file, hard " ..
      "links (it would be both a training and a test capture): remove one of the names",
      err_of(data.resolve_dataset, "mine", opts))
    os.remove(linked)
    -- two links to one folder elsewhere: either may go
    capture(gio.join(root, "elsewhere/gear-1.csv"), 30, true)
    for _, l in ipairs({ "l1", "l2" }) do
      assert(os.execute("ln -s " .. quote(gio.join(root, "elsewhere")) .. " " .. quote(gio.join(train2, l))))
    end
    assert.equal("folders " .. train2 .. "/l1 and " .. train2 .. "/l2 are one folder, through symbolic " ..
      "links (its captures would be read twice): remove one of the links",
      err_of(data.resolve_dataset, "mine", opts))
    os.remove(gio.join(train2, "l2"))
    assert.equal(5, #data.resolve_dataset("mine", opts).train)
    -- a capture whose path is not UTF-8: named at once, its bytes shown as \xNN (the cache's
    -- JSON metadata refused it at the end of a build, naming no file)
    capture(gio.join(train2, "DoS-\xE9.csv"), 30, true)
    assert.equal("capture file " .. train2 .. "/DoS-\\xE9.csv: its path is not UTF-8 text, which the " ..
      "dataset cache's records (JSON) hold: rename the folder or file whose name shows \\xNN bytes",
      err_of(data.resolve_dataset, "mine", opts))
    os.remove(gio.join(train2, "DoS-\xE9.csv"))
    -- a catalog naming one sub-folder twice is refused as such
    local twice = { mine = { train = { "train_01_attack_free" },
      test = { "test_01_DoS", "train_01_attack_free" } } }
    assert.matches("'mine.test%[2%]' names the sub%-folder 'train_01_attack_free', which " ..
      "'mine.train%[1%]' names already",
      err_of(data.resolve_dataset, "mine", { data_root = root, catalog = twice }))
  end)

  it("records nested captures in the cache, and finds it stale when one changes", function()
    local lake = gio.join(root, "lake")
    local copts = { lake_root = lake, data_root = root, catalog = CAT, window_size = 5, stride = 5 }
    local meta = data.build_cache("mine", copts)
    local nested = "train_02_with_attacks/sub/deeper/targeted_payload_fuzzing-2.csv"
    assert.is_number(meta.source_bytes[nested])
    assert.equal(nested, meta.splits.train.source_files[4])
    assert.same({ "test_01_DoS/kia/capture.csv" }, meta.splits.test_01_DoS.source_files)
    assert.is_nil(catalog.stale_cache("mine", copts))
    capture(gio.join(ds_dir, nested), 35, true)
    local dir = data.cache_dir("mine", copts)
    assert.equal(string.format("the dataset cache %s was built from other captures than those in %s now " ..
      "(%s has %d bytes, %d when it was built)", dir, ds_dir, nested, gio.stat(gio.join(ds_dir, nested)).size,
      meta.source_bytes[nested]), (catalog.stale_cache("mine", copts)))
    -- and so for a dataset the catalog does not list: its recorded captures listed again
    local unlisted = { lake_root = lake, catalog = {}, window_size = 5, stride = 5 }
    assert.truthy(catalog.stale_cache("mine", unlisted):find(nested .. " has ", 1, true))
    catalog.rebuild_stale_cache("mine", copts, function() end)
    assert.is_nil(catalog.stale_cache("mine", unlisted))
    -- a capture added in a folder inside a test folder is new
    capture(gio.join(ds_dir, "test_01_DoS/kia/more/DoS-2.csv"), 30, true)
    local added = "test_01_DoS/kia/more/DoS-2.csv is new"
    assert.truthy(catalog.stale_cache("mine", unlisted):find(added, 1, true))
    assert.truthy(catalog.stale_cache("mine", copts):find(added, 1, true))
  end)
end)
