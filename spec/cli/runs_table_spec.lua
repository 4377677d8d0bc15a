-- runs_table_spec.lua -- how `graphids runs list|show|compare` write what they read: the table's
-- columns lined up by display width (a CJK character two columns, a combining accent none) and
-- as wide as their widest cell (a name that is not ASCII, or long); a run dir whose path is not
-- UTF-8 (which the file system allows) in --json, its bytes as \xNN, rather than an error for
-- the whole output.
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local R = require "cli.support.runs_cli"

describe("graphids runs' output", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  local function identity(variant, seed)
    return string.format('{"identity": {"dataset": "d", "stage": "gat", "variant": "%s", "seed": %d}}',
      variant, seed)
  end

  it("gives a run dir whose path is not UTF-8 in --json with its bytes as \\xNN", function()
    local root = gio.join(tmp, "bytes")
    local scan = require("graphids.orchestrate.runs").scan
    R.run_dir(root, "d/gat/a/seed_0", identity("a", 0), '{"test/f1_macro": 0.5}')
    local bad = R.run_dir(root, "d/gat/b\xFF/seed_1", identity("b", 1), '{"test/f1_macro": 0.75}')
    local shown = gio.join(root, "d/gat/b\\xFF/seed_1")
    local rc, out, err = R.call({ "list", "--lake-root", root, "--json" }, scan)
    assert.equal(0, rc, err)
    local list = json.decode(out)
    assert.same({ gio.join(root, "d/gat/a/seed_0"), shown }, { list[1].dir, list[2].dir })
    rc, out, err = R.call({ "compare", "--lake-root", root, "--json" }, scan)
    assert.equal(0, rc, err)
    assert.same({ shown }, json.decode(out)[1].dirs)
    -- a damaged run's identity comes from its path, and its problem names its file
    proc.spit(gio.join(bad, "resolved.json"), "[1]")
    rc, out, err = R.call({ "list", "--lake-root", root, "--json" }, scan)
    assert.equal(0, rc, err)
    local run = json.decode(out)[2]
    assert.same({ shown, "b\\xFF", "damaged" }, { run.dir, run.identity.variant, run.status })
    rc, out = R.call({ "show", bad, "--json" })
    assert.equal(1, rc)
    local r = json.decode(out)
    assert.same({ shown, { shown .. "/resolved.json: not a JSON object (a list [1])" } },
      { r.dir, r.problems })
  end)

  -- The character (not byte) at which `pat` ends in each line of text that has it.
  local function ends(text, pat)
    local out = {}
    for line in text:gmatch("[^\n]+") do
      local _, e = line:find(pat)
      if e then out[#out + 1] = utf8.len(line:sub(1, e)) end
    end
    return out
  end

  -- The terminal column at which `pat` ends in each line of text that has it, counted here
  -- apart from the code under test, for the characters these specs use: CJK ideographs, kana
  -- and Hangul syllables take two columns, combining diacritical marks (U+0300..U+036F) none.
  local function cols(text, pat)
    local out = {}
    for line in text:gmatch("[^\n]+") do
      local _, e = line:find(pat)
      if e then
        local n = 0
        for _, cp in utf8.codes(line:sub(1, e)) do
          local wide = (cp >= 0x3040 and cp <= 0x30FF) or (cp >= 0x4E00 and cp <= 0x9FFF) or
            (cp >= 0xAC00 and cp <= 0xD7A3)
          n = n + (wide and 2 or (cp >= 0x300 and cp <= 0x36F) and 0 or 1)
        end
        out[#out + 1] = n
      end
    end
    return out
  end

  -- Records of the variants, seeds 0 and 1 each (dataset `dataset`, "d" when nil).
  local function records_of(variants, dataset)
    local records = {}
    for _, v in ipairs(variants) do
      for seed = 0, 1 do
        local r = R.rec(v, seed, 0.9 + seed / 100)
        r.metrics["test/accuracy"] = 0.5
        r.identity.dataset = dataset or "d"
        records[#records + 1] = r
      end
    end
    return records
  end

  it("lines up the columns of a CJK run name and dataset by display width (two columns each)", function()
    -- "変種カン_gat" is 12 columns in 8 characters, "한국어_실험_이름_길다" 21 in 12; the dataset
    -- "データセット" 12 in 6
    local records = records_of({ "gat", "変種カン_gat", "한국어_실험_이름_길다" }, "データセット")
    local rc, out, err = R.call({ "list", "--lake-root", tmp }, records)
    assert.equal(0, rc, err)
    -- dataset (12), stage (8), scale (7), variant (21), seed (5), status (10), one space apart,
    -- then acc (%7s) ends at 76, in the header and in each row
    assert.same({ 76 }, cols(out, "acc"))
    assert.same({ 76, 76, 76, 76, 76, 76 }, cols(out, "tested%s+0%.5000"))
    rc, out, err = R.call({ "compare", "--lake-root", tmp, "--expected-max" }, records)
    assert.equal(0, rc, err)
    -- "  rank " (7), dataset (12), stage (8), variant (21), n (%3d), then mean (%9s) ends at 64
    assert.same({ 64 }, cols(out, " n%s+mean"))
    assert.same({ 64, 64, 64 }, cols(out, "^  %d+%s+%S+%s+gat%s+%S+%s+2%s+%S+"))
    -- the expected best of n: "    ", variant (21), then n=1 (%16s after two spaces) ends at 43
    assert.same({ 43 }, cols(out, "n=1"))
    assert.same({ 43, 43, 43 }, cols(out, "^    %S+%s+0%.%d+ %+%- 0%.%d+"))
  end)

  it("lines up the columns of a name with combining accents, which take no column", function()
    -- "e\u{301}" is an e and a combining acute: "re\u{301}sume\u{301}_tre\u{300}s_long" is 16
    -- columns in 19 code points, wider than any other name; "n\u{303}" an n with a tilde
    local long = "re\u{301}sume\u{301}_tre\u{300}s_long"
    local records = records_of({ "gat", long, "man\u{303}ana" })
    local rc, out, err = R.call({ "list", "--lake-root", tmp }, records)
    assert.equal(0, rc, err)
    -- dataset (10), stage (8), scale (7), variant (16), seed (5), status (10): acc ends at 69
    assert.same({ 69 }, cols(out, "acc"))
    assert.same({ 69, 69, 69, 69, 69, 69 }, cols(out, "tested%s+0%.5000"))
    rc, out, err = R.call({ "compare", "--lake-root", tmp }, records)
    assert.equal(0, rc, err)
    -- "  rank " (7), dataset (10), stage (8), variant (16), n (%3d): mean ends at 57
    assert.same({ 57 }, cols(out, " n%s+mean"))
    assert.same({ 57, 57, 57 }, cols(out, "^  %d+%s+d%s+gat%s+%S+%s+2%s+%S+"))
  end)

  it("pads a metric key of runs show by display width", function()
    local dir = R.run_dir(gio.join(tmp, "show"), "d/gat/a/seed_0", identity("a", 0),
      '{"test/試験_セット/f1": 0.5, "test/cafe\u{301}/f1": 0.25, "test/f1": 0.75}')
    local rc, out, err = R.call({ "show", dir })
    assert.equal(0, rc, err)
    -- "  ", the key padded to 60 columns, a space: each value starts at column 64
    assert.same({ 64, 64, 64 }, cols(out, "^  test/%S+%s+%d"))
  end)

  it("lines up the columns by characters, as wide as their widest cell", function()
    local records = {}
    for _, v in ipairs({ "gat", "gät", "a_variant_name_of_30_characters", "ünïcödé" }) do
      for seed = 0, 1 do
        local r = R.rec(v, seed, 0.9 + seed / 100)
        r.metrics["test/accuracy"] = 0.5
        records[#records + 1] = r
      end
    end
    local rc, out, err = R.call({ "list", "--lake-root", tmp }, records)
    assert.equal(0, rc, err)
    -- the variant column is 31 characters wide (the longest name): dataset (10), stage (8), scale
    -- (7), variant (31), seed (5), status (10), one space apart, then acc (%7s) ends at 84, in
    -- the header and in each row, "ünïcödé"'s too
    assert.same({ 84 }, ends(out, "acc"))
    assert.same({ 84, 84, 84, 84, 84, 84, 84, 84 }, ends(out, "tested%s+0%.5000"))
    rc, out, err = R.call({ "compare", "--lake-root", tmp, "--expected-max" }, records)
    assert.equal(0, rc, err)
    -- "  rank " (7), dataset, stage, variant (31), n (%3d), then mean (%9s) ends at 72
    assert.same({ 72 }, ends(out, " n%s+mean"))
    assert.same({ 72, 72, 72, 72 }, ends(out, "^  %d+%s+d%s+gat%s+%S+%s+2%s+%S+"))
    -- the expected best of n: "    ", variant (31), then n=1 (%16s after two spaces) ends at 53
    assert.same({ 53 }, ends(out, "n=1"))
    assert.same({ 53, 53, 53, 53 }, ends(out, "^    %S+%s+0%.%d+ %+%- 0%.%d+"))
  end)
end)
