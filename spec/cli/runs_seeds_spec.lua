-- runs_seeds_spec.lua -- `graphids runs compare` over the seeds of each variant: a variant whose
-- seeds equal or mostly equal the best's is tied (d = 0 for no difference, in the table and in
-- --json).
local json = require "graphids.json"
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
end)
