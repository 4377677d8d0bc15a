-- query_rest_spec.lua -- the read side over REST against a REAL `mlflow server` (SQLite store,
-- loopback; spec/track/mlflow_server.lua): a lake whose runs the runtime logged to the server
-- (spec/track/runs_writer.lua) lists, compares and shows as from its run dirs; searches follow
-- page tokens and filter by tags; an experiment without runs is an empty table.
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local query = require "graphids.track.query"
local server = require "track.mlflow_server"
local skip = require "skip"
local support = require "track.runs_support"

describe("graphids.track.query over REST (real mlflow server)", function()
  local srv, why, tmp, lake, parent
  local NO_ENV = { MLFLOW_TRACKING_URI = "" }
  setup(function()
    srv, why = server.start()
    if srv then
      tmp = proc.tmpdir()
      lake = gio.join(tmp, "lake")
      parent = support.write_runs(lake, srv.url)
    end
  end)
  teardown(function()
    server.stop(srv)
    if tmp then proc.rmtree(tmp) end
  end)

  local function ok(args)
    local out, err, rc = support.host(NO_ENV, args)
    assert.equal(0, rc, err)
    return out
  end

  it("lists, compares and shows the runs as the run dirs do", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local dirs = ok({ "runs", "list", "--lake-root", lake, "--json" })
    assert.equal(6, #json.decode(dirs))
    assert.equal(dirs, ok({ "runs", "list", "--tracking-uri", srv.url, "--json" }))
    local tracked = ok({ "runs", "list", "--tracking-uri", srv.url })
    assert.equal(support.without_footer(ok({ "runs", "list", "--lake-root", lake })),
      support.without_footer(tracked))
    assert.truthy(tracked:find("6 run(s) in " .. srv.url, 1, true), tracked)
    for _, extra in ipairs({ {}, { "--metric", "test/precision@0.95recall" }, { "--stage", "vgae" } }) do
      assert.equal(ok({ "runs", "compare", "--lake-root", lake, "--json", table.unpack(extra) }),
        ok({ "runs", "compare", "--tracking-uri", srv.url, "--json", table.unpack(extra) }))
    end
    local dir = gio.join(lake, "synthetic/gat/focal/seed_1")
    local rec = json.decode(ok({ "runs", "show", dir, "--tracking-uri", srv.url, "--json" }))
    local from_dir = json.decode(ok({ "runs", "show", dir, "--json" }))
    for _, k in ipairs({ "dir", "status", "identity", "metrics", "config" }) do
      assert.same(from_dir[k], rec[k], k)
    end
    assert.same({ parent, "FINISHED", srv.url }, { rec.parent_run_id, rec.tracking_status, rec.uri })
    local by_id = ok({ "runs", "show", rec.test_run_id, "--tracking-uri", srv.url, "--json" })
    assert.same(rec, json.decode(by_id))
  end)

  it("follows page tokens through every experiment and filters by tags", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local function ids(list)
      local out = {}
      for i, r in ipairs(list) do out[i] = r.run_id end
      return out
    end
    local all = assert(assert(query.open(srv.url)):search())
    assert.equal(12, #all) -- 11 fit and test runs and the group's parent
    local paged = assert(query.open(srv.url, { page_size = 2 }))
    assert.same(ids(all), ids(assert(paged:search())))
    local seed3 = assert(paged:search({ tags = { ["graphids.stage"] = "gat", ["graphids.seed"] = 3 } }))
    table.sort(seed3, function(a, b) return a.run_id < b.run_id end)
    local phases = {}
    for i, r in ipairs(seed3) do phases[i] = r.tags["graphids.phase"] end
    table.sort(phases)
    assert.same({ "fit", "fit", "test" }, phases)
    assert.same({}, assert(paged:search({ tags = { ["graphids.variant"] = "it's \\ odd" } })))
    assert.is_false(paged:get_run(string.rep("0", 32)))
  end)

  it("prints an empty table for an experiment without runs", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    assert(require("graphids.track.rest").new(srv.url):get_or_create_experiment("graphids/empty"))
    assert.equal("[]\n", ok({ "runs", "list", "--tracking-uri", srv.url, "--experiment", "graphids/empty",
      "--json" }))
    local out = ok({ "runs", "compare", "--tracking-uri", srv.url, "--experiment", "graphids/empty" })
    assert.truthy(out:find("(no tested runs)", 1, true), out)
    local _, err, rc = support.host(NO_ENV, { "runs", "list", "--tracking-uri", srv.url, "--experiment",
      "nope" })
    assert.equal(1, rc)
    local want = "tracking server " .. srv.url .. " has no active experiment named 'nope'"
    assert.truthy(err:find(want, 1, true), err)
  end)
end)
