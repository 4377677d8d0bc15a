-- runs_table_spec.lua -- how `graphids runs list|show|compare` write what they read: a run dir
-- whose path is not UTF-8 (which the file system allows) in --json, its bytes as \xNN, rather
-- than an error for the whole output.
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
end)
