-- runs_compare_spec.lua -- `graphids runs compare --expected-max`: each variant's expected best of
-- n seeds (graphids.stats.expected_max, or expected_min for a metric ranked lowest first) per
-- dataset and stage, as a table and in --json; a value that is not finite, a metric that is null
-- in every run, and the flag where it does not apply.
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local stats = require "graphids.stats"
local R = require "cli.support.runs_cli"
local h = require "helpers"

describe("graphids runs compare --expected-max", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  local rec = R.rec
  -- d/gat: a (3 seeds), b (2); d/vgae: c (4), whose mean ranks between a and b
  local function records(key)
    local out = {}
    for i, v in ipairs({ 0.9, 0.92, 0.91 }) do out[#out + 1] = rec("a", i, v, key) end
    for i, v in ipairs({ 0.8, 0.82 }) do out[#out + 1] = rec("b", i, v, key) end
    for i, v in ipairs({ 0.85, 0.87, 0.84, 0.86 }) do out[#out + 1] = rec("c", i, v, key, "vgae") end
    return out
  end

  it("prints each variant's expected best of n = 1 .. its seeds, per dataset and stage", function()
    local rc, out, err = R.call({ "compare", "--lake-root", tmp, "--expected-max" }, records())
    assert.equal(0, rc, err)
    local _, board = R.call({ "compare", "--lake-root", tmp }, records())
    assert.equal(board, out:sub(1, #board)) -- the leaderboard first, as without the flag
    assert.is_nil(board:find("expected best", 1, true), board)
    local section = out:match("\n\n(expected best.*)$")
    assert.truthy(section, out)
    -- (the cells as numpy gives them: v sorted, w = (i/N)**n - ((i-1)/N)**n, mean (w*v).sum(),
    -- sd sqrt((w*v*v).sum() - mean**2); b: the best of 2 draws from {0.8, 0.82} is 0.82 unless
    -- both are 0.8, 1 in 4: 0.815)
    assert.equal(table.concat({
      "expected best of n seeds by test/f1_macro (test/f1 for detectors), mean +- sd: the highest of n " ..
        "draws from a variant's seeds, with replacement (Dodge et al. 2019)",
      "  d/gat",
      "    variant                      n=1               n=2               n=3",
      "    a               0.9100 +- 0.0082  0.9144 +- 0.0068  0.9167 +- 0.0054",
      "    b               0.8100 +- 0.0100  0.8150 +- 0.0087",
      "  d/vgae",
      "    variant                      n=1               n=2               n=3               n=4",
      "    c               0.8550 +- 0.0112  0.8612 +- 0.0093  0.8644 +- 0.0075  0.8662 +- 0.0061",
      "" }, "\n"), section)
    -- none for an empty leaderboard
    rc, out = R.call({ "compare", "--lake-root", tmp, "--expected-max" }, {})
    assert.same({ 0, nil }, { rc, out:find("expected best", 1, true) })
  end)

  it("gives the same in --json, the minimum for a loss, and null for a value that is not finite", function()
    local function by_variant(rs, args)
      local rc, out, err = R.call(args, rs)
      assert.equal(0, rc, err)
      local by = {}
      for _, g in ipairs(json.decode(out)) do by[g.variant] = g end
      return by
    end
    local function as_json(means, stds)
      local out = {}
      for n = 1, #means do out[n] = { n = n, mean = means[n], std = stds[n] } end
      return out
    end
    local by = by_variant(records(), { "compare", "--lake-root", tmp, "--expected-max", "--json" })
    assert.same(as_json(stats.expected_max({ 0.9, 0.92, 0.91 })), by.a.expected_max)
    assert.same(as_json(stats.expected_max({ 0.8, 0.82 })), by.b.expected_max)
    assert.same(as_json(stats.expected_max({ 0.85, 0.87, 0.84, 0.86 })), by.c.expected_max)
    h.near(by.b.expected_max[2].mean, 0.815, 1e-12)
    h.near(by.b.expected_max[2].std, math.sqrt(0.015 ^ 2 / 4 + 0.005 ^ 2 * 3 / 4), 1e-9)
    assert.is_nil(by_variant(records(), { "compare", "--lake-root", tmp, "--json" }).a.expected_max)
    -- a loss ranks lowest first: the best of 2 draws from {0.25, 0.5} is 0.25 unless both are 0.5
    local loss = { rec("l", 1, 0.5, "test/loss"), rec("l", 2, 0.25, "test/loss") }
    by = by_variant(loss, { "compare", "--lake-root", tmp, "--metric", "test/loss", "--expected-max",
      "--json" })
    assert.same(as_json(stats.expected_min({ 0.5, 0.25 })), by.l.expected_max)
    assert.equal(0.3125, by.l.expected_max[2].mean)
    -- --best high turns it: the highest of 2 draws
    by = by_variant(loss, { "compare", "--lake-root", tmp, "--metric", "test/loss", "--best", "high",
      "--expected-max", "--json" })
    assert.equal(0.4375, by.l.expected_max[2].mean)
    local rc, out = R.call({ "compare", "--lake-root", tmp, "--metric", "test/loss", "--expected-max" }, loss)
    assert.equal(0, rc)
    assert.truthy(out:find("by test/loss, mean +- sd: the lowest of n draws", 1, true), out)
    assert.truthy(out:find("\n    l               0.3750 +- 0.1250  0.3125 +- 0.1083\n", 1, true), out)
    -- (no source hands over a value that is not finite; should one, its row says so)
    local odd = { rec("ok", 1, 0.5), rec("inf", 1, math.huge), rec("inf", 2, 0.25) }
    by = by_variant(odd, { "compare", "--lake-root", tmp, "--expected-max", "--json" })
    assert.equal(json.null, by.inf.expected_max)
    assert.same({ { n = 1, mean = 0.5, std = 0 } }, by.ok.expected_max)
    rc, out = R.call({ "compare", "--lake-root", tmp, "--expected-max" }, odd)
    assert.equal(0, rc)
    assert.truthy(out:find("\n    inf             (a seed's value is not finite)\n", 1, true), out)
  end)

  it("says when the metric is null in every tested run, and refuses the flag where it does not apply",
    function()
    local nulls = { rec("a", 1, json.null, "test/auroc"), rec("a", 2, json.null, "test/auroc") }
    local rc, out = R.call({ "compare", "--lake-root", tmp, "--metric", "test/auroc", "--expected-max" },
      nulls)
    assert.equal(0, rc)
    assert.truthy(out:find("(test/auroc is null, not a finite number, in every tested run that has it " ..
      "(2): nothing to rank)", 1, true), out)
    assert.is_nil(out:find("did you mean", 1, true), out)
    -- the default metric too (a null test/f1_macro)
    rc, out = R.call({ "compare", "--lake-root", tmp }, { rec("a", 1, json.null), rec("a", 2, json.null) })
    assert.equal(0, rc)
    assert.truthy(out:find("(test/f1_macro is null, not a finite number, in every tested run that has it " ..
      "(2): nothing to rank)", 1, true), out)
    local err
    rc, out, err = R.call({ "list", "--lake-root", tmp, "--expected-max" }, {})
    assert.same({ 2, "" }, { rc, out })
    assert.truthy(err:find("graphids runs list: --expected-max does not apply to runs list", 1, true), err)
    rc, out, err = R.call({ "show", tmp, "--expected-max" }, {})
    assert.same({ 2, "" }, { rc, out })
    assert.truthy(err:find("--expected-max does not apply to runs show", 1, true), err)
    rc, out, err = R.call({ "compare", "--lake-root", tmp, "--expected-max=3" }, {})
    assert.same({ 2, "" }, { rc, out })
    assert.truthy(err:find("--expected-max takes no value", 1, true), err)
  end)

  it("reads run dirs through the host, and --help names the flag", function()
    local root = gio.join(tmp, "lake")
    for i, v in ipairs({ 0.5, 0.25, 0.75 }) do
      R.run_dir(root, "d/gat/a/seed_" .. i, string.format('{"identity": {"dataset": "d", "stage": "gat", ' ..
        '"variant": "a", "seed": %d}}', i), string.format('{"test/f1_macro": %s}', v))
    end
    local out, err, rc = proc.run({ "runs", "compare", "--lake-root", root, "--expected-max", "--json" })
    assert.equal(0, rc, err)
    local em = json.decode(out)[1].expected_max
    assert.same({ 3, 1, 0.5, 3 }, { #em, em[1].n, em[1].mean, em[3].n })
    -- the best of 3 draws from {0.25, 0.5, 0.75}: 0.25 w.p. 1/27, 0.5 w.p. 7/27, 0.75 w.p. 19/27
    h.near(em[3].mean, (0.25 * 1 + 0.5 * 7 + 0.75 * 19) / 27, 1e-15)
    local help = proc.run({ "runs", "--help" })
    assert.truthy(help:find("[--expected-max]", 1, true), help)
    assert.truthy(help:find("Dodge et al. 2019", 1, true), help)
  end)
end)
