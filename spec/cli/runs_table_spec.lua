-- runs_table_spec.lua -- how `graphids runs list|show|compare` write what they read: the table's
-- columns lined up by characters and as wide as their widest cell (a name that is not ASCII, or
-- long); a run dir whose path is not UTF-8 (which the file system allows) in --json, its bytes as
-- \xNN, rather than an error for the whole output.
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
