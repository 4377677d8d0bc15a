-- filestore_edges_spec.lua -- the FileStore and MLflow's own reader and writer (MLflow's Python
-- client with MLFLOW_ALLOW_FILE_STORE=true, in a fresh Python process):
--   * names holding characters PyYAML refuses raw or reads as line breaks (C1 controls, U+2028,
--     U+2029, U+FEFF, U+FFFE/U+FFFF) are written so that MLflow reads them back whole;
--   * names longer than a line, which PyYAML folds over several lines of meta.yaml, are read
--     whole, so graphids finds MLflow's experiment instead of making a second one;
--   * a create_run that fails part-way (keys that clash as file and folder, a write error) never
--     leaves a run that blocks every later sync.
local core = require "graphids.core"
local filestore = require "graphids.track.filestore"
local fixture = require "track.support.fixture"
local query = require "graphids.track.query"
local server = require "track.mlflow_server"
local skip = require "skip"
local spool = require "graphids.track.spool"
local track = require "graphids.track"

local ALLOW = "MLFLOW_ALLOW_FILE_STORE=true"

local read = require("graphids.io").read_file -- the text, or nil when missing

-- The run folders of experiment exp under root.
local function run_dirs(root, exp)
  local out = {}
  for _, d in ipairs(core.list_dir(root .. "/" .. exp) or {}) do
    if d:match("^%x+$") and #d == 32 then out[#out + 1] = d end
  end
  table.sort(out)
  return out
end

describe("graphids.track FileStore and MLflow's YAML", function()
  local dir, py, why
  setup(function()
    py, why = server.python()
  end)
  fixture.tmpdir_each(function(d) dir = d end)

  it("writes names with C1 controls, line separators and non-characters that MLflow reads whole", function()
    if skip.unless(py, "no MLflow: " .. tostring(why)) then return end
    local root = dir .. "/mlruns"
    local names = { "c1 \u{9F} end", "nel\u{85}x", "ls\u{2028}ps\u{2029}", "bom\u{FEFF}x",
      "non\u{FFFE}\u{FFFF}",
      "del\u{7F} and \u{80}", "it's \u{85} \"q\" \\", "plain é ok" }
    local fs = assert(filestore.new(root))
    local want = {}
    for i, name in ipairs(names) do
      local exp = assert(fs:get_or_create_experiment("e" .. i .. " " .. name))
      local id = assert(fs:create_run({ experiment_id = exp, run_name = name, tags = {} }))
      want[id] = name
      local meta = read(root .. "/" .. exp .. "/meta.yaml")
      assert.equal("e" .. i .. " " .. name, filestore.yaml_get(meta, "name"))
    end
    local got = server.query("file://" .. root, [[
out = {"exps": sorted(e.name for e in c.search_experiments()),
       "runs": {r.info.run_id: r.info.run_name for e in c.search_experiments()
                for r in c.search_runs([e.experiment_id])}}]], ALLOW)
    local exps = { "Default" }
    for i, name in ipairs(names) do exps[#exps + 1] = "e" .. i .. " " .. name end
    table.sort(exps)
    assert.same(exps, got.exps)
    assert.same(want, got.runs)
  end)

  it("reads names that MLflow folded over several lines, and finds MLflow's experiment by one", function()
    if skip.unless(py, "no MLflow: " .. tostring(why)) then return end
    local root = dir .. "/mlruns"
    local names = {
      "graphids/some dataset with a long descriptive name/and a stage name that is also quite long indeed",
      "graphids: a long name that needs quotes because of the colon and space in it, and is long enough",
      "graphids/a long name with a next-line \u{85} control and a tab\tin it, so double quoted, long enough",
      "graphids/two  spaces   and more    spaces, to see that the folding keeps them all, xx yy zz ww",
      "graphids/" .. ("ab\u{85}"):rep(40),
      "graphids/" .. ("\u{2028}a  "):rep(30),
      -- single-quoted, with the separators raw: PyYAML indents the line after each
      "x\u{2028}y" .. (" z"):rep(50), "short\u{2028}s", "p\u{2029}q \u{2028}\u{2028}r" .. (" w"):rep(45),
    }
    local code = { "import json",
      "names = json.loads(" .. string.format("%q", require("graphids.json").encode(names)) .. ")",
      "out = {}", "for n in names:",
      "    e = c.create_experiment(n)",
      "    r = c.create_run(e, run_name=n, tags={'graphids.phase': 'fit', 'graphids.run_dir': '/x/' + e})",
      "    out[n] = [e, r.info.run_id]" }
    local made = server.query("file://" .. root, table.concat(code, "\n"), ALLOW)
    -- (MLflow's writer does fold them: the spec covers what it means to)
    local meta = read(root .. "/" .. made[names[1]][1] .. "/meta.yaml")
    assert.truthy(meta:find("\n  ", 1, true), meta)
    local fs = assert(filestore.new(root))
    local src = assert(query.open(root))
    for _, name in ipairs(names) do
      local exp, run_id = made[name][1], made[name][2]
      assert.equal(exp, fs:find_experiment(name), name)
      assert.equal(exp, fs:get_or_create_experiment(name), name)
      assert.equal(exp, src:experiment_id(name))
      local r = assert(src:get_run(run_id))
      assert.same({ name, name }, { r.experiment, r.run_name })
    end
    -- no second experiment of any of those names
    local n = 0
    for _, d in ipairs(core.list_dir(root)) do
      if d:match("^%d+$") and d ~= "0" then n = n + 1 end
    end
    assert.equal(#names, n)
    -- and a run logged by graphids into one of them lands there
    local run = track.start_fit_run(dir .. "/run", { uri = root, experiment = names[1], run_name = "g" })
    run:finish()
    assert.truthy(core.stat(root .. "/" .. made[names[1]][1] .. "/" .. run.run_id .. "/meta.yaml"))
  end)
end)

describe("graphids.track FileStore's YAML reader", function()
  it("reads quoted scalars as PyYAML does: breaks folded, U+2028/U+2029 kept, indentation dropped", function()
    -- (meta.yaml lines as PyYAML's safe_dump writes them)
    for text, want in pairs({
      ["name: 'short\u{2028}  s'\nid: '1'\n"] = "short\u{2028}s",
      ["name: 'x\u{2028}  y z\n  z'\n"] = "x\u{2028}y z z",
      ["name: '\n\n  \u{2028}\u{2028}  '\nid: '1'\n"] = "\n\u{2028}\u{2028}",
      ["name: '\u{2029}\n  \u{2029}  '\n"] = "\u{2029}\n\u{2029}",
      ["name: 'it''s  a\n\n  b'\n"] = "it's  a\nb",
      ["name: \"a\\\n  \\ b\\Lc\\x41\\u00e9\"\n"] = "a b\u{2028}cAé",
      ["name: \"a \\N\n  b\"\n"] = "a \u{85} b",
      ["name: plain words\n  folded here\nid: 2\n"] = "plain words folded here",
    }) do
      assert.equal(want, filestore.yaml_get(text, "name"), text)
    end
    assert.equal("1", filestore.yaml_get("name: x\nid: '1'\n", "id"))
    assert.is_nil(filestore.yaml_get("name: x\n", "id"))
  end)
end)

describe("graphids.track FileStore create_run that fails part-way", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)
  before_each(function() track.reset_failures() end)
  after_each(function() track.reset_failures() end)

  it("refuses tag keys that clash as file and folder before writing anything", function()
    local root, run_dir = dir .. "/mlruns", dir .. "/run"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    local ok, err, code, status = fs:create_run({ experiment_id = exp, run_name = "r",
      tags = { { key = " ", value = "x" }, { key = " /a", value = "y" } } })
    assert.is_nil(ok)
    assert.matches("is also a folder of keys", err)
    assert.same({ "INVALID_PARAMETER_VALUE", 400 }, { code, status })
    assert.same({}, run_dirs(root, exp))
    -- through a run: the create is refused (set aside), nothing is left to block a sync
    local run
    fixture.stderr_of(function()
      run = track.start_fit_run(run_dir, { uri = root, experiment = "e", run_name = "r",
        tags = { [" "] = "x", [" /a"] = "y" } })
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
    end)
    assert.is_nil(run.spooling)
    assert.same({}, run_dirs(root, exp))
    local rejected = read(spool.rejected_path(run_dir))
    assert.matches('"op":"create_run"', rejected)
    local sent, left = spool.sync(run_dir)
    assert.same({ 0, 0 }, { sent, left })
  end)

  it("leaves a run that a later sync completes when a write fails after its meta.yaml", function()
    local root, run_dir = dir .. "/mlruns", dir .. "/run"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    local real, calls = core.atomic_write, 0
    core.atomic_write = function(path, data) -- the meta.yaml, one tag, then the disk is full
      calls = calls + 1
      if calls > 2 then return nil, "ENOSPC: No space left on device" end
      return real(path, data)
    end
    local run
    local ok, err = pcall(function()
      fixture.stderr_of(function()
        run = track.start_fit_run(run_dir, { uri = root, experiment = "e", run_name = "r",
          tags = { ["graphids.dataset"] = "d" } })
      end)
    end)
    core.atomic_write = real
    assert(ok, err)
    assert.is_true(run.spooling)
    fixture.stderr_of(function()
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
    end)
    assert.same({ run.key }, run_dirs(root, exp)) -- half-written
    local sent, left, aside = spool.sync(run_dir)
    assert.same({ 3, 0, 0 }, { sent, left, aside })
    local base = root .. "/" .. exp .. "/" .. run.key
    assert.same({ run.key }, run_dirs(root, exp))
    assert.same({ run.key, "r", "fit", "d" }, { read(base .. "/tags/graphids.run_key"),
      read(base .. "/tags/mlflow.runName"), read(base .. "/tags/graphids.phase"),
      read(base .. "/tags/graphids.dataset") })
    assert.matches("\nstatus: 3\n", read(base .. "/meta.yaml"))
    assert.matches("^%d+ 1.0 0\n$", read(base .. "/metrics/loss"))
  end)

  it("takes a run folder of the same client id as the run already made (its answer was lost)", function()
    local root = dir .. "/mlruns"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    local key = string.rep("ab", 16)
    local spec = { experiment_id = exp, run_name = "r", run_id = key,
      tags = { { key = "graphids.run_key", value = key }, { key = "t", value = "1" } } }
    assert.equal(key, fs:create_run(spec))
    os.remove(root .. "/" .. exp .. "/" .. key .. "/tags/t")
    assert.equal(key, fs:create_run(spec))
    assert.equal("1", read(root .. "/" .. exp .. "/" .. key .. "/tags/t"))
    assert.same({ key }, run_dirs(root, exp))
  end)
end)

describe("graphids.track FileStore and MLflow's deleted experiments", function()
  local dir, py, why
  fixture.tmpdir_each(function(d) dir = d end)
  before_each(function() py, why = server.python() end)

  it("refuses an experiment name whose experiment MLflow deleted (moved to .trash) as REST does", function()
    if skip.unless(py, "no MLflow: " .. tostring(why)) then return end
    local root = dir .. "/mlruns"
    local id = server.query("file://" .. root, [[
e = c.create_experiment("graphids/gone")
c.delete_experiment(e)
out = e]], ALLOW)
    assert.truthy(core.stat(root .. "/.trash/" .. id .. "/meta.yaml")) -- MLflow's layout
    local fs = assert(filestore.new(root))
    assert.same({ id, "deleted" }, { fs:find_experiment("graphids/gone") })
    local ok, err = fs:get_or_create_experiment("graphids/gone")
    assert.is_nil(ok)
    assert.equal(string.format("FileStore: experiment 'graphids/gone' (%s) is deleted; restore it or pick " ..
      "another name", id), err)
    -- a fit names it: one warning, its events are spooled (as a REST store's refusal), and no
    -- second experiment of that name appears
    local run_dir = dir .. "/run"
    local said = fixture.stderr_of(function()
      local run = track.start_fit_run(run_dir, { uri = "file:" .. root, experiment = "graphids/gone" })
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
    end)
    assert.equal(1, select(2, said:gsub("warning", "")), said)
    assert.matches("is deleted; restore it or pick another name; events are spooled to", said)
    assert.equal(3, #assert(spool.read(run_dir)))
    local exps = server.query("file://" .. root,
      "out = sorted(e.name for e in c.search_experiments(view_type=3))", ALLOW)
    assert.same({ "Default", "graphids/gone" }, exps)
    -- restored by MLflow, the name is the experiment again and the spool goes there
    server.query("file://" .. root, string.format("c.restore_experiment(%q)\nout = 1", id), ALLOW)
    assert.same({ 3, 0, 0, 0 }, { spool.sync(run_dir) })
    assert.equal(1, #run_dirs(root, id))
  end)
end)
