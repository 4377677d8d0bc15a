-- runs_seeds_spec.lua -- `graphids runs compare` over the seeds of each variant: a variant whose
-- seeds equal or mostly equal the best's is tied (d = 0 for no difference, in the table and in
-- --json); a seed tested in two run dirs (a lake copied into the lake root) or two tracking runs
-- counts once, the one tested last, with a note naming both; a run left out of the ranking
-- (damaged, or tested without a number for the metric) is named on stderr.
local gio = require "graphids.io"
local json = require "graphids.json"
local shell = require "graphids.shell"
local proc = require "trainer.support.proc"
local R = require "cli.support.runs_cli"

describe("graphids runs compare's seeds", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  local function seeds(variant, values)
    local out = {}
    for i, v in ipairs(values) do out[i] = R.rec(variant, i - 1, v) end
    return out
  end
  local function join(...)
    local all = {}
    for _, l in ipairs({ ... }) do table.move(l, 1, #l, #all + 1, all) end
    return all
  end

  it("ties a variant whose seeds equal the best's, or mostly do", function()
    local records = join(seeds("gat", { 1, 1, 1 }), seeds("mlp", { 1, 0.99, 1 }), seeds("same", { 1, 1, 1 }))
    local rc, out, err = R.call({ "compare", "--lake-root", tmp }, records)
    assert.equal(0, rc, err)
    assert.truthy(out:find("\n  1%s+d%s+gat%s+gat%s+3%s+1%.00000 .-%]%s+%-\n"), out)
    assert.truthy(out:find("\n  2%s+d%s+gat%s+same%s+3%s+1%.00000 .-%]%s+0%.00 %[0%.00, 0%.00%] tied\n"), out)
    assert.truthy(out:find("\n  3%s+d%s+gat%s+mlp%s+3%s+0%.99667 .-%]%s+0%.82 %[0%.00, inf%] tied\n"), out)
    rc, out, err = R.call({ "compare", "--lake-root", tmp, "--json" }, records)
    assert.equal(0, rc, err)
    local rows = json.decode(out)
    assert.equal(json.null, rows[1].d_vs_best)
    assert.same({ d = 0, ci95 = { 0, 0 }, tied = true }, rows[2].d_vs_best)
    assert.same({ 0, json.null, true }, { rows[3].d_vs_best.ci95[1], rows[3].d_vs_best.ci95[2],
      rows[3].d_vs_best.tied })
  end)

  it("counts a seed tested twice once, the run tested last, and names both on stderr", function()
    local root = gio.join(tmp, "dup")
    local function tested(under, seed, f1, epoch)
      local dir = R.run_dir(root, under .. "d/gat/a/seed_" .. seed, string.format('{"identity": ' ..
        '{"dataset": "d", "stage": "gat", "variant": "a", "seed": %d}}', seed),
        string.format('{"test/f1_macro": %s}', f1))
      assert(os.execute("touch -d @" .. epoch .. " " .. shell.quote(gio.join(dir, "test_metrics.json"))))
      return dir
    end
    -- the lake, and a copy of it in a folder of the lake root; seed 1's copy tested later
    local l0, l1, l2 = tested("", 0, 0.9, 2000), tested("", 1, 0.8, 2000), tested("", 2, 0.7, 2000)
    local c0, c1, c2 = tested("copy/", 0, 0.6, 1000), tested("copy/", 1, 0.5, 3000),
      tested("copy/", 2, 0.4, 1000)
    local scan = require("graphids.orchestrate.runs").scan
    local rc, out, err = R.call({ "compare", "--lake-root", root, "--json" }, scan)
    assert.equal(0, rc, err)
    local row = json.decode(out)[1]
    assert.same({ 3, { 0, 1, 2 }, { l0, c1, l2 } }, { row.n, row.seeds, row.dirs })
    assert.near((0.9 + 0.5 + 0.7) / 3, row.mean, 1e-12)
    local function note(seed, kept, left)
      return string.format("graphids runs compare: seed %d of d/gat/a was tested in 2 runs; counting the " ..
        "one tested last, %s, and leaving out %s\n", seed, kept, left)
    end
    assert.equal(note(0, l0, c0) .. note(1, c1, l1) .. note(2, l2, c2), err)
    -- from a tracking store, by the test run's end; the note names the run ids
    local a, b = R.rec("a", 0, 0.5), R.rec("a", 0, 0.25)
    a.dir, a.test_run_id, a.tested_at = "/one/d/gat/a/seed_0", string.rep("a", 32), 7
    b.dir, b.test_run_id, b.tested_at = "/two/d/gat/a/seed_0", string.rep("b", 32), 5
    rc, out, err = R.call({ "compare", "--lake-root", tmp }, { a, b })
    assert.equal(0, rc, err)
    assert.truthy(out:find("\n  1%s+d%s+gat%s+a%s+1%s+0%.50000"), out)
    assert.equal(note(0, "/one/d/gat/a/seed_0 (test run " .. a.test_run_id .. ")",
      "/two/d/gat/a/seed_0 (test run " .. b.test_run_id .. ")"), err)
    -- tested at the same time: the first by run dir counts, and the note says so
    b.tested_at = 7
    local rc2, _, err2 = R.call({ "compare", "--lake-root", tmp }, { a, b })
    assert.equal(0, rc2, err2)
    assert.equal("graphids runs compare: seed 0 of d/gat/a was tested in 2 runs; counting the first by " ..
      "run dir (tested at the same time, or when unknown), /one/d/gat/a/seed_0 (test run " .. a.test_run_id ..
      "), and leaving out /two/d/gat/a/seed_0 (test run " .. b.test_run_id .. ")\n", err2)
  end)

  it("names on stderr each run it leaves out: damaged, or tested without a number for the metric", function()
    local damaged = { dir = "l/d/gat/a/seed_9", status = "damaged", problems = { "l/x/resolved.json: bad" },
      identity = { dataset = "d", stage = "gat", variant = "a", seed = 9 } }
    local null, missing, text = R.rec("a", 3, json.null), R.rec("a", 4, 1), R.rec("b", 5, "0.5")
    missing.metrics = nil -- (tested, and its test_metrics.json gone)
    local trained = R.rec("a", 6, json.null)
    trained.status = "trained" -- (not tested: not named, list says its status)
    local records = join(seeds("a", { 0.9, 0.8 }), { damaged, null, missing, text, trained })
    local rc, out, err = R.call({ "compare", "--lake-root", tmp }, records)
    assert.equal(0, rc, err)
    assert.truthy(out:find("\n  1%s+d%s+gat%s+a%s+2%s+0%.85000"), out)
    assert.equal("graphids runs compare: damaged, not ranked: l/x/resolved.json: bad\n" ..
      "graphids runs compare: not ranked: 2 tested run(s) of d/gat/a without a number for test/f1_macro " ..
      "or test/f1: a3 (null), a4 (missing)\n" ..
      "graphids runs compare: not ranked: 1 tested run(s) of d/gat/b without a number for test/f1_macro " ..
      "or test/f1: b5 (not a number)\n", err)
    -- with --metric, that key; list names the damaged run the same way
    rc, out, err = R.call({ "compare", "--lake-root", tmp, "--metric", "test/auroc" }, { null })
    assert.equal(0, rc, err)
    assert.truthy(out:find("(no tested run has the metric test/auroc)", 1, true), out)
    assert.equal("graphids runs compare: not ranked: 1 tested run(s) of d/gat/a without a number for " ..
      "test/auroc: a3 (missing)\n", err)
    rc, out, err = R.call({ "list", "--lake-root", tmp }, { damaged })
    assert.equal(0, rc, err)
    assert.truthy(out:find("\nd%s+gat%s+%-%s+a%s+9%s+damaged"), out)
    assert.equal("graphids runs list: damaged: l/x/resolved.json: bad\n", err)
  end)
end)
