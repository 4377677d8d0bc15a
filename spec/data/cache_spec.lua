local graphids = require "graphids"
local data = require "graphids.data"
local gio = require "graphids.io"
local json = require "graphids.json"
local skip = require "skip"
local specenv = require "specenv"

local REAL = specenv.DATA
local tmpdir, err_of = specenv.tmpdir, specenv.err_of
local function print_nothing() end

-- A small simulated dataset: 6 train captures and 2 test sets of 600 frames each.
local CAT = {
  synthetic = {
    train = { "train_01_attack_free", "train_02_with_attacks" },
    test = { "test_01_known_vehicle_known_attack", "test_03_known_vehicle_unknown_attack", "test_09_absent" },
    simulated = true, frames = 600, seed = 3,
  },
}

describe("graphids.data cache", function()
  local lake
  before_each(function()
    lake = tmpdir()
    data.clear_cache_memo()
  end)
  after_each(function()
    data.clear_cache_memo()
    gio.remove_tree(lake)
  end)

  local function opts(extra)
    local o = { lake_root = lake, catalog = CAT }
    for k, v in pairs(extra or {}) do
      o[k] = v
    end
    return o
  end

  it("builds the versioned layout with a metadata file of the documented schema", function()
    local meta = data.build_cache("synthetic", opts())
    local dir = gio.join(lake, "cache", "v" .. data.PREPROCESSING_VERSION, "synthetic",
      "w100-s100-val0.2-seed42-vocab_all-node_fold-scaler_train")
    assert.equal(dir, data.cache_dir("synthetic", opts()))
    assert.same({ ".lock", "cache_metadata.json", "scaler.safetensors",
      "test_test_01_known_vehicle_known_attack.safetensors",
      "test_test_03_known_vehicle_unknown_attack.safetensors", "train.safetensors", "vocab.json" },
      gio.list_dir(dir))
    local m = assert(gio.read_json(gio.join(dir, "cache_metadata.json")))
    assert.same(json.encode(meta), json.encode(m))
    assert.equal(1, m.metadata_schema_version)
    assert.equal("synthetic", m.dataset)
    for _, k in ipairs({ "window_size", "stride", "val_fraction", "seed" }) do
      assert.equal(({ window_size = 100, stride = 100, val_fraction = 0.2, seed = 42 })[k], m[k])
    end
    assert.equal(data.PREPROCESSING_VERSION, m.preprocessing_version)
    assert.matches("^%x+$", m.vocab_digest)
    assert.is_true(m.num_ids > 10)
    assert.same({ "test_01_known_vehicle_known_attack", "test_03_known_vehicle_unknown_attack" },
      m.test_sets)
    local names = {}
    for k in pairs(m.splits) do
      names[#names + 1] = k
    end
    table.sort(names)
    assert.same(
      { "test_01_known_vehicle_known_attack", "test_03_known_vehicle_unknown_attack", "train", "val" }, names)
    for name, s in pairs(m.splits) do
      assert.is_true(math.type(s.num_graphs) == "integer" and s.num_graphs > 0, name)
      for _, what in ipairs({ "node_count", "edge_count" }) do
        local st = s.graph_stats[what]
        assert.is_true(st.min <= st.mean and st.mean <= st.max, name)
        assert.is_true(st.min <= st.p95 and st.p95 <= st.p99 and st.p99 <= st.max, name)
      end
      local total = 0
      for _, c in pairs(s.attack_balance) do
        total = total + c
      end
      assert.equal(s.num_graphs, total, name)
    end
    -- train: 6 captures of 600 frames = 6 windows each
    assert.equal(36, m.splits.train.num_graphs + m.splits.val.num_graphs)
    assert.equal(7, m.splits.val.num_graphs) -- int(36 * 0.2)
    assert.equal("train", m.splits.val.derived_from)
    assert.equal(3600, m.splits.train.raw_rows)
    assert.equal(6, #m.splits.train.source_files)
    assert.equal("train_01_attack_free/attack-free-v1.csv", m.splits.train.source_files[1])
    assert.is_true(m.splits.train.bytes_on_disk > 0)
    assert.equal(600 * 4, m.splits.test_01_known_vehicle_known_attack.raw_rows)
  end)

  it("loads memory-mapped, valid graph sets scaled with the train scaler", function()
    data.build_cache("synthetic", opts())
    local c = data.load_cache("synthetic", opts())
    assert.equal(c, data.load_cache("synthetic", opts())) -- memoised
    assert.equal(36, c.train.num_graphs)
    assert.equal(29, c.train_index:numel())
    assert.equal(7, c.val_index:numel())
    assert.is_true(graphids.graph_set_validate(c.train))
    for _, name in ipairs(c.test_names) do
      assert.is_true(graphids.graph_set_validate(c.tests[name]))
    end
    assert.equal(35, c.train.x:size(2))
    assert.equal(11, c.train.edge_attr:size(2))
    assert.equal(c.metadata.num_ids, c.vocab.num_ids)
    -- the train part's node features are z-scores: column means ~0 over the train graphs' rows
    local ptr = c.train.node_ptr:totable()
    local rows = {}
    for _, g in ipairs(c.train_index:totable()) do
      for r = ptr[g + 1], ptr[g + 2] - 1 do
        rows[#rows + 1] = r
      end
    end
    local xt = c.train.x:index_select(1, graphids.tensor(rows, { dtype = "i64" })):double()
    assert.is_true(xt:mean(1):abs():max():item() < 1e-4)
    -- a fresh load from disk gives the same tensors
    data.clear_cache_memo()
    local d = data.load_cache("synthetic", opts())
    assert.is_true(graphids.equal(c.train.x, d.train.x))
    assert.is_true(graphids.equal(c.val_index, d.val_index))
  end)

  it("does not rebuild an up-to-date cache, and rebuilds on request", function()
    local m1 = data.build_cache("synthetic", opts())
    -- the staging folder of a rebuild killed mid-way goes with the next build that finds the
    -- cache up to date
    local staging = gio.join(data.cache_dir("synthetic", opts()), ".building")
    assert(gio.mkdir_p(staging))
    assert(gio.atomic_write(gio.join(staging, "train.safetensors"), "half"))
    local m2 = data.build_cache("synthetic", opts())
    assert.equal(m1.built_at, m2.built_at)
    assert.is_false(gio.exists(staging))
    local m3 = data.rebuild_cache("synthetic", opts({ window_size = 50, stride = 50 }))
    assert.equal(50, m3.window_size)
    assert.equal(72, m3.splits.train.num_graphs + m3.splits.val.num_graphs)
  end)

  it("keeps a cache per set of parameters side by side: seeds, strides and graph modes", function()
    local a = data.load_cache("synthetic", opts())
    local b = data.load_cache("synthetic", opts({ seed = 7 }))
    local c = data.load_cache("synthetic", opts({ stride = 50, vocab_from = "benign", node_by_id = true,
      scaler = "per_file", calibration = 0.5 }))
    assert.are_not.equal(a.dir, b.dir)
    assert.equal("w100-s100-val0.2-seed7-vocab_all-node_fold-scaler_train", b.dir:match("[^/]+$"))
    assert.equal("w100-s50-val0.2-seed42-vocab_benign-node_by_id-scaler_per_file_0.5", c.dir:match("[^/]+$"))
    -- the same graphs, another split; the seed-42 cache was not rebuilt for seed 7
    assert.equal(a.train.num_graphs, b.train.num_graphs)
    assert.are_not.same(a.val_index:totable(), b.val_index:totable())
    data.clear_cache_memo()
    assert.equal(a.metadata.built_at, data.load_cache("synthetic", opts()).metadata.built_at)
    local rows = data.list_caches({ lake_root = lake })
    assert.equal(3, #rows)
    for i = 2, #rows do assert.is_true(rows[i - 1].variant < rows[i].variant) end
    assert.equal(0, #data.list_caches({ lake_root = lake, dataset = "hcrl_sa" }))
    -- folder names keep every parameter value apart, and a calibration only goes with per_file
    assert.are_not.equal(data.cache_variant(opts({ val_fraction = 0.1 + 0.2 })),
      data.cache_variant(opts({ val_fraction = 0.3 })))
    assert.matches("calibration applies to scaler = 'per_file' only",
      err_of(data.load_cache, "synthetic", opts({ calibration = 0.5 })))
    -- damaged metadata: named (no nil deep in a summary), rebuilt by force, a stale layout flagged
    local mpath = gio.join(a.dir, "cache_metadata.json")
    assert(gio.write_json(mpath, {}))
    data.clear_cache_memo()
    assert.matches("'metadata_schema_version' must be an integer, got nothing %(a damaged file; rebuild " ..
      "it: graphids data rebuild", err_of(data.load_cache, "synthetic", opts()))
    local row = data.list_caches({ lake_root = lake })[1]
    assert.is_nil(row.metadata)
    assert.matches("must be an integer", row.problems[1])
    assert.equal(1, data.load_cache("synthetic", opts({ force = true })).metadata.metadata_schema_version)
    local flat = gio.join(lake, "cache", "v" .. data.PREPROCESSING_VERSION, "synthetic",
      "cache_metadata.json")
    assert(gio.write_json(flat, { metadata_schema_version = 1 }))
    rows = data.list_caches({ lake_root = lake })
    assert.matches("a cache of the old layout", rows[1].problems[1])
  end)

  it("refuses a cache whose metadata disagrees with its folder, naming the rebuild command", function()
    data.build_cache("synthetic", opts({ window_size = 50, seed = 7 }))
    -- a folder copied or renamed by hand: its metadata says other parameters than its name
    local from = data.cache_dir("synthetic", opts({ window_size = 50, seed = 7 }))
    local to = data.cache_dir("synthetic", opts())
    assert(gio.mkdir_p(to:match("^(.*)/")))
    assert(os.rename(from, to))
    local e = err_of(data.load_cache, "synthetic", opts())
    assert.matches("was built with window_size=50 %(requested 100%), seed=7 %(requested 42%)", e)
    -- inspect and the listing say so too: what they pass, a load takes
    local meta, ierr = data.inspect_cache("synthetic", opts())
    assert.is_nil(meta)
    assert.matches("was built with window_size=50 %(requested 100%)", ierr)
    local listed = data.list_caches({ lake_root = lake })[1]
    assert.matches("its folder is named w100%-s100%-val0.2%-seed42%-.* but its metadata says " ..
      "w50%-s100%-val0.2%-seed7%-.* %(copied or renamed by hand%?%)", listed.problems[1])
    -- the hint for a dataset of real captures names the data root it needs
    assert.matches("build it: graphids data build %-%-dataset hcrl_sa %-%-lake%-root=.* %-%-data%-root=%S+",
      select(2, data.inspect_cache("hcrl_sa", { lake_root = lake, seed = 3 })))
    assert.matches("rebuild it: graphids data rebuild %-%-dataset synthetic %-%-lake%-root="
      .. lake:gsub("%p", "%%%0"), e)
    -- roots the shell would split or take for an option are given as --opt='VALUE'
    local _, odd = data.inspect_cache("synthetic", { lake_root = "-my lake's", data_root = "a b" })
    assert.truthy(odd:find("build it: graphids data build --dataset synthetic " ..
      "--lake-root='-my lake'\\''s' --data-root='a b' --window-size", 1, true), odd)
    assert.matches("%-%-window%-size 100 %-%-stride 100 %-%-val%-fraction 0.2 %-%-seed 42", e)
    e = err_of(data.build_cache, "synthetic", opts())
    assert.matches("window_size=50 %(requested 100%)", e)
  end)

  it("builds with a benign vocabulary, a node per CAN id and per-capture scaling", function()
    local ref = data.load_cache("synthetic", opts())
    data.clear_cache_memo()
    local folded = data.rebuild_cache("synthetic", opts({ vocab_from = "benign" }))
    data.clear_cache_memo()
    local o = opts({ vocab_from = "benign", node_by_id = true, scaler = "per_file", calibration = 0.5 })
    local m = data.rebuild_cache("synthetic", o)
    assert.equal("benign", m.vocab_from)
    assert.is_true(m.node_by_id)
    assert.equal("per_file", m.scaler)
    assert.equal(0.5, m.calibration)
    local c = data.load_cache("synthetic", o)
    -- the attacks' injected ids are not in the vocabulary, so it is smaller than the reference's
    assert.is_true(c.num_ids < ref.num_ids, c.num_ids .. " vs " .. ref.num_ids)
    -- more nodes than with the same vocabulary folded: unknown ids keep a node each (here as
    -- many as with the reference's full vocabulary, where every train id is known)
    assert.equal(folded.splits.train.num_graphs, m.splits.train.num_graphs)
    local mean_nodes = m.splits.train.graph_stats.node_count.mean
    assert.is_true(mean_nodes > folded.splits.train.graph_stats.node_count.mean)
    assert.equal(ref.train.x:size(1), c.train.x:size(1))
    assert.is_true(graphids.graph_set_validate(c.train))
    -- per-file scaling: the rows of each capture's first half of windows have column means ~0
    local sf, np = c.train.source_file:totable(), c.train.node_ptr:totable()
    local first, last = {}, {}
    for g, f in ipairs(sf) do
      first[f] = first[f] or g
      last[f] = g
    end
    local f0 = sf[1]
    local ncal = math.floor((last[f0] - first[f0] + 1) * 0.5)
    local r0, r1 = np[first[f0]], np[first[f0] + ncal]
    local xm = c.train.x:narrow(1, r0 + 1, r1 - r0):double():mean(1)
    -- columns that vary inside the calibration windows are centred (constant ones stay as is)
    assert.is_true(xm:narrow(1, 25, 1):abs():item() < 1e-4) -- entropy_mean
    assert.is_true(xm:narrow(1, 32, 1):abs():item() < 1e-4) -- node_iat_mean
    -- the reference's graphs live beside these, untouched
    assert.equal(ref.metadata.built_at, data.load_cache("synthetic", opts()).metadata.built_at)
    assert.matches("%-%-scaler per_file %-%-calibration 0.5", select(2, data.inspect_cache("hcrl_sa", o)))
  end)

  it("names a bad vocab_from, scaler or calibration", function()
    assert.matches("vocab_from must be 'all' or 'benign', got 'some'",
      err_of(data.build_cache, "synthetic", opts({ vocab_from = "some" })))
    assert.matches("scaler must be 'train' or 'per_file', got 'file'",
      err_of(data.build_cache, "synthetic", opts({ scaler = "file" })))
    assert.matches("calibration must be in %(0, 1%], got 0",
      err_of(data.build_cache, "synthetic", opts({ scaler = "per_file", calibration = 0 })))
    -- a window size that can give no graph is refused before a capture is read (the data root
    -- names no folder); so is one past the window builder's limit
    -- (each bound with its own reason)
    for w, why in pairs({ [2] = "a window of 2 frames or fewer has no edge",
      [data.MAX_WINDOW + 1] = "the largest window the graph builder takes" }) do
      assert.matches("build_cache: window_size must be an integer in 3%.%.1048576 %(" .. why ..
        "%), got " .. w,
        err_of(data.build_cache, "hcrl_sa", opts({ window_size = w, data_root = "/nonexistent" })))
    end
  end)

  it("refuses a cache written by another version or with a swapped vocabulary", function()
    data.build_cache("synthetic", opts())
    local dir = data.cache_dir("synthetic", opts())
    local path = gio.join(dir, "cache_metadata.json")
    local m = assert(gio.read_json(path))
    m.preprocessing_version = "0"
    assert(gio.write_json(path, m))
    assert.matches("preprocessing_version=0 %(requested " .. data.PREPROCESSING_VERSION .. "%)",
      err_of(data.load_cache, "synthetic", opts()))
    m.preprocessing_version = data.PREPROCESSING_VERSION
    m.metadata_schema_version = 99
    assert(gio.write_json(path, m))
    assert.matches("metadata schema 99, this graphids reads 1; rebuild it: graphids data rebuild",
      err_of(data.load_cache, "synthetic", opts()))
    m.metadata_schema_version = 1
    assert(gio.write_json(path, m))
    local v = assert(gio.read_json(gio.join(dir, "vocab.json")))
    local k = next(v.entries)
    v.entries[k] = nil
    assert(gio.write_json(gio.join(dir, "vocab.json"), v))
    assert.matches("vocab.json: .*rebuild it", err_of(data.load_cache, "synthetic", opts()))
    assert(gio.atomic_write(path, "{"))
    assert.matches("cache_metadata.json: json: line 1, column 2",
      err_of(data.load_cache, "synthetic", opts()))
  end)

  it("names a metadata value JSON cannot write back (1e400) in the key's message", function()
    data.build_cache("synthetic", opts())
    local dir = data.cache_dir("synthetic", opts())
    local path = gio.join(dir, "cache_metadata.json")
    local good = assert(gio.read_file(path))
    local bad = good:gsub('"window_size": %d+', '"window_size": 1e400')
    assert.are_not.equal(good, bad)
    assert(gio.atomic_write(path, bad))
    local e = err_of(data.load_cache, "synthetic", opts({ build = false }))
    local want = "dataset cache metadata " .. path .. ": 'window_size' must be an integer >= 1, got inf " ..
      "(a damaged file; rebuild it: graphids data rebuild --dataset synthetic "
    assert.equal(want, e:sub(1, #want))
    -- a key made of the file's own names shows them escaped, never with a raw ESC byte
    local meta = json.decode(good)
    meta.source_bytes = json.object({ ["x\27[31m\u{9B}"] = "big" })
    assert(gio.atomic_write(path, json.encode(meta)))
    e = err_of(data.load_cache, "synthetic", opts({ build = false }))
    assert.truthy(e:find("'source_bytes.x\\x1B[31m\\xC2\\x9B' must be an integer >= 0, got 'big' (a string)",
      1, true), e)
    meta.source_bytes = nil
    meta.test_sets = json.array({ "t\27]0;x\7" })
    assert(gio.atomic_write(path, json.encode(meta)))
    e = err_of(data.load_cache, "synthetic", opts({ build = false }))
    assert.truthy(e:find("'splits.t\\x1B]0;x\\x07' must be an object, got nothing", 1, true), e)
  end)

  it("refuses a FIFO in place of a JSON file of the cache (opening one waits for a writer)", function()
    data.build_cache("synthetic", opts())
    local dir = data.cache_dir("synthetic", opts())
    local path = gio.join(dir, "cache_metadata.json")
    local vocab = gio.join(dir, "vocab.json")
    assert(os.remove(vocab))
    assert(os.execute("mkfifo " .. vocab))
    data.clear_cache_memo()
    assert.matches("vocab.json: .*vocab.json: not a regular file %(a FIFO, socket or device%)",
      err_of(data.load_cache, "synthetic", opts({ build = false })))
    assert(os.remove(vocab))
    assert(os.remove(path))
    assert(os.execute("mkfifo " .. path))
    assert.matches("cache_metadata.json: not a regular file %(a FIFO",
      err_of(data.load_cache, "synthetic", opts({ build = false })))
  end)

  it("refuses metadata that disagrees with the files it describes, or a cache of another dataset", function()
    data.build_cache("synthetic", opts())
    local dir = data.cache_dir("synthetic", opts())
    local path = gio.join(dir, "cache_metadata.json")
    local good = assert(gio.read_json(path))
    local names = good.test_sets
    local function edited(fn, want)
      local m = assert(gio.read_json(path))
      fn(m)
      assert(gio.write_json(path, m))
      data.clear_cache_memo()
      assert.matches(want .. ".- %(cache_metadata.json edited by hand%?%); rebuild it: graphids data rebuild",
        err_of(data.load_cache, "synthetic", opts()))
      assert(gio.write_json(path, good))
    end
    edited(function(m) m.num_ids = m.num_ids + 1 end, "num_ids is %d+ but vocab.json holds %d+ ids")
    edited(function(m) m.splits[names[1]].file = "test_" .. names[2] .. ".safetensors" end,
      "splits." .. names[1] .. ".file is 'test_" .. names[2] .. ".safetensors', the build writes")
    edited(function(m) m.splits.train.num_graphs = 5 end,
      "splits.train.num_graphs is 5 but its file holds %d+")
    edited(function(m) m.splits.val.num_graphs = m.splits.val.num_graphs + 1 end, "splits.val.num_graphs")
    edited(function(m) m.splits[names[2]].num_graphs = 0 end, "splits." .. names[2] .. ".num_graphs is 0")
    edited(function(m) m.test_sets = json.array({ names[1] }) end,
      "splits holds '" .. names[2] .. "', which test_sets does not list")
    -- two test files swapped (their graph counts made to agree, as when they hold as many):
    -- each file's own record of its captures names the swap
    do
      local a, b = gio.join(dir, good.splits[names[1]].file), gio.join(dir, good.splits[names[2]].file)
      local ba, bb = assert(gio.read_file(a)), assert(gio.read_file(b))
      assert(gio.atomic_write(a, bb))
      assert(gio.atomic_write(b, ba))
      edited(function(m)
        m.splits[names[1]].num_graphs, m.splits[names[2]].num_graphs =
          good.splits[names[2]].num_graphs, good.splits[names[1]].num_graphs
      end, good.splits[names[1]].file:gsub("%p", "%%%0") .. " was built from .-, not from the " ..
        "captures splits%." .. names[1]:gsub("%p", "%%%0") .. "%.source_files names")
      assert(gio.atomic_write(a, ba))
      assert(gio.atomic_write(b, bb))
    end
    local vpath = gio.join(dir, "vocab.json")
    local v = assert(gio.read_json(vpath))
    v.num_ids = v.num_ids + 1
    assert(gio.write_json(vpath, v))
    assert.matches("vocab.json's digest, num_ids or ids disagree with its entries",
      err_of(data.load_cache, "synthetic", opts()))
    v.num_ids = v.num_ids - 1
    assert(gio.write_json(vpath, v))
    data.clear_cache_memo()
    assert.equal(good.num_ids, data.load_cache("synthetic", opts()).num_ids)
    -- the folder copied under another dataset's name is that dataset's cache, not this one's
    local CAT2 = { synthetic = CAT.synthetic, other = CAT.synthetic }
    local odir = data.cache_dir("other", { lake_root = lake, catalog = CAT2 })
    assert(gio.mkdir_p(odir:match("^(.*)/")))
    assert(os.execute("cp -r '" .. dir .. "' '" .. odir .. "'"))
    assert.matches("holds dataset 'synthetic', not 'other' %(a folder copied or renamed by hand%?%)",
      err_of(data.load_cache, "other", { lake_root = lake, catalog = CAT2 }))
  end)

  it("names a graph file whose layout is damaged when it loads, not at a later batch", function()
    local c = data.build_cache("synthetic", opts({ force = true }))
    local dir = data.cache_dir("synthetic", opts())
    local name = c.splits[c.test_sets[1]].file
    local file = gio.join(dir, name)
    local t, meta = gio.load_safetensors(file)
    local copy = {}
    for k, v in pairs(t) do copy[k] = v:clone() end
    local last = copy.edge_index:size(2)
    copy.edge_index:select(1, 1):narrow(1, last, 1):fill_(1e9) -- an endpoint far outside its graph
    assert(gio.save_safetensors(file, copy, meta))
    data.clear_cache_memo()
    local e = err_of(data.load_cache, "synthetic", opts())
    assert.matches("dataset cache .*: .*" .. name:gsub("%p", "%%%0") .. ": .*edge.*rebuild it", e)
    -- a train file without its split indices
    data.build_cache("synthetic", opts({ force = true }))
    local tfile = gio.join(dir, c.splits.train.file)
    t, meta = gio.load_safetensors(tfile)
    copy = {}
    for k, v in pairs(t) do if k ~= "val_index" then copy[k] = v:clone() end end
    assert(gio.save_safetensors(tfile, copy, meta))
    data.clear_cache_memo()
    assert.matches("has no train_index or val_index; rebuild it",
      err_of(data.load_cache, "synthetic", opts()))
    -- a label or a node id the models cannot index with
    for _, case in ipairs({ { "y", 7, "y holds values outside %[0, 1%] %(0%.%.7%)" },
      { "node_id", 1000000, "node_id holds values outside %[0, %d+%] %(0%.%.1000000%)" } }) do
      data.build_cache("synthetic", opts({ force = true }))
      t, meta = gio.load_safetensors(file)
      copy = {}
      for k, v in pairs(t) do copy[k] = v:clone() end
      copy[case[1]]:narrow(1, 1, 1):fill_(case[2])
      assert(gio.save_safetensors(file, copy, meta))
      data.clear_cache_memo()
      assert.matches(name:gsub("%p", "%%%0") .. ": " .. case[3] .. "; rebuild it",
        err_of(data.load_cache, "synthetic", opts()))
    end
  end)

  -- A file whose header or counts a load refuses is no sound cache to inspect, and no cache up
  -- to date to build: each names the problem a load names (headers and counts only, no data read).
  it("inspect and build refuse what a load refuses: a damaged header, an edited graph count", function()
    data.build_cache("synthetic", opts())
    local dir = data.cache_dir("synthetic", opts())
    local mpath, tpath = gio.join(dir, "cache_metadata.json"), gio.join(dir, "train.safetensors")
    local good_meta, good_train = assert(gio.read_file(mpath)), assert(gio.read_file(tpath))
    local function refused(want)
      data.clear_cache_memo()
      local load_err = err_of(data.load_cache, "synthetic", opts())
      assert.matches(want .. ".*; rebuild it: graphids data rebuild", load_err)
      local row = data.list_caches({ lake_root = lake })[1]
      assert.matches(want, table.concat(row.problems, "\n"))
      assert.same(row.problems, data.cache_problems(dir, row.metadata))
      assert.matches("dataset cache .*: " .. want .. ".*; rebuild it: graphids data rebuild",
        err_of(data.build_cache, "synthetic", opts()))
      assert(gio.atomic_write(mpath, good_meta))
      assert(gio.atomic_write(tpath, good_train))
      assert.same({}, data.list_caches({ lake_root = lake })[1].problems)
    end
    -- splits.train.num_graphs edited
    local m = assert(gio.read_json(mpath))
    m.splits.train.num_graphs = m.splits.train.num_graphs + 1
    assert(gio.write_json(mpath, m))
    refused("splits%.train%.num_graphs is %d+ but its file holds %d+ " ..
      "%(cache_metadata%.json edited by hand%?%)")
    -- a byte flipped in a tensor's name inside the header: same size, a tensor missing
    local at = good_train:find('"node_id"', 1, true)
    assert(gio.atomic_write(tpath, good_train:sub(1, at + 5) .. "X" .. good_train:sub(at + 7)))
    refused("train%.safetensors: no tensor 'node_id'")
    -- a byte flipped in the header's JSON
    local brace = good_train:find("{", 1, true)
    assert(gio.atomic_write(tpath, good_train:sub(1, brace - 1) .. "[" .. good_train:sub(brace + 1)))
    refused("train%.safetensors: ")
    -- the graph count of a test file's header metadata
    local name = m.test_sets[1]
    local file = gio.join(dir, m.splits[name].file)
    local t, tm = gio.load_safetensors(file)
    local copy = {}
    for k, v in pairs(t) do copy[k] = v:clone() end
    local good_test = assert(gio.read_file(file))
    tm.num_graphs = tostring(tonumber(tm.num_graphs) + 1)
    assert(gio.save_safetensors(file, copy, tm))
    data.clear_cache_memo()
    assert.matches("num_graphs metadata does not match node_ptr",
      err_of(data.load_cache, "synthetic", opts()))
    assert.matches("num_graphs metadata does not match node_ptr",
      table.concat(data.list_caches({ lake_root = lake })[1].problems, "\n"))
    assert(gio.atomic_write(file, good_test))
    data.clear_cache_memo()
    assert.is_table(data.load_cache("synthetic", opts()))
  end)

  -- Values a build never writes: found in one pass at load, named with their file.
  it("refuses NaN features, a graph twice in the split, attack types or captures out of range", function()
    local c = data.build_cache("synthetic", opts())
    local dir = data.cache_dir("synthetic", opts())
    local function damaged(file, edit, want)
      local path = gio.join(dir, file)
      local good = assert(gio.read_file(path))
      local t, meta = gio.load_safetensors(path)
      local copy = {}
      for k, v in pairs(t) do copy[k] = v:clone() end
      edit(copy)
      assert(gio.save_safetensors(path, copy, meta))
      data.clear_cache_memo()
      assert.matches(file:gsub("%p", "%%%0") .. ": " .. want .. "; rebuild it",
        err_of(data.load_cache, "synthetic", opts()))
      assert(gio.atomic_write(path, good))
    end
    local test = c.splits[c.test_sets[1]].file
    damaged(test, function(s) -- the first row of graph 2
      s.x:narrow(1, s.node_ptr:totable()[3] + 1, 1):narrow(2, 3, 1):fill_(0 / 0)
    end, "x holds 1 non%-finite value %(NaN or inf%), the first in graph 2")
    damaged("train.safetensors", function(s) s.edge_attr:narrow(1, 5, 2):fill_(math.huge) end,
      "edge_attr holds 22 non%-finite values %(NaN or inf%), the first in graph 0")
    damaged("train.safetensors", function(s)
      s.train_index:narrow(1, 2, 1):copy_(s.train_index:narrow(1, 1, 1))
    end, "train_index holds graph %d+ more than once")
    damaged("train.safetensors", function(s)
      s.val_index:narrow(1, 1, 1):copy_(s.train_index:narrow(1, 1, 1))
    end, "graph %d+ is in both train_index and val_index")
    damaged(test, function(s) s.attack_type:narrow(1, 1, 1):fill_(99) end,
      "attack_type holds values outside %[0, 15%] %(0%.%.99%)")
    damaged(test, function(s) s.source_file:narrow(1, 1, 1):fill_(4) end,
      "source_file holds values outside %[0, 3%] %(0%.%.4%)")
    data.clear_cache_memo()
    assert.is_table(data.load_cache("synthetic", opts()))
  end)

  it("waits for the build lock and times out with a clear error", function()
    local dir = data.cache_dir("synthetic", opts())
    assert(gio.mkdir_p(dir))
    local held = assert(gio.lock(gio.join(dir, ".lock"), { timeout = 0 }))
    local e = err_of(data.build_cache, "synthetic", opts({ lock_timeout = 0.1 }))
    assert.matches("is held by another process %(exclusive lock not acquired within 0.10 s%)", e)
    assert.matches("another build is running", e)
    held:unlock()
    assert.is_table(data.build_cache("synthetic", opts({ lock_timeout = 0.1 })))
    -- a lock that cannot be opened (here a folder in its place) is no other build
    local odd = opts({ lake_root = gio.join(dir, "odd_lake") })
    assert(gio.mkdir_p(gio.join(data.cache_dir("synthetic", odd), ".lock")))
    e = err_of(data.build_cache, "synthetic", odd)
    assert.matches("lock: cannot open '.*%.lock': Is a directory$", e)
  end)

  it("leaves no usable cache behind when a build fails", function()
    local root = tmpdir()
    for _, sub in ipairs({ "train_01_attack_free", "train_02_with_attacks" }) do
      assert(gio.mkdir_p(gio.join(root, "hcrl_sa", sub)))
    end
    assert(gio.atomic_write(gio.join(root, "hcrl_sa/train_01_attack_free/attack-free-a.csv"),
      "timestamp,arbitration_id,data_field,attack\n1.0,0C1,0011,0\n1.5,XYZ,00,0\n"))
    assert(gio.atomic_write(gio.join(root, "hcrl_sa/train_02_with_attacks/DoS-a.csv"),
      "timestamp,arbitration_id,data_field,attack\n1.0,000,0011,1\n"))
    local e = err_of(data.build_cache, "hcrl_sa", { lake_root = lake, data_root = root })
    assert.matches("attack%-free%-a.csv:3", e)
    local dir = data.cache_dir("hcrl_sa", { lake_root = lake })
    -- a failed first build leaves the lake as it was: no cache folder, no lock file
    assert.same({}, gio.list_dir(lake))
    assert.matches("no dataset cache at", select(2, data.inspect_cache("hcrl_sa", { lake_root = lake })))
    local csv = gio.join(root, "hcrl_sa/train_01_attack_free/attack-free-a.csv")
    assert(gio.atomic_write(csv, "timestamp,arbitration_id,data_field,attack\n"))
    assert.matches("attack%-free%-a.csv: no CAN frames", err_of(data.build_cache, "hcrl_sa",
      { lake_root = lake, data_root = root }))
    assert(gio.atomic_write(csv, "timestamp,arbitration_id,data_field,attack\n1.0,0C1,0011,0\n"))
    assert.matches("the train captures give no graph with window_size=100, stride=100",
      err_of(data.build_cache, "hcrl_sa", { lake_root = lake, data_root = root, log = print_nothing }))
    assert.same({}, gio.list_dir(lake))
    -- a folder the lake had before is kept, empty or not
    assert(gio.mkdir_p(gio.join(lake, "cache")))
    err_of(data.build_cache, "hcrl_sa", { lake_root = lake, data_root = root, log = print_nothing })
    assert.same({ "cache" }, gio.list_dir(lake))
    assert.is_false(gio.is_dir(dir))
    assert.matches("unknown dataset 'nope'", err_of(data.build_cache, "nope", { lake_root = lake }))
    -- an attack capture whose format has no labels (candump) would build as all normal traffic
    local unl = tmpdir()
    for _, sub in ipairs({ "train_01_attack_free", "train_02_with_attacks" }) do
      assert(gio.mkdir_p(gio.join(unl, "hcrl_sa", sub)))
    end
    local lines = { "timestamp,arbitration_id,data_field,attack" }
    local dump = {}
    for i = 1, 200 do
      lines[#lines + 1] = string.format("%.3f,%03X,0011,0", i / 1000, 0x100 + i % 7)
      dump[#dump + 1] = string.format("(%.3f) can0 %03X#0011", i / 1000, i % 3 == 0 and 0 or 0x100 + i % 7)
    end
    assert(gio.atomic_write(gio.join(unl, "hcrl_sa/train_01_attack_free/attack-free-a.csv"),
      table.concat(lines, "\n") .. "\n"))
    assert(gio.atomic_write(gio.join(unl, "hcrl_sa/train_02_with_attacks/DoS-a.log"),
      table.concat(dump, "\n") .. "\n"))
    assert.matches("DoS%-a.log is named as a dos capture but carries no labels %(format candump%), so " ..
      "all 200 frames would count as normal traffic; label it first",
      err_of(data.build_cache, "hcrl_sa", { lake_root = tmpdir(), data_root = unl }))
    -- so would a CSV whose header has no label column
    assert(os.remove(gio.join(unl, "hcrl_sa/train_02_with_attacks/DoS-a.log")))
    assert(gio.atomic_write(gio.join(unl, "hcrl_sa/train_02_with_attacks/DoS-a.csv"),
      table.concat(lines, "\n"):gsub("timestamp,arbitration_id,data_field,attack", "time,id,data")
        :gsub(",0\n", "\n"):gsub(",0$", "") .. "\n"))
    assert.matches("DoS%-a.csv is named as a dos capture but carries no labels %(format columns without " ..
      "a label column%)", err_of(data.build_cache, "hcrl_sa", { lake_root = tmpdir(), data_root = unl }))
    -- and so would one whose name says nothing (J1939's fuzz_1ms_ID_and_Data.log before 'fuzz' was a
    -- token), in a train folder with attacks or a test folder: taken only when its name says normal
    assert(os.remove(gio.join(unl, "hcrl_sa/train_02_with_attacks/DoS-a.csv")))
    local log = gio.join(unl, "hcrl_sa/train_02_with_attacks/capture.log")
    assert(gio.atomic_write(log, table.concat(dump, "\n") .. "\n"))
    assert.matches("capture file " .. log .. " carries no labels %(format candump%) and neither its name " ..
      "nor its folders' say it is normal traffic %(attack%-free, normal, benign%), so all 200 frames " ..
      "would count as normal traffic; label it first, .* or, when it holds no attack, name it or its " ..
      "folder so",
      err_of(data.build_cache, "hcrl_sa", { lake_root = tmpdir(), data_root = unl }))
    assert(os.rename(log, gio.join(unl, "hcrl_sa/train_02_with_attacks/normal-drive.log")))
    -- (an attack-free folder says it for the captures in it)
    assert(gio.atomic_write(gio.join(unl, "hcrl_sa/train_01_attack_free/drive.log"),
      table.concat(dump, "\n") .. "\n"))
    local built = data.build_cache("hcrl_sa", { lake_root = tmpdir(), data_root = unl, log = print_nothing })
    assert.equal(6, built.splits.train.num_graphs + built.splits.val.num_graphs) -- 3 captures of 2 windows
    local tlog = gio.join(unl, "hcrl_sa/test_01_known_vehicle_known_attack/kia/capture.log")
    assert(gio.mkdir_p(tlog:match("^(.*)/")))
    assert(gio.atomic_write(tlog, table.concat(dump, "\n") .. "\n"))
    assert.matches("capture file " .. tlog .. " carries no labels %(format candump%) and neither",
      err_of(data.build_cache, "hcrl_sa", { lake_root = tmpdir(), data_root = unl, log = print_nothing }))
    -- a first build against a data root without the dataset makes no cache folder at all
    local fresh = tmpdir()
    assert.matches("folder .*/nowhere/hcrl_sa not found", err_of(data.build_cache, "hcrl_sa",
      { lake_root = fresh, data_root = gio.join(root, "nowhere") }))
    assert.same({}, gio.list_dir(fresh))
    -- a rebuild that fails keeps the cache that was there
    local good = data.build_cache("synthetic", opts())
    local sdir = data.cache_dir("synthetic", opts())
    local files = gio.list_dir(sdir)
    local broken = { synthetic = { train = { "train_01_attack_free" }, simulated = true, frames = 600,
      seed = 3 } }
    assert(gio.mkdir_p(gio.join(root, "synthetic")))
    assert.matches("train folder .* is missing", err_of(data.rebuild_cache, "synthetic",
      { lake_root = lake, data_root = root, catalog = broken }))
    assert.same(files, gio.list_dir(sdir))
    data.clear_cache_memo()
    assert.equal(good.built_at, data.load_cache("synthetic", opts()).metadata.built_at)
    assert.matches("unknown option 'windows'", err_of(data.build_cache, "hcrl_sa", { windows = 3 }))
    gio.remove_tree(root)
  end)

  it("names a capture that gives no graph, and refuses a test set without graphs", function()
    local root = tmpdir()
    local function capture(rel, n)
      local lines = { "timestamp,arbitration_id,data_field,attack" }
      for i = 1, n do
        lines[#lines + 1] = string.format("%.3f,%03X,0011,0", i / 1000, 0x100 + i % 7)
      end
      assert(gio.mkdir_p(gio.join(root, "hcrl_sa", rel:match("^(.*)/"))))
      assert(gio.atomic_write(gio.join(root, "hcrl_sa", rel), table.concat(lines, "\n") .. "\n"))
    end
    capture("train_01_attack_free/attack-free-a.csv", 400)
    capture("train_01_attack_free/attack-free-b.csv", 50)
    capture("train_02_with_attacks/DoS-a.csv", 300)
    capture("test_01_known_vehicle_known_attack/DoS-t.csv", 60)
    local said = {}
    local o = { lake_root = lake, data_root = root, log = function(m) said[#said + 1] = m end }
    assert.matches("test set test_01_known_vehicle_known_attack gives no graph with window_size=100, " ..
      "stride=100", err_of(data.build_cache, "hcrl_sa", o))
    local warned = table.concat(said, "\n")
    assert.matches("warning: capture train_01_attack_free/attack%-free%-b.csv gives no graph with " ..
      "window_size=100, stride=100 %(50 frames", warned)
    assert.matches("warning: capture test_01_known_vehicle_known_attack/DoS%-t.csv gives no graph", warned)
    assert.is_nil(warned:find("attack-free-a.csv", 1, true))
    assert.same({}, gio.list_dir(lake))
    capture("test_01_known_vehicle_known_attack/DoS-t.csv", 250)
    said = {}
    local meta = data.build_cache("hcrl_sa", o)
    assert.equal(2, meta.splits.test_01_known_vehicle_known_attack.num_graphs)
    assert.matches("attack%-free%-b.csv gives no graph", table.concat(said, "\n"))
    gio.remove_tree(root)
  end)

  it("builds a subset of the real hcrl_sa with the expected window counts", function()
    if skip.unless(gio.is_dir(REAL .. "/hcrl_sa"), "real CAN data not found at " .. REAL) then
      return
    end
    -- The first 1000 rows of each capture, in the dataset's own layout.
    local root = tmpdir()
    local ds = data.resolve_dataset("hcrl_sa", { data_root = REAL })
    local files = {}
    for _, f in ipairs(ds.train) do
      files[#files + 1] = f.name
    end
    for _, t in ipairs(ds.tests) do
      for _, f in ipairs(t.files) do
        files[#files + 1] = f.name
      end
    end
    for _, name in ipairs(files) do
      local src = assert(io.open(gio.join(REAL, "hcrl_sa", name)))
      local lines = {}
      for i = 1, 1001 do
        lines[i] = src:read("L")
      end
      src:close()
      local out = gio.join(root, "hcrl_sa", name)
      assert(gio.mkdir_p(out:match("^(.*)/")))
      assert(gio.atomic_write(out, table.concat(lines)))
    end
    local m = data.build_cache("hcrl_sa", { lake_root = lake, data_root = root })
    assert.equal(40, m.splits.train.num_graphs + m.splits.val.num_graphs) -- 4 files x 10 windows
    assert.equal(4, #m.test_sets)
    assert.equal(20, m.splits.test_01_known_vehicle_known_attack.num_graphs)
    assert.equal(4000, m.splits.train.raw_rows)
    local bal = m.splits.test_03_known_vehicle_unknown_attack.attack_balance
    for k in pairs(bal) do
      assert.is_true(k == "normal" or k == "malfunction", k)
    end
    gio.remove_tree(root)
  end)
end)

describe("graphids data build / inspect / rebuild", function()
  local bin = (os.getenv("GRAPHIDS_BUILD") or "build") .. "/bin/graphids"

  local function run(cmd)
    local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
    local out = p:read("a")
    p:close()
    return out:match("^(.*)rc=(%d+)%s*$")
  end

  it("build, inspect and rebuild a cache from the command line", function()
    local ok = io.open(bin)
    if skip.unless(ok, "the graphids host is not built at " .. bin) then
      return
    end
    ok:close()
    local lake = tmpdir()
    local catalog = gio.join(lake, "catalog.lua")
    assert(gio.atomic_write(catalog, [[
return { synthetic = { train = { "train_01_attack_free", "train_02_with_attacks" },
  test = { "test_01_known_vehicle_known_attack" }, simulated = true, frames = 400, seed = 1 } }
]]))
    local env = "GRAPHIDS_CATALOG=" .. catalog .. " " .. bin .. " data "
    -- runs `graphids data ARGS --lake-root L`; checks its exit code and that its output matches
    -- each pattern; returns the output
    local function expect(args, root, code, ...)
      local cmd = env .. args .. " --lake-root " .. root
      local o, c = run(cmd)
      assert.equal(code, c, cmd .. "\n" .. tostring(o))
      for _, pattern in ipairs({ ... }) do assert.matches(pattern, o) end
      return o
    end
    expect("build --dataset synthetic -q", lake, "0", "train%s+20 graphs", "val%s+4 graphs",
      "test_01_known_vehicle_known_attack%s+16 graphs")
    local default = "synthetic/w100-s100-val0.2-seed42-vocab_all-node_fold-scaler_train"
    local m = json.decode(expect("inspect --dataset synthetic --json", lake, "0"))[default]
    assert.equal(24, m.splits.train.num_graphs + m.splits.val.num_graphs)
    local one = json.decode(expect("inspect --dataset synthetic --seed 42 --json", lake, "0"))
    assert.equal(20, one.splits.train.num_graphs) -- one cache selected: itself
    expect("inspect", lake, "0", "dataset synthetic, preprocessing v")
    expect("inspect", gio.join(lake, "none"), "1", "no dataset caches under")
    -- a catalog of other frames makes the cache stale: said by inspect, which changes nothing
    local cat_text = assert(gio.read_file(catalog))
    assert(gio.atomic_write(catalog, (cat_text:gsub("frames = 400", "frames = 500"))))
    expect("inspect --dataset synthetic --seed 42", lake, "0", "note: the dataset cache .- was built from " ..
      "the captures in .-synthetic%-frames400%-seed1, not from those the catalog describes now",
      "the next `graphids data build` or stage rebuilds it")
    assert(gio.atomic_write(catalog, cat_text))
    -- other parameters: another cache beside the first
    expect("build --dataset synthetic -q --stride 50", lake, "0", "window 100 / stride 50")
    expect("rebuild --dataset synthetic -q --stride 50", lake, "0", "window 100 / stride 50")
    expect("inspect", lake, "0", "stride 100.*stride 50")
    -- two builds at once: one builds, the other waits for the lock and finds the cache done
    local lake2 = gio.join(lake, "two")
    local both = string.format("(%sbuild --dataset synthetic --lake-root %s >%s/a.log 2>&1 & " ..
      "%sbuild --dataset synthetic --lake-root %s >%s/b.log 2>&1 & wait)", env, lake2, lake, env, lake2, lake)
    local out, rc = run(both)
    assert.equal("0", rc, out)
    local logs = gio.read_file(gio.join(lake, "a.log")) .. gio.read_file(gio.join(lake, "b.log"))
    local _, builds = logs:gsub("building synthetic", "")
    local _, fresh = logs:gsub("is up to date", "")
    assert.equal(1, builds, logs)
    assert.equal(1, fresh, logs)
    -- the portable-graph options: a cache of their own
    expect("rebuild --dataset synthetic -q --vocab-from benign --node-by-id --scaler per_file " ..
      "--calibration 0.25", lake, "0")
    m = json.decode(expect("inspect --dataset synthetic --json", lake, "0"))[
      "synthetic/w100-s100-val0.2-seed42-vocab_benign-node_by_id-scaler_per_file_0.25"]
    assert.same({ "benign", true, "per_file", 0.25 }, { m.vocab_from, m.node_by_id, m.scaler, m.calibration })
    expect("build --dataset synthetic", lake, "0", "is up to date")
    -- refusals
    -- a value the build would refuse is a usage error named by its flag (exit 2), like a bad integer
    expect("build --dataset synthetic -q --scaler file", lake, "2",
      "%-%-scaler must be 'train' or 'per_file', got 'file'")
    expect("build --dataset synthetic --vocab-from some", lake, "2",
      "%-%-vocab%-from must be 'all' or 'benign'")
    expect("build --dataset synthetic --scaler per_file --calibration 2", lake, "2",
      "%-%-calibration must be in %(0, 1%], got 2")
    expect("inspect --val-fraction 1.5", lake, "2", "%-%-val%-fraction must be in %[0, 1%), got 1.5")
    expect("build --dataset synthetic --lock-timeout -1", lake, "2",
      "%-%-lock%-timeout: '%-1' must be a number of seconds >= 0")
    expect("build", lake, "2", "%-%-dataset NAME is required")
    expect("build --dataset synthetic --stride 0", lake, "2", "%-%-stride: '0' must be an integer >= 1")
    expect("build --dataset synthetic --window-size 2.5", lake, "2",
      "%-%-window%-size: '2.5' must be an integer in 3%.%.1048576")
    -- a window size no window graph can come of, or past the builder's limit: before any reading
    expect("build --dataset synthetic --window-size 2", lake, "2",
      "%-%-window%-size: '2' must be an integer in 3%.%.1048576 %(a window of 2 frames or fewer has " ..
      "no edge%)")
    expect("build --dataset synthetic --window-size 20000000", lake, "2",
      "%-%-window%-size: '20000000' must be an integer in 3%.%.1048576")
    expect("inspect --seed -1", lake, "2", "%-%-seed: '%-1' must be an integer >= 0")
    -- build's options that would do nothing in inspect are not its own (nor in its help)
    for _, a in ipairs({ "--lock-timeout 5", "-q", "--quiet" }) do
      expect("inspect " .. a, lake, "2", "unknown option '" .. a:match("^%S+"):gsub("%-", "%%-") .. "'")
    end
    local help = expect("inspect --help", lake, "0", "%-%-json ")
    assert.falsy(help:find("--lock-timeout", 1, true) or help:find("--quiet", 1, true), help)
    assert.truthy(expect("build --help", lake, "0"):find("--lock-timeout S", 1, true))
    expect("build --dataset synthetic --dataset hcrl_sa", lake, "2",
      "%-%-dataset is given twice; give it once")
    expect("inspect --dataset bogus", lake, "1", "unknown dataset 'bogus'; known datasets: synthetic")
    -- a name that is not one folder name reaches no folder, though ../v1/synthetic is a cache
    for _, sel in ipairs({ "", " --seed 42" }) do
      local o = expect("inspect --dataset ../v1/synthetic" .. sel, lake, "1",
        "dataset name '%.%./v1/synthetic' is not one folder name")
      assert.falsy(o:find("preprocessing v", 1, true), o)
    end
    assert.error_matches(function() data.list_caches({ lake_root = lake, dataset = "synthetic/.." }) end,
      "list_caches: dataset name 'synthetic/%.%.' is not one folder name")
    expect("inspect --dataset synthetic --stride 30", lake, "1",
      "no dataset cache at .*graphids data build %-%-dataset synthetic")
    -- the build hint builds where inspect looked: the lake root, and the data root when given
    local empty = gio.join(lake, "empty")
    expect("inspect --dataset synthetic", empty, "1", "no dataset caches of synthetic under .*; build " ..
      "one: graphids data build %-%-dataset synthetic %-%-lake%-root=" .. empty:gsub("%p", "%%%0") .. "\n")
    expect("inspect --dataset synthetic --data-root=/no/data", empty, "1", "; build one: graphids " ..
      "data build %-%-dataset synthetic %-%-lake%-root=" .. empty:gsub("%p", "%%%0") ..
      " %-%-data%-root=/no/data\n")
    expect("build --dataset nope", lake, "1", "unknown dataset 'nope'")
    -- damage: metadata with a field of the wrong shape, a truncated graph file, a missing vocab
    local dir = gio.join(lake, "cache", "v1", default)
    local mpath = gio.join(dir, "cache_metadata.json")
    local meta = assert(gio.read_json(mpath))
    local original = assert(gio.read_file(mpath))
    -- hand edits that stopped inspect and build with raw Lua errors (io.join, a %d format, a
    -- concatenated null) are named by key
    for _, c in ipairs({
      { function(md) md.splits.val.file = json.array({}) end,
        "'splits.val.file' must be a file name in the cache folder, got a list" },
      { function(md) md.splits.train.file = "../x.safetensors" end,
        "'splits.train.file' must be a file name" },
      { function(md) md.splits.train.attack_balance.gear = json.null end,
        "'splits.train.attack_balance.gear' must be an integer >= 0, got null" },
      { function(md) md.splits.train.graph_stats.node_count.min = 1e308 end,
        "'splits.train.graph_stats.node_count.min' must be an integer >= 0, got 1e%+308" },
      { function(md) md.splits.train.graph_stats.edge_count.mean = -1 end,
        "'splits.train.graph_stats.edge_count.mean' must be a finite number >= 0, got %-1" },
    }) do
      local md = assert(gio.read_json(mpath))
      c[1](md)
      assert(gio.write_json(mpath, md))
      expect("inspect", lake, "1", c[2], "1 damaged cache")
      expect("build --dataset synthetic -q", lake, "1", c[2])
      assert(gio.atomic_write(mpath, original))
    end
    -- metadata that does not parse (cut short) names the way out as a damaged field does
    assert(gio.atomic_write(mpath, original:sub(1, 40)))
    expect("build --dataset synthetic -q", lake, "1",
      "cache_metadata.json: json: .* %(rebuild it: graphids data rebuild %-%-dataset synthetic " ..
      "%-%-lake%-root")
    expect("inspect", lake, "1", "cache_metadata.json: json: .* %(delete its folder or rebuild it",
      "1 damaged cache")
    assert(gio.atomic_write(mpath, original))
    meta.splits.val.graph_stats = nil
    assert(gio.write_json(mpath, meta))
    expect("inspect", lake, "1",
      "'splits.val.graph_stats.node_count.min' must be an integer >= 0, got nothing", "1 damaged cache")
    expect("build --dataset synthetic -q", lake, "1",
      "a damaged file; rebuild it: graphids data rebuild %-%-dataset synthetic")
    expect("rebuild --dataset synthetic -q", lake, "0")
    -- a byte flipped in a graph file's header (same size): a load refuses the file, so inspect
    -- calls the cache damaged and build does not call it up to date
    local tpath = gio.join(dir, "train.safetensors")
    local good_train = assert(gio.read_file(tpath))
    local at = good_train:find('"node_id"', 1, true)
    assert(gio.atomic_write(tpath, good_train:sub(1, at + 5) .. "X" .. good_train:sub(at + 7)))
    expect("inspect --dataset synthetic --seed 42", lake, "1", "train%.safetensors: no tensor 'node_id'")
    expect("inspect", lake, "1", "train%.safetensors: no tensor 'node_id'", "1 damaged cache")
    expect("build --dataset synthetic -q", lake, "1",
      "train%.safetensors: no tensor 'node_id'; rebuild it: graphids data rebuild %-%-dataset synthetic")
    assert(gio.atomic_write(tpath, good_train))
    expect("build --dataset synthetic", lake, "0", "is up to date")
    local f = assert(io.open(gio.join(dir, "train.safetensors"), "r+b"))
    local size = f:seek("end")
    f:close()
    assert(os.execute("truncate -s 1000 " .. specenv.quote(gio.join(dir, "train.safetensors"))))
    assert(os.remove(gio.join(dir, "vocab.json")))
    expect("inspect --dataset synthetic --seed 42", lake, "1",
      "train.safetensors is 1000 bytes, the metadata says " .. size, "vocab.json is missing")
    -- a listing names the damaged cache on stderr and lists only the others (exit 1)
    local p = io.popen(env .. "inspect --dataset synthetic --json --lake-root " .. lake .. " 2>/dev/null")
    local listed = json.decode(p:read("a"))
    assert.same({ nil, "exit", 1 }, { p:close() })
    assert.is_nil(listed[default])
    assert.is_not_nil(listed["synthetic/w100-s50-val0.2-seed42-vocab_all-node_fold-scaler_train"])
    p = io.popen(env .. "inspect --dataset synthetic --lake-root " .. lake .. " 2>/dev/null")
    local text = p:read("a")
    p:close()
    assert.truthy(text:find("w100-s50-val0.2", 1, true), text)
    assert.is_nil(text:find(default, 1, true), text)
    gio.remove_tree(lake)
  end)
end)
