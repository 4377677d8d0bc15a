-- graphids.track.spool against a FileStore: events appended while a sync runs (in this process
-- and from another one), spool lines of the wrong shape, and a second sync of the same spool.
local core = require "graphids.core"
local fixture = require "track.support.fixture"
local json = require "graphids.json"
local mlflow = require "graphids.track.mlflow"
local spool = require "graphids.track.spool"
local filestore = require "graphids.track.filestore"

local KEY = "0123456789abcdef0123456789abcdef"

local read = require("graphids.io").read_file -- (nil when the file is not there)

local function lines_of(text)
  local out = {}
  for l in (text or ""):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- A spool of one run for the FileStore at root: created, one metric, finished.
local function spool_run(run_dir, root)
  assert(spool.append(run_dir, { op = "create_run", run_key = KEY, uri = root, experiment = "e", tags = {} }))
  assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, uri = root, experiment = "e",
    metrics = { { key = "loss", value = 1.0, timestamp = 1, step = 0 } } }))
  assert(spool.append(run_dir, { op = "update_run", run_key = KEY, uri = root, experiment = "e",
    status = "FINISHED", end_time = 2 }))
end

local function metric_lines(root, key)
  local fs = assert(filestore.new(root))
  local exp = assert(fs:find_experiment("e"))
  return lines_of(read(root .. "/" .. exp .. "/" .. KEY .. "/metrics/" .. key))
end

describe("graphids.track.spool", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("keeps an event that training appends while sync delivers the spool", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    spool_run(run_dir, root)
    -- the store of the sync appends to the spool in the middle of the delivery, as a training
    -- process still logging to this run dir does
    local real, appended = mlflow.store, false
    mlflow.store = function(o) -- luacheck: ignore
      local s = assert(real(o))
      s.log_batch = function(self, ...)
        if not appended then
          appended = true
          assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, uri = root, experiment = "e",
            metrics = { { key = "late", value = 42.0, timestamp = 3, step = 9 } } }))
        end
        return filestore.log_batch(self, ...)
      end
      return s
    end
    local ok, sent, left, aside = pcall(spool.sync, run_dir)
    mlflow.store = real -- luacheck: ignore
    assert(ok, sent)
    assert.same({ 4, 0, 0 }, { sent, left, aside })
    assert.is_nil(core.stat(spool.path(run_dir)))
    assert.matches("^3 42.0 9$", metric_lines(root, "late")[1])
  end)

  it("loses no event appended by another process during repeated syncs", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    assert(spool.append(run_dir, { op = "create_run", run_key = KEY, uri = root, experiment = "e",
      tags = {} }))
    local script = dir .. "/writer.lua"
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
      package.path = "stdlib/?.lua;stdlib/?/init.lua;" .. package.path
      local core, spool = require "graphids.core", require "graphids.track.spool"
      for i = 1, 200 do
        assert(spool.append(%q, { op = "log_batch", run_key = %q, uri = %q, experiment = "e",
          metrics = { { key = "m", value = i + 0.0, timestamp = i, step = i } } }))
        if i %% 20 == 0 then core.sleep(0.01) end
      end
      io.open(%q, "w"):close()
    ]], run_dir, KEY, root, dir .. "/done"))
    f:close()
    local cpath = (os.getenv("GRAPHIDS_BUILD") or "build") .. "/lua/?.so"
    local writer = io.popen(string.format("LUA_CPATH='%s' lua5.4 %s 2>&1", cpath, script))
    local failures = {}
    repeat
      local done = core.stat(dir .. "/done") ~= nil
      local sent, err = spool.sync(run_dir)
      if not sent then failures[#failures + 1] = err end
    until done
    local out = writer:read("a")
    assert.is_true(writer:close(), out)
    assert.same({}, failures)
    assert.is_nil(core.stat(spool.path(run_dir)))
    local steps = {}
    for _, l in ipairs(metric_lines(root, "m")) do steps[#steps + 1] = tonumber(l:match("(%d+)$")) end
    table.sort(steps)
    local want = {}
    for i = 1, 200 do want[i] = i end
    assert.same(want, steps) -- each once: none lost, none delivered twice
  end)

  it("refuses a line of the wrong shape with file and line, delivering nothing", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    spool_run(run_dir, root)
    local f = assert(io.open(spool.path(run_dir), "a"))
    f:write(json.encode({ op = "log_batch", run_key = KEY, metrics = "zzz" }), "\n")
    f:close()
    local before = read(spool.path(run_dir))
    local sent, err, delivered, left = spool.sync(run_dir)
    assert.is_nil(sent)
    assert.equal(spool.path(run_dir) .. ":4: not a spooled tracking event ('metrics' must be a list of " ..
      "{key, value, timestamp, step}, got string)", err)
    assert.same({ 0, 4 }, { delivered, left })
    assert.equal(before, read(spool.path(run_dir)))
    assert.is_nil(core.stat(root))
    -- each wrong field is named
    local cases = {
      { { op = "log_batch", run_key = KEY, params = { { key = "a", value = 1 } } },
        "'params' item 1 is not a" },
      { { op = "log_batch", run_key = KEY, metrics = { { key = "a", value = "x", timestamp = 1 } } },
        "'metrics' item 1 is not a" },
      { { op = "update_run", run_key = KEY, status = "DONE" },
        "update_run 'status' must be a run status, got DONE" },
      { { op = "create_run", run_key = KEY }, "create_run without 'experiment'" },
      { { op = "delete_tag", run_key = KEY, time = 1 }, "delete_tag without 'key'" },
      { { op = "log_batch", run_key = "../x" }, "'run_key' must be hex text" },
      { { op = "drop_run", run_key = KEY }, "unknown op 'drop_run'" },
      { json.array({ 1 }), "not a JSON object" },
      { { op = "update_run", run_key = KEY, status = "FAILED", attempt = -1 },
        "'attempt' must be a whole number" },
      { { op = "update_run", run_key = KEY, status = "FAILED", attempt = 1.5 },
        "'attempt' must be a whole number" },
      { { op = "log_batch", run_key = KEY, resumed = "yes" }, "'resumed' must be true or false, got string" },
      { { op = "log_batch", run_key = KEY, rejected = 400 }, "'rejected' must be text, got number" },
      { { op = "log_batch", run_key = KEY,
        metrics = { { key = "a", value = 1, timestamp = 1, step = 1.5 } } },
        "'metrics' item 1 is not a {key, value, timestamp, step}: its step must be a whole number, " ..
        "got 1.5" },
      { { op = "log_batch", run_key = KEY, metrics = { { key = "a", value = 1, timestamp = 0.5 } } },
        "'metrics' item 1 is not a {key, value, timestamp, step}: its timestamp must be a whole " ..
        "number, got 0.5" },
      { { op = "update_run", run_key = KEY, status = "FAILED", attempt = "5" },
        "'attempt' must be a whole number" },
      { { op = "update_run", run_key = KEY, status = "FAILED", end_time = 1e30 },
        "'end_time' must be a whole number (ms), got 1e+30" },
      { { op = "create_run", run_key = KEY, experiment = "e", start_time = "1" },
        "'start_time' must be a whole number (ms), got string" },
    }
    for _, c in ipairs(cases) do
      assert.equal(c[2], (spool.check_event(c[1]) or ""):sub(1, #c[2]))
    end
    assert.is_nil(spool.check_event({ op = "update_run", run_key = KEY, status = "KILLED" }))
    assert.is_nil(spool.check_event({ op = "log_batch", run_key = KEY, time = 5.0,
      metrics = { { key = "a", value = 1, timestamp = 2.0, step = 3.0 } } }))
    -- a FileStore sync names such a line instead of failing on it at every sync
    assert(os.remove(spool.path(run_dir)))
    spool_run(run_dir, root)
    local text = read(spool.path(run_dir))
    assert(core.atomic_write(spool.path(run_dir), (text:gsub('"step":0', '"step":1.5'))))
    sent, err = spool.sync(run_dir)
    assert.is_nil(sent)
    assert.equal(spool.path(run_dir) .. ":2: not a spooled tracking event ('metrics' item 1 is not a " ..
      "{key, value, timestamp, step}: its step must be a whole number, got 1.5)", err)
    assert.is_nil(spool.check_event({ op = "delete_tag", run_key = KEY, key = "graphids.error", time = 1 }))
    assert.is_nil(spool.check_event({ op = "log_batch", run_key = KEY, attempt = 1780000000000,
      resumed = true, rejected = "refused", params = { { key = "a", value = "1" } } }))
  end)

  it("refuses a second sync of the same spool while one runs", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    spool_run(run_dir, root)
    local held = assert(core.lock(run_dir .. "/" .. spool.SYNC_LOCK, { exclusive = true, timeout = 0 }))
    local sent, err, delivered, left = spool.sync(run_dir)
    held:unlock()
    assert.is_nil(sent)
    assert.matches("^another graphids track sync is delivering this spool", err)
    assert.same({ 0, 3 }, { delivered, left })
    assert.same({ 3, 0, 0, 0 }, { spool.sync(run_dir) })
  end)
  it("sets aside an event for a FileStore run that is gone and delivers the ones after it", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    assert(spool.append(run_dir, { op = "create_run", run_key = KEY, uri = root, experiment = "e",
      tags = {} }))
    assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, run_id = ("f"):rep(32), uri = root,
      metrics = { { key = "lost", value = 1.0, timestamp = 1, step = 0 } } }))
    assert(spool.append(run_dir, { op = "update_run", run_key = KEY, uri = root, experiment = "e",
      status = "FINISHED", end_time = 2 }))
    local said = {}
    assert.same({ 2, 0, 1, 0 }, { spool.sync(run_dir, { notify = function(l) said[#said + 1] = l end }) })
    assert.matches("run 'f+' not found under .*mlruns", said[1])
    local exp = assert(filestore.new(root):find_experiment("e"))
    assert.equal(tostring(mlflow.STATUS.FINISHED), read(root .. "/" .. exp .. "/" .. KEY .. "/meta.yaml")
      :match("\nstatus: (%d+)"))
  end)

  it("sets aside a key too long for a file name (an older graphids spooled it), not stuck on it", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    local long = string.rep("я", 200) -- 200 characters (MLflow's limit is 250), 400 bytes
    assert(spool.append(run_dir, { op = "create_run", run_key = KEY, uri = root, experiment = "e",
      tags = {} }))
    assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, uri = root, experiment = "e",
      metrics = { { key = long, value = 1.0, timestamp = 1, step = 0 } } }))
    assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, uri = root, experiment = "e",
      metrics = { { key = "loss", value = 2.0, timestamp = 2, step = 0 } } }))
    local said = {}
    assert.same({ 2, 0, 1, 0 }, { spool.sync(run_dir, { notify = function(l) said[#said + 1] = l end }) })
    assert.matches("has a path part of 400 bytes", said[1])
    assert.same({ "2 2.0 0" }, metric_lines(root, "loss"))
    assert.matches(long, read(run_dir .. "/" .. spool.REJECTED), 1, true)
  end)

  it("sets aside a run key too long for a FileStore run id (a spool edited by hand), not stuck", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    local long = ("a"):rep(300) -- hex, as the spool asks, but a run folder's name holds 255 bytes
    assert(spool.append(run_dir, { op = "create_run", run_key = long, uri = root, experiment = "e",
      tags = {} }))
    assert(spool.append(run_dir, { op = "log_batch", run_key = long, uri = root, experiment = "e",
      metrics = { { key = "loss", value = 1.0, timestamp = 1, step = 0 } } }))
    spool_run(run_dir, root)
    local said = {}
    assert.same({ 3, 0, 2, 0 }, { spool.sync(run_dir, { notify = function(l) said[#said + 1] = l end }) })
    assert.same({ "1 1.0 0" }, metric_lines(root, "loss")) -- the run after it is delivered
    assert.matches("event 1 %(create_run%) refused: FileStore: run id 'a+%.%.%.a+' is not an id of this " ..
      "store: it is 300 characters long %(at most 32%)", said[1])
  end)

  it("repeats the last event of a killed sync harmlessly and removes its temporary files", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    spool_run(run_dir, root)
    assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, uri = root, experiment = "e",
      params = { { key = "p", value = "new" } } }))
    -- the sync that was killed: it delivered everything, set the last event aside (a param
    -- the run holds with another value), and removed nothing from the spool
    local evs = assert(spool.read(run_dir))
    local fs, ids = assert(filestore.new(root)), {}
    for i = 1, 3 do assert(spool.apply(fs, evs[i], ids)) end
    assert(fs:log_batch(ids[KEY], { params = { { key = "p", value = "old" } } }))
    local _, why = spool.apply(fs, evs[4], ids)
    assert(spool.set_aside(run_dir, evs[4], why))
    local stale = run_dir .. "/." .. spool.FILE .. ".tmp-999999999-0"
    assert(core.atomic_write(stale, "half a rewrite"))
    assert.same({ 3, 0, 1, 0 }, { spool.sync(run_dir, { notify = function() end }) })
    assert.same({ "1 1.0 0" }, metric_lines(root, "loss"))
    assert.equal(1, #lines_of(read(spool.rejected_path(run_dir))))
    assert.is_nil(core.stat(stale))
  end)

  it("reports a lock file it cannot open as such, with the events left", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    spool_run(run_dir, root)
    -- a lock file that cannot be opened for writing (as another user's 0644 one; root ignores
    -- modes, a folder does not)
    assert(core.mkdir_p(run_dir .. "/" .. spool.SYNC_LOCK))
    local sent, err, delivered, left = spool.sync(run_dir)
    assert.is_nil(sent)
    assert.matches("cannot take the sync lock of .*" .. spool.SYNC_LOCK .. ".*Is a directory", err)
    assert.same({ 0, 3 }, { delivered, left })
    os.execute("rmdir " .. run_dir .. "/" .. spool.SYNC_LOCK)
    assert(os.remove(run_dir .. "/" .. spool.LOCK))
    assert(core.mkdir_p(run_dir .. "/" .. spool.LOCK))
    sent, err, delivered, left = spool.sync(run_dir)
    assert.is_nil(sent)
    assert.matches(spool.LOCK .. "'?: Is a directory", err)
    assert.same({ 0, 3 }, { delivered, left })
  end)

  it("keeps a child run waiting in its spool until its parent's run dir is synced", function()
    local parent_dir, child_dir, root = dir .. "/parent", dir .. "/child", dir .. "/mlruns"
    local PKEY = ("a"):rep(32)
    assert(spool.append(parent_dir, { op = "create_run", run_key = PKEY, uri = root, experiment = "e",
      tags = {} }))
    assert(spool.append(child_dir, { op = "create_run", run_key = KEY, uri = root, experiment = "e",
      tags = {}, parent_key = PKEY, parent_dir = parent_dir }))
    assert(spool.append(child_dir, { op = "update_run", run_key = KEY, uri = root, experiment = "e",
      status = "FINISHED", end_time = 2 }))
    local sent, err, delivered, left = spool.sync(child_dir)
    assert.is_nil(sent)
    local want = "waiting for parent run (run key " .. PKEY .. "): sync its run dir " .. parent_dir
      .. " first"
    assert.truthy(err:find(want, 1, true), err)
    assert.same({ 0, 2 }, { delivered, left })
    assert.same({ 1, 0, 0, 0 }, { spool.sync(parent_dir) })
    assert.same({ 2, 0, 0, 0 }, { spool.sync(child_dir) })
    local fs = assert(filestore.new(root))
    local exp = assert(fs:find_experiment("e"))
    assert.equal(PKEY, read(root .. "/" .. exp .. "/" .. KEY .. "/tags/mlflow.parentRunId"))
  end)
end)
