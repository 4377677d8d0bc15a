-- windows_spec.lua -- graphids.sha256 / sha256_file, and (below) the window-graph builder,
-- vocabulary, split and scaler of graphids.data.windows.
local graphids = require "graphids"

describe("graphids.sha256", function()
  it("gives the FIPS 180-2 digests of short messages", function()
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      graphids.sha256(""))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      graphids.sha256("abc"))
    assert.are.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
      graphids.sha256(string.rep("a", 1000000)))
  end)

  it("hashes embedded zero bytes", function()
    assert.are_not.equal(graphids.sha256("a\0b"), graphids.sha256("a"))
  end)

  it("hashes a file as its content and reports a missing file as nil, message, code", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("abc")
    f:close()
    assert.are.equal(graphids.sha256("abc"), graphids.sha256_file(path))
    os.remove(path)
    local ok, msg, code = graphids.sha256_file(path)
    assert.is_nil(ok)
    assert.are.equal("EIO", code)
    assert.matches("cannot open '" .. path:gsub("%p", "%%%0") .. "'", msg)
  end)

  it("rejects non-string arguments and extra arguments", function()
    assert.error_matches(function() graphids.sha256({}) end, "string expected, got table", 1, true)
    assert.error_matches(function() graphids.sha256("a", "b") end,
      "sha256: unexpected argument #2 (string)", 1, true)
  end)
end)

local core = require "graphids.core"
local data = require "graphids.data"
local skip = require "skip"

-- A CanFrames from rows {ts, id text, payload hex, attack} through a canonical CSV.
local function frames(rows)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("timestamp,arbitration_id,data_field,attack\n")
  for _, r in ipairs(rows) do
    f:write(string.format("%.6f,%s,%s,%d\n", r[1], r[2], r[3], r[4] or 0))
  end
  f:close()
  local fr = data.read_can(path)
  os.remove(path)
  return fr
end

-- A B A A C A, attack on row 5 (the C test's first window), then 6 rows of an unknown id.
local function example()
  local rows = {
    { 0.0, "100", "0A0A000000000000" }, { 0.1, "200", "1400000000000000" },
    { 0.3, "100", "0A00000000000000" }, { 0.4, "100", "0E00000000000000" },
    { 0.7, "300", "0000000000000000", 1 }, { 1.0, "100", "1E00000000000000" },
  }
  for i = 0, 5 do
    rows[#rows + 1] = { 2.0 + i, "7AA", "0102000000000000" }
  end
  return frames(rows)
end

local function near(a, b, tol)
  return math.abs(a - b) <= tol * (1 + math.abs(b))
end

describe("graphids.data.build_windows", function()
  local vocab = data.Vocabulary.from_ids { "100", "200", "300" }

  it("builds the reference's graph of a hand-computed window", function()
    local set = data.build_windows { files = { example() }, vocab = vocab, window = 6, stride = 6,
      attack_types = { 6 } }
    assert.are.equal(2, set.num_graphs)
    assert.are.same({ 4, 35 }, set.x.shape)
    assert.are.same({ 1, 2, 3, 0 }, set.node_id:totable())
    assert.are.same({ { 1, 0, 0, 2, 0, 0, 0, 0 }, { 0, 0, 2, 0, 0, 0, 0, 0 } },
      set.edge_index:totable())
    assert.are.same({ 0, 3, 4 }, set.node_ptr:totable())
    assert.are.same({ 1, 0 }, set.y:totable())
    assert.are.same({ 6, 0 }, set.attack_type:totable())
    assert.are.same({ 0, 6 }, set.window_start:totable())
    assert.are.same({ 0, 0 }, set.source_file:totable())
    local a = set.x:totable()[1]
    -- byte0 10 10 14 30: mean 16, sample std 9.521905; msg_count 4; clustering 1/3; in 3 out 2
    assert.is_true(near(a[1], 16, 1e-6) and near(a[9], 9.521905, 1e-6))
    assert.are.equal(4, a[25])
    assert.is_true(near(a[29], 1 / 3, 1e-6))
    assert.are.same({ 3, 2 }, { a[34], a[35] })
    assert.is_true(graphids.graph_set_validate(set))
  end)

  -- A remote request (R, R4: no payload, flags bit 2) is a message of its id with no bytes,
  -- exactly as a data frame of that id with an empty payload (what the reference, which reads
  -- no RTR bit, makes of a row without a payload): its requested length is no feature.
  it("reads a remote request as a message of its id with no bytes", function()
    local function with(payload)
      return { { 0.0, "100", "0A0A" }, { 0.1, "200", payload }, { 0.3, "100", "0A00" },
        { 0.4, "200", payload }, { 0.7, "100", "0E00" }, { 1.0, "300", "01" } }
    end
    local remote, empty = frames(with("R4")), frames(with(""))
    assert.are.same({ 0, 2, 0, 2, 0, 0 }, remote:column("flags"):totable())
    assert.are.same({ 2, 4, 2, 4, 2, 1 }, remote:column("dlc"):totable())
    local a = data.build_windows { files = { remote }, vocab = vocab, window = 6, stride = 6 }
    local b = data.build_windows { files = { empty }, vocab = vocab, window = 6, stride = 6 }
    for _, k in ipairs({ "x", "edge_attr", "edge_index", "node_id", "node_ptr", "edge_ptr" }) do
      assert.is_true(graphids.equal(a[k], b[k]), k)
    end
    assert.are.equal(3, a.node_id:numel())
  end)

  it("keeps parallel edges and counts them in edge_freq", function()
    local set = data.build_windows { files = { example() }, vocab = vocab, window = 6, stride = 6 }
    local e = set.edge_attr:totable()
    assert.are.same({ 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4 }, e[5]) -- 4 UNK self-loops, gaps of 1 s
  end)

  it("drops every window when no edge is left (W = 2) and keeps empty fields", function()
    local set = data.build_windows { files = { example() }, vocab = vocab, window = 2, stride = 1 }
    assert.are.equal(0, set.num_graphs)
    assert.are.same({ 0, 35 }, set.x.shape)
    assert.are.same({ 0, 11 }, set.edge_attr.shape)
    local aligned = data.build_windows { files = { example() }, vocab = vocab, window = 2,
      stride = 1, aligned_edges = true }
    assert.are.equal(12 - 1, aligned.num_graphs)
  end)

  it("never lets a window straddle two files", function()
    local set = data.build_windows { files = { example(), example() }, vocab = vocab, window = 5,
      stride = 4 }
    -- 12 rows per file: starts 0 and 4 in each (a window at 8 would need row 13)
    assert.are.same({ 0, 4, 0, 4 }, set.window_start:totable())
    assert.are.same({ 0, 0, 1, 1 }, set.source_file:totable())
  end)

  it("rejects unknown options, a missing vocabulary and bad attack types", function()
    local f = example()
    assert.has_error(function()
      data.build_windows { files = { f }, vocab = vocab, windwo = 5 }
    end, "build_windows: unknown option 'windwo' (did you mean 'window'?)")
    assert.has_error(function()
      data.build_windows { files = { f }, vocab = vocab, zzz = 1 }
    end, "build_windows: unknown option 'zzz' (allowed: aligned_edges, attack_types, files, "
      .. "node_by_id, stride, vocab, window)")
    assert.has_error(function()
      core.build_windows({ f }, { vocab = { "100", "ZZZ" } })
    end, "build_windows: vocab[2]: can id 'ZZZ': 'Z' at position 1 is not a hex digit")
    assert.has_error(function() data.build_windows { files = { f } } end,
      "build_windows: option vocab must be a graphids.data.Vocabulary")
    assert.has_error(function()
      data.build_windows { files = { f }, vocab = vocab, attack_types = { 1, 2 } }
    end)
    assert.has_error(function()
      data.build_windows { files = { f }, vocab = vocab, window = 0 }
    end, "build_windows: window 0 must be in 1..1048576")
    -- MAX_WINDOW (what the cache refuses a --window-size past, before reading) is the runtime's
    assert.has_error(function()
      data.build_windows { files = { f }, vocab = vocab, window = data.MAX_WINDOW + 1 }
    end, ("build_windows: window %d must be in 1..%d"):format(data.MAX_WINDOW + 1, data.MAX_WINDOW))
    data.build_windows { files = { f }, vocab = vocab, window = data.MAX_WINDOW }
  end)

  -- The runtime's checks were raised at windows.lua's line, and an element that is no CanFrames
  -- as "bad argument #-1 to 'build_windows' (graphids.CanFrames expected, got string)".
  it("names a files element that is no CanFrames, and raises the runtime's checks at the caller's line",
    function()
      local f, gone = example(), example()
      gone:free()
      -- (each call on a line of its own, not a tail call: the error names that line)
      local function build(o)
        local s = data.build_windows(o)
        return s
      end
      local function vocab_of(l)
        local v = data.Vocabulary.from_frames(l)
        return v
      end
      local function err_at(fn)
        local ok, msg = pcall(fn)
        assert.is_false(ok)
        local at, rest = msg:match("^(.-:%d+): (.*)$")
        local caller = rest:match("^build_windows") and build or vocab_of
        assert.equal("windows_spec.lua:" .. debug.getinfo(caller, "S").linedefined + 1, at:match("[^/]+$"))
        return rest
      end
      assert.equal("build_windows: files[2] must be a CanFrames (from data.read_can), got string",
        err_at(function() build { files = { f, "e1.csv" }, vocab = vocab, window = 3 } end))
      assert.equal("build_windows: files[1] must be a CanFrames (from data.read_can), got a freed CanFrames",
        err_at(function() build { files = { gone }, vocab = vocab, window = 3 } end))
      -- a length a __len makes up is refused before a buffer of that many entries is made
      assert.equal("build_windows: files has length 2305843009213693952, expected 0 to 1073741824 " ..
        "entries", err_at(function()
          build { files = setmetatable({ f }, { __len = function() return 1 << 61 end }), vocab = vocab,
            window = 3 }
        end))
      -- frames a list makes in its __index (held by nothing else) are kept alive while they are
      -- read: collected, the first file's windows went missing (or its memory was read freed)
      local lazy = setmetatable({}, { __len = function() return 2 end, __index = function()
        collectgarbage("collect")
        return example()
      end })
      assert.equal(build { files = { f, example() }, vocab = vocab, window = 3 }.num_graphs,
        build { files = lazy, vocab = vocab, window = 3 }.num_graphs)
      assert.equal(#vocab_of { f, example() }.ids, #vocab_of(lazy).ids)
      assert.equal("build_windows: window 0 must be in 1..1048576",
        err_at(function() build { files = { f }, vocab = vocab, window = 0 } end))
      assert.equal("build_windows: stride 0 must be >= 1",
        err_at(function() build { files = { f }, vocab = vocab, stride = 0 } end))
      assert.equal("Vocabulary.from_frames: list[2] must be a CanFrames (from data.read_can), got string",
        err_at(function() vocab_of { f, "e1.csv" } end))
      assert.equal("Vocabulary.from_frames: list must be a list of CanFrames, got string",
        err_at(function() vocab_of "e1.csv" end))
    end)
end)

describe("graphids.data.Vocabulary", function()
  it("hashes the reference's canonical JSON of its entries", function()
    local v = data.Vocabulary.from_ids { "0a0", "0C1", "18FEDF00" }
    assert.are.equal('[["0A0", 1], ["0C1", 2], ["18FEDF00", 3]]', v:canonical_json())
    -- Python: hashlib.sha256(json.dumps(sorted(pairs, key=index)).encode()).hexdigest()
    assert.are.equal("a5ca0c18046d61f299ed6e4b3a04124826a74e806bd3bf8d5c94a81441c29e26", v.digest)
    assert.are.equal(4, v.num_ids)
    assert.are.equal(2, v:index("0c1"))
    assert.are.equal(0, v:index("7FF"))
  end)

  it("sorts the ids of the frames and round-trips through entries", function()
    local f = frames { { 0, "7FF", "" }, { 1, "0C1", "00" }, { 2, "18FEDF00", "" }, { 3, "0C1", "" } }
    local v = data.Vocabulary.from_frames { f }
    assert.are.same({ "0C1", "18FEDF00", "7FF" }, v.ids)
    local e = v:to_entries()
    assert.are.same({ ["0C1"] = 1, ["18FEDF00"] = 2, ["7FF"] = 3 }, e)
    local back = data.Vocabulary.from_entries(e, v.digest)
    assert.are.same(v.ids, back.ids)
    assert.error_matches(function() data.Vocabulary.from_entries(e, "00") end,
      "digest 00 does not match the entries", 1, true)
  end)

  it("takes the ids of frames labelled normal only with benign_only", function()
    local f = frames { { 0, "0C1", "" }, { 1, "7FF", "", 1 }, { 2, "0A0", "" }, { 3, "0C1", "", 1 } }
    assert.are.same({ "0A0", "0C1", "7FF" }, data.Vocabulary.from_frames({ f }).ids)
    assert.are.same({ "0A0", "0C1" }, data.Vocabulary.from_frames({ f }, { benign_only = true }).ids)
    assert.has_error(function() data.Vocabulary.from_frames({ f }, { benign = true }) end)
    -- the core call: the flag is optional
    assert.are.same({ "0A0", "0C1", "7FF" }, core.can_vocab_ids({ f }))
    assert.are.same({ "0A0", "0C1" }, core.can_vocab_ids({ f }, true))
  end)

  it("rejects repeated ids, gaps in the indices and bad id texts", function()
    assert.has_error(function() data.Vocabulary.from_ids { "0C1", "0c1" } end,
      "Vocabulary.from_ids: id 0C1 appears at entries 1 and 2")
    assert.error_matches(function() data.Vocabulary.from_entries { ["0C1"] = 1, ["0C2"] = 3 } end,
      "index of 0C2 must be an integer in 1..2, got 3", 1, true)
    assert.error_matches(function() data.Vocabulary.from_entries { ["0c1"] = 1, ["0C1"] = 2 } end,
      "ids '0C1' and '0c1' are the same id 0C1", 1, true)
    assert.error_matches(function() data.Vocabulary.from_ids { "C1" } end,
      "entry 1: id 'C1' must be 3 hex digits (11-bit) or 8 (29-bit)", 1, true)
    assert.error_matches(function() data.Vocabulary.from_ids { "800" } end,
      "entry 1: id '800' is out of range (at most 7FF or 1FFFFFFF)", 1, true)
    -- the message points at the caller, not inside graphids.data
    local ok, err = pcall(function()
      local v = data.Vocabulary.from_ids { "800" }
      return v
    end)
    assert.is_false(ok)
    assert.matches("^spec/data/windows_spec.lua:%d+: ", err)
  end)
end)

describe("graphids.data.split_train_val", function()
  it("is a seeded permutation: floor(n * f) val graphs, both parts sorted, disjoint", function()
    local tr, va = data.split_train_val(103, { val_fraction = 0.2, seed = 7 })
    assert.are.equal(20, va:numel())
    assert.are.equal(83, tr:numel())
    local seen, t, v = {}, tr:totable(), va:totable()
    for i = 2, #t do assert.is_true(t[i - 1] < t[i]) end
    for i = 2, #v do assert.is_true(v[i - 1] < v[i]) end
    for _, x in ipairs(t) do seen[x] = true end
    for _, x in ipairs(v) do
      assert.is_nil(seen[x])
      seen[x] = true
    end
    for i = 0, 102 do assert.is_true(seen[i]) end
    local tr2, va2 = data.split_train_val(103, { val_fraction = 0.2, seed = 7 })
    assert.are.same(v, va2:totable())
    assert.are.same(t, tr2:totable())
    local _, va3 = data.split_train_val(103, { val_fraction = 0.2, seed = 8 })
    assert.are_not.same(v, va3:totable())
  end)

  it("checks its arguments", function()
    assert.error_matches(function() data.split_train_val(10, { val_frac = 0.1 }) end,
      "split_train_val: unknown option 'val_frac' (did you mean 'val_fraction'?)", 1, true)
    assert.error_matches(function() data.split_train_val(10, { val_fraction = 1.5 }) end,
      "split_train_val: val_fraction must be in [0, 1], got 1.5", 1, true)
    assert.error_matches(function() data.split_train_val(-1) end,
      "split_train_val: num_graphs must be an integer >= 0, got -1", 1, true)
  end)
end)

describe("graphids.data.Scaler", function()
  it("fits mean and unbiased std on the train graphs only and applies them in place", function()
    local set = data.build_windows { files = { example(), example() }, vocab =
      data.Vocabulary.from_ids { "100", "200", "300" }, window = 4, stride = 3 }
    local train = graphids.tensor({ 0, 2, 5 }, { dtype = "i64" })
    local sc = data.Scaler.fit(set, train)
    -- reference: the rows of graphs 0, 2, 5 gathered, mean and std(0) in f64
    local rows = {}
    local ptr = set.node_ptr:totable()
    for _, g in ipairs(train:totable()) do
      for r = ptr[g + 1], ptr[g + 2] - 1 do rows[#rows + 1] = r end
    end
    local sub = set.x:index_select(1, graphids.tensor(rows, { dtype = "i64" })):to("f64")
    local mean, std = sub:mean(1):totable(), sub:std(1):totable()
    local got_m, got_s = sc.x_mean:totable(), sc.x_std:totable()
    for c = 1, 35 do
      assert.is_true(near(got_m[c], mean[c], 1e-6), "mean column " .. c)
      assert.is_true(near(got_s[c], math.max(std[c], 1e-6), 1e-6), "std column " .. c)
    end
    local x0 = set.x:clone()
    assert.are.equal(set, sc:apply(set))
    local want = x0:sub(sc.x_mean):div(sc.x_std)
    assert.is_true(graphids.equal(want, set.x))
    local back = data.Scaler.from_table(sc:to_table())
    assert.are.equal(sc.edge_std, back.edge_std)
  end)
end)

describe("window graphs of real traffic", function()
  local path = require("specenv").DATA .. "/hcrl_sa/train_02_with_attacks/DoS-kia.csv"
  local f = io.open(path)
  if skip.unless(f ~= nil, "hcrl_sa is not at " .. path) then return end
  f:close()

  it("give (n - W) // S + 1 graphs of W - 2 edges, labelled from the attack rows", function()
    local fr = data.read_can(path)
    local v = data.Vocabulary.from_frames { fr }
    local set = data.build_windows { files = { fr }, vocab = v, attack_types = { 1 } }
    assert.are.equal((#fr - 100) // 100 + 1, set.num_graphs)
    assert.are.equal(98 * set.num_graphs, set.edge_attr.shape[1])
    assert.is_true(graphids.graph_set_validate(set))
    local y, at = set.y:totable(), set.attack_type:totable()
    local attacks = 0
    for g = 1, #y do
      assert.are.equal(y[g] == 1 and 1 or 0, at[g])
      attacks = attacks + y[g]
    end
    assert.is_true(attacks > 0 and attacks < #y)
    assert.is_true(set.x:isfinite():all():item())
  end)
end)
