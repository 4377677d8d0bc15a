-- A resumed fit's system metrics go on after the largest system step its run holds, as MLflow's
-- monitor does for a resumed run (resume_logging: one past the largest step of the run's
-- system/ metrics): a fit killed with SIGKILL (spec/track/support/sys_child.lua) and resumed
-- from its last checkpoint leaves each system/ metric at steps 0, 1, 2, ... once each, whether
-- the killed fit's points were delivered to the FileStore, spooled while the store was down
-- (and synced after the resume), or some of each; and on a REAL `mlflow server`, read back by
-- MLflow's own client.  A resume whose store cannot say goes by the spool, with one warning.
local fixture = require "track.support.fixture"
local filestore = require "graphids.track.filestore"
local proc = require "trainer.support.proc"
local server = require "track.mlflow_server"
local skip = require "skip"
local spool = require "graphids.track.spool"
local system_step = require "graphids.track.system_step"
local track = require "graphids.track"

local read = require("graphids.io").read_file
local CHILD = "spec/track/support/sys_child.lua"
local CPU = "system/cpu_utilization_percentage"

-- The child's fit (resumed when RUN_DIR/ref exists): stdout, stderr, exit code.
local function child(run_dir, uri, kill_epoch, away_epoch, node_id)
  return proc.run({ "run", CHILD, run_dir, uri, tostring(kill_epoch or ""), tostring(away_epoch or ""),
    node_id or "" })
end

-- A killed first fit: its run's reference.
local function killed(run_dir, uri, kill_epoch, away_epoch, node_id)
  local _, err, rc = child(run_dir, uri, kill_epoch, away_epoch, node_id)
  assert(rc == 137, "the first fit was to be killed; it ended " .. tostring(rc) .. ": " .. tostring(err))
  assert(read(run_dir .. "/checkpoints/last.safetensors"), "the killed fit left a checkpoint")
  return assert(read(run_dir .. "/ref"))
end

-- The resume of run_dir's fit, to its end: its stderr.
local function resumed(run_dir, uri, node_id)
  local out, err, rc = child(run_dir, uri, nil, nil, node_id)
  assert(rc == 0 and out:match("done\n$"),
    "the resumed fit failed (" .. tostring(rc) .. "): " .. tostring(err))
  return err
end

-- {key = {step, ...} in file order} of a FileStore run's system metrics (keys "system/...").
local function system_steps(run_path)
  local out = {}
  local function walk(dir, key)
    for _, name in ipairs(require("graphids.core").list_dir(dir) or {}) do
      local p, k = dir .. "/" .. name, key .. "/" .. name
      if require("graphids.io").is_dir(p) then
        walk(p, k)
      else
        local steps = {}
        for step in assert(read(p)):gmatch("%S+ %S+ (%d+)\n") do steps[#steps + 1] = tonumber(step) end
        out[k] = steps
      end
    end
  end
  walk(run_path .. "/metrics/system", "system")
  return out
end

-- The FileStore folder of the run with run key key.
local function run_path(root, key)
  local fs = assert(filestore.new(root))
  local exp = assert(fs:find_experiment("sysresume"))
  local id = assert(fs:find_run(exp, "graphids.run_key", key) or nil, "no run " .. key)
  return root .. "/" .. exp .. "/" .. id
end

local function sorted(list)
  local c = { table.unpack(list) }
  table.sort(c)
  return c
end

local function range(n)
  local out = {}
  for i = 0, n - 1 do out[#out + 1] = i end
  return out
end

-- Every system metric holds the steps 0 .. n-1 once each (n > first, the killed fit's count);
-- returns n.
local function once_each(steps, cpu, first)
  local n = #steps[cpu]
  assert.is_true(n > first, "the resumed fit logged system metrics")
  for key, list in pairs(steps) do assert.same(range(n), sorted(list), key) end
  return n
end

describe("a resumed fit's system metrics (FileStore)", function()
  local dir
  before_each(function() track.reset_failures() end)
  fixture.tmpdir_each(function(d) dir = d end)

  it("go on after the steps the killed fit delivered", function()
    local root, run_dir = dir .. "/mlruns", dir .. "/run"
    local ref = killed(run_dir, "file:" .. root, 2)
    local path = run_path(root, ref)
    local first = #system_steps(path)[CPU]
    assert.same(range(first), system_steps(path)[CPU])
    assert.is_true(first > 0)
    local err = resumed(run_dir, "file:" .. root)
    assert.not_matches("system metrics of the resumed run", err)
    local steps = system_steps(path)
    once_each(steps, CPU, first)
    -- the resumed fit's points come after the killed fit's, in the file as in the steps
    assert.same(range(#steps[CPU]), steps[CPU])
    assert.matches("\nstatus: 3\n", read(path .. "/meta.yaml"))
  end)

  it("go on after the steps of a first fit spooled with its store down, which a sync delivers later",
    function()
      local root, run_dir = dir .. "/mlruns", dir .. "/run"
      assert(io.open(dir .. "/blocked", "w")):close()
      local ref = killed(run_dir, "file:" .. dir .. "/blocked/mlruns", 2, nil, "node_0")
      assert.matches("^key:", ref)
      local first = #assert(spool.read(run_dir))
      assert.is_true(first > 0)
      local err = resumed(run_dir, "file:" .. root, "node_0")
      assert.not_matches("system metrics of the resumed run", err)
      local sent = spool.sync(run_dir, { uri = "file:" .. root, notify = function() end })
      assert.is_true(sent > 0)
      assert.is_nil(read(spool.path(run_dir)))
      local steps = system_steps(run_path(root, ref:sub(5)))
      assert.is_nil(steps[CPU]) -- (under the node id)
      local n = once_each(steps, "system/node_0/cpu_utilization_percentage", 2)
      -- the resumed fit went on after the spooled ones: its steps were in the store before the sync
      assert.is_true(n > 2)
    end)

  it("go on after the steps delivered and those spooled when the store went down during the fit",
    function()
      local root, run_dir = dir .. "/mlruns", dir .. "/run"
      local ref = killed(run_dir, "file:" .. root, 2, 1)
      assert(os.remove(root))
      assert(os.rename(root .. ".away", root))
      local path = run_path(root, ref)
      local delivered = #system_steps(path)[CPU]
      local spooled = 0
      for _, ev in ipairs(assert(spool.read(run_dir))) do
        if system_step.largest(ev.metrics) then spooled = spooled + 1 end
      end
      assert.is_true(delivered > 0 and spooled > 0, "some points of each kind")
      resumed(run_dir, "file:" .. root)
      local before = system_steps(path)[CPU]
      -- the resumed fit's first step is one past the spooled ones
      assert.equal(delivered + spooled, before[delivered + 1])
      assert(spool.sync(run_dir, { uri = "file:" .. root, notify = function() end }))
      once_each(system_steps(path), CPU, delivered + spooled)
    end)

  it("go by the spool when neither the store nor a record can say, with one warning", function()
    local root, run_dir = dir .. "/mlruns", dir .. "/run"
    assert(io.open(dir .. "/blocked", "w")):close()
    local down = "file:" .. dir .. "/blocked/mlruns"
    local ref = killed(run_dir, down, 2)
    local first = 0
    for _, ev in ipairs(assert(spool.read(run_dir))) do
      if system_step.largest(ev.metrics) then first = first + 1 end
    end
    -- (as an older graphids left the run dir, or a power loss its record)
    assert.same({ run_key = ref:sub(5), step = first - 1 }, system_step.read_record(run_dir))
    assert(os.remove(run_dir .. "/" .. system_step.RECORD))
    local err = resumed(run_dir, down)
    local _, warnings = err:gsub("system metrics of the resumed run", "")
    assert.equal(1, warnings, err)
    assert.matches("system metrics of the resumed run " .. ref .. " go on at step " .. first ..
      ", after the steps its spool holds: " .. down .. " could not say which steps it holds", err, 1, true)
    assert.matches('"event":"system_metrics_resume_step"', read(run_dir .. "/traces.jsonl"))
    assert(spool.sync(run_dir, { uri = "file:" .. root, notify = function() end }))
    once_each(system_steps(run_path(root, ref:sub(5))), CPU, first)
  end)

  it("go on after the steps the killed fit delivered, when the resume finds the store down", function()
    -- (the store knows the delivered steps and the spool does not hold them: the run dir's
    -- record of them, graphids.track.system_step, is what the resume goes by)
    local root, run_dir = dir .. "/mlruns", dir .. "/run"
    local ref = killed(run_dir, "file:" .. root, 2)
    local path = run_path(root, ref)
    local first = #system_steps(path)[CPU]
    assert.is_true(first > 0)
    assert.is_nil(read(spool.path(run_dir)))
    assert(io.open(dir .. "/blocked", "w")):close()
    local err = resumed(run_dir, "file:" .. dir .. "/blocked/mlruns")
    assert.not_matches("system metrics of the resumed run", err)
    assert(spool.sync(run_dir, { uri = "file:" .. root, notify = function() end }))
    assert.is_nil(read(spool.path(run_dir)))
    local steps = system_steps(path)
    once_each(steps, CPU, first)
    assert.same(range(#steps[CPU]), steps[CPU])
  end)

  it("takes the run dir's record only when it names the run", function()
    local run_dir = dir .. "/run"
    assert(require("graphids.core").mkdir_p(run_dir))
    local run = { run_dir = run_dir, key = "k1", run_id = "id1" }
    assert(system_step.record(run, 7))
    assert.same({ run_key = "k1", run_id = "id1", step = 7 }, system_step.read_record(run_dir))
    local function first(key, run_id, stored, run_key)
      return system_step.first({ key = key, run_id = run_id, system_steps = { stored = stored,
        run_key = run_key, recorded = system_step.read_record(run_dir), stored_why = "down" } })
    end
    assert.same({ 8 }, { first("k1", nil, nil) }) -- (by the key: no warning)
    assert.same({ 8 }, { first("k2", "id1", nil) }) -- (a resume by run id gets a key of its own)
    assert.same({ 8 }, { first("k2", nil, false, "k1") }) -- (the key the store gave)
    assert.same({ 13 }, { first("k1", "id1", 12) })
    assert.same({ 0, "down" }, { first("k2", "id2", nil) }) -- (another run's record)
    -- a record torn by a power loss is none
    local f = assert(io.open(run_dir .. "/" .. system_step.RECORD, "wb"))
    f:write('{"run_key":"k1","st')
    f:close()
    assert.is_nil(system_step.read_record(run_dir))
    assert.same({ 0, "down" }, { first("k1", "id1", nil) })
    assert.is_nil(read(run_dir .. "/." .. system_step.RECORD .. ".tmp"))
  end)

  it("reads only the spool's last system event when the record names the run", function()
    local run_dir = dir .. "/run"
    local mine, other = { run_dir = run_dir, key = "aa", run_id = "id1" }, { key = "bb", run_id = "id2" }
    local function sys(run, step, extra)
      local ev = { op = "log_batch", run_key = run.key, run_id = run.run_id, uri = "file:/x",
        metrics = { { key = CPU, value = 1.5, timestamp = 1, step = step } } }
      for k, v in pairs(extra or {}) do ev[k] = v end
      assert(spool.append(run_dir, ev))
    end
    local function scan(run)
      local rec = system_step.read_record(run_dir)
      return system_step.scan_spool(run_dir, rec, run)
    end
    -- (a line the record stands for: every fit's steps go on past the spool's, so no spool of a
    -- fit holds this one before a smaller last step; it tells which lines were read)
    sys(mine, 50)
    sys(mine, 3)
    assert(system_step.record(mine, 2)) -- (one behind: killed before the rename)
    -- after it: a resume's status and tags, an epoch's metrics, a line torn by a power loss
    assert(spool.append(run_dir, { op = "update_run", run_key = "aa", run_id = "id1", status = "RUNNING",
      time = 5 }))
    assert(spool.append(run_dir, { op = "log_batch", run_key = "aa", run_id = "id1", time = 5,
      tags = { { key = "note", value = '"' .. system_step.PREFIX .. 'x" in a tag' } } }))
    assert(spool.append(run_dir, { op = "log_batch", run_key = "aa", run_id = "id1",
      metrics = { { key = "loss", value = 1, timestamp = 1, step = 9 } } }))
    local torn = '{"op":"log_batch","metrics":[{"key":"' .. CPU .. '","step":99'
    assert(require("graphids.core").append_file(spool.path(run_dir), torn))
    local block = system_step.BLOCK
    for _, b in ipairs({ false, 7, 1 }) do -- (the default, and lines across blocks)
      system_step.BLOCK = b or block
      local ok, got = pcall(scan, { key = "cc", run_id = "id1" }) -- (a resume by run id)
      system_step.BLOCK = block
      assert(ok, got)
      assert.same({ keys = { cc = 3 }, ids = { id1 = 3 } }, got, "block " .. tostring(b))
      assert.equal(4, system_step.first({ key = "cc", run_id = "id1", system_steps = { spooled = got,
        recorded = system_step.read_record(run_dir) } }))
    end
    -- every line when the last system event is another run's, or the record names another run
    assert(os.remove(spool.path(run_dir)))
    sys(mine, 50)
    sys(other, 1)
    assert.same({ keys = { aa = 50, bb = 1 }, ids = { id1 = 50, id2 = 1 } }, scan(mine))
    assert.same({ keys = { aa = 50, bb = 1 }, ids = { id1 = 50, id2 = 1 } }, scan(other))
    -- none in the spool: the record alone
    assert(os.remove(spool.path(run_dir)))
    assert.same({ keys = { aa = 2 }, ids = { id1 = 2 } }, scan(mine))
  end)

  it("reads back a spool with a line of megabytes in time linear in its length", function()
    local run_dir = dir .. "/run"
    local run = { run_dir = run_dir, key = "aa", run_id = "id1" }
    assert(spool.append(run_dir, { op = "log_batch", run_key = "aa", run_id = "id1", uri = "file:/x",
      metrics = { { key = CPU, value = 1.5, timestamp = 1, step = 5 } } }))
    -- after it, a line of 8 MB (a tag value) over 2048 blocks of 4 KiB: joined and searched again
    -- at each block, it cost about 80 times a forward read of the whole spool (quadratic)
    assert(spool.append(run_dir, { op = "log_batch", run_key = "aa", run_id = "id1", uri = "file:/x",
      tags = { { key = "big", value = ("v"):rep(8 << 20) } } }))
    assert(system_step.record(run, 4))
    local rec = system_step.read_record(run_dir)
    -- the least CPU time of three (a loaded machine's noise only adds), and the answer
    local function best(r)
      local least, got = math.huge, nil
      for _ = 1, 3 do
        local t = os.clock()
        got = system_step.scan_spool(run_dir, r, run)
        least = math.min(least, os.clock() - t)
      end
      return least, got
    end
    local block = system_step.BLOCK
    system_step.BLOCK = 4096
    local ok, back, got = pcall(best, rec)
    system_step.BLOCK = block
    assert(ok, back)
    assert.same({ keys = { aa = 5 }, ids = { id1 = 5 } }, got)
    local forward, all = best(nil) -- (no record: every line read, from the start)
    assert.same({ keys = { aa = 5 }, ids = { id1 = 5 } }, all)
    assert.is_true(back < 10 * forward + 0.01, string.format("back %.3f s, forward %.3f s", back, forward))
  end)

  it("reads a run's largest system step over every system/ key and every line", function()
    local root = dir .. "/mlruns"
    local fs = assert(filestore.new(root))
    assert(fs:init_root())
    local exp = assert(fs:get_or_create_experiment("sysresume"))
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "r", start_time = 1,
      tags = { { key = "graphids.run_key", value = "k1" } } }))
    assert.same({ false, "k1" }, (function()
      local i = assert(fs:get_run_info(id, { system_step = true }))
      return { i.system_step, i.run_key }
    end)())
    assert(fs:log_batch(id, { metrics = { { key = "loss", value = 1, timestamp = 1, step = 50 },
      { key = CPU, value = 1, timestamp = 1, step = 4 },
      { key = "system/n1/gpu_0_utilization_percentage", value = 1, timestamp = 1, step = 7 } } }))
    -- a late sync appends an older step after a newer one
    assert(fs:log_batch(id, { metrics = { { key = "system/n1/gpu_0_utilization_percentage", value = 2,
      timestamp = 2, step = 3 } } }))
    assert.equal(7, assert(fs:get_run_info(id, { system_step = true })).system_step)
    assert.is_nil(assert(fs:get_run_info(id)).system_step) -- (only when asked: a sync asks often)
    -- what proto3 JSON leaves out is 0
    assert.equal(0, system_step.largest({ { key = CPU }, { key = "loss", step = "9" } }))
    assert.equal(12, system_step.largest({ { key = CPU, step = "12" } }))
    assert.is_nil(system_step.largest({ { key = "systemic", step = 3 } }))
  end)
end)

describe("a resumed fit's system metrics (real mlflow server)", function()
  local srv, why, dir
  before_each(function() track.reset_failures() end)
  fixture.server(function(s, w, d) srv, why, dir = s, w, d end)

  it("go on after the largest system step of the run's latest values", function()
    if skip.unless(srv, "no mlflow server: " .. tostring(why)) then return end
    local run_dir = dir .. "/run"
    local run_id = killed(run_dir, srv.url, 2)
    assert.not_matches("^key:", run_id)
    local function history()
      return server.query(srv.url, string.format([[
r = c.get_run(%q)
out = {k: [m.step for m in c.get_metric_history(%q, k)] for k in r.data.metrics if k.startswith("system/")}
out["status"] = r.info.status]], run_id, run_id))
    end
    local first = #history()[CPU]
    assert.is_true(first > 0)
    local err = resumed(run_dir, srv.url)
    assert.not_matches("system metrics of the resumed run", err)
    local h = history()
    assert.equal("FINISHED", h.status)
    h.status = nil
    once_each(h, CPU, first)
  end)
end)
